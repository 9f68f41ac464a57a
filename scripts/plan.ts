// npm run plan -- <stack> [--config-file FILE] [--against DIR] [--stack-outputs STACK=FILE]
//
// Runs index.ts under Pulumi mocks with the stack's config (Pulumi.yaml defaults + Pulumi.<stack>.yaml, or
// FILE instead of the stack file): no Pulumi CLI, no cloud credentials. `secure:` values become "[secret]"
// placeholders that the program treats as secrets. Prints the resources, the trusted-source table per
// target and the protections, and writes (all paths under out/plan/<stack>/):
//
//   resources.json        [{ "type": "digitalocean:index/droplet:Droplet", "name": "dbtier-database-vm",
//                            "protect": false, "inputs": { ... },
//                            "options": { "ignoreChanges": [], "replaceOnChanges": [], "deleteBeforeReplace": false,
//                                         "retainOnDelete": false, "replaceWith": [] },
//                            "inputDependencies": { "vpcUuid": ["dbtier-vpc"] },
//                            "secretDigests": { "userData": "sha256:<16 hex>" } }, ...] in registration order.
//                          Every secret input (at any depth) is the string "[secret]"; its digest lets a diff
//                          see it change. Component resources (type dbtier:index:*) have empty inputs.
//   outputs.json          { "<export>": <value> | "[secret]" } for each stack output.
//   user-data/<vm>.yaml   the #cloud-config each VM boots with (<vm> = host name below): login users, the
//                          VM's SSH host key pair (the *private* key is a mock value in a plan; it is the
//                          only secret user-data carries), sshd hardening, base packages. Nothing else: the
//                          toolkit, units, host firewall and env file arrive with the host-files command.
//   commands/<name>.sh    the exact bash text of each remote command (`command.remote.Command` create),
//                          run by the VM's login shell as user dbtier-deploy (uses `sudo -n` unless root).
//   commands/<name>.stdin the exact stdin of a command whose stdin is not secret: for <host>-host-files,
//                          base64 of a ustar stream of files with paths relative to / (usr/local/lib/dbtier/**,
//                          etc/systemd/system/dbtier-*, etc/dbtier/firewall.nft, etc/dbtier/dbtier.env and, on
//                          a proxy with a DBaaS CA, etc/dbtier/ca.pem).
//   hosts.json            [{ "name": "dbtier-database", "role": "database" | "proxy",
//                            "publicIp": "192.0.2.10", "privateIp": "10.42.0.10",
//                            "hostPublicKey": "ssh-ed25519 AAAA... dbtier-database host key",
//                            "userData": "user-data/dbtier-database.yaml",
//                            "commands": [{ "name": "dbtier-database-secrets", "script": "commands/....sh",
//                                           "stdin": "secret" | "none" | "commands/<name>.stdin",
//                                           "description": "...",
//                                           "rerunOn": "own-input" | "host-files" | "app-db" }, ...in run order] }]
//                          A "secret" stdin is base64 of a ustar stream of flat files (db-admin-password,
//                          db-app-password, datastore-access-key-id, ...; see docs/host-contract.md),
//                          which the lab builds from its own test secrets.
//   diff.json             with --against DIR: per resource create / update / replace / delete, the changed
//                          inputs, why a replacement is one (the provider fact from plan/replaceFacts.ts or the
//                          resource option) and `statefulLosses` (scripts/plan/diff.ts). DIR is a plan directory
//                          written earlier (copy out/plan/<stack>/ before changing the config); DIR may be
//                          out/plan/<stack>/ itself, which is read before it is rewritten.
//
// --stack-outputs STACK=FILE: the outputs of another stack the program reads through a StackReference
// (dbtier:webserversFrom), as `pulumi stack output --json --show-secrets --stack STACK > FILE` prints them. An
// offline plan cannot read another stack, so a stack with dbtier:webserversFrom needs it; the referenced list
// is validated like dbtier:webservers before anything is planned.
//
// Exit codes: 0 planned; 2 bad arguments or bad config (one line per problem, `dbtier:key: message`, no
// stack trace); 1 the program failed under mocks (a bug: message printed, no stack trace).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as path from "path";
import { REDACTED, redact, reveal } from "./plan/mocks";
import { PlanRecord, readPlanDir, recordResource, vmResourceName } from "./plan/record";

