# shellcheck shell=bash
# dbtier toolkit: install (engine at the pinned version), init (self-managed server: private address, TLS
# required with the stack CA's certificate, accounts, memory; removed webservers lose their sessions),
# harden (SSH, unattended security upgrades, time sync, listeners; database VM and proxy alike).
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
      # mariadb-backup: physical base backups for point-in-time recovery (dbtier-db basebackup). MySQL would
      # need Percona XtraBackup from Percona's own repository, which is not set up here.
      [[ "$role" == database ]] && printf 'mariadb-server\nmariadb-backup\n'
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

TOOL_PACKAGES_FILE="$(dirname "${BASH_SOURCE[0]}")/tool-packages.txt"

# The toolkit's own packages (tool-packages.txt, also read for the hosts' user-data), one per line.
tool_packages() {
  local list
  list="$(grep -Ev '^[[:space:]]*(#|$)' "$TOOL_PACKAGES_FILE" 2>/dev/null)" ||
    die "install: no package list in $TOOL_PACKAGES_FILE (the toolkit is incomplete)"
  printf '%s\n' "$list"
}

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
  local role="${CFG[DB_ROLE]}" source="${CFG[DB_PACKAGE_SOURCE]}" packages tools
  packages="$(engine_packages "${CFG[DB_ENGINE]}" "${CFG[DB_ENGINE_VERSION]}" "$role" "$source")"
  if [[ "$source" == vendor ]]; then
    FILE_CHANGED=0
    # The key download needs curl and gpg first.
    if services_enabled && ! command -v gpg >/dev/null 2>&1; then apt_get update && apt_get install --no-install-recommends ca-certificates curl gnupg; fi
    setup_vendor_repo
  fi
  apt_get update
  tools="$(tool_packages)"
  # shellcheck disable=SC2086 # word splitting of the package lists is intended
  apt_get install --no-install-recommends $tools $packages
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
# Where the host-files step delivers the server certificate the stack's CA issued (components/hostFiles.ts
# SERVER_CERT_FILE); its key arrives as the secret file tls-server-key.
TLS_DELIVERED_CERT=/etc/dbtier/server-cert.pem
TLS_KEY_SECRET=tls-server-key

# Prints the address-type SAN check of openssl for ADDRESS (an IP or a DNS name) against CERT: "match" or not.
cert_names_address() {
  local cert="$1" address="$2" out
  if [[ "$address" =~ ^[0-9.]+$ || "$address" == *:* ]]; then
    out="$(openssl x509 -in "$cert" -noout -checkip "$address" 2>/dev/null)"
  else
    out="$(openssl x509 -in "$cert" -noout -checkhost "$address" 2>/dev/null)"
  fi
  [[ "$out" == *" does match certificate"* ]]
}

