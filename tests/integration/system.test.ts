// init, harden and install on real servers, with the files rendered under DBTIER_ROOT (a temp dir) and
// systemctl/apt skipped (DBTIER_NO_SERVICES=1): the accounts, grants and pg_hba rules are checked by
// logging in for real, over TLS, as the application user.
import { copyFileSync, readFileSync, writeFileSync } from "fs";
import * as path from "path";
import { run, runOk, tempDir, removeDir } from "../support/proc";
import { TOOL } from "../support/toolkit";
import { expectOk, makeRig, Rig, runWatched } from "./fixture";

jest.setTimeout(240_000);

const APP_PASSWORD = "app-Pa55:w\\rd'\"#x"; // what makeHost writes to db-app-password

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
    const cert = path.join(root, "etc/dbtier/tls/server.crt");
    expect(await runOk("openssl", ["x509", "-in", cert, "-noout", "-ext", "subjectAltName"])).toContain("IP Address:127.0.0.1");
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
    expect(r.stderr).not.toContain("dropped");
  });
});

describe("postgres: init", () => {
  let rig: Rig;
  let root: string;
  beforeAll(async () => {
    rig = await makeRig("postgres", { seed: false, host: { role: "database" } });
    root = tempDir("dbtier-root-");
    rig.host.writeEnv({ DB_LISTEN_ADDRESS: "127.0.0.1", DB_SOCKET: rig.server.socket, DB_WEBSERVER_SOURCES: "127.0.0.1/32 203.0.113.0/24", DB_NAME: "app" });
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
    expect(conf).toMatch(/^ssl = on$/m);
    expect(conf).toMatch(/^shared_buffers = 512MB$/m);
    const hba = readFileSync(path.join(root, "etc/postgresql/15/main/pg_hba.conf"), "utf8");
    expect(hba).toMatch(/^hostssl app\s+appuser\s+127\.0\.0\.1\/32\s+scram-sha-256$/m);
    expect(hba).toMatch(/^hostssl app\s+appuser\s+203\.0\.113\.0\/24\s+scram-sha-256$/m);
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
  const tool = (args: string[], extra: Record<string, string> = {}) =>
    run("bash", [TOOL, ...args], { env: { PATH: process.env.PATH, DBTIER_ENV: envFile, DBTIER_ROOT: root, DBTIER_NO_SERVICES: "1", ...extra } });

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
    expect(uu).toContain("-security");
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