const ROOT = path.resolve(__dirname, "..");
const USAGE = "usage: npm run plan -- <stack> [--config-file FILE] [--against DIR] [--stack-outputs STACK=FILE]";

interface Args {
  readonly stack: string;
  readonly configFile?: string;
  /** A previous plan directory to diff against. */
  readonly against?: string;
  /** Files of other stacks' outputs (`pulumi stack output --json`), by stack name. */
  readonly stackOutputs: Readonly<Record<string, string>>;
}

function parseArgs(argv: readonly string[]): Args | string {
  let stack: string | undefined;
  let configFile: string | undefined;
  let against: string | undefined;
  const stackOutputs: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--stack-outputs" || arg.startsWith("--stack-outputs=")) {
      const value = arg === "--stack-outputs" ? argv[++i] : arg.slice("--stack-outputs=".length);
      const match = /^([^=\s]+)=(.+)$/.exec(value ?? "");
      if (!match) return "--stack-outputs needs STACK=FILE (FILE from `pulumi stack output --json --show-secrets --stack STACK`)";
      stackOutputs[match[1]] = path.resolve(match[2]);
      continue;
    }
    if (arg === "--config-file") {
      configFile = argv[++i];
      if (!configFile) return "--config-file needs a file name";
    } else if (arg.startsWith("--config-file=")) {
      configFile = arg.slice("--config-file=".length);
    } else if (arg === "--against" || arg.startsWith("--against=")) {
      against = arg === "--against" ? argv[++i] : arg.slice("--against=".length);
      if (!against || against.startsWith("-")) return "--against needs a plan directory (one `npm run plan` wrote, e.g. a copy of out/plan/<stack>/)";
    } else if (arg === "-h" || arg === "--help") {
      return USAGE;
    } else if (arg.startsWith("-")) {
      return `unknown option ${arg}`;
    } else if (stack === undefined) {
      stack = arg;
    } else {
      return `unexpected argument ${arg}`;
    }
  }
  if (!stack) return "missing <stack>";
  if (!/^[a-zA-Z0-9._-]+$/.test(stack)) return `stack name ${JSON.stringify(stack)} may contain only letters, digits, '.', '_' and '-'`;
  return { stack, ...(configFile ? { configFile: path.resolve(configFile) } : {}), ...(against ? { against: path.resolve(against) } : {}), stackOutputs };
}

function fail(code: number, lines: readonly string[]): never {
  for (const line of lines) process.stderr.write(`${line}\n`);
  process.exit(code);
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0].map((_, col) => Math.max(...rows.map((row) => row[col].length)));
  return rows.map((row) => row.map((cell, col) => cell.padEnd(widths[col])).join("  ").trimEnd()).join("\n");
}

