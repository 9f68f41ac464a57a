#!/usr/bin/env bash
# ADT-style backup (wintersys-projects/adt-database-scripts BackupDatabase.sh + Backup.sh, modelled):
# dump to a file, `tar cvfz` it, delete the dump, upload the archive with the datastore tool.
# ADT's five sed passes over the dump and its download-and-diff check are left out, which only
# makes the reference faster than the original.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$BENCH_WORK"
case "$BENCH_ENGINE" in
  mariadb)
    mariadb-dump --defaults-extra-file="$BENCH_MY_CNF" -h "$DB_HOST" -P "$DB_PORT" -u "$DB_ADMIN_USER" \
      --skip-lock-tables --single-transaction --hex-blob --routines --triggers --force -y "$DB_NAME" >applicationDB.sql
    ;;
  postgres)
    pg_dump -h "$DB_HOST" -p "$DB_PORT" -U "$DB_ADMIN_USER" -d "$DB_NAME" >applicationDB.sql
    ;;
esac
tar cvfz app-DB-backup.tar.gz applicationDB.sql >/dev/null
rm applicationDB.sql
rclone copy app-DB-backup.tar.gz "bench:$BENCH_BUCKET/$BENCH_PREFIX/"
rm app-DB-backup.tar.gz
