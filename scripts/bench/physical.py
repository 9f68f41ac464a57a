#!/usr/bin/env python3
"""dbtier bench, the physical path (issue 13): `dbtier-db basebackup` and `dbtier-db restore --to-latest` on a
PostgreSQL 15 that archives its WAL through the toolkit (archive_command) and a MariaDB 10.11 whose row binlogs
`dbtier-db archive-binlogs` ships, on the bench's generated database at two sizes.

  npm run bench -- --physical [--size 1G --engine postgres|mariadb|both --runs 1 --out out/bench]

--size is the larger size, the smaller a quarter of it (time per GB flat?). Each cycle: base backup (measured),
then the server is killed (-9) and `restore --to-latest --yes` runs (measured: download to the restored server
answering, archive replayed, promoted), then every table's checksum is compared with the source's before the
time counts. Each measured phase first waits for the shared machine to go quiet (the logical bench's wait) and
records the CPU other processes used meanwhile. Writes physical.md and physical.json beside the logical report,
with the logical reference's times from --reference (the logical bench's report.json) beside them.
"""
from __future__ import annotations

import argparse
import json
import os
import pwd
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402
from lib import gen  # noqa: E402
from lib.measure import Measurement, run_measured, wait_quiet  # noqa: E402
from lib.servers import ROOT, S3Server, free_port, tree_cpu_seconds, write_secret  # noqa: E402

MARIADBD = "/usr/sbin/mariadbd"

PG_BIN = Path("/usr/lib/postgresql/15/bin")
ARCHIVE_TIMEOUT = "50"  # what init renders (scripts/host/lib/system.sh PG_ARCHIVE_TIMEOUT)


def log(msg: str) -> None:
    print(f"[bench physical {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchServer:
    """What both servers share: the bench's database names, the server's PID from its pid file's first line
    (self.pid_file), its CPU, and a kill -9 that waits until the server is gone (serving(pid) false, then
    settle_s more)."""

    dbname = "benchdb"
    app_user = "benchapp"
    settle_s = 0.0
    pid_file: Path

    @property
    def pid(self) -> int:
        try:
            return int(self.pid_file.read_text().split("\n")[0])
        except (OSError, ValueError):
            return -1

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.pid) if self.pid > 0 else 0.0

    def serving(self, pid: int) -> bool:
        raise NotImplementedError

    def kill(self) -> None:
        pid = self.pid
        if pid > 0:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self.serving(pid):
                time.sleep(0.1)
            time.sleep(self.settle_s)


