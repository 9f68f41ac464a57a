"""The shared layer of point-in-time recovery (issue 13): the datastore layout, signed encrypted objects written
and read back checked, the recoverable window, retention. Engine modules (pg.py, mariadb.py) build on it.

Layout (one "item" per directory; <kind> is base, wal or binlog):

  s3://$DATASTORE_BUCKET/<APP_NAME>/<kind>/<name>/
      <data object>           the payload: zstd -> age (to BACKUP_RECIPIENT), e.g. base.tar.zst.age, wal.zst.age
      manifest.json(.sig)     signed by the stack's backup key; written last (signature first): an item without
                              a manifest is not archived (an interrupted upload), never believed
      verification.json(.sig) (bases) the signed outcome of verify-base
  base names are backup ids (config.new_backup_id()); log names are the engine's own file names
  (PostgreSQL 000000010000000000000003, 00000002.history; MariaDB <server_id>/mysql-bin.000007 is a name
  with a '/': the item directory is then <kind>/<server_id>/mysql-bin.000007/).

Manifest (format 1): {"format", "kind", "name", "app", "createdAt", "host", "engine", "signedBy",
  "object": {"key", "sha256", "size", "partSize", "parts": [{"size", "sha256"}]},   what is stored
  "plain": {"sha256", "size"},                                                    what was archived
  "compression": {"codec": "zstd", "level"}, "encryption": {"codec": "age", "recipient"},
  "meta": {...engine facts: positions, times...}}
A manifest is believed only when its signature verifies with the key pinned for APP_NAME and it names this
very kind/name/app (a manifest copied onto another item is a replay, refused).

API
  a = Archive(cfg, client=None, signer=None)        client: s3.from_config(cfg, small=True) by default
  a.key(kind, name, obj="") -> "<app>/<kind>/<name>/<obj>"
  a.put(kind, name, source, data_object, meta=None, read_back=False) -> Item
        source: a file path, or a pipeline.Stage writing the plain bytes to its stdout (pg_basebackup ...),
        or a list of Stages (a producer and pass-through inspectors; their results reach meta);
        meta: a dict, or a function(pipeline.Result) -> dict called once the pipeline succeeded (facts only
        known after the source ran, e.g. the WAL position a base backup ended at);
        zstd -> age -> upload; then the stored object is checked (read_back: downloaded and hashed, for
        small objects; else part ETags and size, falling back to a read-back), the manifest signed and
        written last. Raises ArchiveError naming the stage that failed (nothing half-written is believed).
  a.archive_once(kind, name, path, data_object, meta=None) -> "stored" | "already"
        the archive_command rule: an item already archived with the same plain sha256 is "already"
        (idempotent); a different one raises Conflict (never overwritten); an unbelievable manifest Refused.
  a.item(kind, name) -> Item          the checked manifest; NotArchived (no manifest), Refused (bad one);
                                      S3 errors as ArchiveError ("could not tell" is never "absent")
  a.get(kind, name, identity, dest=None, sink=None, item=None) -> Item
        download (each part's sha256 checked against the signed manifest before a byte reaches age) ->
        age -d -> zstd -d -> dest (a file: written beside, fsynced, renamed into place only when the
        plain sha256 and size match; owner taken from dest's directory when run as root) or sink (a
        pipeline.Stage reading the plain bytes, e.g. tar -x; the plain sha256 is checked after it ran:
        on a mismatch the caller must discard what the sink wrote). Raises NotArchived/Refused/ArchiveError.
  a.names(kind, prefix="") -> sorted names that have a manifest (listing only: believe via item())
  a.listing(kind) -> {name: set(object names)}
  a.delete(kind, name)                 removes the item's objects (manifest first: it stops being believed)
  a.record(kind, name, item, doc) / a.record_of(kind, name, item) -> dict | None   signed verification.json
  identity_file(args) -> (path, rest)  --identity FILE | --identity=FILE | DBTIER_AGE_IDENTITY_FILE | the
                                       age-identity secret; ConfigError when none or no AGE-SECRET-KEY line
  parse_time("YYYY-MM-DD HH:MM:SSZ") -> epoch seconds (int); fmt_time(epoch) -> the same form
  Window(intervals) .contains(t) .start .end .describe();  window_of(bases, logs, follows) -> Window
  retention(bases, logs, window_days, now) -> (bases_to_delete, logs_to_delete);  window_days(cfg)
  Base(name, consistent_at, first_log, doc), Log(name, seq, last_time, doc)   inputs of the two above
"""
from __future__ import annotations

