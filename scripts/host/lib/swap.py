#!/usr/bin/env python3
"""Swaps a fully loaded and checked side database in for the live one, with the application fenced.

  swap.py --engine E --live L --side S --hold O --app-user U CONNECTION...

PostgreSQL: the app role may not log in and its sessions on L and S are ended, then L is renamed to O and S
to L in one transaction, the app role gets its login back and O is dropped.
MariaDB/MySQL (no RENAME DATABASE): the app's accounts are locked and its sessions killed; the views,
triggers, routines and events of both databases are read (SHOW CREATE, with each one's sql_mode) and
dropped, because RENAME TABLE moves no views and no table with triggers; one RENAME TABLE statement (atomic)
moves L's tables to O and S's to L; S's objects are created again in L (its events, which the load created
DISABLED, with the status --event-status names); the accounts are unlocked and O dropped. When re-creating
fails, the same steps run backwards and L is as it was.

With --journal FILE the swap writes what it has done to FILE (synced) until L is whole again;
  swap.py --recover --journal FILE CONNECTION...
rolls back (MariaDB/MySQL) or finishes (PostgreSQL) a swap that was cut off midway (Journal).

The last line on stderr of a failure says what state L is in. Exit 0 swapped, 1 failed, 2 usage.
Connection: --host/--port or --socket, --user, --password-file (0600), --tls-mode, --ca-file.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import ssl
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

import deadpeer  # the same directory
import dumpkit  # the same directory: the event statuses a load records
import fingerprint  # the same directory: how database settings are written back (as pg_dump does)


# How long the swap waits for what other sessions hold while the app is fenced: PostgreSQL's sessions on the
# databases to end, MariaDB/MySQL's metadata locks on the tables (lock_wait_timeout, a year by default in MySQL
# and a day in MariaDB: a session left behind by a dead client, such as a run cut off by a network partition,
# kept the app locked out for that long). Past it the swap fails, the live database untouched, the app unfenced.
LOCK_WAIT_SECONDS = 30


class SwapError(Exception):
    def __init__(self, message: str, state: str):
        super().__init__(message)
        self.state = state


class Journal:
    """--journal FILE: what a swap under way has done to the live database, written (and synced) before each
    step that changes it, so a swap cut off midway (the process killed, the host down) is rolled back by the
    next run (swap.py --recover) instead of leaving the app fenced and the live database without its tables
    or objects. Removed once the live database is whole again, swapped or as it was."""

    def __init__(self, path: Optional[str]):
        self.path = path
        self.doc: Dict[str, object] = {}

    def write(self, **changes: object) -> None:
        if not self.path:
            return
        self.doc.update(changes)
        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.doc, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        _sync_dir(self.path)

    def remove(self) -> None:
        if self.path and os.path.exists(self.path):
            os.remove(self.path)
            _sync_dir(self.path)


def _sync_dir(path: str) -> None:
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# The states a failed swap ends in where the live database is whole: main() removes its journal
CONSISTENT_STATES = ("untouched", "as it was")


def test_kill_point(step: str) -> None:
    """Fault injection for the tests (DBTIER_TEST_SWAP_KILL_AT=STEP): the process dies there, as a killed run would."""
    if os.environ.get("DBTIER_TEST_SWAP_KILL_AT") == step:
        os.kill(os.getpid(), signal.SIGKILL)


def tls_context(mode: str, ca_file: Optional[str]) -> ssl.SSLContext:
    if mode in ("verify-ca", "verify-full"):
        ctx = ssl.create_default_context(cafile=ca_file)
        ctx.check_hostname = mode == "verify-full"
        return ctx
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def read_password(path: str) -> str:
    st = os.stat(path)
    if st.st_mode & 0o077:
        raise SystemExit(f"swap: {path} has mode {st.st_mode & 0o777:o}; credential files must be 0600")
    with open(path) as f:
        return f.read().rstrip("\n")


# ---- MariaDB / MySQL ---------------------------------------------------------------------------------

def q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class Progress:
    """What has been done to the live database so far: named in the message when something unexpected stops
    the swap."""
    state = "untouched"


class MySQLSwap(Progress):
    # (kind, information_schema query of names, SHOW CREATE column holding the statement, sql_mode column)
    KINDS: List[Tuple[str, str]] = [
        ("PROCEDURE", "SELECT routine_name FROM information_schema.routines WHERE routine_schema = %s AND routine_type = 'PROCEDURE'"),
        ("FUNCTION", "SELECT routine_name FROM information_schema.routines WHERE routine_schema = %s AND routine_type = 'FUNCTION'"),
        ("VIEW", "SELECT table_name FROM information_schema.views WHERE table_schema = %s"),
        ("TRIGGER", "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = %s "
                    "ORDER BY event_object_table, action_timing, event_manipulation, action_order"),
        ("EVENT", "SELECT event_name FROM information_schema.events WHERE event_schema = %s"),
    ]

    def __init__(self, a: argparse.Namespace, password: str):
        import pymysql
        kw: Dict[str, object] = {"user": a.user, "password": password.encode(), "charset": "utf8mb4",
                                 "autocommit": True, "connect_timeout": 10}
        if a.socket:
            kw["unix_socket"] = a.socket
        else:
            kw.update(host=a.host, port=a.port, ssl=tls_context(a.tls_mode, a.ca_file))
        self.db = pymysql.connect(**kw)
        deadpeer.watch_connection(self.db)
        self.error = pymysql.MySQLError
        self.run(f"SET SESSION lock_wait_timeout = {LOCK_WAIT_SECONDS}")
        self.a = a
        self.event_status: Dict[str, str] = {}
        if a.event_status:
            try:
                self.event_status = dumpkit.read_event_status(a.event_status)
            except (OSError, ValueError) as e:
                raise SwapError(f"--event-status: {e}", "untouched") from None
        self.kw = kw
        self.creator = self.db
        self.journal = Journal(a.journal)
        if not a.recover:
            self.open_creator()

    def open_creator(self) -> None:
        """Views, triggers, routines and events are defined by the app user (the loads run as it): they are
        created again by the app user too, on a connection opened before the fence locks its accounts (an
        admin without SET USER may not create objects for another definer)."""
        if not self.a.app_password_file:
            return
        import pymysql
        self.creator = pymysql.connect(**{**self.kw, "user": self.a.app_user,
                                          "password": read_password(self.a.app_password_file).encode()})
        deadpeer.watch_connection(self.creator)
        self.create(f"SET SESSION lock_wait_timeout = {LOCK_WAIT_SECONDS}")

    def rows(self, sql: str, *args) -> list:
        with self.db.cursor() as cur:
            cur.execute(sql, args or None)
            return list(cur.fetchall())

    def run(self, sql: str, *args) -> None:
        with self.db.cursor() as cur:
            cur.execute(sql, args or None)

    def create(self, sql: str, *args) -> None:
        with self.creator.cursor() as cur:
            cur.execute(sql, args or None)

    def exists(self, db: str) -> bool:
        return bool(self.rows("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", db))

    def tables(self, db: str) -> List[str]:
        return [r[0] for r in self.rows("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                                        "AND table_type <> 'VIEW' ORDER BY table_name", db)]

    def definitions(self, db: str) -> List[Tuple[str, str, str, str]]:
        """(kind, name, sql_mode, statement) of every non-table object, in creation order; the statements
        come from SHOW CREATE run inside DB, so references to DB's own objects are unqualified."""
        out = []
        self.run(f"USE {q(db)}")
        for kind, names in self.KINDS:
            for (name,) in self.rows(names, db):
                row = self.rows(f"SHOW CREATE {kind} {q(name)}")[0]
                if kind == "VIEW":
                    mode, stmt = "", row[1]
                elif kind == "EVENT":
                    mode, stmt = row[1], row[3]
                else:
                    mode, stmt = row[1], row[2]
                if stmt is None:
                    raise SwapError(f"SHOW CREATE {kind} {db}.{name} returned no definition (missing privilege)",
                                    "untouched")
                out.append((kind, name, mode, stmt))
        return out

    def drop_objects(self, db: str, defs) -> None:
        self.run(f"USE {q(db)}")
        for kind, name, _, _ in reversed(defs):
            self.run(f"DROP {kind} IF EXISTS {q(name)}")

    def create_objects(self, db: str, defs, event_status: Optional[Dict[str, str]] = None) -> None:
        """event_status: the status each event is given once created (the load created them DISABLED). Each
        object is created on the connection of the account that defined it (definer_connection)."""
        saved_modes = {}
        for conn in {id(c): c for c in (self.creator, self.db)}.values():
            with conn.cursor() as cur:
                cur.execute(f"USE {q(db)}")
                cur.execute("SELECT @@SESSION.sql_mode")
                saved_modes[id(conn)] = (conn, cur.fetchone()[0])

        def run_on(conn, sql: str, *args) -> None:
            with conn.cursor() as cur:
                cur.execute(sql, args or None)

        pending = list(defs)
        try:
            # Views may depend on views created later in name order: repeat passes while they make progress.
            while pending:
                failed, last_error = [], None
                for item in pending:
                    kind, name, mode, stmt = item
                    conn = self.definer_connection(stmt)
                    try:
                        if kind != "VIEW":
                            run_on(conn, "SET SESSION sql_mode = %s", mode)
                        run_on(conn, stmt)
                        if kind == "EVENT" and event_status and name in event_status:
                            run_on(conn, f"ALTER EVENT {q(name)} {dumpkit.EVENT_STATUS_CLAUSES[event_status[name]]}")
                    except self.error as e:
                        if kind != "VIEW":
                            raise SwapError(f"re-creating {kind} {name} in {db} failed: {e}", "")
                        failed.append(item)
                        last_error = e
                    finally:
                        if kind != "VIEW":
                            run_on(conn, "SET SESSION sql_mode = %s", saved_modes[id(conn)][1])
                if len(failed) == len(pending):
                    raise SwapError(f"re-creating VIEW {failed[0][1]} in {db} failed: {last_error}", "")
                pending = failed
        finally:
            for conn, mode in saved_modes.values():
                run_on(conn, "SET SESSION sql_mode = %s", mode)

    # SHOW CREATE's head: CREATE [ALGORITHM=...] DEFINER=user@host ...
    SHOWN_DEFINER = re.compile(r"^CREATE\s+(?:ALGORITHM\s*=\s*\w+\s+)?DEFINER\s*=\s*"
                               r"(`(?:[^`]|``)*`|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[\w.$-]+)@", re.I)

    def definer_connection(self, stmt: str):
        """The app user's connection for what it defines (a load makes it the definer of all it creates); the
        admin's for what another account defined (the live database's own objects, re-created where a swap is
        rolled back), so they keep their definer (the admin then needs SET USER / SUPER, as a self-managed
        admin has)."""
        m = self.SHOWN_DEFINER.match(stmt)
        if not m or self.creator is self.db:
            return self.creator
        quoted = m.group(1)
        user = quoted[1:-1].replace(quoted[0] * 2, quoted[0]) if quoted[0] in "`'\"" else quoted
        return self.creator if user == self.a.app_user else self.db

    def move(self, pairs: List[Tuple[str, str, str]]) -> None:
        """One RENAME TABLE for all (table, from, to): MariaDB and MySQL apply it all or not at all."""
        if pairs:
            self.run("RENAME TABLE " + ", ".join(f"{q(src)}.{q(t)} TO {q(dst)}.{q(t)}" for t, src, dst in pairs))

    def fence(self, user: str) -> Tuple[List[str], int]:
        """Locks the app's unlocked accounts and ends its sessions; returns what to unlock afterwards."""
        locked: List[str] = []
        for (host,) in self.rows("SELECT host FROM mysql.user WHERE user = %s", user):
            account = f"{self.quote_str(user)}@{self.quote_str(host)}"
            create = self.rows(f"SHOW CREATE USER {account}")[0][0]
            if "ACCOUNT LOCK" in create.upper():
                continue
            self.journal.write(locked=locked + [account])  # before: a run cut off here still unlocks it
            self.run(f"ALTER USER {account} ACCOUNT LOCK")
            locked.append(account)
        own = self.own_sessions()
        killed = 0
        for (pid,) in self.rows("SELECT id FROM information_schema.processlist WHERE user = %s AND id NOT IN (%s, %s)", user, *own):
            try:
                self.run(f"KILL CONNECTION {int(pid)}")
                killed += 1
            except self.error:
                pass  # it ended by itself
        return locked, killed

    def wait_for_locks(self, tables: List[Tuple[str, str]]) -> None:
        """Takes and releases write locks on every table the swap moves: a lock another session holds (a dead
        client's transaction) then fails the swap here, after LOCK_WAIT_SECONDS, before anything changed; the
        objects' DROPs and re-creations later would each wait on it, and a re-creation that timed out left the
        live database without them. The app is fenced meanwhile, so nothing of its takes a lock in between."""
        if not tables:
            return
        try:
            self.run("LOCK TABLES " + ", ".join(f"{q(db)}.{q(t)} WRITE" for db, t in tables))
        except self.error as e:  # a LOCK TABLES that fails holds nothing
            raise SwapError(f"the tables could not be locked for the swap: {e}{self.holders(e)}", "untouched") from None
        self.run("UNLOCK TABLES")

    def own_sessions(self) -> List[int]:
        """This swap's two connection ids (the same one twice when it creates objects as itself)."""
        with self.creator.cursor() as cur:
            cur.execute("SELECT CONNECTION_ID()")
            creator = cur.fetchone()[0]
        return [self.rows("SELECT CONNECTION_ID()")[0][0], creator]

    def holders(self, e: Exception) -> str:
        """For a lock wait that timed out (1205): the other sessions, one of which holds the lock."""
        if getattr(e, "args", (0,))[0] != 1205:
            return ""
        own = self.own_sessions()
        others = self.rows("SELECT id, user, host, IFNULL(db, ''), command, time FROM information_schema.processlist "
                           "WHERE id NOT IN (%s, %s) AND command NOT IN ('Daemon', 'Binlog Dump') "
                           "ORDER BY time DESC LIMIT 5", *own)
        listed = "; ".join(f"id {i} {u}@{h}{' in ' + d if d else ''}, {c} for {t} s" for i, u, h, d, c, t in others)
        return f" (waited {LOCK_WAIT_SECONDS} s; other sessions: {listed or 'none visible to this user'})"

    def unfence(self, locked: List[str]) -> None:
        for account in locked:
            self.run(f"ALTER USER {account} ACCOUNT UNLOCK")

    def quote_str(self, v: str) -> str:
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def swap(self, live: str, side: str, hold: str, user: str) -> str:
        if not self.exists(side):
            raise SwapError(f"side database {side} does not exist", "untouched")
        if self.exists(hold):
            if self.tables(hold) or self.definitions(hold):
                raise SwapError(f"hold database {hold} holds tables (left by an earlier run?): inspect and drop it first",
                                "untouched")
            self.run(f"DROP DATABASE {q(hold)}")
        live_exists = self.exists(live)
        side_defs = self.definitions(side)
        live_defs = self.definitions(live) if live_exists else []
        side_tables = self.tables(side)
        live_tables = self.tables(live) if live_exists else []
        # The restored database's defaults (the load set them from the backup) go with its tables: routines and
        # views re-created in LIVE take their parameter collations from the database default.
        side_charset = self.defaults(side)
        live_charset = self.defaults(live) if live_exists else side_charset
        self.journal.write(engine="mysql", live=live, side=side, hold=hold, user=user, liveDefs=live_defs,
                           liveCharset=live_charset, locked=[], step="fencing")
        locked, killed = self.fence(user)
        self.journal.write(locked=locked, step="fenced")
        test_kill_point("fenced")
        try:
            self.wait_for_locks([(live, t) for t in live_tables] + [(side, t) for t in side_tables])
            if not live_exists:
                self.run(f"CREATE DATABASE {q(live)} CHARACTER SET {side_charset[0]} COLLATE {side_charset[1]}")
            self.run(f"CREATE DATABASE {q(hold)}")
            self.drop_objects(side, side_defs)
            self.state = "its views/triggers/routines/events may be dropped (the swap was under way)"
            try:
                self.drop_objects(live, live_defs)
            except self.error as e:
                self.restore_objects(live, live_defs)
                raise SwapError(f"dropping the live database's views/triggers/routines failed: {e}{self.holders(e)}",
                                "untouched")
            try:
                self.move([(t, live, hold) for t in live_tables] + [(t, side, live) for t in side_tables])
            except self.error as e:
                self.restore_objects(live, live_defs)
                raise SwapError(f"moving the tables failed: {e}{self.holders(e)}",
                                "untouched (RENAME TABLE is all or nothing)")
            self.journal.write(step="moved")
            test_kill_point("moved")
            self.state = (f"its tables are in {hold}, the restored ones in {live} without their views/triggers/"
                          "routines/events (the swap was under way)")
            try:
                self.set_defaults(live, side_charset)
                self.repoint_sequence_defaults(live, side)
                self.create_objects(live, side_defs, self.event_status)
                self.journal.write(step="swapped")
            except (SwapError, self.error) as e:
                self.set_defaults(live, live_charset)
                self.roll_back(live, side, hold, live_tables, side_tables, side_defs, live_defs)
                raise SwapError(str(e), "as it was: the swap was rolled back")
        finally:
            self.unfence(locked)
        test_kill_point("swapped")
        self.journal.remove()  # live is whole: what is left are the two emptied databases
        self.state = f"swapped; the previous tables may still be in {hold}"
        self.run(f"DROP DATABASE {q(hold)}")
        self.run(f"DROP DATABASE {q(side)}")
        return f"{len(side_tables)} tables and {len(side_defs)} views/triggers/routines/events swapped in; " \
               f"{len(locked)} app accounts locked and {killed} app sessions ended during the swap"

    def recover(self) -> str:
        """Rolls back the swap its journal describes (cut off midway): the live database's own tables, views,
        triggers, routines and events back in it, the restored tables back in the side database, the app's
        accounts unlocked. The app is fenced again meanwhile (its accounts must be unlocked for a moment to
        open the connection that re-creates its objects)."""
        doc = self.journal.doc
        live, side, hold = str(doc["live"]), str(doc["side"]), str(doc["hold"])
        live_defs = [tuple(d) for d in doc["liveDefs"]]  # type: ignore[union-attr]
        self.unfence(list(doc["locked"]))  # type: ignore[arg-type]
        if doc.get("step") == "swapped":  # all but the cleanup was done: finished, not undone
            for db in (hold, side):
                if self.exists(db):
                    self.run(f"DROP DATABASE {q(db)}")
            self.journal.remove()
            return (f"an interrupted swap of {live} was finished (it was cut off after the restored tables and "
                    f"objects were in place): the app's accounts unlocked, {hold} and {side} dropped")
        self.open_creator()
        locked, _ = self.fence(str(doc["user"]))
        self.journal.write(locked=sorted(set(doc["locked"]) | set(locked)))  # type: ignore[arg-type]
        try:
            hold_tables = self.tables(hold) if self.exists(hold) else []
            if not self.exists(live):
                self.run(f"CREATE DATABASE {q(live)}")
            moved_back = 0
            if hold_tables:  # the move had happened: the restored tables are in live, live's own in hold
                self.drop_objects(live, self.definitions(live))  # the restored ones, re-created in part
                restored = self.tables(live)
                if not self.exists(side):
                    self.run(f"CREATE DATABASE {q(side)}")
                self.move([(t, live, side) for t in restored] + [(t, hold, live) for t in hold_tables])
                moved_back = len(hold_tables)
                missing = live_defs
            else:  # live's own tables are in place, its objects dropped in part
                present = {(kind, name) for kind, name, _, _ in self.definitions(live)}
                missing = [d for d in live_defs if (d[0], d[1]) not in present]
            self.set_defaults(live, tuple(doc["liveCharset"]))  # type: ignore[arg-type]
            self.create_objects(live, missing)
            if self.exists(hold) and not self.tables(hold):
                self.run(f"DROP DATABASE {q(hold)}")
        finally:
            self.unfence(sorted(set(doc["locked"]) | set(locked)))  # type: ignore[arg-type]
        self.journal.remove()
        return (f"an interrupted swap of {live} (cut off after: {doc.get('step')}) was rolled back: "
                f"{moved_back} tables moved back from {hold}, {len(missing)} views/triggers/routines/events "
                f"re-created, the app's accounts unlocked; {live} is as it was before that swap")

    def repoint_sequence_defaults(self, live: str, side: str) -> None:
        """Column defaults that take a sequence of SIDE (MariaDB stores nextval(`db`.`seq`) qualified with the
        database the table was created in, and RENAME TABLE keeps it) made to take LIVE's, which the move
        brought in. Changing a default is a metadata change (ALGORITHM=INSTANT: it fails rather than copy)."""
        prefix = f"nextval({q(side)}."
        for table, column, default in self.rows(
                "SELECT table_name, column_name, column_default FROM information_schema.columns WHERE table_schema = %s "
                "AND LOCATE(%s, column_default) > 0", live, prefix):
            repointed = default.replace(prefix, f"nextval({q(live)}.")
            self.run(f"ALTER TABLE {q(live)}.{q(table)} ALTER COLUMN {q(column)} SET DEFAULT {repointed}, ALGORITHM=INSTANT")

    def defaults(self, db: str) -> Tuple[str, str]:
        row = self.rows("SELECT default_character_set_name, default_collation_name FROM information_schema.schemata "
                        "WHERE schema_name = %s", db)
        if not row or not all(re.fullmatch(r"[A-Za-z0-9_]+", v or "") for v in row[0]):
            raise SwapError(f"cannot read the default character set of {db}", "untouched")
        return row[0][0], row[0][1]

    def set_defaults(self, db: str, charset: Tuple[str, str]) -> None:
        self.run(f"ALTER DATABASE {q(db)} CHARACTER SET {charset[0]} COLLATE {charset[1]}")

    def restore_objects(self, live: str, live_defs) -> None:
        self.drop_objects(live, live_defs)
        self.create_objects(live, live_defs)

    def roll_back(self, live, side, hold, live_tables, side_tables, side_defs, live_defs) -> None:
        try:
            self.drop_objects(live, side_defs)
            self.move([(t, live, side) for t in side_tables] + [(t, hold, live) for t in live_tables])
            self.create_objects(live, live_defs)
            self.run(f"DROP DATABASE {q(hold)}")
        except (SwapError, self.error) as e:
            raise SwapError(f"rolling the swap back failed too: {e}",
                            f"UNKNOWN: the live tables may be in {hold}, the restored ones in {live} or {side}; "
                            f"the safety backup holds the previous state")


