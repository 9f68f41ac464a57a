// Parses and validates a stack's `dbtier:` config into one typed object, or returns every problem at once.
// Pure: no Pulumi calls, so tests, `npm run plan` and `npm run promote` use exactly what `pulumi up` uses.
import { createHash } from "crypto";
import { resolveEngineConfig } from "./engineParams";
import { RestoreFrom, parseRestoreFrom } from "./restoreFrom";
import {
  DEFAULT_SIZES,
  DO_SINGLE_NODE_ONLY_SIZES,
  IPV6_UNREACHABLE,
  MAX_READ_REPLICAS,
  NAME_LIMITS,
  RDS_LIFECYCLE_ENGINES,
  REGION_PATTERNS,
  RESERVED_DATABASE_NAMES,
  RESERVED_USER_NAMES,
  SIZE_PATTERNS,
  allowedVersions,
  enginesOffered,
  versionStatus,
} from "./engines";
import { stackNameProblems } from "./names";
import { Cidr, cidrContains, isPrivateV4, parseCidr, specialRangeLabel } from "./net";
import { ruleLimitProblems } from "./trustedSources";
import {
  APP_DB_SOURCES,
  AppDbSource,
  BACKUP_PERIODS,
  BackupPeriod,
  CLOUDS,
  Cloud,
  ConfigProblem,
  DbTierConfig,
  ENGINES,
  Engine,
  MODES,
  Mode,
  ParseResult,
  MaintenanceWindow,
  SecretConfig,
  WEEKDAYS,
  Webserver,
  WebserversFrom,
  Weekday,
} from "./types";

export const NAMESPACE = "dbtier";

/** Keys that hold credentials: they must be set with `pulumi config set --secret`. */
export const SECRET_KEYS = [
  "datastoreAccessKeyId",
  "datastoreSecretAccessKey",
  "alertEmail",
  "smtpUrl",
  "smtpPassword",
  "baselineDeployKey",
] as const;

const PLAIN_KEYS = [
  "cloud", "region", "mode", "engine", "engineVersion", "size", "proxySize", "webservers", "webserverTag",
  "adminCidrs", "adminSshPublicKey", "database", "appDb", "backups", "highAvailability", "readReplicas",
  "protect", "allowWideSources", "vpcCidr", "webserversFrom", "webserverTagDroplets", "rdsExtendedSupport",
  "maintenanceWindow", "backupHour", "backupRetentionDays", "engineConfig", "restoreFrom",
] as const;

export const KNOWN_KEYS: readonly string[] = [...PLAIN_KEYS, ...SECRET_KEYS];

export const DEFAULT_RETENTION: Readonly<Record<BackupPeriod, number>> = { hourly: 24, daily: 7, weekly: 4, monthly: 12 };
/**
 * Default VPC range: one of 1024 /20 blocks of 10.32.0.0-10.95.255.255 picked by a hash of the stack name, so
 * dev, prod and a copied prod-next do not default to the same range (DigitalOcean refuses a VPC range that
 * overlaps another in the account: digitalocean vpc.d.ts `ipRange`). The span stays clear of DigitalOcean's
 * reserved 10.229/16 and 10.244-10.246 ranges and of the 10.1xx ranges of its per-region default VPCs. Two
 * stack names can still meet (1 in 1024): `vpcOverlapProblems` checks the stack files side by side.
 */
export const DEFAULT_VPC_SPAN = { firstOctet: 32, blocks: 1024, prefix: 20 } as const;
export function defaultVpcCidr(stack: string): string {
  const n = createHash("sha256").update(stack).digest().readUInt32BE(0) % DEFAULT_VPC_SPAN.blocks;
  const blocksPerOctet = 2 ** (DEFAULT_VPC_SPAN.prefix - 16);
  return `10.${DEFAULT_VPC_SPAN.firstOctet + Math.floor(n / blocksPerOctet)}.${(n % blocksPerOctet) * (256 / blocksPerOctet)}.0/${DEFAULT_VPC_SPAN.prefix}`;
}
export const DEFAULT_MAINTENANCE_WINDOW: MaintenanceWindow = { day: "sunday", hourUtc: 3 };
/** Daily provider backup starts at 02:00 UTC, an hour before the maintenance window (RDS refuses overlapping windows). */
export const DEFAULT_BACKUP_HOUR_UTC = 2;
/** RDS automated backups: 1-35 days (0 would switch them, and point-in-time restore, off). */
export const DEFAULT_BACKUP_RETENTION_DAYS = 14;
export const MAX_BACKUP_RETENTION_DAYS = 35;
/** How many droplets a DigitalOcean webserver tag is budgeted for when counting database firewall addresses. */
export const DEFAULT_WEBSERVER_TAG_DROPLETS = 10;
const MAX_WEBSERVER_TAG_DROPLETS = 49;
export const DEFAULT_BASELINE_PATH = "dbtier/baseline.sql";
/** IPv4 sources wider than this prefix (or IPv6 wider than /48) need `dbtier:allowWideSources: true`. */
export const WIDEST_IPV4_PREFIX = 16;
export const WIDEST_IPV6_PREFIX = 48;
/** Retention counts above this are almost certainly typos (and would keep years of hourly dumps). */
const MAX_RETENTION = 1000;

const NAME_PATTERN = /^[a-z][a-z0-9_]*$/;
const WEBSERVER_NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const AGE_RECIPIENT_PATTERN = /^age1[02-9ac-hj-np-z]{58}$/;
const BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const DO_TAG_PATTERN = /^[a-zA-Z0-9:_.-]{1,255}$/;
const AWS_SG_PATTERN = /^sg-[0-9a-f]{8}([0-9a-f]{9})?$/;
const SSH_PUBLIC_KEY_PATTERN = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+={0,3}( .*)?$/;
/** What the hosts accept as a pinned signing key (scripts/host/lib/dbtier/config.py SSH_ED25519, lib/common.sh SSH_ED25519_PATTERN). */
const SIGNING_PUBLIC_KEY_PATTERN = /^ssh-ed25519 [A-Za-z0-9+/]{68}( [^\x00-\x1f\x7f]*)?$/;
const GIT_URL_PATTERN = /^(ssh:\/\/[^\s]+|[a-zA-Z0-9._-]+@[a-zA-Z0-9.-]+:[^\s]+|https:\/\/[^\s]+|file:\/\/\/[^\s]+)$/;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Collects problems; every reader records what is wrong and returns undefined, so parsing continues. */
class Problems {
  readonly list: ConfigProblem[] = [];
  add(key: string, message: string): undefined {
    this.list.push({ key: `${NAMESPACE}:${key}`, message });
    return undefined;
  }
}

