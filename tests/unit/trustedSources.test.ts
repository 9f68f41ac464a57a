import * as fc from "fast-check";
import { execFileSync, spawnSync } from "child_process";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { formatProblems, parseConfig } from "../../components/config";
import { cidrContains, parseCidr } from "../../components/net";
import {
  VM_OUTBOUND_RULES, awsDatabaseIngress, databaseAccountSources, doDatabaseFirewallRules, linodeAllowList, renderNftables, ruleBudgets,
  trustedSourceTable, vmInboundRules,
} from "../../components/trustedSources";
import { DbTierConfig } from "../../components/types";
import { validRaw } from "./fixtures";

function config(overrides: Record<string, unknown> = {}): DbTierConfig {
  const result = parseConfig(validRaw(overrides), "dev");
  if (!result.ok) throw new Error(formatProblems(result.problems).join("\n"));
  return result.config;
}

const WEBSERVERS = [{ name: "web1", ip: "203.0.113.10" }, { name: "web2", ip: "203.0.113.11" }, { name: "pool", ip: "203.0.113.64/28" }, { name: "web6", ip: "2001:db8::6" }];
const IPV4_WEBSERVERS = WEBSERVERS.slice(0, 3);
/** Linode instances have a public IPv6 address, so a self-managed Linode VM is where IPv6 webservers are reachable. */
const LINODE = { cloud: "linode", region: "eu-central" };

describe("CIDR parsing", () => {
  test.each([
    ["203.0.113.10", "203.0.113.10/32"],
    ["203.0.113.77/28", "203.0.113.64/28"],
    ["2001:DB8::1", "2001:db8::1/128"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1/128"],
    ["2001:db8::/32", "2001:db8::/32"],
    ["::ffff:192.0.2.1", "::ffff:c000:201/128"],
    ["0.0.0.0/0", "0.0.0.0/0"],
  ])("%s is canonically %s", (text, canonical) => {
    expect(parseCidr(text)?.canonical).toBe(canonical);
  });

  test.each(["", "203.0.113", "203.0.113.1/33", "2001:db8::/129", "1.2.3.4/x", "fe80::1%eth0", "host.example.com", "01.2.3.4"])("%p is not an address", (text) => {
    expect(parseCidr(text)).toBeUndefined();
  });

  test("property: canonical form is a fixed point and contains the original address", () => {
    fc.assert(fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), fc.nat(128), (address, rawPrefix) => {
      const isV4 = address.includes(".") && !address.includes(":");
      const prefix = rawPrefix % (isV4 ? 33 : 129);
      const parsed = parseCidr(`${address}/${prefix}`);
      if (!parsed) return false;
      const again = parseCidr(parsed.canonical);
      const host = parseCidr(address);
      return again?.canonical === parsed.canonical && host !== undefined && cidrContains(parsed, host);
    }), { numRuns: 500 });
  });
});

describe("database firewall rules (managed)", () => {
  test("DigitalOcean: one ip_addr rule per webserver, a tag rule, the proxy droplet, nothing else", () => {
    const c = config({ mode: "managed", engine: "mysql", engineVersion: "8", webservers: WEBSERVERS.slice(0, 3), webserverTag: "shop-web" });
    expect(doDatabaseFirewallRules(c, { dropletId: "4242" })).toEqual([
      { type: "ip_addr", value: "203.0.113.10" },
      { type: "ip_addr", value: "203.0.113.11" },
      { type: "ip_addr", value: "203.0.113.64/28" },
      { type: "tag", value: "shop-web" },
      { type: "droplet", value: "4242" },
    ]);
  });

  test("Linode: the allow list is exactly the webservers plus the proxy address", () => {
    const c = config({ ...LINODE, mode: "managed", engine: "postgres", engineVersion: "16", webservers: IPV4_WEBSERVERS });
    expect(linodeAllowList(c, { address: "192.0.2.50" })).toEqual(["203.0.113.10/32", "203.0.113.11/32", "203.0.113.64/28", "192.0.2.50/32"]);
  });

  test("AWS: one ingress rule per webserver on the engine port, by family, plus security groups", () => {
    const c = config({ cloud: "aws", region: "eu-central-1", mode: "managed", engine: "postgres", engineVersion: "16", webservers: IPV4_WEBSERVERS, webserverTag: "sg-0123456789abcdef0" });
    const rules = awsDatabaseIngress(c, { securityGroupId: "sg-proxy" });
    expect(rules.map((r) => [r.fromPort, r.toPort, r.ipProtocol])).toEqual(Array(5).fill([5432, 5432, "tcp"]));
    expect(rules.map((r) => r.cidrIpv4 ?? r.cidrIpv6 ?? r.referencedSecurityGroupId)).toEqual([
      "203.0.113.10/32", "203.0.113.11/32", "203.0.113.64/28", "sg-0123456789abcdef0", "sg-proxy",
    ]);
  });
});

