// The prod policy rules as pure functions: a resource's type, inputs and `protect` option in, the list of
// violation messages out. policy/index.ts only wraps them for @pulumi/policy, so the tests exercise exactly
// what `pulumi preview --policy-pack policy` runs. One rule per constant; each message says what must be true.
//
// The resource types are the ones the dbtier components create (and their close relatives, so that a
// refactor to an equivalent resource does not slip past): DigitalOcean, Linode (v2 databases) and AWS.
import { gunzipSync } from "zlib";
import * as yaml from "js-yaml";
import { WIDEST_IPV4_PREFIX, WIDEST_IPV6_PREFIX } from "../components/config";
import { Cidr, parseCidr } from "../components/net";

/** What a rule sees of a resource: the same fields @pulumi/policy hands a resource validation. */
export interface PolicyResource {
  readonly type: string;
  readonly props: Readonly<Record<string, unknown>>;
  /** The Pulumi `protect` resource option. */
  readonly protect?: boolean;
}

/** Policy-pack configuration (`--policy-pack-config`); every field has a safe default. */
export interface RuleConfig {
  /** Widest IPv4 prefix a trusted source may have (a smaller number is a wider range). */
  readonly widestIpv4Prefix: number;
  readonly widestIpv6Prefix: number;
  /** Exact CIDRs allowed although wider than the limit: the "explicitly allowed" escape hatch. */
  readonly allowedWideSources: readonly string[];
}

export const DEFAULT_RULE_CONFIG: RuleConfig = {
  widestIpv4Prefix: WIDEST_IPV4_PREFIX,
  widestIpv6Prefix: WIDEST_IPV6_PREFIX,
  allowedWideSources: [],
};

export interface Rule {
  readonly name: string;
  readonly description: string;
  check(resource: PolicyResource, config: RuleConfig): string[];
}

export const SSH_PORT = 22;

// ---------------------------------------------------------------------------------------------------------
// Resource types

export const T = {
  doDatabaseCluster: "digitalocean:index/databaseCluster:DatabaseCluster",
  doDatabaseFirewall: "digitalocean:index/databaseFirewall:DatabaseFirewall",
  doFirewall: "digitalocean:index/firewall:Firewall",
  doDroplet: "digitalocean:index/droplet:Droplet",
  linodeMysqlV2: "linode:index/databaseMysqlV2:DatabaseMysqlV2",
  linodePostgresqlV2: "linode:index/databasePostgresqlV2:DatabasePostgresqlV2",
  linodeFirewall: "linode:index/firewall:Firewall",
  linodeInstance: "linode:index/instance:Instance",
  rdsInstance: "aws:rds/instance:Instance",
  rdsCluster: "aws:rds/cluster:Cluster",
  awsSecurityGroup: "aws:ec2/securityGroup:SecurityGroup",
  awsSecurityGroupRule: "aws:ec2/securityGroupRule:SecurityGroupRule",
  awsIngressRule: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  awsInstance: "aws:ec2/instance:Instance",
  awsLaunchTemplate: "aws:ec2/launchTemplate:LaunchTemplate",
} as const;

/** Managed database primaries: the stateful resources whose loss is the loss of prod's data. */
export const MANAGED_DATABASE_TYPES: readonly string[] = [T.doDatabaseCluster, T.linodeMysqlV2, T.linodePostgresqlV2, T.rdsInstance, T.rdsCluster];

// ---------------------------------------------------------------------------------------------------------
// Inbound sources: every firewall, allow list and security group, reduced to (source, ports) pairs

/** Inclusive port range; `all` ports is 0-65535. */
interface PortRange { readonly from: number; readonly to: number }
const ALL_PORTS: PortRange = { from: 0, to: 65535 };

interface InboundSource {
  /** Where the rule sits, for the message, e.g. `inboundRules[1].sourceAddresses[0]`. */
  readonly path: string;
  readonly source: string;
  readonly ports: PortRange;
}

const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const asRecord = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
const asStrings = (value: unknown): string[] => asArray(value).filter((v): v is string => typeof v === "string");

/** "22", "22-23", "all", "1-65535", "22,80,8000-8080" (Linode) -> ranges; undefined/empty means all ports. */
export function parsePorts(spec: unknown): PortRange[] {
  if (spec === undefined || spec === null || spec === "") return [ALL_PORTS];
  const text = String(spec).trim().toLowerCase();
  if (text === "all" || text === "0") return [ALL_PORTS];
  const ranges: PortRange[] = [];
  for (const part of text.split(",")) {
    const match = /^\s*(\d+)\s*(?:-\s*(\d+))?\s*$/.exec(part);
    // An unreadable port spec is judged as "all ports": a rule we cannot read must not pass as narrow.
    if (!match) return [ALL_PORTS];
    const from = Number(match[1]);
    ranges.push({ from, to: match[2] === undefined ? from : Number(match[2]) });
  }
  return ranges;
}

