#!/usr/bin/env bash
# npm run lab [-- --engine mariadb|postgres|all] [--keep]
#
# Stands the dev and prod shapes of dbtier up on this machine in network namespaces and proves them with
# real packets, real database servers, real sshd and a real S3 server. Inputs are the program's own output
# (`npm run plan` of dev and prod with a lab config), see docs/lab.md. Needs root (namespaces, nftables).
# Last line: `lab: N passed, N failed`.
set -euo pipefail

LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LAB_REPO="$(cd "$LAB_DIR/../.." && pwd)"

# shellcheck source=lib/common.sh
source "$LAB_DIR/lib/common.sh"
# shellcheck source=lib/net.sh
source "$LAB_DIR/lib/net.sh"
# shellcheck source=lib/probe.sh
source "$LAB_DIR/lib/probe.sh"
# shellcheck source=lib/servers.sh
source "$LAB_DIR/lib/servers.sh"
# shellcheck source=lib/infra.sh
source "$LAB_DIR/lib/infra.sh"
# shellcheck source=lib/sql.sh
source "$LAB_DIR/lib/sql.sh"
# shellcheck source=lib/selftest.sh
source "$LAB_DIR/lib/selftest.sh"
# shellcheck source=lib/engine.sh
source "$LAB_DIR/lib/engine.sh"
# shellcheck source=lib/pitr.sh
source "$LAB_DIR/lib/pitr.sh"

usage() {
  cat <<'EOF'
usage: npm run lab [-- [--engine mariadb|postgres|all] [--keep] [--selftest]]
  --engine    engine family to prove (default: all = mariadb and postgres)
  --keep      leave the lab up at the end and print how to get a shell on each host
  --selftest  prove the lab's own harness (namespaces, probes, sshd, servers) without the program's output
EOF
}

LAB_KEEP=0
LAB_INTERRUPTED=0

lab_on_exit() {
  local rc=$?
  if [[ -n "${LAB_CURRENT_STEP_PID:-}" ]]; then lab_kill_tree "$LAB_CURRENT_STEP_PID" TERM; fi
  if ((!LAB_KEEP || LAB_INTERRUPTED)); then
    lab_teardown
  fi
  return "$rc"
}

lab_print_keep() {
  local d
  echo "lab: left up (--keep); work dir $LAB_ROOT"
  echo "lab: a shell on each host:"
  for d in "$LAB_ROOT"/*/hosts; do
    [[ -d "$d" ]] || continue
    LAB_HOSTS="$d" LAB_PREFIX="$(cat "$(dirname "$d")/prefix")" lab_print_shells
  done
  echo "lab: tear it down with: bash $LAB_DIR/teardown.sh $LAB_ROOT"
}

lab_on_signal() {
  LAB_INTERRUPTED=1
  echo "lab: interrupted, tearing down" >&2
  exit 130
}

preflight() {
  local missing=() c
  ((EUID == 0)) || die "the lab needs root (network namespaces, nftables); run it as root"
  for c in ip nft nsenter unshare setsid setpriv sshd ssh ssh-keygen mariadbd mariadb mariadb-install-db \
    "$LAB_PG_BIN/postgres" psql pg_dump mariadb-dump node git git-shell openssl age age-keygen rclone jq timeout flock sudo \
    visudo useradd systemd-analyze tar base64; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
  done
  ((${#missing[@]} == 0)) || die "missing tools: ${missing[*]} (see .ci/apt-packages.txt)"
}

main() {
  local engine=all engines=() e
  while (($#)); do
    case "$1" in
    --engine)
      [[ $# -ge 2 ]] || die "--engine needs a value: mariadb, postgres or all"
      engine="$2"
      shift 2
      ;;
    --engine=*) engine="${1#*=}" && shift ;;
    --keep) LAB_KEEP=1 && shift ;;
    --selftest) engine=selftest && shift ;;
    -h | --help) usage && return 0 ;;
    *) usage >&2 && die "unknown argument: $1" ;;
    esac
  done
  case "$engine" in
  all) engines=(mariadb postgres) ;;
  mariadb | postgres | selftest) engines=("$engine") ;;
  *) die "--engine $engine: expected mariadb, postgres or all" ;;
  esac
  preflight

  LAB_ROOT="$(mktemp -d /tmp/dbtier-lab.XXXXXX)"
  mkdir -p "$LAB_ROOT/registry" "$LAB_ROOT/logs"
  : >"$LAB_ROOT/registry/netns"
  : >"$LAB_ROOT/registry/pids"
  trap lab_on_exit EXIT
  trap lab_on_signal INT TERM HUP
  local base
  base="dbtl-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
  lab_say "lab: work dir $LAB_ROOT, namespaces $base-*"

  for e in "${engines[@]}"; do
    LAB_ABORTED=""
    LAB_PREFIX="$base-${e:0:1}"
    mkdir -p "$LAB_ROOT/$e/hosts"
    printf '%s\n' "$LAB_PREFIX" >"$LAB_ROOT/$e/prefix"
    LAB_HOSTS="$LAB_ROOT/$e/hosts"
    LAB_ENGINE="$e"
    lab_say "== $e =="
    case "$e" in
    selftest) lab_selftest ;;
    *) lab_engine "$e" ;;
    esac
  done
  if ((LAB_KEEP)); then lab_print_keep; fi
  echo "lab: $LAB_PASSED passed, $LAB_FAILED failed"
  ((LAB_FAILED == 0))
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
