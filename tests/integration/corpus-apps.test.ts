// Real third-party application schemas, taken unchanged from Debian 12 packages (tests/corpus/README.md
// names package, version, path and licence), each with its own seed data and our hostile rows, go through
// `dbtier-db backup daily`, `verify` and `restore latest --yes` on real MariaDB 10.11 and PostgreSQL 15;
// the restored database must equal the source by the server-computed fingerprint (tests/support/
// fingerprint.ts). One rig per engine; each application in its own database, one after the other (the
// host's DB_NAME is switched between them).
import { readFileSync } from "fs";
import * as path from "path";
import { gunzipSync } from "zlib";
import { contentFingerprint } from "../support/fingerprint";
import type { ServerEngine } from "../support/servers";
import { completeIds, expectOk, makeRig, manifest, Rig, runWatched } from "./fixture";

jest.setTimeout(300_000);

const CORPUS = path.resolve(__dirname, "..", "corpus");
const corpusPath = (file: string): string => path.join(CORPUS, file);
/** A corpus file as text; a `.gz` is kept as the package ships it and decompressed here. */
const corpus = (file: string): string => {
  const raw = readFileSync(corpusPath(file));
  return (file.endsWith(".gz") ? gunzipSync(raw) : raw).toString("utf8");
};

interface AppCase {
  readonly app: string;
  readonly db: string;
  /** False when the package's own file creates the database (zm_create.sql, create_tables.sql). */
  readonly createDb: boolean;
  /** The package's files in load order, then our rows. */
  readonly files: readonly string[];
  /** Textual fix-ups a package installer makes at install time (documented in the corpus README). */
  readonly rewrite?: (sql: string) => string;
  /** Least number of fingerprint entries per kind the source must have (so a case cannot pass empty). */
  readonly least: Readonly<Record<string, number>>;
  /** After the restore: the application's own routines/triggers still work (SQL, expected output). */
  readonly afterRestore?: { readonly sql: string; readonly out: string };
}

const MARIADB_APPS: readonly AppCase[] = [
  {
    app: "ZoneMinder (zoneminder 1.36.33)", db: "zm", createDb: false,
    files: ["zoneminder/zm_create.sql", "zoneminder/hostile-rows.sql"],
    // zm_create.sql sources its triggers from the installed path; here they come from the corpus copy.
    rewrite: (sql) => sql.replace("source /usr/share/zoneminder/db/triggers.sql", `source ${corpusPath("zoneminder/triggers.sql")}`),
    least: { table: 34, trigger: 13, index: 60 },
    afterRestore: {
      sql: "UPDATE zm.Events SET DiskSpace = 100 WHERE Name = 'Event-2'; SELECT HourEventDiskSpace FROM zm.Event_Summaries WHERE MonitorId = 1;",
      out: "100",
    },
  },
  {
    app: "ulogd2 (ulogd2 2.0.8)", db: "ulogd", createDb: true,
    files: ["ulogd2/mysql-ulogd2.sql.gz", "ulogd2/hostile-rows-mysql.sql"],
    least: { table: 14, view: 10, routine: 22 },
    afterRestore: {
      sql: "SELECT ulogd.BIN_TO_IPV6(ip_saddr) FROM ulogd.ulog2 ORDER BY _id LIMIT 1;",
      out: "2001:0db8:0000:0000:0000:0000:0000:0001",
    },
  },
  {
    app: "Zabbix proxy (zabbix-proxy-mysql 6.0.14)", db: "zabbix", createDb: true,
    files: ["zabbix/mysql-schema.sql.gz", "zabbix/hostile-rows-mysql.sql"],
    least: { table: 173, trigger: 4, index: 400 },
    afterRestore: { sql: "UPDATE zabbix.hosts SET name = 'wéb ä' WHERE hostid = 10001; SELECT name_upper FROM zabbix.hosts WHERE hostid = 10001;", out: "WÉB Ä" },
  },
  {
    app: "MediaWiki (mediawiki 1.39.17)", db: "mediawiki", createDb: true,
    files: ["mediawiki/mysql-tables-generated.sql", "mediawiki/hostile-rows-mysql.sql"],
    least: { table: 58, index: 150 },
  },
  {
    app: "Cacti (cacti 1.2.24)", db: "cacti", createDb: true,
    files: ["cacti/cacti.sql", "cacti/hostile-rows.sql"],
    least: { table: 113, routine: 1, index: 250 },
  },
  {
    app: "Bacula director (bacula-director-mysql 9.6.7)", db: "bacula", createDb: true,
    files: ["bacula/mysql.sql", "bacula/hostile-rows-mysql.sql"],
    least: { table: 26 },
  },
  {
    app: "phpMyAdmin configuration storage (phpmyadmin 5.2.1)", db: "phpmyadmin", createDb: false,
    files: ["phpmyadmin/create_tables.sql", "phpmyadmin/hostile-rows.sql"],
    least: { table: 19 },
  },
];

