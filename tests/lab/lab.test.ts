// The lab as a test: `npm run lab` (both engine families) must end with `lab: N passed, 0 failed`, run every
// step it announced, and leave nothing behind: no network namespace with its prefix, none of the PIDs it
// started or found in its namespaces, no work dir, no plan output under out/plan/lab-*.
import { spawn } from "child_process";
import { execFileSync } from "child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..", "..");
// Each engine waits out the point-in-time scenario's write phases (about 2.5 min) besides its restores.
const LAB_TIMEOUT_MS = 30 * 60 * 1000;
/** Steps each engine runs at least (infrastructure, dev, prod, promotion, config change, point in time); more if the plan has more commands. */
const MIN_STEPS_PER_ENGINE = 40;

interface LabRun {
  readonly code: number | null;
  readonly output: string;
  readonly pidLog: string;
}

function runLab(args: readonly string[]): Promise<LabRun> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dbtier-lab-test-"));
  const pidLog = path.join(dir, "pids");
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [path.join(ROOT, "scripts/lab/run.sh"), ...args], {
      cwd: ROOT,
      env: { ...process.env, LAB_PID_LOG: pidLog },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const timer = setTimeout(() => child.kill("SIGINT"), LAB_TIMEOUT_MS);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      const pids = existsSync(pidLog) ? readFileSync(pidLog, "utf8") : "";
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, output, pidLog: pids });
    });
  });
}

/** Alive and not a zombie (a reaped-late zombie is no leftover process). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

describe("npm run lab", () => {
  let run: LabRun;

  beforeAll(async () => {
    run = await runLab(["--engine", "all"]);
    process.stdout.write(run.output);
  }, LAB_TIMEOUT_MS + 60_000);

  it("ends with `lab: N passed, 0 failed`, every announced step passing", () => {
    const lines = run.output.trimEnd().split("\n");
    const last = lines[lines.length - 1];
    const match = /^lab: (\d+) passed, (\d+) failed$/.exec(last);
    expect(match).not.toBeNull();
    const [passed, failed] = [Number(match![1]), Number(match![2])];
    const stepLines = lines.filter((l) => /^\[\s*[\d.]+s\] (PASS|FAIL|SKIP) /.test(l));
    const failures = stepLines.filter((l) => !/\] PASS /.test(l));
    expect(failures).toEqual([]);
    expect(failed).toBe(0);
    expect(passed).toBe(stepLines.length);
    expect(passed).toBeGreaterThanOrEqual(2 * MIN_STEPS_PER_ENGINE);
    expect(run.code).toBe(0);
  });

  it("covers both engine families and the checks the issue names", () => {
    for (const engine of ["mariadb", "postgres"]) expect(run.output).toContain(`== ${engine} ==`);
    for (const check of [
      "web1 reads app data from db over TLS",
      "web2 reads app data from managed over TLS",
      "web1 verifies db's certificate (stack CA, name); a wrong CA or a wrong name is refused",
      "outsider gets nothing from db",
      "outsider gets nothing from managed",
      "db: ssh only from admin",
      "proxy: ssh only from admin",
      "db: ssh with a wrong pinned host key is refused",
      "proxy: ssh with a wrong pinned host key is refused",
      "proxy: remote command dbtier-proxy-load-app-db",
      "managed refuses plaintext, superuser actions",
      "db: daily timer's command backs up",
      "db: backup verifies",
      "db: restore latest, data equal",
      "promotion: dev backup loaded into managed via proxy, data equal",
      "re-rendered dev: web3 gets in, web2 is shut out",
    ]) {
      expect(run.output).toMatch(new RegExp(`PASS ${check.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    }
  });

  it("leaves nothing behind: namespaces, processes, work dir, plan output", () => {
    const header = /lab: work dir (\S+), namespaces (\S+)-\*/.exec(run.output);
    expect(header).not.toBeNull();
    const [workDir, prefix] = [header![1], header![2]];
    const namespaces = execFileSync("ip", ["netns", "list"]).toString().split("\n").filter((l) => l.startsWith(prefix));
    expect(namespaces).toEqual([]);
    expect(existsSync(workDir)).toBe(false);
    const pids = [...new Set(run.pidLog.split("\n").filter((l) => /^\d+$/.test(l)).map(Number))];
    expect(pids.length).toBeGreaterThan(20);
    expect(pids.filter(alive)).toEqual([]);
    const planDir = path.join(ROOT, "out", "plan");
    const leftovers = existsSync(planDir) ? readdirSync(planDir).filter((d) => d.startsWith("lab-")) : [];
    expect(leftovers).toEqual([]);
  });
});
