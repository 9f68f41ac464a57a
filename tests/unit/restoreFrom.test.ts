// dbtier:restoreFrom (issue 13, managed): the database created from the provider's own point-in-time restore.
// Validation per cloud, the restore inputs on the managed resource under the plan's mocks, the proxy pointed at
// the new database, the restore inputs ignored once the database exists (no replacement when they change), and
// the plan CLI showing them.
import { execFile } from "child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { formatProblems, parseConfig } from "../../components/config";
import { canonicalUtc, parseUtcTime } from "../../components/restoreFrom";
import { buildStack } from "../../components/tier";
import { Cloud, DbTierConfig } from "../../components/types";
import { diffPlans } from "../../scripts/plan/diff";
import { reveal } from "../../scripts/plan/mocks";
import { planRecordOf } from "../../scripts/plan/record";
import { PlanRun, PlannedResource, runProgram } from "../../scripts/plan/run";
import { validRaw } from "./fixtures";

const ROOT = path.resolve(__dirname, "../..");
const TODAY = new Date("2026-12-04T15:00:00Z");
const REGIONS: Record<Cloud, string> = { digitalocean: "fra1", linode: "eu-central", aws: "eu-central-1" };
const MANAGED: Record<Cloud, Record<string, unknown>> = {
  digitalocean: { cloud: "digitalocean", region: "fra1", mode: "managed", engine: "mysql", engineVersion: "8" },
  linode: { cloud: "linode", region: "eu-central", mode: "managed", engine: "postgres", engineVersion: "16" },
  aws: { cloud: "aws", region: "eu-central-1", mode: "managed", engine: "mysql", engineVersion: "8.4" },
};
const SOURCE: Record<Cloud, string> = { digitalocean: "shop-prod-db", linode: "123456", aws: "shop-prod-db-0a1b2c3d" };

const problems = (overrides: Record<string, unknown>, today = TODAY): string[] => {
  const parsed = parseConfig(validRaw(overrides), "drill", { today });
  return parsed.ok ? [] : formatProblems(parsed.problems);
};
const restoreOf = (overrides: Record<string, unknown>): DbTierConfig["restoreFrom"] => {
  const parsed = parseConfig(validRaw(overrides), "drill", { today: TODAY });
  if (!parsed.ok) throw new Error(formatProblems(parsed.problems).join("\n"));
  return parsed.config.restoreFrom;
};

