// The whole program under Pulumi mocks: what each cloud x mode x engine creates, the protections, the
// firewall rules as the providers receive them, and that no secret leaks into anything that is not a secret.
// The mocks are installed by runProgram before the program builds any resource.
import * as pulumi from "@pulumi/pulumi";
import { spawnSync } from "child_process";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import * as yaml from "js-yaml";
import { tmpdir } from "os";
import * as path from "path";
import { CLOUD_INIT_TOP_LEVEL_KEYS } from "../../components/cloudInit";
import { parseConfig } from "../../components/config";
import { ENGINE_VERSIONS } from "../../components/engines";
import { buildStack } from "../../components/tier";
import { CLOUDS, Cloud, DbTierConfig, ENGINES, Engine, MODES, Mode } from "../../components/types";
import { REDACTED, redact, reveal } from "../../scripts/plan/mocks";
import { PlanRun, PlannedResource, runProgram, userDataOf } from "../../scripts/plan/run";
import { validRaw } from "./fixtures";

// Recognisable secret config values: any of them outside a secret is a leak.
const SECRET_CONFIG = {
  datastoreAccessKeyId: "LEAKCHECK-access-key-id-7f3a",
  datastoreSecretAccessKey: "LEAKCHECK-secret-access-key-9b1c",
  smtpUrl: "smtps://alerts@smtp.example.com:465",
  smtpPassword: "LEAKCHECK-smtp-password-44d2",
  alertEmail: "LEAKCHECK-ops@example.com",
};
const SECRET_KEYS = Object.keys(SECRET_CONFIG).map((k) => `dbtier:${k}`);

const REGIONS: Record<Cloud, string> = { digitalocean: "fra1", linode: "eu-central", aws: "eu-central-1" };

function configFor(overrides: Record<string, unknown>, stack = "test"): DbTierConfig {
  const raw = validRaw({ ...SECRET_CONFIG, ...overrides });
  const parsed = parseConfig(raw, stack, (key) => SECRET_KEYS.includes(key));
  if (!parsed.ok) throw new Error(`fixture invalid: ${JSON.stringify(parsed.problems)}`);
  return parsed.config;
}

// One run per distinct config: the runs are deterministic, and the suite must stay fast.
const plans = new Map<string, Promise<PlanRun>>();
function plan(config: DbTierConfig): Promise<PlanRun> {
  const key = JSON.stringify(config);
  let run = plans.get(key);
  if (!run) {
    run = runProgram({ stack: config.stack, region: config.region, vpcCidr: config.vpcCidr }, () => ({ ...buildStack(config) }));
    plans.set(key, run);
  }
  return run;
}

const custom = (run: PlanRun): PlannedResource[] => run.resources.filter((r) => !r.type.startsWith("dbtier:"));
const types = (run: PlanRun): Set<string> => new Set(run.resources.map((r) => r.type));
const ofType = (run: PlanRun, type: string): PlannedResource[] => run.resources.filter((r) => r.type === type);
const plainInputs = (r: PlannedResource): Record<string, unknown> => reveal(r.inputs) as Record<string, unknown>;

const VM_TYPES: Record<Cloud, string> = {
  digitalocean: "digitalocean:index/droplet:Droplet",
  linode: "linode:index/instance:Instance",
  aws: "aws:ec2/instance:Instance",
};

/** Every valid cloud x mode x engine, with the first version the matrix offers. */
const MATRIX: { cloud: Cloud; mode: Mode; engine: Engine; version: string }[] = [];
for (const cloud of CLOUDS) for (const mode of MODES) for (const engine of ENGINES) {
  const versions = ENGINE_VERSIONS[cloud][mode][engine];
  if (versions && versions.length > 0) MATRIX.push({ cloud, mode, engine, version: versions[versions.length - 1] });
}

