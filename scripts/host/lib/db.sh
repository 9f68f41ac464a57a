# shellcheck shell=bash
# dbtier toolkit: database access for MariaDB/MySQL and PostgreSQL, local or a DBaaS over TLS.
# Credentials reach the clients only through 0600 files in the run directory: MariaDB/MySQL via
# --defaults-extra-file, PostgreSQL via PGPASSFILE. Never on a command line.

DB_FAMILY=""   # mysql | postgres
MY_CLIENT=""   # mariadb | mysql
MY_DUMP=""     # mariadb-dump | mysqldump
MY_FLAVOR=""   # mariadb | mysql (the client's flavour, options differ)
MY_CNF=""      # admin option file
DUMPKIT=""     # path of dumpkit.py
PG_AS_ROLE=""  # role the PostgreSQL loader switches to so the app user owns what it creates

# Option-file value quoting: double quotes, backslash and quote escaped.
my_opt_quote() {
  local v="$1"
  v="${v//\\/\\\\}"
  v="${v//\"/\\\"}"
  printf '"%s"' "$v"
}

# pgpass field escaping: backslash and colon.
pgpass_escape() {
  local v="$1"
  v="${v//\\/\\\\}"
  v="${v//:/\\:}"
  printf '%s' "$v"
}

db_setup() {
  DUMPKIT="$DBTIER_LIB/dumpkit.py"
  case "${CFG[DB_ENGINE]}" in
    mariadb | mysql) DB_FAMILY=mysql ;;
    postgres) DB_FAMILY=postgres ;;
  esac
  require_keys DB_ADMIN_USER
  if [[ -z "${CFG[DB_SOCKET]:-}" ]]; then require_keys DB_HOST DB_PORT; fi
  if [[ "${CFG[DB_TLS_MODE]}" == verify-* ]]; then
    require_keys DB_CA_FILE
    [[ -r "${CFG[DB_CA_FILE]}" ]] || die_usage "DB_CA_FILE=${CFG[DB_CA_FILE]} is not readable"
  fi
  local password
  password="$(read_secret db-admin-password)"
  if [[ "$DB_FAMILY" == mysql ]]; then
    if command -v mariadb >/dev/null 2>&1; then
      MY_CLIENT=mariadb MY_DUMP=mariadb-dump MY_FLAVOR=mariadb
    else
      MY_CLIENT=mysql MY_DUMP=mysqldump
      if [[ "$(mysql --version 2>/dev/null)" == *MariaDB* ]]; then MY_FLAVOR=mariadb; else MY_FLAVOR=mysql; fi
    fi
    need_commands "$MY_CLIENT" "$MY_DUMP"
    MY_CNF="$(my_write_cnf "${CFG[DB_ADMIN_USER]}" "$password" admin.cnf)"
  else
    need_commands psql pg_dump
    local pgpass
    pgpass="$(printf '*:*:*:%s:%s\n' "$(pgpass_escape "${CFG[DB_ADMIN_USER]}")" "$(pgpass_escape "$password")" | private_file pgpass)"
    export PGPASSFILE="$pgpass" PGUSER="${CFG[DB_ADMIN_USER]}" PGAPPNAME=dbtier PGCONNECT_TIMEOUT=10
    if [[ -n "${CFG[DB_SOCKET]:-}" ]]; then
      export PGHOST="${CFG[DB_SOCKET]}"
      export PGPORT="${CFG[DB_PORT]:-5432}"
    else
      export PGHOST="${CFG[DB_HOST]}" PGPORT="${CFG[DB_PORT]}"
      # libpq: verify-ca checks the chain, verify-full also that DB_HOST is a name in the certificate.
      if [[ "${CFG[DB_TLS_MODE]}" == verify-* ]]; then
        export PGSSLMODE="${CFG[DB_TLS_MODE]}" PGSSLROOTCERT="${CFG[DB_CA_FILE]}"
      else
        export PGSSLMODE=require
      fi
    fi
    # Keep the operator's own settings out of the run.
    unset PGDATABASE PGPASSWORD PGSERVICE
    export PGOPTIONS='-c client_min_messages=warning'
    export PSQLRC=/dev/null
  fi
}

