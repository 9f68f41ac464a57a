// Every decision `npm run promote` takes, as pure functions: arguments, config checks, what the preview
// means, which host to reach, whether prod's data may be replaced, what the plan says. run.ts only calls
// these in order and does what they return; the tests call them directly.
import { formatProblems, parseConfig } from "../../components/config";
import { ADMIN_USER } from "../../components/hostDelivery";
import { DbTierConfig, Engine } from "../../components/types";
import { MANAGED_DATABASE_TYPES } from "../../policy/rules";
import { factsFor, replaceFactFor } from "../plan/replaceFacts";
import { ConfigMap, OutputMap, PreviewResult, SshTarget } from "./ports";

export const EXIT = { ok: 0, failed: 1, usage: 2, refused: 3, noCli: 4 } as const;

/** The period the promotion backup is taken in (`dbtier-db backup daily`). */
export const PROMOTION_PERIOD = "daily";
export const BACKUP_ID = /^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$/;

// ---------------------------------------------------------------------------------------------------------
// Arguments

export interface PromoteOptions {
  readonly from: string;
  readonly to: string;
  readonly yes: boolean;
  readonly overwrite: boolean;
  /** The safe path: the target is a new stack beside the one it replaces (docs/delivery.md). */
  readonly newStack: boolean;
  /** age identity file (private key) that decrypts the backups; DBTIER_AGE_IDENTITY_FILE otherwise. */
  readonly identityFile?: string;
  /** SSH private key for the admin user; ssh's defaults (agent, ~/.ssh) otherwise. */
  readonly sshKeyFile?: string;
}

export const USAGE = [
  "usage: npm run promote -- --from <stack> --to <stack> [--yes] [--overwrite] [--new-stack] [--identity FILE] [--ssh-key FILE]",
  "",
  "  --from, --to   stacks, e.g. dev and prod (org/dev for an organisation's stack)",
  "  --yes          do not ask for confirmation (required without a terminal)",
  "  --overwrite    replace the target's database even if it holds data (a safety backup of it is taken first)",
  "  --new-stack    the safe path for a change that replaces the database: the target is a new stack (e.g. prod-next)",
  "                 beside the old one; refused if it is deployed already or its preview would change anything but create",
  "  --identity     age identity that decrypts the backups (default: $DBTIER_AGE_IDENTITY_FILE)",
  "  --ssh-key      private key of the stacks' dbtier:adminSshPublicKey (default: ssh-agent / ~/.ssh)",
  "",
  "exit status: 0 promoted, 1 a step failed, 2 usage or configuration error, 3 refused, 4 Pulumi CLI missing",
];

export type ArgsResult = { ok: true; options: PromoteOptions } | { ok: false; help: boolean; message: string };

export function parseArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): ArgsResult {
  const values: Record<string, string> = {};
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") return { ok: false, help: true, message: USAGE.join("\n") };
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (name === "--yes" || name === "--overwrite" || name === "--new-stack") {
      if (eq > 0) return { ok: false, help: false, message: `${name} takes no value` };
      flags.add(name);
    } else if (["--from", "--to", "--identity", "--ssh-key"].includes(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined || value === "" || value.startsWith("--")) return { ok: false, help: false, message: `${name} needs a value` };
      if (values[name] !== undefined) return { ok: false, help: false, message: `${name} given twice` };
      values[name] = value;
    } else {
      return { ok: false, help: false, message: `unknown argument ${JSON.stringify(arg)}` };
    }
  }
  for (const required of ["--from", "--to"]) {
    if (values[required] === undefined) return { ok: false, help: false, message: `${required} is required` };
  }
  if (stackShortName(values["--from"]) === stackShortName(values["--to"])) {
    return { ok: false, help: false, message: `--from and --to name the same stack (${values["--to"]})` };
  }
  const identityFile = values["--identity"] ?? (env.DBTIER_AGE_IDENTITY_FILE || undefined);
  return {
    ok: true,
    options: {
      from: values["--from"],
      to: values["--to"],
      yes: flags.has("--yes"),
      overwrite: flags.has("--overwrite"),
      newStack: flags.has("--new-stack"),
      ...(identityFile ? { identityFile } : {}),
      ...(values["--ssh-key"] ? { sshKeyFile: values["--ssh-key"] } : {}),
    },
  };
}

/** `acme/dev` -> `dev`: the name Pulumi.<stack>.yaml and parseConfig use. */
export function stackShortName(stack: string): string {
  return stack.split("/").pop() ?? stack;
}

// ---------------------------------------------------------------------------------------------------------
// The Pulumi CLI

