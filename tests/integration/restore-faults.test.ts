// The fault matrix of the data path, on both engines: the database refusing connections (down, or every slot
// taken) before anything and during the load into the side/scratch database, the server killed mid-load, a
// disk too small for the copy, S3 answering 5xx/SlowDown or cutting a download off, and SIGTERM mid-upload.
// Each case checks the exit code, that the message names the stage that failed and the state things are in,
// and that the live database's fingerprint (tableChecksums, computed by SQL, not by the toolkit) is
// unchanged. S3 faults come from a proxy in front of s3rver (tests/support/s3fault.ts).
import { createHash } from "crypto";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as path from "path";
import { tableChecksums } from "../support/dataset";
import { fillConnections } from "../support/connections";
import { alive, freePort, removeDir, RunResult, runOk, tempDir, waitFor } from "../support/proc";
import { FaultProxy, inProgressUploads, startFaultProxy } from "../support/s3fault";
import { DbServer, pgString, sqlString, startServer } from "../support/servers";
import { findDescendants, readIfExists } from "../support/toolkit";
import { contentFingerprint } from "../support/fingerprint";
import { completeIds, ENGINES, expectOk, makeRig, manifest, Rig, runWatched } from "./fixture";

jest.setTimeout(120_000);

// Bounded, fast retries: S3_ATTEMPTS tries per request, the delay doubling from 0.1 s.
const ATTEMPTS = 3;
const S3_RETRY = { S3_ATTEMPTS: String(ATTEMPTS), S3_RETRY_DELAY: "0.1" };
// Slow enough that a fault lands while the load is provably running (the download feeds the loader).
const SLOW_DOWNLOAD = { ...S3_RETRY, DBTIER_S3_BWLIMIT: String(2 << 20) };
// A 6 MiB random row makes the stored object two 5 MiB parts (a multipart upload).
const SEED = { rows: 300, largeRowBytes: 6 << 20 };
const OBJECT = "dump.sql.zst.age";

function start(rig: Rig, args: string[], env: Record<string, string>, identity = true): { pid: Promise<number>; done: Promise<RunResult> } {
  let resolvePid: (pid: number) => void = () => undefined;
  const pid = new Promise<number>((r) => (resolvePid = r));
  const done = rig.host.run(args, { env, onSpawn: resolvePid, ...(identity ? { identityFile: rig.key.identityFile } : {}) });
  return { pid, done };
}

/** Waits until the run has a live descendant matching `pattern` (the load: parallel-load.py). */
async function waitForChild(root: number, pattern: RegExp, what: string): Promise<void> {
  await waitFor(() => findDescendants(root, pattern).length > 0, { timeoutMs: 60_000, intervalMs: 20, what });
}

const LOADER = /parallel-load\.py/;
// MariaDB answers 1040 "Too many connections" (before the handshake, which some clients print cut short),
// PostgreSQL "sorry, too many clients already".
const TOO_MANY = /Too many connections|\b1040\b|too many clients/;

/** Keeps the files of a backup's verification record (s3rver's object, metadata and md5) and puts them back:
 * the cases that show a wrongly recorded failure must not take the verified backup away from the next ones. */
function keepRecord(rig: Rig, id: string): () => void {
  const file = rig.s3.objectFile(`shop/hourly/${id}/verification.json`);
  const dir = path.dirname(file);
  const ours = () => readdirSync(dir).filter((f) => f.startsWith("verification.json"));
  const saved = new Map(ours().map((f) => [f, readFileSync(path.join(dir, f))]));
  return () => {
    for (const f of ours()) if (!saved.has(f)) rmSync(path.join(dir, f));
    for (const [f, data] of saved) writeFileSync(path.join(dir, f), data);
  };
}


