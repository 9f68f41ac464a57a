# shellcheck shell=bash
# dbtier toolkit: backup, verify, restore, list and load-app-db.
#
# Backup pipeline (nothing is written to local disk; every stage streams with bounded buffers):
#   dump | zstd -T0 | age -r RECIPIENT | s3stream.py put (multipart, SHA-256 + size + part MD5s on the way)
# then the stored object's size and ETag are checked against what was streamed (a full read-back when the
# store's ETag is not the MD5 kind), then the manifest is written (last), then older generations are
# pruned. Every stage's exit status is checked. Per-table digests are not computed here: the test
# restore (verify) computes them from the backup and from the restored copy and compares the two.

# zstd -3, 512 KiB window, matches of at least 6 bytes: 6% fewer stored bytes than gzip -6 on dumps of both
# engines (hex bytea included; npm run bench) at about half the CPU of zstd -5, in ~23 MB (scripts/bench/WHY.md).
ZSTD_LEVEL="${DBTIER_ZSTD_LEVEL:-3}"
ZSTD_WLOG="${DBTIER_ZSTD_WLOG:-19}"
ZSTD_MML="${DBTIER_ZSTD_MML:-6}"
# One 5 MiB part in flight (the S3 minimum) keeps the uploader near 30 MB and allows objects up to
# 50 GB (10,000 parts); raise DBTIER_S3_PART_SIZE for bigger databases.
export S3_PART_SIZE="${DBTIER_S3_PART_SIZE:-5242880}" S3_CONCURRENCY="${DBTIER_S3_CONCURRENCY:-1}"

retention_for() {
  local period="$1" key
  key="BACKUP_RETAIN_${period^^}"
  printf '%s' "${CFG[$key]}"
}

# Starts a background reader on a new fifo: fifo_reader NAME cmd... ; the reader's pid lands in READER_PIDS.
declare -gA READER_PIDS=()
fifo_reader() {
  local name="$1"
  shift
  local fifo="$RUN_DIR/$name.fifo"
  rm -f "$fifo"
  mkfifo -m 0600 "$fifo"
  "$@" <"$fifo" &
  READER_PIDS["$name"]=$!
}

# Waits for every reader; an unopened fifo is opened and closed first so its reader sees EOF instead of
# blocking forever. Fails naming the first reader that failed.
wait_readers() {
  local name ok=0
  for name in "${!READER_PIDS[@]}"; do
    [[ -p "$RUN_DIR/$name.fifo" ]] && : 2>/dev/null <>"$RUN_DIR/$name.fifo"
  done
  for name in "${!READER_PIDS[@]}"; do
    if ! wait "${READER_PIDS[$name]}"; then
      log "stage '$name' failed"
      ok=1
    fi
  done
  READER_PIDS=()
  return "$ok"
}

# Names the failed stages of a pipeline from the PIPESTATUS values and stage names given.
failed_stages() {
  local -n _codes="$1"
  shift
  local names=("$@") i out=""
  for i in "${!_codes[@]}"; do
    if [[ "${_codes[$i]}" != 0 ]]; then out+="${names[$i]:-stage$i}(exit ${_codes[$i]}) "; fi
  done
  printf '%s' "${out% }"
}

tool_versions_json() {
  jq -n --arg dbtier "$DBTIER_VERSION" --arg dump "$(db_dump_tool_version)" \
    --arg zstd "$(zstd --version 2>&1 | sed -n 1p)" --arg age "$(age --version 2>&1 | sed -n 1p)" \
    --arg rclone "$(rclone version 2>/dev/null | sed -n 1p)" --arg python "$("$PYTHON" --version 2>&1)" \
    '{dbtier: $dbtier, dump: $dump, zstd: $zstd, age: $age, rclone: $rclone, python: $python}'
}

BACKUP_ID=""

