# shellcheck shell=bash
# `npm run lab -- --selftest`: proves the harness itself, independent of the program's output: a ruleset
# written here (not rendered) must turn an open port into a dropped one, sshd must present the key it was
# given and refuse a client that pins another, servers must start in the namespaces.

st_net() {
  lab_net_create
  lab_host_add db 192.0.2.10
  lab_host_add web1 203.0.113.11
  lab_host_add outsider 203.0.113.66
  lab_host_add admin 198.51.100.10
  local h
  for h in db web1 outsider admin; do lab_install_shim "$h"; done
}

st_sshd() {
  local keys="$LAB_ROOT/$LAB_ENGINE/keys"
  mkdir -p "$keys"
  ssh-keygen -q -t ed25519 -N '' -C lab-admin -f "$keys/admin"
  ssh-keygen -q -t ed25519 -N '' -C db-host -f "$keys/db-host"
  ssh-keygen -q -t ed25519 -N '' -C impostor -f "$keys/impostor"
  lab_put db /etc/ssh/ssh_host_ed25519_key 0600 <"$keys/db-host"
  lab_put db /root/.ssh/authorized_keys 0600 <"$keys/admin.pub"
  lab_sshd_declare db HostKey=/etc/ssh/ssh_host_ed25519_key PermitRootLogin=prohibit-password
  lab_in db systemctl start ssh
  lab_put admin /root/.ssh/id_ed25519 0600 <"$keys/admin"
  printf '192.0.2.10 %s\n' "$(cut -d' ' -f1,2 "$keys/db-host.pub")" | lab_put admin /root/.ssh/known_hosts 0644
  printf '192.0.2.10 %s\n' "$(cut -d' ' -f1,2 "$keys/impostor.pub")" | lab_put admin /root/.ssh/known_hosts.wrong 0644
}

st_mariadb() {
  lab_mariadb_fresh db
  printf '[mysqld]\nbind-address = 192.0.2.10\n' | lab_put db /etc/mysql/mariadb.conf.d/60-lab.cnf 0644
  lab_in db systemctl start mariadb
  lab_in db mariadb -e 'SELECT VERSION()'
}

st_postgres() {
  lab_postgres_fresh db
  printf "listen_addresses = '192.0.2.10'\n" | lab_put db /etc/postgresql/15/main/conf.d/60-lab.conf 0644
  lab_in db systemctl start postgresql
  lab_in db setpriv --reuid=postgres --regid=postgres --init-groups psql -h /run/postgresql -Atc 'SELECT version()'
}

st_open_before_firewall() {
  lab_expect_tcp web1 192.0.2.10 3306 open
  lab_expect_tcp outsider 192.0.2.10 3306 open
  lab_expect_tcp outsider 192.0.2.10 5432 open
  lab_expect_tcp outsider 192.0.2.10 22 open
  lab_expect_tcp outsider 192.0.2.10 4444 refused
}

st_firewall() {
  lab_put db /etc/nftables.conf 0644 <<'EOF'
flush ruleset
table inet lab {
  chain input {
    type filter hook input priority 0; policy drop;
    iif lo accept
    ct state established,related accept
    ip saddr 203.0.113.11 tcp dport { 3306, 5432 } accept
    ip saddr 198.51.100.0/28 tcp dport 22 accept
  }
}
EOF
  lab_in db systemctl start nftables
  lab_in db nft list ruleset | grep -q 'policy drop'
}

st_dropped_after_firewall() {
  lab_expect_tcp web1 192.0.2.10 3306 open
  lab_expect_tcp web1 192.0.2.10 5432 open
  lab_expect_tcp outsider 192.0.2.10 3306 dropped
  lab_expect_tcp outsider 192.0.2.10 5432 dropped
  lab_expect_tcp outsider 192.0.2.10 22 dropped
  lab_expect_tcp web1 192.0.2.10 22 dropped
  lab_expect_tcp admin 192.0.2.10 22 open
}

st_ssh_pinned() {
  lab_in admin ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=5 root@192.0.2.10 hostname | grep -qx db
}

st_ssh_wrong_key_refused() {
  local out rc=0
  out="$(lab_in admin ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=5 \
    -o UserKnownHostsFile=/root/.ssh/known_hosts.wrong root@192.0.2.10 hostname 2>&1)" || rc=$?
  echo "$out"
  ((rc != 0)) && grep -q 'REMOTE HOST IDENTIFICATION HAS CHANGED\|Host key verification failed' <<<"$out"
}

st_host_files_private() {
  # What one host writes under /etc must not show up on another host nor on the machine itself.
  echo marker | lab_put db /etc/dbtier-lab-marker 0644
  lab_in db test -e /etc/dbtier-lab-marker
  if lab_in web1 test -e /etc/dbtier-lab-marker; then die "web1 sees db's /etc"; fi
  if test -e /etc/dbtier-lab-marker; then die "the machine sees db's /etc"; fi
}

lab_selftest() {
  lab_setup "network: switch + 4 hosts" st_net
  lab_setup "sshd on db with a given host key" st_sshd
  lab_setup "mariadb on db" st_mariadb
  lab_setup "postgresql on db" st_postgres
  lab_check "host files stay on their host" st_host_files_private
  lab_check "ports open before the firewall" st_open_before_firewall
  lab_setup "nftables ruleset on db" st_firewall
  lab_check "after the firewall: outsider dropped, web1 and admin in" st_dropped_after_firewall
  lab_check "ssh from admin with the pinned host key" st_ssh_pinned
  lab_check "ssh with a wrong pinned host key is refused" st_ssh_wrong_key_refused
}