# Writes a [client] option file for USER/PASSWORD and prints its path.
my_write_cnf() {
  local user="$1" password="$2" name="$3"
  {
    printf '[client]\n'
    printf 'user=%s\n' "$(my_opt_quote "$user")"
    printf 'password=%s\n' "$(my_opt_quote "$password")"
    if [[ -n "${CFG[DB_SOCKET]:-}" ]]; then
      printf 'socket=%s\n' "$(my_opt_quote "${CFG[DB_SOCKET]}")"
    else
      printf 'host=%s\nport=%s\nprotocol=TCP\n' "$(my_opt_quote "${CFG[DB_HOST]}")" "${CFG[DB_PORT]}"
      if [[ "$MY_FLAVOR" == mariadb ]]; then
        printf 'ssl\n'
        # MariaDB's client has no chain-only mode: ssl-verify-server-cert checks the chain and the name.
        if [[ "${CFG[DB_TLS_MODE]}" == verify-* ]]; then
          printf 'ssl-ca=%s\nssl-verify-server-cert\n' "$(my_opt_quote "${CFG[DB_CA_FILE]}")"
        fi
      else
        if [[ "${CFG[DB_TLS_MODE]}" == verify-full ]]; then
          printf 'ssl-mode=VERIFY_IDENTITY\nssl-ca=%s\n' "$(my_opt_quote "${CFG[DB_CA_FILE]}")"
        elif [[ "${CFG[DB_TLS_MODE]}" == verify-ca ]]; then
          printf 'ssl-mode=VERIFY_CA\nssl-ca=%s\n' "$(my_opt_quote "${CFG[DB_CA_FILE]}")"
        else
          printf 'ssl-mode=REQUIRED\n'
        fi
      fi
    fi
    printf 'default-character-set=utf8mb4\n'
    # Only the interactive client knows connect-timeout; mariadb-dump would refuse it under [client].
    printf '[mysql]\nconnect-timeout=10\n'
  } | private_file "$name"
}

# Runs SQL from stdin as the admin, prints tab-separated rows. Optional $1: database.
my_sql() {
  local args=(--defaults-extra-file="$MY_CNF" --batch --skip-column-names --raw)
  [[ -n "${1:-}" ]] && args+=(--database="$1")
  "$MY_CLIENT" "${args[@]}"
}

pg_sql() {
  psql -X -q -A -t -F $'\t' -v ON_ERROR_STOP=1 -d "${1:-postgres}"
}

# db_sql [DB] < SQL
db_sql() {
  if [[ "$DB_FAMILY" == mysql ]]; then my_sql "$@"; else pg_sql "$@"; fi
}

# shellcheck disable=SC2016 # the backticks are literal SQL identifier quotes
my_ident() { local v="${1//\`/\`\`}"; printf '`%s`' "$v"; }
pg_ident() { local v="${1//\"/\"\"}"; printf '"%s"' "$v"; }
sql_string() { local v="${1//\\/\\\\}"; v="${v//\'/\'\'}"; printf "'%s'" "$v"; }
pg_string() { local v="${1//\'/\'\'}"; printf "E'%s'" "${v//\\/\\\\}"; }