/** `--stack-outputs` files: each a JSON object of output name to value. */
function readStackOutputs(files: Readonly<Record<string, string>>): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [stack, file] of Object.entries(files)) {
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      fail(2, [`plan: --stack-outputs ${stack}=${file}: ${(err as Error).message}`]);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) fail(2, [`plan: --stack-outputs ${stack}=${file}: not a JSON object of outputs (what \`pulumi stack output --json\` prints)`]);
    out[stack] = value as Record<string, unknown>;
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (typeof args === "string") fail(2, args === USAGE ? [USAGE] : [`plan: ${args}`, USAGE]);

  // Config first, with no Pulumi loaded: a bad config must be reported without any runtime noise.
  const { loadStackConfig } = await import("../components/stackConfig");
  const { formatProblems, mergeWebservers, parseConfig } = await import("../components/config");
  let stackConfig: ReturnType<typeof loadStackConfig>;
  try {
    stackConfig = loadStackConfig(ROOT, args.stack, args.configFile);
  } catch (err) {
    fail(2, [`plan: cannot read the config of stack ${args.stack}: ${(err as Error).message}`]);
  }
  const parsed = parseConfig(stackConfig.raw, args.stack, (key) => stackConfig.secretKeys.includes(key));
  if (!parsed.ok) fail(2, formatProblems(parsed.problems));
  const stackOutputs = readStackOutputs(args.stackOutputs);
  // The program reads dbtier:webserversFrom itself (components/webserversFrom.ts); checked here first, so a bad
  // list is reported like any config problem, and the tables below show the merged list.
  let config = parsed.config;
  if (config.webserversFrom) {
    const { stack: referenced, output } = config.webserversFrom;
    const outputs = stackOutputs[referenced];
    if (!outputs) fail(2, [`plan: dbtier:webserversFrom reads stack ${referenced}, which an offline plan cannot: save its outputs with \`pulumi stack output --json --show-secrets --stack ${referenced} > FILE\` and pass --stack-outputs ${referenced}=FILE`]);
    const merged = mergeWebservers(config, outputs[output]);
    if (!merged.ok) fail(2, formatProblems(merged.problems));
    config = merged.config;
  }
  // Read before out/plan/<stack>/ is rewritten: it may be the directory to diff against.
  let previous: PlanRecord | undefined;
  if (args.against) {
    const read = readPlanDir(args.against);
    if ("error" in read) fail(2, [`plan: --against: ${read.error}`]);
    previous = read;
  }

  const pulumi = await import("@pulumi/pulumi");
  const { runProgram, userDataOf } = await import("./plan/run");
  const { trustedSourceTable } = await import("../components/trustedSources");
  const { remoteSteps } = await import("../components/hostDelivery");

  let run: Awaited<ReturnType<typeof runProgram>>;
  try {
    run = await runProgram({ stack: args.stack, region: config.region, vpcCidr: config.vpcCidr, stackOutputs }, () => {
      pulumi.runtime.setAllConfig(stackConfig.raw, [...stackConfig.secretKeys]);
      // index.ts is the program `pulumi up` runs; loading it here plans exactly that.
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      return require("../index") as Record<string, unknown>;
    });
  } catch (err) {
    fail(1, [`plan: the program failed under mocks: ${(err as Error).message ?? String(err)}`]);
  }

  const outDir = path.join(ROOT, "out", "plan", args.stack);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(path.join(outDir, "user-data"), { recursive: true });
  mkdirSync(path.join(outDir, "commands"), { recursive: true });

  const custom = run.resources.filter((r) => !r.type.startsWith("dbtier:"));
  const resourcesJson = run.resources.map(recordResource);
  writeFileSync(path.join(outDir, "resources.json"), `${JSON.stringify(resourcesJson, null, 2)}\n`);
  const outputsJson = Object.fromEntries(Object.entries(run.outputs).map(([k, o]) => [k, o.secret ? REDACTED : o.value]));
  writeFileSync(path.join(outDir, "outputs.json"), `${JSON.stringify(outputsJson, null, 2)}\n`);

  // Hosts, their user-data and their commands.
  const byName = new Map(run.resources.map((r) => [r.name, r]));
  const hostSummaries = (run.outputs.hosts?.value ?? []) as { name: string; role: "database" | "proxy"; publicIp: string; privateIp: string; hostPublicKey: string; commands: string[] }[];
  const hostsJson = hostSummaries.map((host) => {
    const vm = byName.get(vmResourceName(host.name));
    if (!vm) throw new Error(`plan: no VM resource for host ${host.name}`);
    const userData = userDataOf(vm) ?? "";
    const userDataFile = `user-data/${host.name}.yaml`;
    writeFileSync(path.join(outDir, userDataFile), userData);
    const steps = new Map(remoteSteps(config, host.role).map((s) => [`${host.name}-${s.step}`, s]));
    const commands = host.commands.map((name) => {
      const cmd = byName.get(name);
      if (!cmd) throw new Error(`plan: no command resource ${name}`);
      const script = `commands/${name}.sh`;
      writeFileSync(path.join(outDir, script), String(reveal(cmd.inputs.create)), { mode: 0o755 });
      let stdin = "none";
      if (cmd.inputs.stdin !== undefined) {
        if (redact(cmd.inputs.stdin) === REDACTED) {
          stdin = "secret";
        } else {
          stdin = `commands/${name}.stdin`;
          writeFileSync(path.join(outDir, stdin), String(cmd.inputs.stdin));
        }
      }
      const step = steps.get(name);
      return { name, script, stdin, description: step?.description ?? "", rerunOn: step?.rerunOn ?? "own-input" };
    });
    return { name: host.name, role: host.role, publicIp: host.publicIp, privateIp: host.privateIp, hostPublicKey: host.hostPublicKey, userData: userDataFile, commands };
  });
  writeFileSync(path.join(outDir, "hosts.json"), `${JSON.stringify(hostsJson, null, 2)}\n`);

  // What a person reads.
  const out: string[] = [];
  out.push(`dbtier plan: stack ${args.stack} (${config.cloud} ${config.region}, ${config.mode}, ${config.engine} ${config.engineVersion})`, "");
  out.push(`Resources (${custom.length}):`);
  out.push(table([["TYPE", "NAME", "PROTECT"], ...custom.map((r) => [r.type, r.name, r.protect ? "yes" : ""])]).replace(/^/gm, "  "), "");
  out.push("Trusted sources:");
  const rows = trustedSourceTable(config);
  for (const target of [...new Set(rows.map((r) => r.target))]) {
    out.push(`  ${target}:`);
    out.push(table([["PORT", "SOURCE", "NAME"], ...rows.filter((r) => r.target === target).map((r) => [String(r.port), r.source, r.name])]).replace(/^/gm, "    "));
  }
  out.push("  everything else: dropped", "");
  if (config.restoreFrom) {
    const managed = custom.find((r) => /databaseCluster:DatabaseCluster$|databaseMysqlV2:|databasePostgresqlV2:/.test(r.type) || (r.type === "aws:rds/instance:Instance" && !r.inputs.replicateSourceDb));
    const inputs = managed ? (reveal(managed.inputs) as Record<string, unknown>) : {};
    const restoreInputs = Object.fromEntries(["backupRestore", "forkSource", "forkRestoreTime", "restoreToPointInTime"].filter((k) => inputs[k] !== undefined).map((k) => [k, inputs[k]]));
    out.push(`Restores from: ${config.restoreFrom.source} at ${config.restoreFrom.time} (provider point-in-time restore, at creation only)`);
    out.push(`  ${managed?.name ?? "?"}: ${JSON.stringify(restoreInputs)}`, "");
  }
  if (parsed.config.webserversFrom) {
    const { stack: referenced, output } = parsed.config.webserversFrom;
    out.push(`Reads: stack ${referenced}, output ${output} (${config.webservers.length - parsed.config.webservers.length} webserver(s) beside dbtier:webservers)`, "");
  }
  const protectedResources = custom.filter((r) => r.protect);
  out.push(`Protections (protect=${config.protect}):`);
  if (protectedResources.length === 0) out.push("  none (set dbtier:protect true to protect stateful resources)");
  for (const r of protectedResources) out.push(`  protected: ${r.name} (${r.type})`);
  const rds = custom.filter((r) => r.type === "aws:rds/instance:Instance" && !r.inputs.replicateSourceDb);
  for (const r of rds) {
    out.push(`  ${r.name}: storageEncrypted=${String(r.inputs.storageEncrypted)} deletionProtection=${String(r.inputs.deletionProtection)} finalSnapshot=${String(reveal(r.inputs.finalSnapshotIdentifier))} backupRetention=${String(r.inputs.backupRetentionPeriod)}d`);
  }
  out.push("");
  out.push("Outputs:");
  for (const [key, value] of Object.entries(outputsJson)) {
    if (key === "trustedSources" || key === "hosts") continue;
    const text = typeof value === "string" && !value.includes("\n") ? value : JSON.stringify(value);
    out.push(`  ${key}: ${text.length > 100 ? `${text.slice(0, 97)}...` : text}`);
  }
  out.push("");
  if (previous && args.against) {
    const { diffPlans, renderDiff } = await import("./plan/diff");
    const vmRoles = Object.fromEntries(hostsJson.map((h) => [vmResourceName(h.name), h.role]));
    const diff = diffPlans(previous, { resources: resourcesJson, vmRoles, hasSecretDigests: true });
    writeFileSync(path.join(outDir, "diff.json"), `${JSON.stringify({ against: args.against, ...diff }, null, 2)}\n`);
    out.push(...renderDiff(diff, path.relative(process.cwd(), args.against) || args.against), "");
  }
  out.push(`Wrote ${path.relative(process.cwd(), outDir) || outDir}/: resources.json, outputs.json, hosts.json, user-data/ (${hostsJson.length}), commands/ (${hostsJson.reduce((n, h) => n + h.commands.length, 0)})${previous ? ", diff.json" : ""}`);
  if (hostsJson.length > 0) out.push("Note: the remote commands connect over SSH to the VMs' public addresses, which admit SSH only from dbtier:adminCidrs: run `pulumi up` from an admin range.");
  process.stdout.write(`${out.join("\n")}\n`);
}

main().catch((err: unknown) => fail(1, [`plan: ${(err as Error)?.message ?? String(err)}`]));
