// Structural rules for the GitHub workflows, as pure functions over the parsed YAML (and the raw text for
// pin comments). workflows.test.ts runs them on the real files and on broken copies, so each rule is shown
// to catch what it is for.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Obj = { [key: string]: Json };

export interface Step {
  readonly uses?: string;
  readonly run?: string;
  readonly with: Obj;
  readonly env: Obj;
  readonly name?: string;
}

export interface Job {
  readonly id: string;
  readonly raw: Obj;
  readonly steps: Step[];
  /** Environment name, from `environment: name` or `environment: {name}`. */
  readonly environment?: string;
  readonly permissions?: Json;
  readonly concurrency?: { group: string; cancelInProgress: boolean };
  /** `uses:` of a job that calls a reusable workflow. */
  readonly usesWorkflow?: string;
  readonly needs: string[];
  /** The stacks a matrix or literal stack-name makes this job touch. */
  readonly stacks: string[];
}

export interface Workflow {
  readonly file: string;
  readonly text: string;
  readonly raw: Obj;
  readonly triggers: string[];
  readonly jobs: Job[];
}

export const PULUMI_ACTION = "pulumi/actions";
export const AWS_ACTION = "aws-actions/configure-aws-credentials";
export const PROD_ENVIRONMENT = "production";
const MUTATING_COMMANDS = new Set(["up", "update", "destroy", "refresh", "import"]);

const isObj = (v: Json | undefined): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const asObj = (v: Json | undefined): Obj => (isObj(v) ? v : {});
const str = (v: Json | undefined): string | undefined => (typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : undefined);

const actionName = (uses: string): string => uses.split("@")[0];

/** The stacks a job touches: literal names in stack-name inputs and in the matrix, judged by "dev"/"prod". */
function stacksOf(raw: Obj, steps: Step[]): string[] {
  const found = new Set<string>();
  const text = JSON.stringify({ matrix: asObj(asObj(raw.strategy).matrix), steps: steps.map((s) => ({ with: s.with, env: s.env, run: s.run })) });
  for (const stack of ["dev", "prod"]) {
    if (new RegExp(`(^|[^a-z])${stack}([^a-z]|$)`).test(text)) found.add(stack);
  }
  return [...found];
}

export function parseWorkflow(file: string, text: string, raw: Obj): Workflow {
  const on = raw.on ?? (raw as Obj)["true"]; // YAML 1.1 readers turn `on:` into true
  const triggers = typeof on === "string" ? [on] : Array.isArray(on) ? on.map(String) : Object.keys(asObj(on));
  const jobs = Object.entries(asObj(raw.jobs)).map(([id, value]): Job => {
    const job = asObj(value);
    const steps = (Array.isArray(job.steps) ? job.steps : []).map((s): Step => {
      const step = asObj(s);
      return { uses: str(step.uses), run: str(step.run), with: asObj(step.with), env: asObj(step.env), name: str(step.name) };
    });
    const env = job.environment;
    const environment = typeof env === "string" ? env : str(asObj(env).name);
    const conc = job.concurrency;
    const concurrency = typeof conc === "string"
      ? { group: conc, cancelInProgress: false }
      : isObj(conc) ? { group: str(conc.group) ?? "", cancelInProgress: conc["cancel-in-progress"] === true } : undefined;
    const needs = typeof job.needs === "string" ? [job.needs] : Array.isArray(job.needs) ? job.needs.map(String) : [];
    return { id, raw: job, steps, environment, permissions: job.permissions, concurrency, usesWorkflow: str(job.uses), needs, stacks: stacksOf(job, steps) };
  });
  return { file, text, raw, triggers, jobs };
}

// ---------------------------------------------------------------------------------------------------------

