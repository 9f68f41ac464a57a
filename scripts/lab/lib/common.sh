# shellcheck shell=bash
# Lab basics: errors, timing, the registry of what the lab made (so teardown removes exactly that), and the
# step runner that prints one progress line per step and counts passes and failures.
#
# Globals (set by run.sh before anything here is called):
#   LAB_ROOT    temp dir of this run (mktemp -d); everything the lab writes lives under it
#   LAB_PREFIX  netns name prefix of this run, e.g. dbtl-3f9a1c (unique per run)

LAB_PASSED=0
LAB_FAILED=0
LAB_ABORTED=""
LAB_T0="${EPOCHREALTIME:-0}"
LAB_STEP_TIMEOUT="${LAB_STEP_TIMEOUT:-180}"

die() {
  printf 'lab: error: %s\n' "$*" >&2
  exit 1
}

# Seconds since the lab started, one decimal.
lab_clock() {
  awk -v a="$LAB_T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%6.1f", b - a }'
}

lab_say() {
  printf '[%ss] %s\n' "$(lab_clock)" "$*"
}

# ---- registry --------------------------------------------------------------------------------------------

lab_register_netns() {
  printf '%s\n' "$1" >>"$LAB_ROOT/registry/netns"
}

# lab_register_pid PID NAME
lab_register_pid() {
  printf '%s %s\n' "$1" "$2" >>"$LAB_ROOT/registry/pids"
  lab_log_pid "$1"
}

# LAB_PID_LOG (optional, outside LAB_ROOT): every PID the lab started or found in its namespaces, so a test
# can check afterwards that none is left.
lab_log_pid() {
  if [[ -n "${LAB_PID_LOG:-}" ]]; then printf '%s\n' "$1" >>"$LAB_PID_LOG"; fi
}

# Kills PID and every descendant (found by parent PID), children first. Only PIDs the lab started, or that
# run inside namespaces the lab created, ever reach this.
lab_kill_tree() {
  local pid="$1" sig="${2:-TERM}" child
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
    lab_kill_tree "$child" "$sig"
  done
  kill "-$sig" "$pid" 2>/dev/null || true
}

lab_pid_alive() {
  kill -0 "$1" 2>/dev/null
}

# Removes everything in the registry: processes (by PID, then whatever is still inside our namespaces),
# namespaces, then the temp dir. Safe to call twice.
lab_teardown() {
  local pid name ns deadline leftover
  [[ -n "${LAB_ROOT:-}" && -d "$LAB_ROOT/registry" ]] || return 0
  if [[ -s "$LAB_ROOT/registry/pids" ]]; then
    while read -r pid name; do
      lab_kill_tree "$pid" TERM
    done < <(tac "$LAB_ROOT/registry/pids")
    deadline=$((SECONDS + 8))
    while ((SECONDS < deadline)); do
      leftover=0
      while read -r pid name; do
        if lab_pid_alive "$pid"; then leftover=1; fi
      done <"$LAB_ROOT/registry/pids"
      ((leftover)) || break
      sleep 0.2
    done
    while read -r pid name; do
      if lab_pid_alive "$pid"; then lab_kill_tree "$pid" KILL; fi
    done <"$LAB_ROOT/registry/pids"
  fi
  if [[ -s "$LAB_ROOT/registry/netns" ]]; then
    while read -r ns; do
      # Anything still running inside a namespace this run created is this run's (sshd sessions, DB
      # servers restarted by the systemctl shim, postgres children).
      for pid in $(ip netns pids "$ns" 2>/dev/null); do
        lab_log_pid "$pid"
        kill -TERM "$pid" 2>/dev/null || true
      done
    done <"$LAB_ROOT/registry/netns"
    sleep 0.3
    while read -r ns; do
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    done <"$LAB_ROOT/registry/netns"
  fi
  # Overlay mounts vanish with the last process of each host's mount namespace; give the kernel a moment.
  sleep 0.2
  rm -rf -- "$LAB_ROOT"
}

