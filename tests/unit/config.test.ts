import * as fc from "fast-check";
import { readdirSync } from "fs";
import { ENGINE_VERSIONS } from "../../components/engines";
import { ENGINE_PARAMETERS, MYSQL_DEFAULT_SQL_MODE, parameterField } from "../../components/engineParams";
import { KNOWN_KEYS, SECRET_KEYS, defaultVpcCidr, formatProblems, mergeWebservers, parseConfig, vpcOverlapProblems } from "../../components/config";
import { parseCidr } from "../../components/net";
import { loadStackConfig } from "../../components/stackConfig";
import { CLOUDS, Cloud, DbTierConfig, ENGINES, Engine, MODES, Mode } from "../../components/types";
import * as path from "path";
import { readFileSync } from "fs";
import { validRaw } from "./fixtures";

const ROOT = path.join(__dirname, "..", "..");
function ok(raw: Record<string, string>, stack = "dev"): DbTierConfig {
  const result = parseConfig(raw, stack);
  if (!result.ok) throw new Error(`expected valid config, got:\n${formatProblems(result.problems).join("\n")}`);
  return result.config;
}

function problemsOf(raw: Record<string, string>, stack = "dev", isSecret?: (k: string) => boolean): string[] {
  const result = parseConfig(raw, stack, isSecret);
  if (result.ok) throw new Error("expected the config to be refused");
  return formatProblems(result.problems);
}

describe("the example stacks", () => {
  test.each(["dev", "prod"])("Pulumi.%s.yaml validates", (stack) => {
    const { raw, secretKeys } = loadStackConfig(ROOT, stack);
    const result = parseConfig(raw, stack, (k) => secretKeys.includes(k));
    expect(result.ok ? [] : formatProblems(result.problems)).toEqual([]);
  });

  test("dev is self-managed MariaDB 11.4 and prod is managed MySQL 8, both on DigitalOcean", () => {
    const dev = ok(loadStackConfig(ROOT, "dev").raw, "dev");
    const prod = ok(loadStackConfig(ROOT, "prod").raw, "prod");
    expect([dev.cloud, dev.mode, dev.engine, dev.engineVersion]).toEqual(["digitalocean", "self-managed", "mariadb", "11.4"]);
    expect([prod.cloud, prod.mode, prod.engine, prod.engineVersion]).toEqual(["digitalocean", "managed", "mysql", "8"]);
    for (const c of [dev, prod]) {
      expect(c.webservers.every((w) => w.cidr.startsWith("203.0.113."))).toBe(true);
      expect(c.adminCidrs.every((a) => a.startsWith("198.51.100."))).toBe(true);
    }
  });

  test("Pulumi.yaml describes every known key, in its schema or its comment", () => {
    const text = readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8");
    for (const key of KNOWN_KEYS) expect(text).toMatch(new RegExp(`\\b${key}\\b`));
  });
});

describe("defaults", () => {
  test("filled in one place: sizes per cloud, retention, appDb, protection by mode", () => {
    const c = ok(validRaw());
    expect(c.size).toBe("s-2vcpu-4gb");
    expect(c.backups.retention).toEqual({ hourly: 24, daily: 7, weekly: 4, monthly: 12 });
    expect(c.backups.periods).toEqual(["hourly", "daily", "weekly", "monthly"]);
    expect(c.appDb).toEqual({ source: "virgin", baselinePath: "dbtier/baseline.sql", application: "shop-dev", sourceApplication: "shop-dev" });
    expect(c.protect).toBe(false);
    const prod = ok(validRaw({ mode: "managed", engine: "mysql", engineVersion: "8" }), "prod");
    expect(prod.protect).toBe(true);
    expect(prod.size).toBe("db-s-2vcpu-4gb");
  });

  test("protect: false is honoured, not replaced by the default", () => {
    expect(ok(validRaw({ mode: "managed", engine: "mysql", engineVersion: "8", protect: "false" })).protect).toBe(false);
  });

  test("readReplicas: 0 stays 0", () => {
    expect(ok(validRaw({ mode: "managed", engine: "mysql", engineVersion: "8", readReplicas: "0" })).readReplicas).toBe(0);
  });
});

