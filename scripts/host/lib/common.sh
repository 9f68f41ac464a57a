# shellcheck shell=bash
# dbtier toolkit, bash side (install, init, harden: lib/system.sh): logging, exit codes, env file parsing,
# secret files, the run directory, SQL quoting. Sourced by dbtier-db; defines functions and the CFG map only.
# The Python commands read the same env file and secrets through lib/dbtier/config.py.

# Exit codes (docs/host-contract.md): 0 ok, 1 failure, 2 usage or configuration error.
readonly EXIT_FAIL=1
readonly EXIT_USAGE=2

declare -gA CFG=()
# The last error message (the exit trap names the failed step when there is none).
LAST_ERROR=""
# Private per-run directory (tmpfs where possible) for credential files and fifos; removed on exit.
RUN_DIR=""
COMMAND="${COMMAND:-}"

log() { printf '%s dbtier-db[%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${COMMAND:-main}" "$*" >&2; }
warn() { log "warning: $*"; }

# One way out: message to stderr (and to the alert hook), then exit with the given code.
die_with() {
  local code="$1"
  shift
  LAST_ERROR="$*"
  log "error: $*"
  exit "$code"
}
die() { die_with "$EXIT_FAIL" "$@"; }
die_usage() { die_with "$EXIT_USAGE" "$@"; }

# Env keys of docs/host-contract.md. Anything else in the env file is ignored with a warning.
readonly KNOWN_KEYS=" DB_ROLE DB_ENGINE DB_ENGINE_VERSION DB_PACKAGE_SOURCE DB_HOST DB_PORT DB_LISTEN_ADDRESS
 DB_NAME DB_USER DB_ADMIN_USER DB_TLS_MODE DB_CA_FILE DB_WEBSERVER_SOURCES DB_DATA_DIR DB_SOCKET
 APP_DB_SOURCE APP_DB_SOURCE_APP APP_DB_BASELINE_REPO APP_DB_BASELINE_PATH APP_NAME BACKUP_PERIODS BACKUP_RETAIN_HOURLY
 BACKUP_RETAIN_DAILY BACKUP_RETAIN_WEEKLY BACKUP_RETAIN_MONTHLY BACKUP_RETAIN_SAFETY BACKUP_RECIPIENT
 BACKUP_SIGNING_PUBLIC_KEY APP_DB_SOURCE_SIGNING_PUBLIC_KEY DATASTORE_ENDPOINT DATASTORE_BUCKET DATASTORE_REGION DATASTORE_CA_FILE ALERT_EMAIL DBTIER_STATE_DIR
 PITR_WINDOW_DAYS "

readonly PERIODS="hourly daily weekly monthly"
# A pinned signing key (BACKUP_SIGNING_PUBLIC_KEY ...): dbtier/config.py SSH_ED25519, components/config.ts.
readonly SSH_ED25519_PATTERN='^ssh-ed25519 [A-Za-z0-9+/]{68}( [^[:cntrl:]]*)?$'

# Parses the env file (KEY=value, # comments, blank lines). Never sourced: values are data, not code.
load_env() {
  local file="${DBTIER_ENV:-/etc/dbtier/dbtier.env}"
  [[ -f "$file" && -r "$file" ]] || die_usage "env file $file is missing or unreadable (set DBTIER_ENV to its path)"
  local line key value n=0
  while IFS= read -r line || [[ -n "$line" ]]; do
    n=$((n + 1))
    line="${line%$'\r'}"
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    if [[ "$line" =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=(.*)$ ]]; then
      key="${BASH_REMATCH[1]}"
      value="${BASH_REMATCH[2]}"
      value="${value#"${value%%[![:space:]]*}"}"
      value="${value%"${value##*[![:space:]]}"}"
      # Tolerate one pair of surrounding quotes; values never need them.
      if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then value="${BASH_REMATCH[1]}"; fi
      if [[ " $(tr -s '[:space:]' ' ' <<<"$KNOWN_KEYS") " == *" $key "* ]]; then
        CFG["$key"]="$value"
      else
        warn "$file:$n: unknown key $key ignored"
      fi
    else
      die_usage "$file:$n: expected KEY=value"
    fi
  done <"$file"
  CFG[DB_PACKAGE_SOURCE]="${CFG[DB_PACKAGE_SOURCE]:-vendor}"
  CFG[DB_TLS_MODE]="${CFG[DB_TLS_MODE]:-require}"
  CFG[DBTIER_STATE_DIR]="${CFG[DBTIER_STATE_DIR]:-/var/lib/dbtier}"
  CFG[BACKUP_PERIODS]="${CFG[BACKUP_PERIODS]:-hourly daily weekly monthly}"
  CFG[BACKUP_RETAIN_HOURLY]="${CFG[BACKUP_RETAIN_HOURLY]:-24}"
  CFG[BACKUP_RETAIN_DAILY]="${CFG[BACKUP_RETAIN_DAILY]:-7}"
  CFG[BACKUP_RETAIN_WEEKLY]="${CFG[BACKUP_RETAIN_WEEKLY]:-4}"
  CFG[BACKUP_RETAIN_MONTHLY]="${CFG[BACKUP_RETAIN_MONTHLY]:-12}"
  CFG[BACKUP_RETAIN_SAFETY]="${CFG[BACKUP_RETAIN_SAFETY]:-3}"
  CFG[APP_DB_BASELINE_PATH]="${CFG[APP_DB_BASELINE_PATH]:-dbtier/baseline.sql}"
  CFG[DATASTORE_REGION]="${CFG[DATASTORE_REGION]:-us-east-1}"
  ENV_FILE_PATH="$file"
}

# Fails with the names of every required key that is missing or empty.
require_keys() {
  local key missing=()
  for key in "$@"; do
    [[ -n "${CFG[$key]:-}" ]] || missing+=("$key")
  done
  ((${#missing[@]} == 0)) || die_usage "missing required key(s) in ${ENV_FILE_PATH:-env file}: ${missing[*]}"
}

# Checks the shape of the keys this run uses; each message names the key, the value and what is allowed.
validate_config() {
  require_keys DB_ENGINE
  local engine="${CFG[DB_ENGINE]}"
  case "$engine" in mariadb | mysql | postgres) ;; *) die_usage "DB_ENGINE='$engine': allowed mariadb, mysql, postgres" ;; esac
  # verify-full: chain and name (DB_HOST) checked; verify-ca: chain only; require: encrypted, server unchecked.
  case "${CFG[DB_TLS_MODE]}" in require | verify-ca | verify-full) ;; *) die_usage "DB_TLS_MODE='${CFG[DB_TLS_MODE]}': allowed require, verify-ca, verify-full" ;; esac
  case "${CFG[DB_PACKAGE_SOURCE]}" in vendor | distro) ;; *) die_usage "DB_PACKAGE_SOURCE='${CFG[DB_PACKAGE_SOURCE]}': allowed vendor, distro" ;; esac
  if [[ -n "${CFG[DB_ROLE]:-}" ]]; then
    case "${CFG[DB_ROLE]}" in database | proxy) ;; *) die_usage "DB_ROLE='${CFG[DB_ROLE]}': allowed database, proxy" ;; esac
  fi
  if [[ -n "${CFG[DB_PORT]:-}" ]] && ! [[ "${CFG[DB_PORT]}" =~ ^[0-9]{1,5}$ ]]; then
    die_usage "DB_PORT='${CFG[DB_PORT]}': must be a port number"
  fi
  local key limit
  for key in DB_NAME DB_USER DB_ADMIN_USER; do
    limit="$(name_limit "$key")"
    if [[ -n "${CFG[$key]:-}" ]] && ! [[ "${CFG[$key]}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ && ${#CFG[$key]} -le $limit ]]; then
      die_usage "$key='${CFG[$key]}': allowed letters, digits and _ (starting with a letter or _), at most $limit for $engine"
    fi
  done
  for key in BACKUP_SIGNING_PUBLIC_KEY APP_DB_SOURCE_SIGNING_PUBLIC_KEY; do
    if [[ -n "${CFG[$key]:-}" ]] && ! [[ "${CFG[$key]}" =~ $SSH_ED25519_PATTERN ]]; then
      die_usage "$key: expected an OpenSSH ed25519 public key line (ssh-ed25519 AAAA...)"
    fi
  done
  for key in APP_NAME APP_DB_SOURCE_APP; do
    if [[ -n "${CFG[$key]:-}" ]] && ! [[ "${CFG[$key]}" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]]; then
      die_usage "$key='${CFG[$key]}': allowed letters, digits, '.', '_' and '-'"
    fi
  done
  local p
  for p in ${CFG[BACKUP_PERIODS]}; do
    is_period "$p" || die_usage "BACKUP_PERIODS contains '$p': allowed $PERIODS"
  done
  for p in HOURLY DAILY WEEKLY MONTHLY SAFETY; do
    [[ "${CFG[BACKUP_RETAIN_$p]}" =~ ^[1-9][0-9]*$ ]] || die_usage "BACKUP_RETAIN_$p='${CFG[BACKUP_RETAIN_$p]}': must be a whole number >= 1"
  done
}

# Identifier length limits of each engine, the same as components/engines.ts NAME_LIMITS (a unit test
# compares the two): MariaDB/MySQL 64 characters for databases, 32 for users (80 on MariaDB, 32 keeps
# MySQL's); PostgreSQL 63 bytes for both (NAMEDATALEN - 1).
name_limit() {
  local key="$1"
  case "${CFG[DB_ENGINE]}:$key" in
    postgres:*) printf '63' ;;
    *:DB_NAME) printf '64' ;;
    *) printf '32' ;;
  esac
}

