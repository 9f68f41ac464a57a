# shellcheck shell=bash
# The lab run for one engine family: plan dev and prod with the lab config, stand the hosts up, apply what
# the program rendered (user-data, host firewall, remote commands over SSH with the pinned host key), then
# check packets, data, backups, promotion and a config change.
#
# Lab addresses (all TEST-NET; the plan's own addresses are mapped onto these, see lab_map_json):
#   db 192.0.2.10   managed 192.0.2.20   proxy 192.0.2.30   datastore 192.0.2.40   git 192.0.2.50
#   web1 203.0.113.11   web2 203.0.113.12   web3 203.0.113.13 (not a webserver until the config change)
#   outsider 203.0.113.66 (never trusted, same /24 as the webservers)   admin 198.51.100.10 (in 198.51.100.0/28)

LAB_ADMIN_CIDR=198.51.100.0/28
LAB_ENGINE_HOSTS=(db:192.0.2.10 managed:192.0.2.20 proxy:192.0.2.30 datastore:192.0.2.40 git:192.0.2.50
  web1:203.0.113.11 web2:203.0.113.12 web3:203.0.113.13 outsider:203.0.113.66 admin:198.51.100.10)
LAB_PLAN_LOCK="$LAB_REPO/out/plan/.lab.lock"

lab_ts() {
  (cd "$LAB_REPO" && node_modules/.bin/ts-node --transpile-only "$@")
}

# Files of the current engine's run.
lab_plan_dir() { printf '%s/plan/%s\n' "$LAB_WORK" "$1"; }

# ---- plans ----------------------------------------------------------------------------------------------------

# lab_write_config NAME STACK [WEBSERVERS_JSON] [APPDB_JSON]
lab_write_config() {
  local name="$1" stack="$2" webservers="${3:-}" appdb="${4:-}"
  [[ -n "$webservers" ]] || webservers='[{"name":"web1","ip":"203.0.113.11"},{"name":"web2","ip":"203.0.113.12"}]'
  [[ -n "$appdb" ]] || appdb="$(jq -cn --arg repo "$(lab_git_url)" --arg app "shop-$stack" --rawfile kh "$LAB_WORK/keys/git-known-hosts" \
    '{source: "baseline", baselineRepo: $repo, baselinePath: "dbtier/baseline.sql", baselineKnownHosts: ($kh | rtrimstr("\n")), application: $app}')"
  jq -n --arg stack "$stack" --arg engine "$LAB_ENGINE" --argjson web "$webservers" --argjson appdb "$appdb" \
    --arg admin "$LAB_ADMIN_CIDR" --arg key "$(cat "$LAB_WORK/keys/admin.pub")" \
    --arg repo "$(lab_git_url)" --arg endpoint "https://$(lab_host_ip_static datastore)" \
    --arg bucket "$LAB_S3_BUCKET" --arg age "$(cat "$LAB_WORK/keys/age.pub")" \
    '{stack: $stack, engine: $engine, webservers: $web, adminCidr: $admin, adminSshPublicKey: $key,
      baselineRepo: $repo, datastoreEndpoint: $endpoint, bucket: $bucket, ageRecipient: $age, appDb: $appdb}' \
    >"$LAB_WORK/configs/$name.json"
  lab_ts scripts/lab/config.ts <"$LAB_WORK/configs/$name.json" >"$LAB_WORK/configs/$name.yaml"
}

# lab_plan NAME STACK   npm run plan of STACK with configs/NAME.yaml, copied to plan/NAME, plus the
# connections and provider facts (plan-tool extract). The plan runs under a unique stack name so it never
# overwrites a user's out/plan/dev or out/plan/prod; the lock keeps two lab runs from mixing outputs.
lab_plan() {
  local name="$1" stack="$2" plan_stack dir
  plan_stack="lab-$stack"
  dir="$(lab_plan_dir "$name")"
  mkdir -p "$LAB_REPO/out/plan" "$dir"
  (
    flock -w 120 9 || die "another lab run holds $LAB_PLAN_LOCK"
    (cd "$LAB_REPO" && npm run -s plan -- "$plan_stack" --config-file "$LAB_WORK/configs/$name.yaml") >"$dir/plan.txt"
    cp -a "$LAB_REPO/out/plan/$plan_stack/." "$dir/"
    rm -rf "${LAB_REPO:?}/out/plan/$plan_stack"
  ) 9>"$LAB_PLAN_LOCK"
  lab_ts scripts/lab/plan-tool.ts extract "$plan_stack" "$LAB_WORK/configs/$name.yaml" "$dir/extract"
  echo "planned $name: $(jq -r '[.[] | "\(.name) (\(.role), \(.commands | length) commands)"] | join(", ")' "$dir/hosts.json")"
}

lab_host_ip_static() {
  local entry
  for entry in "${LAB_ENGINE_HOSTS[@]}"; do
    if [[ "${entry%%:*}" == "$1" ]]; then
      printf '%s\n' "${entry#*:}"
      return 0
    fi
  done
  die "no lab host $1"
}

step_plan() {
  mkdir -p "$LAB_WORK/keys" "$LAB_WORK/configs"
  lab_keypair admin "lab admin"
  age-keygen -o "$LAB_WORK/keys/age.key" 2>/dev/null
  age-keygen -y "$LAB_WORK/keys/age.key" >"$LAB_WORK/keys/age.pub"
  lab_git_keys
  lab_write_config dev dev
  lab_write_config prod prod
  local dev prod
  lab_plan dev dev >"$LAB_WORK/configs/plan-dev.log" 2>&1 &
  dev=$!
  lab_plan prod prod >"$LAB_WORK/configs/plan-prod.log" 2>&1 &
  prod=$!
  wait "$dev" || { cat "$LAB_WORK/configs/plan-dev.log"; die "plan of dev failed"; }
  wait "$prod" || { cat "$LAB_WORK/configs/plan-prod.log"; die "plan of prod failed"; }
  cat "$LAB_WORK/configs/plan-dev.log" "$LAB_WORK/configs/plan-prod.log"
}

