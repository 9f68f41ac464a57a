#!/usr/bin/env python3
"""Load a plain SQL dump from stdin over N concurrent client connections (python3 stdlib only).

  parallel-load.py --engine mariadb|mysql|postgres --host H --port P --user U --database D
                   --password-file F [--jobs N] [--tls-mode disable|require|verify-ca|verify-full]
                   [--ca-file F] [--format sql|mysql-exact-1|pg-split-1]
                   [--socket PATH] [--client auto|driver|cli] [--chunk-bytes B] [--defer-indexes]
                   [--announce FILE]

Input (--format, what the backup's manifest recorded; fingerprint.py writes the new ones):
  sql            mariadb-dump/mysqldump output, or pg_dump plain output (without --create): old backups;
  mysql-exact-1  the dump tool's schema, exactly rendered rows (tables marked "-- dbtier-serial" are loaded
                 by one connection in dump order, so their scan order and digest survive), triggers/events;
  pg-split-1     a header, pg_dump's custom archive of pre-data + post-data, pg_dump's data section: the
                 archive's pre-data is restored by pg_restore --single-transaction, the rows are loaded in
                 parallel as below, then its post-data by pg_restore --jobs (the server's own grammar for
                 every schema statement; only the rows pass through the scanner).
The stream is read once, never stored (a pg-split-1 schema archive goes to a private temp file): memory
stays bounded by about (2 x jobs + 1) x chunk-bytes (default 1 MiB).

How the work is split:
  * schema and every other non-data statement run in dump order on connection 1;
  * table data (mysqldump INSERT lines; pg_dump COPY blocks cut into chunks of whole rows) goes to
    whichever of the N connections is free, so one big table is loaded in parallel too;
  * session settings (SET ..., USE, psql meta-commands such as \\restrict) go to every connection, in order;
  * before any statement that may depend on loaded data (triggers, views, routines, events, ALTERs,
    pg_dump's post-data section) every connection drains, so each statement sees exactly the rows it
    would see in a one-client replay; triggers therefore never fire on restored rows;
  * MariaDB/MySQL with --defer-indexes: secondary indexes of tables without foreign keys are taken out
    of CREATE TABLE and built after the data (one ALTER per table, tables in parallel): a sorted build
    instead of random inserts, which wins when the indexes outgrow the buffer pool. Off by default: on
    wide-row tables (text, blobs) the ALTER's full scan costs more than inserting into small indexes
    (the 1 GB bench database: 16.4-17.5 s deferred, 15.2-16.4 s inline; scripts/bench/WHY.md);
  * PostgreSQL: post-data PRIMARY KEY/UNIQUE constraints and CREATE INDEX run per table in
    parallel, then the remaining post-data statements (foreign keys, triggers, ...) in dump order;
  * mysql-exact-1 over driver connections: the rows of tables whose character columns are all UTF-8 are
    sent with the client character set binary (MySQLDriverConnection.BINARY_ON), and with --announce each
    table's name is appended to FILE once its rows are all committed (Announcer).

Clients: with --client driver (the default when the Debian packages python3-pymysql / python3-psycopg2
are installed) every connection is a driver connection inside this process, which sends each statement
the scanner has already cut out as it is: no client process parses the SQL a second time, which was most
of the client CPU of a load. --client cli drives mariadb/mysql/psql processes instead (always works).

Credentials: the password is read from --password-file (mode 0600) and handed to the clients in a
0600 option file (MariaDB) or pgpass file (PostgreSQL) in a private 0700 directory on tmpfs when
available, removed on exit; never in argv or the environment.
Exit 0 ok, 1 load failure (a client error is printed to stderr), 2 usage.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional, Tuple

sys.dont_write_bytecode = True  # no __pycache__ written into the installed toolkit
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deadpeer  # noqa: E402
import dumpkit  # noqa: E402  the DBaaS filter patterns live there (one definition for both tools)

DEFAULT_CHUNK = 1 << 20


class LoadError(Exception):
    pass


DEBUG = os.environ.get("PARALLEL_LOAD_DEBUG") == "1"
_T0 = None


def debug(msg: str) -> None:
    if DEBUG:
        global _T0
        _T0 = _T0 or time.monotonic()
        print(f"parallel-load[{time.monotonic() - _T0:8.3f}] {msg}", file=sys.stderr, flush=True)


def die(code: int, msg: str) -> None:
    print(f"parallel-load: {msg}", file=sys.stderr)
    sys.exit(code)


# ------------------------------------------------------------------------------------------------
# Client connections
# ------------------------------------------------------------------------------------------------

class Barrier:
    def __init__(self, token: bytes):
        self.token = token
        self.done = threading.Event()


class Marker:
    """Queued on every driver connection: calls fn once each of them has executed, without an error, everything
    queued before it (no connection waits for the others)."""

    def __init__(self, count: int, fn):
        self.left, self.ok, self.fn = count, True, fn
        self.lock = threading.Lock()

    def arrive(self, ok: bool) -> None:
        with self.lock:
            self.left -= 1
            self.ok = self.ok and ok
            last = self.left == 0 and self.ok
        if last:
            self.fn()


# Work items the loaders queue on a connection: ("sql", statement, delimiter), ("copy", "COPY ... FROM
# stdin", rows) and ("meta", client-side line such as psql's \\restrict). Statements carry no delimiter.
Item = Tuple[bytes, ...]


def sql(stmt: bytes, delim: bytes = b";") -> Item:
    return (b"sql", stmt, delim)


def render_for_cli(item: Item) -> bytes:
    """The text a command-line client executes for ITEM."""
    kind = item[0]
    if kind == b"sql":
        stmt, delim = item[1], item[2]
        if delim == b";":
            return stmt + b";\n"
        return b"DELIMITER " + delim + b"\n" + stmt + delim + b"\nDELIMITER ;\n"
    if kind == b"copy":
        return item[1] + b";\n" + item[2] + b"\\.\n"
    line = item[1]
    return line if line.endswith(b"\n") else line + b"\n"


def describe_item(item: Item) -> str:
    head = item[1][:120].decode("utf-8", "replace").replace("\n", " ")
    return head + ("..." if len(item[1]) > 120 else "")


class Connection:
    """One client process: a writer thread feeds it from a bounded queue, a reader thread consumes
    what it prints (so it never blocks on a full pipe) and recognises barrier tokens."""

    _seq = 0

    def __init__(self, name: str, argv: List[str], env: Dict[str, str], depth: int, token_sql,
                 preamble: List[Item]):
        self.name = name
        self.token_sql = token_sql
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.q: "queue.Queue[object]" = queue.Queue(maxsize=depth)
        self.error: Optional[str] = None
        self.waiting: Dict[bytes, threading.Event] = {}
        self.seen: set = set()
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, name=name + "-out", daemon=True)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.reader.start()
        self.thread.start()
        for item in preamble:
            self.put(item)

    def _fail(self, msg: str) -> None:
        if self.error is None:
            self.error = msg

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            tok = line.rstrip(b"\r\n")
            with self.lock:
                ev = self.waiting.pop(tok, None)
            if ev:
                self.seen.add(tok)
                ev.set()
        # client gone: release anyone waiting
        code = self.proc.wait()
        if code != 0:
            self._fail(f"{self.name}: client exited with code {code}")
        with self.lock:
            for ev in self.waiting.values():
                ev.set()
            self.waiting.clear()
            self.closed = True

    closed = False

    def _run(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        while True:
            item = self.q.get()
            if item is None:
                try:
                    stdin.close()
                except OSError:
                    pass
                return
            if isinstance(item, Barrier):
                self._barrier(stdin, item)
                item.done.set()
                continue
            if self.error:
                continue
            try:
                stdin.write(render_for_cli(item))  # type: ignore[arg-type]
            except OSError:
                self._fail(f"{self.name}: client stopped reading (code {self.proc.poll()})")

    def _barrier(self, stdin, item: Barrier) -> None:
        ev = threading.Event()
        with self.lock:
            if self.closed:
                self._fail(f"{self.name}: client exited (code {self.proc.returncode})")
                return
            self.waiting[item.token] = ev
        if self.error:
            return
        try:
            stdin.write(self.token_sql(item.token))
            stdin.flush()
        except OSError:
            self._fail(f"{self.name}: client stopped reading (code {self.proc.poll()})")
            return
        ev.wait()
        if item.token not in self.seen:
            self._fail(f"{self.name}: client exited (code {self.proc.wait()})")

    def put(self, item: object) -> None:
        self.q.put(item)

    def free(self) -> bool:
        return not self.q.full()

    def sync(self) -> None:
        debug(f"{self.name} sync")
        Connection._seq += 1
        b = Barrier(f"dbtier-sync-{os.getpid()}-{Connection._seq}".encode())
        self.put(b)
        b.done.wait()
        if self.error:
            raise LoadError(self.error)

    def close(self) -> int:
        self.put(None)
        self.thread.join()
        self.reader.join()
        code = self.proc.wait()
        if code != 0:
            self._fail(f"{self.name}: client exited with code {code}")
        return code

    def failure(self) -> Optional[str]:
        if self.error:
            return self.error
        if self.proc.poll() not in (None, 0):
            return f"{self.name}: client exited with code {self.proc.returncode}"
        return None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass


class DriverConnection:
    """One driver connection in this process, executing its queue in order on its own thread. The
    driver sends each statement as the scanner cut it out (the server parses it once; nothing else
    does), and the socket I/O releases the GIL, so N connections load in parallel."""

    def __init__(self, name: str, depth: int, preamble: List[Item]):
        self.name = name
        self.error: Optional[str] = None
        self.q: "queue.Queue[object]" = queue.Queue(maxsize=depth)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()
        for item in preamble:
            self.put(item)

    def execute(self, item: Item) -> None:
        raise NotImplementedError

    def disconnect(self) -> None:
        raise NotImplementedError

    def _fail(self, msg: str) -> None:
        if self.error is None:
            self.error = msg

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            if isinstance(item, Barrier):
                item.done.set()
                continue
            if isinstance(item, Marker):
                item.arrive(self.error is None)
                continue
            if self.error:
                continue
            try:
                self.execute(item)  # type: ignore[arg-type]
            except Exception as e:  # noqa: BLE001 - any driver error ends this connection's work
                self._fail(f"{self.name}: {driver_error_text(e)} (while running: {describe_item(item)})")  # type: ignore[arg-type]

    put = Connection.put
    free = Connection.free
    sync = Connection.sync

    def close(self) -> int:
        self.put(None)
        self.thread.join()
        try:
            self.disconnect()
        except Exception:  # noqa: BLE001 - the work is done; a failing goodbye changes nothing
            pass
        return 1 if self.error else 0

    def failure(self) -> Optional[str]:
        return self.error

    def kill(self) -> None:
        self._fail(f"{self.name}: aborted")
        try:
            self.disconnect()
        except Exception:  # noqa: BLE001
            pass


def driver_error_text(e: BaseException) -> str:
    args = getattr(e, "args", ())
    if len(args) == 2 and isinstance(args[0], int):  # PyMySQL: (errno, message)
        return f"ERROR {args[0]}: {args[1]}"
    return (str(e).strip() or type(e).__name__).replace("\n", " ")


# Column types without a character set whose values read the same from a binary string literal as from the
# text the exact dump writes (numbers and BIT are not quoted; dates and times are parsed from the bytes; binary
# strings and geometries are bytes). Any other such type keeps the connection's character set: MariaDB's
# INET4, INET6 and UUID read a binary string as their stored bytes (a 4- or 16-byte form), so their text,
# sent as binary, was stored as NULL.
MY_BINARY_LITERAL_TYPES = (
    "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "float", "double", "bit", "year",
    "date", "datetime", "timestamp", "time", "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob",
    "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
    "geometrycollection")


class MySQLDriverConnection(DriverConnection):
    def __init__(self, name: str, depth: int, preamble: List[Item], connect_kwargs: Dict[str, object],
                 want_tls: bool):
        import pymysql
        self._mysql_error = pymysql.MySQLError
        try:
            self.db = pymysql.connect(**connect_kwargs)
        except (pymysql.MySQLError, OSError, RuntimeError) as e:
            err = LoadError(f"{name}: cannot connect: {driver_error_text(e)}")
            # An authentication plugin PyMySQL lacks (2059), or MariaDB's ed25519 without PyNaCl (a
            # RuntimeError): the mariadb/mysql client has them all.
            err.client_may_work = (isinstance(e, RuntimeError)  # type: ignore[attr-defined]
                                   or getattr(e, "args", (0,))[0] == 2059)
            raise err
        try:
            deadpeer.watch_connection(self.db)
        except (OSError, ValueError, TypeError) as e:
            self.db.close()
            raise LoadError(f"{name}: {e}") from None
        if want_tls:
            # PyMySQL goes on without TLS when the server does not offer it: refuse that here.
            with self.db.cursor() as cur:
                cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
                row = cur.fetchone()
            if not row or not row[1]:
                self.db.close()
                raise LoadError(f"{name}: the server did not encrypt the connection (TLS required)")
        super().__init__(name, depth, preamble)

    # Rows of a table whose text columns are all UTF-8 (mysql-exact-1, MySQLLoader.binary_tables) are sent with the
    # client character set binary: the server's lexer then scans their string literals as bytes, not as UTF-8
    # characters (most of the server's CPU in a load of text: scripts/bench/WHY.md), and storing them into a UTF-8
    # column checks them once (a well-formed copy, the same bytes). The session's own settings come back after.
    # (Which columns may take them: MY_BINARY_LITERAL_TYPES.)
    BINARY_ON = (b"SET @dbtier_csc = @@character_set_client, @dbtier_ccn = @@collation_connection, "
                 b"character_set_client = binary, collation_connection = binary")
    BINARY_OFF = b"SET character_set_client = @dbtier_csc, collation_connection = @dbtier_ccn"
    binary = False

    def execute(self, item: Item) -> None:
        if item[0] == b"query":  # (b"query", statement, list the rows are added to)
            with self.db.cursor() as cur:
                cur.execute(item[1])
                item[2].extend(cur.fetchall())  # type: ignore[attr-defined]
            return
        if (item[0] == b"rows") != self.binary:
            self.db.query(self.BINARY_OFF if self.binary else self.BINARY_ON)
            self.binary = not self.binary
        if item[0] in (b"sql", b"rows"):
            for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
                try:
                    self.db.query(item[1])
                    return
                except self._mysql_error as e:
                    # A deadlock or lock wait timeout rolls the whole autocommit statement back, so running
                    # it again is safe; anything else is the dump's or the server's problem.
                    if getattr(e, "args", (0,))[0] not in (1213, 1205) or attempt == DEADLOCK_ATTEMPTS:
                        raise
                    debug(f"{self.name}: {driver_error_text(e)}; retry {attempt}")
                    time.sleep(0.05 * 2 ** attempt)
        # meta lines are mariadb-client directives (sandbox mode): a driver runs no client commands

    def disconnect(self) -> None:
        self.db.close()


class PostgresDriverConnection(DriverConnection):
    def __init__(self, name: str, depth: int, preamble: List[Item], connect_kwargs: Dict[str, object]):
        import psycopg2
        try:
            self.db = psycopg2.connect(**connect_kwargs)
        except psycopg2.Error as e:
            raise LoadError(f"{name}: cannot connect: {driver_error_text(e)}")
        self.db.autocommit = True  # as psql runs a dump: each statement commits on its own
        self.cur = self.db.cursor()
        super().__init__(name, depth, preamble)

    def execute(self, item: Item) -> None:
        kind = item[0]
        if kind == b"sql":
            self.cur.execute(item[1])
        elif kind == b"copy":
            self.cur.copy_expert(item[1], io.BytesIO(item[2]), size=1 << 18)
        elif META_ALLOWED.match(item[1]):
            return  # \restrict / \unrestrict guard psql against a hostile dump; a driver runs no meta-commands
        else:
            raise LoadError(f"psql meta-command not supported by the driver client: {describe_item(item)}")

    def disconnect(self) -> None:
        self.db.close()


DEADLOCK_ATTEMPTS = 5
META_ALLOWED = re.compile(rb"^\\(?:restrict|unrestrict)\b")


class Pool:
    def __init__(self, engine: "Engine", jobs: int, depth: int):
        self.engine = engine
        # Connection 1 also runs the schema and other ordered statements: one client process less
        # (~11 MiB) and the same result, since it executes its queue in order.
        self.workers = [engine.connect(f"connection-{i + 1}", depth) for i in range(jobs)]
        self.control = self.workers[0]
        self.all = list(self.workers)
        self._rr = 0
        self._cv = threading.Condition()

    def check(self) -> None:
        for c in self.all:
            why = c.failure()
            if why:
                raise LoadError(why)

    def broadcast(self, data: Item) -> None:
        for c in self.all:
            c.put(data)

    def control_exec(self, data: Item) -> None:
        self.control.put(data)

    def dispatch(self, data: Item) -> None:
        """Hand a data chunk to a free worker (round robin among the free ones; block if none)."""
        n = len(self.workers)
        for k in range(n):
            w = self.workers[(self._rr + k) % n]
            if w.free():
                self._rr = (self._rr + k + 1) % n
                w.put(data)
                return
        w = self.workers[self._rr]
        self._rr = (self._rr + 1) % n
        w.put(data)  # blocks until that worker takes one

    def dispatch_to(self, key: bytes, data: Item) -> None:
        """Hand a chunk to the connection that owns KEY (always the same one)."""
        self.workers[sum(key) % len(self.workers)].put(data)

    def drain(self) -> None:
        """Every connection has executed everything queued so far."""
        debug("drain start")
        barriers = []
        for c in self.all:
            Connection._seq += 1
            b = Barrier(f"dbtier-sync-{os.getpid()}-{Connection._seq}".encode())
            c.put(b)
            barriers.append(b)
        for b in barriers:
            b.done.wait()
        debug("drain done")
        self.check()

    def after_all(self, fn) -> None:
        """fn() once every connection has executed what is queued now (driver connections only)."""
        marker = Marker(len(self.all), fn)
        for c in self.all:
            c.put(marker)

    def run_parallel(self, groups: List[List[Item]]) -> None:
        """Run each group's statements in order on one worker; groups in parallel."""
        n = len(self.workers)
        # largest first keeps the workers evenly busy
        groups = sorted(groups, key=lambda g: -sum(len(s[1]) for s in g))
        for i, g in enumerate(groups):
            w = self.workers[i % n]
            for stmt in g:
                w.put(stmt)
        self.drain()

    def close(self) -> None:
        errors = []
        for c in self.all:
            c.close()
            if c.error:
                errors.append(c.error)
        if errors:
            raise LoadError("; ".join(errors))

    def abort(self) -> None:
        for c in self.all:
            c.kill()


