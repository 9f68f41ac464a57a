# shellcheck shell=bash
# The lab's stand-ins for what lives outside dbtier: a CA and TLS certificates, the S3 datastore, the git
# server holding the baseline dump, and the DBaaS ("managed": TLS required, admin without superuser rights,
# primary keys required where the engine can enforce it). Keys and certs are made per run under
# $LAB_WORK/pki and $LAB_WORK/keys (LAB_WORK = $LAB_ROOT/<engine>).

# ---- PKI ---------------------------------------------------------------------------------------------------

lab_ca_init() {
  local pki="$LAB_WORK/pki"
  mkdir -p "$pki"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=dbtier lab CA $LAB_PREFIX" -keyout "$pki/ca.key" -out "$pki/ca.pem" 2>/dev/null
}

# lab_cert NAME SAN...   SAN entries like IP:192.0.2.20 or DNS:db.example.test; writes NAME.key, NAME.pem
lab_cert() {
  local name="$1" pki="$LAB_WORK/pki" san
  shift
  san="$(
    IFS=,
    echo "$*"
  )"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$name" \
    -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san") -out "$pki/$name.pem" 2>/dev/null
}

# lab_trust_ca HOST   add the lab CA to a host's system trust store (its own /etc and /usr/local overlay).
# Same result as update-ca-certificates (bundle + hashed link), without its second-long rehash per host.
lab_trust_ca() {
  local host="$1"
  lab_put "$host" /usr/local/share/ca-certificates/dbtier-lab-ca.crt 0644 <"$LAB_WORK/pki/ca.pem"
  lab_sh "$host" '
    ca=/usr/local/share/ca-certificates/dbtier-lab-ca.crt
    ln -sfn "$ca" /etc/ssl/certs/dbtier-lab-ca.pem
    ln -sfn dbtier-lab-ca.pem "/etc/ssl/certs/$(openssl x509 -hash -noout -in "$ca").0"
    cat "$ca" >>/etc/ssl/certs/ca-certificates.crt'
}

# lab_hosts_entry HOST IP NAME...   map names onto lab addresses in HOST's /etc/hosts
lab_hosts_entry() {
  local host="$1" ip="$2"
  shift 2
  lab_assert_testnet "$ip"
  printf '%s\t%s\n' "$ip" "$*" | lab_in "$host" tee -a /etc/hosts >/dev/null
}

# lab_keypair NAME COMMENT   ed25519 key pair in $LAB_WORK/keys (NAME, NAME.pub)
lab_keypair() {
  mkdir -p "$LAB_WORK/keys"
  ssh-keygen -q -t ed25519 -N '' -C "$2" -f "$LAB_WORK/keys/$1"
}

# ---- datastore ---------------------------------------------------------------------------------------------

LAB_S3_PORT=443
LAB_S3_BUCKET=dbtier-lab-backups
LAB_S3_ACCESS_KEY=S3RVER
LAB_S3_SECRET_KEY=S3RVER

# s3rver accepts its fixed S3RVER/S3RVER credentials; it runs with TLS from the lab CA so the hosts'
# clients check the certificate as they would against a real endpoint.
lab_datastore_up() {
  local ip
  ip="$(lab_host_ip datastore)"
  lab_cert datastore "IP:$ip" DNS:datastore.lab.test
  lab_put datastore /etc/lab-s3/tls.key 0600 <"$LAB_WORK/pki/datastore.key"
  lab_put datastore /etc/lab-s3/tls.pem 0644 <"$LAB_WORK/pki/datastore.pem"
  lab_s3_start datastore "$LAB_S3_PORT" "$LAB_S3_BUCKET" /etc/lab-s3/tls.pem /etc/lab-s3/tls.key
}

lab_datastore_endpoint() {
  printf 'https://datastore.lab.test:%s\n' "$LAB_S3_PORT"
}

# ---- git server with the baseline ----------------------------------------------------------------------------

