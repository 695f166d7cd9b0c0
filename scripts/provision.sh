#!/usr/bin/env bash
# Provisions every test server `npm test` needs BEFORE tap starts, so no build runs inside a
# test file's timeout: OpenBao, kube-apiserver and helm (Go builds from the module proxy) and
# moto (pip, from PyPI). `npm test` and .ci/run both call it; the image tools are .ci/run's alone.
#
# - Each scripts/provision-<name>.sh is idempotent (stamps beside what it built), so a warm run
#   takes about a second and does no network access.
# - Output of each one is appended to .cache/logs/provision-<name>.log (a dated line per run, so
#   the cold build's log survives the warm runs after it). Here: one line when each starts
#   and when it ends (with its time and the last line of its log), and while anything runs, a
#   line every NFSS_PROVISION_TICK seconds (default 20) naming what still runs, for how long and
#   what it does (Go builds run with -v: how many packages they compiled, and the last one).
#   Plain lines, no carriage returns: the same in a terminal and a CI log.
# - Parallel: moto's pip install runs beside the Go builds, and at most NFSS_PROVISION_JOBS
#   (default 2) Go builds run at once, longest first. One Go build already keeps both cores of
#   a 2-core machine busy most of the time; a second one fills the gaps (module downloads,
#   the single-threaded link, the narrow end of a dependency graph). README "Tests" has the
#   measured times.
# - Exit status: under CI=true, 1 when any step failed (and the store suites then fail with the
#   reason too); otherwise 0 after printing the failure loudly: a suite that needs the missing
#   server runs that script again itself (the fallback in test/servers/*.ts) or skips with one
#   loud line.
#
# Usage: scripts/provision.sh [NAME...]   NAME: kube-apiserver openbao helm moto ... (default: all)
set -uo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
logs="$repo_root/.cache/logs"
mkdir -p "$logs"
max_go="${NFSS_PROVISION_JOBS:-2}"
tick="${NFSS_PROVISION_TICK:-20}"
cache="${NFSS_CACHE_DIR:-$repo_root/.cache}"

# Longest cold build first (kube-apiserver, then OpenBao, then helm); moto is not a Go build.
# Any other scripts/provision-*.sh (a test server added later) runs too, after these and
# counted as a build; provision-image-tools.sh is .ci/run's alone (only the image test needs it).
if [[ $# -gt 0 ]]; then
  names=("$@")
else
  names=(kube-apiserver openbao helm moto)
  for script in scripts/provision-*.sh; do
    name="$(basename "$script" .sh)"; name="${name#provision-}"
    case " ${names[*]} image-tools " in *" $name "*) ;; *) names+=("$name") ;; esac
  done
fi
for name in "${names[@]}"; do
  if [[ ! -f "scripts/provision-$name.sh" ]]; then
    echo "provision: no scripts/provision-$name.sh (names: kube-apiserver openbao helm moto)" >&2
    exit 2
  fi
done

n=${#names[@]}
state=(); pid=(); began=(); took=()
for ((i = 0; i < n; i++)); do state[i]=pending; pid[i]=0; began[i]=0; took[i]=0; done

t0=$SECONDS
duration () {
  local s=$1
  if (( s >= 60 )); then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}
say () { printf '[provision] %s\n' "$*"; }
log_of () { echo "$logs/provision-$1.log"; }
last_line () { tail -n 1 "$(log_of "$1")" 2>/dev/null | cut -c1-160; }
# What a running step is doing: the Go builds run with -v, which logs each package it compiles.
activity () {
  awk '/^=== /{n = 0; last = ""; next}
       /^go: /{last = $0; next}
       /^[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~+-]+)*$/{n++; last = $0; next}
       {last = $0}
       END{if (n > 0) printf "%d packages compiled, last %s", n, last; else printf "%s", last}' \
    "$(log_of "$1")" 2>/dev/null | cut -c1-160
}
is_go () { [[ "$1" != moto ]]; }

