// init, harden and install on real servers, with the files rendered under DBTIER_ROOT (a temp dir) and
// systemctl/apt skipped (DBTIER_NO_SERVICES=1): the accounts, grants and pg_hba rules are checked by
// logging in for real, over TLS, as the application user.
import { ChildProcess, spawn } from "child_process";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "fs";
import * as path from "path";
import { run, runOk, tempDir, removeDir, RunResult } from "../support/proc";
import { startServer } from "../support/servers";
import { issueWithCa, makeTls } from "../support/tls";
import { TOOL } from "../support/toolkit";
import { expectOk, makeRig, Rig, runWatched } from "./fixture";

jest.setTimeout(240_000);

const APP_PASSWORD = "app-Pa55:w\\rd'\"#x"; // what makeHost writes to db-app-password

/**
 * What the host-files and secrets steps deliver on a self-managed VM: the server certificate the stack's CA
 * issued (here the rig's: its CA signed it for 127.0.0.1 and localhost, and DB_CA_FILE names that CA) and
 * its key as the secret file tls-server-key.
 */
function deliverTls(rig: Rig, root: string, files: { serverCert: string; serverKey: string } = rig.server.tls): void {
  mkdirSync(path.join(root, "etc/dbtier"), { recursive: true });
  copyFileSync(files.serverCert, path.join(root, "etc/dbtier/server-cert.pem"));
  const key = path.join(rig.host.secretsDir, "tls-server-key");
  writeFileSync(key, readFileSync(files.serverKey));
  chmodSync(key, 0o600);
}

/** A long-running application session over TCP+TLS from 127.0.0.1; resolves when it ends. */
function appSession(rig: Rig, password: string): { child: ChildProcess; ended: Promise<RunResult> } {
  let child: ChildProcess;
  if (rig.server.engine === "mariadb") {
    const cnf = path.join(rig.host.dir, "session.cnf");
    writeFileSync(cnf, `[client]\nuser=appuser\npassword="${password.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"\nhost=127.0.0.1\nport=${rig.server.port}\n`, { mode: 0o600 });
    child = spawn("mariadb", [`--defaults-extra-file=${cnf}`, "--ssl", "-N", "-e", "SELECT SLEEP(60)"], { stdio: ["ignore", "pipe", "pipe"] });
  } else {
    const pass = path.join(rig.host.dir, "session.pgpass");
    writeFileSync(pass, `*:*:*:appuser:${password.replace(/\\/g, "\\\\").replace(/:/g, "\\:")}\n`, { mode: 0o600 });
    child = spawn("psql", ["-X", "-At", "-d", "app", "-c", "SELECT pg_sleep(60)"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PGPASSFILE: pass, PGHOST: "127.0.0.1", PGPORT: String(rig.server.port), PGUSER: "appuser", PGSSLMODE: "require" },
    });
  }
  const started = Date.now();
  const ended = new Promise<RunResult>((resolve) => {
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout: `${Date.now() - started}`, stderr } as RunResult));
  });
  return { child, ended };
}