# The second half of a backup: check what the store holds against what was streamed, write the manifest.
finish_backup() {
  local period="$1" id="$2" started="$3" version="$4"
  local sha size parts_verified
  IFS='|' read -r sha size parts_verified < <(jq -r '[.sha256 // "", .size // "", .partsVerified // false] | map(tostring) | join("|")' "$RUN_DIR/put.json")
  [[ "$sha" =~ ^[0-9a-f]{64}$ && "$size" =~ ^[0-9]+$ ]] || die "backup $period/$id: streamed checksum or size missing"

  # Post-upload check that gates pruning. Every part went up with its SHA-256 signed (the store refuses
  # a damaged part) and came back with an ETag equal to its MD5 (the store holds exactly those bytes);
  # the assembled object must then have the streamed size. A store whose ETags are not MD5s (SSE-KMS)
  # gets a full read-back instead, as does every backup with DBTIER_UPLOAD_CHECK=read-back.
  local stored stored_size check
  stored="$(store_head "$period" "$id" "$DATA_OBJECT" 2>"$RUN_DIR/head.err")" || stored='{}'
  stored_size="$(jq -r '.size // "missing"' <<<"$stored")"
  if [[ "${DBTIER_UPLOAD_CHECK:-}" != read-back && "$stored_size" == "$size" && "$parts_verified" == true ]]; then
    check="part-etags"
  else
    check="read-back"
    set +e
    (store_stream_get "$period" "$id" "$DATA_OBJECT" "$RUN_DIR/readback.json") 2>"$RUN_DIR/readback.err" >/dev/null
    local rc=$?
    set -e
    local back_sha="" back_size=""
    IFS='|' read -r back_sha back_size < <(jq -r '[.sha256 // "", .size // ""] | map(tostring) | join("|")' "$RUN_DIR/readback.json" 2>/dev/null) || true
    if [[ "$rc" != 0 || "$back_size" != "$size" || "$back_sha" != "$sha" ]]; then
      store_purge "$(store_path "$period" "$id")"
      die "backup $period/$id: the stored object does not match what was streamed (size ${back_size:-$stored_size} vs $size, sha256 ${back_sha:-unreadable} vs $sha); removed"
    fi
  fi

  local manifest
  manifest="$RUN_DIR/manifest.json"
  jq -n --arg id "$id" --arg period "$period" --arg app "${CFG[APP_NAME]}" --arg started "$started" \
    --arg completed "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg engine "${CFG[DB_ENGINE]}" --arg version "$version" \
    --arg database "${CFG[DB_NAME]}" --arg object "$DATA_OBJECT" --arg sha "$sha" --argjson size "$size" \
    --arg recipient "${CFG[BACKUP_RECIPIENT]}" --arg host "$(hostname)" --arg check "$check" \
    --arg compression "zstd -$ZSTD_LEVEL --zstd=wlog=$ZSTD_WLOG,mml=$ZSTD_MML" --argjson tools "$(tool_versions_json)" \
    '{format: 2, backupId: $id, period: $period, app: $app, startedAt: $started, completedAt: $completed,
      host: $host, engine: $engine, serverVersion: $version, database: $database,
      object: {key: $object, sha256: $sha, size: $size, compression: $compression, encryption: "age", recipient: $recipient},
      dump: {format: "sql"},
      uploadCheck: {method: $check, sha256: $sha, size: $size, checkedAt: $completed},
      tools: $tools}' >"$manifest"
  store_put_file "$manifest" "$(store_path "$period" "$id" "$MANIFEST_OBJECT")" 2>"$RUN_DIR/store.err" || {
    store_purge "$(store_path "$period" "$id")"
    die "backup $period/$id: writing the manifest failed: $(tail -n 2 "$RUN_DIR/store.err" | tr '\n' ' ')"
  }
  log "backup $period/$id done: stored $size bytes, sha256 $sha (upload check: $check)"
}

