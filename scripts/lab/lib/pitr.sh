# shellcheck shell=bash
# Point in time (issue 13), on the dev shape: the database VM takes a physical base backup by its timer's
# command and archives continuously (PostgreSQL: archive_command with archive_timeout; MariaDB: the
# archive-binlogs timer, which the lab fires on its 30 s cadence since the lab's systemctl runs no timers).
# A webserver writes marked rows, T is noted, it writes more, then the whole database host is killed (every
# process in its namespaces, SIGKILL: a crash, nothing flushed or shipped on the way down). A fresh host at
# the same address is booted from the same plan and its remote commands run, as a replacement VM would be.
#   drill: restore --to-latest on the fresh host; every row committed more than the RPO before the kill is
#          there, and the webservers get in (TLS verified, baseline data equal);
#   point: restore --to-time T; every row committed before T is there, none after.
# The drill runs first: restoring to T starts a new history at T, and "latest" would then follow that one.

LAB_PITR_BEFORE_SECONDS="${LAB_PITR_BEFORE_SECONDS:-60}"
# Writes go on after T for longer than the RPO, so the log holding T is shipped before the kill.
LAB_PITR_AFTER_SECONDS="${LAB_PITR_AFTER_SECONDS:-75}"
LAB_PITR_RPO_SECONDS=60
LAB_PITR_SHIP_INTERVAL=30

lab_pitr_dir() { printf '%s/pitr\n' "$LAB_WORK"; }

# The plan the database VM was last brought to: the config change section re-renders dev as plan "change".
lab_pitr_plan() {
  if [[ -s "$LAB_WORK/secrets/change.stdin" ]]; then echo change; else echo dev; fi
}

# The webservers of that plan, one name per line.
lab_pitr_webservers() {
  jq -r '.webservers[].name' "$LAB_WORK/configs/$(lab_pitr_plan).json"
}

check_pitr_base_backup() {
  local before after
  mkdir -p "$(lab_pitr_dir)"
  lab_in db test -f /etc/systemd/system/dbtier-basebackup.service || die "the plan installs no dbtier-basebackup.service"
  before="$(lab_admin_tool db pitr-window 2>&1 || true)"
  echo "window before: $before"
  lab_in db systemctl start dbtier-basebackup.service
  after="$(lab_admin_tool db pitr-window)"
  echo "window after: $after"
}

# The lab's stand-in for the archive-binlogs timer (OnUnitInactiveSec=30s), for as long as the host lives.
lab_pitr_start_shipping() {
  [[ "$LAB_ENGINE" == mariadb ]] || return 0
  lab_in db test -f /etc/systemd/system/dbtier-archive-binlogs.timer || die "the plan installs no archive-binlogs timer"
  # shellcheck disable=SC2016 # expanded on the host
  lab_spawn db pitr-shipper bash -c 'while :; do systemctl start dbtier-archive-binlogs.service || echo "archive-binlogs failed: $?"; sleep "$1"; done' \
    lab-shipper "$LAB_PITR_SHIP_INTERVAL"
}

# lab_pitr_write PHASE SECONDS   one marked row about every 0.5 s from web1, as the app; prints the ids whose
# INSERT was acknowledged (committed), one per line.
lab_pitr_write() {
  local phase="$1" seconds="$2" end id
  end=$((SECONDS + seconds))
  while ((SECONDS < end)); do
    case "$LAB_ENGINE" in
    mariadb) id="$(lab_query web1 dev "INSERT INTO pitr_marks (phase) VALUES ('$phase'); SELECT LAST_INSERT_ID()")" ;;
    postgres) id="$(lab_query web1 dev "INSERT INTO pitr_marks (phase) VALUES ('$phase') RETURNING id")" ;;
    esac
    printf '%s\t%s\n' "$id" "$(date -u +%s.%N)"
    sleep 0.5
  done
}

