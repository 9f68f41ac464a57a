#!/usr/bin/env bash
# Runs as the first process of a lab host, inside its fresh network, mount and UTS namespaces: makes the
# host's own filesystem view, then sleeps so others can nsenter it. Its PID is the host's handle.
#   holder.sh NAME HOST_DIR READY_FILE [REPO]
set -euo pipefail

main() {
  local name="$1" dir="$2" ready="$3" repo="${4:-}" d key
  # Opened before /tmp is replaced: the lab's dir (under the real /tmp) is not visible afterwards.
  exec 9>"$ready"
  hostname "$name"
  for d in etc usr/local var root home srv opt; do
    key="${d//\//_}"
    mount -t overlay "lab-$name-$key" \
      -o "lowerdir=/$d,upperdir=$dir/ov/$key/upper,workdir=$dir/ov/$key/work" "/$d"
  done
  # A checkout under /tmp (CI clones there) must stay visible once /tmp is private: the lab runs its tools
  # (s3rver, the toolkit) from it. Bound into the new /tmp at the same path, carried over by --rbind.
  if [[ -n "$repo" && "$repo" == /tmp/* ]]; then
    mkdir -p "$dir/tmp/${repo#/tmp/}"
    mount --bind "$repo" "$dir/tmp/${repo#/tmp/}"
  fi
  mount --rbind "$dir/tmp" /tmp
  mount -t tmpfs -o mode=0755,size=256m "lab-$name-run" /run
  mkdir -p /run/lock /run/sshd /run/mysqld /run/postgresql /run/lab-services
  chown mysql:mysql /run/mysqld
  chown postgres:postgres /run/postgresql
  chmod 2775 /run/postgresql
  # No DNS: a lab host resolves nothing but /etc/hosts (no query may leave for the machine's resolver).
  rm -f /etc/resolv.conf
  printf '# lab host: no DNS server\n' >/etc/resolv.conf
  printf '%s\n' "$name" >/etc/hostname
  if ! grep -q "[[:space:]]$name\$" /etc/hosts; then
    printf '127.0.1.1\t%s\n' "$name" >>/etc/hosts
  fi
  echo ok >&9
  exec 9>&-
  exec sleep infinity
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
