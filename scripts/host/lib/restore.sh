# shellcheck shell=bash
# dbtier toolkit: verify (a test restore into a scratch database) and restore (load into a side database,
# check it against the source's digests, swap it in with the application fenced).

parse_identity_flag() {
  IDENTITY_FILE=""
  REST_ARGS=()
  FORCE=0
  YES=0
  IF_EMPTY=0
  UNVERIFIED=0
  BACKUP_ID_ARG=""
  while (($# > 0)); do
    case "$1" in
      --identity)
        (($# >= 2)) || die_usage "--identity needs a file"
        IDENTITY_FILE="$2"
        shift 2
        ;;
      --identity=*) IDENTITY_FILE="${1#--identity=}" && shift ;;
      --backup-id)
        (($# >= 2)) || die_usage "--backup-id needs a backup id"
        BACKUP_ID_ARG="$2"
        shift 2
        ;;
      --force) FORCE=1 && shift ;;
      --if-empty) IF_EMPTY=1 && shift ;;
      --yes) YES=1 && shift ;;
      --unverified) UNVERIFIED=1 && shift ;;
      --*) die_usage "unknown option $1" ;;
      *) REST_ARGS+=("$1") && shift ;;
    esac
  done
}

# Free space for a full copy of the database beside the live one (verify's scratch copy, restore's side
# database): refuses with the figures, since a full disk stops MariaDB and panics PostgreSQL.
# DBTIER_SPACE_MARGIN_PCT [20] is added to the source's size at backup time; DBTIER_SPACE_RESERVE_PCT [5]
# of the filesystem must stay free after it.
check_free_space() {
  local what="$1" manifest="$2" dir need source avail total reserve
  dir="$(db_local_data_dir)"
  if [[ -z "$dir" ]]; then
    log "$what: free space is the provider's (a managed database); not checked here"
    return 0
  fi
  [[ -d "$dir" ]] || die "$what refused: cannot check free space: the data directory $dir is not on this host (set DB_DATA_DIR)"
  source="$(jq -r '.sourceBytes // empty' "$manifest")"
  if [[ -z "$source" ]]; then
    source="$(db_size_bytes "${CFG[DB_NAME]}")" ||
      die "$what refused: cannot tell how much space a copy needs (no size in the manifest, the live database's size unreadable)"
  fi
  read -r avail total < <(df -B1 --output=avail,size "$dir" | tail -n 1) ||
    die "$what refused: cannot read the free space of $dir"
  need=$((source + source * ${DBTIER_SPACE_MARGIN_PCT:-20} / 100))
  reserve=$((total * ${DBTIER_SPACE_RESERVE_PCT:-5} / 100))
  if ((need + reserve > avail)); then
    die "$what refused: a copy of ${CFG[DB_NAME]} needs about $((need >> 20)) MiB (the source was $((source >> 20)) MiB when backed up, plus ${DBTIER_SPACE_MARGIN_PCT:-20}%) and $((reserve >> 20)) MiB must stay free on $dir, which has $((avail >> 20)) MiB free"
  fi
  log "$what: $((avail >> 20)) MiB free on $dir; a copy needs about $((need >> 20)) MiB"
}

# Checks a loaded database DB against what the backup recorded of its source: the source's digests
# taken inside the dump's snapshot (exact) or, for backups without them, the row digests of the dump
# itself (STATS, read on the way in). Dies with the differences. Prints what was compared.
check_against_source() {
  local db="$1" manifest="$2" stats="$3"
  local inexact
  inexact="$(jq -r '(.source.inexact // []) | join("; ")' "$manifest")"
  [[ -z "$inexact" ]] || die "the backup cannot be restored exactly: $inexact"
  if jq -e '.source.tables | type == "object"' "$manifest" >/dev/null 2>&1; then
    jq '.source' "$manifest" >"$RUN_DIR/source-digests.json"
    db_fingerprint "$db" "$RUN_DIR/restored-digests.json" 2>"$RUN_DIR/fingerprint.err" ||
      die "taking the digests of $db failed: $(tail -n 2 "$RUN_DIR/fingerprint.err" | tr '\n' ' ')"
    db_compare_digests "$RUN_DIR/source-digests.json" "$RUN_DIR/restored-digests.json" 2>"$RUN_DIR/compare.err" ||
      die "$db differs from the source as it was backed up: $(tr '\n' ';' <"$RUN_DIR/compare.err")"
    CHECKED="the source's digests of $(jq -r '.source.tables | length' "$manifest") tables"
  elif [[ -n "$stats" ]]; then
    set +e
    # The old plain format, so the re-dump renders rows as the backup's dump did.
    db_dump_stream "$db" "$RUN_DIR/redump-digests.json" sql 2>"$RUN_DIR/redump.err" | "$PYTHON" "$DUMPKIT" stats "$(dumpkit_engine)" "$RUN_DIR/redump.json"
    local codes=("${PIPESTATUS[@]}")
    set -e
    [[ "${codes[0]}" == 0 && "${codes[1]}" == 0 ]] || die "re-dumping $db failed: $(tail -n 2 "$RUN_DIR/redump.err" | tr '\n' ' ')"
    "$PYTHON" "$DUMPKIT" compare "$stats" "$RUN_DIR/redump.json" 2>"$RUN_DIR/compare.err" ||
      die "$db differs from the backup's dump: $(tr '\n' ';' <"$RUN_DIR/compare.err")"
    CHECKED="the row digests of the dump's $(jq -r '.tables | length' "$stats") tables (this backup has no source digests)"
  else
    die "internal error: nothing to check $db against"
  fi
}
CHECKED=""