const protocolCoversTcp = (protocol: unknown): boolean => {
  if (protocol === undefined || protocol === null) return true;
  const p = String(protocol).toLowerCase();
  return p === "tcp" || p === "-1" || p === "all" || p === "6";
};

function awsPorts(protocol: unknown, fromPort: unknown, toPort: unknown): PortRange {
  const p = String(protocol ?? "").toLowerCase();
  if (p === "-1" || p === "all") return ALL_PORTS;
  const from = typeof fromPort === "number" ? fromPort : 0;
  const to = typeof toPort === "number" ? toPort : 65535;
  return { from, to };
}

/** Every inbound source a resource lets in. Resources that are not firewalls yield nothing. */
export function inboundSources(resource: PolicyResource): InboundSource[] {
  const props = resource.props;
  const out: InboundSource[] = [];
  switch (resource.type) {
    case T.doDatabaseFirewall:
      asArray(props.rules).forEach((rule, i) => {
        const r = asRecord(rule);
        // Tags, droplets, apps and k8s clusters name resources, not address ranges.
        const type = String(r.type ?? "");
        if ((type === "ip_addr" || type === "ipAddr") && typeof r.value === "string") {
          out.push({ path: `rules[${i}].value`, source: r.value, ports: ALL_PORTS });
        }
      });
      break;
    case T.linodeMysqlV2:
    case T.linodePostgresqlV2:
      asStrings(props.allowLists).forEach((source, i) => out.push({ path: `allowLists[${i}]`, source, ports: ALL_PORTS }));
      break;
    case T.doFirewall:
      asArray(props.inboundRules).forEach((rule, i) => {
        const r = asRecord(rule);
        if (!protocolCoversTcp(r.protocol)) return;
        for (const ports of parsePorts(r.portRange)) {
          asStrings(r.sourceAddresses).forEach((source, j) => out.push({ path: `inboundRules[${i}].sourceAddresses[${j}]`, source, ports }));
        }
      });
      break;
    case T.linodeFirewall: {
      if (String(props.inboundPolicy ?? "").toUpperCase() === "ACCEPT") {
        // Everything not matched by a rule is accepted: the firewall lets the whole Internet in.
        out.push({ path: "inboundPolicy", source: "0.0.0.0/0", ports: ALL_PORTS }, { path: "inboundPolicy", source: "::/0", ports: ALL_PORTS });
      }
      asArray(props.inbounds).forEach((rule, i) => {
        const r = asRecord(rule);
        if (String(r.action ?? "ACCEPT").toUpperCase() !== "ACCEPT" || !protocolCoversTcp(r.protocol)) return;
        for (const ports of parsePorts(r.ports)) {
          asStrings(r.ipv4s ?? r.ipv4).forEach((source, j) => out.push({ path: `inbounds[${i}].ipv4[${j}]`, source, ports }));
          asStrings(r.ipv6s ?? r.ipv6).forEach((source, j) => out.push({ path: `inbounds[${i}].ipv6[${j}]`, source, ports }));
        }
      });
      break;
    }
    case T.awsSecurityGroup:
      asArray(props.ingress).forEach((rule, i) => {
        const r = asRecord(rule);
        const ports = awsPorts(r.protocol, r.fromPort, r.toPort);
        asStrings(r.cidrBlocks).forEach((source, j) => out.push({ path: `ingress[${i}].cidrBlocks[${j}]`, source, ports }));
        asStrings(r.ipv6CidrBlocks).forEach((source, j) => out.push({ path: `ingress[${i}].ipv6CidrBlocks[${j}]`, source, ports }));
      });
      break;
    case T.awsSecurityGroupRule: {
      if (props.type !== "ingress") break;
      const ports = awsPorts(props.protocol, props.fromPort, props.toPort);
      asStrings(props.cidrBlocks).forEach((source, j) => out.push({ path: `cidrBlocks[${j}]`, source, ports }));
      asStrings(props.ipv6CidrBlocks).forEach((source, j) => out.push({ path: `ipv6CidrBlocks[${j}]`, source, ports }));
      break;
    }
    case T.awsIngressRule: {
      const ports = awsPorts(props.ipProtocol, props.fromPort, props.toPort);
      if (typeof props.cidrIpv4 === "string") out.push({ path: "cidrIpv4", source: props.cidrIpv4, ports });
      if (typeof props.cidrIpv6 === "string") out.push({ path: "cidrIpv6", source: props.cidrIpv6, ports });
      break;
    }
    default:
      break;
  }
  return out;
}