const POSTGRES_APPS: readonly AppCase[] = [
  {
    app: "Zabbix proxy (zabbix-proxy-pgsql 6.0.14)", db: "zabbix", createDb: true,
    files: ["zabbix/pgsql-schema.sql.gz", "zabbix/hostile-rows-pgsql.sql"],
    least: { table: 173, trigger: 4, function: 2, index: 400 },
    afterRestore: { sql: "UPDATE hosts SET name = 'wéb ä' WHERE hostid = 10001; SELECT name_upper FROM hosts WHERE hostid = 10001;", out: "WÉB Ä" },
  },
  {
    app: "ulogd2 (ulogd2 2.0.8)", db: "ulogd", createDb: true,
    files: ["ulogd2/pgsql-ulogd2.sql.gz", "ulogd2/hostile-rows-pgsql.sql"],
    least: { table: 14, function: 18, "sequence-position": 5 },
    afterRestore: { sql: "SELECT insert_udp(insert_ip_packet(1, 1, 'x', 1, NULL, NULL, 2, '192.0.2.9', '192.0.2.10', 17), 1, 2, 3) > 0;", out: "t" },
  },
  {
    app: "MediaWiki (mediawiki 1.39.17)", db: "mediawiki", createDb: true,
    files: ["mediawiki/postgres-tables-generated.sql", "mediawiki/hostile-rows-pgsql.sql"],
    least: { table: 58, type: 1, index: 150, "sequence-position": 20 },
  },
  {
    app: "Icinga 2 IDO (icinga2-ido-pgsql 2.13.6)", db: "icinga", createDb: true,
    files: ["icinga2/pgsql.sql", "icinga2/hostile-rows-pgsql.sql"],
    least: { table: 61, function: 3, index: 200, "sequence-position": 61 },
  },
  {
    app: "Request Tracker (request-tracker5 5.0.3)", db: "rt", createDb: true,
    files: ["request-tracker/schema.Pg", "request-tracker/hostile-rows-pgsql.sql"],
    least: { table: 33, "sequence-position": 32 },
  },
  {
    app: "Bacula director (bacula-director-pgsql 9.6.7)", db: "bacula", createDb: true,
    files: ["bacula/pgsql.sql", "bacula/hostile-rows-pgsql.sql"],
    least: { table: 26, "sequence-position": 18 },
  },
];

const APPS: Record<ServerEngine, readonly AppCase[]> = { mariadb: MARIADB_APPS, postgres: POSTGRES_APPS };

async function load(rig: Rig, c: AppCase): Promise<void> {
  const s = rig.server;
  if (c.createDb) {
    await s.rootSql(s.engine === "mariadb" ? `CREATE DATABASE ${c.db};` : `CREATE DATABASE ${c.db} ENCODING 'UTF8' TEMPLATE template0;`);
  }
  for (const file of c.files) {
    const sql = c.rewrite ? c.rewrite(corpus(file)) : corpus(file);
    await s.rootSql(sql, s.engine === "mariadb" && !c.createDb && file === c.files[0] ? undefined : c.db);
  }
}