# The baseline dump: a small shop schema with primary keys (a DBaaS may require them), generated rows.
# lab_baseline_sql ENGINE CUSTOMERS ORDERS
lab_baseline_sql() {
  local engine="$1" customers="$2" orders="$3"
  echo "-- dbtier lab baseline for $engine: $customers customers, $orders orders"
  case "$engine" in
  mariadb)
    echo "CREATE TABLE customers (id INT NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(200) NOT NULL UNIQUE) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;"
    echo "CREATE TABLE orders (id INT NOT NULL PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(10,2) NOT NULL, note VARCHAR(200) NULL, CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers(id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;"
    ;;
  postgres)
    echo "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(200) NOT NULL UNIQUE);"
    echo "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), total NUMERIC(10,2) NOT NULL, note VARCHAR(200));"
    ;;
  esac
  # Values carry what dumps get wrong: quotes, non-ASCII, an embedded newline, NULLs.
  awk -v n="$customers" -v q="'" 'BEGIN {
    for (i = 1; i <= n; i += 500) {
      printf "INSERT INTO customers (id, name, email) VALUES\n"
      for (j = i; j < i + 500 && j <= n; j++)
        printf "(%d, %sCustomer %d O%s%sBrien \303\251t\303\251%s, %sc%d@shop.example%s)%s\n", j, q, j, q, q, q, q, j, q, (j + 1 < i + 500 && j + 1 <= n) ? "," : ";"
    }
  }'
  awk -v n="$orders" -v c="$customers" -v q="'" 'BEGIN {
    for (i = 1; i <= n; i += 500) {
      printf "INSERT INTO orders (id, customer_id, total, note) VALUES\n"
      for (j = i; j < i + 500 && j <= n; j++) {
        note = (j % 10 == 0) ? "NULL" : sprintf("%sorder %d\nsecond line%s", q, j, q)
        printf "(%d, %d, %d.%02d, %s)%s\n", j, (j * 7) % c + 1, j % 997, j % 100, note, (j + 1 < i + 500 && j + 1 <= n) ? "," : ";"
      }
    }
  }'
}

# The baseline as a team keeps it: the generated schema and rows loaded into a scratch server (on the git
# host, which plays the developer's machine here) and dumped with the engine's own dump tool.
lab_baseline_dump() {
  local engine="$1" sql="$LAB_WORK/baseline-source.sql"
  lab_baseline_sql "$engine" "${LAB_BASELINE_CUSTOMERS:-3000}" "${LAB_BASELINE_ORDERS:-6000}" >"$sql"
  case "$engine" in
  mariadb)
    lab_mariadb_fresh git >&2
    lab_in git systemctl start mariadb >&2
    lab_in git mariadb --protocol=socket -e 'CREATE DATABASE shop' >&2
    lab_in git mariadb --protocol=socket shop <"$sql" >&2
    lab_in git mariadb-dump --protocol=socket --single-transaction --skip-dump-date shop
    lab_in git systemctl stop mariadb >&2
    ;;
  postgres)
    lab_postgres_fresh git >&2
    lab_in git systemctl start postgresql >&2
    lab_in git setpriv --reuid=postgres --regid=postgres --init-groups createdb -h /run/postgresql shop >&2
    lab_in git setpriv --reuid=postgres --regid=postgres --init-groups psql -X -q -v ON_ERROR_STOP=1 -h /run/postgresql shop <"$sql" >&2
    lab_in git setpriv --reuid=postgres --regid=postgres --init-groups pg_dump -h /run/postgresql --no-owner --no-privileges shop
    lab_in git systemctl stop postgresql >&2
    ;;
  esac
}

