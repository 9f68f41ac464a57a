// Exactness: a real application schema from a Debian package (tests/corpus/roundcube) plus an edge-value
// set (tests/corpus/edge) go through `dbtier-db backup`, `verify` and `restore latest --yes` on real
// MariaDB 10.11 and PostgreSQL 15 servers, and the restored database must equal the source by a content
// fingerprint the server computes alone (tests/support/fingerprint.ts: no dump tool, exact renderings).
// What no SQL dump can represent is named when the backup is taken, and verify fails it; a value a dump
// tool rounded fails the digest comparison.
import { chmodSync, readFileSync, writeFileSync } from "fs";
import * as path from "path";
import { contentFingerprint } from "../support/fingerprint";
import { run, runOk, sleep, tempDir, removeDir, waitFor } from "../support/proc";
import { signingKeyOf } from "../support/toolkit";
import { completeIds, ENGINES, expectOk, makeRig, manifest, Rig, runWatched, s3Put } from "./fixture";

jest.setTimeout(300_000);

const CORPUS = path.resolve(__dirname, "..", "corpus");
const FINGERPRINT = path.resolve(__dirname, "..", "..", "scripts", "host", "lib", "fingerprint.py");
const corpus = (file: string): string => readFileSync(path.join(CORPUS, file), "utf8");

/** A client defaults file for MariaDB's root over its socket, in dir; returns its path. */
function rootCnf(dir: string, socket: string): string {
  const cnf = path.join(dir, "root.cnf");
  writeFileSync(cnf, `[client]\nuser=root\nsocket=${socket}\n`, { mode: 0o600 });
  return cnf;
}

// A few application rows in the Debian schema, with the awkward values applications store.
const ROUNDCUBE_ROWS: Record<string, string> = {
  mariadb: `INSERT INTO users (user_id, username, mail_host, created, preferences) VALUES
    (1, 'ünï@example.org', 'imap.example.org', '2024-02-29 12:00:00', 'a:1:{s:4:"lang";s:5:"de_DE";}'),
    (2, 'Ünï@example.org', 'imap.example.org', '1000-01-01 00:00:00', NULL);
    INSERT INTO session VALUES ('s1', '2024-01-01 00:00:00', '::1', 'vars;with\\nnewline 😀');`,
  postgres: `INSERT INTO users (username, mail_host, created, preferences) VALUES
    ('ünï@example.org', 'imap.example.org', '2024-02-29 12:00:00+00', 'a:1:{s:4:"lang";s:5:"de_DE";}'),
    ('Ünï@example.org', 'imap.example.org', '1000-01-01 00:00:00+00', NULL);
    INSERT INTO session VALUES ('s1', '2024-01-01 00:00:00', '::1', E'vars;with\\nnewline 😀');`,
};