// What the shared fingerprint does not look at, but an application depends on: the database's default
// character set (new tables and routine parameters take it), the character set context and sql_mode every
// view, trigger, routine and event was created in (string literals in their bodies take
// collation_connection; sql_mode decides how their statements behave), trigger order,
// routine parameter collations, table default collations, and the AUTO_INCREMENT / sequence counters that
// keep deleted ids from coming back.
async function contextState(rig: Rig, db: string): Promise<string[]> {
  const s = rig.server;
  if (s.engine === "mariadb") {
    const q = `'${db}'`;
    return (await s.rootSql(`
      SELECT 'database', default_character_set_name, default_collation_name FROM information_schema.schemata WHERE schema_name = ${q};
      SELECT CONCAT('table ', table_name), table_collation, IFNULL(auto_increment, '~') FROM information_schema.tables WHERE table_schema = ${q} AND table_type = 'BASE TABLE';
      SELECT CONCAT('view ', table_name), character_set_client, collation_connection FROM information_schema.views WHERE table_schema = ${q};
      SELECT CONCAT('trigger ', trigger_name), character_set_client, collation_connection, database_collation, action_order, sql_mode FROM information_schema.triggers WHERE trigger_schema = ${q};
      SELECT CONCAT('routine ', routine_name), character_set_client, collation_connection, database_collation, sql_mode FROM information_schema.routines WHERE routine_schema = ${q};
      SELECT CONCAT('event ', event_name), character_set_client, collation_connection, database_collation, sql_mode, time_zone FROM information_schema.events WHERE event_schema = ${q};
      SELECT CONCAT('parameter ', specific_name, '.', IFNULL(parameter_name, '(return)')), dtd_identifier, IFNULL(collation_name, '~') FROM information_schema.parameters WHERE specific_schema = ${q};`))
      .split("\n").filter((l) => l).sort();
  }
  return (await s.rootSql(`
    SELECT 'database', pg_encoding_to_char(encoding), datcollate, datctype, datlocprovider FROM pg_database WHERE datname = current_database();
    SELECT 'database comment', coalesce(shobj_description(oid, 'pg_database'), '~') FROM pg_database WHERE datname = current_database();
    SELECT 'database setting', CASE WHEN setrole = 0 THEN '(every role)' ELSE pg_get_userbyid(setrole) END, (SELECT string_agg(x, ',' ORDER BY x) FROM unnest(setconfig) x) FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database());
    SELECT 'relation ' || c.oid::regclass, c.relpersistence, c.relreplident, coalesce(c.reloptions::text, '~') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND c.relkind IN ('r', 'p', 'm', 'i');
    SELECT 'column storage ' || a.attrelid::regclass || '.' || a.attname, a.attstorage, a.attstattarget, a.attcompression FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped;`, db))
    .split("\n").filter((l) => l).sort();
}