export function missingCliMessage(reason: string, sdkVersion: string): string[] {
  return [
    "promote: the Pulumi CLI (`pulumi`) is required and was not found or is unusable:",
    `  ${reason.split("\n")[0]}`,
    "",
    `Install Pulumi CLI ${sdkVersion} (the version of @pulumi/pulumi in package.json), then log in and re-run:`,
    `  - release archive: https://github.com/pulumi/pulumi/releases/tag/v${sdkVersion} (check its SHA256 against the release's checksums file), unpack, put pulumi/ on PATH`,
    "  - or Homebrew: brew install pulumi/tap/pulumi",
    `  - or the official installer: https://www.pulumi.com/docs/iac/download-install/ (--version ${sdkVersion})`,
    "  then: pulumi login && npm run promote -- --from dev --to prod",
  ];
}

// ---------------------------------------------------------------------------------------------------------
// Config

/** The flat map parseConfig takes, from what the Automation API returns. */
export function rawConfig(map: ConfigMap): { raw: Record<string, string>; isSecret: (key: string) => boolean } {
  const raw: Record<string, string> = {};
  const secrets = new Set<string>();
  for (const [key, entry] of Object.entries(map)) {
    raw[key] = entry.value;
    if (entry.secret) secrets.add(key);
  }
  return { raw, isSecret: (key) => secrets.has(key) };
}

export type StackConfigResult = { ok: true; config: DbTierConfig } | { ok: false; lines: string[] };

export function validateStackConfig(stack: string, map: ConfigMap): StackConfigResult {
  const { raw, isSecret } = rawConfig(map);
  const parsed = parseConfig(raw, stackShortName(stack), isSecret);
  if (parsed.ok) return { ok: true, config: parsed.config };
  return { ok: false, lines: formatProblems(parsed.problems).map((line) => `${stack}: ${line}`) };
}

const engineFamily = (engine: Engine): "mysql" | "postgres" => (engine === "postgres" ? "postgres" : "mysql");

/** Can `to` take `from`'s backup, and can promote reach both hosts? Every problem at once. */
export function pairProblems(from: DbTierConfig, to: DbTierConfig): string[] {
  const problems: string[] = [];
  if (engineFamily(from.engine) !== engineFamily(to.engine)) {
    problems.push(`dbtier:engine: ${from.stack} runs ${from.engine} and ${to.stack} runs ${to.engine}; a dump of one cannot be restored into the other`);
  }
  const fd = from.backups.datastore;
  const td = to.backups.datastore;
  if (fd.endpoint !== td.endpoint || fd.bucket !== td.bucket) {
    problems.push(
      `dbtier:backups.datastore: ${to.stack}'s proxy loads the baseline from ${to.stack}'s datastore, so it must be ${from.stack}'s ` +
        `(${fd.endpoint} bucket ${fd.bucket}); ${to.stack} has ${td.endpoint} bucket ${td.bucket}`,
    );
  }
  for (const c of [from, to]) {
    if (!c.adminSshPublicKey) {
      problems.push(`dbtier:adminSshPublicKey is not set on ${c.stack}: promote logs in to its VM as ${ADMIN_USER} with your key (--ssh-key or ssh-agent)`);
    }
  }
  return problems;
}

/** The safe path's own rule: the new stack backs up under its own prefix, or the two prune each other's backups. */
export function newStackProblems(from: DbTierConfig, to: DbTierConfig): string[] {
  if (from.appDb.application !== to.appDb.application) return [];
  return [`dbtier:appDb.application: --new-stack: ${to.stack} must back up under its own prefix, not ${from.stack}'s ${JSON.stringify(from.appDb.application)} (e.g. ${JSON.stringify(`${to.appDb.application}-next`)})`];
}

/** Warnings that do not stop the promotion but belong in the plan. */
export function pairWarnings(from: DbTierConfig, to: DbTierConfig): string[] {
  const warnings: string[] = [];
  if (from.engine !== to.engine) {
    warnings.push(`${from.stack} runs ${from.engine} ${from.engineVersion} and ${to.stack} runs ${to.engine} ${to.engineVersion}: the dump crosses engines; check the application on ${to.stack} after the promotion`);
  } else if (from.engineVersion !== to.engineVersion) {
    warnings.push(`${from.stack} runs ${from.engine} ${from.engineVersion} and ${to.stack} ${to.engineVersion}: the dump crosses versions`);
  }
  if (from.appDb.application === to.appDb.application) {
    warnings.push(`${from.stack} and ${to.stack} back up under the same prefix ${JSON.stringify(to.appDb.application)}: each one's retention prunes the other's backups; give them their own dbtier:appDb.application`);
  }
  return warnings;
}

