// The check of a side or scratch database reads large tables in ranges over several connections: MariaDB in
// ranges of the primary key's leading integer column (fingerprint.my_ranged_units), PostgreSQL in ranges of
// heap blocks (pg_ranged_units, TID range scans). The ranges must hold every row exactly once, whatever the
// keys (extremes of signed and unsigned BIGINT, one leading value shared by many rows, fewer distinct keys than
// ranges, none at all) or the heap (TOASTed values, rows moved by updates, partitions), and a table they cannot
// split is read whole. Proven by the digests: split over 2 and 4 connections they equal the single-connection
// digests of the same database, a changed row changes them, and the ranges' own row counts add up to each
// table's.
import { readFileSync, writeFileSync } from "fs";
import * as path from "path";
import { removeDir, run, tempDir } from "../support/proc";
import { DbServer, startServer } from "../support/servers";

jest.setTimeout(180_000);

const LIB = path.resolve(__dirname, "..", "..", "scripts", "host", "lib");
const CORPUS = path.resolve(__dirname, "..", "corpus");

const KEYS = `
CREATE TABLE signed_keys (id BIGINT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB;
INSERT INTO signed_keys VALUES (-9223372036854775808, 'min'), (-5, 'neg'), (0, 'zero'), (9223372036854775807, 'max');
INSERT INTO signed_keys SELECT seq * 1000003, CONCAT('v', seq) FROM seq_1_to_5000;
CREATE TABLE unsigned_keys (id BIGINT UNSIGNED PRIMARY KEY, b BLOB) ENGINE=InnoDB;
INSERT INTO unsigned_keys VALUES (0, NULL), (18446744073709551615, _binary'top');
INSERT INTO unsigned_keys SELECT seq, REPEAT(CHAR(seq % 256), seq % 50) FROM seq_1_to_3000;
CREATE TABLE composite (a INT NOT NULL, b VARCHAR(10) NOT NULL, t TEXT, PRIMARY KEY (a, b)) ENGINE=InnoDB;
INSERT INTO composite SELECT CAST(seq % 7 AS SIGNED) - 3, CONCAT('k', seq), IF(seq % 5 = 0, NULL, REPEAT('x', seq % 40)) FROM seq_1_to_2100;
CREATE TABLE tiny_keys (id TINYINT PRIMARY KEY, f FLOAT) ENGINE=InnoDB;
INSERT INTO tiny_keys VALUES (-128, -0.0), (1, 1.5), (127, NULL);
CREATE TABLE empty_keyed (id INT PRIMARY KEY) ENGINE=InnoDB;
CREATE TABLE string_keyed (k VARCHAR(20) PRIMARY KEY, n INT) ENGINE=InnoDB;
INSERT INTO string_keyed SELECT CONCAT('s', seq), seq FROM seq_1_to_500;
CREATE TABLE unkeyed (v TEXT) ENGINE=MyISAM;
INSERT INTO unkeyed VALUES ('b'), ('a\\tb'), ('a\\tb'), (NULL);
`;

interface Check {
  readonly whole: Record<string, { rows: number; digest: string }>;
  readonly split: Record<string, Record<string, { rows: number; digest: string }>>;
  readonly units: Record<string, Record<string, number[]>>;
}