# Keeps the newest N complete backups of PERIOD; removes older ones and leftovers of failed runs older
# than the newest complete backup. Runs only after a new backup passed its upload check.
prune_period() {
  local period="$1" keep ids=() all=() id newest
  keep="$(retention_for "$period")"
  mapfile -t ids < <(store_complete_ids "$period")
  mapfile -t all < <(store_all_ids "$period")
  ((${#ids[@]} > 0)) || return 0
  newest="${ids[-1]}"
  local drop=$((${#ids[@]} - keep)) i
  for ((i = 0; i < drop; i++)); do
    log "retention ($period keeps $keep): removing $period/${ids[$i]}"
    store_purge "$(store_path "$period" "${ids[$i]}")"
  done
  for id in "${all[@]}"; do
    if [[ " ${ids[*]} " != *" $id "* && "$id" < "$newest" ]]; then
      log "removing incomplete leftover $period/$id (no manifest)"
      store_purge "$(store_path "$period" "$id")"
    fi
  done
}

backup_now() {
  local period="$1" started version
  started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  version="$(db_server_version)" || die "cannot read the server version"
  BACKUP_ID="$(new_backup_id)"
  local id="$BACKUP_ID"
  log "backup $period/$id of ${CFG[DB_ENGINE]} $version database ${CFG[DB_NAME]} started"
  # The compressor runs niced: the database server and the single-threaded dump (the critical path)
  # keep priority, and zstd's threads take what is left.
  set +e
  db_dump_stream "${CFG[DB_NAME]}" 2>"$RUN_DIR/dump.err" |
    nice -n 10 zstd -T0 "-$ZSTD_LEVEL" "--zstd=wlog=$ZSTD_WLOG,mml=$ZSTD_MML" -q -c |
    age -r "${CFG[BACKUP_RECIPIENT]}" |
    store_stream_put "$period" "$id" "$DATA_OBJECT" "$RUN_DIR/put.json" 2>"$RUN_DIR/upload.err"
  local codes=("${PIPESTATUS[@]}")
  set -e
  local failed
  failed="$(failed_stages codes dump zstd age upload)"
  if [[ -n "$failed" ]]; then
    store_purge "$(store_path "$period" "$id")"
    local why=""
    [[ -s "$RUN_DIR/dump.err" ]] && why+=" dump: $(grep -v '^Warning' "$RUN_DIR/dump.err" | tail -n 3 | tr '\n' ' ')"
    [[ -s "$RUN_DIR/upload.err" ]] && why+=" upload: $(tail -n 3 "$RUN_DIR/upload.err" | tr '\n' ' ')"
    die "backup $period/$id failed in stage(s): $failed.$why (no manifest written; partial object removed)"
  fi
  finish_backup "$period" "$id" "$started" "$version"
}

cmd_backup() {
  local period="${1:-}"
  [[ -n "$period" ]] || die_usage "usage: dbtier-db backup <period>; periods: $PERIODS"
  is_period "$period" || die_usage "unknown period '$period': allowed $PERIODS"
  (($# == 1)) || die_usage "usage: dbtier-db backup <period>"
  require_keys DB_ENGINE DB_NAME BACKUP_RECIPIENT APP_NAME
  [[ "${CFG[BACKUP_RECIPIENT]}" =~ ^age1[0-9a-z]{50,}$ ]] || die_usage "BACKUP_RECIPIENT='${CFG[BACKUP_RECIPIENT]}': must be an age public key (age1...)"
  need_commands zstd age "$PYTHON"
  db_setup
  store_setup
  acquire_lock "backup $period"
  store_check_reachable
  db_wait_ready
  db_exists "${CFG[DB_NAME]}" || die "database ${CFG[DB_NAME]} does not exist at $(db_target)"
  # PostgreSQL on a DBaaS: the admin reads the app user's tables through membership in its role.
  if [[ "$DB_FAMILY" == postgres ]]; then pg_prepare_app_role || true; fi
  backup_now "$period"
  prune_period "$period"
}

# Resolves a verify/restore target to "PERIOD ID". Accepts a period, a backup id, or "latest".
resolve_target() {
  local target="$1" period id
  if [[ "$target" == latest ]]; then
    # One listing of every period's manifests (period/id/manifest.json), not one per period.
    local best="" best_period=""
    local name rest
    while IFS=/ read -r period id name rest; do
      if [[ "$name" == "$MANIFEST_OBJECT" && -z "$rest" && " ${CFG[BACKUP_PERIODS]} " == *" $period "* ]] &&
        is_backup_id "$id" && [[ "$id" > "$best" ]]; then
        best="$id" best_period="$period"
      fi
    done < <(store_lsf --recursive --files-only --include "$MANIFEST_OBJECT" "$STORE_ROOT")
    [[ -n "$best" ]] || die "no complete backup found in ${CFG[BACKUP_PERIODS]}"
    printf '%s %s' "$best_period" "$best"
  elif is_period "$target" || [[ "$target" == safety ]]; then
    id="$(store_newest_id "$target")"
    [[ -n "$id" ]] || die "no complete $target backup found"
    printf '%s %s' "$target" "$id"
  elif is_backup_id "$target"; then
    period="$(store_find_period "$target")" || die "backup $target not found (no manifest in any period)"
    printf '%s %s' "$period" "$target"
  else
    die_usage "'$target' is neither a period ($PERIODS), a backup id (YYYYMMDDTHHMMSSZ-xxxxxx) nor 'latest'"
  fi
}

# Streams PERIOD/ID decrypted into a consumer command, checking the stored bytes on the way:
#   stream_backup PERIOD ID IDENTITY MANIFEST consumer...
# Fails unless every stored byte's sha256 and the size match the manifest, decryption and decompression
# succeed and the consumer succeeds. With STREAM_STATS=FILE, the dump's per-table rows and row digests
# are written to FILE as well (the test restore compares them with the restored copy).
STREAM_STATS=""
stream_backup() {
  local period="$1" id="$2" identity="$3" manifest="$4"
  shift 4
  local codes names
  set +e
  if [[ -n "$STREAM_STATS" ]]; then
    fifo_reader stats "$PYTHON" "$DUMPKIT" stats "$(dumpkit_engine)" "$STREAM_STATS"
    store_stream_get "$period" "$id" "$DATA_OBJECT" "$RUN_DIR/get.json" 2>"$RUN_DIR/download.err" |
      age -d -i "$identity" 2>"$RUN_DIR/age.err" |
      zstd -d -q -c 2>"$RUN_DIR/zstd.err" |
      tee "$RUN_DIR/stats.fifo" |
      "$@" 2>"$RUN_DIR/load.err"
    codes=("${PIPESTATUS[@]}")
    names=(download decrypt decompress tee load)
  else
    store_stream_get "$period" "$id" "$DATA_OBJECT" "$RUN_DIR/get.json" 2>"$RUN_DIR/download.err" |
      age -d -i "$identity" 2>"$RUN_DIR/age.err" |
      zstd -d -q -c 2>"$RUN_DIR/zstd.err" |
      "$@" 2>"$RUN_DIR/load.err"
    codes=("${PIPESTATUS[@]}")
    names=(download decrypt decompress load)
  fi
  set -e
  local readers=0
  wait_readers || readers=1
  if [[ "${codes[0]}" != 0 ]]; then
    STREAM_ERROR="downloading $period/$id failed: $(tail -n 2 "$RUN_DIR/download.err" | tr '\n' ' ')"
    return 1
  fi
  local sha="" size="" want_sha want_size
  IFS='|' read -r sha size < <(jq -r '[.sha256 // "", .size // ""] | map(tostring) | join("|")' "$RUN_DIR/get.json" 2>/dev/null) || true
  IFS='|' read -r want_sha want_size < <(jq -r '[.object.sha256, .object.size] | map(tostring) | join("|")' "$manifest")
  if [[ "$sha" != "$want_sha" || "$size" != "$want_size" ]]; then
    STREAM_ERROR="checksum mismatch: stored object $period/$id has sha256 $sha and $size bytes, the manifest says $want_sha and $want_size bytes"
    return 1
  fi
  # A consumer that stops early breaks age's output pipe: that is the consumer's failure, not the key's.
  if [[ "${codes[1]}" != 0 ]] && ! grep -qi 'broken pipe' "$RUN_DIR/age.err"; then
    STREAM_ERROR="decrypting $period/$id failed (is this the identity for $(jq -r '.object.recipient' "$manifest")?): $(tail -n 2 "$RUN_DIR/age.err" | tr '\n' ' ')"
    return 1
  fi
  local failed
  failed="$(failed_stages codes "${names[@]}")"
  if [[ -n "$failed" || "$readers" != 0 ]]; then
    local why="" last=$((${#codes[@]} - 1))
    [[ "${codes[2]}" != 0 ]] && why+=" zstd: $(tail -n 2 "$RUN_DIR/zstd.err" | tr '\n' ' ')"
    [[ "${codes[$last]}" != 0 ]] && why+=" load: $(tail -n 3 "$RUN_DIR/load.err" | tr '\n' ' ')"
    STREAM_ERROR="reading $period/$id failed in stage(s): ${failed:-stream readers}.$why"
    return 1
  fi
  return 0
}
STREAM_ERROR=""

scratch_name() {
  local name="${CFG[DB_NAME]}_dbtier_verify"
  printf '%s' "${name:0:63}"
}

# Re-dumps DB and compares its per-table rows and row digests with EXPECTED (stats of the backup's dump).
compare_db_with_stats() {
  local db="$1" expected="$2"
  set +e
  db_dump_stream "$db" 2>"$RUN_DIR/redump.err" | "$PYTHON" "$DUMPKIT" stats "$(dumpkit_engine)" "$RUN_DIR/redump.json"
  local codes=("${PIPESTATUS[@]}")
  set -e
  [[ "${codes[0]}" == 0 && "${codes[1]}" == 0 ]] || die "re-dumping $db failed: $(tail -n 2 "$RUN_DIR/redump.err" | tr '\n' ' ')"
  "$PYTHON" "$DUMPKIT" compare "$expected" "$RUN_DIR/redump.json" 2>"$RUN_DIR/compare.err" ||
    die "restored copy in $db differs from the backup: $(tr '\n' ';' <"$RUN_DIR/compare.err")"
}

# Row counts of DB against the tables a test restore recorded for PERIOD/ID (verified.json), or against
# a format-1 manifest's; says so when the backup was never verified.
check_rows_against_backup() {
  local db="$1" period="$2" id="$3" manifest="$4" record="$RUN_DIR/verified-record.json"
  # rclone cat of a missing key prints nothing and succeeds (and jq -e passes empty input): hence -s.
  if rc cat "$(store_path "$period" "$id" verified.json)" >"$record" 2>/dev/null && [[ -s "$record" ]] &&
    jq -e '.tables | type == "object"' "$record" >/dev/null 2>&1; then
    check_loaded_rows "$db" "$record"
    log "row counts of $(jq -r '.tables | length' "$record") tables match the test restore of $period/$id"
  elif jq -e '.dump.tables | type == "object"' "$manifest" >/dev/null 2>&1; then
    check_loaded_rows "$db" "$manifest"
    log "row counts of $(jq -r '.dump.tables | length' "$manifest") tables match the manifest of $period/$id"
  else
    warn "$period/$id has no test restore on record (dbtier-db verify): row counts not compared"
  fi
}

parse_identity_flag() {
  IDENTITY_FILE=""
  REST_ARGS=()
  FORCE=0
  YES=0
  IF_EMPTY=0
  while (($# > 0)); do
    case "$1" in
      --identity)
        (($# >= 2)) || die_usage "--identity needs a file"
        IDENTITY_FILE="$2"
        shift 2
        ;;
      --identity=*) IDENTITY_FILE="${1#--identity=}" && shift ;;
      --force) FORCE=1 && shift ;;
      --if-empty) IF_EMPTY=1 && shift ;;
      --yes) YES=1 && shift ;;
      --*) die_usage "unknown option $1" ;;
      *) REST_ARGS+=("$1") && shift ;;
    esac
  done
}

cmd_verify() {
  parse_identity_flag "$@"
  ((${#REST_ARGS[@]} == 1)) || die_usage "usage: dbtier-db verify <period|backup-id> [--identity FILE]"
  require_keys DB_ENGINE DB_NAME APP_NAME
  local identity
  identity="$(identity_file)"
  need_commands zstd age "$PYTHON"
  db_setup
  store_setup
  acquire_lock verify
  store_check_reachable
  local target period id
  target="$(resolve_target "${REST_ARGS[0]}")"
  read -r period id <<<"$target"
  local manifest="$RUN_DIR/verify-manifest.json"
  store_fetch_manifest "$period" "$id" "$manifest"
  db_wait_ready
  local scratch
  scratch="$(scratch_name)"
  log "verify $period/$id: restoring into scratch database $scratch"
  db_drop "$scratch"
  db_create "$scratch"
  # The digests of the backup's dump (taken on the way in) against those of the restored copy's re-dump:
  # order-independent per table, so a parallel load that stores rows in another order still matches.
  STREAM_STATS="$RUN_DIR/stream-stats.json"
  if ! stream_backup "$period" "$id" "$identity" "$manifest" load_dump_stream "$scratch"; then
    STREAM_STATS=""
    db_drop "$scratch" || true
    die "verify $period/$id FAILED: $STREAM_ERROR"
  fi
  STREAM_STATS=""
  # A format-1 manifest also carries the row counts taken at backup time.
  if jq -e '.dump.tables | type == "object"' "$manifest" >/dev/null 2>&1; then
    "$PYTHON" "$DUMPKIT" compare "$manifest" "$RUN_DIR/stream-stats.json" --rows-only 2>"$RUN_DIR/compare.err" ||
      { db_drop "$scratch" || true; die "verify $period/$id FAILED: the dump differs from its manifest: $(tr '\n' ';' <"$RUN_DIR/compare.err")"; }
  fi
  compare_db_with_stats "$scratch" "$RUN_DIR/stream-stats.json"
  db_drop "$scratch"
  local record="$RUN_DIR/verified.json" tables
  tables="$(jq -r '.tables | length' "$RUN_DIR/stream-stats.json")"
  jq -n --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg host "$(hostname)" --slurpfile m "$manifest" \
    --slurpfile s "$RUN_DIR/stream-stats.json" \
    '{verifiedAt: $at, host: $host, sha256: $m[0].object.sha256, dumpBytes: $s[0].bytes, tables: $s[0].tables, result: "ok"}' >"$record"
  store_put_file "$record" "$(store_path "$period" "$id" verified.json)" || warn "could not record the verification in the datastore"
  log "verify $period/$id OK: checksum, decryption, restore and the row digests of $tables tables match"
}

cmd_restore() {
  parse_identity_flag "$@"
  ((${#REST_ARGS[@]} == 1)) || die_usage "usage: dbtier-db restore <backup-id|latest> [--yes] [--identity FILE]"
  local target_arg="${REST_ARGS[0]}"
  if [[ "$target_arg" != latest ]] && ! is_backup_id "$target_arg"; then
    die_usage "restore takes a backup id (YYYYMMDDTHHMMSSZ-xxxxxx) or 'latest', not '$target_arg'"
  fi
  require_keys DB_ENGINE DB_NAME APP_NAME BACKUP_RECIPIENT
  ((YES == 1)) || die_usage "restore replaces the live database ${CFG[DB_NAME]}; re-run with --yes"
  local identity
  identity="$(identity_file)"
  need_commands zstd age "$PYTHON"
  db_setup
  store_setup
  acquire_lock restore
  store_check_reachable
  local target period id
  target="$(resolve_target "$target_arg")"
  read -r period id <<<"$target"
  local manifest="$RUN_DIR/restore-manifest.json"
  store_fetch_manifest "$period" "$id" "$manifest"
  db_wait_ready
  local db="${CFG[DB_NAME]}" live=0
  if db_exists "$db" && [[ "$(db_object_count "$db")" != 0 ]]; then live=1; fi
  if ((live == 1)); then
    # Prove the whole object is intact before touching a database that holds data.
    log "restore $period/$id: checking the stored backup end to end"
    stream_backup "$period" "$id" "$identity" "$manifest" sh -c 'cat >/dev/null' ||
      die "restore refused, live database untouched: $STREAM_ERROR"
    log "restore: safety backup of the live database first"
    backup_now safety
    log "restore: safety backup is safety/$BACKUP_ID"
    prune_period safety
  else
    # Nothing to protect (a new host): one pass; a failure leaves the database empty, as it was.
    log "restore $period/$id: $db is empty, loading in one pass"
  fi
  log "restore $period/$id into $db"
  db_drop "$db"
  db_create "$db"
  if ! stream_backup "$period" "$id" "$identity" "$manifest" load_dump_stream "$db"; then
    if ((live == 1)); then
      die "restore of $period/$id into $db FAILED: $STREAM_ERROR ($db holds part of the backup; the safety backup safety/$BACKUP_ID holds the previous state)"
    fi
    local state="$db is empty again, as before"
    { db_drop "$db" && db_create "$db"; } 2>/dev/null || state="$db may hold part of the backup: emptying it failed"
    die "restore of $period/$id into $db FAILED: $STREAM_ERROR ($state)"
  fi
  check_rows_against_backup "$db" "$period" "$id" "$manifest"
  log "restore $period/$id OK"
}

cmd_list() {
  (($# <= 1)) || die_usage "usage: dbtier-db list [period]"
  local periods="$PERIODS safety"
  if (($# == 1)); then
    is_period "$1" || [[ "$1" == safety ]] || die_usage "unknown period '$1': allowed $PERIODS safety"
    periods="$1"
  fi
  require_keys APP_NAME
  store_setup
  store_check_reachable
  local period listing
  printf 'period\tbackup-id\tstored-bytes\tstate\n'
  for period in $periods; do
    listing="$(rc lsjson --recursive --files-only "$STORE_ROOT/$period" 2>/dev/null || printf '[]')"
    jq -r --arg p "$period" --arg data "$DATA_OBJECT" --arg man "$MANIFEST_OBJECT" '
      map(select(.Path | test("^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}/")))
      | group_by(.Path | split("/")[0])
      | map({id: (.[0].Path | split("/")[0]),
             size: (map(select(.Name == $data)) | .[0].Size // 0),
             state: (if any(.Name == "verified.json") then "verified"
                     elif any(.Name == $man) then "complete" else "incomplete" end)})
      | sort_by(.id) | reverse | .[] | [$p, .id, (.size | tostring), .state] | @tsv' <<<"$listing"
  done
}

# Clones the baseline repository (deploy key and pinned known_hosts from secret files) and prints the
# path of the dump file inside the clone.
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
  printf '%s' "$file"
}
BASELINE_DIR=""

decompress_file() {
  case "$1" in
    *.sql) cat -- "$1" ;;
    *.sql.zst) zstd -d -q -c -- "$1" ;;
    *.sql.gz) gzip -d -c -- "$1" ;;
    *) return 2 ;;
  esac
}

# Loads a baseline dump file into DB and checks the loaded row counts against the dump's own.
load_baseline_file() {
  local file="$1" db="$2"
  fifo_reader stats "$PYTHON" "$DUMPKIT" stats "$(dumpkit_engine)" "$RUN_DIR/baseline-stats.json"
  set +e
  decompress_file "$file" | tee "$RUN_DIR/stats.fifo" | load_dump_stream "$db" 2>"$RUN_DIR/load.err"
  local codes=("${PIPESTATUS[@]}")
  set -e
  local readers=0
  wait_readers || readers=1
  if [[ "${codes[0]}" != 0 || "${codes[1]}" != 0 || "${codes[2]}" != 0 || "$readers" != 0 ]]; then
    LOAD_ERROR="$(tail -n 3 "$RUN_DIR/load.err" | tr '\n' ' ')"
    return 1
  fi
  return 0
}
LOAD_ERROR=""

# The target database must be empty unless --force; --force drops and recreates it.
prepare_target() {
  local db="$1" objects
  objects="$(db_object_count "$db")"
  if [[ "$objects" != 0 ]]; then
    ((FORCE == 1)) || die "database $db is not empty ($objects tables/views/routines); pass --force to replace it"
    log "--force: dropping the non-empty database $db"
    db_drop "$db"
  fi
  db_create "$db"
}

# Row counts in DB must equal the dump's (stats file or manifest).
check_loaded_rows() {
  local db="$1" expected="$2" actual="$RUN_DIR/loaded-rows.json"
  db_row_counts "$db" | jq -R -s 'split("\n") | map(select(length > 0) | split("\t") | {key: .[0], value: {rows: (.[1] | tonumber)}}) | {tables: from_entries}' >"$actual"
  "$PYTHON" "$DUMPKIT" compare "$expected" "$actual" --rows-only 2>"$RUN_DIR/compare.err" ||
    die "loaded database $db does not match its source: $(tr '\n' ';' <"$RUN_DIR/compare.err")"
}

# Runs a loader command into DB until it succeeds: at most DBTIER_LOAD_ATTEMPTS times, on a fresh database
# each time, the delay doubling. The loader leaves its reason in LOAD_ERROR or STREAM_ERROR; a checksum
# mismatch is final (the stored object is bad, not the connection).
load_with_retries() {
  local db="$1" what="$2" attempts="${DBTIER_LOAD_ATTEMPTS:-3}" delay="${DBTIER_CONNECT_DELAY:-2}" n reason
  shift 2
  for ((n = 1; ; n++)); do
    LOAD_ERROR="" STREAM_ERROR=""
    if "$@"; then return 0; fi
    reason="${LOAD_ERROR:-${STREAM_ERROR:-unknown error}}"
    if ((n >= attempts)) || [[ "$reason" == checksum* ]]; then
      # A parallel load is not one transaction: leave the target empty, as it was, not half loaded.
      local state="$db left empty"
      { db_drop "$db" && db_create "$db"; } 2>/dev/null || state="$db may hold part of it: emptying it failed"
      if [[ "$reason" == checksum* ]]; then die "loading $what refused: $reason ($state)"; fi
      die "loading $what into $db failed after $n attempt(s): $reason ($state)"
    fi
    log "load attempt $n failed ($reason); retrying in ${delay}s"
    sleep "$delay"
    delay=$((delay * 2))
    db_wait_ready
    db_drop "$db"
    db_create "$db"
  done
}

cmd_load_app_db() {
  parse_identity_flag "$@"
  ((${#REST_ARGS[@]} == 0)) || die_usage "usage: dbtier-db load-app-db [--force | --if-empty] [--identity FILE]"
  ((FORCE == 0 || IF_EMPTY == 0)) || die_usage "--force and --if-empty contradict each other"
  require_keys DB_ENGINE DB_NAME APP_DB_SOURCE
  local source="${CFG[APP_DB_SOURCE]}"
  case "$source" in
    virgin | baseline) ;;
    *) is_period "$source" || die_usage "APP_DB_SOURCE='$source': allowed virgin, baseline, $PERIODS" ;;
  esac
  need_commands "$PYTHON"
  db_setup
  acquire_lock load-app-db
  db_wait_ready
  if [[ "${CFG[DB_ROLE]:-database}" == proxy ]]; then db_ensure_app_user; fi
  local db="${CFG[DB_NAME]}" objects
  # --if-empty is the unattended form `pulumi up` runs: a database that already holds data is the normal case
  # on every later run, and replacing it is a deliberate act (restore, promote, --force).
  if ((IF_EMPTY == 1)); then
    objects="$(db_object_count "$db")"
    if [[ "$objects" != 0 ]]; then
      log "load-app-db: $db already holds data ($objects tables/views/routines); left as it is (--if-empty)"
      return 0
    fi
  fi
  local identity=""
  if is_period "$source"; then
    if ((IF_EMPTY == 1)) && [[ -z "${IDENTITY_FILE:-${DBTIER_AGE_IDENTITY_FILE:-}}" ]] && ! has_secret age-identity; then
      log "load-app-db: NOT LOADED: a $source backup is decrypted with the age identity, which never stays on a host; load it with 'npm run promote' or 'dbtier-db load-app-db --identity FILE'"
      return 0
    fi
    identity="$(identity_file)"
  fi
  case "$source" in
    virgin)
      prepare_target "$db"
      log "load-app-db: empty database $db ready"
      ;;
    baseline)
      local file
      file="$(fetch_baseline)"
      case "$file" in *.sql | *.sql.zst | *.sql.gz) ;; *) die_usage "APP_DB_BASELINE_PATH must end in .sql, .sql.zst or .sql.gz" ;; esac
      prepare_target "$db"
      load_with_retries "$db" "the baseline" load_baseline_file "$file" "$db"
      check_loaded_rows "$db" "$RUN_DIR/baseline-stats.json"
      rm -rf -- "$BASELINE_DIR"
      log "load-app-db: baseline ${CFG[APP_DB_BASELINE_PATH]} loaded into $db and checked"
      ;;
    *)
      store_setup
      local source_app="${CFG[APP_DB_SOURCE_APP]:-${CFG[APP_NAME]}}"
      store_select_app "$source_app"
      store_check_reachable
      local id manifest="$RUN_DIR/load-manifest.json"
      # Only a backup whose test restore passed (verified.json) is trusted to become the application database.
      id="$(store_newest_verified_id "$source")"
      [[ -n "$id" ]] || die "no verified $source backup under $source_app to load; run 'dbtier-db verify $source --identity FILE' first"
      store_fetch_manifest "$source" "$id" "$manifest"
      prepare_target "$db"
      load_with_retries "$db" "$source/$id" stream_backup "$source" "$id" "$identity" "$manifest" load_dump_stream "$db"
      check_rows_against_backup "$db" "$source" "$id" "$manifest"
      log "load-app-db: $source/$id loaded into $db and checked against its manifest"
      ;;
  esac
}