# One connection attempt that also proves TLS is in use on TCP connections.
db_ping() {
  local out
  if [[ "$DB_FAMILY" == mysql ]]; then
    out="$(my_sql <<<"SHOW SESSION STATUS LIKE 'Ssl_cipher';" 2>"$RUN_DIR/ping.err")" || return 1
    if [[ -z "${CFG[DB_SOCKET]:-}" && "$(cut -f2 <<<"$out")" == "" ]]; then
      printf 'connection is not encrypted\n' >"$RUN_DIR/ping.err"
      return 1
    fi
  else
    out="$(pg_sql <<<"SELECT coalesce((SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()), 'false');" 2>"$RUN_DIR/ping.err")" || return 1
    if [[ -z "${CFG[DB_SOCKET]:-}" && "$out" != "true" ]]; then
      printf 'connection is not encrypted\n' >"$RUN_DIR/ping.err"
      return 1
    fi
  fi
}

# Waits for the server with backoff (transient failures: DBaaS maintenance, a restarting server).
db_wait_ready() {
  local attempts="${DBTIER_CONNECT_ATTEMPTS:-5}" delay="${DBTIER_CONNECT_DELAY:-2}"
  if ! retry "$attempts" "$delay" db_ping; then
    die "cannot connect to the ${CFG[DB_ENGINE]} server at $(db_target) as ${CFG[DB_ADMIN_USER]}: $(tail -n 3 "$RUN_DIR/ping.err" 2>/dev/null | tr '\n' ' ')"
  fi
}

db_target() {
  if [[ -n "${CFG[DB_SOCKET]:-}" ]]; then printf '%s' "${CFG[DB_SOCKET]}"; else printf '%s:%s' "${CFG[DB_HOST]}" "${CFG[DB_PORT]}"; fi
}

db_server_version() {
  if [[ "$DB_FAMILY" == mysql ]]; then my_sql <<<"SELECT VERSION();"; else pg_sql <<<"SHOW server_version;"; fi
}

# Three answers, never two: returns 0 when DB exists, 1 when it does not; a query that fails (too many
# connections, a server going away) is neither, and the run stops there, naming it.
db_exists() {
  local n
  if [[ "$DB_FAMILY" == mysql ]]; then
    n="$(my_sql <<<"SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = $(sql_string "$1");" 2>"$RUN_DIR/exists.err")"
  else
    n="$(pg_sql <<<"SELECT count(*) FROM pg_database WHERE datname = $(pg_string "$1");" 2>"$RUN_DIR/exists.err")"
  fi || die "could not tell whether database $1 exists at $(db_target), so stopping here: $(tail -n 2 "$RUN_DIR/exists.err" | tr '\n' ' ')"
  case "$n" in
    1) return 0 ;;
    0) return 1 ;;
    *) die "could not tell whether database $1 exists at $(db_target) (the server answered '$n'), so stopping here" ;;
  esac
}

# Number of tables, views, sequences and routines in DB (0 when it does not exist); like db_exists, a
# failed query stops the run instead of reading as 0.
db_object_count() {
  local n
  db_exists "$1" || { printf '0'; return 0; }
  if [[ "$DB_FAMILY" == mysql ]]; then
    n="$(my_sql <<<"SELECT (SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $(sql_string "$1"))
      + (SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = $(sql_string "$1"))
      + (SELECT COUNT(*) FROM information_schema.events WHERE event_schema = $(sql_string "$1"));" 2>"$RUN_DIR/count.err")"
  else
    n="$(pg_sql "$1" <<<"SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r','v','m','S','p','f') AND n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg_toast%')
      + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname NOT IN ('pg_catalog','information_schema'))
      + (SELECT count(*) FROM pg_largeobject_metadata);" 2>"$RUN_DIR/count.err")"
  fi || die "could not tell whether database $1 holds data at $(db_target), so stopping here: $(tail -n 2 "$RUN_DIR/count.err" | tr '\n' ' ')"
  [[ "$n" =~ ^[0-9]+$ ]] || die "could not tell whether database $1 holds data (the server answered '$n'), so stopping here"
  printf '%s' "$n"
}

