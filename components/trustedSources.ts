// Every firewall rule set, from one source of truth: the validated webservers, webserver tag and admin ranges.
// Pure functions: the components only loop over what these return, and the tests check them directly.
import {
  AWS_SECURITY_GROUP_MAX_INBOUND_RULES, DO_CLOUD_FIREWALL_MAX_RULES, DO_DATABASE_FIREWALL_MAX_ADDRESSES, DO_DROPLET_ADDRESSES,
  LINODE_FIREWALL_MAX_RULES,
} from "./engines";
import { cidrAddress } from "./net";
import { DbTierConfig, ENGINE_PORT, Webserver } from "./types";

export const SSH_PORT = 22;

export interface DoFirewallRule { readonly type: "ip_addr" | "tag" | "droplet"; readonly value: string }

export interface AwsIngressRule {
  readonly description: string;
  readonly fromPort: number;
  readonly toPort: number;
  readonly ipProtocol: "tcp";
  readonly cidrIpv4?: string;
  readonly cidrIpv6?: string;
  readonly referencedSecurityGroupId?: string;
}

export type VmRole = "database" | "proxy";

/** One inbound rule of a VM's cloud firewall: one port, one kind of source. */
export interface VmInboundRule {
  readonly description: string;
  readonly protocol: "tcp";
  readonly port: number;
  readonly sourceCidrs: readonly string[];
  /** DigitalOcean tag names; on AWS, security group ids. */
  readonly sourceTags: readonly string[];
}

export interface TrustedSourceRow { readonly target: string; readonly port: number; readonly source: string; readonly name: string }

/**
 * The proxy must reach the managed database too. Its identity is known only after it is created, so callers
 * pass what the provider identifies it by (DO droplet id, an address for Linode, a security group on AWS).
 */
export interface ProxySource {
  readonly dropletId?: string;
  readonly address?: string;
  readonly securityGroupId?: string;
}

/** DigitalOcean's managed clusters listen on 25060 whatever the engine; elsewhere the engine's own port. */
export const DO_MANAGED_PORT = 25060;

export function databasePort(c: DbTierConfig): number {
  return c.mode === "managed" && c.cloud === "digitalocean" ? DO_MANAGED_PORT : ENGINE_PORT[c.engine];
}

/** DigitalOcean writes a single host as a bare address; a range keeps its prefix. */
function doAddress(w: Webserver): string {
  return w.cidr.endsWith("/32") ? cidrAddress(w.cidr) : w.cidr;
}

export function doDatabaseFirewallRules(c: DbTierConfig, proxy?: ProxySource): DoFirewallRule[] {
  const rules: DoFirewallRule[] = c.webservers.map((w) => ({ type: "ip_addr", value: doAddress(w) }));
  if (c.webserverTag) rules.push({ type: "tag", value: c.webserverTag });
  if (proxy?.dropletId) rules.push({ type: "droplet", value: proxy.dropletId });
  return rules;
}

export function linodeAllowList(c: DbTierConfig, proxy?: ProxySource): string[] {
  const list = c.webservers.map((w) => w.cidr);
  if (proxy?.address) list.push(proxy.address.includes("/") ? proxy.address : `${proxy.address}/${proxy.address.includes(":") ? 128 : 32}`);
  return list;
}

export function awsDatabaseIngress(c: DbTierConfig, proxy?: ProxySource): AwsIngressRule[] {
  const port = databasePort(c);
  const base = { fromPort: port, toPort: port, ipProtocol: "tcp" as const };
  const rules: AwsIngressRule[] = c.webservers.map((w) => ({
    ...base,
    description: `${c.engine} from webserver ${w.name}`,
    ...(w.family === 4 ? { cidrIpv4: w.cidr } : { cidrIpv6: w.cidr }),
  }));
  if (c.webserverTag) rules.push({ ...base, description: `${c.engine} from webserver security group`, referencedSecurityGroupId: c.webserverTag });
  if (proxy?.securityGroupId) rules.push({ ...base, description: `${c.engine} from the dbtier proxy`, referencedSecurityGroupId: proxy.securityGroupId });
  return rules;
}

/** Cloud firewall of a VM: the database port from each webserver (database role), SSH from each admin range. */
export function vmInboundRules(c: DbTierConfig, role: VmRole): VmInboundRule[] {
  const rules: VmInboundRule[] = c.adminCidrs.map((cidr) => ({
    description: `ssh from admin range ${cidr}`, protocol: "tcp", port: SSH_PORT, sourceCidrs: [cidr], sourceTags: [],
  }));
  if (role === "database") {
    const port = databasePort(c);
    for (const w of c.webservers) {
      rules.push({ description: `${c.engine} from webserver ${w.name}`, protocol: "tcp", port, sourceCidrs: [w.cidr], sourceTags: [] });
    }
    if (c.webserverTag) {
      rules.push({ description: `${c.engine} from webservers tagged ${c.webserverTag}`, protocol: "tcp", port, sourceCidrs: [], sourceTags: [c.webserverTag] });
    }
  }
  return rules;
}