describe("engine x version x cloud x mode", () => {
  const cases: Array<[Cloud, Mode, Engine, string]> = [];
  for (const cloud of CLOUDS) for (const mode of MODES) for (const engine of ENGINES) {
    for (const version of ENGINE_VERSIONS[cloud][mode][engine] ?? []) cases.push([cloud, mode, engine, version]);
  }

  test.each(cases)("%s %s %s %s is accepted", (cloud, mode, engine, version) => {
    const region = { digitalocean: "fra1", linode: "eu-central", aws: "eu-central-1" }[cloud];
    const c = ok(validRaw({ cloud, mode, engine, engineVersion: version, region }));
    expect([c.cloud, c.mode, c.engine, c.engineVersion]).toEqual([cloud, mode, engine, version]);
  });

  test.each([
    ["digitalocean", "mariadb", "11.4"],
    ["linode", "mariadb", "10.11"],
  ])("managed %s has no %s: refused naming dbtier:engine", (cloud, engine, version) => {
    const region = cloud === "linode" ? "eu-central" : "fra1";
    const lines = problemsOf(validRaw({ cloud, region, mode: "managed", engine, engineVersion: version }));
    expect(lines).toEqual([expect.stringMatching(/^dbtier:engine: "mariadb" is not offered by .* allowed: mysql \| postgres$/)]);
  });

  test.each([
    ["digitalocean", "managed", "mysql", "8.4"],
    ["digitalocean", "managed", "postgres", "18"],
    ["aws", "managed", "mysql", "5.7"],
    ["aws", "managed", "postgres", "12"],
    ["linode", "self-managed", "mariadb", "10.5"],
  ])("%s %s %s %s is refused naming dbtier:engineVersion and listing the allowed versions", (cloud, mode, engine, version) => {
    const region = { digitalocean: "fra1", linode: "eu-central", aws: "eu-central-1" }[cloud as Cloud];
    const lines = problemsOf(validRaw({ cloud, mode, engine, engineVersion: version, region }));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^dbtier:engineVersion: "${version.replace(".", "\\.")}" is not available .* allowed: `));
  });
});

describe("every problem at once, each naming its full key", () => {
  test("a config broken in many places reports each place", () => {
    const lines = problemsOf(validRaw({
      cloud: "gcp",
      mode: "serverless",
      webservers: [{ name: "web1", ip: "300.1.1.1" }],
      adminCidrs: [],
      database: { name: "mysql", user: "root" },
      backups: { datastore: { endpoint: "ftp://x", bucket: "A", region: "fra1" }, encryptionRecipient: "nope", retention: { hourly: 0 } },
      engnieVersion: "8",
    }));
    const keys = lines.map((l) => l.split(": ")[0]);
    expect(keys).toEqual(expect.arrayContaining([
      "dbtier:cloud", "dbtier:mode", "dbtier:webservers[0].ip", "dbtier:adminCidrs", "dbtier:database.name",
      "dbtier:database.user", "dbtier:backups.datastore.endpoint", "dbtier:backups.datastore.bucket",
      "dbtier:backups.encryptionRecipient", "dbtier:backups.retention.hourly", "dbtier:engnieVersion",
    ]));
  });

  test("a typo in a key is reported with the key it meant", () => {
    expect(problemsOf(validRaw({ engnieVersion: "8" }))).toEqual(['dbtier:engnieVersion: is not a known key; did you mean "engineVersion"?']);
  });

  test("a typo in a nested field is reported too", () => {
    const lines = problemsOf(validRaw({ database: { name: "shop", usr: "x" } }));
    expect(lines).toEqual([expect.stringMatching(/^dbtier:database\.usr: is not a known field; did you mean "user"\?/)]);
  });

  test("keys of other namespaces are left to their providers", () => {
    ok({ ...validRaw(), "digitalocean:token": "x", "aws:region": "eu-central-1" });
  });
});

describe("trusted sources", () => {
  test("addresses and CIDRs are normalised and deduplicated", () => {
    const c = ok(validRaw({ cloud: "linode", region: "eu-central", webservers: [
      { name: "web1", ip: "203.0.113.10" }, { name: "web2", ip: "203.0.113.10/32" }, { name: "web3", ip: "2001:DB8:0:0::10" },
      { name: "pool", ip: "203.0.113.77/28" },
    ] }));
    expect(c.webservers).toEqual([
      { name: "web1", cidr: "203.0.113.10/32", family: 4 },
      { name: "web3", cidr: "2001:db8::10/128", family: 6 },
      { name: "pool", cidr: "203.0.113.64/28", family: 4 },
    ]);
  });

  test.each(["0.0.0.0/0", "10.0.0.0/8", "203.0.0.0/15", "::/0", "2001:db8::/32"])("must not trust %s unless allowWideSources is set", (ip) => {
    // PostgreSQL on Linode: the one self-managed shape where an IPv6 range is reachable and expressible.
    const where = { cloud: "linode", region: "eu-central", engine: "postgres", engineVersion: "17" };
    const lines = problemsOf(validRaw({ ...where, webservers: [{ name: "web1", ip }] }));
    expect(lines).toEqual([expect.stringMatching(/^dbtier:webservers\[0\]\.ip: .* is wider than \/(16|48).*allowWideSources/)]);
    expect(ok(validRaw({ ...where, webservers: [{ name: "web1", ip }], allowWideSources: "true" })).webservers[0].cidr).toBeDefined();
  });

  test("a /16 is the widest accepted without the flag", () => {
    expect(ok(validRaw({ webservers: [{ name: "net", ip: "203.0.0.0/16" }] })).webservers[0].cidr).toBe("203.0.0.0/16");
  });

  test.each(["127.0.0.1", "224.0.0.5", "::1", "fe80::1", "0.0.0.0"])("refuses the special address %s as a webserver", (ip) => {
    expect(problemsOf(validRaw({ webservers: [{ name: "web1", ip }] }))[0]).toMatch(/^dbtier:webservers\[0\]\.ip: .* cannot be a client source/);
  });

  test("must not open SSH to the whole Internet, even with allowWideSources", () => {
    const lines = problemsOf(validRaw({ adminCidrs: ["0.0.0.0/0"], allowWideSources: "true" }));
    expect(lines).toEqual([expect.stringMatching(/^dbtier:adminCidrs\[0\]: "0\.0\.0\.0\/0" opens SSH to the whole Internet/)]);
  });

  test("admin ranges are required: every shape has a VM", () => {
    expect(problemsOf(validRaw({ adminCidrs: undefined }))[0]).toMatch(/^dbtier:adminCidrs: is required/);
    expect(problemsOf(validRaw({ adminCidrs: undefined, mode: "managed", engine: "mysql", engineVersion: "8" }))[0]).toMatch(/^dbtier:adminCidrs: is required/);
  });

  test("a webserver tag must fit the cloud: DO tag, AWS security group id, none on linode", () => {
    expect(ok(validRaw({ webserverTag: "shop-web" })).webserverTag).toBe("shop-web");
    const aws = { cloud: "aws", region: "eu-central-1" };
    expect(problemsOf(validRaw({ ...aws, webserverTag: "shop-web" }))[0]).toMatch(/^dbtier:webserverTag: "shop-web" is not a security group id/);
    expect(ok(validRaw({ ...aws, webserverTag: "sg-0123456789abcdef0" })).webserverTag).toBe("sg-0123456789abcdef0");
    expect(problemsOf(validRaw({ cloud: "linode", region: "eu-central", webserverTag: "web" }))[0]).toMatch(/^dbtier:webserverTag: is not supported on linode/);
  });

  test("no webservers and no tag: nothing could reach the database", () => {
    expect(problemsOf(validRaw({ webservers: [] }))).toEqual([expect.stringMatching(/^dbtier:webservers: is empty/)]);
    expect(problemsOf(validRaw({ webservers: undefined }))).toEqual([expect.stringMatching(/^dbtier:webservers: is required/)]);
    expect(ok(validRaw({ webservers: undefined, webserverTag: "web" })).webservers).toEqual([]);
  });

  test("webserver names must be unique labels", () => {
    const lines = problemsOf(validRaw({ webservers: [{ name: "web1", ip: "203.0.113.1" }, { name: "web1", ip: "203.0.113.2" }, { name: "Web 3", ip: "203.0.113.3" }] }));
    expect(lines).toEqual([
      expect.stringMatching(/^dbtier:webservers\[1\]\.name: "web1" is used by an earlier webserver/),
      expect.stringMatching(/^dbtier:webservers\[2\]\.name: "Web 3" is not allowed/),
    ]);
  });
});

describe("names valid for the engine", () => {
  test.each([
    ["mariadb", "user", "a".repeat(33), /at most 32/],
    ["postgres", "user", "a".repeat(64), /at most 63/],
    ["postgres", "name", "template1", /reserved/],
    ["postgres", "user", "pg_app", /reserved/],
    ["mariadb", "name", "information_schema", /reserved/],
    ["mariadb", "user", "root", /reserved/],
    ["mariadb", "name", "shop-db", /lowercase letters, digits and underscores/],
    ["postgres", "user", "1app", /starting with a letter/],
  ])("%s refuses database.%s %s", (engine, field, value, why) => {
    const engineVersion = engine === "postgres" ? "16" : "11.4";
    const database = { name: "shop", user: "shop_app", [field]: value };
    const lines = problemsOf(validRaw({ engine, engineVersion, database }));
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^dbtier:database\\.${field}: .*${why.source}`))]);
  });
});

