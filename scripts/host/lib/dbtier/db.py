"""The admin's connection to the database server through the engine's own client (mariadb/mysql, psql), or
through the same libraries in this process once it has loaded them (libpq, libmariadb: _pg_sql, _my_sql):
credentials only in 0600 files of a private run directory (MariaDB/MySQL --defaults-extra-file, PostgreSQL
PGPASSFILE) or this process's memory, never in argv or env values; TLS as DB_TLS_MODE says.

  with RunDir() as run:                 private 0700 directory on tmpfs (/dev/shm), removed on exit
      adm = Admin(cfg, run)              ConfigError for missing keys/secrets, Failure for missing clients
      adm.sql("SELECT 1", database=None) -> list of rows (lists of str); raises DbError(its stderr)
      adm.ping() -> "" | why not         one connection that also proves TLS is in use over TCP
      adm.target()                       "host:port" or the socket
      adm.server_version()
      adm.wait_ready()                   retried with backoff (DBTIER_CONNECT_ATTEMPTS [5], DBTIER_CONNECT_DELAY [2])
      adm.exists(db) -> bool             three answers, never two: a failed query raises Failure ("could not tell")
      adm.size_bytes(db) -> int | None   adm.prepare_app_role() (PostgreSQL: admin joins the app role)
      adm.dump_tool                      mariadb-dump | mysqldump | pg_dump
      adm.load_session_library()         for a command that loads it anyway (backup): queries in process from now
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

from . import config
from .log import Failure, log


def sql_string(v: str) -> str:
    """A MariaDB/MySQL string literal."""
    return "'" + v.replace("\\", "\\\\").replace("'", "''") + "'"


def pg_string(v: str) -> str:
    return "E'" + v.replace("\\", "\\\\").replace("'", "''") + "'"


def pg_ident(v: str) -> str:
    return '"' + v.replace('"', '""') + '"'


class DbError(RuntimeError):
    pass


class RunDir:
    def __init__(self) -> None:
        base = os.environ.get("DBTIER_RUN_BASE") or ("/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
        self.path = tempfile.mkdtemp(prefix="dbtier.", dir=base)
        os.chmod(self.path, 0o700)

    def private_file(self, name: str, content: str) -> str:
        path = os.path.join(self.path, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(content)
        return path

    def __enter__(self) -> "RunDir":
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _opt_quote(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


# libpq reads the dead-peer settings (lib/deadpeer.py) from this service file of the run's own.
PG_SERVICE = "dbtier"


def pg_service_file(settings: Dict[str, str]) -> str:
    return f"[{PG_SERVICE}]\n" + "".join(f"{k}={v}\n" for k, v in settings.items())


def _pgpass_escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace(":", "\\:")


class Admin:
    def __init__(self, cfg: config.Config, run: RunDir) -> None:
        self.cfg = cfg
        cfg.require("DB_ADMIN_USER")
        if not cfg.get("DB_SOCKET"):
            cfg.require("DB_HOST", "DB_PORT")
        tls = cfg.get("DB_TLS_MODE")
        if tls.startswith("verify-"):
            cfg.require("DB_CA_FILE")
            if not os.access(cfg.get("DB_CA_FILE"), os.R_OK):
                raise config.ConfigError(f"DB_CA_FILE={cfg.get('DB_CA_FILE')} is not readable")
        try:
            lib_module("deadpeer").seconds()  # checked before any connection is made
        except ValueError as e:
            raise config.ConfigError(str(e)) from None
        password = config.secret("db-admin-password")
        self.env: Dict[str, str] = dict(os.environ)
        self._pg_kept = None  # the PostgreSQL maintenance database's session (_pg_sql)
        self._target, self._target_kwargs = False, None  # where MariaDB's sessions here connect (_my_sql)
        if cfg.family == "mysql":
            if shutil.which("mariadb"):
                self.client, self.flavor = "mariadb", "mariadb"
            else:
                self.client = "mysql"
                out = subprocess.run(["mysql", "--version"], capture_output=True, text=True).stdout if shutil.which("mysql") else ""
                self.flavor = "mariadb" if "MariaDB" in out else "mysql"
            self.dump_tool = "mariadb-dump" if self.client == "mariadb" else "mysqldump"
            missing = [t for t in (self.client, self.dump_tool) if not shutil.which(t)]
            if missing:
                raise Failure(f"missing command(s): {' '.join(missing)} (run 'dbtier-db install')")
            self.cnf = run.private_file("admin.cnf", self._cnf(cfg.get("DB_ADMIN_USER"), password))
            self._password, self._run_dir = password, run.path
        else:
            self.client, self.flavor, self.dump_tool = "psql", "postgres", "pg_dump"
            missing = [t for t in ("psql", "pg_dump") if not shutil.which(t)]
            if missing:
                raise Failure(f"missing command(s): {' '.join(missing)} (run 'dbtier-db install')")
            pgpass = run.private_file("pgpass", f"*:*:*:{_pgpass_escape(cfg.get('DB_ADMIN_USER'))}:{_pgpass_escape(password)}\n")
            for k in ("PGDATABASE", "PGPASSWORD", "PGSERVICE"):
                self.env.pop(k, None)
                os.environ.pop(k, None)  # libpq in this process (fingerprint.PgSession) reads the environment too
            # Every libpq client of the run (psql, pg_dump, pg_restore, the sessions here and the loader's)
            # reads the run's own service file: the dead-peer settings apply to all without each caller's say.
            service = run.private_file("pg_service.conf", pg_service_file(lib_module("deadpeer").libpq_settings()))
            for env in (self.env, os.environ):
                env.update({"PGSERVICEFILE": service, "PGSERVICE": PG_SERVICE})
            self.env.update({"PGPASSFILE": pgpass, "PGUSER": cfg.get("DB_ADMIN_USER"), "PGAPPNAME": "dbtier",
                             "PGCONNECT_TIMEOUT": "10", "PGOPTIONS": "-c client_min_messages=warning",
                             "PSQLRC": "/dev/null"})
            if cfg.get("DB_SOCKET"):
                self.env.update({"PGHOST": cfg.get("DB_SOCKET"), "PGPORT": cfg.get("DB_PORT") or "5432"})
            else:
                self.env.update({"PGHOST": cfg.get("DB_HOST"), "PGPORT": cfg.get("DB_PORT")})
                if tls.startswith("verify-"):
                    self.env.update({"PGSSLMODE": tls, "PGSSLROOTCERT": cfg.get("DB_CA_FILE")})
                else:
                    self.env["PGSSLMODE"] = "require"

    def _cnf(self, user: str, password: str) -> str:
        cfg = self.cfg
        lines = ["[client]", f"user={_opt_quote(user)}", f"password={_opt_quote(password)}"]
        if cfg.get("DB_SOCKET"):
            lines.append(f"socket={_opt_quote(cfg.get('DB_SOCKET'))}")
        else:
            lines += [f"host={_opt_quote(cfg.get('DB_HOST'))}", f"port={cfg.get('DB_PORT')}", "protocol=TCP"]
            tls = cfg.get("DB_TLS_MODE")
            if self.flavor == "mariadb":
                lines.append("ssl")
                # MariaDB's client has no chain-only mode: ssl-verify-server-cert checks chain and name.
                if tls.startswith("verify-"):
                    lines += [f"ssl-ca={_opt_quote(cfg.get('DB_CA_FILE'))}", "ssl-verify-server-cert"]
            elif tls == "verify-full":
                lines += ["ssl-mode=VERIFY_IDENTITY", f"ssl-ca={_opt_quote(cfg.get('DB_CA_FILE'))}"]
            elif tls == "verify-ca":
                lines += ["ssl-mode=VERIFY_CA", f"ssl-ca={_opt_quote(cfg.get('DB_CA_FILE'))}"]
            else:
                lines.append("ssl-mode=REQUIRED")
        lines += ["default-character-set=utf8mb4", "[mysql]", "connect-timeout=10"]
        return "\n".join(lines) + "\n"

    def row_driver(self, fingerprint) -> Optional[object]:
        """fingerprint.DriverTarget for the dump's rows in this process (python3-mysqldb, which is libmariadb),
        or None where they go through the client: a MySQL client's host (MySQL's TLS modes), no
        python3-mysqldb, or a TCP connection to "localhost" (libmariadb would take the socket)."""
        cfg = self.cfg
        if cfg.family != "mysql" or self.flavor != "mariadb" or not fingerprint.driver_available():
            return None
        user = cfg.get("DB_ADMIN_USER")
        if cfg.get("DB_SOCKET"):
            return fingerprint.DriverTarget(user, self._password, socket=cfg.get("DB_SOCKET"))
        if cfg.get("DB_HOST") == "localhost":
            return None
        verify = cfg.get("DB_TLS_MODE").startswith("verify-")
        # as the client's file: MariaDB's client checks chain and name in both verify modes (_cnf)
        return fingerprint.DriverTarget(user, self._password, host=cfg.get("DB_HOST"), port=int(cfg.get("DB_PORT")),
                                        ca_file=cfg.get("DB_CA_FILE") if verify else "", verify_name=verify,
                                        work_dir=self._run_dir)

    def target(self) -> str:
        if self.cfg.get("DB_SOCKET"):
            return self.cfg.get("DB_SOCKET")
        return f"{self.cfg.get('DB_HOST')}:{self.cfg.get('DB_PORT')}"

    def sql(self, query: str, database: Optional[str] = None, timeout: float = 120) -> List[List[str]]:
        if self._pg_in_process():
            return self._pg_sql(query, database, timeout)
        if self._my_in_process():
            return self._my_sql(query, database, timeout)
        if self.cfg.family == "mysql":
            argv = [self.client, f"--defaults-extra-file={self.cnf}", "--batch", "--skip-column-names", "--raw"]
            if database:
                argv.append(f"--database={database}")
        else:
            argv = ["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", database or "postgres"]
        try:
            r = subprocess.run(argv, input=query, capture_output=True, text=True, errors="replace", env=self.env,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DbError(f"no answer within {timeout:g}s") from None
        if r.returncode != 0:
            raise DbError(last_lines(r.stderr, 3) or f"{argv[0]} exit {r.returncode}")
        return [line.split("\t") for line in r.stdout.splitlines()]

    # PostgreSQL in this process (libpq through python3-psycopg2, as the dump's and the check's sessions) once
    # this process has loaded them: a psql process per query cost ~0.1 s on a host whose process starts are
    # dear (scripts/bench/WHY.md), and importing them only for this would add ~10 MiB to a restore's orchestrator
    # while its load runs (the check loads them after it; the backup for its dump, from the start). The
    # maintenance database's session is kept for the run; one in any other database is opened for its query
    # and closed (nothing of ours then holds a database a drop or a rename needs free). ping() always opens a
    # new session: it is the probe of whether the server still takes them.
    def _pg_in_process(self) -> bool:
        return self.cfg.family == "postgres" and "psycopg2" in sys.modules

    def load_session_library(self) -> None:
        """Loads what this process's sessions need now (for a command that loads it anyway: the backup, whose
        dump reads through it), so the admin's queries run here from the first; without python3-psycopg2 /
        python3-mysqldb (or on a MySQL client's host), the clients as before."""
        fingerprint = lib_module("fingerprint")
        if self.cfg.family == "mysql":
            self.row_driver(fingerprint)  # imports MySQLdb where it would read the rows
            return
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            pass

    # MariaDB in this process (libmariadb through python3-mysqldb) under the same rule: a session per query, as
    # each `mariadb` process was, its rows exactly as the server sent them.
    def _my_in_process(self) -> bool:
        return self.cfg.family == "mysql" and "MySQLdb" in sys.modules and self._driver_target() is not None

    def _driver_target(self):
        if self._target is False:
            self._target = self.row_driver(lib_module("fingerprint"))
            self._target_kwargs = self._target.connect_kwargs() if self._target is not None else None
        return self._target

    def _my_sql(self, query: str, database: Optional[str], timeout: float) -> List[List[str]]:
        fingerprint = lib_module("fingerprint")
        kwargs = dict(self._target_kwargs or {}, read_timeout=int(timeout), write_timeout=int(timeout))
        if database:
            kwargs["db"] = database
        session = fingerprint.DriverClient(self._driver_target(), "admin", kwargs)
        try:
            return session.query(query)
        except fingerprint.Failure as e:
            raise DbError(last_lines(str(e), 3)) from None
        finally:
            session.close()

    def _pg_sql(self, query: str, database: Optional[str], timeout: float, fresh: bool = False) -> List[List[str]]:
        import select  # noqa: E402
        import threading  # noqa: E402
        fingerprint = lib_module("fingerprint")
        name = database or PG_MAINTENANCE_DB
        keep = name == PG_MAINTENANCE_DB and not fresh
        session = self._pg_kept if keep else None
        if session is not None and (session.db.closed or select.select([session.db.fileno()], [], [], 0)[0]):
            # an idle session the server has written to or closed (ended by an admin, the server restarted):
            # nothing of this query has been sent yet, so a new session runs it
            session.close()
            session = self._pg_kept = None
        try:
            if session is None:
                session = fingerprint.PgSession(name, self.env)
                if keep:
                    self._pg_kept = session
            cut = threading.Timer(timeout, _cut_off, (session,))
            cut.daemon = True
            cut.start()
            try:
                return [[str(v) for v in row] for row in session.run(query)]
            except fingerprint.Failure as e:
                if getattr(session, "cut_off", False):
                    raise DbError(f"no answer within {timeout:g}s") from None
                raise DbError(_pg_error(e)) from None
            finally:
                cut.cancel()
        except fingerprint.Failure as e:  # connecting
            raise DbError(_pg_error(e)) from None
        finally:
            if session is not None and not keep:
                session.close()
            elif session is not None and session.db.closed:
                session.close()
                self._pg_kept = None

    def value(self, query: str, database: Optional[str] = None) -> str:
        rows = self.sql(query, database)
        return rows[0][-1] if rows and rows[0] else ""

    def ping(self) -> str:
        """"" when the server answers (over TLS on TCP), else why not."""
        try:
            if self.cfg.family == "mysql":
                rows = self.sql("SHOW SESSION STATUS LIKE 'Ssl_cipher';", timeout=30)
                encrypted = bool(rows and len(rows[0]) > 1 and rows[0][1])
            else:
                q = "SELECT coalesce((SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()), 'false');"
                rows = self._pg_sql(q, None, 30, fresh=True) if self._pg_in_process() else self.sql(q, timeout=30)
                encrypted = bool(rows and rows[0] and rows[0][-1] == "true")
        except DbError as e:
            return str(e)
        if not self.cfg.get("DB_SOCKET") and not encrypted:
            return "connection is not encrypted"
        return ""

    def server_version(self) -> str:
        return self.value("SELECT VERSION();" if self.cfg.family == "mysql" else "SHOW server_version;")

    def wait_ready(self) -> None:
        attempts = int(os.environ.get("DBTIER_CONNECT_ATTEMPTS") or 5)
        delay = float(os.environ.get("DBTIER_CONNECT_DELAY") or 2)
        for n in range(1, attempts + 1):
            why = self.ping()
            if not why:
                return
            if n == attempts:
                raise Failure(f"cannot connect to the {self.cfg.engine} server at {self.target()} as "
                              f"{self.cfg.get('DB_ADMIN_USER')}: {why}")
            log(f"attempt {n}/{attempts} of db_ping failed; retrying in {delay:g}s")
            time.sleep(delay)
            delay *= 2

    def exists(self, db: str) -> bool:
        q = (f"SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = {sql_string(db)};"
             if self.cfg.family == "mysql" else f"SELECT count(*) FROM pg_database WHERE datname = {pg_string(db)};")
        try:
            n = self.value(q)
        except DbError as e:
            raise Failure(f"could not tell whether database {db} exists at {self.target()}, so stopping here: {e}") from None
        if n not in ("0", "1"):
            raise Failure(f"could not tell whether database {db} exists at {self.target()} (the server answered '{n}'), so stopping here")
        return n == "1"

    def size_bytes(self, db: str) -> Optional[int]:
        q = (f"SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables WHERE table_schema = {sql_string(db)};"
             if self.cfg.family == "mysql" else f"SELECT pg_database_size({pg_string(db)});")
        try:
            n = self.value(q)
        except DbError:
            return None
        return int(n) if n.isdigit() else None

    def prepare_app_role(self) -> bool:
        """PostgreSQL: makes the admin a member of the app role (a DBaaS admin may grant itself membership in
        roles it manages), so it may read the app's tables for a dump."""
        user = self.cfg.get("DB_USER")
        if self.cfg.family != "postgres" or not user:
            return False
        try:
            if self.value(f"SELECT count(*) FROM pg_roles WHERE rolname = {pg_string(user)};") != "1":
                return False
            if self.value(f"SELECT pg_has_role(current_user, {pg_string(user)}, 'USAGE')::int;") != "1":
                self.sql(f"GRANT {pg_ident(user)} TO CURRENT_USER;")
        except DbError:
            return False
        return True

    def tool_version(self, tool: str) -> str:
        try:
            out = subprocess.run([tool, "--version"], capture_output=True, text=True, errors="replace", timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        lines = (out.stdout or out.stderr).splitlines()
        return lines[0] if lines else ""

    # ---- the side databases of verify, restore and load-app-db (the engines' SQL, declared here once) ----

    def _password_hash(self, secret_name: str, kind: str) -> str:
        """The hash the server stores for a secret (dumpkit.stored_hash): the plaintext never reaches SQL or argv
        (MariaDB: native hash; PostgreSQL: a SCRAM verifier)."""
        return lib_module("dumpkit").stored_hash(kind, config.secret(secret_name).encode())

    def _mysql_identified(self, secret_name: str) -> str:
        # MariaDB takes the native hash; MySQL 8 (caching_sha2_password) needs the password itself, which it
        # redacts from its logs. Either way it travels on stdin.
        if self.cfg.engine == "mariadb":
            return f"IDENTIFIED BY PASSWORD '{self._password_hash(secret_name, 'mysql')}'"
        return f"IDENTIFIED BY {sql_string(config.secret(secret_name))}"

    def ensure_app_user(self) -> None:
        """The application user exists, with the stack's password and its rights on DB_NAME only (a DBaaS
        provider may not create it; a database restored from another stack's provider backup keeps that
        stack's password, which this stack's webservers do not have)."""
        user, db = self.cfg.get("DB_USER"), self.cfg.get("DB_NAME")
        if self.cfg.family == "mysql":
            steps = [
                # IF NOT EXISTS leaves an existing user (and its password) untouched; ALTER sets it.
                (f"CREATE USER IF NOT EXISTS {sql_string(user)}@'%' {self._mysql_identified('db-app-password')} REQUIRE SSL;",
                 f"creating the application user {user} failed"),
                (f"ALTER USER {sql_string(user)}@'%' {self._mysql_identified('db-app-password')};",
                 f"setting the password of the application user {user} failed"),
                # A DBaaS admin cannot grant ALL (it lacks some of it), and the app gets no GRANT OPTION.
                (f"GRANT {APP_PRIVILEGES} ON {my_ident(db)}.* TO {sql_string(user)}@'%';",
                 f"granting {user} its rights on {db} failed"),
            ]
            for statement, failure in steps:
                try:
                    self.sql(statement)
                except DbError as e:
                    raise Failure(f"{failure}: {e}") from None
            return
        try:
            exists = self.value(f"SELECT count(*) FROM pg_roles WHERE rolname = {pg_string(user)};")
        except DbError as e:
            raise Failure(f"could not tell whether the application role {user} exists, so stopping here: {e}") from None
        verb, failure = (("CREATE", f"creating the application role {user} failed") if exists == "0"
                         else ("ALTER", f"setting the password of the application role {user} failed"))
        try:
            self.sql(f"{verb} ROLE {pg_ident(user)} LOGIN PASSWORD '{self._password_hash('db-app-password', 'postgres')}';")
        except DbError as e:
            raise Failure(f"{failure}: {e}") from None
        if verb == "CREATE":
            log(f"created the application role {user}")

    def create(self, db: str) -> None:
        """An empty DB for the app user, whom the loader connects as (the admin only creates, grants and drops
        databases; it never runs a dump's SQL). MariaDB/MySQL: the app user gets its rights on DB from where
        this host connects; PostgreSQL: the app user owns DB."""
        user = self.cfg.get("DB_USER")
        if not user:
            raise config.ConfigError("DB_USER is not set: the loader connects as the app user")
        self.ensure_app_user()
        if self.cfg.family == "mysql":
            try:
                self.sql(f"CREATE DATABASE IF NOT EXISTS {my_ident(db)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;")
            except DbError as e:
                raise Failure(f"creating database {db} failed: {e}") from None
            try:
                origin = self.value("SELECT SUBSTRING_INDEX(USER(), '@', -1);")
            except DbError:
                raise Failure("cannot read this host's address as the server sees it") from None
            tls = "" if self.cfg.get("DB_SOCKET") else " REQUIRE SSL"
            account = f"{sql_string(user)}@{sql_string(origin)}"
            try:
                self.sql(f"CREATE USER IF NOT EXISTS {account} {self._mysql_identified('db-app-password')}{tls};\n"
                         f"GRANT {APP_PRIVILEGES} ON {my_ident(db)}.* TO {account};")
            except DbError as e:
                raise Failure(f"granting {user}@{origin} its rights on {db} failed: {e}") from None
            return
        if not self.prepare_app_role():
            raise Failure(f"the admin {self.cfg.get('DB_ADMIN_USER')} cannot create databases owned by the app role {user}")
        if not self.exists(db):
            try:
                self.sql(f"CREATE DATABASE {pg_ident(db)} OWNER {pg_ident(user)} ENCODING 'UTF8' TEMPLATE template0;")
            except DbError as e:
                raise Failure(f"creating database {db} failed: {e}") from None
        try:
            self.sql(f"REVOKE ALL ON DATABASE {pg_ident(db)} FROM PUBLIC;", db)
        except DbError:
            pass  # as before: the owner's default; not worth stopping a load for

    def create_extensions(self, db: str, extensions: List[Dict[str, str]]) -> List[str]:
        """PostgreSQL: creates in DB, as the admin, those of the source's extensions (the backup's
        source.extensions, in creation order) that only a superuser may create, and the extensions they need:
        the app user, whom the load runs as, creates the trusted ones itself and cannot create these (a DBaaS
        admin may: its provider's list). An extension's schema is created first, owned by the app user, where
        DB lacks it (the load then leaves out what exists). Only names and a version go into the statements,
        quoted here: none of the dump's SQL runs as the admin. Returns the names created."""
        for ext in extensions:
            if not all(isinstance(ext.get(k), str) and ext.get(k) for k in ("name", "schema", "version")):
                raise Failure(f"the backup's source.extensions has an entry that is not a name, schema and version: {ext}")
        if not extensions:
            return []
        try:
            available = {(name, version): (privileged == "t", json.loads(requires))
                         for name, version, privileged, requires in self.sql(
                             "SELECT name, version, superuser AND NOT trusted, coalesce(array_to_json(requires), '[]') "
                             "FROM pg_available_extension_versions WHERE name IN ("
                             + ", ".join(pg_string(e["name"]) for e in extensions) + ");", db)}
            present = {row[0] for row in self.sql("SELECT extname FROM pg_extension;", db)}
        except (DbError, ValueError) as e:
            raise Failure(f"reading which extensions the server offers {db} failed: {e}") from None
        version_of = {e["name"]: e["version"] for e in extensions}
        need: set = set()
        pending = [e["name"] for e in extensions if available.get((e["name"], e["version"]), (False, []))[0]]
        while pending:  # the privileged ones and, transitively, what they require
            name = pending.pop()
            if name not in need:
                need.add(name)
                pending += available.get((name, version_of.get(name, "")), (False, []))[1]
        user = self.cfg.get("DB_USER")
        created: List[str] = []
        for ext in extensions:
            name, schema, version = ext["name"], ext["schema"], ext["version"]
            if name not in need or name in present:
                continue
            try:
                if self.value(f"SELECT count(*) FROM pg_namespace WHERE nspname = {pg_string(schema)};", db) == "0":
                    self.sql(f"CREATE SCHEMA {pg_ident(schema)} AUTHORIZATION {pg_ident(user)};", db)
                self.sql(f"CREATE EXTENSION {pg_ident(name)} WITH SCHEMA {pg_ident(schema)} VERSION {pg_string(version)};", db)
            except DbError as e:
                raise Failure(f"the backup's database has extension {name} {version} (in schema {schema}), which only "
                              f"a superuser may create (or one of those needs), and the admin could not create it in "
                              f"{db}: {e}") from None
            created.append(name)
        return created

    def drop(self, db: str) -> None:
        if self.cfg.family == "mysql":
            try:
                self.sql(f"DROP DATABASE IF EXISTS {my_ident(db)};")
            except DbError as e:
                raise Failure(f"dropping database {db} failed: {e}") from None
            return
        try:
            self.sql(f"DROP DATABASE IF EXISTS {pg_ident(db)} WITH (FORCE);")
            return
        except DbError:
            pass
        # FORCE ends the app's sessions, but a DBaaS admin may not end an autovacuum worker (which a big load
        # starts); a plain DROP makes autovacuum leave and waits for it.
        delay = 2.0
        for n in range(1, 4):
            try:
                self.sql(f"DROP DATABASE IF EXISTS {pg_ident(db)};")
                return
            except DbError as e:
                if n == 3:
                    raise Failure(f"dropping database {db} failed: {e}") from None
                log(f"attempt {n}/3 of dropping {db} failed; retrying in {delay:g}s")
                time.sleep(delay)
                delay *= 2

    def drop_quietly(self, db: str) -> None:
        """Drops a side database on a path that is already failing: its own failure must not hide that one."""
        try:
            self.drop(db)
        except (Failure, DbError):
            pass

    def object_count(self, db: str) -> int:
        """Tables, views, sequences, routines, events (and large objects) in DB; 0 when DB does not exist. A
        query that fails stops the run ("could not tell"), it never reads as 0."""
        if not self.exists(db):
            return 0
        if self.cfg.family == "mysql":
            q = (f"SELECT (SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = {sql_string(db)})"
                 f" + (SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = {sql_string(db)})"
                 f" + (SELECT COUNT(*) FROM information_schema.events WHERE event_schema = {sql_string(db)});")
            database = None
        else:
            q = ("SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                 " WHERE c.relkind IN ('r','v','m','S','p','f') AND n.nspname NOT IN ('pg_catalog','information_schema')"
                 " AND n.nspname NOT LIKE 'pg_toast%')"
                 " + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                 " WHERE n.nspname NOT IN ('pg_catalog','information_schema'))"
                 " + (SELECT count(*) FROM pg_largeobject_metadata);")
            database = db
        try:
            n = self.value(q, database)
        except DbError as e:
            raise Failure(f"could not tell whether database {db} holds data at {self.target()}, so stopping here: {e}") from None
        if not n.isdigit():
            raise Failure(f"could not tell whether database {db} holds data (the server answered '{n}'), so stopping here")
        return int(n)

    def row_counts(self, db: str) -> Dict[str, int]:
        """Rows of every base table (PostgreSQL names are schema.table)."""
        if self.cfg.family == "mysql":
            q = ("SELECT CONCAT('SELECT ', QUOTE(table_name), ', COUNT(*) FROM `', REPLACE(table_schema, '`', '``'),"
                 " '`.`', REPLACE(table_name, '`', '``'), '`;') FROM information_schema.tables"
                 f" WHERE table_schema = {sql_string(db)} AND table_type IN ({lib_module('fingerprint').MY_ROW_TABLE_TYPES_SQL});")
        else:
            # one statement (a session in this process gives the rows of a script's last statement only)
            q = ("SELECT format('SELECT %L, count(*) FROM %I.%I', n.nspname || '.' || c.relname, n.nspname, c.relname)"
                 " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r','p')"
                 " AND n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg_toast%';")
        try:
            joint = "\n" if self.cfg.family == "mysql" else "\nUNION ALL "
            queries = joint.join(row[0] for row in self.sql(q, db) if row and row[0])
            queries += ";" if queries and self.cfg.family != "mysql" else ""
            rows = self.sql(queries, db) if queries else []
        except DbError as e:
            raise Failure(f"counting the rows of {db} failed: {e}") from None
        return {row[0]: int(row[1]) for row in rows if len(row) == 2}

    def local_data_dir(self) -> str:
        """The server's data directory when it runs on this host (DB_ROLE=database), else "" (a DBaaS)."""
        if self.cfg.role != "database":
            return ""
        if self.cfg.get("DB_DATA_DIR"):
            return self.cfg.get("DB_DATA_DIR")
        try:
            # SHOW data_directory needs pg_read_all_settings, which the admin may lack: Debian's layout then.
            found = self.value("SELECT @@datadir;" if self.cfg.family == "mysql" else "SHOW data_directory;")
        except DbError:
            found = ""
        if found:
            return found
        if self.cfg.family == "mysql":
            return "/var/lib/mysql"
        return f"/var/lib/postgresql/{self.cfg.get('DB_ENGINE_VERSION')}/main"

    def primary_key_policy(self) -> str:
        """MariaDB/MySQL: "none", "session" (the target refuses tables without a primary key and this session
        may lift that, as DigitalOcean documents for migrations) or "rewrite" (give such tables an invisible
        primary key, as MySQL's GIPK does)."""
        def flag(q: str) -> str:
            try:
                return self.value(q)
            except DbError:
                return ""
        if flag("SELECT @@sql_require_primary_key;") == "1":
            try:
                self.sql("SET SESSION sql_require_primary_key = 0;")
                return "session"
            except DbError:
                return "rewrite"
        return "rewrite" if flag("SELECT @@innodb_force_primary_key;") == "1" else "none"

    @property
    def loader_engine(self) -> str:
        """The engine name parallel-load.py and swap.py take: a mysql DB_ENGINE served by MariaDB's client is mariadb."""
        return "mariadb" if self.cfg.engine == "mysql" and self.flavor == "mariadb" else self.cfg.engine


PG_MAINTENANCE_DB = "postgres"


def lib_module(name: str):
    """A module of lib/ (fingerprint.py, dumpkit.py), imported on first use (the commands that neither dump nor
    check do not need them)."""
    if _LIB not in sys.path:
        sys.path.insert(0, _LIB)
    import importlib  # noqa: E402
    return importlib.import_module(name)


def last_lines(text: str, n: int) -> str:
    """A tool's or a library's message: its last N lines, on one line."""
    return " ".join(text.strip().splitlines()[-n:])


def _pg_error(e: Exception) -> str:
    """A session's error as psql's stderr read."""
    return last_lines(str(e).removeprefix("postgres: "), 3)


def _cut_off(session) -> None:
    """A query past its time: the connection's socket is shut down, so the waiting libpq call returns."""
    import socket  # noqa: E402
    session.cut_off = True
    try:
        sock = socket.socket(fileno=os.dup(session.db.fileno()))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()
    except OSError:
        pass


# What an application needs on its own schema, spelled out (a DBaaS admin cannot grant ALL; no GRANT OPTION).
APP_PRIVILEGES = ("SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, REFERENCES, INDEX, ALTER, CREATE TEMPORARY TABLES, "
                  "LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER")
_LIB = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def my_ident(v: str) -> str:
    """A MariaDB/MySQL identifier."""
    return "`" + v.replace("`", "``") + "`"
