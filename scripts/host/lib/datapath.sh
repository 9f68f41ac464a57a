# shellcheck shell=bash
# dbtier toolkit: reading backups back: choosing one, and streaming it, checked, into a consumer.
#
# Order of checks (nothing reaches the database that was not authenticated):
#   1. the manifest's signature (the pinned key of the prefix's stack) and that it names this backup
#   2. for restore and loads: a signed test-restore record that passed, unless --unverified
#   3. each part of the object against the manifest's part sha256, before a byte of it reaches age
#   4. decryption (age), decompression (the codec the manifest names), the loader
#   5. the loaded database against the source's own digests recorded in the manifest

# What reading a backup back needs first: its tools, the database, the datastore and the pinned keys.
setup_read_path() {
  db_setup
  store_setup
  trust_setup
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

# The stage that really failed in a pipeline: pipeline_failure CODES_ARRAY name:errfile...
# A stage that only died of its reader going away (SIGPIPE, exit 141, or a write error on a broken pipe)
# while a later stage failed is a consequence, not the cause; the cause is the first other failed stage.
# Prints "<stage> failed (exit N): <its own last stderr lines>", or nothing when every stage succeeded.
pipeline_failure() {
  local -n _codes="$1"
  shift
  local specs=("$@") i n=${#specs[@]} later_failed=() name file why
  for ((i = n - 1; i >= 0; i--)); do
    later_failed[i]=0
    if ((i < n - 1)) && { [[ "${_codes[i + 1]:-0}" != 0 ]] || ((later_failed[i + 1] == 1)); }; then later_failed[i]=1; fi
  done
  # A stage killed by a signal from outside (not SIGPIPE: OOM killer, kill -9, a timeout) is the cause.
  for ((i = 0; i < n; i++)); do
    if ((${_codes[i]:-0} > 128 && ${_codes[i]:-0} != 141)); then
      printf '%s failed (exit %s, killed by signal %s): %s' "${specs[i]%%:*}" "${_codes[i]}" "$((_codes[i] - 128))" \
        "$(grep -v '^Warning' "$RUN_DIR/${specs[i]#*:}" 2>/dev/null | tail -n 3 | tr '\n' ' ')"
      return 0
    fi
  done
  for ((i = 0; i < n; i++)); do
    [[ "${_codes[i]:-0}" != 0 ]] || continue
    name="${specs[i]%%:*}"
    file="$RUN_DIR/${specs[i]#*:}"
    why="$(grep -v '^Warning' "$file" 2>/dev/null | tail -n 3 | tr '\n' ' ')"
    if ((later_failed[i] == 1)) && { [[ "${_codes[i]}" == 141 ]] || grep -qiE 'broken pipe|failed to write|EPIPE' <<<"$why"; }; then
      continue
    fi
    printf '%s failed (exit %s): %s' "$name" "${_codes[i]}" "${why:-no message}"
    return 0
  done
}

# The decompressor the manifest's codec names (a backup is read with what wrote it).
decompressor_for() {
  local codec
  codec="$(jq -r '.compression.codec // ""' "$1")"
  case "$codec" in
    zstd) printf 'zstd -d -q -c' ;;
    gzip) printf 'gzip -d -c' ;;
    none) printf 'cat' ;;
    *) die "backup compressed with '$codec': this tool reads zstd, gzip, none" ;;
  esac
}

# Streams PERIOD/ID (its checked manifest MANIFEST) decrypted and decompressed into a consumer command:
#   stream_backup PERIOD ID IDENTITY MANIFEST consumer...
# Every part is checked against the manifest before it is passed on. Sets STREAM_ERROR naming the stage
# that failed. With STREAM_STATS=FILE, dumpkit's per-table rows and row digests of the dump are written
# to FILE as well (backups without source digests).
STREAM_STATS=""
STREAM_ERROR=""
stream_backup() {
  local period="$1" id="$2" identity="$3" manifest="$4"
  shift 4
  local decompress
  decompress="$(decompressor_for "$manifest")"
  local codes specs
  set +e
  if [[ -n "$STREAM_STATS" ]]; then
    fifo_reader stats "$PYTHON" "$DUMPKIT" stats "$(dumpkit_engine)" "$STREAM_STATS"
    store_stream_get "$period" "$id" "$DATA_OBJECT" "$RUN_DIR/get.json" "$manifest.expect" 2>"$RUN_DIR/download.err" |
      age -d -i "$identity" 2>"$RUN_DIR/age.err" |
      $decompress 2>"$RUN_DIR/decompress.err" |
      tee "$RUN_DIR/stats.fifo" 2>"$RUN_DIR/tee.err" |
      "$@" 2>"$RUN_DIR/load.err"
    codes=("${PIPESTATUS[@]}")
    specs=(download:download.err decrypt:age.err decompress:decompress.err tee:tee.err load:load.err)
  else
    store_stream_get "$period" "$id" "$DATA_OBJECT" "$RUN_DIR/get.json" "$manifest.expect" 2>"$RUN_DIR/download.err" |
      age -d -i "$identity" 2>"$RUN_DIR/age.err" |
      $decompress 2>"$RUN_DIR/decompress.err" |
      "$@" 2>"$RUN_DIR/load.err"
    codes=("${PIPESTATUS[@]}")
    specs=(download:download.err decrypt:age.err decompress:decompress.err load:load.err)
  fi
  set -e
  local readers=0
  wait_readers || readers=1
  local failure
  failure="$(pipeline_failure codes "${specs[@]}")"
  if [[ -n "$failure" ]]; then
    if [[ "$failure" == decrypt* ]]; then failure+=" (is this the identity for $(jq -r '.encryption.recipient' "$manifest")?)"; fi
    STREAM_ERROR="reading $period/$id: $failure"
    return 1
  fi
  if ((readers != 0)); then
    STREAM_ERROR="reading $period/$id: the dump statistics reader failed"
    return 1
  fi
  return 0
}

