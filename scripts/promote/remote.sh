#!/usr/bin/env bash
# The host side of `npm run promote`. It runs on a dbtier VM (dev's database VM, prod's proxy), sent over
# SSH with the pinned host key as `bash -c "<this file>" dbtier-promote <command> [args]`, logged in as the
# admin user (sudo for the toolkit). Each command prints one machine-readable `DBTIER_...=` line on stdout;
# everything else goes to stderr. The age identity, for the commands that decrypt, arrives on stdin, lives
# in a private temp directory for the run and is removed on exit: it is never kept on a host or put in argv.
#
#   backup <period>          fresh backup; prints DBTIER_BACKUP=<period>/<backup-id>
#   verify <backup-id>       restore into scratch and compare (identity on stdin); prints DBTIER_VERIFIED=<id>
#   load <backup-id> [--force]
#                            load-app-db from the env's APP_DB_SOURCE (identity on stdin); prints
#                            DBTIER_LOADED=<period>/<id> and fails unless that id is the one expected
#   probe                    tables/views/routines in the application database; DBTIER_OBJECTS=<n>
set -euo pipefail
umask 077

readonly TOOL="${DBTIER_PROMOTE_TOOL:-/usr/local/bin/dbtier-db}"
readonly BACKUP_ID_PATTERN='[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}'
WORK_DIR=""
IDENTITY_FILE=""

die() {
  printf 'dbtier-promote: %s\n' "$*" >&2
  exit 1
}

as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}

cleanup() {
  if [[ -n "${WORK_DIR}" && -d "${WORK_DIR}" ]]; then rm -rf -- "${WORK_DIR}"; fi
}

make_work_dir() {
  WORK_DIR="$(mktemp -d)"
  trap cleanup EXIT
}

# Reads the age identity from stdin into IDENTITY_FILE in the private work directory. Not to be called in
# a command substitution: the subshell's exit would remove the directory before the toolkit reads it.
read_identity() {
  make_work_dir
  IDENTITY_FILE="${WORK_DIR}/age-identity"
  cat >"${IDENTITY_FILE}"
  grep -q '^AGE-SECRET-KEY-' "${IDENTITY_FILE}" || die "no age identity (AGE-SECRET-KEY-...) on stdin"
}

check_backup_id() {
  [[ "${1:-}" =~ ^${BACKUP_ID_PATTERN}$ ]] || die "'${1:-}' is not a backup id (YYYYMMDDTHHMMSSZ-xxxxxx)"
}

cmd_backup() {
  local period="${1:-}"
  [[ "${period}" =~ ^(hourly|daily|weekly|monthly)$ ]] || die "backup needs a period: hourly|daily|weekly|monthly"
  make_work_dir
  local log="${WORK_DIR}/backup.log" status=0
  as_root "${TOOL}" backup "${period}" 2>"${log}" || status=$?
  cat "${log}" >&2
  ((status == 0)) || die "dbtier-db backup ${period} failed (exit ${status})"
  # The toolkit logs `backup <period>/<id> done: ...` once the manifest is written.
  local id
  id="$(grep -oE "backup ${period}/${BACKUP_ID_PATTERN} done" "${log}" | tail -n 1 | grep -oE "${BACKUP_ID_PATTERN}")" ||
    die "dbtier-db backup ${period} succeeded but its log names no completed backup id"
  printf 'DBTIER_BACKUP=%s/%s\n' "${period}" "${id}"
}

cmd_verify() {
  local id="${1:-}"
  check_backup_id "${id}"
  read_identity
  as_root "${TOOL}" verify "${id}" --identity "${IDENTITY_FILE}" >&2
  printf 'DBTIER_VERIFIED=%s\n' "${id}"
}

cmd_load() {
  local expected="" force=() arg
  for arg in "$@"; do
    case "${arg}" in
      --force) force=(--force) ;;
      *) expected="${arg}" ;;
    esac
  done
  check_backup_id "${expected}"
  read_identity
  local log="${WORK_DIR}/load.log" status=0
  # Exactly the backup promote verified, never "the newest verified" (which may have changed since).
  as_root "${TOOL}" load-app-db "${force[@]}" --backup-id "${expected}" --identity "${IDENTITY_FILE}" 2>"${log}" || status=$?
  cat "${log}" >&2
  ((status == 0)) || die "dbtier-db load-app-db failed (exit ${status})"
  # The toolkit logs `load-app-db: <period>/<id> loaded into <db> and checked ...` when done.
  local loaded
  loaded="$(grep -oE "(hourly|daily|weekly|monthly)/${BACKUP_ID_PATTERN} loaded" "${log}" | tail -n 1 | cut -d' ' -f1)" ||
    die "dbtier-db load-app-db succeeded but its log names no loaded backup"
  printf 'DBTIER_LOADED=%s\n' "${loaded}"
  [[ "${loaded#*/}" == "${expected}" ]] || die "loaded ${loaded}, not the expected ${expected}"
}

# Read-only: the toolkit counts the objects in DB_NAME with its own connection settings (the internal
# command _object-count: no alert, no lock, nothing created). A host still on a toolkit from before that
# command (issue 11) answers "unknown command" (exit 2): its bash functions count them, as they did.
cmd_probe() {
  local count status=0
  count="$(as_root "${TOOL}" _object-count)" || status=$?
  if ((status == 2)); then
    status=0
    # shellcheck disable=SC2016 # expanded by the root shell below, not here
    count="$(as_root bash -c 'source "$1"; COMMAND=probe; make_run_dir; trap cleanup_run EXIT; load_env; validate_config; db_setup; db_wait_ready; db_object_count "${CFG[DB_NAME]}"' dbtier-probe "${TOOL}")" ||
      status=$?
  fi
  ((status == 0)) || die "could not count the objects in the application database"
  [[ "${count}" =~ ^[0-9]+$ ]] || die "unexpected object count '${count}'"
  printf 'DBTIER_OBJECTS=%s\n' "${count}"
}

main() {
  local command="${1:-}"
  shift || true
  case "${command}" in
    backup) cmd_backup "$@" ;;
    verify) cmd_verify "$@" ;;
    load) cmd_load "$@" ;;
    probe) cmd_probe "$@" ;;
    *) die "unknown command '${command}': backup|verify|load|probe" ;;
  esac
}

if [[ "${BASH_SOURCE[0]:-$0}" == "$0" ]]; then
  main "$@"
fi
