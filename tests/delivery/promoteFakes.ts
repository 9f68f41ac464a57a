// Fakes of promote's ports: an Automation API over in-memory stacks, a remote host that answers like
// scripts/promote/remote.sh, a terminal that records. Every call lands in one ordered journal, so tests
// can assert the order of operations and that refusals changed nothing.
import * as path from "path";
import { parseConfig, formatProblems } from "../../components/config";
import { loadStackConfig } from "../../components/stackConfig";
import { buildStack } from "../../components/tier";
import { diffPlans } from "../../scripts/plan/diff";
import { PlanRecord, planRecordOf } from "../../scripts/plan/record";
import { runProgram } from "../../scripts/plan/run";
import { ed25519KeyPairFromSeed } from "../../components/sshKeys";
import { ConfigMap, Deps, OutputMap, PreviewResult, RemoteResult, SshTarget, StackPort, UpResult } from "../../scripts/promote/ports";

export const ROOT = path.resolve(__dirname, "../..");
export const IDENTITY = "# created: 2025-01-01\n# public key: age1...\nAGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQS3G4SVT\n";
export const ADMIN_KEY = ed25519KeyPairFromSeed(Buffer.alloc(32, 3), "admin").publicKey;
export const DEV_HOST_KEY = ed25519KeyPairFromSeed(Buffer.alloc(32, 4), "dev db host key").publicKey;
export const PROD_HOST_KEY = ed25519KeyPairFromSeed(Buffer.alloc(32, 5), "prod proxy host key").publicKey;
export const BACKUP_ID = "20250102T030405Z-a1b2c3";
export const SAFETY_ID = "20250102T030501Z-ffee00";

/** The example stacks' config as the Automation API would return it, plus the admin key promote needs. */
export function stackConfig(stack: "dev" | "prod", extra: Record<string, string> = {}): StackConfigMap {
  const { raw, secretKeys } = loadStackConfig(ROOT, stack);
  const map: Record<string, { value: string; secret: boolean }> = {};
  for (const [key, value] of Object.entries({ ...raw, "dbtier:adminSshPublicKey": ADMIN_KEY, ...extra })) {
    map[key] = { value, secret: secretKeys.includes(key) };
  }
  return map;
}

/** The source stack's backup signing public key (its `backupSigningPublicKey` output). */
export const DEV_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIED54XNP7MA79NmGoiOygiQHSzljzAi4jC5we6wWkUBU dbtier backup signing shop-dev";

export const hostsOutput = (role: "database" | "proxy", ip: string, hostKey: string): OutputMap => ({
  hosts: { value: [{ name: `${role}-vm`, role, publicIp: ip, privateIp: "10.42.0.5", hostPublicKey: hostKey, commands: [] }], secret: false },
  backupSigningPublicKey: { value: DEV_KEY, secret: false },
});

export type StackConfigMap = Record<string, { value: string; secret: boolean }>;

async function planOf(stack: string, map: StackConfigMap): Promise<PlanRecord> {
  const raw = Object.fromEntries(Object.entries(map).map(([k, v]) => [k, v.value]));
  const parsed = parseConfig(raw, stack, (key) => map[key]?.secret === true);
  if (!parsed.ok) throw new Error(formatProblems(parsed.problems).join("\n"));
  const config = parsed.config;
  return planRecordOf(await runProgram({ stack, region: config.region, vpcCidr: config.vpcCidr }, () => ({ ...buildStack(config) })));
}

/**
 * The preview `pulumi preview` would give for going from `before` (undefined: a stack not deployed yet) to
 * `after`, made from the offline plans of both configs (scripts/plan/diff.ts), as the engine's steps.
 */
