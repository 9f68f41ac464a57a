#!/usr/bin/env bash
# Candidate backup pipelines for the experiments (the reported dbtier figures come from the real
# scripts/host/dbtier-db). Knobs (environment):
#   DUMP_MODE     plain (mariadb-dump / pg_dump to stdout) | mydumper | pgdir (pg_dump -Fd -j)
#   ZSTD_LEVEL ZSTD_THREADS ZSTD_EXTRA   compressor settings (default 3, 0 = one per core, none)
#   UPLOADER      rclone (rclone rcat, RCLONE_FLAGS appended) | s3stream (lib/s3stream.py)
#   AGE_RECIPIENT public key the stream is encrypted to
#   HEX_BLOB      yes (default) | no: MariaDB blobs as hex literals or as escaped binary strings
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$BENCH_WORK"
: "${DUMP_MODE:=plain}" "${ZSTD_LEVEL:=3}" "${ZSTD_THREADS:=0}" "${UPLOADER:=rclone}" "${RCLONE_FLAGS:=}"
: "${DUMP_JOBS:=2}" "${ZSTD_EXTRA:=}" "${HEX_BLOB:=yes}"
key="$BENCH_PREFIX/data.zst.age"

dump() {
  case "$BENCH_ENGINE:$DUMP_MODE" in
    mariadb:plain)
      local hex=()
      [[ "$HEX_BLOB" == yes ]] && hex=(--hex-blob)
      exec mariadb-dump --defaults-extra-file="$BENCH_MY_CNF" -h "$DB_HOST" -P "$DB_PORT" -u "$DB_ADMIN_USER" \
        --single-transaction --quick "${hex[@]}" --routines --triggers --events --no-tablespaces \
        --order-by-primary --max-allowed-packet=1G --default-character-set=utf8mb4 "$DB_NAME"
      ;;
    postgres:plain) exec pg_dump -h "$DB_HOST" -p "$DB_PORT" -U "$DB_ADMIN_USER" -d "$DB_NAME" ;;
    mariadb:mydumper)
      local pw
      pw="$(sed -n 's/^password=//p' "$BENCH_MY_CNF")"
      rm -rf d && mkdir d
      # mydumper 0.10 has no option file for the password: the bench accepts that exposure for a measurement.
      mydumper -h "$DB_HOST" -P "$DB_PORT" -u "$DB_ADMIN_USER" -p "$pw" -B "$DB_NAME" -t "$DUMP_JOBS" \
        --trx-consistency-only -r 50000 -R -E -G -o d >/dev/null
      tar -C d -cf - . && rm -rf d
      ;;
    postgres:pgdir)
      rm -rf d
      pg_dump -h "$DB_HOST" -p "$DB_PORT" -U "$DB_ADMIN_USER" -d "$DB_NAME" -Fd -j "$DUMP_JOBS" -Z0 -f d
      tar -C d -cf - . && rm -rf d
      ;;
    *) die "DUMP_MODE='$DUMP_MODE' not available for $BENCH_ENGINE" ;;
  esac
}

upload() {
  # shellcheck disable=SC2086 # RCLONE_FLAGS is a list of flags
  case "$UPLOADER" in
    rclone) exec rclone rcat $RCLONE_FLAGS "bench:$BENCH_BUCKET/$key" ;;
    s3stream) exec python3 "$BENCH_DIR/../host/lib/s3stream.py" put "$BENCH_BUCKET" "$key" ;;
    *) die "UPLOADER='$UPLOADER': allowed rclone, s3stream" ;;
  esac
}

# shellcheck disable=SC2086 # ZSTD_EXTRA is a list of flags
dump | zstd -q -T"$ZSTD_THREADS" -"$ZSTD_LEVEL" $ZSTD_EXTRA | age -r "$AGE_RECIPIENT" | upload