# "table<TAB>rows" for every base table (PostgreSQL names are schema.table), sorted.
db_row_counts() {
  local db="$1" query
  if [[ "$DB_FAMILY" == mysql ]]; then
    query="$(my_sql <<<"SELECT CONCAT('SELECT ', QUOTE(table_name), ', COUNT(*) FROM \`', REPLACE(table_schema, '\`', '\`\`'), '\`.\`', REPLACE(table_name, '\`', '\`\`'), '\`;')
      FROM information_schema.tables WHERE table_schema = $(sql_string "$db") AND table_type = 'BASE TABLE';")"
    [[ -n "$query" ]] && my_sql "$db" <<<"$query" | sort
  else
    query="$(pg_sql "$db" <<<"SELECT format('SELECT %L, count(*) FROM %I.%I;', n.nspname || '.' || c.relname, n.nspname, c.relname)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r','p') AND n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg_toast%';")"
    [[ -n "$query" ]] && pg_sql "$db" <<<"$query" | sort
  fi
  return 0
}

# Creates DB (empty) for the app user (DB_USER), whom the loader connects as: the admin only creates,
# grants and drops databases, it never runs a dump's SQL. MariaDB/MySQL: the app user gets its rights on
# DB from where this host connects (an account for that origin, so a self-managed host's loader is not
# refused by the per-webserver accounts); PostgreSQL: the app user owns DB.
db_create() {
  local db="$1" user="${CFG[DB_USER]:-}"
  [[ -n "$user" ]] || die_usage "DB_USER is not set: the loader connects as the app user"
  if declare -F db_ensure_app_user >/dev/null; then db_ensure_app_user; fi
  if [[ "$DB_FAMILY" == mysql ]]; then
    my_sql <<<"CREATE DATABASE IF NOT EXISTS $(my_ident "$db") CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
    local origin tls=" REQUIRE SSL"
    origin="$(my_sql <<<"SELECT SUBSTRING_INDEX(USER(), '@', -1);")" || die "cannot read this host's address as the server sees it"
    [[ -n "${CFG[DB_SOCKET]:-}" ]] && tls=""
    my_sql <<<"CREATE USER IF NOT EXISTS $(sql_string "$user")@$(sql_string "$origin") $(mysql_identified db-app-password)$tls;
      GRANT $APP_PRIVILEGES ON $(my_ident "$db").* TO $(sql_string "$user")@$(sql_string "$origin");" ||
      die "granting $user@$origin its rights on $db failed"
  else
    pg_prepare_app_role || die "the admin ${CFG[DB_ADMIN_USER]} cannot create databases owned by the app role $user"
    if ! db_exists "$db"; then
      pg_sql <<<"CREATE DATABASE $(pg_ident "$db") OWNER $(pg_ident "$user") ENCODING 'UTF8' TEMPLATE template0;"
    fi
    pg_sql "$db" <<<"REVOKE ALL ON DATABASE $(pg_ident "$db") FROM PUBLIC;" || true
  fi
}

db_drop() {
  local db="$1"
  if [[ "$DB_FAMILY" == mysql ]]; then
    my_sql <<<"DROP DATABASE IF EXISTS $(my_ident "$db");"
  else
    # FORCE ends the app's sessions, but a DBaaS admin may not end an autovacuum worker (which a big load
    # starts); a plain DROP makes autovacuum leave and waits for it, so that is the fallback.
    pg_sql <<<"DROP DATABASE IF EXISTS $(pg_ident "$db") WITH (FORCE);" 2>"$RUN_DIR/drop.err" ||
      retry 3 2 pg_drop_plain "$db"
  fi
}

pg_drop_plain() {
  pg_sql <<<"DROP DATABASE IF EXISTS $(pg_ident "$1");"
}