class PgServer(BenchServer):
    """A PostgreSQL 15 configured as init configures a database VM (archive_command through the toolkit), its
    settings in postgresql.conf so a restored copy starts with them; gen.load/checksums talk to it."""

    engine = "postgres"
    version = "15"
    os_user = "postgres"
    settle_s = 1.0  # the killed postmaster's backends leave after it

    def __init__(self, work: Path, port: int, archive_command: str) -> None:
        self.dir = work / "pg"
        self.data = self.dir / "data"
        self.pid_file = self.data / "postmaster.pid"
        self.sock = self.dir / "sock"
        self.port = port
        self.sock.mkdir(parents=True)
        subprocess.run(["chown", "-R", "postgres:postgres", str(self.dir)], check=True)
        self._as_pg([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth-local=peer",
                     "-E", "UTF8", "--locale=C.UTF-8"])
        (self.data / "pg_hba.conf").write_text(
            "local all postgres peer\nlocal replication postgres peer\nlocal all all scram-sha-256\n")
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"\nlisten_addresses = ''\nport = {self.port}\nunix_socket_directories = '{self.sock}'\n"
                    "shared_buffers = 512MB\nmax_wal_size = 2GB\nmaintenance_work_mem = 128MB\n"
                    "fsync = on\nsynchronous_commit = on\n"
                    "wal_level = replica\narchive_mode = on\n"
                    f"archive_command = '{archive_command}'\narchive_timeout = {ARCHIVE_TIMEOUT}\n")
        self.start()
        self.root_sql("CREATE ROLE dbtier_admin LOGIN CREATEDB CREATEROLE PASSWORD 'bench-admin';"
                      "GRANT pg_monitor TO dbtier_admin;"
                      f"CREATE ROLE {self.app_user} LOGIN PASSWORD 'bench-app';")

    def _as_pg(self, argv: List[str], **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", "postgres", "--"] + argv, check=True, capture_output=True,
                              cwd=str(self.dir), **kw)

    def start(self) -> None:
        self._as_pg([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w", "start"])

    def serving(self, pid: int) -> bool:
        return subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_isready"), "-q", "-h", str(self.sock),
                               "-p", str(self.port)]).returncode == 0

    def stop(self) -> None:
        if self.pid > 0:
            subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data), "stop",
                            "-m", "fast", "-w"], capture_output=True)

    def root_cmd(self, tool: str) -> List[str]:
        return ["runuser", "-u", "postgres", "--", str(PG_BIN / tool), "-h", str(self.sock), "-p", str(self.port)]

    def root_sql(self, sql: str, db: Optional[str] = None) -> str:
        res = subprocess.run(self.root_cmd("psql") + ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                                                      db or "postgres"], input=sql, text=True, capture_output=True)
        if res.returncode != 0:
            raise RuntimeError(f"postgres sql failed: {res.stderr.strip()[:2000]}")
        return res.stdout

    def recreate_db(self) -> None:
        self.root_sql(f"DROP DATABASE IF EXISTS {self.dbname} WITH (FORCE);")
        self.root_sql(f"CREATE DATABASE {self.dbname} OWNER {self.app_user};")

    def archive_caught_up(self, timeout: float = 600) -> None:
        closed = self.root_sql("SELECT pg_walfile_name(pg_switch_wal());").strip()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.root_sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver;").strip() >= closed:
                return
            time.sleep(0.5)
        raise RuntimeError(f"WAL {closed} not archived after {timeout:.0f}s")

    def db_bytes(self) -> int:
        return int(self.root_sql(f"SELECT pg_database_size('{self.dbname}');").strip())

    def restore_env(self) -> Dict[str, str]:
        return {}  # the toolkit stops and starts PostgreSQL itself (pg_ctl on the data directory)