describe("appDb and backups", () => {
  test("baseline requires baselineRepo", () => {
    expect(problemsOf(validRaw({ appDb: { source: "baseline" } }))).toEqual([expect.stringMatching(/^dbtier:appDb\.baselineRepo: is required when dbtier:appDb\.source is "baseline"/)]);
  });

  test("an SSH baseline repository needs a pinned host key and a deploy key, set as a secret", () => {
    const bare = { source: "baseline", baselineRepo: "git@git.example.com:acme/db.git" };
    expect(problemsOf(validRaw({ appDb: bare }))).toEqual([
      expect.stringMatching(/^dbtier:appDb\.baselineKnownHosts: is required for an SSH baselineRepo/),
      expect.stringMatching(/^dbtier:baselineDeployKey: is required/),
    ]);
    expect(problemsOf(validRaw({ appDb: { ...bare, baselineKnownHosts: "git.example.com nonsense" } }))[0]).toMatch(/^dbtier:appDb\.baselineKnownHosts: is not in known_hosts format/);
    const appDb = { ...bare, baselineKnownHosts: "git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl" };
    const raw = { ...validRaw({ appDb }), "dbtier:baselineDeployKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----" };
    expect(problemsOf(raw, "dev", () => false)).toEqual([expect.stringMatching(/^dbtier:baselineDeployKey: holds a credential but is stored in plaintext/)]);
    expect(ok(raw).secrets.baselineDeployKey).toContain("OPENSSH");
  });

  test.each(SECRET_KEYS)("dbtier:%s in plaintext is refused", (key) => {
    const value = key === "alertEmail" ? "ops@example.com" : key === "smtpUrl" ? "smtps://alerts@smtp.example.com:465" : "s3cr3t";
    const raw = { ...validRaw(), [`dbtier:${key}`]: value };
    expect(problemsOf(raw, "dev", () => false)).toEqual([expect.stringMatching(new RegExp(`^dbtier:${key}: holds a credential but is stored in plaintext; set it with \`pulumi config set --secret`))]);
    expect(parseConfig(raw, "dev", (k) => k === `dbtier:${key}`).ok).toBe(true);
  });

  test("a period source must be a period that is backed up", () => {
    const lines = problemsOf(validRaw({ appDb: { source: "hourly" }, backups: { ...JSON.parse(validRaw()["dbtier:backups"]), periods: ["daily"] } }));
    expect(lines).toEqual([expect.stringMatching(/^dbtier:appDb\.source: "hourly" is not among dbtier:backups\.periods/)]);
  });

  test.each([0, -1, 2.5, "7", 1001])("retention %p is refused: positive whole numbers only", (count) => {
    const backups = { ...JSON.parse(validRaw()["dbtier:backups"]), retention: { daily: count } };
    expect(problemsOf(validRaw({ backups }))).toEqual([expect.stringMatching(/^dbtier:backups\.retention\.daily: .* a whole number from 1 to 1000$/)]);
  });

  test("plain http datastores only on lab addresses", () => {
    const datastore = (endpoint: string) => ({ ...JSON.parse(validRaw()["dbtier:backups"]), datastore: { endpoint, bucket: "b-1", region: "fra1" } });
    expect(problemsOf(validRaw({ backups: datastore("http://s3.example.com") }))[0]).toMatch(/^dbtier:backups\.datastore\.endpoint: .* must use https/);
    expect(ok(validRaw({ backups: datastore("http://192.0.2.20:9000") })).backups.datastore.endpoint).toBe("http://192.0.2.20:9000");
  });

  test("managed-only options are refused on self-managed", () => {
    expect(problemsOf(validRaw({ highAvailability: "true", readReplicas: "2" }))).toEqual([
      expect.stringMatching(/^dbtier:highAvailability: applies only to dbtier:mode managed/),
      expect.stringMatching(/^dbtier:readReplicas: applies only to dbtier:mode managed/),
    ]);
  });

  test("linode has no read replicas", () => {
    const raw = validRaw({ cloud: "linode", region: "eu-central", mode: "managed", engine: "postgres", engineVersion: "16", readReplicas: "1" });
    expect(problemsOf(raw)).toEqual([expect.stringMatching(/^dbtier:readReplicas: linode managed databases have no read replicas/)]);
  });

  test("booleans and integers are typed", () => {
    expect(problemsOf(validRaw({ protect: "yes", readReplicas: "two", mode: "managed", engine: "mysql", engineVersion: "8" }))).toEqual([
      'dbtier:readReplicas: "two" is not allowed; allowed: a whole number from 0 to 5',
      'dbtier:protect: "yes" is not a boolean; allowed: true | false',
    ]);
  });
});