# PostgreSQL: makes the admin a member of the app role (a DBaaS admin is not a superuser but may grant
# itself membership in roles it manages): it may then create databases the app role owns and read the
# app's tables for a dump. The loader never uses it (it connects as the app user). Sets PG_AS_ROLE.
pg_prepare_app_role() {
  PG_AS_ROLE=""
  local user="${CFG[DB_USER]:-}"
  [[ -n "$user" ]] || return 1
  local exists
  exists="$(pg_sql <<<"SELECT count(*) FROM pg_roles WHERE rolname = $(pg_string "$user");")" || return 1
  [[ "$exists" == 1 ]] || return 1
  local member
  member="$(pg_sql <<<"SELECT pg_has_role(current_user, $(pg_string "$user"), 'USAGE')::int;")" || return 1
  if [[ "$member" != 1 ]]; then
    pg_sql <<<"GRANT $(pg_ident "$user") TO CURRENT_USER;" 2>/dev/null || return 1
  fi
  PG_AS_ROLE="$user"
}

# MariaDB/MySQL: does the target refuse tables without a primary key, and can this session lift that?
# Prints "none", "session" (SET SESSION sql_require_primary_key=0 allowed, as DigitalOcean documents for
# migrations) or "rewrite" (give such tables an invisible primary key, as MySQL's GIPK does).
my_primary_key_policy() {
  local required
  required="$(my_sql <<<"SELECT @@sql_require_primary_key;" 2>/dev/null || true)"
  if [[ "$required" == 1 ]]; then
    if my_sql <<<"SET SESSION sql_require_primary_key = 0;" 2>/dev/null; then printf 'session'; else printf 'rewrite'; fi
    return 0
  fi
  required="$(my_sql <<<"SELECT @@innodb_force_primary_key;" 2>/dev/null || true)"
  if [[ "$required" == 1 ]]; then printf 'rewrite'; else printf 'none'; fi
}

# Dumps DB exactly on stdout (scripts/host/lib/fingerprint.py: MariaDB/MySQL "mysql-exact-1": the dump
# tool's schema plus rows rendered exactly by the server; PostgreSQL "pg-split-1": pg_dump's schema archive
# and data section from one exported snapshot). DIGESTS (optional) gets the source's per-table digests
# taken from the dump's own snapshot, its format name and what it cannot represent exactly ("inexact").
# FORMAT "sql" (optional) writes the old plain dump instead (no digests), whose row text dumpkit.py stats
# compares with an old backup's: re-dumping for a backup without source digests.
db_dump_stream() {
  local db="$1" digests="${2:-$RUN_DIR/dump-digests.json}" format="${3:-}"
  if [[ "$format" == sql ]]; then
    printf '{"format": "sql", "inexact": ["a plain dump has no source digests"]}\n' >"$digests"
    if [[ "$DB_FAMILY" == mysql ]]; then
      local args=(--defaults-extra-file="$MY_CNF" --single-transaction --quick --routines --triggers --events
        --order-by-primary --skip-dump-date --max-allowed-packet=1G --default-character-set=utf8mb4)
      if [[ "$MY_FLAVOR" == mysql ]]; then args+=(--set-gtid-purged=OFF --column-statistics=0); fi
      "$MY_DUMP" "${args[@]}" "$db"
    else
      pg_dump --format=plain --no-owner --no-privileges --encoding=UTF8 -d "$db"
    fi
    return
  fi
  if [[ "$DB_FAMILY" == mysql ]]; then
    "$PYTHON" "$DBTIER_LIB/fingerprint.py" dump mysql "$db" "$digests" --client "$MY_CLIENT" --dump-tool "$MY_DUMP" \
      --cnf "$MY_CNF" --flavor "$MY_FLAVOR"
  else
    RUN_DIR="$RUN_DIR" "$PYTHON" "$DBTIER_LIB/fingerprint.py" dump postgres "$db" "$digests"
  fi
}

# The digests db_dump_stream records, computed from the live database DB (JSON into OUT).
db_fingerprint() {
  local db="$1" out="$2"
  if [[ "$DB_FAMILY" == mysql ]]; then
    "$PYTHON" "$DBTIER_LIB/fingerprint.py" fingerprint mysql "$db" "$out" --client "$MY_CLIENT" --cnf "$MY_CNF"
  else
    "$PYTHON" "$DBTIER_LIB/fingerprint.py" fingerprint postgres "$db" "$out"
  fi
}

