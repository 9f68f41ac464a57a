// `npm run plan -- <stack> --against <dir>`: what `pulumi up` would do to each resource, going from the plan in
// <dir> to this one, and why. Pure: two plan records in, a diff out. The provider facts are in replaceFacts.ts;
// the resource options (ignoreChanges, replaceOnChanges, deleteBeforeReplace, replaceWith, retainOnDelete)
// and the input dependencies are the ones the program registered, read from the plans.
//
// As the engine decides it: an input of a replaced resource's dependant is unknown until the replacement
// exists, so it counts as changed; a change matched by ignoreChanges is kept at its old value; a change to a
// replace-on-change input (provider fact or replaceOnChanges) replaces, any other change updates in place.
import { REDACTED } from "./mocks";
import { joinPath, pathSegments, pathsOverlap } from "./paths";
import { HostRole, PlanRecord, ResourceRecord } from "./record";
import { ReplaceFact, TypeFacts, describeFact, factsFor } from "./replaceFacts";

export type Op = "create" | "update" | "replace" | "delete";

export interface InputChange {
  /** Leaf path (`engine`, `rules[2].value`) or a whole input made unknown by a replaced dependency. */
  readonly path: string;
  readonly before?: string;
  readonly after?: string;
  /** Set when the value is unknown until this (replaced) resource exists. */
  readonly unknownFrom?: string;
}

export interface ResourceChange {
  readonly op: Op;
  readonly type: string;
  readonly name: string;
  readonly changes: readonly InputChange[];
  /** Changed paths that ignoreChanges keeps at their old value. */
  readonly ignored: readonly string[];
  /** Why it is a replacement: the input and the fact or option that makes it one. */
  readonly replaceReasons: readonly string[];
  /** What is lost when a stateful resource is replaced or deleted. */
  readonly stateful?: string;
  readonly protect: boolean;
  /** Things that make the update fail or surprise (protection, a name the provider wants unique). */
  readonly warnings: readonly string[];
  /** What the provider does in place for the changed inputs (a reboot, a migration). */
  readonly notes: readonly string[];
}

export interface PlanDiff {
  readonly changes: readonly ResourceChange[];
  readonly unchanged: number;
  /** Stateful resources replaced or deleted: their data does not come along. */
  readonly statefulLosses: readonly ResourceChange[];
  readonly notes: readonly string[];
}

// ---------------------------------------------------------------------------------------------------------
// Inputs

/** Every leaf of `inputs` as path -> JSON text; a secret leaf is its digest, so a changed secret differs. */
function leaves(r: ResourceRecord): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (value: unknown, at: string): void => {
    if (value === REDACTED && r.secretDigests[at] !== undefined) {
      out.set(at, `${REDACTED} ${r.secretDigests[at]}`);
    } else if (Array.isArray(value) && value.length > 0) {
      value.forEach((v, i) => walk(v, joinPath(at, i)));
    } else if (typeof value === "object" && value !== null && Object.keys(value).length > 0) {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) walk(v, joinPath(at, k));
    } else if (value !== undefined && value !== null) {
      out.set(at, JSON.stringify(value));
    }
  };
  walk(r.inputs, "");
  return out;
}

const topKey = (path: string): string => pathSegments(path)[0] ?? path;

// ---------------------------------------------------------------------------------------------------------
// One resource

function statefulWhat(r: ResourceRecord, facts: TypeFacts | undefined, roles: Readonly<Record<string, HostRole>>): string | undefined {
  const stateful = facts?.stateful;
  if (!stateful) return undefined;
  if (stateful.kind === "data") return stateful.what;
  return roles[r.name] === "database" ? "the self-managed database VM: the database lives on its disk" : undefined;
}

const truthy = (r: ResourceRecord, input: string): boolean => r.inputs[input] === true;
const isSet = (r: ResourceRecord, input: string): boolean => r.inputs[input] !== undefined && r.inputs[input] !== null && r.inputs[input] !== "";

function factApplies(fact: ReplaceFact, r: ResourceRecord): boolean {
  if (fact.unlessSet && isSet(r, fact.unlessSet)) return false;
  if (fact.onlyIfTrue && !truthy(r, fact.onlyIfTrue)) return false;
  return true;
}