# Chooses the backup a restore or a load reads and fetches its checked manifest:
#   select_backup TARGET REQUIRE     TARGET: latest | a period | a backup id
# REQUIRE: verified (restore, loads), unverified (restore --unverified: any, with a warning when it has no
# passing test restore) or any (verify itself).
# Sets SELECTED_PERIOD, SELECTED_ID, SELECTED_MANIFEST, SELECTED_STATE. With REQUIRE=verified only a backup
# with a signed, passing test restore is taken; a backup whose manifest fails its checks stops the run
# (something wrote into the datastore that its owner did not sign), it is never skipped quietly.
SELECTED_PERIOD="" SELECTED_ID="" SELECTED_MANIFEST="" SELECTED_STATE=""
select_backup() {
  local target="$1" require="$2" candidates=() line period id
  if [[ "$target" == latest ]] || is_period "$target" || [[ "$target" == safety ]]; then
    local scope=" ${CFG[BACKUP_PERIODS]} "
    [[ "$target" == latest ]] || scope=" $target "
    local name rest present=() path _size listing
    listing="$(store_objects)"
    while IFS=$'\t' read -r path _size; do
      IFS=/ read -r period id name rest <<<"$path"
      if [[ "$name" == "$MANIFEST_OBJECT" && -z "$rest" ]] && is_backup_id "$id"; then
        present+=("$id/$period")
        if [[ "$scope" == *" $period "* ]]; then candidates+=("$id/$period"); fi
      fi
    done <<<"$listing"
    mapfile -t candidates < <(printf '%s\n' "${candidates[@]}" | grep . | sort -r)
    if [[ "$target" == latest && "$STORE_APP" == "${CFG[APP_NAME]}" ]]; then check_newest_present "${present[@]}"; fi
  elif is_backup_id "$target"; then
    period="$(store_find_period "$target")" || die "backup $target not found (no manifest in any period)"
    candidates=("$target/$period")
  else
    die_usage "'$target' is neither a period ($PERIODS), a backup id (YYYYMMDDTHHMMSSZ-xxxxxx) nor 'latest'"
  fi
  ((${#candidates[@]} > 0)) || die "no complete backup found in ${target/latest/${CFG[BACKUP_PERIODS]}} under $STORE_APP"
  local skipped=()
  for line in "${candidates[@]}"; do
    id="${line%%/*}" period="${line#*/}"
    local manifest="$RUN_DIR/manifest-$period-$id.json" state
    store_fetch_manifest "$period" "$id" "$manifest"
    state="$(store_verification_state "$period" "$id" "$manifest")"
    if [[ "$require" == verified && "$state" != ok ]]; then
      if ! is_backup_id "$target"; then
        skipped+=("$period/$id ($state)")
        continue
      fi
      die "backup $period/$id has no passing test restore on record ($state); run 'dbtier-db verify $id' first, or pass --unverified"
    fi
    SELECTED_PERIOD="$period" SELECTED_ID="$id" SELECTED_MANIFEST="$manifest" SELECTED_STATE="$state"
    if ((${#skipped[@]} > 0)); then log "newer backups without a passing test restore, not taken: ${skipped[*]}"; fi
    if [[ "$require" == unverified && "$state" != ok ]]; then warn "$period/$id has no passing test restore on record ($state): taken because of --unverified"; fi
    return 0
  done
  die "no backup in ${target/latest/${CFG[BACKUP_PERIODS]}} under $STORE_APP has a passing test restore on record (${skipped[*]}); run 'dbtier-db verify <id>' or pass --unverified"
}

# The newest backup this host wrote under its own prefix (written by dbtier/backup.py).
newest_written_file() { printf '%s/newest-backup-%s' "$(state_dir)" "${CFG[APP_NAME]}"; }

# Refuses 'latest' when the newest backup this host wrote is not in the listing: a deleted backup or a
# replayed (older) listing would otherwise quietly turn an older backup into "latest".
check_newest_present() {
  local file newest
  file="$(newest_written_file)"
  [[ -s "$file" ]] || return 0
  newest="$(<"$file")"
  local c
  for c in "$@"; do [[ "${newest#*/}/${newest%%/*}" != "$c" ]] || return 0; done
  die "the newest backup this host wrote, $newest, is missing from the datastore (deleted, or a replayed listing): 'latest' refused; name a backup id"
}
