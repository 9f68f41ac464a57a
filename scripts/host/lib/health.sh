# shellcheck shell=bash
# dbtier toolkit: health checks and alert mail.
#
# Each check's last state is kept in $DBTIER_STATE_DIR/health/<check>; an alert goes out only when a
# check changes state (ok -> failing, failing -> ok), so a 5-minute timer does not mail every 5 minutes.

# Alert recipient: ALERT_EMAIL in the env file, or the alert-email secret file (the stack keeps the
# address as a secret, so the components ship it that way).
alert_recipient() {
  if [[ -n "${CFG[ALERT_EMAIL]:-}" ]]; then
    printf '%s' "${CFG[ALERT_EMAIL]}"
  elif has_secret alert-email; then
    read_secret alert-email
  fi
}

# Writes an msmtp configuration for the smtp-url secret (smtp://user@host:587 uses STARTTLS,
# smtps://user@host:465 TLS; plaintext only to a loopback relay) and prints its path.
msmtp_config() {
  local url scheme rest userinfo="" hostport host port user="" tls starttls
  url="$(read_secret smtp-url)"
  [[ "$url" =~ ^(smtps?)://(.+)$ ]] || die_usage "smtp-url must look like smtp://user@host:587 or smtps://user@host:465"
  scheme="${BASH_REMATCH[1]}"
  rest="${BASH_REMATCH[2]%%/*}"
  if [[ "$rest" == *@* ]]; then
    userinfo="${rest%@*}"
    hostport="${rest##*@}"
  else
    hostport="$rest"
  fi
  user="${userinfo%%:*}"
  host="${hostport%%:*}"
  if [[ "$hostport" == *:* ]]; then port="${hostport##*:}"; elif [[ "$scheme" == smtps ]]; then port=465; else port=587; fi
  if [[ "$scheme" == smtps ]]; then
    tls=on starttls=off
  elif [[ "$host" == 127.* || "$host" == localhost || "$host" == "::1" ]]; then
    tls=off starttls=off
  else
    tls=on starttls=on
  fi
  {
    printf 'defaults\nlogfile -\naccount default\nhost %s\nport %s\ntls %s\ntls_starttls %s\n' "$host" "$port" "$tls" "$starttls"
    if [[ -r /etc/ssl/certs/ca-certificates.crt ]]; then printf 'tls_trust_file /etc/ssl/certs/ca-certificates.crt\n'; fi
    printf 'from dbtier@%s\n' "$(hostname -f 2>/dev/null || hostname)"
    if [[ -n "$user" ]]; then
      printf 'auth on\nuser %s\n' "$user"
      has_secret smtp-password && printf 'password %s\n' "$(read_secret smtp-password)"
    else
      printf 'auth off\n'
    fi
  } | private_file msmtprc
}

# send_alert SUBJECT BODY: mails when SMTP is configured, always logs.
send_alert() {
  local subject="$1" body="$2" to
  to="$(alert_recipient 2>/dev/null || true)"
  if [[ -z "$to" ]] || ! has_secret smtp-url; then
    log "alert (no mail configured): $subject: $body"
    return 0
  fi
  if ! command -v msmtp >/dev/null 2>&1; then
    warn "alert not mailed: msmtp is not installed"
    return 1
  fi
  local conf
  conf="$(msmtp_config)"
  if printf 'To: %s\nSubject: [dbtier] %s\nContent-Type: text/plain; charset=UTF-8\n\n%s\n\nhost: %s\napp: %s\ntime: %s\n' \
    "$to" "$subject" "$body" "$(hostname)" "${CFG[APP_NAME]:-}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" |
    msmtp -C "$conf" -t >/dev/null 2>"$RUN_DIR/msmtp.err"; then
    log "alert mailed: $subject"
  else
    warn "alert mail failed: $(tail -n 2 "$RUN_DIR/msmtp.err" | tr '\n' ' ')"
    return 1
  fi
}

# Records a check result; alerts when it differs from the last recorded one.
HEALTH_FAILED=0
HEALTH_FAILING=""
health_record() {
  local check="$1" status="$2" detail="$3" dir file previous=""
  dir="$(state_dir)/health"
  mkdir -p "$dir"
  file="$dir/$check"
  [[ -f "$file" ]] && previous="$(head -n1 "$file")"
  printf '%s\n%s\n' "$status" "$detail" >"$file.tmp" && mv -f "$file.tmp" "$file"
  printf '%-12s %-4s %s\n' "$check" "$status" "$detail"
  if [[ "$status" != ok ]]; then
    HEALTH_FAILED=1
    HEALTH_FAILING+="$check "
  fi
  if [[ "$status" != "${previous:-ok}" ]]; then
    if [[ "$status" == ok ]]; then
      send_alert "recovered: $check" "$detail" || true
    else
      send_alert "FAILING: $check" "$detail" || true
    fi
  fi
}

period_seconds() {
  case "$1" in
    hourly) printf '3600' ;;
    daily) printf '86400' ;;
    weekly) printf '604800' ;;
    monthly) printf '2678400' ;;
  esac
}

id_epoch() {
  local id="$1"
  date -u -d "${id:0:4}-${id:4:2}-${id:6:2}T${id:9:2}:${id:11:2}:${id:13:2}Z" +%s
}

