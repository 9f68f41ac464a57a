// The lab's bridge from the program's output to lab hosts. `npm run plan` writes what a person or Pulumi
// would see; three things the lab also needs are not in it, by design (they are secrets or provider ids),
// so this tool runs the same program under the same mocks (scripts/plan/run.ts) and extracts them:
//   - each remote command's connection (user, pinned host key) and the deployer private key it logs in with;
//   - the names the self-managed server's certificate request lists (tls.json): the lab plays @pulumi/tls
//     and issues a real certificate for exactly those names (the mocks make no real keys);
//   - the provider's side of the managed database: admin user, port, host names, databases and users the
//     provider resources create, and the allow-list (DO firewall rules, AWS ingress rules, Linode allow
//     list) resolved to the addresses of the planned VMs;
// It also rewrites a host-files stdin (a ustar stream) with the lab's address map, and builds a secret
// stdin from the lab's test secrets with the program's own tar writer (components/hostDelivery.ts).
//
//   plan-tool.ts extract STACK CONFIG_FILE OUT_DIR
//   plan-tool.ts host-files STDIN_FILE MAP_JSON_FILE  > rewritten.stdin   (changes listed on stderr)
//   plan-tool.ts secrets VALUES_JSON_FILE             > secrets.stdin
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "fs";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..", "..");

interface PlannedResource {
  readonly type: string;
  readonly name: string;
  readonly id: string;
  readonly inputs: Record<string, unknown>;
  readonly state: Record<string, unknown>;
}

interface HostSummary {
  readonly name: string;
  readonly role: string;
  readonly publicIp: string;
  readonly privateIp: string;
  readonly hostPublicKey: string;
  readonly commands: readonly string[];
}

export interface ManagedFacts {
  readonly cloud: string;
  readonly engine: string;
  readonly port: number;
  /** Every host name the provider gives the database (public, private, pool, replica). */
  readonly hostnames: string[];
  readonly adminUser: string;
  /** Databases the provider resources create. */
  readonly databases: string[];
  /** Users the provider resources create (their passwords are the app password the lab delivers). */
  readonly users: string[];
  /** Sources the provider's firewall admits to the database port: planned addresses (CIDR). */
  readonly allow: { readonly cidr: string; readonly why: string }[];
  readonly caCertificate?: string;
}