const isAnywhere = (cidr: Cidr | undefined): boolean => cidr !== undefined && cidr.prefix === 0;
const coversPort = (range: PortRange, port: number): boolean => range.from <= port && port <= range.to;

export const TRUSTED_SOURCES_NARROW: Rule = {
  name: "trusted-sources-narrow",
  description:
    "Every inbound source (database firewall, allow list, security group, VM firewall) must be an IP address or a CIDR " +
    "no wider than /16 (IPv4) or /48 (IPv6), unless that exact CIDR is listed in allowedWideSources.",
  check(resource, config) {
    const allowed = new Set(config.allowedWideSources.map((s) => parseCidr(s)?.canonical ?? s));
    const problems: string[] = [];
    for (const { path, source } of inboundSources(resource)) {
      const cidr = parseCidr(source);
      if (!cidr) {
        problems.push(`${path} ${JSON.stringify(source)} must be an IP address or CIDR, so that its width can be checked.`);
        continue;
      }
      const widest = cidr.family === 4 ? config.widestIpv4Prefix : config.widestIpv6Prefix;
      if (cidr.prefix < widest && !allowed.has(cidr.canonical)) {
        problems.push(
          `${path} ${cidr.canonical} must be no wider than /${widest}: list the webservers or admin hosts themselves, ` +
            `or add ${cidr.canonical} to the policy's allowedWideSources on purpose.`,
        );
      }
    }
    return problems;
  },
};

export const NO_SSH_FROM_ANYWHERE: Rule = {
  name: "no-ssh-from-anywhere",
  description: "SSH (port 22) must be reachable only from admin ranges, never from 0.0.0.0/0 or ::/0 (no exception).",
  check(resource) {
    return inboundSources(resource)
      .filter(({ source, ports }) => coversPort(ports, SSH_PORT) && isAnywhere(parseCidr(source)))
      .map(({ path, source }) => `${path} lets ${source} reach SSH (port 22): SSH must be open only to the admin ranges (dbtier:adminCidrs).`);
  },
};

// ---------------------------------------------------------------------------------------------------------
// Managed databases

const isRdsReplica = (resource: PolicyResource): boolean =>
  resource.type === T.rdsInstance && typeof resource.props.replicateSourceDb === "string" && resource.props.replicateSourceDb !== "";

export const MANAGED_DATABASE_PROTECTED: Rule = {
  name: "managed-database-protected",
  description:
    "Managed database clusters must carry the Pulumi `protect` option, so that no update can delete or replace them " +
    "(DigitalOcean and Linode have no provider-side deletion protection; this is the protection they have).",
  check(resource) {
    if (!MANAGED_DATABASE_TYPES.includes(resource.type)) return [];
    return resource.protect === true ? [] : ["the managed database must be created with the Pulumi option `protect: true`."];
  },
};

export const RDS_DELETION_PROTECTION: Rule = {
  name: "rds-deletion-protection",
  description:
    "RDS primaries and clusters must have deletionProtection set to true. Read replicas are exempt: RDS refuses to delete " +
    "a deletion-protected replica, so lowering the replica count would fail; managed-database-protected still requires " +
    "them to carry the Pulumi `protect` option.",
  check(resource) {
    if ((resource.type !== T.rdsInstance && resource.type !== T.rdsCluster) || isRdsReplica(resource)) return [];
    return resource.props.deletionProtection === true ? [] : ["deletionProtection must be true."];
  },
};

export const RDS_BACKUPS_RETAINED: Rule = {
  name: "rds-backups-retained",
  description:
    "RDS primaries must keep automated backups: backupRetentionPeriod set to at least 1 day " +
    "(DigitalOcean and Linode managed databases are backed up daily by the provider, with no setting to turn it off).",
  check(resource) {
    if ((resource.type !== T.rdsInstance && resource.type !== T.rdsCluster) || isRdsReplica(resource)) return [];
    const days = resource.props.backupRetentionPeriod;
    return typeof days === "number" && days >= 1 ? [] : [`backupRetentionPeriod must be at least 1 (days); it is ${JSON.stringify(days)}.`];
  },
};

