#!/usr/bin/env bash
# Builds .cache/bin/kube-test-server: a real kube-apiserver (k8s.io/kubernetes as an ordinary
# Go dependency from the module proxy) with an embedded etcd, for the test suite.
# Idempotent: rebuilds only when the binary is missing or its sources changed
# (sha256 of go.mod, go.sum, main.go and the Go version, kept beside the binary).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$repo_root/test/servers/kube-apiserver"
cache="${NFSS_CACHE_DIR:-$repo_root/.cache}"  # NFSS_CACHE_DIR: see .ci/run
bin_dir="$cache/bin"
out="$bin_dir/kube-test-server"
stamp="$out.sha256"

if ! command -v go >/dev/null 2>&1; then
  echo "provision-kube-apiserver: 'go' is not on PATH (Go >= 1.26 is needed to build kube-test-server)" >&2
  exit 127
fi

# Go's module and build caches, shared with the other Go-built test servers.
go_cache="$cache/go"
mkdir -p "$bin_dir" "$go_cache/mod" "$go_cache/build"
export GOMODCACHE="$go_cache/mod"
export GOCACHE="$go_cache/build"
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false -mod=readonly"
# Prefer the installed toolchain; let go fetch a newer one (from the module proxy) only if it is too old.
if GOTOOLCHAIN=local go -C "$src" list -m >/dev/null 2>&1; then
  export GOTOOLCHAIN=local
fi

# Several test files may start the server at once: one build at a time.
exec 9>"$out.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi

want="$( { cat "$src/go.mod" "$src/go.sum" "$src/main.go"; go version; } | sha256sum | cut -d' ' -f1)"
if [[ -x "$out" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "kube-test-server is up to date ($out)"
  exit 0
fi

echo "building kube-test-server ($(go version | cut -d' ' -f3), $(grep -m1 -E '^\s*k8s.io/kubernetes v' "$src/go.mod" | awk '{print $2}')) ..."
start=$SECONDS
go -C "$src" build -trimpath -ldflags='-s -w' -o "$out.tmp" .
mv -f "$out.tmp" "$out"
echo "$want" > "$stamp"
elapsed=$((SECONDS - start))
echo "built $out ($(du -h "$out" | cut -f1)) in $((elapsed / 60))m$((elapsed % 60))s"
