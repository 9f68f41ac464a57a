"""dbtier-db backup <period> (and the safety backup restore/load-app-db take before a swap).

  dump (fingerprint.py dump: exact dump + the source's digests from its snapshot)
    | nice zstd --single-thread -<level> --zstd=wlog=,mml=  | age -r BACKUP_RECIPIENT  | s3stream.py put (multipart)
then the stored object is checked against what was streamed (part ETags = MD5s and the size, else a full
read-back by sha256), the manifest (format 3: object and part checksums, codecs, the source's digests) is
signed and written last (signature first), then older generations are pruned. Any failing stage purges what
was uploaded under the new id and names the stage with its own message (pipeline.py).

  cmd_backup(cfg, args)            the command (the table holds its lock, keys and tools)
  take(cfg, run, adm, period) -> backup id     one backup, checked and signed (no lock taken here)
  prune(cfg, client, period)
  cmd_safety_backup(cfg, args)     takes a safety backup, prints its id on stdout (no longer in the command
                                   table: restore and load-app-db call take(..., "safety") in-process,
                                   dbtier/sidedb.py, while they hold the lock)
"""
from __future__ import annotations

import json
import os
import platform
import re
import socket
import sys
import threading
import time
from typing import Dict, List, Optional

from . import VERSION, config, pipeline, s3, trust
from .db import Admin, RunDir, lib_module
from .log import Failure, log, warn
from .store import DATA_OBJECT, MANIFEST_FORMAT, MANIFEST_OBJECT