describe.each(ENGINES)("%s: the corpus round-trips exactly", (engine) => {
  let rig: Rig;
  let source: Record<string, string>;
  const identity = (): { identityFile: string } => ({ identityFile: rig.key.identityFile });

  beforeAll(async () => {
    rig = await makeRig(engine, { seed: false });
    if (engine === "mariadb") {
      await rig.server.rootSql("CREATE DATABASE app CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;");
      await rig.server.rootSql(corpus("roundcube/mysql.sql") + ROUNDCUBE_ROWS.mariadb + corpus("edge/mariadb.sql"), "app");
    } else {
      await rig.server.rootSql("CREATE DATABASE app ENCODING 'UTF8' TEMPLATE template0;");
      await rig.server.rootSql(corpus("roundcube/postgres.sql") + ROUNDCUBE_ROWS.postgres + corpus("edge/postgres.sql"), "app");
    }
    source = await contentFingerprint(rig.server, "app");
  });
  afterAll(async () => rig?.cleanup());

  test("the source fingerprint covers rows and objects of every kind", () => {
    const kinds = new Set(Object.keys(source).map((k) => k.split(":")[0]));
    const want = engine === "mariadb"
      ? ["table", "column", "relation", "index", "partition", "view", "trigger", "routine", "event", "sequence-position"]
      : ["table", "column", "relation", "index", "constraint", "function", "trigger", "rule", "policy", "type", "extension", "large-object", "comment", "sequence-position"];
    for (const k of want) expect([k, kinds.has(k)]).toEqual([k, true]);
    // rows of every version of a system-versioned table; tables whose names hold a newline and a tab
    const rows = (table: string): number => Number(source[`table:${table}`]?.split(":")[0]);
    if (engine === "mariadb") {
      expect([rows("hist"), rows("hist_parts"), rows('new\\nline "name" \\\\ back')]).toEqual([3, 4, 2]);
      // tables whose names differ in case alone: each its own keys (information_schema compares names without case)
      expect(["index:Case.PRIMARY", "index:case.PRIMARY", "index:Case.kv"].map((k) => k in source)).toEqual([true, true, true]);
    } else {
      expect(rows('"sch\nema"."new\nline ""q"" ; t\tab"')).toBe(3);
    }
  });

  test("backup, verify and restore latest reproduce every value and object", async () => {
    expectOk(await runWatched(rig, ["backup", "daily"]));
    const [id] = completeIds(rig, "daily");
    const m = manifest(rig, "daily", id);
    expect(m.dump.format).toBe(engine === "mariadb" ? "mysql-exact-1" : "pg-split-1");
    expect(m.source.inexact).toEqual([]);
    const verify = await runWatched(rig, ["verify", "daily"], identity());
    expectOk(verify);
    // Dropped and changed, then restored: the restore must bring back exactly the source.
    await rig.server.rootSql(engine === "mariadb" ? "DROP DATABASE app; CREATE DATABASE app;" : "DROP TABLE nums CASCADE;", engine === "mariadb" ? undefined : "app");
    expectOk(await runWatched(rig, ["restore", "latest", "--yes"], identity()));
    expect(await contentFingerprint(rig.server, "app")).toEqual(source);
  });

  test("restored routines run, and nothing runs with the admin's rights", async () => {
    if (engine === "mariadb") {
      expect((await rig.server.rootSql("SELECT app.pick('x');")).trim()).toBe("x;DEFINER=`x`@`y`");
      await rig.server.rootSql("CALL app.bump(1); INSERT INTO app.gen (id, a) VALUES (3, 4);");
      // routines and a trigger created under sql_mode ORACLE (their definer printed in double quotes)
      await rig.server.rootSql("CALL app.ora_log(2);");
      expect((await rig.server.rootSql("SELECT app.ora_fn(3); SELECT GROUP_CONCAT(msg ORDER BY id) FROM app.oralog;")).trim().split("\n"))
        .toEqual(["x3;;", "ora;;1+,ora;;2+"]);
      // the sequence default takes the restored database's own sequence, past every id it handed out
      await rig.server.rootSql("INSERT INTO app.ordered (note) VALUES ('after');");
      expect(Number((await rig.server.rootSql("SELECT id FROM app.ordered WHERE note = 'after';")).trim())).toBeGreaterThan(115);
      expect((await rig.server.rootSql("SELECT column_default FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 'ordered' AND column_name = 'id';")).trim())
        .toBe("nextval(`app`.`seq_orders`)");
      expect((await rig.server.rootSql("SELECT n FROM app.counter;")).trim()).toBe("8");
      const definers = await rig.server.rootSql(
        `SELECT definer FROM information_schema.views WHERE table_schema = 'app' UNION SELECT definer FROM information_schema.routines WHERE routine_schema = 'app'
         UNION SELECT definer FROM information_schema.triggers WHERE trigger_schema = 'app' UNION SELECT definer FROM information_schema.events WHERE event_schema = 'app';`);
      expect(definers.trim().split("\n").map((d) => d.split("@")[0]).sort()).toEqual(["appuser"]);
    } else {
      expect((await rig.server.rootSql("SELECT add_two(40);", "app")).trim()).toBe("42");
      await rig.server.rootSql("CALL log_twice('x');", "app");
      expect((await rig.server.rootSql("SELECT string_agg(msg, ',' ORDER BY msg) FROM audit WHERE msg LIKE 'x%';", "app")).trim()).toBe("x 1;,x 2;");
      // (A trusted extension's member objects belong to the bootstrap superuser, as PostgreSQL makes them.)
      const notExt = (cls: string, col: string) => `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${cls}'::regclass AND d.objid = ${col} AND d.deptype = 'e')`;
      const owners = await rig.server.rootSql(
        `SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND ${notExt("pg_class", "c.oid")}
         UNION SELECT DISTINCT pg_get_userbyid(proowner) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND ${notExt("pg_proc", "p.oid")}
         UNION SELECT DISTINCT pg_get_userbyid(lomowner) FROM pg_largeobject_metadata;`, "app");
      expect(owners.trim().split("\n").sort()).toEqual(["appuser"]);
    }
  });

  if (engine === "postgres") {
    test("an old plain-SQL backup (format sql) with SQL-standard bodies and multi-action rules still loads exactly", async () => {
      const dir = tempDir("dbtier-exact-");
      try {
        const pw = path.join(dir, "pw");
        writeFileSync(pw, rig.server.admin.password, { mode: 0o600 });
        await rig.server.rootSql("CREATE DATABASE legacy ENCODING 'UTF8' TEMPLATE template0;");
        // What format-"sql" backups hold: pg_dump's plain output, split by the loader's own scanner.
        const r = await run("bash", ["-o", "pipefail", "-c",
          'runuser -u postgres -- pg_dump -h "$1" -p "$2" --no-owner --no-privileges app | /usr/bin/python3 "$3" --engine postgres --database legacy --host 127.0.0.1 --port "$2" --user "$4" --password-file "$5" --tls-mode require --format sql --jobs 2',
          "load", rig.server.socket, String(rig.server.port), path.resolve(__dirname, "..", "..", "scripts", "host", "lib", "parallel-load.py"), rig.server.admin.user, pw]);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        // (app as it is now: the test before ran log_twice.)
        expect(await contentFingerprint(rig.server, "legacy")).toEqual(await contentFingerprint(rig.server, "app"));
      } finally {
        await rig.server.rootSql("DROP DATABASE IF EXISTS legacy WITH (FORCE);");
        removeDir(dir);
      }
    });

    test("an event trigger (only a superuser may create one) is named at backup time; the load leaves it out and verify fails", async () => {
      await rig.server.rootSql(`CREATE FUNCTION log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'ddl'; END $$;
        CREATE EVENT TRIGGER "ddl ☃" ON ddl_command_end EXECUTE FUNCTION log_ddl(); COMMENT ON EVENT TRIGGER "ddl ☃" IS 'audit';`, "app");
      try {
        expectOk(await runWatched(rig, ["backup", "weekly"]));
        const [id] = completeIds(rig, "weekly");
        expect(manifest(rig, "weekly", id).source.inexact).toEqual(
          ['event trigger "ddl ☃": only a superuser may create one, and a load runs as the app user (the load leaves it out)']);
        const v = await runWatched(rig, ["verify", "weekly"], identity());
        expect(v.code).toBe(1);
        // the load itself went through (the trigger left out), and the check names why the copy is not exact
        expect(v.stderr).toMatch(/FAILED \(recorded\): the backup cannot be restored exactly: event trigger "ddl ☃"/);
      } finally {
        await rig.server.rootSql(`DROP EVENT TRIGGER "ddl ☃"; DROP FUNCTION log_ddl();`, "app");
      }
    });
  }

  // Each engine's first row digest (PostgreSQL: md5 of the record text; MariaDB/MySQL: SHA-256 of the dump's
  // rendered rows) is what older backups recorded, without naming it (fingerprint.py PG_ROW_DIGESTS,
  // MY_ROW_DIGESTS): their side database must be digested that way, and a newer backup's the newer way.
  test("row digests: one value changed by its least step changes its table's; an older backup's method is the one used", async () => {
    const [older, newer] = engine === "mariadb" ? ["mysql-stream-sha256", "mysql-row-sha256"] : ["pg-record-md5", "pg-record-sha256"];
    const binaryTable = engine === "mariadb" ? "bytes" : "public.blobs";
    const fp = async (db: string, method: string): Promise<any> => {
      const dir = tempDir("dbtier-fp-");
      try {
        const out = path.join(dir, "fp.json");
        if (engine === "mariadb") {
          await runOk("/usr/bin/python3", [FINGERPRINT, "fingerprint", "mysql", db, out, "--client", "mariadb", "--cnf", rootCnf(dir, rig.server.socket), "--row-digest", method]);
        } else {
          chmodSync(dir, 0o777); // written by the postgres user (peer authentication over the socket)
          await runOk("runuser", ["-u", "postgres", "--", "/usr/bin/python3", FINGERPRINT, "fingerprint", "postgres", db, out, "--row-digest", method],
            { env: { ...process.env, PGHOST: rig.server.socket, PGPORT: String(rig.server.port) } });
        }
        return JSON.parse(readFileSync(out, "utf8"));
      } finally {
        removeDir(dir);
      }
    };
    const byNewer = await fp("app", newer);
    const byOlder = await fp("app", older);
    expect([byNewer.rowDigest, byOlder.rowDigest]).toEqual([newer, older]);
    // (Large objects are digested apart from rows; an empty table is 0 by either method.)
    for (const t of Object.keys(byNewer.tables).filter((k) => k !== "(large objects)" && byNewer.tables[k].rows > 0)) {
      expect(byOlder.tables[t].rows).toBe(byNewer.tables[t].rows);
      expect([t, byOlder.tables[t].digest]).not.toEqual([t, byNewer.tables[t].digest]);
    }
    // One value changed by the least its type allows changes its table's digest (and only its table's).
    const changes: [string, string, string][] = engine === "mariadb"
      ? [["`num☃ \"edge\"`", "d = 0.3 WHERE id = 1", "d = 0.1e0 + 0.2e0 WHERE id = 1"],
        ["`num☃ \"edge\"`", "f = 1234567 WHERE id = 1", "f = 1234567.125 WHERE id = 1"],
        ["bytes", "lb = X'C0AF0A0D5C27225C305A1B' WHERE id = 1", "lb = X'C0AF0A0D5C27225C305A1A' WHERE id = 1"],
        ["bytes", "bin = X'6100000000000001' WHERE id = 1", "bin = X'61' WHERE id = 1"],
        ["temporal", "dt = '9999-12-31 23:59:59.999998' WHERE id = 2", "dt = '9999-12-31 23:59:59.999999' WHERE id = 2"]]
      : [["public.nums", "f8 = '0' WHERE id = 1", "f8 = '-0' WHERE id = 1"],
        ["public.nums", "f8 = 0.3 WHERE id = 4", "f8 = 0.1 + 0.2::float8 WHERE id = 4"],
        ["public.blobs", "raw = '\\x5c783031' WHERE id = 1", "raw = '\\x5c783030' WHERE id = 1"],
        ["\"Ünï schema\".\"text ☃\"", "t = t || ' ' WHERE id = 1", "t = left(t, -1) WHERE id = 1"]];
    for (const [table, change, revert] of changes) {
      const key = engine === "mariadb" ? table.replace(/`/g, "") : table;
      await rig.server.rootSql(`UPDATE ${table} SET ${change};`, "app");
      const changed = await fp("app", newer);
      await rig.server.rootSql(`UPDATE ${table} SET ${revert};`, "app");
      const differs = Object.keys(byNewer.tables).filter((t) => changed.tables[t].digest !== byNewer.tables[t].digest);
      expect([change, differs]).toEqual([change, [key]]);
    }
    expect((await fp("app", newer)).tables).toEqual(byNewer.tables);
    expectOk(await runWatched(rig, ["backup", "monthly"]));
    const [id] = completeIds(rig, "monthly").slice(-1);
    const genuine = manifest(rig, "monthly", id);
    expect(genuine.source.rowDigest).toBe(newer);
    // The dump's digests (MariaDB: the hashes the server adds to each row line) equal the server's own.
    expect(genuine.source.tables).toEqual(byNewer.tables);
    const resign = async (source: object): Promise<void> => {
      const dir = tempDir("dbtier-resign-");
      try {
        const text = JSON.stringify({ ...genuine, source });
        writeFileSync(path.join(dir, "key"), signingKeyOf("shop").privateKey, { mode: 0o600 });
        writeFileSync(path.join(dir, "manifest.json"), text);
        await runOk("ssh-keygen", ["-Y", "sign", "-q", "-f", path.join(dir, "key"), "-n", "dbtier-backup", path.join(dir, "manifest.json")]);
        await s3Put(rig, `shop/monthly/${id}/manifest.json.sig`, readFileSync(path.join(dir, "manifest.json.sig")));
        await s3Put(rig, `shop/monthly/${id}/manifest.json`, Buffer.from(text));
      } finally {
        removeDir(dir);
      }
    };
    const { rowDigest: _, ...withoutMethod } = genuine.source;
    await resign({ ...withoutMethod, tables: byOlder.tables });
    expectOk(await runWatched(rig, ["verify", id], identity()));
    // The older digests under the newer method's name: the side database is digested the newer way and differs.
    await resign({ ...genuine.source, tables: byOlder.tables });
    const v = await runWatched(rig, ["verify", id], identity());
    expect(v.code).toBe(1);
    expect(v.stderr).toContain(`table ${binaryTable}: same 3 rows count, different content`);
  });

  if (engine === "mariadb") {
    test("an ENUM label the server cannot print and history versioned by transaction id are named at backup time and fail verify", async () => {
      await rig.server.rootSql(corpus("edge/mariadb-inexact.sql"), "app");
      // A FEDERATED table on another database of this server (its own socket: the connection needs no TLS)
      await rig.server.rootSql(`INSTALL PLUGIN IF NOT EXISTS FEDERATED SONAME 'ha_federatedx';
        CREATE DATABASE remote_src; CREATE TABLE remote_src.t (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO remote_src.t VALUES (1, 'r');
        CREATE SERVER remote_src FOREIGN DATA WRAPPER mysql OPTIONS (USER 'root', SOCKET '${rig.server.socket}', DATABASE 'remote_src');
        CREATE TABLE app.fed (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=FEDERATED CONNECTION='remote_src/t';`);
      const b = await runWatched(rig, ["backup", "weekly"]);
      expectOk(b);
      const [id] = completeIds(rig, "weekly");
      const inexact = manifest(rig, "weekly", id).source.inexact.join("\n");
      expect(inexact).toMatch(/column moods\.m: its ENUM definition/);
      expect(inexact).toMatch(/table trx_hist: system-versioned, and it is versioned by transaction id.*current rows only/);
      expect(inexact).toMatch(/table fed: its rows live on another server \(FEDERATED engine\)/);
      const v = await runWatched(rig, ["verify", "weekly"], identity());
      expect(v.code).toBe(1);
      expect(v.stderr).toMatch(/moods\.m/);
      expect(v.stderr).toMatch(/trx_hist/);
      // the scratch load recreated the FEDERATED table but wrote no rows through it
      expect((await rig.server.rootSql("SELECT COUNT(*) FROM remote_src.t;")).trim()).toBe("1");
      await rig.server.rootSql("DROP TABLE moods, trx_hist, fed; DROP SERVER remote_src; DROP DATABASE remote_src;", "app");
    });

    test("metadata read in process (a libmariadb session per query) gives the client's digests, every object, the ENUM probe and all", async () => {
      const dir = tempDir("dbtier-meta-");
      try {
        const cnf = rootCnf(dir, rig.server.socket);
        const driver = path.join(dir, "driver.json");
        writeFileSync(driver, JSON.stringify({ user: "root", password: "", socket: rig.server.socket }), { mode: 0o600 });
        await rig.server.rootSql("CREATE DATABASE probe CHARACTER SET utf8mb4;");
        await rig.server.rootSql(corpus("roundcube/mysql.sql") + corpus("edge/mariadb-inexact.sql"), "probe");
        for (const db of ["app", "probe"]) {
          const viaClient = path.join(dir, `${db}-client.json`);
          const inProcess = path.join(dir, `${db}-driver.json`);
          expect((await run("/usr/bin/python3", [FINGERPRINT, "fingerprint", "mysql", db, viaClient, "--client", "mariadb", "--cnf", cnf])).stderr).toBe("");
          expect((await run("/usr/bin/python3", [FINGERPRINT, "fingerprint", "mysql", db, inProcess, "--client", "mariadb", "--cnf", cnf, "--driver", driver, "--jobs", "2"])).stderr).toBe("");
          const [a, b] = [viaClient, inProcess].map((f) => JSON.parse(readFileSync(f, "utf8")));
          expect(Object.keys(a.objects).length).toBeGreaterThan(db === "app" ? 100 : 20);
          expect(b).toEqual(a);
          if (db === "probe") expect(b.inexact.join("\n")).toMatch(/column moods\.m: its ENUM definition/);
          if (db === "app") expect(["index:Case.PRIMARY", "index:case.PRIMARY"].map((k) => k in a.objects)).toEqual([true, true]);
        }
      } finally {
        await rig.server.rootSql("DROP DATABASE IF EXISTS probe;");
        removeDir(dir);
      }
    });

    test("a FLOAT the dump tool rounded (mariadb-dump, the old way) fails the digest comparison", async () => {
      const dir = tempDir("dbtier-exact-");
      try {
        const cnf = rootCnf(dir, rig.server.socket);
        await rig.server.rootSql("CREATE DATABASE legacy CHARACTER SET utf8mb4;");
        // Bytes straight from the dump tool into the client (a pipe: no text decoding on the way), with the
        // CHECK constraints off as the source's row was taken (the dump does not say so). Without LOCK TABLES:
        // under mariadb-dump's own locks an INSERT into a table whose default is a sequence is refused.
        const legacy = await run("bash", ["-o", "pipefail", "-c", 'mariadb-dump --defaults-extra-file="$1" --default-character-set=utf8mb4 --routines --skip-add-locks app | mariadb --defaults-extra-file="$1" --default-character-set=utf8mb4 --init-command="SET check_constraint_checks = 0" legacy', "load", cnf]);
        expect(legacy.stderr).toBe("");
        expect(legacy.code).toBe(0);
        const fp = (db: string, out: string) => run("/usr/bin/python3", [FINGERPRINT, "fingerprint", "mysql", db, out, "--client", "mariadb", "--cnf", cnf]);
        expect((await fp("app", path.join(dir, "app.json"))).code).toBe(0);
        expect((await fp("legacy", path.join(dir, "legacy.json"))).code).toBe(0);
        const cmp = await run("/usr/bin/python3", [FINGERPRINT, "compare", path.join(dir, "app.json"), path.join(dir, "legacy.json")]);
        expect(cmp.code).toBe(1);
        expect(cmp.stderr).toContain('table num☃ "edge": same 5 rows count, different content');
        // Besides the FLOAT table only history (mariadb-dump leaves it out unless --dump-history) and invalid
        // dates (its sql_mode turns them into zero dates) are lost: the rest of its renderings are exact.
        expect(cmp.stderr.split("\n").filter((l) => l.startsWith("table ")).sort()).toEqual([
          "table hist: 1 rows, the source has 3", "table hist_declared: 2 rows, the source has 3",
          "table hist_parts: 2 rows, the source has 4", "table lax_dates: same 2 rows count, different content",
          'table num☃ "edge": same 5 rows count, different content']);
      } finally {
        await rig.server.rootSql("DROP DATABASE IF EXISTS legacy;");
        removeDir(dir);
      }
    });

    // MySQL 8 runs events by default (event_scheduler ON): a load creates them DISABLED, so they run neither in
    // the scratch database (verify) nor in the side one (restore), where they could change the rows before the
    // check or write to the live database by name; the swap gives each its status again.
    test("events do not run in the side or scratch database, and each comes back with its status", async () => {
      await rig.server.rootSql(`CREATE TABLE ticks (db VARCHAR(64) NOT NULL);
        CREATE EVENT tick_here ON SCHEDULE EVERY 1 SECOND DO INSERT INTO ticks VALUES (DATABASE());
        CREATE EVENT tick_by_name ON SCHEDULE EVERY 1 SECOND DO INSERT INTO app.ticks VALUES (CONCAT('by name from ', DATABASE()));
        CREATE EVENT parked ON SCHEDULE EVERY 1 SECOND DISABLE DO INSERT INTO app.ticks VALUES ('parked');`, "app");
      const tickers = async (): Promise<string[]> =>
        (await rig.server.rootSql("SELECT DISTINCT db FROM app.ticks ORDER BY db;")).trim().split("\n").filter(Boolean);
      const statuses = "SELECT event_name, status FROM information_schema.events WHERE event_schema = 'app' ORDER BY event_name;";
      const before = await rig.server.rootSql(statuses);
      await rig.server.rootSql("SET GLOBAL event_scheduler = ON;");
      try {
        await waitFor(async () => (await tickers()).length === 2, { what: "both events running in app", timeoutMs: 10_000 });
        expectOk(await runWatched(rig, ["backup", "daily"]));
        expectOk(await runWatched(rig, ["verify", "daily"], identity()));
        expectOk(await runWatched(rig, ["restore", "latest", "--yes"], identity()));
        await sleep(2500); // the restored events run in app again
        expect(await tickers()).toEqual(["app", "by name from app"]);
        expect((await rig.server.rootSql("SELECT COUNT(*) FROM app.ticks WHERE db = 'app';")).trim()).not.toBe("0");
        expect(await rig.server.rootSql(statuses)).toBe(before);
      } finally {
        await rig.server.rootSql("SET GLOBAL event_scheduler = OFF;");
        await rig.server.rootSql("DROP EVENT tick_here; DROP EVENT tick_by_name; DROP EVENT parked; DROP TABLE ticks;", "app");
      }
    });
  }
});