export interface ConfigChange {
  readonly key: string;
  readonly value: string;
  readonly previous: string | undefined;
}

/**
 * The config change that marks the promotion baseline on the target: `dbtier:appDb.source` becomes the
 * backup's period, `dbtier:appDb.sourceApplication` the source's prefix and `sourceSigningPublicKey` the source
 * stack's backup signing key (its `backupSigningPublicKey` output), so the target's proxy loads
 * the newest verified backup of that period from the source's datastore prefix: the baseline just taken.
 * Only the fields that differ; checked with parseConfig before anything is written.
 */
export function baselineConfigChanges(stack: string, map: ConfigMap, period: string, sourceApplication: string, sourceSigningPublicKey: string): { changes: ConfigChange[] } | { error: string[] } {
  const { raw, isSecret } = rawConfig(map);
  let appDb: Record<string, unknown> = {};
  if (raw["dbtier:appDb"] !== undefined) {
    try {
      appDb = JSON.parse(raw["dbtier:appDb"]) as Record<string, unknown>;
    } catch {
      return { error: [`${stack}: dbtier:appDb is not a JSON object`] };
    }
  }
  // The target pins the source stack's backup signing key: it loads nothing under that prefix without it.
  const wanted: Record<string, string> = { source: period, sourceApplication, sourceSigningPublicKey };
  const changes: ConfigChange[] = Object.entries(wanted)
    .filter(([field, value]) => appDb[field] !== value)
    .map(([field, value]) => ({ key: `dbtier:appDb.${field}`, value, previous: typeof appDb[field] === "string" ? (appDb[field] as string) : undefined }));
  const next = parseConfig({ ...raw, "dbtier:appDb": JSON.stringify({ ...appDb, ...wanted }) }, stackShortName(stack), isSecret);
  if (!next.ok) return { error: formatProblems(next.problems).map((line) => `${stack} with the baseline marked: ${line}`) };
  return { changes };
}

// ---------------------------------------------------------------------------------------------------------
// The preview

/** Operations that destroy the resource that exists now. */
export const DESTRUCTIVE_OPS: readonly string[] = ["delete", "replace", "create-replacement", "delete-replaced", "import-replacement"];

export interface BlockingChange {
  readonly urn: string;
  readonly type: string;
  readonly op: string;
  readonly why: string;
}

const resourceName = (urn: string): string => urn.split("::").pop() ?? urn;

/** The database VMs' resource names, from a stack's `hosts` output (the proxy holds no data). */
export function databaseVmNames(outputs: OutputMap): string[] {
  const hosts = outputs.hosts?.value;
  if (!Array.isArray(hosts)) return [];
  return (hosts as HostSummaryOutput[]).filter((h) => h.role === "database" && typeof h.name === "string").map((h) => `${String(h.name)}-vm`);
}

/** What a resource of this type and name holds that a replacement or deletion loses (scripts/plan/replaceFacts.ts). */
export function statefulWhat(type: string, name: string, databaseVms: readonly string[]): string | undefined {
  const stateful = factsFor(type)?.stateful;
  if (stateful?.kind === "data") return stateful.what;
  if (stateful?.kind === "database-vm" && databaseVms.includes(name)) return "the self-managed database VM";
  return MANAGED_DATABASE_TYPES.includes(type) ? "a managed database" : undefined;
}

/**
 * What in a preview forbids the promotion: a protected resource, or a stateful one (a managed database, the
 * application database in it, a replica, a volume, the self-managed database VM; protected or not), that
 * would be deleted or replaced. The engine itself fails a preview that would delete a protected resource;
 * that failure is a refusal too, not an error to retry.
 */
export function blockingChanges(preview: PreviewResult, databaseVms: readonly string[] = []): BlockingChange[] {
  const blocking: BlockingChange[] = [];
  const seen = new Set<string>();
  for (const step of preview.steps) {
    if (!DESTRUCTIVE_OPS.includes(step.op)) continue;
    const stateful = statefulWhat(step.type, resourceName(step.urn), databaseVms);
    if (!step.protect && !stateful) continue;
    if (seen.has(step.urn)) continue;
    seen.add(step.urn);
    const reason = step.replaceKeys.length > 0 ? ` because of ${step.replaceKeys.join(", ")}` : "";
    const facts = step.replaceKeys.map((key) => replaceFactFor(step.type, key)).filter((f): f is string => f !== undefined);
    const what = [step.protect ? "protected" : "", stateful ?? ""].filter(Boolean).join(", ");
    blocking.push({ urn: step.urn, type: step.type, op: step.op, why: `${what}; ${step.op}${reason}${facts.length > 0 ? ` (${[...new Set(facts)].join("; ")})` : ""}` });
  }
  const failure = [preview.error ?? "", ...preview.diagnostics].find((text) => /protect/i.test(text) && /(delete|replace)/i.test(text));
  if (failure && blocking.length === 0) {
    blocking.push({ urn: "", type: "", op: "delete", why: `the engine refused: ${failure.split("\n").find((l) => /protect/i.test(l))?.trim() ?? failure}` });
  }
  return blocking;
}

