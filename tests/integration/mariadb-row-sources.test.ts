// The MariaDB dump's two row sources (scripts/host/lib/fingerprint.py): the `mariadb` client in batch mode
// (hosts with MySQL's client, or without python3-mysqldb) and libmariadb in process (python3-mysqldb, what
// the backup uses where it can). Both must hand on the same rendered rows and digests for every value the
// corpus holds, refuse a row the server could not render, and the in-process one must check the server's
// certificate name as the client does (it reads the same defaults file).
import { readFileSync, writeFileSync } from "fs";
import * as path from "path";
import { issueWithCa } from "../support/tls";
import { removeDir, run, tempDir } from "../support/proc";
import { DbServer, startServer } from "../support/servers";

jest.setTimeout(180_000);

const LIB = path.resolve(__dirname, "..", "..", "scripts", "host", "lib");
const CORPUS = path.resolve(__dirname, "..", "corpus");
const corpus = (file: string): string => readFileSync(path.join(CORPUS, file), "utf8");

interface SourceResult {
  readonly error?: string;
  readonly sha256?: string;
  readonly bytes?: number;
  readonly digests?: Record<string, { rows: number; digest: string }>;
}

/** Runs my_stream_rows over every table of db with each source (the client with `cnf`, libmariadb with
 * `target`, Python for a fingerprint.DriverTarget) and method: {"client|method" or "driver|method": result,
 * "server": the server's own row-hash sums}. */
