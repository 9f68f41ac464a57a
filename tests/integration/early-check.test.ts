// A restore checks each MariaDB table while the rest of the dump loads: the loader announces a table once every
// row of it is committed (parallel-load.py --announce) and the orchestrator digests it then (dbtier/earlycheck.py).
// Proven here with the real loader, the real checker and a real server: the digests taken at each announcement equal
// the source's, every table is announced once, the largest first; a statement after the rows that could change
// them (an event), or more rows for a table already announced, voids the announcements; and the final check takes
// the early digests as given (a wrong one fails it).
import { readFileSync, writeFileSync } from "fs";
import * as path from "path";
import { removeDir, run, runOk, tempDir } from "../support/proc";
import { DbServer, startServer } from "../support/servers";

jest.setTimeout(240_000);

const LIB = path.resolve(__dirname, "..", "..", "scripts", "host", "lib");
const CORPUS = path.resolve(__dirname, "..", "corpus");
const ADMIN = { user: "dbtier_admin", password: "early-admin" };

// Three bulk tables of clearly different sizes (their dump order is largest first), and a trigger that would
// corrupt big_posts.comment_count if it fired on loaded rows.
const BULK = `
CREATE TABLE big_posts (id INT PRIMARY KEY, body MEDIUMTEXT, comment_count INT NOT NULL DEFAULT 0) ENGINE=InnoDB;
INSERT INTO big_posts SELECT seq, REPEAT(CONCAT('<p>post ', seq, '</p>'), 30), seq % 5 FROM seq_1_to_12000;
CREATE TABLE mid_comments (id BIGINT PRIMARY KEY, post_id INT, body VARCHAR(300), KEY (post_id)) ENGINE=InnoDB;
INSERT INTO mid_comments SELECT seq, seq % 12000 + 1, REPEAT('c', seq % 200) FROM seq_1_to_20000;
CREATE TABLE small_log (id INT PRIMARY KEY, at DATETIME(6), what VARCHAR(20)) ENGINE=InnoDB;
INSERT INTO small_log SELECT seq, '2026-01-01 00:00:00' + INTERVAL seq SECOND, 'x' FROM seq_1_to_3000;
CREATE TRIGGER bump AFTER INSERT ON mid_comments FOR EACH ROW UPDATE big_posts SET comment_count = comment_count + 1 WHERE id = NEW.post_id;
ANALYZE TABLE big_posts, mid_comments, small_log;
`;

interface Loaded {
  readonly lines: string[];
  readonly early: Record<string, { rows: number; digest: string }>;
  readonly loader: number;
  readonly stderr: string;
}