/** On the safe path the target is new: its preview may only create. */
export function newStackChanges(preview: PreviewResult): string[] {
  return preview.steps
    .filter((step) => !["create", "same", "read"].includes(step.op) && step.type !== "pulumi:pulumi:Stack")
    .map((step) => `${step.op} ${resourceName(step.urn)} (${step.type})`);
}

const ENGINE_VERSION_KEYS = ["version", "engineVersion", "engineId", "engine"];

/** The plan's lines for a preview: each change, and whether an engine version change upgrades in place or replaces. */
export function describePreview(preview: PreviewResult): string[] {
  const lines: string[] = [];
  for (const step of preview.steps) {
    if (step.op === "same" || step.op === "read" || step.type === "pulumi:pulumi:Stack") continue;
    // A replacement appears as replace + create-replacement + delete-replaced: describe it once.
    if (step.op === "create-replacement" || step.op === "delete-replaced") continue;
    const keys = step.op === "replace" ? step.replaceKeys : step.diffKeys;
    const name = `${resourceName(step.urn)} (${step.type})`;
    lines.push(`  ${step.op.padEnd(7)} ${name}${keys.length ? ` [${keys.join(", ")}]` : ""}`);
    const versionKeys = keys.filter((k) => ENGINE_VERSION_KEYS.includes(k.split(".")[0]));
    if (versionKeys.length > 0) {
      lines.push(
        step.op === "update"
          ? `          engine version change: the provider upgrades ${resourceName(step.urn)} in place (${versionKeys.join(", ")})`
          : `          engine version change: the provider REPLACES ${resourceName(step.urn)} with a new, empty cluster; follow the safe path in docs/delivery.md`,
      );
    }
  }
  if (lines.length === 0) lines.push("  no infrastructure changes");
  return lines;
}

// ---------------------------------------------------------------------------------------------------------
// Hosts

interface HostSummaryOutput {
  name?: unknown;
  role?: unknown;
  publicIp?: unknown;
  hostPublicKey?: unknown;
}

/**
 * The VM promote talks to, from the stack's `hosts` output: the database VM of a self-managed stack, the
 * proxy of a managed one. Undefined when the stack is not deployed (no such output yet).
 */
export function sshTarget(stack: string, config: DbTierConfig, outputs: OutputMap): SshTarget | undefined {
  const hosts = outputs.hosts?.value;
  if (!Array.isArray(hosts)) return undefined;
  const role = config.mode === "managed" ? "proxy" : "database";
  const host = (hosts as HostSummaryOutput[]).find((h) => h.role === role);
  if (!host || typeof host.publicIp !== "string" || typeof host.hostPublicKey !== "string" || host.publicIp === "") return undefined;
  if (!/^ssh-ed25519 [A-Za-z0-9+/]+=*( .*)?$/.test(host.hostPublicKey)) return undefined;
  return { stack, role, host: host.publicIp, user: ADMIN_USER, hostPublicKey: host.hostPublicKey, label: `${stack} ${role} ${String(host.name ?? "")}`.trim() };
}

/** The `KEY=value` line a remote command prints on stdout. */
export function remoteValue(stdout: string, key: string): string | undefined {
  const line = stdout.split("\n").map((l) => l.trim()).reverse().find((l) => l.startsWith(`${key}=`));
  return line?.slice(key.length + 1);
}

export function parseBackupRef(stdout: string): { period: string; id: string } | undefined {
  const value = remoteValue(stdout, "DBTIER_BACKUP");
  const match = value ? /^(hourly|daily|weekly|monthly)\/(.+)$/.exec(value) : null;
  if (!match || !BACKUP_ID.test(match[2])) return undefined;
  return { period: match[1], id: match[2] };
}

/** `DBTIER_LOADED=<period>/<id>`: what the target's load-app-db actually loaded. */
export function parseLoadedRef(stdout: string): { period: string; id: string } | undefined {
  return parseBackupRef(stdout.replace(/^DBTIER_LOADED=/m, "DBTIER_BACKUP="));
}

// ---------------------------------------------------------------------------------------------------------
// The target's data