/** Waits (bounded) until the application user has an open session on the server. */
async function waitForAppSession(rig: Rig): Promise<void> {
  const sql = rig.server.engine === "mariadb"
    ? "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'appuser';"
    : "SELECT count(*) FROM pg_stat_activity WHERE usename = 'appuser';";
  for (let i = 0; i < 100; i++) {
    if (Number((await rig.server.rootSql(sql)).trim()) > 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the application session never appeared on the server");
}

function initEnv(root: string): Record<string, string> {
  const meminfo = path.join(root, "meminfo");
  writeFileSync(meminfo, "MemTotal:        2097152 kB\nMemFree:  1000 kB\n");
  return { DBTIER_ROOT: root, DBTIER_NO_SERVICES: "1", DBTIER_MEMINFO: meminfo };
}

describe("mariadb: init", () => {
  let rig: Rig;
  let root: string;
  beforeAll(async () => {
    rig = await makeRig("mariadb", { seed: false, host: { role: "database" } });
    root = tempDir("dbtier-root-");
    rig.host.writeEnv({
      DB_LISTEN_ADDRESS: "127.0.0.1",
      DB_SOCKET: rig.server.socket,
      DB_WEBSERVER_SOURCES: "127.0.0.1/32 203.0.113.0/24 198.51.100.7/32",
    });
    await rig.server.rootSql(
      "CREATE USER ''@'localhost'; CREATE USER 'root'@'%' IDENTIFIED BY 'x'; CREATE USER 'appuser'@'192.0.2.9' IDENTIFIED BY 'x'; CREATE DATABASE test;",
    );
    deliverTls(rig, root);
  });
  afterAll(async () => {
    removeDir(root);
    await rig?.cleanup();
  });

  test("renders the server config, creates the certificate and the accounts", async () => {
    const r = await runWatched(rig, ["init"], { env: initEnv(root) });
    expectOk(r);
    expect(r.stderr).toContain("2048 MB RAM -> buffer 1024 MB, max_connections 128");
    const cnf = readFileSync(path.join(root, "etc/mysql/mariadb.conf.d/60-dbtier.cnf"), "utf8");
    expect(cnf).toMatch(/^bind-address = 127\.0\.0\.1$/m);
    expect(cnf).toMatch(/^require_secure_transport = ON$/m);
    expect(cnf).toMatch(/^innodb_buffer_pool_size = 1024M$/m);
    expect(cnf).toMatch(/^ssl-cert = \/etc\/dbtier\/tls\/server\.crt$/m);
    // The delivered certificate and key, installed for the server; the key readable by its group only.
    const cert = path.join(root, "etc/dbtier/tls/server.crt");
    expect(readFileSync(cert, "utf8")).toBe(readFileSync(rig.server.tls.serverCert, "utf8"));
    expect(readFileSync(path.join(root, "etc/dbtier/tls/server.key"), "utf8").trim()).toBe(readFileSync(rig.server.tls.serverKey, "utf8").trim());
    expect(statSync(path.join(root, "etc/dbtier/tls/server.key")).mode & 0o777).toBe(0o640);
    expect(r.stderr).toContain("server certificate for IP Address:127.0.0.1");
    const users = (await rig.server.rootSql("SELECT CONCAT(User, '@', Host) FROM mysql.user ORDER BY 1;")).trim().split("\n");
    expect(users).toEqual(expect.arrayContaining(["appuser@127.0.0.1", "appuser@203.0.113.0/255.255.255.0", "appuser@198.51.100.7", "dbtier_admin@127.0.0.1"]));
    expect(users).not.toContain("appuser@192.0.2.9");
    expect(users).not.toContain("root@%");
    expect(users.filter((u) => u.startsWith("@"))).toEqual([]);
    expect(await rig.server.rootSql("SHOW DATABASES LIKE 'test';")).toBe("");
    const grants = await rig.server.rootSql("SHOW GRANTS FOR 'appuser'@'203.0.113.0/255.255.255.0';");
    expect(grants).toContain("GRANT ALL PRIVILEGES ON `app`.* TO `appuser`@`203.0.113.0/255.255.255.0`");
    expect(grants).toContain("REQUIRE SSL");
    expect(grants).not.toMatch(/ON \*\.\*.*(ALL|SELECT)/);
  });

  test("the application user logs in over TLS only, and sees only its database", async () => {
    const cnf = path.join(rig.host.dir, "app.cnf");
    writeFileSync(cnf, `[client]\nuser=appuser\npassword="${APP_PASSWORD.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"\nhost=127.0.0.1\nport=${rig.server.port}\n`, { mode: 0o600 });
    const tls = await run("mariadb", [`--defaults-extra-file=${cnf}`, "--ssl", "-N", "-e", "SHOW DATABASES"]);
    expect(tls.code).toBe(0);
    expect(tls.stdout.split("\n").filter(Boolean).sort()).toEqual(["app", "information_schema"]);
    const plain = await run("mariadb", [`--defaults-extra-file=${cnf}`, "--skip-ssl", "-N", "-e", "SELECT 1"]);
    expect(plain.code).not.toBe(0);
  });

  test("init is idempotent", async () => {
    const r = await runWatched(rig, ["init"], { env: initEnv(root) });
    expectOk(r);
    expect(r.stderr).not.toContain("wrote /etc/mysql");
    expect(r.stderr).not.toContain("wrote /etc/dbtier/tls");
    expect(r.stderr).not.toContain("dropped");
    expect(r.stderr).not.toContain("reloaded");
  });

  test("refuses a certificate its clients would refuse, and installs nothing then", async () => {
    const before = readFileSync(path.join(root, "etc/dbtier/tls/server.crt"), "utf8");
    const other = await makeTls(path.join(rig.host.dir, "other-ca"), { hosts: ["127.0.0.1"] });
    const wrongName = await issueWithCa(path.join(rig.host.dir, "wrong-name"), rig.server.tls, ["192.0.2.99", "db.example.net"]);
    const cases: [string, { serverCert: string; serverKey: string }, RegExp][] = [
      ["another CA", other, /is not a server certificate of the CA in/],
      ["a name clients do not use", wrongName, /does not name 127\.0\.0\.1, which clients connect to \(it names: IP Address:192\.0\.2\.99, DNS:db\.example\.net\)/],
      ["a key that is not the certificate's", { serverCert: rig.server.tls.serverCert, serverKey: other.serverKey }, /is not the key of/],
    ];
    try {
      for (const [what, files, message] of cases) {
        deliverTls(rig, root, files);
        const r = await runWatched(rig, ["init"], { env: initEnv(root) });
        expect({ what, code: r.code }).toEqual({ what, code: 1 });
        expect(r.stderr).toMatch(message);
        expect(readFileSync(path.join(root, "etc/dbtier/tls/server.crt"), "utf8")).toBe(before);
      }
    } finally {
      deliverTls(rig, root);
    }
  });

  test("a removed webserver's open session is ended and its account dropped; a renewed certificate is reloaded, not restarted", async () => {
    const session = appSession(rig, APP_PASSWORD);
    try {
      await waitForAppSession(rig);
      // The same CA issues a renewed certificate for the same names.
      const renewed = await issueWithCa(path.join(rig.host.dir, "renewed"), rig.server.tls, ["127.0.0.1", "localhost"]);
      deliverTls(rig, root, renewed);
      rig.host.writeEnv({ DB_LISTEN_ADDRESS: "127.0.0.1", DB_SOCKET: rig.server.socket, DB_WEBSERVER_SOURCES: "203.0.113.0/24 198.51.100.7/32" });
      const r = await runWatched(rig, ["init"], { env: initEnv(root) });
      expectOk(r);
      expect(r.stderr).toContain("dropped 1 stale account(s)");
      expect(r.stderr).toContain("ended 1 session(s) of appuser from sources no longer listed");
      expect(r.stderr).toContain("server certificate reloaded");
      expect(r.stderr).not.toContain("systemctl restart");
      const ended = await session.ended;
      expect(ended.code).not.toBe(0);
      expect(Number(ended.stdout)).toBeLessThan(30_000);
      const users = (await rig.server.rootSql("SELECT CONCAT(User, '@', Host) FROM mysql.user WHERE User = 'appuser' ORDER BY 1;")).trim().split("\n");
      expect(users).toEqual(["appuser@198.51.100.7", "appuser@203.0.113.0/255.255.255.0"]);
    } finally {
      session.child.kill("SIGKILL");
    }
  });
});

describe("postgres: init", () => {
  let rig: Rig;
  let root: string;
  beforeAll(async () => {
    rig = await makeRig("postgres", { seed: false, host: { role: "database" } });
    root = tempDir("dbtier-root-");
    rig.host.writeEnv({ DB_LISTEN_ADDRESS: "127.0.0.1", DB_SOCKET: rig.server.socket, DB_WEBSERVER_SOURCES: "127.0.0.1/32 203.0.113.0/24", DB_NAME: "app" });
    deliverTls(rig, root);
  });
  afterAll(async () => {
    removeDir(root);
    await rig?.cleanup();
  });

  test("renders TLS-only pg_hba rows per webserver and creates the roles and the database", async () => {
    const r = await runWatched(rig, ["init"], { env: initEnv(root) });
    expectOk(r);
    const conf = readFileSync(path.join(root, "etc/postgresql/15/main/conf.d/60-dbtier.conf"), "utf8");
    expect(conf).toMatch(/^listen_addresses = '127\.0\.0\.1'$/m);
    expect(conf).toMatch(/^ssl_cert_file = '\/etc\/dbtier\/tls\/server\.crt'$/m);
    expect(readFileSync(path.join(root, "etc/dbtier/tls/server.crt"), "utf8")).toBe(readFileSync(rig.server.tls.serverCert, "utf8"));
    expect(conf).toMatch(/^ssl = on$/m);
    expect(conf).toMatch(/^shared_buffers = 512MB$/m);
    const hba = readFileSync(path.join(root, "etc/postgresql/15/main/pg_hba.conf"), "utf8");
    expect(hba).toMatch(/^hostssl app\s+appuser\s+127\.0\.0\.1\/32\s+scram-sha-256$/m);
    expect(hba).toMatch(/^hostssl app\s+appuser\s+203\.0\.113\.0\/24\s+scram-sha-256$/m);
    // The toolkit loads as the app user from this host: its database and the toolkit's side databases only.
    expect(hba).toMatch(/^hostssl app,app_dbtier_verify,app_dbtier_restore,app_dbtier_load\s+appuser\s+127\.0\.0\.1\/32\s+scram-sha-256$/m);
    expect(hba).not.toMatch(/^host\s/m);
    expect(hba).not.toMatch(/trust|md5|password\s*$/m);
    expect((await rig.server.rootSql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app';")).trim()).toBe("appuser");
    expect((await rig.server.rootSql("SELECT rolsuper::text || rolcreatedb::text FROM pg_roles WHERE rolname = 'dbtier_admin';")).trim()).toBe("falsetrue");
    expect((await rig.server.rootSql("SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = 'appuser';")).trim()).toBe("SCRAM-SHA-256$");
  });

  test("with the rendered pg_hba the app user reaches only its database, only over TLS", async () => {
    const data = path.join(rig.server.dir, "data");
    copyFileSync(path.join(root, "etc/postgresql/15/main/pg_hba.conf"), path.join(data, "pg_hba.conf"));
    await rig.server.rootSql("SELECT pg_reload_conf();");
    const pass = path.join(rig.host.dir, "app.pgpass");
    writeFileSync(pass, `*:*:*:appuser:${APP_PASSWORD.replace(/\\/g, "\\\\").replace(/:/g, "\\:")}\n`, { mode: 0o600 });
    const env = { ...process.env, PGPASSFILE: pass, PGHOST: "127.0.0.1", PGPORT: String(rig.server.port), PGUSER: "appuser" };
    const ok = await run("psql", ["-X", "-At", "-d", "app", "-c", "SELECT current_user"], { env: { ...env, PGSSLMODE: "require" } });
    expect(ok.stderr).toBe("");
    expect(ok.stdout.trim()).toBe("appuser");
    const plain = await run("psql", ["-X", "-At", "-d", "app", "-c", "SELECT 1"], { env: { ...env, PGSSLMODE: "disable" } });
    expect(plain.code).not.toBe(0);
    const other = await run("psql", ["-X", "-At", "-d", "postgres", "-c", "SELECT 1"], { env: { ...env, PGSSLMODE: "require" } });
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain("no pg_hba.conf entry");
    // The toolkit itself (admin over TLS from this host) still works under these rules.
    rig.host.writeEnv({ DB_SOCKET: null, DB_LISTEN_ADDRESS: "127.0.0.1", DB_WEBSERVER_SOURCES: "127.0.0.1/32 203.0.113.0/24", DB_NAME: "app" });
    expectOk(await rig.host.run(["load-app-db"]));
  });

  test("a webserver change reloads (no restart) and ends the removed webserver's open session", async () => {
    rig.host.writeEnv({ DB_LISTEN_ADDRESS: "127.0.0.1", DB_SOCKET: rig.server.socket, DB_WEBSERVER_SOURCES: "127.0.0.1/32 203.0.113.0/24", DB_NAME: "app" });
    const session = appSession(rig, APP_PASSWORD);
    try {
      await waitForAppSession(rig);
      rig.host.writeEnv({ DB_LISTEN_ADDRESS: "127.0.0.1", DB_SOCKET: rig.server.socket, DB_WEBSERVER_SOURCES: "203.0.113.0/24", DB_NAME: "app" });
      const r = await runWatched(rig, ["init"], { env: initEnv(root) });
      expectOk(r);
      expect(r.stderr).toContain("wrote /etc/postgresql/15/main/pg_hba.conf");
      expect(r.stderr).not.toContain("wrote /etc/postgresql/15/main/conf.d");
      expect(r.stderr).toContain("PostgreSQL configuration reloaded");
      expect(r.stderr).not.toContain("systemctl restart");
      expect(r.stderr).toContain("ended 1 session(s) of appuser from sources no longer listed");
      const ended = await session.ended;
      expect(ended.code).not.toBe(0);
      expect(ended.stderr).toContain("terminating connection due to administrator command");
      const hba = readFileSync(path.join(root, "etc/postgresql/15/main/pg_hba.conf"), "utf8");
      expect(hba).not.toMatch(/^hostssl app\s+appuser\s+127\.0\.0\.1\/32/m);
    } finally {
      session.child.kill("SIGKILL");
    }
  });

  test("listen_addresses covers IPv4 whenever the server listens on all addresses", async () => {
    const listen = async (address: string) =>
      (await runOk("bash", ["--norc", "-c", `source ${TOOL}; postgres_listen_addresses "$1"`, "x", address])).trim();
    expect(await listen("::")).toBe("0.0.0.0,::");
    expect(await listen("0.0.0.0")).toBe("0.0.0.0");
    expect(await listen("10.42.0.5")).toBe("10.42.0.5");
    rig.host.writeEnv({ DB_LISTEN_ADDRESS: "::", DB_SOCKET: rig.server.socket, DB_WEBSERVER_SOURCES: "203.0.113.0/24 2001:db8::5", DB_NAME: "app" });
    const r = await runWatched(rig, ["init"], { env: initEnv(root) });
    expectOk(r);
    expect(r.stderr).toContain("would run: systemctl restart postgresql@15-main");
    const conf = readFileSync(path.join(root, "etc/postgresql/15/main/conf.d/60-dbtier.conf"), "utf8");
    expect(conf).toMatch(/^listen_addresses = '0\.0\.0\.0,::'$/m);
  });
});

// Issue 12 item 6, reproduced on a real server: PostgreSQL opens '::' IPv6-only, so with listen_addresses='::'
// an IPv4 client (the toolkit's own connection to DB_HOST among them) is refused; what init renders for
// DB_LISTEN_ADDRESS=:: serves both families.
describe("postgres: listen_addresses for all addresses", () => {
  test("'::' alone refuses IPv4; the rendered value takes IPv4 and IPv6", async () => {
    const rendered = (await runOk("bash", ["--norc", "-c", `source ${TOOL}; postgres_listen_addresses ::`])).trim();
    const admin = { user: "dbtier_admin", password: "Adm1n-listen" };
    const dir = tempDir("dbtier-listen-");
    const pass = path.join(dir, "pgpass");
    writeFileSync(pass, `*:*:*:${admin.user}:${admin.password}\n`, { mode: 0o600 });
    try {
      const outcomes: Record<string, string[]> = {};
      for (const listen of ["::", rendered]) {
        const server = await startServer("postgres", { admin, extraSettings: { listen_addresses: listen } });
        try {
          outcomes[listen] = [];
          for (const host of ["127.0.0.1", "::1"]) {
            const r = await run("psql", ["-X", "-At", "-d", "postgres", "-c", "SELECT 1"], {
              env: { PATH: process.env.PATH, PGPASSFILE: pass, PGHOST: host, PGPORT: String(server.port), PGUSER: admin.user, PGSSLMODE: "require", PGCONNECT_TIMEOUT: "5" },
            });
            // Reached: logged in (127.0.0.1) or turned away by pg_hba (::1 has no row), but not refused by the kernel.
            outcomes[listen].push(`${host} ${/Connection refused/.test(r.stderr) ? "refused" : r.code === 0 ? "in" : /no pg_hba\.conf entry/.test(r.stderr) ? "reached" : r.stderr.trim()}`);
          }
        } finally {
          await server.stop();
        }
      }
      expect(rendered).toBe("0.0.0.0,::");
      expect(outcomes).toEqual({ "::": ["127.0.0.1 refused", "::1 reached"], "0.0.0.0,::": ["127.0.0.1 in", "::1 reached"] });
    } finally {
      removeDir(dir);
    }
  });
});

// The toolkit's own clients (dbtier/db.py: psql/libpq, the mariadb client's option file) with DB_TLS_MODE=verify-full:
// the chain and the name are checked, so another CA or a certificate for another name is refused.
describe.each(["mariadb", "postgres"] as const)("%s: verify-full in the toolkit's clients", (engine) => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await makeRig(engine, { seed: false });
  });
  afterAll(async () => {
    await rig?.cleanup();
  });
  // One connection through the toolkit's admin client (dbtier.db.Admin.ping: TLS as DB_TLS_MODE says);
  // a configuration error exits 2, a refused connection 1 with the client's own reason.
  const ping = (env: Record<string, string | null>) => {
    rig.host.writeEnv({ DB_TLS_MODE: "verify-full", ...env });
    const script = [
      "import sys",
      `sys.path.insert(0, ${JSON.stringify(path.join(path.dirname(TOOL), "lib"))})`,
      "from dbtier import config",
      "from dbtier.db import Admin, RunDir",
      "try:",
      "    cfg = config.load()",
      "    with RunDir() as run:",
      "        adm = Admin(cfg, run)",
      "        why = adm.ping()",
      "        if why:",
      "            sys.exit(why)",
      "        print(f'connected to {adm.target()}')",
      "except config.ConfigError as e:",
      "    print(e, file=sys.stderr)",
      "    sys.exit(2)",
    ].join("\n");
    return run("python3", ["-I", "-B", "-c", script], { env: { PATH: process.env.PATH, DBTIER_ENV: rig.host.envFile, DBTIER_SECRETS_DIR: rig.host.secretsDir } });
  };
  const reloadServerTls = () => rig.server.rootSql(engine === "mariadb" ? "FLUSH SSL;" : "SELECT pg_reload_conf();");

  test("the server's certificate from the expected CA, for the address or name used: connected", async () => {
    for (const host of ["127.0.0.1", "localhost"]) {
      const r = await ping({ DB_HOST: host });
      expect(r.stderr).toBe("");
      expect(r.stdout.trim()).toBe(`connected to ${host}:${rig.server.port}`);
    }
  });

  test("verify-full without a CA file is a configuration error naming the key", async () => {
    const r = await ping({ DB_CA_FILE: null });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("DB_CA_FILE");
  });

  test("another CA: refused", async () => {
    const other = await makeTls(path.join(rig.host.dir, "other-ca"), { hosts: ["127.0.0.1"] });
    const r = await ping({ DB_HOST: "127.0.0.1", DB_CA_FILE: other.caCert });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/certificate verify failed|self[- ]signed|unable to get local issuer/i);
  });

  test("a certificate from the same CA for another name: refused by verify-full", async () => {
    const wrong = await issueWithCa(path.join(rig.host.dir, "wrong-name"), rig.server.tls, ["192.0.2.99", "db.example.net"]);
    const original = { cert: readFileSync(rig.server.tls.serverCert), key: readFileSync(rig.server.tls.serverKey) };
    try {
      // In place, so the server's own file ownership and mode stay.
      writeFileSync(rig.server.tls.serverCert, readFileSync(wrong.serverCert));
      writeFileSync(rig.server.tls.serverKey, readFileSync(wrong.serverKey));
      await reloadServerTls();
      const r = await ping({ DB_HOST: "127.0.0.1" });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/does not match host name|mismatch|hostname|Validation of SSL server certificate failed/i);
      if (engine === "postgres") {
        // The chain alone is fine: it is the name that verify-full refuses.
        const chainOnly = await ping({ DB_HOST: "127.0.0.1", DB_TLS_MODE: "verify-ca" });
        expect(chainOnly.stderr).toBe("");
        expect(chainOnly.code).toBe(0);
      }
    } finally {
      writeFileSync(rig.server.tls.serverCert, original.cert);
      writeFileSync(rig.server.tls.serverKey, original.key);
      await reloadServerTls();
    }
    expect((await ping({ DB_HOST: "127.0.0.1" })).code).toBe(0);
  });
});

