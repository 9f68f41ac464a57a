// What reaches a host and how: user-data input, the tar streams, and the remote command scripts run for real
// with bash, tar and base64 against a temp directory standing in for /etc/dbtier/secrets.
import { spawnSync } from "child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as yaml from "js-yaml";
import * as path from "path";
import { CLOUD_INIT_TOP_LEVEL_KEYS, renderCloudInit } from "../../components/cloudInit";
import { parseConfig } from "../../components/config";
import { VM_PACKAGES, hostFileEntries, planCloudInit, remoteSteps, secretEntries, shellQuote, staticHostFiles, tarArchive, tarBase64 } from "../../components/hostDelivery";
import { TOOL_SOURCE_DIR, toolPackages } from "../../components/hostFiles";
import { ed25519KeyPairFromSeed } from "../../components/sshKeys";
import { DbTierConfig } from "../../components/types";
import { validRaw } from "./fixtures";

function config(overrides: Record<string, unknown> = {}): DbTierConfig {
  const parsed = parseConfig(validRaw(overrides), "test");
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return parsed.config;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "dbtier-delivery-"));
  mkdirSync(path.join(dir, "bin"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const host = ed25519KeyPairFromSeed(Buffer.alloc(32, 1), "host");
const deployer = ed25519KeyPairFromSeed(Buffer.alloc(32, 2), "deployer");
const keys = { hostPrivateKey: host.privateKey, hostPublicKey: host.publicKey, deployerPublicKey: deployer.publicKey };

describe("tar streams", () => {
  it("must be read back by GNU tar with the same names, modes and bytes", () => {
    const entries = [
      { name: "db-admin-password", content: "p@ss'word\"with$pecial", permissions: "0600" },
      { name: "etc/dbtier/dbtier.env", content: "DB_ROLE=proxy\n".repeat(100), permissions: "0644" },
      { name: "empty", content: "", permissions: "0600" },
    ];
    const file = path.join(dir, "t.tar");
    writeFileSync(file, tarArchive(entries));
    const listing = spawnSync("tar", ["-tvf", file], { encoding: "utf8" });
    expect(listing.status).toBe(0);
    expect(listing.stdout).toMatch(/^-rw------- root\/root\s+21 .* db-admin-password$/m);
    expect(listing.stdout).toMatch(/^-rw-r--r-- root\/root\s+1400 .* etc\/dbtier\/dbtier.env$/m);
    for (const entry of entries) {
      expect(spawnSync("tar", ["-xOf", file, entry.name], { encoding: "utf8" }).stdout).toBe(entry.content);
    }
    expect(tarBase64(entries)).toBe(tarBase64(entries)); // deterministic: unchanged files, unchanged stdin
  });

  it("must refuse absolute and parent-directory names", () => {
    expect(() => tarArchive([{ name: "/etc/passwd", content: "", permissions: "0644" }])).toThrow(/relative/);
    expect(() => tarArchive([{ name: "a/../../x", content: "", permissions: "0644" }])).toThrow(/relative/);
  });
});

describe("remote commands, run for real", () => {
  function runStep(script: string, stdin: string, env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync("bash", ["-c", script], { input: stdin, encoding: "utf8", env: { ...process.env, ...env, PATH: `${dir}/bin:${process.env.PATH ?? ""}` } });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  it("must install each secret as a 0600 file from stdin, with no secret in the command text", () => {
    const secretsDir = path.join(dir, "secrets");
    const values = { adminPassword: "admin-pw-'\"$(rm -rf /)", appPassword: "app-pw-123", secrets: { datastoreAccessKeyId: "AKID", datastoreSecretAccessKey: "SAK/with+chars=" } };
    const [step] = remoteSteps(config(), "database");
    expect(step.stdin).toBe("secrets");
    for (const value of [values.adminPassword, values.appPassword, "SAK/with+chars="]) expect(step.script).not.toContain(value);
    const result = runStep(step.script, tarBase64(secretEntries(values)), { DBTIER_SECRETS_DIR: secretsDir });
    expect(result).toMatchObject({ status: 0 });
    expect(readdirSync(secretsDir).sort()).toEqual(["datastore-access-key-id", "datastore-secret-access-key", "db-admin-password", "db-app-password"]);
    expect(readFileSync(path.join(secretsDir, "db-admin-password"), "utf8")).toBe(values.adminPassword);
    for (const name of readdirSync(secretsDir)) expect(statSync(path.join(secretsDir, name)).mode & 0o777).toBe(0o600);
    expect(result.stdout + result.stderr).not.toContain("admin-pw");
  });

  it("must refuse a secrets stream with a path in it", () => {
    const [step] = remoteSteps(config(), "database");
    const evil = tarBase64([{ name: "sub/escape", content: "x", permissions: "0600" }]);
    const result = runStep(step.script, evil, { DBTIER_SECRETS_DIR: path.join(dir, "secrets-evil") });
    expect(result.status).not.toBe(0);
  });

  it("must order the database VM's steps: secrets, env, install, init, harden, load, timers", () => {
    expect(remoteSteps(config(), "database").map((s) => s.step)).toEqual(["secrets", "host-files", "install", "init", "harden", "load-app-db", "timers"]);
    expect(remoteSteps(config({ mode: "managed", engine: "mysql", engineVersion: "8" }), "proxy").map((s) => s.step)).toEqual(["secrets", "host-files", "install", "harden", "load-app-db", "timers"]);
  });

  it("must install the toolkit, units, firewall and env under the root, replace the toolkit whole, and apply the firewall", () => {
    const root = path.join(dir, "root");
    const calls = path.join(dir, "systemctl.calls");
    // A systemctl stand-in that records its arguments: the step must reload units and (re)start the firewall.
    writeFileSync(path.join(dir, "bin", "systemctl"), `#!/bin/sh\necho "$*" >> ${shellQuote(calls)}\n`, { mode: 0o755 });
    const c = config();
    const step = remoteSteps(c, "database")[1];
    const env = { path: "/etc/dbtier/dbtier.env", content: "DB_ROLE=database\n", permissions: "0644" };
    const files = [...staticHostFiles(c, "database"), env];
    const first = runStep(step.script, tarBase64(hostFileEntries([...files, { path: "/usr/local/lib/dbtier/lib/obsolete.sh", content: "old\n", permissions: "0644" }])), { DBTIER_ROOT: root });
    expect(first).toMatchObject({ status: 0 });
    expect(readFileSync(path.join(root, "etc/dbtier/dbtier.env"), "utf8")).toBe("DB_ROLE=database\n");
    expect(statSync(path.join(root, "etc/dbtier/dbtier.env")).mode & 0o777).toBe(0o644);
    expect(statSync(path.join(root, "usr/local/lib/dbtier/dbtier-db")).mode & 0o777).toBe(0o755);
    expect(readFileSync(path.join(root, "etc/dbtier/firewall.nft"), "utf8")).toContain("policy drop");
    expect(readlinkSync(path.join(root, "usr/local/bin/dbtier-db"))).toBe("/usr/local/lib/dbtier/dbtier-db");
    expect(existsSync(path.join(root, "usr/local/lib/dbtier/lib/obsolete.sh"))).toBe(true);
    // Second delivery without the obsolete file: the toolkit directory is replaced, not merged.
    expect(runStep(step.script, tarBase64(hostFileEntries(files)), { DBTIER_ROOT: root })).toMatchObject({ status: 0 });
    expect(existsSync(path.join(root, "usr/local/lib/dbtier/lib/obsolete.sh"))).toBe(false);
    expect(readdirSync(path.join(root, "usr/local/lib")).filter((n) => n.startsWith(".dbtier-files") || n.endsWith(".previous"))).toEqual([]);
    expect(readFileSync(calls, "utf8").trim().split("\n")).toEqual([
      "daemon-reload", "enable dbtier-firewall.service", "restart dbtier-firewall.service",
      "daemon-reload", "enable dbtier-firewall.service", "restart dbtier-firewall.service",
    ]);
  });

  it("must pass shellcheck", () => {
    for (const step of [...remoteSteps(config(), "database"), ...remoteSteps(config({ mode: "managed", engine: "mysql", engineVersion: "8" }), "proxy")]) {
      const result = spawnSync("shellcheck", ["-s", "bash", "-S", "style", "-"], { input: step.script, encoding: "utf8" });
      expect({ step: step.step, out: result.stdout }).toEqual({ step: step.step, out: "" });
    }
  });
});

describe("user-data", () => {
  it("must carry only logins, the pinned host key and packages, within every provider's size limit", () => {
    const text = renderCloudInit(planCloudInit(config({ adminSshPublicKey: deployer.publicKey.replace("deployer", "admin") }), "shop-test-db", keys));
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    const doc = yaml.load(text.replace(/^#cloud-config\n/, "")) as Record<string, unknown> & { write_files: { path: string }[]; users: { name: string }[] };
    for (const key of Object.keys(doc)) expect(CLOUD_INIT_TOP_LEVEL_KEYS as readonly string[]).toContain(key);
    expect(text).toContain(host.publicKey);
    expect(doc.users.map((u) => u.name)).toEqual(["dbtier-deploy", "dbtier-admin"]);
    // Toolkit, units, firewall rules and env travel over SSH (size, and no VM replacement on change).
    expect(doc.write_files.map((f) => f.path)).toEqual(["/etc/ssh/sshd_config.d/10-dbtier.conf"]);
    expect(Buffer.byteLength(text)).toBeLessThan(16 * 1024); // AWS EC2's limit, the smallest of the three
  });

  it("installs at first boot the toolkit's one package list, the list `dbtier-db install` reads", () => {
    const text = renderCloudInit(planCloudInit(config(), "shop-test-db", keys));
    const doc = yaml.load(text.replace(/^#cloud-config\n/, "")) as { packages: string[] };
    expect(doc.packages).toEqual([...VM_PACKAGES, ...toolPackages()]);
    // what the data path needs on every host: the database drivers, the codec, the encryption
    expect(toolPackages()).toEqual(expect.arrayContaining(["python3-mysqldb", "python3-pymysql", "python3-psycopg2", "zstd", "age"]));
    const install = spawnSync("bash", ["-c", `die() { echo "$*" >&2; exit 1; }; source "$1/lib/system.sh"; tool_packages`, "bash", TOOL_SOURCE_DIR], { encoding: "utf8" });
    expect(install.stderr).toBe("");
    expect(install.stdout.trim().split("\n")).toEqual(toolPackages());
  });

  it("must refuse to write into the secrets directory", () => {
    const input = planCloudInit(config(), "shop-test-db", keys);
    expect(() => renderCloudInit({ ...input, files: [...input.files, { path: "/etc/dbtier/secrets/db-admin-password", content: "x", permissions: "0600" }] })).toThrow(/secrets never travel in user-data/);
  });

  it("must refuse a login user without a key and an invalid hostname", () => {
    const input = planCloudInit(config(), "shop-test-db", keys);
    expect(() => renderCloudInit({ ...input, users: [{ name: "x", authorizedKeys: [], sudo: true }] })).toThrow(/no authorized key/);
    expect(() => renderCloudInit({ ...input, hostname: "Bad_Host" })).toThrow(/hostname/);
  });
});
