/**
 * Real database servers as plain processes in temp dirs, on 127.0.0.1 with free ports, TLS on.
 * Used by the integration tests, the lab and the benchmark.
 *
 *   startMariaDb(opts): Promise<DbServer>   Debian's MariaDB 10.11 (mariadbd), data dir under a temp dir
 *   startPostgres(opts): Promise<DbServer>  Debian's PostgreSQL 15 (/usr/lib/postgresql/15/bin), run as
 *                                           the `postgres` OS user (PostgreSQL refuses root)
 *
 * Options (both):
 *   admin: { user, password, dbaas }  the account dbtier-db uses. dbaas=false: full admin (self-managed
 *          shape). dbaas=true: a DBaaS-like admin: MariaDB without SUPER / SET USER, PostgreSQL with
 *          CREATEDB CREATEROLE but not superuser (like doadmin / RDS master).
 *   requirePrimaryKey (MariaDB): innodb_force_primary_key=ON, as DBaaS providers enforce primary keys.
 *   requireTls (default true): TCP logins must use TLS (require_secure_transport / hostssl-only pg_hba).
 *   certDays: validity of the server certificate (default 30).
 *
 * DbServer:
 *   engine, host ("127.0.0.1"), port, socket (MariaDB socket file / PostgreSQL socket dir), dir, pid, tls
 *   rootSql(sql, db?): run SQL as the local superuser over the socket (root via unix_socket / postgres
 *                      via peer), returns tab-separated rows; SQL goes on stdin
 *   stop(): graceful shutdown and removal of the temp dir; kill(): SIGKILL (fault tests), no cleanup
 */
import { ChildProcess, spawn } from "child_process";
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "fs";
import * as path from "path";
import { alive, freePort, removeDir, run, runOk, sleep, tempDir, waitFor } from "./proc";
import { makeTls, TlsFiles } from "./tls";

export type ServerEngine = "mariadb" | "postgres";

export interface AdminSpec {
  readonly user: string;
  readonly password: string;
  readonly dbaas?: boolean;
}

export interface ServerOptions {
  readonly admin: AdminSpec;
  readonly requirePrimaryKey?: boolean;
  readonly requireTls?: boolean;
  readonly certDays?: number;
  /** Extra server settings: MariaDB `--name=value` flags, PostgreSQL `-c name=value`. */
  readonly extraSettings?: Readonly<Record<string, string>>;
}

export interface DbServer {
  readonly engine: ServerEngine;
  readonly host: string;
  readonly port: number;
  readonly socket: string;
  readonly dir: string;
  readonly tls: TlsFiles;
  readonly admin: AdminSpec;
  pid(): number;
  rootSql(sql: string, db?: string): Promise<string>;
  stop(): Promise<void>;
  kill(): void;
}

const PG_BIN = "/usr/lib/postgresql/15/bin";

/** A MariaDB/MySQL string literal (backslash escapes on, as the servers run). */
export function sqlString(s: string): string {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}

/** A PostgreSQL string literal (standard_conforming_strings on). */
export function pgString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || !alive(pid) || child.exitCode !== null) return;
  child.kill(signal);
  const deadline = Date.now() + 20_000;
  while (alive(pid) && child.exitCode === null && Date.now() < deadline) await sleep(50);
  if (alive(pid) && child.exitCode === null) child.kill("SIGKILL");
}

export async function startMariaDb(opts: ServerOptions): Promise<DbServer> {
  const dir = tempDir("dbtier-mariadb-");
  const data = path.join(dir, "data");
  const socket = path.join(dir, "mysqld.sock");
  const port = await freePort();
  const tls = await makeTls(path.join(dir, "tls"), { days: opts.certDays ?? 30 });
  await runOk("mariadb-install-db", ["--no-defaults", `--datadir=${data}`, "--user=root", "--auth-root-authentication-method=socket",
    "--skip-test-db", "--skip-name-resolve"], { cwd: dir });
  const args = [
    "--no-defaults", `--datadir=${data}`, `--socket=${socket}`, `--port=${port}`, "--bind-address=127.0.0.1", "--user=root",
    `--pid-file=${path.join(dir, "mysqld.pid")}`, "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=64M",
    "--innodb-log-file-size=32M", "--innodb-flush-log-at-trx-commit=2", "--max-allowed-packet=64M", "--max-connections=50",
    `--ssl-cert=${tls.serverCert}`, `--ssl-key=${tls.serverKey}`, `--ssl-ca=${tls.caCert}`,
    `--require-secure-transport=${opts.requireTls === false ? "OFF" : "ON"}`,
    `--innodb-force-primary-key=${opts.requirePrimaryKey ? "ON" : "OFF"}`,
    `--log-error=${path.join(dir, "error.log")}`,
    ...Object.entries(opts.extraSettings ?? {}).map(([k, v]) => `--${k}=${v}`),
  ];
  const child = spawn("mariadbd", args, { stdio: "ignore", cwd: dir });
  const rootSql = async (sql: string, db?: string): Promise<string> =>
    runOk("mariadb", ["--no-defaults", `--socket=${socket}`, "-uroot", "--default-character-set=utf8mb4", "--batch", "--skip-column-names", ...(db ? [db] : [])], { input: sql });
  await waitFor(async () => (await run("mariadb", ["--no-defaults", `--socket=${socket}`, "-uroot", "-e", "SELECT 1"])).code === 0, {
    what: "mariadbd to accept connections", timeoutMs: 60_000,
  });
  const { user, password, dbaas } = opts.admin;
  const privileges = dbaas
    ? "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD, PROCESS, REFERENCES, INDEX, ALTER, SHOW DATABASES, " +
      "CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, REPLICATION SLAVE, REPLICATION CLIENT, CREATE VIEW, SHOW VIEW, " +
      "CREATE ROUTINE, ALTER ROUTINE, CREATE USER, EVENT, TRIGGER"
    : "ALL PRIVILEGES";
  await rootSql(
    `CREATE USER ${sqlString(user)}@'127.0.0.1' IDENTIFIED BY ${sqlString(password)};\n` +
      `CREATE USER ${sqlString(user)}@'localhost' IDENTIFIED BY ${sqlString(password)};\n` +
      `GRANT ${privileges} ON *.* TO ${sqlString(user)}@'127.0.0.1' WITH GRANT OPTION;\n` +
      `GRANT ${privileges} ON *.* TO ${sqlString(user)}@'localhost' WITH GRANT OPTION;\n`,
  );
  const server: DbServer = {
    engine: "mariadb", host: "127.0.0.1", port, socket, dir, tls, admin: opts.admin,
    pid: () => child.pid ?? -1,
    rootSql,
    stop: async () => {
      await stopChild(child, "SIGTERM");
      removeDir(dir);
    },
    kill: () => {
      child.kill("SIGKILL");
    },
  };
  return server;
}