LIB = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = os.environ.get("DBTIER_PYTHON") or ("/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable)
RECIPIENT = re.compile(r"^age1[0-9a-z]{50,}$")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def zstd_settings() -> Dict[str, str]:
    # zstd -3, 512 KiB window, matches of at least 6 bytes (scripts/bench/WHY.md).
    return {"level": os.environ.get("DBTIER_ZSTD_LEVEL") or "3", "wlog": os.environ.get("DBTIER_ZSTD_WLOG") or "19",
            "mml": os.environ.get("DBTIER_ZSTD_MML") or "6"}


def s3_env(cfg: config.Config) -> Dict[str, str]:
    """The environment of the s3stream.py stage: key files by path, never the keys."""
    endpoint = cfg.get("DATASTORE_ENDPOINT")
    if "://" not in endpoint:
        endpoint = "https://" + endpoint
    return {"S3_ENDPOINT": endpoint, "S3_REGION": cfg.get("DATASTORE_REGION"), "S3_CA_FILE": cfg.get("DATASTORE_CA_FILE"),
            "S3_ACCESS_KEY_FILE": config.secret_path("datastore-access-key-id"),
            "S3_SECRET_KEY_FILE": config.secret_path("datastore-secret-access-key"),
            "S3_BWLIMIT": os.environ.get("DBTIER_S3_BWLIMIT", ""),
            "S3_PART_SIZE": os.environ.get("DBTIER_S3_PART_SIZE") or "5242880",
            "S3_CONCURRENCY": os.environ.get("DBTIER_S3_CONCURRENCY") or "1"}


def _key(cfg: config.Config, period: str, backup_id: str, obj: str = "") -> str:
    return f"{cfg.app}/{period}/{backup_id}/{obj}"


def _purge(client: s3.Client, cfg: config.Config, period: str, backup_id: str) -> None:
    try:
        client.delete_prefix(_key(cfg, period, backup_id))
    except (s3.S3Error, OSError):
        pass  # an incomplete leftover: the next backup's pruning removes it


def newest_written_file(cfg: config.Config) -> str:
    return os.path.join(cfg.state_dir, f"newest-backup-{cfg.app}")


def _new_id(cfg: config.Config) -> str:
    """A new backup id later than the newest this host wrote: ids are ordered by their second, so a backup
    in the same second as the previous one waits for the next (else 'latest' could name the older one)."""
    try:
        with open(newest_written_file(cfg)) as f:
            last = f.read().strip().split("/")[-1][:16]
    except OSError:
        last = ""
    for _ in range(50):
        backup_id = config.new_backup_id()
        if backup_id[:16] > last:
            return backup_id
        time.sleep(0.1)
    return backup_id


def fingerprint_module():
    """lib/fingerprint.py, imported on first use."""
    return lib_module("fingerprint")


class _Counted:
    """The dump stage's output, counting the bytes written through it (a tool given its descriptor, such as the
    schema's mariadb-dump, writes past the count: a lower bound)."""

    def __init__(self, out) -> None:
        self.out, self.bytes = out, 0

    def write(self, data) -> int:
        self.bytes += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()

    def fileno(self) -> int:
        return self.out.fileno()


def _dump_stage(cfg: config.Config, adm: Admin, run: RunDir, digests: str, counted: Dict[str, int]) -> pipeline.Stage:
    db = cfg.get("DB_NAME")
    # fingerprint.py's dump in this process (a thread; the dump clients are its children and pg_dump writes to
    # the pipe itself): its own Python process held ~20 MiB more (WHY.md). Its failure is the stage's.
    fingerprint = fingerprint_module()

    def dump(_inp, raw_out) -> None:
        out = _Counted(raw_out)
        try:
            if cfg.family == "mysql":
                # the clients' connection settings are in their defaults file (adm.cnf); the rows are read in
                # this process where adm.row_driver gives a target (python3-mysqldb)
                fingerprint.mysql_dump(db, digests, adm.client, adm.dump_tool, adm.cnf, adm.flavor, out=out, quiet=True,
                                       driver=adm.row_driver(fingerprint))
            else:
                fingerprint.pg_dump(db, digests, out=out, env=adm.env, work_dir=run.path, quiet=True)
        except fingerprint.Failure as e:
            raise RuntimeError(f"fingerprint: {e}") from None
        finally:
            counted["bytes"] = out.bytes
    return pipeline.Stage("dump", fn=dump)


# glibc's malloc in this process while the MariaDB/MySQL dump builds its statements here: blocks up to
# M_MMAP_THRESHOLD come from the heap, and up to M_TRIM_THRESHOLD of free heap is kept instead of handed back.
# By default the ~1 MiB statements (joined, then rewritten with their commas) were mapped, or trimmed away, and
# faulted in anew each time: a 1 GB backup spent ~8 CPU-s more, most of it in page faults, for ~8 MiB less
# held (scripts/bench/WHY.md). PostgreSQL's rows go from pg_dump to the pipe without passing through here.
MALLOC_SETTINGS = {"M_MMAP_THRESHOLD": (-3, 8 << 20), "M_TRIM_THRESHOLD": (-1, 8 << 20)}


def _keep_heap() -> None:
    try:
        import ctypes  # noqa: E402 - only the backup needs it
        libc = ctypes.CDLL(None)
        for option, value in MALLOC_SETTINGS.values():
            libc.mallopt(option, value)
    except (OSError, AttributeError):
        pass  # not glibc: its own defaults


def take(cfg: config.Config, run: RunDir, adm: Admin, client: s3.Client, signer: trust.Signer, period: str) -> str:
    started = _now()
    if cfg.family == "mysql":
        _keep_heap()
    try:
        version = adm.server_version()
    except Exception as e:  # noqa: BLE001
        raise Failure(f"cannot read the server version: {e}") from None
    backup_id = _new_id(cfg)
    digests = os.path.join(run.path, f"source-digests-{backup_id}.json")
    put_report = os.path.join(run.path, f"put-{backup_id}.json")
    with open(digests, "w") as f:
        f.write("{}")
    log(f"backup {period}/{backup_id} of {cfg.engine} {version} database {cfg.get('DB_NAME')} started")
    # The tools' versions for the manifest, read while the dump runs: three processes after the upload were
    # time the backup waited for.
    tools: Dict[str, str] = {}
    versions = threading.Thread(target=lambda: tools.update(
        dump=adm.tool_version(adm.dump_tool), zstd=adm.tool_version("zstd"), age=adm.tool_version("age")), daemon=True)
    versions.start()
    z = zstd_settings()
    env = dict(adm.env)
    env.update(s3_env(cfg))
    counted = {"bytes": 0}
    stages = [
        _dump_stage(cfg, adm, run, digests, counted),
        # niced: the server and the single-threaded dump (the critical path) keep priority. One thread for
        # I/O and compression: at -3 it outruns the dump, and it needs a quarter of -T0's memory (WHY.md).
        pipeline.Stage("compress", ["nice", "-n", "10", "zstd", "--single-thread", f"-{z['level']}",
                                    f"--zstd=wlog={z['wlog']},mml={z['mml']}", "-q", "-c"]),
        pipeline.Stage("encrypt", ["age", "-r", cfg.get("BACKUP_RECIPIENT")]),
        pipeline.Stage("upload", [PYTHON, os.path.join(LIB, "s3stream.py"), "put", cfg.get("DATASTORE_BUCKET"),
                                  _key(cfg, period, backup_id, DATA_OBJECT), "--report", put_report]),
    ]
    try:
        result = pipeline.run(stages, env=env)
    except s3.Interrupted as e:
        last = (getattr(e, "pipeline_stderr", {}).get("upload") or "").strip().splitlines()
        raise Failure(f"stopped by {e} during backup {period}/{backup_id} (no manifest written)"
                      f"{'; uploader: ' + last[-1] if last else ''}", code=143 if str(e) == "SIGTERM" else 130) from None
    why = result.failure()
    if why:
        _purge(client, cfg, period, backup_id)
        raise Failure(f"backup {period}/{backup_id} failed: {why} (no manifest written; partial object removed)")
    try:
        with open(digests) as f:
            source = json.load(f)
        if not isinstance(source, dict):
            raise ValueError
    except ValueError:
        raise Failure(f"backup {period}/{backup_id}: the dump's source digests are not JSON") from None
    versions.join()
    _finish(cfg, adm, client, signer, period, backup_id, started, version, source, put_report, counted["bytes"], tools)
    return backup_id


def _source_bytes(adm: Admin, db: str, dumped: int) -> Optional[int]:
    """What a copy of db takes, for restore's and verify's free-space check: the server's figure, and at least the
    rows the dump wrote. MariaDB's figure comes from InnoDB's statistics, which lag a load (a table just filled
    can still read as one empty page), so a fresh database's copy would be taken for a few KiB."""
    size = adm.size_bytes(db)
    return None if size is None else max(size, dumped)


def _finish(cfg, adm: Admin, client: s3.Client, signer: trust.Signer, period: str, backup_id: str, started: str,
            version: str, source: Dict, put_report: str, dumped: int, tools: Dict[str, str]) -> None:
    try:
        with open(put_report) as f:
            put = json.load(f)
    except (OSError, ValueError):
        put = {}
    sha, size = put.get("sha256", ""), put.get("size")
    if not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha) and isinstance(size, int)):
        raise Failure(f"backup {period}/{backup_id}: streamed checksum or size missing")
    key = _key(cfg, period, backup_id, DATA_OBJECT)
    # Every part went up with its SHA-256 signed and came back with an ETag equal to its MD5; the assembled
    # object must then have the streamed size. Otherwise (SSE-KMS ETags, or DBTIER_UPLOAD_CHECK=read-back):
    # a full read-back compared by SHA-256.
    try:
        head = client.head(key)
    except (s3.S3Error, OSError):
        head = None
    stored_size = head.size if head else "missing"
    if os.environ.get("DBTIER_UPLOAD_CHECK") != "read-back" and stored_size == size and put.get("partsVerified") is True:
        check = "part-etags"
    else:
        check = "read-back"
        try:
            with open(os.devnull, "wb") as sink:
                client.get_stream(key, sink, s3.Expected.from_doc(put))
        except (s3.S3Error, s3.IntegrityError, OSError, ValueError) as e:
            _purge(client, cfg, period, backup_id)
            raise Failure(f"backup {period}/{backup_id}: the stored object does not match what was streamed "
                          f"(stored size {stored_size}, streamed {size}): {e}; removed") from None
    completed = _now()
    z = zstd_settings()
    manifest = {
        "format": MANIFEST_FORMAT, "backupId": backup_id, "period": period, "app": cfg.app, "startedAt": started,
        "completedAt": completed, "host": socket.gethostname(), "engine": cfg.engine, "serverVersion": version,
        "database": cfg.get("DB_NAME"), "sourceBytes": _source_bytes(adm, cfg.get("DB_NAME"), dumped),
        "object": {"key": DATA_OBJECT, "sha256": sha, "size": size, "partSize": put.get("partSize"),
                   "parts": put.get("parts")},
        "compression": {"codec": "zstd", "level": int(z["level"]), "args": f"--zstd=wlog={z['wlog']},mml={z['mml']}"},
        "encryption": {"codec": "age", "recipient": cfg.get("BACKUP_RECIPIENT")},
        "dump": {"format": source.get("format") or "sql"},
        "source": source,
        "uploadCheck": {"method": check, "checkedAt": completed},
        "signedBy": cfg.app,
        "tools": {"dbtier": VERSION, "dump": tools.get("dump", ""), "zstd": tools.get("zstd", ""),
                  "age": tools.get("age", ""), "python": f"Python {platform.python_version()}"},
    }
    raw = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    sig = signer.sign(raw)
    try:
        # The signature first, the manifest last: a manifest marks a complete backup.
        client.put_bytes(_key(cfg, period, backup_id, MANIFEST_OBJECT + ".sig"), sig)
        client.put_bytes(_key(cfg, period, backup_id, MANIFEST_OBJECT), raw)
    except (s3.S3Error, OSError) as e:
        _purge(client, cfg, period, backup_id)
        raise Failure(f"backup {period}/{backup_id}: writing the manifest failed: {e}") from None
    if period != "safety":
        with open(newest_written_file(cfg), "w") as f:
            f.write(f"{period}/{backup_id}\n")
    inexact = source.get("inexact") or []
    if inexact:
        warn(f"backup {period}/{backup_id} cannot be restored exactly: {'; '.join(inexact)} "
             "(recorded in its manifest; verify fails it)")
    log(f"backup {period}/{backup_id} done: stored {size} bytes, sha256 {sha}, signed (upload check: {check})")


