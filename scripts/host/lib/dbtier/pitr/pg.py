"""Point-in-time recovery for self-managed PostgreSQL (13-18): WAL archiving, physical base backups, restores to
a second. The layout, signing and checked reads are common.py's; this module knows PostgreSQL.

  archive-wal %p %f     the archive_command: zstd -> age -> S3 as <APP_NAME>/wal/<file>/, signed, read back;
                        idempotent for the same content, refuses different content under an archived name;
                        a segment's manifest records its first and last commit times (pg_waldump)
  fetch-wal %f %p       the restore_command: exit 0 with the file in place, 1 when it is not archived (the end
                        of the archive), 126 on any other failure (PostgreSQL aborts the recovery on an exit
                        above 125 instead of taking the failure for the end of the archive)
  basebackup            pg_basebackup -Ft -X none (the WAL comes from the archive) -> <APP_NAME>/base/<id>/,
                        then retention (common.retention over PITR_WINDOW_DAYS)
  verify-base <id|latest>   the base restored into a scratch instance (own data directory, socket, port),
                        the archive replayed, the database checked (pg_verifybackup, answers, fingerprint),
                        the outcome recorded signed (verification.json)
  restore --to-time T | --to-backup ID | --to-latest --yes [--identity FILE]
                        onto DB_DATA_DIR: the server stopped, its data directory kept aside until the restored
                        server answers, the base extracted, the archive replayed to T, promoted
  pitr-window           the recoverable window
  health_check(ctx)     wal-archive (the server's archiver keeps up), wal-gaps (the archive has no hole)

How the server calls the toolkit is what its archive_command says (init renders it, through sudo: the secrets
stay root's); base manifests record that prefix and restore/verify-base build the restore_command from it.
"""
from __future__ import annotations

import glob
import math
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

from .. import config, pipeline, s3
from ..db import Admin, RunDir
from ..log import Failure, log, warn
from . import common

SERVER_USER = "postgres"
WAL_OBJECT = "wal.zst.age"
BASE_OBJECT = "base.tar.zst.age"
SEGMENT = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$")
WAL_NAME = re.compile(r"^[0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?$|^[0-9A-F]{8}\.history$")
DEFAULT_SEGMENT_SIZE = 16 << 20
LONG_HEADER_SIZE = 40  # XLogLongPageHeaderData: standard header (24) + xlp_sysid (8) + seg size + block size
XLP_LONG_HEADER = 0x0002
# restore_command: any failure other than "not archived" (1) must stop the recovery (exit > 125), also one
# of the launcher itself (a configuration error exits 2, which PostgreSQL would take for the archive's end)
FETCH_FAILED = 126
ARCHIVE_COMMAND = re.compile(r'^(?P<prefix>.*\S)\s+archive-wal\s+"?%p"?\s+"?%f"?\s*$')
COMMIT = re.compile(r"desc: (?:COMMIT|ABORT)(?:_PREPARED)? (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(\.\d+)? UTC")
LIB = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(os.path.dirname(LIB), "dbtier-db")


# ---------------------------------------------------------------------------------------------- basics

def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name) or ""
    return int(raw) if raw.isdigit() else default


def segment_number(name: str, segment_size: int) -> Optional[int]:
    m = SEGMENT.match(name)
    if not m:
        return None
    return int(m.group(2), 16) * (0x100000000 // segment_size) + int(m.group(3), 16)


def segment_name(timeline: int, segno: int, segment_size: int) -> str:
    per = 0x100000000 // segment_size
    return f"{timeline:08X}{segno // per:08X}{segno % per:08X}"


def pg_bin(cfg: config.Config, data_dir: str = "") -> str:
    """The server's own binaries (pg_waldump, pg_ctl, pg_verifybackup are not on Debian's PATH): the major
    version of the data directory, else DB_ENGINE_VERSION, else the newest installed."""
    major = ""
    for d in (data_dir, "."):
        try:
            with open(os.path.join(d, "PG_VERSION")) as f:
                major = f.read().strip()
                break
        except OSError:
            continue
    major = major or cfg.get("DB_ENGINE_VERSION").split(".")[0]
    if major and os.path.isdir(f"/usr/lib/postgresql/{major}/bin"):
        return f"/usr/lib/postgresql/{major}/bin"
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0)
    if not found:
        raise Failure("no PostgreSQL server binaries under /usr/lib/postgresql (run 'dbtier-db install')")
    return found[-1]


def as_server(argv: Sequence[str]) -> List[str]:
    """argv run as the server's OS user (peer authentication, files it must own)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", SERVER_USER, "--"] + list(argv)
    return list(argv)


def chown_server(path: str) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, SERVER_USER, SERVER_USER)


def data_dir(cfg: config.Config) -> str:
    """DB_DATA_DIR, else Debian's cluster directory of DB_ENGINE_VERSION."""
    if cfg.get("DB_DATA_DIR"):
        return os.path.abspath(cfg.get("DB_DATA_DIR"))
    major = cfg.get("DB_ENGINE_VERSION").split(".")[0]
    if not major:
        raise config.ConfigError("DB_DATA_DIR or DB_ENGINE_VERSION must say where the server's data directory is")
    return f"/var/lib/postgresql/{major}/main"


def socket_dir(cfg: config.Config) -> str:
    return cfg.get("DB_SOCKET") or "/var/run/postgresql"


def port(cfg: config.Config) -> str:
    return cfg.get("DB_PORT") or "5432"


def local_sql(cfg: config.Config, sql: str, host: str = "", port_: str = "", db: str = "postgres",
              timeout: float = 60) -> List[List[str]]:
    """A query as the local superuser over the socket (the admin has no replication or superuser rights)."""
    argv = as_server(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-h", host or socket_dir(cfg),
                      "-p", port_ or port(cfg), "-d", db, "-c", sql])
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=_clean_pg_env())
    except subprocess.TimeoutExpired:
        raise Failure(f"psql: no answer in {timeout:.0f}s") from None
    if r.returncode != 0:
        raise Failure(f"psql: {' '.join(r.stderr.split())[:300]}")
    return [ln.split("\t") for ln in r.stdout.splitlines() if ln]


def _clean_pg_env() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({"PGCONNECT_TIMEOUT": "10", "PSQLRC": "/dev/null", "PGAPPNAME": "dbtier", "TZ": "UTC"})
    return env


