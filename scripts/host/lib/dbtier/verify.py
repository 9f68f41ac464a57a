"""dbtier-db verify <period|backup-id>: a test restore into a scratch database, compared with the source.

signature -> free space -> scratch database <DB_NAME>_dbtier_verify -> download (each part checked) | age |
the manifest's decompressor | parallel-load.py -> the source's digests compared -> scratch dropped -> the
outcome recorded, signed (verification.json.sig first, then verification.json).

What says nothing about the backup is not recorded against it: the server going away or refusing
connections, the datastore failing, an identity that does not open authentic parts. Everything else that
fails (a part that does not match the signed manifest, a load failing on what the backup holds, a restored
copy that differs from the source) is recorded as failed, so restore will not take it.
"""
from __future__ import annotations

import json
import re
import socket
import time
from typing import Dict, List

from . import config, s3, trust
from .db import Admin, RunDir
from .log import Failure, log
from .readback import Reader, Selected, StreamError, identity_file, parse_args
from .sidedb import CheckFailed, CheckInconclusive, Side, has_source_digests
from .store import VERIFICATION_OBJECT

# A load that failed on these said nothing about the backup: the server refused or dropped us.
CONNECTION_TROUBLE = re.compile(r"cannot connect|Too many connections|too many clients|ERROR 1040|connection refused|"
                                r"server closed the connection|Lost connection|gone away")


def record(cfg: config.Config, reader: Reader, sel: Selected, result: str, reason: str, tables: Dict) -> None:
    """Signs and stores the outcome of a test restore. The signature goes up first: a record without one is
    never believed."""
    doc = {"format": 1, "app": reader.app, "period": sel.period, "backupId": sel.id,
           "manifestSha256": sel.manifest.sha256, "result": result, "reason": reason,
           "verifiedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "verifiedBy": cfg.app,
           "host": socket.gethostname(), "tables": tables}
    raw = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
    try:
        sig = trust.Signer(cfg).sign(raw)
    except trust.TrustError as e:
        raise Failure(f"signing the {result} verification of {sel.name} failed: {e}") from None
    try:
        reader.client.put_bytes(reader.store.key(sel.period, sel.id, VERIFICATION_OBJECT + ".sig"), sig)
        reader.client.put_bytes(reader.store.key(sel.period, sel.id, VERIFICATION_OBJECT), raw)
    except (s3.S3Error, OSError) as e:
        raise Failure(f"recording the {result} verification of {sel.name} failed: {' '.join(str(e).splitlines()[-2:])}") from None


def cmd_verify(cfg: config.Config, argv: List[str]) -> int:
    args = parse_args(argv)
    if len(args.rest) != 1:
        raise config.ConfigError("usage: dbtier-db verify <period|backup-id> [--identity FILE]")
    identity = identity_file(args)
    with RunDir() as run:
        adm = Admin(cfg, run)
        reader = Reader(cfg, run, adm)
        reader.reachable()
        sel = reader.select(args.rest[0], "any")
        adm.wait_ready()
        side = Side(cfg, run, adm)
        side.check_free_space(f"verify {sel.name}", sel.doc)
        scratch = side.name("verify")
        log(f"verify {sel.name}: restoring into scratch database {scratch}")
        side.fresh(scratch)
        try:
            stats = side.stream_into(reader, sel, identity, scratch)
        except StreamError as e:
            reason = str(e)
            adm.drop_quietly(scratch)
            _refuse_or_record(cfg, reader, adm, sel, reason)
        except BaseException:
            adm.drop_quietly(scratch)  # a signal: no scratch copy left behind
            raise
        try:
            checked = side.check(scratch, sel, stats)
            failure = ""
        except CheckInconclusive as e:
            adm.drop_quietly(scratch)
            raise Failure(f"verify {sel.name} could not finish: {e}; nothing recorded") from None
        except CheckFailed as e:
            checked, failure = "", str(e)
        adm.drop(scratch)
        if failure:
            record(cfg, reader, sel, "failed", failure, {})
            raise Failure(f"verify {sel.name} FAILED (recorded): {failure}")
        tables: Dict = sel.doc["source"]["tables"] if has_source_digests(sel.doc) else {}
        if stats:
            with open(stats) as f:
                tables = json.load(f).get("tables") or {}
        record(cfg, reader, sel, "ok", "", tables)
    log(f"verify {sel.name} OK: signature, every part's checksum, decryption and a restore into {scratch} checked; "
        f"the restored copy matches {checked}")
    return 0


def _refuse_or_record(cfg: config.Config, reader: Reader, adm: Admin, sel: Selected, reason: str) -> None:
    """Raises the failure of a scratch load, recording it against the backup only when it is the backup's."""
    # Whatever step failed (the load, or an admin statement beside it such as the database's own settings), a
    # server that no longer takes a new connection is why, not the backup.
    probe = adm.ping()
    if probe:
        # the probe's answer too: the loader may only have seen its session cut, the probe why (Too many connections)
        during = " during the load" if "load failed" in reason else ""
        raise Failure(f"verify {sel.name} could not finish: the server stopped answering{during} ({reason}; "
                      f"a new connection: {' '.join(probe.split())}); nothing recorded")
    if ("download failed" in reason and "signed manifest says" not in reason) or \
            ("load failed" in reason and CONNECTION_TROUBLE.search(reason)):
        raise Failure(f"verify {sel.name} could not finish ({reason}); nothing recorded")
    if ": decrypt failed" in reason:
        raise Failure(f"verify {sel.name} FAILED (not recorded: the backup's parts are authentic, the identity does not "
                      f"open it): {reason}")
    record(cfg, reader, sel, "failed", reason, {})
    raise Failure(f"verify {sel.name} FAILED (recorded): {reason}")