check_pitr_write_and_crash() {
  local dir t ns pid killed_at
  dir="$(lab_pitr_dir)"
  lab_web_client web1 dev
  case "$LAB_ENGINE" in
  mariadb) lab_query web1 dev "CREATE TABLE pitr_marks (id BIGINT AUTO_INCREMENT PRIMARY KEY, phase VARCHAR(8) NOT NULL, at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))" ;;
  postgres) lab_query web1 dev "CREATE TABLE pitr_marks (id bigserial PRIMARY KEY, phase text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())" ;;
  esac
  # The app tables as the webservers see them before the crash (the promotion check added a row on dev).
  lab_app_digest web1 dev >"$dir/app.digest"
  lab_pitr_start_shipping
  lab_pitr_write before "$LAB_PITR_BEFORE_SECONDS" >"$dir/before.tsv"
  # T is a whole second strictly after the last acknowledged commit before it and at least a second before
  # the first one after it, so "to T" is unambiguous whichever way a tool rounds or includes the bound.
  sleep 1.1
  t="$(date -u '+%Y-%m-%d %H:%M:%SZ')"
  printf '%s\n' "$t" >"$dir/T"
  sleep 1.1
  lab_pitr_write after "$LAB_PITR_AFTER_SECONDS" >"$dir/after.tsv"
  echo "T = $t; $(wc -l <"$dir/before.tsv") rows before, $(wc -l <"$dir/after.tsv") after"
  ns="$(lab_ns db)"
  killed_at="$(date -u +%s.%N)"
  for pid in $(ip netns pids "$ns"); do kill -KILL "$pid" 2>/dev/null || true; done
  printf '%s\n' "$killed_at" >"$dir/killed-at"
  echo "db killed (SIGKILL to every process in $ns) at $(date -u -d "@${killed_at%.*}" '+%H:%M:%S')"
}