# ------------------------------------------------------------------------------------------------
# Engines: client command lines, credentials, statement scanning
# ------------------------------------------------------------------------------------------------

class Engine:
    def __init__(self, args: argparse.Namespace, secret_dir: str, password: str):
        self.args = args
        self.secret_dir = secret_dir
        self.password = password

    def connect(self, name: str, depth: int) -> "Connection | DriverConnection":
        raise NotImplementedError

    def session_sql(self) -> List[Item]:
        """--session-sql statements, run first on every connection (SET ROLE, sql_require_primary_key ...)."""
        return [sql(x.strip().rstrip(";").encode()) for x in self.args.session_sql]

    def use_driver(self, module: str, package: str) -> bool:
        """--client driver needs the module; auto uses it when it imports, and says so when it does not."""
        if self.args.client == "cli":
            return False
        try:
            __import__(module)
            return True
        except ImportError:
            if self.args.client == "driver":
                raise LoadError(f"--client driver needs the {module} module (Debian package {package})")
            if not getattr(self, "_warned", False):
                print(f"parallel-load: {module} is not installed ({package}); using the command-line client "
                      "(slower: it parses every statement again)", file=sys.stderr)
                self._warned = True
            return False

    def tls_context(self):
        import ssl
        a = self.args
        if a.tls_mode.startswith("verify-"):
            ctx = ssl.create_default_context(cafile=a.ca_file)
            ctx.check_hostname = a.tls_mode == "verify-full"  # verify-ca: the chain, not the name (DBaaS hosts are reached by address too)
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


