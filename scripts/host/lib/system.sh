# shellcheck shell=bash
# dbtier toolkit: install (engine at the pinned version), init (self-managed server: private address, TLS
# required, accounts, memory), harden (SSH, unattended security upgrades, time sync, listeners).
#
# Files go under DBTIER_ROOT (default /) so the rendering can be tested in a temp dir; DBTIER_NO_SERVICES=1
# skips systemctl and apt (tests, the lab's systemctl stand-in).

root_path() { printf '%s%s' "${DBTIER_ROOT:-}" "$1"; }

need_root() {
  if [[ -z "${DBTIER_ROOT:-}" && "$(id -u)" != 0 ]]; then die "$1 must run as root"; fi
}

# write_file PATH MODE < content: atomic replace; sets FILE_CHANGED=1 when the content differs.
FILE_CHANGED=0
write_file() {
  local path mode="$2" tmp
  path="$(root_path "$1")"
  mkdir -p "$(dirname "$path")"
  tmp="$(mktemp "$path.dbtier.XXXXXX")"
  cat >"$tmp"
  chmod "$mode" "$tmp"
  if [[ -f "$path" ]] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    return 0
  fi
  mv -f "$tmp" "$path"
  FILE_CHANGED=1
  log "wrote $1"
}

services_enabled() { [[ "${DBTIER_NO_SERVICES:-0}" != 1 && -z "${DBTIER_ROOT:-}" ]]; }

service() {
  if services_enabled; then
    systemctl "$@"
  else
    log "(services disabled) would run: systemctl $*"
  fi
}

apt_get() {
  if services_enabled; then
    DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef "$@"
  else
    log "(services disabled) would run: apt-get $*"
  fi
}

os_codename() {
  local file
  file="$(root_path /etc/os-release)"
  [[ -r "$file" ]] || file=/etc/os-release
  sed -n 's/^VERSION_CODENAME=//p' "$file" | tr -d '"'
}

# ---------------------------------------------------------------------------------------------- install

# Vendor apt repositories: URI, suite, component, key URL and the fingerprint the key must have.
# The key is fetched over HTTPS, checked against the pinned fingerprint, and only that key is written to
# a keyring the source names with Signed-By (never apt-key, never curl | bash).
vendor_repo() {
  local engine="$1" version="$2" codename="$3"
  case "$engine" in
    mariadb)
      printf 'uri=https://dlm.mariadb.com/repo/mariadb-server/%s/repo/debian\nsuite=%s\ncomponent=main\n' "$version" "$codename"
      printf 'key=https://supplychain.mariadb.com/mariadb-keyring-2019.gpg\nfingerprint=177F4010FE56CA3336300305F1656F24C74CD1D8\n'
      ;;
    mysql)
      local component="mysql-$version"
      [[ "$version" == 8.4 ]] && component="mysql-8.4-lts"
      printf 'uri=https://repo.mysql.com/apt/debian\nsuite=%s\ncomponent=%s\n' "$codename" "$component"
      printf 'key=https://repo.mysql.com/RPM-GPG-KEY-mysql-2023\nfingerprint=BCA43417C3B485DD128EC6D4B7B3B788A8D3785C\n'
      ;;
    postgres)
      printf 'uri=https://apt.postgresql.org/pub/repos/apt\nsuite=%s-pgdg\ncomponent=main\n' "$codename"
      printf 'key=https://www.postgresql.org/media/keys/ACCC4CF8.asc\nfingerprint=B97B0AFCAA1A47F044F244A07FCC7D46ACCC4CF8\n'
      ;;
  esac
}

# Package names for ENGINE VERSION ROLE SOURCE, one a line.
engine_packages() {
  local engine="$1" version="$2" role="$3" source="$4"
  case "$engine" in
    mariadb)
      [[ "$role" == database ]] && printf 'mariadb-server\n'
      printf 'mariadb-client\n'
      ;;
    mysql)
      if [[ "$source" == distro ]]; then
        [[ "$role" == database ]] && die_usage "Debian has no MySQL server package: DB_ENGINE=mysql needs DB_PACKAGE_SOURCE=vendor"
        printf 'default-mysql-client\n'
      else
        [[ "$role" == database ]] && printf 'mysql-server\n'
        printf 'mysql-client\n'
      fi
      ;;
    postgres)
      [[ "$role" == database ]] && printf 'postgresql-%s\n' "$version"
      printf 'postgresql-client-%s\n' "$version"
      ;;
  esac
}

