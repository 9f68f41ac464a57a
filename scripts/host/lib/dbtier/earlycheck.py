"""A side or scratch database's row digests taken while its load goes on (MariaDB; mysql-exact-1 dumps whose
manifest holds the source's row sums; libmariadb in this process). The loader appends each table's name to a file
once every row of it is committed (parallel-load.py --announce) and a thread here digests that table at once,
beside the rest of the load: the check's scans then overlap the load's inserts instead of following them
(scripts/bench/WHY.md). These are digests only: sidedb.check compares them with the source's like any other
(fingerprint.py --known). A line "!" from the loader (a statement after the rows that could change them, such as
an event) or any failure here leaves every table to the check after the load.

  e = EarlyDigests(path, db, target, jobs, fingerprint)   path: an empty private file the loader appends to
  e.start(); <the load>; e.finish() -> {table: {"rows": N, "digest": hex}}      or e.stop() when the load failed
"""
from __future__ import annotations

import json
import threading
import time
from typing import Dict, List

from .log import log

POLL_SECONDS = 0.05


class EarlyDigests:
    def __init__(self, path: str, db: str, target, jobs: int, fingerprint) -> None:
        self.path, self.db, self.target, self.jobs, self.fp = path, db, target, jobs, fingerprint
        self.digests: Dict[str, Dict[str, object]] = {}
        self.void = False
        self.error = ""
        self._load_over = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="early-check", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        client = self.fp.DriverClient(self.target)
        pending = b""
        try:
            with open(self.path, "rb") as f:
                while not self._stop.is_set():
                    over = self._load_over.is_set()  # before reading: then this read sees every line the loader wrote
                    *lines, pending = (pending + f.read()).split(b"\n")
                    if b"!" in lines:
                        self.void = True
                        return
                    names: List[str] = [json.loads(line) for line in lines]
                    if names:
                        self.digests.update(self.fp.my_loaded_table_digests(client, self.db, names, self.jobs, self.target))
                    elif over:
                        return
                    else:
                        time.sleep(POLL_SECONDS)
        except Exception as e:  # noqa: BLE001 - whatever fails here, the check after the load reads the table
            self.error = str(e) or type(e).__name__
        finally:
            client.close()

    def finish(self) -> Dict[str, Dict[str, object]]:
        """After the loader exited with success: the tables it announced, each digested (those announced last are
        digested now). Empty when the loader voided them or a digest failed (the check then reads every table)."""
        self._load_over.set()
        self._thread.join()
        if self.void or self.error:
            log(f"check: the digests taken beside the load are not used ({self.error or 'a statement after the rows could change them'})")
            return {}
        log(f"check: {len(self.digests)} tables digested beside the load")
        return self.digests

    def stop(self) -> None:
        """The load failed or was interrupted: nothing more is digested (a query under way ends first)."""
        self._stop.set()
        self._load_over.set()
        self._thread.join()