def _private_file(directory: str, name: str, content: str) -> str:
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(content)
    return path


class MariaDB(Engine):
    def __init__(self, *a):
        super().__init__(*a)
        if self.args.defaults_extra_file:  # the caller's option file: user, password, host, TLS
            self.cnf = self.args.defaults_extra_file
        else:
            pw = self.password.replace("\\", "\\\\").replace('"', '\\"')
            self.cnf = _private_file(self.secret_dir, "client.cnf", f'[client]\npassword="{pw}"\n')

    def connect(self, name: str, depth: int) -> "Connection | DriverConnection":
        a = self.args
        # Concurrent INSERTs into one table: READ COMMITTED takes no gap locks, which is what lets
        # two bulk inserters deadlock each other under REPEATABLE READ.
        preamble = [sql(b"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")] + self.session_sql()
        if not a.defaults_extra_file and self.use_driver("pymysql", "python3-pymysql"):
            kw: Dict[str, object] = {"user": a.user, "password": self.password.encode(), "database": a.database,
                                     "charset": "utf8mb4", "autocommit": True, "connect_timeout": 10,
                                     "max_allowed_packet": 1 << 30}
            if a.socket:
                kw["unix_socket"] = a.socket
            else:
                kw.update(host=a.host, port=a.port)
                if a.tls_mode != "disable":
                    kw["ssl"] = self.tls_context()
            try:
                return MySQLDriverConnection(name, depth, preamble, kw, want_tls=not a.socket and a.tls_mode != "disable")
            except LoadError as e:
                if a.client == "driver" or not getattr(e, "client_may_work", False):
                    raise
                print(f"parallel-load: {e}; using the command-line client instead", file=sys.stderr)
                a.client = "cli"  # the other connections too
        client = shutil.which("mariadb") or shutil.which("mysql") or "mariadb"
        argv = [client, f"--defaults-extra-file={self.cnf}", "--batch", "--skip-column-names", "--unbuffered",
                "--max-allowed-packet=1G", "--default-character-set=utf8mb4"]
        if a.socket:
            argv += ["-S", a.socket, "-u", a.user]
        elif a.host:
            argv += ["-h", a.host, "-P", str(a.port), "-u", a.user]
        if a.defaults_extra_file or a.socket:
            pass  # TLS settings come with the option file; a local socket needs none
        elif a.tls_mode == "require":
            argv.append("--ssl")
        elif a.tls_mode.startswith("verify-"):
            argv += ["--ssl", f"--ssl-ca={a.ca_file}", "--ssl-verify-server-cert"]
        elif a.tls_mode == "disable" and os.path.basename(client) == "mariadb":
            argv.append("--skip-ssl")
        argv.append(a.database)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MYSQL")}
        return Connection(name, argv, env, depth, lambda t: b"SELECT '" + t + b"';\n", preamble)


# Compressing TOASTed values (long text, JSON) with pglz is most of a server's CPU in a load of a
# text-heavy database; LZ4 (PostgreSQL >= 14 built with lz4, as Debian's, RDS's and DigitalOcean's are)
# takes a fraction of it and stores the same values (the 1 GB bench database: the server's CPU for the
# load 19 s with pglz, 10-12 s with LZ4; scripts/bench/WHY.md).
# Best effort: a server without LZ4 keeps its default.
PG_TOAST_LZ4 = (b"DO $dbtier$ BEGIN PERFORM pg_catalog.set_config('default_toast_compression', 'lz4', false); "
                b"EXCEPTION WHEN OTHERS THEN NULL; END $dbtier$")


# The load's sessions (COPY, and pg_restore's index builds, whose heap scans set every row's hint bits) ask
# the kernel to write their pages back as they go: left dirty in the page cache, the whole load was written
# out at the checkpoint that DROP DATABASE forces when the side database is swapped in, while the restore
# waited (scripts/bench/WHY.md). A user-settable parameter, also on managed servers.
PG_WRITEBACK = ("backend_flush_after", "2MB")


# The caller's service file (dbtier/db.py: its dead-peer settings) stays when the connection is given here.
LIBPQ_KEPT = ("PGSERVICE", "PGSERVICEFILE")