import calendar
import dataclasses
import hashlib
import json
import os
import platform
import re
import secrets
import socket
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from .. import VERSION, config, pipeline, s3, trust
from ..log import Failure

KINDS = ("base", "wal", "binlog")
MANIFEST_OBJECT = "manifest.json"
VERIFICATION_OBJECT = "verification.json"
FORMAT = 1
DEFAULT_WINDOW_DAYS = 7
# health: the newest base backup is stale after this long (the timer is daily with up to 30 min of random
# delay: components/hostFiles.ts BASEBACKUP_SCHEDULE)
BASE_STALE_AFTER = int(os.environ.get("DBTIER_BASE_STALE_AFTER") or 26 * 3600)
HEX64 = re.compile(r"^[0-9a-f]{64}$")
# a name is one or two path segments of safe characters (no "..", no empty segment)
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)?$")
TIME_FORMAT = "%Y-%m-%d %H:%M:%SZ"

config.register_keys("PITR_WINDOW_DAYS")


class ArchiveError(Failure):
    """Writing or reading an item failed (S3, a pipeline stage, a check); the message names the stage."""


class NotArchived(ArchiveError):
    """The item has no manifest: it was never (completely) archived."""


class Refused(ArchiveError):
    """What the datastore holds is not to be believed (unsigned, altered, another item's manifest)."""


class Conflict(ArchiveError):
    """An item of that name is archived with different content: never overwritten."""


@dataclasses.dataclass
class Item:
    kind: str
    name: str
    doc: Dict
    raw: bytes

    @property
    def sha256(self) -> str:
        """The manifest's own sha256 (a verification record names the manifest it is about)."""
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def meta(self) -> Dict:
        return self.doc.get("meta") or {}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def parse_time(text: str) -> int:
    """'YYYY-MM-DD HH:MM:SSZ' (UTC; 'T' for the space and '+00:00' for 'Z' accepted) -> epoch seconds."""
    t = text.strip().replace("T", " ")
    if t.endswith("+00:00"):
        t = t[:-6] + "Z"
    try:
        return calendar.timegm(time.strptime(t, TIME_FORMAT))
    except ValueError:
        raise config.ConfigError(f"time '{text}': expected 'YYYY-MM-DD HH:MM:SSZ' (UTC)") from None


def fmt_time(epoch: float) -> str:
    return time.strftime(TIME_FORMAT, time.gmtime(int(epoch)))


def iso_epoch(iso: str) -> int:
    """'2026-12-06T13:00:00Z' (the manifests' createdAt form) -> epoch seconds."""
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))


def window_days(cfg: config.Config) -> int:
    raw = cfg.get("PITR_WINDOW_DAYS") or str(DEFAULT_WINDOW_DAYS)
    if not re.fullmatch(r"[1-9][0-9]*", raw):
        raise config.ConfigError(f"PITR_WINDOW_DAYS='{raw}': must be a whole number of days >= 1")
    return int(raw)


def record_base_age(ctx, bases: Sequence[Tuple[str, float]], of: str) -> None:
    """health 'base-backup': the newest of `bases` ((name, consistent-at epoch), the bases a restore of the
    server's present history can start from) is younger than BASE_STALE_AFTER."""
    if not bases:
        ctx.record("base-backup", False, f"no base backup of {of}: no point of it can be restored "
                                         "(dbtier-db basebackup)")
        return
    name, at = max(bases, key=lambda b: b[1])
    age = int(time.time() - at)
    ok = age <= BASE_STALE_AFTER
    ctx.record("base-backup", ok, f"newest base {name} of {of}, consistent at {fmt_time(at)}, {age // 3600} h "
                                  f"{age % 3600 // 60} min old" + ("" if ok else f" (limit {BASE_STALE_AFTER // 3600} h)"))