// ---- issue 12: what the real clouds would refuse ----

const CHECKED = new Date("2026-12-04T12:00:00Z");
const outcome = (raw: Record<string, string>, stack = "dev", today = CHECKED) => parseConfig(raw, stack, { today });
function problemsOn(raw: Record<string, string>, today = CHECKED, stack = "dev"): string[] {
  const result = outcome(raw, stack, today);
  if (result.ok) throw new Error("expected the config to be refused");
  return formatProblems(result.problems);
}
function okOn(raw: Record<string, string>, today = CHECKED, stack = "dev"): DbTierConfig {
  const result = outcome(raw, stack, today);
  if (!result.ok) throw new Error(formatProblems(result.problems).join("\n"));
  return result.config;
}
const AWS_MANAGED = { cloud: "aws", region: "eu-central-1", mode: "managed" };
const DO_MANAGED_MYSQL = { mode: "managed", engine: "mysql", engineVersion: "8" };

describe("1: VPC ranges never overlap by default", () => {
  const stacks = ["dev", "prod"].map((stack) => ({ stack, config: ok(loadStackConfig(ROOT, stack).raw, stack) }));

  test("the checked-in stacks (and a copied prod-next) get different ranges on the same cloud and region", () => {
    const prodNext = ok(loadStackConfig(ROOT, "prod").raw, "prod-next");
    const all = [...stacks.map((s) => s.config), prodNext];
    expect(new Set(all.map((c) => `${c.cloud}/${c.region}`)).size).toBe(1);
    expect(new Set(all.map((c) => c.vpcCidr)).size).toBe(3);
    expect(vpcOverlapProblems(all.map((c) => ({ stack: c.stack, cloud: c.cloud, region: c.region, vpcCidr: c.vpcCidr })))).toEqual([]);
  });

  test("every stack file in the repository is checked against the others", () => {
    const files = readdirSync(ROOT).filter((f) => /^Pulumi\.[^.]+\.yaml$/.test(f)).map((f) => f.split(".")[1]);
    const networks = files.map((stack) => ok(loadStackConfig(ROOT, stack).raw, stack)).map((c) => ({ stack: c.stack, cloud: c.cloud, region: c.region, vpcCidr: c.vpcCidr }));
    expect(files.length).toBeGreaterThanOrEqual(2);
    expect(vpcOverlapProblems(networks)).toEqual([]);
  });

  test("an explicit overlap is caught: anywhere on DigitalOcean (one account), per region elsewhere", () => {
    const net = (stack: string, cloud: Cloud, region: string, vpcCidr: string) => ({ stack, cloud, region, vpcCidr });
    expect(vpcOverlapProblems([net("a", "digitalocean", "fra1", "10.42.0.0/16"), net("b", "digitalocean", "ams3", "10.42.8.0/24")]))
      .toEqual([expect.objectContaining({ key: "dbtier:vpcCidr", message: expect.stringMatching(/"a" \(10\.42\.0\.0\/16\) and "b" .* overlap on digitalocean/) })]);
    expect(vpcOverlapProblems([net("a", "aws", "eu-central-1", "10.42.0.0/16"), net("b", "aws", "us-east-1", "10.42.0.0/16")])).toEqual([]);
    expect(vpcOverlapProblems([net("a", "aws", "eu-central-1", "10.42.0.0/16"), net("b", "aws", "eu-central-1", "10.43.0.0/16")])).toEqual([]);
  });

  test("property: the default is a private /20 clear of DigitalOcean's reserved ranges, stable per stack name", () => {
    fc.assert(fc.property(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), (stack) => {
      const cidr = parseCidr(defaultVpcCidr(stack));
      return cidr !== undefined && cidr.prefix === 20 && cidr.bytes[0] === 10 && cidr.bytes[1] >= 32 && cidr.bytes[1] <= 95
        && defaultVpcCidr(stack) === cidr.canonical;
    }), { numRuns: 300 });
  });
});