def tool_prefix(archive_command: str) -> str:
    """'sudo -n /usr/local/bin/dbtier-db' from the archive_command init rendered."""
    m = ARCHIVE_COMMAND.match(archive_command or "")
    if not m:
        raise Failure(f"archive_command '{archive_command}' does not call 'dbtier-db archive-wal %p %f' "
                      "(run 'dbtier-db init'): a base backup without the archive is not restorable")
    return m.group("prefix")


# ---------------------------------------------------------------------------------------------- archive-wal

def _commit_times(cfg: config.Config, path: str) -> Tuple[Optional[float], Optional[float]]:
    """The first and last commit/abort times in a segment (pg_waldump stops with an error at the segment's
    end when the next one is not beside it: its exit status says nothing here)."""
    try:
        binary = os.path.join(pg_bin(cfg), "pg_waldump")
        r = subprocess.run([binary, "-r", "Transaction", path], capture_output=True, text=True, timeout=60,
                           env={"PATH": os.environ.get("PATH", ""), "TZ": "UTC", "LC_ALL": "C"})
    except (OSError, subprocess.TimeoutExpired, Failure) as e:
        warn(f"pg_waldump on {os.path.basename(path)}: {e}; commit times not recorded")
        return None, None
    times = [common.parse_time(m.group(1) + "Z") + float(m.group(2) or 0) for m in COMMIT.finditer(r.stdout)]
    return (min(times), max(times)) if times else (None, None)


def _inside(path: str, directory: str) -> bool:
    p, d = os.path.realpath(path), os.path.realpath(directory)
    return p.startswith(d.rstrip("/") + "/")


def _data_dir_of_cwd() -> str:
    """The server runs archive/restore commands in its data directory."""
    cwd = os.getcwd()
    if not os.path.isfile(os.path.join(cwd, "PG_VERSION")):
        raise Failure(f"not run by the server: {cwd} is not a PostgreSQL data directory")
    return cwd


def segment_system_identifier(path: str) -> str:
    """The database system identifier a WAL segment's first page carries (XLogLongPageHeaderData: xlp_sysid
    after the 24-byte standard header, little-endian on the hosts we run; xlp_info has XLP_LONG_HEADER)."""
    with open(path, "rb") as f:
        head = f.read(LONG_HEADER_SIZE)
    if len(head) < LONG_HEADER_SIZE:
        raise Failure(f"archive-wal: {path} is shorter than a WAL page header")
    _magic, info = struct.unpack_from("<HH", head, 0)
    if not info & XLP_LONG_HEADER:
        raise Failure(f"archive-wal: {path} does not begin with a WAL segment's long page header")
    return str(struct.unpack_from("<Q", head, 24)[0])


def _lineage_file(cfg: config.Config) -> str:
    return os.path.join(cfg.state_dir, "pg-archive-system")


def _check_lineage(cfg: config.Config, archive: common.Archive, name: str, system: str) -> None:
    """A segment is archived only when it belongs to the history the archive's newest base backup began: a
    fresh server (another system identifier, e.g. a replacement VM before its restore) writes segments under the
    same names, and one past the archive's end would be read by a restore as the old history's next segment.
    The answer is cached in the state directory (this runs for every segment); no base with an identifier yet:
    nothing to belong to, archived."""
    path = _lineage_file(cfg)
    try:
        with open(path) as f:
            if f.read().strip() == system:
                return
    except OSError:
        pass
    newest = None
    for base in reversed(archive.names("base")):
        try:
            newest = archive.item("base", base).meta.get("systemIdentifier")
        except common.NotArchived:
            continue
        except common.ArchiveError as e:
            raise Failure(f"archive-wal {name}: cannot tell which database system the archive holds: {e}") from None
        if newest:
            break
    if newest and str(newest) != system:
        raise Failure(f"archive-wal {name}: written by database system {system}, but the archive's newest base backup "
                      f"is of system {newest}: another history (a server not restored from this archive), not archived. "
                      f"Restore this server from the archive (dbtier-db restore --to-latest), or move "
                      f"{cfg.get('APP_NAME')}/wal and base aside to start a new archive")
    if newest:
        os.makedirs(cfg.state_dir, exist_ok=True)
        with open(path + ".tmp", "w") as f:
            f.write(system + "\n")
        os.replace(path + ".tmp", path)


def archive_wal(cfg: config.Config, args: List[str]) -> int:
    if len(args) != 2:
        raise config.ConfigError("usage: dbtier-db archive-wal <path> <name> (archive_command = '... archive-wal %p %f')")
    path, name = args
    if not WAL_NAME.match(name) or os.path.basename(path) != name:
        raise Failure(f"archive-wal: '{name}' is not a WAL file name (or {path} is not it)")
    # Run through sudo as root: only files of the server's own pg_wal are archived.
    if not _inside(path, os.path.join(_data_dir_of_cwd(), "pg_wal")):
        raise Failure(f"archive-wal: {path} is not in the server's pg_wal")
    started = time.monotonic()
    meta: Dict[str, object] = {"type": "segment"}
    if name.endswith(".history"):
        # what a restore needs to follow the timeline (no secret: positions and reasons), signed with it
        with open(path, errors="replace") as f:
            meta.update({"type": "history", "timeline": int(name[:8], 16), "history": parse_history(f.read())})
    elif name.endswith(".backup"):
        meta["type"] = "backup-label"
    elif name.endswith(".partial"):
        meta["type"] = "partial"
    archive = common.Archive(cfg)
    if meta["type"] in ("segment", "partial"):
        system = segment_system_identifier(path)
        _check_lineage(cfg, archive, name, system)
        meta["systemIdentifier"] = system
    if meta["type"] == "segment":
        size = os.path.getsize(path)
        first, last = _commit_times(cfg, path)
        meta.update({"timeline": int(name[:8], 16), "segmentSize": size, "segno": segment_number(name, size),
                     "firstCommit": first, "lastCommit": last})
    try:
        outcome = archive.archive_once("wal", name, path, WAL_OBJECT, meta)
    except s3.Interrupted:
        raise
    except common.ArchiveError as e:
        raise Failure(f"archive-wal {name}: {e}") from None
    took = time.monotonic() - started
    log(f"archive-wal {name}: {'already archived with the same content' if outcome == 'already' else 'archived'} ({took:.2f}s)")
    return 0


# ---------------------------------------------------------------------------------------------- fetch-wal

