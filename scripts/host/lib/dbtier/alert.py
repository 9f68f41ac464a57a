"""Alert mail, as lib/health.sh send_alert sends it: msmtp with a 0600 config in a private run directory,
when the smtp-url secret and a recipient (ALERT_EMAIL, or the alert-email secret) exist; always logged.

  send(cfg, run, subject, body) -> bool     run: a db.RunDir; False when mailing failed (logged)
  recipient(cfg) -> str
smtp-url: smtps://user@host:465 (TLS) or smtp://user@host:587 (STARTTLS; plaintext only to a loopback relay);
the password comes from the smtp-password secret.
"""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time

from . import config
from .log import log, warn


def recipient(cfg: config.Config) -> str:
    if cfg.get("ALERT_EMAIL"):
        return cfg.get("ALERT_EMAIL")
    if config.has_secret("alert-email"):
        return config.secret("alert-email")
    return ""


def msmtp_config(run) -> str:
    url = config.secret("smtp-url")
    m = re.match(r"^(smtps?)://(.+)$", url)
    if not m:
        raise config.ConfigError("smtp-url must look like smtp://user@host:587 or smtps://user@host:465")
    scheme, rest = m.group(1), m.group(2).split("/", 1)[0]
    userinfo, hostport = (rest.rsplit("@", 1) if "@" in rest else ("", rest))
    user = userinfo.split(":", 1)[0]
    host = hostport.split(":", 1)[0]
    port = hostport.rsplit(":", 1)[1] if ":" in hostport else ("465" if scheme == "smtps" else "587")
    if scheme == "smtps":
        tls, starttls = "on", "off"
    elif host.startswith("127.") or host in ("localhost", "::1"):
        tls, starttls = "off", "off"
    else:
        tls, starttls = "on", "on"
    lines = ["defaults", "logfile -", "account default", f"host {host}", f"port {port}", f"tls {tls}",
             f"tls_starttls {starttls}"]
    try:
        with open("/etc/ssl/certs/ca-certificates.crt"):
            lines.append("tls_trust_file /etc/ssl/certs/ca-certificates.crt")
    except OSError:
        pass
    lines.append(f"from dbtier@{socket.getfqdn() or socket.gethostname()}")
    if user:
        lines += ["auth on", f"user {user}"]
        if config.has_secret("smtp-password"):
            lines.append(f"password {config.secret('smtp-password')}")
    else:
        lines.append("auth off")
    return run.private_file("msmtprc", "\n".join(lines) + "\n")


def send(cfg: config.Config, run, subject: str, body: str) -> bool:
    try:
        to = recipient(cfg)
    except config.ConfigError:
        to = ""
    if not to or not config.has_secret("smtp-url"):
        log(f"alert (no mail configured): {subject}: {body}")
        return True
    if not shutil.which("msmtp"):
        warn("alert not mailed: msmtp is not installed")
        return False
    conf = msmtp_config(run)
    message = (f"To: {to}\nSubject: [dbtier] {subject}\nContent-Type: text/plain; charset=UTF-8\n\n{body}\n\n"
               f"host: {socket.gethostname()}\napp: {cfg.get('APP_NAME')}\n"
               f"time: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
    r = subprocess.run(["msmtp", "-C", conf, "-t"], input=message.encode(), capture_output=True)
    if r.returncode == 0:
        log(f"alert mailed: {subject}")
        return True
    warn(f"alert mail failed: {' '.join(r.stderr.decode(errors='replace').strip().splitlines()[-2:])}")
    return False