def prune(cfg: config.Config, client: s3.Client, period: str) -> None:
    """Keeps the newest BACKUP_RETAIN_<PERIOD> complete backups; removes older ones and leftovers of failed
    runs older than the newest complete one. A listing that fails prunes nothing (the next backup prunes)."""
    keep = cfg.retain(period)
    prefix = f"{cfg.app}/{period}/"
    try:
        entries = client.list(prefix)
    except (s3.S3Error, OSError) as e:
        warn(f"retention of {period} skipped: cannot list {prefix}: {e}")
        return
    all_ids, complete = set(), set()
    for e in entries:
        parts = e.key[len(prefix):].split("/")
        if len(parts) >= 2 and config.is_backup_id(parts[0]):
            all_ids.add(parts[0])
            if len(parts) == 2 and parts[1] == MANIFEST_OBJECT:
                complete.add(parts[0])
    ids = sorted(complete)
    if not ids:
        return
    newest = ids[-1]
    for old in ids[:max(0, len(ids) - keep)]:
        log(f"retention ({period} keeps {keep}): removing {period}/{old}")
        _purge(client, cfg, period, old)
    for leftover in sorted(all_ids - complete):
        if leftover < newest:
            log(f"removing incomplete leftover {period}/{leftover} (no manifest)")
            _purge(client, cfg, period, leftover)