def fetch_wal(cfg: config.Config, args: List[str]) -> int:
    try:
        identity, rest = common.identity_file(args)
        if len(rest) != 2:
            raise config.ConfigError("usage: dbtier-db fetch-wal [--identity FILE] <name> <path> "
                                     "(restore_command = '... fetch-wal %f %p')")
        name, dest = rest
        if not WAL_NAME.match(name):
            raise Failure(f"'{name}' is not a WAL file name")
        if os.geteuid() == 0 and not _inside(dest, _data_dir_of_cwd()):
            raise Failure(f"{dest} is not inside the server's data directory")
        archive = common.Archive(cfg)
        try:
            archive.get("wal", name, identity, dest=dest)
        except common.NotArchived:
            return 1
        log(f"fetch-wal {name}: restored (signature, sha256 checked)")
        return 0
    except (Failure, config.ConfigError) as e:
        raise Failure(f"fetch-wal: {e}", code=FETCH_FAILED) from None
    except s3.Interrupted:
        raise
    except Exception as e:  # noqa: BLE001 - any surprise must stop the recovery, not end it early
        raise Failure(f"fetch-wal: {e.__class__.__name__}: {e}", code=FETCH_FAILED) from None


# ---------------------------------------------------------------------------------------------- the window

def parse_lsn(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


HISTORY_LINE = re.compile(r"^\s*(\d+)\s+([0-9A-Fa-f]+/[0-9A-Fa-f]+)\s*(.*)$")


def parse_history(text: str) -> List[Dict[str, object]]:
    """A timeline history file: each ancestor timeline and the LSN where it was left."""
    out: List[Dict[str, object]] = []
    for line in text.splitlines():
        m = HISTORY_LINE.match(line)
        if m:
            out.append({"tli": int(m.group(1)), "switchLsn": m.group(2).upper(), "reason": m.group(3).strip()})
    return out


class State:
    """What the archive holds, checked, along the newest timeline (the one a restore follows: recovery_target_
    timeline 'latest'): bases (signed manifests) on its path, the segment each position needs (the timeline
    that owned it, from the signed history records), the window."""

    def __init__(self, archive: common.Archive) -> None:
        self.archive = archive
        self.bases: List[Tuple[common.Item, common.Base]] = []
        for name in archive.names("base"):
            try:
                item = archive.item("base", name)
            except common.NotArchived:
                continue
            except common.Refused as e:
                warn(f"{e}; not used")
                continue
            m = item.meta
            self.bases.append((item, common.Base(name, float(m["consistentAt"]), int(m["startSegno"]), item.doc)))
        self.segment_size = int(self.bases[-1][1].doc["meta"]["segmentSize"]) if self.bases else DEFAULT_SEGMENT_SIZE
        self.wal_names = archive.names("wal")
        self.present = set(self.wal_names)
        self.segments: Dict[int, List[str]] = {}
        for n in self.wal_names:
            s = segment_number(n, self.segment_size)
            if s is not None:
                self.segments.setdefault(s, []).append(n)
        # The newest timeline as the recovery finds it: history files probed upwards from 1 until one is
        # missing (a segment of a timeline without its history is never read).
        self.timeline = 1
        while f"{self.timeline + 1:08X}.history" in self.present:
            self.timeline += 1
        # [(timeline, position it begins at)] along the newest timeline's history, oldest first. A child
        # may begin before its parent's own start (a restore to a point before the previous restore's), so a
        # timeline's positions end at the earliest begin of any later one.
        self.path: List[Tuple[int, int]] = [(1, 0)]
        if self.timeline > 1:
            entries = archive.item("wal", f"{self.timeline:08X}.history").meta.get("history") or []
            begins = [0] + [parse_lsn(str(e["switchLsn"])) for e in entries]
            self.path = list(zip([int(e["tli"]) for e in entries] + [self.timeline], begins))
        self._last_commit: Dict[int, Optional[float]] = {}
        self.spans: Dict[str, Tuple[float, float, int]] = {}
        for item, b in self.bases:
            span = self._span(b)
            if span:
                self.spans[b.name] = span
        self.window = common.Window.of_spans((a, z) for a, z, _ in self.spans.values())

    def owner(self, segno: int) -> int:
        """The timeline whose copy of a segment the recovery reads: the newest one begun at or before it (as
        PostgreSQL's XLogFileReadAnyTLI picks; the segment holding a switch point is the new timeline's)."""
        for tli, begin in reversed(self.path):
            if begin // self.segment_size <= segno:
                return tli
        return self.path[0][0]

    def name(self, segno: int) -> str:
        return segment_name(self.owner(segno), segno, self.segment_size)

    def on_path(self, tli: int, lsn: int) -> bool:
        """Whether a position of timeline tli is part of the newest timeline's history."""
        for i, (t, begin) in enumerate(self.path):
            if t == tli:
                later = [b for _, b in self.path[i + 1:]]
                return begin <= lsn and (not later or lsn <= min(later))
        return False

    def chain_end(self, start: int) -> Optional[int]:
        if self.name(start) not in self.present:
            return None
        j = start
        while self.name(j + 1) in self.present:
            j += 1
        return j

    def last_commit(self, segno: int) -> Optional[float]:
        if segno not in self._last_commit:
            t = None
            try:
                t = self.archive.item("wal", self.name(segno)).meta.get("lastCommit")
            except common.ArchiveError as e:
                warn(f"{e}")
            self._last_commit[segno] = float(t) if isinstance(t, (int, float)) else None
        return self._last_commit[segno]

    def _span(self, b: common.Base) -> Optional[Tuple[float, float, int]]:
        """(from, to, last segment) for a base on the newest timeline's path: its consistent point to the
        newest commit of the unbroken run of segments from its first one (it must reach the segment the
        backup ended in)."""
        m = b.doc["meta"]
        if not self.on_path(int(m["timeline"]), parse_lsn(str(m["stopLsn"]))):
            return None
        end = self.chain_end(int(b.first_log))  # type: ignore[arg-type]
        if end is None or end < int(m["stopSegno"]):
            return None
        newest = None
        for s in range(end, int(b.first_log) - 1, -1):  # type: ignore[arg-type]
            newest = self.last_commit(s)
            if newest is not None:
                break
        return b.consistent_at, max(newest or 0.0, b.consistent_at), end

    def newest_end_segment(self) -> Optional[int]:
        return max((e for _, _, e in self.spans.values()), default=None)

    def gaps(self) -> Tuple[List[int], int, int]:
        """Positions missing on the newest timeline's path between the oldest base's first segment and the
        newest archived one: (missing, first, last)."""
        first = min(int(b.first_log) for _, b in self.bases)  # type: ignore[arg-type]
        last = max((s for s in self.segments if self.name(s) in self.present), default=first)
        return [s for s in range(first, last + 1) if self.name(s) not in self.present], first, last


def pitr_window(cfg: config.Config, args: List[str]) -> int:
    if args:
        raise config.ConfigError("usage: dbtier-db pitr-window")
    st = State(common.Archive(cfg))
    log(f"{len(st.bases)} base backup(s), {len(st.wal_names)} archived WAL file(s)")
    if not st.window.intervals:
        raise Failure(f"no recoverable window: {st.window.describe()}")
    for a, z in st.window.intervals:
        print(f"{common.fmt_time(a)} .. {common.fmt_time(z)}")
    return 0


# ---------------------------------------------------------------------------------------------- basebackup

def _server_facts(cfg: config.Config) -> Dict[str, str]:
    row = local_sql(cfg, "SELECT pg_walfile_name(pg_current_wal_lsn()), pg_current_wal_lsn(), current_setting('archive_mode'), "
                         "current_setting('archive_command'), current_setting('wal_segment_size'), "
                         "current_setting('server_version_num'), current_setting('server_version'), "
                         "pg_is_in_recovery(), current_setting('data_directory'), "
                         "(SELECT system_identifier FROM pg_control_system())")[0]
    keys = ["wal", "lsn", "archive_mode", "archive_command", "segment_size", "version_num", "version", "in_recovery",
            "data_directory", "system_identifier"]
    return dict(zip(keys, row))


def _tar_size(field: bytes) -> int:
    if field[0] & 0x80:  # base-256 (GNU) for large members
        return int.from_bytes(field[1:], "big")
    return int(field.strip(b"\0 ") or b"0", 8)


def inspect_tar(inp, out) -> Dict[str, str]:
    """A pass-through stage over pg_basebackup's tar: keeps backup_label and the end of backup_manifest (its
    WAL-Ranges say exactly where the backup starts and ends); every byte goes on unchanged."""
    found: Dict[str, str] = {}
    keep_bytes = 1 << 20
    while True:
        header = inp.read(512)
        if not header:
            break
        out.write(header)
        if len(header) < 512 or header == bytes(512):
            for b in iter(lambda: inp.read(1 << 20), b""):
                out.write(b)
            break
        name = header[0:100].split(b"\0", 1)[0].decode(errors="replace")
        size = _tar_size(header[124:136])
        padded = (size + 511) // 512 * 512
        keep = name in ("backup_label", "backup_manifest")
        tail = bytearray()
        left = padded
        while left:
            b = inp.read(min(left, 1 << 20))
            if not b:
                raise ValueError(f"the tar stream ends inside {name}")
            out.write(b)
            left -= len(b)
            if keep:
                tail += b
                if len(tail) > keep_bytes + 512:
                    del tail[:len(tail) - keep_bytes - 512]
        if keep:
            found[name] = bytes(tail[:len(tail) - (padded - size)]).decode(errors="replace")
    return found


WAL_RANGE = re.compile(r'"Timeline":\s*(\d+),\s*"Start-LSN":\s*"([0-9A-Fa-f]+/[0-9A-Fa-f]+)",\s*"End-LSN":\s*"([0-9A-Fa-f]+/[0-9A-Fa-f]+)"')
LABEL_START = re.compile(r"^START WAL LOCATION: ([0-9A-F]+/[0-9A-F]+) \(file ([0-9A-F]{24})\)", re.M)


def _size_bytes(setting: str) -> int:
    m = re.fullmatch(r"(\d+)\s*(B|kB|MB|GB)?", setting.strip())
    if not m:
        raise Failure(f"wal_segment_size '{setting}' not understood")
    return int(m.group(1)) * {"B": 1, None: 1, "kB": 1024, "MB": 1 << 20, "GB": 1 << 30}[m.group(2)]


def basebackup(cfg: config.Config, args: List[str]) -> int:
    if args:
        raise config.ConfigError("usage: dbtier-db basebackup")
    archive = common.Archive(cfg)
    archive.signer.check()
    before = _server_facts(cfg)
    if before["in_recovery"] == "t":
        raise Failure("basebackup: the server is in recovery")
    if before["archive_mode"] not in ("on", "always"):
        raise Failure(f"basebackup: archive_mode is {before['archive_mode']} (run 'dbtier-db init'): a base backup "
                      "without the archive is not restorable")
    prefix = tool_prefix(before["archive_command"])
    seg_size = _size_bytes(before["segment_size"])
    backup_id = config.new_backup_id()
    started = time.time()
    log(f"basebackup {backup_id} of PostgreSQL {before['version']} started (current WAL {before['wal']})")
    argv = as_server(["pg_basebackup", "-h", socket_dir(cfg), "-p", port(cfg), "-D", "-", "-Ft", "-X", "none",
                      "-c", os.environ.get("DBTIER_PITR_CHECKPOINT") or "fast", "-l", f"dbtier {backup_id}", "-w"])

    def meta(result: pipeline.Result) -> Dict[str, object]:
        # pg_basebackup returned after the server archived the segment the backup ended in (it waits).
        consistent = math.ceil(time.time())
        found = result.results.get("inspect") or {}
        label = LABEL_START.search(found.get("backup_label", ""))
        ranges = WAL_RANGE.findall(found.get("backup_manifest", ""))
        if not label or not ranges:
            raise Failure("the base backup's tar carries no backup_label or backup_manifest WAL range")
        start_lsn, start_wal = label.group(1), label.group(2)
        stop_lsn = ranges[-1][2]
        start = segment_number(start_wal, seg_size) or 0
        return {"startWal": start_wal, "startSegno": start, "stopSegno": (parse_lsn(stop_lsn) - 1) // seg_size,
                "startLsn": start_lsn, "stopLsn": stop_lsn, "timeline": int(start_wal[:8], 16), "segmentSize": seg_size, "serverVersion": before["version"],
                "serverVersionNum": int(before["version_num"]), "startedAt": int(started), "consistentAt": consistent,
                "consistentAtText": common.fmt_time(consistent), "toolCommand": prefix,
                "method": "pg_basebackup -Ft -X none", "systemIdentifier": str(before["system_identifier"])}

    stages = [pipeline.Stage("basebackup", argv, env=_clean_pg_env()), pipeline.Stage("inspect", fn=inspect_tar)]
    try:
        item = archive.put("base", backup_id, stages, BASE_OBJECT, meta)
    except common.ArchiveError as e:
        raise Failure(f"basebackup {backup_id}: {e}") from None
    log(f"basebackup {backup_id} done: {item.doc['plain']['size']} bytes of data, stored {item.doc['object']['size']}, "
        f"signed; restorable from {item.meta['consistentAtText']} ({time.time() - started:.1f}s)")
    prune(cfg, archive)
    return 0


def prune(cfg: config.Config, archive: common.Archive) -> None:
    """Retention: every base needed for the window (PITR_WINDOW_DAYS) and the WAL from the oldest kept base's
    first segment on; older bases and segments go (timeline history files always stay: they are tiny and a
    restore reads them). A listing that fails prunes nothing."""
    try:
        st = State(archive)
    except common.ArchiveError as e:
        warn(f"retention skipped: {e}")
        return
    days = common.window_days(cfg)
    logs = [common.Log(n, s, None) for s, names in st.segments.items() for n in names]
    drop_bases, drop_logs = common.retention([b for _, b in st.bases], logs, days, time.time())
    for b in drop_bases:
        log(f"retention ({days} days): removing base {b.name}")
        archive.delete("base", b.name)
    if drop_logs:
        keep_from = min((int(b.first_log) for _, b in st.bases if b not in drop_bases), default=0)  # type: ignore[arg-type]
        log(f"retention: removing {len(drop_logs)} WAL segment(s) before {segment_name(1, keep_from, st.segment_size)[8:]}")
        for lg in drop_logs:
            archive.delete("wal", lg.name)
        # labels and partial segments of the removed range
        for n in st.wal_names:
            s = segment_number(n[:24], st.segment_size) if len(n) > 24 and not n.endswith(".history") else None
            if s is not None and s < keep_from:
                archive.delete("wal", n)
    newest = st.bases[-1][1].name if st.bases else ""
    for name, objs in archive.listing("base").items():
        if common.MANIFEST_OBJECT not in objs and name < newest:
            log(f"removing incomplete base {name} (no manifest)")
            archive.client.delete_prefix(archive.key("base", name))


# ---------------------------------------------------------------------------------------------- recovery

def process_alive(pid: int) -> bool:
    """A process that exists and is not a zombie (a killed postmaster whose parent has not reaped it is dead:
    its data directory is free)."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_private_dir(base: Optional[str], prefix: str) -> str:
    d = tempfile.mkdtemp(prefix=prefix, dir=base)
    os.chmod(d, 0o700)
    chown_server(d)
    return d


def _identity_copy(identity: str, directory: str, fetch_prefix: str) -> str:
    """The identity where the server's restore_command reads it (0600, in a 0700 directory; removed with that
    directory). Through sudo, fetch-wal runs as root and the file stays root's: the key that decrypts every
    backup of the stack is never readable by the server's user (a running server shares it)."""
    path = os.path.join(directory, "identity")
    with open(identity, "rb") as src:
        data = src.read()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    if fetch_prefix.split()[:1] != ["sudo"]:
        chown_server(path)
    return path


