"""dbtier-db load-app-db [--force | --if-empty] [--backup-id ID]: the application database's first content
(APP_DB_SOURCE: virgin, baseline (a dump in git), or the newest verified backup of a period, of this stack or
of APP_DB_SOURCE_APP's for a promotion), and replacing it on purpose (--force).

Every load goes into the side database <DB_NAME>_dbtier_load, is checked there and swapped in; a DB_NAME that
holds anything gets a safety backup first, read back with the age identity, just before the swap. --if-empty
is what `pulumi up` runs: a database that holds data is left as it is.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from typing import Callable, List, Optional

from . import config, trust
from .db import Admin, RunDir
from .log import Failure, log
from .readback import Args, Reader, Selected, StreamError, identity_file, identity_given, parse_args
from .sidedb import CheckFailed, Side, SwapFailed

USAGE = "usage: dbtier-db load-app-db [--force | --if-empty] [--backup-id ID] [--identity FILE]"
BASELINE_SUFFIXES = (".sql", ".sql.zst", ".sql.gz")


class Baseline:
    """A shallow clone of the baseline repository (deploy key and pinned known_hosts from secret files),
    removed when the load is done."""

    def __init__(self, cfg: config.Config, run: RunDir) -> None:
        cfg.require("APP_DB_BASELINE_REPO")
        if not shutil.which("git"):
            raise Failure("missing command(s): git (run 'dbtier-db install')")
        self.repo, self.path = cfg.get("APP_DB_BASELINE_REPO"), cfg.get("APP_DB_BASELINE_PATH")
        ssh = ["ssh", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes"]
        if config.has_secret("baseline-deploy-key"):
            config.secret("baseline-deploy-key")  # 0600, or refused
            ssh += ["-i", config.secret_path("baseline-deploy-key")]
        if config.has_secret("baseline-known-hosts"):
            ssh += ["-o", f"UserKnownHostsFile={config.secret_path('baseline-known-hosts')}"]
        elif ("@" in self.repo and ":" in self.repo.split("@", 1)[1]) or self.repo.startswith("ssh://"):
            raise config.ConfigError(f"baseline repository {self.repo} needs the git server's host key in "
                                     f"{config.secret_path('baseline-known-hosts')}")
        self.ssh = " ".join(ssh)
        self.dir = tempfile.mkdtemp(prefix="dbtier-baseline.", dir=os.environ.get("TMPDIR") or "/var/tmp")
        self.run = run

    def fetch(self) -> str:
        env = dict(os.environ, GIT_SSH_COMMAND=self.ssh, GIT_TERMINAL_PROMPT="0")
        clone = os.path.join(self.dir, "repo")
        delay, err = 2, ""
        for n in range(1, 4):
            shutil.rmtree(clone, ignore_errors=True)  # a failed attempt's leftovers would refuse the next
            r = subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--no-tags", "--", self.repo, clone],
                               stdin=subprocess.DEVNULL, capture_output=True, env=env)
            if r.returncode == 0:
                break
            err = r.stderr.decode(errors="replace")
            if n == 3:
                raise Failure(f"cannot clone the baseline repository {self.repo}: {' '.join(err.strip().splitlines()[-2:])}")
            log(f"attempt {n}/3 of git clone failed; retrying in {delay}s")
            time.sleep(delay)
            delay *= 2
        file = os.path.join(clone, self.path)
        if not os.path.isfile(file):
            raise Failure(f"baseline repository {self.repo} has no {self.path} (APP_DB_BASELINE_PATH)")
        if not file.endswith(BASELINE_SUFFIXES):
            raise config.ConfigError("APP_DB_BASELINE_PATH must end in .sql, .sql.zst or .sql.gz")
        return file

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class Load:
    """One replacement of DB_NAME: loader(side) fills the side database (raises StreamError), checker(side)
    checks it (raises CheckFailed)."""

    def __init__(self, cfg: config.Config, run: RunDir, adm: Admin) -> None:
        self.cfg, self.run, self.adm = cfg, run, adm
        self.side = Side(cfg, run, adm)

    def _with_retries(self, db: str, what: str, loader: Callable[[str], None]) -> None:
        """At most DBTIER_LOAD_ATTEMPTS [3] times, on a fresh database each time, the delay doubling from
        DBTIER_CONNECT_DELAY [2]. A refused backup (signature, checksum) is final: the stored object is bad."""
        attempts = int(os.environ.get("DBTIER_LOAD_ATTEMPTS") or 3)
        delay = float(os.environ.get("DBTIER_CONNECT_DELAY") or 2)
        n = 1
        while True:
            try:
                loader(db)
                return
            except StreamError as e:
                reason = str(e) or "unknown error"
            if n >= attempts or "download failed" in reason:
                self.adm.drop_quietly(db)
                raise Failure(f"loading {what} failed after {n} attempt(s): {reason}")
            log(f"load attempt {n} failed ({reason}); retrying in {delay:g}s")
            time.sleep(delay)
            delay *= 2
            n += 1
            self.adm.wait_ready()
            self.side.fresh(db)

    def replace(self, what: str, identity: str, loader: Callable[[str], None], checker: Callable[[str], None],
                manifest: Optional[dict] = None) -> str:
        """Loads into the side database, checks it, then swaps it in for DB_NAME; a non-empty DB_NAME gets a
        safety backup just before the swap, read back with the age identity. Nothing of DB_NAME changes
        before the swap, and a failed swap is rolled back (swap.py). Returns the safety backup's id or ""."""
        db = self.cfg.get("DB_NAME")
        objects = self.adm.object_count(db)
        if objects:
            if not identity:
                raise config.ConfigError(f"{db} holds {objects} objects: replacing it needs a safety backup read back "
                                         "with the age identity (--identity FILE)")
            self.cfg.require("BACKUP_RECIPIENT", "BACKUP_SIGNING_PUBLIC_KEY")
            trust.check_signing_key(self.cfg)
        name = self.side.name("load")
        self.side.fresh(name)
        try:
            self._with_retries(name, what, loader)
            checker(name)
        except CheckFailed as e:
            self.adm.drop_quietly(name)
            raise Failure(f"loading {what} FAILED, {db} untouched: {e}") from None
        except BaseException:
            self.adm.drop_quietly(name)
            raise
        safety = self.side.safety_backup("load-app-db", identity, name)
        try:
            self.side.swap_in(db, name, manifest)
        except SwapFailed as e:
            raise Failure(f"load-app-db of {what} FAILED at the swap: {e}"
                          f"{f' (safety backup: safety/{safety})' if safety else ''}") from None
        return safety or ""


