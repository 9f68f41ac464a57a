#!/usr/bin/env python3
"""dbtier exact dumps and source digests (python3 standard library; MariaDB/MySQL through their own
command-line clients, the backup's rows in process through Debian's python3-mysqldb where the caller gives a
DriverTarget; PostgreSQL's queries through Debian's python3-psycopg2, its dumps by pg_dump).

  fingerprint.py dump mysql DB DIGESTS --client C --dump-tool D --cnf F [--flavor mariadb|mysql]
  fingerprint.py dump postgres DB DIGESTS          (libpq environment: PGHOST, PGPASSFILE, ...)
      the dump on stdout; DIGESTS gets the source's digests (JSON below), taken from the same snapshot
  fingerprint.py fingerprint mysql|postgres DB OUT [--client C --cnf F [--driver FILE] [--known FILE]
                 [--event-status FILE]] [--jobs N] [--row-digest M]
      the same JSON computed from a live database; --jobs N: N connections, each its own snapshot (only for
      a database nothing writes to: a side or scratch database), large MariaDB/MySQL tables in ranges; --driver: those
      connections through libmariadb in this process (FILE: a 0600 DriverTarget.to_json); --row-digest: how
      rows are hashed (MY_ROW_DIGESTS, PG_ROW_DIGESTS; default the newest), to compare with digests an older
      backup recorded; --event-status: the status each event had at the source where a load created it
      DISABLED (parallel-load.py --events-disabled)
  fingerprint.py compare EXPECTED ACTUAL
      exit 1 naming every table/object that differs (or a reason the expected side records)
  fingerprint.py database-sql mysql|postgres DB MANIFEST
      the statements giving DB the database defaults/settings the backup recorded (source.database)

Digests JSON: {"format": F, "rowDigest": M, "tables": {name: {"rows": N, "digest": hex}}, "objects": {key: hex},
"sequences": {name: next value}, "inexact": [reason, ...], "database": MariaDB/MySQL {charset, collation},
PostgreSQL {settings: ["name=value", ...], comment}, "extensions" (PostgreSQL dumps): [{name, schema, version}, ...]
in creation order}. Sequences are not transactional: a restored
one must not hand out a value the source had already handed out (>=), rows and objects must be equal.

Dump formats:
  mysql-exact-1  mariadb-dump/mysqldump for the schema (tables, views, routines), then the row data
                 rendered by the server with exact renderings (FLOAT through DOUBLE, which the text protocol
                 would round to 6 significant digits; strings and bytes quoted, escaped as the client's batch
                 mode does (by the client, or here for rows read in process); BIT as b'..'),
                 inside one START TRANSACTION WITH CONSISTENT SNAPSHOT session, then triggers and events (so
                 neither fires while the rows load). Each row line carries the row's hash, computed by the
                 server from its exact values (MY_ROW_DIGESTS); a table's digest is their sum. Tables whose
                 order a reload does not reproduce (no primary or NOT NULL unique key, non-InnoDB) are
                 marked "-- dbtier-serial" and loaded by one connection (what older backups' digests, the
                 SHA-256 of the rendered rows in clustered-index order, need).
  pg-split-1     a header line, pg_dump's custom-format archive of pre-data + post-data (restored by
                 pg_restore: the server's own grammar, no hand-written splitter), then pg_dump's plain data
                 section; both from one exported snapshot, in which this process digests every table
                 (sum of the rows' hashes over record text with exact settings: order-independent;
                 PG_ROW_DIGESTS).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import struct
import subprocess
import sys
import threading
from typing import Dict, List, Optional, Sequence, Tuple, TypeVar

import deadpeer  # lib/, beside this file: on sys.path wherever this module could be imported from

BLOCK = 1 << 18  # reads of the client's output (larger blocks only held more memory: WHY.md)
INSERT_BYTES = 1 << 20  # rows per INSERT statement: about 1 MiB (a single larger row goes alone)
PG_HEADER = re.compile(rb"^-- dbtier pg-split 1 schema-bytes=(\d+)\n$")
MYSQL_FORMAT, PG_FORMAT = "mysql-exact-1", "pg-split-1"
# How a MariaDB/MySQL table's rows are digested (recorded as the digests' "rowDigest"; digests without it
# are the first method):
#   mysql-stream-sha256  the SHA-256 of the dump's rendered rows in clustered-index order (the client's
#                        escaped text: checking a copy meant rendering and escaping every row again)
#   mysql-row-sha256     the sum (mod 2^64) of the first 64 bits of each row's SHA-256 (MyTable.row_hash),
#                        which the server computes alone when a copy is checked (WHY.md)
MY_ROW_STREAM, MY_ROW_SHA256 = "mysql-stream-sha256", "mysql-row-sha256"
MY_ROW_DIGESTS = (MY_ROW_STREAM, MY_ROW_SHA256)
BEGIN_MARK, END_MARK = b"--dbtier-begin ", b"--dbtier-end"


class Failure(Exception):
    pass


# ---------------------------------------------------------------------------------------------------
# MariaDB / MySQL
# ---------------------------------------------------------------------------------------------------

def my_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def my_str(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "''") + "'"


class MyClient:
    def __init__(self, client: str, cnf: str):
        self.client, self.cnf = client, cnf

    def argv(self) -> List[str]:
        # Not --raw: the client escapes NUL, tab, newline and backslash of every field as \0 \t \n \\, which
        # is MySQL's own string-literal syntax (the row data passes as it is; the server spends no second pass
        # on escaping), and every row is one line even when a name or a definition holds a tab or newline.
        return [self.client, f"--defaults-extra-file={self.cnf}", "--batch", "--skip-column-names", "--quick",
                "--default-character-set=utf8mb4", "--max-allowed-packet=1G"]

    def query(self, sql: str) -> List[List[str]]:
        p = subprocess.run(self.argv(), input=sql.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise Failure(f"{self.client}: {p.stderr.decode('utf-8', 'replace').strip()}")
        lines = p.stdout.split(b"\n")[:-1]  # every row ends with a newline (a row of one '' is an empty line)
        return [[batch_unescape(f).decode("utf-8", "surrogateescape") for f in ln.split(b"\t")] for ln in lines]


# Rendering of one column as SQL literal text, exact for its type. NULL becomes the word NULL; a string the
# server cannot render (past max_allowed_packet, where REPLACE and CONCAT give NULL) makes the whole row NULL,
# which the row sources refuse.
def my_render(col: str, data_type: str, charset: str = "") -> str:
    c = column = my_ident(col)
    t = data_type.lower()
    if t == "float":
        # The text protocol prints FLOAT with 6 significant digits (mariadb-dump's 1234567.125 -> 1234570);
        # widened to DOUBLE it is printed exactly and reads back to the same FLOAT.
        expr = f"CAST({c} AS DOUBLE)"
    elif t == "bit":
        expr = f"CONCAT('b''', BIN({c}), '''')"
    elif t in ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "double", "year"):
        expr = c
    elif t in ("date", "datetime", "timestamp", "time", "uuid", "inet4", "inet6"):
        expr = f"CONCAT('''', {c}, '''')"  # their text holds no quote or backslash
    else:
        # Quotes doubled here; backslash, NUL, tab and newline escaped by the client (MyClient.argv). Text
        # in another character set goes out as utf8mb4 (the dump's SET NAMES): a binary column in the
        # same CONCAT makes the row binary, which would pass latin1 bytes on unconverted.
        if charset and charset not in ("binary", "utf8mb4", "utf8mb3", "utf8", "ascii"):
            c = f"CONVERT({c} USING utf8mb4)"
        return f"IF({column} IS NULL, 'NULL', CONCAT('''', REPLACE({c}, '''', ''''''), ''''))"
    return f"IFNULL({expr}, 'NULL')"


BLOB_TYPES = ("tinyblob", "blob", "mediumblob", "longblob")
TEXT_TYPES = ("tinytext", "text", "mediumtext", "longtext", "json")
LONG_TYPES = BLOB_TYPES + TEXT_TYPES
# types whose text never holds a comma (numbers, times, BIT's digits, UUID/INET): a row hash separates them by one
COMMA_FREE_TYPES = ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "double", "float",
                    "year", "date", "datetime", "timestamp", "time", "bit", "uuid", "inet4", "inet6")


def raw_types(in_process: bool) -> Tuple[str, ...]:
    """The column types row_sql selects apart from the rendered text."""
    return LONG_TYPES if in_process else BLOB_TYPES


UNRENDERED = "the server could not render a row (longer than max_allowed_packet: CONCAT gave NULL)"


def join_blob_rows(table: str, rows: bytes) -> bytes:
    """Lines of row_sql's split form (segment TAB blob TAB segment ...) joined into rendered rows: each blob
    quoted with its quotes doubled (the client has escaped its NUL, tab, newline and backslash, so a raw tab
    only separates fields). A segment always holds a parenthesis or a comma and a blob is N or x<value>: the
    word NULL is a field the server could not render."""
    out = []
    for line in rows.split(b"\n")[:-1]:
        f = line.split(b"\t")
        if b"NULL" in f:
            raise Failure(f"table {table}: {UNRENDERED}")
        for i in range(1, len(f), 2):
            v = f[i]
            f[i] = b"NULL" if v == b"N" else b"'" + v[1:].replace(b"'", b"''") + b"'"
        out.append(b"".join(f))
    out.append(b"")
    return b"\n".join(out)


class MyTable:
    def __init__(self, name: str, engine: str, size: int = 0):
        self.name, self.engine = name, engine
        self.size = size  # bytes, as the server's statistics told when the table was listed
        self.columns: List[Tuple[str, str, str]] = []  # (name, data type, charset), generated columns left out
        self.ordered = False  # clustered order reproduced by a reload
        # a system-versioned table read with its history: every row version, its period columns among columns
        self.history = False

    def source(self, db: str) -> str:
        """The table as a SELECT reads its rows: with every historical row version if it has them."""
        return f"{my_ident(db)}.{my_ident(self.name)}{' FOR SYSTEM_TIME ALL' if self.history else ''}"

    def split(self, in_process: bool = False) -> bool:
        """Whether row_sql selects some columns apart from the rendered text (raw_types)."""
        raw = raw_types(in_process)
        return any(t.lower() in raw for _, t, _ in self.columns)

    def row_sql(self, db: str, hashed: bool = False, in_process: bool = False) -> str:
        """One rendered line per row. A table with BLOB columns is selected as text segments and those columns
        (tab-separated; join_blob_row puts them together): the server's REPLACE on binary strings is slow
        (scripts/bench/WHY.md), doubling quotes in Python is not; the joined line is the same bytes.
        in_process (a driver: values as they are, NULL told apart): BLOB and TEXT columns are selected as they
        are and quoted by the reader (no REPLACE or CONCAT on the server, whose result max_allowed_packet
        limits; the connection's utf8mb4 converts text in other character sets, as CONVERT does below)."""
        raw = raw_types(in_process)
        fields: List[str] = []
        seg: List[str] = ["'('"]
        for i, (c, t, cs) in enumerate(self.columns):
            if i:
                seg.append("','")
            if t.lower() in raw:
                # through the client: N for NULL, x<value> for a value (a blob holding the bytes NULL is not
                # NULL), the word NULL where the server could not render it (CONCAT past max_allowed_packet)
                v = my_ident(c)
                fields += [f"CONCAT({', '.join(seg)})", v if in_process else f"IF({v} IS NULL, 'N', CONCAT(_binary'x', {v}))"]
                seg = []
            else:
                seg.append(my_render(c, t, cs))
        seg.append("')'")
        fields.append(f"CONCAT({', '.join(seg)})")
        if hashed:  # the row's hash as the last field: 16 hex digits (NULL if the server could not hash it)
            fields.append(f"LEFT({self.row_hash()}, 16)")
        # USE INDEX (): a full scan of the clustered index, never a covering secondary index's order.
        return f"SELECT {', '.join(fields)} FROM {self.source(db)} USE INDEX ()"

    def row_hash(self) -> str:
        """SQL of the row's SHA-256 (hex) as mysql-row-sha256 digests it: every column's exact value as bytes
        (FLOAT through DOUBLE, BIT as its binary digits, TIMESTAMP in the session's UTC, strings in their own
        character set), comma-separated: numbers and times as their text (never a comma), strings prefixed
        with their length, long values (BLOB/TEXT) by their own SHA-256 (64 hex digits) so the row's text stays
        far below max_allowed_packet, past which CONCAT returns NULL; NULL: N."""
        fields = []
        for c, t, _ in self.columns:
            t = t.lower()
            v = my_ident(c)
            if t in LONG_TYPES:
                fields.append(f"IFNULL(SHA2({v}, 256), 'N')")
            elif t in COMMA_FREE_TYPES:
                v = f"CAST({v} AS DOUBLE)" if t == "float" else f"BIN({v})" if t == "bit" else v
                fields.append(f"IFNULL(CAST({v} AS BINARY), 'N')")
            else:  # LENGTH counts bytes: of a CHAR/VARCHAR/BINARY column directly, of anything else its bytes'
                n = f"LENGTH({v})" if t in ("char", "varchar", "binary", "varbinary") else f"LENGTH(CAST({v} AS BINARY))"
                fields.append(f"IFNULL(CONCAT({n}, ':', CAST({v} AS BINARY)), 'N')")
        return f"SHA2(CONCAT_WS(',', {', '.join(fields)}), 256)"

    def insert_head(self) -> bytes:
        cols = ",".join(my_ident(c) for c, _, _ in self.columns)
        return f"INSERT INTO {my_ident(self.name)} ({cols}) VALUES ".encode()


# information_schema.tables' table_type of the tables that hold rows (MariaDB's system-versioned tables are
# not BASE TABLEs), as an SQL list for the toolkit's queries
MY_ROW_TABLE_TYPES = ("BASE TABLE", "SYSTEM VERSIONED")
MY_ROW_TABLE_TYPES_SQL = ", ".join(f"'{t}'" for t in MY_ROW_TABLE_TYPES)
# Engines whose tables hold no rows of their own (information_schema.tables' engine, lower case): a MERGE
# table's rows are its underlying MyISAM tables' (dumped as themselves), BLACKHOLE keeps none, and the rest
# read and write another server's or a file's. Their rows are never dumped: loading them would write them
# into the underlying tables or the other server a second time. Their definitions are compared as any other.
MY_ROWS_ELSEWHERE: Dict[str, Optional[str]] = {
    "mrg_myisam": None, "blackhole": None,  # nothing that the dump does not hold
    "federated": "another server", "connect": "another server or a file", "spider": "other servers"}
# MariaDB's names of the period columns of a table declared only WITH SYSTEM VERSIONING (they are not in
# information_schema.columns); declared ones are named there, with these generation expressions
MY_IMPLICIT_PERIOD = ("ROW_START", "ROW_END")
MY_PERIOD_EXPRESSIONS = ("ROW START", "ROW END")


def my_versioning(cl: MyClient, db: str, versioned: Sequence[str]) -> Dict[str, Tuple[List[str], Optional[str]]]:
    """Per system-versioned table: its period columns (start, end) and why its history cannot be restored
    (None: it can). History is written back with system_versioning_insert_history (MariaDB 10.11), which
    takes TIMESTAMP periods only: a table versioned by transaction id keeps only its current rows."""
    if not versioned:
        return {}
    declared: Dict[str, List[Tuple[str, str]]] = {}
    for name, col, dtype, _ in cl.query(
            f"SELECT table_name, column_name, data_type, generation_expression FROM information_schema.columns "
            f"WHERE table_schema = {my_str(db)} AND generation_expression IN "
            f"({', '.join(my_str(e) for e in MY_PERIOD_EXPRESSIONS)}) ORDER BY table_name, generation_expression DESC;"):
        declared.setdefault(name, []).append((col, dtype.lower()))
    insertable = bool(cl.query("SHOW VARIABLES LIKE 'system_versioning_insert_history';"))
    out: Dict[str, Tuple[List[str], Optional[str]]] = {}
    for name in versioned:
        period = declared.get(name, [(c, "timestamp") for c in MY_IMPLICIT_PERIOD])
        why = None
        if not insertable:
            why = "this server cannot insert history rows (system_versioning_insert_history: MariaDB 10.11 or later)"
        elif any(dtype != "timestamp" for _, dtype in period):
            why = "it is versioned by transaction id, whose history rows MariaDB cannot insert"
        out[name] = ([c for c, _ in period], why)
    return out


# information_schema compares names without case (MariaDB: utf8mb3_general_ci), and table names that differ in
# case alone are two tables where lower_case_table_names is 0 (Linux): joins and groups of names use their bytes.
def my_same(a: str, b: str) -> str:
    """SQL: the names a and b are the same bytes."""
    return f"CAST({a} AS BINARY) = CAST({b} AS BINARY)"


def my_name_groups(*names: str) -> str:
    """A GROUP BY list of names by their bytes (the names themselves too, for ONLY_FULL_GROUP_BY)."""
    return ", ".join([f"CAST({n} AS BINARY)" for n in names] + list(names))


def my_table_list(cl: MyClient, db: str) -> List[List[str]]:
    """(name, table_type, engine, data_length) of every table, view and sequence of db: read once by a run
    for my_inexact and my_tables (a client process per query where no driver is used)."""
    return cl.query(f"SELECT table_name, table_type, IFNULL(engine, ''), IFNULL(data_length, 0) FROM "
                    f"information_schema.tables WHERE table_schema = {my_str(db)} ORDER BY table_name;")


def my_tables(cl: MyClient, db: str, listing: Optional[List[List[str]]] = None) -> Tuple[List[MyTable], List[str]]:
    rows = my_table_list(cl, db) if listing is None else listing
    tables = {r[0]: MyTable(r[0], r[2], int(r[3])) for r in rows
              if r[1] in MY_ROW_TABLE_TYPES and r[2].lower() not in MY_ROWS_ELSEWHERE}
    sequences = [r[0] for r in rows if r[1] == "SEQUENCE"]
    gen = "IS_GENERATED" if _has_column(cl, "COLUMNS", "IS_GENERATED") else None
    where_gen = f" AND {gen} = 'NEVER'" if gen else " AND extra NOT LIKE '%GENERATED%'"
    for name, col, dtype, charset in cl.query(
            f"SELECT table_name, column_name, data_type, IFNULL(character_set_name, '') FROM information_schema.columns "
            f"WHERE table_schema = {my_str(db)}{where_gen} ORDER BY table_name, ordinal_position;"):
        if name in tables:
            tables[name].columns.append((col, dtype, charset))
    for name, (period, why) in my_versioning(cl, db, [r[0] for r in rows if r[1] == "SYSTEM VERSIONED"]).items():
        if why is None:  # the period's TIMESTAMPs are generated columns: read and written back like any other
            tables[name].history = True
            tables[name].columns += [(c, "timestamp", "") for c in period]
    # InnoDB clusters on the primary key, else on the first UNIQUE index whose columns are all NOT NULL.
    keyed = {r[0] for r in cl.query(
        f"SELECT s.table_name FROM information_schema.statistics s JOIN information_schema.columns c "
        f"ON c.table_schema = s.table_schema AND {my_same('c.table_name', 's.table_name')} AND c.column_name = s.column_name "
        f"WHERE s.table_schema = {my_str(db)} AND s.non_unique = 0 GROUP BY {my_name_groups('s.table_name', 's.index_name')} "
        f"HAVING SUM(c.is_nullable = 'YES') = 0;")}
    for t in tables.values():
        t.ordered = t.engine.lower() == "innodb" and t.name in keyed
    return [t for t in tables.values() if t.columns], sequences


_COLS: Dict[Tuple[str, str], bool] = {}


def _has_column(cl: MyClient, table: str, column: str) -> bool:
    key = (table, column)
    if key not in _COLS:
        _COLS[key] = bool(cl.query(f"SELECT 1 FROM information_schema.columns WHERE table_schema = "
                                   f"'information_schema' AND table_name = '{table}' AND column_name = '{column}';"))
    return _COLS[key]


def _labels(column_type: str) -> List[str]:
    return [m.replace("''", "'") for m in re.findall(r"'((?:[^']|'')*)'", column_type)]


def _true_labels(cl: MyClient, db: str, table: str, col: str, kind: str, count: int) -> List[str]:
    """The labels as the table really holds them: a one-column temporary copy of the definition is given
    each label's number and read back (values, unlike the definition, come out in utf8mb4)."""
    values = ", ".join(f"({1 << k if kind == 'set' else k + 1})" for k in range(count))
    probe = f"{my_ident(db)}.dbtier_probe"  # session-only: the database itself is not changed
    rows = cl.query(f"SET SESSION sql_mode = ''; CREATE TEMPORARY TABLE {probe} AS SELECT {my_ident(col)} AS v "
                    f"FROM {my_ident(db)}.{my_ident(table)} LIMIT 0; INSERT INTO {probe} VALUES {values}; "
                    f"SELECT HEX(v) FROM {probe};")
    return [bytes.fromhex(r[0]).decode("utf-8", "surrogateescape") for r in rows]


def my_inexact(cl: MyClient, db: str, listing: Optional[List[List[str]]] = None) -> List[str]:
    reasons = []
    # MariaDB keeps ENUM/SET labels in a utf8mb3 dictionary: SHOW CREATE TABLE and information_schema
    # print a 4-byte character of a label as '?', so no SQL text can recreate that definition. A '?'
    # that is really in a label is told apart by reading the labels back as values.
    for table, col, kind, ctype in cl.query(
            f"SELECT table_name, column_name, data_type, column_type FROM information_schema.columns WHERE table_schema = "
            f"{my_str(db)} AND data_type IN ('enum', 'set') AND column_type LIKE '%?%';"):
        shown = _labels(ctype)
        if _true_labels(cl, db, table, col, kind, len(shown)) == shown:
            continue
        reasons.append(f"column {table}.{col}: its {kind.upper()} definition {ctype} shows '?' "
                       f"where the server cannot print a 4-byte character of a label (utf8mb3 metadata); a "
                       f"restore would recreate it with '?' and its values as ''")
    tables = my_table_list(cl, db) if listing is None else listing
    for name, _, engine, _ in tables:
        where = MY_ROWS_ELSEWHERE.get(engine.lower())
        if where is not None:
            reasons.append(f"table {name}: its rows live on {where} ({engine} engine) and are not in the dump")
    for name, (_, why) in my_versioning(cl, db, [r[0] for r in tables if r[1] == "SYSTEM VERSIONED"]).items():
        if why is not None:
            reasons.append(f"table {name}: system-versioned, and {why}: a restore would keep its current rows only")
    return reasons


MY_OBJECT_QUERIES = [
    # kind, key expression, definition expression, FROM ... WHERE (schema filter as %s)
    # A sequence's collation is the database default, which db_create sets, not the dump.
    # Aria's default PAGE_CHECKSUM=1 is printed by SHOW CREATE TABLE and so becomes explicit in a copy.
    ("table", "table_name", "CONCAT_WS('|', table_type, engine, IF(table_type = 'SEQUENCE', '', table_collation), "
     "TRIM(REPLACE(create_options, 'page_checksum=1', '')), table_comment)",
     "information_schema.tables WHERE table_schema = %s"),
    # A sequence default names the database the table was created in (nextval(`db`.`seq`)): its own database
    # is left out, so a copy in another database (a side or scratch one) compares equal.
    ("column", "CONCAT(table_name, '.', column_name)",
     "CONCAT_WS('|', ordinal_position, column_type, is_nullable, "
     "IFNULL(REPLACE(column_default, CONCAT('nextval(`', REPLACE(table_schema, '`', '``'), '`.'), 'nextval('), '~'), extra, "
     "IFNULL(collation_name, '~'), column_comment, IFNULL(generation_expression, '~'))",
     "information_schema.columns WHERE table_schema = %s"),
    ("index", "CONCAT(table_name, '.', index_name)",
     "GROUP_CONCAT(CONCAT_WS(':', seq_in_index, column_name, IFNULL(sub_part, '~'), non_unique, index_type, "
     "index_comment) ORDER BY seq_in_index SEPARATOR ',')",
     "information_schema.statistics WHERE table_schema = %s GROUP BY " + my_name_groups("table_name", "index_name")),
    ("partition", "CONCAT(table_name, '.', partition_name, '.', IFNULL(subpartition_name, '~'))",
     "CONCAT_WS('|', partition_method, partition_expression, IFNULL(partition_description, '~'), "
     "IFNULL(subpartition_method, '~'), IFNULL(subpartition_expression, '~'), partition_comment)",
     "information_schema.partitions WHERE table_schema = %s AND partition_name IS NOT NULL"),
    ("fk", "CONCAT(table_name, '.', constraint_name)",
     "CONCAT_WS('|', referenced_table_name, update_rule, delete_rule, match_option)",
     "information_schema.referential_constraints WHERE constraint_schema = %s"),
    ("check", "CONCAT(table_name, '.', constraint_name)", "check_clause",
     "information_schema.check_constraints WHERE constraint_schema = %s"),
    # Definers are left out: a load makes the app user the definer of everything (never the admin).
    # view_definition names the view's own schema: left out, so a copy in another database compares equal.
    ("view", "table_name", "CONCAT_WS('|', REPLACE(view_definition, CONCAT('`', table_schema, '`.'), ''), "
     "check_option, security_type)",
     "information_schema.views WHERE table_schema = %s"),
    ("routine", "CONCAT(routine_type, ' ', routine_name)",
     "CONCAT_WS('|', IFNULL(dtd_identifier, '~'), routine_definition, is_deterministic, sql_data_access, "
     "security_type, sql_mode, routine_comment)",
     "information_schema.routines WHERE routine_schema = %s"),
    ("parameter", "CONCAT(specific_name, '.', ordinal_position)",
     "CONCAT_WS('|', IFNULL(parameter_mode, '~'), IFNULL(parameter_name, '~'), dtd_identifier)",
     "information_schema.parameters WHERE specific_schema = %s"),
    ("trigger", "trigger_name",
     "CONCAT_WS('|', event_object_table, event_manipulation, action_timing, action_order, action_statement, sql_mode)",
     "information_schema.triggers WHERE trigger_schema = %s"),
    ("event", "event_name",
     "CONCAT_WS('|', event_definition, event_type, IFNULL(execute_at, '~'), IFNULL(interval_value, '~'), "
     "IFNULL(interval_field, '~'), {event_status}, on_completion, sql_mode, event_comment)",
     "information_schema.events WHERE event_schema = %s"),
]


def my_database(cl: MyClient, db: str) -> Dict[str, object]:
    """The database's own defaults: a restored database must have them (routines and views created in it
    take their parameter and column collations from them)."""
    rows = cl.query(f"SELECT default_character_set_name, default_collation_name FROM information_schema.schemata "
                    f"WHERE schema_name = {my_str(db)};")
    if len(rows) != 1 or len(rows[0]) != 2:
        raise Failure(f"cannot read the default character set of {db}")
    return {"charset": rows[0][0], "collation": rows[0][1]}


def my_database_sql(db: str, props: Dict[str, object]) -> List[str]:
    charset, collation = str(props.get("charset", "")), str(props.get("collation", ""))
    if not (re.fullmatch(r"[A-Za-z0-9_]+", charset) and re.fullmatch(r"[A-Za-z0-9_]+", collation)):
        raise Failure(f"the backup's database defaults are not a character set and collation: {props}")
    return [f"ALTER DATABASE {my_ident(db)} CHARACTER SET {charset} COLLATE {collation}"]


def my_objects(cl: MyClient, db: str, event_status: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """event_status: the status each event had at the source, where a load created it DISABLED
    (parallel-load.py --events-disabled): digested as that, so the copy compares equal to the source."""
    status = "status"
    if event_status:
        status = ("CASE event_name " + " ".join(f"WHEN {my_str(n)} THEN {my_str(v)}" for n, v in sorted(event_status.items()))
                  + " ELSE status END")
    sql = ["SET SESSION group_concat_max_len = 1048576;"]
    for kind, key, definition, source in MY_OBJECT_QUERIES:
        definition = definition.replace("{event_status}", status)
        sql.append(f"SELECT CONCAT({my_str(kind)}, ':', {key}), SHA2({definition}, 256) FROM {source % my_str(db)};")
    out = {}
    for row in cl.query("\n".join(sql)):
        if len(row) == 2:
            out[row[0]] = row[1].lower()
    return out


BATCH_ESCAPES = {b"0": b"\0", b"t": b"\t", b"n": b"\n", b"\\": b"\\"}


def batch_unescape(field: bytes) -> bytes:
    """The inverse of the client's batch-mode escaping (\\0 \\t \\n \\\\)."""
    return re.sub(rb"\\(.)", lambda m: BATCH_ESCAPES.get(m.group(1), m.group(0)), field)


class RowStream:
    """Reads the client's marker-framed output: per table "--dbtier-begin NAME", one line per row, then
    "--dbtier-end". Row lines start with "(" and hold no raw newline, so markers cannot be mistaken."""

    def __init__(self, proc: subprocess.Popen, on_rows, on_begin, on_end):
        self.proc, self.on_rows, self.on_begin, self.on_end = proc, on_rows, on_begin, on_end

    def run(self) -> None:
        f = self.proc.stdout
        pending = b""
        in_table = False
        while True:
            block = f.read(BLOCK)
            if not block:
                break
            data = pending + block
            cut = data.rfind(b"\n") + 1
            pending, data = data[cut:], data[:cut]
            pos = 0
            while pos < len(data):
                if not in_table:
                    end = data.index(b"\n", pos)
                    line = data[pos:end]
                    if not line.startswith(BEGIN_MARK):
                        raise Failure(f"unexpected client output {line[:80]!r}")
                    self.on_begin(batch_unescape(line[len(BEGIN_MARK):]).decode("utf-8", "surrogateescape"))
                    in_table = True
                    pos = end + 1
                    continue
                # rows until the end marker (which starts a line)
                if data.startswith(END_MARK, pos):
                    self.on_end()
                    in_table = False
                    pos = data.index(b"\n", pos) + 1
                    continue
                m = data.find(b"\n" + END_MARK, pos)
                stop = len(data) if m == -1 else m + 1
                self.on_rows(data[pos:stop])
                pos = stop
        if pending:
            raise Failure("client output ends inside a line (truncated?)")


SNAPSHOT_SESSION = ("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "SET time_zone = '+00:00'",
                    "SET SESSION sql_mode = ''", "START TRANSACTION WITH CONSISTENT SNAPSHOT")


def my_data_script(db: str, tables: List[MyTable], hashed: bool = False) -> str:
    lines = [f"{s};" for s in SNAPSHOT_SESSION]
    for t in tables:
        lines.append(f"SELECT {my_str(BEGIN_MARK.decode() + t.name)};")
        lines.append(t.row_sql(db, hashed) + ";")
        lines.append(f"SELECT '{END_MARK.decode()}';")
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


class StreamDigest:
    """mysql-stream-sha256: the SHA-256 of the rendered rows as they come, in clustered-index order."""

    def __init__(self, _table: str):
        self.h = hashlib.sha256()
        self.rows = 0

    def add(self, rows: bytes, _hashes: Optional[List[bytes]]) -> None:
        self.h.update(rows)
        self.rows += rows.count(b"\n")

    def result(self) -> Dict[str, object]:
        return {"rows": self.rows, "digest": self.h.hexdigest()}


# The last field of a hashed row line: the client escapes tab and newline inside values, so a raw tab
# before the line's end only ever separates the hash.
ROW_HASH_FIELD = re.compile(rb"\t([0-9a-f]{16}|NULL)\n")
ROW_HASHES = re.compile(rb"[0-9a-f]*")


def split_row_hashes(table: str, rows: bytes) -> Tuple[bytes, List[bytes]]:
    """The client's hashed row lines: the lines without their hash field, and the hashes."""
    parts = ROW_HASH_FIELD.split(rows)
    hashes = parts[1::2]
    if parts[-1] != b"" or len(hashes) != rows.count(b"\n"):
        raise Failure(f"table {table}: a row line without its hash field")
    return b"\n".join(parts[0::2]), hashes


class RowHashSum:
    """mysql-row-sha256: the rows' hashes (the 16 hex digits the server adds to each row) summed."""

    def __init__(self, table: str):
        self.table, self.rows, self.sum = table, 0, 0

    def add(self, _rows: bytes, hashes: Optional[List[bytes]]) -> None:
        hashes = hashes or []
        if None in hashes or b"NULL" in hashes:
            raise Failure(f"table {self.table}: the server could not hash a row (SHA2 gave NULL)")
        # checked as a whole (no Python loop per row): each 16 long, all hex digits
        if not set(map(len, hashes)) <= {16} or not ROW_HASHES.fullmatch(b"".join(hashes)):
            raise Failure(f"table {self.table}: a row hash is not 16 hex digits")
        self.rows += len(hashes)
        self.sum += sum(struct.unpack(f">{len(hashes)}Q", bytes.fromhex(b"".join(hashes).decode())))

    def result(self) -> Dict[str, object]:
        return {"rows": self.rows, "digest": format(self.sum % (1 << 64), "016x")}


# A row source hands every table's rows on as batches of rendered lines (each ending in a newline, holding no
# other: MySQL string-literal escapes \0 \t \n \\ as the `mariadb` client's batch mode writes them) with their
# hashes (None when the rows are not hashed): on_begin(MyTable), on_batch(lines, hashes)..., on_end().
def _client_rows(cl: MyClient, db: str, tables: List[MyTable], hashed: bool, on_begin, on_batch, on_end) -> None:
    """The rows through the command-line client in batch mode, which escapes every field."""
    by_name = {t.name: t for t in tables}
    current: Dict[str, object] = {}

    def begin(name: str) -> None:
        t = by_name[name]
        current.update(table=t, split=t.split())
        on_begin(t)

    def rows_of(chunk: bytes) -> None:
        name = current["table"].name  # type: ignore[union-attr]
        hashes = None
        if hashed:
            chunk, hashes = split_row_hashes(name, chunk)
        if current["split"]:
            chunk = join_blob_rows(name, chunk)
        elif (b"\n" + chunk).count(b"\n(") != chunk.count(b"\n"):  # every rendered row starts with "("
            raise Failure(f"table {name}: {UNRENDERED}")
        on_batch(chunk, hashes)

    proc = subprocess.Popen(cl.argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err: List[bytes] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    writer = threading.Thread(target=_feed, args=(proc, my_data_script(db, tables, hashed).encode()), daemon=True)
    writer.start()
    try:
        RowStream(proc, rows_of, begin, on_end).run()
    except BaseException:
        # (the reader of out gone, say) the client would block on its full pipe and the wait below never end
        proc.kill()
        raise
    finally:
        code = proc.wait()
        reader.join()
    if code != 0:
        raise Failure(f"{cl.client} (row data): {b''.join(err).decode('utf-8', 'replace').strip()}")


def client_escape(v: bytes) -> bytes:
    """The `mariadb` client's batch-mode escaping of a field: NUL, tab, newline, backslash."""
    return v.replace(b"\\", b"\\\\").replace(b"\0", b"\\0").replace(b"\t", b"\\t").replace(b"\n", b"\\n")


def _escaped_joined(values: Sequence[bytes]) -> bytes:
    """The values escaped as the client would, joined by newlines (which no escaped value holds). Joined
    first and escaped in passes over the whole batch (no call per row) when a newline, or else a NUL, occurs
    in no value and can separate them; otherwise value by value."""
    concatenated = b"".join(values)  # searched for a separator (memchr: counting in the joined bytes was slower)
    for sep in (b"\n", b"\0"):
        if sep not in concatenated:
            escaped = sep.join(values).replace(b"\\", b"\\\\")
            for byte, escape in ((b"\0", b"\\0"), (b"\t", b"\\t"), (b"\n", b"\\n")):
                if byte != sep:
                    escaped = escaped.replace(byte, escape)
            return escaped if sep == b"\n" else escaped.replace(b"\0", b"\n")
    return b"\n".join([client_escape(v) for v in values])


def _literals(values: Sequence[Optional[bytes]]) -> List[bytes]:
    """A column's values as quoted string literals (escaped as the client would, quotes doubled), NULL as
    NULL: what the server's rendering gives, in passes over the whole column."""
    present = [v for v in values if v is not None] if None in values else values
    if not present:
        return [b"NULL"] * len(values)
    quoted = (b"'" + _escaped_joined(present).replace(b"'", b"''").replace(b"\n", b"'\n'") + b"'").split(b"\n")
    if len(present) == len(values):
        return quoted
    it = iter(quoted)
    return [b"NULL" if v is None else next(it) for v in values]


class DriverTarget:
    """Where libmariadb in this process (Debian's python3-mysqldb) connects for the row data, and how.
    Explicit settings, not the client's defaults file: libmariadb's own parser of such files reads the bare
    flags `ssl` and `ssl-verify-server-cert` as off and ignores `protocol=TCP` (tried: a certificate for
    another name was accepted, a TLS-less session opened), so only what it does honour goes in a file of
    its own, with explicit values. A TCP connection must end up encrypted, or it is refused."""

    def __init__(self, user: str, password: str, socket: str = "", host: str = "", port: int = 0,
                 ca_file: str = "", verify_name: bool = False, work_dir: str = ""):
        if not socket and (not host or host == "localhost"):
            # libmariadb takes "localhost" over its default socket, and MySQLdb cannot ask for TCP
            raise ValueError("DriverTarget: a socket, or a TCP host other than localhost")
        self.user, self.password, self.socket, self.host, self.port = user, password, socket, host, port
        self.ca_file, self.verify_name, self.work_dir = ca_file, verify_name, work_dir

    _FIELDS = ("user", "password", "socket", "host", "port", "ca_file", "verify_name", "work_dir")

    def to_json(self) -> str:
        """For a private (0600) file a child fingerprint.py reads with --driver: it holds the password."""
        return json.dumps({f: getattr(self, f) for f in self._FIELDS})

    @classmethod
    def from_file(cls, path: str) -> "DriverTarget":
        with open(path) as f:
            return cls(**{k: v for k, v in json.load(f).items() if k in cls._FIELDS})

    def connect_kwargs(self) -> Dict[str, object]:
        # conv={}: every value as the server's bytes (None for NULL)
        kw: Dict[str, object] = {"user": self.user, "passwd": self.password, "charset": "utf8mb4",
                                 "use_unicode": False, "conv": {}, "connect_timeout": 10}
        if self.socket:
            kw["unix_socket"] = self.socket
            return kw
        kw.update(host=self.host, port=self.port)
        options = ["[client]", "ssl-enforce=1"] + (["ssl-verify-server-cert=1"] if self.verify_name else [])
        path = os.path.join(self.work_dir, "libmariadb.cnf")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(options) + "\n")
        kw.update(read_default_file=path, read_default_group="client")
        if self.ca_file:
            kw["ssl"] = {"ca": self.ca_file}
        return kw


def driver_available() -> bool:
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        return False
    return True


def _driver_error(e: BaseException) -> str:
    """MySQLdb's (errno, message) as the client prints it."""
    args = getattr(e, "args", ())
    return f"ERROR {args[0]}: {args[1]}" if len(args) == 2 else str(e) or type(e).__name__


def _driver_connect(target: DriverTarget, connect_kwargs: Dict[str, object], what: str, cursor_class=None,
                    session: Sequence[str] = ()):
    """(connection, cursor) through libmariadb, SESSION's statements run; a TCP session that is not encrypted is
    refused. Errors name WHAT the connection is for; the caller closes it."""
    import MySQLdb
    try:
        conn = MySQLdb.connect(**connect_kwargs)
    except MySQLdb.Error as e:
        raise Failure(f"MySQLdb ({what}): connecting: {_driver_error(e)}") from None
    try:
        deadpeer.watch_connection(conn)
        cur = conn.cursor(cursor_class) if cursor_class else conn.cursor()
        if not target.socket:
            cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            if not (cur.fetchall() or [(b"", b"")])[0][1]:
                raise Failure(f"MySQLdb ({what}): the connection to {target.host}:{target.port} is not encrypted")
        for statement in session:
            cur.execute(statement)
        return conn, cur
    except MySQLdb.Error as e:
        conn.close()
        raise Failure(f"MySQLdb ({what}): connecting: {_driver_error(e)}") from None
    except (OSError, ValueError, TypeError) as e:  # the dead-peer settings (deadpeer.py)
        conn.close()
        raise Failure(f"MySQLdb ({what}): {e}") from None
    except Failure:
        conn.close()
        raise


def _driver_snapshot(target: DriverTarget, connect_kwargs: Dict[str, object], what: str, cursor_class=None):
    """_driver_connect inside one consistent snapshot (SNAPSHOT_SESSION)."""
    return _driver_connect(target, connect_kwargs, what, cursor_class, SNAPSHOT_SESSION)


class DriverClient:
    """MyClient.query over one libmariadb connection in this process, for a caller that must not start client
    processes (the check that runs beside a load: each `mariadb` would cost ~10 MiB). Rows as MyClient.query
    reads them: text fields, NULL as the word NULL; a script of several statements gives all their rows."""

    def __init__(self, target: DriverTarget, what: str = "check", connect_kwargs: Optional[Dict[str, object]] = None):
        self.target, self.what, self.connect_kwargs = target, what, connect_kwargs
        self.conn = self.cur = None

    def query(self, sql: str) -> List[List[str]]:
        import MySQLdb
        from MySQLdb.constants import CLIENT
        if self.conn is None:
            kwargs = dict(self.connect_kwargs or self.target.connect_kwargs(), client_flag=CLIENT.MULTI_STATEMENTS)
            self.conn, self.cur = _driver_connect(self.target, kwargs, self.what)
        out: List[List[str]] = []
        try:
            self.cur.execute(sql)
            while True:
                for row in self.cur.fetchall() or ():
                    out.append(["NULL" if v is None else bytes(v).decode("utf-8", "surrogateescape") for v in row])
                if not self.cur.nextset():
                    return out
        except MySQLdb.Error as e:
            self.close()  # the statements after the failed one were not run: a new session for the next query
            raise Failure(f"MySQLdb ({self.what}): {_driver_error(e)}") from None

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - a failed goodbye changes nothing
                pass
        self.conn = self.cur = None


class DriverSessions:
    """MyClient.query through libmariadb in this process: each query in a session of its own, as each `mariadb`
    process was (its session settings and temporary tables end with it), and its rows as MyClient reads them,
    so digests taken either way compare equal. A client process per query cost ~0.1 s on a host whose process starts are
    dear, ~10 of them before a dump's first row (scripts/bench/WHY.md)."""

    def __init__(self, target: DriverTarget, what: str):
        self.target, self.client = target, f"MySQLdb ({what})"
        self._kwargs: Optional[Dict[str, object]] = None
        self._what = what

    def query(self, sql: str) -> List[List[str]]:
        if self._kwargs is None:
            self._kwargs = self.target.connect_kwargs()  # once: it writes libmariadb's option file
        session = DriverClient(self.target, self._what, self._kwargs)
        try:
            return session.query(sql)
        finally:
            session.close()


def _driver_rows(target: DriverTarget, db: str, tables: List[MyTable], hashed: bool, on_begin, on_batch,
                 on_end) -> None:
    """The rows through libmariadb in this process (python3-mysqldb, unbuffered): the same lines the client
    would write, without a client process escaping every byte on the way (scripts/bench/WHY.md)."""
    import MySQLdb
    import MySQLdb.cursors
    conn, cur = _driver_snapshot(target, target.connect_kwargs(), "row data", MySQLdb.cursors.SSCursor)
    try:
        for t in tables:
            stage = f"table {t.name}"
            on_begin(t)
            cur.execute(t.row_sql(db, hashed, in_process=True))
            split = t.split(in_process=True)
            want = 64
            while True:
                rows = cur.fetchmany(want)
                if not rows:
                    break
                hashes = [r[-1] for r in rows] if hashed else None
                # column by column: rendered segments (even fields), raw values between them (odd fields)
                columns = list(zip(*rows))[:len(rows[0]) - hashed]
                # a rendered field is NULL only past max_allowed_packet (CONCAT's limit; the client would have
                # printed the word NULL); raw values are NULL as themselves
                if any(None in c for c in columns[0::2]):
                    raise Failure(f"table {t.name}: {UNRENDERED}")
                if split:
                    pieces = [_escaped_joined(c).split(b"\n") if i % 2 == 0 else _literals(c)
                              for i, c in enumerate(columns)]
                    lines = b"\n".join(map(b"".join, zip(*pieces))) + b"\n"
                else:
                    lines = _escaped_joined(columns[0]) + b"\n"
                on_batch(lines, hashes)
                # about BLOCK bytes per batch: the batch is all the rows this process holds
                want = max(1, min(4096, BLOCK * len(rows) // len(lines)))
            on_end()
        stage = "commit"
        cur.execute("COMMIT")
    except MySQLdb.Error as e:
        raise Failure(f"MySQLdb (row data): {stage}: {_driver_error(e)}") from None
    finally:
        try:
            conn.close()
        except MySQLdb.Error:
            pass


def my_stream_rows(cl: MyClient, db: str, tables: List[MyTable], out=None, method: str = MY_ROW_SHA256,
                   driver: Optional[DriverTarget] = None) -> Dict[str, Dict[str, object]]:
    """Reads every table's rows (driver: in process, else through the client) and digests them (by METHOD:
    MY_ROW_SHA256, the rows' hashes the server adds to each row; MY_ROW_STREAM, the rendered lines
    themselves); with OUT, writes the rows as INSERT statements too."""
    hashed = method == MY_ROW_SHA256
    digests: Dict[str, Dict[str, object]] = {}
    state: Dict[str, object] = {}

    def flush() -> None:
        buf: List[bytes] = state["buf"]  # type: ignore[assignment]
        if buf and out is not None:
            # rows end with a newline: ",\n" between rows, ";\n" after the last (written in pieces: no copies)
            body = b"".join(buf).replace(b"\n", b",\n")
            out.write(state["head"])  # type: ignore[arg-type]
            out.write(memoryview(body)[:-2])
            out.write(b";\n")
        state["buf"], state["size"] = [], 0

    def on_begin(t: MyTable) -> None:
        state.update(name=t.name, digest=(RowHashSum if hashed else StreamDigest)(t.name), buf=[], size=0,
                     head=t.insert_head())
        if out is not None and not t.ordered:
            out.write(b"-- dbtier-serial " + my_ident(t.name).encode() + b"\n")

    def on_batch(rows: bytes, hashes: Optional[List[bytes]]) -> None:
        state["digest"].add(rows, hashes)  # type: ignore[union-attr]
        if out is None:
            return
        # Cut at row boundaries into statements of about INSERT_BYTES.
        pos = 0
        while pos < len(rows):
            room = INSERT_BYTES - state["size"]  # type: ignore[operator]
            end = rows.rfind(b"\n", pos, pos + max(room, 1)) + 1
            if end <= pos:  # no whole row fits: flush, or take one (large) row alone
                if state["buf"]:
                    flush()
                    continue
                end = rows.index(b"\n", pos) + 1
            state["buf"].append(rows[pos:end])  # type: ignore[union-attr]
            state["size"] += end - pos  # type: ignore[operator]
            pos = end
            if state["size"] >= INSERT_BYTES:  # type: ignore[operator]
                flush()

    def on_end() -> None:
        flush()
        digests[state["name"]] = state["digest"].result()  # type: ignore[index,union-attr]

    if driver is not None:
        _driver_rows(driver, db, tables, hashed, on_begin, on_batch, on_end)
    else:
        _client_rows(cl, db, tables, hashed, on_begin, on_batch, on_end)
    return digests


def _feed(proc: subprocess.Popen, data: bytes) -> None:
    try:
        proc.stdin.write(data)  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
    except OSError:
        pass


def my_sequence_state(cl: MyClient, db: str, sequences: List[str]) -> Dict[str, int]:
    """MariaDB SEQUENCEs: the next value not yet cached (what mariadb-dump's SETVAL restores)."""
    out = {}
    for s in sequences:
        rows = cl.query(f"SELECT next_not_cached_value FROM {my_ident(db)}.{my_ident(s)};")
        if rows:
            out[s] = int(rows[0][0])
    return out


def mysql_dump(db: str, digests_path: str, client: str, dump_tool: str, cnf: str, flavor: str, out=None,
               quiet: bool = False, driver: Optional[DriverTarget] = None) -> int:
    """The dump on out (default stdout; a binary file with a descriptor). quiet: the inexact reasons are not
    printed (a caller in process records them: dbtier/backup.py). driver: the rows through libmariadb in this
    process, else through the client."""
    cl = DriverSessions(driver, "dump") if driver is not None else MyClient(client, cnf)
    out = sys.stdout.buffer if out is None else out
    base = [dump_tool, f"--defaults-extra-file={cnf}", "--skip-dump-date", "--max-allowed-packet=1G",
            "--default-character-set=utf8mb4", "--single-transaction"]
    if flavor == "mysql":
        base += ["--set-gtid-purged=OFF", "--column-statistics=0"]
    # 1. tables, views and routines (no rows, no triggers or events yet), written by the dump tool while the
    # metadata is read here; 3. the triggers and events (small) read meanwhile too, written after the rows: the
    # three ran one after another before (scripts/bench/WHY.md)
    out.flush()
    schema = subprocess.Popen(base + ["--no-data", "--skip-triggers", "--skip-events", "--routines", db],
                              stdout=out.fileno(), stderr=subprocess.PIPE)
    tail = _Collected(base + ["--no-create-info", "--no-data", "--triggers", "--events", "--skip-routines", db])
    try:
        listing = my_table_list(cl, db)
        inexact = my_inexact(cl, db, listing)
        tables, sequences = my_tables(cl, db, listing)
        objects = my_objects(cl, db)
        database = my_database(cl, db)
    except BaseException:
        schema.kill()
        schema.wait()
        raise
    _finished(schema, base[0])
    for reason in inexact if not quiet else []:
        print(f"fingerprint: cannot be restored exactly: {reason}", file=sys.stderr)
    # the rows of the largest tables first: a restore checks each table as soon as it is loaded (sidedb), beside
    # the rest of the load
    tables = sorted(tables, key=lambda t: -t.size)
    # 2. the rows, exactly rendered, in one consistent snapshot
    out.write(b"\n-- dbtier row data (exact renderings)\n"
              b"/*!40101 SET NAMES utf8mb4 */;\nSET TIME_ZONE = '+00:00';\n"
              b"SET SQL_MODE = 'NO_AUTO_VALUE_ON_ZERO,ALLOW_INVALID_DATES';\nSET FOREIGN_KEY_CHECKS = 0;\nSET UNIQUE_CHECKS = 0;\n")
    if flavor == "mariadb":  # rows the source took with its CHECK constraints off (MySQL checks them always)
        out.write(b"SET CHECK_CONSTRAINT_CHECKS = 0;\n")
    if any(t.history for t in tables):  # (only then: older servers and MySQL do not know the setting)
        out.write(b"SET SYSTEM_VERSIONING_INSERT_HISTORY = 1;\n")
    out.flush()
    tdigests = my_stream_rows(cl, db, tables, out, driver=driver)
    seqs = my_sequence_state(cl, db, sequences)
    for s, value in seqs.items():
        out.write(f"DO SETVAL({my_ident(s)}, {value}, 0);\n".encode())
    out.write(b"SET FOREIGN_KEY_CHECKS = 1;\nSET UNIQUE_CHECKS = 1;\n")
    if flavor == "mariadb":
        out.write(b"SET CHECK_CONSTRAINT_CHECKS = 1;\n")
    out.write(tail.output())
    out.flush()
    _write_json(digests_path, {"format": MYSQL_FORMAT, "rowDigest": MY_ROW_SHA256, "tables": tdigests, "objects": objects,
                               "sequences": seqs, "inexact": inexact, "database": database})
    return 0


K = TypeVar("K")


def _in_groups(items: List[Tuple[K, int]], n: int) -> List[List[K]]:
    """Names spread over n groups of about equal size (largest first, each to the lightest group)."""
    groups: List[Tuple[int, List[K]]] = [(0, []) for _ in range(n)]
    for name, size in sorted(items, key=lambda x: -x[1]):
        i = min(range(n), key=lambda k: groups[k][0])
        groups[i] = (groups[i][0] + size, groups[i][1] + [name])
    return [g for _, g in groups if g]


def _from_queue(items: List, jobs: int, session) -> List:
    """Each of JOBS threads opens a session (session(n) -> (do, close)) and takes the items from one queue in
    their order, do(item) each, until none is left: a slow item holds up only its own thread. The results in
    the items' order; the first exception is raised (the other threads take no further items)."""
    results: List = [None] * len(items)
    errors: List[BaseException] = []
    queue = iter(range(len(items)))
    lock = threading.Lock()

    def body(n: int) -> None:
        try:
            do, close = session(n)
        except BaseException as e:  # noqa: BLE001 - raised below in the caller
            errors.append(e)
            return
        try:
            while not errors:
                with lock:
                    i = next(queue, None)
                if i is None:
                    return
                results[i] = do(items[i])
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
        finally:
            close()

    _start_and_join([threading.Thread(target=body, args=(n,), daemon=True) for n in range(max(1, min(jobs, len(items))))],
                    errors)
    return results


def _start_and_join(threads: List[threading.Thread], errors: List[BaseException]) -> None:
    """Starts the threads and waits for every one; the first exception they caught is raised."""
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _in_threads(fn, groups: List) -> List:
    """fn(group) for every group, each in its own thread; the first exception is raised."""
    results: List = [None] * len(groups)
    errors: List[BaseException] = []

    def body(i: int) -> None:
        try:
            results[i] = fn(groups[i])
        except BaseException as e:  # noqa: BLE001 - raised below in the caller
            errors.append(e)

    _start_and_join([threading.Thread(target=body, args=(i,), daemon=True) for i in range(len(groups))], errors)
    return results


# A row the server could not hash adds this to its table's sum (the sum of real hashes stays below rows x 2^64).
UNHASHED = 10 ** 40


def _my_unit_sums(cl: MyClient, db: str, units: List[Tuple[MyTable, str]]) -> List[Tuple[int, int]]:
    """mysql-row-sha256 computed by the server alone, one consistent snapshot: per unit (a table and a WHERE
    clause, '' for all of it) the row count and the sum of its rows' hashes (nothing passes through a client
    but the totals)."""
    sql = [f"{s};" for s in SNAPSHOT_SESSION]
    sql += [f"SELECT {i}, {_my_unit_sql(db, t, where)};" for i, (t, where) in enumerate(units)]
    sql.append("COMMIT;")
    out: List[Tuple[int, int]] = [(0, 0)] * len(units)
    for i, rows, total in cl.query("\n".join(sql)):
        out[int(i)] = (int(rows), int(total.split(".")[0]))
    return out


def _my_unit_sql(db: str, t: MyTable, where: str) -> str:
    return (f"COUNT(*), IFNULL(SUM(IFNULL(CAST(CONV(LEFT({t.row_hash()}, 16), 16, 10) AS UNSIGNED), {UNHASHED})), 0) "
            f"FROM {t.source(db)}{where}")


def _my_unit_sums_driver(target: DriverTarget, connect_kwargs: Dict[str, object], db: str,
                         units: List[Tuple[MyTable, str]]) -> List[Tuple[int, int]]:
    """_my_unit_sums over a libmariadb connection in this process: the check's connections cost no client
    process each, so there can be more of them (DBTIER_CHECK_JOBS)."""
    import MySQLdb
    conn, cur = _driver_snapshot(target, connect_kwargs, "check")
    try:
        out: List[Tuple[int, int]] = []
        for t, where in units:
            cur.execute(f"SELECT {_my_unit_sql(db, t, where)}")
            rows, total = cur.fetchone()
            out.append((int(rows), int(bytes(total).split(b".")[0])))
        cur.execute("COMMIT")
        return out
    except MySQLdb.Error as e:
        raise Failure(f"MySQLdb (check): {_driver_error(e)}") from None
    finally:
        conn.close()


def _my_table_digests(units: List[Tuple[MyTable, str]], sums: List[Tuple[int, int]]) -> Dict[str, Dict[str, object]]:
    """The units' counts and sums added up per table."""
    totals: Dict[str, List[int]] = {}
    for (t, _), (rows, total) in zip(units, sums):
        acc = totals.setdefault(t.name, [0, 0])
        acc[0] += rows
        acc[1] += total
    out: Dict[str, Dict[str, object]] = {}
    for name, (rows, total) in totals.items():
        if total >= UNHASHED:
            raise Failure(f"table {name}: {total // UNHASHED} rows the server could not hash (SHA2 gave NULL)")
        out[name] = {"rows": rows, "digest": format(total % (1 << 64), "016x")}
    return out


def my_table_sums(cl: MyClient, db: str, tables: List[MyTable]) -> Dict[str, Dict[str, object]]:
    units = [(t, "") for t in tables]
    return _my_table_digests(units, _my_unit_sums(cl, db, units))


# A table larger than this is digested in ranges of its primary key's leading integer column, so several
# connections share it: the scan of a table bigger than the buffer pool waits on page reads (WHY.md).
MY_RANGE_BYTES = 64 << 20
MY_INT_TYPES = ("tinyint", "smallint", "mediumint", "int", "bigint")


def my_ranged_units(cl: MyClient, db: str, tables: List[MyTable], sizes: Dict[str, int], jobs: int,
                    range_bytes: int = MY_RANGE_BYTES) -> List[Tuple[MyTable, str, int]]:
    """(table, WHERE clause, estimated bytes) covering every row of every table exactly once: a large InnoDB table
    whose PRIMARY KEY starts with an integer column as ranges of that column (a row's range is fixed by its own
    key value, so the ranges partition the table; InnoDB clusters rows on that key, so a range is one
    contiguous read), any other table whole."""
    big = [t for t in tables if t.engine.lower() == "innodb" and sizes.get(t.name, 0) > range_bytes]
    keys: Dict[str, str] = {}
    if big:
        names = ", ".join(my_str(t.name) for t in big)
        keys = {r[0]: r[1] for r in cl.query(
            f"SELECT s.table_name, s.column_name FROM information_schema.statistics s JOIN information_schema.columns c "
            f"ON c.table_schema = s.table_schema AND {my_same('c.table_name', 's.table_name')} AND c.column_name = s.column_name "
            f"WHERE s.table_schema = {my_str(db)} AND s.table_name IN ({names}) AND s.index_name = 'PRIMARY' "
            f"AND s.seq_in_index = 1 AND c.data_type IN ({', '.join(my_str(x) for x in MY_INT_TYPES)});")}
    bounds: Dict[str, Tuple[int, int]] = {}
    ranged = [t for t in big if t.name in keys]
    if ranged:
        for name, lo, hi in cl.query("\n".join(
                f"SELECT {my_str(t.name)}, MIN({my_ident(keys[t.name])}), MAX({my_ident(keys[t.name])}) "
                f"FROM {t.source(db)};" for t in ranged)):
            if lo != "NULL" and hi != "NULL":
                bounds[name] = (int(lo), int(hi))
    units: List[Tuple[MyTable, str, int]] = []
    for t in tables:
        size = sizes.get(t.name, 0)
        if t.name not in bounds:
            units.append((t, "", size))
            continue
        lo, hi = bounds[t.name]
        k = min(size // range_bytes + 1, 8 * jobs)
        cuts = sorted({lo + (hi - lo) * j // k for j in range(1, k)} - {lo})
        col = my_ident(keys[t.name])
        edges: List[Optional[int]] = [None, *cuts, None]
        for a, b in zip(edges, edges[1:]):
            cond = [f"{col} >= {a}"] * (a is not None) + [f"{col} < {b}"] * (b is not None)
            where = f" FORCE INDEX (PRIMARY) WHERE {' AND '.join(cond)}" if cond else ""
            units.append((t, where, size // len(edges[1:])))
    return units


def my_table_sizes(cl: MyClient, db: str, tables: List[MyTable]) -> Dict[str, int]:
    """Bytes per table as InnoDB's statistics tell, sampled again first (ANALYZE TABLE reads a few pages per
    index): right after a load they still describe the table as it was when last sampled (the bench's 757 MiB
    posts table read as 2 MiB when its check began), and the sizes decide which tables are read in ranges."""
    innodb = [t for t in tables if t.engine.lower() == "innodb"]
    if innodb:
        try:
            cl.query(f"ANALYZE TABLE {', '.join(f'{my_ident(db)}.{my_ident(t.name)}' for t in innodb)};")
        except Failure:
            pass  # refused (privileges): the sizes as they are only choose ranges, never change a digest
    return {r[0]: int(r[1] or 0) for r in cl.query(
        f"SELECT table_name, IFNULL(data_length, 0) FROM information_schema.tables WHERE table_schema = {my_str(db)};")}


def my_loaded_table_digests(cl, db: str, names: Sequence[str], jobs: int, driver: DriverTarget
                            ) -> Dict[str, Dict[str, object]]:
    """mysql-row-sha256 digests of the tables NAMES of a side or scratch database, as my_table_rows takes them for
    the whole database (sizes, key ranges, JOBS driver connections); cl: a DriverClient."""
    tables, _ = my_tables(cl, db)
    wanted = set(names)
    return my_table_rows(cl, db, [t for t in tables if t.name in wanted], jobs, MY_ROW_SHA256, driver=driver)


def my_table_rows(cl: MyClient, db: str, tables: List[MyTable], jobs: int, method: str,
                  range_bytes: int = MY_RANGE_BYTES, driver: Optional[DriverTarget] = None
                  ) -> Dict[str, Dict[str, object]]:
    """The tables' digests; jobs > 1: over that many connections, each its own snapshot: only for a database
    nothing else writes (a side or scratch database being checked). mysql-row-sha256 sums rows in any order,
    so large tables are split in key ranges (over driver connections where a target is given);
    mysql-stream-sha256 digests each table as one ordered stream."""
    if jobs <= 1 or not tables:
        return my_table_sums(cl, db, tables) if method == MY_ROW_SHA256 else my_stream_rows(cl, db, tables, method=method)
    sizes = my_table_sizes(cl, db, tables)
    if method != MY_ROW_SHA256:
        by_name = {t.name: t for t in tables}
        groups = _in_groups([(t.name, sizes.get(t.name, 0)) for t in tables], jobs)
        out: Dict[str, Dict[str, object]] = {}
        for part in _in_threads(lambda g: my_stream_rows(cl, db, [by_name[n] for n in g], method=method), groups):
            out.update(part)
        return out
    ranged = my_ranged_units(cl, db, tables, sizes, jobs, range_bytes)
    units = [(t, where) for t, where, _ in ranged]
    groups = _in_groups([(i, size) for i, (_, _, size) in enumerate(ranged)], jobs)
    kwargs = driver.connect_kwargs() if driver else None  # once: it writes the option file the threads share

    def group_sums(group: List[int]) -> List[Tuple[int, int]]:
        mine = [units[i] for i in group]
        return _my_unit_sums_driver(driver, kwargs, db, mine) if driver and kwargs else _my_unit_sums(cl, db, mine)

    sums: List[Tuple[int, int]] = [(0, 0)] * len(units)
    for group, part in zip(groups, _in_threads(group_sums, groups)):
        for i, result in zip(group, part):
            sums[i] = result
    return _my_table_digests(units, sums)


def mysql_fingerprint(db: str, out_path: str, client: str, cnf: str, jobs: int = 1, method: str = MY_ROW_SHA256,
                      driver: Optional[DriverTarget] = None, known: Optional[Dict[str, Dict[str, object]]] = None,
                      event_status: Optional[Dict[str, str]] = None) -> int:
    """known: row digests of some tables already taken (by METHOD) once nothing could change them any more (the
    check that ran beside the load); those tables are not read again. event_status: as my_objects takes it."""
    if method not in MY_ROW_DIGESTS:
        raise Failure(f"row digest '{method}' is unknown (known: {', '.join(MY_ROW_DIGESTS)})")
    cl = DriverSessions(driver, "check") if driver is not None else MyClient(client, cnf)
    listing = my_table_list(cl, db)
    tables, sequences = my_tables(cl, db, listing)
    known = known or {}
    rows = my_table_rows(cl, db, [t for t in tables if t.name not in known], jobs, method, driver=driver)
    rows.update({t.name: known[t.name] for t in tables if t.name in known})
    doc = {"format": MYSQL_FORMAT, "rowDigest": method, "tables": rows,
           "objects": my_objects(cl, db, event_status), "sequences": my_sequence_state(cl, db, sequences),
           "inexact": my_inexact(cl, db, listing), "database": my_database(cl, db)}
    _write_json(out_path, doc)
    return 0


class _Collected:
    """A dump tool run in the background, its output kept in memory for later (small: definitions only)."""

    def __init__(self, argv: List[str]):
        self.argv, self.result, self.error = argv, None, ""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = subprocess.run(self.argv, stdin=subprocess.DEVNULL, capture_output=True)
        except OSError as e:
            self.error = str(e)

    def output(self) -> bytes:
        self.thread.join()
        tool = os.path.basename(self.argv[0])
        if self.result is None:
            raise Failure(f"{tool}: {self.error}")
        if self.result.returncode != 0:
            raise Failure(f"{tool}: {self.result.stderr.decode('utf-8', 'replace').strip()}")
        return self.result.stdout


def _finished(p: subprocess.Popen, tool: str) -> None:
    """Waits for a dump tool writing the stream itself; its failure named with its own message."""
    err = p.communicate()[1] or b""
    if p.returncode != 0:
        raise Failure(f"{os.path.basename(tool)}: {err.decode('utf-8', 'replace').strip()}")


# ---------------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------------

# Settings under which record text is an exact rendering (and the same on every server): shortest exact
# floats, ISO dates in UTC, hex bytea.
PG_EXACT_SETTINGS = ("SET extra_float_digits = 3; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; "
                     "SET TimeZone = 'UTC'; SET bytea_output = 'hex'; SET row_security = off; "
                     "SET search_path = pg_catalog;")

# Tables holding rows (plain tables and partitions), not extension members. Materialized views are left
# out: a restore refreshes them, so a stale one comes back fresh (their definitions are compared).
PG_RELATIONS = """
SELECT format('%I.%I', n.nspname, c.relname), quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.oid
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND n.nspname NOT LIKE 'pg_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1
"""

# A table's row as pg-record-sha256 digests it: the row itself, or, when a column is bytea or text (or a
# domain directly over either), ROW(...) of its columns in order with each such value's SHA-256 in its place
# (text: its bytes in the database's encoding, textsend). r.oid: PG_RELATIONS.
PG_RECORD = """coalesce((SELECT 'ROW(' || string_agg(CASE coalesce(nullif(ty.typbasetype, 0), ty.oid)
      WHEN 'bytea'::regtype THEN 'sha256(t.' || quote_ident(a.attname) || ')'
      WHEN 'text'::regtype THEN 'sha256(textsend(t.' || quote_ident(a.attname) || '))'
      ELSE 't.' || quote_ident(a.attname) END, ', ' ORDER BY a.attnum) || ')'
  FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
  HAVING bool_or(coalesce(nullif(ty.typbasetype, 0), ty.oid) IN ('bytea'::regtype, 'text'::regtype))), 't')"""

# One row per object: key and definition text (ownership and privileges left out: a load makes the app
# user the owner of everything). A column's position is counted among the live columns: a dropped column
# keeps its attnum in the source, and no dump recreates it.
PG_OBJECTS = r"""
WITH ext AS (SELECT objid, classid FROM pg_depend WHERE deptype = 'e'),
ns AS (SELECT oid, nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema')
       AND nspname NOT LIKE 'pg_toast%' AND nspname NOT LIKE 'pg_temp%'),
rel AS (SELECT c.*, ns.nspname, format('%I.%I', ns.nspname, c.relname) AS qname FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
        WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_class'::regclass AND ext.objid = c.oid))
SELECT 'schema:' || nspname, coalesce(obj_description(oid, 'pg_namespace'), '') FROM ns
UNION ALL SELECT 'extension:' || extname, extversion || '|' || extnamespace::regnamespace::text FROM pg_extension
UNION ALL SELECT 'relation:' || qname, concat_ws('|', relkind, relpersistence, relrowsecurity, relforcerowsecurity,
  relispartition, coalesce(pg_get_expr(relpartbound, oid), ''), coalesce(obj_description(oid, 'pg_class'), ''),
  CASE WHEN relkind IN ('v', 'm') THEN pg_get_viewdef(oid) END,
  (SELECT pg_get_partkeydef(oid) WHERE relkind = 'p'), coalesce(array_to_string(reloptions, ','), ''))
  FROM rel WHERE relkind IN ('r', 'p', 'v', 'm', 'f', 'c', 'S')
UNION ALL SELECT 'column:' || r.qname || '.' || a.attname, concat_ws('|', (SELECT count(*) FROM pg_attribute p
    WHERE p.attrelid = a.attrelid AND p.attnum BETWEEN 1 AND a.attnum AND NOT p.attisdropped), format_type(a.atttypid, a.atttypmod),
  a.attnotnull, coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attgenerated, a.attidentity,
  coalesce((SELECT collname FROM pg_collation WHERE oid = a.attcollation AND a.attcollation <> 0), ''),
  coalesce(col_description(r.oid, a.attnum), ''))
  FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = r.oid AND d.adnum = a.attnum WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
UNION ALL SELECT 'index:' || r.qname, pg_get_indexdef(r.oid) FROM rel r WHERE r.relkind IN ('i', 'I')
UNION ALL SELECT 'constraint:' || r.qname || '.' || co.conname, pg_get_constraintdef(co.oid) || '|' || coalesce(obj_description(co.oid, 'pg_constraint'), '')
  FROM pg_constraint co JOIN rel r ON r.oid = co.conrelid
UNION ALL SELECT 'domain-constraint:' || t.typname || '.' || co.conname, pg_get_constraintdef(co.oid)
  FROM pg_constraint co JOIN pg_type t ON t.oid = co.contypid JOIN ns ON ns.oid = t.typnamespace
UNION ALL SELECT 'trigger:' || r.qname || '.' || tg.tgname, concat_ws('|', pg_get_triggerdef(tg.oid), tg.tgenabled)
  FROM pg_trigger tg JOIN rel r ON r.oid = tg.tgrelid WHERE NOT tg.tgisinternal
UNION ALL SELECT 'rule:' || r.qname || '.' || ru.rulename, pg_get_ruledef(ru.oid)
  FROM pg_rewrite ru JOIN rel r ON r.oid = ru.ev_class WHERE ru.rulename <> '_RETURN'
UNION ALL SELECT 'policy:' || r.qname || '.' || p.polname, concat_ws('|', p.polcmd, p.polpermissive,
  coalesce(pg_get_expr(p.polqual, p.polrelid), ''), coalesce(pg_get_expr(p.polwithcheck, p.polrelid), ''))
  FROM pg_policy p JOIN rel r ON r.oid = p.polrelid
UNION ALL SELECT 'sequence:' || r.qname, concat_ws('|', format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle)
  FROM pg_sequence s JOIN rel r ON r.oid = s.seqrelid
UNION ALL SELECT 'function:' || ns.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
  CASE WHEN p.prokind = 'a' THEN 'aggregate' ELSE pg_get_functiondef(p.oid) END || '|' || coalesce(obj_description(p.oid, 'pg_proc'), '')
  FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
  WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_proc'::regclass AND ext.objid = p.oid)
UNION ALL SELECT 'type:' || ns.nspname || '.' || t.typname, concat_ws('|', t.typtype, format_type(t.typbasetype, t.typtypmod), t.typnotnull,
  coalesce(t.typdefault, ''), (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid),
  coalesce(obj_description(t.oid, 'pg_type'), ''))
  FROM pg_type t JOIN ns ON ns.oid = t.typnamespace WHERE t.typtype IN ('e', 'd', 'r', 'm')
  AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_type'::regclass AND ext.objid = t.oid)
"""


# Settings whose value is a list of names: pg_dump writes them element by element (dumputils.c
# variable_is_guc_list_quote); written back as one string, `app, public` would be one schema name.
PG_LIST_SETTINGS = {"local_preload_libraries", "search_path", "session_preload_libraries",
                    "shared_preload_libraries", "temp_tablespaces", "unix_socket_directories"}


def pg_split_list_setting(value: str) -> List[str]:
    """A stored list setting split into its elements as PostgreSQL's SplitGUCList does: comma separated,
    blanks around elements ignored, double-quoted elements with "" for a quote."""
    items: List[str] = []
    i, n = 0, len(value)
    while i < n and value[i].isspace():
        i += 1
    if i == n:
        return items
    while True:
        if value[i] == '"':
            i, buf = i + 1, []
            while True:
                j = value.find('"', i)
                if j < 0:
                    raise Failure(f"setting value {value!r}: unterminated quoted element")
                if value[j + 1:j + 2] == '"':
                    buf.append(value[i:j + 1])
                    i = j + 2
                    continue
                buf.append(value[i:j])
                i = j + 1
                break
            items.append("".join(buf))
        else:
            j = i
            while j < n and value[j] != "," and not value[j].isspace():
                j += 1
            items.append(value[i:j])
            i = j
        while i < n and value[i].isspace():
            i += 1
        if i == n:
            return items
        if value[i] != ",":
            raise Failure(f"setting value {value!r}: expected a comma at offset {i}")
        i += 1
        while i < n and value[i].isspace():
            i += 1


def pg_database_sql(db: str, props: Dict[str, object]) -> List[str]:
    """Statements giving DB exactly the settings (ALTER DATABASE ... SET) and comment in PROPS."""
    ident = pg_ident(db)
    out = [f"ALTER DATABASE {ident} RESET ALL"]
    for item in props.get("settings") or []:
        name, sep, value = str(item).partition("=")
        if not sep or not name:
            raise Failure(f"database setting {item!r} is not name=value")
        values = pg_split_list_setting(value) if name.lower() in PG_LIST_SETTINGS else [value]
        out.append(f"ALTER DATABASE {ident} SET {pg_ident(name)} TO "
                   + (", ".join(pg_escape_literal(v) for v in values) if values else "''"))
    comment = props.get("comment")
    out.append(f"COMMENT ON DATABASE {ident} IS " + ("NULL" if comment is None else pg_escape_literal(str(comment))))
    return out


def pg_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def pg_escape_literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# libpq's environment variables and the connection keywords they stand for (libpq "Environment Variables"):
# an in-process connection given an environment (the orchestrator's Admin.env) reads it through these.
LIBPQ_ENV = {"PGHOST": "host", "PGPORT": "port", "PGUSER": "user", "PGPASSFILE": "passfile",
             "PGAPPNAME": "application_name", "PGCONNECT_TIMEOUT": "connect_timeout", "PGOPTIONS": "options",
             "PGSSLMODE": "sslmode", "PGSSLROOTCERT": "sslrootcert", "PGSSLCERT": "sslcert", "PGSSLKEY": "sslkey",
             "PGSSLCRL": "sslcrl"}


class PgSession:
    """One libpq connection in this process (Debian's python3-psycopg2, a host package): statements in, rows
    of text out (NULL as ''), each value exactly as the server sent it. In process rather than a psql child:
    the backup's tree held ~7 MiB less (WHY.md). Autocommit: the callers' BEGIN/COMMIT are the transaction."""

    def __init__(self, db: str, env: Optional[Dict[str, str]] = None):
        try:
            import psycopg2  # noqa: E402 - only the PostgreSQL commands need it
            import psycopg2.extensions as ext  # noqa: E402
        except ImportError:
            raise Failure("python3-psycopg2 is not installed (a host package: run 'dbtier-db install')") from None
        self._error = psycopg2.Error
        # With env (the orchestrator's Admin.env, built from this process's environment): its connection
        # settings as keywords; libpq reads any other PG* variable from this process's environment, as a psql
        # child given env would have. The password only ever from the passfile: "" keeps PGPASSWORD out.
        params: Dict[str, str] = {"dbname": db}
        if env is not None:
            params.update({LIBPQ_ENV[k]: v for k, v in env.items() if k in LIBPQ_ENV and v})
            params["password"] = ""
        options = (env if env is not None else os.environ).get("PGOPTIONS", "")
        params["options"] = (options + " -c client_min_messages=warning").strip()
        try:
            self.db = psycopg2.connect(**params)
        except psycopg2.Error as e:
            raise Failure(f"postgres: {str(e).strip()}") from None
        self.db.autocommit = True
        # every type psycopg2 would convert (numbers, booleans, dates, json, arrays) comes back as its text
        ext.register_type(ext.new_type(tuple(ext.string_types), "DBTIER_TEXT", lambda value, _cur: value), self.db)
        self.cur = self.db.cursor()

    def run(self, sql: str) -> List[List[str]]:
        try:
            self.cur.execute(sql)
            if self.cur.description is None:
                return []
            return [["" if v is None else v for v in row] for row in self.cur.fetchall()]
        except self._error as e:
            raise Failure(f"postgres: {str(e).strip()}") from None

    def close(self) -> None:
        try:
            self.db.close()
        except self._error:
            pass


# How each row is digested (recorded as the digests' "rowDigest"; digests without it are the first method):
#   pg-record-md5     md5 of the record text                                    (backups before 2026-12-07)
#   pg-record-sha256  SHA-256 of the record text's bytes with every bytea and text value replaced by its
#                     own SHA-256 (PG_RECORD): hex output doubled each blob's bytes, the record's quoting
#                     scanned every character of long text, md5 is slower than OpenSSL's SHA-256 (WHY.md)
# Either way a table's digest is the sum (mod 2^64) of the first 64 bits of its rows' hashes: order-independent.
PG_ROW_MD5, PG_ROW_SHA256 = "pg-record-md5", "pg-record-sha256"
PG_ROW_DIGESTS = (PG_ROW_MD5, PG_ROW_SHA256)


def pg_row_hash(method: str, record: str) -> str:
    """The SQL of one row's first 64 bits as bigint; record: the row as pg-record-sha256 takes it (PG_RECORD),
    pg-record-md5 takes the whole row t."""
    if method == PG_ROW_MD5:
        return "('x' || left(md5(t::text), 16))::bit(64)::bigint"
    return f"('x' || encode(substring(sha256(textsend({record}::text)) for 8), 'hex'))::bit(64)::bigint"


def pg_unit_digest(s: PgSession, quoted: str, record: str, method: str, where: str = "") -> Tuple[int, int]:
    """(rows, sum of their hashes mod 2^64) of table QUOTED, or of the rows WHERE selects."""
    # Record text under PG_EXACT_SETTINGS is exact (every column's output function; shortest exact
    # floats, -0, NaN). sum(bigint) accumulates in 128 bits: the same total as numeric, cheaper.
    rows = s.run(f"SELECT count(*), coalesce(sum({pg_row_hash(method, record)}), 0) "
                 f"% 18446744073709551616 FROM ONLY {quoted} t{where}")
    return int(rows[0][0]), int(rows[0][1].split(".")[0]) % (1 << 64)


def _pg_table_digest(rows: int, total: int) -> Dict[str, object]:
    return {"rows": rows, "digest": format(total % (1 << 64), "016x")}


def pg_table_digests(s: PgSession, relations: List[List[str]], method: str) -> Dict[str, Dict[str, object]]:
    return {name: _pg_table_digest(*pg_unit_digest(s, quoted, record, method)) for name, quoted, record in relations}


def pg_relations(s: PgSession) -> List[List[str]]:
    """[name, quoted name, record expression for pg-record-sha256, size in bytes with TOAST, heap pages] per table."""
    return s.run(f"SELECT regexp_replace(k, '[\\n\\r\\t]', ' ', 'g'), q, {PG_RECORD}, pg_table_size(q::regclass), "
                 f"pg_relation_size(q::regclass) / current_setting('block_size')::int "
                 f"FROM ({PG_RELATIONS}) r(k, q, oid)")


# The sessions of a check over several sessions (jobs > 1): each one server process, no parallel workers (two
# sessions with two workers each were slower on two cores: every query started its workers anew), so the check
# takes DBTIER_CHECK_JOBS of the server's cores; and, as the load's sessions, they ask the kernel to write back
# the pages they dirty (the first read of a loaded row sets its hint bits) before the swap's checkpoint would.
PG_ONE_PROCESS = "SET max_parallel_workers_per_gather = 0"
PG_CHECK_SESSION = PG_ONE_PROCESS + "; SET backend_flush_after = '2MB'"
# ... and the work is cut in units of about this many bytes (a table with its TOAST): ranges of its heap pages
# (a TID Range Scan, PostgreSQL >= 14, reads only those pages and the values they point to), which the
# sessions take from one queue, largest first. A table's cost per byte varies several times over with its
# rows' width and TOAST, so whole tables spread by size left one session working alone (scripts/bench/WHY.md).
PG_UNIT_BYTES = 48 << 20
PG_TID_RANGES = 140000  # server_version_num from which ctid ranges are a TID Range Scan, not a filtered full scan


def pg_units(relations: List[List[str]], tid_ranges: bool, unit_bytes: int = 0) -> List[Tuple[str, str, str, str, int]]:
    """(name, quoted, record, WHERE clause, estimated bytes) covering every row of every table exactly once,
    largest first. relations: pg_relations' rows (the last two: bytes with TOAST, heap pages)."""
    unit_bytes = unit_bytes or PG_UNIT_BYTES
    units = []
    for name, quoted, record, size, pages in relations:
        size, pages = int(size or 0), int(pages or 0)
        k = min(max(1, -(-size // unit_bytes)), pages) if tid_ranges else 1
        if k <= 1:
            units.append((name, quoted, record, "", size))
            continue
        cuts = [pages * j // k for j in range(1, k)]
        edges: List[Optional[int]] = [None, *cuts, None]
        for a, b in zip(edges, edges[1:]):
            cond = [f"ctid >= '({a},0)'::tid"] * (a is not None) + [f"ctid < '({b},0)'::tid"] * (b is not None)
            units.append((name, quoted, record, f" WHERE {' AND '.join(cond)}", size // k))
    return sorted(units, key=lambda u: -u[4])


def pg_digests(s: PgSession, db: str = "", jobs: int = 1, method: str = PG_ROW_SHA256,
               env: Optional[Dict[str, str]] = None) -> Tuple[Dict[str, Dict[str, object]], Dict[str, str]]:
    """jobs > 1: the tables are digested over that many sessions (connected with env, as PgSession), each its
    own snapshot (only for a database nothing writes to: a side or scratch database)."""
    if method not in PG_ROW_DIGESTS:
        raise Failure(f"row digest '{method}' is unknown (known: {', '.join(PG_ROW_DIGESTS)})")
    relations = pg_relations(s)
    if jobs <= 1 or not relations:
        tables = pg_table_digests(s, [r[:3] for r in relations], method)
    else:
        s.run(PG_CHECK_SESSION)
        tid_ranges = int(s.run("SHOW server_version_num")[0][0]) >= PG_TID_RANGES
        units = pg_units(relations, tid_ranges)

        def session(n: int):
            if n == 0:
                return lambda u: pg_unit_digest(s, u[1], u[2], method, u[3]), lambda: None
            other = PgSession(db, env)
            try:
                other.run("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                other.run(PG_EXACT_SETTINGS)
                other.run(PG_CHECK_SESSION)
            except Failure:
                other.close()
                raise
            return lambda u: pg_unit_digest(other, u[1], u[2], method, u[3]), other.close

        totals: Dict[str, List[int]] = {r[0]: [0, 0] for r in relations}
        for unit, (rows, total) in zip(units, _from_queue(units, jobs, session)):
            totals[unit[0]][0] += rows
            totals[unit[0]][1] += total
        tables = {name: _pg_table_digest(rows, total) for name, (rows, total) in totals.items()}
    objects: Dict[str, str] = {}
    # Definitions span lines: the server hashes them, and keys are kept on one line.
    for key, digest in s.run(f"SELECT regexp_replace(k, '[\\n\\r\\t]', ' ', 'g'), encode(sha256(convert_to(coalesce(d, ''), 'UTF8')), 'hex') "
                             f"FROM ({PG_OBJECTS}) q(k, d)"):
        objects[key] = digest
    lo = s.run("SELECT count(*), coalesce(md5(string_agg(oid::text || ':' || md5(lo_get(oid)), ',' ORDER BY oid)), '') "
               "FROM pg_largeobject_metadata")
    if int(lo[0][0]):
        tables["(large objects)"] = {"rows": int(lo[0][0]), "digest": lo[0][1]}
    return tables, objects


def pg_database(s: PgSession) -> Dict[str, object]:
    """The database's own settings (ALTER DATABASE ... SET, for every role) and comment."""
    rows = s.run("SELECT coalesce((SELECT array_to_json(st.setconfig) FROM pg_db_role_setting st "
                 "WHERE st.setdatabase = d.oid AND st.setrole = 0), '[]'), "
                 "coalesce(to_json(shobj_description(d.oid, 'pg_database')), 'null') "
                 "FROM pg_database d WHERE d.datname = current_database()")
    if len(rows) != 1 or len(rows[0]) != 2:
        raise Failure("cannot read the database's settings and comment")
    return {"settings": sorted(json.loads(rows[0][0])), "comment": json.loads(rows[0][1])}


def pg_sequences(s: PgSession) -> Dict[str, int]:
    """Each sequence's position: the next value it hands out. Sequences are not transactional (a snapshot
    does not hold them still), so this is read before pg_dump reads them: the dump's value is never lower."""
    out: Dict[str, int] = {}
    for name, quoted in s.run("SELECT format('%I.%I', n.nspname, c.relname), quote_ident(n.nspname) || '.' || quote_ident(c.relname) "
                              "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'S' "
                              "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') ORDER BY 1"):
        last, called = s.run(f"SELECT last_value, is_called FROM {quoted}")[0]
        out[name] = int(last) + (1 if called == "t" else 0)
    return out


def pg_extensions(s: PgSession) -> List[Dict[str, str]]:
    """The database's extensions in the order they were created (one may need another), each's name, schema and
    version: a restore has the admin create those only a superuser may create (dbtier/db.py create_extensions)
    before the app user's load."""
    return [{"name": name, "schema": schema, "version": version} for name, schema, version in s.run(
        "SELECT e.extname, n.nspname, e.extversion FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "ORDER BY e.oid")]


def pg_inexact(s: PgSession) -> List[str]:
    reasons = []
    for (name,) in s.run("SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                         "WHERE c.relkind = 'f' ORDER BY 1"):
        reasons.append(f"foreign table {name}: its rows live on another server and are not in the dump")
    for (name,) in s.run("SELECT quote_ident(evtname) FROM pg_event_trigger ORDER BY 1"):
        reasons.append(f"event trigger {name}: only a superuser may create one, and a load runs as the app user "
                       "(the load leaves it out)")
    return reasons


def pg_dump(db: str, digests_path: str, out=None, env: Optional[Dict[str, str]] = None, work_dir: str = "",
            quiet: bool = False) -> int:
    """The dump on out (default stdout; a binary file with a descriptor), the clients run with env (default
    this process's), the schema archive kept in work_dir (default RUN_DIR). quiet: the inexact reasons are not
    printed (a caller in process records them: dbtier/backup.py)."""
    import shutil  # noqa: E402 - only here (each module costs every dump process memory: WHY.md)
    import tempfile  # noqa: E402
    out = sys.stdout.buffer if out is None else out
    s = PgSession(db, env)
    work = tempfile.mkdtemp(prefix="dbtier-pgdump.", dir=work_dir or os.environ.get("RUN_DIR") or None)
    try:
        s.run("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = s.run("SELECT pg_export_snapshot()")[0][0]
        s.run(PG_EXACT_SETTINGS)
        schema = os.path.join(work, "schema.dump")
        common = ["pg_dump", f"--snapshot={snapshot}", "--encoding=UTF8", "-d", db]
        p = subprocess.run(common + ["--format=custom", "--section=pre-data", "--section=post-data", "--blobs",
                                     "-f", schema], stderr=subprocess.PIPE, env=env)
        if p.returncode != 0:
            raise Failure(f"pg_dump (schema): {p.stderr.decode('utf-8', 'replace').strip()}")
        size = os.path.getsize(schema)
        out.write(f"-- dbtier pg-split 1 schema-bytes={size}\n".encode())
        with open(schema, "rb") as f:
            shutil.copyfileobj(f, out, BLOCK)
        out.flush()
        sequences = pg_sequences(s)
        # The rows go straight from pg_dump to our stdout while this session digests the same snapshot.
        data = subprocess.Popen(common + ["--format=plain", "--section=data", "--blobs"], stdout=out.fileno(),
                                stderr=subprocess.PIPE, env=env)
        err: List[bytes] = []
        t = threading.Thread(target=lambda: err.append(data.stderr.read()), daemon=True)  # type: ignore[union-attr]
        t.start()
        try:
            # The digests only have to finish before the rows do (one COPY, one server process): parallel
            # workers would take more of the source server's CPU for nothing (scripts/bench/WHY.md).
            s.run(PG_ONE_PROCESS)
            tables, objects = pg_digests(s)
            inexact = pg_inexact(s)
            database = pg_database(s)
            extensions = pg_extensions(s)
        finally:
            code = data.wait()
            t.join()
        if code == -signal.SIGPIPE:  # the stream's reader (the uploader) went away: its failure is the cause
            raise BrokenPipeError("pg_dump (data): its reader went away")
        if code != 0:
            raise Failure(f"pg_dump (data): {b''.join(err).decode('utf-8', 'replace').strip() or f'exit {code}'}")
        s.run("COMMIT")
        for reason in inexact if not quiet else ():
            print(f"fingerprint: cannot be restored exactly: {reason}", file=sys.stderr)
        _write_json(digests_path, {"format": PG_FORMAT, "rowDigest": PG_ROW_SHA256, "tables": tables, "objects": objects,
                                   "sequences": sequences, "inexact": inexact, "database": database,
                                   "extensions": extensions})
        return 0
    finally:
        s.close()
        shutil.rmtree(work, ignore_errors=True)


def pg_fingerprint(db: str, out_path: str, jobs: int = 1, method: str = PG_ROW_SHA256,
                   env: Optional[Dict[str, str]] = None) -> int:
    """env: the sessions' connection settings, as PgSession takes them (default this process's environment)."""
    s = PgSession(db, env)
    try:
        s.run("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        s.run(PG_EXACT_SETTINGS)
        sequences = pg_sequences(s)
        tables, objects = pg_digests(s, db, jobs, method, env)
        inexact = pg_inexact(s)
        database = pg_database(s)
        s.run("COMMIT")
    finally:
        s.close()
    _write_json(out_path, {"format": PG_FORMAT, "rowDigest": method, "tables": tables, "objects": objects,
                           "sequences": sequences, "inexact": inexact, "database": database})
    return 0


# ---------------------------------------------------------------------------------------------------

def _write_json(path: str, doc: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")


def _load(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise Failure(f"{path}: {e}")
    return doc.get("source", doc) if isinstance(doc, dict) else {}


def _known_tables(path: str, method: str) -> Dict[str, Dict[str, object]]:
    """--known FILE: {"rowDigest": M, "tables": {name: {"rows": N, "digest": hex}}}, taken by the same method."""
    doc = _load(path)
    if doc.get("rowDigest") != method or not isinstance(doc.get("tables"), dict):
        raise Failure(f"{path}: not row digests by {method}")
    return doc["tables"]


def _event_status(path: str) -> Dict[str, str]:
    """--event-status FILE: {event name: status at the source} as parallel-load.py --events-disabled writes it."""
    import dumpkit  # noqa: E402 - only here: the dumps and checks in process never read the file
    try:
        return dumpkit.read_event_status(path)
    except (OSError, ValueError) as e:
        raise Failure(str(e)) from None


def row_digest_of(doc: dict) -> Optional[str]:
    """How the digests' rows were hashed (digests without the record are their engine's first method)."""
    return doc.get("rowDigest") or {PG_FORMAT: PG_ROW_MD5, MYSQL_FORMAT: MY_ROW_STREAM}.get(doc.get("format"))


def compare(expected_path: str, actual_path: str) -> int:
    problems = differences(expected_path, actual_path)
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


def differences(expected_path: str, actual_path: str) -> List[str]:
    """What differs between the source's digests and a copy's, one line each (none: equal)."""
    e, a = _load(expected_path), _load(actual_path)
    problems = [f"the source could not be dumped exactly: {r}" for r in e.get("inexact", [])]
    if row_digest_of(e) != row_digest_of(a):
        problems.append(f"the rows were digested by {row_digest_of(a)}, the source's by {row_digest_of(e)}: not comparable")
    et, at = e.get("tables", {}), a.get("tables", {})
    for name in sorted(set(et) | set(at)):
        x, y = et.get(name), at.get(name)
        if x is None:
            problems.append(f"table {name}: {y.get('rows')} rows, not in the source")
        elif y is None:
            problems.append(f"table {name}: missing (the source has {x.get('rows')} rows)")
        elif x.get("rows") != y.get("rows"):
            problems.append(f"table {name}: {y.get('rows')} rows, the source has {x.get('rows')}")
        elif x.get("digest") != y.get("digest"):
            problems.append(f"table {name}: same {x.get('rows')} rows count, different content")
    eo, ao = e.get("objects", {}), a.get("objects", {})
    for key in sorted(set(eo) | set(ao)):
        if key not in ao:
            problems.append(f"{key}: missing")
        elif key not in eo:
            problems.append(f"{key}: not in the source")
        elif eo[key] != ao[key]:
            problems.append(f"{key}: definition differs")
    es, as_ = e.get("sequences", {}), a.get("sequences", {})
    for name in sorted(es):
        if name not in as_:
            problems.append(f"sequence {name}: missing")
        elif as_[name] < es[name]:
            problems.append(f"sequence {name}: would hand out {as_[name]} again (the source was at {es[name]})")
    # Backups taken before the database record existed do not have one: nothing to compare.
    if "database" in e and e.get("database") != a.get("database"):
        problems.append(f"database defaults/settings: {json.dumps(a.get('database'), ensure_ascii=False)}, "
                        f"the source has {json.dumps(e.get('database'), ensure_ascii=False)}")
    return problems


def database_sql(engine: str, db: str, manifest_path: str) -> int:
    """Prints the statements giving DB the database defaults/settings the backup recorded (nothing for a
    backup without the record)."""
    sys.stdout.write("".join(st + ";\n" for st in database_statements(engine, db, manifest_path)))
    return 0


def database_statements(engine: str, db: str, manifest_path: str) -> List[str]:
    props = _load(manifest_path).get("database")
    if props is None:
        return []
    if not isinstance(props, dict):
        raise Failure(f"{manifest_path}: source.database is not an object")
    return my_database_sql(db, props) if engine == "mysql" else pg_database_sql(db, props)


def _opts(argv: List[str]) -> Dict[str, str]:
    out, i = {}, 0
    while i < len(argv):
        if not argv[i].startswith("--") or i + 1 >= len(argv):
            raise SystemExit(f"fingerprint: unexpected argument {argv[i]!r}")
        out[argv[i][2:]] = argv[i + 1]
        i += 2
    return out


def main(argv: List[str]) -> int:
    try:
        if len(argv) >= 4 and argv[0] == "dump" and argv[1] == "mysql":
            o = _opts(argv[4:])
            return mysql_dump(argv[2], argv[3], o["client"], o["dump-tool"], o["cnf"], o.get("flavor", "mariadb"))
        if len(argv) == 4 and argv[0] == "dump" and argv[1] == "postgres":
            return pg_dump(argv[2], argv[3])
        if len(argv) >= 4 and argv[0] == "fingerprint" and argv[1] == "mysql":
            o = _opts(argv[4:])
            driver = DriverTarget.from_file(o["driver"]) if "driver" in o else None
            method = o.get("row-digest", MY_ROW_SHA256)
            return mysql_fingerprint(argv[2], argv[3], o["client"], o["cnf"], int(o.get("jobs", "1")), method, driver,
                                     _known_tables(o["known"], method) if "known" in o else None,
                                     _event_status(o["event-status"]) if "event-status" in o else None)
        if len(argv) >= 4 and argv[0] == "fingerprint" and argv[1] == "postgres":
            o = _opts(argv[4:])
            return pg_fingerprint(argv[2], argv[3], int(o.get("jobs", "1")), o.get("row-digest", PG_ROW_SHA256))
        if len(argv) == 3 and argv[0] == "compare":
            return compare(argv[1], argv[2])
        if len(argv) == 4 and argv[0] == "database-sql" and argv[1] in ("mysql", "postgres"):
            return database_sql(argv[1], argv[2], argv[3])
    except Failure as e:
        print(f"fingerprint: {e}", file=sys.stderr)
        return 1
    except KeyError as e:
        print(f"fingerprint: missing option --{e.args[0]}", file=sys.stderr)
        return 2
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:
        print("fingerprint: the reader of the dump went away", file=sys.stderr)
        sys.exit(1)
