// Runs the dbtier program under Pulumi mocks and collects what `pulumi up` would create: every resource with
// its inputs, `protect` flag, resource options and input dependencies, and the stack outputs with their secret flags. Shared by `npm run plan`
// and the unit tests.
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import { PlanMocks, RecordedResource, StackOutputsByStack, createPlanMocks, reveal } from "./mocks";
import { NO_OPTIONS, RecordedOptions } from "./record";

export interface PlannedResource extends RecordedResource {
  readonly protect: boolean;
  readonly options: RecordedOptions;
  /** Per input, the names of the resources its value comes from (a replaced one makes the input unknown). */
  readonly inputDependencies: Readonly<Record<string, readonly string[]>>;
}

export interface PlannedOutput {
  readonly value: unknown;
  readonly secret: boolean;
}

export interface PlanRun {
  readonly resources: PlannedResource[];
  readonly outputs: Record<string, PlannedOutput>;
  readonly mocks: PlanMocks;
}

// The SDK helpers below are internal but stable across 3.x: the mock monitor, mock options and the RPC queue.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const settings = require("@pulumi/pulumi/runtime/settings") as {
  setMockOptions(monitor: unknown, project?: string, stack?: string, preview?: boolean): void;
  waitForRPCs(): Promise<void>;
};
// eslint-disable-next-line @typescript-eslint/no-var-requires
const state = require("@pulumi/pulumi/runtime/state") as { getStore(): Record<string, unknown> };

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getProtect(): boolean;
  getIgnorechangesList(): string[];
  getReplaceonchangesList(): string[];
  getDeletebeforereplace(): boolean;
  getRetainondelete(): boolean | undefined;
  getReplaceWithList?(): string[];
  getPropertydependenciesMap(): { forEach(fn: (value: { getUrnsList(): string[] }, key: string) => void): void };
}

/** `urn:pulumi:stack::project::parent$type::name` -> `name` (dbtier's resource names are unique). */
export const urnName = (urn: string): string => urn.slice(urn.lastIndexOf("::") + 2);

interface Registration {
  readonly protect: boolean;
  readonly options: RecordedOptions;
  readonly inputDependencies: Record<string, string[]>;
}

/** The SDK's mock monitor, plus each registration's options (the mocks API does not pass them). */
class RecordingMonitor extends MockMonitor {
  readonly registrations = new Map<string, Registration>();
  async registerResource(req: RegisterRequest, callback: (err: unknown, response: unknown) => void): Promise<void> {
    const inputDependencies: Record<string, string[]> = {};
    req.getPropertydependenciesMap().forEach((deps, key) => {
      const names = deps.getUrnsList().map(urnName);
      if (names.length > 0) inputDependencies[key] = names;
    });
    this.registrations.set(`${req.getType()}::${req.getName()}`, {
      protect: req.getProtect(),
      options: {
        ignoreChanges: req.getIgnorechangesList(),
        replaceOnChanges: req.getReplaceonchangesList(),
        deleteBeforeReplace: req.getDeletebeforereplace(),
        retainOnDelete: req.getRetainondelete() ?? false,
        replaceWith: (req.getReplaceWithList?.() ?? []).map(urnName),
      },
      inputDependencies,
    });
    return super.registerResource(req, callback);
  }
}


/** Like `pulumi.runtime.setMocks`, with the recording monitor. Call before any resource is created. */
export function installMocks(mocks: PlanMocks, project: string, stack: string): RecordingMonitor {
  const monitor = new RecordingMonitor(mocks);
  settings.setMockOptions(monitor, project, stack, false);
  const store = state.getStore();
  Object.assign(store, {
    supportsSecrets: true,
    supportsResourceReferences: true,
    supportsOutputValues: false,
    supportsDeletedWith: true,
    supportsAliasSpecs: true,
    supportsTransforms: false,
    supportsParameterization: true,
    supportsResourceHooks: true,
    supportsErrorHooks: true,
  });
  return monitor;
}

interface OutputInternals {
  promise(withUnknowns?: boolean): Promise<unknown>;
}

/** Resolves a (possibly nested) export to a plain value and whether any part of it was secret. */
async function resolveExport(value: unknown): Promise<PlannedOutput> {
  if (pulumi.Output.isInstance(value)) {
    const secret = await pulumi.isSecret(value);
    const inner = await (value as unknown as OutputInternals).promise();
    return { value: inner, secret };
  }
  return { value, secret: false };
}

/**
 * Installs the mocks, builds the program with `build` (which returns its stack exports), waits until every
 * registration has finished, and returns the recorded plan.
 */
export async function runProgram(options: { project?: string; stack: string; region: string; vpcCidr: string; stackOutputs?: StackOutputsByStack }, build: () => Record<string, unknown>): Promise<PlanRun> {
  const mocks = createPlanMocks({ region: options.region, vpcCidr: options.vpcCidr, ...(options.stackOutputs ? { stackOutputs: options.stackOutputs } : {}) });
  const monitor = installMocks(mocks, options.project ?? "dbtier", options.stack);
  const failures: unknown[] = [];
  const onRejection = (reason: unknown): void => {
    failures.push(reason);
  };
  process.on("unhandledRejection", onRejection);
  try {
    const exports = build();
    const outputs: Record<string, PlannedOutput> = {};
    for (const [key, value] of Object.entries(exports)) {
      if (value === undefined) continue;
      const resolved = await resolveExport(value);
      // An Output that resolves to nothing (proxyAddress of a self-managed stack) is no stack output, as in Pulumi.
      if (resolved.value !== undefined) outputs[key] = resolved;
    }
    await settings.waitForRPCs();
    if (failures.length > 0) throw failures[0];
    const resources = mocks.resources.map((r) => {
      const registration = monitor.registrations.get(`${r.type}::${r.name}`);
      return { ...r, protect: registration?.protect ?? false, options: registration?.options ?? NO_OPTIONS, inputDependencies: registration?.inputDependencies ?? {} };
    });
    return { resources, outputs, mocks };
  } finally {
    process.off("unhandledRejection", onRejection);
  }
}

/** The #cloud-config a VM resource boots with (DigitalOcean/AWS `userData`, Linode base64 `metadatas[0].userData`). */
export function userDataOf(resource: RecordedResource): string | undefined {
  const plain = reveal(resource.inputs) as Record<string, unknown>;
  if (typeof plain.userData === "string") return plain.userData;
  const metadatas = plain.metadatas as { userData?: string }[] | undefined;
  const encoded = metadatas?.[0]?.userData;
  return encoded === undefined ? undefined : Buffer.from(encoded, "base64").toString("utf8");
}
