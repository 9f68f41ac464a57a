#!/usr/bin/env python3
"""dbtier bench, the physical path (issue 13): `dbtier-db basebackup` and `dbtier-db restore --to-latest` on a
PostgreSQL 15 that archives its WAL through the toolkit, on the bench's generated database at two sizes.

  npm run bench -- --physical [--size 1G --runs 1 --out out/bench]

--size is the larger size, the smaller a quarter of it (time per GB flat?). Each cycle: base backup (measured),
then the server is killed (-9) and `restore --to-latest --yes` runs (measured: download to the restored server
answering, archive replayed, promoted), then every table's checksum is compared with the source's before the
time counts. Writes physical.md and physical.json beside the logical report.
"""
from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402
from lib import gen  # noqa: E402
from lib.measure import run_measured  # noqa: E402
from lib.servers import ROOT, S3Server, free_port, tree_cpu_seconds, write_secret  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")
ARCHIVE_TIMEOUT = "50"  # what init renders (scripts/host/lib/system.sh PG_ARCHIVE_TIMEOUT)


def log(msg: str) -> None:
    print(f"[bench physical {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class PgServer:
    """A PostgreSQL 15 configured as init configures a database VM (archive_command through the toolkit), its
    settings in postgresql.conf so a restored copy starts with them; gen.load/checksums talk to it."""

    engine = "postgres"
    dbname = "benchdb"
    app_user = "benchapp"

    def __init__(self, work: Path, port: int, archive_command: str) -> None:
        self.dir = work / "pg"
        self.data = self.dir / "data"
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

    @property
    def pid(self) -> int:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n")[0])
        except (OSError, ValueError):
            return -1

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.pid) if self.pid > 0 else 0.0

    def kill(self) -> None:
        pid = self.pid
        if pid > 0:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and subprocess.run(
                    ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_isready"), "-q", "-h", str(self.sock),
                     "-p", str(self.port)]).returncode == 0:
                time.sleep(0.1)
            time.sleep(1)

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


