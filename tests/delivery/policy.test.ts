// The prod policy rules, one describe per rule. Each starts from a resource that passes and changes one
// property at a time (to undefined and to false where the property is a flag), the way
// pulumi-policy-aws tests its rules. User-data fixtures are rendered by the real components/cloudInit.ts.
import { generateKeyPairSync } from "crypto";
import { gzipSync } from "zlib";
import { renderCloudInit, CloudInitInput } from "../../components/cloudInit";
import { ed25519KeyPairFromSeed } from "../../components/sshKeys";
import {
  DEFAULT_RULE_CONFIG,
  MANAGED_DATABASE_PROTECTED,
  NO_SECRETS_IN_USER_DATA,
  NO_SSH_FROM_ANYWHERE,
  PolicyResource,
  RDS_BACKUPS_RETAINED,
  RDS_DELETION_PROTECTION,
  RDS_ENCRYPTED_AT_REST,
  RDS_FINAL_SNAPSHOT,
  RULES,
  Rule,
  RuleConfig,
  T,
  TRUSTED_SOURCES_NARROW,
  checkResource,
  isSingleEd25519PrivateKey,
  parsePorts,
  ruleConfig,
} from "../../policy/rules";

type Props = Record<string, unknown>;

const check = (rule: Rule, type: string, props: Props, protect = true, config: RuleConfig = DEFAULT_RULE_CONFIG): string[] =>
  rule.check({ type, props, protect }, config);

