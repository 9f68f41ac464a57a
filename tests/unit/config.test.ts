import { ENGINE_VERSIONS } from "../../components/engines";
import { KNOWN_KEYS, SECRET_KEYS, formatProblems, parseConfig } from "../../components/config";
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