def identity_file(args: Sequence[str]) -> Tuple[str, List[str]]:
    """The age identity for reading the archive (never kept on the host: it comes with the run)."""
    rest: List[str] = []
    path = ""
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--identity":
            if i + 1 >= len(args):
                raise config.ConfigError("--identity needs a FILE")
            path = args[i + 1]
            i += 2
            continue
        if a.startswith("--identity="):
            path = a.split("=", 1)[1]
        else:
            rest.append(a)
        i += 1
    path = config.age_identity(path)
    return path, rest


def check_manifest(doc, app: str, kind: str, name: str) -> str:
    """"" when the manifest fits this item, else what does not fit."""
    if not isinstance(doc, dict):
        return "not a JSON object"
    if doc.get("format") != FORMAT:
        return f"format {json.dumps(doc.get('format'))} (this tool reads {FORMAT})"
    if doc.get("app") != app:
        return f"it is an item of {doc.get('app')}, not of {app}"
    if doc.get("kind") != kind or doc.get("name") != name:
        return f"it describes {doc.get('kind')}/{doc.get('name')}, not {kind}/{name} (a replay)"
    obj, plain = doc.get("object"), doc.get("plain")
    if not isinstance(obj, dict) or not isinstance(obj.get("key"), str) or "/" in obj["key"]:
        return "no object key"
    if not (isinstance(obj.get("sha256"), str) and HEX64.match(obj["sha256"])) or not isinstance(obj.get("size"), int):
        return "no object checksum"
    parts = obj.get("parts")
    if (not isinstance(parts, list) or not parts
            or any(not isinstance(p, dict) or not (isinstance(p.get("sha256"), str) and HEX64.match(p["sha256"]))
                   or not isinstance(p.get("size"), int) for p in parts)
            or sum(p["size"] for p in parts) != obj["size"]):
        return "no valid part checksums"
    if not isinstance(plain, dict) or not (isinstance(plain.get("sha256"), str) and HEX64.match(plain["sha256"])) \
            or not isinstance(plain.get("size"), int):
        return "no plain checksum"
    return ""


def _plain_reader(path: str) -> Callable:
    """A pipeline function stage: the file's bytes to its stdout; returns (sha256, size) of what it read."""

    def fn(_inp, out) -> Tuple[str, int]:
        h, n = hashlib.sha256(), 0
        with open(path, "rb") as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                h.update(b)
                n += len(b)
                out.write(b)
        return h.hexdigest(), n

    return fn