# Installs the delivered server certificate and its key for the server (group GROUP may read the key),
# after checking what clients will check: it chains to DB_CA_FILE (the stack's CA), it is for a server, it
# names every address the toolkit or a webserver uses (DB_HOST, a specific DB_LISTEN_ADDRESS), it has not
# expired, and the key is its key. Sets TLS_CHANGED=1 when the installed files changed.
TLS_CHANGED=0
install_server_tls() {
  local group="$1" tls_dir="${DBTIER_TLS_DIR:-$TLS_DIR_DEFAULT}" cert ca address
  cert="$(root_path "$TLS_DELIVERED_CERT")"
  require_keys DB_CA_FILE DB_HOST
  ca="${CFG[DB_CA_FILE]}"
  [[ -s "$cert" ]] || die "init: no server certificate at $TLS_DELIVERED_CERT (the host-files step delivers the one the stack's CA issued)"
  [[ -r "$ca" ]] || die_usage "DB_CA_FILE=$ca is not readable (the stack's CA certificate, delivered with the host files)"
  has_secret "$TLS_KEY_SECRET" || die "init: no server key: secret file $(secret_path "$TLS_KEY_SECRET") is missing (the secrets step delivers it)"
  openssl verify -CAfile "$ca" -purpose sslserver "$cert" >"$RUN_DIR/tls-verify.out" 2>&1 ||
    die "init: $TLS_DELIVERED_CERT is not a server certificate of the CA in $ca: $(tail -n 2 "$RUN_DIR/tls-verify.out" | tr '\n' ' ')"
  openssl x509 -in "$cert" -noout -checkend 0 >/dev/null || die "init: $TLS_DELIVERED_CERT has expired; run pulumi up to have the stack's CA issue a new one"
  for address in "${CFG[DB_HOST]}" "${CFG[DB_LISTEN_ADDRESS]:-}"; do
    case "$address" in "" | 0.0.0.0 | :: | "*") continue ;; esac
    cert_names_address "$cert" "$address" ||
      die "init: $TLS_DELIVERED_CERT does not name $address, which clients connect to (it names: $(openssl x509 -in "$cert" -noout -ext subjectAltName 2>/dev/null | sed -n 2p | sed 's/^ *//'))"
  done
  local cert_pub key_pub
  cert_pub="$(openssl x509 -in "$cert" -noout -pubkey)"
  key_pub="$({ read_secret "$TLS_KEY_SECRET"; printf '\n'; } | openssl pkey -pubout 2>/dev/null)" || die "init: secret file $TLS_KEY_SECRET holds no private key"
  [[ "$cert_pub" == "$key_pub" ]] || die "init: secret file $TLS_KEY_SECRET is not the key of $TLS_DELIVERED_CERT"
  if openssl x509 -in "$cert" -noout -checkend $((30 * 86400)) >/dev/null; then :; else
    warn "the server certificate expires within 30 days ($(openssl x509 -in "$cert" -noout -enddate | cut -d= -f2)); pulumi up re-issues it"
  fi
  local saved="$FILE_CHANGED"
  FILE_CHANGED=0
  install -d -m 0750 "$(root_path "$tls_dir")"
  write_file "$tls_dir/server.crt" 0644 <"$cert"
  # Not a pipeline: write_file must run in this shell so its FILE_CHANGED counts.
  write_file "$tls_dir/server.key" 0640 < <(read_secret "$TLS_KEY_SECRET"; printf '\n')
  if getent group "$group" >/dev/null 2>&1; then chgrp "$group" "$(root_path "$tls_dir")" "$(root_path "$tls_dir/server.key")"; fi
  TLS_CHANGED="$FILE_CHANGED"
  FILE_CHANGED="$saved"
  log "init: server certificate for $(openssl x509 -in "$cert" -noout -ext subjectAltName 2>/dev/null | sed -n 2p | sed 's/^ *//') from the stack's CA in place"
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

# Point-in-time recovery (MariaDB/MySQL): row binlogs, durable at commit, kept locally well beyond the 30 s
# shipping cadence (archive-binlogs) so a datastore outage of up to 3 days loses nothing. server_id names the
# archive prefix (<APP_NAME>/binlog/<server_id>/; one server per stack, so 1). MySQL 8 would also want
# gtid_mode=ON/enforce_gtid_consistency=ON for GTID positions; not set here (it refuses some statements).
mysql_binlog_config() {
  local dir server_id=1
  if [[ "${CFG[DB_ENGINE]}" == mariadb ]]; then dir=/etc/mysql/mariadb.conf.d; else dir=/etc/mysql/mysql.conf.d; fi
  write_file "$dir/61-dbtier-binlog.cnf" 0644 <<EOF
# dbtier: binary logs for point-in-time recovery (rendered by 'dbtier-db init'; changes are overwritten).
[mysqld]
server_id = $server_id
log_bin = mysql-bin
binlog_format = ROW
sync_binlog = 1
innodb_flush_log_at_trx_commit = 1
binlog_expire_logs_seconds = 259200
# With binlogs on, the server refuses functions and triggers from users without SUPER (the app user, and the
# loader that connects as it) unless trusted; row binlogs replay row images, not the function calls.
log_bin_trust_function_creators = 1
EOF
}

# listen_addresses for DB_LISTEN_ADDRESS. PostgreSQL opens '::' as an IPv6-only socket (it sets IPV6_V6ONLY;
# reproduced: with '::' alone IPv4 clients, the toolkit's own connection among them, are refused), so "all
# addresses" names both families: '0.0.0.0' for IPv4, '::' only when IPv6 is in use (DB_LISTEN_ADDRESS=::).
postgres_listen_addresses() {
  case "$1" in
    ::) printf '0.0.0.0,::' ;;
    *) printf '%s' "$1" ;;
  esac
}

