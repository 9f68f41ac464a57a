"""Logging and failures of dbtier-db's Python commands, in the bash toolkit's format (lib/common.sh log):
"<UTC time> dbtier-db[<command>] <message>" on stderr (the journal on a host).

  log(msg), warn(msg)              warn prefixes "warning: "
  Failure(msg, code=1)             exit code with "error: <msg>" (ConfigError from config: exit 2)
  set_command(name)                the name shown in brackets (cli.py sets it)
"""
from __future__ import annotations

import sys
import time

_command = "main"


class Failure(Exception):
    """A command failed: dbtier-db logs "error: <message>" and exits 1 (or `code`: 143 for SIGTERM)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def set_command(name: str) -> None:
    global _command
    _command = name or "main"


def log(msg: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} dbtier-db[{_command}] {msg}", file=sys.stderr, flush=True)


def warn(msg: str) -> None:
    log(f"warning: {msg}")
