# shellcheck shell=bash
# The lab network: one L2 switch (a bridge in its own namespace) and one namespace per host, each joined to
# the switch by a veth pair. Hosts sit on the three TEST-NET /24s and reach the other two on-link, so no
# router and no forwarding are needed. Each host also gets its own mount and UTS namespace in which /etc,
# /usr/local, /var, /root, /home, /srv and /opt are overlays of the real ones (writes land in the host's temp
# dir) and /tmp, /run are private: what user-data and remote commands write stays on that "machine".
#
# Every host has a holder process (`sleep infinity` in those namespaces); commands enter a host with
# nsenter on the holder's PID.

LAB_TESTNETS=(192.0.2.0/24 198.51.100.0/24 203.0.113.0/24)
LAB_OVERLAYS=(etc usr/local var root home srv opt)
LAB_HOST_PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

lab_ns() {
  printf '%s-%s' "$LAB_PREFIX" "$1"
}

lab_net_create() {
  local sw
  sw="$(lab_ns sw)"
  ip netns add "$sw"
  lab_register_netns "$sw"
  ip -n "$sw" link set lo up
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
  mkdir -p "$LAB_HOSTS"
}

# Refuses any address outside the TEST-NET ranges: the lab must never put another address on an interface.
lab_assert_testnet() {
  local ip="$1"
  case "$ip" in
  192.0.2.* | 198.51.100.* | 203.0.113.*) ;;
  *) die "address $ip is outside the TEST-NET ranges the lab may use" ;;
  esac
}

# lab_host_add NAME IPV4
lab_host_add() {
  local name="$1" ip="$2" ns sw net dir d holder ready i
  lab_assert_testnet "$ip"
  ((${#name} <= 12)) || die "host name $name is longer than 12 characters (veth names are limited to 15)"
  ns="$(lab_ns "$name")"
  sw="$(lab_ns sw)"
  ip netns add "$ns"
  lab_register_netns "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add eth0 type veth peer name "v-$name" netns "$sw"
  ip -n "$sw" link set "v-$name" master br0 up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set eth0 up
  for net in "${LAB_TESTNETS[@]}"; do
    if [[ "${ip%.*}" != "${net%.*}" ]]; then
      ip -n "$ns" route add "$net" dev eth0
    fi
  done

  dir="$LAB_HOSTS/$name"
  mkdir -p "$dir/tmp" "$dir/logs"
  chmod 1777 "$dir/tmp"
  for d in "${LAB_OVERLAYS[@]}"; do
    mkdir -p "$dir/ov/${d//\//_}/upper" "$dir/ov/${d//\//_}/work"
  done
  printf '%s\n' "$ip" >"$dir/ip"
  ready="$dir/ready"
  setsid ip netns exec "$ns" unshare --mount --uts --propagation private -- \
    bash "$LAB_DIR/lib/holder.sh" "$name" "$dir" "$ready" "$LAB_REPO" >"$dir/logs/holder.log" 2>&1 </dev/null &
  holder=$!
  lab_register_pid "$holder" "holder:$name"
  for ((i = 0; i < 100; i++)); do
    [[ -s "$ready" ]] && break
    lab_pid_alive "$holder" || die "host $name: holder exited: $(cat "$dir/logs/holder.log")"
    sleep 0.05
  done
  [[ -s "$ready" ]] || die "host $name: holder not ready after 5s"
  printf '%s\n' "$holder" >"$dir/holder.pid"
}

lab_host_ip() {
  cat "$LAB_HOSTS/$1/ip"
}

lab_holder() {
  cat "$LAB_HOSTS/$1/holder.pid"
}

# lab_in HOST CMD...   run a command on a host with a clean environment (as a service or cloud-init would).
lab_in() {
  local host="$1"
  shift
  nsenter --target "$(lab_holder "$host")" --net --mount --uts -- \
    env -i PATH="$LAB_HOST_PATH" HOME=/root LANG=C.UTF-8 LC_ALL=C.UTF-8 USER=root LOGNAME=root "$@"
}

# lab_sh HOST SCRIPT [ARGS...]   bash -c on a host; ARGS are $1.. inside SCRIPT.
lab_sh() {
  local host="$1" script="$2"
  shift 2
  lab_in "$host" bash -euo pipefail -c "$script" lab-sh "$@"
}

# lab_put HOST DEST MODE [OWNER] < content   write a file on a host (parent dirs created).
lab_put() {
  local host="$1" dest="$2" mode="$3" owner="${4:-root:root}"
  # shellcheck disable=SC2016 # expanded by the inner shell
  lab_in "$host" bash -c 'umask 022; mkdir -p "$(dirname "$1")"; umask 077; cat >"$1.lab-tmp" && chown "$3" "$1.lab-tmp" && chmod "$2" "$1.lab-tmp" && mv -f "$1.lab-tmp" "$1"' \
    lab-put "$dest" "$mode" "$owner"
}

# lab_spawn HOST NAME CMD...   start a long-running process on a host in its own session; PID registered.
# Output goes to $LAB_HOSTS/HOST/logs/NAME.log.
lab_spawn() {
  local host="$1" name="$2" pid
  shift 2
  setsid nsenter --target "$(lab_holder "$host")" --net --mount --uts -- \
    env -i PATH="$LAB_HOST_PATH" HOME=/root LANG=C.UTF-8 LC_ALL=C.UTF-8 "$@" \
    >"$LAB_HOSTS/$host/logs/$name.log" 2>&1 </dev/null &
  pid=$!
  lab_register_pid "$pid" "$host:$name"
  printf '%s\n' "$pid" >"$LAB_HOSTS/$host/$name.pid"
}

lab_spawned_pid() {
  cat "$LAB_HOSTS/$1/$2.pid"
}

# lab_wait_port HOST IP PORT [SECONDS]  wait until something listens (probed from the host itself).
lab_wait_port() {
  local host="$1" ip="$2" port="$3" limit="${4:-30}" i
  for ((i = 0; i < limit * 10; i++)); do
    # shellcheck disable=SC2016 # expanded by the inner shell
    if lab_in "$host" timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2"' lab-wait "$ip" "$port" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "nothing listens on $ip:$port on $host after ${limit}s" >&2
  return 1
}

# Hosts print how to get a shell on them (for --keep).
lab_print_shells() {
  local dir name
  for dir in "$LAB_HOSTS"/*/; do
    name="$(basename "$dir")"
    [[ -e "$dir/holder.pid" ]] || continue
    printf '  %-10s %-15s ip netns exec %s bash    # this host'"'"'s files: nsenter -t %s -n -m -u bash\n' \
      "$name" "$(cat "$dir/ip")" "$(lab_ns "$name")" "$(cat "$dir/holder.pid")"
  done
}