const show = (value: unknown): string => JSON.stringify(value);
const oneOf = (values: readonly string[]): string => values.join(" | ");

/** Levenshtein distance, to suggest the key a typo meant. */
function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

function suggestion(key: string, candidates: readonly string[]): string {
  const best = candidates
    .map((candidate) => ({ candidate, distance: editDistance(key, candidate) }))
    .sort((x, y) => x.distance - y.distance)[0];
  return best && best.distance <= Math.max(2, Math.floor(key.length / 3)) ? `; did you mean ${show(best.candidate)}?` : "";
}

class Reader {
  constructor(private readonly raw: Readonly<Record<string, string>>, readonly problems: Problems) {}

  has(key: string): boolean {
    return this.raw[`${NAMESPACE}:${key}`] !== undefined;
  }

  text(key: string): string | undefined {
    const value = this.raw[`${NAMESPACE}:${key}`];
    if (value === undefined) return undefined;
    if (value.trim() === "") return this.problems.add(key, "is empty; remove it or give a value");
    return value.trim();
  }

  required(key: string, allowed: string): string | undefined {
    const value = this.text(key);
    if (value === undefined && !this.has(key)) return this.problems.add(key, `is required; allowed: ${allowed}`);
    return value;
  }

  choice<T extends string>(key: string, values: readonly T[], fallback?: T): T | undefined {
    const value = fallback === undefined ? this.required(key, oneOf(values)) : this.text(key) ?? (this.has(key) ? undefined : fallback);
    if (value === undefined) return undefined;
    if (!(values as readonly string[]).includes(value)) {
      return this.problems.add(key, `${show(value)} is not allowed; allowed: ${oneOf(values)}`);
    }
    return value as T;
  }

  bool(key: string, fallback: boolean): boolean | undefined {
    const value = this.text(key);
    if (value === undefined) return this.has(key) ? undefined : fallback;
    if (value === "true") return true;
    if (value === "false") return false;
    return this.problems.add(key, `${show(value)} is not a boolean; allowed: true | false`);
  }

  integer(key: string, fallback: number, min: number, max: number): number | undefined {
    const value = this.text(key);
    if (value === undefined) return this.has(key) ? undefined : fallback;
    return checkInteger(this.problems, key, Number(value), value, min, max);
  }

  json(key: string): Json | undefined {
    const value = this.raw[`${NAMESPACE}:${key}`];
    if (value === undefined) return undefined;
    try {
      return JSON.parse(value) as Json;
    } catch {
      return this.problems.add(key, `is not valid structured config (${show(value.slice(0, 40))}); set it as YAML in the stack file or with \`pulumi config set --path\``);
    }
  }
}

function checkInteger(problems: Problems, key: string, value: unknown, shown: unknown, min: number, max: number): number | undefined {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    return problems.add(key, `${show(shown)} is not allowed; allowed: a whole number from ${min} to ${max}`);
  }
  return value;
}

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reports fields of an object-valued key that the schema does not know. */
function unknownFields(problems: Problems, key: string, value: { [k: string]: Json }, known: readonly string[]): void {
  for (const field of Object.keys(value)) {
    if (!known.includes(field)) problems.add(`${key}.${field}`, `is not a known field${suggestion(field, known)} (known: ${known.join(", ")})`);
  }
}

function fieldText(problems: Problems, key: string, value: Json | undefined): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") return problems.add(key, `${show(value)} is not a string`);
  if (value.trim() === "") return problems.add(key, "is empty");
  return value.trim();
}

interface SourceRules {
  readonly allowWide: boolean;
  /** Refuse "anywhere" even with allowWideSources (used for SSH). */
  readonly neverAnywhere: boolean;
}

function checkSource(problems: Problems, key: string, text: string, rules: SourceRules): Cidr | undefined {
  const cidr = parseCidr(text);
  if (!cidr) return problems.add(key, `${show(text)} is not an IPv4/IPv6 address or CIDR (e.g. 203.0.113.10, 203.0.113.0/28, 2001:db8::10)`);
  const special = specialRangeLabel(cidr);
  if (special) return problems.add(key, `${show(text)} is a ${special} address and cannot be a client source`);
  if (cidr.prefix === 0 && rules.neverAnywhere) return problems.add(key, `${show(text)} opens SSH to the whole Internet; allowed: your admin ranges (e.g. 198.51.100.0/24)`);
  const widest = cidr.family === 4 ? WIDEST_IPV4_PREFIX : WIDEST_IPV6_PREFIX;
  if (cidr.prefix < widest && !rules.allowWide) {
    return problems.add(key, `${show(text)} is wider than /${widest}; list the hosts or narrower ranges, or set dbtier:allowWideSources: true on purpose`);
  }
  return cidr;
}

interface ParsedWebservers {
  readonly list: Webserver[];
  /** The config key each entry of `list` came from, for later problems. */
  readonly keys: string[];
}

function parseWebservers(problems: Problems, value: Json | undefined, allowWide: boolean, base = "webservers"): ParsedWebservers | undefined {
  if (value === undefined) return { list: [], keys: [] };
  if (!Array.isArray(value)) return problems.add(base, "must be a list of {name, ip}");
  const seenNames = new Set<string>();
  const seenCidrs = new Set<string>();
  const list: Webserver[] = [];
  const keys: string[] = [];
  value.forEach((item, index) => {
    const key = `${base}[${index}]`;
    if (!isObject(item)) return problems.add(key, `${show(item)} must be an object {name, ip}`);
    unknownFields(problems, key, item, ["name", "ip"]);
    const name = fieldText(problems, `${key}.name`, item.name);
    const ip = fieldText(problems, `${key}.ip`, item.ip);
    if (item.name === undefined) problems.add(`${key}.name`, "is required (a short label such as web1)");
    if (item.ip === undefined) problems.add(`${key}.ip`, "is required (an IPv4/IPv6 address or CIDR)");
    if (name !== undefined && !WEBSERVER_NAME_PATTERN.test(name)) {
      problems.add(`${key}.name`, `${show(name)} is not allowed; use lowercase letters, digits and dashes (max 63)`);
    } else if (name !== undefined && seenNames.has(name)) {
      problems.add(`${key}.name`, `${show(name)} is used by an earlier webserver; names must be unique`);
    }
    const cidr = ip === undefined ? undefined : checkSource(problems, `${key}.ip`, ip, { allowWide, neverAnywhere: false });
    if (name === undefined || cidr === undefined) return undefined;
    seenNames.add(name);
    if (seenCidrs.has(cidr.canonical)) return undefined; // the same source listed twice is one rule
    seenCidrs.add(cidr.canonical);
    list.push({ name, cidr: cidr.canonical, family: cidr.family });
    keys.push(key);
    return undefined;
  });
  return { list, keys };
}

