// load-app-db against a DBaaS-like target: the admin is not a superuser (MariaDB: no SUPER / SET USER;
// PostgreSQL: CREATEDB CREATEROLE only), TLS is required, and MariaDB refuses tables without a primary key
// (innodb_force_primary_key), the way DigitalOcean/Linode/RDS enforce sql_require_primary_key. The baseline
// dump comes from a git repository and was made by a superuser, so it carries DEFINER=root@localhost and
// ownership statements the admin may not run.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { gzipSync } from "zlib";
import { objectNames, tableChecksums } from "../support/dataset";
import { GitRepo, makeGitRepo } from "../support/git";
import { runOk } from "../support/proc";
import { completeIds, ENGINES, expectOk, makeRig, Rig, runWatched } from "./fixture";

jest.setTimeout(240_000);

async function originDump(rig: Rig): Promise<Buffer> {
  if (rig.server.engine === "mariadb") {
    // Without --hex-blob, as many baselines are made: binary data as escaped bytes, so read it as a Buffer.
    const file = path.join(rig.host.dir, "origin.sql");
    await runOk("mariadb-dump", ["--no-defaults", `--socket=${rig.server.socket}`, "-uroot", "--routines", "--triggers",
      "--single-transaction", "--default-character-set=utf8mb4", `--result-file=${file}`, "origin"]);
    return readFileSync(file);
  }
  return Buffer.from(await runOk("runuser", ["-u", "postgres", "--", "pg_dump", "-h", rig.server.socket, "-p", String(rig.server.port), "origin"]));
}

