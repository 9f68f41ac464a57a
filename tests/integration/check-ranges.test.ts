// The check of a side or scratch MariaDB database reads large InnoDB tables in ranges of their primary key's
// leading integer column over several connections (fingerprint.my_ranged_units). The ranges must hold every row
// exactly once, whatever the keys (extremes of signed and unsigned BIGINT, one leading value shared by many rows,
// fewer distinct keys than ranges, none at all), and a table they do not split is read whole. Proven by the digests:
// split over 2 and 4 connections they equal the single-connection digests of the same database, a changed row
// changes them, and the ranges' own row counts add up to each table's.
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
CREATE TABLE myisam_keyed (id INT PRIMARY KEY, v INT) ENGINE=MyISAM;
INSERT INTO myisam_keyed SELECT seq, seq FROM seq_1_to_2000;
CREATE TABLE unkeyed (v TEXT) ENGINE=MyISAM;
INSERT INTO unkeyed VALUES ('b'), ('a\\tb'), ('a\\tb'), (NULL);
`;

interface Check {
  readonly whole: Record<string, { rows: number; digest: string }>;
  readonly split: Record<string, Record<string, { rows: number; digest: string }>>;
  readonly units: Record<string, Record<string, number[]>>;
}

async function python<T>(lines: string[]): Promise<T> {
  const r = await run("/usr/bin/python3", ["-c", lines.join("\n")]);
  if (r.code !== 0) throw new Error(`check script failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** Digests of db over 1 connection, and over 2 and 4 with every table of more than one byte split (the real
 * threshold is MY_RANGE_BYTES); per split, each table's ranges' own row counts. */
