#!/usr/bin/env bash
# Installs what scripts/test-image.sh needs to build and run the container image without a
# Docker engine: podman + buildah (rootful, `build --isolation chroot`), runc (podman's default
# runtime here, crun 1.8, refuses this machine's hybrid cgroup v1/v2 layout: "cgroups in hybrid
# mode not supported") and debootstrap (to make a stand-in for the node:24-bookworm-slim base
# image, which cannot be pulled here).
# Debian packages only. Idempotent: does nothing when every tool is already installed.
set -euo pipefail

pkgs=(podman buildah runc debootstrap)
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "image tools present: podman $(podman --version | awk '{print $3}'), buildah $(buildah --version | awk '{print $3}'), runc $(dpkg-query -W -f='${Version}' runc), debootstrap $(dpkg-query -W -f='${Version}' debootstrap)"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "provision-image-tools: need root to apt-get install ${missing[*]}" >&2
  exit 1
fi

echo "installing ${missing[*]} ..."
start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
# Wait for apt's own lock if another installer holds it, instead of failing at once.
apt_opts=(-o DPkg::Lock::Timeout=300)
apt-get "${apt_opts[@]}" update -qq
apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}" fuse-overlayfs uidmap ca-certificates >/dev/null
echo "installed in $((SECONDS - start))s: podman $(podman --version | awk '{print $3}'), buildah $(buildah --version | awk '{print $3}'), runc $(dpkg-query -W -f='${Version}' runc), debootstrap $(dpkg-query -W -f='${Version}' debootstrap)"