describe("validation", () => {
  it("takes a source and an RFC 3339 UTC time per cloud, latest where the provider has one", () => {
    expect(restoreOf({ ...MANAGED.digitalocean, restoreFrom: { source: "shop-prod-db", time: "2026-12-04T12:00:00Z" } })).toEqual({ source: "shop-prod-db", time: "2026-12-04T12:00:00Z" });
    expect(restoreOf({ ...MANAGED.digitalocean, restoreFrom: { source: "shop-prod-db", time: "latest" } })).toEqual({ source: "shop-prod-db", time: "latest" });
    // A YAML timestamp arrives as ISO text with milliseconds: the zero fraction is dropped.
    expect(restoreOf({ ...MANAGED.linode, restoreFrom: { source: 123456, time: "2026-12-04T12:00:00.000Z" } })).toEqual({ source: "123456", time: "2026-12-04T12:00:00Z" });
    expect(restoreOf({ ...MANAGED.aws, restoreFrom: { source: "db-ABCDEFGHIJKLMNOPQRSTUVWXYZ", time: "2026-11-01T00:00:00.25Z" } })).toEqual({ source: "db-ABCDEFGHIJKLMNOPQRSTUVWXYZ", time: "2026-11-01T00:00:00.250Z" });
    expect(restoreOf({ ...MANAGED.aws })).toBeUndefined();
  });

  it("refuses times that are no RFC 3339 UTC, do not exist, lie in the future or outside the provider's window, naming the key and what is allowed", () => {
    const on = (cloud: Cloud, time: unknown) => problems({ ...MANAGED[cloud], restoreFrom: { source: SOURCE[cloud], time } });
    expect(on("digitalocean", "2026-12-04 12:00:00")).toEqual([expect.stringMatching(/^dbtier:restoreFrom\.time: "2026-12-04 12:00:00" is not allowed; allowed: an RFC 3339 UTC time such as 2026-12-04T12:00:00Z, or latest \(UTC, with the Z\)$/)]);
    expect(on("aws", "2026-12-04T12:00:00+01:00")).toEqual([expect.stringMatching(/^dbtier:restoreFrom\.time: .* is not allowed; allowed: an RFC 3339 UTC time/)]);
    expect(on("aws", "2026-02-30T12:00:00Z")).toEqual([expect.stringMatching(/^dbtier:restoreFrom\.time: "2026-02-30T12:00:00Z" is not allowed/)]);
    expect(on("aws", 1796450999)).toEqual([expect.stringMatching(/^dbtier:restoreFrom\.time: 1796450999 is not allowed/)]);
    expect(on("linode", "2026-12-04T15:00:01Z")).toEqual(["dbtier:restoreFrom.time: \"2026-12-04T15:00:01Z\" is in the future (now is 2026-12-04T15:00:00Z); allowed: a past time"]);
    expect(on("digitalocean", "2026-11-26T12:00:00Z")).toEqual([expect.stringMatching(/^dbtier:restoreFrom\.time: "2026-11-26T12:00:00Z" is more than 7 days ago: DigitalOcean keeps 7 days of backups; allowed: a time within the last 7 days, or latest$/)]);
    expect(on("aws", "2026-10-29T12:00:00Z")).toEqual([expect.stringMatching(/is more than 35 days ago: RDS keeps automated backups for at most 35 days/)]);
    expect(on("aws", "2026-10-31T12:00:00Z")).toEqual([]);
    expect(on("linode", "latest")).toEqual([expect.stringMatching(/^dbtier:restoreFrom\.time: "latest" is not offered by linode: a fork needs the time to restore to; allowed: an RFC 3339 UTC time/)]);
  });

  it("refuses a source the provider could not name, missing or unknown fields, and any self-managed stack", () => {
    const on = (cloud: Cloud, source: unknown) => problems({ ...MANAGED[cloud], restoreFrom: { source, time: "latest" } });
    expect(on("digitalocean", "Shop_Prod")).toEqual([expect.stringMatching(/^dbtier:restoreFrom\.source: "Shop_Prod" is not allowed on digitalocean; allowed: the name of the DigitalOcean database cluster/)]);
    expect(problems({ ...MANAGED.linode, restoreFrom: { source: "shop-prod", time: "2026-12-04T12:00:00Z" } })).toEqual([expect.stringMatching(/^dbtier:restoreFrom\.source: "shop-prod" is not allowed on linode; allowed: the numeric id/)]);
    expect(on("aws", "1shop")).toEqual([expect.stringMatching(/^dbtier:restoreFrom\.source: "1shop" is not allowed on aws/)]);
    expect(on("aws", "shop--prod")).toHaveLength(1);
    expect(on("aws", "shop-prod-")).toHaveLength(1);
    expect(problems({ ...MANAGED.aws, restoreFrom: { when: "latest" } })).toEqual([
      'dbtier:restoreFrom: field "when" is not known (known: source, time)',
      expect.stringMatching(/^dbtier:restoreFrom\.source: is required: the source RDS instance's identifier/),
      expect.stringMatching(/^dbtier:restoreFrom\.time: is required: an RFC 3339 UTC time such as 2026-12-04T12:00:00Z, or latest$/),
    ]);
    expect(problems({ ...MANAGED.aws, restoreFrom: ["shop-prod-db", "latest"] })).toEqual([expect.stringMatching(/^dbtier:restoreFrom: must be an object \{source, time\}/)]);
    expect(problems({ restoreFrom: { source: "shop-prod-db", time: "latest" } })).toEqual([expect.stringMatching(/^dbtier:restoreFrom: applies only to dbtier:mode managed .*dbtier-db restore --to-time/)]);
  });

  it("parses UTC times exactly (leap day, end of day) and prints them back as given", () => {
    expect(canonicalUtc(parseUtcTime("2028-02-29T23:59:59Z")!)).toBe("2028-02-29T23:59:59Z");
    expect(parseUtcTime("2026-02-29T00:00:00Z")).toBeUndefined();
    expect(parseUtcTime("2026-12-04T24:00:00Z")).toBeUndefined();
    expect(parseUtcTime("2026-12-04t12:00:00z")).toBeUndefined();
  });
});

// The adapters under the plan's mocks (times relative to the real clock: parseConfig judges against now).
const hourAgo = canonicalUtc(new Date(Math.floor(Date.now() / 1000) * 1000 - 3600_000));
function configFor(cloud: Cloud, restore?: { source: string; time: string }, extra: Record<string, unknown> = {}): DbTierConfig {
  const parsed = parseConfig(validRaw({ ...MANAGED[cloud], region: REGIONS[cloud], ...(restore ? { restoreFrom: restore } : {}), ...extra }), "drill");
  if (!parsed.ok) throw new Error(formatProblems(parsed.problems).join("\n"));
  return parsed.config;
}
const plan = (config: DbTierConfig): Promise<PlanRun> => runProgram({ stack: config.stack, region: config.region, vpcCidr: config.vpcCidr }, () => ({ ...buildStack(config) }));
const ofType = (run: PlanRun, type: string): PlannedResource[] => run.resources.filter((r) => r.type === type);
const inputs = (r: PlannedResource): Record<string, unknown> => reveal(r.inputs) as Record<string, unknown>;
const MANAGED_TYPE: Record<Cloud, string> = {
  digitalocean: "digitalocean:index/databaseCluster:DatabaseCluster",
  linode: "linode:index/databasePostgresqlV2:DatabasePostgresqlV2",
  aws: "aws:rds/instance:Instance",
};
const managedOf = (run: PlanRun, cloud: Cloud): PlannedResource => {
  const found = ofType(run, MANAGED_TYPE[cloud]).filter((r) => !r.inputs.replicateSourceDb);
  expect(found).toHaveLength(1);
  return found[0];
};

/** The proxy's env file, from its host-files command's stdin (a ustar stream). */
function proxyEnv(run: PlanRun): Record<string, string> {
  const cmd = run.resources.find((r) => r.type === "command:remote:Command" && r.name === "dbtier-proxy-host-files")!;
  const tar = Buffer.from(String(reveal(cmd.inputs.stdin)), "base64");
  for (let offset = 0; offset + 512 <= tar.length;) {
    const name = tar.subarray(offset, offset + 100).toString("latin1").replace(/\0.*$/s, "");
    if (name === "") break;
    const size = parseInt(tar.subarray(offset + 124, offset + 136).toString("latin1").replace(/\0.*$/s, "").trim(), 8);
    if (name === "etc/dbtier/dbtier.env") {
      const text = tar.subarray(offset + 512, offset + 512 + size).toString("utf8");
      return Object.fromEntries(text.split("\n").filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    }
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error("no env file in the proxy's host files");
}

describe("the managed resource restores, protected, and the proxy points at it", () => {
  it("digitalocean: backupRestore on the cluster; the restored cluster's own database and user are not created again", async () => {
    const run = await plan(configFor("digitalocean", { source: "shop-prod-db", time: hourAgo }));
    const cluster = managedOf(run, "digitalocean");
    expect(inputs(cluster).backupRestore).toEqual({ databaseName: "shop-prod-db", backupCreatedAt: hourAgo });
    expect(cluster.protect).toBe(true);
    expect(cluster.options.ignoreChanges).toEqual(["backupRestore"]);
    expect(ofType(run, "digitalocean:index/databaseDb:DatabaseDb")).toEqual([]);
    expect(ofType(run, "digitalocean:index/databaseUser:DatabaseUser")).toEqual([]);
    // The proxy re-points: DB_HOST is the new cluster's private host, not the source's.
    expect(proxyEnv(run).DB_HOST).toBe(cluster.state.privateHost);
    expect(proxyEnv(run).DB_HOST).not.toContain("shop-prod-db");
    const latest = await plan(configFor("digitalocean", { source: "shop-prod-db", time: "latest" }));
    expect(inputs(managedOf(latest, "digitalocean")).backupRestore).toEqual({ databaseName: "shop-prod-db" });
    // Without a restore nothing changes but the options: the database and user exist, kept on delete.
    const plain = await plan(configFor("digitalocean"));
    expect(inputs(managedOf(plain, "digitalocean")).backupRestore).toBeUndefined();
    expect(ofType(plain, "digitalocean:index/databaseDb:DatabaseDb").map((r) => [r.protect, r.options.retainOnDelete])).toEqual([[true, true]]);
    expect(ofType(plain, "digitalocean:index/databaseUser:DatabaseUser").map((r) => [r.protect, r.options.retainOnDelete])).toEqual([[true, true]]);
  });

  it("linode: forkSource and forkRestoreTime on the v2 cluster", async () => {
    const run = await plan(configFor("linode", { source: "123456", time: hourAgo }));
    const cluster = managedOf(run, "linode");
    expect(inputs(cluster)).toMatchObject({ forkSource: 123456, forkRestoreTime: hourAgo });
    expect(cluster.protect).toBe(true);
    expect(cluster.options.ignoreChanges).toEqual(["forkSource", "forkRestoreTime"]);
    expect(proxyEnv(run).DB_HOST).toBe(cluster.state.hostPrimary);
  });

  it("aws: restoreToPointInTime with a full identifier unique per instance; the resource id form and latest", async () => {
    const run = await plan(configFor("aws", { source: "shop-prod-db-0a1b2c3d", time: hourAgo }));
    const instance = managedOf(run, "aws");
    const suffix = run.resources.find((r) => r.name.endsWith("-final-snapshot-suffix"))!.state.hex as string;
    expect(inputs(instance)).toMatchObject({ identifier: `shop-drill-db-${suffix}`, restoreToPointInTime: { sourceDbInstanceIdentifier: "shop-prod-db-0a1b2c3d", restoreTime: hourAgo }, deletionProtection: true });
    expect(inputs(instance).identifierPrefix).toBeUndefined();
    expect(instance.protect).toBe(true);
    expect(instance.options.ignoreChanges).toEqual(["restoreToPointInTime", "identifier", "identifierPrefix", "username", "dbName"]);
    expect(proxyEnv(run).DB_HOST).toBe(instance.state.address);
    expect(proxyEnv(run).DB_TLS_MODE).toBe("verify-full");
    const latest = await plan(configFor("aws", { source: "db-ABCDEFGHIJKLMNOPQRSTUVWXYZ", time: "latest" }));
    expect(inputs(managedOf(latest, "aws")).restoreToPointInTime).toEqual({ sourceDbiResourceId: "db-ABCDEFGHIJKLMNOPQRSTUVWXYZ", useLatestRestorableTime: true });
  });
});

describe("restoreFrom on a running stack replaces nothing stateful", () => {
  it.each(["digitalocean", "linode", "aws"] as Cloud[])("%s: added, changed or removed", async (cloud) => {
    const record = async (restore?: { source: string; time: string }) => planRecordOf(await plan(configFor(cloud, restore)));
    const none = await record();
    const first = await record({ source: SOURCE[cloud], time: hourAgo });
    const other = await record({ source: cloud === "linode" ? "654321" : `${SOURCE[cloud]}x`, time: cloud === "linode" ? canonicalUtc(new Date(Date.parse(hourAgo) - 60_000)) : "latest" });
    for (const [before, after] of [[none, first], [first, other], [first, none]]) {
      const diff = diffPlans(before, after);
      expect(diff.statefulLosses.map((c) => `${c.op} ${c.name}`)).toEqual([]);
      const managed = diff.changes.find((c) => c.type === MANAGED_TYPE[cloud] && !c.name.includes("replica"));
      expect(managed?.op ?? "unchanged").not.toBe("replace");
    }
  }, 30000);
});

describe("npm run plan shows the restore inputs", () => {
  const stack = `unit-restore-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  let tmp: string;
  beforeAll(() => { tmp = mkdtempSync(path.join(tmpdir(), "dbtier-restore-")); });
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
  const prodRestoring = (time: string): string => {
    const file = path.join(tmp, `stack-${Math.random().toString(36).slice(2, 8)}.yaml`);
    writeFileSync(file, readFileSync(path.join(ROOT, "Pulumi.prod.yaml"), "utf8").replace("config:\n", `config:\n  dbtier:restoreFrom:\n    source: shop-prod-db\n    time: ${time}\n`));
    return file;
  };

  it("prints them and writes them into resources.json; a time in the future exits 2 naming the key", async () => {
    const result = await cli(["--config-file", prodRestoring(hourAgo)]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).toContain(`Restores from: shop-prod-db at ${hourAgo} (provider point-in-time restore, at creation only)`);
    const shown = /^ {2}dbtier-managed-cluster: (.*)$/m.exec(result.stdout);
    expect(JSON.parse(shown?.[1] ?? "null")).toEqual({ backupRestore: { databaseName: "shop-prod-db", backupCreatedAt: hourAgo } });
    const resources = JSON.parse(readFileSync(path.join(ROOT, "out", "plan", stack, "resources.json"), "utf8")) as { type: string; inputs: Record<string, unknown>; options: { ignoreChanges: string[] } }[];
    const cluster = resources.find((r) => r.type === MANAGED_TYPE.digitalocean)!;
    expect(cluster.inputs.backupRestore).toEqual({ databaseName: "shop-prod-db", backupCreatedAt: hourAgo });
    expect(cluster.options.ignoreChanges).toEqual(["backupRestore"]);
    const future = await cli(["--config-file", prodRestoring("2099-01-01T00:00:00Z")]);
    expect(future.code).toBe(2);
    expect(future.stderr).toMatch(/^dbtier:restoreFrom\.time: "2099-01-01T00:00:00Z" is in the future/);
  }, 60000);
});