describe("VM cloud firewall", () => {
  test("database VM: engine port from each webserver, SSH from each admin range, nothing else", () => {
    const c = config({ webservers: WEBSERVERS.slice(0, 2), adminCidrs: ["198.51.100.0/24", "198.51.100.200/32"] });
    expect(vmInboundRules(c, "database").map((r) => [r.port, ...r.sourceCidrs, ...r.sourceTags])).toEqual([
      [22, "198.51.100.0/24"], [22, "198.51.100.200/32"], [3306, "203.0.113.10/32"], [3306, "203.0.113.11/32"],
    ]);
  });

  test("proxy VM: SSH from admin ranges only, never the database port", () => {
    const c = config({ mode: "managed", engine: "mysql", engineVersion: "8" });
    expect(vmInboundRules(c, "proxy").map((r) => [r.port, ...r.sourceCidrs])).toEqual([[22, "198.51.100.0/24"]]);
  });

  test("property: every webserver gets exactly one database rule and no rule admits anything unlisted", () => {
    const octet = fc.integer({ min: 1, max: 254 });
    fc.assert(fc.property(fc.uniqueArray(octet, { minLength: 1, maxLength: 30 }), (hosts) => {
      const c = config({ webservers: hosts.map((h) => ({ name: `w${h}`, ip: `203.0.113.${h}` })) });
      const dbRules = vmInboundRules(c, "database").filter((r) => r.port === 3306);
      const sources = dbRules.flatMap((r) => r.sourceCidrs).sort();
      return JSON.stringify(sources) === JSON.stringify(hosts.map((h) => `203.0.113.${h}/32`).sort()) && dbRules.every((r) => r.sourceTags.length === 0);
    }), { numRuns: 100 });
  });
});

describe("trusted-source table", () => {
  test("lists every webserver, the proxy in managed mode and the admin ranges", () => {
    const c = config({ mode: "managed", engine: "mysql", engineVersion: "8" });
    expect(trustedSourceTable(c).map((r) => `${r.target}:${r.port}:${r.source}`)).toEqual([
      "managed mysql cluster:25060:203.0.113.10/32", "managed mysql cluster:25060:203.0.113.11/32",
      "managed mysql cluster:25060:the dbtier proxy", "proxy VM ssh:22:198.51.100.0/24",
    ]);
  });

  test("shows the port each target really listens on: 25060 on DigitalOcean clusters, the engine's elsewhere", () => {
    const port = (overrides: Record<string, unknown>) => trustedSourceTable(config(overrides))[0].port;
    expect(port({ mode: "managed", engine: "postgres", engineVersion: "16" })).toBe(25060);
    expect(port({ cloud: "aws", region: "eu-central-1", mode: "managed", engine: "postgres", engineVersion: "16" })).toBe(5432);
    expect(port({ engine: "postgres", engineVersion: "16" })).toBe(5432);
  });
});