def _copy_hashing(inp, out) -> Tuple[str, int]:
    """Copies inp to out; (sha256, size) of what passed (also the pass-through "measure" stage)."""
    h, n = hashlib.sha256(), 0
    while True:
        b = inp.read1(1 << 20) if hasattr(inp, "read1") else inp.read(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
        out.write(b)
    return h.hexdigest(), n


def _zstd() -> Tuple[str, str]:
    """(level, --zstd=... args): the logical backups' settings (dbtier/backup.py zstd_settings; reasons in
    scripts/bench/WHY.md): the 512 KiB window keeps zstd near 23 MiB instead of ~58."""
    from ..backup import zstd_settings
    z = zstd_settings()
    return z["level"], f"--zstd=wlog={z['wlog']},mml={z['mml']}"


class Archive:
    def __init__(self, cfg: config.Config, client: Optional[s3.Client] = None,
                 signer: Optional[trust.Signer] = None) -> None:
        self.cfg = cfg
        self.app = cfg.app
        if client is None:
            try:
                client = s3.from_config(cfg, small=True)
            except ValueError as e:
                raise config.ConfigError(str(e)) from None
        self.client = client
        self.signer = signer or trust.Signer(cfg)

    # ---- layout ----

    def key(self, kind: str, name: str, obj: str = "") -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown item kind '{kind}'")
        if not NAME.match(name) or ".." in name:
            raise ArchiveError(f"'{name}' is not a valid {kind} name")
        return f"{self.app}/{kind}/{name}/{obj}"

    # ---- writing ----

    def put(self, kind: str, name: str, source, data_object: str, meta: Optional[Dict] = None,
            read_back: bool = False) -> Item:
        what = f"{kind} {name}"
        key = self.key(kind, name, data_object)
        if isinstance(source, (pipeline.Stage, list)):
            stages = ([source] if isinstance(source, pipeline.Stage) else list(source)) + \
                [pipeline.Stage("measure", fn=_copy_hashing)]
            plain_stage = "measure"
        else:
            stages = [pipeline.Stage("read", fn=_plain_reader(source))]
            plain_stage = "read"
        level, zargs = _zstd()
        recipient = self.cfg.get("BACKUP_RECIPIENT")
        # one thread for I/O and compression, as the logical backups: a quarter of the default's memory (WHY.md)
        stages += [pipeline.Stage("compress", ["zstd", "--single-thread", "-q", "-c", f"-{level}", zargs]),
                   pipeline.Stage("encrypt", ["age", "-r", recipient]),
                   pipeline.Stage("upload", fn=lambda inp, _out: self.client.put_stream(key, inp))]
        try:
            result = pipeline.run(stages)
        except s3.Interrupted:
            self._purge(kind, name)
            raise
        why = result.failure()
        if why:
            self._purge(kind, name)
            raise ArchiveError(f"archiving {what} failed: {why}")
        plain_sha, plain_size = result.results[plain_stage]
        report: s3.PutReport = result.results["upload"]
        self._check_stored(kind, name, key, report, read_back)
        if callable(meta):
            try:
                meta = meta(result)
            except Exception:
                self._purge(kind, name)
                raise
        doc = {
            "format": FORMAT, "kind": kind, "name": name, "app": self.app, "createdAt": _now(),
            "host": socket.gethostname(), "engine": self.cfg.engine, "signedBy": self.app,
            "object": {"key": data_object, "sha256": report.sha256, "size": report.size,
                       "partSize": report.part_size, "parts": report.parts},
            "plain": {"sha256": plain_sha, "size": plain_size},
            "compression": {"codec": "zstd", "level": int(level), "args": zargs},
            "encryption": {"codec": "age", "recipient": recipient},
            "tools": {"dbtier": VERSION, "python": f"Python {platform.python_version()}"},
            "meta": meta or {},
        }
        raw = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
        try:
            sig = self.signer.sign(raw)
        except trust.TrustError as e:
            self._purge(kind, name)
            raise ArchiveError(f"archiving {what}: {e}") from None
        try:
            # The signature first, the manifest last: a manifest marks a complete item.
            self.client.put_bytes(self.key(kind, name, MANIFEST_OBJECT + ".sig"), sig)
            self.client.put_bytes(self.key(kind, name, MANIFEST_OBJECT), raw)
        except (s3.S3Error, OSError) as e:
            self._purge(kind, name)
            raise ArchiveError(f"archiving {what}: writing the manifest failed: {e}") from None
        return Item(kind, name, doc, raw)

    def _check_stored(self, kind: str, name: str, key: str, report: s3.PutReport, read_back: bool) -> None:
        what = f"{kind} {name}"
        if not read_back:
            try:
                head = self.client.head(key)
            except (s3.S3Error, OSError):
                head = None
            if head is not None and head.size == report.size and report.parts_verified:
                return
        try:
            with open(os.devnull, "wb") as sink:
                self.client.get_stream(key, sink, s3.Expected(report.size, report.sha256,
                                                             [(int(p["size"]), str(p["sha256"])) for p in report.parts]))
        except (s3.S3Error, s3.IntegrityError, OSError, ValueError) as e:
            self._purge(kind, name)
            raise ArchiveError(f"archiving {what}: the stored object does not read back as streamed: {e}") from None

    def _purge(self, kind: str, name: str) -> None:
        try:
            self.client.delete_prefix(self.key(kind, name))
        except (s3.S3Error, OSError):
            pass  # a leftover without a manifest is never believed; retention removes it

    def archive_once(self, kind: str, name: str, path: str, data_object: str, meta: Optional[Dict] = None) -> str:
        try:
            existing: Optional[Item] = self.item(kind, name)
        except NotArchived:
            existing = None
        if existing is not None:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for b in iter(lambda: f.read(1 << 20), b""):
                    h.update(b)
            if existing.doc["plain"]["sha256"] == h.hexdigest():
                return "already"
            raise Conflict(f"{kind} {name} is already archived with different content "
                           f"(sha256 {existing.doc['plain']['sha256']}, this file {h.hexdigest()}): not overwritten")
        self.put(kind, name, path, data_object, meta, read_back=True)
        return "stored"

    # ---- reading ----

    def item(self, kind: str, name: str) -> Item:
        what = f"{kind} {name}"
        try:
            raw = self.client.get_bytes(self.key(kind, name, MANIFEST_OBJECT), missing_ok=True)
            if not raw:
                raise NotArchived(f"{what} is not archived")
            sig = self.client.get_bytes(self.key(kind, name, MANIFEST_OBJECT + ".sig"), missing_ok=True) or b""
        except (s3.S3Error, OSError) as e:
            raise ArchiveError(f"reading the manifest of {what}: {e}") from None
        verdict = self.signer.verify(self.app, raw, sig)
        if not verdict:
            raise Refused(f"{what} refused: its manifest is not signed by the key pinned for {self.app}: {verdict.reason}")
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        problem = check_manifest(doc, self.app, kind, name) if doc is not None else "not JSON"
        if problem:
            raise Refused(f"{what} refused: its signed manifest does not fit: {problem}")
        return Item(kind, name, doc, raw)

    def get(self, kind: str, name: str, identity: str, dest: Optional[str] = None,
            sink: Optional[pipeline.Stage] = None, item: Optional[Item] = None) -> Item:
        if (dest is None) == (sink is None):
            raise ValueError("get: exactly one of dest and sink")
        what = f"{kind} {name}"
        item = item or self.item(kind, name)
        obj = item.doc["object"]
        key = self.key(kind, name, obj["key"])
        expect = s3.Expected(obj["size"], obj["sha256"], [(p["size"], p["sha256"]) for p in obj["parts"]])
        stages = [pipeline.Stage("download", fn=lambda _inp, out: self.client.get_stream(key, out, expect)),
                  pipeline.Stage("decrypt", ["age", "-d", "-i", identity]),
                  pipeline.Stage("decompress", ["zstd", "-d", "-q", "-c"])]
        target: Optional[_Target] = None
        if dest is not None:
            target = _Target(dest)
            stages.append(pipeline.Stage("write", fn=lambda inp, _out: target.write(inp)))  # type: ignore[union-attr]
            plain_stage = "write"
        else:
            stages += [pipeline.Stage("measure", fn=_copy_hashing), sink]  # type: ignore[list-item]
            plain_stage = "measure"
        try:
            result = pipeline.run(stages)
            why = result.failure()
            if why:
                raise ArchiveError(f"reading {what} failed: {why}")
            sha, size = result.results[plain_stage]
            if sha != item.doc["plain"]["sha256"] or size != item.doc["plain"]["size"]:
                raise ArchiveError(f"reading {what}: decrypted {size} bytes with sha256 {sha}, the signed manifest "
                                   f"says {item.doc['plain']['size']} bytes with sha256 {item.doc['plain']['sha256']}")
            if target is not None:
                target.place()
        finally:
            if target is not None:
                target.close()
        return item

    # ---- listing, deleting, records ----

    def listing(self, kind: str) -> Dict[str, Set[str]]:
        prefix = f"{self.app}/{kind}/"
        out: Dict[str, Set[str]] = {}
        try:
            entries = self.client.list(prefix)
        except (s3.S3Error, OSError) as e:
            raise ArchiveError(f"listing {prefix}: {e}") from None
        for e in entries:
            if not e.key:
                continue
            rest = e.key[len(prefix):]
            name, _, obj = rest.rpartition("/")
            if name and obj:
                out.setdefault(name, set()).add(obj)
        return out

    def names(self, kind: str) -> List[str]:
        return sorted(n for n, objs in self.listing(kind).items() if MANIFEST_OBJECT in objs)

    def delete(self, kind: str, name: str) -> None:
        try:
            self.client.delete(self.key(kind, name, MANIFEST_OBJECT))
            self.client.delete_prefix(self.key(kind, name))
        except (s3.S3Error, OSError) as e:
            raise ArchiveError(f"deleting {kind} {name}: {e}") from None

    def record(self, kind: str, name: str, item: Item, doc: Dict) -> None:
        """Writes the signed verification.json of an item: doc plus who, when and which manifest."""
        full = dict(doc)
        full.update({"kind": kind, "name": name, "app": self.app, "manifestSha256": item.sha256,
                     "verifiedBy": self.app, "verifiedAt": _now(), "host": socket.gethostname()})
        raw = (json.dumps(full, indent=2, ensure_ascii=False) + "\n").encode()
        try:
            sig = self.signer.sign(raw)
            self.client.put_bytes(self.key(kind, name, VERIFICATION_OBJECT + ".sig"), sig)
            self.client.put_bytes(self.key(kind, name, VERIFICATION_OBJECT), raw)
        except (trust.TrustError, s3.S3Error, OSError) as e:
            raise ArchiveError(f"recording the verification of {kind} {name}: {e}") from None

    def record_of(self, kind: str, name: str, item: Item) -> Optional[Dict]:
        """The signed verification record of this very manifest, or None (absent, unsigned, another's)."""
        try:
            raw = self.client.get_bytes(self.key(kind, name, VERIFICATION_OBJECT), missing_ok=True)
            sig = self.client.get_bytes(self.key(kind, name, VERIFICATION_OBJECT + ".sig"), missing_ok=True) or b""
        except (s3.S3Error, OSError) as e:
            raise ArchiveError(f"reading the verification record of {kind} {name}: {e}") from None
        if not raw or not self.signer.verify(self.app, raw, sig):
            return None
        try:
            doc = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(doc, dict) or doc.get("manifestSha256") != item.sha256 or doc.get("name") != name:
            return None
        return doc


class _Target:
    """A checked file placed in a directory another user may write: the restore_command runs as root (sudo)
    in the server's pg_wal, which the server's user owns. The directory is opened once and every step goes
    through that descriptor; the temporary file is created exclusively (a name planted there, a symlink
    included, is never followed) and renamed over the destination's directory entry, never through a link.
    The file is owned like its directory when run as root (the server must own what it reads)."""

    def __init__(self, dest: str) -> None:
        directory = os.path.dirname(os.path.abspath(dest)) or "."
        self.base = os.path.basename(dest)
        if self.base in ("", ".", ".."):
            raise ArchiveError(f"{dest} names no file")
        self.dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        # the directory opened is the one the caller checked (a component swapped for a link meanwhile is refused)
        opened = os.readlink(f"/proc/self/fd/{self.dir_fd}")
        if opened != os.path.realpath(directory):
            os.close(self.dir_fd)
            raise ArchiveError(f"{directory} changed while it was opened (now {opened})")
        self.tmp: Optional[str] = f".{self.base}.dbtier-{os.getpid()}-{secrets.token_hex(6)}"

    def write(self, inp) -> Tuple[str, int]:
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=self.dir_fd)
        with os.fdopen(fd, "wb") as f:
            digest = _copy_hashing(inp, f)
            f.flush()
            if os.geteuid() == 0:
                st = os.fstat(self.dir_fd)
                os.fchown(f.fileno(), st.st_uid, st.st_gid)
            os.fsync(f.fileno())
        return digest

    def place(self) -> None:
        os.rename(self.tmp, self.base, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
        self.tmp = None

    def close(self) -> None:
        if self.tmp is not None:
            try:
                os.unlink(self.tmp, dir_fd=self.dir_fd)
            except OSError:
                pass
            self.tmp = None
        os.close(self.dir_fd)


# ---- window and retention ----

@dataclasses.dataclass
class Base:
    name: str
    consistent_at: float    # the earliest time a restore from this base can stop at
    first_log: object       # the seq (Log.seq) of the first log a restore from it needs
    doc: Dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Log:
    name: str
    seq: object             # sortable position (PostgreSQL: segment number; binlogs: file number)
    last_time: Optional[float]  # the newest commit time it holds (None: none)
    doc: Dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Window:
    intervals: List[Tuple[float, float]]

    @classmethod
    def of_spans(cls, spans: Iterable[Tuple[float, float]]) -> "Window":
        """The union of (from, to) spans: overlapping ones merged, a gap between them kept."""
        merged: List[Tuple[float, float]] = []
        for a, z in sorted(spans):
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], z))
            else:
                merged.append((a, z))
        return cls(merged)

    @property
    def start(self) -> Optional[float]:
        return self.intervals[0][0] if self.intervals else None

    @property
    def end(self) -> Optional[float]:
        return self.intervals[-1][1] if self.intervals else None

    def contains(self, t: float) -> bool:
        return any(a <= t <= b for a, b in self.intervals)

    def describe(self) -> str:
        if not self.intervals:
            return "empty (no base backup with its archive)"
        return ", ".join(f"{fmt_time(a)} .. {fmt_time(b)}" for a, b in self.intervals)