async function extract(stack: string, configFile: string, outDir: string): Promise<void> {
  const { loadStackConfig } = await import("../../components/stackConfig");
  const { formatProblems, parseConfig } = await import("../../components/config");
  const stackConfig = loadStackConfig(ROOT, stack, path.resolve(configFile));
  const parsed = parseConfig(stackConfig.raw, stack, (key) => stackConfig.secretKeys.includes(key));
  if (!parsed.ok) throw new Error(formatProblems(parsed.problems).join("\n"));
  const config = parsed.config;
  const pulumi = await import("@pulumi/pulumi");
  const { runProgram } = await import("../plan/run");
  const { reveal } = await import("../plan/mocks");
  const run = await runProgram({ stack, region: config.region, vpcCidr: config.vpcCidr }, () => {
    pulumi.runtime.setAllConfig(stackConfig.raw, [...stackConfig.secretKeys]);
    return require("../../index") as Record<string, unknown>;
  });
  const resources = run.resources as unknown as PlannedResource[];
  const plain = (r: PlannedResource): Record<string, unknown> => reveal(r.inputs) as Record<string, unknown>;
  mkdirSync(path.join(outDir, "keys"), { recursive: true });

  const hosts = (run.outputs.hosts?.value ?? []) as HostSummary[];
  const connections: Record<string, unknown>[] = [];
  for (const host of hosts) {
    for (const name of host.commands) {
      const cmd = resources.find((r) => r.name === name);
      if (!cmd) throw new Error(`no command resource ${name}`);
      const connection = plain(cmd).connection as Record<string, unknown>;
      const keyFile = path.join(outDir, "keys", `${host.name}.deployer`);
      writeFileSync(keyFile, String(connection.privateKey), { mode: 0o600 });
      chmodSync(keyFile, 0o600);
      connections.push({ command: name, vm: host.name, host: connection.host, port: connection.port ?? 22, user: connection.user, hostKey: connection.hostKey, keyFile });
    }
  }
  writeFileSync(path.join(outDir, "connections.json"), `${JSON.stringify(connections, null, 2)}\n`);

  // The server certificates the program requests (components/tls.ts), with the names clients will check.
  const requests = resources.filter((r) => r.type === "tls:index/certRequest:CertRequest").map((r) => {
    const inputs = plain(r);
    return { name: r.name, ipAddresses: (inputs.ipAddresses ?? []) as string[], dnsNames: (inputs.dnsNames ?? []) as string[] };
  });
  writeFileSync(path.join(outDir, "tls.json"), `${JSON.stringify(requests, null, 2)}\n`);

  // VMs by every id the provider could use to name them in an allow-list.
  const vmAddresses = new Map<string, { name: string; cidrs: string[] }>();
  for (const host of hosts) {
    const vm = resources.find((r) => r.name === `${host.name}-vm`);
    const cidrs = [`${host.publicIp}/32`, `${host.privateIp}/32`];
    if (vm) {
      vmAddresses.set(vm.id, { name: host.name, cidrs });
      // Security groups on the instance itself, or (AWS with an Elastic IP) on its primary network interface.
      const vmInputs = plain(vm);
      const nicId = (vmInputs.primaryNetworkInterface as { networkInterfaceId?: string } | undefined)?.networkInterfaceId;
      const nic = nicId ? resources.find((r) => r.type === "aws:ec2/networkInterface:NetworkInterface" && r.id === nicId) : undefined;
      const groups = [...((vmInputs.vpcSecurityGroupIds ?? []) as string[]), ...((nic ? plain(nic).securityGroups : undefined) ?? []) as string[]];
      for (const sg of groups) vmAddresses.set(sg, { name: host.name, cidrs });
    }
  }
  // A security group id referenced in an ingress rule resolves to the VMs that carry it (mapped above).
  const sgIds = new Map(resources.filter((r) => r.type === "aws:ec2/securityGroup:SecurityGroup").map((r) => [r.id, r]));

  let managed: ManagedFacts | undefined;
  const out = (key: string): unknown => run.outputs[key]?.value;
  if (config.mode === "managed") {
    const allow: { cidr: string; why: string }[] = [];
    const hostnames = new Set<string>();
    const databases: string[] = [];
    const users: string[] = [];
    let adminUser = "";
    let port = Number(out("port"));
    for (const r of resources) {
      const inputs = plain(r);
      const state = r.state;
      switch (r.type) {
        case "digitalocean:index/databaseCluster:DatabaseCluster":
          adminUser = String(state.user);
          port = Number(state.port);
          for (const k of ["host", "privateHost"]) if (state[k]) hostnames.add(String(state[k]));
          break;
        case "digitalocean:index/databaseConnectionPool:DatabaseConnectionPool":
        case "digitalocean:index/databaseReplica:DatabaseReplica":
          for (const k of ["host", "privateHost"]) if (state[k]) hostnames.add(String(state[k]));
          break;
        case "digitalocean:index/databaseDb:DatabaseDb":
          databases.push(String(inputs.name));
          break;
        case "digitalocean:index/databaseUser:DatabaseUser":
          users.push(String(inputs.name));
          break;
        case "digitalocean:index/databaseFirewall:DatabaseFirewall":
          for (const rule of (inputs.rules ?? []) as { type: string; value: string }[]) {
            if (rule.type === "ip_addr") allow.push({ cidr: rule.value.includes("/") ? rule.value : `${rule.value}/32`, why: `ip_addr ${rule.value}` });
            else if (rule.type === "droplet") {
              const vm = vmAddresses.get(rule.value);
              if (!vm) throw new Error(`firewall rule names droplet ${rule.value}, which the plan does not create`);
              for (const cidr of vm.cidrs) allow.push({ cidr, why: `droplet ${rule.value} (${vm.name})` });
            } else throw new Error(`the lab cannot resolve a ${rule.type} rule (${rule.value}) to addresses`);
          }
          break;
        case "aws:rds/instance:Instance":
          if (inputs.replicateSourceDb) { hostnames.add(String(state.address)); break; }
          adminUser = String(inputs.username);
          port = Number(state.port ?? inputs.port ?? port);
          hostnames.add(String(state.address));
          if (inputs.dbName) databases.push(String(inputs.dbName));
          break;
        case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {
          const target = sgIds.get(String(inputs.securityGroupId));
          if (!target || (target.inputs.tags as Record<string, string> | undefined)?.["dbtier:role"] !== "database") break;
          if (inputs.cidrIpv4) allow.push({ cidr: String(inputs.cidrIpv4), why: String(inputs.description) });
          else if (inputs.referencedSecurityGroupId) {
            const vm = vmAddresses.get(String(inputs.referencedSecurityGroupId));
            if (!vm) throw new Error(`ingress rule references ${String(inputs.referencedSecurityGroupId)}, which no planned VM carries`);
            for (const cidr of vm.cidrs) allow.push({ cidr, why: String(inputs.description) });
          } else if (inputs.cidrIpv6) allow.push({ cidr: String(inputs.cidrIpv6), why: String(inputs.description) });
          break;
        }
        case "linode:index/databaseMysqlV2:DatabaseMysqlV2":
        case "linode:index/databasePostgresqlV2:DatabasePostgresqlV2":
          adminUser = String(state.rootUsername);
          port = Number(state.port);
          for (const k of ["hostPrimary", "hostSecondary"]) if (state[k]) hostnames.add(String(state[k]));
          for (const cidr of (inputs.allowLists ?? inputs.allowList ?? []) as string[]) allow.push({ cidr, why: "allow list" });
          break;
        default:
          break;
      }
    }
    const host = out("host");
    if (typeof host === "string") hostnames.add(host);
    const ca = out("caCertificate");
    managed = {
      cloud: config.cloud,
      engine: config.engine,
      port,
      hostnames: [...hostnames],
      adminUser,
      databases,
      users,
      allow,
      ...(typeof ca === "string" ? { caCertificate: ca } : {}),
    };
  }
  writeFileSync(path.join(outDir, "managed.json"), `${JSON.stringify(managed ?? null, null, 2)}\n`);
}