go_running () {
  local count=0 i
  for ((i = 0; i < n; i++)); do
    if [[ ${state[i]} == running ]] && is_go "${names[i]}"; then count=$((count + 1)); fi
  done
  echo "$count"
}

start () {
  local i=$1 name=${names[$1]}
  say "$name: started (log: .cache/logs/provision-$name.log)"
  echo "=== $(date -u +%FT%TZ) scripts/provision-$name.sh" >> "$(log_of "$name")"
  bash "scripts/provision-$name.sh" >> "$(log_of "$name")" 2>&1 &
  pid[i]=$!
  began[i]=$SECONDS
  state[i]=running
}

# Ctrl-C reaches every child through the terminal's process group; on SIGTERM end our own
# children (the scripts and the go/pip processes under them) by their ids.
kill_tree () {
  local child
  for child in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$child"; done
  kill -TERM "$1" 2>/dev/null
}
on_term () {
  local i
  for ((i = 0; i < n; i++)); do [[ ${state[i]} == running ]] && kill_tree "${pid[i]}"; done
  say "interrupted"
  exit 143
}
trap on_term TERM

say "provisioning ${names[*]} in ${cache} (at most $max_go Go builds at once)"
next_tick=$((SECONDS + tick))
while :; do
  for ((i = 0; i < n; i++)); do
    if [[ ${state[i]} == pending ]] && { ! is_go "${names[i]}" || (( $(go_running) < max_go )); }; then
      start "$i"
    fi
  done

  active=0
  for ((i = 0; i < n; i++)); do
    [[ ${state[i]} == running ]] || continue
    if kill -0 "${pid[i]}" 2>/dev/null; then active=$((active + 1)); continue; fi
    wait "${pid[i]}"
    code=$?
    took[i]=$((SECONDS - began[i]))
    if [[ $code -eq 0 ]]; then
      state[i]=ok
      say "${names[i]}: ok in $(duration "${took[i]}"): $(last_line "${names[i]}")"
    else
      state[i]=failed
      say "${names[i]}: FAILED (exit $code) after $(duration "${took[i]}"); last lines of .cache/logs/provision-${names[i]}.log:"
      awk '/^=== /{run=""} {run=run $0 "\n"} END{printf "%s", run}' "$(log_of "${names[i]}")" | tail -n 30 | sed 's/^/    | /'
    fi
  done

  pending=0
  for ((i = 0; i < n; i++)); do [[ ${state[i]} == pending ]] && pending=$((pending + 1)); done
  if (( active == 0 && pending == 0 )); then break; fi
  if (( active > 0 && SECONDS >= next_tick )); then
    running=()
    for ((i = 0; i < n; i++)); do
      if [[ ${state[i]} == running ]]; then
        running+=("${names[i]} $(duration $((SECONDS - began[i]))) ($(activity "${names[i]}"))")
      fi
    done
    waiting=""
    if (( pending > 0 )); then waiting="; $pending waiting"; fi
    say "$(duration $((SECONDS - t0))): still running: $(IFS=';'; echo "${running[*]}" | sed 's/;/; /g')$waiting"
    next_tick=$((SECONDS + tick))
  fi
  sleep 0.2
done

failed=()
summary=()
for ((i = 0; i < n; i++)); do
  summary+=("${names[i]} $(duration "${took[i]}")")
  [[ ${state[i]} == failed ]] && failed+=("${names[i]}")
done
if [[ ${#failed[@]} -eq 0 ]]; then
  say "all ready in $(duration $((SECONDS - t0))) ($(IFS=','; echo "${summary[*]}" | sed 's/,/, /g'))"
  exit 0
fi
say "FAILED: ${failed[*]} (see above and .cache/logs/provision-*.log); took $(duration $((SECONDS - t0)))"
if [[ "${CI:-}" == true ]]; then exit 1; fi
say "not CI: exit 0; a suite needing ${failed[*]} tries that script again itself, or skips with one loud line (under CI=true it fails)"
exit 0
