"""Point-in-time recovery of a self-managed MariaDB (10.11) or MySQL (8.x) server: physical base backups
(mariabackup; Percona XtraBackup on MySQL) plus the server's own row binlogs, shipped as they close.

Datastore (pitr/common.py's layout and signed manifests):
  <APP>/base/<backup-id>/base.xbstream.zst.age   mariabackup --backup --stream=xbstream; meta: the binlog position
                                                 it is consistent with, server id, timeline, consistent time
  <APP>/binlog/<server_id>/<file>/binlog.zst.age one closed binlog file; meta: seq (its number), first/last
                                                 event time, timeline
A timeline is the history one data directory wrote: its id lives in <datadir>/dbtier-timeline (created by
the first archive-binlogs or basebackup; a restore starts a new one), so a chain of binlogs never runs from
one history into another. Binlog numbers never restart: a restore continues after the archive's highest
(RESET MASTER TO), so a file name is never reused and a missing number is a gap.

Commands (dbtier/cli.py holds locks, keys and tools):
  archive_binlogs   FLUSH BINARY LOGS when the current file holds a transaction older than FLUSH_AGE, then
                    ship every closed file the archive lacks (idempotent; a file already archived with other
                    content is a conflict, never overwritten); what was shipped is remembered in the state
                    directory, the whole archive listed for gaps every GAP_CHECK_EVERY; fails naming missing
                    numbers (gaps)
  basebackup        mariabackup stream -> zstd -> age -> S3; the position from mariabackup's own report; then
                    retention (common.retention over PITR_WINDOW_DAYS)
  verify_base       <id|latest>: the base and its binlogs into a scratch instance (own datadir and socket,
                    no TCP), prepared, started, replayed to the archive's end, fingerprinted; result signed
  restore           --to-time 'YYYY-MM-DD HH:MM:SSZ' | --to-backup ID | --to-latest, --yes: everything
                    downloaded and checked first, prepared and replayed in a scratch instance on the data
                    filesystem, then swapped in (the old datadir kept aside until the restored server answers,
                    and until the binlogs its server had not shipped are archived)
  pitr_window       the recoverable window
  health_check(ctx) archive gaps, shipping that stopped, a transaction left unshipped too long

Server control for restore: DBTIER_DB_CONTROL (a command run as `CMD stop|start`; default `systemctl stop|start
mariadb|mysql`). The data directory: DB_DATA_DIR, else the running server's @@datadir, else /var/lib/mysql.

Manifests verified once are cached by ETag in the state directory (planning over thousands of binlogs);
whatever is downloaded is verified again. MySQL 8 differences are marked "MySQL 8:" where the code handles
them (not run here: no MySQL server or XtraBackup on this machine).
"""
from __future__ import annotations

import dataclasses
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import struct
import subprocess
import time
from typing import Dict, List, Optional, Sequence, Tuple

from .. import config, pipeline, s3
from ..backup import PYTHON
from ..db import Admin, DbError, RunDir, lib_module, my_ident, sql_string
from ..log import Failure, log, warn
from . import common

BASE_OBJECT = "base.xbstream.zst.age"
BINLOG_OBJECT = "binlog.zst.age"
TIMELINE_FILE = "dbtier-timeline"
# Flush the current binlog once its oldest transaction is this old: with the 30 s timer a transaction is
# then shipped within FLUSH_AGE + one interval + two runs, inside the 60 s recovery point.
FLUSH_AGE = int(os.environ.get("DBTIER_BINLOG_FLUSH_AGE") or 20)
# health: shipping is stale when the last good archive-binlogs run, or the oldest unshipped transaction,
# is older than this
STALE_AFTER = int(os.environ.get("DBTIER_BINLOG_STALE_AFTER") or 180)
# archive-binlogs lists the whole archive (to find gaps) at most this often
GAP_CHECK_EVERY = int(os.environ.get("DBTIER_BINLOG_GAP_CHECK_EVERY") or 600)
# mariabackup --prepare's buffer pool (its default is 100 MiB): the redo a base carries is what was written
# during its own backup, and the restore runs beside a live server on a small VM (WHY.md)
PREPARE_MEMORY = os.environ.get("DBTIER_PREPARE_MEMORY") or "32M"
LIB = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---- tools per flavor ----

@dataclasses.dataclass(frozen=True)
class Tools:
    backup: str      # mariabackup | xtrabackup (MySQL 8: Percona XtraBackup 8.0/8.4 of the server's series)
    stream: str      # mbstream | xbstream
    binlog: str      # mariadb-binlog | mysqlbinlog
    server: str      # mariadbd | mysqld
    client: str      # mariadb | mysql


def tools_for(engine: str) -> Tools:
    if engine == "mysql":
        return Tools("xtrabackup", "xbstream", "mysqlbinlog", "mysqld", "mysql")
    return Tools("mariabackup", "mbstream", "mariadb-binlog", "mariadbd", "mariadb")


def _need(*tools: str) -> None:
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        raise Failure(f"missing command(s): {' '.join(missing)} (run 'dbtier-db install')")


# ---- reading binlog files (event headers only) ----

EVENT_HEADER = struct.Struct("<IBIIIH")  # timestamp, type, server id, event size, next position, flags
BINLOG_MAGIC = b"\xfebin"
# Events that every file starts (or ends) with and that are no transaction: format description, rotate,
# stop, MariaDB's binlog checkpoint / GTID list / start encryption; MySQL 8: previous GTIDs.
NON_TRANSACTION = {15, 4, 3, 161, 163, 164, 35}
ROTATE_EVENT, STOP_EVENT = 4, 3


@dataclasses.dataclass
class Scan:
    first_transaction: Optional[int]   # time of the first transaction event (None: no transaction)
    last_time: Optional[int]           # newest event time (a closed file's last event is its rotate)
    end: int                           # position after the last complete event read
    last_type: Optional[int] = None    # type of the last complete event (a closed file ends in ROTATE or STOP)
    torn: bool = False                 # the file ends inside an event (a crash while it was written)


