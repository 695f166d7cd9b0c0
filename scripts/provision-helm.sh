#!/usr/bin/env bash
# Builds helm (the chart tests' `helm lint` / `helm template`) from the Go module proxy into
# .cache/bin/helm: `go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION`.
# Idempotent: does nothing when .cache/bin/helm was built by this recipe (stamp beside it);
# a cold build takes about 5 minutes on 2 cores, a warm one well under a second.
# Go's module and build caches live under .cache/go (shared with the other Go builds), or
# under $NFSS_CACHE_DIR/go when set (a directory that outlives CI's fresh clone).
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.21.4}"
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"
out="$bin_dir/helm"

stamp="$out.stamp"
recipe="helm $HELM_VERSION, recipe 2"   # bump the recipe when the build below changes
if [[ -x "$out" && -f "$stamp" && "$(cat "$stamp")" == "$recipe" ]]; then
  echo "helm $HELM_VERSION is up to date ($out)"
  exit 0
fi

require_go provision-helm "needed to build helm $HELM_VERSION"
use_go_cache
export GOBIN="$bin_dir"
unset GOFLAGS
lock_build "$out"

start=$SECONDS
# Helm's Makefile stamps its version and the Kubernetes version `helm template` assumes (that of
# its client-go: v0.N.x -> 1.N) with ldflags; without them `helm template` pretends the cluster
# is 1.20 and refuses the chart's kubeVersion. Do the same from helm's go.mod.
gomod="$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -nE 's/^[[:space:]]*"GoMod": "(.*)",?$/\1/p')"
client_go="$(grep -m1 -E '^[[:space:]]*k8s.io/client-go v' "$gomod" | awk '{print $2}')"
k8s_minor="$(cut -d. -f2 <<< "$client_go")"
if [[ -z "$k8s_minor" ]]; then echo "provision-helm: cannot read k8s.io/client-go's version from $gomod" >&2; exit 1; fi
echo "building helm $HELM_VERSION (client-go $client_go -> Kubernetes 1.$k8s_minor) with $(go version | cut -d' ' -f3) ..."
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done
go install -v -trimpath -ldflags="$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
echo "$recipe" > "$stamp"
elapsed=$((SECONDS - start))
echo "built $out ($("$out" version --short)) in $((elapsed / 60))m$((elapsed % 60))s"