readonly TOOL_PACKAGES="ca-certificates curl gnupg zstd age rclone jq python3 python3-pymysql python3-psycopg2 msmtp openssl util-linux git openssh-client"

setup_vendor_repo() {
  local engine="${CFG[DB_ENGINE]}" version="${CFG[DB_ENGINE_VERSION]}" codename spec uri suite component key fpr
  codename="$(os_codename)"
  [[ -n "$codename" ]] || die "cannot tell the Debian release (VERSION_CODENAME in /etc/os-release)"
  spec="$(vendor_repo "$engine" "$version" "$codename")"
  uri="$(sed -n 's/^uri=//p' <<<"$spec")"
  suite="$(sed -n 's/^suite=//p' <<<"$spec")"
  component="$(sed -n 's/^component=//p' <<<"$spec")"
  key="$(sed -n 's/^key=//p' <<<"$spec")"
  fpr="$(sed -n 's/^fingerprint=//p' <<<"$spec")"
  local keyring="/usr/share/keyrings/dbtier-$engine.gpg"
  if [[ ! -s "$(root_path "$keyring")" ]]; then
    need_commands curl gpg
    local gnupghome
    gnupghome="$(mktemp -d "$RUN_DIR/gnupg.XXXXXX")"
    curl -fsSL --proto '=https' --tlsv1.2 -o "$RUN_DIR/vendor-key" "$key" || die "cannot download the $engine signing key from $key"
    GNUPGHOME="$gnupghome" gpg --batch --quiet --import "$RUN_DIR/vendor-key" 2>/dev/null || die "the $engine signing key from $key is not a valid key"
    GNUPGHOME="$gnupghome" gpg --batch --with-colons --fingerprint "$fpr" 2>/dev/null | grep -q "^fpr:::::::::$fpr:" ||
      die "the key from $key does not have the pinned fingerprint $fpr; refusing it"
    GNUPGHOME="$gnupghome" gpg --batch --export "$fpr" | write_file "$keyring" 0644
  fi
  write_file "/etc/apt/sources.list.d/dbtier-$engine.sources" 0644 <<EOF
# dbtier: $engine $version from the vendor's signed repository
Types: deb
URIs: $uri
Suites: $suite
Components: $component
Signed-By: $keyring
EOF
  # Prefer the vendor's packages over Debian's for this engine, so the pinned version wins.
  local origin="${uri#https://}"
  origin="${origin%%/*}"
  write_file "/etc/apt/preferences.d/dbtier-$engine.pref" 0644 <<EOF
Package: *
Pin: origin "$origin"
Pin-Priority: 900
EOF
}

installed_major_version() {
  case "${CFG[DB_ENGINE]}" in
    mariadb | mysql) { mariadb --version 2>/dev/null || mysql --version 2>/dev/null; } | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | sed -n 1p ;;
    postgres) psql --version 2>/dev/null | grep -oE '[0-9]+(\.[0-9]+)?' | sed -n 1p ;;
  esac
}

