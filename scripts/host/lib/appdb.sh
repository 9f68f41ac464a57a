# shellcheck shell=bash
# dbtier toolkit: load-app-db: the application database's first content (virgin, a baseline dump in git,
# or a verified backup), and replacing it on purpose (--force). A replacement loads into a side database,
# checks it and swaps it in; a database that holds data gets a safety backup first, read back before the
# swap.

# Clones the baseline repository (deploy key and pinned known_hosts from secret files); sets BASELINE_DIR
# (the clone's directory, removed after the load) and BASELINE_FILE (the dump file inside it).
fetch_baseline() {
  require_keys APP_DB_BASELINE_REPO
  need_commands git
  local repo="${CFG[APP_DB_BASELINE_REPO]}" dir
  dir="$(mktemp -d "${TMPDIR:-/var/tmp}/dbtier-baseline.XXXXXX")"
  BASELINE_DIR="$dir"
  local ssh_cmd="ssh -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes"
  if has_secret baseline-deploy-key; then
    read_secret baseline-deploy-key >/dev/null
    ssh_cmd+=" -i $(secret_path baseline-deploy-key)"
  fi
  if has_secret baseline-known-hosts; then
    ssh_cmd+=" -o UserKnownHostsFile=$(secret_path baseline-known-hosts)"
  elif [[ "$repo" == *@*:* || "$repo" == ssh://* ]]; then
    die_usage "baseline repository $repo needs the git server's host key in $(secret_path baseline-known-hosts)"
  fi
  GIT_SSH_COMMAND="$ssh_cmd" GIT_TERMINAL_PROMPT=0 retry 3 2 git clone --quiet --depth 1 --no-tags -- "$repo" "$dir/repo" 2>"$RUN_DIR/git.err" ||
    die "cannot clone the baseline repository $repo: $(tail -n 2 "$RUN_DIR/git.err" | tr '\n' ' ')"
  local file="$dir/repo/${CFG[APP_DB_BASELINE_PATH]}"
  [[ -f "$file" ]] || die "baseline repository $repo has no ${CFG[APP_DB_BASELINE_PATH]} (APP_DB_BASELINE_PATH)"
  BASELINE_FILE="$file"
}
BASELINE_DIR=""
BASELINE_FILE=""

decompress_file() {
  case "$1" in
    *.sql) cat -- "$1" ;;
    *.sql.zst) zstd -d -q -c -- "$1" ;;
    *.sql.gz) gzip -d -c -- "$1" ;;
    *) return 2 ;;
  esac
}

# Loads a baseline dump file into DB; the dump's own per-table rows and digests go to STATS.
load_baseline_file() {
  local file="$1" db="$2" stats="$3"
  fifo_reader stats "$PYTHON" "$DUMPKIT" stats "$(dumpkit_engine)" "$stats"
  set +e
  decompress_file "$file" 2>"$RUN_DIR/decompress.err" | tee "$RUN_DIR/stats.fifo" 2>"$RUN_DIR/tee.err" |
    load_dump_stream "$db" sql 2>"$RUN_DIR/load.err"
  local codes=("${PIPESTATUS[@]}")
  set -e
  local readers=0
  wait_readers || readers=1
  LOAD_ERROR="$(pipeline_failure codes decompress:decompress.err tee:tee.err load:load.err)"
  [[ -n "$LOAD_ERROR" ]] && return 1
  if ((readers != 0)); then LOAD_ERROR="the dump statistics reader failed"; return 1; fi
  return 0
}
LOAD_ERROR=""

# Row counts in DB must equal the dump's (a stats file from dumpkit).
check_loaded_rows() {
  local db="$1" expected="$2" actual="$RUN_DIR/loaded-rows.json"
  db_row_counts "$db" | jq -R -s 'split("\n") | map(select(length > 0) | split("\t") | {key: .[0], value: {rows: (.[1] | tonumber)}}) | {tables: from_entries}' >"$actual"
  "$PYTHON" "$DUMPKIT" compare "$expected" "$actual" --rows-only 2>"$RUN_DIR/compare.err" ||
    die "loaded database $db does not match its source: $(tr '\n' ';' <"$RUN_DIR/compare.err")"
}

