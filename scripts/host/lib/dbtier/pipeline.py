"""External tools (dump clients, zstd, age, the loader) and Python functions as the stages of one pipeline,
with the failure named as the bash toolkit's pipeline_failure named it: the stage that really failed, with its
own last stderr lines; a stage that only lost its reader (SIGPIPE, exit 141, or "broken pipe" / "failed to
write") while a later stage failed is a consequence and skipped; a stage killed by another signal (OOM
killer, kill -9) is the cause.

  r = run([Stage("dump", ["pg_dump", ...]),
           Stage("compress", ["zstd", "-q", "-c"]),
           Stage("upload", fn=lambda inp, out: client.put_stream(key, inp))],
          stdin=None, stdout=None, env=None)
  r.ok, r.codes (bash-style: 128+N for a signal), r.stderr["dump"] (its last 16 KiB, text)
  r.failure() -> "dump failed (exit 2): <its message>" | None
  r.check(prefix) raises PipelineError(r.failure()) unless ok
  An exception inside run() (a signal handler's, say) ends every stage first; its .pipeline_stderr then holds
  each process stage's last stderr.

A Python stage is fn(inp, out): inp/out are binary files (None at the ends when the pipeline's own
stdin/stdout is not given); it runs in a thread; its return value is r.results[name]; BrokenPipeError counts
as exit 141, any other exception as exit 1 with str(exception) as its stderr. stdin/stdout of run(): None
(/dev/null, resp. discarded... for stdout: inherited is never wanted), an int fd or a file object.
"""
from __future__ import annotations

import collections
import dataclasses
import fcntl
import os
import re
import signal
import subprocess
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence

TAIL_BYTES = 16384
SIGPIPE_EXIT = 128 + signal.SIGPIPE


class PipelineError(RuntimeError):
    pass


@dataclasses.dataclass
class Stage:
    name: str
    argv: Optional[Sequence[str]] = None
    fn: Optional[Callable[[Any, Any], Any]] = None
    env: Optional[Dict[str, str]] = None
    cwd: Optional[str] = None

    def __post_init__(self) -> None:
        if (self.argv is None) == (self.fn is None):
            raise ValueError(f"stage {self.name}: exactly one of argv and fn")


class _Tail:
    """The last TAIL_BYTES of a stream, read in a thread."""

    def __init__(self, fd: int) -> None:
        self.buf: collections.deque = collections.deque()
        self.size = 0
        self.t = threading.Thread(target=self._read, args=(fd,), daemon=True)
        self.t.start()

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as f:
            while True:
                b = f.read1(65536) if hasattr(f, "read1") else f.read(65536)
                if not b:
                    return
                self.buf.append(b)
                self.size += len(b)
                while self.size - len(self.buf[0]) >= TAIL_BYTES:
                    self.size -= len(self.buf.popleft())

    def text(self, timeout: Optional[float] = None) -> str:
        self.t.join(timeout)
        return b"".join(self.buf)[-TAIL_BYTES:].decode(errors="replace")


@dataclasses.dataclass
class Result:
    names: List[str]
    codes: List[int]
    stderr: Dict[str, str]
    results: Dict[str, Any]

    @property
    def ok(self) -> bool:
        return all(c == 0 for c in self.codes)

    def failure(self) -> Optional[str]:
        return failure_of(self.names, self.codes, self.stderr)

    def check(self, prefix: str = "") -> None:
        why = self.failure()
        if why:
            raise PipelineError(f"{prefix}{why}")


def _why(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("Warning")]
    return " ".join(lines[-3:])


def failure_of(names: Sequence[str], codes: Sequence[int], stderr: Dict[str, str]) -> Optional[str]:
    n = len(names)
    later_failed = [False] * n
    for i in range(n - 2, -1, -1):
        later_failed[i] = codes[i + 1] != 0 or later_failed[i + 1]
    for i in range(n):
        if codes[i] > 128 and codes[i] != SIGPIPE_EXIT:
            return (f"{names[i]} failed (exit {codes[i]}, killed by signal {codes[i] - 128}): "
                    f"{_why(stderr.get(names[i], ''))}")
    for i in range(n):
        if codes[i] == 0:
            continue
        why = _why(stderr.get(names[i], ""))
        if later_failed[i] and (codes[i] == SIGPIPE_EXIT or re.search(r"broken pipe|failed to write|EPIPE", why, re.I)):
            continue
        return f"{names[i]} failed (exit {codes[i]}): {why or 'no message'}"
    return None


