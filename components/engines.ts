// Provider facts: which engine versions each cloud offers in each mode, default sizes, reserved names.
// Checked against the provider packages' docs (node_modules/@pulumi/*) and the vendors' release pages.
import { Cloud, Engine, Mode } from "./types";

/** The day the matrix below was last checked against the providers' documentation. */
export const MATRIX_CHECKED_ON = "2026-12-04";

/**
 * One major version a cloud offers in a mode. `endOfSupport` is the last day it may be created without paying
 * extra: upstream end of life for self-managed (no more security fixes from the vendor) and for DigitalOcean
 * and Linode (they retire versions at upstream end of life), the RDS end of standard support on AWS.
 * Undefined: no date announced beyond the checked horizon. `paidExtendedUntil`: RDS Extended Support (MySQL and
 * PostgreSQL only; MariaDB has none), up to 3 years past end of standard support at a per-vCPU-hour charge.
 */
export interface VersionOffer {
  readonly version: string;
  readonly endOfSupport?: string;
  readonly paidExtendedUntil?: string;
}

// Upstream end of life: MariaDB maintenance policy (10.6 2026-07-06, 10.11 2028-02-16, 11.4 2029-05-29,
// 11.8 2028-06-04), MySQL 8.0 2026-04-30 and 8.4 LTS 2032-04-30, PostgreSQL versioning policy (five years:
// 13 2025-11-13, 14 2026-11-12, 15 2027-11-11, 16 2028-11-09, 17 2029-11-08, 18 2030-11-14).
const UPSTREAM = {
  mariadb: [["10.6", "2026-07-06"], ["10.11", "2028-02-16"], ["11.4", "2029-05-29"], ["11.8", "2028-06-04"]],
  mysql: [["8.0", "2026-04-30"], ["8.4", "2032-04-30"]],
  postgres: [["13", "2025-11-13"], ["14", "2026-11-12"], ["15", "2027-11-11"], ["16", "2028-11-09"], ["17", "2029-11-08"], ["18", "2030-11-14"]],
} as const;

const upstream = (engine: keyof typeof UPSTREAM, versions?: readonly string[]): VersionOffer[] =>
  UPSTREAM[engine].filter(([v]) => !versions || versions.includes(v)).map(([version, endOfSupport]) => ({ version, endOfSupport }));

/**
 * Self-managed: what the vendors' signed apt repositories publish for Debian 12. DigitalOcean managed: MySQL
 * "v8" only (DigitalOcean MySQL limits page); PostgreSQL majors retired at upstream end of life, 18 not listed
 * in the checked documentation. Linode managed (v2 engines `mysql/8`, `postgresql/N`): the same policy.
 * AWS RDS: end of standard support from the RDS release calendars (MariaDB 10.6 2026-08-31, 10.11 2028-02-29,
 * 11.4 2029-05-31, 11.8 2030-06-30; MySQL 8.0 2026-07-31 with Extended Support to 2029-07-31, 8.4 not before
 * 2029; PostgreSQL N ends on 28/29 February five years after its release, 13 2026-02-28, 14 2027-02-28 ...).
 * An engine absent from a list is not offered there (no managed MariaDB on DigitalOcean or Linode).
 */
export const ENGINE_OFFERS: Readonly<Record<Cloud, Readonly<Record<Mode, Readonly<Partial<Record<Engine, readonly VersionOffer[]>>>>>>> = {
  digitalocean: {
    "self-managed": selfManaged(),
    managed: { mysql: [{ version: "8" }], postgres: upstream("postgres", ["13", "14", "15", "16", "17"]) },
  },
  linode: {
    "self-managed": selfManaged(),
    managed: { mysql: [{ version: "8" }], postgres: upstream("postgres", ["13", "14", "15", "16", "17"]) },
  },
  aws: {
    "self-managed": selfManaged(),
    managed: {
      mariadb: [
        { version: "10.6", endOfSupport: "2026-08-31" }, { version: "10.11", endOfSupport: "2028-02-29" },
        { version: "11.4", endOfSupport: "2029-05-31" }, { version: "11.8", endOfSupport: "2030-06-30" },
      ],
      mysql: [{ version: "8.0", endOfSupport: "2026-07-31", paidExtendedUntil: "2029-07-31" }, { version: "8.4" }],
      postgres: [
        { version: "13", endOfSupport: "2026-02-28", paidExtendedUntil: "2029-02-28" },
        { version: "14", endOfSupport: "2027-02-28", paidExtendedUntil: "2030-02-28" },
        { version: "15", endOfSupport: "2028-02-29", paidExtendedUntil: "2031-02-28" },
        { version: "16", endOfSupport: "2029-02-28", paidExtendedUntil: "2032-02-29" },
        { version: "17", endOfSupport: "2030-02-28", paidExtendedUntil: "2033-02-28" },
        { version: "18", endOfSupport: "2031-02-28", paidExtendedUntil: "2034-02-28" },
      ],
    },
  },
};