# True when the manifest carries digests of the source (else the dump's own digests are read on the way).
has_source_digests() { jq -e '.source.tables | type == "object"' "$1" >/dev/null 2>&1; }

# The two steps every read of a backup into a database shares (verify, restore, load-app-db):
# stream_into SIDE PERIOD ID IDENTITY MANIFEST  loads the backup into the (fresh) database SIDE; on failure
#   STREAM_ERROR names the stage. SIDE_STATS: the dump's own row digests (backups without source digests).
# check_side SIDE MANIFEST  compares SIDE with the source; sets CHECKED (what was compared) or CHECK_FAILURE.
SIDE_STATS="" CHECK_FAILURE=""
stream_into() {
  local side="$1" period="$2" id="$3" identity="$4" manifest="$5" ok=0
  STREAM_STATS=""
  has_source_digests "$manifest" || STREAM_STATS="$RUN_DIR/stream-stats.json"
  # The database's own defaults go first on MariaDB/MySQL (what the dump creates takes its collations from
  # them), its settings last on PostgreSQL (a setting such as default_transaction_read_only must not reach
  # the load).
  if [[ "$DB_FAMILY" == mysql ]]; then set_database_properties "$side" "$manifest" || return 1; fi
  stream_backup "$period" "$id" "$identity" "$manifest" load_dump_stream "$side" "$(jq -r '.dump.format' "$manifest")" || ok=1
  if ((ok == 0)) && [[ "$DB_FAMILY" != mysql ]]; then set_database_properties "$side" "$manifest" || ok=1; fi
  SIDE_STATS="$STREAM_STATS"
  STREAM_STATS=""
  ((ok == 0)) || SIDE_STATS=""
  return "$ok"
}
# The database defaults/settings and comment the backup recorded (source.database), given to SIDE.
set_database_properties() {
  local side="$1" manifest="$2"
  if ! "$PYTHON" "$DBTIER_LIB/fingerprint.py" database-sql "$(dumpkit_engine)" "$side" "$manifest" >"$RUN_DIR/database.sql" 2>"$RUN_DIR/database.err" ||
    ! db_sql <"$RUN_DIR/database.sql" >/dev/null 2>>"$RUN_DIR/database.err"; then
    STREAM_ERROR="setting the database's own defaults/settings on $side failed: $(tr '\n' ' ' <"$RUN_DIR/database.err")"
    return 1
  fi
}
check_side() {
  local side="$1" manifest="$2" checked
  CHECK_FAILURE=""
  checked="$( (check_against_source "$side" "$manifest" "$SIDE_STATS" && printf 'OK %s' "$CHECKED") 2>&1 | tail -n 1)"
  if [[ "$checked" != "OK "* ]]; then
    CHECK_FAILURE="${checked#*error: }"
    return 1
  fi
  CHECKED="${checked#OK }"
}