export async function previewFromPlans(stack: string, before: StackConfigMap | undefined, after: StackConfigMap): Promise<PreviewResult> {
  const previous = before ? await planOf(stack, before) : { resources: [], vmRoles: {}, hasSecretDigests: true };
  const diff = diffPlans(previous, await planOf(stack, after));
  const topKeys = (paths: readonly string[]): string[] => [...new Set(paths.map((p) => p.split(/[.[]/)[0]))];
  return {
    steps: diff.changes.map((c) => ({
      op: c.op,
      urn: `urn:pulumi:${stack}::dbtier::${c.type}::${c.name}`,
      type: c.type,
      protect: c.protect,
      replaceKeys: c.op === "replace" ? topKeys(c.replaceReasons.map((r) => r.split(":")[0])) : [],
      diffKeys: topKeys(c.changes.map((x) => x.path)),
    })),
    diagnostics: [],
  };
}

export type Journal = string[];

export class FakeStack implements StackPort {
  /** Previews to return, in order; the last one repeats. */
  previews: PreviewResult[] = [{ steps: [], diagnostics: [] }];
  upResults: UpResult[] = [{ ok: true, summary: "succeeded {}" }];
  /** Outputs before the first up, and after each up. */
  outputsBefore: OutputMap = {};
  outputsAfterUp: OutputMap = {};
  private ups = 0;
  private previewCount = 0;

  constructor(readonly name: string, public config: Record<string, { value: string; secret: boolean }>, private readonly journal: Journal) {}

  async getAllConfig(): Promise<ConfigMap> {
    this.journal.push(`${this.name}: config`);
    return JSON.parse(JSON.stringify(this.config)) as ConfigMap;
  }
  async setConfig(key: string, value: string, path: boolean): Promise<void> {
    this.journal.push(`${this.name}: set ${key}=${value}${path ? " (path)" : ""}`);
    this.applyPath(key, value);
  }
  async removeConfig(key: string, path: boolean): Promise<void> {
    this.journal.push(`${this.name}: remove ${key}${path ? " (path)" : ""}`);
    this.applyPath(key, undefined);
  }
  async outputs(): Promise<OutputMap> {
    return this.ups > 0 ? this.outputsAfterUp : this.outputsBefore;
  }
  async preview(options: { policyPacks: readonly string[] }): Promise<PreviewResult> {
    this.journal.push(`${this.name}: preview [${options.policyPacks.join(",")}]`);
    const result = this.previews[Math.min(this.previewCount, this.previews.length - 1)];
    this.previewCount++;
    return result;
  }
  async up(options: { message: string; policyPacks: readonly string[] }): Promise<UpResult> {
    this.journal.push(`${this.name}: up [${options.policyPacks.join(",")}] "${options.message}"`);
    const result = this.upResults[Math.min(this.ups, this.upResults.length - 1)];
    this.ups++;
    return result;
  }

  /** `dbtier:appDb.source` with path=true edits the structured value, like the CLI does. */
  private applyPath(key: string, value: string | undefined): void {
    const [top, ...rest] = key.split(".");
    if (rest.length === 0) {
      if (value === undefined) delete this.config[top];
      else this.config[top] = { value, secret: false };
      return;
    }
    const object = this.config[top] ? (JSON.parse(this.config[top].value) as Record<string, unknown>) : {};
    if (value === undefined) delete object[rest.join(".")];
    else object[rest.join(".")] = value;
    this.config[top] = { value: JSON.stringify(object), secret: false };
  }
}

/** What each remote command answers: a function of the arguments, defaulting to success. */
export type RemoteScript = (target: SshTarget, args: readonly string[], stdin: string | undefined) => RemoteResult | undefined;

export const ok = (stdout: string): RemoteResult => ({ code: 0, stdout, stderr: "" });

export function defaultRemote(objects = 0): RemoteScript {
  return (_target, args) => {
    switch (args[0]) {
      case "probe":
        return ok(`DBTIER_OBJECTS=${objects}\n`);
      case "backup":
        return ok(`DBTIER_BACKUP=daily/${_target.stack === "dev" ? BACKUP_ID : SAFETY_ID}\n`);
      case "verify":
        return ok(`DBTIER_VERIFIED=${args[1]}\n`);
      case "load":
        return ok(`DBTIER_LOADED=daily/${args[1]}\n`);
      default:
        return { code: 1, stdout: "", stderr: `unknown ${args[0]}` };
    }
  };
}

export interface World {
  readonly journal: Journal;
  readonly dev: FakeStack;
  readonly prod: FakeStack;
  /** Further stacks by name (the safe path's prod-next). */
  readonly others: Map<string, FakeStack>;
  addStack(name: string, config: StackConfigMap): FakeStack;
  readonly out: string[];
  readonly err: string[];
  /** The stdin each remote call got (key material checks). */
  readonly stdins: (string | undefined)[];
  cli: { ok: true; version: string } | { ok: false; reason: string };
  remoteScript: RemoteScript;
  interactive: boolean;
  answer: boolean;
  identity: string | Error;
  deps(): Deps;
}

/** dev deployed (self-managed DB VM), prod deployed (proxy) with an empty database, unless changed. */
export function world(): World {
  const journal: Journal = [];
  const dev = new FakeStack("dev", stackConfig("dev"), journal);
  const prod = new FakeStack("prod", stackConfig("prod"), journal);
  dev.outputsBefore = hostsOutput("database", "203.0.113.20", DEV_HOST_KEY);
  prod.outputsBefore = hostsOutput("proxy", "203.0.113.30", PROD_HOST_KEY);
  prod.outputsAfterUp = prod.outputsBefore;
  const others = new Map<string, FakeStack>();
  const w: World = {
    journal,
    dev,
    prod,
    others,
    addStack(name, config) {
      const stack = new FakeStack(name, config, journal);
      others.set(name, stack);
      return stack;
    },
    out: [],
    err: [],
    stdins: [],
    cli: { ok: true, version: "3.248.0" },
    remoteScript: defaultRemote(0),
    interactive: false,
    answer: false,
    identity: IDENTITY,
    deps(): Deps {
      return {
        automation: {
          checkCli: async () => {
            journal.push("cli");
            return w.cli;
          },
          selectStack: async (name: string) => {
            journal.push(`select ${name}`);
            const other = others.get(name);
            if (other) return other;
            if (name.endsWith("dev")) return dev;
            if (name.endsWith("prod")) return prod;
            throw new Error(`no stack named '${name}' found`);
          },
        },
        remote: {
          run: async (target, args, stdin) => {
            journal.push(`ssh ${target.user}@${target.host} ${args.join(" ")}${stdin ? " <identity" : ""}`);
            w.stdins.push(stdin);
            return w.remoteScript(target, args, stdin) ?? defaultRemote(0)(target, args, stdin) as RemoteResult;
          },
        },
        terminal: {
          interactive: w.interactive,
          confirm: async (question: string) => {
            journal.push(`confirm: ${question}`);
            return w.answer;
          },
          info: (line: string) => w.out.push(line),
          error: (line: string) => w.err.push(line),
        },
        files: {
          readIdentity: (file: string) => {
            journal.push(`read identity ${file}`);
            if (w.identity instanceof Error) throw w.identity;
            return w.identity;
          },
          hasPolicyPack: () => true,
        },
        env: {},
        sdkVersion: "3.248.0",
      };
    },
  };
  return w;
}
