"""What verify, restore and load-app-db share once a backup is chosen: a side database loaded from it, checked
against the source, and (restore, load-app-db) swapped in for DB_NAME with the application fenced.

  s = Side(cfg, run, adm)
  s.check_free_space(what, manifest_doc)    refuses with the figures (a full disk stops MariaDB, panics PostgreSQL)
  s.fresh(name)                             drop + create (empty, owned by / granted to the app user)
  s.loader(db, fmt) -> pipeline.Stage       THE loader (parallel-load.py as the app user, never the admin;
                                            MariaDB/MySQL events created DISABLED, s.event_status(db) their status)
  s.stream_into(reader, sel, identity, db) -> stats file or None     raises StreamError naming the stage
  s.check(db, sel, stats) -> what was compared      raises CheckFailed with the differences
  s.safety_backup(what, identity, side) -> id or None   taken just before the swap, read back (signature,
                                            every part, decryption, decompression); on failure side is dropped
  s.swap_in(live, side, manifest_doc=None)  swap.py; raises SwapFailed with the state live is left in

The order of the loads' own steps (the database's defaults first on MariaDB/MySQL, its settings last on
PostgreSQL) and the checks are those of the bash toolkit this replaces (issue 11), unchanged.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
from typing import Dict, Optional

from . import backup, config, pipeline, s3
from .backup import LIB, PYTHON
from .earlycheck import EarlyDigests
from .db import Admin, RunDir, last_lines, lib_module
from .log import Failure, log
from .readback import Reader, Selected, StatsTee, StreamError, discard

DUMP_FORMATS = ("sql", "mysql-exact-1", "pg-split-1")
# Connections reading a side or scratch database when it is checked (DBTIER_CHECK_JOBS overrides): MariaDB's
# scans wait on page reads as much as on the CPU, so more of them than cores still shorten its check, as
# connections in the checker's process (libmariadb); as `mariadb` client processes (no python3-mysqldb, the
# MySQL flavour) each costs ~10 MiB of the client's memory. PostgreSQL: sessions of one server process each
# (no parallel workers: fingerprint.PG_CHECK_SESSION), one per core of the server (scripts/bench/WHY.md).
CHECK_JOBS = {"mysql": 8, "mysql-client": 2, "postgres": 2}


def check_jobs(kind: str) -> int:
    value = os.environ.get("DBTIER_CHECK_JOBS") or str(CHECK_JOBS[kind])
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise Failure(f"DBTIER_CHECK_JOBS={value!r}: allowed a whole number from 1 to 64")
    return int(value)


class CheckFailed(Exception):
    pass


class CheckInconclusive(CheckFailed):
    """The copy's digests could not be taken (the server refused or dropped the check's sessions): this says
    nothing about the backup."""


class SwapFailed(Exception):
    pass


@contextlib.contextmanager
def _signals_deferred():
    """SIGTERM/SIGINT wait until the block is done (the swap: killing it midway would leave the application
    fenced or the databases half renamed), then end the run as they would have."""
    caught = []
    previous = {s: signal.signal(s, lambda signum, _f: caught.append(signum)) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if caught:
            log(f"{signal.Signals(caught[0]).name} arrived during the swap; it was let finish")
            raise s3.Interrupted(signal.Signals(caught[0]).name)


def _name_key(name: str) -> str:
    """A file-name-safe key of a database name."""
    return hashlib.sha256(name.encode()).hexdigest()[:16]


def swap_journal(cfg: config.Config) -> str:
    """Where swap.py keeps what a swap of DB_NAME has done until the live database is whole again."""
    return os.path.join(cfg.state_dir, f"swap-{_name_key(cfg.get('DB_NAME'))}.json")


def has_source_digests(doc: Dict) -> bool:
    return isinstance((doc.get("source") or {}).get("tables"), dict)


class Side:
    def __init__(self, cfg: config.Config, run: RunDir, adm: Admin) -> None:
        self.cfg, self.run, self.adm = cfg, run, adm
        self.early: Dict[str, Dict[str, Dict[str, object]]] = {}  # db -> row digests taken beside its load

    def name(self, purpose: str) -> str:
        try:
            return config.side_name(self.cfg, purpose)
        except RuntimeError as e:
            raise Failure(str(e)) from None

    def _tool(self, argv) -> subprocess.CompletedProcess:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=self.adm.env)

    # ---- before anything is loaded ----

    def check_free_space(self, what: str, doc: Dict) -> None:
        """Room for a full copy of DB_NAME beside the live one: the source's size at backup time plus
        DBTIER_SPACE_MARGIN_PCT [20] %, and DBTIER_SPACE_RESERVE_PCT [5] % of the filesystem left free."""
        directory = self.adm.local_data_dir()
        if not directory:
            log(f"{what}: free space is the provider's (a managed database); not checked here")
            return
        if not os.path.isdir(directory):
            raise Failure(f"{what} refused: cannot check free space: the data directory {directory} is not on this host "
                          "(set DB_DATA_DIR)")
        source = doc.get("sourceBytes")
        if not isinstance(source, int) or isinstance(source, bool):
            source = self.adm.size_bytes(self.cfg.get("DB_NAME"))
            if source is None:
                raise Failure(f"{what} refused: cannot tell how much space a copy needs (no size in the manifest, the "
                              "live database's size unreadable)")
        try:
            st = os.statvfs(directory)
        except OSError:
            raise Failure(f"{what} refused: cannot read the free space of {directory}") from None
        avail, total = st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
        margin = int(os.environ.get("DBTIER_SPACE_MARGIN_PCT") or 20)
        need = source + source * margin // 100
        reserve = total * int(os.environ.get("DBTIER_SPACE_RESERVE_PCT") or 5) // 100
        if need + reserve > avail:
            raise Failure(f"{what} refused: a copy of {self.cfg.get('DB_NAME')} needs about {need >> 20} MiB (the source "
                          f"was {source >> 20} MiB when backed up, plus {margin}%) and {reserve >> 20} MiB must stay free "
                          f"on {directory}, which has {avail >> 20} MiB free")
        log(f"{what}: {avail >> 20} MiB free on {directory}; a copy needs about {need >> 20} MiB")

    def fresh(self, db: str) -> None:
        self.adm.drop(db)
        self.adm.create(db)

    # ---- loading ----

    def loader(self, db: str, fmt: str, announce: str = "") -> pipeline.Stage:
        """The dump's SQL runs with the app user's rights only: the loader connects as the app user (a SET ROLE
        could be undone by the SQL itself with RESET ROLE); create() gave that user the empty database.
        DBTIER_LOAD_JOBS [2] connections (on two cores a third added nothing)."""
        if fmt not in DUMP_FORMATS:
            raise Failure(f"load: dump format '{fmt}' is unknown (known: {', '.join(DUMP_FORMATS)})")
        cfg = self.cfg
        cfg.require("DB_USER")
        if cfg.get("DB_SOCKET"):
            conn = ["--socket", cfg.get("DB_SOCKET")]
        else:
            conn = ["--host", cfg.get("DB_HOST"), "--port", cfg.get("DB_PORT"), "--tls-mode", cfg.get("DB_TLS_MODE")]
            if cfg.get("DB_TLS_MODE").startswith("verify-"):
                conn += ["--ca-file", cfg.get("DB_CA_FILE")]
        config.secret("db-app-password")  # exists, 0600: the loader reads it by path
        conn += ["--user", cfg.get("DB_USER"), "--password-file", config.secret_path("db-app-password")]
        extra = []
        if cfg.family == "mysql":
            policy = self.adm.primary_key_policy()
            if policy == "session":
                extra = ["--session-sql", "SET SESSION sql_require_primary_key = 0"]
            elif policy == "rewrite":
                extra = ["--add-pk"]
        if announce:
            extra += ["--announce", announce]
        if cfg.family == "mysql":  # the application's events must not run in a side or scratch database
            extra += ["--events-disabled", self.run.private_file(self._event_status_name(db), "{}")]
        return pipeline.Stage("load", [PYTHON, os.path.join(LIB, "parallel-load.py"), "--engine", self.adm.loader_engine,
                                       "--database", db, *conn, "--jobs", os.environ.get("DBTIER_LOAD_JOBS") or "2",
                                       "--format", fmt, "--dbaas", *extra])

    @staticmethod
    def _event_status_name(db: str) -> str:
        """The run's file in which the loader names the status each event of db had at the source."""
        return f"event-status-{_name_key(db)}.json"

    def _event_status_path(self, db: str) -> Optional[str]:
        """That file, if db was loaded in this run."""
        path = os.path.join(self.run.path, self._event_status_name(db))
        return path if os.path.exists(path) else None

    def event_status(self, db: str) -> Optional[Dict[str, str]]:
        """What the loader wrote for db (None: db was not loaded by it in this run)."""
        path = self._event_status_path(db)
        return None if path is None else lib_module("dumpkit").read_event_status(path)

    def _database_properties(self, db: str, sel: Selected) -> None:
        """The database defaults/settings and comment the backup recorded (source.database), given to db."""
        fingerprint = backup.fingerprint_module()
        try:
            statements = fingerprint.database_statements(self.cfg.family, db, sel.manifest_file)
            if statements:
                self.adm.sql("".join(st + ";\n" for st in statements))
        except Exception as e:  # noqa: BLE001 - fingerprint.Failure or DbError, named below
            why = f"fingerprint: {e}" if isinstance(e, fingerprint.Failure) else str(e)
            raise StreamError(f"setting the database's own defaults/settings on {db} failed: {' '.join(why.split())}") from None

    def _privileged_extensions(self, db: str, sel: Selected) -> None:
        """The source's extensions that only a superuser may create, created by the admin before the app user's
        load (which would be refused them). Backups before source.extensions: the load creates what it may."""
        extensions = (sel.doc.get("source") or {}).get("extensions") or []
        if not isinstance(extensions, list) or not all(isinstance(e, dict) for e in extensions):
            raise Failure(f"{sel.name}: source.extensions is not a list of extensions")
        created = self.adm.create_extensions(db, extensions)
        if created:
            log(f"created extension{'s' if len(created) > 1 else ''} {', '.join(created)} in {db} as the admin "
                "(only a superuser may create them)")

    def stream_into(self, reader: Reader, sel: Selected, identity: str, db: str) -> Optional[str]:
        """Loads the backup into the (fresh) database db. Returns the file of the dump's own row digests read
        on the way (a backup without source digests), else None. Raises StreamError."""
        stats = None if has_source_digests(sel.doc) else os.path.join(self.run.path, f"stream-stats-{db}.json")
        # The database's own defaults go first on MariaDB/MySQL (what the dump creates takes its collations
        # from them), its settings last on PostgreSQL (default_transaction_read_only must not reach the load).
        if self.cfg.family == "mysql":
            self._database_properties(db, sel)
        else:
            self._privileged_extensions(db, sel)
        self.early.pop(db, None)
        early = self._early_digests(db, sel)
        fmt = (sel.doc.get("dump") or {}).get("format") or "sql"
        try:
            reader.stream(sel, identity, self.loader(db, fmt, early.path if early else ""), stats)
        except BaseException:
            if early:
                early.stop()
            raise
        if early:
            self.early[db] = early.finish()
        if self.cfg.family != "mysql":
            self._database_properties(db, sel)
        return stats

    def _early_digests(self, db: str, sel: Selected) -> Optional[EarlyDigests]:
        """Started for a load whose tables can be checked while it goes on (earlycheck.py): MariaDB, an
        mysql-exact-1 dump with the source's row sums (mysql-row-sha256), libmariadb here. DBTIER_EARLY_CHECK=0:
        every table is read after the load."""
        if self.cfg.family != "mysql" or os.environ.get("DBTIER_EARLY_CHECK") == "0" or not has_source_digests(sel.doc):
            return None
        fingerprint = backup.fingerprint_module()
        if ((sel.doc.get("dump") or {}).get("format") != "mysql-exact-1"
                or fingerprint.row_digest_of(sel.doc["source"]) != fingerprint.MY_ROW_SHA256):
            return None
        target = self.adm.row_driver(fingerprint)
        if target is None:
            return None
        early = EarlyDigests(self.run.private_file("loaded-tables.jsonl", ""), db, target, check_jobs("mysql"), fingerprint)
        early.start()
        return early

    def load_file(self, path: str, db: str, stats: str) -> None:
        """A baseline dump file (.sql, .sql.zst, .sql.gz) into db; the dump's own rows and digests to stats."""
        decompress = {".sql": ["cat", "--", path], ".zst": ["zstd", "-d", "-q", "-c", "--", path],
                      ".gz": ["gzip", "-d", "-c", "--", path]}[os.path.splitext(path)[1]]
        tee = StatsTee(self.cfg, stats, self.adm.env)
        result = pipeline.run([pipeline.Stage("decompress", decompress), pipeline.Stage("tee", fn=tee),
                               self.loader(db, "sql")], env=self.adm.env)
        why = result.failure()
        if why:
            raise StreamError(why)
        if tee.code != 0:
            raise StreamError("the dump statistics reader failed")

    # ---- checking ----

    def check(self, db: str, sel: Selected, stats: Optional[str]) -> str:
        """Compares db with what the backup recorded of its source: the source's digests taken inside the
        dump's snapshot (exact) or, for backups without them, the dump's own row digests (stats, read on the
        way in). Returns what was compared; raises CheckFailed with the differences."""
        source = sel.doc.get("source") or {}
        inexact = "; ".join(source.get("inexact") or [])
        if inexact:
            raise CheckFailed(f"the backup cannot be restored exactly: {inexact}")
        if has_source_digests(sel.doc):
            expected = self.run.private_file("source-digests.json", json.dumps(source))
            actual = os.path.join(self.run.path, "restored-digests.json")
            # In this process (threads: the sessions wait on the server): a fingerprint.py process of its own
            # was one more Python start and import (scripts/bench/WHY.md).
            fingerprint = backup.fingerprint_module()
            # the side database is digested the way the source's rows were
            method = fingerprint.row_digest_of(source) or (
                fingerprint.MY_ROW_SHA256 if self.cfg.family == "mysql" else fingerprint.PG_ROW_SHA256)
            known = self.early.pop(db, None)
            try:
                # db is a side or scratch database nothing else writes to: its tables are read over several
                # connections (CHECK_JOBS), large MariaDB/MySQL tables in key ranges.
                if self.cfg.family == "mysql":
                    # the row sums (mysql-row-sha256) over libmariadb connections here, not a client each;
                    # older backups' ordered stream digests go through clients
                    target = self.adm.row_driver(fingerprint) if method == fingerprint.MY_ROW_SHA256 else None
                    jobs = check_jobs("mysql" if target is not None else "mysql-client")
                    fingerprint.mysql_fingerprint(db, actual, self.adm.client, self.adm.cnf, jobs, method, target, known,
                                                  self.event_status(db))
                else:
                    fingerprint.pg_fingerprint(db, actual, check_jobs("postgres"), method, env=self.adm.env)
            except Exception as e:  # noqa: BLE001 - fingerprint.Failure, or a driver's own error
                raise CheckInconclusive(f"taking the digests of {db} failed: fingerprint: {last_lines(str(e), 2)}") from None
            problems = fingerprint.differences(expected, actual)
            if problems:
                raise CheckFailed(f"{db} differs from the source as it was backed up: {';'.join(problems)};")
            return f"the source's digests of {len(source['tables'])} tables"
        if stats:
            redump = os.path.join(self.run.path, "redump.json")
            result = pipeline.run([self._plain_dump(db), pipeline.Stage(
                "stats", [PYTHON, os.path.join(LIB, "dumpkit.py"), "stats", self.cfg.family, redump])], env=self.adm.env)
            if not result.ok:
                raise CheckFailed(f"re-dumping {db} failed: {result.failure()}")
            r = self._tool([PYTHON, os.path.join(LIB, "dumpkit.py"), "compare", stats, redump])
            if r.returncode != 0:
                raise CheckFailed(f"{db} differs from the backup's dump: {r.stderr.decode(errors='replace').replace(chr(10), ';')}")
            with open(stats) as f:
                n = len(json.load(f).get("tables") or {})
            return f"the row digests of the dump's {n} tables (this backup has no source digests)"
        raise CheckFailed(f"internal error: nothing to check {db} against")

    def _plain_dump(self, db: str) -> pipeline.Stage:
        """The old plain dump (format "sql"), so a re-dump renders rows as an old backup's dump did."""
        if self.cfg.family == "mysql":
            argv = [self.adm.dump_tool, f"--defaults-extra-file={self.adm.cnf}", "--single-transaction", "--quick",
                    "--routines", "--triggers", "--events", "--order-by-primary", "--skip-dump-date",
                    "--max-allowed-packet=1G", "--default-character-set=utf8mb4"]
            if self.adm.flavor == "mysql":
                argv += ["--set-gtid-purged=OFF", "--column-statistics=0"]
            return pipeline.Stage("redump", argv + [db])
        return pipeline.Stage("redump", ["pg_dump", "--format=plain", "--no-owner", "--no-privileges", "--encoding=UTF8",
                                         "-d", db])

    def check_rows(self, db: str, expected: str) -> None:
        """Row counts in db equal a dump's (a stats file from dumpkit.py): what a baseline load is checked by."""
        actual = self.run.private_file("loaded-rows.json", json.dumps(
            {"tables": {t: {"rows": n} for t, n in sorted(self.adm.row_counts(db).items())}}))
        r = self._tool([PYTHON, os.path.join(LIB, "dumpkit.py"), "compare", expected, actual, "--rows-only"])
        if r.returncode != 0:
            raise CheckFailed(f"loaded database {db} does not match its source: "
                              f"{r.stderr.decode(errors='replace').replace(chr(10), ';')}")

    # ---- replacing DB_NAME ----

    def safety_backup(self, what: str, identity: str, side: str) -> Optional[str]:
        """A safety backup of a DB_NAME that holds anything, taken by this run (it holds the lock) just before
        the swap, so it holds the live state the swap replaces, then read back before it is relied on. None when
        there was nothing to keep. On failure side is dropped and DB_NAME is untouched."""
        db = self.cfg.get("DB_NAME")
        objects = self.adm.object_count(db)
        if objects == 0:
            return None
        log(f"{what}: {db} holds {objects} objects: safety backup before the swap")
        try:
            _adm, client, signer = backup._setup(self.cfg, self.run)
            self.adm.prepare_app_role()
            safety_id = backup.take(self.cfg, self.run, self.adm, client, signer, "safety")
            backup.prune(self.cfg, client, "safety")
        except (Failure, config.ConfigError) as e:
            self.adm.drop_quietly(side)
            raise Failure(f"{what} refused, {db} untouched: the safety backup failed: {e}",
                          code=getattr(e, "code", 1)) from None
        reader = Reader(self.cfg, self.run, self.adm)
        try:
            reader.stream(reader.selected("safety", safety_id), identity, discard())
        except (StreamError, Failure) as e:
            self.adm.drop_quietly(side)
            raise Failure(f"{what} refused, {db} untouched: the safety backup safety/{safety_id} does not read back: {e}") from None
        log(f"{what}: safety backup safety/{safety_id} read back and decrypted")
        return safety_id

    def _swap_argv(self, *args: str) -> list:
        """swap.py with ARGS, the app user, the journal and the admin's connection."""
        cfg = self.cfg
        argv = [PYTHON, os.path.join(LIB, "swap.py"), "--engine", self.adm.loader_engine, *args,
                "--app-user", cfg.get("DB_USER"), "--journal", swap_journal(self.cfg)]
        if cfg.family == "mysql":  # the app user re-creates its views/triggers/routines
            argv += ["--app-password-file", config.secret_path("db-app-password")]
        if cfg.get("DB_SOCKET"):
            argv += ["--socket", cfg.get("DB_SOCKET")] + (["--port", cfg.get("DB_PORT")] if cfg.get("DB_PORT") else [])
        else:
            argv += ["--host", cfg.get("DB_HOST"), "--port", cfg.get("DB_PORT"), "--tls-mode", cfg.get("DB_TLS_MODE")]
            if cfg.get("DB_CA_FILE"):
                argv += ["--ca-file", cfg.get("DB_CA_FILE")]
        return argv + ["--user", cfg.get("DB_ADMIN_USER"), "--password-file", config.secret_path("db-admin-password")]

    def recover_swap(self) -> None:
        """A swap of DB_NAME that a run cut off midway (its journal is there) rolled back (MariaDB/MySQL) or
        finished (PostgreSQL) before anything reads or replaces DB_NAME. Raises Failure if that fails."""
        if not os.path.exists(swap_journal(self.cfg)):
            return
        with _signals_deferred():
            r = subprocess.run(self._swap_argv("--recover"), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env=self.adm.env)
        err = " ".join(r.stderr.decode(errors="replace").split())
        if r.returncode != 0:
            raise Failure(f"a swap of {self.cfg.get('DB_NAME')} was cut off midway and could not be recovered: "
                          f"{err or f'swap.py exit {r.returncode}'} (its journal: {swap_journal(self.cfg)})")
        log(err.removeprefix("swap: "))

    def swap_in(self, live: str, side: str, doc: Optional[Dict] = None) -> None:
        """Swaps side in for live with the app user fenced (swap.py). Raises SwapFailed with the reason and the
        state live is left in; when live is as it was, side is dropped."""
        cfg = self.cfg
        argv = self._swap_argv("--live", live, "--side", side, "--hold", self.name("previous"))
        # side got the backup's own database settings; older backups keep the live ones.
        if doc is not None and isinstance((doc.get("source") or {}).get("database"), dict):
            argv.append("--database-from-backup")
        if cfg.family == "mysql":
            # The app user re-creates its views/triggers/routines in live: it needs its grants there.
            if not self.adm.exists(live):
                self.adm.create(live)
            status_file = self._event_status_path(side)
            if status_file is not None:
                argv += ["--event-status", status_file]
        with _signals_deferred():
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=self.adm.env)
        err = r.stderr.decode(errors="replace").strip()
        last = err.splitlines()[-1] if err else ""
        if r.returncode != 0:
            if ": untouched" in last or "as it was" in last:
                self.adm.drop_quietly(side)  # live is as it was: the side copy is of no further use
            raise SwapFailed(" ".join(err.splitlines()) or f"swap.py exit {r.returncode}")
        if last:
            log(last)