# Fails (stderr: one line per differing table or object, and the source's "inexact" reasons) unless the
# digests in ACTUAL equal those in EXPECTED (a digests file or a manifest's "source").
db_compare_digests() { "$PYTHON" "$DBTIER_LIB/fingerprint.py" compare "$1" "$2"; }

# Connections the loader opens (DBTIER_LOAD_JOBS, default 2: on two cores a third added nothing).
LOAD_JOBS="${DBTIER_LOAD_JOBS:-2}"

# THE loader: reads a plain SQL dump on stdin and loads it into DB over LOAD_JOBS connections
# (parallel-load.py: table data spread over the connections; what a managed server's admin may not run
# left out). Everything that loads a dump (restore, verify, load-app-db) goes through here. A pipeline
# stage: it execs the loader, so the pipeline holds no extra shell.
load_dump_stream() {
  local db="$1" format="${2:-sql}" conn=() engine="${CFG[DB_ENGINE]}" extra=()
  case "$format" in
    sql | mysql-exact-1 | pg-split-1) ;;
    *) die "load: dump format '$format' is unknown (known: sql, mysql-exact-1, pg-split-1)" ;;
  esac
  require_keys DB_USER
  if [[ -n "${CFG[DB_SOCKET]:-}" ]]; then
    conn=(--socket "${CFG[DB_SOCKET]}")
  else
    conn=(--host "${CFG[DB_HOST]}" --port "${CFG[DB_PORT]}" --tls-mode "${CFG[DB_TLS_MODE]}")
    if [[ "${CFG[DB_TLS_MODE]}" == verify-* ]]; then conn+=(--ca-file "${CFG[DB_CA_FILE]}"); fi
  fi
  # The dump's SQL runs with the app user's rights only: it connects as the app user (a SET ROLE could be
  # undone by the SQL itself with RESET ROLE). db_create gave that user the empty database.
  read_secret db-app-password >/dev/null
  conn+=(--user "${CFG[DB_USER]}" --password-file "$(secret_path db-app-password)")
  if [[ "$DB_FAMILY" == mysql ]]; then
    case "$(my_primary_key_policy)" in
      session) extra+=(--session-sql "SET SESSION sql_require_primary_key = 0") ;;
      rewrite) extra+=(--add-pk) ;;
    esac
    [[ "$engine" == mysql && "$MY_FLAVOR" == mariadb ]] && engine=mariadb
  fi
  exec "$PYTHON" "$DBTIER_LIB/parallel-load.py" --engine "$engine" --database "$db" "${conn[@]}" \
    --jobs "$LOAD_JOBS" --format "$format" --dbaas "${extra[@]}"
}

db_dump_tool_version() {
  if [[ "$DB_FAMILY" == mysql ]]; then "$MY_DUMP" --version 2>/dev/null | sed -n 1p; else pg_dump --version | sed -n 1p; fi
}

# Engine name as dumpkit.py knows it.
dumpkit_engine() { if [[ "$DB_FAMILY" == mysql ]]; then printf 'mysql'; else printf 'postgres'; fi; }

# ---- sizes, the data directory, swapping a side database in (restore) ----

# Bytes DB takes on the server (tables and indexes), or fails.
db_size_bytes() {
  local n
  if [[ "$DB_FAMILY" == mysql ]]; then
    n="$(my_sql <<<"SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables WHERE table_schema = $(sql_string "$1");" 2>/dev/null)"
  else
    n="$(pg_sql <<<"SELECT pg_database_size($(pg_string "$1"));" 2>/dev/null)"
  fi || return 1
  [[ "$n" =~ ^[0-9]+$ ]] || return 1
  printf '%s' "$n"
}

