#!/usr/bin/env python3
"""S3 clients side by side: the toolkit's s3stream.py (as committed) against its boto3 twin (s3boto.py).

  npm run bench -- --s3-clients [--sizes 256M,1G] [--reps 3] [--out out/bench]

Against one local s3rver on loopback, for each size and repetition and each client in turn: `put` of a
stdin stream as a multipart object (5 MiB parts, one in flight: the toolkit's settings), `get` back to
stdout, `get --expect` (each part checked against the put's report before it is passed on) when the
s3stream under test has it, and one `head`. The stream comes from, and goes to, threads of this process
(not measured); the bytes that come back are hashed here and must equal what was sent.
Per client process: wall time, CPU (user+sys, from wait4), peak RSS and peak PSS
(/proc/PID/status VmHWM and smaps_rollup, read every 10 ms); the s3rver's CPU; the load average before each run and the
CPU others used meanwhile. Medians over the repetitions go to s3clients.md / s3clients.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lib.gen import parse_size  # noqa: E402
from lib.measure import machine_busy_s, wait_quiet  # noqa: E402
from lib.servers import ROOT, S3Server, tree_cpu_seconds, write_secret  # noqa: E402

HOST_PYTHON = "/usr/bin/python3"  # what the toolkit runs on a host (common.sh), and where python3-boto3 lives
PART_SIZE = 5 << 20  # the toolkit's default (scripts/host/lib/backup.sh)
BLOCK = random.Random(11).randbytes((1 << 20) + 4099)  # a block length coprime to the part size: parts differ


def log(msg: str) -> None:
    print(f"[s3clients {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def stream_bytes(size: int) -> Callable[[], bytes]:
    """The deterministic test stream, chunk by chunk."""
    view = memoryview(BLOCK)
    state = {"left": size}

    def next_chunk():
        n = min(state["left"], len(view))
        state["left"] -= n
        return view[:n]
    return next_chunk


def stream_sha256(size: int) -> str:
    h = hashlib.sha256()
    chunk = stream_bytes(size)
    while True:
        c = chunk()
        if not c:
            return h.hexdigest()
        h.update(c)


def feed(fd: int, size: int) -> None:
    chunk = stream_bytes(size)
    try:
        while True:
            c = chunk()
            if not c:
                break
            while c:
                c = c[os.write(fd, c):]
    except BrokenPipeError:
        pass  # the client died; its exit status says why
    finally:
        os.close(fd)


def drain(fd: int, result: Dict[str, object]) -> None:
    h = hashlib.sha256()
    n = 0
    with os.fdopen(fd, "rb", buffering=0) as f:
        buf = bytearray(1 << 20)
        while True:
            k = f.readinto(buf)
            if not k:
                break
            h.update(memoryview(buf)[:k])
            n += k
    result.update(sha256=h.hexdigest(), size=n)


class MemSampler(threading.Thread):
    """Peak RSS (the kernel's VmHWM of the process's own image) and peak PSS (smaps_rollup) of one process,
    read every `interval` seconds. wait4's maxrss is no substitute: it also keeps the RSS of the forked
    launcher before exec (fs/exec.c keeps the old mm's high-water mark)."""

    def __init__(self, pid: int, interval: float = 0.01):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.stop_flag = threading.Event()
        self.peak_pss = self.peak_rss = self.samples = 0

    @staticmethod
    def _kib(path: str, field: str) -> int:
        with open(path) as f:
            for ln in f:
                if ln.startswith(field):
                    return int(ln.split()[1]) * 1024
        return 0

    def run(self) -> None:
        while not self.stop_flag.is_set():
            try:
                self.peak_pss = max(self.peak_pss, self._kib(f"/proc/{self.pid}/smaps_rollup", "Pss:"))
                self.peak_rss = max(self.peak_rss, self._kib(f"/proc/{self.pid}/status", "VmHWM:"))
                self.samples += 1
            except (OSError, ValueError):
                pass  # gone
            self.stop_flag.wait(self.interval)


def run_client(argv: List[str], env: Dict[str, str], s3: S3Server, stdin_size: int = 0,
               want_stdout: bool = False) -> Dict[str, object]:
    """One client process, measured; stdin fed with the test stream or stdout hashed, by threads here."""
    load = os.getloadavg()[0]
    s3_cpu0, busy0 = tree_cpu_seconds(s3.pid), machine_busy_s()
    self0 = os.times()
    threads: List[threading.Thread] = []
    got: Dict[str, object] = {}
    stdin, stdout = subprocess.DEVNULL, subprocess.DEVNULL
    if stdin_size:
        r, w = os.pipe()
        stdin = r
        threads.append(threading.Thread(target=feed, args=(w, stdin_size), daemon=True))
    if want_stdout:
        r2, w2 = os.pipe()
        stdout = w2
        threads.append(threading.Thread(target=drain, args=(r2, got), daemon=True))
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, start_new_session=True)
    if stdin_size:
        os.close(r)
    if want_stdout:
        os.close(w2)
    sampler = MemSampler(proc.pid)
    sampler.start()
    for t in threads:
        t.start()
    err = b""

    def read_err() -> None:
        nonlocal err
        assert proc.stderr is not None
        err = proc.stderr.read()
    err_reader = threading.Thread(target=read_err, daemon=True)
    err_reader.start()
    _, status, ru = os.wait4(proc.pid, 0)  # rusage of exactly this process: CPU and kernel-tracked peak RSS
    wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    sampler.stop_flag.set()
    for t in [sampler, err_reader, *threads]:
        t.join(60)
    self1 = os.times()
    cpu = ru.ru_utime + ru.ru_stime
    s3_cpu = tree_cpu_seconds(s3.pid) - s3_cpu0
    mine = (self1.user - self0.user) + (self1.system - self0.system)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "user_s": round(ru.ru_utime, 3),
            "sys_s": round(ru.ru_stime, 3), "peak_rss": sampler.peak_rss, "peak_pss": sampler.peak_pss,
            "wait4_maxrss": ru.ru_maxrss * 1024, "mem_samples": sampler.samples, "s3rver_cpu_s": round(s3_cpu, 3),
            "bench_cpu_s": round(mine, 3), "foreign_cpu_s": round(max(0.0, machine_busy_s() - busy0 - cpu - s3_cpu - mine), 3),
            "load1": load, "returncode": proc.returncode, "stderr": err.decode(errors="replace")[-1500:],
            **({"stdout": got} if want_stdout else {})}


