#!/usr/bin/env python3
"""dbtier bench: dbtier's backup/restore against an ADT-style pipeline on the same generated database.

  npm run bench [-- --size 1G --engine mariadb|postgres|both --runs 3 --out out/bench]

--size is the larger of the two sizes measured; the smaller one is a quarter of it, so the report
shows whether peak memory stays flat when the database grows 4x. Every restore is verified with
per-table checksums against the source before its time counts. Writes report.md and report.json.
"""
from __future__ import annotations

import argparse
import json
import os
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
from lib import gen  # noqa: E402
from lib.measure import Measurement, run_measured, wait_quiet  # noqa: E402
from lib.report import write_reports  # noqa: E402
from lib.servers import ROOT, DbServer, S3Server, write_secret  # noqa: E402

PIPELINES = ROOT / "scripts/bench/pipelines"
DBTIER_DB = ROOT / "scripts/host/dbtier-db"  # replaced by the committed snapshot at start (see snapshot_toolkit)


def snapshot_toolkit(work: Path) -> Dict[str, str]:
    """Run the toolkit as committed (git HEAD), not the shared working tree: others edit it while a
    long bench runs, and bash reads a script as it goes."""
    global DBTIER_DB
    dest = work / "toolkit"
    dest.mkdir()
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%H", "--", "scripts/host"],
                                check=True, capture_output=True, text=True).stdout.strip()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD", "scripts/host"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        source = f"git HEAD, last change to scripts/host in {commit}"
    except (OSError, subprocess.CalledProcessError):
        shutil.copytree(ROOT / "scripts/host", dest / "scripts/host")
        source = "working tree copy (git unavailable)"
    DBTIER_DB = dest / "scripts/host/dbtier-db"
    return {"toolkit": source}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Context:
    """Everything a pipeline needs: servers, credential files, env."""

    def __init__(self, work: Path, server: DbServer, s3: S3Server):
        self.work, self.server, self.s3 = work, server, s3
        sec = work / "secrets"
        sec.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.secrets = sec
        write_secret(sec / "db-admin-password", server.admin_password)
        write_secret(sec / "db-app-password", server.app_password)
        write_secret(sec / "datastore-access-key-id", s3.access_key)
        write_secret(sec / "datastore-secret-access-key", s3.secret_key)
        # TLS on every connection of both pipelines (ADT's mariadb-dump runs with --ssl too)
        write_secret(sec / "my.cnf", f"[client]\npassword={server.admin_password}\nssl\n")
        write_secret(sec / "pgpass", f"127.0.0.1:{server.port}:*:{server.admin_user}:{server.admin_password}\n")
        ident = sec / "age-identity"
        if not ident.exists():
            subprocess.run(["age-keygen", "-o", str(ident)], check=True, capture_output=True)
            os.chmod(ident, 0o600)
        self.age_identity = ident
        self.age_recipient = subprocess.run(["age-keygen", "-y", str(ident)], check=True, capture_output=True,
                                            text=True).stdout.strip()
        self.scratch = work / "scratch"
        self.max_quiet_wait = 120.0
        # A host as docs/host-contract.md describes it, for the real dbtier-db.
        self.host_secrets = work / "host-secrets"
        self.host_secrets.mkdir(mode=0o700, exist_ok=True)
        for name, value in {"db-admin-password": server.admin_password, "db-app-password": server.app_password,
                            "datastore-access-key-id": s3.access_key,
                            "datastore-secret-access-key": s3.secret_key}.items():
            write_secret(self.host_secrets / name, value)
        # The stack's backup signing key (Pulumi generates one per stack): dbtier signs what it backs up.
        signing_key = self.host_secrets / "backup-signing-key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(signing_key)], check=True)
        self.signing_public_key = " ".join(Path(f"{signing_key}.pub").read_text().split()[:2])
        Path(f"{signing_key}.pub").unlink()
        self.host_state = work / "host-state"
        self.host_state.mkdir(exist_ok=True)
        self.host_env = work / "dbtier.env"

    def write_host_env(self, app_name: str) -> None:
        s = self.server
        env = {
            "DB_ROLE": "proxy", "DB_ENGINE": s.engine, "DB_ENGINE_VERSION": "10.11" if s.engine == "mariadb" else "15",
            "DB_PACKAGE_SOURCE": "distro", "DB_HOST": "127.0.0.1", "DB_PORT": str(s.port), "DB_NAME": s.dbname,
            "DB_USER": s.app_user, "DB_ADMIN_USER": s.admin_user, "DB_TLS_MODE": "verify-ca",
            "DB_CA_FILE": str(s.tls["ca"]), "DB_WEBSERVER_SOURCES": "127.0.0.1/32", "APP_DB_SOURCE": "virgin",
            "APP_NAME": app_name, "BACKUP_PERIODS": "hourly daily weekly monthly", "BACKUP_RETAIN_DAILY": "7",
            "BACKUP_RECIPIENT": self.age_recipient, "BACKUP_SIGNING_PUBLIC_KEY": self.signing_public_key,
            "DATASTORE_ENDPOINT": self.s3.endpoint,
            "DATASTORE_BUCKET": self.s3.bucket, "DATASTORE_REGION": "us-east-1", "DBTIER_STATE_DIR": str(self.host_state),
        }
        self.host_env.write_text("# dbtier bench host\n" + "".join(f"{k}={v}\n" for k, v in env.items()))

    def env(self, prefix: str, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        e = {k: v for k, v in os.environ.items() if k not in ("AWS_CA_BUNDLE",)}
        pg_bin = "/usr/lib/postgresql/15/bin"
        e["PATH"] = f"{pg_bin}:{e.get('PATH', '/usr/bin:/bin')}"
        s = self.server
        e.update({
            "BENCH_ENGINE": s.engine, "DB_HOST": "127.0.0.1", "DB_PORT": str(s.port), "DB_NAME": s.dbname,
            "DB_ADMIN_USER": s.admin_user, "DB_APP_USER": s.app_user,
            "BENCH_MY_CNF": str(self.secrets / "my.cnf"), "PGPASSFILE": str(self.secrets / "pgpass"),
            "BENCH_PASSWORD_FILE": str(self.secrets / "db-admin-password"),
            "BENCH_WORK": str(self.scratch), "BENCH_BUCKET": self.s3.bucket, "BENCH_PREFIX": prefix,
            "RCLONE_CONFIG_BENCH_TYPE": "s3", "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
            "RCLONE_CONFIG_BENCH_ENDPOINT": self.s3.endpoint,
            "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": self.s3.access_key,
            "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": self.s3.secret_key,
            "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true",
            "S3_ENDPOINT": self.s3.endpoint, "S3_ACCESS_KEY_FILE": str(self.secrets / "datastore-access-key-id"),
            "S3_SECRET_KEY_FILE": str(self.secrets / "datastore-secret-access-key"),
            "AGE_RECIPIENT": self.age_recipient, "AGE_IDENTITY_FILE": str(self.age_identity),
            "PGSSLMODE": "require", "DBTIER_ENV": str(self.host_env), "DBTIER_SECRETS_DIR": str(self.host_secrets),
            "DBTIER_AGE_IDENTITY_FILE": str(self.age_identity), "LANG": "C.UTF-8",
        })
        e.update(extra or {})
        return e

    def measure(self, script: str, prefix: str, extra: Optional[Dict[str, str]] = None,
                argv: Optional[List[str]] = None) -> Measurement:
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir()
        cmd = argv or ["bash", str(PIPELINES / script)]
        self.server.settle()
        subprocess.run(["sync"], check=False)
        waited = wait_quiet(self.max_quiet_wait) if self.max_quiet_wait > 0 else 0.0
        m = run_measured(cmd, env=self.env(prefix, extra), cwd=str(self.scratch),
                         servers={"db": self.server.cpu_seconds, "s3": lambda: _cpu(self.s3.pid)})
        m.waited_for_quiet_s = waited
        shutil.rmtree(self.scratch, ignore_errors=True)
        return m


def _cpu(pid: int) -> float:
    from lib.servers import tree_cpu_seconds
    return tree_cpu_seconds(pid)


# --- pipelines --------------------------------------------------------------------------------------

class Pipeline:
    name = ""
    label = ""

    def backup(self, ctx: Context, prefix: str) -> Measurement:
        raise NotImplementedError

    def restore(self, ctx: Context, prefix: str) -> Measurement:
        raise NotImplementedError


class Reference(Pipeline):
    name = "reference"
    label = "ADT-style: dump to file, tar+gzip, rclone copy; download, untar, one client"

    def backup(self, ctx, prefix):
        return ctx.measure("reference-backup.sh", prefix)

    def restore(self, ctx, prefix):
        return ctx.measure("reference-restore.sh", prefix)


class Stream(Pipeline):
    """A candidate streaming pipeline (scripts/bench/pipelines/stream-*.sh) with knobs."""

    def __init__(self, name: str, label: str, backup_env: Dict[str, str], restore_env: Dict[str, str]):
        self.name, self.label = name, label
        self.backup_env, self.restore_env = backup_env, restore_env

    def backup(self, ctx, prefix):
        return ctx.measure("stream-backup.sh", prefix, self.backup_env)

    def restore(self, ctx, prefix):
        return ctx.measure("stream-restore.sh", prefix, self.restore_env)


class DbtierDb(Pipeline):
    """The real on-host tool: `dbtier-db backup daily` and `dbtier-db restore latest --yes`."""

    name = "dbtier"
    label = ("scripts/host/dbtier-db as shipped: backup daily (exact dump with the source's digests | nice zstd -3 "
             "--single-thread wlog 19 mml 6 | age | s3stream put, part-ETag upload check, signed manifest); restore "
             "latest --yes --unverified into an empty database (download checked part by part against the signed "
             "manifest | age -d | zstd -d | parallel-load: 2 driver connections, into a side database; its digests "
             "compared with the source's, MariaDB's large tables in key ranges over 8 connections, PostgreSQL over 2; "
             "swapped in)")

    def backup(self, ctx, prefix):
        ctx.write_host_env(prefix)
        return ctx.measure("", prefix, argv=["bash", str(DBTIER_DB), "backup", "daily"])

    def restore(self, ctx, prefix):
        ctx.write_host_env(prefix)
        ctx.server.recreate_db()  # a new host: empty database, so no safety backup is taken first
        # --unverified: the backup just taken has no test restore yet; the restore itself still checks the
        # signature, every part and the loaded copy against the source's digests (what is measured).
        return ctx.measure("", prefix, argv=["bash", str(DBTIER_DB), "restore", "latest", "--yes", "--unverified"])


def experiments(engine: str) -> List[Stream]:
    ex = [
        # Session 1's proposal, before the toolkit took it over and went further (see WHY.md).
        Stream("zstd5-wlog18-cli-loader", "dump | zstd -5 -T0 --zstd=wlog=18,slog=4 | age | s3stream; restore through "
               "parallel-load with mariadb/psql client processes (2)",
               {"ZSTD_LEVEL": "5", "ZSTD_EXTRA": "--zstd=wlog=18,slog=4", "UPLOADER": "s3stream", "HEX_BLOB": "no"},
               {"DOWNLOADER": "s3stream", "LOADER": "parallel", "LOAD_JOBS": "2", "LOAD_CLIENT": "cli"}),
        Stream("zstd3-wlog19-mml6-driver-loader", "dump | zstd -3 -T0 --zstd=wlog=19,mml=6 | age | s3stream; restore "
               "through parallel-load with in-process driver connections (2)",
               {"ZSTD_LEVEL": "3", "ZSTD_EXTRA": "--zstd=wlog=19,mml=6", "UPLOADER": "s3stream", "HEX_BLOB": "no"},
               {"DOWNLOADER": "s3stream", "LOADER": "parallel", "LOAD_JOBS": "2", "LOAD_CLIENT": "driver"}),
        Stream("zstd1-rclone-default", "zstd -1 -T0, rclone rcat (default flags), single-client load",
               {"ZSTD_LEVEL": "1", "UPLOADER": "rclone"}, {"DOWNLOADER": "rclone", "LOADER": "single"}),
        Stream("zstd3-rclone-default", "zstd -3 -T0, rclone rcat (default flags), single-client load",
               {"ZSTD_LEVEL": "3", "UPLOADER": "rclone"}, {"DOWNLOADER": "rclone", "LOADER": "single"}),
        Stream("zstd3-rclone-tuned", "zstd -3 -T0, rclone rcat --s3-chunk-size 5M --s3-upload-concurrency 1, parallel load",
               {"ZSTD_LEVEL": "3", "UPLOADER": "rclone",
                "RCLONE_FLAGS": "--s3-chunk-size 5M --s3-upload-concurrency 1 --buffer-size 0"},
               {"DOWNLOADER": "rclone", "LOADER": "parallel", "RCLONE_FLAGS": "--buffer-size 0"}),
        Stream("zstd3-wlog20-s3stream", "zstd -3 -T0 --zstd=wlog=20, s3stream, parallel load",
               {"ZSTD_LEVEL": "3", "ZSTD_EXTRA": "--zstd=wlog=20", "UPLOADER": "s3stream"},
               {"DOWNLOADER": "s3stream", "LOADER": "parallel"}),
        Stream("zstd6-default-window", "zstd -6 -T0 (default window), s3stream, parallel load",
               {"ZSTD_LEVEL": "6", "UPLOADER": "s3stream"}, {"DOWNLOADER": "s3stream", "LOADER": "parallel"}),
        Stream("zstd7-wlog20", "zstd -7 -T0 --zstd=wlog=20, s3stream, parallel load",
               {"ZSTD_LEVEL": "7", "ZSTD_EXTRA": "--zstd=wlog=20", "UPLOADER": "s3stream"},
               {"DOWNLOADER": "s3stream", "LOADER": "parallel"}),
        Stream("zstd3-s3stream-parallel3", "zstd -3 -T0, s3stream, parallel load with 3 connections",
               {"ZSTD_LEVEL": "3", "UPLOADER": "s3stream"},
               {"DOWNLOADER": "s3stream", "LOADER": "parallel", "LOAD_JOBS": "3"}),
    ]
    if engine == "mariadb":
        ex.append(Stream("mydumper", "mydumper -t 2 to a temp dir | tar | zstd -3 | age | s3stream; myloader -t 2",
                         {"DUMP_MODE": "mydumper", "UPLOADER": "s3stream"},
                         {"DUMP_MODE": "mydumper", "DOWNLOADER": "s3stream"}))
    else:
        ex.append(Stream("pg-dir-j2", "pg_dump -Fd -j2 -Z0 to a temp dir | tar | zstd -3 | age | s3stream; pg_restore -j2",
                         {"DUMP_MODE": "pgdir", "UPLOADER": "s3stream"},
                         {"DUMP_MODE": "pgdir", "DOWNLOADER": "s3stream"}))
    return ex


# --- one measurement cycle -----------------------------------------------------------------------

def cycle(ctx: Context, p: Pipeline, run: int, size_label: str, source_sums: Dict[str, str]) -> Dict:
    prefix = f"{ctx.server.engine}-{size_label}-{p.name}-{run}"
    ctx.s3.clear(prefix)
    log(f"{ctx.server.engine} {size_label} {p.name} run {run}: backup")
    b = p.backup(ctx, prefix)
    stored = ctx.s3.stored_bytes(prefix)
    res: Dict = {"run": run, "backup": asdict(b), "stored_bytes": stored}
    if b.returncode != 0:
        res["error"] = f"backup exited {b.returncode}: {b.stderr_tail[-1500:]}"
        log(res["error"])
        return res
    log(f"  backup {b.wall_s:.1f}s cpu {b.cpu_s:.1f}s peak {b.peak_tree_rss / 2**20:.1f} MiB stored {stored / 2**20:.1f} MiB "
        f"(foreign cpu {b.foreign_cpu_s:.1f}s, waited {b.waited_for_quiet_s:.0f}s); restore")
    r = p.restore(ctx, prefix)
    res["restore"] = asdict(r)
    if r.returncode != 0:
        res["error"] = f"restore exited {r.returncode}: {r.stderr_tail[-1500:]}"
        log(res["error"])
        return res
    try:
        sums = gen.checksums(ctx.server)
    except RuntimeError as e:
        sums = {"_error": str(e)[:300]}
    bad = sorted(k for k in source_sums if sums.get(k) != source_sums[k])
    res["verified"] = not bad
    if bad:
        res["error"] = "restore does not reproduce the data: " + ", ".join(
            f"{k} (want {source_sums[k]}, got {sums.get(k)})" for k in bad)
        log(res["error"])
    else:
        log(f"  restore {r.wall_s:.1f}s cpu {r.cpu_s:.1f}s peak {r.peak_tree_rss / 2**20:.1f} MiB "
            f"(foreign cpu {r.foreign_cpu_s:.1f}s, waited {r.waited_for_quiet_s:.0f}s); checksums match")
    ctx.s3.clear(prefix)
    return res


def size_label(n: int) -> str:
    for unit, mult in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= mult and n % mult == 0:
            return f"{n // mult}{unit}"
    return str(n)


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="npm run bench --", description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1G", help="larger database size (the smaller is a quarter), e.g. 1G, 64M")
    ap.add_argument("--engine", default="both", choices=["mariadb", "postgres", "both"])
    ap.add_argument("--runs", type=int, default=3, help="runs per pipeline and size; the median is reported")
    ap.add_argument("--out", default=str(ROOT / "out/bench"))
    ap.add_argument("--experiments", action="store_true", help="also run the candidate pipelines (one run each, larger size)")
    ap.add_argument("--only-experiments", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--max-quiet-wait", type=float, default=120.0,
                    help="seconds to wait before each phase for other processes to leave the machine idle (0: never)")
    ap.add_argument("--skip-dbtier-db", action="store_true", help="measure only the reference and the streaming design")
    args = ap.parse_args(argv)
    try:
        big = gen.parse_size(args.size)
    except ValueError:
        print(f"bench: --size '{args.size}': expected a size like 256M or 1G", file=sys.stderr)
        return 2
    if big < 4 << 20 or args.runs < 1:
        print("bench: --size must be at least 4M and --runs at least 1", file=sys.stderr)
        return 2
    sizes = [big // 4, big]
    engines = ["mariadb", "postgres"] if args.engine == "both" else [args.engine]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = ROOT / "out/bench-cache"
    work = Path(tempfile.mkdtemp(prefix="dbtier-bench-"))
    os.chmod(work, 0o711)
    s3: Optional[S3Server] = None
    started = time.time()
    results: Dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": args.runs,
                     "sizes": sizes, "machine": machine_info(), "engines": {}}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup below on kill
    try:
        results["machine"].update(snapshot_toolkit(work))
        s3 = S3Server(work).start()
        for engine in engines:
            server = DbServer(engine, work / engine).start()
            try:
                ctx = Context(work / f"{engine}-ctx", server, s3)
                ctx.max_quiet_wait = args.max_quiet_wait
                pipelines: List[Pipeline] = [Reference()]
                if DBTIER_DB.exists() and not args.skip_dbtier_db:
                    pipelines.append(DbtierDb())
                eng: Dict = {"server_version": server.root_sql("SELECT version();").strip(),
                             "pipelines": {p.name: p.label for p in pipelines}, "sizes": {}}
                results["engines"][engine] = eng
                for size in sizes:
                    label = size_label(size)
                    log(f"{engine} {label}: generating and loading data")
                    manifest = gen.generate(size, cache / f"data-{label}-seed{args.seed}", args.seed)
                    gen.load(server, cache / f"data-{label}-seed{args.seed}")
                    sums = gen.checksums(server)
                    db_bytes = db_size(server)
                    entry: Dict = {"data_bytes": manifest["data_bytes"], "db_bytes_on_disk": db_bytes,
                                   "tables": manifest["tables"], "checksums": sums, "pipelines": {}}
                    eng["sizes"][label] = entry
                    if not args.only_experiments:
                        for run in range(1, args.runs + 1):
                            for p in pipelines:
                                res = cycle(ctx, p, run, label, sums)
                                entry["pipelines"].setdefault(p.name, []).append(res)
                                if not res.get("verified"):  # start the next cycle from the source data again
                                    gen.load(server, cache / f"data-{label}-seed{args.seed}")
                    if (args.experiments or args.only_experiments) and size == big:
                        entry["experiments"] = {}
                        for p in experiments(engine):
                            res = cycle(ctx, p, 1, label, sums)
                            entry["experiments"][p.name] = {"label": p.label, "result": res}
                            if not res.get("verified"):
                                gen.load(server, cache / f"data-{label}-seed{args.seed}")
                    write_reports(results, out)
            finally:
                server.stop()
    finally:
        if s3:
            s3.stop()
        shutil.rmtree(work, ignore_errors=True)
    results["elapsed_s"] = time.time() - started
    summary = write_reports(results, out)
    log(f"wrote {out / 'report.md'} and {out / 'report.json'} in {results['elapsed_s'] / 60:.1f} min")
    print(summary)
    return 0 if all_verified(results) else 1


def all_verified(results: Dict) -> bool:
    for eng in results["engines"].values():
        for entry in eng["sizes"].values():
            for runs in entry["pipelines"].values():
                if any(not r.get("verified") for r in runs):
                    return False
    return True


def db_size(server: DbServer) -> int:
    if server.engine == "mariadb":
        out = server.root_sql("SELECT SUM(data_length + index_length) FROM information_schema.TABLES "
                              f"WHERE table_schema = '{server.dbname}';")
    else:
        out = server.root_sql(f"SELECT pg_database_size('{server.dbname}');")
    return int(out.strip() or 0)


def machine_info() -> Dict:
    info = {"cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
        with open("/proc/meminfo") as f:
            info["mem_total_kib"] = int(f.readline().split()[1])
    except OSError:
        pass
    for tool, cmd in {"zstd": ["zstd", "--version"], "rclone": ["rclone", "--version"], "age": ["age", "--version"],
                      "gzip": ["gzip", "--version"]}.items():
        try:
            info[tool] = subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0].strip()
        except (OSError, IndexError):
            info[tool] = "missing"
    return info


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
