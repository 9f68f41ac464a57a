// Faults and bad input, on both engines: concurrent backups, retention, an upload killed midway, a flipped
// byte in a stored object, the server dying mid-dump, and wrong configuration. Each must fail loudly with a
// clear message and a non-zero exit, and must never delete a good backup or touch the live database.
// Slow pipelines are made with the uploader's bandwidth limit (DBTIER_S3_BWLIMIT) so faults land
// mid-stream deterministically.
import { spawn } from "child_process";
import { chmodSync, closeSync, openSync, readSync, writeSync } from "fs";
import { tableChecksums } from "../support/dataset";
import { alive, freePort, RunResult, sleep, waitFor } from "../support/proc";
import { findDescendants, makeAgeKey } from "../support/toolkit";
import { completeIds, ENGINES, expectOk, makeRig, Rig, runWatched } from "./fixture";

jest.setTimeout(240_000);

const SLOW = { DBTIER_S3_BWLIMIT: String(1 << 20) };

/** Starts `dbtier-db args` in the background; resolves its pid once spawned. */
function start(rig: Rig, args: string[], env: Record<string, string> = {}): { pid: Promise<number>; done: Promise<RunResult> } {
  let resolvePid: (pid: number) => void = () => undefined;
  const pid = new Promise<number>((r) => (resolvePid = r));
  const done = rig.host.run(args, { env, onSpawn: resolvePid });
  return { pid, done };
}

async function waitForChild(root: number, pattern: RegExp, what: string): Promise<number> {
  let found = -1;
  await waitFor(() => {
    found = findDescendants(root, pattern)[0] ?? -1;
    return found > 0;
  }, { timeoutMs: 60_000, intervalMs: 20, what });
  return found;
}