# The server's data directory when the server runs on this host (DB_ROLE=database), else nothing.
db_local_data_dir() {
  [[ "${CFG[DB_ROLE]:-database}" == database ]] || return 0
  if [[ -n "${CFG[DB_DATA_DIR]:-}" ]]; then printf '%s' "${CFG[DB_DATA_DIR]}"; return 0; fi
  local dir=""
  if [[ "$DB_FAMILY" == mysql ]]; then
    dir="$(my_sql <<<"SELECT @@datadir;" 2>/dev/null)" || dir=""
    [[ -n "$dir" ]] || dir=/var/lib/mysql
  else
    # SHOW data_directory needs pg_read_all_settings, which the admin may lack: Debian's layout then.
    dir="$(pg_sql <<<"SHOW data_directory;" 2>/dev/null)" || dir=""
    [[ -n "$dir" ]] || dir="/var/lib/postgresql/${CFG[DB_ENGINE_VERSION]:-}/main"
  fi
  printf '%s' "$dir"
}

# Connection arguments of the Python stages (swap.py) for USER with the password in SECRET.
driver_conn_args() {
  local user="$1" secret="$2"
  DRIVER_CONN=()
  if [[ -n "${CFG[DB_SOCKET]:-}" ]]; then
    DRIVER_CONN=(--socket "${CFG[DB_SOCKET]}")
    [[ -n "${CFG[DB_PORT]:-}" ]] && DRIVER_CONN+=(--port "${CFG[DB_PORT]}")
  else
    DRIVER_CONN=(--host "${CFG[DB_HOST]}" --port "${CFG[DB_PORT]}" --tls-mode "${CFG[DB_TLS_MODE]}")
    [[ -n "${CFG[DB_CA_FILE]:-}" ]] && DRIVER_CONN+=(--ca-file "${CFG[DB_CA_FILE]}")
  fi
  DRIVER_CONN+=(--user "$user" --password-file "$(secret_path "$secret")")
}
DRIVER_CONN=()

# Swaps SIDE in for LIVE with the app user fenced (swap.py). Sets SWAP_ERROR to the reason and the state
# LIVE is left in.
SWAP_ERROR=""
db_swap_in() {
  local live="$1" side="$2" hold="$3" manifest="${4:-}" engine="${CFG[DB_ENGINE]}"
  [[ "$engine" == mysql && "$MY_FLAVOR" == mariadb ]] && engine=mariadb
  local app=()
  # SIDE got the backup's own database settings (set_database_properties); older backups keep the live ones.
  if [[ -n "$manifest" ]] && jq -e '.source.database | type == "object"' "$manifest" >/dev/null 2>&1; then
    app+=(--database-from-backup)
  fi
  if [[ "$DB_FAMILY" == mysql ]]; then
    # The app user re-creates its views/triggers/routines in LIVE: it needs its grants there (db_create).
    db_exists "$live" || db_create "$live"
    app+=(--app-password-file "$(secret_path db-app-password)")
  fi
  driver_conn_args "${CFG[DB_ADMIN_USER]}" db-admin-password
  if ! "$PYTHON" "$DBTIER_LIB/swap.py" --engine "$engine" --live "$live" --side "$side" --hold "$hold" \
    --app-user "${CFG[DB_USER]}" "${app[@]}" "${DRIVER_CONN[@]}" 2>"$RUN_DIR/swap.err"; then
    SWAP_ERROR="$(tr '\n' ' ' <"$RUN_DIR/swap.err")"
    # The live database as it was: the side copy is of no further use.
    if [[ "$(tail -n 1 "$RUN_DIR/swap.err")" == *": untouched"* || "$(tail -n 1 "$RUN_DIR/swap.err")" == *"as it was"* ]]; then
      db_drop "$side" 2>/dev/null || true
    fi
    return 1
  fi
  log "$(tail -n 1 "$RUN_DIR/swap.err")"
}