# The name of a side database of DB_NAME (verify's scratch copy, restore's side and hold databases):
# "<name>_dbtier_<purpose>", shortened with a hash of the full name where it would pass the engine's
# limit. It always ends in the suffix and differs from DB_NAME, so it can never be the live database.
side_name() {
  local purpose="$1" db="${CFG[DB_NAME]}" limit suffix name hash
  limit="$(name_limit DB_NAME)"
  suffix="_dbtier_$purpose"
  name="$db$suffix"
  if ((${#name} > limit)); then
    hash="$(printf '%s' "$db" | sha256sum | cut -c1-8)"
    name="${db:0:$((limit - ${#suffix} - 9))}_$hash$suffix"
  fi
  [[ "$name" != "$db" ]] || die "internal error: side database name $name equals the live one"
  printf '%s' "$name"
}

is_period() { [[ " $PERIODS " == *" $1 "* ]]; }

secrets_dir() { printf '%s' "${DBTIER_SECRETS_DIR:-/etc/dbtier/secrets}"; }
secret_path() { printf '%s/%s' "$(secrets_dir)" "$1"; }
has_secret() { [[ -s "$(secret_path "$1")" ]]; }

# Prints a secret file's content without its trailing newline. Refuses files others can read.
read_secret() {
  local file
  file="$(secret_path "$1")"
  [[ -f "$file" && -r "$file" ]] || die_usage "secret file $file is missing or unreadable"
  local mode
  mode="$(stat -c '%a' "$file")"
  if ((8#$mode & 8#077)); then die_usage "secret file $file has mode $mode; it must be 0600"; fi
  local content
  content="$(<"$file")"
  printf '%s' "$content"
}

# Private run directory on tmpfs (/dev/shm) when available, so credential files never reach a disk.
make_run_dir() {
  local base="${DBTIER_RUN_BASE:-}"
  if [[ -z "$base" ]]; then
    if [[ -d /dev/shm && -w /dev/shm ]]; then base=/dev/shm; else base="${TMPDIR:-/tmp}"; fi
  fi
  RUN_DIR="$(mktemp -d "$base/dbtier.XXXXXXXX")"
  chmod 0700 "$RUN_DIR"
}

cleanup_run() {
  local pid
  # Stop and reap leftover readers first, so none writes into the run directory while it is removed.
  for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
  for pid in $(jobs -p); do wait "$pid" 2>/dev/null || true; done
  if [[ -n "$RUN_DIR" && -d "$RUN_DIR" ]]; then rm -rf -- "$RUN_DIR" 2>/dev/null || rm -rf -- "$RUN_DIR"; fi
}

# The system interpreter: Debian's python3-pymysql / python3-psycopg2 live there, and an operator's
# pyenv or virtualenv first on PATH must not change what a host tool runs.
PYTHON="${DBTIER_PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  if [[ -x /usr/bin/python3 ]]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi

need_commands() {
  local cmd missing=()
  for cmd in "$@"; do command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd"); done
  ((${#missing[@]} == 0)) || die "missing command(s): ${missing[*]} (run 'dbtier-db install')"
}

# SQL quoting for the statements init writes (identifiers and string literals, MariaDB/MySQL and PostgreSQL).
# shellcheck disable=SC2016 # the backticks are literal SQL identifier quotes
my_ident() { local v="${1//\`/\`\`}"; printf '`%s`' "$v"; }
pg_ident() { local v="${1//\"/\"\"}"; printf '"%s"' "$v"; }
sql_string() { local v="${1//\\/\\\\}"; v="${v//\'/\'\'}"; printf "'%s'" "$v"; }
pg_string() { local v="${1//\'/\'\'}"; printf "E'%s'" "${v//\\/\\\\}"; }