/** A deep copy with one property (dotted path, array indices allowed) set; `undefined` deletes it. */
function withProp(props: Props, path: string, value: unknown): Props {
  const copy = JSON.parse(JSON.stringify(props)) as Props;
  const parts = path.split(".");
  let node: Record<string, unknown> = copy;
  for (const part of parts.slice(0, -1)) node = node[part] as Record<string, unknown>;
  const last = parts[parts.length - 1];
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

describe("rule catalogue", () => {
  it("has unique names and a description that says what must be true", () => {
    const names = RULES.map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
    for (const rule of RULES) expect(rule.description).toMatch(/must/);
  });

  it("reads the pack config with safe fallbacks", () => {
    expect(ruleConfig(undefined)).toEqual(DEFAULT_RULE_CONFIG);
    expect(ruleConfig({ widestIpv4Prefix: 8, allowedWideSources: ["10.0.0.0/8"] })).toEqual({ ...DEFAULT_RULE_CONFIG, widestIpv4Prefix: 8, allowedWideSources: ["10.0.0.0/8"] });
    // Nonsense does not become "anything goes".
    expect(ruleConfig({ widestIpv4Prefix: -1, widestIpv6Prefix: "0" })).toEqual(DEFAULT_RULE_CONFIG);
    expect(DEFAULT_RULE_CONFIG.widestIpv4Prefix).toBe(16);
  });

  it("parses port specs, judging unreadable ones as all ports", () => {
    expect(parsePorts("22")).toEqual([{ from: 22, to: 22 }]);
    expect(parsePorts("20-23,3306")).toEqual([{ from: 20, to: 23 }, { from: 3306, to: 3306 }]);
    expect(parsePorts(undefined)).toEqual([{ from: 0, to: 65535 }]);
    expect(parsePorts("all")).toEqual([{ from: 0, to: 65535 }]);
    expect(parsePorts("ssh")).toEqual([{ from: 0, to: 65535 }]);
  });
});

describe("trusted-sources-narrow: no trusted source wider than /16 (IPv4) or /48 (IPv6)", () => {
  const rule = TRUSTED_SOURCES_NARROW;
  const doFirewall: Props = { clusterId: "c1", rules: [{ type: "ip_addr", value: "203.0.113.10" }, { type: "ip_addr", value: "203.0.113.0/24" }, { type: "tag", value: "web" }] };
  const linodeDb: Props = { allowLists: ["203.0.113.10/32", "2001:db8:1::/48"] };
  const awsRule: Props = { ipProtocol: "tcp", fromPort: 3306, toPort: 3306, cidrIpv4: "203.0.113.10/32" };

  it("passes the sources dbtier renders", () => {
    expect(check(rule, T.doDatabaseFirewall, doFirewall)).toEqual([]);
    expect(check(rule, T.linodeMysqlV2, linodeDb)).toEqual([]);
    expect(check(rule, T.linodePostgresqlV2, linodeDb)).toEqual([]);
    expect(check(rule, T.awsIngressRule, awsRule)).toEqual([]);
    expect(check(rule, T.awsIngressRule, { ...awsRule, cidrIpv4: "10.42.0.0/16" })).toEqual([]); // exactly /16 is allowed
  });

  it("refuses a DigitalOcean database firewall source wider than /16", () => {
    const problems = check(rule, T.doDatabaseFirewall, withProp(doFirewall, "rules.1.value", "203.0.0.0/15"));
    expect(problems).toEqual([expect.stringMatching(/rules\[1\]\.value 203\.0\.0\.0\/15 must be no wider than \/16/)]);
  });

  it("refuses 0.0.0.0/0 and ::/0 on a Linode allow list", () => {
    expect(check(rule, T.linodeMysqlV2, withProp(linodeDb, "allowLists", ["0.0.0.0/0"]))).toHaveLength(1);
    expect(check(rule, T.linodePostgresqlV2, withProp(linodeDb, "allowLists", ["::/0"]))).toHaveLength(1);
    expect(check(rule, T.linodePostgresqlV2, withProp(linodeDb, "allowLists.1", "2001:db8::/32"))).toEqual([expect.stringMatching(/allowLists\[1\].*\/48/)]);
  });

  it("refuses a wide AWS ingress, inline or as a separate rule", () => {
    expect(check(rule, T.awsIngressRule, withProp(awsRule, "cidrIpv4", "0.0.0.0/0"))).toHaveLength(1);
    expect(check(rule, T.awsIngressRule, withProp(withProp(awsRule, "cidrIpv4", undefined), "cidrIpv6", "::/0"))).toHaveLength(1);
    const group: Props = { ingress: [{ protocol: "tcp", fromPort: 5432, toPort: 5432, cidrBlocks: ["203.0.113.10/32"] }] };
    expect(check(rule, T.awsSecurityGroup, group)).toEqual([]);
    expect(check(rule, T.awsSecurityGroup, withProp(group, "ingress.0.cidrBlocks", ["10.0.0.0/8"]))).toHaveLength(1);
    const legacy: Props = { type: "ingress", protocol: "tcp", fromPort: 5432, toPort: 5432, cidrBlocks: ["203.0.113.10/32"] };
    expect(check(rule, T.awsSecurityGroupRule, legacy)).toEqual([]);
    expect(check(rule, T.awsSecurityGroupRule, withProp(legacy, "cidrBlocks", ["0.0.0.0/0"]))).toHaveLength(1);
    // Egress is not a trusted source.
    expect(check(rule, T.awsSecurityGroupRule, { ...withProp(legacy, "cidrBlocks", ["0.0.0.0/0"]), type: "egress" })).toEqual([]);
  });

  it("refuses a source it cannot read as an address", () => {
    expect(check(rule, T.linodeMysqlV2, withProp(linodeDb, "allowLists.0", "webservers"))).toEqual([expect.stringMatching(/must be an IP address or CIDR/)]);
  });

  it("lets a wide source through only when that exact CIDR is allowed in the pack config", () => {
    const wide = withProp(linodeDb, "allowLists", ["10.0.0.0/8"]);
    expect(check(rule, T.linodeMysqlV2, wide, true, { ...DEFAULT_RULE_CONFIG, allowedWideSources: ["10.0.0.0/8"] })).toEqual([]);
    expect(check(rule, T.linodeMysqlV2, wide, true, { ...DEFAULT_RULE_CONFIG, allowedWideSources: ["10.0.0.0/9"] })).toHaveLength(1);
  });

  it("judges VM firewalls too (SSH admin ranges are trusted sources)", () => {
    const droplet: Props = { inboundRules: [{ protocol: "tcp", portRange: "22", sourceAddresses: ["198.51.100.0/24"] }] };
    expect(check(rule, T.doFirewall, droplet)).toEqual([]);
    expect(check(rule, T.doFirewall, withProp(droplet, "inboundRules.0.sourceAddresses", ["198.0.0.0/8"]))).toHaveLength(1);
  });
});

describe("no-ssh-from-anywhere: SSH never open to 0.0.0.0/0 or ::/0", () => {
  const rule = NO_SSH_FROM_ANYWHERE;
  const doFirewall: Props = {
    inboundRules: [
      { protocol: "tcp", portRange: "22", sourceAddresses: ["198.51.100.0/24"] },
      { protocol: "tcp", portRange: "3306", sourceAddresses: ["203.0.113.10/32"] },
    ],
    outboundRules: [{ protocol: "tcp", portRange: "1-65535", destinationAddresses: ["0.0.0.0/0", "::/0"] }],
  };
  const linodeFirewall: Props = {
    inboundPolicy: "DROP",
    outboundPolicy: "ACCEPT",
    inbounds: [{ label: "ssh", action: "ACCEPT", protocol: "TCP", ports: "22", ipv4s: ["198.51.100.0/24"] }],
  };
  const awsGroup: Props = { ingress: [{ protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["198.51.100.0/24"] }], egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }] };

  it("passes admin-only SSH, and ignores outbound rules", () => {
    expect(check(rule, T.doFirewall, doFirewall)).toEqual([]);
    expect(check(rule, T.linodeFirewall, linodeFirewall)).toEqual([]);
    expect(check(rule, T.awsSecurityGroup, awsGroup)).toEqual([]);
  });

  it("refuses SSH from 0.0.0.0/0 or ::/0 on a DigitalOcean firewall", () => {
    expect(check(rule, T.doFirewall, withProp(doFirewall, "inboundRules.0.sourceAddresses", ["0.0.0.0/0"]))).toEqual([expect.stringMatching(/0\.0\.0\.0\/0 reach SSH/)]);
    expect(check(rule, T.doFirewall, withProp(doFirewall, "inboundRules.0.sourceAddresses", ["198.51.100.0/24", "::/0"]))).toHaveLength(1);
  });

  it("refuses a port range or protocol that covers 22", () => {
    const allPorts = withProp(withProp(doFirewall, "inboundRules.1.portRange", "1-65535"), "inboundRules.1.sourceAddresses", ["0.0.0.0/0"]);
    expect(check(rule, T.doFirewall, allPorts)).toHaveLength(1);
    const web = withProp(withProp(doFirewall, "inboundRules.1.portRange", "443"), "inboundRules.1.sourceAddresses", ["0.0.0.0/0"]);
    expect(check(rule, T.doFirewall, web)).toEqual([]); // anywhere, but not SSH: not this rule's business
    expect(check(rule, T.awsSecurityGroup, withProp(awsGroup, "ingress.0", { protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }))).toHaveLength(1);
    expect(check(rule, T.awsIngressRule, { ipProtocol: "tcp", fromPort: 20, toPort: 30, cidrIpv6: "::/0" })).toHaveLength(1);
  });

  it("refuses a Linode firewall whose rule or default policy lets anyone in", () => {
    expect(check(rule, T.linodeFirewall, withProp(linodeFirewall, "inbounds.0.ipv4s", ["0.0.0.0/0"]))).toHaveLength(1);
    expect(check(rule, T.linodeFirewall, withProp(linodeFirewall, "inbounds.0.ports", undefined))).toEqual([]); // all ports, admin range only
    expect(check(rule, T.linodeFirewall, withProp(linodeFirewall, "inboundPolicy", "ACCEPT"))).toHaveLength(2);
    // A DROP rule for anywhere is not an opening.
    expect(check(rule, T.linodeFirewall, withProp(linodeFirewall, "inbounds.0", { action: "DROP", protocol: "TCP", ports: "22", ipv4s: ["0.0.0.0/0"] }))).toEqual([]);
  });
});