def own_libpq_env() -> Dict[str, str]:
    """This process's environment without the caller's libpq connection settings (but for LIBPQ_KEPT)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG") or k in LIBPQ_KEPT}


def libpq_env(a: argparse.Namespace, pgpass: Optional[str], app: str) -> Dict[str, str]:
    """Environment for a libpq client (psql, pg_restore) connecting as --user, or the caller's libpq environment."""
    if not (a.host or a.socket):
        env = dict(os.environ)
    else:
        env = own_libpq_env()
        env.update(PGHOST=a.socket or a.host, PGPORT=str(a.port or 5432), PGUSER=a.user, PGPASSFILE=pgpass or "")
        if not a.socket:
            env["PGSSLMODE"] = a.tls_mode
            if a.tls_mode.startswith("verify-"):
                env["PGSSLROOTCERT"] = a.ca_file
    env["PGAPPNAME"] = app
    env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + f" -c {PG_WRITEBACK[0]}={PG_WRITEBACK[1]}").strip()
    return env


def pg_restore_section(a: argparse.Namespace, pgpass: Optional[str], archive: str, section: str, jobs: int,
                       use_list: Optional[str] = None) -> None:
    """pg_restore of one section of the dump's schema archive: the server's own grammar and pg_restore's
    own dependency order (SQL-standard function bodies, rules with several actions ...). Ownership and
    privileges are left out: what the load creates belongs to the app user it connects as. use_list: a
    pg_restore -L file; only the entries it names are restored."""
    argv = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", f"--section={section}", "-d", a.database]
    argv += ["--single-transaction"] if jobs == 1 else [f"--jobs={jobs}"]
    argv += ["--use-list", use_list] if use_list else []
    debug(f"pg_restore {section}")
    p = subprocess.run(argv + [archive], env=libpq_env(a, pgpass, f"dbtier-parallel-load-{section}"),
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise LoadError(f"pg_restore --section={section}: {p.stderr.decode('utf-8', 'replace').strip()}")


# Entries of pg_restore -l: "ID; CATALOG OID TYPE SCHEMA NAME OWNER" (an extension has no owner; a comment's
# name is its object's type and name)
PG_TOC_SCHEMA = re.compile(r"^\d+; \d+ \d+ SCHEMA - (.+) \S+$")
PG_TOC_EXTENSION = re.compile(r"^\d+; \d+ \d+ (?:EXTENSION -|COMMENT - EXTENSION) (.+) $")
PG_TOC_EVENT_TRIGGER = re.compile(r"^\d+; \d+ \d+ (?:EVENT TRIGGER -|COMMENT - EVENT TRIGGER) ")


def pg_toc(archive: str) -> List[str]:
    """The archive's entries as pg_restore -l lists them."""
    p = subprocess.run(["pg_restore", "-l", archive], stdin=subprocess.DEVNULL, capture_output=True)
    if p.returncode != 0:
        raise LoadError(f"pg_restore -l: {p.stderr.decode('utf-8', 'replace').strip()}")
    return p.stdout.decode("utf-8", "surrogateescape").split("\n")


def pg_restore_list(a: argparse.Namespace, pgpass: Optional[str], toc: List[str], section: str,
                    work_dir: str) -> Optional[str]:
    """A pg_restore -L list of the archive without what the load cannot or must not create, or None if the
    archive has none of it. pre-data: the schemas and extensions the database already has (the extensions only
    a superuser may create, which dbtier's admin created before the load, and their schemas): CREATE SCHEMA
    of an existing schema would fail the load, and COMMENT ON EXTENSION needs the extension's owner.
    post-data: event triggers, which only a superuser may create (the backup names them as inexact)."""
    if section == "post-data":
        unwanted = PG_TOC_EVENT_TRIGGER.match
    elif not any(PG_TOC_SCHEMA.match(line) or PG_TOC_EXTENSION.match(line) for line in toc):
        return None
    else:
        env = libpq_env(a, pgpass, "dbtier-parallel-load-list")
        p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", a.database, "-c",
                            "SELECT json_build_object('schemas', (SELECT json_agg(nspname) FROM pg_namespace), "
                            "'extensions', (SELECT json_agg(extname) FROM pg_extension))"],
                           env=env, stdin=subprocess.DEVNULL, capture_output=True)
        if p.returncode != 0:
            raise LoadError(f"reading the database's schemas and extensions: {p.stderr.decode('utf-8', 'replace').strip()}")
        have = json.loads(p.stdout)
        schemas, extensions = set(have["schemas"] or ()), set(have["extensions"] or ())

        def unwanted(line: str) -> bool:
            schema, extension = PG_TOC_SCHEMA.match(line), PG_TOC_EXTENSION.match(line)
            return bool((schema and schema.group(1) in schemas) or (extension and extension.group(1) in extensions))
    kept, left_out = [], []
    for line in toc:
        (left_out if unwanted(line) else kept).append(line)
    if not left_out:
        return None
    debug(f"{section} without: {left_out}")
    path = os.path.join(work_dir, f"{section}.list")
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write("\n".join(kept))
    return path


PG_SPLIT_HEADER = re.compile(rb"^-- dbtier pg-split 1 schema-bytes=(\d+)\n$")
FORMATS = ("sql", "mysql-exact-1", "pg-split-1")


class Postgres(Engine):
    def __init__(self, *a):
        super().__init__(*a)
        self.pgpass = None
        if self.args.host or self.args.socket:
            esc = lambda s: s.replace("\\", "\\\\").replace(":", "\\:")  # noqa: E731
            self.pgpass = _private_file(self.secret_dir, "pgpass",
                                        f"*:*:*:{esc(self.args.user)}:{esc(self.password)}\n")

    def connect(self, name: str, depth: int) -> "Connection | DriverConnection":
        a = self.args
        # Commits during the load need not wait for the WAL flush: the last, synchronous commit
        # (txid_current() at the end of the load) flushes the WAL past all of them.
        preamble = [sql(b"SET synchronous_commit = off"), sql(f"SET {PG_WRITEBACK[0]} = '{PG_WRITEBACK[1]}'".encode()),
                    sql(PG_TOAST_LZ4)] + self.session_sql()
        if self.use_driver("psycopg2", "python3-psycopg2"):
            kw: Dict[str, object] = {"dbname": a.database, "application_name": f"dbtier-parallel-load-{name}",
                                     "connect_timeout": 10}
            if a.host or a.socket:  # else libpq takes PGHOST, PGPASSFILE, PGSSLMODE ... from the environment
                kw.update(host=a.socket or a.host, port=a.port or 5432, user=a.user, passfile=self.pgpass)
                if not a.socket:
                    kw["sslmode"] = a.tls_mode
                    if a.tls_mode.startswith("verify-"):
                        kw["sslrootcert"] = a.ca_file
            return PostgresDriverConnection(name, depth, preamble, kw)
        argv = [shutil.which("psql") or "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", a.database]
        if not a.host:  # connection from the caller's libpq environment (PGHOST, PGPASSFILE, PGSSLMODE, ...)
            env = dict(os.environ)
            env["PGAPPNAME"] = f"dbtier-parallel-load-{name}"
            return Connection(name, argv, env, depth, lambda t: b"SELECT '" + t + b"';\n", preamble)
        argv += ["-h", a.socket or a.host, "-p", str(a.port or 5432), "-U", a.user]
        env = own_libpq_env()
        env["PGPASSFILE"] = self.pgpass  # type: ignore[assignment]
        env["PGAPPNAME"] = f"dbtier-parallel-load-{name}"
        env["PGSSLMODE"] = a.tls_mode
        if a.tls_mode.startswith("verify-"):
            env["PGSSLROOTCERT"] = a.ca_file
        return Connection(name, argv, env, depth, lambda t: b"SELECT '" + t + b"';\n", preamble)


# ---- statement scanner --------------------------------------------------------------------------

PG_IDENT = re.compile(rb"[A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*")
PG_IDENT_CHAR = re.compile(rb"[A-Za-z0-9_$\x80-\xff]")