# A git server host: sshd with a lab host key, a `git` user whose shell is git-shell, and one bare repo
# holding the baseline dump at the path the config names. The deploy key is the only key it accepts.
# lab_git_up ENGINE BASELINE_PATH
lab_git_up() {
  local engine="$1" path="$2" ip work
  ip="$(lab_host_ip git)"
  [[ -s "$LAB_WORK/keys/git-host" ]] || lab_git_keys
  lab_put git /etc/ssh/ssh_host_ed25519_key 0600 <"$LAB_WORK/keys/git-host"
  lab_in git useradd --system --home-dir /srv/git --create-home --shell /usr/bin/git-shell git
  lab_put git /srv/git/.ssh/authorized_keys 0600 git:git <"$LAB_WORK/keys/deploy.pub"
  lab_sh git 'chown git:git /srv/git/.ssh && chmod 0700 /srv/git/.ssh'
  lab_sshd_declare git HostKey=/etc/ssh/ssh_host_ed25519_key PasswordAuthentication=no AllowUsers=git
  lab_in git systemctl start ssh

  work="$LAB_WORK/baseline-repo"
  mkdir -p "$work/$(dirname "$path")"
  lab_baseline_dump "$engine" >"$work/$path"
  git -C "$work" init -q -b main
  git -C "$work" -c user.name=lab -c user.email=lab@lab.test add -A
  git -C "$work" -c user.name=lab -c user.email=lab@lab.test commit -q -m "baseline"
  git clone -q --bare "$work" "$LAB_WORK/app-db.git"
  tar -C "$LAB_WORK" -cf - app-db.git | lab_in git tar -C /srv/git -xf -
  lab_sh git 'chown -R git:git /srv/git/app-db.git'
}

# The git server's host key and the deploy key it accepts; the known_hosts line goes into the config.
lab_git_keys() {
  lab_keypair git-host "git.lab.test host key"
  lab_keypair deploy "dbtier lab baseline deploy key"
  printf '%s %s\n' "$(lab_host_ip_static git)" "$(cut -d' ' -f1,2 "$LAB_WORK/keys/git-host.pub")" >"$LAB_WORK/keys/git-known-hosts"
}

lab_git_url() {
  printf 'git@%s:app-db.git\n' "$(lab_host_ip_static git)"
}

# ---- the DBaaS stand-in ----------------------------------------------------------------------------------------

# lab_managed_up ENGINE PORT DNS_NAME...   the server on the port and with a TLS cert for the names the plan
# gives the DBaaS.
lab_managed_up() {
  local engine="$1" port="$2" ip san=() n
  shift 2
  ip="$(lab_host_ip managed)"
  printf '%s\n' "$port" >"$LAB_WORK/managed.port"
  san=("IP:$ip")
  for n in "$@"; do san+=("DNS:$n"); done
  lab_cert managed "${san[@]}"
  case "$engine" in
  mariadb)
    lab_mariadb_fresh managed
    lab_put managed /etc/mysql/lab-tls/server.key 0600 mysql:mysql <"$LAB_WORK/pki/managed.key"
    lab_put managed /etc/mysql/lab-tls/server.pem 0644 <"$LAB_WORK/pki/managed.pem"
    lab_put managed /etc/mysql/lab-tls/ca.pem 0644 <"$LAB_WORK/pki/ca.pem"
    lab_put managed /etc/mysql/mariadb.conf.d/90-dbaas.cnf 0644 <<EOC
# The DBaaS stand-in: reachable on its own address, TLS required, tables must have a primary key.
[mysqld]
bind-address = $ip
port = $port
require_secure_transport = ON
ssl_cert = /etc/mysql/lab-tls/server.pem
ssl_key = /etc/mysql/lab-tls/server.key
ssl_ca = /etc/mysql/lab-tls/ca.pem
innodb_force_primary_key = ON
EOC
    lab_in managed systemctl start mariadb
    ;;
  postgres)
    lab_postgres_fresh managed "$port"
    lab_put managed /etc/postgresql/15/main/lab-tls/server.key 0600 postgres:postgres <"$LAB_WORK/pki/managed.key"
    lab_put managed /etc/postgresql/15/main/lab-tls/server.pem 0644 <"$LAB_WORK/pki/managed.pem"
    lab_put managed /etc/postgresql/15/main/conf.d/90-dbaas.conf 0644 <<EOC
