// `npm run plan -- <stack> --against <dir>`: the diff of two plans, from real runs of the program under mocks.
// Everyday changes (webservers, admin ranges and keys, retention, alerts) must replace nothing stateful; an
// engine or region change on prod must show as a replacement of the database, with the provider fact.
import { execFile } from "child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { parseConfig } from "../../components/config";
import { ENGINE_VERSIONS } from "../../components/engines";
import { ed25519KeyPairFromSeed } from "../../components/sshKeys";
import { buildStack } from "../../components/tier";
import { CLOUDS, Cloud, ENGINES, MODES, Mode } from "../../components/types";
import { PlanDiff, ResourceChange, diffPlans, renderDiff } from "../../scripts/plan/diff";
import { pathsOverlap } from "../../scripts/plan/paths";
import { NO_OPTIONS, PlanRecord, ResourceRecord, planRecordOf } from "../../scripts/plan/record";
import { REPLACE_FACTS } from "../../scripts/plan/replaceFacts";
import { runProgram } from "../../scripts/plan/run";
import { validRaw } from "./fixtures";

const ROOT = path.resolve(__dirname, "../..");
const REGIONS: Record<Cloud, { home: string; other: string }> = {
  digitalocean: { home: "fra1", other: "ams3" },
  linode: { home: "eu-central", other: "us-east" },
  aws: { home: "eu-central-1", other: "us-east-1" },
};
const SECRETS = { alertEmail: "ops@example.com", smtpUrl: "smtps://alerts@smtp.example.com:465", smtpPassword: "plan-diff-smtp-password" };
const SECRET_KEYS = Object.keys(SECRETS).map((k) => `dbtier:${k}`);
const KEY_A = ed25519KeyPairFromSeed(Buffer.alloc(32, 7), "admin-a").publicKey;
const KEY_B = ed25519KeyPairFromSeed(Buffer.alloc(32, 8), "admin-b").publicKey;

function shape(cloud: Cloud, mode: Mode): Record<string, unknown> {
  if (mode === "self-managed") return { cloud, region: REGIONS[cloud].home, mode, engine: "mariadb", engineVersion: "11.4" };
  return { cloud, region: REGIONS[cloud].home, mode, engine: "mysql", engineVersion: cloud === "aws" ? "8.4" : "8", readReplicas: cloud === "linode" ? 0 : 1 };
}

// One run per distinct config (runs are deterministic and the suite must stay fast).
const runs = new Map<string, Promise<PlanRecord>>();
function plan(overrides: Record<string, unknown>, stack: string): Promise<PlanRecord> {
  const raw = validRaw({ ...SECRETS, adminSshPublicKey: KEY_A, ...overrides });
  const id = `${stack} ${JSON.stringify(raw)}`;
  let run = runs.get(id);
  if (!run) {
    const parsed = parseConfig(raw, stack, (key) => SECRET_KEYS.includes(key));
    if (!parsed.ok) throw new Error(`fixture invalid: ${JSON.stringify(parsed.problems)}`);
    const config = parsed.config;
    run = runProgram({ stack, region: config.region, vpcCidr: config.vpcCidr }, () => ({ ...buildStack(config) })).then(planRecordOf);
    runs.set(id, run);
  }
  return run;
}

async function diffOf(base: Record<string, unknown>, change: Record<string, unknown>, stack: string): Promise<PlanDiff> {
  return diffPlans(await plan(base, stack), await plan({ ...base, ...change }, stack));
}

const named = (diff: PlanDiff, name: RegExp): ResourceChange[] => diff.changes.filter((c) => name.test(c.name));
const losses = (diff: PlanDiff): string[] => diff.statefulLosses.map((c) => `${c.op} ${c.name}`);

