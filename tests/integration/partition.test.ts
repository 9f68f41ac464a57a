// A network partition between the host and its PostgreSQL server in the middle of a run: every packet to and
// from the server's port is dropped (an nftables table of this test's own, on loopback), so the server stays up,
// nothing answers and no connection is closed, as when a path fails or a failover leaves the old address
// silent. libpq alone would wait on the kernel (~15 minutes for data in flight, hours for a session waiting on a
// result) with the run's lock held; the toolkit's clients take the server for gone after DBTIER_DB_DEAD_AFTER
// seconds (dbtier/db.py PG_SERVICE). Each case: the run ends within a bound, names the stage that failed, and
// leaves the previous backup newest / the live database as it was; once the path is back, the next run works.
import { execFileSync } from "child_process";
import { tableChecksums } from "../support/dataset";
import { RunResult, waitFor } from "../support/proc";
import { findDescendants } from "../support/toolkit";
import { completeIds, expectOk, makeRig, Rig } from "./fixture";

jest.setTimeout(240_000);

const DEAD_AFTER = 5;
// The run must end well before libpq's own waits would (minutes), the clean-up's connection attempts included
// (their connect timeout is 10 s each).
const ENDS_WITHIN_MS = 75_000;
const FAST_DEATH = { DBTIER_DB_DEAD_AFTER: String(DEAD_AFTER) };
// The upload throttled, so the dump is still reading rows from the server when the path fails: the stream's
// buffers (pipes, two 5 MiB parts) hold far less than the 32 MiB random row compresses to.
const SLOW_UPLOAD = { ...FAST_DEATH, DBTIER_S3_BWLIMIT: String(2 << 20) };
// The download throttled less (the restore first takes a safety backup and reads it back): the load is still
// sending rows when the path fails.
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

/** Runs dbtier-db and returns once a process matching `stage` runs under it (the run must not end first). */
async function startUntil(rig: Rig, args: string[], env: Record<string, string>, stage: RegExp): Promise<{ done: Promise<RunResult> }> {
  let resolvePid: (pid: number) => void = () => undefined;
  const pid = new Promise<number>((r) => (resolvePid = r));
  let ended: RunResult | undefined;
  const done = rig.host.run(args, { env, onSpawn: resolvePid, identityFile: rig.key.identityFile });
  void done.then((r) => (ended = r));
  const root = await pid;
  await waitFor(() => {
    if (ended) throw new Error(`dbtier-db ${args.join(" ")} ended (exit ${ended.code}) before ${stage}: ${ended.stderr}`);
    return findDescendants(root, stage).length > 0;
  }, { timeoutMs: 120_000, intervalMs: 20, what: `${stage} to run` });
  return { done }; // wrapped: an async function's returned promise would be awaited with it
}

describe("postgres: a network partition mid-run", () => {
  let rig: Rig;
  let live: Record<string, string>;
  let good = "";

  beforeAll(async () => {
    rig = await makeRig("postgres", { seed: { rows: 300, largeRowBytes: 32 << 20 } });
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
    const { done } = await startUntil(rig, ["backup", "hourly"], SLOW_UPLOAD, /pg_dump .*--section=data/);
    const r = await cutUntilEnded(rig.server.port, done);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/backup hourly\/\S+ failed: dump failed \(exit 1\): fingerprint: .*(timed out|lost|closed)/);
    expect(r.stderr).toMatch(/no manifest written; partial object removed/);
    expect(rig.s3.keys()).toEqual(keys);
    expect(completeIds(rig, "hourly")).toEqual([good]);
    // The path back: the next backup is taken.
    expectOk(await rig.host.run(["backup", "hourly"], { env: FAST_DEATH }));
    expect(completeIds(rig, "hourly")).toHaveLength(2);
  });

  test("during the restore's load into the side database: it fails within the bound, the live database untouched", async () => {
    const { done } = await startUntil(rig, ["restore", good, "--yes", "--unverified"], SLOW_DOWNLOAD, /parallel-load\.py/);
    const r = await cutUntilEnded(rig.server.port, done);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`restore of hourly/${good} FAILED, app untouched: reading hourly/${good}: load failed`));
    expect(r.stderr).not.toMatch(/swap/);
    expect(await tableChecksums(rig.server, "app")).toEqual(live);
    // With the path back, the same restore goes through (the side database left behind is replaced).
    expectOk(await rig.host.run(["restore", good, "--yes", "--unverified"], { identityFile: rig.key.identityFile }));
    expect(await tableChecksums(rig.server, "app")).toEqual(live);
  });
});
