"""When a database server that stops answering, without closing the connection, is taken for gone.

A network partition, or a failover that leaves the old address silent, closes nothing: a client then waits on
the kernel, ~15 minutes for data it sent that is never acknowledged and hours for a result (keepalive's system
default is two hours), with the run's lock held. Every database connection of a run takes the server for gone
once DBTIER_DB_DEAD_AFTER seconds pass without an acknowledgement, of what it sent (TCP_USER_TIMEOUT) or of
keepalive probes while it waits for a result. A busy server's kernel acknowledges both, so a long statement is
never cut. Unix sockets are left alone.

  seconds() -> int                 DBTIER_DB_DEAD_AFTER, checked (ValueError names what is allowed)
  libpq_settings() -> {keyword: value}   for libpq's connection keywords (keepalives_*, tcp_user_timeout)
  watch(fd)                        the same set on a connected TCP socket, for client libraries without such
                                   settings (libmariadb through MySQLdb, PyMySQL)
  watch_connection(conn)           watch() on a MySQLdb connection (fileno()) or a PyMySQL one (its socket)

The mariadb / mariadb-dump programs have no such setting (libmariadb's option files take only connect and
interactive timeouts): the toolkit's admin queries through them are bounded by a subprocess timeout instead.
"""
from __future__ import annotations

import os
import socket
from typing import Dict, Tuple

ENV = "DBTIER_DB_DEAD_AFTER"
DEFAULT_SECONDS, MIN_SECONDS = 120, 3


def seconds() -> int:
    raw = os.environ.get(ENV) or str(DEFAULT_SECONDS)
    if not raw.isdigit() or int(raw) < MIN_SECONDS:
        raise ValueError(f"{ENV}={raw!r}: must be whole seconds, at least {MIN_SECONDS} (default {DEFAULT_SECONDS})")
    return int(raw)


def _probes(dead: int) -> Tuple[int, int, int]:
    """(idle seconds before the first keepalive probe, seconds between probes, probes): with TCP_USER_TIMEOUT
    set, Linux ends the connection when that much time has passed unacknowledged, whatever the count."""
    return max(1, dead // 4), max(1, dead // 12), 3


def libpq_settings() -> Dict[str, str]:
    dead = seconds()
    idle, interval, count = _probes(dead)
    return {"keepalives": "1", "keepalives_idle": str(idle), "keepalives_interval": str(interval),
            "keepalives_count": str(count), "tcp_user_timeout": str(dead * 1000)}


def watch(fd: int) -> None:
    dead = seconds()
    idle, interval, count = _probes(dead)
    sock = socket.socket(fileno=os.dup(fd))  # a duplicate: closing it leaves the library's descriptor open
    try:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, count)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, dead * 1000)
    finally:
        sock.close()


def watch_connection(conn) -> None:
    fileno = getattr(conn, "fileno", None)
    sock = getattr(conn, "_sock", None)  # PyMySQL keeps its socket there and has no fileno()
    if callable(fileno):
        watch(fileno())
    elif sock is not None:
        watch(sock.fileno())
    else:
        raise TypeError(f"cannot reach the socket of a {type(conn).__name__} connection")
