#!/usr/bin/env python3
"""Round-trip check of scripts/host/lib/parallel-load.py against real servers (used by jest).

For each engine: start a server, create awkward data (quotes, backslashes, newlines, ';' and '--'
inside strings, unicode, NULLs, empty strings, binary blobs, a table without a primary key, a
trigger that would corrupt counts if fired while loading, a view, a routine with DELIMITER), dump
it, reload the dump through parallel-load with 1 and 3 connections (small chunks so one table is
split across connections), and compare a re-dump and per-table checksums with the original.
Prints one JSON object: {engine: {"client-jobs-tls": {"rc", "identical_redump", "checksums_match", "stderr"}}}.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.servers import ROOT, DbServer, write_secret  # noqa: E402

LOADER = ROOT / "scripts/host/lib/parallel-load.py"
# The interpreter the toolkit runs on a host (Debian's, with the apt-installed database drivers).
SYSTEM_PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else "python3"

MY_SETUP = r"""
CREATE TABLE t_text (id INT PRIMARY KEY, a TEXT, b VARCHAR(200), n INT NULL, KEY idx_b (b(20)), UNIQUE KEY uq_n (n));
CREATE TABLE t_blob (id INT PRIMARY KEY, data LONGBLOB, k INT GENERATED ALWAYS AS (id * 2) VIRTUAL, KEY idx_k (k));
CREATE TABLE t_nopk (x INT, y VARCHAR(20), KEY idx_x (x));
CREATE TABLE t_count (id INT PRIMARY KEY, c INT NOT NULL DEFAULT 0);
CREATE TABLE t_child (id INT PRIMARY KEY, parent INT NOT NULL, KEY idx_parent (parent),
  CONSTRAINT fk_parent FOREIGN KEY (parent) REFERENCES t_count (id));
