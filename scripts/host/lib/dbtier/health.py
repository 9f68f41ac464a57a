"""dbtier-db health: "check status detail" lines; each check's state is kept in $DBTIER_STATE_DIR/health/<check>
and an alert goes out only when a check changes state (failing, or recovered). Exit 1 while any check fails.

Checks: database (answers over TLS), connections (< DBTIER_HEALTH_CONN_PCT [80] % of max_connections), disk
use of the state directory (and DB_DATA_DIR on a database VM) < DBTIER_HEALTH_DISK_PCT [90], the TLS
certificate (the local $DBTIER_TLS_DIR/server.crt, else the one the server presents) valid for more than
DBTIER_HEALTH_CERT_DAYS [14], the datastore reachable, the newest complete backup of each period younger
than the period plus DBTIER_HEALTH_BACKUP_SLACK [7200] s. Point-in-time modules add their own checks with
register_check(fn): fn(ctx) calls ctx.record(check, ok, detail).
"""
from __future__ import annotations

import calendar
import os
import subprocess
import time
from typing import Callable, List

from . import alert, config, s3
from .db import Admin, RunDir
from .log import Failure
from .store import MANIFEST_OBJECT

PERIOD_SECONDS = {"hourly": 3600, "daily": 86400, "weekly": 604800, "monthly": 2678400}
_EXTRA_CHECKS: List[Callable] = []


def register_check(fn: Callable) -> None:
    _EXTRA_CHECKS.append(fn)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name) or ""
    return int(raw) if raw.isdigit() else default


class Context:
    def __init__(self, cfg: config.Config, run: RunDir) -> None:
        self.cfg = cfg
        self.run = run
        self.failing: List[str] = []
        self.dir = os.path.join(cfg.state_dir, "health")
        os.makedirs(self.dir, exist_ok=True)

    def record(self, check: str, ok: bool, detail: str) -> None:
        status = "ok" if ok else "fail"
        file = os.path.join(self.dir, check)
        previous = ""
        try:
            with open(file) as f:
                previous = f.readline().strip()
        except OSError:
            pass
        with open(file + ".tmp", "w") as f:
            f.write(f"{status}\n{detail}\n")
        os.replace(file + ".tmp", file)
        print(f"{check:<12} {status:<4} {detail}", flush=True)
        if not ok:
            self.failing.append(check)
        if status != (previous or "ok"):
            alert.send(self.cfg, self.run, f"recovered: {check}" if ok else f"FAILING: {check}", detail)