postgres_conf_dir() { printf '/etc/postgresql/%s/main' "${CFG[DB_ENGINE_VERSION]}"; }

# conf.d settings need a restart (listen_addresses, port, shared_buffers, max_connections take effect only
# at server start); pg_hba.conf and the certificate files only a reload (postgres_hba_config).
postgres_server_config() {
  local buffer="$1" conns="$2" tls_dir="${DBTIER_TLS_DIR:-$TLS_DIR_DEFAULT}" conf
  conf="$(postgres_conf_dir)"
  local mem
  mem="$(mem_total_mb)"
  # shared_buffers is a quarter of RAM (PostgreSQL relies on the OS cache for the rest).
  write_file "$conf/conf.d/60-dbtier.conf" 0644 <<EOF
# dbtier: rendered by 'dbtier-db init'; changes are overwritten.
listen_addresses = '$(postgres_listen_addresses "${CFG[DB_LISTEN_ADDRESS]}")'
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
}

# Point-in-time recovery (PostgreSQL): every WAL file goes to the datastore through the toolkit
# (archive_command), encrypted and signed. The server calls it through sudo so the datastore keys and the
# signing key stay root's (the rule admits archive-wal and fetch-wal only; archive-wal takes files of the
# server's pg_wal only, fetch-wal writes inside its data directory only). archive_timeout closes a segment
# at most 50 s after its first write; with the archiving itself (scripts/bench/WHY.md) everything committed
# more than 60 s ago is in the archive. wal_level and archive_mode take a restart.
PG_ARCHIVE_TIMEOUT=50
postgres_archive_config() {
  local conf tool
  conf="$(postgres_conf_dir)"
  tool="$(readlink -f "$DBTIER_LIB/../dbtier-db")"
  write_file "$conf/conf.d/61-dbtier-pitr.conf" 0644 <<EOF
# dbtier: continuous WAL archiving for point-in-time recovery (rendered by 'dbtier-db init'; changes are overwritten).
wal_level = replica
archive_mode = on
archive_command = 'sudo -n $tool archive-wal "%p" "%f"'
archive_timeout = $PG_ARCHIVE_TIMEOUT
EOF
}

postgres_archive_sudoers() {
  local tool file=/etc/sudoers.d/dbtier-pitr
  tool="$(readlink -f "$DBTIER_LIB/../dbtier-db")"
  write_file "$file" 0440 <<EOF
# dbtier: the PostgreSQL server archives and fetches WAL through the toolkit (rendered by 'dbtier-db init').
postgres ALL=(root) NOPASSWD: $tool archive-wal *, $tool fetch-wal *
EOF
  if command -v visudo >/dev/null 2>&1 && ! visudo -c -q -f "$(root_path "$file")" >/dev/null; then
    rm -f "$(root_path "$file")"
    die "init: $file does not parse (visudo); removed"
  fi
}

