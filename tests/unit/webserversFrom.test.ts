// dbtier:webserversFrom end to end: index.ts reads the other stack's output through a StackReference (answered
// by the plan's mocks from `pulumi stack output --json` text), merges it with dbtier:webservers before any
// firewall is planned, still exports every output by name, and refuses a bad list like dbtier:webservers.
import { execFile } from "child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { parseConfig } from "../../components/config";
import { withReferencedWebservers } from "../../components/webserversFrom";
import { reveal } from "../../scripts/plan/mocks";
import { PlanRun, runProgram } from "../../scripts/plan/run";
import { validRaw } from "./fixtures";

const ROOT = path.resolve(__dirname, "../..");
const FROM = { stack: "acme/web/prod", output: "webservers" };
const PUBLISHED = [{ name: "api1", ip: "203.0.113.20" }];

/** index.ts, the program `pulumi up` runs, under the plan's mocks; `published` is the other stack's outputs. */
async function program(overrides: Record<string, unknown>, published?: Record<string, unknown>): Promise<PlanRun> {
  const raw = validRaw({ webserversFrom: FROM, ...overrides });
  const parsed = parseConfig(raw, "dev");
  if (!parsed.ok) throw new Error(`fixture invalid: ${JSON.stringify(parsed.problems)}`);
  const { region, vpcCidr } = parsed.config;
  return runProgram({ stack: "dev", region, vpcCidr, ...(published ? { stackOutputs: { [FROM.stack]: published } } : {}) }, () => {
    pulumi.runtime.setAllConfig(raw, []);
    let exports: Record<string, unknown> = {};
    jest.isolateModules(() => {
      exports = require("../../index") as Record<string, unknown>;
    });
    return exports;
  });
}

const firewallSources = (run: PlanRun): string[] => {
  const firewall = run.resources.find((r) => r.type === "digitalocean:index/firewall:Firewall")!;
  const rules = (reveal(firewall.inputs) as { inboundRules: { portRange: string; sourceAddresses?: string[] }[] }).inboundRules;
  return rules.filter((r) => r.portRange === "3306").flatMap((r) => r.sourceAddresses ?? []);
};

describe("index.ts with dbtier:webserversFrom", () => {
  let run: PlanRun;
  beforeAll(async () => {
    run = await program({}, { webservers: PUBLISHED, other: "ignored" });
  });

  it("admits the referenced stack's webservers beside the listed ones, in the cloud firewall and the trusted sources", () => {
    expect(firewallSources(run)).toEqual(["203.0.113.10/32", "203.0.113.11/32", "203.0.113.20/32"]);
    const rows = (run.outputs.trustedSources.value as { name: string; source: string; port: number }[]).filter((r) => r.port === 3306);
    expect(rows.map((r) => `${r.name} ${r.source}`)).toEqual(["web1 203.0.113.10/32", "web2 203.0.113.11/32", "api1 203.0.113.20/32"]);
    expect(run.mocks.references).toEqual([FROM.stack]);
    // A read of another stack, not a resource of this one.
    expect(run.resources.some((r) => r.type.includes("StackReference"))).toBe(false);
  });

  it("still exports every output by name, the secret ones secret", () => {
    expect(Object.keys(run.outputs).sort()).toEqual(["backupSigningPublicKey", "caCertificate", "connectionString", "database", "host", "hosts", "password", "port", "readReplicaHosts", "trustedSources", "user"]);
    expect(run.outputs.backupSigningPublicKey.value).toMatch(/^ssh-ed25519 /);
    expect(run.outputs.password.secret).toBe(true);
    expect(run.outputs.connectionString.secret).toBe(true);
    expect(run.outputs.host.secret).toBe(false);
    expect((run.outputs.hosts.value as { commands: string[] }[])[0].commands.length).toBeGreaterThan(0);
  });

  it("takes the list alone when dbtier:webservers is not set", async () => {
    const alone = await program({ webservers: undefined }, { webservers: PUBLISHED });
    expect(firewallSources(alone)).toEqual(["203.0.113.20/32"]);
  });
});

