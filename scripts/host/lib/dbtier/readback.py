"""Reading a backup back (verify, restore, load-app-db): choosing one and streaming it, checked, into a consumer.

Order of checks (nothing reaches the database that was not authenticated):
  1. the manifest's signature (the pinned key of the prefix's stack) and that it names this backup (store.py)
  2. for restore and loads: a signed test-restore record that passed, unless --unverified
  3. each part of the object against the manifest's part sha256, before a byte of it reaches age (s3.py)
  4. decryption (age), decompression (the codec the manifest records), the consumer (the loader)
  5. the loaded database against the source's own digests recorded in the manifest (sidedb.py)

  args = parse_args(argv)                  --identity FILE, --backup-id ID, --force, --if-empty, --yes,
                                           --unverified; args.rest: the positional arguments
  identity_file(args) -> path              the age identity (never kept on the host: it comes with the run)
  r = Reader(cfg, run, adm, app=None)      r.store: the Store of app's prefix (a promotion reads the source's)
  r.reachable()
  r.select(target, require) -> Selected    latest | a period | a backup id; require: verified | unverified | any
  r.stream(sel, identity, consumer, stats=None)    raises StreamError("reading P/ID: <stage> failed ...")
"""
from __future__ import annotations

import dataclasses
import http.client
import json
import os
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Sequence

from . import config, pipeline, s3
from .backup import LIB, PYTHON, newest_written_file, s3_env
from .db import Admin, RunDir, last_lines
from .log import Failure, log, warn
from .store import DATA_OBJECT, MANIFEST_OBJECT, Manifest, Refused, Store

# The decompressor of each codec a manifest may record (a backup is read with what wrote it).
DECOMPRESSORS: Dict[str, List[str]] = {"zstd": ["zstd", "-d", "-q", "-c"], "gzip": ["gzip", "-d", "-c"], "none": ["cat"]}
DECRYPTORS = ("age",)
BACKUP_ID_FORM = "YYYYMMDDTHHMMSSZ-xxxxxx"


class StreamError(Exception):
    """Reading a backup into its consumer failed; the message names the stage that really failed."""


@dataclasses.dataclass
class Args:
    rest: List[str]
    identity: str = ""
    backup_id: str = ""
    force: bool = False
    if_empty: bool = False
    yes: bool = False
    unverified: bool = False


def parse_args(argv: Sequence[str]) -> Args:
    a = Args(rest=[])
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--identity", "--backup-id"):
            if i + 1 >= len(argv):
                raise config.ConfigError(f"{arg} needs {'a file' if arg == '--identity' else 'a backup id'}")
            setattr(a, "identity" if arg == "--identity" else "backup_id", argv[i + 1])
            i += 2
            continue
        if arg.startswith("--identity="):
            a.identity = arg[len("--identity="):]
        elif arg in ("--force", "--if-empty", "--yes", "--unverified"):
            setattr(a, arg[2:].replace("-", "_"), True)
        elif arg.startswith("--"):
            raise config.ConfigError(f"unknown option {arg}")
        else:
            a.rest.append(arg)
        i += 1
    return a


def identity_given(args: Args) -> bool:
    return bool(args.identity or os.environ.get("DBTIER_AGE_IDENTITY_FILE") or config.has_secret("age-identity"))


def identity_file(args: Args) -> str:
    return config.age_identity(args.identity)


@dataclasses.dataclass
class Selected:
    period: str
    id: str
    manifest: Manifest
    state: str
    manifest_file: str  # the signed manifest as fetched, for the tools that take a file

    @property
    def name(self) -> str:
        return f"{self.period}/{self.id}"

    @property
    def doc(self) -> Dict:
        return self.manifest.doc


