# shellcheck shell=bash
# dbtier toolkit: the S3 datastore. Backup data streams through s3stream.py (one part in flight, SHA-256
# and size computed on the way); listing, manifests and deletes go through rclone. Credentials go into a
# 0600 rclone config file in the run directory (RCLONE_CONFIG) and reach s3stream.py as secret-file paths,
# never onto a command line.
#
# Layout: s3://$DATASTORE_BUCKET/$APP_NAME/<period>/<backup-id>/ holding dump.sql.zst.age (the data),
# manifest.json + manifest.json.sig (written last: a backup without a manifest does not exist) and
# verification.json + verification.json.sig (the outcome of the last test restore, ok or failed).
# Nothing is believed that its signature does not cover (trust.sh).

readonly DATA_OBJECT="dump.sql.zst.age"
readonly MANIFEST_OBJECT="manifest.json"
readonly VERIFICATION_OBJECT="verification.json"
readonly MANIFEST_FORMAT=3
STORE_ROOT=""
STORE_APP=""

store_setup() {
  require_keys DATASTORE_ENDPOINT DATASTORE_BUCKET APP_NAME
  need_commands rclone jq
  local key_id secret conf
  key_id="$(read_secret datastore-access-key-id)"
  secret="$(read_secret datastore-secret-access-key)"
  conf="$(
    printf '[dbtier]\ntype = s3\nprovider = Other\nenv_auth = false\n'
    printf 'access_key_id = %s\nsecret_access_key = %s\n' "$key_id" "$secret"
    printf 'endpoint = %s\nregion = %s\n' "${CFG[DATASTORE_ENDPOINT]}" "${CFG[DATASTORE_REGION]}"
    printf 'force_path_style = true\nno_check_bucket = true\nacl = private\n'
  )"
  RCLONE_CONFIG="$(private_file rclone.conf <<<"$conf")"
  export RCLONE_CONFIG
  # rclone refuses to start while AWS_CA_BUNDLE is set; a custom CA goes through --ca-cert instead.
  unset AWS_CA_BUNDLE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
  STORE_ROOT="dbtier:${CFG[DATASTORE_BUCKET]}/${CFG[APP_NAME]}"
  STORE_APP="${CFG[APP_NAME]}"
  local endpoint="${CFG[DATASTORE_ENDPOINT]}"
  [[ "$endpoint" == *://* ]] || endpoint="https://$endpoint"  # rclone's default scheme
  export S3_ENDPOINT="$endpoint" S3_REGION="${CFG[DATASTORE_REGION]}" S3_CA_FILE="${CFG[DATASTORE_CA_FILE]:-}"
  export S3_ACCESS_KEY_FILE S3_SECRET_KEY_FILE S3_BWLIMIT="${DBTIER_S3_BWLIMIT:-}"
  S3_ACCESS_KEY_FILE="$(secret_path datastore-access-key-id)"
  S3_SECRET_KEY_FILE="$(secret_path datastore-secret-access-key)"
}

# Object key (inside the bucket) of PERIOD/ID/OBJECT.
store_key() { printf '%s/%s/%s/%s' "$STORE_APP" "$1" "$2" "$3"; }

# Pipeline stages (they exec, so a pipeline holds no extra shell; run them only as a stage or in a subshell):
# stdin -> PERIOD/ID/OBJECT as a multipart upload; REPORT gets {sha256, size, etag, partsVerified}.
store_stream_put() {
  exec "$PYTHON" "$DBTIER_LIB/s3stream.py" put "${CFG[DATASTORE_BUCKET]}" "$(store_key "$1" "$2" "$3")" --report "$4"
}

# PERIOD/ID/OBJECT -> stdout; REPORT gets {sha256, size} of every stored byte (read to the end even when
# the consumer stops early, so a damaged object is always named as such).
# With EXPECT (the object description of a checked manifest), each part is checked before it is passed on.
store_stream_get() {
  local expect=()
  [[ -n "${5:-}" ]] && expect=(--expect "$5")
  exec "$PYTHON" "$DBTIER_LIB/s3stream.py" get "${CFG[DATASTORE_BUCKET]}" "$(store_key "$1" "$2" "$3")" --report "$4" "${expect[@]}"
}

# {size, etag} of the stored PERIOD/ID/OBJECT.
store_head() {
  "$PYTHON" "$DBTIER_LIB/s3stream.py" head "${CFG[DATASTORE_BUCKET]}" "$(store_key "$1" "$2" "$3")"
}

# rclone with bounded retries, so an unreachable datastore fails in seconds, not minutes. An optional
# DATASTORE_CA_FILE trusts a private CA (a self-hosted S3 endpoint, the lab).
rc() {
  local ca=()
  if [[ -n "${CFG[DATASTORE_CA_FILE]:-}" ]]; then ca=(--ca-cert "${CFG[DATASTORE_CA_FILE]}"); fi
  # A lower GOGC keeps rclone's heap close to its upload buffers.
  GOGC="${DBTIER_RCLONE_GOGC:-50}" rclone "${ca[@]}" --low-level-retries "${DBTIER_S3_LOW_LEVEL_RETRIES:-3}" --retries 1 --contimeout 10s --timeout 5m \
    --use-mmap --log-level ERROR "$@"
}

# Reads another application's prefix (a promotion loads dev's backups into prod).
store_select_app() {
  STORE_ROOT="dbtier:${CFG[DATASTORE_BUCKET]}/$1"
  STORE_APP="$1"
}

store_path() { printf '%s/%s/%s%s' "$STORE_ROOT" "$1" "$2" "${3:+/$3}"; }

# Fails with a clear message when the bucket cannot be listed (wrong endpoint, keys, bucket).
store_check_reachable() {
  if ! rc lsf --max-depth 1 "dbtier:${CFG[DATASTORE_BUCKET]}" >/dev/null 2>"$RUN_DIR/store.err"; then
    die "datastore ${CFG[DATASTORE_ENDPOINT]} bucket ${CFG[DATASTORE_BUCKET]} is unreachable: $(tail -n 2 "$RUN_DIR/store.err" | tr '\n' ' ')"
  fi
}

# rclone lsf that treats a missing prefix (exit 3, "directory not found": nothing stored yet) as empty.
store_lsf() {
  local out status=0
  out="$(rc lsf "$@" 2>"$RUN_DIR/store.err")" || status=$?
  if ((status == 3)); then return 0; fi
  ((status == 0)) || die "cannot list ${*: -1}: $(tail -n 2 "$RUN_DIR/store.err" | tr '\n' ' ')"
  printf '%s\n' "$out"
}

# Backup ids of PERIOD that have a manifest, oldest first.
store_complete_ids() {
  local period="$1" out
  out="$(store_lsf --recursive --files-only --include "/*/$MANIFEST_OBJECT" "$STORE_ROOT/$period")"
  local line
  while IFS= read -r line; do
    line="${line%%/*}"
    if is_backup_id "$line"; then printf '%s\n' "$line"; fi
  done <<<"$out" | sort
}

# Every backup-id directory of PERIOD, complete or not, oldest first.
store_all_ids() {
  local period="$1" out line
  out="$(store_lsf --dirs-only "$STORE_ROOT/$period")"
  while IFS= read -r line; do
    line="${line%/}"
    if is_backup_id "$line"; then printf '%s\n' "$line"; fi
  done <<<"$out" | sort
}

store_newest_id() { store_complete_ids "$1" | tail -n 1; }


# Finds which period holds backup ID (prints the period) among the known periods and "safety".
store_find_period() {
  local id="$1" period
  for period in $PERIODS safety; do
    if store_has_manifest "$period" "$id"; then
      printf '%s' "$period"
      return 0
    fi
  done
  return 1
}

# True when PERIOD/ID has its manifest. (rclone lsf/cat of a missing key succeed with empty output, as
# they treat it as an empty directory, so the listing is checked by name.)
store_has_manifest() {
  local listing
  listing="$(rc lsf --files-only "$(store_path "$1" "$2")" 2>/dev/null)" || return 1
  # Not "rclone | grep -q": grep stopping early would SIGPIPE rclone and fail the pipeline.
  grep -qx "$MANIFEST_OBJECT" <<<"$listing"
}

# Fetches PERIOD/ID's manifest to OUT and believes it only when it is signed by the pinned key of the
# prefix's stack and names this very backup (prefix, period, id): a copy from another stack, a replay under
# another id, or anything unsigned is refused here, before any byte of data is read. Writes OUT.expect,
# the object description s3stream.py checks the download against.
store_fetch_manifest() {
  local period="$1" id="$2" out="$3"
  rc cat "$(store_path "$period" "$id" "$MANIFEST_OBJECT")" >"$out" 2>"$RUN_DIR/store.err" ||
    die "cannot read the manifest of $period/$id: $(tail -n 2 "$RUN_DIR/store.err" | tr '\n' ' ')"
  # rclone cat of a missing key prints nothing and succeeds (see store_has_manifest)
  [[ -s "$out" ]] || die "backup $period/$id has no manifest (incomplete or missing)"
  rc cat "$(store_path "$period" "$id" "$MANIFEST_OBJECT.sig")" >"$out.sig" 2>"$RUN_DIR/store.err" ||
    die "cannot read the manifest signature of $period/$id: $(tail -n 2 "$RUN_DIR/store.err" | tr '\n' ' ')"
  signed_by "$STORE_APP" "$out" "$out.sig" ||
    die "backup $period/$id refused: its manifest is not signed by the key pinned for $STORE_APP: $(signature_refusal)"
  local problem
  problem="$(jq -r --argjson format "$MANIFEST_FORMAT" --arg app "$STORE_APP" --arg period "$period" --arg id "$id" \
    --arg object "$DATA_OBJECT" '
    def hex64: type == "string" and test("^[0-9a-f]{64}$");
    if .format != $format then "format \(.format) (this tool reads \($format))"
    elif .app != $app then "it is a backup of \(.app), not of \($app)"
    elif .period != $period or .backupId != $id then "it describes \(.period)/\(.backupId), not \($period)/\($id) (a replay)"
    elif .object.key != $object then "object \(.object.key)"
    elif (.object.sha256 | hex64 | not) or (.object.size | type != "number") then "no object checksum"
    elif (.object.parts | type != "array") or (.object.parts | length == 0)
      or any(.object.parts[]; (.sha256 | hex64 | not) or (.size | type != "number"))
      or ([.object.parts[].size] | add) != .object.size then "no valid part checksums"
    else "" end' "$out" 2>&1)" || problem="not JSON"
  [[ -z "$problem" ]] || die "backup $period/$id refused: its signed manifest does not fit: $problem"
  jq '.object | {size, sha256, partSize, parts}' "$out" >"$out.expect"
}

# The test-restore outcome on record for PERIOD/ID, whose signed manifest is MANIFEST: prints "ok",
# "failed: <reason>", "none" or "untrusted: <why>". A record counts only when a pinned key signed it and it
# names this manifest by its sha256.
store_verification_state() {
  local period="$1" id="$2" manifest="$3" record="$RUN_DIR/verification-$period-$id.json" by
  rc cat "$(store_path "$period" "$id" "$VERIFICATION_OBJECT")" >"$record" 2>"$RUN_DIR/store.err" ||
    die "cannot read the verification record of $period/$id: $(tail -n 2 "$RUN_DIR/store.err" | tr '\n' ' ')"
  if [[ ! -s "$record" ]]; then printf 'none'; return 0; fi
  rc cat "$(store_path "$period" "$id" "$VERIFICATION_OBJECT.sig")" >"$record.sig" 2>"$RUN_DIR/store.err" ||
    die "cannot read the verification signature of $period/$id: $(tail -n 2 "$RUN_DIR/store.err" | tr '\n' ' ')"
  by="$(jq -r '.verifiedBy // ""' "$record" 2>/dev/null)" || by=""
  if [[ -z "$by" ]] || ! signed_by "$by" "$record" "$record.sig"; then
    printf 'untrusted: the record is not signed by a pinned key (%s)' "$(signature_refusal)"
    return 0
  fi
  jq -r --arg sha "$(sha256sum "$manifest" | cut -d' ' -f1)" --arg period "$period" --arg id "$id" '
    if .manifestSha256 != $sha or .period != $period or .backupId != $id then "untrusted: the record is for another manifest"
    elif .result == "ok" then "ok"
    else "failed: \(.reason // "no reason recorded")" end' "$record"
}

# Signs and stores the outcome of a test restore of PERIOD/ID (RESULT ok|failed, REASON, TABLES: a JSON
# object of per-table figures or {}). The signature goes up first: a record without one is never believed.
store_record_verification() {
  local period="$1" id="$2" manifest="$3" result="$4" reason="$5" tables="$6" record="$RUN_DIR/verification.json"
  jq -n --arg app "$STORE_APP" --arg period "$period" --arg id "$id" --arg by "${CFG[APP_NAME]}" \
    --arg sha "$(sha256sum "$manifest" | cut -d' ' -f1)" --arg result "$result" --arg reason "$reason" \
    --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg host "$(hostname)" --argjson tables "$tables" \
    '{format: 1, app: $app, period: $period, backupId: $id, manifestSha256: $sha, result: $result,
      reason: $reason, verifiedAt: $at, verifiedBy: $by, host: $host, tables: $tables}' >"$record"
  sign_file "$record"
  store_put_file "$record.sig" "$(store_path "$period" "$id" "$VERIFICATION_OBJECT.sig")" 2>"$RUN_DIR/store.err" &&
    store_put_file "$record" "$(store_path "$period" "$id" "$VERIFICATION_OBJECT")" 2>>"$RUN_DIR/store.err" ||
    die "recording the $result verification of $period/$id failed: $(tail -n 2 "$RUN_DIR/store.err" | tr '\n' ' ')"
}

store_purge() {
  rc purge "$1" 2>/dev/null || rc delete "$1" 2>/dev/null || true
}

store_put_file() {
  rc copyto "$1" "$2"
}
