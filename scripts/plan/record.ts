// What a plan records about each resource (out/plan/<stack>/resources.json), and reading it back for a diff.
// Secrets stay "[secret]" in `inputs`; `secretDigests` holds a short sha256 per secret input path, so a diff
// sees that user-data or a key changed without showing it. In a plan every secret is a mock value or the
// "[secret]" placeholder of a `secure:` config value, never a real one.
import { createHash } from "crypto";
import { existsSync, readFileSync } from "fs";
import * as path from "path";
import { REDACTED, isSecretWrapper, redact, reveal } from "./mocks";
import { joinPath } from "./paths";
import type { PlanRun, PlannedResource } from "./run";

export type HostRole = "database" | "proxy";

/** The resource options a diff must honour, as the program registered them. */
export interface RecordedOptions {
  readonly ignoreChanges: readonly string[];
  readonly replaceOnChanges: readonly string[];
  readonly deleteBeforeReplace: boolean;
  readonly retainOnDelete: boolean;
  /** Names of resources whose replacement replaces this one (`replaceWith`). */
  readonly replaceWith: readonly string[];
}

export const NO_OPTIONS: RecordedOptions = { ignoreChanges: [], replaceOnChanges: [], deleteBeforeReplace: false, retainOnDelete: false, replaceWith: [] };

export interface ResourceRecord {
  readonly type: string;
  readonly name: string;
  readonly protect: boolean;
  /** Inputs as the provider receives them, every secret "[secret]". Component resources: {}. */
  readonly inputs: Record<string, unknown>;
  readonly options: RecordedOptions;
  /** Per input, the resources its value comes from. */
  readonly inputDependencies: Readonly<Record<string, readonly string[]>>;
  /** Per secret input path (`userData`, `metadatas[0].userData`), `sha256:<16 hex>` of its value. */
  readonly secretDigests: Readonly<Record<string, string>>;
}

export interface PlanRecord {
  readonly resources: readonly ResourceRecord[];
  /** VM resource name -> the role of its host (the database VM holds data, the proxy does not). */
  readonly vmRoles: Readonly<Record<string, HostRole>>;
  /** False for a plan written before secret digests were recorded: secret changes are invisible then. */
  readonly hasSecretDigests: boolean;
}

const shortDigest = (value: unknown): string => `sha256:${createHash("sha256").update(JSON.stringify(reveal(value)) ?? "undefined").digest("hex").slice(0, 16)}`;

/** The path and digest of every secret in `inputs` (at any depth). */
export function secretDigests(inputs: Record<string, unknown>): Record<string, string> {
  const digests: Record<string, string> = {};
  const walk = (value: unknown, at: string): void => {
    if (isSecretWrapper(value)) {
      digests[at] = shortDigest(value.value);
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, joinPath(at, i)));
    } else if (typeof value === "object" && value !== null) {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) walk(v, joinPath(at, k));
    }
  };
  walk(inputs, "");
  return digests;
}

/**
 * Inputs with secrets replaced by "[secret]". A remote command's `connection` arrives as one secret (its
 * private key makes the whole object secret on the wire); show its public parts and hide only the key.
 */
export function displayInputs(r: { type: string; inputs: Record<string, unknown> }): Record<string, unknown> {
  const shown = redact(r.inputs) as Record<string, unknown>;
  if (r.type === "command:remote:Command" && r.inputs.connection !== undefined) {
    const connection = reveal(r.inputs.connection) as Record<string, unknown>;
    shown.connection = Object.fromEntries(Object.entries(connection).map(([k, v]) => [k, k === "privateKey" || k === "password" || k === "privateKeyPassword" ? REDACTED : v]));
  }
  return shown;
}

const isComponent = (type: string): boolean => type.startsWith("dbtier:");

export function recordResource(r: PlannedResource): ResourceRecord {
  const component = isComponent(r.type);
  return {
    type: r.type,
    name: r.name,
    protect: r.protect,
    inputs: component ? {} : displayInputs(r),
    options: r.options,
    inputDependencies: r.inputDependencies,
    secretDigests: component ? {} : secretDigests(r.inputs),
  };
}

interface HostSummary {
  readonly name: string;
  readonly role: HostRole;
}

export const vmResourceName = (host: string): string => `${host}-vm`;

const rolesOf = (hosts: readonly HostSummary[]): Record<string, HostRole> => Object.fromEntries(hosts.map((h) => [vmResourceName(h.name), h.role]));

/** The record of a run in this process (the unit tests diff runs without writing files). */
export function planRecordOf(run: PlanRun): PlanRecord {
  const hosts = (run.outputs.hosts?.value ?? []) as HostSummary[];
  return { resources: run.resources.map(recordResource), vmRoles: rolesOf(hosts), hasSecretDigests: true };
}

/** A plan directory `npm run plan` wrote (resources.json, hosts.json), or why it cannot be read. */
export function readPlanDir(dir: string): PlanRecord | { error: string } {
  const resourcesFile = path.join(dir, "resources.json");
  if (!existsSync(resourcesFile)) return { error: `${dir} has no resources.json: give a directory \`npm run plan\` wrote (a copy of out/plan/<stack>/)` };
  let raw: unknown;
  let hosts: unknown = [];
  try {
    raw = JSON.parse(readFileSync(resourcesFile, "utf8"));
    const hostsFile = path.join(dir, "hosts.json");
    if (existsSync(hostsFile)) hosts = JSON.parse(readFileSync(hostsFile, "utf8"));
  } catch (err) {
    return { error: `${dir}: ${(err as Error).message}` };
  }
  if (!Array.isArray(raw) || raw.some((r) => typeof r !== "object" || r === null || typeof r.type !== "string" || typeof r.name !== "string")) {
    return { error: `${resourcesFile} is not a list of {type, name, inputs} resources` };
  }
  const entries = raw as Partial<ResourceRecord>[];
  const resources: ResourceRecord[] = entries.map((r) => ({
    type: r.type as string,
    name: r.name as string,
    protect: r.protect === true,
    inputs: (r.inputs ?? {}) as Record<string, unknown>,
    options: { ...NO_OPTIONS, ...(r.options ?? {}) },
    inputDependencies: r.inputDependencies ?? {},
    secretDigests: r.secretDigests ?? {},
  }));
  const hasSecretDigests = entries.every((r) => isComponent(String(r.type)) || r.secretDigests !== undefined);
  return { resources, vmRoles: rolesOf(Array.isArray(hosts) ? (hosts as HostSummary[]) : []), hasSecretDigests };
}