def _fd_of(x) -> Optional[int]:
    if x is None:
        return None
    if isinstance(x, int):
        return x
    return x.fileno()


# The pipes between stages hold 1 MiB instead of Linux's 64 KiB: a stage writing a large block then wakes its
# reader once instead of sixteen times (scripts/bench/WHY.md). Kernel memory, not a process's; best effort
# (fs.pipe-max-size may be lower).
PIPE_BYTES = 1 << 20


def _widen(fd: int) -> None:
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:
        pass


def run(stages: Sequence[Stage], stdin=None, stdout=None, env: Optional[Dict[str, str]] = None) -> Result:
    if not stages:
        raise ValueError("a pipeline needs a stage")
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"stage names must differ: {names}")
    n = len(stages)
    # fds[i] = (read end feeding stage i); stage i writes to the read end of i+1.
    in_fds: List[Optional[int]] = [None] * n
    out_fds: List[Optional[int]] = [None] * n
    owned: List[int] = []
    first_in = _fd_of(stdin)
    last_out = _fd_of(stdout)
    for i in range(n - 1):
        r, w = os.pipe()
        _widen(w)
        in_fds[i + 1], out_fds[i] = r, w
        owned += [r, w]
    in_fds[0] = first_in
    out_fds[n - 1] = last_out
    procs: Dict[int, subprocess.Popen] = {}
    threads: Dict[int, threading.Thread] = {}
    tails: Dict[str, _Tail] = {}
    codes = [0] * n
    errors: Dict[str, str] = {}
    results: Dict[str, Any] = {}
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for i, st in enumerate(stages):
            if st.argv is not None:
                er, ew = os.pipe()
                stage_env = None
                if env is not None or st.env is not None:
                    stage_env = dict(os.environ if env is None else env)
                    stage_env.update(st.env or {})
                try:
                    procs[i] = subprocess.Popen(
                        list(st.argv), stdin=in_fds[i] if in_fds[i] is not None else devnull,
                        stdout=out_fds[i] if out_fds[i] is not None else devnull, stderr=ew,
                        env=stage_env, cwd=st.cwd, close_fds=True)
                except OSError as e:
                    os.close(er)
                    codes[i] = 127
                    errors[st.name] = f"cannot run {st.argv[0]}: {e.strerror}"
                else:
                    tails[st.name] = _Tail(er)
                finally:
                    os.close(ew)
                # The child holds its own copies; closing ours lets EOF and SIGPIPE travel.
                for fd in (in_fds[i], out_fds[i]):
                    if fd is not None and fd in owned:
                        os.close(fd)
                        owned.remove(fd)
            else:
                inp = os.fdopen(in_fds[i], "rb", closefd=in_fds[i] in owned) if in_fds[i] is not None else None
                out = os.fdopen(out_fds[i], "wb", closefd=out_fds[i] in owned) if out_fds[i] is not None else None
                for fd in (in_fds[i], out_fds[i]):
                    if fd is not None and fd in owned:
                        owned.remove(fd)  # the file objects close them

                def body(i=i, st=st, inp=inp, out=out) -> None:
                    try:
                        results[st.name] = st.fn(inp, out)  # type: ignore[misc]
                        if out is not None:
                            out.flush()
                    except BrokenPipeError:
                        codes[i] = SIGPIPE_EXIT
                        errors[st.name] = "Broken pipe"
                    except BaseException as e:  # noqa: BLE001 - becomes the stage's exit and message
                        codes[i] = 1
                        errors[st.name] = str(e) or e.__class__.__name__
                    finally:
                        for f in (inp, out):
                            if f is not None:
                                try:
                                    f.close()
                                except OSError:
                                    pass

                threads[i] = threading.Thread(target=body, daemon=True)
                threads[i].start()
        for i, p in procs.items():
            rc = p.wait()
            codes[i] = 128 - rc if rc < 0 else rc
        for t in threads.values():
            t.join()
    except BaseException as e:
        # A signal or an error in this process: the stages are ended (each gets SIGTERM: the uploader
        # aborts its multipart upload) and their last words ride on the exception (e.pipeline_stderr).
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        try:
            e.pipeline_stderr = {name: t.text(timeout=5) for name, t in tails.items()}  # type: ignore[attr-defined]
        except AttributeError:
            pass
        raise
    finally:
        for fd in owned:
            try:
                os.close(fd)
            except OSError:
                pass
        os.close(devnull)
    stderr = {name: t.text() for name, t in tails.items()}
    stderr.update({k: (stderr.get(k, "") + v) for k, v in errors.items()})
    return Result(names, codes, stderr, results)
