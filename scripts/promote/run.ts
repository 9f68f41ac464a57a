// `npm run promote -- --from dev --to prod`: the order of operations. Each decision is a pure function of
// decisions.ts; each effect goes through an injected port (ports.ts), so the tests drive this whole file
// with fakes and the real entry (scripts/promote.ts) wires in the Automation API, ssh and the terminal.
//
//   1. arguments; the Pulumi CLI; the age identity
//   2. both stacks' config valid (parseConfig), and the pair compatible (engine family, datastore, SSH key)
//   3. preview the target: refuse if a protected or stateful resource would be replaced or deleted; with
//      --new-stack (the safe path), refuse a target that is deployed or whose preview does more than create
//   4. the target's data: refuse to replace a database that holds data unless --overwrite
//   5. print the plan; confirm unless --yes (no terminal and no --yes: refuse)
//   6. fresh backup of the source, verified (restore into scratch, compare with the manifest)
//   7. a target not deployed yet is created first with its current config (an empty database)
//   8. mark the backup as the target's baseline (dbtier:appDb.source/sourceApplication), preview again,
//      `pulumi up` the target so its proxy's env names the baseline
//   9. on the target's VM: a safety backup first when data is replaced, then load-app-db loads the baseline
//      (the newest verified backup of the source's period), checked against its manifest and its id
import {
  DataDecision,
  EXIT,
  PROMOTION_PERIOD,
  TargetData,
  USAGE,
  baselineConfigChanges,
  blockingChanges,
  dataDecision,
  databaseVmNames,
  interpretProbe,
  missingCliMessage,
  newStackChanges,
  newStackProblems,
  pairProblems,
  pairWarnings,
  parseArgs,
  parseBackupRef,
  parseLoadedRef,
  remoteValue,
  renderPlan,
  sshTarget,
  validateStackConfig,
} from "./decisions";
import { Deps, PreviewResult } from "./ports";

const POLICY_PACK = "policy";

class Stop extends Error {
  constructor(readonly code: number, readonly lines: readonly string[]) {
    super(lines.join("\n"));
  }
}

function refuse(...lines: string[]): never {
  throw new Stop(EXIT.refused, lines);
}

function refuseOnBlocking(stack: string, preview: PreviewResult, when: string, databaseVms: readonly string[]): void {
  const blocking = blockingChanges(preview, databaseVms);
  if (blocking.length > 0) {
    const next = `${stack}-next`;
    refuse(
      `refused: ${when} ${stack} would destroy stateful resources:`,
      ...blocking.map((b) => `  ${b.op} ${b.urn || "(see the engine's message)"}: ${b.why}`),
      "Nothing was changed. For a change that replaces the database, follow the safe path in docs/delivery.md (backup, new cluster, restore, switch):",
      `  a new stack ${next} with the change and its own dbtier:appDb.application, then npm run promote -- --from ${stack} --to ${next} --new-stack`,
    );
  }
  if (preview.error) throw new Stop(EXIT.failed, [`promote: preview of ${stack} failed: ${preview.error.split("\n").slice(0, 5).join(" ")}`]);
}

