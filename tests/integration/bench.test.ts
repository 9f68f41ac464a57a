// A small run of `npm run bench` (both engines, 2 MiB and 8 MiB, one run) so the benchmark cannot rot:
// real servers, real s3rver, the reference and the real dbtier-db, every restore verified by per-table checksums.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "../..");

describe("npm run bench (small)", () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "dbtier-bench-test-"));
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  test("measures both pipelines on both engines, verifies every restore and writes the reports", () => {
    const env = { ...process.env };
    delete env.AWS_CA_BUNDLE;
    execFileSync("bash", [path.join(ROOT, "scripts/bench/run.sh"), "--size", "8M", "--runs", "1", "--max-quiet-wait", "0", "--out", out], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 170_000,
    });
    const report = JSON.parse(fs.readFileSync(path.join(out, "report.json"), "utf8"));
    expect(Object.keys(report.engines).sort()).toEqual(["mariadb", "postgres"]);
    for (const engine of ["mariadb", "postgres"]) {
      const sizes = report.engines[engine].sizes;
      expect(Object.keys(sizes)).toEqual(["2M", "8M"]);
      for (const label of ["2M", "8M"]) {
        for (const pipeline of ["reference", "dbtier"]) {
          const runs = sizes[label].pipelines[pipeline];
          expect(runs).toHaveLength(1);
          expect(runs[0].error).toBeUndefined();
          expect(runs[0].verified).toBe(true);
          expect(runs[0].stored_bytes).toBeGreaterThan(0);
          expect(runs[0].backup.peak_tree_rss).toBeGreaterThan(1 << 20);
          expect(runs[0].restore.wall_s).toBeGreaterThan(0);
        }
      }
      for (const pipeline of ["dbtier"]) {
        const ratios = report.summary[engine].sizes["8M"].ratios[pipeline];
        expect(ratios.backup_throughput_ratio).toBeGreaterThan(0);
        expect(ratios.stored_ratio).toBeGreaterThan(0);
        expect(report.summary[engine].memory_flatness[pipeline].growth).toBeGreaterThan(0);
      }
    }
    const md = fs.readFileSync(path.join(out, "report.md"), "utf8");
    expect(md).toContain("## Ratios against the reference");
    expect(md).toContain("## What was tried and why the winner won");
  }, 180_000);

  test("the peak counts an address space once: kcmp tells a process's own pages from a forked child's", () => {
    // A vfork()ed child before its exec (how Python's subprocess starts children) reports its parent's whole
    // RSS; the sampler leaves such a child out. kcmp is what tells them apart: the same process compares
    // equal, a fork()ed child (its own copy-on-write address space) does not.
    const script = [
      "import os, sys, time",
      `sys.path.insert(0, ${JSON.stringify(path.join(ROOT, "scripts/bench"))})`,
      "from lib.measure import same_address_space",
      "child = os.fork()",
      "if child == 0:",
      "    time.sleep(2); os._exit(0)",
      "print(same_address_space(os.getpid(), os.getpid()), same_address_space(os.getpid(), child))",
      "os.kill(child, 9); os.waitpid(child, 0)",
    ].join("\n");
    expect(execFileSync("/usr/bin/python3", ["-c", script], { encoding: "utf8" }).trim()).toBe("True False");
  });
});