describe("managed databases", () => {
  const doCluster: Props = { engine: "mysql", version: "8", nodeCount: 2, region: "fra1", size: "db-s-1vcpu-2gb" };
  const rds: Props = {
    engine: "mysql",
    engineVersion: "8.0",
    instanceClass: "db.t4g.micro",
    deletionProtection: true,
    backupRetentionPeriod: 7,
    storageEncrypted: true,
    skipFinalSnapshot: false,
    finalSnapshotIdentifier: "dbtier-prod-final-3f9a",
  };
  const rdsReplica: Props = { replicateSourceDb: "arn:aws:rds:eu-central-1:123456789012:db:prod", instanceClass: "db.t4g.micro", deletionProtection: true, storageEncrypted: true };

  it("a correctly configured cluster of each provider passes every rule", () => {
    for (const [type, props] of [[T.doDatabaseCluster, doCluster], [T.linodeMysqlV2, { engineId: "mysql/8", allowLists: ["203.0.113.10/32"] }], [T.rdsInstance, rds], [T.rdsCluster, rds]] as const) {
      expect(checkResource({ type, props, protect: true })).toEqual([]);
    }
    expect(checkResource({ type: T.rdsInstance, props: rdsReplica, protect: true })).toEqual([]);
  });

  describe("managed-database-protected", () => {
    it.each([T.doDatabaseCluster, T.linodeMysqlV2, T.linodePostgresqlV2, T.rdsInstance, T.rdsCluster])("%s must be protected (false and undefined fail)", (type) => {
      expect(MANAGED_DATABASE_PROTECTED.check({ type, props: doCluster, protect: true }, DEFAULT_RULE_CONFIG)).toEqual([]);
      expect(MANAGED_DATABASE_PROTECTED.check({ type, props: doCluster, protect: false }, DEFAULT_RULE_CONFIG)).toEqual([expect.stringMatching(/protect: true/)]);
      expect(MANAGED_DATABASE_PROTECTED.check({ type, props: doCluster }, DEFAULT_RULE_CONFIG)).toHaveLength(1);
    });
    it("does not apply to other resources", () => {
      expect(MANAGED_DATABASE_PROTECTED.check({ type: T.doDroplet, props: {}, protect: false }, DEFAULT_RULE_CONFIG)).toEqual([]);
    });
  });

  describe("rds-deletion-protection", () => {
    it("requires deletionProtection true", () => {
      expect(check(RDS_DELETION_PROTECTION, T.rdsInstance, rds)).toEqual([]);
      expect(check(RDS_DELETION_PROTECTION, T.rdsInstance, withProp(rds, "deletionProtection", false))).toEqual(["deletionProtection must be true."]);
      expect(check(RDS_DELETION_PROTECTION, T.rdsInstance, withProp(rds, "deletionProtection", undefined))).toHaveLength(1);
      expect(check(RDS_DELETION_PROTECTION, T.rdsCluster, withProp(rds, "deletionProtection", undefined))).toHaveLength(1);
    });
    it("exempts read replicas (RDS would refuse to remove them when the replica count is lowered)", () => {
      expect(check(RDS_DELETION_PROTECTION, T.rdsInstance, withProp(rdsReplica, "deletionProtection", false))).toEqual([]);
      // The replica is still held by managed-database-protected, which requires Pulumi's protect option.
      expect(MANAGED_DATABASE_PROTECTED.check({ type: T.rdsInstance, props: withProp(rdsReplica, "deletionProtection", false), protect: false }, DEFAULT_RULE_CONFIG)).toHaveLength(1);
    });
  });

  describe("rds-backups-retained", () => {
    it("requires a retention of at least one day on primaries", () => {
      expect(check(RDS_BACKUPS_RETAINED, T.rdsInstance, rds)).toEqual([]);
      expect(check(RDS_BACKUPS_RETAINED, T.rdsInstance, withProp(rds, "backupRetentionPeriod", 0))).toEqual([expect.stringMatching(/at least 1.*it is 0/)]);
      expect(check(RDS_BACKUPS_RETAINED, T.rdsInstance, withProp(rds, "backupRetentionPeriod", undefined))).toHaveLength(1);
      expect(check(RDS_BACKUPS_RETAINED, T.rdsInstance, withProp(rds, "backupRetentionPeriod", false))).toHaveLength(1);
      expect(check(RDS_BACKUPS_RETAINED, T.rdsCluster, withProp(rds, "backupRetentionPeriod", 0))).toHaveLength(1);
      // Replicas take their data from the primary, which is the one that must be backed up.
      expect(check(RDS_BACKUPS_RETAINED, T.rdsInstance, rdsReplica)).toEqual([]);
    });
  });

  describe("rds-final-snapshot", () => {
    it("requires a named final snapshot", () => {
      expect(check(RDS_FINAL_SNAPSHOT, T.rdsInstance, rds)).toEqual([]);
      expect(check(RDS_FINAL_SNAPSHOT, T.rdsInstance, withProp(rds, "skipFinalSnapshot", undefined))).toEqual([]); // provider default keeps it
      expect(check(RDS_FINAL_SNAPSHOT, T.rdsInstance, withProp(rds, "skipFinalSnapshot", true))).toEqual(["skipFinalSnapshot must be false (or unset)."]);
      expect(check(RDS_FINAL_SNAPSHOT, T.rdsInstance, withProp(rds, "finalSnapshotIdentifier", undefined))).toHaveLength(1);
      expect(check(RDS_FINAL_SNAPSHOT, T.rdsInstance, withProp(rds, "finalSnapshotIdentifier", ""))).toHaveLength(1);
    });
  });

  describe("rds-encrypted-at-rest", () => {
    it("requires storageEncrypted true", () => {
      expect(check(RDS_ENCRYPTED_AT_REST, T.rdsInstance, rds)).toEqual([]);
      expect(check(RDS_ENCRYPTED_AT_REST, T.rdsInstance, withProp(rds, "storageEncrypted", false))).toEqual(["storageEncrypted must be true."]);
      expect(check(RDS_ENCRYPTED_AT_REST, T.rdsInstance, withProp(rds, "storageEncrypted", undefined))).toHaveLength(1);
      expect(check(RDS_ENCRYPTED_AT_REST, T.rdsCluster, withProp(rds, "storageEncrypted", undefined))).toHaveLength(1);
    });
  });
});