const EVERYDAY: Record<string, Record<string, unknown>> = {
  "a webserver added": { webservers: [{ name: "web1", ip: "203.0.113.10" }, { name: "web2", ip: "203.0.113.11" }, { name: "web3", ip: "203.0.113.12" }] },
  "a webserver removed": { webservers: [{ name: "web1", ip: "203.0.113.10" }] },
  "a webserver's address changed": { webservers: [{ name: "web1", ip: "203.0.113.10" }, { name: "web2", ip: "203.0.113.21" }] },
  "admin ranges changed": { adminCidrs: ["198.51.100.0/25", "192.0.2.0/28"] },
  "backup retention changed": { backups: { datastore: { endpoint: "https://fra1.digitaloceanspaces.com", bucket: "acme-backups", region: "fra1" }, encryptionRecipient: "age197uj3uc67ms8twv7q33934gtwa9l7vgfxk0ech2jjs2txngefppqcrc9st", retention: { hourly: 12, daily: 14, weekly: 8, monthly: 24 } } },
  "alert settings changed": { alertEmail: "oncall@example.com", smtpUrl: "smtps://pager@smtp.example.org:465", smtpPassword: "another-smtp-password" },
  // User-data carries the admin key: the VMs' ignoreChanges keeps a droplet or Linode from being replaced.
  "the admin key changed": { adminSshPublicKey: KEY_B },
};

describe("plan diff: everyday changes replace nothing stateful", () => {
  for (const cloud of CLOUDS) for (const mode of MODES) {
    const stack = mode === "managed" ? "prod" : "dev";
    for (const [what, change] of Object.entries(EVERYDAY)) {
      it(`${cloud} ${mode}: ${what}`, async () => {
        const diff = await diffOf(shape(cloud, mode), change, stack);
        // The change is seen (something is updated), and nothing that holds data is replaced or deleted.
        expect(diff.changes.length).toBeGreaterThan(0);
        expect(losses(diff)).toEqual([]);
        expect(renderDiff(diff, "before").join("\n")).toContain("No stateful resource is replaced or deleted.");
      }, 60000);
    }
  }

  it("the same config planned twice is unchanged", async () => {
    const a = await plan(shape("digitalocean", "self-managed"), "dev");
    const b = await plan({ ...shape("digitalocean", "self-managed"), webservers: [{ name: "web1", ip: "203.0.113.10" }, { name: "web2", ip: "203.0.113.11" }] }, "dev");
    const diff = diffPlans(a, b);
    expect(diff.changes).toEqual([]);
    expect(diff.unchanged).toBe(a.resources.filter((r) => !r.type.startsWith("dbtier:")).length);
  }, 60000);
});