/** Where a webserver's packets could never arrive, or an account could never be made for it. */
function checkWebserverReach(problems: Problems, cloud: Cloud, mode: Mode, engine: Engine | undefined, parsed: ParsedWebservers): void {
  const unreachable = mode === "managed" ? IPV6_UNREACHABLE[cloud].managedDatabase : IPV6_UNREACHABLE[cloud].vm;
  parsed.list.forEach((w, i) => {
    if (w.family !== 6) return;
    if (unreachable) {
      problems.add(`${parsed.keys[i]}.ip`, `${show(w.cidr)} is IPv6, but ${unreachable}; allowed here: IPv4 addresses and ranges`);
    } else if (mode === "self-managed" && engine !== "postgres" && !w.cidr.endsWith("/128")) {
      // MySQL/MariaDB account hosts take an IPv4 netmask or one exact IPv6 address, so init refuses an IPv6 range.
      problems.add(`${parsed.keys[i]}.ip`, `${show(w.cidr)} is an IPv6 range, which ${engine ?? "MySQL/MariaDB"} accounts cannot express; list single IPv6 addresses`);
    }
  });
}

function parseAdminCidrs(problems: Problems, value: Json | undefined, allowWide: boolean, cloud: Cloud | undefined): string[] | undefined {
  if (value === undefined) return problems.add("adminCidrs", "is required: every shape has a VM (the database VM or the proxy) whose SSH must be limited to your admin ranges, e.g. [198.51.100.0/24]");
  if (!Array.isArray(value) || value.length === 0) return problems.add("adminCidrs", "must be a non-empty list of CIDRs, e.g. [198.51.100.0/24]");
  const result: string[] = [];
  value.forEach((item, index) => {
    const text = fieldText(problems, `adminCidrs[${index}]`, item);
    const cidr = text === undefined ? undefined : checkSource(problems, `adminCidrs[${index}]`, text, { allowWide, neverAnywhere: true });
    const unreachable = cloud ? IPV6_UNREACHABLE[cloud].vm : undefined;
    if (cidr?.family === 6 && unreachable) {
      problems.add(`adminCidrs[${index}]`, `${show(cidr.canonical)} is IPv6, but ${unreachable}, so SSH from it never arrives; allowed here: IPv4 ranges`);
    } else if (cidr && !result.includes(cidr.canonical)) result.push(cidr.canonical);
  });
  return result;
}

function checkName(problems: Problems, key: string, name: string, engine: Engine | undefined, kind: "database" | "user"): void {
  if (!NAME_PATTERN.test(name)) {
    problems.add(key, `${show(name)} is not allowed; use lowercase letters, digits and underscores, starting with a letter`);
    return;
  }
  const engines = engine ? [engine] : ENGINES;
  for (const e of engines) {
    const limit = NAME_LIMITS[e][kind];
    const reserved = kind === "database" ? RESERVED_DATABASE_NAMES[e] : RESERVED_USER_NAMES[e];
    if (name.length > limit) {
      problems.add(key, `${show(name)} is ${name.length} characters; ${e} allows at most ${limit}`);
      return;
    }
    if (reserved.includes(name) || (e === "postgres" && name.startsWith("pg_"))) {
      problems.add(key, `${show(name)} is reserved by ${e} or the provider; choose another name`);
      return;
    }
  }
}

function parseDatabase(problems: Problems, value: Json | undefined, engine: Engine | undefined): { name: string; user: string } | undefined {
  const fallback = { name: "app", user: "app" };
  if (value === undefined) return fallback;
  if (!isObject(value)) return problems.add("database", "must be an object {name, user}");
  unknownFields(problems, "database", value, ["name", "user"]);
  const name = fieldText(problems, "database.name", value.name) ?? (value.name === undefined ? fallback.name : undefined);
  const user = fieldText(problems, "database.user", value.user) ?? (value.user === undefined ? fallback.user : undefined);
  if (name !== undefined) checkName(problems, "database.name", name, engine, "database");
  if (user !== undefined) checkName(problems, "database.user", user, engine, "user");
  return name !== undefined && user !== undefined ? { name, user } : undefined;
}