describe("harden and install (rendered under DBTIER_ROOT)", () => {
  let root: string;
  let envFile: string;
  beforeAll(() => {
    root = tempDir("dbtier-root-");
    envFile = path.join(root, "dbtier.env");
    writeFileSync(envFile, "DB_ROLE=proxy\nDB_ENGINE=postgres\nDB_ENGINE_VERSION=16\nDB_PACKAGE_SOURCE=vendor\nDB_PORT=25060\n");
    writeFileSync(path.join(root, "os-release"), "");
  });
  afterAll(() => removeDir(root));
  const secretsDir = () => {
    const dir = path.join(root, "secrets");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(path.join(dir, "db-admin-password"), "x", { mode: 0o600 });
    return dir;
  };
  const tool = (args: string[], extra: Record<string, string> = {}) =>
    run("bash", [TOOL, ...args], { env: { PATH: process.env.PATH, DBTIER_ENV: envFile, DBTIER_ROOT: root, DBTIER_NO_SERVICES: "1", DBTIER_SECRETS_DIR: secretsDir(), ...extra } });

  test("harden: SSH by key only, security upgrades without automatic reboots", async () => {
    const r = await tool(["harden"]);
    expect(r.code).toBe(0);
    const sshd = readFileSync(path.join(root, "etc/ssh/sshd_config.d/60-dbtier.conf"), "utf8");
    expect(sshd).toMatch(/^PasswordAuthentication no$/m);
    expect(sshd).toMatch(/^PermitRootLogin prohibit-password$/m);
    expect(sshd).toMatch(/^KbdInteractiveAuthentication no$/m);
    // sshd itself accepts the rendered drop-in (with a throwaway host key).
    const check = path.join(root, "sshd-check");
    require("fs").mkdirSync(check, { recursive: true });
    await runOk("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(check, "hostkey")]);
    writeFileSync(path.join(check, "sshd_config"), `${sshd}\nHostKey ${path.join(check, "hostkey")}\n`);
    // sshd -t insists on its privilege separation directory, which only a booted host (or another test) makes.
    require("fs").mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    const sshdCheck = await run("/usr/sbin/sshd", ["-t", "-f", path.join(check, "sshd_config")]);
    expect(sshdCheck.stderr).toBe("");
    expect(sshdCheck.code).toBe(0);
    const uu = readFileSync(path.join(root, "etc/apt/apt.conf.d/52dbtier-unattended-upgrades"), "utf8");
    expect(uu).toContain('Unattended-Upgrade::Automatic-Reboot "false";');
    expect(uu).toContain('"origin=Debian,codename=${distro_codename}-security,label=Debian-Security";');
    // The proxy's engine client from the vendor's repository is kept patched too.
    expect(uu).toContain('"site=apt.postgresql.org";');
    // apt itself parses the rendered file (a syntax error would make unattended-upgrades skip every run).
    const parsed = await runOk("apt-config", ["-c", path.join(root, "etc/apt/apt.conf.d/52dbtier-unattended-upgrades"), "dump", "Unattended-Upgrade"]);
    expect(parsed).toContain('Unattended-Upgrade::Origins-Pattern:: "site=apt.postgresql.org";');
    expect(parsed).toContain('Unattended-Upgrade::Automatic-Reboot "false";');
  });

  test("harden (database): the server's vendor packages are left to a maintenance window", async () => {
    const env = readFileSync(envFile, "utf8");
    try {
      writeFileSync(envFile, env.replace("DB_ROLE=proxy", "DB_ROLE=database").replace("DB_ENGINE=postgres", "DB_ENGINE=mariadb").replace("DB_ENGINE_VERSION=16", "DB_ENGINE_VERSION=11.4"));
      const r = await tool(["harden"]);
      expect(r.code).toBe(0);
      const uu = readFileSync(path.join(root, "etc/apt/apt.conf.d/52dbtier-unattended-upgrades"), "utf8");
      expect(uu).toContain("-security,label=Debian-Security");
      expect(uu).not.toContain("site=");
    } finally {
      writeFileSync(envFile, env);
      await tool(["harden"]);
    }
  });

  test("harden (proxy): refuses a missing DB_ROLE and secret files others could read", async () => {
    const env = readFileSync(envFile, "utf8");
    try {
      writeFileSync(envFile, env.replace(/^DB_ROLE=.*\n/m, ""));
      const noRole = await tool(["harden"]);
      expect(noRole.code).toBe(2);
      expect(noRole.stderr).toContain("missing required key(s)");
      expect(noRole.stderr).toContain("DB_ROLE");
    } finally {
      writeFileSync(envFile, env);
    }
    const leaky = path.join(secretsDir(), "datastore-secret-access-key");
    writeFileSync(leaky, "s3-secret", { mode: 0o644 });
    chmodSync(leaky, 0o644);
    try {
      const r = await tool(["harden"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`harden: secret files others could read: ${leaky} (mode 644, owner root)`);
    } finally {
      chmodSync(leaky, 0o600);
    }
    const ok = await tool(["harden"]);
    expect(ok.stderr).toContain("harden (proxy): SSH keys only, security upgrades without reboots");
    expect(ok.code).toBe(0);
  });

  test("harden (proxy): the listener audit on a host's real sockets refuses a database port the proxy does not serve", async () => {
    // A fresh network namespace with real listeners: SSH, and a stray server on the DBaaS port.
    const script = `set -euo pipefail
      ip link set lo up
      ip link add dbt0 type veth peer name dbt1 && ip addr add 192.0.2.30/24 dev dbt0 && ip link set dbt0 up && ip link set dbt1 up
      pids=()
      trap 'kill "\${pids[@]}" 2>/dev/null || true' EXIT
      socat TCP-LISTEN:22,bind=0.0.0.0,fork,reuseaddr /dev/null & pids+=($!)
      socat TCP-LISTEN:25060,bind=192.0.2.30,fork,reuseaddr /dev/null & pids+=($!)
      socat TCP-LISTEN:8125,bind=127.0.0.1,fork,reuseaddr /dev/null & pids+=($!)
      for _ in $(seq 50); do [ "$(ss -H -ltn | wc -l)" -ge 3 ] && break; sleep 0.1; done
      source "${TOOL}"
      make_run_dir
      for role in database proxy; do
        if (audit_listeners "$role" 25060); then echo "$role: passed"; else echo "$role: refused"; fi
      done`;
    const r = await run("unshare", ["--net", "bash", "--norc", "-c", script], { env: { PATH: process.env.PATH } });
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(["database: passed", "proxy: refused"]);
    expect(r.stderr).toContain("harden: unexpected listeners for role proxy: tcp 192.0.2.30:25060;");
    expect(r.stderr).not.toContain(":22;");
    expect(r.stderr).not.toContain("127.0.0.1:8125");
  });

  test("harden: the listener audit lets through only what the role needs", async () => {
    const ss = [
      "tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:*",
      "tcp LISTEN 0 128 [::]:22 [::]:*",
      "tcp LISTEN 0 80 10.0.0.5:3306 0.0.0.0:*",
      "tcp LISTEN 0 128 127.0.0.1:25 0.0.0.0:*",
      "udp UNCONN 0 0 0.0.0.0:68 0.0.0.0:*",
      "tcp LISTEN 0 64 0.0.0.0:111 0.0.0.0:*",
    ].join("\n");
    const script = `source ${TOOL}; unexpected_listeners "$1" 3306`;
    const db = await runOk("bash", ["--norc", "-c", script, "x", "database"], { input: ss });
    expect(db.trim().split("\n")).toEqual(["tcp 0.0.0.0:111"]);
    const proxy = await runOk("bash", ["--norc", "-c", script, "x", "proxy"], { input: ss });
    expect(proxy.trim().split("\n")).toEqual(["tcp 10.0.0.5:3306", "tcp 0.0.0.0:111"]);
  });

  test("install (vendor): signed-by source for the pinned PGDG version, key fingerprint pinned", async () => {
    writeFileSync(path.join(root, "etc/os-release"), 'VERSION_CODENAME="bookworm"\n', { flag: "w" });
    // The key itself cannot be fetched here (no internet); a keyring already in place is kept as is.
    require("fs").mkdirSync(path.join(root, "usr/share/keyrings"), { recursive: true });
    writeFileSync(path.join(root, "usr/share/keyrings/dbtier-postgres.gpg"), "placeholder");
    const r = await tool(["install"]);
    expect(r.stderr).toContain("apt-get install --no-install-recommends");
    expect(r.stderr).toContain("postgresql-client-16");
    expect(r.stderr).not.toContain("postgresql-16 ");
    expect(r.code).toBe(0);
    const src = readFileSync(path.join(root, "etc/apt/sources.list.d/dbtier-postgres.sources"), "utf8");
    expect(src).toContain("URIs: https://apt.postgresql.org/pub/repos/apt");
    expect(src).toContain("Suites: bookworm-pgdg");
    expect(src).toContain("Signed-By: /usr/share/keyrings/dbtier-postgres.gpg");
    const pins = await runOk("bash", ["--norc", "-c", `source ${TOOL}; vendor_repo mariadb 11.4 bookworm; vendor_repo mysql 8.4 bookworm`]);
    expect(pins).toContain("uri=https://dlm.mariadb.com/repo/mariadb-server/11.4/repo/debian");
    expect(pins).toContain("fingerprint=177F4010FE56CA3336300305F1656F24C74CD1D8");
    expect(pins).toContain("component=mysql-8.4-lts");
  });

  test("install (distro): MySQL has no Debian server package, which is a clear config error", async () => {
    writeFileSync(envFile, "DB_ROLE=database\nDB_ENGINE=mysql\nDB_ENGINE_VERSION=8.0\nDB_PACKAGE_SOURCE=distro\n");
    const r = await tool(["install"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Debian has no MySQL server package");
  });
});