function nftMatch(cidr: string): string {
  const family = cidr.includes(":") ? "ip6" : "ip";
  const source = cidr.endsWith("/32") || cidr.endsWith("/128") ? cidrAddress(cidr) : cidr;
  return `${family} saddr ${source}`;
}

const nftComment = (text: string): string => `comment "${text.replace(/["\\]/g, "")}"`;

/**
 * Host firewall (nftables) for a VM. It lives in its own table so it never flushes rules other software owns,
 * and drops by default: a packet must pass every base chain on the hook, so our drop holds whatever else exists.
 */
export function renderNftables(c: DbTierConfig, role: VmRole): string {
  const port = databasePort(c);
  const accept: string[] = [];
  for (const cidr of c.adminCidrs) accept.push(`${nftMatch(cidr)} tcp dport ${SSH_PORT} accept ${nftComment(`ssh from admin ${cidr}`)}`);
  if (role === "database") {
    for (const w of c.webservers) accept.push(`${nftMatch(w.cidr)} tcp dport ${port} accept ${nftComment(`${c.engine} from ${w.name}`)}`);
    if (c.webserverTag) {
      // The host cannot resolve a provider tag; it admits the private network and the cloud firewall narrows to the tag.
      accept.push(`${nftMatch(c.vpcCidr)} tcp dport ${port} accept ${nftComment(`${c.engine} from the VPC (tag ${c.webserverTag} enforced by the cloud firewall)`)}`);
    }
  }
  return [
    "#!/usr/sbin/nft -f",
    `# dbtier host firewall for the ${role} VM of stack ${c.stack}. Rendered by dbtier: edit the stack config, not this file.`,
    "table inet dbtier",
    "delete table inet dbtier",
    "table inet dbtier {",
    "  chain input {",
    "    type filter hook input priority filter; policy drop;",
    "    ct state established,related accept",
    "    ct state invalid drop",
    "    iif \"lo\" accept",
    "    # IPv6 needs neighbour discovery; ICMP errors keep path-MTU discovery working.",
    "    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert, packet-too-big, destination-unreachable, time-exceeded } accept",
    "    icmp type { destination-unreachable, time-exceeded } accept",
    ...accept.map((line) => `    ${line}`),
    "    counter comment \"dropped: not a trusted source\"",
    "  }",
    "  chain forward {",
    "    type filter hook forward priority filter; policy drop;",
    "  }",
    "}",
    "",
  ].join("\n");
}

/** The table `npm run plan` prints: who may reach what. */
export function trustedSourceTable(c: DbTierConfig): TrustedSourceRow[] {
  const port = databasePort(c);
  const databaseTarget = c.mode === "managed" ? `managed ${c.engine} cluster` : `${c.engine} on the database VM`;
  const rows: TrustedSourceRow[] = c.webservers.map((w) => ({ target: databaseTarget, port, source: w.cidr, name: w.name }));
  if (c.webserverTag) rows.push({ target: databaseTarget, port, source: `tag:${c.webserverTag}`, name: "webserver tag" });
  if (c.mode === "managed") rows.push({ target: databaseTarget, port, source: "the dbtier proxy", name: "proxy" });
  const sshTarget = c.mode === "managed" ? "proxy VM ssh" : "database VM ssh";
  for (const cidr of c.adminCidrs) rows.push({ target: sshTarget, port: SSH_PORT, source: cidr, name: "admin" });
  return rows;
}

/** A VM's outbound rule: outbound stays open (apt, the vendor repositories and the S3 datastore are on the Internet). */
export interface VmOutboundRule {
  readonly protocol: "tcp" | "udp" | "icmp";
  /** Absent for ICMP. */
  readonly portRange?: string;
  readonly destinations: readonly string[];
}

/** The outbound rules every VM firewall carries where the cloud needs them spelled out (DigitalOcean). */
export const VM_OUTBOUND_RULES: readonly VmOutboundRule[] = [
  { protocol: "tcp", portRange: "1-65535", destinations: ["0.0.0.0/0", "::/0"] },
  { protocol: "udp", portRange: "1-65535", destinations: ["0.0.0.0/0", "::/0"] },
  { protocol: "icmp", destinations: ["0.0.0.0/0", "::/0"] },
];

/**
 * Host patterns of the application account on a self-managed server (`DB_WEBSERVER_SOURCES`). A provider tag
 * or security group only admits traffic from inside the stack's VPC (the host firewall opens the VPC range and
 * the cloud firewall narrows it to the tag), so tagged webservers log in from the VPC range.
 */
export function databaseAccountSources(c: DbTierConfig): string[] {
  const sources = c.webservers.map((w) => w.cidr);
  if (c.webserverTag && !sources.includes(c.vpcCidr)) sources.push(c.vpcCidr);
  return sources;
}

