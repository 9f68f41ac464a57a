// Provider facts: which engine versions each cloud offers in each mode, default sizes, reserved names.
// Checked against the provider packages' docs (node_modules/@pulumi/*) and the vendors' release pages.
import { Cloud, Engine, Mode } from "./types";

const POSTGRES_13_TO_17 = ["13", "14", "15", "16", "17"];

/**
 * Engine versions per cloud and mode. Self-managed versions are what the vendors' signed apt repositories
 * publish for Debian 12 (MariaDB LTS series, MySQL 8.0/8.4 LTS, PGDG); managed ones are the DBaaS offers.
 * An engine absent from a list is not offered there (no managed MariaDB on DigitalOcean or Linode).
 */
export const ENGINE_VERSIONS: Readonly<Record<Cloud, Readonly<Record<Mode, Readonly<Partial<Record<Engine, readonly string[]>>>>>>> = {
  digitalocean: {
    "self-managed": selfManagedVersions(),
    managed: { mysql: ["8"], postgres: POSTGRES_13_TO_17 },
  },
  linode: {
    "self-managed": selfManagedVersions(),
    managed: { mysql: ["8"], postgres: POSTGRES_13_TO_17 },
  },
  aws: {
    "self-managed": selfManagedVersions(),
    managed: {
      mariadb: ["10.6", "10.11", "11.4", "11.8"],
      mysql: ["8.0", "8.4"],
      postgres: [...POSTGRES_13_TO_17, "18"],
    },
  },
};

function selfManagedVersions(): Readonly<Partial<Record<Engine, readonly string[]>>> {
  return {
    mariadb: ["10.6", "10.11", "11.4", "11.8"],
    mysql: ["8.0", "8.4"],
    postgres: [...POSTGRES_13_TO_17, "18"],
  };
}

export function allowedVersions(cloud: Cloud, mode: Mode, engine: Engine): readonly string[] {
  return ENGINE_VERSIONS[cloud][mode][engine] ?? [];
}

export function enginesOffered(cloud: Cloud, mode: Mode): Engine[] {
  return Object.keys(ENGINE_VERSIONS[cloud][mode]) as Engine[];
}

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

/** DigitalOcean database firewalls: at most this many rules, IPv4 only. */
export const DO_DATABASE_FIREWALL_MAX_RULES = 100;

/** Read replicas accepted per cloud (Linode v2 clusters have none; HA there is a 3-node cluster). */
export const MAX_READ_REPLICAS: Readonly<Record<Cloud, number>> = { digitalocean: 5, linode: 0, aws: 5 };
