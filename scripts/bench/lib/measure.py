"""Run one pipeline as its own process session and measure it.

Peak memory: cgroup v2 memory.peak is not available here (the host has cgroup v1, whose
max_usage_in_bytes also counts the page cache of the dump files the reference writes), so a
sampler thread sums the resident set (statm RSS) of every live process in the pipeline's session
every few milliseconds and keeps the maximum. RSS counts shared library pages once per process,
so the sum slightly overstates the tree's real footprint: a conservative figure for a ceiling.
CPU: getrusage(RUSAGE_CHILDREN) delta, i.e. user+system seconds of every process of the tree.
"""
from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds all cores spent busy since boot (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / TICK


def wait_quiet(max_wait: float = 120.0, threshold_cores: float = 0.25) -> float:
    """The machine is shared: wait (bounded) until other work leaves it nearly idle, so a run is not
    timed against someone else's test suite. Returns the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < max_wait:
        b0 = machine_busy_s()
        time.sleep(1.0)
        if machine_busy_s() - b0 < threshold_cores:
            break
    return time.monotonic() - t0


@dataclass
class Measurement:
    wall_s: float
    cpu_user_s: float
    cpu_sys_s: float
    peak_tree_rss: int
    peak_breakdown: Dict[str, int]
    max_single_rss: int
    samples: int
    returncode: int
    server_cpu_s: Dict[str, float] = field(default_factory=dict)
    stderr_tail: str = ""
    foreign_cpu_s: float = 0.0  # CPU other processes on the machine used while this ran
    waited_for_quiet_s: float = 0.0

    @property
    def cpu_s(self) -> float:
        return self.cpu_user_s + self.cpu_sys_s


def _stat_after_comm(pid: int) -> Optional[List[bytes]]:
    """/proc/PID/stat's fields after the command name (field 3 on), or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw[raw.rindex(b")") + 2:].split()


def _session_of(pid: int) -> Optional[int]:
    rest = _stat_after_comm(pid)
    return int(rest[3]) if rest else None  # field 6: session id


def _ppid(pid: int) -> int:
    rest = _stat_after_comm(pid)
    return int(rest[1]) if rest else 0  # field 4


_LIBC = ctypes.CDLL(None, use_errno=True)
_SYS_KCMP = {"x86_64": 312, "aarch64": 272}.get(os.uname().machine)
_KCMP_VM = 1


def same_address_space(a: int, b: int) -> bool:
    """Whether two processes share one address space: a vfork()ed child before its exec (Python's subprocess
    and posix_spawn start children so) reports its parent's whole RSS, which is one set of pages, not two."""
    return _SYS_KCMP is not None and _LIBC.syscall(_SYS_KCMP, a, b, _KCMP_VM, 0, 0) == 0


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


class TreeSampler(threading.Thread):
    def __init__(self, sid: int, interval: float = 0.01):
        super().__init__(daemon=True)
        self.sid = sid
        self.interval = interval
        self.stop_flag = threading.Event()
        self.members: Dict[int, str] = {}
        self.rejected: set = set()
        self.peak = 0
        self.peak_breakdown: Dict[str, int] = {}
        self.samples = 0

    def run(self) -> None:
        while not self.stop_flag.is_set():
            self.sample()
            self.stop_flag.wait(self.interval)

    def sample(self) -> None:
        total = 0
        breakdown: Dict[str, int] = {}
        seen: Dict[int, int] = {}  # pid -> RSS, this sample
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            if pid in self.rejected:
                continue
            if pid not in self.members:
                if _session_of(pid) != self.sid:
                    self.rejected.add(pid)
                    continue
                self.members[pid] = _comm(pid)
            try:
                with open(f"/proc/{pid}/statm", "rb") as f:
                    rss = int(f.read().split()[1]) * PAGE
            except (OSError, IndexError, ValueError):
                self.members.pop(pid, None)
                continue
            comm = _comm(pid) if self.members[pid] in ("bash", "sh", "python3") else self.members[pid]
            self.members[pid] = comm
            seen[pid] = rss
        for pid, rss in seen.items():
            parent = _ppid(pid)
            # A child between vfork and exec: its parent's pages, counted with the parent. Not compared by RSS:
            # the two statm reads are instants apart, and a parent with busy threads (the restore's download)
            # changes its RSS between them (a 1 GB PostgreSQL restore at 112.1 MiB, "python3" only, 12-07 11:13).
            if parent in seen and same_address_space(pid, parent):
                continue
            comm = self.members.get(pid, "?")
            total += rss
            breakdown[comm] = breakdown.get(comm, 0) + rss
        self.samples += 1
        if total > self.peak:
            self.peak = total
            self.peak_breakdown = breakdown


def run_measured(cmd: List[str], env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None,
                 timeout: float = 7200, servers: Optional[Dict[str, Callable[[], float]]] = None,
                 stdout=subprocess.DEVNULL) -> Measurement:
    servers = servers or {}
    server_before = {k: f() for k, f in servers.items()}
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    busy0 = machine_busy_s()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, start_new_session=True, stdout=stdout,
                            stderr=subprocess.PIPE)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        _, err = proc.communicate()
    wall = time.monotonic() - t0
    sampler.stop_flag.set()
    sampler.join()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    busy1 = machine_busy_s()
    server_after = {k: f() for k, f in servers.items()}
    own = (ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime + self1.ru_utime - self0.ru_utime
           + self1.ru_stime - self0.ru_stime + sum(server_after[k] - server_before[k] for k in servers))
    return Measurement(
        wall_s=wall,
        cpu_user_s=ru1.ru_utime - ru0.ru_utime,
        cpu_sys_s=ru1.ru_stime - ru0.ru_stime,
        peak_tree_rss=sampler.peak,
        peak_breakdown=dict(sorted(sampler.peak_breakdown.items(), key=lambda kv: -kv[1])),
        max_single_rss=ru1.ru_maxrss * 1024,
        samples=sampler.samples,
        returncode=proc.returncode,
        server_cpu_s={k: server_after[k] - server_before[k] for k in servers},
        stderr_tail=err.decode(errors="replace")[-4000:],
        foreign_cpu_s=max(0.0, busy1 - busy0 - own),
    )