class Scanner:
    """Splits SQL text into statements, honouring quotes, comments, DELIMITER (MariaDB) and
    dollar quotes (PostgreSQL). Fed line by line; yields (statement bytes, delimiter)."""

    def __init__(self, dialect: str):
        self.dialect = dialect
        self.buf: List[bytes] = []
        self.state = None  # None, b"'", b'"', b"`", b"/*", b"$tag$"
        self.delim = b";"
        self.depth = 0  # PostgreSQL nested comments
        # PostgreSQL, as psql's own lexer counts (psqlscan.l): identifiers in the statement so far,
        # BEGIN/CASE ... END nesting and parentheses, inside which ';' does not end the statement
        # (BEGIN ATOMIC bodies, rules with several actions).
        self.idents = 0
        self.begin_depth = 0
        self.parens = 0

    def pending(self) -> bool:
        return any(x.strip() for x in self.buf)

    def feed(self, line: bytes) -> List[Tuple[bytes, bytes]]:
        out: List[Tuple[bytes, bytes]] = []
        i, n = 0, len(line)
        start = 0
        while i < n:
            st = self.state
            if st is None:
                if not self.pending() and i == start:
                    stripped = line[i:].lstrip()
                    if self.dialect == "mysql" and stripped[:10].upper() == b"DELIMITER ":
                        self.delim = stripped[10:].strip() or b";"
                        return out
                    if not stripped or (stripped.startswith(b"--") and (
                            self.dialect != "mysql" or stripped[2:3] in (b"", b" ", b"\t", b"\r", b"\n"))) \
                            or (self.dialect == "mysql" and stripped.startswith(b"#")):
                        return out  # blank or comment line between statements
                    lead = n - i - len(stripped)
                    if lead:
                        i += lead
                        start = i
                        continue
                c = line[i:i + 1]
                if c in (b"'", b'"', b"`") and not (c == b"`" and self.dialect != "mysql"):
                    self.state = c
                    self.estr = (c == b"'" and i > 0 and line[i - 1:i] in (b"E", b"e")
                                 and not (i > 1 and re.match(rb"[A-Za-z0-9_]", line[i - 2:i - 1])))
                    i += 1
                elif line.startswith(b"--", i) and (self.dialect != "mysql" or i + 2 >= n or line[i + 2:i + 3] in b" \t\r\n"):
                    i = n  # comment to end of line
                elif c == b"#" and self.dialect == "mysql":
                    i = n
                elif line.startswith(b"/*", i):
                    self.state = b"/*"
                    self.depth = 1
                    i += 2
                elif c == b"$" and self.dialect == "postgres":
                    m = re.match(rb"\$([A-Za-z_][A-Za-z0-9_]*)?\$", line[i:])
                    if m and not (i > 0 and re.match(rb"[A-Za-z0-9_]", line[i - 1:i])):
                        self.state = m.group(0)
                        i += len(m.group(0))
                    else:
                        i += 1
                elif self.dialect == "postgres" and (c.isalpha() or c == b"_" or c >= b"\x80") and not (
                        i > 0 and PG_IDENT_CHAR.match(line, i - 1)):
                    m = PG_IDENT.match(line, i)
                    word = m.group(0).lower()
                    self.idents += 1
                    if word in (b"begin", b"case"):
                        if self.idents > 1:  # a first-word BEGIN is a transaction, not a body
                            self.begin_depth += 1
                    elif word == b"end" and self.begin_depth > 0:
                        self.begin_depth -= 1
                    i = m.end()
                elif c in (b"(", b")") and self.dialect == "postgres":
                    self.parens += 1 if c == b"(" else (-1 if self.parens > 0 else 0)
                    i += 1
                elif line.startswith(self.delim, i) and self.begin_depth == 0 and self.parens == 0:
                    self.buf.append(line[start:i])
                    stmt = b"".join(self.buf).strip()
                    self.buf = []
                    self.idents = 0
                    i += len(self.delim)
                    start = i
                    if stmt:
                        out.append((stmt, self.delim))
                else:
                    i += 1
            elif st == b"/*":
                if self.dialect == "postgres" and line.startswith(b"/*", i):
                    self.depth += 1
                    i += 2
                elif line.startswith(b"*/", i):
                    self.depth -= 1
                    i += 2
                    if self.depth <= 0 or self.dialect != "postgres":
                        self.state = None
                else:
                    i += 1
            elif st in (b"'", b'"', b"`"):
                j = line.find(st, i)
                if self.dialect == "mysql" and st != b"`":
                    bs = line.find(b"\\", i)
                    if bs != -1 and (j == -1 or bs < j):
                        i = bs + 2
                        continue
                elif self.dialect == "postgres" and st == b"'" and self._e_string():
                    bs = line.find(b"\\", i)
                    if bs != -1 and (j == -1 or bs < j):
                        i = bs + 2
                        continue
                if j == -1:
                    i = n
                elif line.startswith(st, j + 1):  # doubled quote
                    i = j + 2
                else:
                    self.state = None
                    self.estr = False
                    i = j + 1
            else:  # dollar quote
                j = line.find(st, i)
                if j == -1:
                    i = n
                else:
                    self.state = None
                    i = j + len(st)
        if start < n:
            self.buf.append(line[start:])
        return out

    estr = False

    def _e_string(self) -> bool:
        return self.estr


# ------------------------------------------------------------------------------------------------
# Loaders
# ------------------------------------------------------------------------------------------------

SERIAL_MARK = b"-- dbtier-serial "
MY_INSERT = re.compile(rb"^(?:INSERT|REPLACE)(?: IGNORE)? INTO `((?:[^`]|``)+)`")
MY_SESSION = re.compile(rb"^(?:/\*!\d+\s*)?(?:SET\s|USE\s)", re.I)
MY_DROP_STMT = re.compile(rb"^(?:LOCK TABLES\s|UNLOCK TABLES|/\*!40000 ALTER TABLE .* (?:DISABLE|ENABLE) KEYS \*/)", re.I | re.S)
MY_SCHEMA = re.compile(rb"^(?:/\*!\d+\s*)?(?:DROP TABLE|CREATE TABLE|DROP VIEW|CREATE DATABASE|DROP DATABASE)\b", re.I)
MY_CREATE_TABLE = re.compile(rb"^CREATE TABLE `((?:[^`]|``)+)` \(\n(.*)\n\)(.*)$", re.S)
MY_INDEX_LINE = re.compile(rb"^  (?:UNIQUE )?KEY `(?:[^`]|``)+` \(.*\)(?: USING \w+)?(?: COMMENT '(?:[^'\\]|\\.)*')?,?$")


# The object's name follows its kind; a DEFINER clause comes before it, so only that head is rewritten
# (a routine body that mentions DEFINER= stays as it is).
MY_OBJECT_HEAD = re.compile(rb"\b(?:VIEW|TRIGGER|PROCEDURE|FUNCTION|EVENT)\s+[`\"\w]", re.I)


# What mysql-exact-1 runs after its rows that cannot change a row: session settings, a sequence's next value,
# ALTER DATABASE (mariadb-dump's character-set switches around triggers) and CREATE TRIGGER (it fires on later
# writes only, and none follow), DROP EVENT; with --events-disabled, CREATE EVENT too. Anything else once a
# table was announced voids the announcements (an enabled event may run at once).
# (mariadb-dump's sandbox line and comments may come first: a statement carries what preceded it)
SAFE_AFTER_ROWS = re.compile(rb"^(?:\s+|--[^\n]*\n|/\*M!999999\\- enable the sandbox mode \*/)*"
                             rb"(?:(?:/\*!\d*\s*)?(?:SET\s|DO SETVAL\(|ALTER DATABASE\s|DROP EVENT\s)"
                             rb"|/\*!\d+ CREATE\*/ (?:/\*!\d+ DEFINER=.*?\*/ )?/\*!\d+ TRIGGER )", re.I | re.S)


