# shellcheck shell=bash
# Daemons on lab hosts. Each host gets the lab's systemctl stand-in (host/systemctl); a daemon is declared
# to it as /run/lab-services/<unit>.sh (exec the daemon in the foreground) plus an optional .ready probe,
# then started with `systemctl start <unit>` on the host, exactly as a unit would be. Those PIDs live inside
# the host's namespaces, which teardown sweeps.

LAB_PG_BIN=/usr/lib/postgresql/15/bin
LAB_NODE_BIN="$(command -v node || true)"

lab_install_shim() {
  local host="$1"
  lab_put "$host" /usr/local/sbin/systemctl 0755 <"$LAB_DIR/host/systemctl"
}

# lab_daemon HOST UNIT START_SCRIPT [READY_SCRIPT]
lab_daemon() {
  local host="$1" unit="$2" start="$3" ready="${4:-}"
  printf '#!/usr/bin/env bash\nset -euo pipefail\n%s\n' "$start" | lab_put "$host" "/run/lab-services/$unit.sh" 0755
  if [[ -n "$ready" ]]; then
    printf '#!/usr/bin/env bash\nset -euo pipefail\n%s\n' "$ready" | lab_put "$host" "/run/lab-services/$unit.ready" 0755
  fi
}

# ---- sshd --------------------------------------------------------------------------------------------------

# lab_sshd_declare HOST [EXTRA sshd -o options...]   sshd reads the host's /etc/ssh (user-data writes it).
lab_sshd_declare() {
  local host="$1" ip opts="" o
  shift
  ip="$(lab_host_ip "$host")"
  for o in "$@"; do opts+=" -o $(printf '%q' "$o")"; done
  lab_daemon "$host" ssh \
    "mkdir -p /run/sshd && chmod 0755 /run/sshd
exec /usr/sbin/sshd -D -e -o ListenAddress=$ip -o PidFile=/run/sshd.pid$opts" \
    "exec 3<>/dev/tcp/$ip/22"
}

# ---- MariaDB -----------------------------------------------------------------------------------------------

# A fresh data dir, as the Debian package leaves it after install: root@localhost by unix socket.
lab_mariadb_fresh() {
  local host="$1"
  lab_sh "$host" '
    rm -rf /var/lib/mysql
    install -d -o mysql -g mysql -m 0755 /var/lib/mysql
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --auth-root-authentication-method=socket \
      --skip-test-db >/var/log/lab-mariadb-install.log 2>&1 || { cat /var/log/lab-mariadb-install.log; exit 1; }'
  lab_daemon "$host" mariadb \
    "exec /usr/sbin/mariadbd --user=mysql" \
    "mariadb-admin --protocol=socket --socket=/run/mysqld/mysqld.sock ping"
}

# ---- PostgreSQL 15 -----------------------------------------------------------------------------------------

# A fresh cluster 15/main, as the Debian package leaves it (config in /etc/postgresql/15/main).
lab_postgres_fresh() {
  local host="$1" port="${2:-5432}"
  lab_sh "$host" '
    rm -rf /var/lib/postgresql/15/main
    install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/15/main
    setpriv --reuid=postgres --regid=postgres --init-groups '"$LAB_PG_BIN"'/initdb -D /var/lib/postgresql/15/main \
      --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/var/log/lab-initdb.log 2>&1 \
      || { cat /var/log/lab-initdb.log; exit 1; }
    # initdb writes its own config files into the data dir; Debian keeps them in /etc/postgresql.
    rm -f /var/lib/postgresql/15/main/postgresql.conf /var/lib/postgresql/15/main/pg_hba.conf /var/lib/postgresql/15/main/pg_ident.conf'
  lab_daemon "$host" postgresql \
    "exec setpriv --reuid=postgres --regid=postgres --init-groups $LAB_PG_BIN/postgres -D /var/lib/postgresql/15/main -c config_file=/etc/postgresql/15/main/postgresql.conf" \
    "$LAB_PG_BIN/pg_isready -q -h /run/postgresql -p $port"
}

# ---- S3 datastore ------------------------------------------------------------------------------------------

# lab_s3_start HOST PORT BUCKET [CERT KEY]
lab_s3_start() {
  local host="$1" port="$2" bucket="$3" cert="${4:-}" key="${5:-}" ip tls=""
  ip="$(lab_host_ip "$host")"
  [[ -n "$LAB_NODE_BIN" ]] || die "node not found"
  if [[ -n "$cert" ]]; then tls="--cert $cert --key $key"; fi
  lab_daemon "$host" s3rver \
    "mkdir -p /srv/s3
exec $LAB_NODE_BIN $LAB_REPO/node_modules/s3rver/bin/s3rver.js -d /srv/s3 -a $ip -p $port --no-vhost-buckets $tls --configure-bucket $bucket" \
    "exec 3<>/dev/tcp/$ip/$port"
  lab_in "$host" systemctl start s3rver
}