class MariaServer(BenchServer):
    """A MariaDB 10.11 with the binlog settings init renders (system.sh mysql_binlog_config), started and stopped
    by a control script as systemd would (DBTIER_DB_CONTROL: restore stops it, swaps the data directory, starts
    it); the toolkit reaches it over its socket as the admin user. archive-binlogs is its archiver."""

    engine = "mariadb"
    version = "10.11"
    os_user = "root"
    binlog = {"server-id": "1", "log-bin": "mysql-bin", "binlog-format": "ROW", "sync-binlog": "1",
              "innodb-flush-log-at-trx-commit": "1", "binlog-expire-logs-seconds": "259200",
              "log-bin-trust-function-creators": "1"}

    def __init__(self, work: Path, port: int, tool: str, env: Dict[str, str]) -> None:
        self.dir = work / "mariadb"
        self.data = self.dir / "data"
        self.sock = self.dir / "mysqld.sock"
        self.pid_file = self.dir / "mysqld.pid"
        self.port = port
        self.tool = tool
        self.env = env
        self.dir.mkdir(parents=True)
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.data}", "--user=root",
                        "--auth-root-authentication-method=socket", "--skip-test-db"], check=True, capture_output=True)
        self.control = self._write_control()
        self.start()
        self.root_sql("CREATE USER 'dbtier_admin'@'localhost' IDENTIFIED BY 'bench-admin';"
                      "GRANT ALL ON *.* TO 'dbtier_admin'@'localhost' WITH GRANT OPTION;"
                      f"CREATE USER '{self.app_user}'@'localhost' IDENTIFIED BY 'bench-app';")

    def _write_control(self) -> Path:
        # the logical bench's server settings plus the binlog ones; the stale socket of a killed server goes
        # first, so "started" means the new server's socket
        args = ["--no-defaults", f"--datadir={self.data}", f"--socket={self.sock}", f"--port={self.port}",
                "--bind-address=127.0.0.1", "--user=root", f"--pid-file={self.pid_file}", "--skip-name-resolve",
                "--innodb-buffer-pool-size=512M", "--innodb-log-file-size=256M", "--max-allowed-packet=64M",
                "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
                f"--log-error={self.dir / 'error.log'}"] + [f"--{k}={v}" for k, v in self.binlog.items()]
        control = self.dir / "control.sh"
        control.write_text(f"""#!/bin/bash
set -eu
case "$1" in
  start)
    rm -f {self.sock}
    setsid {MARIADBD} {' '.join(shlex.quote(a) for a in args)} </dev/null >/dev/null 2>&1 &
    for _ in $(seq 600); do [[ -S {self.sock} ]] && exit 0; sleep 0.1; done
    echo "mariadbd did not start" >&2; exit 1 ;;
  stop)
    p="$(cat {self.pid_file} 2>/dev/null || true)"
    if [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null; then kill "$p"; while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; fi ;;
esac
""")
        control.chmod(0o700)
        return control

    def _control(self, action: str) -> None:
        r = subprocess.run(["bash", str(self.control), action], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"mariadb {action} failed: {r.stderr.strip()[-1000:]}")

    def start(self) -> None:
        self._control("start")
        deadline = time.monotonic() + 120
        while subprocess.run(["mariadb-admin", "--no-defaults", f"--socket={self.sock}", "-uroot", "ping"],
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("mariadb start: the server does not answer")
            time.sleep(0.2)

    def serving(self, pid: int) -> bool:
        return _alive(pid)

    def stop(self) -> None:
        self._control("stop")

    def root_cmd(self, tool: str) -> List[str]:
        return [tool, "--no-defaults", f"--socket={self.sock}", "-uroot", "--default-character-set=utf8mb4"]

    def root_sql(self, sql: str, db: Optional[str] = None) -> str:
        res = subprocess.run(self.root_cmd("mariadb") + ["-B", "-N"] + ([db] if db else []), input=sql, text=True,
                             capture_output=True)
        if res.returncode != 0:
            raise RuntimeError(f"mariadb sql failed: {res.stderr.strip()[:2000]}")
        return res.stdout

    def recreate_db(self) -> None:
        self.root_sql(f"DROP DATABASE IF EXISTS `{self.dbname}`; CREATE DATABASE `{self.dbname}`;"
                      f"GRANT ALL ON `{self.dbname}`.* TO '{self.app_user}'@'localhost';")

    def archive_caught_up(self, timeout: float = 900) -> None:
        # what the timer does, the current file flushed whatever its age: everything written so far is shipped
        r = subprocess.run(["bash", self.tool, "archive-binlogs"], env={**self.env, "DBTIER_BINLOG_FLUSH_AGE": "0"},
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"archive-binlogs exited {r.returncode}: {r.stderr.strip()[-1500:]}")

    def db_bytes(self) -> int:
        return int(self.root_sql("SELECT SUM(data_length + index_length) FROM information_schema.TABLES "
                                 f"WHERE table_schema = '{self.dbname}';").strip() or 0)

    def restore_env(self) -> Dict[str, str]:
        return {"DBTIER_DB_CONTROL": f"bash {self.control}"}


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def host_files(work: Path, engine: str, sock: Path, port: int, s3: S3Server, data: Path) -> Dict[str, str]:
    """The env file and secrets of a database VM, readable by the server's user (PostgreSQL's archive_command
    reads them as postgres)."""
    host = work / "host"
    secrets = host / "secrets"
    secrets.mkdir(parents=True)
    ident = host / "age-identity"
    subprocess.run(["age-keygen", "-o", str(ident)], check=True, capture_output=True)
    recipient = subprocess.run(["age-keygen", "-y", str(ident)], check=True, capture_output=True, text=True).stdout.strip()
    key = secrets / "backup-signing-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(key)], check=True)
    public = " ".join(Path(f"{key}.pub").read_text().split()[:2])
    Path(f"{key}.pub").unlink()
    write_secret(secrets / "datastore-access-key-id", s3.access_key)
    write_secret(secrets / "datastore-secret-access-key", s3.secret_key)
    write_secret(secrets / "db-admin-password", "bench-admin")
    os.chmod(key, 0o600)
    cls = PgServer if engine == "postgres" else MariaServer
    env = {"DB_ROLE": "database", "DB_ENGINE": engine, "DB_ENGINE_VERSION": cls.version, "DB_SOCKET": str(sock),
           "DB_PORT": str(port), "DB_DATA_DIR": str(data), "DB_NAME": cls.dbname, "DB_USER": cls.app_user,
           "DB_ADMIN_USER": "dbtier_admin", "APP_NAME": "physical", "BACKUP_RECIPIENT": recipient,
           "BACKUP_SIGNING_PUBLIC_KEY": public, "DATASTORE_ENDPOINT": s3.endpoint, "DATASTORE_BUCKET": s3.bucket,
           "DATASTORE_REGION": "us-east-1", "DBTIER_STATE_DIR": str(host / "state")}
    (host / "dbtier.env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    (host / "state").mkdir()
    subprocess.run(["chown", "-R", f"{cls.os_user}:{cls.os_user}", str(host)], check=True)
    return {"env": str(host / "dbtier.env"), "secrets": str(secrets), "identity": str(ident)}


def make_server(engine: str, sub: Path, tool: str, s3: S3Server) -> Tuple[object, Dict[str, str]]:
    """The engine's server configured as init would, archiving through the toolkit; and the toolkit's env."""
    port = free_port()
    if engine == "postgres":
        files = host_files(sub, engine, sub / "pg" / "sock", port, s3, sub / "pg" / "data")
    else:
        files = host_files(sub, engine, sub / "mariadb" / "mysqld.sock", port, s3, sub / "mariadb" / "data")
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "DBTIER_ENV": files["env"],
           "DBTIER_SECRETS_DIR": files["secrets"], "DBTIER_AGE_IDENTITY_FILE": files["identity"]}
    if engine == "postgres":
        archive = (f'DBTIER_ENV={files["env"]} DBTIER_SECRETS_DIR={files["secrets"]} bash {tool} '
                   'archive-wal "%p" "%f"')
        return PgServer(sub, port, archive), env
    return MariaServer(sub, port, tool, env), env


def measured(cmd: List[str], env: Dict[str, str], cwd: Path, servers: Dict, quiet: float) -> Measurement:
    """One phase, after the shared machine went quiet (bounded wait), as the logical bench measures it."""
    waited = wait_quiet(quiet) if quiet > 0 else 0.0
    m = run_measured(cmd, env=env, cwd=str(cwd), servers=servers)
    m.waited_for_quiet_s = waited
    return m


def cycle(server, s3: S3Server, tool: str, env: Dict[str, str], sub: Path, run: int, source_sums: Dict[str, str],
          quiet: float) -> Dict:
    """basebackup, archive caught up, kill -9, restore --to-latest, every table checked."""
    b = measured(["bash", tool, "basebackup"], env, sub, {"db": server.cpu_seconds, "s3": lambda: tree_cpu_seconds(s3.pid)},
                 quiet)
    res: Dict = {"run": run, "backup": asdict(b), "stored_bytes": s3.stored_bytes("physical/base")}
    if b.returncode != 0:
        res["error"] = f"basebackup exited {b.returncode}: {b.stderr_tail[-1500:]}"
        return res
    server.archive_caught_up()
    server.kill()
    r = measured(["bash", tool, "restore", "--to-latest", "--yes"], {**env, **server.restore_env()}, sub,
                 {"s3": lambda: tree_cpu_seconds(s3.pid)}, quiet)
    res["restore"] = asdict(r)
    if r.returncode != 0:
        res["error"] = f"restore exited {r.returncode}: {r.stderr_tail[-1500:]}"
        return res
    sums = gen.checksums(server)
    bad = sorted(k for k in source_sums if sums.get(k) != source_sums[k])
    res["verified"] = not bad
    if bad:
        res["error"] = "restore does not reproduce the data: " + ", ".join(bad)
    log(f"{server.engine} run {run}: basebackup {b.wall_s:.1f}s cpu {b.cpu_s:.1f}s peak {b.peak_tree_rss / 2**20:.0f} MiB "
        f"(foreign cpu {b.foreign_cpu_s:.1f}s), stored {res['stored_bytes'] / 2**20:.1f} MiB; restore {r.wall_s:.1f}s "
        f"cpu {r.cpu_s:.1f}s peak {r.peak_tree_rss / 2**20:.0f} MiB (foreign cpu {r.foreign_cpu_s:.1f}s); "
        f"checksums {'match' if not bad else 'DIFFER'}")
    return res


def measure_size(engine: str, size: int, work: Path, tool: str, s3: S3Server, runs: int, quiet: float) -> Dict:
    label = bench.size_label(size)
    sub = work / f"{engine}-{label}"
    sub.mkdir()
    os.chmod(sub, 0o711)
    s3.clear("physical")
    server, env = make_server(engine, sub, tool, s3)
    try:
        gendir = sub / "gen"
        log(f"{engine} {label}: generating and loading")
        gen.generate(size, gendir)
        os.chmod(gendir, 0o755)
        for f in gendir.iterdir():
            os.chmod(f, 0o644)
        gen.load(server, gendir)
        source_sums = gen.checksums(server)
        server.archive_caught_up()
        db_bytes = server.db_bytes()
        done = []
        for run in range(1, runs + 1):
            res = cycle(server, s3, tool, env, sub, run, source_sums, quiet)
            done.append(res)
            if "error" in res:
                log(res["error"])
                break
        return {"bytes": size, "db_bytes": db_bytes, "runs": done}
    finally:
        server.stop()
        shutil.rmtree(sub, ignore_errors=True)  # the next size needs the disk


def reference_times(path: Path) -> Dict[str, Dict[str, Dict[str, float]]]:
    """engine -> size label -> {backup, restore}: the logical reference's median wall times (its report.json)."""
    try:
        summary = json.loads(path.read_text())["summary"]
    except (OSError, ValueError, KeyError):
        return {}
    out: Dict[str, Dict[str, Dict[str, float]]] = {}
    for engine, e in summary.items():
        for label, sz in (e.get("sizes") or {}).items():
            ref = (sz.get("pipelines") or {}).get("reference") or {}
            if ref.get("verified_runs"):
                out.setdefault(engine, {})[label] = {k: ref[k]["wall_s"] for k in ("backup", "restore")}
    return out


def report(results: Dict, refs: Dict) -> Tuple[List[str], bool]:
    lines = ["# dbtier bench: the physical path", "",
             f"Toolkit: {results['toolkit']}. basebackup = pg_basebackup -Ft -X none / mariabackup --stream | zstd | age "
             "| S3, signed; restore = restore --to-latest after kill -9 (download to the server answering, archive "
             f"replayed, every table checked after). Reference: the logical bench's `{results['reference_file']}`.", "",
             "| engine | size | database | basebackup wall | cpu | peak | stored | restore wall | cpu | peak | "
             "restore s/GiB | vs reference backup (>= 5x) | vs reference restore (>= 8x) | foreign cpu s (b/r) | checked |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    ok = True
    for engine, sizes in results["engines"].items():
        for label, entry in sizes.items():
            good = [r for r in entry["runs"] if r.get("verified")]
            ok = ok and len(good) == len(entry["runs"]) and bool(good)
            if not good:
                lines.append(f"| {engine} | {label} | | failed: "
                             f"{(entry['runs'][-1].get('error', '') if entry['runs'] else '')[:200]} |")
                continue

            def med(key: str, field: str) -> float:
                return statistics.median(r[key][field] for r in good)

            def cpu(key: str) -> float:
                return statistics.median(r[key]["cpu_user_s"] + r[key]["cpu_sys_s"] for r in good)

            bw, rw = med("backup", "wall_s"), med("restore", "wall_s")
            ref = refs.get(engine, {}).get(label)
            ratio = (f"{ref['backup'] / bw:.1f}x ({ref['backup']:.1f} s)", f"{ref['restore'] / rw:.1f}x ({ref['restore']:.1f} s)") \
                if ref else ("", "")
            lines.append(
                f"| {engine} | {label} | {entry['db_bytes'] / 2**20:.0f} MiB | {bw:.1f} s | {cpu('backup'):.1f} s | "
                f"{med('backup', 'peak_tree_rss') / 2**20:.0f} MiB | {statistics.median(r['stored_bytes'] for r in good) / 2**20:.0f} MiB | "
                f"{rw:.1f} s | {cpu('restore'):.1f} s | {med('restore', 'peak_tree_rss') / 2**20:.0f} MiB | "
                f"{rw / (entry['db_bytes'] / 2**30):.1f} | {ratio[0]} | {ratio[1]} | "
                f"{max(r['backup']['foreign_cpu_s'] for r in good):.1f} / {max(r['restore']['foreign_cpu_s'] for r in good):.1f} | "
                f"{len(good)}/{len(entry['runs'])} |")
    return lines, ok


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="npm run bench -- --physical", description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1G", help="larger database size (the smaller is a quarter), e.g. 1G, 64M")
    ap.add_argument("--sizes", default="", help="explicit comma-separated sizes instead of --size's pair, e.g. 1G")
    ap.add_argument("--engine", default="both", choices=["postgres", "mariadb", "both"])
    ap.add_argument("--runs", type=int, default=1, help="cycles per size; the median is reported")
    ap.add_argument("--max-quiet-wait", type=float, default=120.0,
                    help="wait before each phase until other processes leave the machine idle; 0 = never")
    ap.add_argument("--reference", default=str(ROOT / "out/bench/report.json"),
                    help="the logical bench's report.json, for the reference's times")
    ap.add_argument("--out", default=str(ROOT / "out/bench"))
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench physical: run as root (the servers run as postgres and root)", file=sys.stderr)
        return 2
    if a.sizes:
        sizes = [gen.parse_size(x) for x in a.sizes.split(",")]
    else:
        big = gen.parse_size(a.size)
        sizes = [big // 4, big]
    engines = ["postgres", "mariadb"] if a.engine == "both" else [a.engine]
    work = Path(tempfile.mkdtemp(prefix="dbtier-bench-physical-"))
    for parent in [work, *work.parents]:
        os.chmod(parent, parent.stat().st_mode | 0o001)  # the server's user traverses to its data directory
    source = bench.snapshot_toolkit(work)
    tool = str(bench.DBTIER_DB)
    s3 = S3Server(work).start()
    results: Dict = {"toolkit": source["toolkit"], "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "reference_file": a.reference, "engines": {}}
    try:
        for engine in engines:
            for size in sizes:
                results["engines"].setdefault(engine, {})[bench.size_label(size)] = \
                    measure_size(engine, size, work, tool, s3, a.runs, a.max_quiet_wait)
    finally:
        s3.stop()
        shutil.rmtree(work, ignore_errors=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "physical.json").write_text(json.dumps(results, indent=2) + "\n")
    lines, ok = report(results, reference_times(Path(a.reference)))
    (out / "physical.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