describe("the check beside the load (MariaDB)", () => {
  let server: DbServer;
  let dir: string;
  let pw: string;

  /** The source database db (corpus + BULK + extra), dumped as a backup dumps it: the dump file and its digests. */
  async function dump(db: string, extra = ""): Promise<{ file: string; digests: { tables: Record<string, { rows: number; digest: string }> } }> {
    await server.rootSql(`DROP DATABASE IF EXISTS ${db}; CREATE DATABASE ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`);
    await server.rootSql(readFileSync(path.join(CORPUS, "edge", "mariadb.sql"), "utf8") + BULK + extra, db);
    const cnf = path.join(dir, "root.cnf");
    writeFileSync(cnf, `[client]\nuser=root\nsocket=${server.socket}\n`, { mode: 0o600 });
    const file = path.join(dir, `${db}.sql`);
    const digests = path.join(dir, `${db}.json`);
    await runOk("bash", ["-c", `/usr/bin/python3 "$1" dump mysql "$2" "$3" --client mariadb --dump-tool mariadb-dump --cnf "$4" > "$5"`,
      "dump", path.join(LIB, "fingerprint.py"), db, digests, cnf, file]);
    return { file, digests: JSON.parse(readFileSync(digests, "utf8")) };
  }

  /** Loads a dump into a fresh database `dst` with the loader announcing to a file that the real checker
   * (EarlyDigests, as sidedb runs it) follows. */
  async function load(file: string, env: Record<string, string> = {}, eventsDisabled = true): Promise<Loaded> {
    await server.rootSql("DROP DATABASE IF EXISTS dst; CREATE DATABASE dst CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;");
    const announce = path.join(dir, "announce.jsonl");
    writeFileSync(announce, "", { mode: 0o600 });
    const r = await run("/usr/bin/python3", ["-c", [
      "import json, subprocess, sys",
      `sys.path.insert(0, ${JSON.stringify(LIB)})`,
      "import fingerprint",
      "from dbtier.earlycheck import EarlyDigests",
      `target = fingerprint.DriverTarget("root", "", socket=${JSON.stringify(server.socket)})`,
      `early = EarlyDigests(${JSON.stringify(announce)}, "dst", target, 2, fingerprint)`,
      "early.start()",
      `with open(${JSON.stringify(file)}, "rb") as f:`,
      `    p = subprocess.run(["/usr/bin/python3", ${JSON.stringify(path.join(LIB, "parallel-load.py"))}, "--engine", "mariadb",`,
      `        "--socket", ${JSON.stringify(server.socket)}, "--user", ${JSON.stringify(ADMIN.user)}, "--password-file",`,
      `        ${JSON.stringify(pw)}, "--database", "dst", "--jobs", "2", "--format", "mysql-exact-1", "--client", "driver",`,
      `        "--chunk-bytes", "4096", "--announce", ${JSON.stringify(announce)}${eventsDisabled ? `, "--events-disabled", ${JSON.stringify(path.join(dir, "events.json"))}` : ""}],`,
      "        stdin=f, stderr=subprocess.PIPE)",
      "digests = early.finish() if p.returncode == 0 else (early.stop() or {})",
      `print(json.dumps({"lines": open(${JSON.stringify(announce)}).read().splitlines(), "early": digests,`,
      `                  "loader": p.returncode, "stderr": p.stderr.decode()}))`,
    ].join("\n")], { env: { ...process.env, ...env } });
    if (r.code !== 0) throw new Error(`load script failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as Loaded;
  }

  beforeAll(async () => {
    server = await startServer("mariadb", { admin: ADMIN });
    dir = tempDir("dbtier-early-");
    pw = path.join(dir, "admin.pw");
    writeFileSync(pw, ADMIN.password, { mode: 0o600 });
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) removeDir(dir);
  });

  test("each table is announced once, when all its rows are committed: the digests taken then equal the source's; the largest first", async () => {
    const src = await dump("src");
    const r = await load(src.file);
    expect(r.loader).toBe(0);
    expect(r.lines).not.toContain("!");
    const names = r.lines.map((l) => JSON.parse(l) as string);
    // every table with rows, once (an empty table has no INSERT to announce it by)
    const withRows = Object.entries(src.digests.tables).filter(([, d]) => d.rows > 0).map(([n]) => n);
    expect([...names].sort()).toEqual([...withRows].sort());
    expect(names.slice(0, 3)).toEqual(["big_posts", "mid_comments", "small_log"]);
    for (const name of withRows) expect(r.early[name]).toEqual(src.digests.tables[name]);
    // the trigger came after the rows: it fired on none of them
    expect((await server.rootSql("SELECT SUM(comment_count) FROM big_posts;", "dst")).trim()).toBe(
      (await server.rootSql("SELECT SUM(comment_count) FROM big_posts;", "src")).trim());
  });

  test("rows go as binary literals only for tables whose character columns are all UTF-8, and come back exact", async () => {
    const src = await dump("src_cs",
      "CREATE TABLE cs_latin (id INT PRIMARY KEY, v VARCHAR(20) CHARACTER SET latin1, u TEXT) ENGINE=InnoDB; " +
      "INSERT INTO cs_latin VALUES (1, 'caf\u00e9 \u00fc', '\u2603 \ud834\udd1e'), (2, NULL, 'a''b\\\\c');" +
      "CREATE TABLE cs_utf8 (id INT PRIMARY KEY, v VARCHAR(20) CHARACTER SET utf8mb3, u TEXT, e ENUM('\u00e9', '\u00fc \u2603')) ENGINE=InnoDB; " +
      "INSERT INTO cs_utf8 VALUES (1, 'caf\u00e9', '\u2603 \ud834\udd1e', '\u00fc \u2603'), (2, '\u00fc', 'a''b', '\u00e9');");
    const r = await load(src.file, { PARALLEL_LOAD_DEBUG: "1" });
    expect(r.loader).toBe(0);
    const chosen = /rows as binary literals: (.*)/.exec(r.stderr)?.[1] ?? "";
    expect(chosen).toMatch(/b'cs_utf8'/);
    expect(chosen).toMatch(/b'big_posts'/);
    expect(chosen).not.toMatch(/cs_latin/);
    expect(chosen).not.toMatch(/text \\xc3\\xbcn/); // the corpus's table with a latin1 column
    for (const name of ["cs_latin", "cs_utf8", "text \u00fcn\u00ef"]) expect([name, r.early[name]]).toEqual([name, src.digests.tables[name]]);
  });

  test("an announcement waits for the slowest connection: nothing is announced while one still executes the table's rows", async () => {
    // the loader's connections with a stand-in for the server: one of them holds its statement until released
    const r = await run("/usr/bin/python3", ["-c", [
      "import importlib.util, json, threading, time",
      `spec = importlib.util.spec_from_file_location("pl", ${JSON.stringify(path.join(LIB, "parallel-load.py"))})`,
      "pl = importlib.util.module_from_spec(spec); spec.loader.exec_module(pl)",
      "gate, executed, seen = threading.Event(), [], []",
      "class Held(pl.DriverConnection):",
      "    def execute(self, item):",
      "        if item[1] == b'held': gate.wait(10)",
      "        executed.append(item[1].decode())",
      "    def disconnect(self): pass",
      "class Engine:",
      "    def connect(self, name, depth): return Held(name, depth, [])",
      "pool = pl.Pool(Engine(), 2, depth=2)",
      "pool.workers[0].put(pl.sql(b'held')); pool.workers[1].put(pl.sql(b'quick'))",
      "pool.after_all(lambda: seen.append(sorted(executed)))",
      "time.sleep(0.5); before = list(seen)",
      "gate.set(); pool.close()",
      "print(json.dumps({'before': before, 'after': seen}))",
    ].join("\n")]);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({ before: [], after: [["held", "quick"]] });
  });

  test("the check takes the early digests as given: the source's pass, a wrong one fails naming its table", async () => {
    const src = await dump("src");
    const r = await load(src.file);
    const check = async (known: Record<string, unknown>) => {
      const knownFile = path.join(dir, "known.json");
      writeFileSync(knownFile, JSON.stringify({ rowDigest: "mysql-row-sha256", tables: known }), { mode: 0o600 });
      const out = path.join(dir, "restored.json");
      await runOk("/usr/bin/python3", [path.join(LIB, "fingerprint.py"), "fingerprint", "mysql", "dst", out, "--client", "mariadb",
        "--cnf", path.join(dir, "root.cnf"), "--jobs", "2", "--known", knownFile, "--event-status", path.join(dir, "events.json")]);
      return run("/usr/bin/python3", [path.join(LIB, "fingerprint.py"), "compare", path.join(dir, "src.json"), out]);
    };
    const good = await check(r.early);
    expect(good.stderr).toBe("");
    expect(good.code).toBe(0);
    const wrong = await check({ ...r.early, small_log: { rows: 3000, digest: "0123456789abcdef" } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/small_log/);
    expect(wrong.stderr).not.toMatch(/big_posts/);
  });

  test("an event after the rows voids the announcements (nothing is kept) unless the load creates events disabled, as dbtier's do", async () => {
    const src = await dump("src_event", "CREATE EVENT tidy ON SCHEDULE EVERY 1 DAY DO DELETE FROM small_log WHERE id < 0;");
    const r = await load(src.file, {}, false);
    expect(r.loader).toBe(0);
    expect(r.lines[r.lines.length - 1]).toBe("!");
    expect(r.lines.filter((l) => l === "!")).toHaveLength(1);
    expect(r.early).toEqual({});
    const disabled = await load(src.file);
    expect(disabled.loader).toBe(0);
    expect(disabled.lines).not.toContain("!");
    expect(disabled.early.small_log).toEqual(src.digests.tables.small_log);
    expect(JSON.parse(readFileSync(path.join(dir, "events.json"), "utf8"))).toEqual({ nightly: "DISABLED", tidy: "ENABLED", "weekly ☃": "ENABLED" });
    expect((await server.rootSql("SELECT event_name, status FROM information_schema.events WHERE event_schema = 'dst' ORDER BY 1;")).trim())
      .toBe("nightly\tDISABLED\ntidy\tDISABLED\nweekly ☃\tDISABLED");
  });

  test("more rows for a table already announced void the announcements", async () => {
    const file = path.join(dir, "handmade.sql");
    writeFileSync(file, [
      "-- MariaDB dump (handmade)",
      "CREATE TABLE `a` (id INT PRIMARY KEY);",
      "CREATE TABLE `b` (id INT PRIMARY KEY);",
      "INSERT INTO `a` (`id`) VALUES (1),\n(2);",
      "INSERT INTO `b` (`id`) VALUES (1);",
      "INSERT INTO `a` (`id`) VALUES (3);",
      "SET FOREIGN_KEY_CHECKS = 1;",
      "",
    ].join("\n"));
    const r = await load(file);
    expect(r.loader).toBe(0);
    expect(r.lines).toContain("!");
    expect(r.lines[r.lines.length - 1]).toBe("!");
    expect(r.early).toEqual({});
    expect((await server.rootSql("SELECT COUNT(*) FROM a;", "dst")).trim()).toBe("3");
  });
});
