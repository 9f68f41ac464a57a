// A network partition between the host and its database server in the middle of a run: every packet to and
// from the server's port is dropped (an nftables table of this test's own, on loopback), so the server stays up,
// nothing answers and no connection is closed, as when a path fails or a failover leaves the old address
// silent. libpq alone would wait on the kernel (~15 minutes for data in flight, hours for a session waiting on a
// result) with the run's lock held; the toolkit's connections take the server for gone after DBTIER_DB_DEAD_AFTER
// seconds (scripts/host/lib/deadpeer.py: libpq's settings, socket options for MariaDB's). Each case: the run
// ends within a bound, names the stage that failed, and leaves the previous backup newest / the live database as
// it was; once the path is back, the next run works.
import { execFileSync } from "child_process";
import { holdTable } from "../support/connections";
import { tableChecksums } from "../support/dataset";
import { RunResult, waitFor } from "../support/proc";
import { inProgressUploads } from "../support/s3fault";
import { findDescendants } from "../support/toolkit";
import { completeIds, ENGINES, expectOk, makeRig, Rig } from "./fixture";

jest.setTimeout(240_000);

const DEAD_AFTER = 5;
// The run must end well before libpq's own waits would (minutes), the clean-up's connection attempts included
// (their connect timeout is 10 s each).
const ENDS_WITHIN_MS = 75_000;
const FAST_DEATH = { DBTIER_DB_DEAD_AFTER: String(DEAD_AFTER) };
// The upload throttled, so the dump is still reading rows from the server when the path fails: the stream's
// buffers (pipes, two 5 MiB parts) hold far less than the 32 MiB random row compresses to.
const SLOW_UPLOAD = { ...FAST_DEATH, DBTIER_S3_BWLIMIT: String(2 << 20) };
// The download throttled less (a restore's follow-up also takes a safety backup and reads it back before its
// swap): the load is still receiving rows when the path fails.
const SLOW_DOWNLOAD = { ...FAST_DEATH, DBTIER_S3_BWLIMIT: String(8 << 20) };

/** Drops every TCP packet to or from `port` (both directions pass the input hook on loopback) until healed. */
function partition(port: number): { heal: () => void } {
  const table = `dbtier_partition_${port}`;
  const nft = (...args: string[]) => execFileSync("nft", args, { stdio: ["ignore", "ignore", "pipe"] });
  nft("add", "table", "inet", table);
  nft("add", "chain", "inet", table, "input", "{ type filter hook input priority -10 ; }");
  nft("add", "rule", "inet", table, "input", "tcp", "dport", String(port), "drop");
  nft("add", "rule", "inet", table, "input", "tcp", "sport", String(port), "drop");
  let healed = false;
  return {
    heal: () => {
      if (!healed) nft("delete", "table", "inet", table);
      healed = true;
    },
  };
}

/** Partitions the server until the run ends or ENDS_WITHIN_MS pass (then healed, and the run must fail the test:
 * it would have waited on). Returns the run's result. */
async function cutUntilEnded(port: number, done: Promise<RunResult>): Promise<RunResult> {
  const cut = partition(port);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), ENDS_WITHIN_MS)));
  let first: RunResult | "late";
  try {
    first = await Promise.race([done, late]);
  } finally {
    clearTimeout(timer);
    cut.heal();
  }
  const r = await done;
  expect(first).not.toBe("late");
  return r;
}

/** Runs dbtier-db and returns once `reached` holds for its process (the run must not end first). */
async function startUntil(rig: Rig, args: string[], env: Record<string, string>, what: string,
  reached: (root: number) => boolean | Promise<boolean>): Promise<{ done: Promise<RunResult> }> {
  let resolvePid: (pid: number) => void = () => undefined;
  const pid = new Promise<number>((r) => (resolvePid = r));
  let ended: RunResult | undefined;
  const done = rig.host.run(args, { env, onSpawn: resolvePid, identityFile: rig.key.identityFile });
  void done.then((r) => (ended = r));
  const root = await pid;
  await waitFor(async () => {
    if (ended) throw new Error(`dbtier-db ${args.join(" ")} ended (exit ${ended.code}) before ${what}: ${ended.stderr}`);
    return reached(root);
  }, { timeoutMs: 120_000, intervalMs: 20, what });
  return { done }; // wrapped: an async function's returned promise would be awaited with it
}

