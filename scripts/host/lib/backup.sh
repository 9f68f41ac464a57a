# shellcheck shell=bash
# dbtier toolkit: taking backups (backup, the safety backup of restore), retention. (list: dbtier/listing.py)
#
# Pipeline (nothing is written to local disk; every stage streams with bounded buffers):
#   dump | zstd | age -r RECIPIENT | s3stream.py put (multipart; SHA-256 of the whole and of each part)
# then the stored object is checked against what was streamed, the manifest (object and part checksums,
# the source's own digests, codecs) is signed and written last, then older generations are pruned.

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

tool_versions_json() {
  jq -n --arg dbtier "$DBTIER_VERSION" --arg dump "$(db_dump_tool_version)" \
    --arg zstd "$(zstd --version 2>&1 | sed -n 1p)" --arg age "$(age --version 2>&1 | sed -n 1p)" \
    --arg python "$("$PYTHON" --version 2>&1)" \
    '{dbtier: $dbtier, dump: $dump, zstd: $zstd, age: $age, python: $python}'
}

BACKUP_ID=""

# The newest backup this host wrote under its own prefix; `restore latest` refuses a listing without it
# (a deleted backup, or a replayed listing).
newest_written_file() { printf '%s/newest-backup-%s' "$(state_dir)" "${CFG[APP_NAME]}"; }