def snapshot_s3stream(work: Path, source: str) -> Dict[str, str]:
    """s3stream.py as committed (git HEAD; others edit the working tree while this runs), or the working
    tree's copy, identified by its sha256."""
    dest = work / "s3stream.py"
    if source == "worktree":
        shutil.copy(ROOT / "scripts/host/lib/s3stream.py", dest)
        return {"path": str(dest), "source": f"working tree copy, sha256 {hashlib.sha256(dest.read_bytes()).hexdigest()[:12]}"}
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %cI", "--",
                                 "scripts/host/lib/s3stream.py"], check=True, capture_output=True, text=True).stdout.strip()
        dest.write_bytes(subprocess.run(["git", "-C", str(ROOT), "show", "HEAD:scripts/host/lib/s3stream.py"],
                                        check=True, capture_output=True).stdout)
        return {"path": str(dest), "source": f"git HEAD, last change {commit}"}
    except (OSError, subprocess.CalledProcessError):
        shutil.copy(ROOT / "scripts/host/lib/s3stream.py", dest)
        return {"path": str(dest), "source": "working tree (git unavailable)"}


def versions() -> Dict[str, str]:
    out = subprocess.run([HOST_PYTHON, "-c", "import sys, boto3, botocore, urllib3; print(sys.version.split()[0], "
                          "boto3.__version__, botocore.__version__, urllib3.__version__)"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("s3clients: boto3 is missing for /usr/bin/python3: apt-get install python3-boto3 "
                         "(listed in .ci/apt-packages.txt)")
    py, boto, core, url = out.stdout.split()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    s3rver = json.loads((ROOT / "node_modules/s3rver/package.json").read_text())["version"]
    return {"python": py, "boto3": boto, "botocore": core, "urllib3": url, "node": node, "s3rver": s3rver}


def median(runs: List[Dict], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def write_report(doc: Dict, out: Path) -> str:
    (out / "s3clients.json").write_text(json.dumps(doc, indent=1) + "\n")
    lines = [f"S3 clients, {doc['started']}: {doc['reps']} repetitions, medians; s3stream {doc['s3stream']}; "
             + ", ".join(f"{k} {v}" for k, v in doc["versions"].items()) + f"; {doc['cores']} cores.", "",
             "| size | op | client | wall s | CPU s (user+sys) | MiB/s | peak RSS MiB | peak PSS MiB | s3rver CPU s "
             "| load before | others' CPU s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for size, ops in doc["results"].items():
        for op, clients in ops.items():
            for client, runs in clients.items():
                ok = [r for r in runs if r["returncode"] == 0]
                if not runs:
                    continue  # an op this client does not have
                if not ok:
                    lines.append(f"| {size} | {op} | {client} | failed: {runs[-1]['stderr'][-200:]!r} |")
                    continue
                nbytes = doc["sizes"][size]
                wall = median(ok, "wall_s")
                rate = f"{nbytes / wall / 2**20:.0f}" if op != "head" else "-"
                lines.append(
                    f"| {size} | {op} | {client} | {wall:.2f} | {median(ok, 'cpu_s'):.2f} "
                    f"({median(ok, 'user_s'):.2f}+{median(ok, 'sys_s'):.2f}) | {rate} | {median(ok, 'peak_rss') / 2**20:.1f} "
                    f"| {median(ok, 'peak_pss') / 2**20:.1f} | {median(ok, 's3rver_cpu_s'):.2f} "
                    f"| {min(r['load1'] for r in ok):.2f}-{max(r['load1'] for r in ok):.2f} "
                    f"| {median(ok, 'foreign_cpu_s'):.1f} |" + ("" if len(ok) == len(runs) else f" ({len(runs) - len(ok)} failed)"))
    text = "\n".join(lines) + "\n"
    (out / "s3clients.md").write_text(text)
    return text


CLIENTS = {
    # name: (script, extra environment, what it sends with each part)
    "s3stream": ("s3stream", {}, "signed payload SHA-256"),
    "boto3": (str(ROOT / "scripts/bench/s3boto.py"), {}, "signed payload SHA-256 (botocore computes it)"),
    "boto3-checksum": (str(ROOT / "scripts/bench/s3boto.py"), {"S3_CHECKSUM": "sha256"},
                       "x-amz-checksum-sha256 (computed once), unsigned payload"),
    "boto3-transfer": (str(ROOT / "scripts/bench/s3boto.py"), {"S3_BOTO_MODE": "transfer"},
                       "boto3's managed transfer (upload_fileobj/download_fileobj): signed payload SHA-256 and "
                       "Content-MD5 (botocore's), no part ETag check, no --expect"),
}
PART_CHECKS = {"s3stream", "boto3", "boto3-checksum"}  # clients whose put reports verified part ETags


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="npm run bench -- --s3-clients", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="256M,1G", help="stream sizes, comma-separated (each at least 5M)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per client, op and size (median reported)")
    ap.add_argument("--clients", default=",".join(CLIENTS), help=f"comma-separated, from: {', '.join(CLIENTS)}")
    ap.add_argument("--s3stream-from", default="head", choices=["head", "worktree"],
                    help="which scripts/host/lib/s3stream.py: as committed (default) or the working tree's")
    ap.add_argument("--out", default=str(ROOT / "out/bench"))
    ap.add_argument("--max-quiet-wait", type=float, default=30.0,
                    help="seconds to wait before each run for the machine to go idle (0: never)")
    args = ap.parse_args(argv)
    try:
        sizes = {s.strip().upper(): parse_size(s) for s in args.sizes.split(",")}
    except ValueError:
        print(f"s3clients: --sizes '{args.sizes}': expected sizes like 256M,1G", file=sys.stderr)
        return 2
    clients = [c.strip() for c in args.clients.split(",")]
    bad = [c for c in clients if c not in CLIENTS]
    problems = ([f"--clients '{','.join(bad)}': allowed {', '.join(CLIENTS)}"] if bad else []) + (
        [f"--reps {args.reps}: at least 1"] if args.reps < 1 else []) + (
        [f"--sizes '{args.sizes}': each at least 5M (one part)"] if any(n < PART_SIZE for n in sizes.values()) else [])
    if problems:
        print("s3clients: " + "; ".join(problems), file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="dbtier-s3clients-"))
    s3: Optional[S3Server] = None
    doc: Dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "reps": args.reps,
                 "cores": os.cpu_count(), "versions": versions(), "part_size": PART_SIZE,
                 "clients": {c: CLIENTS[c][2] for c in clients}, "sizes": {}, "results": {}}
    try:
        snap = snapshot_s3stream(work, args.s3stream_from)
        doc["s3stream"] = snap["source"]
        has_expect = "--expect" in Path(snap["path"]).read_text()
        s3 = S3Server(work).start()
        sec = work / "secrets"
        env = {k: v for k, v in os.environ.items() if k not in ("AWS_CA_BUNDLE",)}
        env.update({"S3_ENDPOINT": s3.endpoint, "S3_REGION": "us-east-1", "S3_PART_SIZE": str(PART_SIZE),
                    "S3_CONCURRENCY": "1", "S3STREAM_DIR": str(work),  # the twin shares the measured copy's code
                    "S3_ACCESS_KEY_FILE": str(write_secret(sec / "access-key", s3.access_key)),
                    "S3_SECRET_KEY_FILE": str(write_secret(sec / "secret-key", s3.secret_key))})
        ops = ["put", "get"] + (["get --expect"] if has_expect else []) + ["head"]
        for label, nbytes in sizes.items():
            doc["sizes"][label] = nbytes
            want = stream_sha256(nbytes)
            res = doc["results"].setdefault(label, {op: {c: [] for c in clients} for op in ops})
            for rep in range(1, args.reps + 1):
                for client in clients:  # interleaved, so a busy spell on the machine hits all clients alike
                    script, extra, _ = CLIENTS[client]
                    base = [HOST_PYTHON, snap["path"] if script == "s3stream" else script]
                    cenv = {**env, **extra}
                    key = f"{label}/{client}/{rep}"
                    report = work / "put-report.json"
                    for op in ops:
                        if op == "get --expect" and client not in PART_CHECKS:
                            continue
                        if args.max_quiet_wait > 0:
                            wait_quiet(args.max_quiet_wait)
                        cmd = base + [op.split()[0], s3.bucket, key]
                        if op == "put":
                            cmd += ["--report", str(report)]
                        if op == "get --expect":
                            cmd += ["--expect", str(report)]
                        m = run_client(cmd, cenv, s3, stdin_size=nbytes if op == "put" else 0,
                                       want_stdout=op.startswith("get"))
                        if m["returncode"] == 0 and op == "put":
                            rep_doc = json.loads(report.read_text())
                            if rep_doc["sha256"] != want or rep_doc["size"] != nbytes or (
                                    client in PART_CHECKS and not rep_doc.get("partsVerified")):
                                m["returncode"], m["stderr"] = -1, f"put report wrong: {rep_doc}"
                        if m["returncode"] == 0 and op.startswith("get"):
                            if m["stdout"] != {"sha256": want, "size": nbytes}:  # type: ignore[comparison-overlap]
                                m["returncode"], m["stderr"] = -1, f"got back {m['stdout']}, sent {want} {nbytes}"
                        res[op][client].append(m)
                        log(f"{label} rep {rep} {client} {op}: {m['wall_s']:.2f}s cpu {m['cpu_s']:.2f}s "
                            f"rss {m['peak_rss'] / 2**20:.1f} MiB pss {m['peak_pss'] / 2**20:.1f} MiB "
                            f"load {m['load1']:.2f} rc {m['returncode']}" + (f": {m['stderr'][-300:]}" if m["returncode"] else ""))
                        if m["returncode"] != 0 and op == "put":
                            break  # nothing to get
                    s3.clear(label)
            write_report(doc, out)
    finally:
        if s3:
            s3.stop()
        shutil.rmtree(work, ignore_errors=True)
    text = write_report(doc, out)
    print(text)
    failed = any(r["returncode"] != 0 for ops_ in doc["results"].values() for cl in ops_.values()
                 for runs in cl.values() for r in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