function parseAppDb(problems: Problems, value: Json | undefined, databaseName: string | undefined, stack: string) {
  // Each stack backs up under its own prefix, so dev's and prod's generations never mix or prune each other.
  const application = `${databaseName?.replace(/_/g, "-") ?? "app"}-${stack.toLowerCase()}`.slice(0, 63);
  if (value === undefined) return { source: "virgin" as AppDbSource, baselinePath: DEFAULT_BASELINE_PATH, application, sourceApplication: application };
  if (!isObject(value)) return problems.add("appDb", "must be an object {source, baselineRepo?, baselinePath?, application?, sourceApplication?, sourceSigningPublicKey?}");
  unknownFields(problems, "appDb", value, ["source", "baselineRepo", "baselineKnownHosts", "baselinePath", "application", "sourceApplication", "sourceSigningPublicKey"]);
  const sourceText = fieldText(problems, "appDb.source", value.source) ?? "virgin";
  const source = (APP_DB_SOURCES as readonly string[]).includes(sourceText)
    ? (sourceText as AppDbSource)
    : problems.add("appDb.source", `${show(sourceText)} is not allowed; allowed: ${oneOf(APP_DB_SOURCES)}`);
  const baselineRepo = fieldText(problems, "appDb.baselineRepo", value.baselineRepo);
  if (baselineRepo !== undefined && !GIT_URL_PATTERN.test(baselineRepo)) {
    problems.add("appDb.baselineRepo", `${show(baselineRepo)} is not a git URL over SSH or HTTPS (e.g. git@github.com:acme/app-db.git)`);
  }
  if (source === "baseline" && baselineRepo === undefined && value.baselineRepo === undefined) {
    problems.add("appDb.baselineRepo", "is required when dbtier:appDb.source is \"baseline\" (the git repository holding the dump)");
  }
  const baselineKnownHosts = fieldText(problems, "appDb.baselineKnownHosts", value.baselineKnownHosts);
  const sshRepo = baselineRepo !== undefined && !/^(https|file):\/\//.test(baselineRepo);
  if (sshRepo && baselineKnownHosts === undefined && value.baselineKnownHosts === undefined) {
    problems.add("appDb.baselineKnownHosts", "is required for an SSH baselineRepo: the git server's known_hosts line (ssh-keyscan it once and check its fingerprint), so the host key is pinned");
  } else if (baselineKnownHosts !== undefined && !baselineKnownHosts.split("\n").every((line) => /^\S+ (ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}\s*$/.test(line.trim()) || line.trim() === "")) {
    problems.add("appDb.baselineKnownHosts", "is not in known_hosts format (`host key-type base64-key`, one per line)");
  }
  const baselinePath = fieldText(problems, "appDb.baselinePath", value.baselinePath) ?? DEFAULT_BASELINE_PATH;
  if (baselinePath.startsWith("/") || baselinePath.split("/").includes("..") || !/\.sql(\.zst|\.gz)?$/.test(baselinePath)) {
    problems.add("appDb.baselinePath", `${show(baselinePath)} must be a relative path inside the repository ending in .sql, .sql.zst or .sql.gz`);
  }
  const app = fieldText(problems, "appDb.application", value.application) ?? application;
  const sourceApp = fieldText(problems, "appDb.sourceApplication", value.sourceApplication) ?? app;
  for (const [field, text] of [["application", app], ["sourceApplication", sourceApp]] as const) {
    if (!WEBSERVER_NAME_PATTERN.test(text)) problems.add(`appDb.${field}`, `${show(text)} is not allowed; use lowercase letters, digits and dashes (max 63)`);
  }
  const sourceKey = fieldText(problems, "appDb.sourceSigningPublicKey", value.sourceSigningPublicKey);
  if (sourceKey !== undefined && !SIGNING_PUBLIC_KEY_PATTERN.test(sourceKey)) {
    problems.add("appDb.sourceSigningPublicKey", `${show(sourceKey)} is not an OpenSSH ed25519 public key line (the source stack's backupSigningPublicKey output: ssh-ed25519 AAAA...)`);
  }
  if (source === undefined) return undefined;
  return {
    source, baselinePath, application: app, sourceApplication: sourceApp,
    ...(sourceKey !== undefined ? { sourceSigningPublicKey: sourceKey } : {}),
    ...(baselineRepo !== undefined ? { baselineRepo } : {}),
    ...(baselineKnownHosts !== undefined ? { baselineKnownHosts } : {}),
  };
}