describe.each(ENGINES)("%s: fault matrix of restore, load-app-db and verify", (engine) => {
  let rig: Rig;
  let proxy: FaultProxy;
  let live: Record<string, string>;
  let good = ""; // the newest verified backup: hourly/<good>
  const identity = () => ({ identityFile: rig.key.identityFile });
  const objectKey = (id: string) => new RegExp(`^shop/hourly/${id}/${OBJECT.replace(/\./g, "\\.")}$`);
  const record = (id: string) => readIfExists(rig.s3.objectFile(`shop/hourly/${id}/verification.json`));
  // A stalled part of this test's backup: proxy.seen also holds the stalls of the tests before it.
  const waitForStall = (seenBefore: number) =>
    waitFor(() => proxy.seen.slice(seenBefore).some((s) => s.fault === "stall"),
      { timeoutMs: 60_000, intervalMs: 20, what: "part 2 to be in flight" });
  // Every host file rewrite keeps the datastore behind the proxy and loads from the hourly backups.
  const env = (overrides: Record<string, string | null> = {}) =>
    rig.host.writeEnv({ DATASTORE_ENDPOINT: proxy.endpoint, APP_DB_SOURCE: "hourly", ...overrides });

  beforeAll(async () => {
    const limit: Record<string, string> = engine === "mariadb" ? { "max-connections": "12" } : { max_connections: "12" };
    rig = await makeRig(engine, { server: { extraSettings: limit }, seed: SEED });
    proxy = await startFaultProxy(rig.s3);
    env();
    live = await tableChecksums(rig.server, "app");
  });
  afterAll(async () => {
    await proxy?.stop();
    await rig?.cleanup();
  });
  afterEach(() => {
    proxy.rules([]);
    env();
  });

  test("S3: one 503 SlowDown on a part upload is retried and the backup completes", async () => {
    proxy.rules([{ method: "PUT", key: /\/dump\.sql\.zst\.age$/, query: { name: "partNumber", value: "2" }, times: 1, fault: "slowdown" }]);
    const r = await rig.host.run(["backup", "hourly"], { env: S3_RETRY });
    expectOk(r);
    const [id] = completeIds(rig, "hourly");
    const part2 = proxy.requests("PUT", objectKey(id), "partNumber", "2");
    expect(part2.map((p) => p.status)).toEqual([503, 200]);
    const m = manifest(rig, "hourly", id);
    expect(m.object.parts.length).toBeGreaterThanOrEqual(2);
    expect(createHash("sha256").update(readFileSync(rig.s3.objectFile(`shop/hourly/${id}/${OBJECT}`))).digest("hex")).toBe(m.object.sha256);
    expect(inProgressUploads(rig.s3)).toEqual([]);
    // The test restore every later case relies on (restore takes the newest verified backup).
    const v = await rig.host.run(["verify", id], identity());
    expectOk(v);
    good = id;
  });

  test(`S3: a part upload failing every time (500) stops after S3_ATTEMPTS=${ATTEMPTS}: no manifest, no object, upload aborted`, async () => {
    const keys = rig.s3.keys();
    proxy.rules([{ method: "PUT", key: /\/dump\.sql\.zst\.age$/, query: { name: "partNumber", value: "2" }, fault: "internal" }]);
    const r = await rig.host.run(["backup", "hourly"], { env: S3_RETRY });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/failed: upload failed \(exit 1\): .*s3stream: upload failed: PUT \S+: HTTP 500 /);
    const m = /backup hourly\/(\S+) failed: upload failed \(exit 1\): .*s3stream: upload failed: PUT \S+: HTTP 500 (.*)$/m.exec(r.stderr);
    expect(m).not.toBeNull();
    const [, id, rest] = m!;
    expect(rest).toContain("InternalError");
    expect(rest).toContain(`(after ${ATTEMPTS} attempts) (multipart upload aborted)`);
    expect(rest).toContain("(no manifest written; partial object removed)");
    expect(proxy.requests("PUT", objectKey(id), "partNumber", "2")).toHaveLength(ATTEMPTS);
    const initiated = proxy.requests("POST", objectKey(id), "uploads");
    expect(initiated).toHaveLength(1);
    expect(proxy.aborted).toHaveLength(1);
    expect(inProgressUploads(rig.s3)).toEqual([]);
    expect(rig.s3.keys()).toEqual(keys);
    expect(completeIds(rig, "hourly")).toEqual([good]);
  });

  test("S3: a plain download (no manifest to check against) cut off mid-object resumes by range at the byte it stopped", async () => {
    const key = `shop/hourly/${good}/${OBJECT}`;
    const want = createHash("sha256").update(readFileSync(rig.s3.objectFile(key))).digest("hex");
    const before = proxy.requests("GET", objectKey(good)).length;
    proxy.rules([{ method: "GET", key: objectKey(good), times: 1, fault: { cutAfter: 3 << 20 } }]);
    const dir = tempDir("dbtier-s3get-");
    try {
      writeFileSync(path.join(dir, "id"), rig.s3.accessKeyId, { mode: 0o600 });
      writeFileSync(path.join(dir, "secret"), rig.s3.secretAccessKey, { mode: 0o600 });
      const s3stream = path.resolve(__dirname, "..", "..", "scripts", "host", "lib", "s3stream.py");
      const r = await runOk("sh", ["-c", 'exec python3 "$0" get "$1" "$2" --report "$3" >/dev/null', s3stream, rig.s3.bucket, key, path.join(dir, "report.json")], {
        env: { PATH: process.env.PATH, S3_ENDPOINT: proxy.endpoint, S3_ACCESS_KEY_FILE: path.join(dir, "id"), S3_SECRET_KEY_FILE: path.join(dir, "secret"), ...S3_RETRY },
      });
      expect(r).toBe("");
      const report = JSON.parse(readFileSync(path.join(dir, "report.json"), "utf8"));
      expect(report.sha256).toBe(want);
      expect(report.size).toBe(readFileSync(rig.s3.objectFile(key)).length);
      // The cut-off GET, then one ranged GET (206) for the rest.
      const gets = proxy.requests("GET", objectKey(good)).slice(before);
      expect(gets.map((g) => g.status)).toEqual([200, 206]);
      expect(gets[0].fault).toEqual({ cutAfter: 3 << 20 });
    } finally {
      removeDir(dir);
    }
  });

  test(`S3: CompleteMultipartUpload failing every time (500): the upload is aborted, no manifest, no object`, async () => {
    const keys = rig.s3.keys();
    const abortedBefore = proxy.aborted.length;
    proxy.rules([{ method: "POST", key: /\/dump\.sql\.zst\.age$/, query: { name: "uploadId" }, fault: "internal" }]);
    const r = await rig.host.run(["backup", "hourly"], { env: S3_RETRY });
    proxy.rules([]);
    expect(r.code).toBe(1);
    const m = /backup hourly\/(\S+) failed: upload failed \(exit 1\): .*s3stream: upload failed: POST \S+: HTTP 500 (.*)$/m.exec(r.stderr);
    expect(m).not.toBeNull();
    const [, id, rest] = m!;
    expect(rest).toContain(`(after ${ATTEMPTS} attempts) (multipart upload aborted)`);
    expect(proxy.requests("POST", objectKey(id), "uploadId")).toHaveLength(ATTEMPTS);
    expect(proxy.aborted).toHaveLength(abortedBefore + 1);
    expect(inProgressUploads(rig.s3)).toEqual([]);
    expect(rig.s3.keys()).toEqual(keys);
    expect(completeIds(rig, "hourly")).toEqual([good]);
  });

  test("SIGTERM to the backup's process group mid-upload: no manifest, no object, the upload aborted, the previous backup still newest", async () => {
    const keys = rig.s3.keys();
    const abortedBefore = proxy.aborted.length;
    // Part 2 is held unanswered at the store: the stop lands while a part is in flight.
    const seenBefore = proxy.seen.length;
    proxy.rules([{ method: "PUT", key: /\/dump\.sql\.zst\.age$/, query: { name: "partNumber", value: "2" }, fault: "stall" }]);
    const run = start(rig, ["backup", "hourly"], S3_RETRY, false);
    const pid = await run.pid;
    await waitForStall(seenBefore);
    // systemd's stop: SIGTERM to the unit's processes (the host runs dbtier-db detached: -pid is its group).
    const stopped = Date.now();
    process.kill(-pid, "SIGTERM");
    const r = await run.done;
    expect(r.code).toBe(143);
    // Stopped promptly (the part in flight is not waited for; systemd sends SIGKILL after TimeoutStopSec).
    expect(Date.now() - stopped).toBeLessThan(20_000);
    expect(proxy.aborted.length).toBe(abortedBefore + 1);
    expect(inProgressUploads(rig.s3)).toEqual([]);
    expect(rig.s3.keys()).toEqual(keys);
    expect(completeIds(rig, "hourly")).toEqual([good]);
    // The outcome names what happened and that nothing was left behind.
    expect(r.stderr).toMatch(/SIGTERM|stopped|terminated/i);
    expect(r.stderr).toMatch(/no manifest written|multipart upload aborted/);
  });

  test("one SIGTERM to the uploader alone, a part in flight and the next queued behind it: it aborts the upload and exits", async () => {
    // systemd signals each process once; the group SIGTERM above also gets a second one from the orchestrator,
    // which can coalesce with the first on a busy machine. One must be enough.
    // ~30 MiB that do not compress: the stream still flows when part 2 stalls, so parts are read and queued
    await rig.server.rootSql(engine === "mariadb"
      ? "CREATE TABLE bulk (id INT PRIMARY KEY, b BLOB) SELECT seq AS id, RANDOM_BYTES(1024) AS b FROM seq_1_to_30000;"
      : "CREATE TABLE bulk AS SELECT g AS id, decode((SELECT string_agg(md5(g::text || ':' || i::text), '') FROM generate_series(1, 1024) i), 'hex') AS b " +
        "FROM generate_series(1, 2000) g;", "app");
    const keys = rig.s3.keys();
    const abortedBefore = proxy.aborted.length;
    const seenBefore = proxy.seen.length;
    proxy.rules([{ method: "PUT", key: /\/dump\.sql\.zst\.age$/, query: { name: "partNumber", value: "2" }, fault: "stall" }]);
    const run = start(rig, ["backup", "hourly"], S3_RETRY, false);
    const root = await run.pid;
    await waitForStall(seenBefore);
    await new Promise((r) => setTimeout(r, 1000)); // the next part is read and queued behind the stalled one
    const [uploader] = findDescendants(root, /s3stream\.py put/);
    process.kill(uploader, "SIGTERM");
    const stopped = Date.now();
    const r = await Promise.race([run.done, new Promise<undefined>((res) => setTimeout(() => res(undefined), 20_000))]);
    if (r === undefined) process.kill(-root, "SIGKILL"); // hung: end it, then fail below
    expect(Date.now() - stopped).toBeLessThan(20_000);
    expect(r?.code).toBe(1);
    expect(r?.stderr).toMatch(/no manifest written/);
    // the stage that failed is the uploader, not the dump that lost its reader (PostgreSQL's pg_dump, killed by
    // SIGPIPE, was named with an empty reason)
    expect(r?.stderr).toMatch(/failed: upload failed \(exit \d+/);
    expect(proxy.aborted.length).toBe(abortedBefore + 1);
    expect(inProgressUploads(rig.s3)).toEqual([]);
    expect(rig.s3.keys()).toEqual(keys);
    expect(completeIds(rig, "hourly")).toEqual([good]);
    await rig.server.rootSql("DROP TABLE bulk;", "app");
  });

  test("S3: a download answered 503 SlowDown, then cut off midway, is resumed: restore latest takes the previous backup and succeeds", async () => {
    proxy.rules([
      { method: "GET", key: objectKey(good), times: 1, fault: "slowdown" },
      { method: "GET", key: objectKey(good), times: 1, fault: { cutAfter: 3 << 20 } },
    ]);
    const mark = proxy.seen.length;
    const r = await rig.host.run(["restore", "latest", "--yes"], { env: S3_RETRY, ...identity() });
    expectOk(r);
    expect(r.stderr).toContain(`restore hourly/${good} OK`);
    const gets = proxy.seen.slice(mark).filter((q) => q.method === "GET" && objectKey(good).test(q.key));
    expect(gets.slice(0, 2).map((g) => g.fault)).toEqual(["slowdown", { cutAfter: 3 << 20 }]);
    expect(gets.length).toBeGreaterThanOrEqual(3);
    expect(await tableChecksums(rig.server, "app")).toEqual(live);
  });

  test(`S3: a download failing every time (500): restore stops after S3_ATTEMPTS=${ATTEMPTS}, app untouched`, async () => {
    proxy.rules([{ method: "GET", key: objectKey(good), fault: "internal" }]);
    const mark = proxy.seen.length;
    const r = await rig.host.run(["restore", good, "--yes"], { env: S3_RETRY, ...identity() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`restore of hourly/${good} FAILED, app untouched: reading hourly/${good}: download failed \\(exit 1\\): .*HTTP 500 .*after ${ATTEMPTS} attempts`));
    expect(proxy.seen.slice(mark).filter((q) => q.method === "GET" && objectKey(good).test(q.key))).toHaveLength(ATTEMPTS);
    expect(await tableChecksums(rig.server, "app")).toEqual(live);
  });

  test("S3: a verify whose datastore fails every download records nothing against the backup", async () => {
    const before = record(good);
    expect(before).toMatch(/"result": ?"ok"/);
    proxy.rules([{ method: "GET", key: objectKey(good), fault: "internal" }]);
    const putBack = keepRecord(rig, good);
    try {
      const r = await rig.host.run(["verify", good], { env: S3_RETRY, ...identity() });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/download failed \(exit 1\): .*HTTP 500/);
      // A datastore outage says nothing about the backup: its passing test restore stays on record.
      expect(r.stderr).not.toContain("FAILED (recorded)");
      expect(record(good)).toBe(before);
    } finally {
      putBack();
    }
  });

  test("connection refused before anything: restore, load-app-db and verify stop naming the server, nothing changed", async () => {
    const before = record(good);
    const keys = rig.s3.keys();
    const port = await freePort();
    env({ DB_PORT: String(port) });
    const refused = new RegExp(`cannot connect to the ${engine} server at 127\\.0\\.0\\.1:${port} as dbtier_admin`);
    for (const args of [["restore", "latest", "--yes"], ["load-app-db", "--force"], ["verify", good]]) {
      const r = await rig.host.run(args, { env: { DBTIER_CONNECT_ATTEMPTS: "2" }, ...identity() });
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      expect(r.stderr).toMatch(refused);
    }
    env();
    expect(record(good)).toBe(before);
    expect(rig.s3.keys()).toEqual(keys);
    expect(await tableChecksums(rig.server, "app")).toEqual(live);
  });

  test("too many connections before anything: restore, load-app-db and verify stop naming the refusal, nothing changed", async () => {
    const before = record(good);
    const keys = rig.s3.keys();
    const hog = await fillConnections(rig.server);
    try {
      expect(hog.refusal).toMatch(TOO_MANY);
      for (const args of [["restore", "latest", "--yes"], ["load-app-db", "--force"], ["verify", good]]) {
        const r = await rig.host.run(args, { env: { DBTIER_CONNECT_ATTEMPTS: "2" }, ...identity() });
        expect({ args, code: r.code }).toEqual({ args, code: 1 });
        expect(r.stderr).toMatch(new RegExp(`cannot connect to the ${engine} server at 127\\.0\\.0\\.1:\\d+ as dbtier_admin: .*(${TOO_MANY.source})`));
      }
    } finally {
      await hog.release();
    }
    expect(record(good)).toBe(before);
    expect(rig.s3.keys()).toEqual(keys);
    expect(await tableChecksums(rig.server, "app")).toEqual(live);
  });

  /** Runs ARGS; once the load is running, takes every connection slot and ends the loader's sessions (it
   * connects as the app user), so it cannot reconnect; returns the outcome. */
  async function filledDuringLoad(args: string[]): Promise<RunResult> {
    const run = start(rig, args, SLOW_DOWNLOAD);
    await waitForChild(await run.pid, LOADER, "the load to start");
    const hog = await fillConnections(rig.server, { endSessionsOf: "appuser" });
    try {
      return await run.done;
    } finally {
      await hog.release();
    }
  }

  test("too many connections during the load into the side database: restore fails, app untouched and says so", async () => {
    const r = await filledDuringLoad(["restore", good, "--yes"]);
    expect(r.stderr).toContain(`loading into side database app_dbtier_restore`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`restore of hourly/${good} FAILED, app untouched: reading hourly/${good}: load failed \\(exit \\d+\\): parallel-load: .+`));
    expect(await tableChecksums(rig.server, "app")).toEqual(live);
  });

  test("too many connections during the load: load-app-db --force fails, app untouched and says so", async () => {
    const r = await filledDuringLoad(["load-app-db", "--force"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`(loading hourly/${good} FAILED, app untouched|loading hourly/${good} failed after \\d attempt\\(s\\)|cannot connect).*(${TOO_MANY.source})`));
    expect(await tableChecksums(rig.server, "app")).toEqual(live);
  });

  test("too many connections during the scratch load: verify fails and records nothing against the backup", async () => {
    const before = record(good);
    const putBack = keepRecord(rig, good);
    try {
      const r = await filledDuringLoad(["verify", good]);
      expect(r.stderr).toContain(`restoring into scratch database app_dbtier_verify`);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(TOO_MANY);
      // Refused connections say nothing about the backup.
      expect(r.stderr).toContain("nothing recorded");
      expect(record(good)).toBe(before);
    } finally {
      putBack();
    }
    expect(await tableChecksums(rig.server, "app")).toEqual(live);
  });

  test("the check's sessions refused after the scratch load (the admin's password changed mid-run): verify records nothing", async () => {
    // The loader connects as the app user; the check of the scratch copy connects as the admin, anew, after
    // the load. A check that could not run says nothing about the backup.
    const { user, password } = rig.server.admin;
    const setPassword = (to: string) => rig.server.rootSql(engine === "mariadb"
      ? ["127.0.0.1", "localhost"].map((h) => `ALTER USER ${sqlString(user)}@'${h}' IDENTIFIED BY ${sqlString(to)};`).join("\n")
      : `ALTER ROLE "${user}" PASSWORD ${pgString(to)};`);
    const before = record(good);
    const putBack = keepRecord(rig, good);
    try {
      const run = start(rig, ["verify", good], SLOW_DOWNLOAD);
      await waitForChild(await run.pid, LOADER, "the scratch load to start");
      await setPassword("changed-mid-run");
      const r = await run.done;
      await setPassword(password);
      expect(r.code).toBe(1);
      // MariaDB: the check is the first admin session after the load; PostgreSQL: the database's own settings
      // (the backup has them) are given to the copy after its load, then it is checked
      const step = engine === "mariadb" ? "taking the digests of app_dbtier_verify failed: fingerprint: MySQLdb \\(check\\): connecting: ERROR 1045: Access denied"
        : "the server stopped answering \\(setting the database's own defaults/settings on app_dbtier_verify failed: .*password authentication failed.*; a new connection: .*password authentication failed";
      expect(r.stderr).toMatch(new RegExp(`verify hourly/${good} could not finish: ${step}.*; nothing recorded`));
      expect(r.stderr).not.toContain("(recorded)");
      expect(record(good)).toBe(before);
    } finally {
      await setPassword(password);
      putBack();
    }
    expect(await tableChecksums(rig.server, "app")).toEqual(live);
  });

  test("disk full: verify and restore refuse with the figures (MiB needed, MiB free) before loading anything", async () => {
    const before = record(good);
    const dir = tempDir("dbtier-tmpfs-");
    await runOk("mount", ["-t", "tmpfs", "-o", "size=2m", "dbtier-test", dir]);
    try {
      env({ DB_ROLE: "database", DB_DATA_DIR: dir });
      const figures = (what: string) =>
        new RegExp(`${what} hourly/${good} refused: a copy of app needs about (\\d+) MiB \\(the source was \\d+ MiB when backed up, plus 20%\\) and \\d+ MiB must stay free on ${dir}, which has (\\d+) MiB free`);
      const v = await rig.host.run(["verify", good], identity());
      expect(v.code).toBe(1);
      const vm = figures("verify").exec(v.stderr);
      expect(vm).not.toBeNull();
      expect(Number(vm![1])).toBeGreaterThan(Number(vm![2]));
      expect(Number(vm![2])).toBeLessThanOrEqual(2);
      const r = await rig.host.run(["restore", good, "--yes"], identity());
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(figures("restore"));
      expect(r.stderr).not.toContain("loading into side database");
    } finally {
      env();
      await runOk("umount", [dir]);
      removeDir(dir);
    }
    expect(record(good)).toBe(before);
    expect(await tableChecksums(rig.server, "app")).toEqual(live);
  });

  test("the server goes away during verify's scratch load: verify says so and records nothing", async () => {
    // A second, empty server: verify loads the backup there, and it is killed mid-load.
    const other: DbServer = await startServer(engine, { admin: rig.server.admin });
    const before = record(good);
    try {
      env({ DB_PORT: String(other.port), DB_CA_FILE: other.tls.caCert });
      const run = start(rig, ["verify", good], SLOW_DOWNLOAD);
      await waitForChild(await run.pid, LOADER, "the scratch load to start");
      const serverPid = other.pid();
      other.kill();
      await waitFor(() => !alive(serverPid), { what: "the server to die" });
      const r = await run.done;
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`verify hourly/${good} could not finish: the server stopped answering during the load \\(reading hourly/${good}: load failed \\(exit \\d+\\): .+\\); nothing recorded`));
      expect(record(good)).toBe(before);
    } finally {
      env();
      await other.stop();
    }
  });

  test("the server killed mid-load (restore): exit 1, the message says the live database was untouched", async () => {
    const run = start(rig, ["restore", good, "--yes"], SLOW_DOWNLOAD);
    await waitForChild(await run.pid, LOADER, "the side load to start");
    const serverPid = rig.server.pid();
    rig.server.kill();
    await waitFor(() => !alive(serverPid), { what: "the server to die" });
    const r = await run.done;
    expect(r.code).toBe(1);
    // The live database was never touched before the swap; the side database could not be dropped.
    expect(r.stderr).toMatch(new RegExp(`restore of hourly/${good} FAILED, app untouched: reading hourly/${good}: load failed \\(exit \\d+\\): .+`));
    expect(r.stderr).not.toMatch(/safety backup|swap/);
  });
});

