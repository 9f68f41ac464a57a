// The Automation API behind AutomationPort: LocalWorkspace over this project directory, driving the
// installed Pulumi CLI. Only translation lives here; what the results mean is decided in decisions.ts.
import { EngineEvent, LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { AutomationPort, CliCheck, ConfigMap, OutputMap, PreviewResult, PreviewStep, StackPort } from "./ports";

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** A readable reason from the CLI lookup's error. */
export function cliFailureReason(err: unknown): string {
  const text = message(err);
  if (/ENOENT/.test(text)) return "`pulumi` is not on PATH";
  const stderr = /stderr: ([^\n]+)/.exec(text);
  return stderr ? stderr[1] : text.split("\n")[0];
}

/** One step of a preview from an engine event, or undefined for events that are not resource steps. */
export function stepOf(event: EngineEvent): PreviewStep | undefined {
  const m = event.resourcePreEvent?.metadata;
  if (!m) return undefined;
  return {
    op: m.op,
    urn: m.urn,
    type: m.type,
    protect: Boolean(m.old?.protect || m.new?.protect),
    replaceKeys: m.keys ?? [],
    diffKeys: m.diffs ?? [],
  };
}

/** Error diagnostics and mandatory policy violations, as text. */
export function problemOf(event: EngineEvent): string | undefined {
  if (event.diagnosticEvent && event.diagnosticEvent.severity === "error") return event.diagnosticEvent.message.trim();
  if (event.policyEvent && event.policyEvent.enforcementLevel === "mandatory") {
    return `policy ${event.policyEvent.policyPackName}/${event.policyEvent.policyName}: ${event.policyEvent.message}`;
  }
  return undefined;
}

function stackPort(stack: Stack): StackPort {
  return {
    name: stack.name,
    async getAllConfig(): Promise<ConfigMap> {
      const all = await stack.getAllConfig();
      return Object.fromEntries(Object.entries(all).map(([key, v]) => [key, { value: v.value, secret: v.secret === true }]));
    },
    async setConfig(key, value, path) {
      await stack.setConfig(key, { value }, path);
    },
    async removeConfig(key, path) {
      await stack.removeConfig(key, path);
    },
    async outputs(): Promise<OutputMap> {
      const outputs = await stack.outputs();
      return Object.fromEntries(Object.entries(outputs).map(([key, v]) => [key, { value: v.value, secret: v.secret }]));
    },
    async preview({ policyPacks }): Promise<PreviewResult> {
      const steps: PreviewStep[] = [];
      const diagnostics: string[] = [];
      const onEvent = (event: EngineEvent) => {
        const step = stepOf(event);
        if (step) steps.push(step);
        const problem = problemOf(event);
        if (problem) diagnostics.push(problem);
      };
      try {
        await stack.preview({ onEvent, policyPacks: [...policyPacks] });
        return { steps, diagnostics };
      } catch (err) {
        return { steps, diagnostics, error: message(err) };
      }
    },
    async up({ message: updateMessage, policyPacks, onOutput }) {
      try {
        const result = await stack.up({ message: updateMessage, policyPacks: [...policyPacks], onOutput });
        return { ok: result.summary.result === "succeeded", summary: `${result.summary.result} ${JSON.stringify(result.summary.resourceChanges ?? {})}` };
      } catch (err) {
        return { ok: false, summary: message(err).split("\n").filter((l) => /error/i.test(l)).slice(0, 5).join(" ") || message(err).split("\n")[0] };
      }
    },
  };
}

export function localAutomation(workDir: string): AutomationPort {
  let command: PulumiCommand | undefined;
  return {
    async checkCli(): Promise<CliCheck> {
      try {
        command = await PulumiCommand.get();
        return { ok: true, version: command.version?.toString() ?? "unknown" };
      } catch (err) {
        return { ok: false, reason: cliFailureReason(err) };
      }
    },
    async selectStack(name: string): Promise<StackPort> {
      const stack = await LocalWorkspace.selectStack({ stackName: name, workDir }, command ? { pulumiCommand: command } : undefined);
      return stackPort(stack);
    },
  };
}