# The DBaaS stand-in: reachable on its own address, TLS only (pg_hba has hostssl lines only).
listen_addresses = '$ip'
port = $port
ssl = on
ssl_cert_file = '/etc/postgresql/15/main/lab-tls/server.pem'
ssl_key_file = '/etc/postgresql/15/main/lab-tls/server.key'
password_encryption = 'scram-sha-256'
EOC
    lab_put managed /etc/postgresql/15/main/pg_hba.conf 0640 postgres:postgres <<'EOC'
local   all   postgres                 peer
hostssl all   all        0.0.0.0/0     scram-sha-256
EOC
    lab_in managed systemctl start postgresql
    ;;
  esac
}

# lab_managed_admin ENGINE USER < password   the provider's admin account: everything an app needs, no superuser.
# MariaDB gets the privileges AWS RDS gives its master user (no SUPER, FILE, SHUTDOWN); PostgreSQL gets
# CREATEDB CREATEROLE like DigitalOcean's doadmin, and is not a superuser.
lab_managed_admin() {
  local engine="$1" user="$2" password
  password="$(cat)"
  case "$engine" in
  mariadb)
    lab_in managed mariadb --protocol=socket <<EOS
CREATE USER '$user'@'%' IDENTIFIED BY '${password//\'/\'\'}';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD, PROCESS, REFERENCES, INDEX, ALTER, SHOW DATABASES,
  CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, REPLICATION SLAVE, BINLOG MONITOR, CREATE VIEW, SHOW VIEW,
  CREATE ROUTINE, ALTER ROUTINE, CREATE USER, EVENT, TRIGGER, DELETE HISTORY, SLAVE MONITOR
  ON *.* TO '$user'@'%' WITH GRANT OPTION;
EOS
    ;;
  postgres)
    lab_in managed setpriv --reuid=postgres --regid=postgres --init-groups psql -v ON_ERROR_STOP=1 -h /run/postgresql -p "$(cat "$LAB_WORK/managed.port")" -q <<EOS
CREATE ROLE "$user" LOGIN CREATEDB CREATEROLE NOSUPERUSER PASSWORD '${password//\'/\'\'}';
EOS
    ;;
  esac
}

# lab_managed_provision ENGINE ADMIN FACTS_JSON   what the provider resources create besides the admin:
# databases (owned by the admin, as the provider makes them) and users (with the app password, which the
# program reads back from the provider and delivers to the hosts).
lab_managed_provision() {
  local engine="$1" admin="$2" facts="$3" db user password
  password="$(cat "$LAB_WORK/secrets/app-password")"
  while IFS= read -r db; do
    case "$engine" in
    mariadb) lab_in managed mariadb --protocol=socket -e "CREATE DATABASE \`$db\`" ;;
    postgres)
      lab_in managed setpriv --reuid=postgres --regid=postgres --init-groups psql -v ON_ERROR_STOP=1 -h /run/postgresql -p "$(cat "$LAB_WORK/managed.port")" -q \
        -c "CREATE DATABASE \"$db\" OWNER \"$admin\""
      ;;
    esac
    echo "provider created database $db"
  done < <(jq -r '.databases[]' "$facts")
  while IFS= read -r user; do
    case "$engine" in
    mariadb) lab_in managed mariadb --protocol=socket <<<"CREATE USER '$user'@'%' IDENTIFIED BY '$password';" ;;
    postgres)
      lab_in managed setpriv --reuid=postgres --regid=postgres --init-groups psql -v ON_ERROR_STOP=1 -h /run/postgresql -p "$(cat "$LAB_WORK/managed.port")" -q \
        <<<"CREATE ROLE \"$user\" LOGIN PASSWORD '$password';"
      ;;
    esac
    echo "provider created user $user"
  done < <(jq -r '.users[]' "$facts")
}