def _check_args(cfg: config.Config, args: Args) -> str:
    if args.rest:
        raise config.ConfigError(USAGE)
    if args.force and args.if_empty:
        raise config.ConfigError("--force and --if-empty contradict each other")
    source = cfg.get("APP_DB_SOURCE")
    if source not in ("virgin", "baseline") + config.PERIODS:
        raise config.ConfigError(f"APP_DB_SOURCE='{source}': allowed virgin, baseline, {' '.join(config.PERIODS)}")
    if args.backup_id:
        if source not in config.PERIODS:
            raise config.ConfigError(f"--backup-id needs a backup period as APP_DB_SOURCE, not '{source}'")
        if not config.is_backup_id(args.backup_id):
            raise config.ConfigError(f"--backup-id '{args.backup_id}': expected YYYYMMDDTHHMMSSZ-xxxxxx")
    return source


def cmd_load_app_db(cfg: config.Config, argv: List[str]) -> int:
    args = parse_args(argv)
    source = _check_args(cfg, args)
    db = cfg.get("DB_NAME")
    with RunDir() as run:
        adm = Admin(cfg, run)
        adm.wait_ready()
        Side(cfg, run, adm).recover_swap()  # before DB_NAME is judged empty or not
        if cfg.role == "proxy":
            adm.ensure_app_user()
        objects = adm.object_count(db)
        if objects:
            if args.if_empty:
                log(f"load-app-db: {db} already holds data ({objects} tables/views/routines); left as it is (--if-empty)")
                return 0
            if not args.force:
                raise Failure(f"database {db} is not empty ({objects} tables/views/routines); pass --force to replace it")
            Reader(cfg, run, adm)  # the safety backup goes under this stack's own prefix: its datastore keys checked
        identity = ""
        if source in config.PERIODS or objects:
            if args.if_empty and not identity_given(args):
                log(f"load-app-db: NOT LOADED: a {source} backup is decrypted with the age identity, which never stays on "
                    "a host; load it with 'npm run promote' or 'dbtier-db load-app-db --identity FILE'")
                return 0
            if objects and not identity_given(args):
                raise config.ConfigError(f"{db} holds {objects} objects: replacing it needs a safety backup read back "
                                         "with the age identity (--identity FILE)")
            identity = identity_file(args)
        load = Load(cfg, run, adm)
        if source == "virgin":
            if objects:
                load.replace("an empty database", identity, lambda _db: None, lambda _db: None)
            else:
                adm.create(db)
            log(f"load-app-db: empty database {db} ready")
        elif source == "baseline":
            _load_baseline(cfg, run, load, identity)
        else:
            _load_backup(cfg, run, adm, load, args, source, identity)
    return 0


def _load_baseline(cfg: config.Config, run: RunDir, load: Load, identity: str) -> None:
    baseline = Baseline(cfg, run)
    try:
        file = baseline.fetch()
        stats = os.path.join(run.path, "baseline-stats.json")
        load.replace("the baseline", identity, lambda side: load.side.load_file(file, side, stats),
                     lambda side: load.side.check_rows(side, stats))
    finally:
        baseline.remove()
    log(f"load-app-db: baseline {cfg.get('APP_DB_BASELINE_PATH')} loaded into {cfg.get('DB_NAME')} and checked")


def _load_backup(cfg: config.Config, run: RunDir, adm: Admin, load: Load, args: Args, source: str, identity: str) -> None:
    missing = [t for t in ("zstd", "age", "ssh-keygen") if not shutil.which(t)]
    if missing:
        raise Failure(f"missing command(s): {' '.join(missing)} (run 'dbtier-db install')")
    reader = Reader(cfg, run, adm, cfg.source_app)
    trust.require_signer(cfg, cfg.source_app)
    reader.reachable()
    # Only a backup whose signed test restore passed is trusted to become the application database;
    # promotion names the very backup it verified (--backup-id).
    sel: Selected = reader.select(args.backup_id or source, "verified")
    seen: dict = {"stats": None, "checked": ""}

    def loader(side: str) -> None:
        seen["stats"] = load.side.stream_into(reader, sel, identity, side)

    def checker(side: str) -> None:
        seen["checked"] = load.side.check(side, sel, seen["stats"])

    load.replace(sel.name, identity, loader, checker, sel.doc)
    log(f"load-app-db: {sel.name} loaded into {cfg.get('DB_NAME')} and checked against {seen['checked']}")


def cmd_object_count(cfg: config.Config, argv: List[str]) -> int:
    """Internal (`dbtier-db _object-count`, promote's read-only probe): the objects in DB_NAME on stdout, 0
    when it does not exist; "could not tell" fails (never 0). No lock, nothing created."""
    if argv:
        raise config.ConfigError("usage: dbtier-db _object-count")
    with RunDir() as run:
        adm = Admin(cfg, run)
        adm.wait_ready()
        print(adm.object_count(cfg.get("DB_NAME")))
    return 0
