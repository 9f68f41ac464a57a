#!/usr/bin/env bash
# ADT-style restore (InstallApplicationDB.sh, modelled): download the archive, `tar xvfz`, then one
# client replays the whole dump into an empty database.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$BENCH_WORK"
rclone copy "bench:$BENCH_BUCKET/$BENCH_PREFIX/app-DB-backup.tar.gz" .
tar xvfz app-DB-backup.tar.gz >/dev/null
rm app-DB-backup.tar.gz
recreate_db
case "$BENCH_ENGINE" in
  mariadb) my_client "$DB_NAME" <applicationDB.sql ;;
  postgres) pg_client -d "$DB_NAME" <applicationDB.sql >/dev/null ;;
esac
rm applicationDB.sql