export async function promote(argv: readonly string[], deps: Deps): Promise<number> {
  const { terminal } = deps;
  try {
    return await run(argv, deps);
  } catch (err) {
    if (err instanceof Stop) {
      for (const line of err.lines) terminal.error(line);
      return err.code;
    }
    terminal.error(`promote: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT.failed;
  }
}

async function run(argv: readonly string[], deps: Deps): Promise<number> {
  const { automation, remote, terminal, files } = deps;

  // 1. Arguments, the CLI, the identity.
  const args = parseArgs(argv, deps.env);
  if (!args.ok) {
    if (args.help) {
      terminal.info(args.message);
      return EXIT.ok;
    }
    throw new Stop(EXIT.usage, [`promote: ${args.message}`, ...USAGE]);
  }
  const options = args.options;
  const cli = await automation.checkCli();
  if (!cli.ok) throw new Stop(EXIT.noCli, missingCliMessage(cli.reason, deps.sdkVersion));
  if (!options.identityFile) {
    throw new Stop(EXIT.usage, ["promote: no age identity: pass --identity FILE or set DBTIER_AGE_IDENTITY_FILE (it decrypts the backup to verify and load it)"]);
  }
  let identity: string;
  try {
    identity = files.readIdentity(options.identityFile);
  } catch (err) {
    throw new Stop(EXIT.usage, [`promote: ${err instanceof Error ? err.message : String(err)}`]);
  }
  if (!/^AGE-SECRET-KEY-1[0-9A-Z]+$/m.test(identity)) {
    throw new Stop(EXIT.usage, [`promote: ${options.identityFile} holds no age identity (AGE-SECRET-KEY-1...)`]);
  }
  const policyPacks = files.hasPolicyPack() ? [POLICY_PACK] : [];

  // 2. Config of both stacks, then the pair.
  terminal.info(`promote: Pulumi CLI ${cli.version}; reading ${options.from} and ${options.to}`);
  const fromStack = await automation.selectStack(options.from);
  const toStack = await automation.selectStack(options.to);
  const fromMap = await fromStack.getAllConfig();
  const toMap = await toStack.getAllConfig();
  const fromConfig = validateStackConfig(options.from, fromMap);
  const toConfig = validateStackConfig(options.to, toMap);
  const configLines = [...(fromConfig.ok ? [] : fromConfig.lines), ...(toConfig.ok ? [] : toConfig.lines)];
  if (!fromConfig.ok || !toConfig.ok) throw new Stop(EXIT.usage, ["promote: invalid config, nothing was changed:", ...configLines.map((l) => `  ${l}`)]);
  const from = fromConfig.config;
  const to = toConfig.config;
  const pair = [...pairProblems(from, to), ...(options.newStack ? newStackProblems(from, to) : [])];
  if (pair.length > 0) throw new Stop(EXIT.usage, [`promote: ${options.from} cannot be promoted to ${options.to}, nothing was changed:`, ...pair.map((l) => `  ${l}`)]);
  const fromOutputs = await fromStack.outputs();
  const fromTarget = sshTarget(options.from, from, fromOutputs);
  if (!fromTarget) refuse(`refused: ${options.from} is not deployed (no ${from.mode === "managed" ? "proxy" : "database VM"} in its \`hosts\` output): there is nothing to promote`);
  const sourceKey = fromOutputs.backupSigningPublicKey?.value;
  if (typeof sourceKey !== "string" || sourceKey === "") {
    refuse(`refused: ${options.from} has no backupSigningPublicKey output (deployed before backups were signed): run \`pulumi up\` on it first`);
  }
  const marking = baselineConfigChanges(options.to, toMap, PROMOTION_PERIOD, from.appDb.application, sourceKey as string);
  if ("error" in marking) throw new Stop(EXIT.usage, ["promote: the baseline cannot be marked in the target's config:", ...marking.error.map((l) => `  ${l}`)]);

  // 3. Preview the target. The database VMs it has now are stateful; a new stack on the safe path has none.
  const toOutputs = await toStack.outputs();
  const toTargetBefore = sshTarget(options.to, to, toOutputs);
  const databaseVms = databaseVmNames(toOutputs);
  if (options.newStack && toTargetBefore) {
    refuse(`refused: --new-stack: ${options.to} is deployed already (${toTargetBefore.label} at ${toTargetBefore.host}); the safe path promotes into a new stack beside it (docs/delivery.md). Nothing was changed.`);
  }
  terminal.info(`promote: previewing ${options.to}`);
  const preview = await toStack.preview({ policyPacks });
  refuseOnBlocking(options.to, preview, "the update of", databaseVms);
  const beyondCreate = options.newStack ? newStackChanges(preview) : [];
  if (beyondCreate.length > 0) {
    refuse(`refused: --new-stack: the preview of ${options.to} would change existing resources; a new stack only creates:`, ...beyondCreate.map((c) => `  ${c}`), "Nothing was changed.");
  }

  // 4. The target's data.
  let data: TargetData;
  if (!toTargetBefore) data = { kind: "absent", why: "not deployed yet" };
  else {
    terminal.info(`promote: checking ${options.to}'s database on ${toTargetBefore.host}`);
    data = interpretProbe(await remote.run(toTargetBefore, ["probe"]));
  }
  const verdict: DataDecision = dataDecision(options.to, data, options.overwrite);
  if (!verdict.proceed) refuse(verdict.message, "Nothing was changed.");
  const decision = verdict;

  // 5. The plan; confirmation.
  const plan = renderPlan({
    options,
    from,
    to,
    fromTarget,
    ...(toTargetBefore ? { toTarget: toTargetBefore } : {}),
    preview,
    data,
    decision,
    configChanges: marking.changes,
    warnings: pairWarnings(from, to),
  });
  plan.forEach((line) => terminal.info(line));
  if (!options.yes) {
    if (!terminal.interactive) refuse("refused: no terminal to confirm on; re-run with --yes once the plan above is what you want. Nothing was changed.");
    if (!(await terminal.confirm(`Promote ${options.from} to ${options.to} as planned?`))) refuse("refused: not confirmed. Nothing was changed.");
  }

  // 6. Fresh, verified backup of the source.
  const source = fromTarget;
  terminal.info(`promote: backing up ${options.from} on ${source.host}`);
  const backup = await remote.run(source, ["backup", PROMOTION_PERIOD]);
  const ref = backup.code === 0 ? parseBackupRef(backup.stdout) : undefined;
  if (!ref) throw new Stop(EXIT.failed, [`promote: the backup of ${options.from} failed: ${lastLine(backup.stderr) || `exit status ${backup.code}`}`, "Nothing on the target was changed."]);
  const baseline = `${ref.period}/${ref.id}`;
  terminal.info(`promote: verifying ${baseline}`);
  const verify = await remote.run(source, ["verify", ref.id], identity);
  if (verify.code !== 0 || remoteValue(verify.stdout, "DBTIER_VERIFIED") !== ref.id) {
    throw new Stop(EXIT.failed, [`promote: verification of ${baseline} failed: ${lastLine(verify.stderr) || `exit status ${verify.code}`}`, "Nothing on the target was changed; the backup is not used."]);
  }

  // 7. A target that does not exist yet is created with its current config first (an empty database).
  const upMessage = `dbtier promote ${options.from} -> ${options.to}: baseline ${baseline}`;
  const onOutput = (text: string) => terminal.info(text.trimEnd());
  if (!toTargetBefore) {
    terminal.info(`promote: ${options.to} is not deployed yet: pulumi up ${options.to} with its current config`);
    const first = await toStack.up({ message: `${upMessage} (create)`, policyPacks, onOutput });
    if (!first.ok) throw new Stop(EXIT.failed, [`promote: pulumi up ${options.to} failed: ${first.summary}`, `The verified baseline ${baseline} is kept; re-run the promotion once the update succeeds.`]);
  }

  // 8. Mark the baseline, check the preview again with the change, update the target.
  if (marking.changes.length > 0) {
    for (const change of marking.changes) await toStack.setConfig(change.key, change.value, true);
    terminal.info(`promote: ${options.to}: ${marking.changes.map((c) => `${c.key} = ${c.value}`).join(", ")} (commit Pulumi.${options.to.split("/").pop()}.yaml)`);
    const again = await toStack.preview({ policyPacks });
    try {
      refuseOnBlocking(options.to, again, "with the baseline marked, the update of", databaseVms);
    } catch (err) {
      for (const change of marking.changes) {
        if (change.previous === undefined) await toStack.removeConfig(change.key, true);
        else await toStack.setConfig(change.key, change.previous, true);
      }
      throw err;
    }
  }
  terminal.info(`promote: pulumi up ${options.to}`);
  const up = await toStack.up({ message: upMessage, policyPacks, onOutput });
  if (!up.ok) throw new Stop(EXIT.failed, [`promote: pulumi up ${options.to} failed: ${up.summary}`, `The verified baseline ${baseline} is kept; re-run the promotion once the update succeeds.`]);

  // 9. The target's VM loads exactly the baseline; when data is replaced, a safety backup comes first.
  const target = sshTarget(options.to, to, await toStack.outputs());
  if (!target) throw new Stop(EXIT.failed, [`promote: after the update, ${options.to} has no ${to.mode === "managed" ? "proxy" : "database VM"} in its \`hosts\` output`]);
  const replacing = data.kind === "has-data" || data.kind === "unknown";
  if (replacing) {
    terminal.info(`promote: safety backup of ${options.to}'s database on ${target.host}`);
    const safety = await remote.run(target, ["backup", PROMOTION_PERIOD]);
    const safetyRef = safety.code === 0 ? parseBackupRef(safety.stdout) : undefined;
    if (!safetyRef) throw new Stop(EXIT.failed, [`promote: the safety backup of ${options.to} failed: ${lastLine(safety.stderr) || `exit status ${safety.code}`}`, `${options.to}'s database was not touched.`]);
    terminal.info(`promote: ${options.to}'s previous data is in ${safetyRef.period}/${safetyRef.id} (${to.appDb.application}); dbtier-db restore ${safetyRef.id} --yes brings it back`);
  }
  terminal.info(`promote: loading ${baseline} on ${target.host}`);
  const load = await remote.run(target, ["load", ref.id, ...(replacing ? ["--force"] : [])], identity);
  const loaded = parseLoadedRef(load.stdout);
  if (load.code !== 0 || !loaded || loaded.id !== ref.id) {
    throw new Stop(EXIT.failed, [
      `promote: loading ${baseline} on ${options.to} failed: ${lastLine(load.stderr) || `exit status ${load.code}`}`,
      loaded && loaded.id !== ref.id
        ? `${options.to} loaded ${loaded.period}/${loaded.id}, a newer verified backup of ${options.from} than the baseline; re-run the promotion to pin it`
        : "load-app-db checks the loaded data against the backup's manifest; re-run the promotion once the cause is fixed.",
    ]);
  }
  terminal.info(`promote: done. ${options.to} now holds ${options.from}'s data as of ${baseline} (verified on ${source.host}, loaded on ${target.host}).`);
  return EXIT.ok;
}

const lastLine = (text: string): string => text.trim().split("\n").pop() ?? "";
