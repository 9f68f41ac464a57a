// The backup and verify pipelines stream: the whole process tree's memory (PSS, so shared library pages
// count once) stays near 100 MB whatever the database size, because nothing buffers more than a chunk.
import { readFileSync } from "fs";
import { findDescendants } from "../support/toolkit";
import { expectOk, makeRig, Rig } from "./fixture";

jest.setTimeout(240_000);

function treePssMb(root: number): number {
  let kb = 0;
  for (const pid of [root, ...findDescendants(root, /./)]) {
    try {
      kb += Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0);
    } catch {
      // exited between listing and reading
    }
  }
  return kb / 1024;
}

async function peakOf(rig: Rig, args: string[]): Promise<number> {
  let pid = 0;
  let peak = 0;
  const timer = setInterval(() => {
    if (pid) peak = Math.max(peak, treePssMb(pid));
  }, 25);
  try {
    expectOk(await rig.host.run(args, { identityFile: rig.key.identityFile, onSpawn: (p) => (pid = p) }));
  } finally {
    clearInterval(timer);
  }
  return peak;
}

describe("postgres: memory of the pipeline", () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await makeRig("postgres", { seed: false });
    await rig.server.rootSql("CREATE DATABASE app;");
    await rig.server.rootSql(
      "CREATE TABLE t (id serial PRIMARY KEY, a text, b text, c float8); INSERT INTO t (a, b, c) SELECT 'name ' || n, repeat(md5(n::text), 4), n / 7.0 FROM generate_series(1, 400000) n;",
      "app",
    );
  });
  afterAll(async () => rig?.cleanup());

  test("backup and verify of a ~75 MB dump stay under 120 MB for the whole process tree", async () => {
    const backup = await peakOf(rig, ["backup", "daily"]);
    const verify = await peakOf(rig, ["verify", "daily"]);
    // eslint-disable-next-line no-console
    console.log(`peak tree PSS: backup ${backup.toFixed(1)} MB, verify ${verify.toFixed(1)} MB`);
    expect(backup).toBeGreaterThan(10); // the sampler saw the pipeline
    expect(backup).toBeLessThan(120);
    expect(verify).toBeLessThan(120);
  });
});