function diffResource(before: ResourceRecord, after: ResourceRecord, replaced: ReadonlySet<string>, roles: Readonly<Record<string, HostRole>>): ResourceChange | undefined {
  const facts = factsFor(after.type);
  const old = leaves(before);
  const now = leaves(after);
  const changed: InputChange[] = [];
  for (const p of new Set([...old.keys(), ...now.keys()])) {
    if (old.get(p) !== now.get(p)) changed.push({ path: p, ...(old.has(p) ? { before: old.get(p) } : {}), ...(now.has(p) ? { after: now.get(p) } : {}) });
  }
  for (const [input, deps] of Object.entries(after.inputDependencies)) {
    const from = deps.find((d) => replaced.has(d));
    if (from && !changed.some((c) => topKey(c.path) === input)) changed.push({ path: input, unknownFrom: from });
  }
  // ignoreChanges keeps the old value, whatever the program now says (a dependency's replacement included).
  const ignored = changed.filter((c) => after.options.ignoreChanges.some((p) => pathsOverlap(p, c.path)));
  const effective = changed.filter((c) => !ignored.includes(c));

  const reasons: string[] = [];
  for (const fact of facts?.replaceOn ?? []) {
    if (!factApplies(fact, after)) continue;
    const hit = effective.find((c) => pathsOverlap(fact.input, c.path));
    if (hit && facts) reasons.push(`${topKey(hit.path)}: ${describeFact(after.type, facts, fact)}`);
  }
  for (const pattern of after.options.replaceOnChanges) {
    if (effective.some((c) => pathsOverlap(pattern, c.path))) reasons.push(`${pattern}: the program's replaceOnChanges option`);
  }
  for (const other of after.options.replaceWith) {
    if (replaced.has(other)) reasons.push(`${other} is replaced: the program's replaceWith option`);
  }
  if (effective.length === 0 && reasons.length === 0) return undefined;
  const op: Op = reasons.length > 0 ? "replace" : "update";

  const warnings: string[] = [];
  const notes: string[] = [];
  if (!facts) warnings.push(`no provider facts for ${after.type} in scripts/plan/replaceFacts.ts: shown as an update; check with pulumi preview`);
  if (op === "replace" && after.protect) warnings.push("protected: pulumi up stops with \"marked for protection\" instead of replacing it");
  if (op === "replace" && !after.options.deleteBeforeReplace && facts?.uniqueInput) {
    const unique = facts.uniqueInput;
    if (isSet(after, unique) && !effective.some((c) => topKey(c.path) === unique)) {
      warnings.push(
        `create-before-delete keeps ${unique} ${JSON.stringify(after.inputs[unique])}: ${facts.provider} refuses a second one while the old one exists, ` +
          "so the replacement fails half-way (needs deleteBeforeReplace or a unique name)",
      );
    }
  }
  if (op === "update") {
    for (const [input, note] of Object.entries(facts?.inPlaceNotes ?? {})) {
      if (effective.some((c) => topKey(c.path) === input)) notes.push(`${input}: ${note}`);
    }
  }
  const stateful = statefulWhat(after, facts, roles);
  return { op, type: after.type, name: after.name, changes: effective, ignored: ignored.map((c) => c.path), replaceReasons: reasons, ...(stateful ? { stateful } : {}), protect: after.protect, warnings, notes };
}

// ---------------------------------------------------------------------------------------------------------
// Two plans

const key = (r: ResourceRecord): string => `${r.type}::${r.name}`;
const isComponent = (r: ResourceRecord): boolean => r.type.startsWith("dbtier:");

