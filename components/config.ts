// Parses and validates a stack's `dbtier:` config into one typed object, or returns every problem at once.
// Pure: no Pulumi calls, so tests, `npm run plan` and `npm run promote` use exactly what `pulumi up` uses.
import {
  DEFAULT_SIZES,
  DO_DATABASE_FIREWALL_MAX_RULES,
  MAX_READ_REPLICAS,
  NAME_LIMITS,
  REGION_PATTERNS,
  RESERVED_DATABASE_NAMES,
  RESERVED_USER_NAMES,
  SIZE_PATTERNS,
  allowedVersions,
  enginesOffered,
} from "./engines";
import { Cidr, cidrContains, isPrivateV4, parseCidr, specialRangeLabel } from "./net";
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
  SecretConfig,
  Webserver,
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
  "protect", "allowWideSources", "vpcCidr",
] as const;

export const KNOWN_KEYS: readonly string[] = [...PLAIN_KEYS, ...SECRET_KEYS];

export const DEFAULT_RETENTION: Readonly<Record<BackupPeriod, number>> = { hourly: 24, daily: 7, weekly: 4, monthly: 12 };
export const DEFAULT_VPC_CIDR = "10.42.0.0/16";
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

function parseWebservers(problems: Problems, value: Json | undefined, allowWide: boolean): Webserver[] | undefined {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return problems.add("webservers", "must be a list of {name, ip}");
  const seenNames = new Set<string>();
  const seenCidrs = new Set<string>();
  const result: Webserver[] = [];
  value.forEach((item, index) => {
    const key = `webservers[${index}]`;
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
    result.push({ name, cidr: cidr.canonical, family: cidr.family });
    return undefined;
  });
  return result;
}

function parseAdminCidrs(problems: Problems, value: Json | undefined, allowWide: boolean): string[] | undefined {
  if (value === undefined) return problems.add("adminCidrs", "is required: every shape has a VM (the database VM or the proxy) whose SSH must be limited to your admin ranges, e.g. [198.51.100.0/24]");
  if (!Array.isArray(value) || value.length === 0) return problems.add("adminCidrs", "must be a non-empty list of CIDRs, e.g. [198.51.100.0/24]");
  const result: string[] = [];
  value.forEach((item, index) => {
    const text = fieldText(problems, `adminCidrs[${index}]`, item);
    const cidr = text === undefined ? undefined : checkSource(problems, `adminCidrs[${index}]`, text, { allowWide, neverAnywhere: true });
    if (cidr && !result.includes(cidr.canonical)) result.push(cidr.canonical);
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
  if (!isObject(value)) return problems.add("appDb", "must be an object {source, baselineRepo?, baselinePath?, application?, sourceApplication?}");
  unknownFields(problems, "appDb", value, ["source", "baselineRepo", "baselineKnownHosts", "baselinePath", "application", "sourceApplication"]);
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
  if (source === undefined) return undefined;
  return {
    source, baselinePath, application: app, sourceApplication: sourceApp,
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

function checkVersion(problems: Problems, cloud: Cloud, mode: Mode, engine: Engine, version: string | undefined): void {
  const offered = enginesOffered(cloud, mode);
  if (!offered.includes(engine)) {
    problems.add("engine", `${show(engine)} is not offered by ${cloud} in ${mode} mode; allowed: ${oneOf(offered)}`);
    return;
  }
  const versions = allowedVersions(cloud, mode, engine);
  if (version !== undefined && !versions.includes(version)) {
    problems.add("engineVersion", `${show(version)} is not available for ${engine} on ${cloud} (${mode}); allowed: ${oneOf(versions)}`);
  }
}

function checkProviderLimits(problems: Problems, cloud: Cloud, mode: Mode, webservers: readonly Webserver[], tag: string | undefined): void {
  if (mode === "managed" && cloud === "digitalocean") {
    webservers.forEach((w, index) => {
      if (w.family === 6) problems.add(`webservers[${index}].ip`, `${show(w.cidr)} is IPv6; DigitalOcean database firewalls accept IPv4 sources only`);
    });
    const rules = webservers.length + (tag ? 1 : 0);
    if (rules > DO_DATABASE_FIREWALL_MAX_RULES) {
      problems.add("webservers", `has ${rules} sources; a DigitalOcean database firewall takes at most ${DO_DATABASE_FIREWALL_MAX_RULES}: group them into CIDRs or use dbtier:webserverTag`);
    }
  }
  if (tag === undefined) return;
  if (cloud === "linode") problems.add("webserverTag", "is not supported on linode: its firewalls and database allow lists take addresses only; list the webservers instead");
  if (cloud === "aws" && !AWS_SG_PATTERN.test(tag)) problems.add("webserverTag", `${show(tag)} is not a security group id (sg- followed by 8 or 17 hex digits)`);
  if (cloud === "digitalocean" && !DO_TAG_PATTERN.test(tag)) problems.add("webserverTag", `${show(tag)} is not a DigitalOcean tag (letters, digits, : _ . -, max 255)`);
}

function parseVpcCidr(problems: Problems, text: string | undefined): string | undefined {
  if (text === undefined) return DEFAULT_VPC_CIDR;
  const cidr = parseCidr(text);
  if (!cidr || cidr.family !== 4 || !isPrivateV4(cidr) || cidr.prefix < 16 || cidr.prefix > 24) {
    return problems.add("vpcCidr", `${show(text)} is not allowed; allowed: a private IPv4 range (10/8, 172.16/12, 192.168/16) from /16 to /24`);
  }
  return cidr.canonical;
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

/**
 * Parses `raw` (Pulumi's allConfig map: `dbtier:key` -> string, objects as JSON text) for `stack`.
 * `isSecret`, when given, tells whether a key was set with --secret, so credentials in plaintext are refused.
 */
export function parseConfig(raw: Readonly<Record<string, string>>, stack: string, isSecret?: (fullKey: string) => boolean): ParseResult {
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
  if (cloud && mode && engine) checkVersion(problems, cloud, mode, engine, engineVersion);

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
  const listedNone = webserversJson === undefined || (Array.isArray(webserversJson) && webserversJson.length === 0);
  if (listedNone && webserverTag === undefined) {
    problems.add("webservers", reader.has("webservers")
      ? "is empty: with no webserver and no dbtier:webserverTag nothing could reach the database"
      : "is required: the webservers' addresses are the only trusted sources (or set dbtier:webserverTag)");
  }
  if (cloud && mode && webservers) checkProviderLimits(problems, cloud, mode, webservers, webserverTag);

  const adminCidrs = parseAdminCidrs(problems, reader.json("adminCidrs"), allowWideSources);
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
  const protect = reader.bool("protect", mode === "managed");
  const vpcCidr = parseVpcCidr(problems, reader.text("vpcCidr"));
  const secrets = parseSecrets(reader, isSecret);
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
    webservers: webservers as Webserver[],
    ...(webserverTag !== undefined ? { webserverTag } : {}),
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
    secrets,
  };
  return { ok: true, config };
}

/** One line per problem, `dbtier:key: message`, for CLIs and thrown errors. */
export function formatProblems(problems: readonly ConfigProblem[]): string[] {
  return problems.map((p) => `${p.key}: ${p.message}`);
}
