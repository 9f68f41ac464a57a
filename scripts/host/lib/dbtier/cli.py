"""dbtier-db's command table: every command's usage, help, lock, required env keys, tools and implementation,
declared once, here. scripts/host/dbtier-db (bash) execs this file for every run: every command implemented
in Python runs here; install, init and harden (system configuration: lib/system.sh) go back to the launcher
(exec) with their spec in DBTIER_BASH_SPEC (their keys and tools) and run in bash.

  main(argv)            dbtier-db's Python side: help, unknown commands (exit 2), Python commands
  spec(argv) -> str     "bash\\t<lock>\\t<keys>\\t<tools>" for a bash command (the launcher's contract,
                        DBTIER_BASH_SPEC)
  COMMANDS              the table; Command.route(args) picks the implementation for the arguments
                        (restore --to-time/--to-backup/--to-latest is point-in-time, restore ID dbtier.restore)

Python implementations are "module:function" called as function(cfg, args) -> exit code or None (0):
cfg a config.Config (loaded and validated, required keys checked), args the arguments after the command.
Point-in-time commands dispatch by engine to dbtier.pitr.pg (postgres) or dbtier.pitr.mariadb (mariadb,
mysql), function named like the command (archive-wal -> archive_wal); while a module or function is
missing the command says "not available" (exit 1). They run on a self-managed database VM only: a proxy is
told to use the provider's point-in-time restore.

Exit codes: 0 ok, 1 failure (log.Failure and anything unexpected), 2 usage/configuration (ConfigError).
"""
from __future__ import annotations

import dataclasses
import fcntl
import importlib
import os
import shutil
import signal
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

if __package__ in (None, ""):  # run as a file: make the package importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "dbtier"  # noqa: A001

from dbtier import config  # noqa: E402
from dbtier.log import Failure, log, set_command  # noqa: E402

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

# Locks: "dbtier" is the one lock of every command that reads or changes the database or the datastore
# ($DBTIER_STATE_DIR/dbtier.lock); "" none (archive-wal/fetch-wal are called by the server itself and must
# never wait behind a backup that waits for them); other names are their own lock file.
MAIN_LOCK = "dbtier"
PITR_MODULES = {"postgres": "dbtier.pitr.pg", "mariadb": "dbtier.pitr.mariadb", "mysql": "dbtier.pitr.mariadb"}
PITR_RESTORE_FLAGS = ("--to-time", "--to-backup", "--to-latest")


@dataclasses.dataclass(frozen=True)
class Command:
    name: str
    usage: str
    help: str
    impl: str  # "bash" | "python:<module>:<function>" | "pitr"
    lock: str = ""
    keys: Tuple[str, ...] = ()
    tools: Tuple[str, ...] = ()
    self_managed_only: bool = False
    # how many arguments name what the lock refusal says ("backup hourly refused: ...")
    lock_label_args: int = 0
    # a failure is mailed (when SMTP is configured): backup, verify, restore, load-app-db
    alert: bool = False
    hidden: bool = False
    # restore: the point-in-time form has its own entry
    route: Optional[Callable[[Sequence[str]], str]] = None


def _restore_route(args: Sequence[str]) -> str:
    return "restore-pitr" if any(a.split("=", 1)[0] in PITR_RESTORE_FLAGS for a in args) else "restore"


READ_TOOLS = ("zstd", "age", "ssh-keygen", "jq")
BACKUP_KEYS = ("DB_ENGINE", "DB_NAME", "BACKUP_RECIPIENT", "APP_NAME", "BACKUP_SIGNING_PUBLIC_KEY")
PITR_KEYS = ("DB_ENGINE", "APP_NAME", "BACKUP_RECIPIENT", "BACKUP_SIGNING_PUBLIC_KEY")