class Reader:
    def __init__(self, cfg: config.Config, run: RunDir, adm: Admin, app: Optional[str] = None) -> None:
        cfg.require("DATASTORE_ENDPOINT", "DATASTORE_BUCKET", "APP_NAME")
        self.cfg, self.run, self.adm = cfg, run, adm
        try:
            self.client = s3.from_config(cfg, small=True)
        except ValueError as e:
            raise config.ConfigError(str(e)) from None
        self.store = Store(cfg, self.client, app)

    @property
    def app(self) -> str:
        return self.store.app

    def reachable(self) -> None:
        try:
            self.client.reachable(f"{self.app}/")
        except (s3.S3Error, OSError) as e:
            raise Failure(f"datastore {self.cfg.get('DATASTORE_ENDPOINT')} bucket {self.cfg.get('DATASTORE_BUCKET')} "
                          f"is unreachable: {last_lines(str(e), 2)}") from None

    # ---- choosing ----

    def _find_period(self, backup_id: str) -> Optional[str]:
        """The period holding backup_id's manifest; a store that cannot answer stops the run (never "absent")."""
        for period in config.PERIODS + ("safety",):
            try:
                if self.client.head(self.store.key(period, backup_id, MANIFEST_OBJECT)) is not None:
                    return period
            except (s3.S3Error, OSError) as e:
                raise Failure(f"could not tell whether {period}/{backup_id} has a manifest: {last_lines(str(e), 2)}") from None
        return None

    def _listed(self) -> List[str]:
        """"<id>/<period>" of every backup with a manifest under the prefix."""
        root = f"{self.app}/"
        try:
            entries = self.client.list(root)
        except (s3.S3Error, OSError) as e:
            raise Failure(f"cannot list {root} in bucket {self.cfg.get('DATASTORE_BUCKET')}: {last_lines(str(e), 2)}") from None
        out = []
        for e in entries:
            parts = e.key[len(root):].split("/")
            if len(parts) == 3 and parts[2] == MANIFEST_OBJECT and config.is_backup_id(parts[1]):
                out.append(f"{parts[1]}/{parts[0]}")
        return out

    def _check_newest_present(self, present: List[str]) -> None:
        """Refuses 'latest' when the newest backup this host wrote is not listed: a deleted backup or a
        replayed (older) listing would otherwise quietly turn an older backup into "latest"."""
        try:
            with open(newest_written_file(self.cfg)) as f:
                newest = f.read().strip()
        except OSError:
            return
        if not newest:
            return
        period, _, backup_id = newest.partition("/")
        if f"{backup_id}/{period}" not in present:
            raise Failure(f"the newest backup this host wrote, {newest}, is missing from the datastore (deleted, or a "
                          "replayed listing): 'latest' refused; name a backup id")

    def manifest(self, period: str, backup_id: str) -> Manifest:
        try:
            return self.store.manifest(period, backup_id)
        except Refused as e:
            raise Failure(str(e)) from None
        except (s3.S3Error, OSError) as e:
            raise Failure(f"cannot read the manifest of {period}/{backup_id}: {last_lines(str(e), 2)}") from None

    def select(self, target: str, require: str) -> Selected:
        """The backup a verify, restore or load reads, its manifest checked. require=verified takes only a
        backup with a signed, passing test restore; a manifest that fails its checks stops the run (something
        wrote into the datastore that its owner did not sign): it is never skipped quietly."""
        periods = " ".join(self.cfg.periods)
        if target == "latest" or target in config.PERIODS or target == "safety":
            scope = self.cfg.periods if target == "latest" else (target,)
            present = self._listed()
            candidates = sorted((c for c in present if c.split("/")[1] in scope), reverse=True)
            if target == "latest" and self.app == self.cfg.app:
                self._check_newest_present(present)
        elif config.is_backup_id(target):
            period = self._find_period(target)
            if period is None:
                raise Failure(f"backup {target} not found (no manifest in any period)")
            candidates = [f"{target}/{period}"]
        else:
            raise config.ConfigError(f"'{target}' is neither a period ({' '.join(config.PERIODS)}), a backup id "
                                     f"({BACKUP_ID_FORM}) nor 'latest'")
        where = periods if target == "latest" else target
        if not candidates:
            raise Failure(f"no complete backup found in {where} under {self.app}")
        skipped = []
        for c in candidates:
            backup_id, period = c.split("/")
            m = self.manifest(period, backup_id)
            try:
                state = self.store.verification_state(period, backup_id, m)
            except (s3.S3Error, OSError) as e:
                raise Failure(f"cannot read the verification record of {period}/{backup_id}: {last_lines(str(e), 2)}") from None
            if require == "verified" and state != "ok":
                if not config.is_backup_id(target):
                    skipped.append(f"{period}/{backup_id} ({state})")
                    continue
                raise Failure(f"backup {period}/{backup_id} has no passing test restore on record ({state}); run "
                              f"'dbtier-db verify {backup_id}' first, or pass --unverified")
            if skipped:
                log(f"newer backups without a passing test restore, not taken: {' '.join(skipped)}")
            if require == "unverified" and state != "ok":
                warn(f"{period}/{backup_id} has no passing test restore on record ({state}): taken because of --unverified")
            path = self.run.private_file(f"manifest-{period}-{backup_id}.json", "")
            with open(path, "wb") as f:
                f.write(m.raw)
            return Selected(period, backup_id, m, state, path)
        raise Failure(f"no backup in {where} under {self.app} has a passing test restore on record ({' '.join(skipped)}); "
                      "run 'dbtier-db verify <id>' or pass --unverified")

    def selected(self, period: str, backup_id: str) -> Selected:
        """A backup this run just wrote (the safety backup), its manifest fetched and checked like any other."""
        m = self.manifest(period, backup_id)
        path = self.run.private_file(f"manifest-{period}-{backup_id}.json", "")
        with open(path, "wb") as f:
            f.write(m.raw)
        return Selected(period, backup_id, m, "", path)

    # ---- streaming ----

    def _decompressor(self, sel: Selected) -> List[str]:
        codec = (sel.doc.get("compression") or {}).get("codec") or ""
        if codec not in DECOMPRESSORS:
            raise Failure(f"backup {sel.name} compressed with '{codec}': this tool reads {', '.join(DECOMPRESSORS)}")
        encryption = (sel.doc.get("encryption") or {}).get("codec") or ""
        if encryption not in DECRYPTORS:
            raise Failure(f"backup {sel.name} encrypted with '{encryption}': this tool reads {', '.join(DECRYPTORS)}")
        return DECOMPRESSORS[codec]

    def stream(self, sel: Selected, identity: str, consumer: pipeline.Stage, stats: Optional[str] = None) -> None:
        """Streams the backup decrypted and decompressed into consumer (its stdin). Every part is checked
        against the signed manifest before it is passed on (the download stage). With stats (a file), the
        dump's own per-table rows and row digests are written there on the way (backups without source
        digests). Raises StreamError naming the stage that failed."""
        decompress = self._decompressor(sel)
        try:
            expect = s3.Expected.from_doc({k: sel.doc["object"].get(k) for k in ("size", "sha256", "partSize", "parts")})
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise StreamError(f"reading {sel.name}: the manifest's object entry is unusable: {e}") from None
        env = dict(self.adm.env)
        env.update(s3_env(self.cfg))
        stages = [
            pipeline.Stage("download", fn=self._downloader(self.store.key(sel.period, sel.id, DATA_OBJECT), expect)),
            pipeline.Stage("decrypt", ["age", "-d", "-i", identity]),
            pipeline.Stage("decompress", decompress),
        ]
        stats_reader = None
        if stats:
            stats_reader = StatsTee(self.cfg, stats, env)
            stages.append(pipeline.Stage("tee", fn=stats_reader))
        result = pipeline.run(stages + [consumer], env=env)
        why = result.failure()
        if why:
            if why.startswith("decrypt"):
                why += f" (is this the identity for {(sel.doc.get('encryption') or {}).get('recipient')}?)"
            raise StreamError(f"reading {sel.name}: {why}")
        if stats_reader is not None and stats_reader.code != 0:
            raise StreamError(f"reading {sel.name}: the dump statistics reader failed")

    def _downloader(self, key: str, expect: "s3.Expected"):
        """The download stage, in this process (a thread): every part checked against the signed manifest before
        a byte of it is written on. A separate s3stream.py process held ~20 MiB more (scripts/bench/WHY.md)."""
        lines: List[str] = []
        try:
            client = s3.from_config(self.cfg, log=lambda m: lines.append(f"{s3.PROG}: {m}"))
        except ValueError as e:
            raise config.ConfigError(str(e)) from None

        def download(_inp, out) -> None:
            try:
                client.get_stream(key, out, expect)
            except (OSError, s3.S3Error, s3.IntegrityError, http.client.HTTPException, ET.ParseError) as e:
                if isinstance(e, BrokenPipeError):
                    raise
                # the last retries logged and the error, as the stage's stderr (pipeline.py names the stage)
                raise RuntimeError("\n".join(lines[-2:] + [f"{s3.PROG}: {e}"])) from None
        return download


class StatsTee:
    """A pipeline stage passing the dump through while dumpkit.py stats reads a copy (the dump's own per-table
    rows and row digests, for backups and baselines without source digests)."""

    def __init__(self, cfg: config.Config, out: str, env: Dict[str, str]) -> None:
        self.argv = [PYTHON, os.path.join(LIB, "dumpkit.py"), "stats", cfg.family, out]
        self.env = env
        self.code = -1

    def __call__(self, inp, out) -> None:
        import subprocess
        proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=self.env)
        reader_gone = False
        try:
            while True:
                chunk = inp.read1(1 << 20)
                if not chunk:
                    break
                if not reader_gone:
                    try:
                        proc.stdin.write(chunk)
                    except BrokenPipeError:
                        reader_gone = True  # its exit code says so below
                out.write(chunk)
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
            self.code = proc.wait()


def discard() -> pipeline.Stage:
    """A consumer that only reads (the safety backup's read-back: every stage above it must succeed)."""
    def read_all(inp, _out) -> None:
        while inp.read1(1 << 20):
            pass
    return pipeline.Stage("read-back", fn=read_all)