# Runs a loader command into DB until it succeeds: at most DBTIER_LOAD_ATTEMPTS times, on a fresh database
# each time, the delay doubling. The loader leaves its reason in LOAD_ERROR or STREAM_ERROR; a refused
# backup (signature, checksum) is final: the stored object is bad, not the connection.
load_with_retries() {
  local db="$1" what="$2" attempts="${DBTIER_LOAD_ATTEMPTS:-3}" delay="${DBTIER_CONNECT_DELAY:-2}" n reason
  shift 2
  for ((n = 1; ; n++)); do
    LOAD_ERROR="" STREAM_ERROR=""
    if "$@"; then return 0; fi
    reason="${LOAD_ERROR:-${STREAM_ERROR:-unknown error}}"
    if ((n >= attempts)) || [[ "$reason" == *"download failed"* ]]; then
      db_drop "$db" 2>/dev/null || true
      die "loading $what failed after $n attempt(s): $reason"
    fi
    log "load attempt $n failed ($reason); retrying in ${delay}s"
    sleep "$delay"
    delay=$((delay * 2))
    db_wait_ready
    db_drop "$db"
    db_create "$db"
  done
}

# Loads into a side database with LOADER (a function taking the side database's name), checks it with
# CHECKER (same), then swaps it in for DB_NAME; a non-empty DB_NAME gets a safety backup just before the
# swap, read back with the age identity. Nothing of DB_NAME changes before the swap, and a failed swap is
# rolled back.
replace_app_db() {
  local what="$1" identity="$2" loader="$3" checker="$4" db="${CFG[DB_NAME]}" objects
  objects="$(db_object_count "$db")"
  if [[ "$objects" != 0 ]]; then
    [[ -n "$identity" ]] ||
      die_usage "$db holds $objects objects: replacing it needs a safety backup read back with the age identity (--identity FILE)"
    require_keys BACKUP_RECIPIENT BACKUP_SIGNING_PUBLIC_KEY
    check_signing_key
  fi
  local side hold
  side="$(side_name load)"
  hold="$(side_name previous)"
  db_drop "$side"
  db_create "$side"
  load_with_retries "$side" "$what" "$loader" "$side"
  "$checker" "$side"
  take_safety_backup load-app-db "$identity" "$side"
  db_swap_in "$db" "$side" "$hold" "${LOAD_MANIFEST:-}" ||
    die "load-app-db of $what FAILED at the swap: $SWAP_ERROR${SAFETY_ID:+ (safety backup: safety/$SAFETY_ID)}"
}

