"""Database and S3 servers for the bench: plain processes in a temp dir, loopback only, free ports.

Both pipelines (reference and dbtier) run against the same server instance, so its tuning is
identical for both; the settings below are those of a small VM with a few GB of RAM.
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[3]
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


def stop(proc: Optional[subprocess.Popen], timeout: float = 30.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def make_tls(directory: Path, owner: Optional[str] = None) -> Dict[str, Path]:
    """Throwaway CA + server certificate for 127.0.0.1 (openssl), keys 0600."""
    directory.mkdir(parents=True, exist_ok=True)
    f = {"ca": directory / "ca.crt", "ca_key": directory / "ca.key", "cert": directory / "server.crt",
         "key": directory / "server.key"}
    q = {"check": True, "capture_output": True}
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(f["ca_key"]), "-out", str(f["ca"]), "-days", "30", "-subj", "/CN=dbtier bench CA"], **q)
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(f["key"]), "-out", str(directory / "server.csr"), "-subj", "/CN=127.0.0.1"], **q)
    (directory / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(directory / "server.csr"), "-CA", str(f["ca"]),
                    "-CAkey", str(f["ca_key"]), "-CAcreateserial", "-out", str(f["cert"]), "-days", "30",
                    "-extfile", str(directory / "server.ext")], **q)
    os.chmod(f["key"], 0o600)
    os.chmod(f["ca_key"], 0o600)
    if owner:
        pw = pwd.getpwnam(owner)
        for k in ("key", "cert"):
            os.chown(f[k], pw.pw_uid, pw.pw_gid)
    return f


def write_secret(path: Path, value: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return path


@dataclass
class DbServer:
    engine: str  # mariadb | postgres
    workdir: Path
    port: int = 0
    socket_dir: Path = field(default=Path("/nonexistent"))
    proc: Optional[subprocess.Popen] = None
    tls: Dict[str, Path] = field(default_factory=dict)
    admin_user: str = "dbtier_admin"
    admin_password: str = "bench-admin-pw"
    app_user: str = "app"
    app_password: str = "bench-app-pw"
    dbname: str = "app"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "DbServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        if self.engine == "mariadb":
            self._start_mariadb()
        else:
            self._start_postgres()
        return self

    def _start_mariadb(self) -> None:
        data = self.workdir / "mariadb"
        self.socket_dir = self.workdir
        sock = self.workdir / "mysqld.sock"
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
             "--auth-root-authentication-method=socket", "--skip-test-db"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.tls = make_tls(self.workdir / "tls")
        log = open(self.workdir / "mariadb.log", "wb")
        self.proc = subprocess.Popen(
            ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={data}", "--user=root",
             f"--socket={sock}", f"--port={self.port}", "--bind-address=127.0.0.1",
             f"--pid-file={self.workdir / 'mariadb.pid'}",
             "--innodb-buffer-pool-size=512M", "--innodb-log-file-size=256M",
             "--max-allowed-packet=64M", "--skip-name-resolve", "--skip-log-bin",
             "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
             f"--ssl-cert={self.tls['cert']}", f"--ssl-key={self.tls['key']}", f"--ssl-ca={self.tls['ca']}"],
            stdout=log, stderr=log, start_new_session=True)
        wait_port(self.port, self.proc, "mariadbd")
        self.root_sql(
            f"CREATE USER '{self.admin_user}'@'127.0.0.1' IDENTIFIED BY '{self.admin_password}';"
            f"GRANT ALL ON *.* TO '{self.admin_user}'@'127.0.0.1' WITH GRANT OPTION;"
            f"CREATE USER '{self.app_user}'@'127.0.0.1' IDENTIFIED BY '{self.app_password}';"
            f"CREATE DATABASE `{self.dbname}`;"
            f"GRANT ALL ON `{self.dbname}`.* TO '{self.app_user}'@'127.0.0.1';")

    def _start_postgres(self) -> None:
        pw = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        data = self.workdir / "pgdata"
        self.socket_dir = self.workdir / "pgsock"
        self.socket_dir.mkdir(exist_ok=True)
        data.mkdir(exist_ok=True)
        if pw:
            # postgres must traverse to its data dir: the bench's temp dirs are root-owned 0700
            for parent in [self.workdir.parent, *self.workdir.parent.parents]:
                if parent.stat().st_mode & 0o001 == 0:
                    os.chmod(parent, parent.stat().st_mode | 0o001)
            os.chown(self.workdir, pw.pw_uid, pw.pw_gid)
            os.chown(self.socket_dir, pw.pw_uid, pw.pw_gid)
            os.chown(data, pw.pw_uid, pw.pw_gid)
            (self.workdir / "tls").mkdir(exist_ok=True)
            os.chmod(self.workdir / "tls", 0o755)

        def demote():
            if pw:
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)

        subprocess.run([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                        "--encoding=UTF8", "--locale=C.UTF-8"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=demote)
        self.tls = make_tls(self.workdir / "tls", owner="postgres" if pw else None)
        with open(data / "postgresql.conf", "a") as f:
            f.write("\nlisten_addresses = '127.0.0.1'\n"
                    f"port = {self.port}\n"
                    f"unix_socket_directories = '{self.socket_dir}'\n"
                    "shared_buffers = 512MB\nmax_wal_size = 2GB\nmaintenance_work_mem = 128MB\n"
                    "fsync = on\nsynchronous_commit = on\n"
                    f"ssl = on\nssl_cert_file = '{self.tls['cert']}'\nssl_key_file = '{self.tls['key']}'\n")
        with open(data / "pg_hba.conf", "w") as f:
            f.write("local all postgres trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        log = open(self.workdir / "postgres.log", "wb")
        self.proc = subprocess.Popen([str(PG_BIN / "postgres"), "-D", str(data)],
                                     stdout=log, stderr=log, preexec_fn=demote, start_new_session=True)
        wait_port(self.port, self.proc, "postgres")
        # The port opens before the server accepts sessions ("the database system is starting up").
        deadline = time.monotonic() + 60
        while subprocess.run([str(PG_BIN / "pg_isready"), "-q", "-h", str(self.socket_dir), "-p", str(self.port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("postgres did not start accepting sessions within 60 s")
            time.sleep(0.1)
        self.root_sql(
            f"CREATE ROLE {self.admin_user} LOGIN CREATEDB CREATEROLE PASSWORD '{self.admin_password}';"
            f"CREATE ROLE {self.app_user} LOGIN PASSWORD '{self.app_password}';"
            f"CREATE DATABASE {self.dbname} OWNER {self.app_user};"
            f"GRANT {self.app_user} TO {self.admin_user};")

    def stop(self) -> None:
        stop(self.proc, 120)

    # ---- access as the local superuser (setup and checksums only, never timed) ------------------
    def root_sql(self, sql: str, db: Optional[str] = None) -> str:
        if self.engine == "mariadb":
            cmd = ["mariadb", "--no-defaults", f"--socket={self.workdir / 'mysqld.sock'}", "-uroot",
                   "-B", "-N"] + ([db] if db else [])
            res = subprocess.run(cmd, input=sql, text=True, capture_output=True)
        else:
            cmd = [str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                   "-h", str(self.socket_dir), "-p", str(self.port), "-U", "postgres", "-d", db or "postgres"]
            res = subprocess.run(cmd, input=sql, text=True, capture_output=True)
        if res.returncode != 0:
            raise RuntimeError(f"{self.engine} sql failed: {res.stderr.strip()[:2000]}")
        return res.stdout

    def root_cmd(self, tool: str) -> List[str]:
        """argv prefix of a superuser client tool over the local socket (no password involved)."""
        if self.engine == "mariadb":
            return [tool, "--no-defaults", f"--socket={self.workdir / 'mysqld.sock'}", "-uroot",
                    "--default-character-set=utf8mb4"]
        return [str(PG_BIN / tool), "-h", str(self.socket_dir), "-p", str(self.port), "-U", "postgres"]

    def recreate_db(self) -> None:
        if self.engine == "mariadb":
            self.root_sql(f"DROP DATABASE IF EXISTS `{self.dbname}`; CREATE DATABASE `{self.dbname}`;")
        else:
            self.root_sql(f"DROP DATABASE IF EXISTS {self.dbname} WITH (FORCE);")
            self.root_sql(f"CREATE DATABASE {self.dbname} OWNER {self.app_user};")

    def settle(self, timeout: float = 60.0) -> None:
        """Let the server finish background work left by the previous step (dirty pages of a big
        load, purge of a dropped database) so each measurement starts from the same quiet state."""
        if self.engine == "postgres":
            self.root_sql("CHECKPOINT;")
            return
        saved = self.root_sql("SELECT @@innodb_io_capacity, @@innodb_io_capacity_max, @@innodb_max_dirty_pages_pct;").split()
        self.root_sql("SET GLOBAL innodb_io_capacity_max = 20000; SET GLOBAL innodb_io_capacity = 10000;"
                      " SET GLOBAL innodb_max_dirty_pages_pct = 0;")
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                out = self.root_sql("SHOW GLOBAL STATUS WHERE Variable_name IN "
                                    "('Innodb_buffer_pool_pages_dirty', 'Innodb_history_list_length');")
                vals = {k: int(v) for k, v in (ln.split("\t") for ln in out.strip().splitlines())}
                if vals.get("Innodb_buffer_pool_pages_dirty", 0) < 256 and vals.get("Innodb_history_list_length", 0) < 5000:
                    return
                time.sleep(0.25)
        finally:
            self.root_sql(f"SET GLOBAL innodb_io_capacity = {saved[0]}; SET GLOBAL innodb_io_capacity_max = {saved[1]};"
                          f" SET GLOBAL innodb_max_dirty_pages_pct = {saved[2]};")

    def cpu_seconds(self) -> float:
        """utime+stime of the server's whole process tree so far (postgres forks per connection)."""
        return tree_cpu_seconds(self.pid)


