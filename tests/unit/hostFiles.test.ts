// components/hostFiles.ts: what the components put on a host must match docs/host-contract.md and what
// scripts/host/dbtier-db actually reads.
import { spawnSync } from "child_process";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "fs";
import * as os from "os";
import * as path from "path";
import { parseConfig } from "../../components/config";
import {
  hostToolFiles,
  HostEnvInput,
  renderHostEnv,
  renderSystemdUnits,
  SECRET_DIR,
  SECRET_FILES,
  SERVER_CERT_FILE,
  secretInstallScript,
  TOOL_DIR,
} from "../../components/hostFiles";
import { DbTierConfig } from "../../components/types";
import { validRaw } from "./fixtures";

const TOOL = path.resolve(__dirname, "..", "..", "scripts", "host", "dbtier-db");

function config(overrides: Record<string, unknown> = {}): DbTierConfig {
  const result = parseConfig(
    validRaw({
      appDb: { source: "baseline", baselineRepo: "https://git.example.com/acme/app-db.git", application: "shop" },
      ...overrides,
    }),
    "dev",
  );
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.config;
}

const SIGNING_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIED54XNP7MA79NmGoiOygiQHSzljzAi4jC5we6wWkUBU dbtier backup signing shop";
const DEV_SIGNING_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPZ9s6QkYbmFq3FJXJtXnC1fKgZ2Z0d1a0c2ZmZmZmZm dbtier backup signing shop-dev";

function envInput(overrides: Partial<HostEnvInput> = {}): HostEnvInput {
  return { config: config(), role: "database", dbHost: "10.10.0.5", dbPort: 3306, adminUser: "dbtier_admin", listenAddress: "10.10.0.5", tlsMode: "require", backupSigningPublicKey: SIGNING_PUBLIC_KEY, ...overrides };
}

function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.indexOf("=");
    out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