def host_files(work: Path, server_sock: Path, port: int, s3: S3Server, data: Path) -> Dict[str, str]:
    """The env file and secrets of a database VM, readable by the server's user (its archive_command reads them)."""
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
    env = {"DB_ROLE": "database", "DB_ENGINE": "postgres", "DB_ENGINE_VERSION": "15", "DB_SOCKET": str(server_sock),
           "DB_PORT": str(port), "DB_DATA_DIR": str(data), "DB_NAME": PgServer.dbname, "DB_USER": PgServer.app_user,
           "DB_ADMIN_USER": "dbtier_admin", "APP_NAME": "physical", "BACKUP_RECIPIENT": recipient,
           "BACKUP_SIGNING_PUBLIC_KEY": public, "DATASTORE_ENDPOINT": s3.endpoint, "DATASTORE_BUCKET": s3.bucket,
           "DATASTORE_REGION": "us-east-1", "DBTIER_STATE_DIR": str(host / "state")}
    (host / "dbtier.env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    (host / "state").mkdir()
    subprocess.run(["chown", "-R", "postgres:postgres", str(host)], check=True)
    return {"env": str(host / "dbtier.env"), "secrets": str(secrets), "identity": str(ident)}


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="npm run bench -- --physical", description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1G", help="larger database size (the smaller is a quarter), e.g. 1G, 64M")
    ap.add_argument("--runs", type=int, default=1, help="cycles per size; the median is reported")
    ap.add_argument("--out", default=str(ROOT / "out/bench"))
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench physical: run as root (the server runs as postgres)", file=sys.stderr)
        return 2
    big = gen.parse_size(a.size)
    sizes = [big // 4, big]
    work = Path(tempfile.mkdtemp(prefix="dbtier-bench-physical-"))
    for parent in [work, *work.parents]:
        os.chmod(parent, parent.stat().st_mode | 0o001)  # the server's user traverses to its data directory
    source = bench.snapshot_toolkit(work)
    tool = str(bench.DBTIER_DB)
    s3 = S3Server(work).start()
    results: Dict = {"toolkit": source["toolkit"], "sizes": {}}
    server: Optional[PgServer] = None
    try:
        for size in sizes:
            label = bench.size_label(size)
            sub = work / label
            sub.mkdir()
            os.chmod(sub, 0o711)
            s3.clear("physical")
            port = free_port()
            files = host_files(sub, sub / "pg" / "sock", port, s3, sub / "pg" / "data")
            archive = (f'DBTIER_ENV={files["env"]} DBTIER_SECRETS_DIR={files["secrets"]} bash {tool} '
                       'archive-wal "%p" "%f"')
            server = PgServer(sub, port, archive)
            gendir = sub / "gen"
            log(f"{label}: generating and loading")
            gen.generate(size, gendir)
            os.chmod(gendir, 0o755)
            for f in gendir.iterdir():
                os.chmod(f, 0o644)
            gen.load(server, gendir)
            source_sums = gen.checksums(server)
            server.archive_caught_up()
            db_bytes = int(server.root_sql(f"SELECT pg_database_size('{server.dbname}');").strip())
            env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "DBTIER_ENV": files["env"],
                   "DBTIER_SECRETS_DIR": files["secrets"], "DBTIER_AGE_IDENTITY_FILE": files["identity"]}
            runs = []
            for run in range(1, a.runs + 1):
                srv = server
                servers = {"db": srv.cpu_seconds, "s3": lambda: tree_cpu_seconds(s3.pid)}
                b = run_measured(["bash", tool, "basebackup"], env=env, cwd=str(sub), servers=servers)
                res: Dict = {"run": run, "backup": asdict(b), "stored_bytes": s3.stored_bytes("physical/base")}
                if b.returncode != 0:
                    res["error"] = f"basebackup exited {b.returncode}: {b.stderr_tail[-1500:]}"
                    runs.append(res)
                    log(res["error"])
                    break
                server.archive_caught_up()
                server.kill()
                r = run_measured(["bash", tool, "restore", "--to-latest", "--yes"], env=env, cwd=str(sub),
                                 servers={"s3": lambda: tree_cpu_seconds(s3.pid)})
                res["restore"] = asdict(r)
                if r.returncode != 0:
                    res["error"] = f"restore exited {r.returncode}: {r.stderr_tail[-1500:]}"
                    runs.append(res)
                    log(res["error"])
                    break
                sums = gen.checksums(server)
                bad = sorted(k for k in source_sums if sums.get(k) != source_sums[k])
                res["verified"] = not bad
                if bad:
                    res["error"] = "restore does not reproduce the data: " + ", ".join(bad)
                log(f"{label} run {run}: basebackup {b.wall_s:.1f}s cpu {b.cpu_s:.1f}s peak {b.peak_tree_rss / 2**20:.0f} MiB, "
                    f"stored {res['stored_bytes'] / 2**20:.1f} MiB; restore {r.wall_s:.1f}s cpu {r.cpu_s:.1f}s peak "
                    f"{r.peak_tree_rss / 2**20:.0f} MiB; checksums {'match' if not bad else 'DIFFER'}")
                runs.append(res)
            results["sizes"][label] = {"bytes": size, "db_bytes": db_bytes, "runs": runs}
            server.stop()
            server = None
    finally:
        if server is not None:
            server.stop()
        s3.stop()
        shutil.rmtree(work, ignore_errors=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "physical.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# dbtier bench: the physical path (PostgreSQL 15)", "",
             f"Toolkit: {results['toolkit']}. basebackup = pg_basebackup -Ft -X none | zstd | age | S3, signed; "
             "restore = restore --to-latest after kill -9 (download to the server answering, archive replayed).", "",
             "| size | database | basebackup wall | cpu | peak | stored | restore wall | cpu | peak | restore s/GB | checked |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    ok = True
    for label, entry in results["sizes"].items():
        good = [r for r in entry["runs"] if r.get("verified")]
        ok = ok and len(good) == len(entry["runs"]) and bool(good)
        if not good:
            lines.append(f"| {label} | | failed: {entry['runs'][-1].get('error', '')[:200] if entry['runs'] else ''} |")
            continue

        def med(key: str, field: str) -> float:
            return statistics.median(r[key][field] for r in good)

        def cpu(key: str) -> float:
            return statistics.median(r[key]["cpu_user_s"] + r[key]["cpu_sys_s"] for r in good)

        rw = med("restore", "wall_s")
        lines.append(f"| {label} | {entry['db_bytes'] / 2**20:.0f} MiB | {med('backup', 'wall_s'):.1f} s | {cpu('backup'):.1f} s | "
                     f"{med('backup', 'peak_tree_rss') / 2**20:.0f} MiB | {statistics.median(r['stored_bytes'] for r in good) / 2**20:.0f} MiB | "
                     f"{rw:.1f} s | {cpu('restore'):.1f} s | {med('restore', 'peak_tree_rss') / 2**20:.0f} MiB | "
                     f"{rw / (entry['db_bytes'] / 2**30):.1f} | {len(good)}/{len(entry['runs'])} |")
    (out / "physical.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