describe("no-secrets-in-user-data", () => {
  const rule = NO_SECRETS_IN_USER_DATA;
  const hostKey = ed25519KeyPairFromSeed(Buffer.alloc(32, 7), "dbtier-prod-proxy host key");
  const adminKey = ed25519KeyPairFromSeed(Buffer.alloc(32, 9), "admin");
  // Shell the way the toolkit writes it: passwords read from files, never literal.
  const toolkitScript = [
    "#!/usr/bin/env bash",
    "set -euo pipefail",
    'password="$(cat "${DBTIER_SECRETS_DIR}/db-admin-password")"',
    "local password_file=/etc/dbtier/secrets/db-app-password",
    'printf "[client]\\npassword=%s\\n" "$password" > "$defaults"',
    'if [[ -z "$password" ]]; then die "empty password"; fi',
    "",
  ].join("\n");
  const input: CloudInitInput = {
    hostname: "dbtier-prod-proxy",
    hostKey: { privateKey: hostKey.privateKey, publicKey: hostKey.publicKey },
    users: [{ name: "dbtier", authorizedKeys: [adminKey.publicKey], sudo: true }],
    files: [
      { path: "/usr/local/lib/dbtier/dbtier-db", content: toolkitScript, permissions: "0755" },
      { path: "/etc/dbtier/dbtier.env", content: "DB_ROLE=proxy\nDB_USER=app\nAPP_NAME=shop\n", permissions: "0644" },
    ],
    packages: ["mariadb-client"],
    runcmd: [["ln", "-sf", "/usr/local/lib/dbtier/dbtier-db", "/usr/local/bin/dbtier-db"]],
  };
  const good = renderCloudInit(input);
  const render = (patch: Partial<CloudInitInput>) => renderCloudInit({ ...input, ...patch });
  const droplet = (userData: unknown): PolicyResource => ({ type: T.doDroplet, props: { image: "debian-12-x64", userData }, protect: false });
  const rsaKey = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();

  it("passes the user-data dbtier renders, with its pinned ed25519 host key", () => {
    expect(isSingleEd25519PrivateKey(hostKey.privateKey)).toBe(true);
    expect(rule.check(droplet(good), DEFAULT_RULE_CONFIG)).toEqual([]);
    expect(rule.check(droplet(undefined), DEFAULT_RULE_CONFIG)).toEqual([]);
  });

  it("reads every place a VM carries user-data, base64 and gzip included", () => {
    const b64 = Buffer.from(good).toString("base64");
    expect(rule.check({ type: T.linodeInstance, props: { metadatas: [{ userData: b64 }] } }, DEFAULT_RULE_CONFIG)).toEqual([]);
    expect(rule.check({ type: T.awsInstance, props: { userData: good } }, DEFAULT_RULE_CONFIG)).toEqual([]);
    const bad = render({ runcmd: [["sh", "-c", "echo password=hunter2 > /root/x"]] });
    expect(rule.check({ type: T.linodeInstance, props: { metadatas: [{ userData: Buffer.from(bad).toString("base64") }] } }, DEFAULT_RULE_CONFIG)).toEqual([
      expect.stringMatching(/^metadatas\[0\]\.userData: user-data runcmd\[1\]\[2\] assigns a literal value to "password"/),
    ]);
    expect(rule.check({ type: T.awsInstance, props: { userDataBase64: gzipSync(bad).toString("base64") } }, DEFAULT_RULE_CONFIG)).toHaveLength(1);
    expect(rule.check({ type: T.awsLaunchTemplate, props: { userData: Buffer.from(bad).toString("base64") } }, DEFAULT_RULE_CONFIG)).toHaveLength(1);
  });

  it("refuses a literal password anywhere, including inside a shipped file", () => {
    const inFile = render({ files: [...input.files, { path: "/etc/mysql/conf.d/client.cnf", content: "[client]\npassword=hunter2\n", permissions: "0600" }] });
    expect(rule.check(droplet(inFile), DEFAULT_RULE_CONFIG)).toEqual([expect.stringMatching(/write_files\[2\]\.content assigns a literal value to "password"/)]);
    const env = render({ files: [input.files[0], { path: "/etc/dbtier/dbtier.env", content: "DB_ROLE=proxy\nPGPASSWORD='s3cret'\n", permissions: "0644" }] });
    expect(rule.check(droplet(env), DEFAULT_RULE_CONFIG)).toHaveLength(1);
    const yamlKey = good.replace("ssh_pwauth: false", "ssh_pwauth: false\nchpasswd:\n  users:\n    - name: dbtier\n      password: hunter2");
    expect(rule.check(droplet(yamlKey), DEFAULT_RULE_CONFIG)).toEqual([expect.stringMatching(/chpasswd\.users\[0\]\.password holds a literal password/)]);
  });

  it("refuses AWS keys and API tokens", () => {
    const aws = render({ files: [...input.files, { path: "/root/.aws/credentials", content: "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n", permissions: "0600" }] });
    const problems = rule.check(droplet(aws), DEFAULT_RULE_CONFIG);
    expect(problems.join("\n")).toMatch(/an AWS access key id/);
    expect(problems.join("\n")).toMatch(/an AWS secret access key/);
    const token = render({ runcmd: [["doctl", "auth", "init", "-t", `dop_v1_${"a".repeat(64)}`]] });
    expect(rule.check(droplet(token), DEFAULT_RULE_CONFIG)).toEqual([expect.stringMatching(/a DigitalOcean API token/)]);
  });

  it("refuses a private key block anywhere but ssh_keys.ed25519_private", () => {
    const inFile = render({ files: [...input.files, { path: "/etc/dbtier/deploy-key", content: hostKey.privateKey, permissions: "0600" }] });
    expect(rule.check(droplet(inFile), DEFAULT_RULE_CONFIG)).toEqual([expect.stringMatching(/write_files\[2\]\.content contains a private key block/)]);
    // Hidden in a base64-encoded write_files entry.
    const encoded = good.replace("write_files:\n", `write_files:\n  - path: /root/key\n    encoding: b64\n    content: ${Buffer.from(rsaKey).toString("base64")}\n`);
    expect(rule.check(droplet(encoded), DEFAULT_RULE_CONFIG)).toEqual([expect.stringMatching(/write_files\[0\]\.content contains a private key block/)]);
  });

  it("allows exactly one ed25519 host key: another key type or a second key in ssh_keys is refused", () => {
    const rsaHost = good.replace("ssh_keys:\n", `ssh_keys:\n  rsa_private: |\n${rsaKey.trim().split("\n").map((l) => `    ${l}`).join("\n")}\n`);
    expect(rule.check(droplet(rsaHost), DEFAULT_RULE_CONFIG)).toEqual([expect.stringMatching(/ssh_keys\.rsa_private must not be present/)]);
    const indent = (text: string) => text.trim().split("\n").map((l) => `    ${l}`).join("\n");
    const swapped = good.replace(indent(hostKey.privateKey), indent(rsaKey));
    expect(swapped).not.toBe(good);
    expect(rule.check(droplet(swapped), DEFAULT_RULE_CONFIG)).toEqual([expect.stringMatching(/ed25519_private must be exactly one OpenSSH ed25519 private key block/)]);
    const doubled = good.replace(indent(hostKey.privateKey), `${indent(hostKey.privateKey)}\n${indent(hostKey.privateKey)}`);
    expect(rule.check(droplet(doubled), DEFAULT_RULE_CONFIG)).toHaveLength(1);
  });

  it("gives no exemption to user-data that is not a cloud-config document", () => {
    const script = `#!/bin/bash\ncat > /etc/ssh/ssh_host_ed25519_key <<'KEY'\n${hostKey.privateKey}KEY\n`;
    expect(rule.check(droplet(script), DEFAULT_RULE_CONFIG)).toEqual([expect.stringMatching(/user-data contains a private key block/)]);
  });

  it("reads program code by its language: only a quoted string is a literal there", () => {
    const python = (content: string) => render({ files: [...input.files, { path: "/usr/local/lib/dbtier/lib/load.py", content, permissions: "0644" }] });
    const code = "#!/usr/bin/env python3\nclass Loader:\n    def __init__(self, password: str):\n        self.password = password\n\npassword = read_password(args.password_file)\n";
    expect(rule.check(droplet(python(code)), DEFAULT_RULE_CONFIG)).toEqual([]);
    expect(rule.check(droplet(python(`${code}DEFAULT_PASSWORD = "hunter2"\n`)), DEFAULT_RULE_CONFIG)).toEqual([expect.stringMatching(/write_files\[2\]\.content assigns a literal value to "DEFAULT_PASSWORD"/)]);
    // In shell a bare word is the value itself; a command substitution or call is not.
    const shell = (line: string) => render({ files: [...input.files, { path: "/usr/local/lib/dbtier/lib/x.sh", content: `#!/usr/bin/env bash\n${line}\n`, permissions: "0644" }] });
    expect(rule.check(droplet(shell("PGPASSWORD=hunter2 psql -h db")), DEFAULT_RULE_CONFIG)).toHaveLength(1);
    expect(rule.check(droplet(shell("password=read_password(x)")), DEFAULT_RULE_CONFIG)).toEqual([]);
  });

  it("does not flag the toolkit's own shell, booleans, or passwords read from files", () => {
    expect(good).toMatch(/lock_passwd: true/);
    expect(good).toMatch(/password="\$\(cat/);
    expect(rule.check(droplet(good), DEFAULT_RULE_CONFIG)).toEqual([]);
  });
});