def _disk_pct(path: str) -> int:
    st = os.statvfs(path)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    avail = st.f_bavail * st.f_frsize
    total = used + avail
    return 0 if total == 0 else -(-used * 100 // total)  # rounded up, as df does


def check_swap(ctx: Context, cfg: config.Config) -> None:
    """A swap cut off midway leaves the app fenced until the next backup, restore or load-app-db recovers it."""
    from .sidedb import swap_journal  # (only here: health imports no more than it needs)
    journal = swap_journal(cfg)
    if os.path.exists(journal):
        ctx.record("swap", False, f"a swap of {cfg.get('DB_NAME')} was cut off midway (journal {journal}): the app may "
                   "be fenced; the next backup, restore or load-app-db rolls it back")
    else:
        ctx.record("swap", True, "no swap cut off midway")


def check_disk(ctx: Context, path: str, label: str) -> None:
    if not os.path.exists(path):
        return
    limit = _env_int("DBTIER_HEALTH_DISK_PCT", 90)
    used = _disk_pct(path)
    if used < limit:
        ctx.record(f"disk-{label}", True, f"{path} {used}% used")
    else:
        ctx.record(f"disk-{label}", False, f"{path} {used}% used (limit {limit}%)")


def _openssl_checkend(pem: bytes, days: int) -> bool:
    return subprocess.run(["openssl", "x509", "-noout", "-checkend", str(days * 86400)], input=pem,
                          capture_output=True).returncode == 0


def _enddate(pem: bytes) -> str:
    out = subprocess.run(["openssl", "x509", "-noout", "-enddate"], input=pem, capture_output=True).stdout.decode()
    return out.strip().split("=", 1)[-1]


def check_cert_file(ctx: Context, file: str) -> None:
    days = _env_int("DBTIER_HEALTH_CERT_DAYS", 14)
    try:
        with open(file, "rb") as f:
            pem = f.read()
    except OSError:
        pem = b""
    if pem and _openssl_checkend(pem, days):
        ctx.record("tls", True, f"{file} valid beyond {days} days ({_enddate(pem)})")
    else:
        ctx.record("tls", False, f"{file} expires within {days} days or is unreadable")


def check_server_cert(ctx: Context) -> None:
    cfg = ctx.cfg
    days = _env_int("DBTIER_HEALTH_CERT_DAYS", 14)
    host, port = cfg.get("DB_HOST"), cfg.get("DB_PORT")
    proto = "mysql" if cfg.family == "mysql" else "postgres"
    try:
        hello = subprocess.run(["openssl", "s_client", "-starttls", proto, "-connect", f"{host}:{port}",
                                "-servername", host], stdin=subprocess.DEVNULL, capture_output=True, timeout=30).stdout
        pem = subprocess.run(["openssl", "x509"], input=hello, capture_output=True).stdout
    except subprocess.TimeoutExpired:
        pem = b""
    if not pem.strip():
        ctx.record("tls", False, f"no certificate from {host}:{port}")
    elif _openssl_checkend(pem, days):
        ctx.record("tls", True, f"server certificate valid beyond {days} days ({_enddate(pem)})")
    else:
        ctx.record("tls", False, f"server certificate of {host} expires within {days} days")


def check_connections(ctx: Context, adm: Admin) -> None:
    limit = _env_int("DBTIER_HEALTH_CONN_PCT", 80)
    try:
        if ctx.cfg.family == "mysql":
            used = adm.value("SHOW GLOBAL STATUS LIKE 'Threads_connected';")
            most = adm.value("SELECT @@max_connections;")
        else:
            used = adm.value("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend';")
            most = adm.value("SHOW max_connections;")
    except Exception:  # noqa: BLE001 - any failure is "cannot read"
        used = most = ""
    if not used.isdigit() or not most.isdigit() or most == "0":
        ctx.record("connections", False, "cannot read connection counts")
    elif int(used) * 100 < int(most) * limit:
        ctx.record("connections", True, f"{used} of {most} connections")
    else:
        ctx.record("connections", False, f"{used} of {most} connections (limit {limit}%)")


def _id_epoch(backup_id: str) -> int:
    return calendar.timegm(time.strptime(backup_id[:16], "%Y%m%dT%H%M%SZ"))


def check_backups(ctx: Context, client: s3.Client) -> None:
    cfg = ctx.cfg
    now = int(time.time())
    slack = _env_int("DBTIER_HEALTH_BACKUP_SLACK", 7200)
    for period in cfg.periods:
        limit = PERIOD_SECONDS[period] + slack
        prefix = f"{cfg.app}/{period}/"
        try:
            ids = sorted({e.key[len(prefix):].split("/")[0] for e in client.list(prefix)
                          if e.key.count("/") == 3 and e.key.endswith("/" + MANIFEST_OBJECT)
                          and config.is_backup_id(e.key[len(prefix):].split("/")[0])})
        except (s3.S3Error, OSError) as e:
            ctx.record(f"backup-{period}", False, f"could not list the {period} backups: {e}")
            continue
        if not ids:
            ctx.record(f"backup-{period}", False, f"no complete {period} backup in the datastore")
            continue
        newest = ids[-1]
        age = now - _id_epoch(newest)
        if age <= limit:
            ctx.record(f"backup-{period}", True, f"newest {newest} is {age // 60} min old")
        else:
            ctx.record(f"backup-{period}", False, f"newest {newest} is {age // 3600} h old (limit {limit // 3600} h)")


def _pitr_checks(cfg: config.Config) -> List[Callable]:
    """The point-in-time module's health_check(ctx) of this engine (archive gaps, age of the newest log), on a
    self-managed server, once the module exists."""
    if cfg.role != "database":
        return []
    import importlib
    from .cli import PITR_MODULES
    name = PITR_MODULES.get(cfg.engine, "")
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (e.name == name or name.startswith(e.name + ".")):
            return []
        raise
    fn = getattr(module, "health_check", None)
    return [fn] if fn else []


def cmd_health(cfg: config.Config, args: List[str]) -> int:
    if args:
        raise config.ConfigError("usage: dbtier-db health")
    with RunDir() as run:
        ctx = Context(cfg, run)
        adm = Admin(cfg, run)
        why = adm.ping()
        if why:
            time.sleep(2)
            why = adm.ping()
        if not why:
            try:
                version = adm.server_version()
            except Exception as e:  # noqa: BLE001
                version = f"version unreadable: {e}"
            ctx.record("database", True, f"{adm.target()} answers ({version})")
            check_connections(ctx, adm)
        else:
            ctx.record("database", False, f"{adm.target()} does not answer: {why}")
        check_swap(ctx, cfg)
        check_disk(ctx, cfg.state_dir, "state")
        if cfg.get("DB_ROLE") == "database" and cfg.get("DB_DATA_DIR"):
            check_disk(ctx, cfg.get("DB_DATA_DIR"), "data")
        tls_dir = os.environ.get("DBTIER_TLS_DIR") or "/etc/dbtier/tls"
        if os.path.isfile(os.path.join(tls_dir, "server.crt")):
            check_cert_file(ctx, os.path.join(tls_dir, "server.crt"))
        elif not cfg.get("DB_SOCKET"):
            check_server_cert(ctx)
        try:
            client = s3.from_config(cfg, log=lambda _m: None)
            client.attempts = min(client.attempts, _env_int("DBTIER_S3_LOW_LEVEL_RETRIES", 3) or 1)
            client.reachable(f"{cfg.app}/")
            reachable = ""
        except (s3.S3Error, OSError, ValueError) as e:
            reachable = str(e)
        if not reachable:
            ctx.record("datastore", True, f"{cfg.get('DATASTORE_ENDPOINT')} bucket {cfg.get('DATASTORE_BUCKET')} reachable")
            check_backups(ctx, client)
        else:
            ctx.record("datastore", False, f"datastore {cfg.get('DATASTORE_ENDPOINT')} bucket "
                       f"{cfg.get('DATASTORE_BUCKET')} unreachable: {reachable.splitlines()[0][:200]}")
        for fn in _EXTRA_CHECKS + _pitr_checks(cfg):
            fn(ctx)
        if ctx.failing:
            raise Failure(f"health: failing check(s): {' '.join(ctx.failing)}")
    return 0