async function python(lines: string[], env?: NodeJS.ProcessEnv): Promise<Check> {
  const r = await run("/usr/bin/python3", ["-c", lines.join("\n")], env ? { env } : {});
  if (r.code !== 0) throw new Error(`check script failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Check;
}

/** Digests of db over 1 connection, and over 2 and 4 with every table of more than one byte split (the real
 * threshold is MY_RANGE_BYTES); per split, each table's ranges' own row counts. */
function myDigests(cnf: string, db: string): Promise<Check> {
  return python([
    "import json, sys",
    `sys.path.insert(0, ${JSON.stringify(LIB)})`,
    "import fingerprint as fp",
    `cl = fp.MyClient("mariadb", ${JSON.stringify(cnf)})`,
    `db = ${JSON.stringify(db)}`,
    "tables, _ = fp.my_tables(cl, db)",
    "out = {'whole': fp.my_table_rows(cl, db, tables, 1, fp.MY_ROW_SHA256), 'split': {}, 'units': {}}",
    "sizes = {t.name: 1 << 20 for t in tables}",
    "for jobs in (2, 4):",
    "    out['split'][jobs] = fp.my_table_rows(cl, db, tables, jobs, fp.MY_ROW_SHA256, range_bytes=1)",
    "    units = fp.my_ranged_units(cl, db, tables, sizes, jobs, range_bytes=1)",
    "    per = {}",
    "    for (t, where, _), (rows, _) in zip(units, fp._my_unit_sums(cl, db, [(t, w) for t, w, _ in units])):",
    "        per.setdefault(t.name, []).append(rows)",
    "    out['units'][jobs] = per",
    "print(json.dumps(out))",
  ]);
}

/** The same for PostgreSQL (pg_digests, pg_ranged_units), in one REPEATABLE READ snapshot as pg_fingerprint
 * takes it, connected by the PG* variables of env. */
function pgDigests(env: NodeJS.ProcessEnv): Promise<Check> {
  return python([
    "import json, sys",
    `sys.path.insert(0, ${JSON.stringify(LIB)})`,
    "import fingerprint as fp",
    "s = fp.PgSession('app')",
    "s.run('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY')",
    "s.run(fp.PG_EXACT_SETTINGS)",
    "out = {'whole': fp.pg_digests(s, 'app', 1)[0], 'split': {}, 'units': {}}",
    "version = int(s.run('SHOW server_version_num')[0][0])",
    "for jobs in (2, 4):",
    "    out['split'][jobs] = fp.pg_digests(s, 'app', jobs, range_bytes=1)[0]",
    "    units = fp.pg_ranged_units(fp.pg_relations(s), jobs, version, range_bytes=1)",
    "    per = {}",
    "    for (u, _), (rows, _) in zip(units, fp._pg_unit_sums(s, [u for u, _ in units], fp.PG_ROW_SHA256)):",
    "        per.setdefault(u[0], []).append(rows)",
    "    out['units'][jobs] = per",
    "print(json.dumps(out))",
  ], env);
}

describe("MariaDB check in key ranges", () => {
  let server: DbServer;
  let dir: string;
  let cnf: string;

  beforeAll(async () => {
    server = await startServer("mariadb", { admin: { user: "dbtier_admin", password: "ranges-admin" } });
    dir = tempDir("dbtier-ranges-");
    cnf = path.join(dir, "root.cnf");
    writeFileSync(cnf, `[client]\nuser=root\nsocket=${server.socket}\n`, { mode: 0o600 });
    await server.rootSql("CREATE DATABASE app CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;");
    await server.rootSql(readFileSync(path.join(CORPUS, "edge", "mariadb.sql"), "utf8") + KEYS, "app");
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) removeDir(dir);
  });

  test("split over 2 and 4 connections, every table's digest equals the single connection's", async () => {
    const r = await myDigests(cnf, "app");
    expect(r.whole.signed_keys.rows).toBe(5004);
    expect(r.whole.unsigned_keys.rows).toBe(3002);
    expect(r.whole.composite.rows).toBe(2100);
    expect(r.whole.empty_keyed.rows).toBe(0);
    for (const jobs of ["2", "4"]) {
      expect(r.split[jobs]).toEqual(r.whole);
      const units = r.units[jobs];
      // the integer-keyed tables really were split; the ranges' counts add up to the table's rows
      for (const table of ["signed_keys", "unsigned_keys", "composite", "tiny_keys"]) {
        expect(units[table].length).toBeGreaterThan(1);
        expect(units[table].reduce((a, b) => a + b, 0)).toBe(r.whole[table].rows);
      }
      // seven leading values: at most seven non-empty ranges, every row in one of them
      expect(units.composite.filter((n) => n > 0).length).toBeLessThanOrEqual(7);
      // what cannot be split is read whole: no key, a string key, no rows
      for (const table of ["string_keyed", "unkeyed", "empty_keyed"]) expect(units[table]).toHaveLength(1);
    }
  });

  test("the fingerprint command with --driver (libmariadb connections in process): the same digests; a target it cannot log in with fails naming the check", async () => {
    const fingerprint = async (out: string, ...extra: string[]) =>
      run("/usr/bin/python3", [path.join(LIB, "fingerprint.py"), "fingerprint", "mysql", "app", path.join(dir, out),
        "--client", "mariadb", "--cnf", cnf, ...extra]);
    const target = (user: string) => {
      const file = path.join(dir, `driver-${user}.json`);
      writeFileSync(file, JSON.stringify({ user, password: "", socket: server.socket }), { mode: 0o600 });
      return file;
    };
    const one = await fingerprint("one.json", "--jobs", "1");
    expect(one.stderr).toBe("");
    const driven = await fingerprint("driver.json", "--jobs", "8", "--driver", target("root"));
    expect(driven.stderr).toBe("");
    const read = (f: string) => JSON.parse(readFileSync(path.join(dir, f), "utf8")) as { tables: unknown };
    expect(read("driver.json").tables).toEqual(read("one.json").tables);
    const refused = await fingerprint("refused.json", "--jobs", "2", "--driver", target("nobody"));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/fingerprint: MySQLdb \(check\): connecting: ERROR 1045: Access denied for user 'nobody'/);
  });

  test("a changed row at a range's edge changes the split digest", async () => {
    const before = await myDigests(cnf, "app");
    await server.rootSql("UPDATE signed_keys SET v = 'MAX' WHERE id = 9223372036854775807; " +
      "UPDATE unsigned_keys SET b = _binary'tip' WHERE id = 18446744073709551615;", "app");
    try {
      const after = await myDigests(cnf, "app");
      for (const jobs of ["2", "4"]) {
        expect(after.split[jobs].signed_keys.digest).not.toBe(before.split[jobs].signed_keys.digest);
        expect(after.split[jobs].unsigned_keys.digest).not.toBe(before.split[jobs].unsigned_keys.digest);
        expect(after.split[jobs]).toEqual(after.whole);
      }
    } finally {
      await server.rootSql("UPDATE signed_keys SET v = 'max' WHERE id = 9223372036854775807; " +
        "UPDATE unsigned_keys SET b = _binary'top' WHERE id = 18446744073709551615;", "app");
    }
  });
});

const PG_TABLES = `
CREATE TABLE big_heap (id int PRIMARY KEY, v text, f float8);
INSERT INTO big_heap SELECT g, 'row ' || g || repeat('x', g % 90), CASE g % 3 WHEN 0 THEN -0.0 WHEN 1 THEN 'NaN' ELSE g / 7.0 END
  FROM generate_series(1, 20000) g;
CREATE TABLE toasted (id int, t text, b bytea);
INSERT INTO toasted SELECT g, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 4000) i),
  decode(repeat(lpad(to_hex(g), 2, '0'), 3000), 'hex') FROM generate_series(1, 40) g;