function myDigests(cnf: string, db: string): Promise<Check> {
  return python<Check>([
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
      // what is not split is read whole: no key, a string key, no rows, not clustered on its key (MyISAM)
      for (const table of ["string_keyed", "unkeyed", "empty_keyed", "myisam_keyed"]) expect(units[table]).toHaveLength(1);
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

  test("sizes are sampled again before they decide the ranges: a table its statistics still describe as empty is split", async () => {
    // InnoDB's statistics lag a load (recalculated in the background, or never with STATS_AUTO_RECALC=0):
    // information_schema reads them, and they decide which tables are split.
    await server.rootSql("CREATE TABLE lagging (id INT PRIMARY KEY, v VARCHAR(200)) ENGINE=InnoDB STATS_AUTO_RECALC=0; " +
      "ANALYZE TABLE lagging; INSERT INTO lagging SELECT seq, REPEAT('v', 200) FROM seq_1_to_20000;", "app");
    try {
      const stale = Number((await server.rootSql("SELECT data_length FROM information_schema.tables WHERE table_schema = 'app' AND table_name = 'lagging';")).trim());
      expect(stale).toBeLessThanOrEqual(16384);
      const r = await python<{ size: number; ranges: number }>([
        "import json, sys",
        `sys.path.insert(0, ${JSON.stringify(LIB)})`,
        "import fingerprint as fp",
        `cl = fp.MyClient("mariadb", ${JSON.stringify(cnf)})`,
        "tables = [t for t in fp.my_tables(cl, 'app')[0] if t.name == 'lagging']",
        "sizes = fp.my_table_sizes(cl, 'app', tables)",
        "units = fp.my_ranged_units(cl, 'app', tables, sizes, 4, range_bytes=1 << 20)",
        "print(json.dumps({'size': sizes['lagging'], 'ranges': len(units)}))",
      ]);
      expect(r.size).toBeGreaterThan(2 << 20);
      expect(r.ranges).toBeGreaterThan(1);
    } finally {
      await server.rootSql("DROP TABLE lagging;", "app");
    }
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


// PostgreSQL's check cuts tables into ranges of heap pages (fingerprint.pg_units: a TID Range Scan each) that its
// sessions take from one queue. The ranges must hold every row exactly once, whatever the table: TOASTed values,
// rows moved by updates, dead rows, a dropped column, partitions, no rows at all.
const PG_TABLES = `
CREATE TABLE wide (id int PRIMARY KEY, t text, b bytea, f float8, gone int);
INSERT INTO wide SELECT g, (SELECT string_agg(md5((g * 1000 + i)::text), '') FROM generate_series(0, g % 150) i), decode(repeat(md5((g * 7)::text), 1 + g % 90), 'hex'),
  CASE WHEN g % 3 = 0 THEN 'NaN'::float8 WHEN g % 3 = 1 THEN -0.0 ELSE g / 7.0 END, g FROM generate_series(1, 6000) g;
ALTER TABLE wide DROP COLUMN gone;
UPDATE wide SET t = t || 'moved' WHERE id % 11 = 0;
DELETE FROM wide WHERE id % 13 = 0;
CREATE TABLE narrow (n bigint, s text);
INSERT INTO narrow SELECT g, CASE WHEN g % 2 = 0 THEN NULL ELSE 'x' END FROM generate_series(1, 30000) g;
INSERT INTO narrow SELECT 7, 'dup' FROM generate_series(1, 50);
CREATE TABLE parted (k int, v text) PARTITION BY RANGE (k);
CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0) TO (5000);
CREATE TABLE parted_high PARTITION OF parted FOR VALUES FROM (5000) TO (10000);
INSERT INTO parted SELECT g, repeat('p', g % 300) FROM generate_series(0, 9999) g;
CREATE TABLE empty_one (id int);
CREATE TABLE single (id int, v text); INSERT INTO single VALUES (1, 'only');
`;

interface PgCheck {
  readonly whole: Record<string, { rows: number; digest: string }>;
  readonly split: Record<string, Record<string, { rows: number; digest: string }>>;
  readonly units: Record<string, number[]>;
  readonly unsplit: number;
}

describe("PostgreSQL check in TID ranges from one queue", () => {
  let server: DbServer;

  beforeAll(async () => {
    server = await startServer("postgres", { admin: { user: "dbtier_admin", password: "ranges-admin" } });
    await server.rootSql("CREATE DATABASE ranges ENCODING 'UTF8' TEMPLATE template0;");
    await server.rootSql(PG_TABLES, "ranges");
  });
  afterAll(async () => server?.stop());

  /** Digests of the database over 1 session, and over 2 and 3 with units of 64 KiB (the real size is
   * PG_UNIT_BYTES); each table's units' own row counts; the units without TID ranges (PostgreSQL before 14). */
  const pgDigests = async (): Promise<PgCheck> => {
    const r = await run("runuser", ["-u", "postgres", "--", "/usr/bin/python3", "-c", [
      "import json, sys",
      `sys.path.insert(0, ${JSON.stringify(LIB)})`,
      "import fingerprint as fp",
      "def session():",
      "    s = fp.PgSession('ranges')",
      "    s.run('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY'); s.run(fp.PG_EXACT_SETTINGS)",
      "    return s",
      "s = session()",
      "rel = fp.pg_relations(s)",
      "out = {'whole': fp.pg_table_digests(s, [r[:3] for r in rel], fp.PG_ROW_SHA256), 'split': {}, 'units': {}}",
      "fp.PG_UNIT_BYTES = 1 << 16",
      "for jobs in (2, 3):",
      "    out['split'][jobs] = fp.pg_digests(session(), 'ranges', jobs, fp.PG_ROW_SHA256)[0]",
      "for name, quoted, record, where, _ in fp.pg_units(rel, True):",
      "    out['units'].setdefault(name, []).append(fp.pg_unit_digest(s, quoted, record, fp.PG_ROW_SHA256, where)[0])",
      "out['unsplit'] = len(fp.pg_units(rel, False))",
      "print(json.dumps(out))",
    ].join("\n")], { env: { ...process.env, PGHOST: server.socket, PGPORT: String(server.port) } });
    if (r.code !== 0) throw new Error(`check script failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as PgCheck;
  };

  test("split over 2 and 3 sessions, every table's digest equals the single session's; the ranges hold each row once", async () => {
    const r = await pgDigests();
    expect(r.whole["public.wide"].rows).toBe(6000 - Math.floor(6000 / 13));
    expect(r.whole["public.narrow"].rows).toBe(30050);
    expect(r.whole["public.parted_low"].rows + r.whole["public.parted_high"].rows).toBe(10000);
    expect(r.whole["public.empty_one"].rows).toBe(0);
    for (const jobs of ["2", "3"]) expect(r.split[jobs]).toEqual(r.whole);
    for (const table of ["public.wide", "public.narrow", "public.parted_low", "public.parted_high"]) {
      expect([table, r.units[table].length > 1]).toEqual([table, true]);
      expect(r.units[table].reduce((a, b) => a + b, 0)).toBe(r.whole[table].rows);
    }
    for (const table of ["public.empty_one", "public.single"]) expect(r.units[table]).toHaveLength(1);
    // without TID Range Scans every table is one unit (a range would be a filtered scan of all of it)
    expect(r.unsplit).toBe(Object.keys(r.whole).length);
  });

  test("a changed value in the last range changes the split digest of its table only", async () => {
    const before = await pgDigests();
    await server.rootSql("UPDATE wide SET f = 'Infinity' WHERE id = 6000;", "ranges");
    try {
      const after = await pgDigests();
      for (const jobs of ["2", "3"]) {
        const differs = Object.keys(before.whole).filter((t) => after.split[jobs][t].digest !== before.split[jobs][t].digest);
        expect([jobs, differs]).toEqual([jobs, ["public.wide"]]);
        expect(after.split[jobs]).toEqual(after.whole);
      }
    } finally {
      await server.rootSql("UPDATE wide SET f = 'NaN' WHERE id = 6000;", "ranges");
    }
  });
});