export const RDS_FINAL_SNAPSHOT: Rule = {
  name: "rds-final-snapshot",
  description: "Deleting an RDS primary must leave a final snapshot: skipFinalSnapshot must not be true and finalSnapshotIdentifier must be set.",
  check(resource) {
    if ((resource.type !== T.rdsInstance && resource.type !== T.rdsCluster) || isRdsReplica(resource)) return [];
    const problems: string[] = [];
    if (resource.props.skipFinalSnapshot === true) problems.push("skipFinalSnapshot must be false (or unset).");
    const id = resource.props.finalSnapshotIdentifier;
    if (typeof id !== "string" || id === "") problems.push("finalSnapshotIdentifier must be set (a unique name).");
    return problems;
  },
};

export const RDS_ENCRYPTED_AT_REST: Rule = {
  name: "rds-encrypted-at-rest",
  description:
    "RDS storage must be encrypted at rest: storageEncrypted must be true " +
    "(DigitalOcean and Linode encrypt managed database storage themselves, with no setting to turn it off).",
  check(resource) {
    if (resource.type !== T.rdsInstance && resource.type !== T.rdsCluster) return [];
    // A replica inherits its source's encryption and the provider rejects a different setting.
    if (isRdsReplica(resource)) return [];
    return resource.props.storageEncrypted === true ? [] : ["storageEncrypted must be true."];
  },
};

// ---------------------------------------------------------------------------------------------------------
// User-data

/** One secret-looking pattern in text. */
interface SecretPattern { readonly label: string; readonly regex: RegExp }