function selfManaged(): Readonly<Partial<Record<Engine, readonly VersionOffer[]>>> {
  return { mariadb: upstream("mariadb"), mysql: upstream("mysql"), postgres: upstream("postgres") };
}

/** The state of one version on one day: offered, only under paid RDS Extended Support, past its end, or unknown. */
export type VersionStatus =
  | { readonly kind: "supported" }
  | { readonly kind: "paid-extended"; readonly endOfSupport: string; readonly paidExtendedUntil: string }
  | { readonly kind: "ended"; readonly endOfSupport: string }
  | { readonly kind: "unknown" };

/** `today` as YYYY-MM-DD (UTC); dates compare as strings. */
export const isoDay = (today: Date): string => today.toISOString().slice(0, 10);

export function versionStatus(cloud: Cloud, mode: Mode, engine: Engine, version: string, today: Date): VersionStatus {
  const offer = (ENGINE_OFFERS[cloud][mode][engine] ?? []).find((o) => o.version === version);
  if (!offer) return { kind: "unknown" };
  const day = isoDay(today);
  if (offer.endOfSupport === undefined || day <= offer.endOfSupport) return { kind: "supported" };
  if (offer.paidExtendedUntil !== undefined && day <= offer.paidExtendedUntil) {
    return { kind: "paid-extended", endOfSupport: offer.endOfSupport, paidExtendedUntil: offer.paidExtendedUntil };
  }
  return { kind: "ended", endOfSupport: offer.endOfSupport };
}

/** Versions that may be created on `today` without paid extended support (what error messages list). */
export function allowedVersions(cloud: Cloud, mode: Mode, engine: Engine, today: Date): string[] {
  return (ENGINE_OFFERS[cloud][mode][engine] ?? [])
    .filter((o) => versionStatus(cloud, mode, engine, o.version, today).kind === "supported")
    .map((o) => o.version);
}

export function enginesOffered(cloud: Cloud, mode: Mode): Engine[] {
  return Object.keys(ENGINE_OFFERS[cloud][mode]) as Engine[];
}

/** Versions creatable today per cloud, mode and engine (a view of ENGINE_OFFERS; tests iterate over it). */
export const ENGINE_VERSIONS: Readonly<Record<Cloud, Readonly<Record<Mode, Readonly<Partial<Record<Engine, readonly string[]>>>>>>> = Object.fromEntries(
  (Object.keys(ENGINE_OFFERS) as Cloud[]).map((cloud) => [cloud, Object.fromEntries(
    (Object.keys(ENGINE_OFFERS[cloud]) as Mode[]).map((mode) => [mode, Object.fromEntries(
      enginesOffered(cloud, mode).map((engine) => [engine, allowedVersions(cloud, mode, engine, new Date())]),
    )]),
  )]),
) as never;

/** RDS engines that have Extended Support, and so honour `engineLifecycleSupport` (aws rds/instance.d.ts). */
export const RDS_LIFECYCLE_ENGINES: readonly Engine[] = ["mysql", "postgres"];

/** Sizes used when `dbtier:size` / `dbtier:proxySize` are not set. */
export const DEFAULT_SIZES: Readonly<Record<Cloud, { readonly vm: string; readonly cluster: string; readonly proxy: string }>> = {
  digitalocean: { vm: "s-2vcpu-4gb", cluster: "db-s-2vcpu-4gb", proxy: "s-1vcpu-1gb" },
  linode: { vm: "g6-standard-2", cluster: "g6-dedicated-2", proxy: "g6-nanode-1" },
  aws: { vm: "t3.medium", cluster: "db.t3.medium", proxy: "t3.micro" },
};

/** Size slug shapes, to catch a VM size given where a cluster size belongs and vice versa. */
export const SIZE_PATTERNS: Readonly<Record<Cloud, { readonly vm: RegExp; readonly cluster: RegExp; readonly vmExample: string; readonly clusterExample: string }>> = {
  digitalocean: { vm: /^(s|c|c2|g|gd|m|m3|m6|so|so1_5)-[a-z0-9-]+$/, cluster: /^db-[a-z0-9-]+$/, vmExample: "s-2vcpu-4gb", clusterExample: "db-s-2vcpu-4gb" },
  linode: { vm: /^g[0-9]-[a-z]+-[0-9]+$/, cluster: /^g[0-9]-[a-z]+-[0-9]+$/, vmExample: "g6-standard-2", clusterExample: "g6-dedicated-2" },
  aws: { vm: /^[a-z][a-z0-9-]*\.[a-z0-9]+$/, cluster: /^db\.[a-z][a-z0-9-]*\.[a-z0-9]+$/, vmExample: "t3.medium", clusterExample: "db.t3.medium" },
};

