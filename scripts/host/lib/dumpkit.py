#!/usr/bin/env python3
"""dbtier dump stream helper (python3 standard library only; Debian cloud images ship python3).

Subcommands (SQL dump on stdin):
  stats ENGINE OUT.json      per-table row count and row digest ("rowsum": the sum of the rows' SHA-256s,
                             so independent of row order: a parallel load may store rows in another order).
                             ENGINE: mysql (mariadb-dump/mysqldump INSERT lines) or postgres (pg_dump COPY blocks).
  compare EXPECTED ACTUAL    compare two stats files (or a manifest's dump.tables); exit 1 and name each
                             difference. --rows-only compares row counts only.
  password-hash mysql|postgres   password on stdin -> mysql_native_password hash / SCRAM-SHA-256 verifier.

The digests let verify prove that a restored copy re-dumps to exactly the rows that were backed up,
without a second consistent snapshot on the live server.
"""

import hashlib
import json
import re
import sys

BUF = 1 << 20

# A quoted string in a mysqldump INSERT (backslash escapes), or the separator between two row tuples.
MYSQL_INSERT = re.compile(rb"^(?:INSERT|REPLACE)(?: IGNORE)? INTO `((?:[^`]|``)+)`(?: \([^)]*\))? VALUES ?")
PG_COPY = re.compile(rb"^COPY (\S+(?: \S+)*?) (?:\([^\n]*\) )?FROM stdin;\n$")


# An event's status as information_schema.events names it -> the clause of CREATE/ALTER EVENT that gives it.
# A load into a side or scratch database creates every event DISABLED and writes each one's status at the
# source to a file (parallel-load.py --events-disabled); the check digests the events as that, the swap gives
# it back (swap.py --event-status).
EVENT_STATUS_CLAUSES = {"ENABLED": "ENABLE", "DISABLED": "DISABLE", "SLAVESIDE_DISABLED": "DISABLE ON SLAVE"}


def read_event_status(path: str) -> dict:
    """The event-status file: {event name: status}; ValueError naming what is wrong (OSError if unreadable)."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or not all(isinstance(k, str) and v in EVENT_STATUS_CLAUSES for k, v in doc.items()):
        raise ValueError(f"{path}: not event names and their status (allowed: {', '.join(EVENT_STATUS_CLAUSES)})")
    return doc


def unquote_mysql(name: bytes) -> str:
    return name.replace(b"``", b"`").decode("utf-8", "surrogateescape")


def unquote_pg_qualified(text: bytes) -> str:
    # public."Weird ""Name""" -> public.Weird "Name"
    s = text.decode("utf-8", "surrogateescape")
    parts, cur, i, quoted = [], "", 0, False
    while i < len(s):
        c = s[i]
        if quoted:
            if c == '"':
                if i + 1 < len(s) and s[i + 1] == '"':
                    cur += '"'
                    i += 1
                else:
                    quoted = False
            else:
                cur += c
        elif c == '"':
            quoted = True
        elif c == ".":
            parts.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    parts.append(cur)
    return ".".join(parts)


ROWSUM_MOD = 1 << 128


class Table:
    """Row count and the sum (mod 2^128) of the first 128 bits of each row's SHA-256: equal multisets of
    rows give equal sums whatever their order; a changed, missing or extra row changes it."""
    __slots__ = ("rows", "acc")

    def __init__(self):
        self.rows = 0
        self.acc = 0

    def add(self, row: bytes) -> None:
        self.rows += 1
        self.acc += int.from_bytes(hashlib.sha256(row).digest()[:16], "big")

    def rowsum(self) -> str:
        return format(self.acc % ROWSUM_MOD, "032x")


# A row tuple boundary "),(" outside quoted strings, or a quoted string (skipped over).
MYSQL_TOKEN = re.compile(rb"'(?:[^'\\]|\\.)*'|\),\(", re.S)


def mysql_split_rows(payload: bytes):
    """Rows of a one-line extended INSERT payload "(..),(..);", each without the separators."""
    payload = payload.rstrip(b"\n")
    if payload.endswith((b";", b",")):  # "," when the statement goes on with one row a line
        payload = payload[:-1]
    if b"),(" not in payload:
        return [payload]
    rows, start = [], 0
    for m in MYSQL_TOKEN.finditer(payload):
        if m.group(0) == b"),(":
            rows.append(payload[start:m.start() + 1])
            start = m.end() - 1
    rows.append(payload[start:])
    return rows


def mysql_row_line(line: bytes) -> bytes:
    """One row of a multi-line INSERT (mariadb-dump >= 10.11.8 writes one row a line): strip "," / ";"."""
    line = line.rstrip(b"\n")
    if line.endswith(b",") or line.endswith(b";"):
        line = line[:-1]
    return line