COMMANDS: Dict[str, Command] = {c.name: c for c in [
    Command("install", "install", "install the engine at DB_ENGINE_VERSION (vendor signed repo, or distro)", "bash"),
    Command("init", "init", "self-managed: bind the private address, TLS required, accounts, memory", "bash"),
    Command("harden", "harden", "SSH keys only, unattended security upgrades, time sync, listener audit", "bash"),
    Command("load-app-db", "load-app-db [--force | --if-empty] [--backup-id ID]",
            "load DB_NAME from APP_DB_SOURCE (virgin, baseline, or the newest verified\n"
            "backup of a period; --backup-id: exactly that one); a replacement loads a\n"
            "side database, checks it and swaps it in", "python:dbtier.appdb:cmd_load_app_db", MAIN_LOCK,
            ("DB_ENGINE", "DB_NAME", "DB_USER", "APP_DB_SOURCE"), alert=True),
    Command("backup", "backup <period>", "hourly|daily|weekly|monthly: dump -> zstd -> age -> S3, checked, signed, pruned",
            "python:dbtier.backup:cmd_backup", MAIN_LOCK, BACKUP_KEYS, ("zstd", "age", "ssh-keygen", "nice"),
            lock_label_args=1, alert=True),
    Command("verify", "verify <period|backup-id>",
            "signature, part checksums, decryption, restore into scratch, compare with the\n"
            "source's digests; the outcome (ok or failed) is recorded, signed", "python:dbtier.verify:cmd_verify",
            MAIN_LOCK, ("DB_ENGINE", "DB_NAME", "APP_NAME", "BACKUP_SIGNING_PUBLIC_KEY"), READ_TOOLS, alert=True),
    Command("restore", "restore <backup-id|latest> --yes [--unverified]",
            "the newest backup with a passing test restore (or the one named), checked end\n"
            "to end; safety backup read back; loaded beside the live database, checked,\n"
            "swapped in with the application fenced", "python:dbtier.restore:cmd_restore", MAIN_LOCK,
            ("DB_ENGINE", "DB_NAME", "DB_USER", "APP_NAME", "BACKUP_RECIPIENT", "BACKUP_SIGNING_PUBLIC_KEY"),
            READ_TOOLS, route=_restore_route, alert=True),
    Command("restore-pitr", "restore --to-time 'YYYY-MM-DD HH:MM:SSZ' | --to-backup ID | --to-latest --yes",
            "self-managed: physical restore to a point in time within the window, the old\n"
            "data directory kept aside until the restored server answers", "pitr", MAIN_LOCK, PITR_KEYS,
            ("zstd", "age", "ssh-keygen"), self_managed_only=True),
    # promote's read-only probe (scripts/promote/remote.sh): no lock, no alert, nothing created.
    Command("_object-count", "_object-count", "internal: the objects in DB_NAME on stdout",
            "python:dbtier.appdb:cmd_object_count", "", ("DB_ENGINE", "DB_NAME"), hidden=True),
    Command("list", "list [period]", "backups in the datastore and their checked state (signature, test restore)",
            "python:dbtier.listing:cmd_list", "", ("APP_NAME",)),
    Command("health", "health", "database, connections, disk, certificates, backup age; alerts on change",
            "python:dbtier.health:cmd_health", "", ("DB_ENGINE", "APP_NAME")),
    Command("archive-wal", "archive-wal <path> <name>",
            "PostgreSQL archive_command (%p %f): zstd -> age -> S3, signed, read back", "pitr", "", PITR_KEYS,
            ("zstd", "age", "ssh-keygen"), self_managed_only=True),
    Command("fetch-wal", "fetch-wal <name> <dest>",
            "PostgreSQL restore_command: download, check signature and sha256, decrypt", "pitr", "", PITR_KEYS,
            ("zstd", "age", "ssh-keygen"), self_managed_only=True),
    Command("archive-binlogs", "archive-binlogs", "MariaDB/MySQL: flush and ship every closed binlog, signed",
            "pitr", "archive", PITR_KEYS, ("zstd", "age", "ssh-keygen"), self_managed_only=True),
    Command("basebackup", "basebackup", "physical base backup to <APP_NAME>/base/<id>/, signed manifest",
            "pitr", MAIN_LOCK, PITR_KEYS, ("zstd", "age", "ssh-keygen"), self_managed_only=True),
    Command("verify-base", "verify-base <id|latest>",
            "restore a base backup into a scratch instance, replay the archive, check, record", "pitr",
            MAIN_LOCK, PITR_KEYS, ("zstd", "age", "ssh-keygen"), self_managed_only=True),
    Command("pitr-window", "pitr-window", "the recoverable window (from .. to) from the archive", "pitr", "",
            ("DB_ENGINE", "APP_NAME"), self_managed_only=True),
]}

USAGE_FOOTER = """
  verify, restore and load-app-db from a period need the age identity: --identity FILE or
  DBTIER_AGE_IDENTITY_FILE (it is never kept on the host).
exit status: 0 ok, 1 failure, 2 usage or configuration error"""


def usage() -> str:
    lines = ["usage: dbtier-db <command> [args]", ""]
    for c in [c for c in COMMANDS.values() if not c.hidden] + [Command("help", "help", "this text", "")]:
        help_lines = c.help.split("\n")
        if len(c.usage) <= 28:
            lines.append(f"  {c.usage:<28} {help_lines[0]}")
        else:
            lines.append(f"  {c.usage}")
            lines.append(f"  {'':<28} {help_lines[0]}")
        lines += [f"  {'':<28} {h}" for h in help_lines[1:]]
    return "\n".join(lines) + "\n" + USAGE_FOOTER + "\n"


def resolve(argv: Sequence[str]) -> Optional[Command]:
    if not argv or argv[0] not in COMMANDS or argv[0] == "restore-pitr":
        return None
    c = COMMANDS[argv[0]]
    if c.route:
        c = COMMANDS[c.route(argv[1:])]
    return c


def spec(argv: Sequence[str]) -> Optional[str]:
    c = resolve(argv)
    if c is None or c.impl != "bash":
        return None
    return "\t".join([c.impl, c.lock or "-", " ".join(c.keys) or "-", " ".join(c.tools) or "-"])