# The second half of a backup: check what the store holds against what was streamed, sign and write the
# manifest.
finish_backup() {
  local period="$1" id="$2" started="$3" version="$4" digests="$5"
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
    jq '{size, sha256, partSize, parts}' "$RUN_DIR/put.json" >"$RUN_DIR/put.expect"
    if ! (store_stream_get "$period" "$id" "$DATA_OBJECT" "$RUN_DIR/readback.json" "$RUN_DIR/put.expect") \
      2>"$RUN_DIR/readback.err" >/dev/null; then
      store_purge "$(store_path "$period" "$id")"
      die "backup $period/$id: the stored object does not match what was streamed (stored size $stored_size, streamed $size): $(tail -n 1 "$RUN_DIR/readback.err"); removed"
    fi
  fi

  local manifest="$RUN_DIR/manifest.json" source_bytes
  source_bytes="$(db_size_bytes "${CFG[DB_NAME]}")" || source_bytes=null
  jq -n --arg id "$id" --arg period "$period" --arg app "${CFG[APP_NAME]}" --arg started "$started" \
    --arg completed "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg engine "${CFG[DB_ENGINE]}" --arg version "$version" \
    --arg database "${CFG[DB_NAME]}" --arg object "$DATA_OBJECT" --arg check "$check" \
    --arg recipient "${CFG[BACKUP_RECIPIENT]}" --arg host "$(hostname)" --argjson format "$MANIFEST_FORMAT" \
    --argjson level "$ZSTD_LEVEL" --arg zargs "--zstd=wlog=$ZSTD_WLOG,mml=$ZSTD_MML" \
    --argjson tools "$(tool_versions_json)" --argjson sourceBytes "$source_bytes" \
    --slurpfile put "$RUN_DIR/put.json" --slurpfile digests "$digests" \
    '{format: $format, backupId: $id, period: $period, app: $app, startedAt: $started, completedAt: $completed,
      host: $host, engine: $engine, serverVersion: $version, database: $database, sourceBytes: $sourceBytes,
      object: {key: $object, sha256: $put[0].sha256, size: $put[0].size, partSize: $put[0].partSize, parts: $put[0].parts},
      compression: {codec: "zstd", level: $level, args: $zargs},
      encryption: {codec: "age", recipient: $recipient},
      dump: {format: ($digests[0].format // "sql")},
      source: $digests[0],
      uploadCheck: {method: $check, checkedAt: $completed},
      signedBy: $app, tools: $tools}' >"$manifest"
  sign_file "$manifest"
  # The signature first, the manifest last: a manifest marks a complete backup.
  { store_put_file "$manifest.sig" "$(store_path "$period" "$id" "$MANIFEST_OBJECT.sig")" &&
    store_put_file "$manifest" "$(store_path "$period" "$id" "$MANIFEST_OBJECT")"; } 2>"$RUN_DIR/store.err" || {
    store_purge "$(store_path "$period" "$id")"
    die "backup $period/$id: writing the manifest failed: $(tail -n 2 "$RUN_DIR/store.err" | tr '\n' ' ')"
  }
  if [[ "$period" != safety ]]; then printf '%s/%s\n' "$period" "$id" >"$(newest_written_file)"; fi
  local inexact
  inexact="$(jq -r '(.inexact // []) | join("; ")' "$digests")"
  if [[ -n "$inexact" ]]; then
    warn "backup $period/$id cannot be restored exactly: $inexact (recorded in its manifest; verify fails it)"
  fi
  log "backup $period/$id done: stored $size bytes, sha256 $sha, signed (upload check: $check)"
}

# Keeps the newest N complete backups of PERIOD; removes older ones and leftovers of failed runs older
# than the newest complete backup. Runs only after a new backup passed its upload check.
prune_period() {
  local period="$1" keep ids=() all=() id newest
  keep="$(retention_for "$period")"
  local listing
  # A listing that fails prunes nothing (the next backup prunes again).
  listing="$(store_complete_ids "$period")" || return 0
  mapfile -t ids < <(grep . <<<"$listing")
  listing="$(store_all_ids "$period")" || return 0
  mapfile -t all < <(grep . <<<"$listing")
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
  local id="$BACKUP_ID" digests="$RUN_DIR/source-digests.json"
  printf '{}' >"$digests"
  log "backup $period/$id of ${CFG[DB_ENGINE]} $version database ${CFG[DB_NAME]} started"
  CURRENT_STEP="backup $period/$id (no manifest written)"
  # The compressor runs niced: the database server and the single-threaded dump (the critical path)
  # keep priority, and zstd's threads take what is left.
  set +e
  db_dump_stream "${CFG[DB_NAME]}" "$digests" 2>"$RUN_DIR/dump.err" |
    nice -n 10 zstd -T0 "-$ZSTD_LEVEL" "--zstd=wlog=$ZSTD_WLOG,mml=$ZSTD_MML" -q -c 2>"$RUN_DIR/zstd.err" |
    age -r "${CFG[BACKUP_RECIPIENT]}" 2>"$RUN_DIR/age.err" |
    store_stream_put "$period" "$id" "$DATA_OBJECT" "$RUN_DIR/put.json" 2>"$RUN_DIR/upload.err"
  local codes=("${PIPESTATUS[@]}")
  set -e
  local failure
  failure="$(pipeline_failure codes dump:dump.err compress:zstd.err encrypt:age.err upload:upload.err)"
  if [[ -n "$failure" ]]; then
    store_purge "$(store_path "$period" "$id")"
    die "backup $period/$id failed: $failure (no manifest written; partial object removed)"
  fi
  jq -e 'type == "object"' "$digests" >/dev/null 2>&1 || die "backup $period/$id: the dump's source digests are not JSON"
  CURRENT_STEP="backup $period/$id (checking the upload, then writing the manifest last)"
  finish_backup "$period" "$id" "$started" "$version" "$digests"
  CURRENT_STEP=""
}

cmd_backup() {
  local period="${1:-}"
  [[ -n "$period" ]] || die_usage "usage: dbtier-db backup <period>; periods: $PERIODS"
  is_period "$period" || die_usage "unknown period '$period': allowed $PERIODS"
  (($# == 1)) || die_usage "usage: dbtier-db backup <period>"
  [[ "${CFG[BACKUP_RECIPIENT]}" =~ ^age1[0-9a-z]{50,}$ ]] || die_usage "BACKUP_RECIPIENT='${CFG[BACKUP_RECIPIENT]}': must be an age public key (age1...)"
  db_setup
  store_setup
  trust_setup
  check_signing_key
  command_lock "backup $period"
  store_check_reachable
  db_wait_ready
  db_exists "${CFG[DB_NAME]}" || die "database ${CFG[DB_NAME]} does not exist at $(db_target)"
  # PostgreSQL on a DBaaS: the admin reads the app user's tables through membership in its role.
  if [[ "$DB_FAMILY" == postgres ]]; then pg_prepare_app_role || true; fi
  backup_now "$period"
  prune_period "$period"
}