def scan_binlog(path: str, stop: Optional[int] = None) -> Scan:
    """Walks the event headers of a binlog file (up to position `stop`). The times are the events' own
    UTC epoch seconds (the statement's start)."""
    first: Optional[int] = None
    last: Optional[int] = None
    last_type: Optional[int] = None
    torn = False
    with open(path, "rb") as f:
        if f.read(4) != BINLOG_MAGIC:
            raise Failure(f"{path} is not a binary log (no magic number)")
        pos = 4
        while stop is None or pos < stop:
            f.seek(pos)
            head = f.read(EVENT_HEADER.size)
            if len(head) < EVENT_HEADER.size:
                torn = stop is None and len(head) > 0
                break
            ts, etype, _sid, size, _next, _flags = EVENT_HEADER.unpack(head)
            if size < EVENT_HEADER.size:
                raise Failure(f"{path}: corrupt event at position {pos} (size {size})")
            if stop is None and pos + size > os.fstat(f.fileno()).st_size:
                torn = True  # an event still being written, or cut by a crash
                break
            if etype not in NON_TRANSACTION and first is None:
                first = ts
            last = ts if last is None else max(last, ts)
            last_type = etype
            pos += size
    return Scan(first, last, pos, last_type, torn)


def seq_of(file: str) -> int:
    m = re.search(r"\.([0-9]{6,})$", file)
    if not m:
        raise Failure(f"'{file}' is not a binlog file name (<basename>.NNNNNN)")
    return int(m.group(1))


# ---- the server ----

@dataclasses.dataclass
class ServerFacts:
    datadir: str
    basename: str      # @@log_bin_basename (absolute)
    server_id: int
    current: str       # the file being written
    position: int
    files: List[str]   # SHOW BINARY LOGS, oldest first


def server_facts(adm: Admin) -> ServerFacts:
    try:
        row = adm.sql("SELECT @@log_bin, @@log_bin_basename, @@server_id, @@datadir;")[0]
        if row[0] != "1":
            raise Failure("binary logging is off on the server (log_bin): run 'dbtier-db init'")
        try:
            status = adm.sql("SHOW MASTER STATUS;")
        except DbError:
            status = adm.sql("SHOW BINARY LOG STATUS;")  # MySQL 8: 8.4 removed SHOW MASTER STATUS
        files = [r[0] for r in adm.sql("SHOW BINARY LOGS;")]
    except DbError as e:
        raise Failure(f"reading the binlog state of {adm.target()}: {e}") from None
    if not status or not files:
        raise Failure(f"{adm.target()} reports no current binlog file")
    return ServerFacts(row[3], row[1], int(row[2]), status[0][0], int(status[0][1]), files)


def timeline_of(datadir: str, create: bool = True) -> str:
    path = os.path.join(datadir, TIMELINE_FILE)
    try:
        with open(path) as f:
            value = f.read().strip()
        if config.is_backup_id(value):
            return value
    except OSError:
        pass
    if not create:
        raise Failure(f"{path} is missing or damaged (the data directory's timeline)")
    value = config.new_backup_id()
    _write_timeline(datadir, value)
    return value


def history(arch: common.Archive, facts: ServerFacts) -> str:
    """The timeline of the server's data directory. One without a timeline (the first run, or a fresh host
    before its restore) gets a new one only when its binlog numbers cannot collide with those the archive
    holds for this server id: a fresh server numbers from 1 again, and its files are another history."""
    try:
        return timeline_of(facts.datadir, create=False)
    except Failure:
        pass
    archived = [seq_of(n.split("/", 1)[1]) for n in arch.names("binlog") if n.startswith(f"{facts.server_id}/")]
    highest = max(archived, default=0)
    if highest >= min(seq_of(f) for f in facts.files):
        raise Failure(f"this server's binlogs ({facts.files[0]} on) are numbered within the archive's (up to "
                      f"{highest}) and are another history: restore from the archive first (dbtier-db restore "
                      f"--to-latest), or start a new history with RESET MASTER TO {highest + 1}")
    return timeline_of(facts.datadir, create=True)


def _write_timeline(datadir: str, value: str) -> None:
    path = os.path.join(datadir, TIMELINE_FILE)
    with open(path + ".tmp", "w") as f:
        f.write(value + "\n")
    os.chmod(path + ".tmp", 0o644)
    os.replace(path + ".tmp", path)


# ---- the archive's catalog ----

def _log_name(server_id: int, file: str) -> str:
    return f"{server_id}/{file}"


@dataclasses.dataclass
class Catalog:
    bases: List[common.Item]
    logs: Dict[str, common.Item]   # name -> item

    def log_list(self, server_id: int) -> List[common.Log]:
        out = []
        for name, it in self.logs.items():
            if name.startswith(f"{server_id}/"):
                out.append(common.Log(name, (server_id, it.meta["seq"]), it.meta.get("lastTime"), it.doc))
        return sorted(out, key=lambda lg: lg.seq)

    def base_list(self) -> List[common.Base]:
        return [common.Base(b.name, b.meta["consistentAt"], (b.meta["serverId"], seq_of(b.meta["binlogFile"])), b.doc)
                for b in self.bases]


def _cache_dir(cfg: config.Config) -> str:
    return os.path.join(cfg.state_dir, "pitr-manifests", cfg.app)


def _items(arch: common.Archive, kind: str) -> Dict[str, common.Item]:
    """Every item of a kind with a believable manifest; a bad manifest stops the run, named. Manifests this
    host has verified before are taken from its cache while their ETag (the MD5 of the stored bytes) is
    unchanged: thousands of binlogs would otherwise cost a download and a signature check each per run.
    Whatever is then downloaded is verified again (fetch)."""
    prefix = f"{arch.app}/{kind}/"
    suffix = "/" + common.MANIFEST_OBJECT
    try:
        entries = [e for e in arch.client.list(prefix) if e.key.endswith(suffix)]
    except (s3.S3Error, OSError) as e:
        raise common.ArchiveError(f"listing {prefix}: {e}") from None
    cache = os.path.join(_cache_dir(arch.cfg), kind)
    os.makedirs(cache, mode=0o700, exist_ok=True)
    out: Dict[str, common.Item] = {}
    for e in entries:
        name = e.key[len(prefix):-len(suffix)]
        file = os.path.join(cache, name.replace("/", "%") + ".json")
        item = None
        try:
            with open(file) as f:
                c = json.load(f)
            if c.get("etag") == e.etag and e.etag:
                raw = c["raw"].encode()
                doc = json.loads(raw)
                if not common.check_manifest(doc, arch.app, kind, name):
                    item = common.Item(kind, name, doc, raw)
        except (OSError, ValueError, KeyError, AttributeError):
            item = None
        if item is None:
            item = arch.item(kind, name)
            try:
                with open(file + ".tmp", "w") as f:
                    json.dump({"etag": e.etag, "raw": item.raw.decode()}, f)
                os.replace(file + ".tmp", file)
            except (OSError, UnicodeDecodeError):
                pass
        out[name] = item
    return out