class Lock:
    """flock on $DBTIER_STATE_DIR/<name>.lock, waiting DBTIER_LOCK_WAIT seconds [1800] (as lib/common.sh)."""

    def __init__(self, cfg: config.Config, name: str, what: str) -> None:
        wait_raw = os.environ.get("DBTIER_LOCK_WAIT", "1800")
        if not wait_raw.isdigit():
            raise config.ConfigError(f"DBTIER_LOCK_WAIT='{wait_raw}': must be seconds")
        state = cfg.state_dir
        try:
            os.makedirs(state, exist_ok=True)
        except OSError:
            raise Failure(f"cannot create state directory {state}") from None
        path = os.path.join(state, f"{name}.lock")
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        wait = int(wait_raw)
        log(f"another dbtier-db run holds {path}; waiting up to {wait}s")
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Failure(f"{what} refused: another dbtier-db run still holds {path} after {wait}s") from None
                time.sleep(0.5)


def _pitr_function(c: Command, cfg: config.Config, argv0: str) -> Callable:
    module_name = PITR_MODULES[cfg.engine]
    function = ("restore" if c.name == "restore-pitr" else argv0).replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and (e.name == module_name or module_name.startswith(e.name + ".")):
            raise Failure(f"{argv0} is not available for {cfg.engine} yet ({module_name} is not installed)") from None
        raise
    fn = getattr(module, function, None)
    if fn is None:
        raise Failure(f"{argv0} is not available for {cfg.engine} yet ({module_name}.{function} is missing)")
    return fn


def run_python(c: Command, argv: List[str]) -> int:
    cfg = config.load()
    if c.self_managed_only and cfg.role == "proxy":
        raise config.ConfigError(f"{argv[0]}: managed: use the provider's PITR, dbtier:restoreFrom")
    cfg.require(*c.keys)
    missing = [t for t in c.tools if shutil.which(t) is None]
    if missing:
        raise Failure(f"missing command(s): {' '.join(missing)} (run 'dbtier-db install')")
    if c.impl == "pitr":
        fn = _pitr_function(c, cfg, argv[0])
    else:
        _, module_name, function = c.impl.split(":")
        fn = getattr(importlib.import_module(module_name), function)
    lock = Lock(cfg, c.lock, " ".join(argv[:1 + c.lock_label_args])) if c.lock else None
    try:
        result = fn(cfg, argv[1:])
    finally:
        if lock is not None:
            os.close(lock.fd)
    return int(result or 0)


def main(argv: Sequence[str]) -> None:
    argv = list(argv)
    if not argv or argv[0] in ("help", "-h", "--help"):
        sys.stdout.write(usage())
        sys.exit(0 if argv else EXIT_USAGE)
    c = resolve(argv)
    set_command(argv[0])
    if c is None:
        sys.stderr.write(usage())
        log(f"error: unknown command '{argv[0]}'")
        sys.exit(EXIT_USAGE)
    if c.impl == "bash":
        # back to the launcher with the spec (one Python start per run, not one more for every Python command)
        os.environ["DBTIER_BASH_SPEC"] = spec(argv) or ""
        launcher = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "dbtier-db")
        bash = shutil.which("bash") or "/bin/bash"
        try:
            os.execv(bash, [bash, launcher, *argv])
        except OSError as e:
            log(f"error: internal: cannot run {launcher} for {argv[0]}: {e}")
            sys.exit(EXIT_FAIL)
    from dbtier import s3
    # A signal ends the run through the exception path, so an upload in flight is aborted first.
    signal.signal(signal.SIGTERM, s3.on_signal)
    signal.signal(signal.SIGINT, s3.on_signal)
    try:
        sys.exit(run_python(c, argv))
    except s3.Interrupted as e:
        _fail(c, argv, f"stopped by {e}", 143 if str(e) == "SIGTERM" else 130)
    except config.ConfigError as e:
        _fail(c, argv, str(e), EXIT_USAGE)
    except Failure as e:
        _fail(c, argv, str(e), e.code)
    except Exception as e:  # noqa: BLE001 - a bug still fails the run visibly, with its alert
        import traceback
        sys.stderr.write(traceback.format_exc())
        _fail(c, argv, f"internal error: {e.__class__.__name__}: {e}", EXIT_FAIL)


def _fail(c: Command, argv: List[str], message: str, code: int) -> None:
    # A second signal must not cut the report and the alert short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    log(f"error: {message}")
    # A bash caller (restore's safety backup) reads the reason from here.
    if os.environ.get("DBTIER_ERROR_FILE"):
        try:
            with open(os.environ["DBTIER_ERROR_FILE"], "w") as f:
                f.write(message + "\n")
        except OSError:
            pass
    if c.alert:
        try:
            from dbtier import alert
            from dbtier.db import RunDir
            cfg = config.load(warn=lambda _m: None)
            with RunDir() as run:
                import socket
                alert.send(cfg, run, f"dbtier-db {argv[0]} failed on {socket.gethostname()}", message)
        except Exception as e:  # noqa: BLE001 - the failure itself is what matters
            log(f"warning: alert not sent: {e}")
    sys.exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