function checkEndpoint(problems: Problems, endpoint: string): void {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    problems.add("backups.datastore.endpoint", `${show(endpoint)} is not a URL (e.g. https://fra1.digitaloceanspaces.com)`);
    return;
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const hostCidr = parseCidr(host);
  // Plain http is accepted only for loopback and the TEST-NET ranges the lab uses; credentials never cross a network in clear.
  const labHost = hostCidr !== undefined && ["127.0.0.0/8", "::1/128", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"]
    .some((range) => cidrContains(parseCidr(range) as Cidr, hostCidr));
  if (url.protocol !== "https:" && !(url.protocol === "http:" && labHost)) {
    problems.add("backups.datastore.endpoint", `${show(endpoint)} must use https:// (http:// is allowed only for loopback and TEST-NET lab hosts)`);
  }
}

function parseBackups(problems: Problems, value: Json | undefined) {
  if (value === undefined) return problems.add("backups", "is required: {datastore: {endpoint, bucket, region}, encryptionRecipient, periods?, retention?}");
  if (!isObject(value)) return problems.add("backups", "must be an object {datastore, encryptionRecipient, periods?, retention?}");
  unknownFields(problems, "backups", value, ["periods", "retention", "datastore", "encryptionRecipient"]);

  let periods: BackupPeriod[] | undefined = [...BACKUP_PERIODS];
  if (value.periods !== undefined) {
    if (!Array.isArray(value.periods) || value.periods.length === 0) {
      periods = problems.add("backups.periods", `must be a non-empty list of ${oneOf(BACKUP_PERIODS)}`);
    } else {
      periods = [];
      for (const [index, period] of value.periods.entries()) {
        if (typeof period !== "string" || !(BACKUP_PERIODS as readonly string[]).includes(period)) {
          problems.add(`backups.periods[${index}]`, `${show(period)} is not allowed; allowed: ${oneOf(BACKUP_PERIODS)}`);
        } else if (periods.includes(period as BackupPeriod)) {
          problems.add(`backups.periods[${index}]`, `${show(period)} is listed twice`);
        } else {
          periods.push(period as BackupPeriod);
        }
      }
      periods = BACKUP_PERIODS.filter((p) => periods?.includes(p));
    }
  }

  const retention: Record<BackupPeriod, number> = { ...DEFAULT_RETENTION };
  if (value.retention !== undefined) {
    if (!isObject(value.retention)) {
      problems.add("backups.retention", `must be an object such as {hourly: 24, daily: 7, weekly: 4, monthly: 12}`);
    } else {
      unknownFields(problems, "backups.retention", value.retention, BACKUP_PERIODS);
      for (const period of BACKUP_PERIODS) {
        const count = value.retention[period];
        if (count === undefined) continue;
        const checked = checkInteger(problems, `backups.retention.${period}`, count, count, 1, MAX_RETENTION);
        if (checked !== undefined) retention[period] = checked;
      }
    }
  }

  let datastore: { endpoint: string; bucket: string; region: string } | undefined;
  if (!isObject(value.datastore)) {
    problems.add("backups.datastore", "is required: {endpoint, bucket, region} of an S3-compatible store");
  } else {
    unknownFields(problems, "backups.datastore", value.datastore, ["endpoint", "bucket", "region"]);
    const endpoint = fieldText(problems, "backups.datastore.endpoint", value.datastore.endpoint);
    const bucket = fieldText(problems, "backups.datastore.bucket", value.datastore.bucket);
    const region = fieldText(problems, "backups.datastore.region", value.datastore.region);
    for (const [field, text] of [["endpoint", endpoint], ["bucket", bucket], ["region", region]] as const) {
      if (text === undefined && value.datastore[field] === undefined) problems.add(`backups.datastore.${field}`, "is required");
    }
    if (endpoint !== undefined) checkEndpoint(problems, endpoint);
    if (bucket !== undefined && (!BUCKET_PATTERN.test(bucket) || bucket.includes(".."))) {
      problems.add("backups.datastore.bucket", `${show(bucket)} is not a valid bucket name (3-63 lowercase letters, digits, dots, dashes)`);
    }
    if (region !== undefined && !/^[a-z0-9-]{2,32}$/.test(region)) problems.add("backups.datastore.region", `${show(region)} is not a region slug`);
    if (endpoint !== undefined && bucket !== undefined && region !== undefined) datastore = { endpoint, bucket, region };
  }

  const recipient = fieldText(problems, "backups.encryptionRecipient", value.encryptionRecipient);
  if (recipient === undefined && value.encryptionRecipient === undefined) {
    problems.add("backups.encryptionRecipient", "is required: the age public key (age1...) backups are encrypted to; keep the private key off the hosts");
  } else if (recipient !== undefined && !AGE_RECIPIENT_PATTERN.test(recipient)) {
    problems.add("backups.encryptionRecipient", `${show(recipient.slice(0, 16))}... is not an age public key (age1 followed by 58 bech32 characters; \`age-keygen -y key.txt\` prints it)`);
  }
  if (periods === undefined || datastore === undefined || recipient === undefined) return undefined;
  return { periods, retention, datastore, encryptionRecipient: recipient };
}

function checkVersion(problems: Problems, cloud: Cloud, mode: Mode, engine: Engine, version: string | undefined, today: Date, paidExtendedSupport: boolean): void {
  const offered = enginesOffered(cloud, mode);
  if (!offered.includes(engine)) {
    problems.add("engine", `${show(engine)} is not offered by ${cloud} in ${mode} mode; allowed: ${oneOf(offered)}`);
    return;
  }
  if (version === undefined) return;
  const allowed = oneOf(allowedVersions(cloud, mode, engine, today));
  const where = `${engine} on ${cloud} (${mode})`;
  const status = versionStatus(cloud, mode, engine, version, today);
  if (status.kind === "unknown") problems.add("engineVersion", `${show(version)} is not available for ${where}; allowed: ${allowed}`);
  if (status.kind === "ended") {
    problems.add("engineVersion", `${show(version)} reached its end of support on ${status.endOfSupport} (${mode === "self-managed" ? "no more security fixes upstream" : "the provider no longer creates it"}) for ${where}; allowed: ${allowed}`);
  }
  if (status.kind === "paid-extended" && !paidExtendedSupport) {
    problems.add("engineVersion", `${show(version)} is past RDS end of standard support (${status.endOfSupport}): RDS would create it only under paid Extended Support; allowed: ${allowed}, or set dbtier:rdsExtendedSupport: true to pay for it (until ${status.paidExtendedUntil})`);
  }
}

function checkWebserverTag(problems: Problems, cloud: Cloud, tag: string | undefined): void {
  if (tag === undefined) return;
  if (cloud === "linode") problems.add("webserverTag", "is not supported on linode: its firewalls and database allow lists take addresses only; list the webservers instead");
  if (cloud === "aws" && !AWS_SG_PATTERN.test(tag)) problems.add("webserverTag", `${show(tag)} is not a security group id (sg- followed by 8 or 17 hex digits)`);
  if (cloud === "digitalocean" && !DO_TAG_PATTERN.test(tag)) problems.add("webserverTag", `${show(tag)} is not a DigitalOcean tag (letters, digits, : _ . -, max 255)`);
}

function parseVpcCidr(problems: Problems, text: string | undefined, stack: string): string | undefined {
  if (text === undefined) return defaultVpcCidr(stack);
  const cidr = parseCidr(text);
  if (!cidr || cidr.family !== 4 || !isPrivateV4(cidr) || cidr.prefix < 16 || cidr.prefix > 24) {
    return problems.add("vpcCidr", `${show(text)} is not allowed; allowed: a private IPv4 range (10/8, 172.16/12, 192.168/16) from /16 to /24`);
  }
  return cidr.canonical;
}

const STACK_REFERENCE_PATTERN = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+){0,2}$/;
const OUTPUT_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

function parseWebserversFrom(problems: Problems, value: Json | undefined, stack: string): WebserversFrom | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) return problems.add("webserversFrom", "must be an object {stack, output}: the stack (org/project/stack) and its output holding [{name, ip}]");
  unknownFields(problems, "webserversFrom", value, ["stack", "output"]);
  const ref = fieldText(problems, "webserversFrom.stack", value.stack);
  const output = fieldText(problems, "webserversFrom.output", value.output);
  if (value.stack === undefined) problems.add("webserversFrom.stack", "is required: the stack that publishes the webservers, e.g. acme/web/prod");
  if (value.output === undefined) problems.add("webserversFrom.output", "is required: the name of its output holding [{name, ip}], e.g. webservers");
  if (ref !== undefined && !STACK_REFERENCE_PATTERN.test(ref)) problems.add("webserversFrom.stack", `${show(ref)} is not a stack name; allowed: stack, project/stack or org/project/stack`);
  else if (ref !== undefined && ref.split("/").pop() === stack && !ref.includes("/")) problems.add("webserversFrom.stack", `${show(ref)} is this stack; name the stack that runs the webservers`);
  if (output !== undefined && !OUTPUT_NAME_PATTERN.test(output)) problems.add("webserversFrom.output", `${show(output)} is not an output name (letters, digits, underscores)`);
  return ref !== undefined && output !== undefined ? { stack: ref, output } : undefined;
}