describe("3: engine versions as offered on 2026-12-04", () => {
  test.each([
    [{ ...AWS_MANAGED, engine: "mariadb", engineVersion: "10.6" }, /"10\.6" reached its end of support on 2026-08-31 .* allowed: 10\.11 \| 11\.4 \| 11\.8$/],
    [{ ...AWS_MANAGED, engine: "mysql", engineVersion: "8.0" }, /"8\.0" is past RDS end of standard support \(2026-07-31\): .*paid Extended Support; allowed: 8\.4, or set dbtier:rdsExtendedSupport: true/],
    [{ ...AWS_MANAGED, engine: "postgres", engineVersion: "13" }, /"13" is past RDS end of standard support \(2026-02-28\)/],
    [{ ...DO_MANAGED_MYSQL, engine: "postgres", engineVersion: "14" }, /"14" reached its end of support on 2026-11-12 \(the provider no longer creates it\).* allowed: 15 \| 16 \| 17$/],
    [{ cloud: "linode", region: "eu-central", mode: "managed", engine: "postgres", engineVersion: "13" }, /"13" reached its end of support on 2025-11-13/],
    [{ engine: "mysql", engineVersion: "8.0" }, /"8\.0" reached its end of support on 2026-04-30 \(no more security fixes upstream\).* allowed: 8\.4$/],
    [{ engine: "mariadb", engineVersion: "10.6" }, /"10\.6" reached its end of support on 2026-07-06/],
  ])("%o is refused, naming what is allowed", (overrides, why) => {
    expect(problemsOn(validRaw(overrides))).toEqual([expect.stringMatching(new RegExp(`^dbtier:engineVersion: ${why.source}`))]);
  });

  test("the same versions were fine before their end date (the check follows the calendar, not a list)", () => {
    const july = new Date("2026-07-01T00:00:00Z");
    expect(okOn(validRaw({ ...AWS_MANAGED, engine: "mysql", engineVersion: "8.0" }), july).engineVersion).toBe("8.0");
    expect(okOn(validRaw({ ...DO_MANAGED_MYSQL, engine: "postgres", engineVersion: "14" }), july).engineVersion).toBe("14");
  });

  test("RDS is never silently put on paid Extended Support: disabled by default, opted into by name", () => {
    expect(okOn(validRaw({ ...AWS_MANAGED, engine: "mysql", engineVersion: "8.4" })).rdsLifecycleSupport).toBe("open-source-rds-extended-support-disabled");
    expect(okOn(validRaw({ ...AWS_MANAGED, engine: "postgres", engineVersion: "17" })).rdsLifecycleSupport).toBe("open-source-rds-extended-support-disabled");
    const paid = okOn(validRaw({ ...AWS_MANAGED, engine: "mysql", engineVersion: "8.0", rdsExtendedSupport: "true" }));
    expect([paid.rdsExtendedSupport, paid.rdsLifecycleSupport]).toEqual([true, "open-source-rds-extended-support"]);
    // MariaDB on RDS has no Extended Support, and the field means nothing off RDS.
    expect(okOn(validRaw({ ...AWS_MANAGED, engine: "mariadb", engineVersion: "11.8" })).rdsLifecycleSupport).toBeUndefined();
    expect(problemsOn(validRaw({ ...AWS_MANAGED, engine: "mariadb", engineVersion: "11.8", rdsExtendedSupport: "true" })))
      .toEqual([expect.stringMatching(/^dbtier:rdsExtendedSupport: applies only to dbtier:cloud aws, mode managed, engine mysql or postgres/)]);
  });

  test("a version no provider offers is still refused with the allowed list", () => {
    expect(problemsOn(validRaw({ ...DO_MANAGED_MYSQL, engine: "postgres", engineVersion: "18" })))
      .toEqual([expect.stringMatching(/^dbtier:engineVersion: "18" is not available for postgres on digitalocean \(managed\); allowed: 15 \| 16 \| 17$/)]);
  });
});

