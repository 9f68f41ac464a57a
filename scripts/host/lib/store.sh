# shellcheck shell=bash
# dbtier toolkit: the S3 datastore, through the one S3 client (dbtier/s3.py, run as lib/s3stream.py):
# backup data streams (one part in flight, SHA-256 and size computed on the way), listings, manifests,
# records and deletes. Credentials reach it as secret-file paths (S3_ACCESS_KEY_FILE), never on a command
# line or in an env value.
#
# Layout: s3://$DATASTORE_BUCKET/$APP_NAME/<period>/<backup-id>/ holding dump.sql.zst.age (the data),
# manifest.json + manifest.json.sig (written last: a backup without a manifest does not exist) and
# verification.json + verification.json.sig (the outcome of the last test restore, ok or failed).
# Nothing is believed that its signature does not cover (trust.sh).

readonly DATA_OBJECT="dump.sql.zst.age"
readonly MANIFEST_OBJECT="manifest.json"
readonly VERIFICATION_OBJECT="verification.json"
readonly MANIFEST_FORMAT=3
STORE_APP=""

store_setup() {
  require_keys DATASTORE_ENDPOINT DATASTORE_BUCKET APP_NAME
  need_commands jq "$PYTHON"
  # The key files are checked (exist, 0600) here; the client reads them itself, by path.
  read_secret datastore-access-key-id >/dev/null
  read_secret datastore-secret-access-key >/dev/null
  STORE_APP="${CFG[APP_NAME]}"
  local endpoint="${CFG[DATASTORE_ENDPOINT]}"
  [[ "$endpoint" == *://* ]] || endpoint="https://$endpoint"
  export S3_ENDPOINT="$endpoint" S3_REGION="${CFG[DATASTORE_REGION]}" S3_CA_FILE="${CFG[DATASTORE_CA_FILE]:-}"
  export S3_ACCESS_KEY_FILE S3_SECRET_KEY_FILE S3_BWLIMIT="${DBTIER_S3_BWLIMIT:-}"
  S3_ACCESS_KEY_FILE="$(secret_path datastore-access-key-id)"
  S3_SECRET_KEY_FILE="$(secret_path datastore-secret-access-key)"
}

# Object key (inside the bucket) of PERIOD/ID/OBJECT.
store_key() { printf '%s/%s/%s/%s' "$STORE_APP" "$1" "$2" "$3"; }

# The S3 client (dbtier/s3.py) on one small request: listings, manifests, records, deletes. Bounded
# attempts (DBTIER_S3_LOW_LEVEL_RETRIES, default 3), so an unreachable datastore fails in seconds.
s3cli() {
  local command="$1"
  shift
  S3_ATTEMPTS="${DBTIER_S3_LOW_LEVEL_RETRIES:-3}" "$PYTHON" "$DBTIER_LIB/s3stream.py" "$command" "${CFG[DATASTORE_BUCKET]}" "$@"
}

# A pipeline stage (it execs, so a pipeline holds no extra shell; run it only as a stage or in a subshell):
# PERIOD/ID/OBJECT -> stdout; REPORT gets {sha256, size} of every stored byte (read to the end even when
# the consumer stops early, so a damaged object is always named as such).
# With EXPECT (the object description of a checked manifest), each part is checked before it is passed on.
store_stream_get() {
  local expect=()
  [[ -n "${5:-}" ]] && expect=(--expect "$5")
  exec "$PYTHON" "$DBTIER_LIB/s3stream.py" get "${CFG[DATASTORE_BUCKET]}" "$(store_key "$1" "$2" "$3")" --report "$4" "${expect[@]}"
}

# Reads another application's prefix (a promotion loads dev's backups into prod).
store_select_app() {
  STORE_APP="$1"
}

# Key prefix of PERIOD/ID (ending in /), or of PERIOD/ID/OBJECT.
store_path() { printf '%s/%s/%s/%s' "$STORE_APP" "$1" "$2" "${3:-}"; }

# Fails with a clear message when the bucket cannot be listed (wrong endpoint, keys, bucket).
store_check_reachable() {
  if ! s3cli ls "$STORE_APP/" --delimiter / >/dev/null 2>"$RUN_DIR/store.err"; then
    die "datastore ${CFG[DATASTORE_ENDPOINT]} bucket ${CFG[DATASTORE_BUCKET]} is unreachable: $(tail -n 2 "$RUN_DIR/store.err" | tr '\n' ' ')"
  fi
}

# Every object under the prefix's SUB (e.g. "hourly/"), as "<path below the prefix><TAB><size>" lines.
# An empty listing is no error (nothing stored yet); a failed one stops the run.
store_objects() {
  local sub="${1:-}" out
  out="$(s3cli ls "$STORE_APP/$sub" 2>"$RUN_DIR/store.err")" ||
    die "cannot list $STORE_APP/$sub in bucket ${CFG[DATASTORE_BUCKET]}: $(tail -n 2 "$RUN_DIR/store.err" | tr '\n' ' ')"
  [[ -n "$out" ]] || return 0
  jq -r --arg root "$STORE_APP/" 'select(.key) | [(.key | ltrimstr($root)), (.size | tostring)] | @tsv' <<<"$out"
}

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

# True when PERIOD/ID has its manifest; a store that cannot answer stops the run (never read as "absent").
store_has_manifest() {
  local status=0
  s3cli head "$(store_path "$1" "$2" "$MANIFEST_OBJECT")" >/dev/null 2>"$RUN_DIR/store.err" || status=$?
  case "$status" in
    0) return 0 ;;
    3) return 1 ;;
    *) die "could not tell whether $1/$2 has a manifest: $(tail -n 2 "$RUN_DIR/store.err" | tr '\n' ' ')" ;;
  esac
}

# Fetches the object KEY into OUT; returns 3 when there is no such object (OUT then empty), dies when the
# store does not answer.
store_cat() {
  local key="$1" out="$2" what="$3" status=0
  s3cli cat "$key" >"$out" 2>"$RUN_DIR/store.err" || status=$?
  case "$status" in
    0) return 0 ;;
    3) : >"$out"; return 3 ;;
    *) die "cannot read $what: $(tail -n 2 "$RUN_DIR/store.err" | tr '\n' ' ')" ;;
  esac
}

# Fetches PERIOD/ID's manifest to OUT and believes it only when it is signed by the pinned key of the
# prefix's stack and names this very backup (prefix, period, id): a copy from another stack, a replay under
# another id, or anything unsigned is refused here, before any byte of data is read. Writes OUT.expect,
# the object description s3stream.py checks the download against.
store_fetch_manifest() {
  local period="$1" id="$2" out="$3"
  store_cat "$(store_path "$period" "$id" "$MANIFEST_OBJECT")" "$out" "the manifest of $period/$id" || true
  [[ -s "$out" ]] || die "backup $period/$id has no manifest (incomplete or missing)"
  store_cat "$(store_path "$period" "$id" "$MANIFEST_OBJECT.sig")" "$out.sig" "the manifest signature of $period/$id" || true
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
  store_cat "$(store_path "$period" "$id" "$VERIFICATION_OBJECT")" "$record" "the verification record of $period/$id" || true
  if [[ ! -s "$record" ]]; then printf 'none'; return 0; fi
  store_cat "$(store_path "$period" "$id" "$VERIFICATION_OBJECT.sig")" "$record.sig" "the verification signature of $period/$id" || true
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

# Stores the local FILE as the object KEY.
store_put_file() {
  s3cli put-file "$2" "$1"
}