def catalog(arch: common.Archive) -> Catalog:
    bases = [b for b in _items(arch, "base").values() if b.meta.get("engineFamily") == "mysql"]
    return Catalog(sorted(bases, key=lambda b: b.name), _items(arch, "binlog"))


def gaps(names: Sequence[str]) -> List[str]:
    """The binlog names missing between the lowest and the highest archived number of each server id."""
    by_server: Dict[str, Dict[int, str]] = {}
    for n in names:
        sid, _, file = n.partition("/")
        by_server.setdefault(sid, {})[seq_of(file)] = file
    missing = []
    for sid, files in by_server.items():
        nums = sorted(files)
        stem = files[nums[-1]].rsplit(".", 1)[0]
        width = len(files[nums[-1]].rsplit(".", 1)[1])
        missing += [f"{sid}/{stem}.{n:0{width}d}" for n in range(nums[0], nums[-1] + 1) if n not in files]
    return missing


def window(cat: Catalog) -> common.Window:
    """For each base: from its consistent point to the end of its unbroken chain in its own timeline;
    overlapping spans merged (a gap or a new timeline splits the window)."""
    return common.Window.of_spans((b.meta["consistentAt"], _chain_end(cat, b)) for b in cat.bases)


def _chain(cat: Catalog, base: common.Item) -> List[common.Item]:
    """The unbroken run of binlogs from the base's position on, in its timeline."""
    sid = base.meta["serverId"]
    logs = cat.log_list(sid)
    out: List[common.Item] = []
    want = seq_of(base.meta["binlogFile"])
    for lg in logs:
        if lg.seq[1] < want:  # type: ignore[index]
            continue
        if lg.seq[1] != want or lg.doc["meta"].get("timeline") != base.meta["timeline"]:  # type: ignore[index]
            break
        out.append(cat.logs[lg.name])
        want += 1
    return out


# ---- archive-binlogs ----

def _state_file(cfg: config.Config) -> str:
    return os.path.join(cfg.state_dir, f"binlog-archive-{cfg.app}.json")


def archive_binlogs(cfg: config.Config, args: List[str]) -> int:
    if args:
        raise config.ConfigError("usage: dbtier-db archive-binlogs")
    with RunDir() as run:
        adm = Admin(cfg, run)
        adm.wait_ready()
        facts = server_facts(adm)
        directory = os.path.dirname(facts.basename)
        arch = common.Archive(cfg)
        timeline = history(arch, facts)
        scan = scan_binlog(os.path.join(directory, facts.current), stop=facts.position)
        if scan.first_transaction is not None and time.time() - scan.first_transaction >= FLUSH_AGE:
            try:
                adm.sql("FLUSH BINARY LOGS;")
            except DbError as e:
                raise Failure(f"FLUSH BINARY LOGS on {adm.target()}: {e}") from None
            facts = server_facts(adm)
        # What this data directory has shipped is remembered locally, so a run lists the whole archive only
        # every GAP_CHECK_EVERY seconds (for gaps) instead of every 30 s; a file not remembered is checked
        # against its manifest by archive_once (already archived: nothing is sent).
        state = _read_state(cfg)
        if state.get("timeline") != timeline:
            state = {}
        known = set(state.get("shipped") or [])
        now = time.time()
        listing = None
        if now - float(state.get("listedAt") or 0) >= GAP_CHECK_EVERY:
            listing = set(arch.names("binlog"))
        shipped = 0
        for file in facts.files[:-1]:
            name = _log_name(facts.server_id, file)
            if name in known or (listing is not None and name in listing):
                known.add(name)
                continue
            path = os.path.join(directory, file)
            s = scan_binlog(path)
            meta = {"seq": seq_of(file), "file": file, "serverId": facts.server_id, "timeline": timeline,
                    "firstTransaction": s.first_transaction, "lastTime": s.last_time, "size": s.end}
            if arch.archive_once("binlog", name, path, BINLOG_OBJECT, meta) == "stored":
                shipped += 1
                log(f"binlog {name} archived ({s.end} bytes, events until "
                    f"{common.fmt_time(s.last_time) if s.last_time else '-'})")
            known.add(name)
        local = {_log_name(facts.server_id, f) for f in facts.files}
        missing = gaps(sorted(listing | known)) if listing is not None else list(state.get("gaps") or [])
        _write_state(cfg, {"okAt": int(now), "current": facts.current, "timeline": timeline,
                           "shipped": sorted(known & local), "gaps": missing,
                           "listedAt": now if listing is not None else state.get("listedAt", 0)})
        if missing:
            raise Failure(f"the binlog archive has a gap: {', '.join(missing[:10])}"
                          f"{' ...' if len(missing) > 10 else ''} missing (removed from the server before "
                          "it was shipped?); take a basebackup to start an unbroken window")
        log(f"archive-binlogs: {shipped} file(s) shipped; {facts.current} is being written")
    return 0


def _read_state(cfg: config.Config) -> Dict:
    try:
        with open(_state_file(cfg)) as f:
            doc = json.load(f)
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_state(cfg: config.Config, doc: Dict) -> None:
    with open(_state_file(cfg) + ".tmp", "w") as f:
        json.dump(doc, f)
    os.replace(_state_file(cfg) + ".tmp", _state_file(cfg))


# ---- basebackup ----

POSITION = re.compile(r"binlog position: filename '([^']+)', position '([0-9]+)'(?:, GTID of the last change '([^']*)')?")