describe("renderHostEnv", () => {
  test("renders every contract key the config determines, as KEY=value lines", () => {
    const env = parseEnv(renderHostEnv(envInput()));
    expect(env).toMatchObject({
      DB_ROLE: "database",
      DB_ENGINE: "mariadb",
      DB_ENGINE_VERSION: "11.4",
      DB_PACKAGE_SOURCE: "vendor",
      DB_HOST: "10.10.0.5",
      DB_PORT: "3306",
      DB_LISTEN_ADDRESS: "10.10.0.5",
      DB_NAME: "shop",
      DB_USER: "shop_app",
      DB_ADMIN_USER: "dbtier_admin",
      DB_TLS_MODE: "require",
      DB_WEBSERVER_SOURCES: "203.0.113.10/32 203.0.113.11/32",
      APP_DB_SOURCE: "baseline",
      APP_DB_BASELINE_REPO: "https://git.example.com/acme/app-db.git",
      APP_NAME: "shop",
      BACKUP_RECIPIENT: expect.stringMatching(/^age1/),
      BACKUP_SIGNING_PUBLIC_KEY: SIGNING_PUBLIC_KEY,
      DATASTORE_ENDPOINT: "https://fra1.digitaloceanspaces.com",
      DATASTORE_BUCKET: "acme-backups",
      DBTIER_STATE_DIR: "/var/lib/dbtier",
    });
    expect(env.BACKUP_PERIODS.split(" ").length).toBeGreaterThan(0);
    for (const p of ["HOURLY", "DAILY", "WEEKLY", "MONTHLY"]) expect(env[`BACKUP_RETAIN_${p}`]).toMatch(/^[1-9]\d*$/);
  });

  test("must not contain any secret, even when the config holds them", () => {
    const secrets = { datastoreAccessKeyId: "AKIAEXAMPLEKEYID123", datastoreSecretAccessKey: "s3cr3t/key+value", alertEmail: "ops@example.com", smtpUrl: "smtps://u@mail.example.com:465", smtpPassword: "smtp-pass-123", baselineDeployKey: "-----BEGIN OPENSSH PRIVATE KEY-----x" };
    const text = renderHostEnv(envInput({ config: { ...config(), secrets } }));
    for (const value of Object.values(secrets)) expect(text).not.toContain(value);
  });

  test("proxy with verify-ca names the CA file and no listen address", () => {
    const env = parseEnv(renderHostEnv(envInput({ role: "proxy", listenAddress: undefined, tlsMode: "verify-ca", caFile: "/etc/dbtier/ca.pem", packageSource: "distro" })));
    expect(env.DB_CA_FILE).toBe("/etc/dbtier/ca.pem");
    expect(env.DB_LISTEN_ADDRESS).toBeUndefined();
    expect(env.DB_PACKAGE_SOURCE).toBe("distro");
  });

  test("refuses values the line format cannot carry, and verify-ca without a CA", () => {
    expect(() => renderHostEnv(envInput({ dbHost: "a\nDB_USER=root" }))).toThrow(/single line/);
    expect(() => renderHostEnv(envInput({ dbPort: 0 }))).toThrow(/dbPort/);
    expect(() => renderHostEnv(envInput({ tlsMode: "verify-ca" }))).toThrow(/caFile/);
    expect(() => renderHostEnv(envInput({ tlsMode: "verify-full" }))).toThrow(/verify-full needs caFile/);
  });

  test("every TLS mode the renderer takes is one dbtier-db accepts, and another is refused naming the allowed ones", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "dbtier-env-"));
    try {
      const file = path.join(dir, "dbtier.env");
      const check = (text: string) => {
        writeFileSync(file, text);
        return spawnSync("bash", ["--norc", "-c", `source "${TOOL}"; load_env; validate_config; printf '%s' "\${CFG[DB_TLS_MODE]}"`], {
          env: { PATH: process.env.PATH, DBTIER_ENV: file },
          encoding: "utf8",
        });
      };
      for (const tlsMode of ["require", "verify-ca", "verify-full"] as const) {
        const r = check(renderHostEnv(envInput({ tlsMode, caFile: "/etc/dbtier/ca.pem" })));
        expect(r.stderr).toBe("");
        expect(r.stdout).toBe(tlsMode);
      }
      const bad = check(renderHostEnv(envInput()).replace("DB_TLS_MODE=require", "DB_TLS_MODE=verify-identity"));
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain("DB_TLS_MODE='verify-identity': allowed require, verify-ca, verify-full");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the delivered server certificate's path is the one dbtier-db init reads", () => {
    const r = spawnSync("bash", ["--norc", "-c", `source "${TOOL}"; printf '%s' "$TLS_DELIVERED_CERT"`], { env: { PATH: process.env.PATH }, encoding: "utf8" });
    expect(r.stdout).toBe(SERVER_CERT_FILE);
    expect(path.dirname(SERVER_CERT_FILE)).not.toBe(SECRET_DIR);
  });

  test("dbtier-db parses the rendered file without warnings and accepts its values", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "dbtier-env-"));
    try {
      const file = path.join(dir, "dbtier.env");
      writeFileSync(file, renderHostEnv(envInput()));
      const r = spawnSync("bash", ["--norc", "-c", `source "${TOOL}"; load_env; validate_config; printf '%s|' "\${CFG[DB_WEBSERVER_SOURCES]}" "\${CFG[BACKUP_RECIPIENT]}"`], {
        env: { PATH: process.env.PATH, DBTIER_ENV: file },
        encoding: "utf8",
      });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^203\.0\.113\.10\/32 203\.0\.113\.11\/32\|age1\w+\|$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("backup signing keys in the env file", () => {
  test("a stack pins only its own key; a promotion target also pins its source stack's", () => {
    expect(parseEnv(renderHostEnv(envInput({ config: config({ appDb: { source: "daily", application: "shop", sourceSigningPublicKey: DEV_SIGNING_PUBLIC_KEY } }) }))))
      .not.toHaveProperty("APP_DB_SOURCE_SIGNING_PUBLIC_KEY");
    const promoted = config({ appDb: { source: "daily", application: "shop", sourceApplication: "shop-dev", sourceSigningPublicKey: DEV_SIGNING_PUBLIC_KEY } });
    const env = parseEnv(renderHostEnv(envInput({ config: promoted })));
    expect(env).toMatchObject({ APP_DB_SOURCE_APP: "shop-dev", APP_DB_SOURCE_SIGNING_PUBLIC_KEY: DEV_SIGNING_PUBLIC_KEY, BACKUP_SIGNING_PUBLIC_KEY: SIGNING_PUBLIC_KEY });
  });
});

describe("name limits", () => {
  test("the host toolkit enforces the same identifier limits as components/engines.ts", async () => {
    const { NAME_LIMITS } = await import("../../components/engines");
    const lib = path.join(path.dirname(TOOL), "lib", "common.sh");
    for (const engine of Object.keys(NAME_LIMITS) as (keyof typeof NAME_LIMITS)[]) {
      const out = require("child_process").execFileSync("bash", ["-c",
        `source "$1"; CFG[DB_ENGINE]="$2"; printf '%s %s' "$(name_limit DB_NAME)" "$(name_limit DB_USER)"`, "x", lib, engine]).toString();
      expect(out).toBe(`${NAME_LIMITS[engine].database} ${NAME_LIMITS[engine].user}`);
    }
  });
});

describe("hostToolFiles", () => {
  const files = hostToolFiles();
  test("ships scripts/host byte for byte under /usr/local/lib/dbtier, the entry point executable", () => {
    const entry = files.find((f) => f.path === `${TOOL_DIR}/dbtier-db`);
    expect(entry?.permissions).toBe("0755");
    expect(entry?.content).toBe(readFileSync(TOOL, "utf8"));
    // Every file the launcher sources or runs, including the Python package, travels byte for byte.
    for (const lib of ["common.sh", "system.sh", "dumpkit.py", "fingerprint.py", "parallel-load.py", "swap.py", "s3stream.py", "dbtier/cli.py", "dbtier/s3.py"]) {
      const f = files.find((x) => x.path === `${TOOL_DIR}/lib/${lib}`);
      expect(f).toBeDefined();
      expect(f?.content).toBe(readFileSync(path.join(path.dirname(TOOL), "lib", lib), "utf8"));
    }
    const sourced = [...readFileSync(TOOL, "utf8").matchAll(/^source "\$DBTIER_LIB\/([\w.]+)"/gm)].map((m) => m[1]);
    expect(sourced).toEqual(expect.arrayContaining(["common.sh", "system.sh"]));
    for (const lib of sourced) expect(files.some((x) => x.path === `${TOOL_DIR}/lib/${lib}`)).toBe(true);
    // ... and every module the command table dispatches to (python:dbtier.<module>:<function>).
    const table = readFileSync(path.join(path.dirname(TOOL), "lib", "dbtier", "cli.py"), "utf8");
    const modules = [...new Set([...table.matchAll(/"python:dbtier\.(\w+):\w+"/g)].map((m) => m[1]))];
    expect(modules).toEqual(expect.arrayContaining(["backup", "verify", "restore", "appdb", "listing", "health"]));
    for (const m of modules) expect(files.some((x) => x.path === `${TOOL_DIR}/lib/dbtier/${m}.py`)).toBe(true);
    for (const f of files) expect(f.path.startsWith(`${TOOL_DIR}/`)).toBe(true);
    expect(files.some((f) => f.path.includes(".shellcheckrc"))).toBe(false);
  });

  test("leaves out what running the toolkit leaves behind (Python bytecode) and dot files", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "dbtier-tool-"));
    try {
      writeFileSync(path.join(dir, "dbtier-db"), "#!/usr/bin/env bash\n", { mode: 0o755 });
      for (const sub of ["lib/dbtier/__pycache__", "lib/__pycache__", ".git"]) mkdirSync(path.join(dir, sub), { recursive: true });
      writeFileSync(path.join(dir, "lib", "dbtier", "config.py"), "x = 1\n");
      writeFileSync(path.join(dir, "lib", "dbtier", "__pycache__", "config.cpython-311.pyc"), Buffer.from([0xa7, 0x0d, 0x0d, 0x0a, 0xff]));
      writeFileSync(path.join(dir, "lib", "__pycache__", "swap.cpython-311.pyc"), "bytecode");
      writeFileSync(path.join(dir, ".git", "HEAD"), "ref\n");
      expect(hostToolFiles(dir).map((f) => f.path)).toEqual([`${TOOL_DIR}/dbtier-db`, `${TOOL_DIR}/lib/dbtier/config.py`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("renderSystemdUnits", () => {
  test("one persistent, randomized timer and a oneshot service per configured period, plus health", () => {
    const cfg = config({ backups: { ...JSON.parse(validRaw()["dbtier:backups"]), periods: ["hourly", "daily"] } });
    const units = renderSystemdUnits(cfg, "proxy");
    const names = units.map((u) => path.basename(u.path)).sort();
    expect(names).toEqual([
      "dbtier-backup-daily.service", "dbtier-backup-daily.timer", "dbtier-backup-hourly.service", "dbtier-backup-hourly.timer",
      "dbtier-health.service", "dbtier-health.timer",
    ]);
    for (const u of units) {
      expect(u.path.startsWith("/etc/systemd/system/dbtier-")).toBe(true);
      expect(u.permissions).toBe("0644");
    }
    const timer = units.find((u) => u.path.endsWith("dbtier-backup-daily.timer"))!.content;
    expect(timer).toMatch(/^Persistent=true$/m);
    expect(timer).toMatch(/^RandomizedDelaySec=\d+$/m);
    expect(timer).toMatch(/^OnCalendar=.+$/m);
    const service = units.find((u) => u.path.endsWith("dbtier-backup-hourly.service"))!.content;
    expect(service).toMatch(/^ExecStart=\/usr\/local\/bin\/dbtier-db backup hourly$/m);
    expect(service).toMatch(/^Type=oneshot$/m);
    expect(units.find((u) => u.path.endsWith("dbtier-health.service"))!.content).toMatch(/^ExecStart=\/usr\/local\/bin\/dbtier-db health$/m);
  });

  test("timers pass systemd-analyze verify where systemd is installed", () => {
    const which = spawnSync("bash", ["--norc", "-c", "command -v systemd-analyze"], { encoding: "utf8" });
    if (which.status !== 0) return; // not on this machine: the lab checks units on real hosts
    const dir = mkdtempSync(path.join(os.tmpdir(), "dbtier-units-"));
    try {
      const units = renderSystemdUnits(config(), "database");
      for (const u of units) writeFileSync(path.join(dir, path.basename(u.path)), u.content.replace(/\/usr\/local\/bin\/dbtier-db/g, "/bin/true"));
      const r = spawnSync("systemd-analyze", ["verify", ...units.filter((u) => u.path.endsWith(".timer")).map((u) => path.join(dir, path.basename(u.path)))], { encoding: "utf8" });
      expect(r.stderr.split("\n").filter((l) => /error|invalid|unknown/i.test(l) && !/Failed to|connect|bus/i.test(l))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("secrets", () => {
  test("SECRET_FILES are the contract's file names under /etc/dbtier/secrets", () => {
    expect(SECRET_DIR).toBe("/etc/dbtier/secrets");
    expect(Object.values(SECRET_FILES).map((p) => path.relative(SECRET_DIR, p)).sort()).toEqual([
      "alert-email", "backup-signing-key", "baseline-deploy-key", "baseline-known-hosts", "datastore-access-key-id", "datastore-secret-access-key",
      "db-admin-password", "db-app-password", "smtp-password", "smtp-url", "tls-server-key",
    ]);
  });

  function tarOf(dir: string, names: string[]): Buffer {
    return spawnSync("tar", ["-c", "-C", dir, ...names]).stdout;
  }

  test("secretInstallScript installs a tar from stdin as 0600 files, replacing old ones", () => {
    const src = mkdtempSync(path.join(os.tmpdir(), "dbtier-src-"));
    const dest = path.join(mkdtempSync(path.join(os.tmpdir(), "dbtier-dest-")), "secrets");
    try {
      writeFileSync(path.join(src, "db-admin-password"), "n3w-pass");
      writeFileSync(path.join(src, "datastore-secret-access-key"), "k3y");
      spawnSync("mkdir", ["-p", dest]);
      writeFileSync(path.join(dest, "db-admin-password"), "old", { mode: 0o644 });
      const r = spawnSync("bash", ["--norc", "-c", secretInstallScript()], { input: tarOf(src, ["db-admin-password", "datastore-secret-access-key"]), env: { PATH: process.env.PATH, DBTIER_SECRETS_DIR: dest }, encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      expect(readFileSync(path.join(dest, "db-admin-password"), "utf8")).toBe("n3w-pass");
      expect(statSync(path.join(dest, "db-admin-password")).mode & 0o777).toBe(0o600);
      expect(statSync(path.join(dest, "datastore-secret-access-key")).mode & 0o777).toBe(0o600);
      expect(statSync(dest).mode & 0o777).toBe(0o700);
      expect(spawnSync("ls", ["-A", dest], { encoding: "utf8" }).stdout.trim().split("\n").sort()).toEqual(["datastore-secret-access-key", "db-admin-password"]);
    } finally {
      rmSync(src, { recursive: true, force: true });
      rmSync(path.dirname(dest), { recursive: true, force: true });
    }
  });

  test("secretInstallScript refuses paths and symlinks and installs nothing then", () => {
    const src = mkdtempSync(path.join(os.tmpdir(), "dbtier-src-"));
    const dest = path.join(mkdtempSync(path.join(os.tmpdir(), "dbtier-dest-")), "secrets");
    try {
      writeFileSync(path.join(src, "db-app-password"), "x");
      spawnSync("mkdir", ["-p", path.join(src, "sub")]);
      writeFileSync(path.join(src, "sub", "evil"), "x");
      symlinkSync("/etc/passwd", path.join(src, "link"));
      for (const bad of [["db-app-password", "sub"], ["db-app-password", "link"]]) {
        const r = spawnSync("bash", ["--norc", "-c", secretInstallScript()], { input: tarOf(src, bad), env: { PATH: process.env.PATH, DBTIER_SECRETS_DIR: dest }, encoding: "utf8" });
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/refusing entry/);
        expect(() => lstatSync(path.join(dest, "db-app-password"))).toThrow();
      }
    } finally {
      rmSync(src, { recursive: true, force: true });
      rmSync(path.dirname(dest), { recursive: true, force: true });
    }
  });
});