/** One firewall's use of a provider limit. */
export interface RuleBudget {
  /** Config key whose entries fill this firewall (the one to shorten). */
  readonly key: "webservers" | "adminCidrs";
  readonly firewall: string;
  readonly used: number;
  readonly limit: number;
  /** How `used` adds up, and the provider fact behind `limit`. */
  readonly breakdown: string;
  readonly fact: string;
}

const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? "" : "s"}`;

function vmBudgets(c: DbTierConfig): RuleBudget[] {
  const role: VmRole = c.mode === "managed" ? "proxy" : "database";
  const inbound = vmInboundRules(c, role);
  const admins = c.adminCidrs.length;
  const sources = inbound.length - admins;
  const key = role === "database" && sources > 0 ? "webservers" : "adminCidrs";
  const parts = `${count(admins, "admin range")}${role === "database" ? ` + ${count(sources, "webserver source")}` : ""}`;
  const firewall = `the ${role} VM's ${c.cloud} firewall`;
  if (c.cloud === "digitalocean") {
    return [{
      key, firewall, used: inbound.length + VM_OUTBOUND_RULES.length, limit: DO_CLOUD_FIREWALL_MAX_RULES,
      breakdown: `${parts} + ${VM_OUTBOUND_RULES.length} outbound`, fact: `a DigitalOcean cloud firewall takes at most ${DO_CLOUD_FIREWALL_MAX_RULES} incoming and outgoing rules`,
    }];
  }
  if (c.cloud === "linode") {
    return [{
      key, firewall, used: inbound.length, limit: LINODE_FIREWALL_MAX_RULES,
      breakdown: parts, fact: `a Linode Cloud Firewall takes at most ${LINODE_FIREWALL_MAX_RULES} rules`,
    }];
  }
  return (["IPv4", "IPv6"] as const).map((family) => {
    const used = inbound.reduce((n, r) => n + r.sourceTags.length * (family === "IPv4" ? 1 : 0)
      + r.sourceCidrs.filter((cidr) => cidr.includes(":") === (family === "IPv6")).length, 0);
    return {
      key, firewall: `${firewall} (security group, ${family})`, used, limit: AWS_SECURITY_GROUP_MAX_INBOUND_RULES,
      breakdown: `one inbound rule per ${family} source`, fact: `an AWS security group takes ${AWS_SECURITY_GROUP_MAX_INBOUND_RULES} inbound ${family} rules by default`,
    };
  });
}

function managedBudgets(c: DbTierConfig): RuleBudget[] {
  if (c.mode !== "managed") return [];
  if (c.cloud === "digitalocean") {
    const tagged = c.webserverTag ? c.webserverTagDroplets * DO_DROPLET_ADDRESSES : 0;
    const used = c.webservers.length + tagged + DO_DROPLET_ADDRESSES;
    const breakdown = `${count(c.webservers.length, "webserver address or range")}${c.webserverTag ? ` + ${c.webserverTagDroplets} tagged droplets x ${DO_DROPLET_ADDRESSES}` : ""} + the proxy droplet x ${DO_DROPLET_ADDRESSES}`;
    return [{
      key: "webservers", firewall: "the DigitalOcean database firewall", used, limit: DO_DATABASE_FIREWALL_MAX_ADDRESSES, breakdown,
      fact: `DigitalOcean counts trusted sources by address, at most ${DO_DATABASE_FIREWALL_MAX_ADDRESSES} (a droplet counts ${DO_DROPLET_ADDRESSES}, a tag all its droplets)`,
    }];
  }
  if (c.cloud === "aws") {
    const rules = awsDatabaseIngress(c, { securityGroupId: "proxy" });
    return (["IPv4", "IPv6"] as const).map((family) => ({
      key: "webservers" as const, firewall: `the RDS security group (${family})`,
      used: rules.filter((r) => (family === "IPv6" ? r.cidrIpv6 !== undefined : r.cidrIpv6 === undefined)).length,
      limit: AWS_SECURITY_GROUP_MAX_INBOUND_RULES, breakdown: `one inbound rule per ${family} source${family === "IPv4" ? ", the webserver group and the proxy's group" : ""}`,
      fact: `an AWS security group takes ${AWS_SECURITY_GROUP_MAX_INBOUND_RULES} inbound ${family} rules by default`,
    }));
  }
  return [];
}

/** Every provider rule limit the stack's firewalls are held to, with what they use. */
export function ruleBudgets(c: DbTierConfig): RuleBudget[] {
  return [...vmBudgets(c), ...managedBudgets(c)];
}

/** One problem per firewall over its provider's limit, naming the limit and how the count adds up. */
export function ruleLimitProblems(c: DbTierConfig): { key: string; message: string }[] {
  return ruleBudgets(c).filter((b) => b.used > b.limit).map((b) => ({
    key: b.key,
    message: `need ${b.used} entries in ${b.firewall} (${b.breakdown}), but ${b.fact}: group sources into CIDRs${b.key === "webservers" && b.firewall.includes("DigitalOcean database") ? " or lower dbtier:webserverTagDroplets" : ""}`,
  }));
}