function parseMaintenanceWindow(problems: Problems, value: Json | undefined): MaintenanceWindow | undefined {
  if (value === undefined) return DEFAULT_MAINTENANCE_WINDOW;
  if (!isObject(value)) return problems.add("maintenanceWindow", "must be an object {day, hour}, e.g. {day: sunday, hour: 3} (UTC)");
  unknownFields(problems, "maintenanceWindow", value, ["day", "hour"]);
  const dayText = fieldText(problems, "maintenanceWindow.day", value.day) ?? (value.day === undefined ? DEFAULT_MAINTENANCE_WINDOW.day : undefined);
  const day = dayText === undefined || (WEEKDAYS as readonly string[]).includes(dayText.toLowerCase())
    ? (dayText?.toLowerCase() as Weekday | undefined)
    : problems.add("maintenanceWindow.day", `${show(dayText)} is not allowed; allowed: ${oneOf(WEEKDAYS)}`);
  const hour = value.hour === undefined ? DEFAULT_MAINTENANCE_WINDOW.hourUtc : checkInteger(problems, "maintenanceWindow.hour", value.hour, value.hour, 0, 23);
  return day !== undefined && hour !== undefined ? { day, hourUtc: hour } : undefined;
}

function parseSecrets(reader: Reader, isSecret: ((fullKey: string) => boolean) | undefined): SecretConfig {
  const secrets: Record<string, string> = {};
  for (const key of SECRET_KEYS) {
    const value = reader.text(key);
    if (value === undefined) continue;
    if (isSecret && !isSecret(`${NAMESPACE}:${key}`)) {
      reader.problems.add(key, `holds a credential but is stored in plaintext; set it with \`pulumi config set --secret ${NAMESPACE}:${key}\``);
    }
    secrets[key] = value;
  }
  const email = secrets.alertEmail;
  if (email !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) reader.problems.add("alertEmail", "is not an email address");
  const smtp = secrets.smtpUrl;
  if (smtp !== undefined && !/^smtps?:\/\/[^\s:@]+(@[^\s]+)?$/.test(smtp)) {
    reader.problems.add("smtpUrl", "is not an smtp:// or smtps:// URL without a password (put the password in dbtier:smtpPassword)");
  }
  return secrets;
}

export interface ParseOptions {
  /** Whether a key was set with --secret, so credentials in plaintext are refused. */
  readonly isSecret?: (fullKey: string) => boolean;
  /** The day versions are judged on (end of support); today unless a test fixes it. */
  readonly today?: Date;
}

/**
 * Parses `raw` (Pulumi's allConfig map: `dbtier:key` -> string, objects as JSON text) for `stack`.
 * The third argument is `isSecret` or the options object.
 */