INSERT INTO t_count VALUES (1, 0), (2, 0);
DELIMITER //
CREATE TRIGGER trg AFTER INSERT ON t_child FOR EACH ROW UPDATE t_count SET c = c + 1 WHERE id = NEW.parent//
CREATE PROCEDURE p_semi() BEGIN SELECT 'a;b'; SELECT "c;d"; END//
DELIMITER ;
INSERT INTO t_child VALUES (1, 1), (2, 1), (3, 2);
CREATE VIEW v_text AS SELECT id, b FROM t_text WHERE n IS NOT NULL;
"""

PG_SETUP = r"""
CREATE TABLE t_text (id int PRIMARY KEY, a text, b varchar(200), n int UNIQUE);
CREATE INDEX idx_b ON t_text (b);
CREATE TABLE t_blob (id int PRIMARY KEY, data bytea);
CREATE TABLE t_nopk (x int, y varchar(20));
CREATE INDEX idx_x ON t_nopk (x);
CREATE TABLE t_count (id int PRIMARY KEY, c int NOT NULL DEFAULT 0);
CREATE TABLE t_child (id int PRIMARY KEY, parent int NOT NULL REFERENCES t_count (id));
INSERT INTO t_count VALUES (1, 0), (2, 0);
CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN UPDATE t_count SET c = c + 1 WHERE id = NEW.parent; RETURN NEW; END $body$;
CREATE TRIGGER trg AFTER INSERT ON t_child FOR EACH ROW EXECUTE FUNCTION bump();
CREATE FUNCTION semi() RETURNS text LANGUAGE sql AS $$ SELECT 'a;b' || E'\\;' $$;
INSERT INTO t_child VALUES (1, 1), (2, 1), (3, 2);
CREATE VIEW v_text AS SELECT id, b FROM t_text WHERE n IS NOT NULL;
CREATE SEQUENCE s_custom START 42;
SELECT nextval('s_custom');
"""

AWKWARD = ["it's", 'say "hi"', "back\\slash", "semi;colon", "-- not a comment", "/* nor this */",
           "line1\nline2\r\n", "tab\there", "émoji 🚀 日本語", "", "END;;", "$$ dollar $$", "\\.", "x\\.y"]


def sql_str(s: str, engine: str) -> str:
    if engine == "mariadb":
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r") + "'"
    return "'" + s.replace("'", "''") + "'"


def data_sql(engine: str) -> str:
    rows = []
    for i in range(1, 1201):
        a = AWKWARD[i % len(AWKWARD)] * (1 + i % 7) + f" #{i}"
        n = "NULL" if i % 5 == 0 else str(i)
        rows.append(f"({i}, {sql_str(a, engine)}, {sql_str(AWKWARD[(i * 3) % len(AWKWARD)], engine)}, {n})")
    out = [f"INSERT INTO t_text VALUES {', '.join(rows[k:k + 100])};" for k in range(0, len(rows), 100)]
    blobs = []
    for i in range(1, 81):
        raw = bytes((i * 7 + j * 13) % 256 for j in range(i * 97))
        blobs.append(f"({i}, {'0x' + raw.hex() if engine == 'mariadb' else chr(39) + chr(92) + 'x' + raw.hex() + chr(39)})"
                     if raw else f"({i}, NULL)")
    cols = "(id, data)"
    out.append(f"INSERT INTO t_blob {cols} VALUES {', '.join(blobs)};")
    out.append("INSERT INTO t_nopk VALUES " + ", ".join(f"({i % 17}, 'y{i}')" for i in range(300)) + ";")
    return "\n".join(out)


def dump(server: DbServer) -> bytes:
    if server.engine == "mariadb":
        cmd = server.root_cmd("mariadb-dump") + ["--single-transaction", "--hex-blob", "--routines", "--triggers",
                                                 "--skip-dump-date", "--order-by-primary", "--net-buffer-length=16384",
                                                 server.dbname]
    else:
        cmd = server.root_cmd("pg_dump") + ["-d", server.dbname]
    out = subprocess.run(cmd, check=True, capture_output=True).stdout
    # pg_dump's \restrict key is random per run
    return b"\n".join(ln for ln in out.split(b"\n") if not ln.startswith((b"\\restrict", b"\\unrestrict")))


def checksum(server: DbServer) -> str:
    tables = ["t_text", "t_blob", "t_nopk", "t_count", "t_child"]
    if server.engine == "mariadb":
        return server.root_sql(f"CHECKSUM TABLE {', '.join(tables)} EXTENDED;", db=server.dbname)
    return server.root_sql(" UNION ALL ".join(
        f"SELECT '{t}', count(*), md5(string_agg(x::text, '' ORDER BY x::text)) FROM {t} x" for t in tables) + ";",
        db=server.dbname)


def check(engine: str, work: Path) -> dict:
    server = DbServer(engine, work / engine).start()
    res: dict = {}
    try:
        setup = MY_SETUP if engine == "mariadb" else PG_SETUP
        if engine == "mariadb":
            subprocess.run(server.root_cmd("mariadb") + [server.dbname], input=setup.encode(), check=True)
        else:
            server.root_sql(f"SET ROLE {server.app_user};" + setup, db=server.dbname)
        if engine == "mariadb":
            subprocess.run(server.root_cmd("mariadb") + [server.dbname], input=data_sql(engine).encode(), check=True)
        else:
            server.root_sql(f"SET ROLE {server.app_user};" + data_sql(engine), db=server.dbname)
        original, sums = dump(server), checksum(server)
        pw = write_secret(work / f"{engine}-pw", server.admin_password)
        # The command-line clients and the in-process drivers (system python3, where the Debian packages
        # python3-pymysql / python3-psycopg2 live), over plain TCP and TLS.
        variants = [("cli", 1, "disable"), ("cli", 3, "disable"), ("driver", 1, "disable"),
                    ("driver", 3, "require"), ("driver", 3, "verify-ca")]
        if engine == "mariadb":
            variants.append(("driver", 3, "defer"))  # --defer-indexes is MariaDB/MySQL's
            # An admin that authenticates with ed25519, which PyMySQL cannot do without PyNaCl: --client auto
            # must fall back to the mariadb client.
            ed_user = "ed_admin"
            subprocess.run(server.root_cmd("mariadb"), check=True, input=(
                "INSTALL SONAME 'auth_ed25519';"
                f"CREATE USER '{ed_user}'@'127.0.0.1' IDENTIFIED VIA ed25519 USING PASSWORD('{server.admin_password}');"
                f"GRANT ALL ON *.* TO '{ed_user}'@'127.0.0.1';"
                # A self-managed host's toolkit may reach its server over the local socket (DB_SOCKET).
                f"CREATE USER 'sock_admin'@'localhost' IDENTIFIED BY '{server.admin_password}';"
                "GRANT ALL ON *.* TO 'sock_admin'@'localhost';").encode())
            variants += [("auto", 2, "ed25519"), ("driver", 2, "socket")]
        for client, jobs, tls in variants:
            server.recreate_db()
            user = {"ed25519": "ed_admin", "socket": "sock_admin"}.get(tls, server.admin_user)
            env = dict(os.environ, PATH=f"/usr/lib/postgresql/15/bin:{os.environ.get('PATH', '')}")
            tcp = ["--host", "127.0.0.1", "--port", str(server.port)]
            how = {"defer": tcp + ["--tls-mode", "disable", "--defer-indexes"],
                   "ed25519": tcp + ["--tls-mode", "require"],
                   "socket": ["--socket", str(server.workdir / "mysqld.sock")],
                   "verify-ca": tcp + ["--tls-mode", "verify-ca", "--ca-file", str(server.tls["ca"])]
                   }.get(tls, tcp + ["--tls-mode", tls])
            p = subprocess.run([SYSTEM_PYTHON, str(LOADER), "--engine", engine, *how, "--user", user,
                                "--database", server.dbname,
                                "--password-file", str(pw), "--jobs", str(jobs), "--client", client,
                                "--chunk-bytes", "8192"], input=original, capture_output=True, env=env)
            redump = dump(server) if p.returncode == 0 else b""
            res[f"{client}-{jobs}-{tls}"] = {
                "rc": p.returncode, "identical_redump": redump == original, "jobs": jobs,
                # parallel COPY/INSERT does not keep the physical row order pg_dump prints
                "same_lines": sorted(redump.split(b"\n")) == sorted(original.split(b"\n")),
                "checksums_match": p.returncode == 0 and checksum(server) == sums,
                "stderr": p.stderr.decode(errors="replace")[-2000:],
                "diff_hint": _first_diff(original, redump)}
    finally:
        server.stop()
    return res


def _first_diff(a: bytes, b: bytes) -> str:
    la, lb = a.split(b"\n"), b.split(b"\n")
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            return f"line {i + 1}: {x[:200]!r} != {y[:200]!r}"
    return "" if len(la) == len(lb) else f"length {len(la)} != {len(lb)}"


def main() -> int:
    engines = sys.argv[1:] or ["mariadb", "postgres"]
    work = Path(tempfile.mkdtemp(prefix="dbtier-loadcheck-"))
    os.chmod(work, 0o711)
    try:
        print(json.dumps({e: check(e, work) for e in engines}))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