# ---- PostgreSQL --------------------------------------------------------------------------------------

class PostgresSwap(Progress):
    def __init__(self, a: argparse.Namespace, password: str):
        import psycopg2
        self.psycopg2 = psycopg2
        kw: Dict[str, object] = {"dbname": "postgres", "user": a.user, "password": password, "connect_timeout": 10,
                                 "application_name": "dbtier-swap"}
        if a.socket:
            kw.update(host=a.socket, port=a.port or 5432)
        else:
            kw.update(host=a.host, port=a.port, sslmode=a.tls_mode)
            if a.ca_file:
                kw["sslrootcert"] = a.ca_file
        self.db = psycopg2.connect(**kw)
        self.db.autocommit = True
        self.keep_side_properties = a.database_from_backup
        self.journal = Journal(a.journal)

    def rows(self, sql: str, *args) -> list:
        with self.db.cursor() as cur:
            cur.execute(sql, args or None)
            return list(cur.fetchall()) if cur.description else []

    def drop_hold(self, hold: str) -> None:
        try:
            self.rows(f"DROP DATABASE {self.ident(hold)} WITH (FORCE)")
        except self.psycopg2.Error:
            self.rows(f"DROP DATABASE {self.ident(hold)}")

    def recover(self) -> str:
        """Finishes the swap its journal describes (cut off midway): the renames were one transaction, so the
        live database is either the previous one or the restored one; the app role gets its login back, and a
        previous database left under the hold name (the renames had happened) is dropped, as the swap would have."""
        doc = self.journal.doc
        live, hold, user = str(doc["live"]), str(doc["hold"]), str(doc["user"])
        if doc.get("fenced"):
            self.rows(f"ALTER ROLE {self.ident(user)} LOGIN")
        swapped = self.exists(hold) and self.exists(live)
        if swapped:
            self.drop_hold(hold)
        self.journal.remove()
        return (f"an interrupted swap of {live} was finished: "
                f"{'the restored database had been renamed in, the previous one dropped' if swapped else 'the renames had not happened, ' + live + ' is as it was'}; "
                f"the app role {'can log in again' if doc.get('fenced') else 'was not fenced'}")

    def ident(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def exists(self, db: str) -> bool:
        return bool(self.rows("SELECT 1 FROM pg_database WHERE datname = %s", db))

    def pg_properties(self, db: str) -> dict:
        settings = self.rows("SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                             "WHERE d.datname = %s AND s.setrole = 0", db)
        comment = self.rows("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", db)
        return {"settings": sorted((settings[0][0] or []) if settings else []),
                "comment": comment[0][0] if comment else None}

    def end_sessions(self, dbs: List[str], deadline: float) -> int:
        ended = 0
        while True:
            # Autovacuum workers are left out: they run as the bootstrap superuser, so a non-superuser admin
            # (every DBaaS admin, dbtier_admin) may not end them, and the server ends them itself when a
            # database is renamed (it signals the autovacuum workers in it and waits for them).
            pids = [r[0] for r in self.rows("SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s) "
                                            "AND pid <> pg_backend_pid() AND backend_type <> 'autovacuum worker'", dbs)]
            if not pids:
                return ended
            if time.monotonic() > deadline:
                raise SwapError(f"{len(pids)} session(s) on {', '.join(dbs)} could not be ended", "")
            for pid in pids:
                if self.rows("SELECT pg_terminate_backend(%s)", pid)[0][0]:
                    ended += 1
            time.sleep(0.2)

    def swap(self, live: str, side: str, hold: str, user: str) -> str:
        if not self.exists(side):
            raise SwapError(f"side database {side} does not exist", "untouched")
        if self.exists(hold):
            raise SwapError(f"hold database {hold} exists (left by an earlier run?): inspect and drop it first",
                            "untouched")
        live_exists = self.exists(live)
        could_login = self.rows("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", user)
        fenced = bool(could_login and could_login[0][0])
        self.journal.write(engine="postgres", live=live, side=side, hold=hold, user=user, fenced=fenced)
        if fenced:
            self.rows(f"ALTER ROLE {self.ident(user)} NOLOGIN")
            test_kill_point("fenced")
        try:
            ended = self.end_sessions([live, side], time.monotonic() + LOCK_WAIT_SECONDS)
            if live_exists and not self.keep_side_properties:
                # A backup older than its database record (source.database): the live database's settings
                # (ALTER DATABASE ... SET) and comment are kept, as the dump does not hold them.
                for statement in fingerprint.pg_database_sql(side, self.pg_properties(live)):
                    self.rows(statement)
            with self.db.cursor() as cur:
                cur.execute("BEGIN")
                try:
                    if live_exists:
                        cur.execute(f"ALTER DATABASE {self.ident(live)} RENAME TO {self.ident(hold)}")
                    cur.execute(f"ALTER DATABASE {self.ident(side)} RENAME TO {self.ident(live)}")
                    cur.execute("COMMIT")
                    self.state = f"swapped; the previous database may still exist as {hold}"
                except self.psycopg2.Error as e:
                    cur.execute("ROLLBACK")
                    raise SwapError(f"renaming failed: {str(e).strip()}", "untouched (the renames were one transaction)")
        finally:
            if fenced:
                self.rows(f"ALTER ROLE {self.ident(user)} LOGIN")
        if live_exists:
            self.drop_hold(hold)
        self.journal.remove()
        return f"{side} renamed to {live}; app role fenced: {'yes' if fenced else 'it could not log in anyway'}, " \
               f"{ended} session(s) ended"


def parse_args(argv: List[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="swap.py")
    ap.add_argument("--engine", required=True, choices=["mariadb", "mysql", "postgres"])
    for name in ("--app-user", "--user", "--password-file"):
        ap.add_argument(name, required=True)
    for name in ("--live", "--side", "--hold"):
        ap.add_argument(name, help="required unless --recover")
    ap.add_argument("--journal", metavar="FILE",
                    help="what the swap has done so far, kept (synced) until the live database is whole again")
    ap.add_argument("--recover", action="store_true",
                    help="with --journal: roll back (MariaDB/MySQL) or finish (PostgreSQL) the swap the journal "
                         "describes, cut off midway; nothing to do without one")
    ap.add_argument("--app-password-file", help="MariaDB/MySQL: the app user's password (0600): it re-creates its objects")
    ap.add_argument("--event-status", metavar="FILE",
                    help="MariaDB/MySQL: the status each of the side database's events had at the source (JSON, "
                         "parallel-load.py --events-disabled): given to them in the live database")
    ap.add_argument("--database-from-backup", action="store_true",
                    help="PostgreSQL: the side database has the backup's own settings and comment (keep them)")
    ap.add_argument("--host")
    ap.add_argument("--port", type=int)
    ap.add_argument("--socket")
    ap.add_argument("--tls-mode", default="require", choices=["disable", "require", "verify-ca", "verify-full"])
    ap.add_argument("--ca-file")
    a = ap.parse_args(argv)
    if not a.socket and not (a.host and a.port):
        ap.error("--host and --port, or --socket")
    if a.recover:
        if not a.journal:
            ap.error("--recover needs --journal")
    elif not (a.live and a.side and a.hold):
        ap.error("--live, --side and --hold are required")
    elif len({a.live, a.side, a.hold}) != 3:
        ap.error("--live, --side and --hold must be three different databases")
    return a


def main(argv: List[str]) -> int:
    a = parse_args(argv)
    cls: Callable = PostgresSwap if a.engine == "postgres" else MySQLSwap
    swapper: Progress = Progress()
    if a.recover:
        try:
            with open(a.journal) as f:
                doc = json.load(f)
        except FileNotFoundError:
            print("swap: no interrupted swap to recover", file=sys.stderr)
            return 0
        except (OSError, ValueError) as e:
            print(f"swap: the journal {a.journal} cannot be read: {e}", file=sys.stderr)
            return 1
        a.live = doc.get("live")
    elif a.journal and os.path.exists(a.journal):
        print(f"swap: the journal of an interrupted swap is there ({a.journal}): it is rolled back first (--recover)",
              file=sys.stderr)
        print(f"swap: live database {a.live}: untouched by this run", file=sys.stderr)
        return 1
    try:
        swapper = cls(a, read_password(a.password_file))
        if a.recover:
            swapper.journal.doc = doc
            print(f"swap: {swapper.recover()}", file=sys.stderr)
            return 0
        print(f"swap: {swapper.swap(a.live, a.side, a.hold, a.app_user)}", file=sys.stderr)
        return 0
    except SwapError as e:
        if not a.recover and e.state.startswith(CONSISTENT_STATES):
            Journal(a.journal).remove()  # (a swap's own: main refused to start over another's)
        print(f"swap: {e}", file=sys.stderr)
        print(f"swap: live database {a.live}: {e.state or 'UNKNOWN'}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - a driver error before or after the swap proper
        print(f"swap: {e.__class__.__name__}: {str(e).strip()}", file=sys.stderr)
        print(f"swap: live database {a.live}: {swapper.state}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