def _conf_string(v: str) -> str:
    return "'" + v.replace("\\", "\\\\").replace("'", "''") + "'"


def restore_command(prefix: str, identity: str) -> str:
    return (f'{prefix} fetch-wal --identity {identity} "%f" "%p"; rc=$?; '
            f'if [ $rc -gt 1 ]; then exit {FETCH_FAILED}; fi; exit $rc')


def _extract(archive: common.Archive, item: common.Item, identity: str, data_dir: str) -> None:
    os.makedirs(data_dir, mode=0o700, exist_ok=True)
    os.chmod(data_dir, 0o700)
    chown_server(data_dir)
    sink = pipeline.Stage("extract", as_server(["tar", "-x", "-f", "-", "-C", data_dir]))
    archive.get("base", item.name, identity, sink=sink, item=item)


def _check_free(path: str, need: int, what: str) -> None:
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize
    if free < need:
        raise Failure(f"{what}: {path} has {free >> 20} MiB free, {need >> 20} MiB needed")


def _wait_promoted(cfg: config.Config, host: str, port_: str, alive, log_tail, timeout: int) -> None:
    """Until the server answers and is out of recovery; a server that exits fails with its own last words."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            time.sleep(0.5)
            if not alive():
                raise Failure(f"the server stopped during recovery: {log_tail()}")
        try:
            rows = local_sql(cfg, "SELECT pg_is_in_recovery()", host=host, port_=port_, timeout=10)
            if rows and rows[0][0] == "f":
                return
        except Failure:
            pass
        time.sleep(0.2)
    raise Failure(f"recovery did not finish in {timeout}s: {log_tail()}")


def _tail(path: str, n: int = 6) -> str:
    try:
        with open(path, errors="replace") as f:
            lines = [ln.strip() for ln in f.readlines() if ln.strip()]
    except OSError:
        return "(no server log)"
    important = [ln for ln in lines if re.search(r"FATAL|PANIC|ERROR|refused|fetch-wal", ln)]
    return " | ".join((important or lines)[-n:])


def _recovery_settings(prefix: str, identity: str, target: Dict[str, str]) -> str:
    lines = ["# dbtier restore: removed once the server is promoted",
             f"restore_command = {_conf_string(restore_command(prefix, identity))}",
             "recovery_target_action = 'promote'", "recovery_target_timeline = 'latest'"]
    lines += [f"{k} = {_conf_string(v)}" for k, v in target.items()]
    return "\n".join(lines) + "\n"


def _pick(st: State, mode: str, value: str) -> Tuple[common.Item, Dict[str, str], str]:
    """(base, recovery target settings, description) for --to-time/--to-backup/--to-latest."""
    usable = [(item, b) for item, b in st.bases if b.name in st.spans]
    if not usable:
        raise Failure(f"nothing to restore: the recoverable window is {st.window.describe()}")
    if mode == "--to-backup":
        for item, b in usable:
            if b.name == value:
                return item, {"recovery_target": "immediate"}, f"base backup {value} ({b.doc['meta']['consistentAtText']})"
        known = ", ".join(b.name for _, b in usable)
        raise config.ConfigError(f"--to-backup {value}: no restorable base backup of that id (restorable: {known})")
    if mode == "--to-latest":
        newest = st.newest_end_segment()
        item, b = max(((i, b) for i, b in usable if st.spans[b.name][2] == newest), key=lambda ib: ib[1].consistent_at)
        return item, {}, f"the newest archived point ({common.fmt_time(st.spans[b.name][1])})"
    t = common.parse_time(value)
    if not st.window.contains(t):
        raise config.ConfigError(f"--to-time {common.fmt_time(t)} is outside the recoverable window "
                                 f"{st.window.describe()}")
    candidates = [(i, b) for i, b in usable if st.spans[b.name][0] <= t <= st.spans[b.name][1]]
    item, b = max(candidates, key=lambda ib: ib[1].consistent_at)
    end = st.spans[b.name][1]
    # No commit after t is archived: replaying everything is that point (PostgreSQL 13+ refuses a target
    # time it never passes).
    target = {} if t >= end else {"recovery_target_time": common.fmt_time(t).replace("Z", "+00")}
    return item, target, common.fmt_time(t)


class Server:
    """The live server on this host: Debian's cluster (pg_ctlcluster, systemd) when its data_directory is
    DB_DATA_DIR, else pg_ctl on DB_DATA_DIR with its own configuration files."""

    def __init__(self, cfg: config.Config, data_dir: str, log_file: str) -> None:
        self.cfg, self.data_dir, self.log_file = cfg, data_dir, log_file
        self.version = cfg.get("DB_ENGINE_VERSION").split(".")[0]
        self.debian = False
        conf = f"/etc/postgresql/{self.version}/main/postgresql.conf"
        if self.version and shutil.which("pg_ctlcluster") and os.path.isfile(conf):
            with open(conf, errors="replace") as f:
                m = re.search(r"^\s*data_directory\s*=\s*'([^']*)'", f.read(), re.M)
            self.debian = bool(m and os.path.realpath(m.group(1)) == os.path.realpath(data_dir))
            if self.debian:
                self.log_file = f"/var/log/postgresql/postgresql-{self.version}-main.log"

    def pid(self) -> Optional[int]:
        try:
            with open(os.path.join(self.data_dir, "postmaster.pid")) as f:
                pid = int(f.readline().strip())
        except (OSError, ValueError):
            return None
        return pid if process_alive(pid) else None

    def _run(self, argv: List[str], what: str, timeout: int = 600) -> None:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=_clean_pg_env())
        if r.returncode != 0:
            raise Failure(f"{what}: {' '.join((r.stderr or r.stdout).split())[:300]}")

    def stop(self) -> None:
        if self.pid() is None:
            return
        if self.debian:
            self._run(["pg_ctlcluster", self.version, "main", "stop", "-m", "fast"], "stopping the server")
        else:
            self._run(as_server([os.path.join(pg_bin(self.cfg, self.data_dir), "pg_ctl"), "-D", self.data_dir,
                                 "stop", "-m", "fast", "-w", "-t", "300"]), "stopping the server")

    def start(self) -> None:
        if self.debian:
            # returns once the server runs (recovery goes on; _wait_promoted follows it)
            self._run(["pg_ctlcluster", self.version, "main", "start"], "starting the server",
                      timeout=_env_int("DBTIER_PITR_RECOVERY_TIMEOUT", 3600))
        else:
            self._run(as_server([os.path.join(pg_bin(self.cfg, self.data_dir), "pg_ctl"), "-D", self.data_dir,
                                 "-l", self.log_file, "-W", "start"]), "starting the server")


def restore(cfg: config.Config, args: List[str]) -> int:
    identity, rest = common.identity_file(args)
    yes = "--yes" in rest
    rest = [a for a in rest if a != "--yes"]
    usage = "usage: dbtier-db restore --to-time 'YYYY-MM-DD HH:MM:SSZ' | --to-backup ID | --to-latest --yes [--identity FILE]"
    mode, value = "", ""
    if rest and "=" in rest[0] and rest[0].split("=", 1)[0] in ("--to-time", "--to-backup"):
        rest = rest[0].split("=", 1) + rest[1:]
    if rest == ["--to-latest"]:
        mode = "--to-latest"
    elif len(rest) == 2 and rest[0] in ("--to-time", "--to-backup"):
        mode, value = rest
    else:
        raise config.ConfigError(usage)
    if not yes:
        raise config.ConfigError(f"restore {mode} {value} replaces this server's data directory: add --yes")
    data = data_dir(cfg)
    archive = common.Archive(cfg)
    st = State(archive)
    item, target, what = _pick(st, mode, value)
    prefix = item.meta["toolCommand"]
    parent = os.path.dirname(data)
    _check_free(parent, int(item.doc["plain"]["size"] * 1.1) + (256 << 20), "restore")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    log_file = os.path.join(cfg.state_dir, f"pitr-restore-{stamp}.log")
    os.makedirs(cfg.state_dir, exist_ok=True)
    open(log_file, "a").close()
    chown_server(log_file)
    server = Server(cfg, data, log_file)
    work = _server_private_dir("/dev/shm" if os.access("/dev/shm", os.W_OK) else None, "dbtier-pitr.")
    aside = f"{data}.dbtier-aside-{stamp}"
    moved = was_running = False
    try:
        ident = _identity_copy(identity, work, prefix)
        # The restore_command works before anything is touched: the base's first segment, as the server runs it.
        # In a directory laid out like a data directory: fetch-wal run as root writes nowhere else.
        probe_dir = os.path.join(work, "probe")
        for d in (probe_dir, os.path.join(probe_dir, "pg_wal")):
            os.mkdir(d, 0o700)
            chown_server(d)
        with open(os.path.join(probe_dir, "PG_VERSION"), "w") as f:
            f.write(str(item.meta["serverVersionNum"] // 10000) + "\n")
        first = st.name(int(item.meta["startSegno"]))
        cmd = restore_command(prefix, ident).replace("%f", first).replace("%p", "pg_wal/RECOVERYXLOG")
        r = subprocess.run(as_server(["sh", "-c", cmd]), cwd=probe_dir, capture_output=True, text=True)
        if r.returncode != 0 or not os.path.isfile(os.path.join(probe_dir, "pg_wal", "RECOVERYXLOG")):
            raise Failure(f"the restore_command does not work (exit {r.returncode}): {' '.join(r.stderr.split())[-400:]}")
        log(f"restore to {what}: base backup {item.name}, restore_command checked")
        was_running = server.pid() is not None
        server.stop()
        if os.path.exists(data):
            os.rename(data, aside)
            moved = True
            log(f"the old data directory is kept aside at {aside} until the restored server answers")
        started = time.monotonic()
        _extract(archive, item, identity, data)
        for leftover in ("postmaster.pid", "standby.signal"):
            try:
                os.unlink(os.path.join(data, leftover))
            except FileNotFoundError:
                pass
        auto = os.path.join(data, "postgresql.auto.conf")
        try:
            with open(auto) as f:
                original = f.read()
        except FileNotFoundError:
            original = ""
        with open(auto, "w") as f:
            f.write(original + ("\n" if original and not original.endswith("\n") else "") +
                    _recovery_settings(prefix, ident, target))
        signal_file = os.path.join(data, "recovery.signal")
        open(signal_file, "w").close()
        for p in (auto, signal_file):
            chown_server(p)
        extracted = time.monotonic()
        log(f"base {item.name} extracted ({extracted - started:.1f}s); replaying the archive")
        server.start()
        _wait_promoted(cfg, socket_dir(cfg), port(cfg), lambda: server.pid() is not None,
                       lambda: _tail(server.log_file), _env_int("DBTIER_PITR_RECOVERY_TIMEOUT", 3600))
        log(f"server started, archive replayed, promoted ({time.monotonic() - extracted:.1f}s)")
        with open(auto, "w") as f:
            f.write(original)
        chown_server(auto)
        local_sql(cfg, "SELECT pg_reload_conf()")
        reached = local_sql(cfg, "SELECT pg_walfile_name(pg_current_wal_lsn())")[0][0]
        if not target:
            # everything archived was replayed: the new timeline starts at or after the newest archived segment
            need = st.spans[item.name][2]
            got = segment_number(reached, int(item.meta["segmentSize"])) or 0
            if got < need:
                raise Failure(f"recovery ended at WAL {reached}, before the newest archived segment {st.name(need)}: "
                              f"{_tail(server.log_file)}")
        with RunDir() as run:
            adm = Admin(cfg, run)
            why = adm.ping()
            if why:
                raise Failure(f"the restored server does not answer the toolkit: {why}")
            if cfg.get("DB_NAME") and not adm.exists(cfg.get("DB_NAME")):
                raise Failure(f"the restored server has no database {cfg.get('DB_NAME')}")
        if moved:
            shutil.rmtree(aside, ignore_errors=True)
        log(f"restore to {what}: OK ({time.monotonic() - started:.1f}s from download to answering; now on WAL {reached})")
        return 0
    except BaseException:
        if moved and os.path.isdir(aside):
            failed = f"{data}.dbtier-failed-{stamp}"
            try:
                server.stop()
            except Failure as e:
                warn(f"{e}")
            if server.pid() is None:
                if os.path.exists(data):
                    os.rename(data, failed)
                os.rename(aside, data)
                state = "the server is stopped"
                if was_running:
                    try:
                        server.start()
                        state = "the server is started on it again"
                    except Failure as e:
                        state = f"starting the server on it failed: {e}"
                warn(f"restore failed: the old data directory is back at {data} ({state}; the failed attempt is "
                     f"at {failed})")
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- verify-base

def verify_base(cfg: config.Config, args: List[str]) -> int:
    identity, rest = common.identity_file(args)
    if len(rest) != 1:
        raise config.ConfigError("usage: dbtier-db verify-base <id|latest> [--identity FILE]")
    archive = common.Archive(cfg)
    archive.signer.check()
    names = archive.names("base")
    name = (names[-1] if names else "") if rest[0] == "latest" else rest[0]
    if not name or name not in names:
        raise config.ConfigError(f"verify-base {rest[0]}: no such base backup (have: {', '.join(names) or 'none'})")
    item = archive.item("base", name)
    root = os.environ.get("DBTIER_PITR_SCRATCH_DIR") or cfg.state_dir
    os.makedirs(root, exist_ok=True)
    _check_free(root, int(item.doc["plain"]["size"] * 1.1) + (256 << 20), "verify-base")
    scratch = _server_private_dir(root, "pitr-verify.")
    data, sock = os.path.join(scratch, "data"), os.path.join(scratch, "sock")
    for d in (sock,):
        os.mkdir(d, 0o700)
        chown_server(d)
    log_file = os.path.join(scratch, "server.log")
    scratch_port = str(_free_port())
    started = time.monotonic()
    result: Dict[str, object] = {"result": "failed", "base": name}
    pg_ctl = ""
    try:
        try:
            ident = _identity_copy(identity, scratch, item.meta["toolCommand"])
            _extract(archive, item, identity, data)
            bindir = pg_bin(cfg, data)
            pg_ctl = os.path.join(bindir, "pg_ctl")
            if os.path.isfile(os.path.join(data, "backup_manifest")) and os.path.exists(os.path.join(bindir, "pg_verifybackup")):
                r = subprocess.run(as_server([os.path.join(bindir, "pg_verifybackup"), "-n", "-q", data]),
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    raise Failure(f"pg_verifybackup: {' '.join(r.stderr.split())[:300]}")
                result["filesChecked"] = "pg_verifybackup (backup_manifest checksums)"
            # The scratch server reads only its own settings: the copy's postgresql.auto.conf is set aside,
            # its postgresql.conf and pg_hba.conf are not the configuration files (config_file below).
            auto = os.path.join(data, "postgresql.auto.conf")
            if os.path.exists(auto):
                os.rename(auto, auto + ".dbtier-base")
            for fname, content in (("hba.conf", "local all all peer\n"), ("ident.conf", "")):
                p = os.path.join(scratch, fname)
                with open(p, "w") as f:
                    f.write(content)
                chown_server(p)
            conf = os.path.join(scratch, "scratch.conf")
            settings = {"port": scratch_port, "listen_addresses": "", "unix_socket_directories": sock,
                        "hba_file": os.path.join(scratch, "hba.conf"), "ident_file": os.path.join(scratch, "ident.conf"),
                        "ssl": "off", "archive_mode": "off", "hot_standby": "off", "shared_buffers": "32MB",
                        "max_connections": "20", "logging_collector": "off", "log_min_messages": "log",
                        "restore_command": restore_command(item.meta["toolCommand"], ident),
                        "recovery_target_action": "promote", "recovery_target_timeline": "latest"}
            with open(conf, "w") as f:
                f.write("".join(f"{k} = {_conf_string(v)}\n" for k, v in settings.items()))
            chown_server(conf)
            open(os.path.join(data, "recovery.signal"), "w").close()
            chown_server(os.path.join(data, "recovery.signal"))
            r = subprocess.run(as_server([pg_ctl, "-D", data, "-l", log_file, "-W", "-o", f"-c config_file={conf}", "start"]),
                               capture_output=True, text=True, env=_clean_pg_env())
            if r.returncode != 0:
                raise Failure(f"starting the scratch server: {' '.join(r.stderr.split())[:300]}")

            _wait_promoted(cfg, sock, scratch_port, lambda: alive_pid(data), lambda: _tail(log_file),
                           _env_int("DBTIER_PITR_RECOVERY_TIMEOUT", 3600))
            result["replayedTo"] = _replayed_to(log_file)
            result["walReached"] = local_sql(cfg, "SELECT pg_walfile_name(pg_current_wal_lsn())", host=sock, port_=scratch_port)[0][0]
            db = cfg.get("DB_NAME")
            if db:
                found = local_sql(cfg, f"SELECT count(*) FROM pg_database WHERE datname = '{db}'", host=sock, port_=scratch_port)
                if found[0][0] != "1":
                    raise Failure(f"the restored copy has no database {db}")
                result["database"] = db
                result["fingerprint"] = _fingerprint(scratch, sock, scratch_port, db)
            result["result"] = "ok"
        except Failure as e:
            result["reason"] = str(e)
        except common.ArchiveError as e:
            result["reason"] = str(e)
        result["seconds"] = round(time.monotonic() - started, 1)
        archive.record("base", name, item, result)
    finally:
        if pg_ctl and alive_pid(data):
            subprocess.run(as_server([pg_ctl, "-D", data, "stop", "-m", "immediate", "-w"]), capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)
    if result["result"] != "ok":
        raise Failure(f"verify-base {name}: FAILED (recorded): {result.get('reason')}")
    log(f"verify-base {name}: OK (recorded): replayed to {result.get('replayedTo') or 'the base'}, "
        f"{len((result.get('fingerprint') or {}).get('tables', {}))} table(s) fingerprinted, {result['seconds']}s")
    return 0


def alive_pid(data: str) -> bool:
    try:
        with open(os.path.join(data, "postmaster.pid")) as f:
            return process_alive(int(f.readline()))
    except (OSError, ValueError):
        return False


def _replayed_to(log_file: str) -> Optional[str]:
    """The last transaction the recovery replayed, as the server logged it."""
    try:
        with open(log_file, errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    found = re.findall(r"last completed transaction was at log time (\S+ \S+)", text)
    return found[-1] if found else None


def _fingerprint(scratch: str, sock: str, port_: str, db: str) -> Dict:
    """The server-computed fingerprint of the restored database (fingerprint.py, as verify compares)."""
    import json
    out = os.path.join(scratch, "fingerprint.json")
    env = _clean_pg_env()
    env.update({"PGHOST": sock, "PGPORT": port_, "PGUSER": SERVER_USER, "RUN_DIR": scratch})
    python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else "python3"
    argv = as_server(["env"] + [f"{k}={v}" for k, v in env.items() if k.startswith("PG") or k in ("RUN_DIR", "TZ")] +
                     [python, os.path.join(LIB, "fingerprint.py"), "fingerprint", "postgres", db, out])
    r = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=scratch)
    if r.returncode != 0:
        raise Failure(f"fingerprint of the restored {db}: {' '.join(r.stderr.split())[:300]}")
    with open(out) as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------------- health

def health_check(ctx) -> None:
    """wal-archive: the server's archiver keeps up (no completed segment waits longer than a minute);
    wal-gaps: every segment from the oldest base's first one to the newest archived is there."""
    cfg = ctx.cfg
    try:
        row = local_sql(cfg, "SELECT coalesce(last_archived_wal, ''), coalesce(extract(epoch FROM last_archived_time)::bigint, 0), "
                             "coalesce(last_failed_wal, ''), coalesce(extract(epoch FROM last_failed_time)::bigint, 0), "
                             "pg_walfile_name(pg_current_wal_lsn()), current_setting('wal_segment_size'), "
                             "coalesce((SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'), 0), "
                             "coalesce((SELECT extract(epoch FROM now() - min(modification))::bigint FROM "
                             "pg_ls_archive_statusdir() WHERE name LIKE '%.ready'), 0) "
                             "FROM pg_stat_archiver", timeout=20)[0]
        last, last_t, failed, failed_t, current, seg_setting, ready, oldest_ready = row
        if int(ready) > 0 and int(oldest_ready) > _env_int("DBTIER_HEALTH_WAL_STALE", 120):
            why = f"; last failure {failed} at {common.fmt_time(int(failed_t))}" if int(failed_t) > int(last_t) else ""
            ctx.record("wal-archive", False, f"{ready} WAL file(s) wait for archiving, the oldest for {oldest_ready}s "
                       f"(last archived {last or 'none'}){why}")
        else:
            ctx.record("wal-archive", True, f"archiving keeps up (last archived {last or 'none'}, current {current})")
    except (Failure, IndexError, ValueError) as e:
        ctx.record("wal-archive", False, f"could not read the archiver's state: {e}")
    try:
        st = State(common.Archive(cfg))
    except (common.ArchiveError, config.ConfigError) as e:
        ctx.record("wal-gaps", False, f"could not read the archive: {e}")
        return
    # A base of an earlier timeline still reaches the present one: recovery follows the timeline history.
    common.record_base_age(ctx, [(b.name, b.consistent_at) for _, b in st.bases], "this server")
    if not st.bases:
        ctx.record("wal-gaps", False, "no base backup in the archive (dbtier-db basebackup)")
        return
    missing, _, _ = st.gaps()
    if missing:
        names = ", ".join(st.name(s) for s in missing[:5])
        ctx.record("wal-gaps", False, f"{len(missing)} WAL segment(s) missing from the archive (timeline "
                   f"{st.timeline}'s path: {names}{' ...' if len(missing) > 5 else ''}); window {st.window.describe()}")
    else:
        ctx.record("wal-gaps", True, f"no gap; window {st.window.describe()}")
