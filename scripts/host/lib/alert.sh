# shellcheck shell=bash
# dbtier toolkit: the alert mail of a failed bash command (backup, verify, restore, load-app-db).
# (health itself is dbtier/health.py; its mail is dbtier/alert.py, the same message.)

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