def window_of(bases: Iterable[Base], logs: Sequence[Log], follows: Callable[[Log, Log], bool]) -> Window:
    """The times a restore can reach: for each base, from its consistent point to the newest commit of the
    unbroken run of logs that starts at its first log (follows(a, b): b comes right after a). Overlapping
    spans are merged; a gap in the archive splits the window."""
    ordered = sorted(logs, key=lambda lg: lg.seq)  # type: ignore[arg-type, return-value]
    index = {lg.seq: i for i, lg in enumerate(ordered)}
    spans: List[Tuple[float, float]] = []
    for b in bases:
        i = index.get(b.first_log)
        if i is None:
            continue
        end = b.consistent_at
        j = i
        while True:
            t = ordered[j].last_time
            if t is not None and t > end:
                end = t
            if j + 1 < len(ordered) and follows(ordered[j], ordered[j + 1]):
                j += 1
            else:
                break
        spans.append((b.consistent_at, max(end, b.consistent_at)))
    return Window.of_spans(spans)


def retention(bases: Sequence[Base], logs: Sequence[Log], days: int, now: float) -> Tuple[List[Base], List[Log]]:
    """What may go: bases older than the window except the newest of them (it is where the window's first
    second is restored from), and logs older than the first log of the oldest kept base. The newest base is
    always kept, whatever its age."""
    if not bases:
        return [], []
    ordered = sorted(bases, key=lambda b: b.consistent_at)
    cutoff = now - days * 86400
    older = [b for b in ordered if b.consistent_at <= cutoff]
    keep_from = ordered.index(older[-1]) if older else 0
    keep_from = min(keep_from, len(ordered) - 1)
    drop_bases = ordered[:keep_from]
    oldest_kept = ordered[keep_from]
    drop_logs = [lg for lg in logs if lg.seq < oldest_kept.first_log]  # type: ignore[operator]
    return drop_bases, drop_logs