cmd_load_app_db() {
  parse_identity_flag "$@"
  ((${#REST_ARGS[@]} == 0)) || die_usage "usage: dbtier-db load-app-db [--force | --if-empty] [--backup-id ID] [--identity FILE]"
  ((FORCE == 0 || IF_EMPTY == 0)) || die_usage "--force and --if-empty contradict each other"
  local source="${CFG[APP_DB_SOURCE]}"
  case "$source" in
    virgin | baseline) ;;
    *) is_period "$source" || die_usage "APP_DB_SOURCE='$source': allowed virgin, baseline, $PERIODS" ;;
  esac
  if [[ -n "$BACKUP_ID_ARG" ]]; then
    is_period "$source" || die_usage "--backup-id needs a backup period as APP_DB_SOURCE, not '$source'"
    is_backup_id "$BACKUP_ID_ARG" || die_usage "--backup-id '$BACKUP_ID_ARG': expected YYYYMMDDTHHMMSSZ-xxxxxx"
  fi
  need_commands "$PYTHON"
  db_setup
  command_lock load-app-db
  db_wait_ready
  if [[ "${CFG[DB_ROLE]:-database}" == proxy ]]; then db_ensure_app_user; fi
  local db="${CFG[DB_NAME]}" objects
  objects="$(db_object_count "$db")"
  # --if-empty is the unattended form `pulumi up` runs: a database that already holds data is the normal case
  # on every later run, and replacing it is a deliberate act (restore, promote, --force).
  if [[ "$objects" != 0 ]]; then
    if ((IF_EMPTY == 1)); then
      log "load-app-db: $db already holds data ($objects tables/views/routines); left as it is (--if-empty)"
      return 0
    fi
    ((FORCE == 1)) || die "database $db is not empty ($objects tables/views/routines); pass --force to replace it"
  fi
  if [[ "$objects" != 0 ]]; then
    # The safety backup goes under this stack's own prefix, signed.
    store_setup
    trust_setup
  fi
  local identity=""
  if is_period "$source" || [[ "$objects" != 0 ]]; then
    if ((IF_EMPTY == 1)) && [[ -z "${IDENTITY_FILE:-${DBTIER_AGE_IDENTITY_FILE:-}}" ]] && ! has_secret age-identity; then
      log "load-app-db: NOT LOADED: a $source backup is decrypted with the age identity, which never stays on a host; load it with 'npm run promote' or 'dbtier-db load-app-db --identity FILE'"
      return 0
    fi
    if [[ "$objects" != 0 && -z "${IDENTITY_FILE:-${DBTIER_AGE_IDENTITY_FILE:-}}" ]] && ! has_secret age-identity; then
      die_usage "$db holds $objects objects: replacing it needs a safety backup read back with the age identity (--identity FILE)"
    fi
    identity="$(identity_file)"
  fi
  case "$source" in
    virgin)
      if [[ "$objects" != 0 ]]; then
        replace_app_db "an empty database" "$identity" load_nothing check_nothing
      else
        db_create "$db"
      fi
      log "load-app-db: empty database $db ready"
      ;;
    baseline)
      fetch_baseline
      case "$BASELINE_FILE" in *.sql | *.sql.zst | *.sql.gz) ;; *) die_usage "APP_DB_BASELINE_PATH must end in .sql, .sql.zst or .sql.gz" ;; esac
      replace_app_db "the baseline" "$identity" load_baseline_into check_baseline_in
      rm -rf -- "$BASELINE_DIR"
      log "load-app-db: baseline ${CFG[APP_DB_BASELINE_PATH]} loaded into $db and checked"
      ;;
    *)
      need_commands zstd age ssh-keygen
      store_setup
      local source_app="${CFG[APP_DB_SOURCE_APP]:-${CFG[APP_NAME]}}"
      store_select_app "$source_app"
      trust_setup
      require_signer "$source_app"
      store_check_reachable
      # Only a backup whose signed test restore passed is trusted to become the application database;
      # promotion names the very backup it verified (--backup-id).
      select_backup "${BACKUP_ID_ARG:-$source}" verified
      LOAD_PERIOD="$SELECTED_PERIOD" LOAD_ID="$SELECTED_ID" LOAD_MANIFEST="$SELECTED_MANIFEST" LOAD_IDENTITY="$identity"
      # A safety backup goes under this stack's own prefix.
      store_select_app "${CFG[APP_NAME]}"
      replace_app_db "$LOAD_PERIOD/$LOAD_ID" "$identity" load_backup_into check_backup_in
      log "load-app-db: $LOAD_PERIOD/$LOAD_ID loaded into $db and checked against $CHECKED"
      ;;
  esac
}

load_nothing() { :; }
check_nothing() { :; }

load_baseline_into() { load_baseline_file "$BASELINE_FILE" "$1" "$RUN_DIR/baseline-stats.json"; }
check_baseline_in() { check_loaded_rows "$1" "$RUN_DIR/baseline-stats.json"; }

LOAD_PERIOD="" LOAD_ID="" LOAD_MANIFEST="" LOAD_IDENTITY=""
load_backup_into() {
  local side="$1" ok=0 app="$STORE_APP"
  store_select_app "${CFG[APP_DB_SOURCE_APP]:-${CFG[APP_NAME]}}"
  stream_into "$side" "$LOAD_PERIOD" "$LOAD_ID" "$LOAD_IDENTITY" "$LOAD_MANIFEST" || ok=1
  store_select_app "$app"
  return "$ok"
}
check_backup_in() {
  check_side "$1" "$LOAD_MANIFEST" ||
    { db_drop "$1" 2>/dev/null || true; die "loading $LOAD_PERIOD/$LOAD_ID FAILED, ${CFG[DB_NAME]} untouched: $CHECK_FAILURE"; }
}
