// promote's host side (scripts/promote/remote.sh) against the real toolkit, a real database server and a
// real S3 server: the log lines promote parses are the ones dbtier-db writes, the read-only probe works
// through the toolkit's own functions, and the identity travels on stdin only. (The SSH transport is tested
// against a real sshd in tests/delivery/promote-remote.test.ts.)
import { readFileSync } from "fs";
import * as path from "path";
import { parseBackupRef, interpretProbe, remoteValue } from "../../scripts/promote/decisions";
import { run, removeDir, tempDir } from "../support/proc";
import { startS3, S3Server } from "../support/s3";
import { DbServer, startServer } from "../support/servers";
import { AgeKey, TOOL, TestHost, makeAgeKey, makeHost } from "../support/toolkit";

jest.setTimeout(240_000);

const REMOTE_SCRIPT = readFileSync(path.resolve(__dirname, "../../scripts/promote/remote.sh"), "utf8");

describe.each(["mariadb", "postgres"] as const)("%s: promote's host side with the real toolkit", (engine) => {
  let server: DbServer;
  let s3: S3Server;
  let key: AgeKey;
  let keyDir: string;
  let dev: TestHost;
  let prod: TestHost;

  /** What promote runs over SSH: the script as `bash -c`, the toolkit at its path, the identity on stdin. */
  const remote = (host: TestHost, args: string[], stdin?: string) =>
    run("bash", ["-c", REMOTE_SCRIPT, "dbtier-promote", ...args], {
      input: stdin ?? "",
      timeoutMs: 180_000,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        LANG: "C.UTF-8",
        DBTIER_PROMOTE_TOOL: TOOL,
        DBTIER_ENV: host.envFile,
        DBTIER_SECRETS_DIR: host.secretsDir,
        DBTIER_CONNECT_ATTEMPTS: "3",
        DBTIER_CONNECT_DELAY: "1",
        DBTIER_S3_LOW_LEVEL_RETRIES: "1",
      },
    });

  beforeAll(async () => {
    server = await startServer(engine, { admin: { user: "dbadmin", password: "admin-Pa55-word" } });
    s3 = await startS3();
    keyDir = tempDir("dbtier-promote-key-");
    key = await makeAgeKey(keyDir);
    dev = await makeHost({ server, s3, recipient: key.recipient, dbName: "shop_dev", appName: "shop-dev" });
    prod = await makeHost({ server, s3, recipient: key.recipient, dbName: "shop_prod", appName: "shop-prod" });
    await server.rootSql("CREATE DATABASE shop_dev");
    const table = engine === "mariadb"
      ? "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(40)); INSERT INTO customers VALUES (1, 'ada'), (2, 'grace');"
      : "CREATE TABLE customers (id INT PRIMARY KEY, name TEXT); INSERT INTO customers VALUES (1, 'ada'), (2, 'grace');";
    await server.rootSql(table, "shop_dev");
  });

  afterAll(async () => {
    dev?.remove();
    prod?.remove();
    if (keyDir) removeDir(keyDir);
    await s3?.stop();
    await server?.stop();
  });

  let backupId = "";

  test("backup: the new id is read from the toolkit's own log line", async () => {
    const r = await remote(dev, ["backup", "daily"]);
    expect(r.stderr).toMatch(/backup daily\/\S+ done/);
    expect(r.code).toBe(0);
    const ref = parseBackupRef(r.stdout);
    expect(ref?.period).toBe("daily");
    backupId = ref?.id ?? "";
    expect(s3.keys(`shop-dev/daily/${backupId}/`)).toContain(`shop-dev/daily/${backupId}/manifest.json`);
  });

  test("verify: with the identity on stdin it passes and records the verification", async () => {
    const identity = readFileSync(key.identityFile, "utf8");
    const r = await remote(dev, ["verify", backupId], identity);
    expect(r.stderr).toMatch(new RegExp(`verify daily/${backupId} OK`));
    expect(r.code).toBe(0);
    expect(remoteValue(r.stdout, "DBTIER_VERIFIED")).toBe(backupId);
    expect(s3.keys(`shop-dev/daily/${backupId}/`)).toContain(`shop-dev/daily/${backupId}/verification.json`);
  });

  test("verify: without an identity it refuses", async () => {
    const r = await remote(dev, ["verify", backupId]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no age identity/);
  });

  test("probe: counts the objects of the application database, read-only", async () => {
    const probe = async (host: TestHost) => {
      const r = await remote(host, ["probe"]);
      return interpretProbe({ code: r.code ?? 255, stdout: r.stdout, stderr: r.stderr });
    };
    expect(await probe(prod)).toEqual({ kind: "empty" });
    expect(await probe(dev)).toEqual({ kind: "has-data", objects: 1 });
    // Read-only: probing prod did not create its database.
    const exists = engine === "mariadb"
      ? await server.rootSql("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 'shop_prod'")
      : await server.rootSql("SELECT count(*) FROM pg_database WHERE datname = 'shop_prod'");
    expect(exists.trim()).toBe("0");
  });

  test("load: the target loads exactly the verified baseline, and never over data without --force", async () => {
    // The target reads the source's prefix. Until the toolkit reads APP_DB_SOURCE_APP (host-contract.md), this
    // host points APP_NAME at it; the step under test is the load and promote's check of what it loaded.
    const target = await makeHost({ server, s3, recipient: key.recipient, dbName: "shop_prod", appName: "shop-dev", env: { APP_DB_SOURCE: "daily", APP_DB_SOURCE_APP: "shop-dev" } });
    try {
      const identity = readFileSync(key.identityFile, "utf8");
      const first = await remote(target, ["load", backupId], identity);
      expect(first.stderr).toMatch(new RegExp(`daily/${backupId} loaded`));
      expect(first.code).toBe(0);
      expect(remoteValue(first.stdout, "DBTIER_LOADED")).toBe(`daily/${backupId}`);
      expect((await server.rootSql("SELECT name FROM customers ORDER BY id", "shop_prod")).trim().split(/\s+/)).toEqual(["ada", "grace"]);
      const again = await remote(target, ["load", backupId], identity);
      expect(again.code).not.toBe(0);
      expect(again.stderr).toMatch(/is not empty/);
      const forced = await remote(target, ["load", backupId, "--force"], identity);
      expect(forced.code).toBe(0);
      expect(forced.stderr).toMatch(/safety backup safety\/\S+ read back/);
      // The load reads exactly the id promote verified: another id is looked up, not replaced by the newest.
      const wrong = await remote(target, ["load", "20200101T000000Z-000000", "--force"], identity);
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toMatch(/backup 20200101T000000Z-000000 not found/);
    } finally {
      target.remove();
      await server.rootSql("DROP DATABASE IF EXISTS shop_prod");
    }
  });
});
