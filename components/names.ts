// Provider-side names (cluster identifiers, labels, group names): one planner, per-cloud rules declared once.
// Pure. A name that does not fit is shortened with a hash of the full name, so two long names that differ
// only at the end (two replicas, or a replica and its primary) never shorten to the same string.
import { createHash } from "crypto";
import { Cloud, DbTierConfig } from "./types";

export interface NameRule {
  readonly maxLength: number;
  readonly minLength: number;
  /** What the provider documents, quoted in every problem. */
  readonly description: string;
}

/**
 * The strictest rule among the resources each adapter names, so one planner serves them all:
 * - aws: an RDS DB instance identifier is 1-63 letters, digits and hyphens, starts with a letter, has no two
 *   consecutive hyphens and does not end with one (aws rds/instance.d.ts `identifier`, same rule for
 *   `finalSnapshotIdentifier`); parameter and subnet group names follow the same rule with 255 characters.
 * - linode: labels of instances, firewalls, VPCs and databases are 3-32 characters (firewall label: starts
 *   with a letter, no two of - _ . in a row; Linode API v4 Firewall `label`).
 * - digitalocean: database cluster and replica names are lowercase letters, digits and dashes; 63 keeps them
 *   valid as host names (droplet names become the host name).
 */
export const NAME_RULES: Readonly<Record<Cloud, NameRule>> = {
  aws: { maxLength: 63, minLength: 1, description: "RDS identifiers: a letter first, then letters, digits and single hyphens, no trailing hyphen, at most 63" },
  linode: { maxLength: 32, minLength: 3, description: "Linode labels: a letter first, letters, digits and single hyphens, 3 to 32 characters" },
  digitalocean: { maxLength: 63, minLength: 3, description: "DigitalOcean names: a letter first, lowercase letters, digits and single hyphens, at most 63" },
};

/** Hex characters of the hash suffix: 6 gives 16.7 million values, ample for the handful of names per stack. */
const HASH_LENGTH = 6;

const sanitize = (text: string): string =>
  text.toLowerCase().replace(/[^a-z0-9-]/g, "-").replace(/-+/g, "-").replace(/^-|-$/g, "");

const shortHash = (text: string): string => createHash("sha256").update(text).digest("hex").slice(0, HASH_LENGTH);

/** Every way `name` breaks `cloud`'s rule; empty when it is valid. */
export function nameProblems(cloud: Cloud, name: string): string[] {
  const rule = NAME_RULES[cloud];
  const problems: string[] = [];
  if (!/^[a-z]/.test(name)) problems.push("must start with a letter");
  if (/[^a-z0-9-]/.test(name)) problems.push("may hold only lowercase letters, digits and hyphens");
  if (name.includes("--")) problems.push("must not hold two hyphens in a row");
  if (name.endsWith("-")) problems.push("must not end with a hyphen");
  if (name.length > rule.maxLength) problems.push(`is ${name.length} characters; at most ${rule.maxLength}`);
  if (name.length < rule.minLength) problems.push(`is ${name.length} characters; at least ${rule.minLength}`);
  return problems;
}

/**
 * `<prefix>-<role>` made valid for `cloud`. When it is too long the prefix is cut and a hash of the whole
 * name inserted before the role, which stays readable: `shop-prod-next-…-3fa9c1-db-replica-1`.
 */
export function boundedName(cloud: Cloud, prefix: string, role: string): string {
  const max = NAME_RULES[cloud].maxLength;
  const full = sanitize(`${prefix}-${role}`);
  if (full.length <= max) return full;
  const hash = shortHash(full);
  const tail = sanitize(role);
  const room = max - tail.length - HASH_LENGTH - 2;
  if (room < 1) return `${full.slice(0, max - HASH_LENGTH - 1).replace(/-+$/, "")}-${hash}`;
  return `${full.slice(0, room).replace(/-+$/, "")}-${hash}-${tail}`;
}

/** The stack's name prefix: the datastore application, plus the stack unless the application already ends with it. */
export function namePrefix(application: string, stack: string): string {
  return application === stack || application.endsWith(`-${stack}`) ? application : `${application}-${stack}`;
}

type NamedConfig = Pick<DbTierConfig, "cloud" | "stack" | "appDb">;

/** The provider name of one of the stack's resources (`db`, `proxy`, `vpc`, `db-replica-0`, `database-fw`...). */
export function resourceName(config: NamedConfig, role: string): string {
  return boundedName(config.cloud, namePrefix(config.appDb.application, config.stack), role);
}

/** Roles of every provider-named resource a stack can create; the adapters name theirs from this list. */
export function stackRoles(readReplicas: number): string[] {
  return [
    "vpc", "subnet", "subnet-0", "subnet-1", "igw", "routes", "db", "proxy", "database-fw", "proxy-fw",
    "database-sg", "proxy-sg", "db-sg", "db-params",
    ...Array.from({ length: readReplicas }, (_, i) => `db-replica-${i}`),
  ];
}

/**
 * Every provider name the stack would use, checked against the cloud's rule and for collisions.
 * Returns one line per problem (empty when all are valid).
 */
export function stackNameProblems(config: NamedConfig & { readonly readReplicas: number }): string[] {
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const role of stackRoles(config.readReplicas)) {
    const name = resourceName(config, role);
    const broken = nameProblems(config.cloud, name);
    // One invalid name is enough to report: they share the prefix, so the rest break the same way.
    if (broken.length > 0 && !problems.some((p) => p.startsWith("gives the"))) problems.push(`gives the ${config.cloud} name ${JSON.stringify(name)} (${role}), which ${broken.join(", ")} (${NAME_RULES[config.cloud].description})`);
    const earlier = seen.get(name);
    if (earlier !== undefined) problems.push(`gives ${role} and ${earlier} the same ${config.cloud} name ${JSON.stringify(name)}`);
    seen.set(name, role);
  }
  return problems;
}