# ---- hosts ----------------------------------------------------------------------------------------------------

step_network() {
  local entry name
  lab_net_create
  lab_ca_init
  for entry in "${LAB_ENGINE_HOSTS[@]}"; do
    name="${entry%%:*}"
    lab_host_add "$name" "${entry#*:}"
    lab_install_shim "$name"
    lab_trust_ca "$name"
  done
  lab_put admin /root/.ssh/id_ed25519 0600 <"$LAB_WORK/keys/admin"
}

step_datastore() {
  lab_datastore_up
}

step_git() {
  lab_git_up "$LAB_ENGINE" dbtier/baseline.sql
}

# The map from a plan's addresses to lab hosts: every planned VM's public and private address becomes the
# lab host that plays it; the DBaaS host names resolve to `managed` through /etc/hosts.
# lab_map_json PLAN_NAME LAB_HOST   -> JSON for plan-tool host-files
lab_map_json() {
  local dir ip ca="" cert=""
  dir="$(lab_plan_dir "$1")"
  ip="$(lab_host_ip_static "$2")"
  if [[ -s "$dir/extract/managed.json" ]] && jq -e '.caCertificate' "$dir/extract/managed.json" >/dev/null; then
    ca="$(cat "$LAB_WORK/pki/ca.pem")"
  fi
  # A self-managed server: the stack CA's certificate and the server certificate it issued (lab_stack_tls).
  if lab_plan_requests_tls "$1"; then
    ca="$(cat "$(lab_stack_tls_dir "$1")/ca.pem")"
    cert="$(cat "$(lab_stack_tls_dir "$1")/server.pem")"
  fi
  jq -n --arg ip "$ip" --arg ca "$ca" --arg cert "$cert" --slurpfile hosts "$dir/hosts.json" '
    {replace: [$hosts[0][] | (.publicIp, .privateIp) | select(. != $ip) | [., $ip]] | unique,
     env: {DB_PACKAGE_SOURCE: "distro"},
     files: ((if $ca == "" then {} else {"etc/dbtier/ca.pem": $ca} end)
       + (if $cert == "" then {} else {"etc/dbtier/server-cert.pem": $cert} end))}'
}

# ---- the stack's CA -------------------------------------------------------------------------------------------

# Does the plan request a server certificate from the stack's CA (self-managed)?
lab_plan_requests_tls() {
  local file
  file="$(lab_plan_dir "$1")/extract/tls.json"
  [[ -s "$file" ]] && jq -e 'length > 0' "$file" >/dev/null
}

# One stack CA per stack (dev and its re-rendered "change" plan share it), one server certificate per plan.
lab_stack_tls_dir() {
  local stack
  stack="$(jq -r .stack "$LAB_WORK/configs/$1.json")"
  printf '%s/stack-tls/%s/%s\n' "$LAB_WORK" "$stack" "$1"
}

