"""dbtier-db restore <backup-id|latest> --yes [--unverified]: the newest backup with a signed, passing test
restore (or the one named), loaded into the side database <DB_NAME>_dbtier_restore while DB_NAME stays live,
checked against the source's digests, then a safety backup of DB_NAME (read back), then the side database
swapped in with the application fenced (swap.py). A failure before the swap leaves DB_NAME as it was and
says so. (restore --to-time ... is the point-in-time restore: dbtier.pitr.)
"""
from __future__ import annotations

import time
from typing import List

from . import config, trust
from .db import Admin, RunDir
from .log import Failure, log
from .readback import Reader, StreamError, identity_file, parse_args
from .sidedb import CheckFailed, Side, SwapFailed

USAGE = "usage: dbtier-db restore <backup-id|latest> --yes [--unverified] [--identity FILE]"


def cmd_restore(cfg: config.Config, argv: List[str]) -> int:
    args = parse_args(argv)
    if len(args.rest) != 1:
        raise config.ConfigError(USAGE)
    target = args.rest[0]
    if target != "latest" and not config.is_backup_id(target):
        raise config.ConfigError(f"restore takes a backup id (YYYYMMDDTHHMMSSZ-xxxxxx) or 'latest', not '{target}'")
    db = cfg.get("DB_NAME")
    if not args.yes:
        raise config.ConfigError(f"restore replaces the live database {db}; re-run with --yes")
    identity = identity_file(args)
    with RunDir() as run:
        adm = Admin(cfg, run)
        reader = Reader(cfg, run, adm)
        # The safety backup is signed: a key the loaders would refuse stops the run before anything else.
        trust.check_signing_key(cfg)
        reader.reachable()
        sel = reader.select(target, "unverified" if args.unverified else "verified")
        adm.wait_ready()
        side = Side(cfg, run, adm)
        side.recover_swap()
        side.check_free_space(f"restore {sel.name}", sel.doc)
        name = side.name("restore")
        log(f"restore {sel.name}: loading into side database {name} ({db} stays live meanwhile)")
        side.fresh(name)
        try:
            started = time.monotonic()
            stats = side.stream_into(reader, sel, identity, name)
            loaded = time.monotonic()
            log(f"restore {sel.name}: loaded in {loaded - started:.1f}s; checking {name} against the source")
            checked = side.check(name, sel, stats)
            log(f"restore {sel.name}: checked in {time.monotonic() - loaded:.1f}s")
        except (StreamError, CheckFailed) as e:
            adm.drop_quietly(name)
            raise Failure(f"restore of {sel.name} FAILED, {db} untouched: {e}") from None
        except BaseException:
            adm.drop_quietly(name)  # a signal: DB_NAME was never touched; no side copy left behind
            raise
        swapping = time.monotonic()
        safety = side.safety_backup("restore", identity, name)
        kept = f" (safety backup: safety/{safety})" if safety else ""
        try:
            side.swap_in(db, name, sel.doc)
        except SwapFailed as e:
            raise Failure(f"restore of {sel.name} FAILED at the swap: {e}{kept}") from None
        log(f"restore {sel.name}: safety backup and swap in {time.monotonic() - swapping:.1f}s")
    log(f"restore {sel.name} OK: signature, parts, decryption, {checked}; swapped in"
        f"{f' (the previous state is safety/{safety})' if safety else ''}")
    return 0