cmd_verify() {
  parse_identity_flag "$@"
  ((${#REST_ARGS[@]} == 1)) || die_usage "usage: dbtier-db verify <period|backup-id> [--identity FILE]"
  local identity
  identity="$(identity_file)"
  setup_read_path
  command_lock verify
  store_check_reachable
  select_backup "${REST_ARGS[0]}" any
  local period="$SELECTED_PERIOD" id="$SELECTED_ID" manifest="$SELECTED_MANIFEST"
  db_wait_ready
  check_free_space "verify $period/$id" "$manifest"
  local scratch
  scratch="$(side_name verify)"
  log "verify $period/$id: restoring into scratch database $scratch"
  db_drop "$scratch"
  db_create "$scratch"
  if ! stream_into "$scratch" "$period" "$id" "$identity" "$manifest"; then
    local reason="$STREAM_ERROR"
    db_drop "$scratch" || true
    # What says nothing about the backup is not recorded against it: a server that went away, or an
    # identity that does not open it (its parts were authentic, so the identity is the wrong one).
    if [[ "$reason" == *"load failed"* ]] && ! db_ping; then
      die "verify $period/$id could not finish: the server stopped answering during the load ($reason); nothing recorded"
    fi
    # The datastore or the server refusing us is not the backup's fault either: only a part that does not
    # match the signed manifest, or a load that failed on what the backup holds, is recorded.
    if [[ "$reason" == *"download failed"* && "$reason" != *"signed manifest says"* ]] ||
      [[ "$reason" == *"load failed"* && "$reason" =~ cannot\ connect|Too\ many\ connections|too\ many\ clients|ERROR\ 1040|connection\ refused|server\ closed\ the\ connection|Lost\ connection|gone\ away ]]; then
      die "verify $period/$id could not finish ($reason); nothing recorded"
    fi
    if [[ "$reason" == *": decrypt failed"* ]]; then
      die "verify $period/$id FAILED (not recorded: the backup's parts are authentic, the identity does not open it): $reason"
    fi
    store_record_verification "$period" "$id" "$manifest" failed "$reason" '{}'
    die "verify $period/$id FAILED (recorded): $reason"
  fi
  local checked=0
  check_side "$scratch" "$manifest" || checked=1
  db_drop "$scratch"
  if ((checked != 0)); then
    store_record_verification "$period" "$id" "$manifest" failed "$CHECK_FAILURE" '{}'
    die "verify $period/$id FAILED (recorded): $CHECK_FAILURE"
  fi
  local tables='{}'
  has_source_digests "$manifest" && tables="$(jq '.source.tables' "$manifest")"
  [[ -n "$SIDE_STATS" ]] && tables="$(jq '.tables' "$SIDE_STATS")"
  store_record_verification "$period" "$id" "$manifest" ok "" "$tables"
  log "verify $period/$id OK: signature, every part's checksum, decryption and a restore into $scratch checked; the restored copy matches $CHECKED"
}

cmd_restore() {
  parse_identity_flag "$@"
  ((${#REST_ARGS[@]} == 1)) || die_usage "usage: dbtier-db restore <backup-id|latest> --yes [--unverified] [--identity FILE]"
  local target="${REST_ARGS[0]}"
  if [[ "$target" != latest ]] && ! is_backup_id "$target"; then
    die_usage "restore takes a backup id (YYYYMMDDTHHMMSSZ-xxxxxx) or 'latest', not '$target'"
  fi
  ((YES == 1)) || die_usage "restore replaces the live database ${CFG[DB_NAME]}; re-run with --yes"
  local identity
  identity="$(identity_file)"
  setup_read_path
  check_signing_key
  command_lock restore
  store_check_reachable
  local require=verified
  ((UNVERIFIED == 0)) || require=unverified
  select_backup "$target" "$require"
  local period="$SELECTED_PERIOD" id="$SELECTED_ID" manifest="$SELECTED_MANIFEST"
  db_wait_ready
  check_free_space "restore $period/$id" "$manifest"
  local side hold
  side="$(side_name restore)"
  hold="$(side_name previous)"
  local db="${CFG[DB_NAME]}"
  log "restore $period/$id: loading into side database $side ($db stays live meanwhile)"
  db_drop "$side"
  db_create "$side"
  if ! stream_into "$side" "$period" "$id" "$identity" "$manifest"; then
    db_drop "$side" 2>/dev/null || true
    die "restore of $period/$id FAILED, $db untouched: $STREAM_ERROR"
  fi
  if ! check_side "$side" "$manifest"; then
    db_drop "$side" 2>/dev/null || true
    die "restore of $period/$id FAILED, $db untouched: $CHECK_FAILURE"
  fi
  # The safety backup is taken now, just before the swap, so it holds the live state the swap replaces.
  take_safety_backup "restore" "$identity" "$side"
  db_swap_in "$db" "$side" "$hold" "$manifest" ||
    die "restore of $period/$id FAILED at the swap: $SWAP_ERROR${SAFETY_ID:+ (safety backup: safety/$SAFETY_ID)}"
  log "restore $period/$id OK: signature, parts, decryption, $CHECKED; swapped in${SAFETY_ID:+ (the previous state is safety/$SAFETY_ID)}"
}

# A safety backup of a DB_NAME that holds anything, read back (signature, every part, decryption,
# decompression) before it is relied on: take_safety_backup WHAT IDENTITY SIDE. Sets SAFETY_ID (empty when
# there was nothing to keep). On failure SIDE is dropped and DB_NAME is untouched.
SAFETY_ID=""
take_safety_backup() {
  local what="$1" identity="$2" side="$3" db="${CFG[DB_NAME]}" objects
  SAFETY_ID=""
  objects="$(db_object_count "$db")"
  [[ "$objects" != 0 ]] || return 0
  log "$what: $db holds $objects objects: safety backup before the swap"
  # dbtier/backup.py takes it (this run holds the lock), and says why when it fails.
  SAFETY_ID="$(DBTIER_ERROR_FILE="$RUN_DIR/safety.err" dbtier_cli _safety-backup)" || {
    db_drop "$side" 2>/dev/null || true
    die "$what refused, $db untouched: the safety backup failed: $(tail -n 1 "$RUN_DIR/safety.err" 2>/dev/null)"
  }
  local manifest="$RUN_DIR/manifest-safety-$SAFETY_ID.json"
  store_fetch_manifest safety "$SAFETY_ID" "$manifest"
  if ! stream_backup safety "$SAFETY_ID" "$identity" "$manifest" sh -c 'cat >/dev/null'; then
    db_drop "$side" 2>/dev/null || true
    die "$what refused, $db untouched: the safety backup safety/$SAFETY_ID does not read back: $STREAM_ERROR"
  fi
  log "$what: safety backup safety/$SAFETY_ID read back and decrypted"
}