def _backup_stage(name: str, argv: List[str], env: Dict[str, str], meta: Dict, err_file: str) -> pipeline.Stage:
    """mariabackup as a pipeline stage that also reads its own report: the binlog position it froze the
    backup at (BACKUP STAGE BLOCK_COMMIT) goes into meta, which common.put() signs after the upload.
    MySQL 8: xtrabackup reports the position in the same words."""

    def fn(_inp, out) -> None:
        with open(err_file, "wb") as err:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out.fileno(), stderr=err, env=env)
            rc = p.wait()
        with open(err_file, "rb") as f:
            f.seek(max(0, os.path.getsize(err_file) - 16384))
            tail = f.read().decode(errors="replace")
        if rc != 0:
            lines = [ln for ln in tail.splitlines() if ln.strip()]
            raise RuntimeError(f"exit {rc}: {' '.join(lines[-3:])}")
        found = POSITION.findall(tail)
        if not found:
            raise RuntimeError("it reported no binlog position (is log_bin on?)")
        file, pos, gtid = found[-1]
        # every event before the position is older than this second (taken after the backup ended)
        meta.update({"binlogFile": file, "binlogPosition": int(pos), "gtid": gtid,
                     "consistentAt": int(time.time()) + 1})

    return pipeline.Stage(name, fn=fn)


def basebackup(cfg: config.Config, args: List[str]) -> int:
    if args:
        raise config.ConfigError("usage: dbtier-db basebackup")
    t = tools_for(cfg.engine)
    _need(t.backup)
    with RunDir() as run:
        adm = Admin(cfg, run)
        adm.wait_ready()
        facts = server_facts(adm)
        arch = common.Archive(cfg)
        timeline = history(arch, facts)
        backup_id = config.new_backup_id()
        started = time.time()
        tmp = os.path.join(cfg.state_dir, f"basebackup-{backup_id}")
        os.makedirs(tmp, mode=0o700)
        meta: Dict[str, object] = {"engine": cfg.engine, "engineFamily": "mysql", "serverId": facts.server_id,
                                   "timeline": timeline, "serverVersion": adm.server_version(),
                                   "logBinBasename": facts.basename, "datadir": facts.datadir,
                                   "startedAt": int(started), "sourceBytes": _dir_bytes(facts.datadir)}
        stage = _backup_stage(t.backup, [t.backup, f"--defaults-extra-file={adm.cnf}", "--backup",
                                         "--stream=xbstream", f"--target-dir={tmp}"],
                              adm.env, meta, os.path.join(run.path, "backup.err"))
        log(f"basebackup {backup_id} of {adm.target()} started")
        try:
            item = arch.put("base", backup_id, stage, BASE_OBJECT, meta)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        m = item.meta
        log(f"basebackup {backup_id} done in {time.time() - started:.1f}s: {item.doc['plain']['size']} bytes "
            f"streamed, {item.doc['object']['size']} stored, consistent at {m['binlogFile']}:{m['binlogPosition']} "
            f"({common.fmt_time(m['consistentAt'])})")
        try:
            prune(arch, catalog(arch), common.window_days(cfg))
        except common.ArchiveError as e:
            warn(f"retention skipped: {e}")
    return 0


def prune(arch: common.Archive, cat: Catalog, days: int) -> None:
    """Keeps every base of the window, the newest one older than it (the window's first second is restored
    from it), and the binlogs from the oldest kept base's position on (common.retention)."""
    logs = [lg for sid in sorted({b.meta["serverId"] for b in cat.bases}) for lg in cat.log_list(sid)]
    drop_bases, drop_logs = common.retention(cat.base_list(), logs, days, time.time())
    for b in drop_bases:
        log(f"retention ({days} days): removing base {b.name}")
        arch.delete("base", b.name)
    for lg in drop_logs:
        arch.delete("binlog", lg.name)
    if drop_logs:
        log(f"retention ({days} days): removed {len(drop_logs)} binlog file(s) up to {drop_logs[-1].name}")


def _dir_bytes(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


# ---- a scratch server on a prepared data directory ----

def _owner(datadir: str) -> Tuple[str, int, int]:
    """Who the restored server runs as: the owner of the data directory (a package install leaves an empty
    one owned by mysql), else of the directory it is created in."""
    for path in (datadir, os.path.dirname(datadir)):
        if os.path.isdir(path):
            st = os.stat(path)
            try:
                return pwd.getpwuid(st.st_uid).pw_name, st.st_uid, st.st_gid
            except KeyError:
                raise Failure(f"{path} is owned by uid {st.st_uid}, which has no account") from None
    raise Failure(f"neither {datadir} nor its parent directory exists")


def _chown_tree(path: str, uid: int, gid: int) -> None:
    if os.geteuid() != 0:
        return
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), uid, gid)
    os.lchown(path, uid, gid)