cmd_install() {
  (($# == 0)) || die_usage "usage: dbtier-db install"
  require_keys DB_ENGINE DB_ENGINE_VERSION DB_ROLE
  need_root install
  local role="${CFG[DB_ROLE]}" source="${CFG[DB_PACKAGE_SOURCE]}" packages
  packages="$(engine_packages "${CFG[DB_ENGINE]}" "${CFG[DB_ENGINE_VERSION]}" "$role" "$source")"
  if [[ "$source" == vendor ]]; then
    FILE_CHANGED=0
    # The key download needs curl and gpg first.
    if services_enabled && ! command -v gpg >/dev/null 2>&1; then apt_get update && apt_get install --no-install-recommends ca-certificates curl gnupg; fi
    setup_vendor_repo
  fi
  apt_get update
  # shellcheck disable=SC2086 # word splitting of the package lists is intended
  apt_get install --no-install-recommends $TOOL_PACKAGES $packages
  if services_enabled; then
    local version
    version="$(installed_major_version)"
    [[ "$version" == "${CFG[DB_ENGINE_VERSION]}"* ]] ||
      die "installed ${CFG[DB_ENGINE]} client is $version, not ${CFG[DB_ENGINE_VERSION]}${source:+ (DB_PACKAGE_SOURCE=$source)}"
    log "install: ${CFG[DB_ENGINE]} $version ($source packages) and the toolkit's tools are installed"
  fi
  mkdir -p "$(root_path "${CFG[DBTIER_STATE_DIR]}")"
  chmod 0700 "$(root_path "${CFG[DBTIER_STATE_DIR]}")"
}

# ------------------------------------------------------------------------------------------------- init

# Memory settings from the machine's RAM: the buffer pool / shared_buffers get a share that leaves room
# for the OS, the backup pipeline (~100 MB) and connections.
mem_total_mb() {
  local kb
  kb="$(awk '/^MemTotal:/ { print $2 }' "${DBTIER_MEMINFO:-/proc/meminfo}")"
  printf '%s' $((kb / 1024))
}

# Prints "buffer_mb max_connections" for MEM_MB.
memory_plan() {
  local mem="$1" buffer conns
  if ((mem <= 1024)); then
    buffer=$((mem * 40 / 100))
  elif ((mem <= 4096)); then
    buffer=$((mem * 50 / 100))
  else
    buffer=$((mem * 65 / 100))
  fi
  ((buffer >= 64)) || buffer=64
  conns=$((mem / 16))
  ((conns >= 50)) || conns=50
  ((conns <= 500)) || conns=500
  printf '%s %s' "$buffer" "$conns"
}

# MySQL/MariaDB host pattern for a canonical CIDR: a.b.c.d/32 -> a.b.c.d, a.b.c.d/24 -> a.b.c.0/255.255.255.0.
mysql_host_pattern() {
  local cidr="$1" ip len
  ip="${cidr%/*}"
  len="${cidr##*/}"
  [[ "$cidr" == */* ]] || len=""
  if [[ "$ip" == *:* ]]; then
    [[ -z "$len" || "$len" == 128 ]] || die_usage "DB_WEBSERVER_SOURCES: IPv6 range $cidr cannot be expressed as a MySQL/MariaDB account host; list single addresses"
    printf '%s' "$ip"
    return 0
  fi
  [[ "$ip" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || die_usage "DB_WEBSERVER_SOURCES: '$cidr' is not an IPv4/IPv6 address or CIDR"
  local octets=("${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}" "${BASH_REMATCH[4]}")
  if [[ -z "$len" || "$len" == 32 ]]; then
    printf '%s' "$ip"
    return 0
  fi
  [[ "$len" =~ ^[0-9]+$ ]] && ((len >= 8 && len <= 31)) || die_usage "DB_WEBSERVER_SOURCES: prefix length of $cidr must be 8-32"
  local mask=$(((0xffffffff << (32 - len)) & 0xffffffff)) i net=() m
  for i in 0 1 2 3; do
    m=$(((mask >> (24 - 8 * i)) & 255))
    net+=("$((octets[i] & m))/$m")
  done
  printf '%s.%s.%s.%s/%s.%s.%s.%s' "${net[0]%/*}" "${net[1]%/*}" "${net[2]%/*}" "${net[3]%/*}" \
    "${net[0]#*/}" "${net[1]#*/}" "${net[2]#*/}" "${net[3]#*/}"
}

# A canonical CIDR for pg_hba: single addresses get /32 or /128.
pg_hba_cidr() {
  local cidr="$1"
  if [[ "$cidr" == */* ]]; then printf '%s' "$cidr"; elif [[ "$cidr" == *:* ]]; then printf '%s/128' "$cidr"; else printf '%s/32' "$cidr"; fi
}

TLS_DIR_DEFAULT=/etc/dbtier/tls

# A self-signed server certificate for the private address, renewed when it has under 30 days left.
# (Webservers use TLS for encryption; pinning this certificate is up to the application.)
ensure_server_cert() {
  local group="$1" dir cert key
  dir="$(root_path "${DBTIER_TLS_DIR:-$TLS_DIR_DEFAULT}")"
  cert="$dir/server.crt"
  key="$dir/server.key"
  mkdir -p "$dir"
  chmod 0750 "$dir"
  if [[ -s "$cert" && -s "$key" ]] && openssl x509 -in "$cert" -noout -checkend $((30 * 86400)) >/dev/null 2>&1; then
    return 0
  fi
  local san="IP:${CFG[DB_LISTEN_ADDRESS]}"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
    -subj "/CN=${CFG[DB_LISTEN_ADDRESS]}" -addext "subjectAltName=$san" -addext "extendedKeyUsage=serverAuth" \
    -keyout "$key.new" -out "$cert.new" 2>/dev/null || die "cannot create the server TLS certificate"
  chmod 0640 "$key.new"
  chmod 0644 "$cert.new"
  if getent group "$group" >/dev/null 2>&1; then chgrp "$group" "$dir" "$key.new" "$cert.new"; fi
  mv -f "$key.new" "$key"
  mv -f "$cert.new" "$cert"
  log "created the server TLS certificate $cert"
}

# Password hashes computed here, so the server (and its logs) never see the plaintext.
password_hash() { read_secret "$1" | "$PYTHON" "$DUMPKIT" password-hash "$2"; }

# The IDENTIFIED clause for a secret: MariaDB takes the native hash; MySQL 8 (caching_sha2_password) needs
# the password itself, which it redacts from its logs. Either way it travels on stdin, never in argv.
mysql_identified() {
  local secret="$1"
  if [[ "${CFG[DB_ENGINE]}" == mariadb ]]; then
    printf "IDENTIFIED BY PASSWORD '%s'" "$(password_hash "$secret" mysql)"
  else
    printf 'IDENTIFIED BY %s' "$(sql_string "$(read_secret "$secret")")"
  fi
}

# On a DBaaS the provider may not create the application user (RDS and Linode make only the admin): create it
# when it is missing, with rights on its database only. An existing user (DigitalOcean's DatabaseUser) is
# left to its provider. The password travels on stdin (MariaDB: as its hash; PostgreSQL: a SCRAM verifier).
readonly APP_PRIVILEGES="SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, REFERENCES, INDEX, ALTER, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER"

db_ensure_app_user() {
  local user="${CFG[DB_USER]}" db="${CFG[DB_NAME]}" exists
  if [[ "$DB_FAMILY" == mysql ]]; then
    # IF NOT EXISTS leaves an existing user (and its password) untouched.
    my_sql <<<"CREATE USER IF NOT EXISTS $(sql_string "$user")@'%' $(mysql_identified db-app-password) REQUIRE SSL;" ||
      die "creating the application user $user failed"
    # What an application needs on its own schema, spelled out: a DBaaS admin cannot grant ALL (it lacks some
    # of what ALL includes), and the app gets no GRANT OPTION.
    my_sql <<<"GRANT $APP_PRIVILEGES ON $(my_ident "$db").* TO $(sql_string "$user")@'%';" ||
      die "granting $user its rights on $db failed"
  else
    exists="$(pg_sql <<<"SELECT count(*) FROM pg_roles WHERE rolname = $(pg_string "$user");")"
    if [[ "$exists" == 0 ]]; then
      pg_sql <<<"CREATE ROLE $(pg_ident "$user") LOGIN PASSWORD '$(password_hash db-app-password postgres)';" >/dev/null ||
        die "creating the application role $user failed"
      log "created the application role $user"
    fi
  fi
}

local_mysql() {
  "$MY_CLIENT" --no-defaults --user=root --socket="${CFG[DB_SOCKET]:-/run/mysqld/mysqld.sock}" --batch --skip-column-names "$@"
}

local_psql() {
  local args=(-X -q -A -t -v ON_ERROR_STOP=1 -h "${CFG[DB_SOCKET]:-/var/run/postgresql}" -p "${CFG[DB_PORT]:-5432}" "$@")
  if [[ "$(id -un)" == postgres ]]; then psql "${args[@]}"; else runuser -u postgres -- psql "${args[@]}"; fi
}

mysql_server_config() {
  local buffer="$1" conns="$2" tls_dir="${DBTIER_TLS_DIR:-$TLS_DIR_DEFAULT}" dir
  if [[ "${CFG[DB_ENGINE]}" == mariadb ]]; then dir=/etc/mysql/mariadb.conf.d; else dir=/etc/mysql/mysql.conf.d; fi
  write_file "$dir/60-dbtier.cnf" 0644 <<EOF
# dbtier: rendered by 'dbtier-db init'; changes are overwritten.
[mysqld]
bind-address = ${CFG[DB_LISTEN_ADDRESS]}
port = ${CFG[DB_PORT]:-3306}
skip-name-resolve
local-infile = 0
ssl-cert = $tls_dir/server.crt
ssl-key = $tls_dir/server.key
require_secure_transport = ON
tls_version = TLSv1.2,TLSv1.3
character-set-server = utf8mb4
collation-server = utf8mb4_unicode_ci
innodb_buffer_pool_size = ${buffer}M
max_connections = $conns
max_allowed_packet = 256M
EOF
}

postgres_server_config() {
  local buffer="$1" conns="$2" tls_dir="${DBTIER_TLS_DIR:-$TLS_DIR_DEFAULT}" conf="/etc/postgresql/${CFG[DB_ENGINE_VERSION]}/main"
  local mem
  mem="$(mem_total_mb)"
  # shared_buffers is a quarter of RAM (PostgreSQL relies on the OS cache for the rest).
  write_file "$conf/conf.d/60-dbtier.conf" 0644 <<EOF
# dbtier: rendered by 'dbtier-db init'; changes are overwritten.
listen_addresses = '${CFG[DB_LISTEN_ADDRESS]}'
port = ${CFG[DB_PORT]:-5432}
ssl = on
ssl_cert_file = '$tls_dir/server.crt'
ssl_key_file = '$tls_dir/server.key'
ssl_min_protocol_version = 'TLSv1.2'
password_encryption = 'scram-sha-256'
max_connections = $conns
shared_buffers = $((mem / 4))MB
effective_cache_size = ${buffer}MB
maintenance_work_mem = $((mem / 16 > 64 ? mem / 16 : 64))MB
work_mem = $((mem / conns / 4 > 4 ? mem / conns / 4 : 4))MB
EOF
  # Not a pipeline: write_file must run in this shell so its FILE_CHANGED reaches the restart decision.
  write_file "$conf/pg_hba.conf" 0640 < <(postgres_hba)
  # The server runs as postgres and must read its pg_hba.conf (Debian ships it postgres:postgres 0640).
  if id -u postgres >/dev/null 2>&1; then chown postgres:postgres "$(root_path "$conf/pg_hba.conf")"; fi
}

# Addresses the admin logs in from: this host's loopback and the address the tool connects to (DB_HOST),
# plus the listen address when it is a specific one. A wildcard listen address (0.0.0.0, ::) is no host.
admin_source_addresses() {
  local address seen=" "
  for address in 127.0.0.1 "${CFG[DB_HOST]:-}" "${CFG[DB_LISTEN_ADDRESS]:-}"; do
    case "$address" in "" | 0.0.0.0 | :: | localhost) continue ;; esac
    [[ "$seen" == *" $address "* ]] && continue
    seen+="$address "
    printf '%s\n' "$address"
  done
}

# pg_hba.conf: TLS-only, scram-sha-256; the app user only from each webserver and only to its database;
# the admin only from this host; nothing else (pg_hba rejects what no row matches).
postgres_hba() {
  local cidr
  printf '# dbtier: rendered by dbtier-db init; changes are overwritten.\n'
  printf '# TYPE  DATABASE  USER  ADDRESS  METHOD\n'
  printf 'local   all       postgres            peer\n'
  printf 'local   all       %s            scram-sha-256\n' "${CFG[DB_ADMIN_USER]}"
  local address
  while IFS= read -r address; do
    printf 'hostssl all       %s  %s  scram-sha-256\n' "${CFG[DB_ADMIN_USER]}" "$(pg_hba_cidr "$address")"
  done < <(admin_source_addresses)
  for cidr in ${CFG[DB_WEBSERVER_SOURCES]}; do
    printf 'hostssl %s  %s  %s  scram-sha-256\n' "${CFG[DB_NAME]}" "${CFG[DB_USER]}" "$(pg_hba_cidr "$cidr")"
  done
}

# Accounts on MariaDB/MySQL: admin from this host only, app user per webserver with rights on its
# database only; no anonymous users, no test database, no remote root.
mysql_accounts_sql() {
  local admin_auth="$1" app_auth="$2" host admin app db
  admin="$(sql_string "${CFG[DB_ADMIN_USER]}")"
  app="$(sql_string "${CFG[DB_USER]}")"
  db="$(my_ident "${CFG[DB_NAME]}")"
  printf 'DROP DATABASE IF EXISTS test;\n'
  printf "DELETE FROM mysql.db WHERE Db = 'test' OR Db = 'test\\\\_%%';\n"
  local hosts
  mapfile -t hosts < <(admin_source_addresses)
  for host in localhost "${hosts[@]}"; do
    printf 'CREATE USER IF NOT EXISTS %s@%s %s;\n' "$admin" "$(sql_string "$host")" "$admin_auth"
    printf 'ALTER USER %s@%s %s;\n' "$admin" "$(sql_string "$host")" "$admin_auth"
    printf 'GRANT ALL PRIVILEGES ON *.* TO %s@%s WITH GRANT OPTION;\n' "$admin" "$(sql_string "$host")"
  done
  printf 'CREATE DATABASE IF NOT EXISTS %s CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n' "$db"
  local cidr pattern wanted=()
  for cidr in ${CFG[DB_WEBSERVER_SOURCES]}; do
    pattern="$(mysql_host_pattern "$cidr")"
    wanted+=("$(sql_string "$pattern")")
    printf 'CREATE USER IF NOT EXISTS %s@%s %s REQUIRE SSL;\n' "$app" "$(sql_string "$pattern")" "$app_auth"
    printf 'ALTER USER %s@%s %s REQUIRE SSL;\n' "$app" "$(sql_string "$pattern")" "$app_auth"
    printf 'GRANT ALL PRIVILEGES ON %s.* TO %s@%s;\n' "$db" "$app" "$(sql_string "$pattern")"
  done
  printf 'FLUSH PRIVILEGES;\n'
  # Which accounts to drop is decided by mysql_stale_accounts from the live user list.
  printf '%s\n' "${wanted[@]}" >"$RUN_DIR/wanted-hosts"
}

init_mysql() {
  local admin_auth app_auth
  admin_auth="$(mysql_identified db-admin-password)"
  app_auth="$(mysql_identified db-app-password)"
  # The admin connects over TCP from this host (DB_HOST is the private address), with TLS.
  mysql_accounts_sql "$admin_auth REQUIRE SSL" "$app_auth" >"$RUN_DIR/accounts.sql"
  local_mysql <"$RUN_DIR/accounts.sql" 2>"$RUN_DIR/init.err" || die "creating the accounts failed: $(tail -n 3 "$RUN_DIR/init.err" | tr '\n' ' ')"
  # Drop what must not exist: remote root, and app-user hosts no longer among the webservers.
  local user host drop=""
  # "u:" keeps an empty (anonymous) user name from vanishing in read's whitespace splitting.
  while IFS=$'\t' read -r user host; do
    [[ -n "$user$host" ]] || continue
    user="${user#u:}"
    if [[ -z "$user" ]]; then
      drop+="DROP USER ''@$(sql_string "$host");"$'\n'
    elif [[ "$user" == root && "$host" != localhost && "$host" != 127.0.0.1 && "$host" != ::1 ]]; then
      drop+="DROP USER $(sql_string "$user")@$(sql_string "$host");"$'\n'
    elif [[ "$user" == "${CFG[DB_USER]}" ]] && ! grep -qxF "$(sql_string "$host")" "$RUN_DIR/wanted-hosts"; then
      drop+="DROP USER $(sql_string "$user")@$(sql_string "$host");"$'\n'
    fi
  done < <(local_mysql <<<"SELECT CONCAT('u:', User), Host FROM mysql.user;")
  if [[ -n "$drop" ]]; then
    local_mysql <<<"$drop" || die "dropping stale accounts failed"
    log "init: dropped $(grep -c . <<<"$drop") stale account(s)"
  fi
}

init_postgres() {
  local admin_hash app_hash admin app db
  admin_hash="$(password_hash db-admin-password postgres)"
  app_hash="$(password_hash db-app-password postgres)"
  admin="$(pg_ident "${CFG[DB_ADMIN_USER]}")"
  app="$(pg_ident "${CFG[DB_USER]}")"
  db="${CFG[DB_NAME]}"
  local_psql -d postgres >/dev/null 2>"$RUN_DIR/init.err" <<EOF || die "creating the roles failed: $(tail -n 3 "$RUN_DIR/init.err" | tr '\n' ' ')"
SELECT 'CREATE ROLE $admin LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $(pg_string "${CFG[DB_ADMIN_USER]}")) \\gexec
ALTER ROLE $admin LOGIN CREATEDB CREATEROLE NOSUPERUSER PASSWORD '$admin_hash';
SELECT 'CREATE ROLE $app LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $(pg_string "${CFG[DB_USER]}")) \\gexec
ALTER ROLE $app LOGIN NOCREATEDB NOCREATEROLE NOSUPERUSER PASSWORD '$app_hash';
GRANT $app TO $admin;
GRANT pg_monitor TO $admin;
SELECT format('CREATE DATABASE %I OWNER %I ENCODING ''UTF8'' TEMPLATE template0', $(pg_string "$db"), $(pg_string "${CFG[DB_USER]}"))
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = $(pg_string "$db")) \\gexec
REVOKE ALL ON DATABASE $(pg_ident "$db") FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE $(pg_ident "$db") TO $app;
EOF
}

cmd_init() {
  (($# == 0)) || die_usage "usage: dbtier-db init"
  [[ "${CFG[DB_ROLE]:-}" == database ]] || die_usage "init configures a self-managed server (DB_ROLE=database), not DB_ROLE='${CFG[DB_ROLE]:-}'"
  require_keys DB_ENGINE DB_ENGINE_VERSION DB_LISTEN_ADDRESS DB_NAME DB_USER DB_ADMIN_USER DB_WEBSERVER_SOURCES
  need_root init
  need_commands openssl "$PYTHON"
  DUMPKIT="$DBTIER_LIB/dumpkit.py"
  case "${CFG[DB_ENGINE]}" in
    mariadb | mysql)
      DB_FAMILY=mysql
      if command -v mariadb >/dev/null 2>&1; then MY_CLIENT=mariadb; else MY_CLIENT=mysql; fi
      ;;
    postgres) DB_FAMILY=postgres ;;
  esac
  local mem plan buffer conns
  mem="$(mem_total_mb)"
  plan="$(memory_plan "$mem")"
  read -r buffer conns <<<"$plan"
  log "init: ${mem} MB RAM -> buffer ${buffer} MB, max_connections $conns"
  FILE_CHANGED=0
  if [[ "$DB_FAMILY" == mysql ]]; then
    ensure_server_cert mysql
    mysql_server_config "$buffer" "$conns"
    if ((FILE_CHANGED)); then service restart "${CFG[DB_ENGINE]}"; fi
    init_mysql
  else
    ensure_server_cert postgres
    postgres_server_config "$buffer" "$conns"
    if ((FILE_CHANGED)); then service restart "postgresql@${CFG[DB_ENGINE_VERSION]}-main"; fi
    init_postgres
  fi
  log "init: ${CFG[DB_ENGINE]} listens on ${CFG[DB_LISTEN_ADDRESS]} only, TLS required, $DB_FAMILY accounts in place"
}

# ----------------------------------------------------------------------------------------------- harden

# Reads `ss -H -ltnu` lines on stdin and prints the listeners the role does not need (not loopback, not
# sshd, not the database port on a database VM).
unexpected_listeners() {
  local role="$1" db_port="$2" netid state recvq sendq local_addr rest addr port
  while read -r netid state recvq sendq local_addr rest || [[ -n "${netid:-}" ]]; do
    : "$state" "$recvq" "$sendq" "$rest"
    [[ -n "$local_addr" ]] || continue
    port="${local_addr##*:}"
    addr="${local_addr%:*}"
    addr="${addr#[}"
    addr="${addr%]}"
    addr="${addr%%%*}"
    case "$addr" in 127.* | ::1 | localhost) continue ;; esac
    [[ "$netid" == tcp && "$port" == 22 ]] && continue
    [[ "$role" == database && "$netid" == tcp && "$port" == "$db_port" ]] && continue
    # DHCP client and NTP/chrony replies on their well-known client ports.
    [[ "$netid" == udp && ("$port" == 68 || "$port" == 546 || "$port" == 123 || "$port" == 323) ]] && continue
    printf '%s %s\n' "$netid" "$local_addr"
  done
}

cmd_harden() {
  (($# == 0)) || die_usage "usage: dbtier-db harden"
  need_root harden
  FILE_CHANGED=0
  write_file /etc/ssh/sshd_config.d/60-dbtier.conf 0644 <<'EOF'
# dbtier: SSH by key only; rendered by 'dbtier-db harden'.
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PermitRootLogin prohibit-password
AuthenticationMethods publickey
MaxAuthTries 3
LoginGraceTime 30
X11Forwarding no
AllowAgentForwarding no
AllowTcpForwarding no
EOF
  local sshd_changed="$FILE_CHANGED"
  write_file /etc/apt/apt.conf.d/20auto-upgrades 0644 <<'EOF'
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
EOF
  write_file /etc/apt/apt.conf.d/52dbtier-unattended-upgrades 0644 <<'EOF'
// dbtier: security updates only, and never an automatic reboot.
Unattended-Upgrade::Origins-Pattern { "origin=Debian,codename=${distro_codename}-security,label=Debian-Security"; };
Unattended-Upgrade::Automatic-Reboot "false";
Unattended-Upgrade::Automatic-Reboot-WithUsers "false";
Unattended-Upgrade::Remove-Unused-Dependencies "true";
EOF
  if services_enabled; then
    apt_get install --no-install-recommends unattended-upgrades systemd-timesyncd || apt_get install --no-install-recommends unattended-upgrades chrony
    # No password logins for root at all (keys only).
    passwd -l root >/dev/null
    if ((sshd_changed)); then
      sshd -t || die "the SSH configuration does not validate; not reloading"
      systemctl reload ssh 2>/dev/null || systemctl reload sshd
    fi
    systemctl enable --now unattended-upgrades.service >/dev/null 2>&1 || true
    if systemctl list-unit-files systemd-timesyncd.service >/dev/null 2>&1; then
      systemctl enable --now systemd-timesyncd.service >/dev/null 2>&1 || true
      timedatectl set-ntp true 2>/dev/null || true
    else
      systemctl enable --now chrony.service >/dev/null 2>&1 || true
    fi
    local unit
    for unit in rpcbind.socket rpcbind.service exim4.service avahi-daemon.service cups.service; do
      systemctl disable --now "$unit" >/dev/null 2>&1 || true
    done
    local extra
    extra="$(ss -H -ltnu | unexpected_listeners "${CFG[DB_ROLE]:-proxy}" "${CFG[DB_PORT]:-0}")"
    [[ -z "$extra" ]] || die "harden: unexpected listeners for role ${CFG[DB_ROLE]:-proxy}: $(tr '\n' ';' <<<"$extra")"
  else
    log "(services disabled) skipped: packages, passwd -l root, sshd reload, timesyncd, listener audit"
  fi
  log "harden: SSH keys only, security upgrades without reboots, time sync on"
}