CREATE TABLE moved (id int, n int);
INSERT INTO moved SELECT g, 0 FROM generate_series(1, 6000) g;
UPDATE moved SET n = 1 WHERE id % 4 = 0;
DELETE FROM moved WHERE id % 10 = 3;
CREATE TABLE measurements (at date NOT NULL, v numeric) PARTITION BY RANGE (at);
CREATE TABLE measurements_2025 PARTITION OF measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE measurements_2026 PARTITION OF measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO measurements SELECT date '2025-01-01' + (g % 700), g / 3.0 FROM generate_series(1, 9000) g;
CREATE TABLE one_row (k text PRIMARY KEY);
INSERT INTO one_row VALUES ('only');
CREATE TABLE empty_table (id int);
`;

describe("PostgreSQL check in block ranges", () => {
  let server: DbServer;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    server = await startServer("postgres", { admin: { user: "dbtier_admin", password: "ranges-admin" } });
    await server.rootSql("CREATE DATABASE app;");
    await server.rootSql(readFileSync(path.join(CORPUS, "edge", "postgres.sql"), "utf8") + PG_TABLES, "app");
    env = {
      ...process.env, PGHOST: "127.0.0.1", PGPORT: String(server.port), PGUSER: server.admin.user,
      PGPASSWORD: server.admin.password, PGSSLMODE: "require",
    };
  });
  afterAll(async () => {
    await server?.stop();
  });

  test("split over 2 and 4 sessions, every table's digest equals the single session's", async () => {
    const r = await pgDigests(env);
    expect(r.whole["public.big_heap"].rows).toBe(20000);
    expect(r.whole["public.moved"].rows).toBe(5400);
    expect(r.whole["public.measurements_2025"].rows + r.whole["public.measurements_2026"].rows).toBe(9000);
    for (const jobs of ["2", "4"]) {
      expect(r.split[jobs]).toEqual(r.whole);
      const units = r.units[jobs];
      for (const table of ["public.big_heap", "public.moved", "public.measurements_2025"]) {
        expect(units[table].length).toBeGreaterThan(1);
        expect(units[table].reduce((a, b) => a + b, 0)).toBe(r.whole[table].rows);
      }
      // one block, or none: read whole
      for (const table of ["public.one_row", "public.empty_table"]) expect(units[table]).toHaveLength(1);
    }
  });

  test("a changed row in the last block changes the split digest", async () => {
    const before = await pgDigests(env);
    await server.rootSql("UPDATE big_heap SET v = 'changed' WHERE id = 20000;", "app");
    const after = await pgDigests(env);
    for (const jobs of ["2", "4"]) {
      expect(after.split[jobs]["public.big_heap"].digest).not.toBe(before.split[jobs]["public.big_heap"].digest);
      expect(after.split[jobs]).toEqual(after.whole);
    }
  });
});