function expectedTypes(cloud: Cloud, mode: Mode, engine: Engine): string[] {
  const vm = [VM_TYPES[cloud], "command:remote:Command", "random:index/randomBytes:RandomBytes"];
  const network: Record<Cloud, string[]> = {
    digitalocean: ["digitalocean:index/vpc:Vpc", "digitalocean:index/firewall:Firewall"],
    linode: ["linode:index/vpc:Vpc", "linode:index/vpcSubnet:VpcSubnet", "linode:index/firewall:Firewall"],
    aws: ["aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/internetGateway:InternetGateway", "aws:ec2/securityGroup:SecurityGroup", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"],
  };
  if (mode === "self-managed") return [...vm, ...network[cloud], "random:index/randomPassword:RandomPassword", "dbtier:index:SelfManagedDatabase"];
  const managed: Record<Cloud, string[]> = {
    digitalocean: ["digitalocean:index/databaseCluster:DatabaseCluster", "digitalocean:index/databaseFirewall:DatabaseFirewall", "digitalocean:index/databaseDb:DatabaseDb", "digitalocean:index/databaseUser:DatabaseUser", ...(engine === "postgres" ? ["digitalocean:index/databaseConnectionPool:DatabaseConnectionPool"] : [])],
    linode: [engine === "postgres" ? "linode:index/databasePostgresqlV2:DatabasePostgresqlV2" : "linode:index/databaseMysqlV2:DatabaseMysqlV2"],
    aws: ["aws:rds/instance:Instance", "aws:rds/subnetGroup:SubnetGroup", "aws:rds/parameterGroup:ParameterGroup", "random:index/randomId:RandomId", "random:index/randomPassword:RandomPassword"],
  };
  return [...vm, ...network[cloud], ...managed[cloud], "dbtier:index:ManagedDatabase", "dbtier:index:DatabaseProxy"];
}

/** Every string a leak search looks for: secret config, mock passwords/seeds, the deployer private key. */
function secretValues(run: PlanRun): string[] {
  const values = new Set<string>(Object.values(SECRET_CONFIG));
  for (const r of run.resources) {
    for (const [key, value] of Object.entries(r.state)) {
      if (typeof value === "string" && value.startsWith("mock-secret-")) values.add(value);
      if (r.type === "random:index/randomBytes:RandomBytes" && (key === "base64" || key === "hex")) values.add(String(value));
    }
  }
  for (const cmd of ofType(run, "command:remote:Command")) {
    const key = (plainInputs(cmd).connection as { privateKey: string }).privateKey;
    // Lines 3 and 4 of the key body hold the private seed (lines 1-2 are a header every such key shares).
    const lines = key.split("\n");
    values.add(lines[3]);
    values.add(lines[4]);
  }
  return [...values].filter((v) => v.length >= 8);
}

describe.each(MATRIX)("$cloud $mode $engine $version", ({ cloud, mode, engine, version }) => {
  let run: PlanRun;
  let config: DbTierConfig;
  beforeAll(async () => {
    config = configFor({ cloud, mode, engine, engineVersion: version, region: REGIONS[cloud] });
    run = await plan(config);
  });

  it("must render the resource types of this shape", () => {
    const present = types(run);
    for (const type of expectedTypes(cloud, mode, engine)) expect(present).toContain(type);
    expect(present).toContain("dbtier:index:DatabaseTier");
    expect(ofType(run, VM_TYPES[cloud])).toHaveLength(1);
    // Only this cloud's provider, never a deprecated Linode v1 database.
    for (const r of custom(run)) expect(["random", "command", "tls", cloud]).toContain(r.type.split(":")[0]);
    expect([...present].filter((t) => /linode:index\/database(Mysql|Postgresql):/.test(t))).toEqual([]);
  });

  it("must not open port 22 to the Internet (SSH only from the admin ranges)", () => {
    const sshSources: string[] = [];
    for (const r of custom(run)) {
      const inputs = plainInputs(r);
      if (r.type === "digitalocean:index/firewall:Firewall") {
        for (const rule of inputs.inboundRules as { portRange: string; sourceAddresses?: string[] }[]) if (rule.portRange === "22") sshSources.push(...(rule.sourceAddresses ?? []));
      }
      if (r.type === "linode:index/firewall:Firewall") {
        expect(inputs.inboundPolicy).toBe("DROP");
        for (const rule of inputs.inbounds as { ports: string; ipv4s?: string[]; ipv6s?: string[] }[]) if (rule.ports === "22") sshSources.push(...(rule.ipv4s ?? []), ...(rule.ipv6s ?? []));
      }
      if (r.type === "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" && inputs.fromPort === 22) {
        sshSources.push(String(inputs.cidrIpv4 ?? inputs.cidrIpv6 ?? inputs.referencedSecurityGroupId));
      }
    }
    expect(sshSources.sort()).toEqual([...config.adminCidrs].sort());
    expect(sshSources).not.toContain("0.0.0.0/0");
    expect(sshSources).not.toContain("::/0");
  });

  it("must admit exactly the webservers (and the proxy) to the database port", () => {
    const port = engine === "postgres" ? 5432 : 3306;
    const webserverCidrs = config.webservers.map((w) => w.cidr).sort();
    if (mode === "self-managed") {
      const sources: string[] = [];
      for (const r of custom(run)) {
        const inputs = plainInputs(r);
        if (r.type === "digitalocean:index/firewall:Firewall") for (const rule of inputs.inboundRules as { portRange: string; sourceAddresses?: string[] }[]) if (rule.portRange === String(port)) sources.push(...(rule.sourceAddresses ?? []));
        if (r.type === "linode:index/firewall:Firewall") for (const rule of inputs.inbounds as { ports: string; ipv4s?: string[] }[]) if (rule.ports === String(port)) sources.push(...(rule.ipv4s ?? []));
        if (r.type === "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" && inputs.fromPort === port) sources.push(String(inputs.cidrIpv4));
      }
      expect(sources.sort()).toEqual(webserverCidrs);
      return;
    }
    if (cloud === "digitalocean") {
      const [firewall] = ofType(run, "digitalocean:index/databaseFirewall:DatabaseFirewall");
      const rules = plainInputs(firewall).rules as { type: string; value: string }[];
      const proxyId = ofType(run, "digitalocean:index/droplet:Droplet")[0].id;
      expect(rules.filter((r) => r.type === "ip_addr").map((r) => `${r.value}/32`).sort()).toEqual(webserverCidrs);
      expect(rules.filter((r) => r.type !== "ip_addr")).toEqual([{ type: "droplet", value: proxyId }]);
    }
    if (cloud === "linode") {
      const [cluster] = custom(run).filter((r) => r.type.includes("V2"));
      const proxyIp = ofType(run, "linode:index/instance:Instance")[0].state.ipAddress;
      expect((plainInputs(cluster).allowLists as string[]).sort()).toEqual([...webserverCidrs, `${String(proxyIp)}/32`].sort());
    }
    if (cloud === "aws") {
      const [dbGroup] = ofType(run, "aws:ec2/securityGroup:SecurityGroup").filter((g) => g.name.includes("managed"));
      const [proxyGroup] = ofType(run, "aws:ec2/securityGroup:SecurityGroup").filter((g) => g.name.includes("proxy"));
      const rules = ofType(run, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").filter((r) => plainInputs(r).securityGroupId === dbGroup.id);
      expect(rules.every((r) => plainInputs(r).fromPort === port && plainInputs(r).toPort === port)).toBe(true);
      expect(rules.filter((r) => plainInputs(r).cidrIpv4).map((r) => plainInputs(r).cidrIpv4).sort()).toEqual(webserverCidrs);
      expect(rules.filter((r) => plainInputs(r).referencedSecurityGroupId).map((r) => plainInputs(r).referencedSecurityGroupId)).toEqual([proxyGroup.id]);
    }
  });

  it("must keep every secret out of non-secret outputs, resource inputs and user-data", () => {
    const needles = secretValues(run);
    expect(needles.length).toBeGreaterThan(5);
    const publicOutputs = JSON.stringify(Object.fromEntries(Object.entries(run.outputs).filter(([, o]) => !o.secret).map(([k, o]) => [k, o.value])));
    const resourcesJson = JSON.stringify(run.resources.map((r) => ({ type: r.type, name: r.name, inputs: redact(r.inputs) })));
    const userData = userDataOf(ofType(run, VM_TYPES[cloud])[0]) ?? "";
    expect(userData.startsWith("#cloud-config\n")).toBe(true);
    for (const needle of needles) {
      expect({ where: "non-secret outputs", leaked: publicOutputs.includes(needle) }).toEqual({ where: "non-secret outputs", leaked: false });
      expect({ where: "resources.json", leaked: resourcesJson.includes(needle) }).toEqual({ where: "resources.json", leaked: false });
      expect({ where: "user-data", leaked: userData.includes(needle) }).toEqual({ where: "user-data", leaked: false });
    }
    expect(run.outputs.password.secret).toBe(true);
    expect(run.outputs.connectionString.secret).toBe(true);
    expect(String(run.outputs.connectionString.value)).toContain(String(run.outputs.password.value));
  });

  it("must pass every secret to the host on stdin of a secret command, never in the command text", () => {
    const commands = ofType(run, "command:remote:Command");
    const secretsCommand = commands.find((c) => c.name.endsWith("-secrets"));
    expect(secretsCommand).toBeDefined();
    expect(redact(secretsCommand!.inputs.stdin)).toBe(REDACTED);
    const tar = Buffer.from(String(reveal(secretsCommand!.inputs.stdin)), "base64").toString("latin1");
    for (const value of Object.values(SECRET_CONFIG)) expect(tar).toContain(value);
    for (const c of commands) {
      const text = String(reveal(c.inputs.create));
      for (const needle of secretValues(run)) expect(text.includes(needle)).toBe(false);
      const connection = plainInputs(c).connection as { hostKey?: string; host?: string };
      expect(connection.hostKey).toMatch(/^ssh-ed25519 /);
      expect(connection.host).toMatch(/^192\.0\.2\./);
    }
  });

  it("must give the VM user-data with only allowed top-level keys and the pinned host key", () => {
    const vm = ofType(run, VM_TYPES[cloud])[0];
    const doc = yaml.load((userDataOf(vm) ?? "").replace(/^#cloud-config\n/, "")) as Record<string, unknown>;
    for (const key of Object.keys(doc)) expect(CLOUD_INIT_TOP_LEVEL_KEYS as readonly string[]).toContain(key);
    const keys = doc.ssh_keys as { ed25519_public: string };
    const pinned = (plainInputs(ofType(run, "command:remote:Command")[0]).connection as { hostKey: string }).hostKey;
    expect(keys.ed25519_public).toBe(pinned);
    expect(doc.disable_root).toBe(true);
    expect(doc.ssh_pwauth).toBe(false);
    const files = (doc.write_files as { path: string }[]).map((f) => f.path);
    expect(files.filter((p) => p.startsWith("/etc/dbtier/secrets"))).toEqual([]);
  });

  it(`must ${mode === "managed" ? "" : "not "}protect stateful resources by default`, () => {
    const protectedTypes = custom(run).filter((r) => r.protect).map((r) => r.type);
    if (mode === "managed") {
      const stateful = { digitalocean: "digitalocean:index/databaseCluster:DatabaseCluster", linode: engine === "postgres" ? "linode:index/databasePostgresqlV2:DatabasePostgresqlV2" : "linode:index/databaseMysqlV2:DatabaseMysqlV2", aws: "aws:rds/instance:Instance" }[cloud];
      expect(protectedTypes).toContain(stateful);
    } else {
      expect(protectedTypes).toEqual([]);
    }
  });
});

describe("protections and production settings", () => {
  it("must protect the self-managed database VM when dbtier:protect is true", async () => {
    const run = await plan(configFor({ protect: true }));
    const vm = ofType(run, VM_TYPES.digitalocean)[0];
    expect(vm.protect).toBe(true);
  });

  it("must make RDS encrypted, deletion-protected, TLS-only, with backups, a maintenance window and a unique final snapshot", async () => {
    const config = configFor({ cloud: "aws", region: "eu-central-1", mode: "managed", engine: "postgres", engineVersion: "16", highAvailability: true, readReplicas: 1 });
    const run = await plan(config);
    const [primaryResource] = ofType(run, "aws:rds/instance:Instance");
    const [primary, replica] = ofType(run, "aws:rds/instance:Instance").map(plainInputs);
    // dbtier:protect defaults to true for managed stacks; RDS deletion protection follows it.
    expect(primary).toMatchObject({ storageEncrypted: true, deletionProtection: true, skipFinalSnapshot: false, multiAz: true, publiclyAccessible: true, allowMajorVersionUpgrade: true });
    expect(Number(primary.backupRetentionPeriod)).toBeGreaterThanOrEqual(7);
    expect(primary.maintenanceWindow).toMatch(/^[a-z]{3}:\d\d:\d\d-[a-z]{3}:\d\d:\d\d$/);
    const suffix = ofType(run, "random:index/randomId:RandomId").find((r) => r.name.endsWith("-final-snapshot-suffix"))!.state.hex as string;
    expect(primary.finalSnapshotIdentifier).toBe(`${String(primary.identifierPrefix)}final-${suffix}`);
    expect(replica).toMatchObject({ replicateSourceDb: primaryResource.state.identifier, storageEncrypted: true });
    const [params] = ofType(run, "aws:rds/parameterGroup:ParameterGroup").map(plainInputs);
    expect(params).toMatchObject({ family: "postgres16", parameters: [{ name: "rds.force_ssl", value: "1" }] });
    const mysql = await plan(configFor({ cloud: "aws", region: "eu-central-1", mode: "managed", engine: "mysql", engineVersion: "8.4" }));
    expect(plainInputs(ofType(mysql, "aws:rds/parameterGroup:ParameterGroup")[0])).toMatchObject({ family: "mysql8.4", parameters: [{ name: "require_secure_transport", value: "1" }] });
  });

  it("must give DigitalOcean HA a standby node, read replicas with their own firewall, and PostgreSQL a pool", async () => {
    const run = await plan(configFor({ mode: "managed", engine: "postgres", engineVersion: "16", highAvailability: true, readReplicas: 2 }));
    expect(plainInputs(ofType(run, "digitalocean:index/databaseCluster:DatabaseCluster")[0]).nodeCount).toBe(2);
    expect(ofType(run, "digitalocean:index/databaseReplica:DatabaseReplica")).toHaveLength(2);
    const firewalls = ofType(run, "digitalocean:index/databaseFirewall:DatabaseFirewall").map(plainInputs);
    expect(firewalls).toHaveLength(3);
    const replicaFirewalls = firewalls.filter((fw) => String(fw.clusterId).startsWith("uuid-"));
    expect(replicaFirewalls).toHaveLength(2);
    for (const fw of replicaFirewalls) expect((fw.rules as { type: string }[]).map((r) => r.type)).toEqual(["ip_addr", "ip_addr"]);
    expect(plainInputs(ofType(run, "digitalocean:index/databaseConnectionPool:DatabaseConnectionPool")[0])).toMatchObject({ mode: "transaction", dbName: "shop", user: "shop_app" });
    expect(String(run.outputs.connectionString.value)).toMatch(/^postgresql:\/\/shop_app:.+@dbtier-managed-pool-.+:25061\/shop-pool\?sslmode=verify-full&sslrootcert=dbtier-ca\.pem$/);
  });

  it("must give Linode HA a 3-node v2 cluster with a weekly maintenance window", async () => {
    const run = await plan(configFor({ cloud: "linode", region: "eu-central", mode: "managed", engine: "mysql", engineVersion: "8", highAvailability: true }));
    const cluster = plainInputs(ofType(run, "linode:index/databaseMysqlV2:DatabaseMysqlV2")[0]);
    expect(cluster).toMatchObject({ engineId: "mysql/8", clusterSize: 3, updates: { frequency: "weekly" } });
    expect(run.outputs.caCertificate.value).toMatch(/^-----BEGIN CERTIFICATE-----/);
  });
});

describe("where the self-managed database listens", () => {
  const envOf = (run: PlanRun): string => {
    const cmd = ofType(run, "command:remote:Command").find((c) => c.name.endsWith("-host-files"))!;
    const tar = Buffer.from(String(reveal(cmd.inputs.stdin)), "base64").toString("latin1");
    return tar.slice(tar.indexOf("DB_ROLE="), tar.indexOf("DBTIER_STATE_DIR="));
  };

  it("must bind only the private address when every webserver is inside the private network", async () => {
    const run = await plan(configFor({ vpcCidr: "10.42.0.0/16", webservers: [{ name: "web1", ip: "10.42.1.5" }] }));
    const privateIp = String(ofType(run, VM_TYPES.digitalocean)[0].state.ipv4AddressPrivate);
    expect(run.outputs.host.value).toBe(privateIp);
    expect(envOf(run)).toContain(`DB_LISTEN_ADDRESS=${privateIp}\n`);
  });

  it("must answer on the public address when a webserver is outside it, still admitting only the webservers", async () => {
    const run = await plan(configFor({}));
    const vm = ofType(run, VM_TYPES.digitalocean)[0];
    expect(run.outputs.host.value).toBe(vm.state.ipv4Address);
    expect(envOf(run)).toContain("DB_LISTEN_ADDRESS=0.0.0.0\n");
    expect(envOf(run)).toContain("DB_WEBSERVER_SOURCES=203.0.113.10/32 203.0.113.11/32\n");
  });
});

describe("config changes on a running stack", () => {
  const triggersOf = (run: PlanRun): Record<string, unknown> =>
    Object.fromEntries(ofType(run, "command:remote:Command").map((c) => [c.name, reveal(c.inputs.triggers)]));

  it("must not touch the database VM when a webserver is added, but must re-run the host steps", async () => {
    const before = await plan(configFor({}));
    const after = await plan(configFor({ webservers: [{ name: "web1", ip: "203.0.113.10" }, { name: "web2", ip: "203.0.113.11" }, { name: "web3", ip: "203.0.113.12" }] }));
    const vm = (run: PlanRun) => ofType(run, VM_TYPES.digitalocean)[0];
    expect(userDataOf(vm(after))).toBe(userDataOf(vm(before)));
    const [t0, t1] = [triggersOf(before), triggersOf(after)];
    for (const step of ["install", "init", "harden", "timers"]) expect(t1[`dbtier-database-${step}`]).not.toEqual(t0[`dbtier-database-${step}`]);
    expect(t1["dbtier-database-load-app-db"]).toEqual(t0["dbtier-database-load-app-db"]);
  });

  it("must re-run load-app-db when the application database source changes (promotion)", async () => {
    const before = await plan(configFor({ mode: "managed", engine: "mysql", engineVersion: "8" }));
    const after = await plan(configFor({ mode: "managed", engine: "mysql", engineVersion: "8", appDb: { source: "daily" } }));
    expect(triggersOf(after)["dbtier-proxy-load-app-db"]).not.toEqual(triggersOf(before)["dbtier-proxy-load-app-db"]);
  });
});

describe("user-data validity", () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(path.join(tmpdir(), "dbtier-userdata-")); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("must pass `cloud-init schema` for the database VM and the proxy", async () => {
    // User-data depends on the role and the config, not on the cloud: one cloud per role is enough.
    const cases = [
      configFor({ adminSshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs admin@example" }),
      configFor({ cloud: "linode", region: "eu-central", mode: "managed", engine: "postgres", engineVersion: "16" }),
    ];
    const files: string[] = [];
    for (const config of cases) {
      const run = await plan(config);
      const file = path.join(dir, `${config.cloud}-${config.mode}.yaml`);
      writeFileSync(file, userDataOf(ofType(run, VM_TYPES[config.cloud])[0]) ?? "");
      files.push(file);
    }
    for (const file of files) {
      const result = spawnSync("cloud-init", ["schema", "--config-file", file], { encoding: "utf8" });
      expect({ file: path.basename(file), status: result.status, out: result.status === 0 ? "" : result.stdout + result.stderr }).toEqual({ file: path.basename(file), status: 0, out: "" });
    }
  }, 20000);
});

describe("index.ts", () => {
  it("must refuse an invalid config with one error listing every problem by key", () => {
    // Mocks first, then the config, then the program: index.ts reads both when it is loaded.
    pulumi.runtime.setMocks({ newResource: (a) => ({ id: a.name, state: a.inputs }), call: (a) => a.inputs }, "dbtier", "bad", false);
    pulumi.runtime.setAllConfig(validRaw({ cloud: "gcp", engineVersion: "99", adminCidrs: ["0.0.0.0/0"] }), []);
    let message = "NO ERROR";
    jest.isolateModules(() => {
      try {
        require("../../index");
      } catch (err) {
        message = (err as Error).message;
      }
    });
    const lines = message.split("\n");
    expect(lines[0]).toBe("invalid dbtier config:");
    expect(lines.some((l) => l.startsWith("dbtier:cloud: "))).toBe(true);
    expect(lines.some((l) => l.startsWith("dbtier:adminCidrs"))).toBe(true);
  });
});