describe("withReferencedWebservers", () => {
  const config = (() => {
    const parsed = parseConfig(validRaw({ webserversFrom: FROM }), "dev");
    if (!parsed.ok) throw new Error("fixture invalid");
    return parsed.config;
  })();

  it("refuses a bad referenced entry naming dbtier:webserversFrom[i], and an unset output, before anything is built", async () => {
    pulumi.runtime.setMocks({
      newResource: (a) => ({ id: a.name, state: { ...a.inputs, outputs: { webservers: [{ name: "api1", ip: "127.0.0.1" }] }, secretOutputNames: [] } }),
      call: (a) => a.inputs,
    }, "dbtier", "dev");
    await expect(withReferencedWebservers(config)).rejects.toThrow(/^invalid dbtier config:\ndbtier:webserversFrom\[0\]\.ip: "127\.0\.0\.1" is a loopback address/);
    pulumi.runtime.setMocks({ newResource: (a) => ({ id: a.name, state: { ...a.inputs, outputs: {}, secretOutputNames: [] } }), call: (a) => a.inputs }, "dbtier", "dev");
    await expect(withReferencedWebservers(config)).rejects.toThrow(/dbtier:webserversFrom: stack output "webservers" of "acme\/web\/prod" is not set/);
  });

  it("reads a secret output like a plain one", async () => {
    pulumi.runtime.setMocks({
      newResource: (a) => ({ id: a.name, state: { ...a.inputs, outputs: { webservers: PUBLISHED }, secretOutputNames: ["webservers"] } }),
      call: (a) => a.inputs,
    }, "dbtier", "dev");
    expect((await withReferencedWebservers(config)).webservers.map((w) => w.name)).toEqual(["web1", "web2", "api1"]);
  });

  it("leaves a config without the key alone (no reference made)", async () => {
    const plain = parseConfig(validRaw(), "dev");
    if (!plain.ok) throw new Error("fixture invalid");
    expect(await withReferencedWebservers(plain.config)).toBe(plain.config);
  });
});

describe("npm run plan with dbtier:webserversFrom", () => {
  const stack = `unit-wsfrom-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  let tmp: string;
  beforeAll(() => { tmp = mkdtempSync(path.join(tmpdir(), "dbtier-wsfrom-")); });
  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(path.join(ROOT, "out", "plan", stack), { recursive: true, force: true });
  });
  const cli = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile("node", ["-r", "ts-node/register/transpile-only", "scripts/plan.ts", stack, ...args], { cwd: ROOT, encoding: "utf8", timeout: 60000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
      });
    });
  const devWithReference = (): string => {
    const file = path.join(tmp, "stack.yaml");
    const text = readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8").replace("config:\n", `config:\n  dbtier:webserversFrom:\n    stack: ${FROM.stack}\n    output: ${FROM.output}\n`);
    writeFileSync(file, text);
    return file;
  };
  const outputsFile = (value: unknown): string => {
    const file = path.join(tmp, `outputs-${Math.random().toString(36).slice(2, 8)}.json`);
    writeFileSync(file, JSON.stringify(value));
    return file;
  };

  it("plans with the other stack's saved outputs: the list merged, every output and command written", async () => {
    const result = await cli(["--config-file", devWithReference(), "--stack-outputs", `${FROM.stack}=${outputsFile({ webservers: PUBLISHED })}`]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).toMatch(/^ {4}3306 {2}203\.0\.113\.20\/32 +api1$/m);
    expect(result.stdout).toContain("Reads: stack acme/web/prod, output webservers (1 webserver(s) beside dbtier:webservers)");
    const outputs = JSON.parse(readFileSync(path.join(ROOT, "out", "plan", stack, "outputs.json"), "utf8")) as Record<string, unknown>;
    expect(outputs.backupSigningPublicKey).toMatch(/^ssh-ed25519 /);
    expect(outputs.password).toBe("[secret]");
    const hosts = JSON.parse(readFileSync(path.join(ROOT, "out", "plan", stack, "hosts.json"), "utf8")) as { commands: unknown[] }[];
    expect(hosts).toHaveLength(1);
    expect(hosts[0].commands.length).toBeGreaterThan(5);
  }, 60000);

  it("exits 2 without the saved outputs, saying how to get them, and on a bad referenced entry", async () => {
    const missing = await cli(["--config-file", devWithReference()]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("pulumi stack output --json --show-secrets --stack acme/web/prod > FILE` and pass --stack-outputs acme/web/prod=FILE");
    const bad = await cli(["--config-file", devWithReference(), "--stack-outputs", `${FROM.stack}=${outputsFile({ webservers: [{ name: "web1", ip: "10.0.0.300" }] })}`]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(/^dbtier:webserversFrom\[0\]\.ip: "10\.0\.0\.300" is not an IPv4\/IPv6 address or CIDR/),
    ]);
    const notJson = await cli(["--config-file", devWithReference(), "--stack-outputs", `${FROM.stack}=${outputsFile([1])}`]);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(/not a JSON object of outputs/);
  }, 60000);
});