def _setup(cfg: config.Config, run: RunDir):
    if not RECIPIENT.match(cfg.get("BACKUP_RECIPIENT")):
        raise config.ConfigError(f"BACKUP_RECIPIENT='{cfg.get('BACKUP_RECIPIENT')}': must be an age public key (age1...)")
    adm = Admin(cfg, run)
    adm.load_session_library()  # the dump's own session loads it: the admin's queries too run in process
    try:
        client = s3.from_config(cfg, small=True)
    except ValueError as e:
        raise config.ConfigError(str(e)) from None
    signer = trust.Signer(cfg)
    signer.check()
    return adm, client, signer


def cmd_backup(cfg: config.Config, args: List[str]) -> int:
    periods = " ".join(config.PERIODS)
    if not args:
        raise config.ConfigError(f"usage: dbtier-db backup <period>; periods: {periods}")
    if args[0] not in config.PERIODS:
        raise config.ConfigError(f"unknown period '{args[0]}': allowed {periods}")
    if len(args) != 1:
        raise config.ConfigError("usage: dbtier-db backup <period>")
    period = args[0]
    with RunDir() as run:
        adm, client, signer = _setup(cfg, run)
        try:
            client.reachable(f"{cfg.app}/")
        except (s3.S3Error, OSError) as e:
            raise Failure(f"datastore {cfg.get('DATASTORE_ENDPOINT')} bucket {cfg.get('DATASTORE_BUCKET')} is unreachable: "
                          f"{' '.join(str(e).splitlines()[-2:])}") from None
        adm.wait_ready()
        from .sidedb import Side  # (it imports this module) a backup never takes a half-swapped database
        Side(cfg, run, adm).recover_swap()
        if not adm.exists(cfg.get("DB_NAME")):
            raise Failure(f"database {cfg.get('DB_NAME')} does not exist at {adm.target()}")
        # PostgreSQL on a DBaaS: the admin reads the app user's tables through membership in its role.
        adm.prepare_app_role()
        take(cfg, run, adm, client, signer, period)
        prune(cfg, client, period)
    return 0


def cmd_safety_backup(cfg: config.Config, args: List[str]) -> int:
    if args:
        raise config.ConfigError("usage: dbtier-db _safety-backup")
    with RunDir() as run:
        adm, client, signer = _setup(cfg, run)
        adm.prepare_app_role()
        backup_id = take(cfg, run, adm, client, signer, "safety")
        prune(cfg, client, "safety")
    print(backup_id)
    return 0