class Scratch:
    """mariadbd on a prepared data directory: its own socket in `work`, no TCP (skip-networking), no grant
    checks (nothing but this process can reach the socket: `work` is 0700), the InnoDB settings the backup
    recorded (backup-my.cnf). log_bin: the basename to write binlogs under (a restore), else none."""

    def __init__(self, t: Tools, work: str, datadir: str, user: str, log_bin: Optional[str] = None,
                 server_id: int = 1) -> None:
        self.t, self.work, self.datadir = t, work, datadir
        self.socket = os.path.join(work, "mysqld.sock")
        self.error_log = os.path.join(work, "error.log")
        self.cnf = os.path.join(work, "client.cnf")
        with open(self.cnf, "w") as f:
            f.write(f"[client]\nuser=root\nsocket={self.socket}\n")
        defaults = os.path.join(datadir, "backup-my.cnf")
        argv = [t.server, f"--defaults-file={defaults}" if os.path.exists(defaults) else "--no-defaults",
                f"--datadir={datadir}", f"--socket={self.socket}", "--skip-networking", "--skip-grant-tables",
                f"--user={user}", f"--pid-file={os.path.join(work, 'mysqld.pid')}", f"--log-error={self.error_log}",
                "--innodb-buffer-pool-size=128M", "--event-scheduler=OFF",
                # MySQL 8: skip-slave-start is deprecated for skip-replica-start
                "--skip-replica-start" if t.server == "mysqld" else "--skip-slave-start"]
        argv += [f"--log-bin={log_bin}", f"--server-id={server_id}"] if log_bin else ["--skip-log-bin"]
        with open(self.error_log, "ab") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                         start_new_session=True)
        deadline = time.monotonic() + float(os.environ.get("DBTIER_SCRATCH_START_TIMEOUT") or 300)
        while True:
            if self.proc.poll() is not None:
                raise Failure(f"the scratch server on {datadir} did not start (exit {self.proc.returncode}): "
                              f"{self._log_tail()}")
            if subprocess.run([t.client, f"--defaults-extra-file={self.cnf}", "-e", "SELECT 1"],
                              capture_output=True).returncode == 0:
                return
            if time.monotonic() > deadline:
                self.stop()
                raise Failure(f"the scratch server on {datadir} did not answer: {self._log_tail()}")
            time.sleep(0.3)

    def _log_tail(self) -> str:
        try:
            with open(self.error_log, errors="replace") as f:
                lines = [ln for ln in f.read().splitlines() if "ERROR" in ln or "error" in ln]
            return " ".join(lines[-3:]) or "no error logged"
        except OSError:
            return "no error log"

    def sql(self, query: str) -> List[List[str]]:
        r = subprocess.run([self.t.client, f"--defaults-extra-file={self.cnf}", "--batch", "--skip-column-names"],
                           input=query, capture_output=True, text=True)
        if r.returncode != 0:
            raise Failure(f"scratch server: {' '.join(r.stderr.split())}")
        return [ln.split("\t") for ln in r.stdout.splitlines()]

    def client_stage(self) -> pipeline.Stage:
        return pipeline.Stage("replay", [self.t.client, f"--defaults-extra-file={self.cnf}", "--binary-mode",
                                         "--batch", "--max-allowed-packet=1G"])

    def stop(self) -> None:
        """A clean shutdown (InnoDB fully written: the directory can then be started by any server)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=float(os.environ.get("DBTIER_SCRATCH_STOP_TIMEOUT") or 300))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise Failure(f"the scratch server on {self.datadir} did not shut down cleanly (killed)")
        if self.proc.returncode not in (0, -15):
            raise Failure(f"the scratch server on {self.datadir} ended with exit {self.proc.returncode}: {self._log_tail()}")


# ---- materialising a point: download, check, prepare, replay ----

@dataclasses.dataclass
class Target:
    base: common.Item
    logs: List[common.Item]
    stop: Optional[int]      # replay events before this epoch second (None: the whole chain)
    what: str


def _free_space(path: str, need: int, what: str) -> None:
    st = os.statvfs(path)
    avail = st.f_bavail * st.f_frsize
    if avail < need:
        raise Failure(f"{what} refused: {path} has {avail >> 20} MiB free, needs about {need >> 20} MiB")


def _space_needed(base: common.Item, logs: List[common.Item]) -> int:
    """The unpacked base (the source's data directory as it was streamed) with a tenth to spare (redo applied
    by prepare, the replay's growth), the decrypted binlogs, and room for the scratch server's own files."""
    plain = int(base.doc.get("plain", {}).get("size") or base.meta.get("sourceBytes") or 0)
    return plain + plain // 10 + sum(it.doc["plain"]["size"] for it in logs) + (64 << 20)


def fetch(arch: common.Archive, t: Tools, target: Target, identity: str, work: str) -> Tuple[str, List[str]]:
    """Every binlog first (each checked against its signed manifest, part by part before age sees it, and
    by its plain sha256 after), then the base unpacked and prepared. Nothing is replayed before all of it
    has been checked."""
    logs_dir = os.path.join(work, "binlogs")
    data = os.path.join(work, "data")
    os.makedirs(logs_dir, mode=0o700)
    paths = []
    for it in target.logs:
        dest = os.path.join(logs_dir, it.meta["file"])
        arch.get("binlog", it.name, identity, dest=dest, item=_fresh(arch, it))
        paths.append(dest)
    os.makedirs(data, mode=0o700)
    log(f"base {target.base.name}: downloading {target.base.doc['object']['size']} bytes")
    started = time.time()
    arch.get("base", target.base.name, identity, item=_fresh(arch, target.base),
             sink=pipeline.Stage("unpack", [t.stream, "-x", "-C", data]))
    log(f"base {target.base.name}: unpacked in {time.time() - started:.1f}s; preparing")
    started = time.time()
    r = subprocess.run([t.backup, "--prepare", f"--use-memory={PREPARE_MEMORY}", f"--target-dir={data}"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, errors="replace")
    if r.returncode != 0:
        raise Failure(f"prepare ({t.backup} --prepare) failed: {' '.join(r.stderr.strip().splitlines()[-3:])}")
    info = _binlog_info(data)
    m = target.base.meta
    if info and info != (m["binlogFile"], m["binlogPosition"]):
        raise Failure(f"base {target.base.name}: its files say binlog position {info}, the signed manifest "
                      f"{m['binlogFile']}:{m['binlogPosition']}")
    log(f"base {target.base.name}: prepared in {time.time() - started:.1f}s")
    return data, paths


def _fresh(arch: common.Archive, it: common.Item) -> common.Item:
    """The item's manifest fetched and its signature checked now (the plan may come from the cache)."""
    now = arch.item(it.kind, it.name)
    if now.sha256 != it.sha256:
        raise Failure(f"{it.kind} {it.name}: its manifest changed while the restore was planned")
    return now


def _binlog_info(data: str) -> Optional[Tuple[str, int]]:
    # MariaDB 10.11 names it xtrabackup_binlog_info; later MariaDB mariadb_backup_binlog_info.
    for name in ("mariadb_backup_binlog_info", "xtrabackup_binlog_info"):
        try:
            with open(os.path.join(data, name)) as f:
                parts = f.read().split()
            return os.path.basename(parts[0]), int(parts[1])
        except (OSError, IndexError, ValueError):
            continue
    return None


def replay(t: Tools, scratch: Scratch, target: Target, paths: List[str]) -> None:
    if not paths:
        return
    argv = [t.binlog, f"--start-position={target.base.meta['binlogPosition']}", "--disable-log-bin"]
    if target.stop is not None:
        # The binlog tool reads --stop-datetime in its own local time zone and compares it with the events'
        # UTC epoch seconds: it runs with TZ=UTC, so the argument is UTC.
        argv.append(f"--stop-datetime={time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(target.stop))}")
    env = dict(os.environ)
    env["TZ"] = "UTC"
    started = time.time()
    r = pipeline.run([pipeline.Stage("binlog", argv + paths, env=env), scratch.client_stage()])
    why = r.failure()
    if why:
        raise Failure(f"replaying the binlogs failed: {why}")
    log(f"replayed {len(paths)} binlog file(s) in {time.time() - started:.1f}s")


def fingerprint(cfg: config.Config, t: Tools, scratch: Scratch, out: str) -> Dict:
    db = cfg.get("DB_NAME")
    r = subprocess.run([PYTHON, os.path.join(LIB, "fingerprint.py"), "fingerprint", "mysql", db, out,
                        "--client", t.client, "--cnf", scratch.cnf], capture_output=True, text=True, errors="replace")
    if r.returncode != 0:
        raise Failure(f"fingerprint of {db} on the restored copy failed: {' '.join(r.stderr.split())[-300:]}")
    with open(out) as f:
        return json.load(f)


def row_counts(cfg: config.Config, scratch: Scratch) -> Dict[str, int]:
    """Every base table of the database counted on the restored copy: each one is opened and read through an
    index. The restore's check; the whole fingerprint (a second full read of every row: scripts/bench/WHY.md)
    is verify-base's."""
    db = cfg.get("DB_NAME")
    started = time.time()
    hexed = scratch.sql(f"SET NAMES utf8mb4; SELECT HEX(table_name) FROM information_schema.tables WHERE "
                        f"table_schema = {sql_string(db)} AND table_type IN ({lib_module('fingerprint').MY_ROW_TABLE_TYPES_SQL}) "
                        f"ORDER BY table_name;")
    names = [bytes.fromhex(r[0]).decode("utf-8") for r in hexed if r and r[0]]
    if not names:
        return {}
    rows = scratch.sql("SET NAMES utf8mb4;\n" + "\n".join(f"SELECT COUNT(*) FROM {my_ident(db)}.{my_ident(n)};" for n in names))
    if len(rows) != len(names):
        raise Failure(f"counting the rows of the restored copy: {len(rows)} answer(s) for {len(names)} table(s)")
    counts = {n: int(r[0]) for n, r in zip(names, rows)}
    log(f"counted the rows of {len(names)} table(s) in {time.time() - started:.1f}s")
    return counts


# ---- choosing what to restore ----

def _choose(cat: Catalog, args: Dict[str, str]) -> Target:
    if not cat.bases:
        raise Failure("no base backup in the datastore (run 'dbtier-db basebackup')")
    if "--to-backup" in args:
        bid = args["--to-backup"]
        base = next((b for b in cat.bases if b.name == bid), None)
        if base is None:
            raise config.ConfigError(f"no base backup {bid} (have: {', '.join(b.name for b in cat.bases[-5:])})")
        return Target(base, [], 0, f"base backup {bid}")
    if "--to-latest" in args:
        best = max(cat.bases, key=lambda b: (_chain_end(cat, b), b.name))
        chain = _chain(cat, best)
        last = seq_of(chain[-1].meta["file"]) if chain else seq_of(best.meta["binlogFile"]) - 1
        later = [n for n in cat.logs if n.startswith(f"{best.meta['serverId']}/") and seq_of(n.split("/", 1)[1]) > last]
        if later:
            warn(f"the archive goes on after a gap or into another history ({min(later)} ...): restoring to the end "
                 "of the unbroken chain")
        return Target(best, chain, None, f"the newest archived point ({common.fmt_time(_chain_end(cat, best))})")
    when = common.parse_time(args["--to-time"])
    win = window(cat)
    if not win.contains(when):
        raise config.ConfigError(f"{common.fmt_time(when)} is outside the recoverable window: {win.describe()}")
    fits = [b for b in cat.bases if b.meta["consistentAt"] <= when and _chain_end(cat, b) >= when]
    if not fits:
        raise config.ConfigError(f"{common.fmt_time(when)} is outside the recoverable window: {win.describe()}")
    base = max(fits, key=lambda b: b.meta["consistentAt"])
    chain = [it for it in _chain(cat, base)]
    # only the files that can hold an event before `when`
    needed: List[common.Item] = []
    for it in chain:
        needed.append(it)
        if (it.meta.get("lastTime") or 0) >= when:
            break
    return Target(base, needed, when, common.fmt_time(when))


def _chain_end(cat: Catalog, base: common.Item) -> int:
    chain = _chain(cat, base)
    return max([base.meta["consistentAt"]] + [it.meta.get("lastTime") or 0 for it in chain])


def _flags(args: Sequence[str], allowed: Sequence[str], valued: Sequence[str]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    i = 0
    while i < len(args):
        a = args[i]
        key, eq, val = a.partition("=")
        if key in valued:
            if not eq:
                if i + 1 >= len(args):
                    raise config.ConfigError(f"{key} needs a value")
                val = args[i + 1]
                i += 1
            out[key] = val
        elif a in allowed:
            out[a] = ""
        else:
            raise config.ConfigError(f"unexpected argument '{a}'")
        i += 1
    return out


# ---- verify-base ----

def verify_base(cfg: config.Config, args: List[str]) -> int:
    identity, rest = common.identity_file(args)
    if len(rest) != 1:
        raise config.ConfigError("usage: dbtier-db verify-base <id|latest> [--identity FILE]")
    t = tools_for(cfg.engine)
    _need(t.backup, t.stream, t.binlog, t.server, t.client)
    arch = common.Archive(cfg)
    cat = catalog(arch)
    if not cat.bases:
        raise Failure("no base backup in the datastore (run 'dbtier-db basebackup')")
    base = cat.bases[-1] if rest[0] == "latest" else next((b for b in cat.bases if b.name == rest[0]), None)
    if base is None:
        raise config.ConfigError(f"no base backup {rest[0]}")
    chain = _chain(cat, base)
    target = Target(base, chain, None, "the end of its archive")
    work = os.path.join(cfg.state_dir, f"verify-base-{base.name}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work, mode=0o700)
    started = time.time()
    scratch: Optional[Scratch] = None
    try:
        _free_space(work, _space_needed(base, chain), "verify-base")
        try:
            data, paths = fetch(arch, t, target, identity, work)
            # a private instance under the state directory (which the mysql account may not traverse): it runs
            # as whoever runs verify-base; nothing else can reach it (no TCP, a socket in a 0700 directory)
            scratch = Scratch(t, work, data, pwd.getpwuid(os.geteuid()).pw_name)
            replay(t, scratch, target, paths)
            fp = fingerprint(cfg, t, scratch, os.path.join(work, "fingerprint.json"))
            scratch.stop()
            scratch = None
        except Failure as e:
            # A datastore that cannot be read says nothing about the backup: only what does is recorded.
            about = (not isinstance(e, common.ArchiveError) or isinstance(e, common.Refused)
                     or "sha256" in str(e))
            if about:
                try:
                    arch.record("base", base.name, base, {"result": "failed", "reason": str(e)})
                except common.ArchiveError as e2:
                    warn(str(e2))
            raise Failure(f"verify-base {base.name} failed: {e} "
                          f"({'recorded' if about else 'nothing recorded: it says nothing about the backup'})") from None
    finally:
        if scratch is not None:
            try:
                scratch.stop()
            except Failure:
                pass
        shutil.rmtree(work, ignore_errors=True)
    last = chain[-1] if chain else None
    tables = fp.get("tables") or {}
    arch.record("base", base.name, base, {
        "result": "ok", "replayedThrough": last.name if last else None,
        "replayedUntil": (last.meta.get("lastTime") if last else None), "seconds": round(time.time() - started, 1),
        "database": cfg.get("DB_NAME"), "tables": {k: v.get("rows") for k, v in tables.items()},
        "fingerprint": fp})
    log(f"verify-base {base.name} ok: prepared, started, {len(chain)} binlog file(s) replayed, "
        f"{len(tables)} table(s) fingerprinted in {time.time() - started:.1f}s (recorded, signed)")
    return 0


# ---- restore ----

def _control(cfg: config.Config, action: str) -> None:
    raw = os.environ.get("DBTIER_DB_CONTROL")
    argv = shlex.split(raw) + [action] if raw else ["systemctl", action, "mysql" if cfg.engine == "mysql" else "mariadb"]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
    if r.returncode != 0:
        raise Failure(f"{action} of the database server ({' '.join(argv)}) failed: {' '.join(r.stderr.split())[-300:]}")


def _datadir(cfg: config.Config, run: RunDir) -> str:
    if cfg.get("DB_DATA_DIR"):
        return cfg.get("DB_DATA_DIR").rstrip("/")
    try:
        return Admin(cfg, run).value("SELECT @@datadir;").rstrip("/")
    except (DbError, Failure, config.ConfigError):
        return "/var/lib/mysql"


def restore(cfg: config.Config, args: List[str]) -> int:
    identity, rest = common.identity_file(args)
    flags = _flags(rest, ("--to-latest", "--yes"), ("--to-time", "--to-backup"))
    modes = [k for k in ("--to-time", "--to-backup", "--to-latest") if k in flags]
    if len(modes) != 1:
        raise config.ConfigError("usage: dbtier-db restore --to-time 'YYYY-MM-DD HH:MM:SSZ' | --to-backup ID | "
                                 "--to-latest --yes [--identity FILE]")
    t = tools_for(cfg.engine)
    _need(t.backup, t.stream, t.binlog, t.server, t.client)
    arch = common.Archive(cfg)
    cat = catalog(arch)
    target = _choose(cat, flags)
    if "--yes" not in flags:
        raise config.ConfigError(f"restore to {target.what} replaces the server's data directory: add --yes")
    with RunDir() as run:
        datadir = _datadir(cfg, run)
        # The archive lock: archive-binlogs must not read a data directory that is being swapped.
        from ..cli import Lock
        lock = Lock(cfg, "archive", "restore")
        try:
            _restore(cfg, run, arch, cat, t, target, identity, datadir)
        finally:
            os.close(lock.fd)
    return 0


def _restore(cfg: config.Config, run: RunDir, arch: common.Archive, cat: Catalog, t: Tools, target: Target,
             identity: str, datadir: str) -> None:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    parent = os.path.dirname(datadir)
    os.makedirs(parent, exist_ok=True)
    # on the data filesystem, so the swap is a rename
    work = f"{datadir}.dbtier-restore-{stamp}"
    os.makedirs(work, mode=0o700)
    user, uid, gid = _owner(datadir)
    started = time.time()
    scratch: Optional[Scratch] = None
    log(f"restore to {target.what}: base {target.base.name}, {len(target.logs)} binlog file(s)")
    try:
        _free_space(parent, _space_needed(target.base, target.logs), "restore")
        data, paths = fetch(arch, t, target, identity, work)
        _chown_tree(work, uid, gid)
        # The restored server writes a new timeline; its binlog numbers continue after the archive's highest.
        basename = target.base.meta.get("logBinBasename") or ""
        old_datadir = (target.base.meta.get("datadir") or "").rstrip("/")
        inside = bool(basename) and os.path.dirname(basename) == old_datadir
        # after the archive's and after the old directory's own files (which are archived at the swap)
        leftovers = _local_binlogs(datadir, basename)
        next_seq = max([seq_of(n.split("/", 1)[1]) for n in cat.logs] + [seq_of(f) for f in leftovers] + [0]) + 1
        scratch = Scratch(t, work, data, user, log_bin=os.path.basename(basename) if inside else None,
                          server_id=int(target.base.meta["serverId"]))
        if inside:
            try:
                scratch.sql(f"RESET MASTER TO {next_seq};")  # MariaDB; MySQL 8: 8.0.19 to 8.3
            except Failure:
                scratch.sql(f"RESET BINARY LOGS AND GTIDS TO {next_seq};")  # MySQL 8: 8.4 removed RESET MASTER
        else:
            warn(f"the binlogs live outside the data directory ({basename}): their numbering continues there")
        log(f"scratch server on the restored copy answered ({time.time() - started:.1f}s since the start)")
        replay(t, scratch, target, paths)
        counts = row_counts(cfg, scratch)
        stopping = time.time()
        scratch.stop()
        scratch = None
        log(f"scratch server stopped in {time.time() - stopping:.1f}s")
    except BaseException:
        if scratch is not None:
            try:
                scratch.stop()
            except Failure:
                pass
        shutil.rmtree(work, ignore_errors=True)
        raise
    for name in ("binlogs",):
        shutil.rmtree(os.path.join(work, name), ignore_errors=True)
    _write_timeline(data, config.new_backup_id())
    _chown_tree(data, uid, gid)
    # The swap: stop, old directory aside, the restored one in, start. A signal now is held until the server
    # runs again (stopping halfway would leave it down with its directory moved).
    held: List[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _f: held.append(signum)) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            _control(cfg, "stop")
        except Failure as e:
            shutil.rmtree(work, ignore_errors=True)
            raise Failure(f"{e}; nothing was changed (the restored copy is removed)") from None
        aside = ""
        if os.path.isdir(datadir) and os.listdir(datadir):
            aside = f"{datadir}.dbtier-old-{stamp}"
            os.rename(datadir, aside)
        elif os.path.isdir(datadir):
            os.rmdir(datadir)
        os.rename(data, datadir)
        try:
            swapped = time.time()
            _control(cfg, "start")
            Admin(cfg, run).wait_ready()
            log(f"the restored server answered {time.time() - swapped:.1f}s after its start")
        except (Failure, config.ConfigError) as e:
            raise Failure(f"the restored server does not answer: {e}; the restored data is in {datadir}"
                          f"{', the old data directory kept at ' + aside if aside else ''}") from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if aside:
        server_id = int(target.base.meta["serverId"])
        floor = min(seq_of(b.meta["binlogFile"]) for b in cat.bases if int(b.meta["serverId"]) == server_id)
        kept = _archive_leftovers(arch, aside, os.path.basename(basename), server_id, floor)
        if kept:
            warn(f"the old data directory is kept at {aside}: {kept}")
        else:
            shutil.rmtree(aside, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    log(f"restore to {target.what} done in {time.time() - started:.1f}s: {len(counts)} table(s), "
        f"{sum(counts.values())} row(s) in {cfg.get('DB_NAME')} (counted; verify-base fingerprints); the server "
        "writes a new timeline: run 'dbtier-db basebackup' now (the window restarts with it)")
    if held:
        signal.raise_signal(held[0])  # the swap is done: now the run may end as asked


def _local_binlogs(datadir: str, basename: str) -> List[str]:
    """The binlog files a data directory's index names (those of a server that wrote them under datadir)."""
    try:
        with open(os.path.join(datadir, os.path.basename(basename) + ".index")) as f:
            return [os.path.basename(ln.strip()) for ln in f if ln.strip()]
    except OSError:
        return []


def _archive_leftovers(arch: common.Archive, old: str, basename: str, server_id: int, floor: int) -> str:
    """Archives what the replaced server wrote and had not shipped yet (the history after the restore point
    stays recoverable): every file it closed (a clean stop ends the last one too) from `floor` on, the first
    binlog of the archive's oldest base (older files extend no base's chain: retention removed them, and
    shipping them again would cost the restore their whole size). "" when all of it is in the archive, else
    why the old directory must be kept."""
    try:
        timeline = timeline_of(old, create=False)
    except Failure:
        return ""  # not a history of this archive (a fresh host's own server)
    try:
        for file in _local_binlogs(old, basename):
            if seq_of(file) < floor:
                continue
            path = os.path.join(old, file)
            scan = scan_binlog(path)
            if scan.torn or scan.last_type not in (ROTATE_EVENT, STOP_EVENT):
                return f"its binlog {file} was not closed (a crash) and is not archived"
            meta = {"seq": seq_of(file), "file": file, "serverId": server_id, "timeline": timeline,
                    "firstTransaction": scan.first_transaction, "lastTime": scan.last_time, "size": scan.end}
            if arch.archive_once("binlog", _log_name(server_id, file), path, BINLOG_OBJECT, meta) == "stored":
                log(f"binlog {server_id}/{file} of the replaced server archived")
    except (Failure, OSError) as e:
        return f"archiving its last binlogs failed: {e}"
    return ""


# ---- pitr-window ----

def pitr_window(cfg: config.Config, args: List[str]) -> int:
    if args:
        raise config.ConfigError("usage: dbtier-db pitr-window")
    arch = common.Archive(cfg)
    cat = catalog(arch)
    win = window(cat)
    print(f"window {win.describe()}")
    for b in cat.bases:
        chain = _chain(cat, b)
        print(f"base {b.name} consistent at {common.fmt_time(b.meta['consistentAt'])}, "
              f"{len(chain)} binlog file(s) follow, reaching {common.fmt_time(_chain_end(cat, b))}")
    missing = gaps(sorted(cat.logs))
    if missing:
        print(f"gap: {', '.join(missing)} missing from the archive")
        return 1
    return 0


# ---- health ----

def health_check(ctx) -> None:
    cfg = ctx.cfg
    try:
        arch = common.Archive(cfg)
        names = arch.names("binlog")
    except (common.ArchiveError, config.ConfigError) as e:
        ctx.record("binlog-archive", False, f"cannot list the binlog archive: {e}")
        return
    missing = gaps(names)
    if missing:
        ctx.record("binlog-archive", False, f"gap in the binlog archive: {', '.join(missing[:10])} missing")
    else:
        ctx.record("binlog-archive", True, f"{len(names)} binlog file(s) archived, no gap")
    now = time.time()
    try:
        ok_at = int(_read_state(cfg).get("okAt") or 0)
    except (TypeError, ValueError):
        ok_at = 0
    problems = []
    if now - ok_at > STALE_AFTER:
        problems.append("no successful archive-binlogs run " + (f"for {int(now - ok_at)} s" if ok_at else "yet"))
    facts: Optional[ServerFacts] = None
    unreadable = ""
    try:
        facts = server_facts(Admin(cfg, ctx.run))
        scan = scan_binlog(os.path.join(os.path.dirname(facts.basename), facts.current), stop=facts.position)
        if scan.first_transaction is not None and now - scan.first_transaction > STALE_AFTER:
            problems.append(f"{facts.current} holds a transaction unshipped for {int(now - scan.first_transaction)} s")
    except (Failure, OSError, config.ConfigError) as e:
        problems.append(f"cannot read the server's binlog state: {e}")
        unreadable = str(e)
    if problems:
        ctx.record("binlog-shipping", False, "; ".join(problems) + f" (limit {STALE_AFTER} s)")
    else:
        ctx.record("binlog-shipping", True, f"last run {int(now - ok_at)} s ago")
    # A chain of binlogs never crosses timelines: after a restore, only a base of the new history reaches it.
    timeline: Optional[str] = None
    try:
        if facts is None:
            raise Failure(unreadable)
        cat = catalog(arch)
        if os.path.exists(os.path.join(facts.datadir, TIMELINE_FILE)):
            timeline = timeline_of(facts.datadir, create=False)
    except (Failure, OSError, config.ConfigError) as e:
        ctx.record("base-backup", False, f"cannot tell which base backups reach the server's history: {e}")
        return
    if timeline is None:
        common.record_base_age(ctx, [], "this server (it has archived no history yet)")
        return
    common.record_base_age(ctx, [(b.name, float(b.meta["consistentAt"])) for b in cat.bases
                                 if b.meta.get("timeline") == timeline], f"the server's current history ({timeline})")