export type TargetData =
  | { readonly kind: "absent"; readonly why: string }
  | { readonly kind: "empty" }
  | { readonly kind: "has-data"; readonly objects: number }
  | { readonly kind: "unknown"; readonly why: string };

export function interpretProbe(result: { code: number; stdout: string; stderr: string }): TargetData {
  const value = remoteValue(result.stdout, "DBTIER_OBJECTS");
  if (result.code === 0 && value !== undefined && /^\d+$/.test(value)) {
    const objects = Number(value);
    return objects === 0 ? { kind: "empty" } : { kind: "has-data", objects };
  }
  const why = (result.stderr.trim().split("\n").pop() ?? "") || `exit status ${result.code}`;
  return { kind: "unknown", why };
}

export type DataDecision = { proceed: true; note: string } | { proceed: false; message: string };

/** Never replace data that exists (or may exist) unless --overwrite says so. */
export function dataDecision(stack: string, data: TargetData, overwrite: boolean): DataDecision {
  switch (data.kind) {
    case "absent":
      return { proceed: true, note: `${stack} has no database yet (${data.why}): the baseline becomes its first data` };
    case "empty":
      return { proceed: true, note: `${stack}'s database is empty: the baseline becomes its first data` };
    case "has-data":
      return overwrite
        ? { proceed: true, note: `--overwrite: ${stack}'s database (${data.objects} tables/views/routines) is replaced after a safety backup` }
        : { proceed: false, message: `refused: ${stack}'s database holds data (${data.objects} tables/views/routines); re-run with --overwrite to replace it (a safety backup is taken first)` };
    case "unknown":
      return overwrite
        ? { proceed: true, note: `--overwrite: could not tell whether ${stack}'s database holds data (${data.why}); it is replaced after a safety backup` }
        : { proceed: false, message: `refused: could not tell whether ${stack}'s database holds data (${data.why}); fix access or re-run with --overwrite` };
  }
}

// ---------------------------------------------------------------------------------------------------------
// The plan

export interface PlanInput {
  readonly options: PromoteOptions;
  readonly from: DbTierConfig;
  readonly to: DbTierConfig;
  readonly fromTarget: SshTarget;
  readonly toTarget?: SshTarget;
  readonly preview: PreviewResult;
  readonly data: TargetData;
  readonly decision: DataDecision & { proceed: true };
  readonly configChanges: readonly ConfigChange[];
  readonly warnings: readonly string[];
}

export function renderPlan(p: PlanInput): string[] {
  const { from, to } = p;
  const store = `s3://${from.backups.datastore.bucket}/${from.appDb.application}/${PROMOTION_PERIOD}/`;
  const host = to.mode === "managed" ? "proxy" : "database VM";
  const replacing = p.data.kind === "has-data" || p.data.kind === "unknown";
  const lines = [
    `Promotion plan: ${p.options.from} -> ${p.options.to}`,
    `  1. back up ${from.stack} (${from.engine} ${from.engineVersion}) on ${p.fromTarget.host}: dbtier-db backup ${PROMOTION_PERIOD} -> ${store}<new id>`,
    `  2. verify that backup on ${p.fromTarget.host}: restore into a scratch database and compare with its manifest`,
  ];
  if (!p.toTarget) lines.push(`  -. ${to.stack} is not deployed yet: pulumi up ${p.options.to} with its current config first (creates the ${host} and an empty database)`);
  lines.push(
    p.configChanges.length > 0
      ? `  3. mark the backup as ${to.stack}'s baseline: ${p.configChanges.map((c) => `${c.key} ${c.previous ?? "(unset)"} -> ${c.value}`).join(", ")}`
      : `  3. mark the backup as ${to.stack}'s baseline: ${to.stack} already loads ${PROMOTION_PERIOD} backups of ${from.appDb.application}; the update message names the backup`,
    `  4. pulumi up ${p.options.to} (${to.cloud} ${to.mode} ${to.engine} ${to.engineVersion}) with the policy pack:`,
    ...describePreview(p.preview).map((line) => `     ${line}`),
  );
  if (replacing) lines.push(`  5. safety backup of ${to.stack}'s current database on its ${host}: dbtier-db backup ${PROMOTION_PERIOD}`);
  lines.push(
    `  ${replacing ? 6 : 5}. ${to.stack}'s ${host}${p.toTarget ? ` ${p.toTarget.host}` : ""} loads the baseline: dbtier-db load-app-db${replacing ? " --force" : ""} (checked against the backup's manifest)`,
    `  ${p.decision.note}`,
    ...p.warnings.map((w) => `  warning: ${w}`),
  );
  return lines;
}