async function dumpBothWays(cnf: string, target: string, db: string): Promise<Record<string, SourceResult>> {
  const script = [
    "import hashlib, io, json, sys",
    `sys.path.insert(0, ${JSON.stringify(LIB)})`,
    "import fingerprint as fp",
    `cl = fp.MyClient("mariadb", ${JSON.stringify(cnf)})`,
    `target = ${target}`,
    `db = ${JSON.stringify(db)}`,
    "tables, _ = fp.my_tables(cl, db)",
    "out = {}",
    "for driver in (None, target):",
    "    for method in fp.MY_ROW_DIGESTS:",
    "        key = ('client|' if driver is None else 'driver|') + method",
    "        buf = io.BytesIO()",
    "        try:",
    "            d = fp.my_stream_rows(cl, db, tables, buf, method=method, driver=driver)",
    "            out[key] = {'sha256': hashlib.sha256(buf.getvalue()).hexdigest(), 'bytes': len(buf.getvalue()), 'digests': d}",
    "        except fp.Failure as e:",
    "            out[key] = {'error': str(e)}",
    "out['server'] = {'digests': fp.my_table_sums(cl, db, tables)}",
    "print(json.dumps(out))",
  ].join("\n");
  const r = await run("/usr/bin/python3", ["-c", script]);
  if (r.code !== 0) throw new Error(`row sources script failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, SourceResult>;
}

// Values that stress both escapings: every byte value, the client's escapes (\0 \t \n \\) and quotes in text
// and binary columns, rows with and without newlines in one table (the in-process source escapes a batch
// without newlines in one pass, one with them row by row), a 3 MB value of nothing but escapes (batches of
// one row), enough narrow rows for many batches, TEXT in latin1 and utf8mb3 (converted to the connection's
// utf8mb4 in process, by CONVERT on the client path), a TEXT column NULL in every row, JSON.
const EXTRA = `
CREATE TABLE row_sources (id INT PRIMARY KEY, t TEXT, b BLOB, vb VARBINARY(300), big LONGBLOB, n INT) CHARACTER SET utf8mb4;
INSERT INTO row_sources VALUES
  (1, CONCAT('tab\\there', CHAR(10), 'nl \\\\ back '' quote', CHAR(0), ' nul 😀'), UNHEX('${[...Array(256).keys()].map((i) => i.toString(16).padStart(2, "0")).join("")}'),
   UNHEX('5C00090A27225C5C'), NULL, NULL),
  (2, 'NULL', _binary'NULL', _binary'', REPEAT(UNHEX('5C0A0927'), 750000), 0),
  (3, '', NULL, NULL, _binary'x', -1),
  (4, NULL, _binary'\\'', _binary'\\\\', _binary'', 2147483647);
CREATE TABLE narrow (id INT PRIMARY KEY, v VARCHAR(40)) CHARACTER SET utf8mb4;
INSERT INTO narrow SELECT seq, CONCAT('v', seq, IF(seq % 997 = 0, '\\nline', ''), IF(seq % 1013 = 0, '\\\\', '')) FROM seq_1_to_20000;
CREATE TABLE texts (id INT PRIMARY KEY, l1 TEXT CHARACTER SET latin1, u3 MEDIUMTEXT CHARACTER SET utf8mb3, none_set TINYTEXT,
  j JSON, tail VARCHAR(10)) CHARACTER SET utf8mb4;
INSERT INTO texts SELECT seq, IF(seq % 3 = 0, NULL, CONCAT('caf', CHAR(233 USING latin1), ' ''', seq, IF(seq % 50 = 0, '\\n', ''))),
  IF(seq % 7 = 0, NULL, CONCAT('ünï ', seq, '\\t\\\\')), NULL, JSON_OBJECT('k', seq, 's', 'a"b\\\\c'), IF(seq % 2, NULL, 'x')
  FROM seq_1_to_3000;
CREATE TABLE unkeyed (v TEXT) ENGINE=MyISAM;
INSERT INTO unkeyed VALUES ('b'), ('a\\tb'), ('a\\tb'), (NULL);
`;

describe("MariaDB row sources: client and in process", () => {
  let server: DbServer;
  let dir: string;
  let rootCnf: string;
  const rootTarget = (): string => `fp.DriverTarget("root", "", socket=${JSON.stringify(server.socket)})`;

  beforeAll(async () => {
    server = await startServer("mariadb", { admin: { user: "dbtier_admin", password: "Adm1n-s3cret:'\"\\#;x" } });
    dir = tempDir("dbtier-rowsrc-");
    rootCnf = path.join(dir, "root.cnf");
    writeFileSync(rootCnf, `[client]\nuser=root\nsocket=${server.socket}\n`, { mode: 0o600 });
    await server.rootSql("CREATE DATABASE app CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;");
    await server.rootSql(corpus("roundcube/mysql.sql") + corpus("edge/mariadb.sql") + EXTRA, "app");
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) removeDir(dir);
  });

  test("the corpus: the same dump bytes and digests from both sources, for both row digests", async () => {
    const r = await dumpBothWays(rootCnf, rootTarget(), "app");
    for (const method of ["mysql-row-sha256", "mysql-stream-sha256"]) {
      const client = r[`client|${method}`];
      const driver = r[`driver|${method}`];
      expect(client.error).toBeUndefined();
      expect(driver.error).toBeUndefined();
      expect(driver.sha256).toBe(client.sha256);
      expect(driver.digests).toEqual(client.digests);
      expect(client.bytes).toBeGreaterThan(3_000_000); // the 3 MB value of escapes, escaped
    }
    const digests = r["driver|mysql-row-sha256"].digests ?? {};
    expect(digests.narrow.rows).toBe(20000);
    expect(digests.row_sources.rows).toBe(4);
    expect(digests.unkeyed.rows).toBe(4);
    expect(digests.texts.rows).toBe(3000);
    // the dump's row hashes are the server's own (what a restore's check computes alone)
    expect(digests).toEqual(r.server.digests);
  });

  // max_allowed_packet lowered after the values were written: CONCAT and REPLACE give NULL past it
  test.each([
    ["a text value", "t LONGTEXT", "REPEAT('y', 3000000)"],
    ["a blob value", "b LONGBLOB", "REPEAT(_binary'z', 3000000)"],
  ])("%s longer than max_allowed_packet is never dumped as NULL: the client source stops naming the table, in process it is read whole", async (_what, column, value) => {
    await server.rootSql("CREATE DATABASE toolong;");
    await server.rootSql(`CREATE TABLE long_value (id INT PRIMARY KEY, ${column}); INSERT INTO long_value VALUES (1, NULL), (2, ${value});`, "toolong");
    await server.rootSql("SET GLOBAL max_allowed_packet = 1048576;");
    try {
      const r = await dumpBothWays(rootCnf, rootTarget(), "toolong");
      for (const method of ["mysql-row-sha256", "mysql-stream-sha256"]) {
        expect(r[`client|${method}`].error).toMatch(/table long_value: the server could not render a row \(longer than max_allowed_packet/);
      }
      // in process, BLOB and TEXT values are read as they are and quoted by the reader: the value is dumped
      // whole and the row hashes are the server's own
      expect(r["driver|mysql-row-sha256"].error).toBeUndefined();
      expect(r["driver|mysql-row-sha256"].bytes).toBeGreaterThan(3_000_000);
      expect(r["driver|mysql-row-sha256"].digests).toEqual(r.server.digests);
    } finally {
      await server.rootSql("SET GLOBAL max_allowed_packet = 16777216; DROP DATABASE toolong;");
    }
  });

  test("in process over TCP, the server's certificate is checked for the name used: another name is refused", async () => {
    // fingerprint.DriverTarget as dbtier/db.py builds it for DB_TLS_MODE=verify-*
    const target = `fp.DriverTarget(${JSON.stringify(server.admin.user)}, ${JSON.stringify(server.admin.password)}, ` +
      `host="127.0.0.1", port=${server.port}, ca_file=${JSON.stringify(server.tls.caCert)}, verify_name=True, work_dir=${JSON.stringify(dir)})`;
    const connect = () => run("/usr/bin/python3", ["-c", [
      "import sys", `sys.path.insert(0, ${JSON.stringify(LIB)})`, "import fingerprint as fp",
      "t = fp.MyTable('narrow', 'InnoDB'); t.columns = [('id', 'int', ''), ('v', 'varchar', 'utf8mb4')]",
      "try:",
      `    print(fp.my_stream_rows(None, 'app', [t], None, driver=${target})['narrow']['rows'])`,
      "except fp.Failure as e:",
      "    print(e, file=sys.stderr); sys.exit(1)",
    ].join("\n")]);
    const good = await connect();
    expect(good.stderr).toBe("");
    expect(good.stdout.trim()).toBe("20000");
    const wrong = await issueWithCa(path.join(dir, "wrong-name"), server.tls, ["192.0.2.99", "db.example.net"]);
    const original = { cert: readFileSync(server.tls.serverCert), key: readFileSync(server.tls.serverKey) };
    try {
      writeFileSync(server.tls.serverCert, readFileSync(wrong.serverCert));
      writeFileSync(server.tls.serverKey, readFileSync(wrong.serverKey));
      await server.rootSql("FLUSH SSL;");
      const r = await connect();
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/MySQLdb \(row data\): connecting: ERROR 2026: TLS\/SSL error: Validation of SSL server certificate failed/);
    } finally {
      writeFileSync(server.tls.serverCert, original.cert);
      writeFileSync(server.tls.serverKey, original.key);
      await server.rootSql("FLUSH SSL;");
    }
    expect((await connect()).code).toBe(0);
  });

  test("a TCP target named localhost is refused (libmariadb would take its default socket instead)", async () => {
    const r = await run("/usr/bin/python3", ["-c", [
      "import sys", `sys.path.insert(0, ${JSON.stringify(LIB)})`, "import fingerprint as fp",
      "fp.DriverTarget('u', 'p', host='localhost', port=3306)",
    ].join("\n")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("a socket, or a TCP host other than localhost");
  });
});
