// parallel-load.py --tables-done: a table is reported only once every row the dump holds for it is loaded
// (a restore digests it then, while the other tables still load: sidedb.EarlyDigests). The dump is fed
// slowly (pv) so the big table's rows arrive over seconds; a watcher counts each table's rows the moment it is
// reported, and that count must already be the final one.
import { spawn } from "child_process";
import { existsSync, readFileSync, writeFileSync } from "fs";
import * as path from "path";
import { removeDir, run, tempDir } from "../support/proc";
import { DbServer, ServerEngine, startServer } from "../support/servers";

jest.setTimeout(240_000);

const LIB = path.resolve(__dirname, "..", "..", "scripts", "host", "lib");
const ENGINES: ServerEngine[] = ["mariadb", "postgres"];

// big: ~6 MB in rows of 2 kB (six INSERT statements / COPY chunks of 1 MiB), then two small tables
const SOURCE: Record<ServerEngine, string> = {
  mariadb: `CREATE TABLE big (id INT PRIMARY KEY, v TEXT);
    INSERT INTO big SELECT seq, REPEAT(CHAR(97 + seq % 26), 2000) FROM seq_1_to_3000;
    CREATE TABLE small_a (id INT PRIMARY KEY); INSERT INTO small_a SELECT seq FROM seq_1_to_10;
    CREATE TABLE small_b (id INT PRIMARY KEY, t TEXT); INSERT INTO small_b VALUES (1, 'x');`,
  postgres: `CREATE TABLE big (id int PRIMARY KEY, v text);
    INSERT INTO big SELECT g, repeat(chr(97 + g % 26), 2000) FROM generate_series(1, 3000) g;
    ALTER TABLE big ALTER COLUMN v SET STORAGE EXTERNAL;
    CREATE TABLE small_a (id int PRIMARY KEY); INSERT INTO small_a SELECT generate_series(1, 10);
    CREATE TABLE small_b (id int PRIMARY KEY, t text); INSERT INTO small_b VALUES (1, 'x');`,
};

describe.each(ENGINES)("%s: parallel-load --tables-done", (engine) => {
  let server: DbServer;
  let dir: string;

  beforeAll(async () => {
    server = await startServer(engine, { admin: { user: "dbtier_admin", password: "Adm1n-pw" } });
    dir = tempDir("dbtier-tables-done-");
    await server.rootSql(engine === "mariadb" ? "CREATE DATABASE src; CREATE DATABASE dst;" : "CREATE DATABASE src;");
    if (engine === "postgres") await server.rootSql("CREATE DATABASE dst OWNER dbtier_admin;");
    await server.rootSql(SOURCE[engine], "src");
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) removeDir(dir);
  });

  const count = async (table: string): Promise<number> =>
    Number((await server.rootSql(`SELECT count(*) FROM ${table};`, "dst")).trim());

  test("each table is reported once, after all its rows are in", async () => {
    const dump = path.join(dir, "dump.sql");
    const digests = path.join(dir, "digests.json");
    const pwFile = path.join(dir, "pw");
    writeFileSync(pwFile, server.admin.password, { mode: 0o600 });
    let dumpCmd: string;
    if (engine === "mariadb") {
      const cnf = path.join(dir, "root.cnf");
      writeFileSync(cnf, `[client]\nuser=root\nsocket=${server.socket}\n`, { mode: 0o600 });
      dumpCmd = `/usr/bin/python3 ${LIB}/fingerprint.py dump mysql src ${digests} --client mariadb --dump-tool mariadb-dump --cnf ${cnf} > ${dump}`;
    } else {
      dumpCmd = `PGHOST=127.0.0.1 PGPORT=${server.port} PGUSER=dbtier_admin PGPASSWORD=${server.admin.password} PGSSLMODE=require ` +
        `/usr/bin/python3 ${LIB}/fingerprint.py dump postgres src ${digests} > ${dump}`;
    }
    const dumped = await run("bash", ["-c", dumpCmd]);
    expect(dumped.stderr).toBe("");
    expect(dumped.code).toBe(0);

    const done = path.join(dir, "tables-done.jsonl");
    writeFileSync(done, "");
    const loader = spawn("bash", ["-c",
      `pv -q -L 1m ${dump} | /usr/bin/python3 ${LIB}/parallel-load.py --engine ${engine} --database dst --host 127.0.0.1 ` +
      `--port ${server.port} --user dbtier_admin --password-file ${pwFile} --tls-mode require --jobs 2 ` +
      `--format ${engine === "mariadb" ? "mysql-exact-1" : "pg-split-1"} --tables-done ${done}`], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    loader.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => loader.on("exit", (code) => resolve(code)));
    let finished = false;
    void exited.then(() => (finished = true));

    // the watcher: each reported table counted at once
    const counted: Record<string, number> = {};
    const order: string[] = [];
    let seen = 0;
    for (;;) {
      const last = finished; // one more read after the loader exited
      const lines = existsSync(done) ? readFileSync(done, "utf8").split("\n").filter((l) => l) : [];
      for (const line of lines.slice(seen)) {
        const report = JSON.parse(line) as { table?: string; reopened?: string };
        expect(report.reopened).toBeUndefined();
        const table = String(report.table);
        order.push(table);
        counted[table] = await count(table);
      }
      seen = lines.length;
      if (last) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(stderr).toBe("");
    expect(await exited).toBe(0);

    const name = (t: string) => (engine === "mariadb" ? t : `public.${t}`);
    expect([...order].sort()).toEqual(["big", "small_a", "small_b"].map(name).sort());
    expect(counted).toEqual({ [name("big")]: 3000, [name("small_a")]: 10, [name("small_b")]: 1 });
    // MariaDB dumps the largest table first (its check overlaps the others' load)
    if (engine === "mariadb") expect(order[0]).toBe("big");
  });
});