# A new VM at the same address (a reserved IP), from the plan, with nothing of the old one's disk.
step_pitr_fresh_host() {
  local ns
  ns="$(lab_ns db)"
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  ip netns del "$ns"
  sleep 0.3
  rm -rf -- "${LAB_HOSTS:?}/db"
  lab_host_add db "$(lab_host_ip_static db)"
  # The new host's interface has a new MAC: the others' ARP entries for the address would black-hole it
  # until they go stale (a real replacement announces itself; the lab's namespaces send no gratuitous ARP).
  local other
  for other in "$LAB_HOSTS"/*/; do
    other="$(basename "$other")"
    [[ "$other" == db ]] || ip -n "$(lab_ns "$other")" neigh flush to "$(lab_host_ip_static db)" 2>/dev/null || true
  done
  lab_install_shim db
  lab_trust_ca db
  lab_boot db "$(lab_pitr_plan)"
  lab_pin_host_key db "$(lab_pitr_plan)"
  local name
  while IFS= read -r name; do
    lab_remote db "$(lab_pitr_plan)" "$name"
  done < <(jq -r '.[0].commands[].name' "$(lab_plan_dir "$(lab_pitr_plan)")/hosts.json")
}

# lab_pitr_web_reads WEB   the webserver reads the app data from the restored host over TLS (verified with the
# stack's CA), equal to what it read before the crash.
lab_pitr_web_reads() {
  local web="$1" digest
  lab_web_client "$web" dev
  [[ -n "$(lab_session_cipher "$web" dev)" ]] || die "$web -> db: session is not encrypted"
  digest="$(lab_app_digest "$web" dev)"
  echo "$web -> restored db: $digest"
  lab_app_spot_check "$web" dev
  [[ "$digest" == "$(cat "$(lab_pitr_dir)/app.digest")" ]] || die "$web reads other app data than before the crash: $(cat "$(lab_pitr_dir)/app.digest")"
}

# lab_pitr_ids   the marked rows the restored server holds, one id per line, sorted
lab_pitr_ids() {
  lab_web_client web1 dev
  lab_query web1 dev "SELECT id FROM pitr_marks ORDER BY id"
}

check_pitr_drill_latest() {
  local dir killed have missing lost_window
  dir="$(lab_pitr_dir)"
  lab_admin_tool db restore --to-latest --yes
  lab_pitr_ids >"$dir/latest.ids"
  killed="$(cat "$dir/killed-at")"
  # Every row acknowledged more than the RPO before the kill must be there.
  missing="$(awk -v cut="$(awk -v k="$killed" -v r="$LAB_PITR_RPO_SECONDS" 'BEGIN { printf "%.6f", k - r }')" -F'\t' \
    'NR == FNR { have[$1] = 1; next } $2 < cut && !($1 in have) { print $1 }' "$dir/latest.ids" "$dir/before.tsv" "$dir/after.tsv")"
  [[ -z "$missing" ]] || die "rows committed more than ${LAB_PITR_RPO_SECONDS}s before the kill are missing: $(tr '\n' ' ' <<<"$missing")"
  have="$(wc -l <"$dir/latest.ids")"
  lost_window="$(awk -F'\t' -v k="$killed" 'NR == FNR { have[$1] = 1; next } !($1 in have) && (first == "" || $2 < first) { first = $2 } END { if (first == "") print "none"; else printf "%.1f s", k - first }' \
    "$dir/latest.ids" "$dir/before.tsv" "$dir/after.tsv")"
  echo "latest: $have marked rows; the oldest row not recovered was committed $lost_window before the kill (RPO ${LAB_PITR_RPO_SECONDS}s)" |
    tee -a "$dir/summary"
  local web
  for web in $(lab_pitr_webservers); do lab_pitr_web_reads "$web"; done
}

check_pitr_to_time() {
  local dir t extra missing
  dir="$(lab_pitr_dir)"
  t="$(cat "$dir/T")"
  lab_admin_tool db restore --to-time "$t" --yes
  lab_pitr_ids >"$dir/at-T.ids"
  missing="$(cut -f1 "$dir/before.tsv" | sort | comm -23 - <(sort "$dir/at-T.ids"))"
  extra="$(sort "$dir/at-T.ids" | comm -23 - <(cut -f1 "$dir/before.tsv" | sort))"
  [[ -z "$missing" ]] || die "rows committed before T=$t are missing: $(tr '\n' ' ' <<<"$missing")"
  [[ -z "$extra" ]] || die "rows that were not committed before T=$t are present: $(tr '\n' ' ' <<<"$extra")"
  echo "to T=$t: all $(wc -l <"$dir/before.tsv") rows committed before T, none of the $(wc -l <"$dir/after.tsv") after" |
    tee -a "$dir/summary"
  lab_pitr_web_reads web1
}

check_pitr_outside_window() {
  local out rc=0
  out="$(lab_admin_tool db restore --to-time '2001-01-01 00:00:00Z' --yes 2>&1)" || rc=$?
  echo "$out" | tail -n 3
  ((rc != 0)) || die "a time outside the window was accepted"
  grep -q 'window' <<<"$out" || die "the refusal does not name the window"
}

lab_pitr_section() {
  local line
  lab_section "point in time: db killed, restored on a fresh host" infrastructure "dev: the self-managed database VM" commands:db
  lab_setup "db: base backup by its timer's command" check_pitr_base_backup
  # These steps wait out the write phases and whole restores: longer than the lab's default step bound.
  LAB_STEP_TIMEOUT=$((LAB_PITR_BEFORE_SECONDS + LAB_PITR_AFTER_SECONDS + 120)) \
    lab_setup "db: marked rows for ${LAB_PITR_BEFORE_SECONDS}s, T, ${LAB_PITR_AFTER_SECONDS}s more, db host killed" check_pitr_write_and_crash
  LAB_STEP_TIMEOUT=600 lab_setup "fresh db host at the same address from the plan" step_pitr_fresh_host
  LAB_STEP_TIMEOUT=600 lab_check "drill: restore --to-latest on the fresh host; rows older than the RPO there, webservers get in" check_pitr_drill_latest
  LAB_STEP_TIMEOUT=600 lab_check "restore --to-time T: every row before T, none after" check_pitr_to_time
  lab_check "restore --to-time outside the window is refused, naming the window" check_pitr_outside_window
  # The figures in the run's own output (the step logs go with the teardown).
  if [[ -s "$(lab_pitr_dir)/summary" ]]; then
    while IFS= read -r line; do lab_say "   $LAB_ENGINE point in time: $line"; done <"$(lab_pitr_dir)/summary"
  fi
}
