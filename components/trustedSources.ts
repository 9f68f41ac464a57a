// Every firewall rule set, from one source of truth: the validated webservers, webserver tag and admin ranges.
// Pure functions: the components only loop over what these return, and the tests check them directly.
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
