# Sourced (not run) by the provision scripts that build Go programs, so the three agree on where
# binaries and Go's module/build caches live and on how a build is locked.
# Sets repo_root, cache (NFSS_CACHE_DIR, see .ci/run, else .cache) and bin_dir.
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${NFSS_CACHE_DIR:-$repo_root/.cache}"
bin_dir="$cache/bin"

# require_go SCRIPT WHY: fail with exit 127 when go is missing.
require_go () {
  if ! command -v go >/dev/null 2>&1; then
    echo "$1: 'go' is not on PATH ($2)" >&2
    exit 127
  fi
}

# use_go_cache: module and build caches shared by every Go-built tool; static binaries.
use_go_cache () {
  mkdir -p "$bin_dir" "$cache/go/mod" "$cache/go/build"
  export GOMODCACHE="$cache/go/mod"
  export GOCACHE="$cache/go/build"
  export CGO_ENABLED=0
}

# lock_build OUT: test files run in parallel and may all ask for OUT at once; one builds, the
# others wait here and then find it up to date.
lock_build () {
  mkdir -p "$(dirname "$1")"
  exec 9>"$1.lock"
  if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
    echo "waiting for another build of $(basename "$1") to finish (lock $1.lock) ..."
    flock 9
  fi
}