export function parseConfig(raw: Readonly<Record<string, string>>, stack: string, optionsOrIsSecret?: ParseOptions | ((fullKey: string) => boolean)): ParseResult {
  const options: ParseOptions = typeof optionsOrIsSecret === "function" ? { isSecret: optionsOrIsSecret } : optionsOrIsSecret ?? {};
  const today = options.today ?? new Date();
  const problems = new Problems();
  const reader = new Reader(raw, problems);

  for (const fullKey of Object.keys(raw)) {
    if (!fullKey.startsWith(`${NAMESPACE}:`)) continue;
    const key = fullKey.slice(NAMESPACE.length + 1);
    if (!KNOWN_KEYS.includes(key)) problems.add(key, `is not a known key${suggestion(key, KNOWN_KEYS)}`);
  }

  const cloud = reader.choice("cloud", CLOUDS);
  const mode = reader.choice("mode", MODES);
  const engine = reader.choice("engine", ENGINES);
  const engineVersion = reader.required("engineVersion", "a version the chosen cloud and mode offer (see README)");
  const rdsExtendedSupport = reader.bool("rdsExtendedSupport", false) ?? false;
  const rdsLifecycle = cloud === "aws" && mode === "managed" && engine !== undefined && RDS_LIFECYCLE_ENGINES.includes(engine);
  if (reader.has("rdsExtendedSupport") && cloud && mode && engine && !rdsLifecycle) {
    problems.add("rdsExtendedSupport", "applies only to dbtier:cloud aws, mode managed, engine mysql or postgres (RDS Extended Support; MariaDB has none)");
  }
  if (cloud && mode && engine) checkVersion(problems, cloud, mode, engine, engineVersion, today, rdsExtendedSupport);

  const region = reader.required("region", cloud ? `a ${cloud} region slug (${REGION_PATTERNS[cloud].examples})` : "a region slug");
  if (cloud && region !== undefined && !REGION_PATTERNS[cloud].pattern.test(region)) {
    problems.add("region", `${show(region)} is not a ${cloud} region slug; e.g. ${REGION_PATTERNS[cloud].examples}`);
  }

  const sizeDefault = cloud && mode ? DEFAULT_SIZES[cloud][mode === "managed" ? "cluster" : "vm"] : undefined;
  const size = reader.text("size") ?? sizeDefault;
  if (cloud && mode && size !== undefined && reader.has("size")) {
    const pattern = SIZE_PATTERNS[cloud];
    const [regex, example, what] = mode === "managed" ? [pattern.cluster, pattern.clusterExample, "database cluster"] : [pattern.vm, pattern.vmExample, "VM"];
    if (!regex.test(size)) problems.add("size", `${show(size)} is not a ${cloud} ${what} size; e.g. ${example}`);
  }
  const proxySize = reader.text("proxySize") ?? (cloud ? DEFAULT_SIZES[cloud].proxy : undefined);
  if (cloud && proxySize !== undefined && reader.has("proxySize") && !SIZE_PATTERNS[cloud].vm.test(proxySize)) {
    problems.add("proxySize", `${show(proxySize)} is not a ${cloud} VM size; e.g. ${DEFAULT_SIZES[cloud].proxy}`);
  }
  if (mode === "self-managed" && reader.has("proxySize")) problems.add("proxySize", "applies only to dbtier:mode managed (self-managed has no proxy)");

  const allowWideSources = reader.bool("allowWideSources", false) ?? false;
  const webserversJson = reader.json("webservers");
  const webservers = parseWebservers(problems, webserversJson, allowWideSources);
  const webserverTag = reader.text("webserverTag");
  const webserversFrom = parseWebserversFrom(problems, reader.json("webserversFrom"), stack);
  const listedNone = webserversJson === undefined || (Array.isArray(webserversJson) && webserversJson.length === 0);
  if (listedNone && webserverTag === undefined && !reader.has("webserversFrom")) {
    problems.add("webservers", reader.has("webservers")
      ? "is empty: with no webserver, no dbtier:webserverTag and no dbtier:webserversFrom nothing could reach the database"
      : "is required: the webservers' addresses are the only trusted sources (or set dbtier:webserverTag or dbtier:webserversFrom)");
  }
  if (cloud && mode && webservers) checkWebserverReach(problems, cloud, mode, engine, webservers);
  if (cloud) checkWebserverTag(problems, cloud, webserverTag);
  const webserverTagDroplets = reader.integer("webserverTagDroplets", DEFAULT_WEBSERVER_TAG_DROPLETS, 1, MAX_WEBSERVER_TAG_DROPLETS);
  if (reader.has("webserverTagDroplets") && !(cloud === "digitalocean" && mode === "managed" && webserverTag !== undefined)) {
    problems.add("webserverTagDroplets", "applies only with dbtier:webserverTag on a DigitalOcean managed database (it budgets the tag's addresses in the database firewall)");
  }

  const adminCidrs = parseAdminCidrs(problems, reader.json("adminCidrs"), allowWideSources, cloud);
  const adminSshPublicKey = reader.text("adminSshPublicKey");
  if (adminSshPublicKey !== undefined && !SSH_PUBLIC_KEY_PATTERN.test(adminSshPublicKey)) {
    problems.add("adminSshPublicKey", "is not an OpenSSH public key line (e.g. ssh-ed25519 AAAA... you@host)");
  }

  const database = parseDatabase(problems, reader.json("database"), engine);
  const appDb = parseAppDb(problems, reader.json("appDb"), database?.name, stack);
  const backups = parseBackups(problems, reader.json("backups"));
  if (appDb && backups && (BACKUP_PERIODS as readonly string[]).includes(appDb.source) && !backups.periods.includes(appDb.source as BackupPeriod)) {
    problems.add("appDb.source", `${show(appDb.source)} is not among dbtier:backups.periods (${backups.periods.join(", ")}), so no such backup exists to load`);
  }

  const highAvailability = reader.bool("highAvailability", false);
  const readReplicas = reader.integer("readReplicas", 0, 0, Math.max(...Object.values(MAX_READ_REPLICAS)));
  if (mode === "self-managed" && highAvailability) problems.add("highAvailability", "applies only to dbtier:mode managed; a self-managed VM is a single node");
  if (mode === "self-managed" && readReplicas) problems.add("readReplicas", "applies only to dbtier:mode managed");
  if (mode === "managed" && cloud && readReplicas !== undefined && readReplicas > MAX_READ_REPLICAS[cloud]) {
    problems.add("readReplicas", cloud === "linode"
      ? "linode managed databases have no read replicas; allowed: 0 (dbtier:highAvailability gives a 3-node cluster)"
      : `${readReplicas} is more than ${cloud} allows here; allowed: 0 to ${MAX_READ_REPLICAS[cloud]}`);
  }
  if (mode === "managed" && cloud === "digitalocean" && highAvailability && size !== undefined && DO_SINGLE_NODE_ONLY_SIZES.includes(size)) {
    problems.add("highAvailability", `DigitalOcean refuses standby nodes on ${show(size)} (the smallest plan is single node only); set dbtier:size to a larger plan, e.g. ${DEFAULT_SIZES.digitalocean.cluster}`);
  }
  if (cloud && appDb && readReplicas !== undefined) {
    for (const line of stackNameProblems({ cloud, stack, appDb, readReplicas })) problems.add("appDb.application", `${show(appDb.application)} ${line}`);
  }

  const managedOnly = (key: string, what: string): void => {
    if (mode === "self-managed" && reader.has(key)) problems.add(key, `applies only to dbtier:mode managed (${what})`);
  };
  const maintenanceWindow = parseMaintenanceWindow(problems, reader.json("maintenanceWindow"));
  managedOnly("maintenanceWindow", "the provider's weekly maintenance window");
  const backupHourUtc = reader.integer("backupHour", DEFAULT_BACKUP_HOUR_UTC, 0, 23);
  managedOnly("backupHour", "the provider's daily backup; dbtier's own backups follow dbtier:backups.periods");
  if (mode === "managed" && cloud === "linode" && reader.has("backupHour")) problems.add("backupHour", "linode chooses the time of its managed database backups itself; remove it");
  if (mode === "managed" && cloud === "aws" && backupHourUtc !== undefined && maintenanceWindow && backupHourUtc === maintenanceWindow.hourUtc) {
    problems.add("backupHour", `${backupHourUtc} overlaps dbtier:maintenanceWindow (${maintenanceWindow.day} ${maintenanceWindow.hourUtc}:00 UTC); RDS refuses a backup window that overlaps the maintenance window`);
  }
  const backupRetentionDays = reader.integer("backupRetentionDays", DEFAULT_BACKUP_RETENTION_DAYS, 1, MAX_BACKUP_RETENTION_DAYS);
  if (reader.has("backupRetentionDays") && !(mode === "managed" && cloud === "aws")) {
    problems.add("backupRetentionDays", cloud === "digitalocean" && mode === "managed"
      ? "is fixed by DigitalOcean (7 days of point-in-time recovery); it applies only to RDS"
      : cloud === "linode" && mode === "managed"
        ? "is fixed by Linode for its managed databases; it applies only to RDS"
        : "applies only to dbtier:cloud aws, mode managed (RDS automated backups); dbtier's own backups use dbtier:backups.retention");
  }

  let engineConfig: Record<string, string | number | boolean> | undefined;
  if (cloud && mode && engine) {
    const resolved = resolveEngineConfig(reader.json("engineConfig"), engine, cloud, mode);
    for (const p of resolved.problems) problems.add(p.field ? `engineConfig.${p.field}` : "engineConfig", p.message);
    engineConfig = resolved.config;
  }

  let restoreFrom: RestoreFrom | undefined;
  if (cloud && mode) {
    const parsedRestore = parseRestoreFrom(reader.json("restoreFrom"), cloud, mode, today);
    for (const p of parsedRestore.problems) problems.add(p.field ? `restoreFrom.${p.field}` : "restoreFrom", p.message);
    restoreFrom = parsedRestore.restoreFrom;
  }

  const protect = reader.bool("protect", mode === "managed");
  const vpcCidr = parseVpcCidr(problems, reader.text("vpcCidr"), stack);
  const secrets = parseSecrets(reader, options.isSecret);
  if (appDb?.source === "baseline" && appDb.baselineRepo && !appDb.baselineRepo.startsWith("https://") && !appDb.baselineRepo.startsWith("file://") && !secrets.baselineDeployKey) {
    problems.add("baselineDeployKey", "is required for an SSH baseline repository: a read-only deploy key, set with `pulumi config set --secret dbtier:baselineDeployKey < key`");
  }
  if (!/^[a-zA-Z0-9._-]+$/.test(stack)) problems.add("stack", `${show(stack)} is not a usable stack name`);

  if (problems.list.length > 0) return { ok: false, problems: problems.list };
  // Every value below was checked above; reaching here with an undefined one is a bug, not bad input.
  const config: DbTierConfig = {
    stack,
    cloud: cloud as Cloud,
    region: region as string,
    mode: mode as Mode,
    engine: engine as Engine,
    engineVersion: engineVersion as string,
    size: size as string,
    proxySize: proxySize as string,
    webservers: (webservers as ParsedWebservers).list,
    ...(webserverTag !== undefined ? { webserverTag } : {}),
    webserverTagDroplets: webserverTagDroplets as number,
    adminCidrs: adminCidrs as string[],
    ...(adminSshPublicKey !== undefined ? { adminSshPublicKey } : {}),
    database: database as { name: string; user: string },
    appDb: appDb as DbTierConfig["appDb"],
    backups: backups as DbTierConfig["backups"],
    highAvailability: highAvailability as boolean,
    readReplicas: readReplicas as number,
    protect: protect as boolean,
    allowWideSources,
    vpcCidr: vpcCidr as string,
    ...(webserversFrom !== undefined ? { webserversFrom } : {}),
    maintenanceWindow: maintenanceWindow as MaintenanceWindow,
    backupHourUtc: backupHourUtc as number,
    backupRetentionDays: backupRetentionDays as number,
    rdsExtendedSupport,
    ...(rdsLifecycle ? { rdsLifecycleSupport: rdsExtendedSupport ? "open-source-rds-extended-support" as const : "open-source-rds-extended-support-disabled" as const } : {}),
    engineConfig: engineConfig as Record<string, string | number | boolean>,
    ...(restoreFrom !== undefined ? { restoreFrom } : {}),
    secrets,
  };
  // Rule limits are counted on the planned firewalls themselves, so the count is what the adapters create.
  const overLimit = ruleLimitProblems(config).map((p) => ({ key: `${NAMESPACE}:${p.key}`, message: p.message }));
  if (overLimit.length > 0) return { ok: false, problems: overLimit };
  return { ok: true, config };
}