export const REGION_PATTERNS: Readonly<Record<Cloud, { readonly pattern: RegExp; readonly examples: string }>> = {
  digitalocean: { pattern: /^[a-z]{3}[0-9]$/, examples: "nyc1, fra1, ams3, sfo3, sgp1, lon1" },
  linode: { pattern: /^[a-z]{2}-[a-z]+(-[0-9])?$/, examples: "us-east, eu-central, us-ord, fr-par, nl-ams" },
  aws: { pattern: /^[a-z]{2}(-gov)?-[a-z]+-[0-9]$/, examples: "eu-central-1, us-east-1, ap-southeast-2" },
};

/** Names the engines or the providers reserve for themselves. */
export const RESERVED_DATABASE_NAMES: Readonly<Record<Engine, readonly string[]>> = {
  mariadb: ["mysql", "information_schema", "performance_schema", "sys", "defaultdb", "rdsadmin", "_dodb"],
  mysql: ["mysql", "information_schema", "performance_schema", "sys", "defaultdb", "rdsadmin", "_dodb"],
  postgres: ["postgres", "template0", "template1", "defaultdb", "rdsadmin", "_dodb"],
};

export const RESERVED_USER_NAMES: Readonly<Record<Engine, readonly string[]>> = {
  mariadb: ["root", "mysql", "mariadb.sys", "admin", "doadmin", "rdsadmin", "rdsrepladmin", "akmadmin", "linroot", "dbtier_admin"],
  mysql: ["root", "mysql", "admin", "doadmin", "rdsadmin", "rdsrepladmin", "akmadmin", "linroot", "dbtier_admin"],
  postgres: ["postgres", "public", "admin", "doadmin", "rdsadmin", "rds_superuser", "akmadmin", "linpostgres", "dbtier_admin"],
};

/** Identifier length limits: MySQL 8 caps user names at 32 characters, PostgreSQL identifiers at 63 bytes. */
export const NAME_LIMITS: Readonly<Record<Engine, { readonly database: number; readonly user: number }>> = {
  mariadb: { database: 64, user: 32 },
  mysql: { database: 64, user: 32 },
  postgres: { database: 63, user: 63 },
};

/**
 * DigitalOcean database firewalls count ADDRESSES, up to 100 per cluster: an IP or CIDR counts 1, a droplet
 * its public and private address (2), a tag every address of every droplet carrying it; IPv6 is refused
 * (DigitalOcean "MySQL Limits" / "PostgreSQL Limits": trusted sources).
 */
export const DO_DATABASE_FIREWALL_MAX_ADDRESSES = 100;
export const DO_DROPLET_ADDRESSES = 2;
/** Each DigitalOcean cloud firewall takes up to 50 incoming and outgoing rules in total (Firewalls Limits). */
export const DO_CLOUD_FIREWALL_MAX_RULES = 50;
/** A Linode Cloud Firewall takes up to 25 rules across its inbound and outbound rule sets (API v4 Firewall rules). */
export const LINODE_FIREWALL_MAX_RULES = 25;
/**
 * AWS security groups: 60 inbound rules by default (VPC quota "Inbound or outbound rules per security group",
 * adjustable), enforced separately for IPv4 and IPv6 rules; a security group reference counts as one rule.
 */
export const AWS_SECURITY_GROUP_MAX_INBOUND_RULES = 60;

/**
 * Where IPv6 trusted sources can arrive. Undefined: reachable. Otherwise why not, for the error message.
 * DigitalOcean droplets have `ipv6: false` by default (digitalocean droplet.d.ts) and database trusted sources
 * are IPv4 only; the AWS VPC gets no IPv6 block and instances no IPv6 address; Linode instances get a public
 * IPv6 (SLAAC) address, but Linode database access controls take IPv4 addresses and ranges only.
 */
export const IPV6_UNREACHABLE: Readonly<Record<Cloud, { readonly vm?: string; readonly managedDatabase?: string }>> = {
  digitalocean: {
    vm: "dbtier's droplets have no IPv6 address (DigitalOcean droplets default to ipv6: false)",
    managedDatabase: "DigitalOcean database trusted sources accept IPv4 only",
  },
  linode: { managedDatabase: "Linode database access controls accept IPv4 addresses and ranges only" },
  aws: {
    vm: "dbtier's AWS VPC and instances have no IPv6 (no IPv6 CIDR block is assigned)",
    managedDatabase: "dbtier's AWS VPC has no IPv6, so RDS has no IPv6 address",
  },
};

/**
 * DigitalOcean database sizes on which standby nodes are refused: "Standby nodes can be added ... with the
 * exception of the smallest plan of single node clusters" (DigitalOcean Managed Databases overview).
 */
export const DO_SINGLE_NODE_ONLY_SIZES: readonly string[] = ["db-s-1vcpu-1gb"];

/** Read replicas accepted per cloud (Linode v2 clusters have none; HA there is a 3-node cluster). */
export const MAX_READ_REPLICAS: Readonly<Record<Cloud, number>> = { digitalocean: 5, linode: 0, aws: 5 };