def stats(engine: str, out_path: str) -> int:
    tables = {}
    total = 0
    stream = sys.stdin.buffer
    if engine in ("mysql", "mariadb"):
        # Rows are hashed one by one ("(...)\n"), so old one-line and new one-row-a-line INSERTs of the
        # same data give the same digest, whichever mariadb-dump/mysqldump version wrote them.
        current = None
        for line in stream:
            total += len(line)
            if current is not None:
                current.add(mysql_row_line(line))
                if line.endswith(b";\n"):
                    current = None
                continue
            if line[:6] not in (b"INSERT", b"REPLAC"):
                continue
            m = MYSQL_INSERT.match(line)
            if not m:
                continue
            name = unquote_mysql(m.group(1))
            t = tables.get(name)
            if t is None:
                t = tables[name] = Table()
            payload = line[m.end():]
            if payload.strip() == b"":
                current = t
                continue
            for row in mysql_split_rows(payload):
                t.add(row)
            if not line.endswith(b";\n"):
                # mariadb-dump with a column list (invisible columns) puts the first row on the INSERT
                # line and each further row on a line of its own.
                current = t
    elif engine == "postgres":
        current = None
        for line in stream:
            total += len(line)
            if current is not None:
                if line == b"\\.\n":
                    current = None
                else:
                    current.add(line.rstrip(b"\n"))
                continue
            if line.startswith(b"COPY "):
                m = PG_COPY.match(line)
                if m:
                    name = unquote_pg_qualified(m.group(1))
                    current = tables.get(name)
                    if current is None:
                        current = tables[name] = Table()
    else:
        print(f"dumpkit: unknown engine {engine!r}", file=sys.stderr)
        return 2
    result = {
        "bytes": total,
        "tables": {k: {"rows": v.rows, "rowsum": v.rowsum()} for k, v in sorted(tables.items())},
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    return 0


def load_tables(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if "dump" in doc and "tables" in doc["dump"]:
        return doc["dump"]["tables"]
    return doc.get("tables", {})


def compare(expected_path: str, actual_path: str, rows_only: bool) -> int:
    expected, actual = load_tables(expected_path), load_tables(actual_path)
    problems = []
    for name in sorted(set(expected) | set(actual)):
        e, a = expected.get(name), actual.get(name)
        if e is None:
            # A table with no data lines in the backup may appear with zero rows; anything else is extra.
            if a and a.get("rows", 0) > 0:
                problems.append(f"table {name}: {a['rows']} rows restored but not in the backup")
            continue
        if a is None:
            if e.get("rows", 0) > 0:
                problems.append(f"table {name}: missing after restore (backup has {e['rows']} rows)")
            continue
        if e.get("rows") != a.get("rows"):
            problems.append(f"table {name}: {a.get('rows')} rows, backup has {e.get('rows')}")
        elif not rows_only and "rowsum" in e and e.get("rowsum") != a.get("rowsum"):
            problems.append(f"table {name}: row digest differs from the backup (same count, different rows)")
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


# --- what a DBaaS admin may not run (applied by parallel-load.py --dbaas, statement by statement) ---

# Only the DEFINER=user@host token goes: the object is then defined by the loading admin, and what remains
# (empty versioned comments, SQL SECURITY ...) stays valid SQL. An object created under ANSI_QUOTES (or
# sql_mode ORACLE) is printed with its definer and name in double quotes.
DEFINER = re.compile(rb"DEFINER\s*=\s*(?:`(?:[^`]|``)*`|'[^']*'|\"(?:[^\"]|\"\")*\"|[\w.$-]+)"
                     rb"@(?:`(?:[^`]|``)*`|'[^']*'|\"(?:[^\"]|\"\")*\"|[\w.%:$-]+)\s?")
# Statements only SUPER (or SYSTEM_VARIABLES_ADMIN) may run; a DBaaS admin does not have it.
SUPER_ONLY = re.compile(
    rb"^(?:SET @@GLOBAL\.|SET GLOBAL |SET @@SESSION\.SQL_LOG_BIN|SET SQL_LOG_BIN|/\*!\d+ SET @@SESSION\.SQL_LOG_BIN|"
    rb"/\*!\d+ SET @@GLOBAL\.|SET @MYSQLDUMP_TEMP_LOG_BIN|/\*M!999999\\- enable the sandbox mode \*/)",
    re.I,
)
INVISIBLE_PK = b"  `my_row_id` bigint(20) unsigned NOT NULL AUTO_INCREMENT INVISIBLE PRIMARY KEY,\n"


# Ownership goes to whoever loads (the app role); extension comments and plpgsql need the owner or a
# superuser; transaction_timeout is unknown before PostgreSQL 17.
PG_PRIVILEGED = re.compile(
    rb"^(?:COMMENT ON EXTENSION |CREATE EXTENSION IF NOT EXISTS plpgsql |SET transaction_timeout |"
    rb"ALTER [A-Z ]+ .+ OWNER TO [^;\n]*;$|COMMENT ON SCHEMA public IS )"
)


# --- password hashes -----------------------------------------------------------------------------

PASSWORD_HASH_KINDS = ("mysql", "postgres")


def stored_hash(kind: str, password: bytes) -> str:
    """The hash the server stores for PASSWORD: MariaDB's mysql_native_password, PostgreSQL's SCRAM-SHA-256
    verifier (kind: PASSWORD_HASH_KINDS)."""
    import base64
    import hmac
    import os

    if kind == "mysql":
        return "*" + hashlib.sha1(hashlib.sha1(password).digest()).hexdigest().upper()
    if kind != "postgres":
        raise ValueError(f"password hash kind {kind!r} (allowed: {', '.join(PASSWORD_HASH_KINDS)})")
    salt, iterations = os.urandom(16), 4096
    salted = hashlib.pbkdf2_hmac("sha256", password, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def password_hash(kind: str) -> int:
    """Reads a password on stdin, prints the hash the server stores, so the plaintext never reaches SQL."""
    if kind not in PASSWORD_HASH_KINDS:
        return 2
    print(stored_hash(kind, sys.stdin.buffer.read()))
    return 0


def main(argv) -> int:
    if len(argv) >= 3 and argv[0] == "stats":
        return stats(argv[1], argv[2])
    if len(argv) >= 3 and argv[0] == "compare":
        return compare(argv[1], argv[2], "--rows-only" in argv[3:])
    if len(argv) >= 2 and argv[0] == "password-hash":
        return password_hash(argv[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:
        sys.exit(1)