function flipByte(file: string, offset: number): void {
  const fd = openSync(file, "r+");
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, offset);
    b[0] ^= 0x01;
    writeSync(fd, b, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

describe.each(ENGINES)("%s: faults and bad input", (engine) => {
  let rig: Rig;
  let live: Record<string, string>;

  beforeAll(async () => {
    rig = await makeRig(engine, { seed: { rows: 2000, largeRowBytes: 4 * 1024 * 1024 } });
    live = await tableChecksums(rig.server, "app");
  });
  afterAll(async () => rig?.cleanup());

  const snapshot = () => rig.s3.keys();

  test("two backups at once: one refuses when it may not wait, another waits its turn", async () => {
    const a = start(rig, ["backup", "hourly"], SLOW);
    await waitForChild(await a.pid, /s3stream\.py put/, "the first backup to upload");
    const refused = await rig.host.run(["backup", "hourly"], { env: { DBTIER_LOCK_WAIT: "0" } });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/backup hourly refused: another dbtier-db run still holds .*dbtier\.lock/);
    const waiting = rig.host.run(["backup", "daily"], { env: { DBTIER_LOCK_WAIT: "120" } });
    const [first, second] = await Promise.all([a.done, waiting]);
    expectOk(first);
    expectOk(second);
    expect(second.stderr).toContain("waiting up to 120s");
    expect(completeIds(rig, "hourly")).toHaveLength(1);
    expect(completeIds(rig, "daily")).toHaveLength(1);
  });

  test("retention keeps BACKUP_RETAIN_HOURLY=2 generations, dropping the oldest", async () => {
    const [oldest] = completeIds(rig, "hourly");
    expectOk(await rig.host.run(["backup", "hourly"]));
    expect(completeIds(rig, "hourly")).toHaveLength(2);
    expectOk(await rig.host.run(["backup", "hourly"]));
    const ids = completeIds(rig, "hourly");
    expect(ids).toHaveLength(2);
    expect(ids).not.toContain(oldest);
    expect(rig.s3.keys(`shop/hourly/${oldest}/`)).toEqual([]);
  });

  test("an upload killed midway fails the backup; the previous backup stays newest and restorable", async () => {
    const before = completeIds(rig, "hourly");
    const keysBefore = snapshot();
    const run = start(rig, ["backup", "hourly"], SLOW);
    const uploader = await waitForChild(await run.pid, /s3stream\.py put/, "the upload to start");
    await sleep(700);
    process.kill(uploader, "SIGKILL");
    const r = await run.done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/failed: upload failed \(exit 137, killed by signal 9\)/);
    expect(r.stderr).toContain("no manifest written");
    expect(completeIds(rig, "hourly")).toEqual(before); // nothing pruned, nothing new
    expect(snapshot()).toEqual(keysBefore);
    const v = await runWatched(rig, ["verify", "hourly"], { identityFile: rig.key.identityFile });
    expectOk(v);
    expect(v.stderr).toContain(`verify hourly/${before[before.length - 1]} OK`);
  });

  test("one flipped byte in a stored object: verify fails, restore refuses, live data untouched", async () => {
    const id = completeIds(rig, "hourly").slice(-1)[0];
    const file = rig.s3.objectFile(`shop/hourly/${id}/dump.sql.zst.age`);
    const size = require("fs").statSync(file).size;
    flipByte(file, Math.floor(size / 2));
    try {
      const v = await runWatched(rig, ["verify", id], { identityFile: rig.key.identityFile });
      expect(v.code).toBe(1);
      // The downloader checks each part against the signed manifest before passing it on.
      expect(v.stderr).toMatch(/verify hourly\/\S+ FAILED \(recorded\): reading hourly\/\S+: download failed \(exit 1\): .*part \d+ .* refused before it was passed on/);
      // The failed test restore is on record: restore refuses that backup ...
      const r = await runWatched(rig, ["restore", id, "--yes"], { identityFile: rig.key.identityFile });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/has no passing test restore on record \(failed: reading hourly/);
      // ... and with --unverified the damaged part is still refused before it reaches age.
      const u = await runWatched(rig, ["restore", id, "--yes", "--unverified"], { identityFile: rig.key.identityFile });
      expect(u.code).toBe(1);
      expect(u.stderr).toMatch(/restore of hourly\/\S+ FAILED, app untouched: reading hourly\/\S+: download failed .*refused before it was passed on/);
      expect(await tableChecksums(rig.server, "app")).toEqual(live);
    } finally {
      flipByte(file, Math.floor(size / 2));
    }
  });

  test("bad input: unknown period or command, usage errors", async () => {
    const keys = snapshot();
    const p = await rig.host.run(["backup", "yearly"]);
    expect(p.code).toBe(2);
    expect(p.stderr).toContain("unknown period 'yearly': allowed hourly daily weekly monthly");
    const c = await rig.host.run(["backupp"]);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain("unknown command 'backupp'");
    const t = await rig.host.run(["verify", "not-an-id"], { identityFile: rig.key.identityFile });
    expect(t.code).toBe(2);
    expect(t.stderr).toContain("neither a period");
    expect(snapshot()).toEqual(keys);
  });

  test("bad input: missing env key, missing env file, bad values, open secret file", async () => {
    const keys = snapshot();
    rig.host.writeEnv({ BACKUP_RECIPIENT: null, DB_NAME: null });
    try {
      const r = await rig.host.run(["backup", "daily"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/missing required key\(s\) in \S+: DB_NAME BACKUP_RECIPIENT/);
    } finally {
      rig.host.writeEnv({});
    }
    const noFile = await rig.host.run(["backup", "daily"], { env: { DBTIER_ENV: "/nonexistent/dbtier.env" } });
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain("env file /nonexistent/dbtier.env is missing");
    rig.host.writeEnv({ DB_TLS_MODE: "prefer" });
    try {
      const r = await rig.host.run(["backup", "daily"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("DB_TLS_MODE='prefer': allowed require, verify-ca");
    } finally {
      rig.host.writeEnv({});
    }
    const secret = `${rig.host.secretsDir}/db-admin-password`;
    chmodSync(secret, 0o644);
    try {
      const r = await rig.host.run(["backup", "daily"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/db-admin-password has mode 644; it must be 0600/);
    } finally {
      chmodSync(secret, 0o600);
    }
    expect(snapshot()).toEqual(keys);
    expect(await tableChecksums(rig.server, "app")).toEqual(live);
  });

  test("bad input: a wrong key file fails verify and restore without touching anything", async () => {
    const keys = snapshot();
    const other = await makeAgeKey(rig.keyDir);
    const v = await rig.host.run(["verify", "daily"], { identityFile: other.identityFile });
    expect(v.code).toBe(1);
    // The stage that failed is named with its own message; a key that does not open an authentic backup
    // is not held against the backup.
    expect(v.stderr).toMatch(/FAILED \(not recorded: .*\): reading daily\/\S+: decrypt failed \(exit 1\): age: .*no identity matched any of the recipients.*\(is this the identity for age1\w+\?\)/);
    const r = await rig.host.run(["restore", "latest", "--yes", "--unverified"], { identityFile: other.identityFile });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/restore of \S+ FAILED, app untouched: reading \S+: decrypt failed/);
    const notAKey = await rig.host.run(["verify", "daily"], { identityFile: rig.host.envFile });
    expect(notAKey.code).toBe(2);
    expect(notAKey.stderr).toContain("holds no AGE-SECRET-KEY line");
    const none = await rig.host.run(["verify", "daily"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("no age identity");
    expect(snapshot()).toEqual(keys);
    expect(await tableChecksums(rig.server, "app")).toEqual(live);
  });

  test("bad input: an unreachable datastore fails clearly and deletes nothing", async () => {
    const keys = snapshot();
    rig.host.writeEnv({ DATASTORE_ENDPOINT: `http://127.0.0.1:${await freePort()}` });
    try {
      const r = await rig.host.run(["backup", "hourly"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/datastore http:\/\/127\.0\.0\.1:\d+ bucket dbtier-test is unreachable/);
    } finally {
      rig.host.writeEnv({});
    }
    expect(snapshot()).toEqual(keys);
    expect(await tableChecksums(rig.server, "app")).toEqual(live);
  });

  test("bad input: an unreachable database is retried with backoff, then fails naming it", async () => {
    const keys = snapshot();
    const port = await freePort();
    rig.host.writeEnv({ DB_PORT: String(port) });
    try {
      const r = await rig.host.run(["backup", "daily"], { env: { DBTIER_CONNECT_ATTEMPTS: "3", DBTIER_CONNECT_DELAY: "1" } });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("attempt 1/3 of db_ping failed; retrying in 1s");
      expect(r.stderr).toContain("attempt 2/3 of db_ping failed; retrying in 2s");
      expect(r.stderr).toContain(`cannot connect to the ${engine} server at 127.0.0.1:${port} as dbtier_admin`);
    } finally {
      rig.host.writeEnv({});
    }
    expect(snapshot()).toEqual(keys);
  });

  test("the server dying mid-dump fails the backup and leaves no manifest and no object", async () => {
    const keys = snapshot();
    // Another session holds a lock on `orders`, so the dump is provably in flight (blocked on that table,
    // customers already dumped) when the server dies.
    const locker =
      engine === "mariadb"
        ? spawn("mariadb", ["--no-defaults", `--socket=${rig.server.socket}`, "-uroot"], { stdio: ["pipe", "ignore", "ignore"] })
        : spawn("runuser", ["-u", "postgres", "--", "psql", "-X", "-h", rig.server.socket, "-p", String(rig.server.port), "-d", "app"], {
            stdio: ["pipe", "ignore", "ignore"],
          });
    locker.stdin?.write(
      engine === "mariadb"
        ? "LOCK TABLES app.orders WRITE;\nSELECT SLEEP(300);\n"
        : "BEGIN;\nLOCK TABLE orders IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(300);\n",
    );
    try {
      const run = start(rig, ["backup", "daily"]);
      // the dump's own clients (the dump runs inside the toolkit's process)
      await waitForChild(await run.pid, engine === "mariadb" ? /(^|\/)mariadb(-dump)? / : /(^|\/)pg_dump /, "the dump to start");
      await waitFor(
        async () =>
          engine === "mariadb"
            ? (await rig.server.rootSql("SELECT COUNT(*) FROM information_schema.processlist WHERE state LIKE 'Waiting for table metadata lock%';")).trim() !== "0"
            : (await rig.server.rootSql("SELECT count(*) FROM pg_locks WHERE NOT granted;")).trim() !== "0",
        { what: "the dump to wait on the locked table" },
      );
      const serverPid = rig.server.pid();
      rig.server.kill();
      await waitFor(() => !alive(serverPid), { what: "the server to die" });
      const r = await run.done;
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/failed: dump failed \(exit \d+\): .*(TLS\/SSL error|SSL connection has been closed)/);
      expect(r.stderr).toContain("no manifest written; partial object removed");
      expect(snapshot()).toEqual(keys);
    } finally {
      locker.kill("SIGKILL");
    }
  });
});

describe("datastore over HTTPS with a private CA", () => {
  test("DATASTORE_CA_FILE trusts it; without it the datastore is refused as unreachable", async () => {
    const { makeTls } = await import("../support/tls");
    const { startS3 } = await import("../support/s3");
    const { tempDir, removeDir } = await import("../support/proc");
    const dir = tempDir("dbtier-s3tls-");
    const tls = await makeTls(dir);
    const s3 = await startS3({ tls: { certFile: tls.serverCert, keyFile: tls.serverKey } });
    const rig = await makeRig("postgres", { seed: { rows: 20, largeRowBytes: 1024 } });
    try {
      rig.host.writeEnv({ DATASTORE_ENDPOINT: s3.endpoint, DATASTORE_BUCKET: s3.bucket });
      const refused = await rig.host.run(["backup", "daily"]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/is unreachable: .*(certificate|x509)/);
      rig.host.writeEnv({ DATASTORE_ENDPOINT: s3.endpoint, DATASTORE_BUCKET: s3.bucket, DATASTORE_CA_FILE: tls.caCert });
      expectOk(await rig.host.run(["backup", "daily"]));
      expect(s3.keys("shop/daily/").filter((k) => k.endsWith("manifest.json"))).toHaveLength(1);
    } finally {
      await rig.cleanup();
      await s3.stop();
      removeDir(dir);
    }
  });
});
