#!/usr/bin/env bash
# Installs moto's standalone server (PyPI "moto[server]", pinned) into .cache/moto-venv for the
# AWS backend tests. Idempotent: does nothing when the venv already has the pinned version.
# Needs python3 with the venv module and access to PyPI on a cold run.
set -euo pipefail

MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${NFSS_CACHE_DIR:-$repo_root/.cache}"  # NFSS_CACHE_DIR: see .ci/run
venv="$cache/moto-venv"
stamp="$venv/.moto-version"

if ! command -v python3 >/dev/null 2>&1; then
  echo "provision-moto: python3 is not on PATH (needed to install moto_server)" >&2
  exit 127
fi

mkdir -p "$cache"
# Both AWS test files may provision at once: one install at a time.
exec 9>"$cache/moto-venv.lock"
if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
  echo "waiting for another install of moto to finish (lock $cache/moto-venv.lock) ..."
  flock 9
fi

if [[ -x "$venv/bin/moto_server" && -f "$stamp" && "$(cat "$stamp")" == "$MOTO_VERSION" ]]; then
  echo "moto $MOTO_VERSION is installed ($venv)"
  exit 0
fi

echo "installing moto[server]==$MOTO_VERSION into $venv ..."
start=$SECONDS
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "moto[server]==$MOTO_VERSION"
"$venv/bin/moto_server" --help >/dev/null
echo "$MOTO_VERSION" > "$stamp"
echo "installed moto $MOTO_VERSION in $((SECONDS - start))s"