// ---- ustar -------------------------------------------------------------------------------------------------

interface TarFile {
  name: string;
  content: string;
  permissions: string;
}

function untar(buffer: Buffer): TarFile[] {
  const files: TarFile[] = [];
  let offset = 0;
  while (offset + 512 <= buffer.length) {
    const header = buffer.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start: number, length: number): string => header.subarray(start, start + length).toString("utf8").replace(/\0.*$/s, "");
    const name = field(0, 100);
    const mode = parseInt(field(100, 8).trim() || "0", 8);
    const size = parseInt(field(124, 12).trim() || "0", 8);
    const type = field(156, 1);
    if (type !== "0" && type !== "") throw new Error(`tar entry ${name}: type ${type} is not a plain file`);
    const content = buffer.subarray(offset + 512, offset + 512 + size).toString("utf8");
    files.push({ name, content, permissions: `0${(mode & 0o777).toString(8)}` });
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

/**
 * Map: { replace: [[from, to], ...] exact substrings (addresses, host names), env: {KEY: value} (set in
 * etc/dbtier/dbtier.env), files: {"etc/dbtier/ca.pem": "content"} (replace a file's content, or add it
 * when the stream has none: what a real run delivers that a plan under mocks cannot, e.g. certificates) }.
 */
async function hostFiles(stdinFile: string, mapFile: string): Promise<void> {
  const { tarBase64 } = await import("../../components/hostDelivery");
  const map = JSON.parse(readFileSync(mapFile, "utf8")) as { replace?: [string, string][]; env?: Record<string, string>; files?: Record<string, string> };
  const files = untar(Buffer.from(readFileSync(stdinFile, "utf8"), "base64"));
  const changed = files.map((file) => {
    let content = file.content;
    if (map.files && map.files[file.name] !== undefined) {
      process.stderr.write(`lab map: ${file.name}: content replaced by the lab's\n`);
      content = map.files[file.name];
    }
    for (const [from, to] of map.replace ?? []) {
      // Whole tokens only: 192.0.2.10 must not rewrite 192.0.2.100.
      const re = new RegExp(`(?<![0-9A-Za-z.-])${from.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![0-9A-Za-z-])`, "g");
      if (re.test(content)) {
        process.stderr.write(`lab map: ${file.name}: ${from} -> ${to}\n`);
        content = content.replace(re, to);
      }
    }
    if (file.name === "etc/dbtier/dbtier.env") {
      for (const [key, value] of Object.entries(map.env ?? {})) {
        const re = new RegExp(`^${key}=.*$`, "m");
        const before = re.exec(content)?.[0];
        content = re.test(content) ? content.replace(re, `${key}=${value}`) : `${content}${key}=${value}\n`;
        process.stderr.write(`lab map: ${file.name}: ${before ?? `(no ${key})`} -> ${key}=${value}\n`);
      }
    }
    return { ...file, content };
  });
  for (const [name, content] of Object.entries(map.files ?? {})) {
    if (files.some((file) => file.name === name)) continue;
    process.stderr.write(`lab map: ${name}: added by the lab\n`);
    changed.push({ name, content, permissions: "0644" });
  }
  process.stdout.write(tarBase64(changed));
}

async function secrets(valuesFile: string): Promise<void> {
  const { secretEntries, tarBase64 } = await import("../../components/hostDelivery");
  const { ed25519KeyPairFromSeed } = await import("../../components/sshKeys");
  const { mockRandomBytes } = await import("../plan/mocks");
  const { backupSigningSeed, ...values } = JSON.parse(readFileSync(valuesFile, "utf8"));
  // The backup signing key the plan's env file pins: the one its RandomBytes seed (mocked) derives.
  if (typeof backupSigningSeed === "string") {
    values.backupSigningKey = ed25519KeyPairFromSeed(mockRandomBytes(backupSigningSeed), "lab backup signing").privateKey;
  }
  process.stdout.write(tarBase64(secretEntries(values)));
}

async function main(): Promise<void> {
  const [command, ...args] = process.argv.slice(2);
  switch (command) {
    case "extract":
      if (args.length !== 3) throw new Error("usage: plan-tool.ts extract STACK CONFIG_FILE OUT_DIR");
      return extract(args[0], args[1], args[2]);
    case "host-files":
      if (args.length !== 2) throw new Error("usage: plan-tool.ts host-files STDIN_FILE MAP_JSON_FILE");
      return hostFiles(args[0], args[1]);
    case "secrets":
      if (args.length !== 1) throw new Error("usage: plan-tool.ts secrets VALUES_JSON_FILE");
      return secrets(args[0]);
    default:
      throw new Error("usage: plan-tool.ts extract|host-files|secrets ...");
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`plan-tool: ${(err as Error)?.message ?? String(err)}\n`);
  process.exit(1);
});