describe.each(ENGINES)("%s: DBaaS-like target (admin without superuser, primary keys required)", (engine) => {
  let rig: Rig;
  let repo: GitRepo;
  let origin: Record<string, string>;
  let originObjects: string[];

  beforeAll(async () => {
    rig = await makeRig(engine, {
      server: { admin: { user: "doadmin", password: "D0admin-s3cret:'\"\\#;x", dbaas: true } },
      // The provider's app user has the password the stack holds (what the secret file carries).
      host: { appPassword: "x-app-pw-1", env: { DB_TLS_MODE: "require", DB_CA_FILE: null } },
      seed: false,
    });
    const { seedDataset } = await import("../support/dataset");
    if (engine === "mariadb") {
      // The origin (a developer's machine) allowed tables without a primary key; the DBaaS does not.
      await seedDataset(rig.server, "origin", { rows: 400, largeRowBytes: 256 * 1024 });
      await rig.server.rootSql("SET GLOBAL innodb_force_primary_key = ON;");
      // The provider creates the application user through its API.
      await rig.server.rootSql("CREATE USER 'appuser'@'%' IDENTIFIED BY 'x-app-pw-1';");
    } else {
      await seedDataset(rig.server, "origin", { rows: 400, largeRowBytes: 256 * 1024 });
      await rig.server.rootSql("CREATE ROLE appuser LOGIN PASSWORD 'x-app-pw-1';");
    }
    origin = await tableChecksums(rig.server, "origin");
    originObjects = await objectNames(rig.server, "origin");
    const dump = await originDump(rig);
    expect(dump.toString("latin1")).toMatch(engine === "mariadb" ? /DEFINER=`root`@`localhost`/ : /OWNER TO postgres/);
    repo = await makeGitRepo(
      engine === "mariadb" ? { "dbtier/baseline.sql": dump } : { "db/baseline.sql.gz": gzipSync(dump) },
    );
    rig.host.writeEnv({
      APP_DB_SOURCE: "baseline",
      APP_DB_BASELINE_REPO: repo.url,
      APP_DB_BASELINE_PATH: engine === "mariadb" ? "dbtier/baseline.sql" : "db/baseline.sql.gz",
    });
  });
  afterAll(async () => {
    repo?.remove();
    await rig?.cleanup();
  });

  test("the admin really is not a superuser", async () => {
    if (engine === "mariadb") {
      const grants = await rig.server.rootSql("SHOW GRANTS FOR 'doadmin'@'127.0.0.1';");
      expect(grants).not.toMatch(/SUPER|SET USER|ALL PRIVILEGES/);
    } else {
      expect((await rig.server.rootSql("SELECT rolsuper FROM pg_roles WHERE rolname = 'doadmin';")).trim()).toBe("f");
    }
  });

  test("load-app-db loads the baseline from git and the data matches the origin", async () => {
    const r = await runWatched(rig, ["load-app-db"]);
    expectOk(r);
    expect(r.stderr).toContain("loaded into app and checked");
    const loaded = await tableChecksums(rig.server, "app");
    const rename = (t: string) => t; // same table names in both databases
    expect(Object.fromEntries(Object.entries(loaded).map(([k, v]) => [rename(k), v]))).toEqual(origin);
    expect(await objectNames(rig.server, "app")).toEqual(originObjects);
  });

  test("objects belong to the DBaaS accounts, and tables without a key got an invisible one", async () => {
    if (engine === "mariadb") {
      const definers = await rig.server.rootSql(
        "SELECT DISTINCT definer FROM information_schema.routines WHERE routine_schema = 'app' UNION SELECT DISTINCT definer FROM information_schema.triggers WHERE trigger_schema = 'app' UNION SELECT DISTINCT definer FROM information_schema.views WHERE table_schema = 'app';",
      );
      // Loads run as the app user: its objects are defined by it, never by the admin (whose rights a
      // SQL SECURITY DEFINER object would otherwise lend to the application).
      expect(definers.trim().split("\n")).toEqual(["appuser@127.0.0.1"]);
      const audit = await rig.server.rootSql("SHOW CREATE TABLE app.audit;");
      expect(audit).toMatch(/`my_row_id` bigint\(20\) unsigned NOT NULL INVISIBLE AUTO_INCREMENT/);
      expect(audit).toMatch(/PRIMARY KEY \(`my_row_id`\)/);
      // The application's INSERTs without column lists still work.
      await rig.server.rootSql("INSERT INTO app.audit VALUES ('app insert', NULL);");
      expect((await rig.server.rootSql("SELECT double_it(4) FROM DUAL;", "app")).trim()).toBe("8");
    } else {
      const owners = await rig.server.rootSql("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public';", "app");
      expect(owners.trim()).toBe("appuser");
      expect((await rig.server.rootSql("SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app';")).trim()).toBe("appuser");
    }
  });

  test("a second load refuses to overwrite the non-empty database", async () => {
    const before = await tableChecksums(rig.server, "app");
    const r = await runWatched(rig, ["load-app-db"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/database app is not empty .*--force/);
    expect(await tableChecksums(rig.server, "app")).toEqual(before);
  });

  test("--if-empty (what pulumi up runs) leaves a database with data as it is and succeeds", async () => {
    const before = await tableChecksums(rig.server, "app");
    const r = await runWatched(rig, ["load-app-db", "--if-empty"]);
    expectOk(r);
    expect(r.stderr).toMatch(/app already holds data .* left as it is/);
    expect(await tableChecksums(rig.server, "app")).toEqual(before);
  });

  test("--force replaces it, after a safety backup it reads back (so it needs the age identity)", async () => {
    if (engine === "mariadb") await rig.server.rootSql("DELETE FROM app.orders;");
    else await rig.server.rootSql("DELETE FROM orders;", "app");
    const changed = await tableChecksums(rig.server, "app");
    const noKey = await runWatched(rig, ["load-app-db", "--force"]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/replacing it needs a safety backup read back with the age identity/);
    expect(await tableChecksums(rig.server, "app")).toEqual(changed);
    const r = await runWatched(rig, ["load-app-db", "--force"], { identityFile: rig.key.identityFile });
    expectOk(r);
    expect(r.stderr).toMatch(/safety backup safety\/\S+ read back and decrypted/);
    expect(completeIds(rig, "safety")).toHaveLength(1);
    expect(await tableChecksums(rig.server, "app")).toEqual(origin);
  });

  test("load-app-db from a datastore period loads the newest verified backup made through the DBaaS admin", async () => {
    expectOk(await runWatched(rig, ["backup", "weekly"]));
    expect(completeIds(rig, "weekly")).toHaveLength(1);
    rig.host.writeEnv({ APP_DB_SOURCE: "weekly", DB_NAME: "app_copy", APP_DB_BASELINE_REPO: null });
    const noKey = await runWatched(rig, ["load-app-db"]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain("age identity");
    // Unattended (pulumi up): without the identity nothing is loaded, and it says so.
    const unattended = await runWatched(rig, ["load-app-db", "--if-empty"]);
    expectOk(unattended);
    expect(unattended.stderr).toMatch(/NOT LOADED: a weekly backup is decrypted with the age identity/);
    // A backup whose test restore has not passed is never loaded.
    const unverified = await runWatched(rig, ["load-app-db"], { identityFile: rig.key.identityFile });
    expect(unverified.code).toBe(1);
    expect(unverified.stderr).toMatch(/no backup in weekly under shop has a passing test restore on record .*run 'dbtier-db verify/);
    // verify works on the DBaaS too (scratch database created by the non-superuser admin).
    expectOk(await runWatched(rig, ["verify", "weekly"], { identityFile: rig.key.identityFile }));
    const r = await runWatched(rig, ["load-app-db"], { identityFile: rig.key.identityFile });
    expectOk(r);
    expect(await tableChecksums(rig.server, "app_copy")).toEqual(origin);
  });

  test("on a DBaaS that made only the admin (RDS, Linode), load-app-db creates the app user with rights on its database only", async () => {
    rig.host.writeEnv({
      APP_DB_SOURCE: "baseline", APP_DB_BASELINE_REPO: repo.url, DB_NAME: "app_rds", DB_USER: "rds_app",
      APP_DB_BASELINE_PATH: engine === "mariadb" ? "dbtier/baseline.sql" : "db/baseline.sql.gz",
    });
    expectOk(await runWatched(rig, ["load-app-db"]));
    if (engine === "mariadb") {
      const grants = await rig.server.rootSql("SHOW GRANTS FOR 'rds_app'@'%';");
      expect(grants).toMatch(/GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, .* ON `app_rds`\.\* TO `rds_app`@`%`/);
      expect(grants).toMatch(/GRANT USAGE ON \*\.\* TO `rds_app`@`%`/);
      expect(grants).not.toMatch(/GRANT OPTION|ON \*\.\* TO .*(ALL|SELECT|INSERT)/);
      expect(grants).toMatch(/REQUIRE SSL/);
    } else {
      expect((await rig.server.rootSql("SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = 'rds_app';")).trim()).toBe("t\tf");
      expect((await rig.server.rootSql("SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app_rds';")).trim()).toBe("rds_app");
    }
    expect(await ordersSeenBy("rds_app", "app_rds")).toBeGreaterThan(0);
  });

  test("a database restored from another stack's provider backup keeps that stack's app password: load-app-db sets this stack's", async () => {
    await rig.server.rootSql(engine === "mariadb"
      ? "CREATE USER 'restored_app'@'%' IDENTIFIED BY 'the-source-stacks-password';"
      : "CREATE ROLE restored_app LOGIN PASSWORD 'the-source-stacks-password';");
    rig.host.writeEnv({
      APP_DB_SOURCE: "baseline", APP_DB_BASELINE_REPO: repo.url, DB_NAME: "app_restored", DB_USER: "restored_app",
      APP_DB_BASELINE_PATH: engine === "mariadb" ? "dbtier/baseline.sql" : "db/baseline.sql.gz",
    });
    expectOk(await runWatched(rig, ["load-app-db"]));
    if (engine === "mariadb") {
      // Logging in from this host would match the loader's own restored_app@127.0.0.1; webservers match '%'.
      const password = readFileSync(path.join(rig.host.secretsDir, "db-app-password"), "utf8").replace(/\\/g, "\\\\").replace(/'/g, "''");
      expect((await rig.server.rootSql(`SELECT authentication_string = PASSWORD('${password}') FROM mysql.user WHERE user = 'restored_app' AND host = '%';`)).trim()).toBe("1");
    } else {
      expect(await ordersSeenBy("restored_app", "app_restored")).toBeGreaterThan(0);
    }
  });

  /** Logs in over TLS as `user` with this stack's app password (the secret file) and counts its orders. */
  async function ordersSeenBy(user: string, db: string): Promise<number> {
    const password = readFileSync(path.join(rig.host.secretsDir, "db-app-password"), "utf8");
    const dir = mkdtempSync(path.join(tmpdir(), "dbtier-app-login-"));
    try {
      let count: string;
      if (engine === "mariadb") {
        const cnf = path.join(dir, "app.cnf");
        writeFileSync(cnf, `[client]\nuser=${user}\npassword="${password.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"\n`, { mode: 0o600 });
        count = await runOk("mariadb", [`--defaults-extra-file=${cnf}`, "-h", "127.0.0.1", "-P", String(rig.server.port), "--ssl", "--batch", "--skip-column-names", "-e", `SELECT COUNT(*) FROM ${db}.orders`]);
      } else {
        const pass = path.join(dir, "pgpass");
        writeFileSync(pass, `*:*:*:${user}:${password.replace(/\\/g, "\\\\").replace(/:/g, "\\:")}\n`, { mode: 0o600 });
        count = await runOk("psql", ["-X", "-At", "-c", "SELECT count(*) FROM orders", `host=127.0.0.1 port=${rig.server.port} dbname=${db} user=${user} sslmode=require`], { env: { ...process.env, PGPASSFILE: pass } });
      }
      return Number(count.trim());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  test("a period source reads another stack's prefix when APP_DB_SOURCE_APP names it (promotion)", async () => {
    const devPrefix = rig.host.envValues.APP_NAME;
    rig.host.writeEnv({ APP_DB_SOURCE: "weekly", DB_NAME: "app_promoted", APP_NAME: "other-stack", APP_DB_SOURCE_APP: devPrefix });
    const r = await runWatched(rig, ["load-app-db"], { identityFile: rig.key.identityFile });
    expectOk(r);
    expect(await tableChecksums(rig.server, "app_promoted")).toEqual(origin);
  });

  if (engine === "postgres") {
    test("extensions only a superuser may create are the admin's to create before the load: where it may not, the run says which and records nothing", async () => {
      rig.host.writeEnv({ DB_NAME: "ext_src", APP_NAME: "ext-stack", APP_DB_SOURCE_APP: null });
      await rig.server.rootSql("CREATE DATABASE ext_src OWNER appuser;");
      // earthdistance needs cube (trusted: the app user could create that one itself)
      await rig.server.rootSql(`CREATE EXTENSION pg_stat_statements; CREATE EXTENSION cube; CREATE EXTENSION earthdistance;
        CREATE TABLE pts (id int PRIMARY KEY, c cube); INSERT INTO pts VALUES (1, '(1, 2)'); ALTER TABLE pts OWNER TO appuser;`, "ext_src");
      expectOk(await runWatched(rig, ["backup", "daily"]));
      const [id] = completeIds(rig, "daily");
      const verification = `ext-stack/daily/${id}/verification.json`;
      const v = await runWatched(rig, ["verify", "daily"], { identityFile: rig.key.identityFile });
      expect(v.code).toBe(1);
      expect(v.stderr).toMatch(/extension (pg_stat_statements|cube|earthdistance) [\d.]+ \(in schema public\), which only a superuser may create .*the admin could not create it in ext_src_dbtier_verify: .*permission denied/);
      expect(v.stderr).not.toMatch(/FAILED \(recorded\)/);
      expect(rig.s3.has(verification)).toBe(false);
      // An admin that may create them (DigitalOcean's and RDS's may, from their providers' lists; here a
      // superuser stands in): the load goes through and the copy matches.
      await rig.server.rootSql("ALTER ROLE doadmin SUPERUSER;");
      try {
        const ok = await runWatched(rig, ["verify", "daily"], { identityFile: rig.key.identityFile });
        expectOk(ok);
        expect(ok.stderr).toMatch(/created extensions pg_stat_statements, cube, earthdistance in ext_src_dbtier_verify as the admin/);
      } finally {
        await rig.server.rootSql("ALTER ROLE doadmin NOSUPERUSER;");
      }
      expect(rig.s3.has(verification)).toBe(true);
    });
  }
});