# lab_stack_tls PLAN   what @pulumi/tls makes in a real `pulumi up` (the plan mocks make no real keys): the
# stack's own CA (not the lab's PKI CA, which signed the datastore and the DBaaS stand-in) and a server
# certificate for exactly the names the plan's certificate request lists, each planned VM address mapped to
# the lab host that plays it. Writes ca.pem, server.pem, server.key in lab_stack_tls_dir.
lab_stack_tls() {
  local plan="$1" dir out ca_dir name sans=() mapped
  dir="$(lab_plan_dir "$plan")"
  out="$(lab_stack_tls_dir "$plan")"
  ca_dir="$(dirname "$out")"
  mkdir -p "$out"
  if [[ ! -s "$ca_dir/ca.pem" ]]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
      -subj "/O=dbtier/CN=dbtier $(basename "$ca_dir") CA" -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" -keyout "$ca_dir/ca.key" -out "$ca_dir/ca.pem" 2>/dev/null
  fi
  cp "$ca_dir/ca.pem" "$out/ca.pem"
  while IFS= read -r name; do
    mapped="$(jq -r --arg n "$name" '.[] | select(.publicIp == $n or .privateIp == $n) | .name' "$dir/hosts.json")"
    [[ -n "$mapped" ]] && name="$(lab_host_ip_static db)"
    sans+=("IP:$name")
  done < <(jq -r '.[].ipAddresses[]' "$dir/extract/tls.json")
  # The planned private and public address both become the lab's db: name it once.
  mapfile -t sans < <(printf '%s\n' "${sans[@]}" | awk '!seen[$0]++')
  while IFS= read -r name; do sans+=("DNS:$name"); done < <(jq -r '.[].dnsNames[]' "$dir/extract/tls.json")
  ((${#sans[@]} > 0)) || die "the plan requests a server certificate without names"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/O=dbtier/CN=${sans[0]#*:}" \
    -keyout "$out/server.key" -out "$out/server.csr" 2>/dev/null
  openssl x509 -req -in "$out/server.csr" -CA "$ca_dir/ca.pem" -CAkey "$ca_dir/ca.key" -CAcreateserial -days 2 \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' "$(IFS=,; printf '%s' "${sans[*]}")") \
    -out "$out/server.pem" 2>/dev/null
  echo "stack CA issued the $plan server certificate for $(IFS=,; printf '%s' "${sans[*]}")"
}

# lab_boot HOST PLAN_NAME   boot a lab host from the plan's user-data (the VM's first boot).
lab_boot() {
  local host="$1" dir userdata vm
  dir="$(lab_plan_dir "$2")"
  vm="$(jq -r '.[0].name' "$dir/hosts.json")"
  userdata="$(jq -r '.[0].userData' "$dir/hosts.json")"
  lab_sshd_declare "$host"
  if [[ "$host" == db ]]; then
    # The lab machine's image has the engine's Debian packages installed: a fresh data dir as the package
    # leaves it, and its service known to the lab's systemctl (not started: the remote commands do that).
    case "$LAB_ENGINE" in
    mariadb) lab_mariadb_fresh db ;;
    postgres) lab_postgres_fresh db ;;
    esac
  fi
  # The lab image is this machine, up to date with itself: apt lists that name no newer versions than the
  # installed ones, and no mirror reachable. apt-get install of an installed package is then a no-op offline;
  # a package the image lacks fails with its name (add it to .ci/apt-packages.txt).
  lab_sh "$host" 'find /var/lib/apt/lists -mindepth 1 -maxdepth 1 -type f -delete'
  lab_put "$host" /var/lib/cloud/instance/user-data.txt 0600 <"$dir/$userdata"
  lab_in "$host" env TS_NODE_PROJECT="$LAB_REPO/tsconfig.json" node -r "$LAB_REPO/node_modules/ts-node/register/transpile-only" "$LAB_DIR/userdata.ts" /var/lib/cloud/instance/user-data.txt
  echo "booted $host as $vm"
}

# known_hosts on admin for a plan's VM, at its lab address, with the host key the plan pinned.
lab_pin_host_key() {
  local host="$1" dir ip
  dir="$(lab_plan_dir "$2")"
  ip="$(lab_host_ip_static "$host")"
  printf '%s %s\n' "$ip" "$(jq -r '.[0].hostPublicKey' "$dir/hosts.json")" | lab_put admin "/root/.lab-known/$host" 0644
  lab_put admin "/root/.lab-keys/$host.deployer" 0600 <"$(jq -r '.[0].keyFile' "$dir/extract/connections.json")"
}

# lab_remote HOST PLAN_NAME COMMAND_NAME   run one remote command as Pulumi would: its exact text as the
# SSH command, as its connection user with the deployer key, the host key pinned, its stdin on stdin.
lab_remote() {
  local host="$1" plan="$2" name="$3" dir ip user key script stdin
  dir="$(lab_plan_dir "$plan")"
  ip="$(lab_host_ip_static "$host")"
  user="$(jq -r --arg n "$name" '.[] | select(.command == $n) | .user' "$dir/extract/connections.json")"
  key="$(jq -r --arg n "$name" '.[] | select(.command == $n) | .keyFile' "$dir/extract/connections.json")"
  [[ -n "$user" && -s "$key" ]] || die "no connection for $name in the plan"
  lab_put admin "/root/.lab-keys/$host.deployer" 0600 <"$key"
  script="$(jq -r --arg n "$name" '.[].commands[] | select(.name == $n) | .script' "$dir/hosts.json")"
  stdin="$(jq -r --arg n "$name" '.[].commands[] | select(.name == $n) | .stdin' "$dir/hosts.json")"
  local input=/dev/null
  case "$stdin" in
  none) ;;
  secret) input="$LAB_WORK/secrets/$plan.stdin" ;;
  *)
    lab_map_json "$plan" "$host" >"$LAB_WORK/configs/$plan-$host.map.json"
    lab_ts scripts/lab/plan-tool.ts host-files "$dir/$stdin" "$LAB_WORK/configs/$plan-$host.map.json" >"$LAB_WORK/configs/$name.stdin"
    input="$LAB_WORK/configs/$name.stdin"
    ;;
  esac
  echo "ssh $user@$ip ($host), host key pinned to $(jq -r '.[0].hostPublicKey' "$dir/hosts.json" | cut -c1-40)..., script $script, stdin $stdin"
  lab_in admin timeout 900 ssh -i "/root/.lab-keys/$host.deployer" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="/root/.lab-known/$host" -o ConnectTimeout=10 \
    "$user@$ip" "$(cat "$dir/$script")" <"$input"
}

# The lab's test secrets, delivered as the secret step's stdin (the plan shows them as [secret]).
lab_make_secrets() {
  local plan="$1"
  mkdir -p "$LAB_WORK/secrets"
  [[ -s "$LAB_WORK/secrets/admin-password" ]] || openssl rand -hex 16 >"$LAB_WORK/secrets/admin-password"
  [[ -s "$LAB_WORK/secrets/app-password" ]] || openssl rand -hex 16 >"$LAB_WORK/secrets/app-password"
  # A self-managed server's certificate key travels with the secrets (tlsServerKey), its certificate with the
  # host files (lab_map_json).
  local tls_key=/dev/null
  if lab_plan_requests_tls "$plan"; then
    [[ -s "$(lab_stack_tls_dir "$plan")/server.key" ]] || lab_stack_tls "$plan"
    tls_key="$(lab_stack_tls_dir "$plan")/server.key"
  fi
  # HostSecretValues as the components build them: the config's baselineKnownHosts travels with the secrets.
  jq -n --rawfile tlskey "$tls_key" --rawfile admin "$LAB_WORK/secrets/admin-password" --rawfile app "$LAB_WORK/secrets/app-password" \
    --arg ak "$LAB_S3_ACCESS_KEY" --arg sk "$LAB_S3_SECRET_KEY" --rawfile deploy "$LAB_WORK/keys/deploy" \
    --slurpfile config "$LAB_WORK/configs/$plan.json" \
    --arg seed "$(jq -r '[.[] | select(.type == "random:index/randomBytes:RandomBytes" and (.name | endswith("-backup-signing-seed"))) | .name][0] // ""' "$(lab_plan_dir "$plan")/resources.json")" \
    '{adminPassword: ($admin | rtrimstr("\n")), appPassword: ($app | rtrimstr("\n")),
      secrets: {datastoreAccessKeyId: $ak, datastoreSecretAccessKey: $sk, baselineDeployKey: $deploy}}
     + (if $config[0].appDb.baselineKnownHosts then {baselineKnownHosts: $config[0].appDb.baselineKnownHosts} else {} end)
     + (if $tlskey == "" then {} else {tlsServerKey: $tlskey} end)
     + (if $seed == "" then {} else {backupSigningSeed: $seed} end)' \
    >"$LAB_WORK/secrets/$plan.json"
  lab_ts scripts/lab/plan-tool.ts secrets "$LAB_WORK/secrets/$plan.json" >"$LAB_WORK/secrets/$plan.stdin"
}