describe.each(ENGINES)("%s: a network partition mid-run", (engine) => {
  let rig: Rig;
  let live: Record<string, string>;
  let good = "";

  beforeAll(async () => {
    // MariaDB takes the 32 MiB row (a 64 MiB statement when seeded) with a larger packet limit.
    const server = engine === "mariadb" ? { extraSettings: { "max-allowed-packet": "256M" } } : {};
    rig = await makeRig(engine, { server, seed: { rows: 300, largeRowBytes: 32 << 20 } });
    rig.host.writeEnv({ APP_DB_SOURCE: "hourly" });
    expectOk(await rig.host.run(["backup", "hourly"]));
    [good] = completeIds(rig, "hourly");
    live = await tableChecksums(rig.server, "app");
  });
  afterAll(async () => {
    await rig?.cleanup();
  });

  test("during the backup's dump: it fails within the bound naming the dump, no manifest, the previous backup newest", async () => {
    const keys = rig.s3.keys();
    // Its first part in flight: the dump is reading rows (the stream holds far less than they make).
    const { done } = await startUntil(rig, ["backup", "hourly"], SLOW_UPLOAD, "the upload to start",
      () => inProgressUploads(rig.s3).length > 0);
    const r = await cutUntilEnded(rig.server.port, done);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/backup hourly\/\S+ failed: dump failed \(exit 1\): fingerprint: \S+/);
    expect(r.stderr).toMatch(/no manifest written; partial object removed/);
    expect(rig.s3.keys()).toEqual(keys);
    expect(completeIds(rig, "hourly")).toEqual([good]);
    // The path back: the next backup is taken.
    expectOk(await rig.host.run(["backup", "hourly"], { env: FAST_DEATH }));
    expect(completeIds(rig, "hourly")).toHaveLength(2);
  });

  test("during the restore's load into the side database: it fails within the bound, the live database untouched", async () => {
    // The loader connected and loading rows (not connecting: a refused connection is the fault matrix's).
    const loading = engine === "mariadb"
      ? "SELECT COUNT(*) FROM information_schema.processlist WHERE user = 'appuser' AND db = 'app_dbtier_restore'"
      : "SELECT count(*) FROM pg_stat_activity WHERE datname = 'app_dbtier_restore' AND state = 'active' AND query LIKE 'COPY %'";
    const { done } = await startUntil(rig, ["restore", good, "--yes", "--unverified"], SLOW_DOWNLOAD, "the side load's rows",
      async (root) => findDescendants(root, /parallel-load\.py/).length > 0 && Number((await rig.server.rootSql(loading)).trim()) > 0);
    const r = await cutUntilEnded(rig.server.port, done);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`restore of hourly/${good} FAILED, app untouched: reading hourly/${good}: load failed`));
    expect(r.stderr).not.toMatch(/swap/);
    expect(await tableChecksums(rig.server, "app")).toEqual(live);
    // The server ends a dead client's sessions itself (wait_timeout, its own keepalive), hours later by default;
    // here at once. A MariaDB session left inside a transaction holds its tables' metadata locks meanwhile: the
    // next test shows the swap giving up on such a lock.
    if (engine === "mariadb") await endSessionsOf(rig, rig.server.admin.user);
    // With the path back, the same restore goes through (the side database left behind is replaced).
    expectOk(await rig.host.run(["restore", good, "--yes", "--unverified"], { identityFile: rig.key.identityFile }));
    expect(await tableChecksums(rig.server, "app")).toEqual(live);
  });

  test("a session left holding the live tables (a dead client's): the swap ends it (PostgreSQL) or gives up after its lock wait, the app unfenced (MariaDB)", async () => {
    const hold = await holdTable(rig.server, "app", "orders");
    try {
      const started = Date.now();
      const r = await rig.host.run(["restore", good, "--yes", "--unverified"], { identityFile: rig.key.identityFile });
      if (engine === "postgres") {
        // The swap ends every other session on the two databases before it renames them.
        expectOk(r);
        expect(r.stderr).toMatch(/app role fenced: yes, [1-9]\d* session\(s\) ended/);
      } else {
        expect(r.code).toBe(1);
        expect(Date.now() - started).toBeLessThan(ENDS_WITHIN_MS);
        expect(r.stderr).toMatch(new RegExp("swap: the tables could not be locked for the swap: .*Lock wait timeout exceeded.*" +
          `\\(waited 30 s; other sessions: .*id ${hold.session} ${rig.server.admin.user}@`));
        expect(r.stderr).toMatch(/live database app: untouched/);
        // Unfenced: the app's accounts are not left locked.
        expect((await rig.server.rootSql("SELECT COUNT(*) FROM mysql.global_priv WHERE User = 'appuser' " +
          "AND JSON_VALUE(Priv, '$.account_locked') = 'true'")).trim()).toBe("0");
      }
      expect(await tableChecksums(rig.server, "app")).toEqual(live);
    } finally {
      await hold.release();
    }
    expectOk(await rig.host.run(["restore", good, "--yes", "--unverified"], { identityFile: rig.key.identityFile }));
    expect(await tableChecksums(rig.server, "app")).toEqual(live);
  });
});

/** Ends every session of `user` (MariaDB), as the server does with a dead client's once it notices, and waits
 * until they are gone (KILL only marks a session; it ends, and lets go of its locks, on its own thread). */
async function endSessionsOf(rig: Rig, user: string): Promise<void> {
  const sessions = async () =>
    (await rig.server.rootSql(`SELECT id FROM information_schema.processlist WHERE user = '${user}'`)).split("\n").filter(Boolean);
  for (const id of await sessions()) await rig.server.rootSql(`KILL CONNECTION ${Number(id)}`).catch(() => undefined);
  await waitFor(async () => (await sessions()).length === 0, { timeoutMs: 20_000, what: `the sessions of ${user} to end` });
}
