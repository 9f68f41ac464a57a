// Backup -> verify -> restore against real MariaDB 10.11 and PostgreSQL 15 servers and a real S3 server:
// the restored database must be identical table by table (independent SQL checksums), with its views,
// triggers, routines and foreign keys, and no secret may appear in any process's argv or in the logs.
import { readFileSync } from "fs";
import { objectNames, tableChecksums } from "../support/dataset";
import { completeIds, ENGINES, expectOk, makeRig, manifest, Rig, runWatched } from "./fixture";

jest.setTimeout(240_000);

describe.each(ENGINES)("%s: backup, verify and restore round trip", (engine) => {
  let rig: Rig;
  let before: Record<string, string>;
  let objectsBefore: string[];

  beforeAll(async () => {
    rig = await makeRig(engine, { seed: { rows: 1500, largeRowBytes: 2 * 1024 * 1024 } });
    before = await tableChecksums(rig.server, "app");
    objectsBefore = await objectNames(rig.server, "app");
  });
  afterAll(async () => rig?.cleanup());

  let backupId = "";

  test("backup daily streams a checked, encrypted dump and writes the manifest last", async () => {
    const r = await runWatched(rig, ["backup", "daily"]);
    expectOk(r);
    expect(r.samples).toBeGreaterThan(5);
    const ids = completeIds(rig, "daily");
    expect(ids).toHaveLength(1);
    backupId = ids[0];
    const m = manifest(rig, "daily", backupId);
    expect(m).toMatchObject({ format: 3, backupId, period: "daily", engine, database: "app", app: "shop" });
    expect(m.object.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.object.size).toBeGreaterThan(1000);
    expect(m.serverVersion).toMatch(engine === "mariadb" ? /MariaDB/ : /^15\./);
    expect(Object.keys(m.tools).sort()).toEqual(["age", "dbtier", "dump", "python", "zstd"]);
    // Checked after upload without reading the object back: every part's ETag was its MD5 and the size matches.
    expect(m.uploadCheck).toMatchObject({ method: "part-etags" });
    expect(m.compression).toEqual({ codec: "zstd", level: 3, args: "--zstd=wlog=19,mml=6" });
    expect(m.encryption).toEqual({ codec: "age", recipient: rig.key.recipient });
    // The stored object's bytes are those the manifest names, whole and part by part.
    const { createHash } = require("crypto");
    const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
    const stored0: Buffer = require("fs").readFileSync(rig.s3.objectFile(`shop/daily/${backupId}/dump.sql.zst.age`));
    expect({ sha256: sha(stored0), size: stored0.length }).toEqual({ sha256: m.object.sha256, size: m.object.size });
    let offset = 0;
    for (const part of m.object.parts) {
      expect(sha(stored0.subarray(offset, offset + part.size))).toBe(part.sha256);
      offset += part.size;
    }
    expect(offset).toBe(stored0.length);
    // Signed by this stack's key: ssh-keygen accepts the signature for principal "shop".
    const dir = require("fs").mkdtempSync("/tmp/dbtier-sig-");
    try {
      const allowed = `${dir}/allowed`;
      require("fs").writeFileSync(allowed, `shop namespaces="dbtier-backup" ${rig.host.envValues.BACKUP_SIGNING_PUBLIC_KEY}\n`);
      const check = require("child_process").spawnSync("ssh-keygen", ["-Y", "verify", "-f", allowed, "-I", "shop", "-n", "dbtier-backup",
        "-s", rig.s3.objectFile(`shop/daily/${backupId}/manifest.json.sig`)], { input: readFileSync(rig.s3.objectFile(`shop/daily/${backupId}/manifest.json`)) });
      expect(check.status).toBe(0);
    } finally {
      require("fs").rmSync(dir, { recursive: true, force: true });
    }
    // Encrypted at rest: the stored object is an age file, not SQL.
    const stored = require("fs").readFileSync(rig.s3.objectFile(`shop/daily/${backupId}/dump.sql.zst.age`));
    expect(stored.subarray(0, 21).toString()).toBe("age-encryption.org/v1");
    expect(stored.includes(Buffer.from("customer 1 "))).toBe(false);
  });

  test("list shows the backup", async () => {
    const r = await runWatched(rig, ["list"]);
    expectOk(r);
    // Checked: its manifest is signed by this stack and names this backup; no test restore yet.
    expect(r.stdout).toMatch(new RegExp(`^daily\t${backupId}\t\\d+\tcomplete$`, "m"));
  });

  test("verify restores into a scratch database and matches the manifest", async () => {
    const r = await runWatched(rig, ["verify", "daily"], { identityFile: rig.key.identityFile });
    expectOk(r);
    expect(r.stderr).toMatch(/verify daily\/\S+ OK/);
    expect(rig.s3.keys(`shop/daily/${backupId}/`)).toContain(`shop/daily/${backupId}/verification.json`);
    // The test restore records each table's rows and digest.
    const record = manifest(rig, "daily", backupId, "verification.json");
    const tableKey = (t: string) => (engine === "mariadb" ? t : `public.${t}`);
    // Signed by this stack, and naming the manifest it checked by that file's sha256.
    const manifestBytes = readFileSync(rig.s3.objectFile(`shop/daily/${backupId}/manifest.json`));
    const manifestSha = require("crypto").createHash("sha256").update(manifestBytes).digest("hex");
    expect(record).toMatchObject({ result: "ok", backupId, period: "daily", verifiedBy: "shop", manifestSha256: manifestSha });
    expect(record.tables[tableKey("customers")].rows).toBe(1506);
    expect(record.tables[tableKey("orders")].rows).toBe(3000);
    expect(record.tables[tableKey("blobs")].rows).toBe(4);
    // The source's own digest of each table, taken in the dump's snapshot: the sum of its rows' hashes
    // (mod 2^64), computed by the server from exact values.
    expect(record.tables[tableKey("orders")].digest).toMatch(/^[0-9a-f]{16}$/);
    // The scratch database is gone again and the live one untouched.
    expect(await tableChecksums(rig.server, "app")).toEqual(before);
  });

  test("restore replaces changed live data with the backup, after a safety backup", async () => {
    if (engine === "mariadb") {
      await rig.server.rootSql("DELETE FROM app.orders WHERE id % 3 = 0; UPDATE app.customers SET name = 'changed' WHERE id < 50; DROP VIEW app.customer_totals;");
    } else {
      await rig.server.rootSql("DELETE FROM orders WHERE id % 3 = 0; UPDATE customers SET name = 'changed' WHERE id < 50; DROP VIEW customer_totals;", "app");
    }
    expect(await tableChecksums(rig.server, "app")).not.toEqual(before);
    const refused = await runWatched(rig, ["restore", backupId], { identityFile: rig.key.identityFile });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--yes");
    const r = await runWatched(rig, ["restore", backupId, "--yes"], { identityFile: rig.key.identityFile });
    expectOk(r);
    expect(await tableChecksums(rig.server, "app")).toEqual(before);
    expect(await objectNames(rig.server, "app")).toEqual(objectsBefore);
    expect(completeIds(rig, "safety")).toHaveLength(1);
  });

  test("the restored routines and triggers work", async () => {
    if (engine === "mariadb") {
      expect((await rig.server.rootSql("SELECT app.double_it(21);")).trim()).toBe("42");
      await rig.server.rootSql("CALL app.add_order(7, 1.50);");
      expect((await rig.server.rootSql("SELECT COUNT(*) FROM app.audit WHERE msg LIKE 'order %';")).trim()).toBe("1");
    } else {
      expect((await rig.server.rootSql("SELECT double_it(21);", "app")).trim()).toBe("42");
      await rig.server.rootSql("CALL add_order(107, 1.50);", "app");
      expect((await rig.server.rootSql("SELECT count(*) FROM audit WHERE msg LIKE 'order %';", "app")).trim()).toBe("1");
    }
  });

  test("restore latest picks the newest complete backup", async () => {
    const r = await runWatched(rig, ["restore", "latest", "--yes"], { identityFile: rig.key.identityFile });
    expectOk(r);
    expect(r.stderr).toContain(`restore daily/${backupId}`);
    expect(await tableChecksums(rig.server, "app")).toEqual(before);
  });

  test("a backup taken while the application writes is consistent and verifies", async () => {
    let running = true;
    let writes = 0;
    const insert =
      engine === "mariadb"
        ? (n: number) => rig.server.rootSql(`INSERT INTO app.orders (customer_id, total) VALUES (${1 + (n % 100)}, ${n}); UPDATE app.customers SET score = ${n} WHERE id = ${1 + (n % 50)};`)
        : (n: number) => rig.server.rootSql(`INSERT INTO orders (customer_id, total) VALUES (${101 + (n % 100)}, ${n}); UPDATE customers SET score = ${n} WHERE id = ${101 + (n % 50)};`, "app");
    // Bounded writer: at most 2000 statements, stops when the backup ends.
    const writer = (async () => {
      while (running && writes < 2000) await insert(writes++);
    })();
    const r = await rig.host.run(["backup", "weekly"], { env: { DBTIER_S3_BWLIMIT: String(2 << 20), DBTIER_UPLOAD_CHECK: "read-back" } });
    running = false;
    await writer;
    expectOk(r);
    expect(writes).toBeGreaterThan(5);
    // The fallback for stores whose ETags are not MD5s: the stored object read back and hashed.
    const [weekly] = completeIds(rig, "weekly");
    expect(manifest(rig, "weekly", weekly).uploadCheck.method).toBe("read-back");
    expectOk(await runWatched(rig, ["verify", "weekly"], { identityFile: rig.key.identityFile }));
  });
});