# One step per remote command of the plan's VM, in the plan's order. A failed command does not skip the
# checks after it (each then says what it finds), but the sections that build on this VM's state
# (promotion, config change) depend on "commands:HOST" and are skipped.
lab_remote_steps() {
  local host="$1" plan="$2" dir name failed_before="$LAB_FAILED"
  dir="$(lab_plan_dir "$plan")"
  while IFS= read -r name; do
    lab_check "$host: remote command $name" lab_remote "$host" "$plan" "$name"
  done < <(jq -r '.[0].commands[].name' "$dir/hosts.json" 2>/dev/null)
  if ((LAB_FAILED > failed_before)) || [[ -n "$LAB_ABORTED" ]]; then
    LAB_SECTION_ABORT["commands:$host"]="${LAB_ABORTED:-a remote command on $host failed}"
  fi
}

# ---- the DBaaS stand-in -----------------------------------------------------------------------------------------

step_managed() {
  local facts port ip names admin cidr lab_cidr plan_map rules=""
  facts="$(lab_plan_dir prod)/extract/managed.json"
  port="$(jq -r .port "$facts")"
  admin="$(jq -r .adminUser "$facts")"
  ip="$(lab_host_ip_static managed)"
  mapfile -t names < <(jq -r '.hostnames[]' "$facts")
  lab_managed_up "$LAB_ENGINE" "$port" "${names[@]}"
  lab_managed_admin "$LAB_ENGINE" "$admin" <"$LAB_WORK/secrets/admin-password"
  lab_managed_provision "$LAB_ENGINE" "$admin" "$facts"
  # The provider's firewall, from the plan's rules, planned VM addresses mapped to their lab hosts.
  plan_map="$(lab_map_json prod proxy)"
  while IFS= read -r cidr; do
    lab_cidr="$(jq -r --arg c "${cidr%/*}" '.replace[] | select(.[0] == $c) | .[1]' <<<"$plan_map")"
    [[ -n "$lab_cidr" ]] && cidr="$lab_cidr/32"
    rules+="    ip saddr $cidr tcp dport $port accept"$'\n'
  done < <(jq -r '.allow[].cidr' "$facts" | sort -u)
  lab_put managed /etc/nftables.conf 0644 <<EOF
#!/usr/sbin/nft -f
# The DBaaS firewall (lab stand-in for the provider's allow-list, from the plan's rules).
table inet provider
delete table inet provider
table inet provider {
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iif "lo" accept
$rules  }
}
EOF
  lab_in managed nft -f /etc/nftables.conf
  lab_in managed nft list table inet provider
  for h in proxy web1 web2 web3 outsider admin; do
    lab_hosts_entry "$h" "$ip" "${names[@]}"
  done
}

# What a DBaaS refuses that a self-managed server would allow: plaintext, tables without a primary key (where
# the engine enforces it), superuser actions by the admin.
step_managed_faithful() {
  local ip port admin out rc
  ip="$(lab_host_ip_static managed)"
  port="$(jq -r .port "$(lab_plan_dir prod)/extract/managed.json")"
  admin="$(jq -r .adminUser "$(lab_plan_dir prod)/extract/managed.json")"
  case "$LAB_ENGINE" in
  mariadb)
    lab_put proxy /root/.lab-clients/plain.cnf 0600 < <(printf '[client]\nhost=%s\nport=%s\nuser=%s\npassword=%s\nskip-ssl\n' "$ip" "$port" "$admin" "$(cat "$LAB_WORK/secrets/admin-password")")
    rc=0
    out="$(lab_in proxy mariadb --defaults-extra-file=/root/.lab-clients/plain.cnf -e 'SELECT 1' 2>&1)" || rc=$?
    echo "plaintext: $out"
    ((rc != 0)) || die "managed accepted a plaintext connection"
    lab_client proxy admin mariadb "$ip" "$port" "$admin" mysql "/etc/ssl/certs/ca-certificates.crt" <"$LAB_WORK/secrets/admin-password"
    lab_query proxy admin "CREATE DATABASE IF NOT EXISTS lab_probe"
    rc=0
    out="$(lab_query proxy admin "CREATE TABLE lab_probe.nopk (a INT)" 2>&1)" || rc=$?
    echo "table without primary key: $out"
    ((rc != 0)) || die "managed accepted a table without a primary key"
    rc=0
    out="$(lab_query proxy admin "SET GLOBAL max_connections = 99" 2>&1)" || rc=$?
    echo "superuser action: $out"
    ((rc != 0)) || die "managed admin could SET GLOBAL (superuser)"
    lab_query proxy admin "DROP DATABASE lab_probe"
    ;;
  postgres)
    printf '%s:%s:*:%s:%s\n' "$ip" "$port" "$admin" "$(cat "$LAB_WORK/secrets/admin-password")" | lab_put proxy /root/.lab-clients/plain.pgpass 0600
    rc=0
    out="$(lab_in proxy env PGPASSFILE=/root/.lab-clients/plain.pgpass psql "host=$ip port=$port dbname=postgres user=$admin sslmode=disable connect_timeout=5" -c 'SELECT 1' 2>&1)" || rc=$?
    echo "plaintext: $out"
    ((rc != 0)) || die "managed accepted a plaintext connection"
    lab_client proxy admin postgres "$ip" "$port" "$admin" postgres "/etc/ssl/certs/ca-certificates.crt" <"$LAB_WORK/secrets/admin-password"
    out="$(lab_query proxy admin "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")"
    echo "admin rolsuper: $out"
    [[ "$out" == f ]] || die "managed admin is a superuser"
    rc=0
    out="$(lab_query proxy admin "ALTER SYSTEM SET max_connections = 99" 2>&1)" || rc=$?
    echo "superuser action: $out"
    ((rc != 0)) || die "managed admin could ALTER SYSTEM (superuser)"
    echo "primary keys: PostgreSQL cannot enforce them server-side; not checked"
    ;;
  esac
}

# ---- checks ------------------------------------------------------------------------------------------------------

# Where webservers connect, per stack: dev = the VM's private address (mapped), prod = the DBaaS host.
lab_web_client() {
  local web="$1" target="$2" address port ca=""
  case "$target" in
  dev)
    # The address the `host` output names, mapped to the lab's db; verified with the stack's CA (verify-full).
    address="$(lab_host_ip_static db)"
    port="$(jq -r .port "$(lab_plan_dir dev)/outputs.json")"
    lab_put "$web" /root/.lab-clients/dev-ca.pem 0644 <"$(lab_stack_tls_dir dev)/ca.pem"
    ca=/root/.lab-clients/dev-ca.pem
    ;;
  prod)
    address="$(jq -r .host "$(lab_plan_dir prod)/outputs.json")"
    port="$(jq -r .port "$(lab_plan_dir prod)/outputs.json")"
    if jq -e '.caCertificate' "$(lab_plan_dir prod)/outputs.json" >/dev/null; then
      ca=/etc/ssl/certs/ca-certificates.crt
    fi
    ;;
  esac
  lab_client "$web" "$target" "$LAB_ENGINE" "$address" "$port" "$(jq -r .user "$(lab_plan_dir "$target")/outputs.json")" \
    "$(jq -r .database "$(lab_plan_dir "$target")/outputs.json")" "$ca" <"$LAB_WORK/secrets/app-password"
}

# check_web_reads WEB TARGET   the webserver reads the app data over TLS; equal to the baseline.
check_web_reads() {
  local web="$1" target="$2" cipher digest
  lab_web_client "$web" "$target"
  cipher="$(lab_session_cipher "$web" "$target")"
  [[ -n "$cipher" ]] || die "$web -> $target: session is not encrypted"
  digest="$(lab_app_digest "$web" "$target")"
  echo "$web -> $target: TLS $cipher; $digest"
  lab_app_spot_check "$web" "$target"
  lab_expect_digest "$digest"
}

# A refused TLS client must be refused on the certificate, not on the network or the password.
lab_expect_tls_refused() {
  local web="$1" target="$2" why="$3" out rc=0
  out="$(lab_query "$web" "$target" "SELECT 1" 2>&1)" || rc=$?
  echo "$why: $out"
  ((rc != 0)) || die "$web connected to db although $why"
  grep -qiE 'certificate|ssl|tls' <<<"$out" || die "$web was refused, but not on the certificate ($why): $out"
  ! grep -qiE 'access denied|password authentication failed|timed out|timeout expired' <<<"$out" || die "$web was refused on something else than the certificate ($why): $out"
}

# check_tls_authenticated WEB   the self-managed server is authenticated, not only encrypted: the webserver
# verifies the chain and the name (verify-full / ssl-verify-server-cert) with the stack's CA (the
# caCertificate output) and connects; trusting only the system store (public CAs and the lab's own CA),
# or reaching the same server by a name its certificate does not carry, is refused.
check_tls_authenticated() {
  local web="$1" ip port user db
  ip="$(lab_host_ip_static db)"
  port="$(jq -r .port "$(lab_plan_dir dev)/outputs.json")"
  user="$(jq -r .user "$(lab_plan_dir dev)/outputs.json")"
  db="$(jq -r .database "$(lab_plan_dir dev)/outputs.json")"
  lab_web_client "$web" dev
  [[ "$(lab_query "$web" dev "SELECT 1")" == 1 ]] || die "$web cannot connect with full verification"
  echo "$web -> db $ip: chain and name verified with the stack's CA"
  openssl x509 -in "$(lab_stack_tls_dir dev)/server.pem" -noout -subject -issuer -ext subjectAltName
  lab_client "$web" dev-wrong-ca "$LAB_ENGINE" "$ip" "$port" "$user" "$db" /etc/ssl/certs/ca-certificates.crt <"$LAB_WORK/secrets/app-password"
  lab_expect_tls_refused "$web" dev-wrong-ca "the CA is not the stack's"
  lab_hosts_entry "$web" "$ip" db-wrong-name.lab
  lab_client "$web" dev-wrong-name "$LAB_ENGINE" db-wrong-name.lab "$port" "$user" "$db" /root/.lab-clients/dev-ca.pem <"$LAB_WORK/secrets/app-password"
  lab_expect_tls_refused "$web" dev-wrong-name "the name is not in the certificate"
}

# The first digest seen is the baseline's; it must show the generated row counts. Later ones must equal it.
lab_expect_digest() {
  local digest="$1" want
  if [[ ! -s "$LAB_WORK/baseline.digest" ]]; then
    [[ "$(cut -f1 <<<"$digest")" == "${LAB_BASELINE_CUSTOMERS:-3000}" && "$(cut -f3 <<<"$digest")" == "${LAB_BASELINE_ORDERS:-6000}" ]] ||
      die "row counts $(cut -f1,3 <<<"$digest") differ from the baseline's"
    printf '%s\n' "$digest" >"$LAB_WORK/baseline.digest"
  fi
  want="$(cat "$LAB_WORK/baseline.digest")"
  [[ "$digest" == "$want" ]] || die "data differs: got '$digest', baseline '$want'"
}

# Outsider (same /24 as the webservers) and admin (an SSH source, not a database client) get no answer on
# the database port, outsider none on SSH either; web1 on the same port is the control that the server is up.
check_outsider_dropped() {
  local target="$1" ip port
  case "$target" in
  db) ip="$(lab_host_ip_static db)" port="$(jq -r .port "$(lab_plan_dir dev)/outputs.json")" ;;
  managed) ip="$(lab_host_ip_static managed)" port="$(jq -r .port "$(lab_plan_dir prod)/extract/managed.json")" ;;
  esac
  lab_expect_tcp_all "web1 $ip $port open" "outsider $ip $port dropped" "admin $ip $port dropped" "outsider $ip 22 dropped"
}

check_ssh_only_admin() {
  local host="$1" ip
  ip="$(lab_host_ip_static "$host")"
  lab_expect_tcp_all "web1 $ip 22 dropped" "outsider $ip 22 dropped" "datastore $ip 22 dropped"
  lab_in admin ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="/root/.lab-known/$host" \
    -o ConnectTimeout=5 "dbtier-admin@$ip" 'id -un; sudo -n true && echo sudo-ok'
}

check_wrong_host_key() {
  local host="$1" ip out rc=0
  ip="$(lab_host_ip_static "$host")"
  lab_keypair "impostor-$host" "not the pinned key"
  printf '%s %s\n' "$ip" "$(cut -d' ' -f1,2 "$LAB_WORK/keys/impostor-$host.pub")" | lab_put admin "/root/.lab-known/$host.wrong" 0644
  out="$(lab_in admin ssh -i "/root/.lab-keys/$host.deployer" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes \
    -o UserKnownHostsFile="/root/.lab-known/$host.wrong" -o ConnectTimeout=5 "dbtier-deploy@$ip" true 2>&1)" || rc=$?
  echo "$out"
  ((rc != 0)) || die "ssh to $host succeeded although the pinned host key was wrong"
  grep -q 'REMOTE HOST IDENTIFICATION HAS CHANGED\|Host key verification failed' <<<"$out" || die "ssh failed, but not on the host key"
}

check_firewall_loaded() {
  local host="$1" out
  out="$(lab_in "$host" nft list table inet dbtier)"
  echo "$out"
  grep -q 'policy drop' <<<"$out" || die "table inet dbtier has no drop policy"
  lab_in "$host" systemctl is-active dbtier-firewall.service
}

# The timer's service, started as systemd would start it when the timer fires.
# lab_fire_timer HOST PERIOD
lab_fire_timer() {
  local host="$1" period="$2" calendar
  lab_in "$host" systemctl is-active "dbtier-backup-$period.timer"
  calendar="$(lab_in "$host" sed -n 's/^OnCalendar=//p' "/etc/systemd/system/dbtier-backup-$period.timer")"
  systemd-analyze calendar "$calendar" | sed -n '1,3p'
  lab_in "$host" systemctl start "dbtier-backup-$period.service"
}

# lab_admin_tool HOST ARGS...   dbtier-db as an operator runs it: SSH as the admin user, sudo. For verify
# and restore the age identity is delivered for the run and removed after, as the host contract says.
lab_admin_tool() {
  local host="$1" ip args
  shift
  ip="$(lab_host_ip_static "$host")"
  args="$(printf ' %q' "$@")"
  lab_in admin ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="/root/.lab-known/$host" \
    -o ConnectTimeout=5 "dbtier-admin@$ip" \
    "set -euo pipefail; id=/etc/dbtier/secrets/age-identity; sudo -n install -m 0600 /dev/stdin \"\$id\"; trap 'sudo -n rm -f \"\$id\"' EXIT; sudo -n env DBTIER_AGE_IDENTITY_FILE=\"\$id\" /usr/local/bin/dbtier-db$args" \
    <"$LAB_WORK/keys/age.key"
}

# The timer's command must leave one more complete backup of the period in the datastore.
check_backup() {
  local host="$1" period="$2" before after
  before="$(lab_admin_tool "$host" list "$period" | grep -c $'\tcomplete$' || true)"
  lab_fire_timer "$host" "$period"
  lab_admin_tool "$host" list "$period" | tee "$LAB_WORK/list-$host-$period.txt"
  after="$(grep -c $'\tcomplete$' "$LAB_WORK/list-$host-$period.txt" || true)"
  ((after == before + 1)) || die "expected one more complete $period backup, found $before before and $after after"
}

check_verify() {
  local host="$1" period="$2"
  lab_admin_tool "$host" verify "$period"
}

# Damage the data as the app would (delete rows), then restore the latest backup: data equal to the backup's.
check_restore() {
  local host="$1" target="$2" web="$3" damaged
  lab_query "$web" "$target" "DELETE FROM orders WHERE id <= 100"
  damaged="$(lab_app_digest "$web" "$target")"
  echo "after deleting 100 orders: $damaged"
  [[ "$damaged" != "$(cat "$LAB_WORK/baseline.digest")" ]] || die "deleting rows did not change the digest"
  lab_admin_tool "$host" restore latest --yes
  check_web_reads "$web" "$target"
}

# ---- promotion and config change -------------------------------------------------------------------------------

step_promote_plan() {
  # As npm run promote marks it: dev's prefix and dev's backup signing key (its plan's output).
  lab_write_config promote prod "" "$(jq -cn --arg key "$(jq -r .backupSigningPublicKey "$(lab_plan_dir dev)/outputs.json")" \
    '{source: "daily", application: "shop-prod", sourceApplication: "shop-dev", sourceSigningPublicKey: $key}')"
  lab_plan promote prod
}

# lab_promote_remote HOST ARGS...   the host side of `npm run promote` (scripts/promote/remote.sh), sent
# as npm run promote sends it: `bash -c <script> dbtier-promote ARGS` over SSH as the admin user, host key
# pinned, key material on stdin.
lab_promote_remote() {
  local host="$1" ip command
  shift
  ip="$(lab_host_ip_static "$host")"
  command="bash -c $(printf '%q' "$(cat "$LAB_REPO/scripts/promote/remote.sh")") dbtier-promote$(printf ' %q' "$@")"
  lab_in admin ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="/root/.lab-known/$host" \
    -o ConnectTimeout=5 "dbtier-admin@$ip" "$command"
}

# The remote commands `pulumi up` re-runs when going from plan OLD to plan NEW on the same VM: a command
# is replaced when its own script or stdin changes, or when its triggers change (plan's `rerunOn`:
# "host-files" = the host-files stdin changed, "app-db" = dbtier:appDb changed).
lab_changed_commands() {
  local old new name script stdin rerun old_script old_stdin host_files=0 app_db=0 hf_old hf_new
  old="$(lab_plan_dir "$1")"
  new="$(lab_plan_dir "$2")"
  hf_old="$(jq -r '.[0].commands[] | select(.name | endswith("-host-files")) | .stdin' "$old/hosts.json")"
  hf_new="$(jq -r '.[0].commands[] | select(.name | endswith("-host-files")) | .stdin' "$new/hosts.json")"
  cmp -s "$old/$hf_old" "$new/$hf_new" || host_files=1
  [[ "$(jq -cS .appDb "$LAB_WORK/configs/$1.json")" == "$(jq -cS .appDb "$LAB_WORK/configs/$2.json")" ]] || app_db=1
  while IFS=$'\t' read -r name script stdin rerun; do
    old_script="$(jq -r --arg n "$name" '.[].commands[] | select(.name == $n) | .script' "$old/hosts.json")"
    old_stdin="$(jq -r --arg n "$name" '.[].commands[] | select(.name == $n) | .stdin' "$old/hosts.json")"
    if [[ -z "$old_script" ]] || ! cmp -s "$old/$old_script" "$new/$script"; then
      echo "$name"
    elif [[ "$stdin" != none && "$stdin" != secret ]] && ! cmp -s "$old/$old_stdin" "$new/$stdin"; then
      echo "$name"
    elif [[ "$stdin" == secret ]] && ! cmp -s "$LAB_WORK/secrets/$1.json" "$LAB_WORK/secrets/$2.json"; then
      echo "$name"
    elif [[ "$rerun" == host-files && "$host_files" == 1 ]] || [[ "$rerun" == app-db && "$app_db" == 1 ]]; then
      echo "$name"
    fi
  done < <(jq -r '.[0].commands[] | [.name, .script, .stdin, (.rerunOn // "own-input")] | @tsv' "$new/hosts.json")
}

# The promotion data path as `npm run promote -- --from dev --to prod` drives it: a fresh daily backup on
# dev and its verification, prod re-planned with that backup as its source (what `pulumi up` re-runs), then
# load on prod's proxy; prod's data must equal dev's.
check_promotion() {
  local out id name dev_digest prod_digest
  # Dev's data moves on after the baseline, so prod can only match it through the promotion.
  lab_query web1 dev "INSERT INTO customers (id, name, email) VALUES (900001, 'promoted from dev', 'dev@shop.example')"
  dev_digest="$(lab_app_digest web1 dev)"
  echo "dev: $dev_digest"
  out="$(lab_promote_remote db backup daily </dev/null)"
  echo "$out"
  id="$(sed -n 's#^DBTIER_BACKUP=daily/##p' <<<"$out")"
  [[ -n "$id" ]] || die "no backup id from dev"
  lab_promote_remote db verify "$id" <"$LAB_WORK/keys/age.key"
  lab_make_secrets promote
  while IFS= read -r name; do
    echo "pulumi up re-runs $name"
    lab_remote proxy promote "$name"
  done < <(lab_changed_commands prod promote)
  lab_promote_remote proxy load "$id" --force <"$LAB_WORK/keys/age.key"
  prod_digest="$(lab_app_digest web1 prod)"
  echo "prod: $prod_digest"
  [[ "$prod_digest" == "$dev_digest" ]] || die "prod's data differs from dev's after the promotion"
}

step_change_plan() {
  lab_write_config change dev '[{"name":"web1","ip":"203.0.113.11"},{"name":"web3","ip":"203.0.113.13"}]'
  lab_plan change dev
}

# `pulumi up` with the re-rendered dev config, faithfully: the remote commands whose text or stdin changed
# run again. A change in user-data cannot reach a running VM (DigitalOcean and Linode replace the VM, AWS
# only reboots it and cloud-init does not re-run write_files), so it is reported as a failure; the new
# firewall file is still applied, as a rebuilt VM would have it, so the packet checks below say whether the
# rendered rules are right.
check_config_change() {
  local dir name ip port want problems=() changed_files
  dir="$(lab_plan_dir change)"
  ip="$(lab_host_ip_static db)"
  port="$(jq -r .port "$dir/outputs.json")"
  lab_expect_tcp web3 "$ip" "$port" dropped
  lab_make_secrets change
  while IFS= read -r name; do
    echo "pulumi up re-runs $name"
    lab_remote db change "$name"
  done < <(lab_changed_commands dev change)
  if ! cmp -s "$(lab_plan_dir dev)/$(jq -r '.[0].userData' "$(lab_plan_dir dev)/hosts.json")" "$dir/$(jq -r '.[0].userData' "$dir/hosts.json")"; then
    changed_files="$(lab_ts scripts/lab/userdata.ts --diff-files "$(lab_plan_dir dev)/$(jq -r '.[0].userData' "$(lab_plan_dir dev)/hosts.json")" "$dir/$(jq -r '.[0].userData' "$dir/hosts.json")")"
    problems+=("user-data changed ($changed_files): a running VM never sees it (DigitalOcean/Linode replace the VM, AWS reboots it without re-running write_files); deliver these files by a remote command")
    lab_ts scripts/lab/userdata.ts --print-file /etc/dbtier/firewall.nft "$dir/$(jq -r '.[0].userData' "$dir/hosts.json")" |
      lab_put db /etc/dbtier/firewall.nft 0644
    lab_in db systemctl restart dbtier-firewall.service
  fi
  lab_expect_tcp_all "web2 $ip $port dropped" "web3 $ip $port open"
  lab_web_client web3 dev
  want="$(lab_app_digest web1 dev)"
  [[ "$(lab_app_digest web3 dev)" == "$want" ]] || die "web3 reads other data than web1"
  [[ -n "$(lab_session_cipher web3 dev)" ]] || die "web3's session is not encrypted"
  echo "web3 reads the app data over TLS"
  if ((${#problems[@]} > 0)); then
    printf 'problem: %s\n' "${problems[@]}" >&2
    return 1
  fi
}

# ---- the run -------------------------------------------------------------------------------------------------------

lab_engine() {
  LAB_WORK="$LAB_ROOT/$LAB_ENGINE"
  LAB_SECTION=""
  LAB_SECTION_ABORT=()
  lab_section infrastructure
  lab_setup "plan dev and prod with the lab config" step_plan
  lab_setup "network: ${#LAB_ENGINE_HOSTS[@]} hosts on TEST-NET, one switch" step_network
  lab_setup "datastore: s3rver over TLS" step_datastore
  lab_setup "git server with the baseline dump" step_git
  lab_setup "secrets for dev and prod (lab test values)" lab_make_secrets_all
  lab_section "managed: the DBaaS stand-in" infrastructure
  lab_setup "managed: DBaaS stand-in as the plan provisions it" step_managed
  lab_check "managed refuses plaintext, superuser actions$([[ $LAB_ENGINE == mariadb ]] && echo ', tables without a primary key')" step_managed_faithful

  lab_section "dev: the self-managed database VM" infrastructure
  lab_setup "db boots from the rendered user-data" lab_boot db dev
  lab_setup "db: pinned host key known to admin" lab_pin_host_key db dev
  lab_check "db: ssh with a wrong pinned host key is refused" check_wrong_host_key db
  lab_remote_steps db dev
  lab_check "db: rendered nftables ruleset loaded" check_firewall_loaded db
  lab_check "web1 reads app data from db over TLS" check_web_reads web1 dev
  lab_check "web2 reads app data from db over TLS" check_web_reads web2 dev
  lab_check "web1 verifies db's certificate (stack CA, name); a wrong CA or a wrong name is refused" check_tls_authenticated web1
  lab_check "outsider gets nothing from db (db port and ssh dropped)" check_outsider_dropped db
  lab_check "db: ssh only from admin" check_ssh_only_admin db
  lab_check "db: daily timer's command backs up" check_backup db daily
  lab_check "db: backup verifies" check_verify db daily
  lab_check "db: restore latest, data equal" check_restore db dev web1

  lab_section "prod: the DBaaS and the proxy" infrastructure "managed: the DBaaS stand-in"
  lab_setup "proxy boots from the rendered user-data" lab_boot proxy prod
  lab_setup "proxy: pinned host key known to admin" lab_pin_host_key proxy prod
  lab_check "proxy: ssh with a wrong pinned host key is refused" check_wrong_host_key proxy
  lab_remote_steps proxy prod
  lab_check "proxy: rendered nftables ruleset loaded" check_firewall_loaded proxy
  lab_check "web1 reads app data from managed over TLS" check_web_reads web1 prod
  lab_check "web2 reads app data from managed over TLS" check_web_reads web2 prod
  lab_check "outsider gets nothing from managed" check_outsider_dropped managed
  lab_check "proxy: ssh only from admin" check_ssh_only_admin proxy
  lab_check "proxy: hourly timer's command backs up managed" check_backup proxy hourly
  lab_check "proxy: backup of managed verifies" check_verify proxy hourly

  lab_section "promotion: dev's daily backup into prod through the proxy" infrastructure "managed: the DBaaS stand-in" \
    "dev: the self-managed database VM" "prod: the DBaaS and the proxy" commands:db commands:proxy
  lab_setup "plan prod with appDb from dev's daily backups" step_promote_plan
  lab_check "promotion: dev backup loaded into managed via proxy, data equal" check_promotion

  lab_section "config change: web3 added, web2 removed" infrastructure "dev: the self-managed database VM" commands:db
  lab_setup "plan dev with web3 added and web2 removed" step_change_plan
  lab_check "re-rendered dev: web3 gets in, web2 is shut out" check_config_change

  lab_pitr_section
  lab_section end
}

lab_make_secrets_all() {
  lab_make_secrets dev
  lab_make_secrets prod
}