function kindCounts(fp: Record<string, string>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const k of Object.keys(fp)) {
    const kind = k.split(":")[0];
    counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

describe.each(["mariadb", "postgres"] as const)("%s: real application schemas round-trip exactly", (engine) => {
  let rig: Rig;
  const identity = (): { identityFile: string } => ({ identityFile: rig.key.identityFile });

  beforeAll(async () => {
    // Debian's MariaDB packages set the server character set to utf8mb4 (50-server.cnf); the schemas that
    // do not name one get what a Debian host gives them.
    rig = await makeRig(engine, {
      seed: false,
      server: engine === "mariadb" ? { extraSettings: { "character-set-server": "utf8mb4", "collation-server": "utf8mb4_general_ci" } } : {},
    });
  });
  afterAll(async () => rig?.cleanup());

  test.each(APPS[engine].map((c) => [c.app, c] as const))("%s", async (_name, c) => {
    await load(rig, c);
    const source = await contentFingerprint(rig.server, c.db);
    const sourceContext = await contextState(rig, c.db);
    const counts = kindCounts(source);
    for (const [kind, least] of Object.entries(c.least)) expect(`${kind}: ${counts[kind] ?? 0} >= ${least}`).toBe(`${kind}: ${Math.max(counts[kind] ?? 0, least)} >= ${least}`);
    // Our hostile rows are in: no table of the source is empty across the board.
    expect(Object.entries(source).filter(([k, v]) => k.startsWith("table:") && !v.startsWith("0:")).length).toBeGreaterThan(0);

    rig.host.writeEnv({ DB_NAME: c.db });
    expectOk(await runWatched(rig, ["backup", "daily"]));
    const id = completeIds(rig, "daily").slice(-1)[0];
    const m = manifest(rig, "daily", id);
    expect(m.source.inexact).toEqual([]);
    expectOk(await runWatched(rig, ["verify", "daily"], identity()));

    // Lost, then restored: the restore must bring back exactly the source.
    // (MariaDB: the database itself stays as it was, as on a host that lost its tables; the lost-database
    // case is the finding test below.)
    if (engine === "mariadb") {
      const [cs, coll] = (await rig.server.rootSql(`SELECT default_character_set_name, default_collation_name FROM information_schema.schemata WHERE schema_name = '${c.db}';`)).trim().split("\t");
      await rig.server.rootSql(`DROP DATABASE ${c.db}; CREATE DATABASE ${c.db} CHARACTER SET ${cs} COLLATE ${coll};`);
    } else {
      const [first] = Object.keys(source).filter((k) => k.startsWith("table:")).sort();
      await rig.server.rootSql(`DROP TABLE ${first.slice("table:".length)} CASCADE;`, c.db);
    }
    expectOk(await runWatched(rig, ["restore", "latest", "--yes"], identity()));
    const restored = await contentFingerprint(rig.server, c.db);
    // Named differences first (readable on failure), then the whole map.
    const differing = Object.keys({ ...source, ...restored }).filter((k) => source[k] !== restored[k]).sort();
    expect(differing).toEqual([]);
    expect(restored).toEqual(source);
    const restoredContext = await contextState(rig, c.db);
    expect(restoredContext.filter((l) => !sourceContext.includes(l))).toEqual([]);
    expect(restoredContext).toEqual(sourceContext);

    if (c.afterRestore) {
      expect((await rig.server.rootSql(c.afterRestore.sql, engine === "postgres" ? c.db : undefined)).trim()).toBe(c.afterRestore.out);
    }
  });

  // FINDINGS: these tests fail until the toolkit keeps what they name (tests/corpus/findings/*.sql).
  if (engine === "mariadb") {
    // FINDING mariadb-database-default-charset: a lost database comes back as utf8mb4_unicode_ci whatever
    // its default character set was, and the routines re-created in it compare with the new one.
    test("FINDING mariadb-database-default-charset: a database lost entirely comes back with its default character set", async () => {
      const db = "hc_charset";
      await rig.server.rootSql(`CREATE DATABASE ${db};`);
      await rig.server.rootSql(corpus("findings/mariadb-database-default-charset.sql"), db);
      const source = await contentFingerprint(rig.server, db);
      const sourceContext = await contextState(rig, db);
      expect((await rig.server.rootSql(`SELECT ${db}.same('a', 'A');`)).trim()).toBe("0");
      rig.host.writeEnv({ DB_NAME: db });
      expectOk(await runWatched(rig, ["backup", "daily"]));
      expectOk(await runWatched(rig, ["verify", "daily"], identity()));
      await rig.server.rootSql(`DROP DATABASE ${db};`);
      expectOk(await runWatched(rig, ["restore", "latest", "--yes"], identity()));
      expect(await contentFingerprint(rig.server, db)).toEqual(source);
      expect((await contextState(rig, db)).filter((l) => !sourceContext.includes(l))).toEqual([]);
      expect((await rig.server.rootSql(`SELECT ${db}.same('a', 'A');`)).trim()).toBe("0");
    });
  } else {
    // FINDING postgres-database-settings: a restore over the live database re-applies its ALTER DATABASE
    // settings to the side database as one string literal each (swap.py), so `search_path = app, public`
    // comes back as the single schema name "app, public" (unqualified names stop resolving); and
    // COMMENT ON DATABASE is not carried over at all.
    test("FINDING postgres-database-settings: a restore keeps the database's own settings (a list-valued search_path) and comment", async () => {
      const db = "hc_settings";
      await rig.server.rootSql(`CREATE DATABASE ${db} ENCODING 'UTF8' TEMPLATE template0;`);
      await rig.server.rootSql(corpus("findings/postgres-database-settings.sql"), db);
      const source = await contentFingerprint(rig.server, db);
      const sourceContext = await contextState(rig, db);
      rig.host.writeEnv({ DB_NAME: db });
      expectOk(await runWatched(rig, ["backup", "daily"]));
      expectOk(await runWatched(rig, ["verify", "daily"], identity()));
      await rig.server.rootSql("DELETE FROM app.t;", db);
      expectOk(await runWatched(rig, ["restore", "latest", "--yes"], identity()));
      expect(sourceContext.filter((l) => l.startsWith("database"))).toHaveLength(3);
      expect((await contextState(rig, db)).filter((l) => !sourceContext.includes(l))).toEqual([]);
      // (The shared fingerprint names relations as search_path shows them: it differs too while the
      // database's search_path is lost.)
      expect(await contentFingerprint(rig.server, db)).toEqual(source);
      // What the application sees: its search_path, so unqualified names resolve.
      expect((await rig.server.rootSql("SELECT count(*) FROM t;", db)).trim()).toBe("1");
    });

    // FINDING postgres-lost-database-settings: a database restored where it was lost (a new server)
    // comes back without its ALTER DATABASE settings: the backup does not hold them (swap.py copies them
    // from the live database, and there is none).
    test("FINDING postgres-lost-database-settings: a database lost entirely comes back with its own settings", async () => {
      const db = "hc_lost";
      await rig.server.rootSql(`CREATE DATABASE ${db} ENCODING 'UTF8' TEMPLATE template0;`);
      await rig.server.rootSql(corpus("findings/postgres-database-settings.sql"), db);
      const sourceContext = await contextState(rig, db);
      rig.host.writeEnv({ DB_NAME: db });
      expectOk(await runWatched(rig, ["backup", "daily"]));
      expectOk(await runWatched(rig, ["verify", "daily"], identity()));
      await rig.server.rootSql(`DROP DATABASE ${db} WITH (FORCE);`);
      expectOk(await runWatched(rig, ["restore", "latest", "--yes"], identity()));
      const restoredContext = await contextState(rig, db);
      expect(sourceContext.filter((l) => l.startsWith("database setting")).filter((l) => !restoredContext.includes(l))).toEqual([]);
    });
  }
});