class Announcer:
    """--announce FILE (mysql-exact-1, driver connections): a JSON line with a table's name once every row of it
    is committed, so a checker can digest the table while the rest loads (dbtier's sidedb); a line "!" when a
    statement after them could change rows already announced: the checker then keeps nothing it took early."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.lock = threading.Lock()
        self.announced: set = set()  # quoted names as in INSERT, from the loader's thread
        self.void = False

    def table(self, name: str) -> None:
        with self.lock:
            if not self.void:
                os.write(self.fd, json.dumps(name).encode() + b"\n")

    def invalidate(self) -> None:
        with self.lock:
            if not self.void:
                self.void = True
                os.write(self.fd, b"!\n")


# An event as SHOW CREATE EVENT (and so the dump tool) prints it: its name, the server-made schedule (times
# and intervals only), then ON COMPLETION ... and its status, which the server always prints.
MY_EVENT_STATUS = re.compile(rb"\bEVENT\s+(`(?:[^`]|``)+`)\s+ON\s+SCHEDULE\s.*?\sON\s+COMPLETION\s+(?:NOT\s+)?PRESERVE\s+"
                             rb"(ENABLE|DISABLE\s+ON\s+SLAVE|DISABLE)\b", re.I | re.S)
# information_schema.events' status for each way of saying it
MY_EVENT_STATES = {clause.encode(): status for status, clause in dumpkit.EVENT_STATUS_CLAUSES.items()}
# an event's definition, as opposed to DROP EVENT: its name and then its schedule
MY_EVENT_SCHEDULED = re.compile(rb"EVENT\s+`(?:[^`]|``)+`\s+ON\s+SCHEDULE\s", re.I)


def creates_event(stmt: bytes) -> bool:
    """Whether the statement defines an event with its schedule (its first object keyword is EVENT, not a
    routine whose body creates one; not DROP EVENT)."""
    m = MY_OBJECT_HEAD.search(stmt)
    return bool(m) and bool(MY_EVENT_SCHEDULED.match(stmt, m.start()))


def disabled_event(stmt: bytes) -> Tuple[bytes, str, str]:
    """A CREATE EVENT statement made to create the event DISABLED, its name and the status it had: a load
    into a side or scratch database must not run the application's events there (they could change the rows
    before the check, or write to the live database by name). Raises LoadError if its status is not found."""
    m = MY_EVENT_STATUS.match(stmt, MY_OBJECT_HEAD.search(stmt).start())
    if not m:
        raise LoadError(f"cannot find the status of the event in: {stmt[:200].decode(errors='replace')}")
    name = dumpkit.unquote_mysql(m.group(1)[1:-1])
    status = MY_EVENT_STATES[re.sub(rb"\s+", b" ", m.group(2).upper())]
    return stmt[:m.start(2)] + b"DISABLE" + stmt[m.end(2):], name, status


# The dump tool's header names the database it dumped ("-- Host: h    Database: app").
MY_DUMP_HEADER = re.compile(rb"^-- Host: .*\sDatabase: (.+?)\r?\n?$")


def own_sequence_defaults(create: bytes, source_db: bytes) -> bytes:
    """CREATE TABLE with its DEFAULT nextval(`SOURCE_DB`.`seq`) made nextval(`seq`). MariaDB stores a sequence
    default qualified with the database it was created in, and SHOW CREATE TABLE prints it so: loaded as it
    is, the table needed the source database's sequence (the load failed where that database did not exist)
    and used it. Unqualified, it takes the sequence of the database it is created in, which the dump tool
    creates first; the swap then names the live database (swap.py). String literals are left as they are."""
    own = b"nextval(`" + source_db.replace(b"`", b"``") + b"`."
    if own not in create:
        return create
    pattern = re.compile(rb"'(?:[^'\\]|\\.|'')*'|" + re.escape(own), re.S)
    return pattern.sub(lambda m: m.group(0) if m.group(0).startswith(b"'") else b"nextval(", create)


def strip_definer(stmt: bytes) -> bytes:
    m = MY_OBJECT_HEAD.search(stmt)
    head = m.start() if m else 0
    return dumpkit.DEFINER.sub(b"", stmt[:head]) + stmt[head:]


def with_invisible_pk(create: bytes) -> bytes:
    """CREATE TABLE without a primary key -> with an invisible auto-increment one (what MySQL's
    sql_generate_invisible_primary_key does), for servers that require primary keys."""
    m = MY_CREATE_TABLE.match(create)
    if not m or b"PRIMARY KEY" in m.group(2):
        return create
    head = create.index(b"(\n") + 2
    return create[:head] + dumpkit.INVISIBLE_PK + create[head:]


class MySQLLoader:
    def __init__(self, pool: Pool, chunk: int, defer_indexes: bool, dbaas: bool = False, add_pk: bool = False,
                 announce: Optional[Announcer] = None, exact: bool = False, events_disabled: Optional[str] = None):
        self.pool = pool
        # --events-disabled FILE: every event is created DISABLED, its name and status at the source kept here
        self.events_file = events_disabled
        self.event_status: Dict[str, str] = {}
        self.chunk = chunk
        self.defer = defer_indexes
        self.dbaas, self.add_pk = dbaas, add_pk
        self.deferred: Dict[bytes, List[bytes]] = {}
        # Tables that keep a UNIQUE secondary key during the load: concurrent inserts into one of
        # them can deadlock on the duplicate-key check. Driver connections run such a statement again
        # (it was rolled back whole); command-line clients cannot, so there each such table is loaded
        # by one connection.
        self.serial: set = set()
        self.retries_deadlocks = all(isinstance(c, MySQLDriverConnection) for c in pool.all)
        self.need_sync = True
        self.data_pending = False
        self.started: set = set()  # tables that already received their first INSERT
        self.serial_ordered: set = set()  # tables the dump marked "-- dbtier-serial" (quoted names as in INSERT)
        # markers ride on driver connections' queues only; client processes announce nothing
        self.announce = announce if self.retries_deadlocks else None
        self.loading: Optional[bytes] = None  # the table whose INSERTs are being handed out (quoted name)
        # mysql-exact-1 over driver connections: tables whose rows go with the client character set binary
        self.exact = exact and self.retries_deadlocks
        self.binary_tables: set = set()
        self.source_db: Optional[bytes] = None  # the database the dump tool dumped (its header)

    @staticmethod
    def serial_key(line: bytes) -> bytes:
        return line[len(SERIAL_MARK):].rstrip(b"\n")[1:-1]

    def _strip_indexes(self, stmt: bytes) -> bytes:
        m = MY_CREATE_TABLE.match(stmt)
        if not m:
            return stmt
        if not self.defer:
            if b"\n  UNIQUE " in m.group(2):
                self.serial.add(m.group(1))
            return stmt
        name, body, tail = m.group(1), m.group(2), m.group(3)
        lines = body.split(b"\n")
        if any(b"FOREIGN KEY" in ln for ln in lines) or b"PARTITION" in tail.upper():
            if any(ln.lstrip().startswith(b"UNIQUE") for ln in lines):
                self.serial.add(name)
            return stmt
        keep, idx = [], []
        for ln in lines:
            (idx if MY_INDEX_LINE.match(ln) else keep).append(ln)
        if not idx or not keep:
            return stmt
        keep = [ln[:-1] if ln.endswith(b",") else ln for ln in keep]
        self.deferred[name] = [b"ADD " + ln.strip().rstrip(b",") for ln in idx]
        return b"CREATE TABLE `" + name + b"` (\n" + b",\n".join(keep) + b"\n)" + tail

    def _table_loaded(self) -> None:
        """The rows of the table being loaded are all handed out: announce it once they are executed."""
        if self.announce is None or self.loading is None:
            return
        name, announce = dumpkit.unquote_mysql(self.loading), self.announce
        announce.announced.add(self.loading)
        self.loading = None
        self.pool.after_all(lambda: announce.table(name))

    def statement(self, stmt: bytes, delim: bytes) -> None:
        p = self.pool
        # an event this load creates DISABLED cannot change a row
        disabled = self.events_file is not None and creates_event(stmt)
        if self.announce is not None:
            self._table_loaded()
            if self.announce.announced and not (SAFE_AFTER_ROWS.match(stmt) or disabled):
                debug(f"announcements voided by: {describe_item(sql(stmt))}")
                self.announce.invalidate()
        if MY_DROP_STMT.match(stmt):
            return
        # --dbaas (dbtier-db always loads so, as the app user): statements only SUPER may run are left
        # out, and every view, trigger, routine and event is defined by the loading user, whoever defined
        # it at the source (a DEFINER other than oneself needs SUPER / SET USER).
        if self.dbaas:
            if dumpkit.SUPER_ONLY.match(stmt):
                return
            if b"DEFINER" in stmt:
                stmt = strip_definer(stmt)
        if disabled:
            stmt, name, status = disabled_event(stmt)
            self.event_status[name] = status
            with open(self.events_file, "w") as f:  # after each one: the swap reads what was created
                json.dump(self.event_status, f)
        if MY_SESSION.match(stmt) and delim == b";":
            p.broadcast(sql(stmt))
            return
        if MY_SCHEMA.match(stmt):
            if stmt.upper().startswith(b"CREATE TABLE"):
                if self.source_db is not None:
                    stmt = own_sequence_defaults(stmt, self.source_db)
                if self.add_pk:
                    stmt = with_invisible_pk(stmt)
                stmt = self._strip_indexes(stmt)
            p.control_exec(sql(stmt, delim))
            self.need_sync = True
            return
        # Anything else (triggers, views, routines, events, ALTERs...) may read or fire on loaded
        # rows: run it after every queued chunk has been loaded, as a one-client replay would.
        if self.data_pending:
            p.drain()
            self.data_pending = False
        p.control_exec(sql(stmt, delim))
        self.need_sync = True

    def data(self, stmt: bytes) -> None:
        """One INSERT statement, without its delimiter."""
        if self.need_sync:
            self.pool.control.sync()
            self.need_sync = False
            if self.exact:
                self.binary_tables = self._utf8_tables()
                debug(f"rows as binary literals: {sorted(self.binary_tables)}")
        m = MY_INSERT.match(stmt)
        if self.announce is not None and m and m.group(1) != self.loading:
            self._table_loaded()
            self.loading = m.group(1)
            if self.loading in self.announce.announced:  # rows of a table announced as complete
                self.announce.invalidate()
        item = (b"rows", stmt, b";") if m and m.group(1) in self.binary_tables else sql(stmt)
        if m and m.group(1) not in self.started:
            # The first INSERT into an empty InnoDB table may take a table lock (MariaDB's bulk insert
            # into an empty table): two connections starting on it at once deadlock. It runs alone.
            self.started.add(m.group(1))
            self.pool.control_exec(item)
            self.pool.control.sync()
        elif m and (m.group(1) in self.serial_ordered or (m.group(1) in self.serial and not self.retries_deadlocks)):
            self.pool.dispatch_to(m.group(1), item)
        else:
            self.pool.dispatch(item)
        self.data_pending = True

    def _utf8_tables(self) -> set:
        """Tables of the database (quoted as in INSERT) whose every column is a character column in utf8mb4 or
        utf8mb3, or of a type in MY_BINARY_LITERAL_TYPES: the exact dump's text is UTF-8 (its connection's), so
        for these the bytes it sends are the bytes stored, and its rows can go as binary literals."""
        rows: List = []
        types = b", ".join(b"'" + t.encode() + b"'" for t in MY_BINARY_LITERAL_TYPES)
        self.pool.control_exec((b"query", b"SELECT t.table_name FROM information_schema.tables t WHERE t.table_schema = "
                                b"DATABASE() AND NOT EXISTS (SELECT 1 FROM information_schema.columns c WHERE "
                                b"c.table_schema = t.table_schema AND c.table_name = t.table_name AND "
                                b"IFNULL(c.character_set_name NOT IN ('utf8mb4', 'utf8mb3', 'utf8'), "
                                b"LOWER(c.data_type) NOT IN (" + types + b")))", rows))
        self.pool.control.sync()
        return {(r[0] if isinstance(r[0], str) else r[0].decode()).encode().replace(b"`", b"``") for r in rows}

    def run(self, stream) -> None:
        sc = Scanner("mysql")
        it = iter(stream)
        # mysqldump/mariadb-dump escape every newline inside a string, so in their output a ';' at
        # the end of a physical line always ends the statement: INSERTs (one line, or one row per
        # line in newer mariadb-dump) are then taken whole without scanning them byte by byte.
        trusted = False
        n = 0
        for line in it:
            n += 1
            if n <= 5:  # a caller's prelude (SET ...) may come before the dump's header
                header = MY_DUMP_HEADER.match(line)
                if header:
                    self.source_db = header.group(1)
                if line.startswith(b"/*M!999999\\- enable the sandbox mode */"):
                    self.pool.broadcast((b"meta", line))
                    continue
                if line.startswith((b"-- MariaDB dump", b"-- MySQL dump")):
                    trusted = True
            if line.startswith(SERIAL_MARK) and sc.state is None and not sc.pending():
                # mysql-exact-1: this table's scan order is its insertion order (no clustering key):
                # one connection loads it in dump order, so the digest of its rows in scan order holds.
                self.serial_ordered.add(self.serial_key(line))
                continue
            if trusted and sc.state is None and not sc.pending() and sc.delim == b";" and MY_INSERT.match(line):
                parts = [line]
                while not line.endswith(b";\n"):
                    line = next(it, b"")
                    if not line:
                        raise LoadError("dump ends inside an INSERT (truncated input?)")
                    parts.append(line)
                whole = b"".join(parts)
                self.data(whole[:-2])  # without ";\n"
                continue
            for stmt, delim in sc.feed(line):
                if MY_INSERT.match(stmt):
                    self.data(stmt)
                else:
                    self.statement(stmt, delim)
        if sc.pending():
            raise LoadError("dump ends inside a statement (truncated input?)")
        self.pool.drain()
        self._table_loaded()
        if self.deferred:
            debug(f"deferred indexes: {list(self.deferred)}")
            self.pool.run_parallel([[sql(b"ALTER TABLE `" + t + b"` " + b", ".join(adds))]
                                    for t, adds in self.deferred.items()])


PG_COPY = re.compile(rb"^COPY (.+?) (?:\(.*\) )?FROM stdin$", re.S)
PG_SESSION = re.compile(rb"^(?:SET\s|SELECT pg_catalog\.set_config\()", re.I)
PG_DATA_STMT = re.compile(rb"^SELECT pg_catalog\.(?:setval|lo_\w+|lowrite)\(", re.I)
PG_INDEX_LIKE = re.compile(
    rb"^(?:CREATE (?:UNIQUE )?INDEX \S+ ON (?:ONLY )?(\S+) |ALTER TABLE (?:ONLY )?(\S+)\s+ADD CONSTRAINT \S+ (?:PRIMARY KEY|UNIQUE) )",
    re.I)


class PostgresLoader:
    def __init__(self, pool: Pool, chunk: int, dbaas: bool = False):
        self.pool = pool
        self.chunk = chunk
        self.dbaas = dbaas
        self.need_sync = True
        self.data_started = False
        self.post: Optional[List[bytes]] = None

    def statement(self, stmt: bytes) -> None:
        p = self.pool
        if self.dbaas and dumpkit.PG_PRIVILEGED.match(stmt + b";"):
            return
        if self.post is not None:
            self.post.append(stmt)
            return
        if PG_SESSION.match(stmt):
            p.broadcast(sql(stmt))
            return
        if self.data_started and not PG_DATA_STMT.match(stmt) and not stmt.upper().startswith((b"BEGIN", b"COMMIT")):
            # pg_dump's post-data section begins: collect it (small: definitions only).
            p.drain()
            self.post = [stmt]
            return
        p.control_exec(sql(stmt))
        self.need_sync = True

    def meta(self, line: bytes) -> None:
        if self.post is not None:
            self.post.append(line.rstrip(b"\n"))
        else:
            self.pool.broadcast((b"meta", line.rstrip(b"\n")))

    def copy(self, header: bytes, rows: List[bytes]) -> None:
        if self.need_sync:
            self.pool.control.sync()
            self.need_sync = False
        self.data_started = True
        self.pool.dispatch((b"copy", header, b"".join(rows)))

    def run(self, stream) -> None:
        sc = Scanner("postgres")
        it = iter(stream)
        for line in it:
            if sc.state is None and not sc.pending():
                if line.startswith(b"\\"):
                    self.meta(line)  # psql meta-command (\restrict, \unrestrict, \connect ...)
                    continue
            for stmt, _ in sc.feed(line):
                m = PG_COPY.match(stmt)
                if m and self.post is None:
                    self._copy_block(stmt, it)
                elif m:
                    raise LoadError("COPY after the post-data section: not a pg_dump plain dump")
                else:
                    self.statement(stmt)
        if sc.pending():
            raise LoadError("dump ends inside a statement (truncated input?)")
        self.pool.drain()
        if self.post:
            self._post_data(self.post)

    def _copy_block(self, header: bytes, it) -> None:
        rows: List[bytes] = []
        size = 0
        for row in it:
            if row == b"\\.\n" or row == b"\\.":
                if rows or size == 0:
                    self.copy(header, rows)
                return
            rows.append(row)
            size += len(row)
            if size >= self.chunk:
                self.copy(header, rows)
                rows, size = [], 0
        raise LoadError("dump ends inside a COPY block (truncated input?)")

    def _post_data(self, stmts: List[bytes]) -> None:
        groups: Dict[bytes, List[bytes]] = {}
        rest: List[bytes] = []
        for s in stmts:
            m = PG_INDEX_LIKE.match(s)
            if m and not s.startswith(b"\\"):
                groups.setdefault(m.group(1) or m.group(2), []).append(sql(s))
            else:
                rest.append(s)
        # Index builds per table in parallel; then FKs, triggers, ... in dump order.
        self.pool.run_parallel(list(groups.values()))
        for s in rest:
            self.pool.control_exec((b"meta", s) if s.startswith(b"\\") else sql(s))
        self.pool.drain()

    def finish(self) -> None:
        # A synchronous commit makes every earlier asynchronous commit durable (WAL is flushed in order).
        self.pool.control_exec(sql(b"SET synchronous_commit = on"))
        self.pool.control_exec(sql(b"SELECT pg_catalog.txid_current()"))
        self.pool.drain()


# ------------------------------------------------------------------------------------------------

def parse_args(argv: List[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="parallel-load.py", description="Load a plain SQL dump (stdin) in parallel.")
    ap.add_argument("--engine", required=True, choices=["mariadb", "mysql", "postgres"])
    ap.add_argument("--database", required=True)
    ap.add_argument("--host", help="with --port, --user and --password-file; else MariaDB/MySQL takes the "
                    "connection from --defaults-extra-file and PostgreSQL from the libpq environment (PGHOST ...)")
    ap.add_argument("--port", type=int)
    ap.add_argument("--user")
    ap.add_argument("--password-file")
    ap.add_argument("--defaults-extra-file", help="MariaDB/MySQL client option file (0600) with user, password, host, TLS")
    ap.add_argument("--jobs", type=int, default=2, help="client connections (default 2); 1 replays like one client")
    ap.add_argument("--tls-mode", default="require", choices=["disable", "require", "verify-ca", "verify-full"])
    ap.add_argument("--format", choices=FORMATS, help="the dump format the backup's manifest recorded; "
                    "pg-split-1 is checked against the stream's header")
    ap.add_argument("--ca-file")
    ap.add_argument("--socket", help="Unix socket of a local server (instead of --host/--port; no TLS needed)")
    ap.add_argument("--client", default="auto", choices=["auto", "driver", "cli"],
                    help="driver: PyMySQL/psycopg2 connections in this process; cli: mariadb/mysql/psql processes; "
                         "auto (default): the driver when installed")
    ap.add_argument("--chunk-bytes", type=int, default=DEFAULT_CHUNK)
    ap.add_argument("--session-sql", action="append", default=[], metavar="SQL",
                    help="statement run first on every connection (repeatable), e.g. SET ROLE app")
    ap.add_argument("--dbaas", action="store_true",
                    help="leave out what a managed server's admin may not run: MariaDB/MySQL DEFINER clauses and "
                         "SUPER-only statements; PostgreSQL ownership, extension comments, plpgsql")
    ap.add_argument("--add-pk", action="store_true",
                    help="MariaDB/MySQL: give tables without a primary key an invisible one (servers that require it)")
    ap.add_argument("--announce", metavar="FILE",
                    help="MariaDB/MySQL mysql-exact-1: append each table's name (a JSON line) once all its rows are "
                         "committed; a line ! if a later statement could change them")
    ap.add_argument("--events-disabled", metavar="FILE",
                    help="MariaDB/MySQL: create every event DISABLED (a side or scratch database) and write each "
                         "one's status at the source to FILE (JSON: name -> ENABLED|DISABLED|SLAVESIDE_DISABLED)")
    ap.add_argument("--defer-indexes", action="store_true",
                    help="MariaDB/MySQL: build secondary indexes after the data (for indexes larger than the buffer pool)")
    a = ap.parse_args(argv)
    if a.jobs < 1 or a.jobs > 64:
        die(2, f"--jobs {a.jobs}: allowed 1..64")
    if a.tls_mode.startswith("verify-") and not a.ca_file:
        die(2, f"--tls-mode {a.tls_mode} needs --ca-file")
    if a.chunk_bytes < 4096:
        die(2, f"--chunk-bytes {a.chunk_bytes}: at least 4096")
    if a.socket and a.host:
        die(2, "--socket and --host exclude each other")
    if a.announce and (a.engine == "postgres" or a.format != "mysql-exact-1"):
        die(2, "--announce: only MariaDB/MySQL dumps in --format mysql-exact-1")
    direct = [a.host, a.port, a.user, a.password_file]
    if not a.socket and any(direct) and not all(direct):
        die(2, "--host, --port, --user and --password-file go together")
    if a.socket and not (a.user and a.password_file):
        die(2, "--socket needs --user and --password-file")
    if a.engine != "postgres" and not (a.host or a.socket) and not a.defaults_extra_file:
        die(2, f"--engine {a.engine} needs --defaults-extra-file, --host/--port/--user/--password-file or --socket")
    if a.engine == "postgres" and a.defaults_extra_file:
        die(2, "--defaults-extra-file is for MariaDB/MySQL; PostgreSQL uses --host ... or the libpq environment")
    for f in (a.password_file, a.defaults_extra_file):
        if f:
            check_private(f)
    return a


def check_private(path: str) -> None:
    try:
        st = os.stat(path)
    except OSError as e:
        die(2, f"{path}: {e.strerror}")
    if st.st_mode & 0o077:
        die(2, f"{path} has mode {st.st_mode & 0o777:o}; credential files must be 0600")


def read_password(path: Optional[str]) -> str:
    if not path:
        return ""
    with open(path) as f:
        return f.read().rstrip("\n")


def _hand_back_memory() -> None:
    """The rows' buffers, freed, go back to the system before pg_restore's workers start beside this process:
    glibc keeps freed heap otherwise, and the load's peak was this process and pg_restore's together."""
    import ctypes  # noqa: E402
    import gc  # noqa: E402
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc


def main(argv: List[str]) -> int:
    a = parse_args(argv)
    password = read_password(a.password_file)
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    secret_dir = tempfile.mkdtemp(prefix="parallel-load.", dir=base)
    pool: Optional[Pool] = None
    try:
        os.chmod(secret_dir, 0o700)
        engine = (Postgres if a.engine == "postgres" else MariaDB)(a, secret_dir, password)
        stream = sys.stdin.buffer
        archive = None
        toc: List[str] = []
        pgpass = getattr(engine, "pgpass", None)
        if a.engine == "postgres":
            first = stream.peek(128)[:128].split(b"\n", 1)[0] + b"\n"
            m = PG_SPLIT_HEADER.match(first)
            if a.format == "pg-split-1" and not m:
                raise LoadError("--format pg-split-1: the stream does not start with the pg-split header")
            if m:
                stream.readline()
                archive = os.path.join(secret_dir, "schema.dump")
                want = int(m.group(1))
                with open(archive, "wb") as f:
                    while want > 0:
                        block = stream.read(min(want, 1 << 20))
                        if not block:
                            raise LoadError("the stream ends inside the schema archive (truncated input?)")
                        f.write(block)
                        want -= len(block)
                toc = pg_toc(archive)
                pg_restore_section(a, pgpass, archive, "pre-data", 1,
                                   pg_restore_list(a, pgpass, toc, "pre-data", secret_dir))
        pool = Pool(engine, a.jobs, depth=2)
        if a.engine == "postgres":
            loader = PostgresLoader(pool, a.chunk_bytes, a.dbaas)
            loader.run(stream)
            loader.finish()
            if archive:
                pool.close()
                pool = None
                _hand_back_memory()
                # indexes, constraints, triggers, rules, policies, REFRESH MATERIALIZED VIEW: in parallel
                pg_restore_section(a, pgpass, archive, "post-data", a.jobs,
                                   pg_restore_list(a, pgpass, toc, "post-data", secret_dir))
                return 0
        else:
            MySQLLoader(pool, a.chunk_bytes, a.defer_indexes, a.dbaas, a.add_pk,
                        Announcer(a.announce) if a.announce else None, a.format == "mysql-exact-1",
                        a.events_disabled).run(stream)
        pool.close()
        pool = None
        return 0
    except LoadError as e:
        print(f"parallel-load: {e}", file=sys.stderr)
        return 1
    finally:
        if pool is not None:
            pool.abort()
        shutil.rmtree(secret_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