def tree_cpu_seconds(root_pid: int) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    table = {p[0]: p for p in _proc_table()}
    children = {}
    for p in table.values():
        children.setdefault(p[1], []).append(p[0])
    stack = [root_pid]
    while stack:
        pid = stack.pop()
        if pid in table:
            _, _, ut, st, cut, cst = table[pid]
            total += ut + st + cut + cst
        stack.extend(children.get(pid, []))
    return total / tick


def _proc_table():
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                raw = f.read().decode()
        except OSError:
            continue
        rest = raw[raw.rindex(")") + 2:].split()
        yield int(name), int(rest[1]), int(rest[11]), int(rest[12]), int(rest[13]), int(rest[14])


@dataclass
class S3Server:
    workdir: Path
    bucket: str = "bench"
    port: int = 0
    proc: Optional[subprocess.Popen] = None
    access_key: str = "S3RVER"
    secret_key: str = "S3RVER"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "S3Server":
        d = self.workdir / "s3"
        d.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        log = open(self.workdir / "s3rver.log", "wb")
        self.proc = subprocess.Popen(
            [str(ROOT / "node_modules/.bin/s3rver"), "-d", str(d), "-a", "127.0.0.1", "-p", str(self.port),
             "--silent", "--configure-bucket", self.bucket],
            stdout=log, stderr=log, start_new_session=True)
        wait_port(self.port, self.proc, "s3rver")
        return self

    def stop(self) -> None:
        stop(self.proc)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stored_bytes(self, prefix: str) -> int:
        """Bytes of the object data s3rver keeps under bucket/prefix (metadata sidecars excluded)."""
        base = self.workdir / "s3" / self.bucket / prefix
        total = 0
        for dirpath, _, files in os.walk(base):
            for fn in files:
                if fn.endswith("._S3rver_object"):
                    total += os.path.getsize(os.path.join(dirpath, fn))
        return total

    def clear(self, prefix: str) -> None:
        shutil.rmtree(self.workdir / "s3" / self.bucket / prefix, ignore_errors=True)