export function diffPlans(previous: PlanRecord, current: PlanRecord): PlanDiff {
  const before = new Map(previous.resources.filter((r) => !isComponent(r)).map((r) => [key(r), r]));
  const roles = { ...previous.vmRoles, ...current.vmRoles };
  const replaced = new Set<string>();
  const changes: ResourceChange[] = [];
  let unchanged = 0;
  // Registration order puts every dependency before its dependants, so a replacement is known when needed.
  for (const r of current.resources) {
    if (isComponent(r)) continue;
    const old = before.get(key(r));
    before.delete(key(r));
    if (!old) {
      changes.push({ op: "create", type: r.type, name: r.name, changes: [], ignored: [], replaceReasons: [], protect: r.protect, warnings: [], notes: [] });
      continue;
    }
    const change = diffResource(old, r, replaced, roles);
    if (!change) {
      unchanged++;
      continue;
    }
    if (change.op === "replace") replaced.add(r.name);
    changes.push(change);
  }
  for (const old of before.values()) {
    const facts = factsFor(old.type);
    const stateful = statefulWhat(old, facts, roles);
    const warnings = old.protect ? ["protected: pulumi up stops with \"marked for protection\" instead of deleting it"] : [];
    const notes = old.options.retainOnDelete ? ["retainOnDelete: removed from the stack but left in the cloud"] : [];
    changes.push({ op: "delete", type: old.type, name: old.name, changes: [], ignored: [], replaceReasons: [], ...(stateful ? { stateful } : {}), protect: old.protect, warnings, notes });
  }
  const statefulLosses = changes.filter((c) => c.stateful !== undefined && (c.op === "replace" || (c.op === "delete" && !c.notes.some((n) => n.startsWith("retainOnDelete")))));
  const notes = previous.hasSecretDigests ? [] : ["the previous plan records no secret digests (written by an older dbtier): changes inside secret inputs (user-data, keys) are not seen"];
  return { changes, unchanged, statefulLosses, notes };
}

// ---------------------------------------------------------------------------------------------------------
// What a person reads

const MAX_VALUE = 60;
const shown = (text: string | undefined): string => {
  if (text === undefined) return "(none)";
  if (text.startsWith(REDACTED)) return "[secret]";
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 3)}...` : text;
};

/** The changes grouped by input: one line per input, its first changed values. */
function describeChanges(changes: readonly InputChange[]): string[] {
  const byInput = new Map<string, InputChange[]>();
  for (const c of changes) byInput.set(topKey(c.path), [...(byInput.get(topKey(c.path)) ?? []), c]);
  return [...byInput.entries()].map(([input, list]) => {
    const first = list[0];
    if (first.unknownFrom) return `${input}: unknown until ${first.unknownFrom} is replaced`;
    if (list.length === 1 && first.path === input) return `${input}: ${shown(first.before)} -> ${shown(first.after)}`;
    const sample = list.slice(0, 2).map((c) => `${c.path} ${shown(c.before)} -> ${shown(c.after)}`).join("; ");
    return `${input}: ${list.length} value${list.length === 1 ? "" : "s"} (${sample}${list.length > 2 ? "; ..." : ""})`;
  });
}

export function renderDiff(diff: PlanDiff, against: string): string[] {
  const count = (op: Op): number => diff.changes.filter((c) => c.op === op).length;
  const lines = [`Changes against ${against}: ${count("create")} to create, ${count("update")} to update, ${count("replace")} to replace, ${count("delete")} to delete, ${diff.unchanged} unchanged`];
  for (const c of diff.changes) {
    lines.push(`  ${c.op.padEnd(7)} ${c.name} (${c.type})${c.stateful ? "  STATEFUL" : ""}${c.protect ? "  protected" : ""}`);
    for (const d of describeChanges(c.changes)) lines.push(`            ${d}`);
    for (const r of c.replaceReasons) lines.push(`            why replace: ${r}`);
    for (const i of c.ignored) lines.push(`            ignored: ${i} changed, kept by ignoreChanges`);
    for (const n of c.notes) lines.push(`            note: ${n}`);
    for (const w of c.warnings) lines.push(`            warning: ${w}`);
  }
  for (const n of diff.notes) lines.push(`  note: ${n}`);
  if (diff.statefulLosses.length === 0) {
    lines.push("No stateful resource is replaced or deleted.");
  } else {
    lines.push(`!! ${diff.statefulLosses.length} STATEFUL RESOURCE${diff.statefulLosses.length === 1 ? "" : "S"} REPLACED OR DELETED: the data does not come along`);
    for (const c of diff.statefulLosses) lines.push(`!!   ${c.op} ${c.name} (${c.type}): ${c.stateful}`);
    lines.push("!! Take the safe path instead (docs/delivery.md, \"The safe path\"): a new stack beside this one, promote into it, switch.");
  }
  return lines;
}
