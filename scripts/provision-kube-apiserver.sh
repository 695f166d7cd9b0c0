#!/usr/bin/env bash
# Builds .cache/bin/kube-test-server: a real kube-apiserver (k8s.io/kubernetes as an ordinary
# Go dependency from the module proxy) with an embedded etcd, for the test suite.
# Idempotent: rebuilds only when the binary is missing or its sources changed
# (sha256 of go.mod, go.sum, main.go and the Go version, kept beside the binary).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"
src="$repo_root/test/servers/kube-apiserver"
out="$bin_dir/kube-test-server"
stamp="$out.sha256"

require_go provision-kube-apiserver "Go >= 1.26 is needed to build kube-test-server"
use_go_cache
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false -mod=readonly"
# Prefer the installed toolchain; let go fetch a newer one (from the module proxy) only if it is too old.
if GOTOOLCHAIN=local go -C "$src" list -m >/dev/null 2>&1; then
  export GOTOOLCHAIN=local
fi

lock_build "$out"

want="$( { cat "$src/go.mod" "$src/go.sum" "$src/main.go"; go version; } | sha256sum | cut -d' ' -f1)"
if [[ -x "$out" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "kube-test-server is up to date ($out)"
  exit 0
fi

echo "building kube-test-server ($(go version | cut -d' ' -f3), $(grep -m1 -E '^\s*k8s.io/kubernetes v' "$src/go.mod" | awk '{print $2}')) ..."
start=$SECONDS
go -C "$src" build -v -trimpath -ldflags='-s -w' -o "$out.tmp" .
mv -f "$out.tmp" "$out"
echo "$want" > "$stamp"
elapsed=$((SECONDS - start))
echo "built $out ($(du -h "$out" | cut -f1)) in $((elapsed / 60))m$((elapsed % 60))s"