describe("plan diff: engine and region changes on prod replace the database", () => {
  const DATABASE: Record<Cloud, RegExp> = { digitalocean: /^dbtier-managed-cluster$/, linode: /^dbtier-managed-cluster$/, aws: /^dbtier-managed-instance$/ };

  for (const cloud of CLOUDS) {
    it(`${cloud}: dbtier:engine mysql -> postgres loses the database, and says why`, async () => {
      const versions = ENGINE_VERSIONS[cloud].managed.postgres ?? [];
      const diff = await diffOf(shape(cloud, "managed"), { engine: "postgres", engineVersion: versions[versions.length - 1] }, "prod");
      const lost = diff.statefulLosses.filter((c) => /managed/.test(c.name));
      expect(lost.length).toBeGreaterThan(0);
      expect(lost.find((c) => DATABASE[cloud].test(c.name))?.protect).toBe(true);
      if (cloud === "linode") {
        // Another resource type: the MySQL database is deleted and a PostgreSQL one created.
        expect(lost.map((c) => c.op)).toContain("delete");
        expect(lost.find((c) => c.op === "delete")?.type).toBe("linode:index/databaseMysqlV2:DatabaseMysqlV2");
      } else {
        const [db] = named(diff, DATABASE[cloud]);
        expect(db).toMatchObject({ op: "replace", stateful: expect.any(String) });
        expect(db.replaceReasons.join("\n")).toMatch(/^engine: .*forces a new resource when engine changes \[/m);
      }
      const text = renderDiff(diff, "out/plan/prod-before").join("\n");
      expect(text).toMatch(/!! \d+ STATEFUL RESOURCES? REPLACED OR DELETED/);
      expect(text).toContain("safe path");
    }, 60000);

    it(`${cloud}: dbtier:region ${REGIONS[cloud].home} -> ${REGIONS[cloud].other} replaces the database`, async () => {
      const diff = await diffOf(shape(cloud, "managed"), { region: REGIONS[cloud].other }, "prod");
      const replaced = diff.statefulLosses.filter((c) => c.op === "replace" && DATABASE[cloud].test(c.name));
      expect(replaced).toHaveLength(1);
      expect(replaced[0].replaceReasons.join("\n")).toMatch(/forces a new resource when (region|privateNetworkUuid) changes/);
    }, 60000);
  }

  it("a major version upgrades in place where the provider says so, and says what it costs", async () => {
    // The two newest PostgreSQL majors each cloud offers (older ones may be past the providers' support).
    const lastTwo = (cloud: Cloud): [string, string] => {
      const versions = ENGINE_VERSIONS[cloud].managed.postgres ?? [];
      return [versions[versions.length - 2], versions[versions.length - 1]];
    };
    const [awsFrom, awsTo] = lastTwo("aws");
    const aws = await diffOf({ ...shape("aws", "managed"), engine: "postgres", engineVersion: awsFrom }, { engineVersion: awsTo }, "prod");
    expect(losses(aws)).toEqual([]);
    const [instance] = named(aws, /^dbtier-managed-instance$/);
    expect(instance.op).toBe("update");
    expect(instance.notes.join("\n")).toMatch(/engineVersion: .*allowMajorVersionUpgrade/);
    // The parameter group family follows the version: a new group; named by a prefix, so it can exist beside the old.
    const [group] = aws.changes.filter((c) => c.type === "aws:rds/parameterGroup:ParameterGroup");
    expect(group.op).toBe("replace");
    expect(group.replaceReasons.join("\n")).toMatch(/^family: /m);
    expect(group.warnings).toEqual([]);

    const [doFrom, doTo] = lastTwo("digitalocean");
    const digitalocean = await diffOf({ ...shape("digitalocean", "managed"), engine: "postgres", engineVersion: doFrom }, { engineVersion: doTo }, "prod");
    expect(losses(digitalocean)).toEqual([]);
    const [cluster] = named(digitalocean, /^dbtier-managed-cluster$/);
    expect(cluster).toMatchObject({ op: "update" });
    expect(cluster.notes.join("\n")).toMatch(/version: major-version upgrade API, in place/);
  }, 60000);
});

describe("plan diff: the rules, on records made by hand", () => {
  const droplet = (name: string, inputs: Record<string, unknown>, extra: Partial<ResourceRecord> = {}): ResourceRecord => ({
    type: "digitalocean:index/droplet:Droplet", name, protect: false, inputs, options: NO_OPTIONS, inputDependencies: {}, secretDigests: {}, ...extra,
  });
  const record = (resources: ResourceRecord[], roles: Record<string, "database" | "proxy"> = {}, hasSecretDigests = true): PlanRecord => ({ resources, vmRoles: roles, hasSecretDigests });
  const roles = { "db-vm": "database" as const, "proxy-vm": "proxy" as const };

  it("a changed secret is seen by its digest; ignoreChanges keeps it; replaceOnChanges forces a replacement", () => {
    const before = droplet("db-vm", { userData: "[secret]", size: "s-1vcpu-1gb" }, { secretDigests: { userData: "sha256:aaaa" } });
    const after = droplet("db-vm", { userData: "[secret]", size: "s-1vcpu-1gb" }, { secretDigests: { userData: "sha256:bbbb" } });
    const plain = diffPlans(record([before], roles), record([after], roles));
    expect(plain.changes[0]).toMatchObject({ op: "replace", stateful: expect.stringMatching(/database VM/) });
    expect(plain.changes[0].replaceReasons[0]).toMatch(/^userData: DigitalOcean Droplet forces a new resource when userData changes \[do droplet\/resource_droplet\.go/);

    const ignoring = { ...after, options: { ...NO_OPTIONS, ignoreChanges: ["userData"] } };
    const kept = diffPlans(record([before], roles), record([ignoring], roles));
    expect(kept.changes).toEqual([]);
    expect(kept.statefulLosses).toEqual([]);

    const resized = { ...ignoring, inputs: { ...ignoring.inputs, size: "s-2vcpu-4gb" } };
    const update = diffPlans(record([before], roles), record([resized], roles));
    expect(update.changes[0]).toMatchObject({ op: "update", ignored: ["userData"] });
    expect(update.changes[0].notes).toEqual([expect.stringMatching(/^size: resize/)]);

    const forced = { ...resized, options: { ...resized.options, replaceOnChanges: ["size"] } };
    expect(diffPlans(record([before], roles), record([forced], roles)).changes[0].replaceReasons).toEqual(["size: the program's replaceOnChanges option"]);
  });

  it("a replaced dependency makes its dependants' inputs unknown; only the database VM counts as stateful", () => {
    const vpcBefore = { type: "digitalocean:index/vpc:Vpc", name: "vpc", protect: false, inputs: { region: "fra1", ipRange: "10.42.0.0/16", name: "v" }, options: NO_OPTIONS, inputDependencies: {}, secretDigests: {} };
    const vpcAfter = { ...vpcBefore, inputs: { ...vpcBefore.inputs, ipRange: "10.43.0.0/16" } };
    const vm = (name: string): ResourceRecord => droplet(name, { vpcUuid: "vpc-id" }, { inputDependencies: { vpcUuid: ["vpc"] } });
    const diff = diffPlans(record([vpcBefore, vm("db-vm"), vm("proxy-vm")], roles), record([vpcAfter, vm("db-vm"), vm("proxy-vm")], roles));
    expect(diff.changes.map((c) => `${c.op} ${c.name}`)).toEqual(["replace vpc", "replace db-vm", "replace proxy-vm"]);
    expect(diff.changes[1].changes).toEqual([{ path: "vpcUuid", unknownFrom: "vpc" }]);
    expect(diff.changes[0].warnings.join()).toMatch(/create-before-delete keeps name "v"/);
    expect(losses(diff)).toEqual(["replace db-vm"]);
    // deleteBeforeReplace frees the name first: no collision.
    const dbr = { ...vpcAfter, options: { ...NO_OPTIONS, deleteBeforeReplace: true } };
    expect(diffPlans(record([vpcBefore], roles), record([dbr], roles)).changes[0].warnings).toEqual([]);
  });

  it("deletions: a protected one says the engine stops, retainOnDelete keeps the data; unknown types and old plans are flagged", () => {
    const db = { type: "linode:index/databaseMysqlV2:DatabaseMysqlV2", name: "db", protect: true, inputs: { label: "x" }, options: NO_OPTIONS, inputDependencies: {}, secretDigests: {} };
    const gone = diffPlans(record([db]), record([]));
    expect(gone.changes[0]).toMatchObject({ op: "delete", stateful: "the managed database and its data", warnings: [expect.stringMatching(/marked for protection/)] });
    expect(losses(gone)).toEqual(["delete db"]);
    const retained = diffPlans(record([{ ...db, options: { ...NO_OPTIONS, retainOnDelete: true } }]), record([]));
    expect(retained.statefulLosses).toEqual([]);

    const odd = { type: "example:index/thing:Thing", name: "t", protect: false, inputs: { a: 1 }, options: NO_OPTIONS, inputDependencies: {}, secretDigests: {} };
    const unknown = diffPlans(record([odd], {}, false), record([{ ...odd, inputs: { a: 2 } }]));
    expect(unknown.changes[0]).toMatchObject({ op: "update", warnings: [expect.stringMatching(/no provider facts for example:index\/thing:Thing/)] });
    expect(unknown.notes).toEqual([expect.stringMatching(/no secret digests/)]);
  });

  it("matches property paths as Pulumi writes them", () => {
    expect(pathsOverlap("metadatas[*].userData", "metadatas[0].userData")).toBe(true);
    expect(pathsOverlap("metadatas[*].userData", "metadatas")).toBe(true);
    expect(pathsOverlap("rootBlockDevice.encrypted", "rootBlockDevice.volumeSize")).toBe(false);
    expect(pathsOverlap("*", "anything[3].deep")).toBe(true);
    expect(pathsOverlap('tags["a.b"]', 'tags["a.b"]')).toBe(true);
    expect(pathsOverlap('tags["a.b"]', "tags.a")).toBe(false);
  });
});

describe("replace facts", () => {
  it("cover every resource type the program creates on the three clouds, in both modes and every engine", async () => {
    const types = new Set<string>();
    for (const cloud of CLOUDS) for (const mode of MODES) for (const engine of ENGINES) {
      const versions = ENGINE_VERSIONS[cloud][mode][engine];
      if (!versions || versions.length === 0) continue;
      const stack = mode === "managed" ? "prod" : "dev";
      const record = await plan({ ...shape(cloud, mode), engine, engineVersion: versions[versions.length - 1], ...(mode === "managed" && cloud !== "linode" ? { readReplicas: 1 } : {}) }, stack);
      for (const r of record.resources) if (!r.type.startsWith("dbtier:")) types.add(r.type);
    }
    expect([...types].filter((t) => REPLACE_FACTS[t] === undefined)).toEqual([]);
    // Every fact names where it is written down.
    for (const [type, facts] of Object.entries(REPLACE_FACTS)) expect([type, facts.source]).toEqual([type, expect.stringMatching(/^(do|linode|aws|random|tls|d\.ts) \S+/)]);
  }, 120000);
});

describe("npm run plan -- <stack> --against <dir>", () => {
  const suffix = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const stack = `unit-diff-${suffix}`;
  let tmp: string;
  beforeAll(() => { tmp = mkdtempSync(path.join(tmpdir(), "dbtier-plan-diff-")); });
  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(path.join(ROOT, "out", "plan", stack), { recursive: true, force: true });
  });
  const cli = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile("node", ["-r", "ts-node/register/transpile-only", "scripts/plan.ts", ...args], { cwd: ROOT, encoding: "utf8", timeout: 60000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
      });
    });
  const prodWith = (edit: (text: string) => string): string => {
    const file = path.join(tmp, `prod-${Math.random().toString(36).slice(2, 8)}.yaml`);
    writeFileSync(file, edit(readFileSync(path.join(ROOT, "Pulumi.prod.yaml"), "utf8")));
    return file;
  };

  it("shows the engine change as a replacement of prod's cluster and a webserver change as none, and writes diff.json", async () => {
    const first = await cli([stack, "--config-file", path.join(ROOT, "Pulumi.prod.yaml")]);
    expect(first).toMatchObject({ code: 0, stderr: "" });
    const before = path.join(tmp, "before");
    cpSync(path.join(ROOT, "out", "plan", stack), before, { recursive: true });

    const engine = await cli([stack, "--config-file", prodWith((t) => t.replace("dbtier:engine: mysql", "dbtier:engine: postgres").replace('engineVersion: "8"', 'engineVersion: "17"')), "--against", before]);
    expect(engine).toMatchObject({ code: 0, stderr: "" });
    expect(engine.stdout).toMatch(/^ {2}replace dbtier-managed-cluster \(digitalocean:index\/databaseCluster:DatabaseCluster\) {2}STATEFUL {2}protected$/m);
    expect(engine.stdout).toMatch(/why replace: engine: DigitalOcean DatabaseCluster forces a new resource when engine changes \[do database\/resource_database_cluster\.go\]/);
    expect(engine.stdout).toMatch(/^!! \d STATEFUL RESOURCES REPLACED OR DELETED/m);
    const written = JSON.parse(readFileSync(path.join(ROOT, "out", "plan", stack, "diff.json"), "utf8")) as PlanDiff;
    expect(written.statefulLosses.map((c) => c.name)).toContain("dbtier-managed-cluster");

    // The directory diffed against may be the stack's own plan directory: it is read before it is rewritten.
    expect(await cli([stack, "--config-file", path.join(ROOT, "Pulumi.prod.yaml")])).toMatchObject({ code: 0 });
    const web = await cli([stack, "--config-file", prodWith((t) => t.replace("ip: 203.0.113.12", "ip: 203.0.113.42")), "--against", path.join(ROOT, "out", "plan", stack)]);
    expect(web).toMatchObject({ code: 0, stderr: "" });
    expect(web.stdout).toMatch(/^ {2}update {2}dbtier-managed-cluster-firewall .*\n.*rules: /m);
    expect(web.stdout).toContain("No stateful resource is replaced or deleted.");
  }, 120000);

  it("exits 2 when the directory holds no plan", async () => {
    const result = await cli([stack, "--config-file", path.join(ROOT, "Pulumi.prod.yaml"), "--against", tmp]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^plan: --against: .* has no resources\.json/);
    const missing = await cli([stack, "--against"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--against needs a plan directory/);
  }, 60000);
});