describe("postgres: the swap and autovacuum", () => {
  let rig: Rig;
  beforeAll(async () => {
    // the admin as on a DBaaS and on dbtier's own VMs (CREATEDB CREATEROLE): not a superuser, so the data is its own
    rig = await makeRig("postgres", { server: { admin: { user: "doadmin", password: "D0admin-s3cret", dbaas: true } }, seed: false });
    await rig.server.rootSql("CREATE DATABASE app OWNER doadmin;");
    await rig.server.rootSql("SET ROLE doadmin; CREATE TABLE kept (id int PRIMARY KEY, v text); " +
      "INSERT INTO kept SELECT g, md5(g::text) FROM generate_series(1, 500) g;", "app");
  });
  afterAll(async () => {
    await rig?.cleanup();
  });

  test("an autovacuum worker on the live database (a superuser process the admin may not end) does not stop the swap", async () => {
    expectOk(await rig.host.run(["backup", "hourly"]));
    const [id] = completeIds(rig, "hourly");
    const before = await tableChecksums(rig.server, "app");
    // Autovacuum visits each database every second and works on av_slow at one cost unit per 100 ms, so a
    // worker stays in app for minutes (after a large load, one sits in the side or the live database alike).
    await rig.server.rootSql("ALTER SYSTEM SET autovacuum_naptime = '1s'; SELECT pg_reload_conf();");
    try {
      await rig.server.rootSql(
        "SET ROLE doadmin; CREATE TABLE av_slow (id int, pad text) WITH (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0, " +
          "autovacuum_analyze_threshold = 0, autovacuum_analyze_scale_factor = 0, autovacuum_vacuum_cost_delay = 100, " +
          "autovacuum_vacuum_cost_limit = 1);" +
          "INSERT INTO av_slow SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g; DELETE FROM av_slow WHERE id % 2 = 0;",
        "app",
      );
      const workers = async () =>
        Number((await rig.server.rootSql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' AND datname = 'app';")).trim());
      await waitFor(async () => (await workers()) > 0, { timeoutMs: 60_000, intervalMs: 200, what: "an autovacuum worker in app" });
      const r = await rig.host.run(["restore", id, "--yes", "--unverified"], { identityFile: rig.key.identityFile });
      expectOk(r);
      expect(r.stderr).toMatch(/swap: app_dbtier_restore renamed to app/);
      expect(await tableChecksums(rig.server, "app")).toEqual(before);
    } finally {
      await rig.server.rootSql("ALTER SYSTEM RESET autovacuum_naptime; SELECT pg_reload_conf();");
    }
  });
});

// A run cut off during the swap (the process killed, the host down) must not leave the app fenced or the live
// database without its tables or objects: the swap keeps a journal, and the next run that touches the database
// rolls it back (MariaDB/MySQL) or finishes it (PostgreSQL) before anything else.
describe.each(ENGINES)("%s: a swap cut off midway", (engine) => {
  let rig: Rig;
  const identity = () => ({ identityFile: rig.key.identityFile });
  const appCanLogIn = async (): Promise<boolean> => engine === "mariadb"
    ? (await rig.server.rootSql("SELECT COUNT(*) FROM mysql.global_priv WHERE User = 'appuser' AND IFNULL(JSON_VALUE(Priv, '$.account_locked'), 0) = 1;")).trim() === "0"
    : (await rig.server.rootSql("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'appuser';")).trim() === "t";

  beforeAll(async () => {
    rig = await makeRig(engine, { seed: { rows: 50, largeRowBytes: 1024 } });
    expectOk(await runWatched(rig, ["backup", "daily"]));
    expectOk(await runWatched(rig, ["verify", "daily"], identity()));
    // the live database moves on after the backup, so a restore would change it
    await rig.server.rootSql("CREATE TABLE after_backup (id INT PRIMARY KEY); INSERT INTO after_backup VALUES (1);", "app");
  });
  afterAll(async () => rig?.cleanup());

  test.each(engine === "mariadb" ? ["fenced", "moved"] : ["fenced"])(
    "killed after the step '%s': the app stays fenced until the next run, which puts the live database back as it was", async (step) => {
      const before = await contentFingerprint(rig.server, "app");
      const r = await rig.host.run(["restore", "latest", "--yes"], { ...identity(), env: { DBTIER_TEST_SWAP_KILL_AT: step } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/FAILED at the swap: swap\.py exit -9/);
      expect(await appCanLogIn()).toBe(false);
      const health = await rig.host.run(["health"]);
      expect(health.stdout).toMatch(/^swap +fail +a swap of app was cut off midway/m);
      // the next run (a backup) recovers first, and then backs up the database as it was
      const b = await runWatched(rig, ["backup", "hourly"]);
      expectOk(b);
      expect(b.stderr).toMatch(engine === "mariadb"
        ? new RegExp(`an interrupted swap of app \\(cut off after: ${step}\\) was rolled back: ${step === "moved" ? "[1-9]\\d*" : "0"} tables moved back`)
        : /an interrupted swap of app was finished: the renames had not happened, app is as it was; the app role can log in again/);
      expect(await appCanLogIn()).toBe(true);
      expect((await rig.host.run(["health"])).stdout).toMatch(/^swap +ok +no swap cut off midway/m);
      expect(await contentFingerprint(rig.server, "app")).toEqual(before);
      // nothing left to recover: a restore now goes through
      const again = await runWatched(rig, ["restore", "latest", "--yes"], identity());
      expectOk(again);
      expect(again.stderr).not.toMatch(/interrupted swap/);
      await rig.server.rootSql("CREATE TABLE after_backup (id INT PRIMARY KEY); INSERT INTO after_backup VALUES (1);", "app");
    });

  if (engine === "mariadb") {
    test("killed once the restored tables and objects were in place: the next run finishes the swap instead of undoing it", async () => {
      const r = await rig.host.run(["restore", "latest", "--yes"], { ...identity(), env: { DBTIER_TEST_SWAP_KILL_AT: "swapped" } });
      expect(r.code).toBe(1);
      const restored = await contentFingerprint(rig.server, "app");
      expect(Object.keys(restored).some((k) => k.startsWith("table:after_backup"))).toBe(false);
      const b = await runWatched(rig, ["backup", "hourly"]);
      expectOk(b);
      expect(b.stderr).toMatch(/an interrupted swap of app was finished .*app_dbtier_previous and app_dbtier_restore dropped/);
      expect(await appCanLogIn()).toBe(true);
      expect(await contentFingerprint(rig.server, "app")).toEqual(restored);
      expect((await rig.server.rootSql("SHOW DATABASES LIKE 'app\\_dbtier\\_%';")).trim()).toBe("");
    });
  }
});