describe("5: provider rule limits, counted on the planned firewalls", () => {
  const hosts = (n: number, net = "198.51.100") => Array.from({ length: n }, (_, i) => ({ name: `web${i}`, ip: `${net}.${i + 1}` }));

  test("DigitalOcean cloud firewall: 50 rules in and out (1 admin + 46 webservers + 3 outbound fit, 47 do not)", () => {
    expect(okOn(validRaw({ webservers: hosts(46) })).webservers).toHaveLength(46);
    expect(problemsOn(validRaw({ webservers: hosts(47) }))).toEqual([
      expect.stringMatching(/^dbtier:webservers: need 51 entries in the database VM's digitalocean firewall \(1 admin range \+ 47 webserver sources \+ 3 outbound\), but a DigitalOcean cloud firewall takes at most 50/),
    ]);
  });

  test("Linode Cloud Firewall: 25 rules", () => {
    const linode = { cloud: "linode", region: "eu-central" };
    expect(okOn(validRaw({ ...linode, webservers: hosts(24) })).webservers).toHaveLength(24);
    expect(problemsOn(validRaw({ ...linode, webservers: hosts(25) }))).toEqual([expect.stringMatching(/^dbtier:webservers: need 26 entries .* a Linode Cloud Firewall takes at most 25 rules/)]);
  });

  test("AWS security group: 60 inbound rules per family (the RDS group also holds the webserver group and the proxy's)", () => {
    const rds = { ...AWS_MANAGED, engine: "postgres", engineVersion: "17" };
    expect(okOn(validRaw({ ...rds, webservers: hosts(59) })).webservers).toHaveLength(59);
    expect(problemsOn(validRaw({ ...rds, webservers: hosts(60) }))).toEqual([expect.stringMatching(/^dbtier:webservers: need 61 entries in the RDS security group \(IPv4\) .* 60 inbound IPv4 rules by default/)]);
    expect(problemsOn(validRaw({ ...rds, webservers: hosts(59), webserverTag: "sg-0123456789abcdef0" }))).toEqual([expect.stringMatching(/need 61 entries in the RDS security group/)]);
    // The self-managed VM's group: 60 sources plus the admin range.
    expect(problemsOn(validRaw({ cloud: "aws", region: "eu-central-1", webservers: hosts(60) }))).toEqual([expect.stringMatching(/need 61 entries in the database VM's aws firewall \(security group, IPv4\)/)]);
  });

  test("DigitalOcean database firewall counts addresses: the proxy droplet 2, a tag 2 per droplet", () => {
    const many = [...hosts(200, "198.51.100").slice(0, 49), ...hosts(49, "203.0.113")].map((w, i) => ({ ...w, name: `w${i}` }));
    expect(okOn(validRaw({ ...DO_MANAGED_MYSQL, webservers: many })).webservers).toHaveLength(98);
    expect(problemsOn(validRaw({ ...DO_MANAGED_MYSQL, webservers: [...many, { name: "one-more", ip: "192.0.2.1" }] })))
      .toEqual([expect.stringMatching(/^dbtier:webservers: need 101 entries in the DigitalOcean database firewall \(99 webserver address or ranges? \+ the proxy droplet x 2\), but DigitalOcean counts trusted sources by address, at most 100/)]);
    const tagged = { ...DO_MANAGED_MYSQL, webservers: hosts(3), webserverTag: "shop-web" };
    expect(okOn(validRaw(tagged)).webserverTagDroplets).toBe(10);
    expect(problemsOn(validRaw({ ...tagged, webserverTagDroplets: "49" }))).toEqual([expect.stringMatching(/need 103 entries .*3 webserver address or ranges \+ 49 tagged droplets x 2 \+ the proxy droplet x 2/)]);
    expect(problemsOn(validRaw({ ...DO_MANAGED_MYSQL, webserverTagDroplets: "5" }))).toEqual([expect.stringMatching(/^dbtier:webserverTagDroplets: applies only with dbtier:webserverTag/)]);
  });
});

describe("6: IPv6 sources only where packets can arrive", () => {
  const v6 = [{ name: "web6", ip: "2001:db8::6" }];
  test.each([
    [{}, /droplets have no IPv6 address/],
    [DO_MANAGED_MYSQL, /DigitalOcean database trusted sources accept IPv4 only/],
    [{ cloud: "aws", region: "eu-central-1" }, /AWS VPC and instances have no IPv6/],
    [{ ...AWS_MANAGED, engine: "mysql", engineVersion: "8.4" }, /RDS has no IPv6 address/],
    [{ cloud: "linode", region: "eu-central", mode: "managed", engine: "postgres", engineVersion: "17" }, /Linode database access controls accept IPv4/],
  ])("%o refuses an IPv6 webserver", (where, why) => {
    expect(problemsOn(validRaw({ ...where, webservers: v6 }))).toEqual([expect.stringMatching(new RegExp(`^dbtier:webservers\\[0\\]\\.ip: "2001:db8::6/128" is IPv6, but .*${why.source}`))]);
  });

  test("a self-managed Linode VM has a public IPv6 address: accepted there, but an IPv6 range only for PostgreSQL", () => {
    const linode = { cloud: "linode", region: "eu-central" };
    expect(okOn(validRaw({ ...linode, webservers: v6 })).webservers[0].family).toBe(6);
    expect(problemsOn(validRaw({ ...linode, webservers: [{ name: "net6", ip: "2001:db8::/64" }] })))
      .toEqual([expect.stringMatching(/^dbtier:webservers\[0\]\.ip: "2001:db8::\/64" is an IPv6 range, which mariadb accounts cannot express/)]);
    expect(okOn(validRaw({ ...linode, engine: "postgres", engineVersion: "17", webservers: [{ name: "net6", ip: "2001:db8::/64" }] })).webservers[0].cidr).toBe("2001:db8::/64");
  });

  test("SSH from an IPv6 admin range is refused where the VM has no IPv6", () => {
    expect(problemsOn(validRaw({ adminCidrs: ["198.51.100.0/24", "2001:db8:1::/48"] }))).toEqual([expect.stringMatching(/^dbtier:adminCidrs\[1\]: "2001:db8:1::\/48" is IPv6, but .* SSH from it never arrives/)]);
    expect(okOn(validRaw({ cloud: "linode", region: "eu-central", adminCidrs: ["2001:db8:1::/48"] })).adminCidrs).toEqual(["2001:db8:1::/48"]);
  });
});

describe("14: DigitalOcean standby nodes on the smallest plan", () => {
  test("HA on db-s-1vcpu-1gb is refused; a larger plan is fine", () => {
    expect(problemsOn(validRaw({ ...DO_MANAGED_MYSQL, highAvailability: "true", size: "db-s-1vcpu-1gb" })))
      .toEqual([expect.stringMatching(/^dbtier:highAvailability: DigitalOcean refuses standby nodes on "db-s-1vcpu-1gb"/)]);
    expect(okOn(validRaw({ ...DO_MANAGED_MYSQL, size: "db-s-1vcpu-1gb" })).highAvailability).toBe(false);
    expect(okOn(validRaw({ ...DO_MANAGED_MYSQL, highAvailability: "true", size: "db-s-1vcpu-2gb" })).highAvailability).toBe(true);
  });
});

describe("10: provider names", () => {
  test("an application starting with a digit is refused on AWS (invalid RDS identifier), naming the rule", () => {
    const appDb = { source: "virgin", application: "1shop" };
    expect(problemsOn(validRaw({ ...AWS_MANAGED, engine: "mysql", engineVersion: "8.4", appDb })))
      .toEqual([expect.stringMatching(/^dbtier:appDb\.application: "1shop" gives the aws name "1shop-dev-.*must start with a letter .*RDS identifiers/)]);
  });
});

describe("webserversFrom: webservers from another stack", () => {
  const from = { stack: "acme/web/prod", output: "webservers" };

  test("the reference is validated for shape", () => {
    expect(okOn(validRaw({ webserversFrom: from })).webserversFrom).toEqual(from);
    expect(problemsOn(validRaw({ webserversFrom: { stack: "acme/web/prod/x", output: "web servers", extra: 1 } }))).toEqual([
      expect.stringMatching(/^dbtier:webserversFrom\.extra: is not a known field/),
      expect.stringMatching(/^dbtier:webserversFrom\.stack: "acme\/web\/prod\/x" is not a stack name; allowed: stack, project\/stack or org\/project\/stack/),
      expect.stringMatching(/^dbtier:webserversFrom\.output: "web servers" is not an output name/),
    ]);
    expect(problemsOn(validRaw({ webserversFrom: { stack: "dev", output: "x" } }))).toEqual([expect.stringMatching(/^dbtier:webserversFrom\.stack: "dev" is this stack/)]);
    // With a reference, an empty local list is fine until the reference resolves.
    expect(okOn(validRaw({ webservers: undefined, webserversFrom: from })).webservers).toEqual([]);
  });

  test("a resolved list is merged and validated exactly like dbtier:webservers", () => {
    const base = okOn(validRaw({ webserversFrom: from }));
    const merged = mergeWebservers(base, [{ name: "api1", ip: "203.0.113.20" }, { name: "dup", ip: "203.0.113.10" }]);
    expect(merged.ok && merged.config.webservers.map((w) => `${w.name}=${w.cidr}`)).toEqual(["web1=203.0.113.10/32", "web2=203.0.113.11/32", "api1=203.0.113.20/32"]);

    const local = problemsOn(validRaw({ webservers: [{ name: "web9", ip: "127.0.0.1" }, { name: "web6", ip: "2001:db8::6" }] }));
    const remote = mergeWebservers(base, [{ name: "web9", ip: "127.0.0.1" }, { name: "web6", ip: "2001:db8::6" }]);
    expect(remote.ok).toBe(false);
    expect(remote.ok ? [] : formatProblems(remote.problems)).toEqual(local.map((l) => l.replace("dbtier:webservers[", "dbtier:webserversFrom[")));
  });

  test("names clash across the lists, missing outputs and rule limits after merging are reported", () => {
    const base = okOn(validRaw({ webserversFrom: from }));
    const lines = (r: ReturnType<typeof mergeWebservers>) => (r.ok ? [] : formatProblems(r.problems));
    expect(lines(mergeWebservers(base, [{ name: "web1", ip: "203.0.113.30" }]))).toEqual([expect.stringMatching(/^dbtier:webserversFrom\[0\]\.name: "web1" is also in dbtier:webservers/)]);
    expect(lines(mergeWebservers(base, undefined))).toEqual([expect.stringMatching(/^dbtier:webserversFrom: stack output "webservers" of "acme\/web\/prod" is not set/)]);
    expect(lines(mergeWebservers(base, { name: "x" }))).toEqual(["dbtier:webserversFrom: must be a list of {name, ip}"]);
    const many = Array.from({ length: 60 }, (_, i) => ({ name: `a${i}`, ip: `192.0.2.${i + 1}` }));
    expect(lines(mergeWebservers(base, many))).toEqual([expect.stringMatching(/^dbtier:webservers: need 66 entries .* at most 50/)]);
  });
});

describe("settable operations", () => {
  test("windows and retention: defaults, managed only, per cloud", () => {
    const rds = { ...AWS_MANAGED, engine: "postgres", engineVersion: "17" };
    const c = okOn(validRaw(rds));
    expect([c.maintenanceWindow, c.backupHourUtc, c.backupRetentionDays]).toEqual([{ day: "sunday", hourUtc: 3 }, 2, 14]);
    const set = okOn(validRaw({ ...rds, maintenanceWindow: { day: "Tuesday", hour: 22 }, backupHour: "1", backupRetentionDays: "35" }));
    expect([set.maintenanceWindow, set.backupHourUtc, set.backupRetentionDays]).toEqual([{ day: "tuesday", hourUtc: 22 }, 1, 35]);
    expect(problemsOn(validRaw({ ...rds, maintenanceWindow: { day: "funday", hour: 24 }, backupRetentionDays: "0" }))).toEqual([
      expect.stringMatching(/^dbtier:maintenanceWindow\.day: "funday" is not allowed; allowed: monday \| tuesday/),
      expect.stringMatching(/^dbtier:maintenanceWindow\.hour: 24 is not allowed; allowed: a whole number from 0 to 23/),
      expect.stringMatching(/^dbtier:backupRetentionDays: "0" is not allowed; allowed: a whole number from 1 to 35/),
    ]);
    expect(problemsOn(validRaw({ ...rds, backupHour: "3" }))).toEqual([expect.stringMatching(/^dbtier:backupHour: 3 overlaps dbtier:maintenanceWindow .*RDS refuses/)]);
    expect(problemsOn(validRaw({ ...DO_MANAGED_MYSQL, backupRetentionDays: "30" }))).toEqual([expect.stringMatching(/^dbtier:backupRetentionDays: is fixed by DigitalOcean \(7 days/)]);
    expect(problemsOn(validRaw({ cloud: "linode", region: "eu-central", mode: "managed", engine: "mysql", engineVersion: "8", backupHour: "4" }))).toEqual([expect.stringMatching(/^dbtier:backupHour: linode chooses/)]);
    expect(problemsOn(validRaw({ maintenanceWindow: { day: "monday" } }))).toEqual([expect.stringMatching(/^dbtier:maintenanceWindow: applies only to dbtier:mode managed/)]);
  });

  test("8: managed MySQL on DigitalOcean and Linode gets dev's defaults (no primary key requirement, MySQL's own sql_mode)", () => {
    for (const where of [DO_MANAGED_MYSQL, { cloud: "linode", region: "eu-central", mode: "managed", engine: "mysql", engineVersion: "8" }]) {
      expect(okOn(validRaw(where)).engineConfig).toEqual({ sql_require_primary_key: false, sql_mode: MYSQL_DEFAULT_SQL_MODE });
    }
    expect(MYSQL_DEFAULT_SQL_MODE).not.toMatch(/ANSI/);
    // Elsewhere the engine's own defaults already match dev: nothing is overridden.
    expect(okOn(validRaw({ ...AWS_MANAGED, engine: "mysql", engineVersion: "8.4" })).engineConfig).toEqual({});
    expect(okOn(validRaw({ engine: "postgres", engineVersion: "17" })).engineConfig).toEqual({});
  });

  test("engineConfig is validated per engine and place, each problem naming the parameter", () => {
    expect(okOn(validRaw({ ...DO_MANAGED_MYSQL, engineConfig: { sql_require_primary_key: true, wait_timeout: 600 } })).engineConfig)
      .toEqual({ sql_require_primary_key: true, sql_mode: MYSQL_DEFAULT_SQL_MODE, wait_timeout: 600 });
    expect(problemsOn(validRaw({ ...DO_MANAGED_MYSQL, engineConfig: { max_connections: 500, sql_mode: "STRICT_ALL_TABLES,NOT_A_MODE", wait_timeout: "600", shared_buffers: 1 } }))).toEqual([
      expect.stringMatching(/^dbtier:engineConfig\.max_connections: cannot be set on DigitalOcean managed databases; allowed here: sql_require_primary_key, sql_mode, wait_timeout, innodb_lock_wait_timeout$/),
      expect.stringMatching(/^dbtier:engineConfig\.sql_mode: "NOT_A_MODE" is not an mysql sql_mode flag; allowed: /),
      expect.stringMatching(/^dbtier:engineConfig\.wait_timeout: "600" is not allowed; allowed: a whole number of seconds from 1 to 2147483$/),
      expect.stringMatching(/^dbtier:engineConfig\.shared_buffers: is not a mysql parameter dbtier can set/),
    ]);
    expect(okOn(validRaw({ engine: "mariadb", engineVersion: "11.4", engineConfig: { max_connections: 300 } })).engineConfig).toEqual({ max_connections: 300 });
    expect(problemsOn(validRaw({ engineConfig: { sql_require_primary_key: true } }))).toEqual([expect.stringMatching(/^dbtier:engineConfig\.sql_require_primary_key: is not a mariadb parameter/)]);
    expect(problemsOn(validRaw({ engineConfig: [1] }))).toEqual([expect.stringMatching(/^dbtier:engineConfig: must be an object/)]);
  });

  test("every declared parameter maps to a provider field only where its provider documents one", () => {
    for (const p of ENGINE_PARAMETERS) {
      expect(parameterField(p.name, "self-managed")).toBe(p.name);
      if (p.linode) expect(p.linode).toMatch(/^engineConfig(Mysql|Pg)[A-Z]/);
      if (p.aws) expect(p.aws.name).toBe(p.name);
    }
  });
});