// `name=value` / `name: value` where name ends like a password and value is a literal: not a shell
// expansion, template, format string, empty string, YAML block marker or comparison.
// Groups: 1 the name; 2, 3 or 4 the value ("double-quoted", 'single-quoted' or bare).
const PASSWORD_ASSIGNMENT =
  /(?:^|[^A-Za-z0-9_])([A-Za-z0-9_]*(?:password|passwd|passphrase|_pwd))[ \t]*[=:][ \t]*(?:"([^"\s$%<>{(\[\\=|`][^"\n]*)"|'([^'\s$%<>{(\[\\=|`][^'\n]*)'|([^\s'"$%<>{(\[\\=|`;&][^\s'";&|`(]*))/gim;
const PASSWORD_KEY = /(?:password|passwd|passphrase|_pwd)$/i;
const NOT_A_SECRET_VALUE = /^(true|false|yes|no|on|off|null|none|~|\*+|x+)$/i;

export const SECRET_PATTERNS: readonly SecretPattern[] = [
  { label: "a private key block", regex: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/ },
  { label: "an AWS access key id", regex: /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/ },
  { label: "an AWS secret access key", regex: /aws_?secret_?access_?key["']?[ \t]*[:=][ \t]*["']?[A-Za-z0-9/+]{40}\b/i },
  { label: "a DigitalOcean API token", regex: /\bdo[por]_v1_[a-f0-9]{64}\b/ },
  { label: "a GitHub token", regex: /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b/ },
  { label: "a Pulumi access token", regex: /\bpul-[a-f0-9]{40}\b/ },
];

/**
 * In program code a bare word after `password =` is a variable (`self.password = password`), a type
 * (`password: str`) or a call; only a quoted string is a literal there. In shell, config and env files a bare
 * word is the value itself.
 */
export type TextKind = "code" | "text";

/** Python and JavaScript files are code; shell, env files, configs and unknown text are text. */
export function textKindOf(path: string, content: string): TextKind {
  if (/\.(py|js|mjs|cjs|ts)$/.test(path)) return "code";
  return /^#!.*\b(python[0-9.]*|node)\b/.test(content) ? "code" : "text";
}

/** Secret-looking things in a text: labels with where they were found. */
export function findSecrets(text: string, where: string, kind: TextKind = "text"): string[] {
  const found: string[] = [];
  for (const { label, regex } of SECRET_PATTERNS) {
    if (regex.test(text)) found.push(`${where} contains ${label}`);
  }
  for (const match of text.matchAll(PASSWORD_ASSIGNMENT)) {
    const name = match[1];
    const bare = match[4];
    const value = match[2] ?? match[3] ?? bare;
    if (value === undefined || NOT_A_SECRET_VALUE.test(value)) continue;
    // sudoers' NOPASSWD tag names the absence of a password.
    if (/^no_?pass(?:wd|word)$/i.test(name)) continue;
    if (bare !== undefined) {
      if (kind === "code") continue;
      if (text[(match.index ?? 0) + match[0].length] === "(") continue; // a call, not a value
    }
    found.push(`${where} assigns a literal value to ${JSON.stringify(name)}`);
    break;
  }
  return found;
}

const OPENSSH_BLOCK = /^-----BEGIN OPENSSH PRIVATE KEY-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END OPENSSH PRIVATE KEY-----\s*$/;

/** True when `text` is exactly one unencrypted-or-not OpenSSH private key block holding one ed25519 key. */
export function isSingleEd25519PrivateKey(text: string): boolean {
  const match = OPENSSH_BLOCK.exec(text.trim() + "\n");
  if (!match) return false;
  const bytes = Buffer.from(match[1].replace(/\s+/g, ""), "base64");
  const magic = Buffer.from("openssh-key-v1\0", "latin1");
  if (bytes.length < magic.length || !bytes.subarray(0, magic.length).equals(magic)) return false;
  let offset = magic.length;
  const readString = (): Buffer | undefined => {
    if (offset + 4 > bytes.length) return undefined;
    const length = bytes.readUInt32BE(offset);
    offset += 4;
    if (offset + length > bytes.length) return undefined;
    const value = bytes.subarray(offset, offset + length);
    offset += length;
    return value;
  };
  for (let i = 0; i < 3; i++) if (readString() === undefined) return false; // cipher, kdf, kdf options
  if (offset + 4 > bytes.length || bytes.readUInt32BE(offset) !== 1) return false;
  offset += 4;
  const publicBlob = readString();
  if (!publicBlob || publicBlob.length < 4) return false;
  const typeLength = publicBlob.readUInt32BE(0);
  return publicBlob.subarray(4, 4 + typeLength).toString("latin1") === "ssh-ed25519";
}

/** User-data may arrive base64-encoded (Linode always, AWS userDataBase64) and gzipped; return the text. */
export function decodeUserData(value: string): string {
  let text = value;
  for (let round = 0; round < 3; round++) {
    const trimmed = text.trim();
    if (trimmed.startsWith("#") || trimmed.startsWith("Content-Type") || trimmed.startsWith("MIME-Version")) return text;
    if (!/^[A-Za-z0-9+/=\r\n]+$/.test(trimmed) || trimmed.length < 8) return text;
    let bytes = Buffer.from(trimmed.replace(/\s+/g, ""), "base64");
    if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
      try {
        bytes = gunzipSync(bytes);
      } catch {
        return text;
      }
    }
    const decoded = bytes.toString("utf8");
    // Not text after decoding: it was not base64 of a document, judge it as it is.
    if (decoded.includes("\uFFFD") || /[\x00-\x08\x0e-\x1f]/.test(decoded)) return text;
    text = decoded;
  }
  return text;
}

function decodeWriteFileContent(file: Record<string, unknown>): string {
  const content = typeof file.content === "string" ? file.content : "";
  const encoding = String(file.encoding ?? "").toLowerCase();
  try {
    if (encoding === "b64" || encoding === "base64") return Buffer.from(content, "base64").toString("utf8");
    if (encoding === "gz+b64" || encoding === "gzip+base64" || encoding === "gz+base64" || encoding === "gzip+b64") {
      return gunzipSync(Buffer.from(content, "base64")).toString("utf8");
    }
  } catch {
    return content;
  }
  return content;
}

/** Walks a parsed cloud-config and scans every string; only ssh_keys.ed25519_private may hold a key block. */
function scanCloudConfig(document: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const sshKeys = asRecord(document.ssh_keys);
  for (const [name, value] of Object.entries(sshKeys)) {
    if (name === "ed25519_private") {
      if (typeof value !== "string" || !isSingleEd25519PrivateKey(value)) {
        problems.push("user-data ssh_keys.ed25519_private must be exactly one OpenSSH ed25519 private key block (the pinned host key) and nothing else");
      }
    } else if (/_private$/.test(name) || (typeof value === "string" && /PRIVATE KEY/.test(value))) {
      problems.push(`user-data ssh_keys.${name} must not be present: the only private key allowed in user-data is the ed25519 host key (ssh_keys.ed25519_private)`);
    }
  }

  const walk = (value: unknown, path: string, key: string): void => {
    if (/^ssh_keys\.[^.]*_private$/.test(path)) return; // judged above: only ed25519_private may exist
    if (typeof value === "string") {
      problems.push(...findSecrets(value, `user-data ${path}`));
      if (PASSWORD_KEY.test(key) && value.trim() !== "" && !NOT_A_SECRET_VALUE.test(value.trim())) {
        problems.push(`user-data ${path} holds a literal password`);
      }
    } else if (typeof value === "number" && PASSWORD_KEY.test(key)) {
      problems.push(`user-data ${path} holds a literal password`);
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, `${path}[${i}]`, key));
    } else if (value !== null && typeof value === "object") {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (/^write_files\[\d+\]$/.test(path) && k === "content") {
          const file = value as Record<string, unknown>;
          const content = decodeWriteFileContent(file);
          problems.push(...findSecrets(content, `user-data ${path}.content`, textKindOf(String(file.path ?? ""), content)));
        } else {
          walk(v, path === "" ? k : `${path}.${k}`, k);
        }
      }
    }
  };
  walk(document, "", "");
  return [...new Set(problems)];
}

/** Secret-looking content in one user-data value, as messages. */
export function userDataFindings(userData: string): string[] {
  const text = decodeUserData(userData);
  if (/^#cloud-config[ \t]*\r?\n/.test(text)) {
    let document: unknown;
    try {
      document = yaml.load(text, { schema: yaml.JSON_SCHEMA });
    } catch {
      document = undefined;
    }
    if (document !== null && typeof document === "object" && !Array.isArray(document)) return scanCloudConfig(document as Record<string, unknown>);
  }
  // Scripts, MIME multipart and unparsable documents: no exemption at all.
  return [...new Set(findSecrets(text, "user-data"))];
}

/** The user-data strings of a VM resource, with where they sit. */
export function userDataOf(resource: PolicyResource): { path: string; value: string }[] {
  const props = resource.props;
  const values: { path: string; value: string }[] = [];
  const add = (path: string, value: unknown) => {
    if (typeof value === "string" && value !== "") values.push({ path, value });
  };
  switch (resource.type) {
    case T.doDroplet:
      add("userData", props.userData);
      break;
    case T.linodeInstance:
      asArray(props.metadatas).forEach((m, i) => add(`metadatas[${i}].userData`, asRecord(m).userData));
      break;
    case T.awsInstance:
      add("userData", props.userData);
      add("userDataBase64", props.userDataBase64);
      break;
    case T.awsLaunchTemplate:
      add("userData", props.userData);
      break;
    default:
      break;
  }
  return values;
}

export const NO_SECRETS_IN_USER_DATA: Rule = {
  name: "no-secrets-in-user-data",
  description:
    "User-data must hold no secret: no password assignment, AWS key, API token or private key block. The one exception is " +
    "the VM's pinned SSH host key, a single ed25519 key under cloud-init ssh_keys.ed25519_private.",
  check(resource) {
    return userDataOf(resource).flatMap(({ path, value }) =>
      userDataFindings(value).map((finding) => `${path}: ${finding}; secrets must reach the host over SSH into /etc/dbtier/secrets, never through user-data.`),
    );
  },
};

export const RULES: readonly Rule[] = [
  TRUSTED_SOURCES_NARROW,
  NO_SSH_FROM_ANYWHERE,
  MANAGED_DATABASE_PROTECTED,
  RDS_DELETION_PROTECTION,
  RDS_BACKUPS_RETAINED,
  RDS_FINAL_SNAPSHOT,
  RDS_ENCRYPTED_AT_REST,
  NO_SECRETS_IN_USER_DATA,
];

/** Reads the pack config with defaults; bad values fall back to the safe default rather than to "anything". */
export function ruleConfig(raw: Readonly<Record<string, unknown>> | undefined): RuleConfig {
  const r = raw ?? {};
  const prefix = (value: unknown, fallback: number, max: number) =>
    typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= max ? value : fallback;
  return {
    widestIpv4Prefix: prefix(r.widestIpv4Prefix, DEFAULT_RULE_CONFIG.widestIpv4Prefix, 32),
    widestIpv6Prefix: prefix(r.widestIpv6Prefix, DEFAULT_RULE_CONFIG.widestIpv6Prefix, 128),
    allowedWideSources: asStrings(r.allowedWideSources),
  };
}

/** Every violation of every rule for one resource, as `rule: message`. */
export function checkResource(resource: PolicyResource, config: RuleConfig = DEFAULT_RULE_CONFIG): string[] {
  return RULES.flatMap((rule) => rule.check(resource, config).map((message) => `${rule.name}: ${message}`));
}
