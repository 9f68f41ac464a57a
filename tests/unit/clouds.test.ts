// What the real clouds would refuse or do differently (issue 12), one case each, under the plan's mocks:
// user-data changes that replaced VMs, labels and names that blocked create-before-delete, the public address
// that moved, the firewall that came after SSH, the dial budget, the silent cloud-init wait, read replicas
// outside the protection, the reused final snapshot name, the unhardened proxy, the VPC range.
// Resource options (ignoreChanges, deleteBeforeReplace, dependsOn) are read off the mock monitor's requests.
import { spawnSync } from "child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "fs";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import { tmpdir } from "os";
import * as path from "path";
import { DELIVERED_KEYS_DIR } from "../../components/cloudInit";
import { LINODE_IMAGE } from "../../components/clouds/linode";
import { parseConfig } from "../../components/config";
import { WAIT_FOR_BOOT, shellQuote } from "../../components/hostDelivery";
import { DIAL_ERROR_LIMIT, PER_DIAL_TIMEOUT_SECONDS, dialBudgetSeconds } from "../../components/hostVm";
import { nameProblems, resourceName } from "../../components/names";
import { buildStack } from "../../components/tier";
import { rdsCaBundle } from "../../components/tls";
import { Cloud, DbTierConfig } from "../../components/types";
import { reveal } from "../../scripts/plan/mocks";
import { PlanRun, PlannedResource, runProgram, userDataOf } from "../../scripts/plan/run";
import { validRaw } from "./fixtures";

interface Options {
  readonly ignoreChanges: string[];
  readonly deleteBeforeReplace: boolean;
  readonly retainOnDelete: boolean;
  /** Names of the resources this one waits for (dependsOn, explicit). */
  readonly dependsOn: string[];
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getIgnorechangesList(): string[];
  getDeletebeforereplace(): boolean;
  getRetainondelete(): boolean | undefined;
  getDependenciesList(): string[];
}

// Every registration's options, by `type::name` (the mocks API hands the mocks inputs only).
const options = new Map<string, Options>();
const original = MockMonitor.prototype.registerResource;
beforeAll(() => {
  jest.spyOn(MockMonitor.prototype, "registerResource").mockImplementation(function (this: MockMonitor, req: RegisterRequest, callback: unknown) {
    options.set(`${req.getType()}::${req.getName()}`, {
      ignoreChanges: req.getIgnorechangesList(),
      deleteBeforeReplace: req.getDeletebeforereplace(),
      retainOnDelete: req.getRetainondelete() ?? false,
      dependsOn: req.getDependenciesList().map((urn) => urn.slice(urn.lastIndexOf("::") + 2)),
    });
    return (original as (this: MockMonitor, r: unknown, c: unknown) => Promise<void>).call(this, req, callback);
  } as never);
});
afterAll(() => jest.restoreAllMocks());

const optionsOf = (r: PlannedResource): Options => {
  const found = options.get(`${r.type}::${r.name}`);
  if (!found) throw new Error(`no registration recorded for ${r.type} ${r.name}`);
  return found;
};

const REGIONS: Record<Cloud, string> = { digitalocean: "fra1", linode: "eu-central", aws: "eu-central-1" };
const ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs admin@example";

function configFor(overrides: Record<string, unknown>, stack = "test"): DbTierConfig {
  const cloud = (overrides.cloud ?? "digitalocean") as Cloud;
  const parsed = parseConfig(validRaw({ region: REGIONS[cloud], ...overrides }), stack);
  if (!parsed.ok) throw new Error(`fixture invalid: ${JSON.stringify(parsed.problems)}`);
  return parsed.config;
}

const plan = (config: DbTierConfig): Promise<PlanRun> =>
  runProgram({ stack: config.stack, region: config.region, vpcCidr: config.vpcCidr }, () => ({ ...buildStack(config) }));

const ofType = (run: PlanRun, type: string): PlannedResource[] => run.resources.filter((r) => r.type === type);
const one = (run: PlanRun, type: string): PlannedResource => {
  const found = ofType(run, type);
  expect(found).toHaveLength(1);
  return found[0];
};
const inputs = (r: PlannedResource): Record<string, unknown> => reveal(r.inputs) as Record<string, unknown>;
const commands = (run: PlanRun): PlannedResource[] => ofType(run, "command:remote:Command");