postgres_hba_config() {
  local conf
  conf="$(postgres_conf_dir)"
  # Not a pipeline: write_file must run in this shell so its FILE_CHANGED reaches the reload decision.
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
# the admin only from this host; nothing else (pg_hba rejects what no row matches). The toolkit's loads run
# as the app user (a dump's SQL gets the app's rights, never the admin's), so the app user may also connect
# from this host, to its database and the toolkit's side databases only.
postgres_hba() {
  local cidr dbs
  dbs="${CFG[DB_NAME]},$(side_name verify),$(side_name restore),$(side_name load)"
  printf '# dbtier: rendered by dbtier-db init; changes are overwritten.\n'
  printf '# TYPE  DATABASE  USER  ADDRESS  METHOD\n'
  printf 'local   all       postgres            peer\n'
  # pg_basebackup (dbtier-db basebackup) as the local superuser: "all" does not match replication
  printf 'local   replication  postgres         peer\n'
  printf 'local   all       %s            scram-sha-256\n' "${CFG[DB_ADMIN_USER]}"
  printf 'local   %s  %s            scram-sha-256\n' "$dbs" "${CFG[DB_USER]}"
  local address
  while IFS= read -r address; do
    printf 'hostssl all       %s  %s  scram-sha-256\n' "${CFG[DB_ADMIN_USER]}" "$(pg_hba_cidr "$address")"
    printf 'hostssl %s  %s  %s  scram-sha-256\n' "$dbs" "${CFG[DB_USER]}" "$(pg_hba_cidr "$address")"
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
  mysql_end_stale_sessions
}

# True when ADDRESS (IPv4 or IPv6, no port) is inside one of the CIDRs given after it (single addresses
# allowed). IPv4 by prefix; IPv6 by equal address (MariaDB/MySQL accounts name single IPv6 addresses only).
address_in_sources() {
  local address="$1" cidr ip len
  shift
  address="${address#::ffff:}"
  for cidr in "$@"; do
    ip="${cidr%/*}"
    if [[ "$address" == *:* || "$ip" == *:* ]]; then
      [[ "${address,,}" == "${ip,,}" ]] && return 0
      continue
    fi
    len=32
    [[ "$cidr" == */* ]] && len="${cidr##*/}"
    (((($(ipv4_int "$address") ^ $(ipv4_int "$ip")) >> (32 - len)) == 0)) && return 0
  done
  return 1
}

ipv4_int() {
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  printf '%s' $(((a << 24) | (b << 16) | (c << 8) | d))
}

# A removed webserver keeps an open session after its account is gone (the server checks accounts at login
# only, and the host firewall lets established connections on): end every application-user session whose
# client is no longer among DB_WEBSERVER_SOURCES. Local (socket) sessions are left alone.
mysql_end_stale_sessions() {
  local id client address kill="" n=0 sources
  read -r -a sources <<<"${CFG[DB_WEBSERVER_SOURCES]}"
  while IFS=$'\t' read -r id client; do
    [[ -n "$id" ]] || continue
    # HOST is "address:port" (IPv6 maybe bracketed); "localhost" for a socket.
    [[ "$client" == *:* ]] || continue
    address="${client%:*}"
    address="${address#[}"
    address="${address%]}"
    if ! address_in_sources "$address" "${sources[@]}"; then
      kill+="KILL CONNECTION $id;"$'\n'
      n=$((n + 1))
    fi
  done < <(local_mysql <<<"SELECT ID, HOST FROM information_schema.PROCESSLIST WHERE USER = $(sql_string "${CFG[DB_USER]}");")
  if ((n > 0)); then
    # A session may end by itself between the listing and the kill ("Unknown thread id"): not an error.
    local_mysql --force <<<"$kill" 2>/dev/null || true
    log "init: ended $n session(s) of ${CFG[DB_USER]} from sources no longer listed"
  fi
}

# The same for PostgreSQL: pg_hba.conf is read at connection start, so a reload does not end a removed
# webserver's open session; terminate the application user's backends from addresses outside the sources.
postgres_end_stale_sessions() {
  local inets="" cidr ended
  for cidr in ${CFG[DB_WEBSERVER_SOURCES]}; do inets+="${inets:+, }$(pg_string "$(pg_hba_cidr "$cidr")")::inet"; done
  ended="$(local_psql -d postgres <<<"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
    WHERE usename = $(pg_string "${CFG[DB_USER]}") AND client_addr IS NOT NULL AND NOT (client_addr <<= ANY (ARRAY[$inets]::inet[]));")" ||
    die "ending the sessions of removed webservers failed"
  if [[ "$ended" != 0 ]]; then log "init: ended $ended session(s) of ${CFG[DB_USER]} from sources no longer listed"; fi
}

# New certificate files without a restart: MariaDB's FLUSH SSL (10.4+), MySQL's ALTER INSTANCE RELOAD TLS (8.0.16+).
mysql_reload_tls() {
  local statement="ALTER INSTANCE RELOAD TLS;"
  [[ "${CFG[DB_ENGINE]}" == mariadb ]] && statement="FLUSH SSL;"
  local_mysql <<<"$statement" 2>"$RUN_DIR/tls-reload.err" || die "reloading the server certificate failed: $(tail -n 2 "$RUN_DIR/tls-reload.err" | tr '\n' ' ')"
  log "init: server certificate reloaded"
}

postgres_reload() {
  local_psql -d postgres <<<"SELECT pg_reload_conf();" >/dev/null || die "reloading the PostgreSQL configuration failed"
  log "init: PostgreSQL configuration reloaded (pg_hba.conf, certificate)"
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
  # A restart only for settings read at server start; grants, pg_hba.conf and certificates take a reload, so
  # a webserver change does not drop every session.
  FILE_CHANGED=0
  if [[ "$DB_FAMILY" == mysql ]]; then
    install_server_tls mysql
    mysql_server_config "$buffer" "$conns"
    mysql_binlog_config
    if ((FILE_CHANGED)); then
      service restart "${CFG[DB_ENGINE]}"
    elif ((TLS_CHANGED)); then
      mysql_reload_tls
    fi
    init_mysql
  else
    install_server_tls postgres
    postgres_server_config "$buffer" "$conns"
    postgres_archive_config
    local restart="$FILE_CHANGED"
    FILE_CHANGED=0
    postgres_hba_config
    if ((restart)); then
      service restart "postgresql@${CFG[DB_ENGINE_VERSION]}-main"
    elif ((FILE_CHANGED || TLS_CHANGED)); then
      postgres_reload
    fi
    init_postgres
    postgres_archive_sudoers
    postgres_end_stale_sessions
  fi
  log "init: ${CFG[DB_ENGINE]} listens on ${CFG[DB_LISTEN_ADDRESS]} only, TLS required (certificate from the stack's CA), $DB_FAMILY accounts in place"
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

# The listeners now open, against what the role needs (database VM: SSH and the database port; proxy: SSH
# only, although it holds the DBaaS admin password and the datastore keys). Fails naming the extra ones.
audit_listeners() {
  local role="$1" port="$2" extra
  extra="$(ss -H -ltnu | unexpected_listeners "$role" "$port")"
  [[ -z "$extra" ]] || die "harden: unexpected listeners for role $role: $(tr '\n' ';' <<<"$extra")"
  log "harden: listeners are what role $role needs"
}

# The secret files (the proxy's DBaaS admin password and datastore keys, a database VM's passwords and TLS
# key) readable by root only: the directory 0700, every file 0600 and owned by root.
audit_secret_files() {
  local dir bad=()
  dir="$(secrets_dir)"
  [[ -d "$dir" ]] || return 0
  [[ "$(stat -c '%a' "$dir")" == 700 ]] || bad+=("$dir (mode $(stat -c '%a' "$dir"), expected 700)")
  local file
  while IFS= read -r -d '' file; do
    bad+=("$file (mode $(stat -c '%a' "$file"), owner $(stat -c '%U' "$file"))")
  done < <(find "$dir" -mindepth 1 \( -perm /077 -o ! -type f -o ! -uid "$(id -u)" \) -print0)
  ((${#bad[@]} == 0)) || die "harden: secret files others could read: ${bad[*]}"
}

# The proxy holds only the engine's client from the vendor's repository (no server a package upgrade would
# restart), so its fixes are taken unattended too, matched by the repository's host (unattended-upgrades'
# "site=" pattern). A database VM's server upgrades wait for a maintenance window.
unattended_vendor_pattern() {
  [[ "${CFG[DB_ROLE]}" == proxy && "${CFG[DB_PACKAGE_SOURCE]}" == vendor && -n "${CFG[DB_ENGINE]:-}" ]] || return 0
  local uri
  uri="$(vendor_repo "${CFG[DB_ENGINE]}" "${CFG[DB_ENGINE_VERSION]:-}" any | sed -n 's/^uri=https:\/\///p')"
  printf ' "site=%s";' "${uri%%/*}"
}

cmd_harden() {
  (($# == 0)) || die_usage "usage: dbtier-db harden"
  # The role decides what may listen: a missing DB_ROLE must not audit a database VM as a proxy.
  require_keys DB_ROLE
  need_root harden
  audit_secret_files
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
  write_file /etc/apt/apt.conf.d/52dbtier-unattended-upgrades 0644 <<EOF
// dbtier: security updates only, and never an automatic reboot.
Unattended-Upgrade::Origins-Pattern { "origin=Debian,codename=\${distro_codename}-security,label=Debian-Security";$(unattended_vendor_pattern) };
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
    audit_listeners "${CFG[DB_ROLE]}" "${CFG[DB_PORT]:-0}"
  else
    log "(services disabled) skipped: packages, passwd -l root, sshd reload, timesyncd, listener audit"
  fi
  log "harden (${CFG[DB_ROLE]}): SSH keys only, security upgrades without reboots, time sync on, secret files root-only"
}
