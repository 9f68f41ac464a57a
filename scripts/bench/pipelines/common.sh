#!/usr/bin/env bash
# Shared by the bench pipelines (pipeline stages that are functions end in `exec` where they can: one
# bash process less per stage in the memory figures). Environment set by scripts/bench/bench.py:
#   BENCH_ENGINE (mariadb|postgres) DB_HOST DB_PORT DB_NAME DB_ADMIN_USER DB_APP_USER
#   BENCH_MY_CNF   0600 [client] option file with the admin password (MariaDB)
#   PGPASSFILE     0600 pgpass file (PostgreSQL)
#   BENCH_WORK     scratch directory of this run
#   BENCH_BUCKET BENCH_PREFIX   where the backup goes; RCLONE_CONFIG_BENCH_* configure remote "bench:"
#   S3_* for lib/s3stream.py
die() { printf 'bench pipeline: %s\n' "$*" >&2; exit 1; }

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export BENCH_DIR

my_client() { mariadb --defaults-extra-file="$BENCH_MY_CNF" -h "$DB_HOST" -P "$DB_PORT" -u "$DB_ADMIN_USER" "$@"; }
pg_client() { psql -X -q -h "$DB_HOST" -p "$DB_PORT" -U "$DB_ADMIN_USER" "$@"; }

# Empty application database, as a restore onto a new host starts from.
recreate_db() {
  case "$BENCH_ENGINE" in
    mariadb) my_client -e "DROP DATABASE IF EXISTS \`$DB_NAME\`; CREATE DATABASE \`$DB_NAME\`;" ;;
    postgres)
      # FORCE may not end an autovacuum worker a big load started (a non-superuser admin: "must be a member
      # of the role whose process is being terminated"); a plain DROP makes autovacuum leave and waits.
      pg_client -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE);" 2>/dev/null ||
        pg_client -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$DB_NAME\";"
      pg_client -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$DB_NAME\" OWNER \"$DB_APP_USER\";"
      ;;
    *) die "BENCH_ENGINE='$BENCH_ENGINE': allowed mariadb, postgres" ;;
  esac
}