const VM: Record<Cloud, { type: string; ignored: string[] }> = {
  digitalocean: { type: "digitalocean:index/droplet:Droplet", ignored: ["userData"] },
  linode: { type: "linode:index/instance:Instance", ignored: ["metadatas"] },
  aws: { type: "aws:ec2/instance:Instance", ignored: ["ami", "userData"] },
};

/** The files of a host-files command's stdin tar: name -> content. */
function hostFiles(run: PlanRun, host: string): Map<string, string> {
  const cmd = commands(run).find((c) => c.name === `${host}-host-files`)!;
  const tar = Buffer.from(String(reveal(cmd.inputs.stdin)), "base64");
  const files = new Map<string, string>();
  for (let offset = 0; offset + 512 <= tar.length;) {
    const name = tar.subarray(offset, offset + 100).toString("latin1").replace(/\0.*$/s, "");
    if (name === "") break;
    const size = parseInt(tar.subarray(offset + 124, offset + 136).toString("latin1").replace(/\0.*$/s, "").trim(), 8);
    files.set(name, tar.subarray(offset + 512, offset + 512 + size).toString("utf8"));
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

describe("item 2: user-data changes must not replace VMs", () => {
  it.each(["digitalocean", "linode", "aws"] as Cloud[])("%s: adding an admin key leaves the database VM's user-data alone and delivers the key with the host files", async (cloud) => {
    const before = await plan(configFor({ cloud }, "dev"));
    const after = await plan(configFor({ cloud, adminSshPublicKey: ADMIN_KEY }, "dev"));
    const [vmBefore, vmAfter] = [one(before, VM[cloud].type), one(after, VM[cloud].type)];
    expect(userDataOf(vmAfter)).toBe(userDataOf(vmBefore));
    expect(userDataOf(vmAfter)).not.toContain("AAAAC3NzaC1lZDI1NTE5AAAAIOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs");
    // Even a user-data change (a new base package, a renamed application) is ignored on a running VM.
    expect(optionsOf(vmAfter).ignoreChanges).toEqual(VM[cloud].ignored);
    const keyFile = `${DELIVERED_KEYS_DIR.replace(/^\//, "")}/dbtier-admin`;
    expect(hostFiles(before, "dbtier-database").get(keyFile)).toBe("");
    expect(hostFiles(after, "dbtier-database").get(keyFile)).toBe(`${ADMIN_KEY}\n`);
    // sshd reads that file: the user-data's drop-in names the directory for every user.
    expect(userDataOf(vmAfter)).toContain(`AuthorizedKeysFile .ssh/authorized_keys ${DELIVERED_KEYS_DIR}/%u`);
  });

  it("linode: instance and cluster labels carry a suffix that is renewed with every replacement", async () => {
    const run = await plan(configFor({ cloud: "linode", mode: "managed", engine: "mysql", engineVersion: "8" }));
    const suffixes = new Map(ofType(run, "random:index/randomId:RandomId").map((r) => [r.name, r]));
    const vmSuffix = suffixes.get("dbtier-proxy-vm-label-suffix")!;
    const clusterSuffix = suffixes.get("dbtier-managed-cluster-label-suffix")!;
    expect(inputs(one(run, "linode:index/instance:Instance")).label).toBe(`shop-test-proxy-${String(vmSuffix.state.hex)}`);
    expect(inputs(one(run, "linode:index/databaseMysqlV2:DatabaseMysqlV2")).label).toBe(`shop-test-db-${String(clusterSuffix.state.hex)}`);
    // Keyed on what forces a new resource (image; region for the cluster): a new resource gets a new label.
    expect(inputs(vmSuffix).keepers).toMatchObject({ image: LINODE_IMAGE });
    expect(inputs(clusterSuffix).keepers).toEqual({ region: "eu-central" });
  });

  it("aws: the VM boots with an Elastic IP on its network interface, so `host` survives stop/start", async () => {
    const run = await plan(configFor({ cloud: "aws" }));
    const [nic, eip, vm] = [one(run, "aws:ec2/networkInterface:NetworkInterface"), one(run, "aws:ec2/eip:Eip"), one(run, VM.aws.type)];
    expect(inputs(eip)).toMatchObject({ domain: "vpc", networkInterface: nic.id });
    expect(inputs(vm).primaryNetworkInterface).toEqual({ networkInterfaceId: nic.id });
    expect(inputs(vm).associatePublicIpAddress).toBeUndefined();
    expect(optionsOf(vm).dependsOn).toContain(eip.name);
    expect(optionsOf(eip).dependsOn).toContain(one(run, "aws:ec2/internetGateway:InternetGateway").name);
    // One instance at a time can hold the interface as its primary one.
    expect(optionsOf(vm).deleteBeforeReplace).toBe(true);
    expect(run.outputs.host.value).toBe(vm.state.publicIp);
  });
});

describe("item 3: RDS is never enrolled in paid Extended Support by default", () => {
  it("aws: engineLifecycleSupport disabled for MySQL and PostgreSQL, enrolled only when opted in, unset for MariaDB (none exists)", async () => {
    const lifecycle = async (overrides: Record<string, unknown>) =>
      inputs(one(await plan(configFor({ cloud: "aws", mode: "managed", ...overrides })), "aws:rds/instance:Instance")).engineLifecycleSupport;
    expect(await lifecycle({ engine: "mysql", engineVersion: "8.4" })).toBe("open-source-rds-extended-support-disabled");
    expect(await lifecycle({ engine: "postgres", engineVersion: "16" })).toBe("open-source-rds-extended-support-disabled");
    expect(await lifecycle({ engine: "mysql", engineVersion: "8.0", rdsExtendedSupport: true })).toBe("open-source-rds-extended-support");
    expect(await lifecycle({ engine: "mariadb", engineVersion: "11.4" })).toBeUndefined();
  });
});

describe("item 4: AWS read replicas", () => {
  it("must be protected like the primary, without RDS deletion protection (lowering readReplicas must work)", async () => {
    const run = await plan(configFor({ cloud: "aws", mode: "managed", engine: "postgres", engineVersion: "16", readReplicas: 2 }));
    const [primary, ...replicas] = ofType(run, "aws:rds/instance:Instance");
    expect(replicas).toHaveLength(2);
    expect(primary.protect).toBe(true);
    for (const replica of replicas) {
      expect(replica.protect).toBe(true);
      expect(inputs(replica)).toMatchObject({ deletionProtection: false, skipFinalSnapshot: true, identifierPrefix: expect.stringMatching(/^shop-test-db-replica-\d-$/) });
    }
  });
});

describe("item 8: managed MySQL set like dev's server", () => {
  const SERVER_SQL_MODE = "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION";

  it("digitalocean: sql_require_primary_key off and MySQL's own sql_mode, through DatabaseMysqlConfig", async () => {
    const run = await plan(configFor({ mode: "managed", engine: "mysql", engineVersion: "8" }));
    const settings = one(run, "digitalocean:index/databaseMysqlConfig:DatabaseMysqlConfig");
    const clusterId = one(run, "digitalocean:index/databaseCluster:DatabaseCluster").id;
    expect(inputs(settings)).toEqual({ clusterId, backupHour: 2, backupMinute: 0, sqlRequirePrimaryKey: false, sqlMode: SERVER_SQL_MODE });
    // The stack's own choice wins over parity (DigitalOcean recommends primary keys once the schema has them).
    const strict = await plan(configFor({ mode: "managed", engine: "mysql", engineVersion: "8", engineConfig: { sql_require_primary_key: true } }));
    expect(inputs(one(strict, "digitalocean:index/databaseMysqlConfig:DatabaseMysqlConfig")).sqlRequirePrimaryKey).toBe(true);
    // PostgreSQL has neither setting: its own config resource carries the backup hour only.
    const pg = await plan(configFor({ mode: "managed", engine: "postgres", engineVersion: "16" }));
    expect(ofType(pg, "digitalocean:index/databaseMysqlConfig:DatabaseMysqlConfig")).toEqual([]);
    expect(inputs(one(pg, "digitalocean:index/databasePostgresqlConfig:DatabasePostgresqlConfig"))).toEqual({ clusterId: one(pg, "digitalocean:index/databaseCluster:DatabaseCluster").id, backupHour: 2, backupMinute: 0 });
  });

  it("linode: the v2 cluster's engine config fields, without ANSI in sql_mode", async () => {
    const run = await plan(configFor({ cloud: "linode", mode: "managed", engine: "mysql", engineVersion: "8" }));
    const cluster = inputs(one(run, "linode:index/databaseMysqlV2:DatabaseMysqlV2"));
    expect(cluster).toMatchObject({ engineConfigMysqlSqlRequirePrimaryKey: false, engineConfigMysqlSqlMode: SERVER_SQL_MODE });
    expect(String(cluster.engineConfigMysqlSqlMode).split(",")).not.toContain("ANSI");
    const pg = inputs(one(await plan(configFor({ cloud: "linode", mode: "managed", engine: "postgres", engineVersion: "16" })), "linode:index/databasePostgresqlV2:DatabasePostgresqlV2"));
    expect(Object.keys(pg).filter((k) => k.startsWith("engineConfigMysql"))).toEqual([]);
  });

  it("aws: RDS MySQL keeps its own defaults unless the stack sets a parameter (then a parameter group entry)", async () => {
    const params = async (engineConfig?: Record<string, unknown>) => inputs(one(await plan(configFor({ cloud: "aws", mode: "managed", engine: "mysql", engineVersion: "8.4", ...(engineConfig ? { engineConfig } : {}) })), "aws:rds/parameterGroup:ParameterGroup")).parameters;
    expect(await params()).toEqual([{ name: "require_secure_transport", value: "1" }]);
    expect(await params({ sql_require_primary_key: true, max_connections: 200 })).toEqual([
      { name: "require_secure_transport", value: "1" },
      { name: "sql_require_primary_key", value: "1", applyMethod: "immediate" },
      { name: "max_connections", value: "200", applyMethod: "pending-reboot" },
    ]);
  });
});

describe("settable operations: the configured windows reach each provider", () => {
  const window = { maintenanceWindow: { day: "saturday", hour: 23 }, backupHour: 21 };
  it("digitalocean: the cluster's maintenance window and the config resource's backup hour", async () => {
    const run = await plan(configFor({ mode: "managed", engine: "mysql", engineVersion: "8", ...window }));
    expect(inputs(one(run, "digitalocean:index/databaseCluster:DatabaseCluster")).maintenanceWindows).toEqual([{ day: "saturday", hour: "23:00" }]);
    expect(inputs(one(run, "digitalocean:index/databaseMysqlConfig:DatabaseMysqlConfig")).backupHour).toBe(21);
  });
  it("linode: updates on the configured day (1 Monday .. 7 Sunday) and hour", async () => {
    const run = await plan(configFor({ cloud: "linode", mode: "managed", engine: "mysql", engineVersion: "8", maintenanceWindow: window.maintenanceWindow }));
    expect(inputs(one(run, "linode:index/databaseMysqlV2:DatabaseMysqlV2")).updates).toMatchObject({ dayOfWeek: 6, hourOfDay: 23, frequency: "weekly" });
  });
  it("aws: one-hour windows, the maintenance window crossing midnight into the next day, retention as set", async () => {
    const run = await plan(configFor({ cloud: "aws", mode: "managed", engine: "postgres", engineVersion: "16", backupRetentionDays: 21, ...window }));
    expect(inputs(one(run, "aws:rds/instance:Instance"))).toMatchObject({ maintenanceWindow: "sat:23:00-sun:00:00", backupWindow: "21:00-22:00", backupRetentionPeriod: 21 });
    const defaults = inputs(one(await plan(configFor({ cloud: "aws", mode: "managed", engine: "postgres", engineVersion: "16" })), "aws:rds/instance:Instance"));
    expect(defaults).toMatchObject({ maintenanceWindow: "sun:03:00-sun:04:00", backupWindow: "02:00-03:00", backupRetentionPeriod: 14 });
  });
});

describe("item 13: the proxy verifies RDS with the RDS CA bundle", () => {
  it("aws: DB_CA_FILE holds the RDS roots, DB_TLS_MODE is verify-full, and the caCertificate output is the bundle", async () => {
    const run = await plan(configFor({ cloud: "aws", mode: "managed", engine: "mysql", engineVersion: "8.4" }));
    const files = hostFiles(run, "dbtier-proxy");
    const env = files.get("etc/dbtier/dbtier.env") ?? "";
    expect(env).toMatch(/^DB_TLS_MODE=verify-full$/m);
    expect(env).toMatch(/^DB_CA_FILE=\/etc\/dbtier\/ca\.pem$/m);
    expect(env).toMatch(new RegExp(`^DB_HOST=${String(one(run, "aws:rds/instance:Instance").state.address).replace(/\./g, "\\.")}$`, "m"));
    expect(files.get("etc/dbtier/ca.pem")).toBe(rdsCaBundle());
    expect(run.outputs.caCertificate.value).toBe(rdsCaBundle());
    expect(String(run.outputs.connectionString.value)).toMatch(/\?ssl-mode=VERIFY_IDENTITY&ssl-ca=dbtier-ca\.pem$/);
  });
});

describe("item 9: names that block replacements", () => {
  it("aws: RDS, subnet, parameter and security groups are named by prefix, never by a fixed name", async () => {
    const run = await plan(configFor({ cloud: "aws", mode: "managed", engine: "mysql", engineVersion: "8.4" }));
    const named = [
      ...ofType(run, "aws:rds/instance:Instance"), ...ofType(run, "aws:rds/subnetGroup:SubnetGroup"),
      ...ofType(run, "aws:rds/parameterGroup:ParameterGroup"), ...ofType(run, "aws:ec2/securityGroup:SecurityGroup"),
    ];
    expect(named.length).toBe(5);
    for (const r of named) {
      const i = inputs(r);
      expect({ name: r.name, fixed: i.name ?? i.identifier }).toEqual({ name: r.name, fixed: undefined });
      expect(String(i.namePrefix ?? i.identifierPrefix)).toMatch(/^[a-z][a-z0-9-]*-$/);
    }
  });

  it("aws: a major version change creates a new parameter group (family per major) and upgrades in place", async () => {
    const group = async (engineVersion: string) => {
      // 8.0 is past standard support: creatable only with the paid Extended Support opt-in.
      const run = await plan(configFor({ cloud: "aws", mode: "managed", engine: "mysql", engineVersion, ...(engineVersion === "8.0" ? { rdsExtendedSupport: "true" } : {}) }));
      return { params: one(run, "aws:rds/parameterGroup:ParameterGroup"), rds: inputs(one(run, "aws:rds/instance:Instance")) };
    };
    const [old, next] = [await group("8.0"), await group("8.4")];
    expect([inputs(old.params).family, inputs(next.params).family]).toEqual(["mysql8.0", "mysql8.4"]);
    // A new name beside the old one, so create-before-delete works; the old one is released, not deleted,
    // because RDS keeps it attached until the upgrade is applied in the maintenance window.
    expect(inputs(next.params).namePrefix).not.toEqual(inputs(old.params).namePrefix);
    expect(optionsOf(next.params).retainOnDelete).toBe(true);
    expect(next.rds.allowMajorVersionUpgrade).toBe(true);
  });
});

describe("item 10: the adapters name resources with the collision-free planner", () => {
  it("digitalocean: two replicas and the primary of a long application keep distinct, valid names", async () => {
    const application = "a-very-long-application-name-for-the-shop-prod";
    const run = await plan(configFor({ mode: "managed", engine: "mysql", engineVersion: "8", readReplicas: 2, appDb: { source: "virgin", application } }, "prod"));
    const names = [
      inputs(one(run, "digitalocean:index/databaseCluster:DatabaseCluster")).name,
      ...ofType(run, "digitalocean:index/databaseReplica:DatabaseReplica").map((r) => inputs(r).name),
    ] as string[];
    expect(new Set(names).size).toBe(3);
    for (const name of names) expect(nameProblems("digitalocean", name)).toEqual([]);
    expect(names).toEqual([resourceName({ cloud: "digitalocean", stack: "prod", appDb: { application } as DbTierConfig["appDb"] }, "db"), expect.stringMatching(/-db-replica-0$/), expect.stringMatching(/-db-replica-1$/)]);
  });
});

describe("item 11: ordering and patience of the remote commands", () => {
  it.each(["digitalocean", "linode", "aws"] as Cloud[])("%s: the first command (the secrets) waits for the VM's cloud firewall", async (cloud) => {
    const run = await plan(configFor({ cloud }));
    const firewalls = {
      digitalocean: ofType(run, "digitalocean:index/firewall:Firewall"),
      linode: ofType(run, "linode:index/firewall:Firewall"),
      aws: [...ofType(run, "aws:ec2/securityGroup:SecurityGroup"), ...ofType(run, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")],
    }[cloud];
    expect(firewalls.length).toBeGreaterThan(0);
    const first = commands(run).find((c) => c.name.endsWith("-secrets"))!;
    for (const fw of firewalls) expect(optionsOf(first).dependsOn).toContain(fw.name);
  });

  it("digitalocean: the firewall applies by tag and exists before the droplet boots", async () => {
    const run = await plan(configFor({}));
    const [tag, firewall, droplet] = [one(run, "digitalocean:index/tag:Tag"), one(run, "digitalocean:index/firewall:Firewall"), one(run, VM.digitalocean.type)];
    expect(inputs(firewall).tags).toEqual([inputs(tag).name]);
    expect(inputs(firewall).dropletIds).toBeUndefined();
    expect(inputs(droplet).tags).toContain(inputs(tag).name);
    expect(optionsOf(droplet).dependsOn).toContain(firewall.name);
  });

  it("must keep dialling a booting VM for minutes when connections are refused, and stay bounded otherwise", async () => {
    // The model reproduces the figure for the old setting (40 dials: ~2.7 minutes)...
    expect(dialBudgetSeconds(40, 0)).toBeGreaterThan(150);
    expect(dialBudgetSeconds(40, 0)).toBeLessThan(170);
    // ...and the provider's default (10 dials) is under a minute.
    expect(dialBudgetSeconds(10, 0)).toBeLessThan(60);
    expect(dialBudgetSeconds(DIAL_ERROR_LIMIT, 0)).toBeGreaterThan(6 * 60);
    expect(dialBudgetSeconds(DIAL_ERROR_LIMIT, PER_DIAL_TIMEOUT_SECONDS)).toBeLessThan(30 * 60);
    const run = await plan(configFor({}));
    for (const c of commands(run)) expect(inputs(c).connection).toMatchObject({ dialErrorLimit: DIAL_ERROR_LIMIT, perDialTimeout: PER_DIAL_TIMEOUT_SECONDS });
  });

  describe("waiting for cloud-init, run for real with a stand-in `cloud-init`", () => {
    let dir: string;
    beforeAll(() => { dir = mkdtempSync(path.join(tmpdir(), "dbtier-boot-wait-")); });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    /** A `cloud-init status` that answers the given lines in turn (the last one from then on) with an exit code each. */
    function wait(answers: { status: string; rc: number }[]): { status: number | null; stdout: string; stderr: string; seconds: number } {
      const bin = mkdtempSync(path.join(dir, "bin-"));
      const count = path.join(bin, "count");
      writeFileSync(count, "0");
      const cases = answers.map((a, i) => `${i}) echo 'status: ${a.status}'; exit ${a.rc} ;;`).join("\n  ");
      const last = answers[answers.length - 1];
      writeFileSync(path.join(bin, "cloud-init"), `#!/bin/bash\nn=$(cat ${shellQuote(count)}); echo $((n + 1)) > ${shellQuote(count)}\ncase "$n" in\n  ${cases}\n  *) echo 'status: ${last.status}'; exit ${last.rc} ;;\nesac\n`);
      chmodSync(path.join(bin, "cloud-init"), 0o755);
      const started = Date.now();
      const result = spawnSync("bash", ["-c", `set -euo pipefail\n${WAIT_FOR_BOOT}\necho booted`], {
        encoding: "utf8",
        env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, DBTIER_CLOUD_INIT_RUN: dir },
        timeout: 30_000,
      });
      return { status: result.status, stdout: result.stdout, stderr: result.stderr, seconds: (Date.now() - started) / 1000 };
    }

    it("must say it is waiting, then go on once first boot is done", () => {
      const result = wait([{ status: "running", rc: 0 }, { status: "done", rc: 0 }]);
      expect(result).toMatchObject({ status: 0 });
      expect(result.stdout).toMatch(/^waiting for cloud-init to finish first boot \(running, 0 s\)\nbooted\n$/);
    }, 20_000);

    it("must fail at once on a boot with errors, naming the status", () => {
      for (const answer of [{ status: "error", rc: 1 }, { status: "done", rc: 2 }]) {
        const result = wait([answer]);
        expect(result.status).toBe(1);
        expect(result.stderr).toContain(`cloud-init did not finish cleanly (status: ${answer.status})`);
        expect(result.stdout).not.toContain("booted");
        expect(result.seconds).toBeLessThan(4);
      }
    });
  });
});

describe("item 12: RDS final snapshot and deletion protection", () => {
  it("must take a new final snapshot name for every new instance, and deletion protection only when protected", async () => {
    const snapshot = (run: PlanRun) => ofType(run, "random:index/randomId:RandomId").find((r) => r.name.endsWith("-final-snapshot-suffix"))!;
    const postgres = await plan(configFor({ cloud: "aws", mode: "managed", engine: "postgres", engineVersion: "16" }));
    const mysql = await plan(configFor({ cloud: "aws", mode: "managed", engine: "mysql", engineVersion: "8.4", protect: false }));
    // The suffix is keyed on the inputs that force a new instance: a replacement renews it.
    expect(inputs(snapshot(postgres)).keepers).toMatchObject({ engine: "postgres", dbName: "shop", identifierPrefix: "shop-test-db-" });
    expect(inputs(snapshot(mysql)).keepers).toMatchObject({ engine: "mysql" });
    expect(inputs(one(postgres, "aws:rds/instance:Instance")).deletionProtection).toBe(true);
    expect(inputs(one(mysql, "aws:rds/instance:Instance")).deletionProtection).toBe(false);
  });
});

describe("item 16: the proxy is hardened like the database VM", () => {
  it("must run `dbtier-db harden` on the proxy after the install and before the load", async () => {
    const run = await plan(configFor({ mode: "managed", engine: "mysql", engineVersion: "8" }));
    const names = commands(run).map((c) => c.name);
    expect(names).toEqual(["dbtier-proxy-secrets", "dbtier-proxy-host-files", "dbtier-proxy-install", "dbtier-proxy-harden", "dbtier-proxy-load-app-db", "dbtier-proxy-timers"]);
    expect(String(inputs(commands(run)[3]).create)).toContain("as_root /usr/local/bin/dbtier-db harden\n");
  });
});

describe("item 1: the VPC resources use the configured range", () => {
  it.each(["digitalocean", "linode", "aws"] as Cloud[])("%s", async (cloud) => {
    const run = await plan(configFor({ cloud, vpcCidr: "10.77.0.0/16" }));
    const ranges = {
      digitalocean: ofType(run, "digitalocean:index/vpc:Vpc").map((r) => inputs(r).ipRange),
      linode: ofType(run, "linode:index/vpcSubnet:VpcSubnet").map((r) => inputs(r).ipv4),
      aws: ofType(run, "aws:ec2/vpc:Vpc").map((r) => inputs(r).cidrBlock),
    }[cloud];
    expect(ranges).toEqual(["10.77.0.0/16"]);
    if (cloud === "aws") expect(ofType(run, "aws:ec2/subnet:Subnet").map((r) => inputs(r).cidrBlock)).toEqual(["10.77.0.0/18", "10.77.64.0/18"]);
  });
});
