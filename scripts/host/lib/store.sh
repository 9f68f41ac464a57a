# shellcheck shell=bash
# dbtier toolkit: the S3 datastore. Backup data streams through s3stream.py (one part in flight, SHA-256
# and size computed on the way); listing, manifests and deletes go through rclone. Credentials go into a
# 0600 rclone config file in the run directory (RCLONE_CONFIG) and reach s3stream.py as secret-file paths,
# never onto a command line.
#
# Layout: s3://$DATASTORE_BUCKET/$APP_NAME/<period>/<backup-id>/{dump.sql.zst.age,manifest.json,verified.json}
# A backup without manifest.json does not exist.

readonly DATA_OBJECT="dump.sql.zst.age"
readonly MANIFEST_OBJECT="manifest.json"
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
store_stream_get() {
  exec "$PYTHON" "$DBTIER_LIB/s3stream.py" get "${CFG[DATASTORE_BUCKET]}" "$(store_key "$1" "$2" "$3")" --report "$4"
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

# Backup ids of PERIOD that have both a manifest and a verified.json (a test restore passed), oldest first.
store_verified_ids() {
  local period="$1" out line
  out="$(store_lsf --recursive --files-only --include "/*/$MANIFEST_OBJECT" --include "/*/verified.json" "$STORE_ROOT/$period")"
  while IFS= read -r line; do
    [[ "$line" == */* ]] || continue
    is_backup_id "${line%%/*}" && printf '%s\n' "$line"
  done <<<"$out" | sort | awk -F/ '{ seen[$1] = seen[$1] " " $2 } END { for (id in seen) if (seen[id] ~ / manifest\.json/ && seen[id] ~ / verified\.json/) print id }' | sort
}

store_newest_verified_id() { store_verified_ids "$1" | tail -n 1; }

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

store_fetch_manifest() {
  local period="$1" id="$2" out="$3"
  rc cat "$(store_path "$period" "$id" "$MANIFEST_OBJECT")" >"$out" 2>"$RUN_DIR/store.err" ||
    die "cannot read the manifest of $period/$id: $(tail -n 2 "$RUN_DIR/store.err" | tr '\n' ' ')"
  # rclone cat of a missing key prints nothing and succeeds (see store_has_manifest)
  [[ -s "$out" ]] || die "backup $period/$id has no manifest (incomplete or missing)"
  jq -e '(.format == 1 or .format == 2) and (.object.sha256 | test("^[0-9a-f]{64}$")) and (.object.size | type == "number")' "$out" >/dev/null ||
    die "manifest of $period/$id is malformed"
}

store_purge() {
  rc purge "$1" 2>/dev/null || rc delete "$1" 2>/dev/null || true
}

store_put_file() {
  rc copyto "$1" "$2"
}
