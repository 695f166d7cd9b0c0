#!/usr/bin/env bash
# Builds a real OpenBao (the `bao` CLI, which includes `server -dev`) for the
# test suite from the Go module proxy, into .cache/bin/openbao-dev.
#
# Idempotent: rebuilds only when the binary is missing or when
# test/servers/openbao/{go.mod,go.sum,main.go} changed since the last build
# (their sha256 is kept next to the binary). Needs `go` on PATH (>= 1.24.6);
# with a warm .cache/go it does no network access at all.
#
# Usage: scripts/provision-openbao.sh [--force]
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"
src="$repo_root/test/servers/openbao"
bin="$bin_dir/openbao-dev"
stamp="$bin.sha256"

require_go provision-openbao "Go >= 1.24.6 is needed to build OpenBao from $src"

# What go.mod pins: github.com/openbao/openbao v0.0.0-20250828202315-f9407a27fbee is
# the v2.4.0 release commit. Stamped into `bao version` and /v1/sys/health.
openbao_version="2.4.0"
openbao_commit="f9407a27fbee45f62ba521bba2bf1e2360c61031"
if ! grep -q "github.com/openbao/openbao v0.0.0-[0-9]*-${openbao_commit:0:12}\$" "$src/go.mod"; then
  echo "provision-openbao: $src/go.mod no longer pins commit ${openbao_commit:0:12}; update openbao_version/openbao_commit in $0" >&2
  exit 1
fi
ldflags="-s -w -X github.com/openbao/openbao/version.fullVersion=$openbao_version -X github.com/openbao/openbao/version.GitCommit=$openbao_commit"

want="$( (cd "$src" && cat go.mod go.sum main.go; echo "$ldflags") | sha256sum | cut -d' ' -f1)"

lock_build "$bin"

if [[ "${1:-}" != "--force" && -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "provision-openbao: up to date ($bin) in 0s"
  exit 0
fi

use_go_cache
# The Go version on PATH builds it; never download another toolchain.
export GOTOOLCHAIN=local
# go.sum is checked in and complete: a build never edits go.mod/go.sum, and no
# module needs the checksum database.
export GOFLAGS="-mod=readonly -buildvcs=false"

start=$SECONDS
tmp="$bin.tmp.$$"
trap 'rm -f "$tmp"' EXIT
go -C "$src" build -v -trimpath -ldflags="$ldflags" -o "$tmp" .
mv -f "$tmp" "$bin"
echo "$want" > "$stamp"
version="$("$bin" version 2>/dev/null || true)"
echo "provision-openbao: built $bin (${version:-unknown version}) in $((SECONDS - start))s"