/** Every remote action pinned to a full commit SHA, with the version it stands for in a comment. */
export function unpinnedActions(w: Workflow): string[] {
  const problems: string[] = [];
  w.text.split("\n").forEach((line, i) => {
    const match = /^\s*(?:-\s+)?uses:\s*([^\s#]+)\s*(#.*)?$/.exec(line);
    if (!match) return;
    const [, ref, comment] = match;
    if (ref.startsWith("./")) return; // a workflow or action of this repository, pinned by the commit itself
    if (ref.startsWith("docker://")) {
      if (!/@sha256:[0-9a-f]{64}$/.test(ref)) problems.push(`${w.file}:${i + 1} ${ref} must be pinned by digest`);
      return;
    }
    if (!/^[^@\s]+@[0-9a-f]{40}$/.test(ref)) problems.push(`${w.file}:${i + 1} ${ref} must be pinned to a full commit SHA`);
    else if (!comment || !/#\s*v\d+(\.\d+)*/.test(comment)) problems.push(`${w.file}:${i + 1} ${ref} needs a "# vX.Y.Z" comment naming the pinned version`);
  });
  return problems;
}

const WRITE_SCOPES_ALLOWED: Readonly<Record<string, (job: Job) => boolean>> = {
  // OIDC tokens only where a cloud role is assumed.
  "id-token": (job) => job.steps.some((s) => s.uses !== undefined && actionName(s.uses) === AWS_ACTION),
  // Pull request comments only where the preview comments.
  "pull-requests": (job) => job.steps.some((s) => s.uses !== undefined && actionName(s.uses) === PULUMI_ACTION && String(s.with["comment-on-pr"]) === "true"),
};

/** Workflow default `permissions: {}` or read-only; each job asks for exactly what it uses. */
export function permissionProblems(w: Workflow): string[] {
  const problems: string[] = [];
  const top = w.raw.permissions;
  if (top === undefined) problems.push(`${w.file}: top-level permissions must be set (to {} or read-only)`);
  const checkBlock = (where: string, perms: Json | undefined, job?: Job) => {
    if (perms === undefined) return;
    if (typeof perms === "string") {
      if (perms !== "read-all") problems.push(`${where}: permissions ${perms} must list scopes instead`);
      return;
    }
    for (const [scope, level] of Object.entries(asObj(perms))) {
      if (level !== "write") continue;
      const allowed = WRITE_SCOPES_ALLOWED[scope];
      if (!allowed || !job || !allowed(job)) problems.push(`${where}: ${scope}: write is not needed there`);
    }
  };
  checkBlock(`${w.file}`, top);
  for (const job of w.jobs) {
    if (job.permissions === undefined && w.triggers[0] !== "workflow_call") problems.push(`${w.file} job ${job.id}: permissions must be set on the job`);
    checkBlock(`${w.file} job ${job.id}`, job.permissions, job);
  }
  return problems;
}

/** `pulumi/actions` steps with their command and stack, and run steps that drive Pulumi. */
export function pulumiSteps(job: Job): { command: string; stackName: string; step: Step }[] {
  return job.steps
    .filter((s) => s.uses !== undefined && actionName(s.uses) === PULUMI_ACTION && s.with.command !== undefined)
    .map((s) => ({ command: String(s.with.command), stackName: String(s.with["stack-name"] ?? ""), step: s }));
}

/** Does this job change a stack (up/destroy/refresh or promote)? Returns the stacks it changes. */
export function mutatedStacks(job: Job): string[] {
  const stacks = new Set<string>();
  for (const { command, stackName } of pulumiSteps(job)) {
    if (!MUTATING_COMMANDS.has(command)) continue;
    for (const stack of ["dev", "prod"]) if (stackName.includes(stack)) stacks.add(stack);
    if (stackName.includes("matrix.")) job.stacks.forEach((s) => stacks.add(s));
  }
  for (const step of job.steps) {
    const run = step.run ?? "";
    if (/npm run promote/.test(run)) stacks.add("prod");
    if (/\bpulumi\s+(up|update|destroy|refresh|import)\b/.test(run)) job.stacks.forEach((s) => stacks.add(s));
  }
  return [...stacks];
}

/** Prod changes only in jobs bound to the protected environment; every change serialized per stack. */
export function deploymentProblems(w: Workflow): string[] {
  const problems: string[] = [];
  for (const job of w.jobs) {
    const stacks = mutatedStacks(job);
    if (stacks.includes("prod") && job.environment !== PROD_ENVIRONMENT) {
      problems.push(`${w.file} job ${job.id} changes prod outside the protected "${PROD_ENVIRONMENT}" environment`);
    }
    if (stacks.length > 0) {
      if (!job.concurrency) problems.push(`${w.file} job ${job.id} changes ${stacks.join(", ")} without a concurrency group`);
      else {
        for (const stack of stacks) {
          if (job.concurrency.group !== `pulumi-stack-${stack}`) problems.push(`${w.file} job ${job.id}: concurrency group must be pulumi-stack-${stack}`);
        }
        if (job.concurrency.cancelInProgress) problems.push(`${w.file} job ${job.id}: cancel-in-progress would kill a running update`);
      }
      if (w.triggers.some((t) => t === "pull_request" || t === "pull_request_target")) {
        problems.push(`${w.file} job ${job.id} changes a stack on a pull request`);
      }
    }
  }
  if (w.triggers.includes("pull_request_target")) problems.push(`${w.file}: pull_request_target hands secrets to code from forks`);
  return problems;
}

/** Env names in a step that are mapped from secrets. */
function secretEnvNames(step: Step): string[] {
  return Object.entries(step.env)
    .filter(([, v]) => typeof v === "string" && /\$\{\{\s*secrets\./.test(v))
    .map(([k]) => k);
}

/** Secrets never pasted into scripts, never printed, no shell tracing near them. */
export function secretHandlingProblems(w: Workflow): string[] {
  const problems: string[] = [];
  for (const job of w.jobs) {
    for (const step of job.steps) {
      const run = step.run;
      if (run === undefined) continue;
      const where = `${w.file} job ${job.id} step "${step.name ?? run.split("\n")[0]}"`;
      if (/\$\{\{\s*secrets\./.test(run)) problems.push(`${where}: pastes a secret into the script; pass it through env`);
      if (/\bset\s+-[a-z]*x|\bbash\s+-[a-z]*x/.test(run)) problems.push(`${where}: shell tracing would print secrets`);
      const names = secretEnvNames(step);
      for (const line of run.split("\n")) {
        for (const name of names) {
          if (!new RegExp(`\\$\\{?${name}\\b`).test(line)) continue;
          const printing = /\b(echo|printf|cat|tee)\b/.test(line);
          const toFile = /[^2&]>\s*"?\$?[A-Za-z{]/.test(line) || />>?\s*"\$/.test(line);
          if (printing && !toFile) problems.push(`${where}: prints ${name}`);
        }
      }
    }
  }
  return problems;
}

/** Checkouts must not leave the token in .git/config for later steps. */
export function checkoutProblems(w: Workflow): string[] {
  return w.jobs.flatMap((job) =>
    job.steps
      .filter((s) => s.uses !== undefined && actionName(s.uses) === "actions/checkout" && String(s.with["persist-credentials"]) !== "false")
      .map(() => `${w.file} job ${job.id}: actions/checkout must set persist-credentials: false`),
  );
}

export function allProblems(w: Workflow): string[] {
  return [...unpinnedActions(w), ...permissionProblems(w), ...deploymentProblems(w), ...secretHandlingProblems(w), ...checkoutProblems(w)];
}