# ---- steps -------------------------------------------------------------------------------------------------

lab_slug() {
  printf '%s' "$1" | tr -cs 'A-Za-z0-9' '-' | cut -c1-60
}

# lab_step NAME FUNCTION [ARGS...]
# Runs FUNCTION in a subshell with `set -e`, output to a per-step log, bounded by LAB_STEP_TIMEOUT seconds.
# Prints `[  12.3s] PASS name (0.4s)`; on failure the log's last lines follow, indented.
# State that later steps need is passed through files under $LAB_ROOT, never through variables.
LAB_STEP_NO=0
lab_step() {
  local name="$1" fn="$2"
  shift 2
  local log started rc watchdog steppid took
  LAB_STEP_NO=$((LAB_STEP_NO + 1))
  [[ -d "$LAB_ROOT/logs" ]] || die "the lab's work dir $LAB_ROOT vanished (removed by another process?); stopping"
  log="$LAB_ROOT/logs/$(printf '%03d' "$LAB_STEP_NO")-$(lab_slug "$name").log"
  if [[ -n "$LAB_ABORTED" ]]; then
    LAB_FAILED=$((LAB_FAILED + 1))
    lab_say "SKIP $name (not run: $LAB_ABORTED)"
    return 0
  fi
  started="$EPOCHREALTIME"
  (
    set -euo pipefail
    "$fn" "$@"
  ) >"$log" 2>&1 </dev/null &
  steppid=$!
  LAB_CURRENT_STEP_PID="$steppid"
  (
    sleep "$LAB_STEP_TIMEOUT"
    echo "lab: step timed out after ${LAB_STEP_TIMEOUT}s" >>"$log"
    lab_kill_tree "$steppid" TERM
  ) >/dev/null 2>&1 &
  watchdog=$!
  rc=0
  wait "$steppid" || rc=$?
  # shellcheck disable=SC2034 # read by run.sh's exit trap
  LAB_CURRENT_STEP_PID=""
  lab_kill_tree "$watchdog" TERM
  wait "$watchdog" 2>/dev/null || true
  took="$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')"
  if ((rc == 0)); then
    LAB_PASSED=$((LAB_PASSED + 1))
    lab_say "PASS $name (${took}s)"
  else
    LAB_FAILED=$((LAB_FAILED + 1))
    lab_say "FAIL $name (${took}s, exit $rc, log $log)"
    tail -n "${LAB_FAIL_LINES:-25}" "$log" | sed 's/^/         | /'
  fi
  return "$rc"
}

# A setup step whose failure makes the remaining steps of this engine pointless: they are reported as
# SKIP and counted as failed, so the total stays the same whatever breaks.
# Never call lab_step in a `||` or `if` context: bash would then ignore `set -e` inside the step too.
lab_setup() {
  local name="$1" rc
  set +e
  lab_step "$@"
  rc=$?
  set -e
  if ((rc != 0)); then LAB_ABORTED="'$name' failed"; fi
  return 0
}

lab_check() {
  set +e
  lab_step "$@"
  set -e
  return 0
}

# Sections: a failed setup step skips the rest of its section and of the sections that depend on it, but
# not independent ones (prod still runs when dev broke).
declare -A LAB_SECTION_ABORT=()
# lab_section NAME [DEPENDS_ON...]
lab_section() {
  local name="$1" dep
  shift
  if [[ -n "${LAB_SECTION:-}" ]]; then LAB_SECTION_ABORT[$LAB_SECTION]="$LAB_ABORTED"; fi
  LAB_SECTION="$name"
  LAB_ABORTED=""
  for dep in "$@"; do
    if [[ -n "${LAB_SECTION_ABORT[$dep]:-}" ]]; then
      LAB_ABORTED="${LAB_SECTION_ABORT[$dep]}"
      break
    fi
  done
  lab_say "-- $LAB_ENGINE: $name"
}