export async function startPostgres(opts: ServerOptions): Promise<DbServer> {
  const dir = tempDir("dbtier-postgres-");
  await runOk("chown", ["postgres:postgres", dir]);
  chmodSync(dir, 0o700);
  const data = path.join(dir, "data");
  const socketDir = path.join(dir, "sock");
  mkdirSync(socketDir);
  await runOk("chown", ["postgres:postgres", socketDir]);
  const port = await freePort();
  const tls = await makeTls(path.join(dir, "tls"), { days: opts.certDays ?? 30, owner: "postgres" });
  await runOk("chown", ["-R", "postgres:postgres", path.join(dir, "tls")]);
  await runOk("runuser", ["-u", "postgres", "--", `${PG_BIN}/initdb`, "-D", data, "-U", "postgres", "--auth-local=peer",
    "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], { cwd: dir });
  const requireTls = opts.requireTls !== false;
  writeFileSync(
    path.join(data, "pg_hba.conf"),
    "local all all peer\n" +
      (requireTls
        ? "hostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 0.0.0.0/0 reject\n"
        : "host all all 127.0.0.1/32 scram-sha-256\n"),
  );
  appendFileSync(path.join(data, "postgresql.conf"), "\n# dbtier test server\n");
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1", port: String(port), unix_socket_directories: socketDir, ssl: "on",
    ssl_cert_file: tls.serverCert, ssl_key_file: tls.serverKey, fsync: "off", synchronous_commit: "off",
    full_page_writes: "off", shared_buffers: "32MB", max_connections: "50", password_encryption: "scram-sha-256",
    logging_collector: "off", ...(opts.extraSettings ?? {}),
  };
  const args = ["-u", "postgres", "--", `${PG_BIN}/postgres`, "-D", data, ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`])];
  const child = spawn("runuser", args, { stdio: ["ignore", "ignore", "pipe"], cwd: dir });
  let log = "";
  child.stderr?.on("data", (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
  });
  const rootSql = async (sql: string, db?: string): Promise<string> =>
    runOk("runuser", ["-u", "postgres", "--", "psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-h", socketDir,
      "-p", String(port), "-d", db ?? "postgres"], { input: sql });
  await waitFor(async () => (await run("runuser", ["-u", "postgres", "--", "psql", "-X", "-h", socketDir, "-p", String(port), "-d", "postgres", "-c", "SELECT 1"])).code === 0, {
    what: `postgres to accept connections (${log})`, timeoutMs: 60_000,
  });
  const { user, password, dbaas } = opts.admin;
  await rootSql(
    `CREATE ROLE "${user}" LOGIN ${dbaas ? "CREATEDB CREATEROLE" : "SUPERUSER"} PASSWORD ${pgString(password)};\n`,
  );
  // The postgres server process: runuser's child.
  const serverPid = (): number => {
    const pidFile = path.join(data, "postmaster.pid");
    if (!existsSync(pidFile)) return -1;
    return Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  };
  return {
    engine: "postgres", host: "127.0.0.1", port, socket: socketDir, dir, tls, admin: opts.admin,
    pid: serverPid,
    rootSql,
    stop: async () => {
      const pid = serverPid();
      if (pid > 0 && alive(pid)) {
        process.kill(pid, "SIGINT");
        const deadline = Date.now() + 20_000;
        while (alive(pid) && Date.now() < deadline) await sleep(50);
        if (alive(pid)) process.kill(pid, "SIGKILL");
      }
      await stopChild(child, "SIGTERM");
      removeDir(dir);
    },
    kill: () => {
      const pid = serverPid();
      if (pid > 0 && alive(pid)) process.kill(pid, "SIGKILL");
    },
  };
}

export function startServer(engine: ServerEngine, opts: ServerOptions): Promise<DbServer> {
  return engine === "mariadb" ? startMariaDb(opts) : startPostgres(opts);
}