describe("host firewall (nftables)", () => {
  test("drops by default and accepts exactly the listed sources on their ports", () => {
    const text = renderNftables(config({ ...LINODE, webservers: WEBSERVERS }), "database");
    expect(text).toContain("policy drop;");
    const accepts = text.split("\n").filter((l) => /saddr .* accept/.test(l)).map((l) => l.trim().replace(/ comment .*/, ""));
    expect(accepts).toEqual([
      "ip saddr 198.51.100.0/24 tcp dport 22 accept",
      "ip saddr 203.0.113.10 tcp dport 3306 accept",
      "ip saddr 203.0.113.11 tcp dport 3306 accept",
      "ip saddr 203.0.113.64/28 tcp dport 3306 accept",
      "ip6 saddr 2001:db8::6 tcp dport 3306 accept",
    ]);
    expect(text).not.toMatch(/dport \d+ accept(?! comment)/);
  });

  test("the proxy's host firewall admits SSH from admins and nothing on database ports", () => {
    const text = renderNftables(config({ mode: "managed", engine: "mysql", engineVersion: "8" }), "proxy");
    expect(text).not.toContain("3306");
    expect(text).toContain("ip saddr 198.51.100.0/24 tcp dport 22 accept");
  });

  test("is accepted by the real nft, twice in a row (idempotent), in a scratch network namespace", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "dbtier-nft-"));
    const ns = `dbtier-nftu-${process.pid}`;
    try {
      const file = path.join(dir, "rules.nft");
      writeFileSync(file, renderNftables(config({ webservers: IPV4_WEBSERVERS, webserverTag: "shop-web" }), "database"));
      execFileSync("ip", ["netns", "add", ns]);
      execFileSync("ip", ["netns", "exec", ns, "nft", "-f", file]);
      execFileSync("ip", ["netns", "exec", ns, "nft", "-f", file]);
      const listed = execFileSync("ip", ["netns", "exec", ns, "nft", "list", "table", "inet", "dbtier"], { encoding: "utf8" });
      expect(listed.match(/tcp dport 3306 accept/g)).toHaveLength(4); // three webservers and the tag's VPC range
    } finally {
      spawnSync("ip", ["netns", "del", ns]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("7: a webserver tag only matches traffic from inside the stack's VPC", () => {
  test("tag only, self-managed: the account's host pattern is the VPC range, so init has DB_WEBSERVER_SOURCES", () => {
    const c = config({ webservers: undefined, webserverTag: "shop-web" });
    expect(c.webservers).toEqual([]);
    expect(databaseAccountSources(c)).toEqual([c.vpcCidr]);
  });

  test("tag and list: the listed webservers and the tagged ones (from the VPC range) each have an account", () => {
    const c = config({ webserverTag: "shop-web" });
    expect(databaseAccountSources(c)).toEqual(["203.0.113.10/32", "203.0.113.11/32", c.vpcCidr]);
    // Every source the host firewall admits on the database port has an account.
    const admitted = renderNftables(c, "database").split("\n").filter((l) => / tcp dport 3306 accept/.test(l)).map((l) => l.trim().split(" ")[2]);
    expect(admitted.map((a) => (a.includes("/") ? a : `${a}/32`))).toEqual(databaseAccountSources(c));
  });

  test("no tag: exactly the listed webservers", () => {
    expect(databaseAccountSources(config())).toEqual(["203.0.113.10/32", "203.0.113.11/32"]);
  });
});

describe("rule budgets", () => {
  test("count what the planners create: inbound rules plus the declared outbound rules on DigitalOcean", () => {
    const c = config();
    const [vm] = ruleBudgets(c);
    expect(vm.used).toBe(vmInboundRules(c, "database").length + VM_OUTBOUND_RULES.length);
    expect(vm.limit).toBe(50);
    const managed = config({ mode: "managed", engine: "mysql", engineVersion: "8" });
    expect(ruleBudgets(managed).map((b) => [b.firewall, b.used, b.limit])).toEqual([
      ["the proxy VM's digitalocean firewall", 1 + VM_OUTBOUND_RULES.length, 50],
      ["the DigitalOcean database firewall", 2 + 2, 100],
    ]);
    expect(doDatabaseFirewallRules(managed, { dropletId: "1" })).toHaveLength(3);
  });
});
