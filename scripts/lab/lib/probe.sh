# shellcheck shell=bash
# Packet probes with bounded time. A TCP connect from one lab host to another ends in one of:
#   open     the handshake completed
#   refused  a RST came back (nothing listens, or a reject rule)
#   unreach  an ICMP error came back (host/net/admin prohibited)
#   dropped  nothing came back within the timeout: what a drop rule must produce
LAB_PROBE_TIMEOUT="${LAB_PROBE_TIMEOUT:-2}"

# lab_tcp_probe FROM_HOST IP PORT  -> prints the outcome
lab_tcp_probe() {
  local from="$1" ip="$2" port="$3" err rc=0
  # shellcheck disable=SC2016 # expanded by the inner shell
  err="$(lab_in "$from" timeout --kill-after=1 "$LAB_PROBE_TIMEOUT" bash -c 'exec 3<>"/dev/tcp/$1/$2"' lab-probe "$ip" "$port" 2>&1)" || rc=$?
  case "$rc" in
  0) echo open ;;
  124 | 137) echo dropped ;;
  *)
    case "$err" in
    *"Connection refused"*) echo refused ;;
    *) echo unreach ;;
    esac
    ;;
  esac
}

# lab_expect_tcp FROM IP PORT EXPECTED...   fail unless the outcome is one of EXPECTED
lab_expect_tcp() {
  local from="$1" ip="$2" port="$3" got want
  shift 3
  got="$(lab_tcp_probe "$from" "$ip" "$port")"
  for want in "$@"; do
    if [[ "$got" == "$want" ]]; then
      echo "$from -> $ip:$port: $got"
      return 0
    fi
  done
  echo "$from -> $ip:$port: got '$got', expected: $*" >&2
  return 1
}

# lab_expect_tcp_all "FROM IP PORT EXPECTED" ...   the probes at once (each bounded), fail if any fails.
lab_expect_tcp_all() {
  local spec pids=() rc=0 pid from ip port want
  for spec in "$@"; do
    read -r from ip port want <<<"$spec"
    lab_expect_tcp "$from" "$ip" "$port" "$want" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || rc=1
  done
  return "$rc"
}
