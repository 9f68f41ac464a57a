"""dbtier-db list [period]: every backup directory under APP_NAME, newest first, with its CHECKED state:

  verified (test restore passed <when>)   signed manifest + a signed, passing verification record naming it
  verify FAILED: <reason>                  signed manifest, signed failed record
  complete                                 signed manifest that names this backup (checked), no record yet
                                           (the lab counts new backups by this exact state)
  untrusted record: <why>                  signed manifest, a record no pinned key signed (or for another one)
  REFUSED: <why>                           manifest unsigned, altered, another stack's or a replay
  incomplete (no manifest)                 a failed or running backup's leftovers
  could not tell: <error>                  the datastore did not answer for this backup (never "absent")

A listing that fails as a whole fails the command (exit 1): nothing is ever reported missing that could not
be read.
"""
from __future__ import annotations

from typing import List

from . import config, s3
from .log import Failure
from .store import Refused, Store


def state_of(st: Store, period: str, backup_id: str, has_manifest: bool) -> str:
    if not has_manifest:
        return "incomplete (no manifest)"
    try:
        manifest = st.manifest(period, backup_id)
        v = st.verification_state(period, backup_id, manifest)
    except Refused as e:
        return f"REFUSED: {e}"
    except (s3.S3Error, OSError) as e:
        return f"could not tell: {e}"
    if v == "ok":
        return "verified (test restore passed)"
    if v == "none":
        return "complete"
    if v.startswith("failed: "):
        return f"verify FAILED: {v[len('failed: '):]}"
    return f"untrusted record: {v[len('untrusted: '):]}"


def cmd_list(cfg: config.Config, args: List[str]) -> int:
    periods = list(config.PERIODS) + ["safety"]
    if len(args) > 1:
        raise config.ConfigError("usage: dbtier-db list [period]")
    if args:
        if args[0] not in periods:
            raise config.ConfigError(f"unknown period '{args[0]}': allowed {' '.join(config.PERIODS)} safety")
        periods = [args[0]]
    try:
        st = Store(cfg)
    except ValueError as e:
        raise config.ConfigError(str(e)) from None
    rows = []
    for period in periods:
        try:
            backups = st.backups(period)
        except (s3.S3Error, OSError) as e:
            raise Failure(f"cannot list {st.app}/{period}/ in bucket {cfg.get('DATASTORE_BUCKET')}: {e}") from None
        for b in backups:
            rows.append((period, b.id, str(b.data_size), state_of(st, period, b.id, b.has_manifest)))
    print("period\tbackup-id\tstored-bytes\tstate")
    for r in rows:
        print("\t".join(r))
    return 0
