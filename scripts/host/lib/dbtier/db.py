"""The admin's connection to the database server through the engine's own client (mariadb/mysql, psql), the
way lib/db.sh makes it: credentials only in 0600 files of a private run directory (MariaDB/MySQL
--defaults-extra-file, PostgreSQL PGPASSFILE), never in argv or env values; TLS as DB_TLS_MODE says.

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
"""
from __future__ import annotations

import os
import shutil
import subprocess
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
        password = config.secret("db-admin-password")
        self.env: Dict[str, str] = dict(os.environ)
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
        else:
            self.client, self.flavor, self.dump_tool = "psql", "postgres", "pg_dump"
            missing = [t for t in ("psql", "pg_dump") if not shutil.which(t)]
            if missing:
                raise Failure(f"missing command(s): {' '.join(missing)} (run 'dbtier-db install')")
            pgpass = run.private_file("pgpass", f"*:*:*:{_pgpass_escape(cfg.get('DB_ADMIN_USER'))}:{_pgpass_escape(password)}\n")
            for k in ("PGDATABASE", "PGPASSWORD", "PGSERVICE"):
                self.env.pop(k, None)
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

    def target(self) -> str:
        if self.cfg.get("DB_SOCKET"):
            return self.cfg.get("DB_SOCKET")
        return f"{self.cfg.get('DB_HOST')}:{self.cfg.get('DB_PORT')}"

    def sql(self, query: str, database: Optional[str] = None, timeout: float = 120) -> List[List[str]]:
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
            raise DbError(" ".join(r.stderr.strip().splitlines()[-3:]) or f"{argv[0]} exit {r.returncode}")
        return [line.split("\t") for line in r.stdout.splitlines()]

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
                encrypted = self.value("SELECT coalesce((SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()), 'false');") == "true"
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
