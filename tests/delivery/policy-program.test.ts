// The policy pack against the program itself: every prod shape (managed, each cloud x engine the config
// allows) and the dev example stack, built under the plan's mocks (scripts/plan/run.ts), pass every rule. A rule that the
// components break is caught here, not at `pulumi preview --policy-pack policy` time.
import { parseConfig } from "../../components/config";
import { ENGINE_VERSIONS } from "../../components/engines";
import { loadStackConfig } from "../../components/stackConfig";
import { buildStack } from "../../components/tier";
import { CLOUDS, Cloud, DbTierConfig, ENGINES, Engine, Mode } from "../../components/types";
import { checkResource } from "../../policy/rules";
import { reveal } from "../../scripts/plan/mocks";
import { PlanRun, runProgram } from "../../scripts/plan/run";
import { ADMIN_KEY, ROOT } from "./promoteFakes";

jest.setTimeout(60_000);

const REGIONS = { digitalocean: "fra1", linode: "eu-central", aws: "eu-central-1" } as const;
const SECRETS = { "dbtier:datastoreAccessKeyId": "AKIA-not-a-real-key", "dbtier:datastoreSecretAccessKey": "not-a-real-secret" };

/** The example stack of that shape (dev: self-managed, prod: managed) with one cloud/engine swapped in. */
function config(stack: string, overrides: Record<string, string>): DbTierConfig {
  const { raw } = loadStackConfig(ROOT, overrides["dbtier:mode"] === "self-managed" ? "dev" : "prod");
  const parsed = parseConfig({ ...raw, "dbtier:adminSshPublicKey": ADMIN_KEY, ...SECRETS, ...overrides }, stack, (key) => key in SECRETS);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return parsed.config;
}

const plan = (c: DbTierConfig): Promise<PlanRun> => runProgram({ stack: c.stack, region: c.region, vpcCidr: c.vpcCidr }, () => ({ ...buildStack(c) }));

function violations(run: PlanRun): string[] {
  return run.resources.flatMap((r) => checkResource({ type: r.type, props: reveal(r.inputs) as Record<string, unknown>, protect: r.protect }).map((v) => `${r.type} ${r.name}: ${v}`));
}

// Every managed shape (the policy is prod's), plus the self-managed dev example.
const MATRIX = [
  ...CLOUDS.flatMap((cloud) =>
    ENGINES.flatMap((engine) => {
      const versions = ENGINE_VERSIONS[cloud].managed[engine] ?? [];
      return versions.length > 0 ? [{ cloud, mode: "managed" as Mode, engine, version: versions[versions.length - 1] }] : [];
    }),
  ),
  { cloud: "digitalocean" as Cloud, mode: "self-managed" as Mode, engine: "mariadb" as Engine, version: "11.4" },
];

it.each(MATRIX)("$cloud $mode $engine $version passes every rule", async ({ cloud, mode, engine, version }) => {
  const run = await plan(config(mode === "managed" ? "prod" : "dev", { "dbtier:cloud": cloud, "dbtier:region": REGIONS[cloud], "dbtier:mode": mode, "dbtier:engine": engine, "dbtier:engineVersion": version }));
  expect(run.resources.length).toBeGreaterThan(5);
  expect(violations(run)).toEqual([]);
});

// Issue 12 item 4: read replicas were created with `{parent}` only, and every prod AWS stack with replicas failed
// managed-database-protected; DigitalOcean replicas are managed databases as much as the primary.
it.each([
  { cloud: "aws" as Cloud, engine: "postgres", version: "16" },
  { cloud: "digitalocean" as Cloud, engine: "mysql", version: "8" },
])("$cloud prod with read replicas passes every rule", async ({ cloud, engine, version }) => {
  const run = await plan(config("prod", { "dbtier:cloud": cloud, "dbtier:region": REGIONS[cloud], "dbtier:mode": "managed", "dbtier:engine": engine, "dbtier:engineVersion": version, "dbtier:readReplicas": "2" }));
  const replicas = run.resources.filter((r) => /replica-\d$/.test(r.name));
  expect(replicas).toHaveLength(2);
  for (const replica of replicas) expect(replica.protect).toBe(true);
  expect(violations(run)).toEqual([]);
});

it("catches a component that breaks a rule (the check is not vacuous)", async () => {
  const run = await plan(config("prod", { "dbtier:cloud": "aws", "dbtier:region": "eu-central-1", "dbtier:mode": "managed", "dbtier:engine": "mysql", "dbtier:engineVersion": "8.4" }));
  const rds = run.resources.find((r) => r.type === "aws:rds/instance:Instance");
  expect(rds).toBeDefined();
  const broken = { ...run, resources: run.resources.map((r) => (r === rds ? { ...r, protect: false, inputs: { ...r.inputs, storageEncrypted: false } } : r)) };
  expect(violations(broken)).toEqual([
    expect.stringMatching(/aws:rds\/instance:Instance .*: managed-database-protected: /),
    expect.stringMatching(/aws:rds\/instance:Instance .*: rds-encrypted-at-rest: storageEncrypted must be true/),
  ]);
});
