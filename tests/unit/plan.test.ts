// `npm run plan` as a user runs it: exit codes, the problem lines, and the files the lab consumes.
import { execFile } from "child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "../..");
const suffix = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
let tmp: string;
const stacks: string[] = [];

function plan(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("node", ["-r", "ts-node/register/transpile-only", "scripts/plan.ts", ...args], { cwd: ROOT, encoding: "utf8", timeout: 30000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(() => { tmp = mkdtempSync(path.join(tmpdir(), "dbtier-plan-")); });
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  for (const stack of stacks) rmSync(path.join(ROOT, "out", "plan", stack), { recursive: true, force: true });
});

function stackFile(name: string, edit: (text: string) => string, base = "Pulumi.prod.yaml"): string {
  const file = path.join(tmp, `${name}.yaml`);
  writeFileSync(file, edit(readFileSync(path.join(ROOT, base), "utf8")));
  return file;
}

describe("npm run plan", () => {
  it("must plan the example stacks and an AWS variant, writing every file the lab reads", async () => {
    const dev = `unit-dev-${suffix}`;
    const aws = `unit-aws-${suffix}`;
    stacks.push(dev, aws);
    const awsFile = stackFile("aws", (t) => t.replace("dbtier:cloud: digitalocean", "dbtier:cloud: aws").replace("dbtier:region: fra1", "dbtier:region: eu-central-1").replace('engineVersion: "8"', 'engineVersion: "8.4"'));
    const [devRun, awsRun] = await Promise.all([
      plan([dev, "--config-file", path.join(ROOT, "Pulumi.dev.yaml")]),
      plan([aws, "--config-file", awsFile]),
    ]);
    expect(devRun).toMatchObject({ code: 0, stderr: "" });
    expect(awsRun).toMatchObject({ code: 0, stderr: "" });
    expect(devRun.stdout).toContain("Trusted sources:");
    expect(awsRun.stdout).toMatch(/protected: dbtier-managed-instance \(aws:rds\/instance:Instance\)/);

    for (const stack of [dev, aws]) {
      const out = path.join(ROOT, "out", "plan", stack);
      const resources = JSON.parse(readFileSync(path.join(out, "resources.json"), "utf8")) as { type: string; name: string; inputs: Record<string, unknown> }[];
      expect(resources.length).toBeGreaterThan(10);
      const hosts = JSON.parse(readFileSync(path.join(out, "hosts.json"), "utf8")) as { name: string; hostPublicKey: string; userData: string; commands: { script: string; stdin: string }[] }[];
      expect(hosts).toHaveLength(1);
      const [host] = hosts;
      expect(host.hostPublicKey).toMatch(/^ssh-ed25519 /);
      expect(readFileSync(path.join(out, host.userData), "utf8")).toContain(host.hostPublicKey);
      for (const cmd of host.commands) {
        expect(existsSync(path.join(out, cmd.script))).toBe(true);
        if (cmd.stdin !== "none" && cmd.stdin !== "secret") expect(existsSync(path.join(out, cmd.stdin))).toBe(true);
      }
      expect(host.commands[0].stdin).toBe("secret");
      const text = readFileSync(path.join(out, "resources.json"), "utf8");
      expect(text).not.toMatch(/mock-secret-/);
      const outputs = JSON.parse(readFileSync(path.join(out, "outputs.json"), "utf8")) as Record<string, unknown>;
      expect(outputs.password).toBe("[secret]");
      expect(outputs.connectionString).toBe("[secret]");
      expect(readdirSync(path.join(out, "user-data"))).toEqual([`${host.name}.yaml`]);
    }
  }, 30000);

  it("must exit 2 with one line per problem naming the key, and no stack trace", async () => {
    const bad = stackFile("bad", (t) => t
      .replace("dbtier:engine: mysql", "dbtier:engine: mariadb")
      .replace("    - 198.51.100.0/24", "    - 0.0.0.0/0")
      .replace("dbtier:region: fra1", "dbtier:region: fra1\n  dbtier:regoin: fra1"));
    const result = await plan([`unit-bad-${suffix}`, "--config-file", bad]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    const lines = result.stderr.trim().split("\n");
    for (const line of lines) expect(line).toMatch(/^dbtier:[A-Za-z.[\]0-9]+: /);
    for (const key of ["dbtier:engine:", "dbtier:adminCidrs", "dbtier:regoin"]) expect(result.stderr).toContain(key);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(path.join(ROOT, "out", "plan", `unit-bad-${suffix}`))).toBe(false);
  }, 30000);

  it("must exit 2 on bad arguments", async () => {
    const [none, missing] = await Promise.all([plan([]), plan([`unit-missing-${suffix}`])]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("usage: npm run plan -- <stack>");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the config of stack/);
  }, 30000);
});