check_cert_file() {
  local file="$1" days="${DBTIER_HEALTH_CERT_DAYS:-14}"
  if openssl x509 -in "$file" -noout -checkend $((days * 86400)) >/dev/null 2>&1; then
    health_record tls ok "$file valid beyond $days days ($(openssl x509 -in "$file" -noout -enddate | cut -d= -f2))"
  else
    health_record tls fail "$file expires within $days days or is unreadable"
  fi
}

# The certificate the server presents (DBaaS, or a self-managed server over TCP).
check_server_cert() {
  local days="${DBTIER_HEALTH_CERT_DAYS:-14}" proto cert
  if [[ "$DB_FAMILY" == mysql ]]; then proto=mysql; else proto=postgres; fi
  cert="$(openssl s_client -starttls "$proto" -connect "${CFG[DB_HOST]}:${CFG[DB_PORT]}" -servername "${CFG[DB_HOST]}" </dev/null 2>/dev/null |
    openssl x509 2>/dev/null || true)"
  if [[ -z "$cert" ]]; then
    health_record tls fail "no certificate from ${CFG[DB_HOST]}:${CFG[DB_PORT]}"
  elif openssl x509 -noout -checkend $((days * 86400)) <<<"$cert" >/dev/null; then
    health_record tls ok "server certificate valid beyond $days days ($(openssl x509 -noout -enddate <<<"$cert" | cut -d= -f2))"
  else
    health_record tls fail "server certificate of ${CFG[DB_HOST]} expires within $days days"
  fi
}

check_disk() {
  local path="$1" label="$2" limit="${DBTIER_HEALTH_DISK_PCT:-90}" used
  [[ -e "$path" ]] || return 0
  used="$(df -P "$path" | awk 'NR == 2 { sub("%", "", $5); print $5 }')"
  if ((used < limit)); then
    health_record "disk-$label" ok "$path ${used}% used"
  else
    health_record "disk-$label" fail "$path ${used}% used (limit ${limit}%)"
  fi
}

check_connections() {
  local used max limit="${DBTIER_HEALTH_CONN_PCT:-80}"
  if [[ "$DB_FAMILY" == mysql ]]; then
    used="$(my_sql <<<"SHOW GLOBAL STATUS LIKE 'Threads_connected';" | cut -f2)"
    max="$(my_sql <<<"SELECT @@max_connections;")"
  else
    used="$(pg_sql <<<"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend';")"
    max="$(pg_sql <<<"SHOW max_connections;")"
  fi
  if [[ ! "$used" =~ ^[0-9]+$ || ! "$max" =~ ^[0-9]+$ || "$max" == 0 ]]; then
    health_record connections fail "cannot read connection counts"
  elif ((used * 100 < max * limit)); then
    health_record connections ok "$used of $max connections"
  else
    health_record connections fail "$used of $max connections (limit ${limit}%)"
  fi
}

check_backups() {
  local period id age limit now
  now="$(date -u +%s)"
  for period in ${CFG[BACKUP_PERIODS]}; do
    if ! id="$(store_newest_id "$period")"; then
      health_record "backup-$period" fail "could not list the $period backups: $(tail -n 1 "$RUN_DIR/store.err" 2>/dev/null)"
      continue
    fi
    limit=$(($(period_seconds "$period") + ${DBTIER_HEALTH_BACKUP_SLACK:-7200}))
    if [[ -z "$id" ]]; then
      health_record "backup-$period" fail "no complete $period backup in the datastore"
      continue
    fi
    age=$((now - $(id_epoch "$id")))
    if ((age <= limit)); then
      health_record "backup-$period" ok "newest $id is $((age / 60)) min old"
    else
      health_record "backup-$period" fail "newest $id is $((age / 3600)) h old (limit $((limit / 3600)) h)"
    fi
  done
}

cmd_health() {
  (($# == 0)) || die_usage "usage: dbtier-db health"
  require_keys DB_ENGINE APP_NAME
  db_setup
  if DBTIER_CONNECT_ATTEMPTS=2 DBTIER_CONNECT_DELAY=2 retry 2 2 db_ping; then
    health_record database ok "$(db_target) answers ($(db_server_version))"
    check_connections
  else
    health_record database fail "$(db_target) does not answer: $(tail -n 2 "$RUN_DIR/ping.err" | tr '\n' ' ')"
  fi
  check_disk "$(state_dir)" state
  if [[ "${CFG[DB_ROLE]:-}" == database && -n "${CFG[DB_DATA_DIR]:-}" ]]; then check_disk "${CFG[DB_DATA_DIR]}" data; fi
  if [[ -f "${DBTIER_TLS_DIR:-/etc/dbtier/tls}/server.crt" ]]; then
    check_cert_file "${DBTIER_TLS_DIR:-/etc/dbtier/tls}/server.crt"
  elif [[ -z "${CFG[DB_SOCKET]:-}" ]]; then
    check_server_cert
  fi
  store_setup
  if s3cli ls "${CFG[APP_NAME]}/" --delimiter / >/dev/null 2>"$RUN_DIR/store.err"; then
    health_record datastore ok "${CFG[DATASTORE_ENDPOINT]} bucket ${CFG[DATASTORE_BUCKET]} reachable"
    check_backups
  else
    health_record datastore fail "datastore ${CFG[DATASTORE_ENDPOINT]} bucket ${CFG[DATASTORE_BUCKET]} unreachable"
  fi
  if ((HEALTH_FAILED)); then die "health: failing check(s): ${HEALTH_FAILING% }"; fi
}