/**
 * Merges webservers read from another stack (`dbtier:webserversFrom`, resolved by the program) into a parsed
 * config, validating them exactly like `dbtier:webservers`: the same problems, keyed `dbtier:webserversFrom[i]`.
 */
export function mergeWebservers(config: DbTierConfig, resolved: unknown): ParseResult {
  const problems = new Problems();
  const parsed = parseWebservers(problems, resolved as Json | undefined, config.allowWideSources, "webserversFrom");
  if (parsed) {
    checkWebserverReach(problems, config.cloud, config.mode, config.engine, parsed);
    const names = new Set(config.webservers.map((w) => w.name));
    parsed.list.forEach((w, i) => {
      if (names.has(w.name)) problems.add(`${parsed.keys[i]}.name`, `${show(w.name)} is also in dbtier:webservers; names must be unique across both lists`);
    });
  }
  if (resolved === undefined || resolved === null) {
    problems.add("webserversFrom", `stack output ${show(config.webserversFrom?.output)} of ${show(config.webserversFrom?.stack)} is not set; it must hold [{name, ip}]`);
  } else if (parsed && parsed.list.length === 0 && config.webservers.length === 0 && config.webserverTag === undefined) {
    problems.add("webserversFrom", "resolved to an empty list and dbtier:webservers is empty too: nothing could reach the database");
  }
  if (problems.list.length > 0 || !parsed) return { ok: false, problems: problems.list };
  const known = new Set(config.webservers.map((w) => w.cidr));
  const merged: DbTierConfig = { ...config, webservers: [...config.webservers, ...parsed.list.filter((w) => !known.has(w.cidr))] };
  const overLimit = ruleLimitProblems(merged).map((p) => ({ key: `${NAMESPACE}:${p.key}`, message: p.message }));
  return overLimit.length > 0 ? { ok: false, problems: overLimit } : { ok: true, config: merged };
}

/** A stack file's network, for checking stacks against each other. */
export interface StackNetwork { readonly stack: string; readonly cloud: Cloud; readonly region: string; readonly vpcCidr: string }

/**
 * Pairs of stacks whose VPC ranges overlap where that breaks a deploy: any two on DigitalOcean (it refuses
 * overlapping VPC ranges in one account), or two in the same region elsewhere (they could never be peered).
 */
export function vpcOverlapProblems(stacks: readonly StackNetwork[]): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  stacks.forEach((a, i) => stacks.slice(i + 1).forEach((b) => {
    const sameAccountScope = a.cloud === b.cloud && (a.cloud === "digitalocean" || a.region === b.region);
    const ca = parseCidr(a.vpcCidr);
    const cb = parseCidr(b.vpcCidr);
    if (!sameAccountScope || !ca || !cb || !(cidrContains(ca, cb) || cidrContains(cb, ca))) return;
    out.push({ key: `${NAMESPACE}:vpcCidr`, message: `stacks ${show(a.stack)} (${a.vpcCidr}) and ${show(b.stack)} (${b.vpcCidr}) overlap on ${a.cloud}${a.cloud === "digitalocean" ? " (one account refuses overlapping VPC ranges)" : ` in ${a.region}`}; set dbtier:vpcCidr in one of them` });
  }));
  return out;
}

/** One line per problem, `dbtier:key: message`, for CLIs and thrown errors. */
export function formatProblems(problems: readonly ConfigProblem[]): string[] {
  return problems.map((p) => `${p.key}: ${p.message}`);
}
