#!/usr/bin/env bash
# Candidate restore pipelines for the experiments. Knobs (environment):
#   DUMP_MODE  as for stream-backup.sh
#   DOWNLOADER rclone (rclone cat) | s3stream
#   LOADER     single (one client) | parallel (scripts/host/lib/parallel-load.py, LOAD_JOBS connections
#              of LOAD_CLIENT: cli = mariadb/psql processes, driver = PyMySQL/psycopg2 in the loader)
#   AGE_IDENTITY_FILE  0600 age identity
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$BENCH_WORK"
: "${DUMP_MODE:=plain}" "${DOWNLOADER:=rclone}" "${LOADER:=parallel}" "${LOAD_JOBS:=2}" "${RCLONE_FLAGS:=}"
: "${LOAD_CLIENT:=cli}"
key="$BENCH_PREFIX/data.zst.age"
HOST_LIB="$BENCH_DIR/../host/lib"

download() {
  # shellcheck disable=SC2086 # RCLONE_FLAGS is a list of flags
  case "$DOWNLOADER" in
    rclone) exec rclone cat $RCLONE_FLAGS "bench:$BENCH_BUCKET/$key" ;;
    s3stream) exec python3 "$BENCH_DIR/../host/lib/s3stream.py" get "$BENCH_BUCKET" "$key" ;;
    *) die "DOWNLOADER='$DOWNLOADER': allowed rclone, s3stream" ;;
  esac
}

load() {
  case "$BENCH_ENGINE:$DUMP_MODE:$LOADER" in
    mariadb:plain:single) my_client "$DB_NAME" ;;
    postgres:plain:single) pg_client -d "$DB_NAME" -v ON_ERROR_STOP=1 >/dev/null ;;
    *:plain:parallel)
      # The system interpreter, where Debian's database drivers are (as on a host).
      exec /usr/bin/python3 "$HOST_LIB/parallel-load.py" --engine "$BENCH_ENGINE" --host "$DB_HOST" --port "$DB_PORT" \
        --user "$DB_ADMIN_USER" --database "$DB_NAME" --password-file "$BENCH_PASSWORD_FILE" \
        --tls-mode require --jobs "$LOAD_JOBS" --client "$LOAD_CLIENT"
      ;;
    mariadb:mydumper:*)
      local pw
      pw="$(sed -n 's/^password=//p' "$BENCH_MY_CNF")"
      rm -rf d && mkdir d && tar -C d -xf -
      myloader -h "$DB_HOST" -P "$DB_PORT" -u "$DB_ADMIN_USER" -p "$pw" -B "$DB_NAME" -d d -t "$LOAD_JOBS" -o >/dev/null
      rm -rf d
      ;;
    postgres:pgdir:*)
      rm -rf d && mkdir d && tar -C d -xf -
      pg_restore -h "$DB_HOST" -p "$DB_PORT" -U "$DB_ADMIN_USER" -d "$DB_NAME" -j "$LOAD_JOBS" d
      rm -rf d
      ;;
    *) die "no loader for $BENCH_ENGINE:$DUMP_MODE:$LOADER" ;;
  esac
}

recreate_db
download | age -d -i "$AGE_IDENTITY_FILE" | zstd -d -q | load
