/**
 * Runs the on-host toolkit (scripts/host/dbtier-db) the way a host would, but against test servers.
 *
 *   makeAgeKey(dir): Promise<AgeKey>        age-keygen: { identityFile, recipient }
 *   makeHost(opts): Promise<TestHost>       env file + 0600 secret files + state dir in a temp dir
 *     opts: server (DbServer), s3 (S3Server), dbName, appUser, appPassword, recipient, env (extra/override
 *           KEY=value lines; a value of null removes the key), secrets (extra secret files)
 *   TestHost.run(args, { env, identityFile, onSpawn, timeoutMs }): Promise<RunResult>
 *     runs `bash dbtier-db ...args` with DBTIER_ENV / DBTIER_SECRETS_DIR pointing at the host's files,
 *     short retry delays, and the age identity (if given) in DBTIER_AGE_IDENTITY_FILE.
 *   TestHost.secretValues(): every secret string the host holds (for argv/log leak checks)
 *   TestHost.remove()
 *
 *   watchArgv(secrets): ArgvWatcher   samples /proc/<pid>/cmdline of every process every few ms while a
 *     run is in flight; stop() returns the offending command lines and how many samples were taken.
 */
import { execFileSync } from "child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "fs";
import * as path from "path";
import { removeDir, run, RunOptions, RunResult, runOk, tempDir } from "./proc";
import type { S3Server } from "./s3";
import type { DbServer } from "./servers";

export const TOOL = path.resolve(__dirname, "..", "..", "scripts", "host", "dbtier-db");

export interface AgeKey {
  readonly identityFile: string;
  readonly recipient: string;
}

export async function makeAgeKey(dir: string): Promise<AgeKey> {
  mkdirSync(dir, { recursive: true });
  const identityFile = path.join(dir, `age-${Math.random().toString(16).slice(2)}.key`);
  await runOk("age-keygen", ["-o", identityFile]);
  const recipient = (await runOk("age-keygen", ["-y", identityFile])).trim();
  return { identityFile, recipient };
}

/** A stack's backup signing key pair (what Pulumi generates per stack): OpenSSH ed25519. */
export interface SigningKey {
  readonly privateKey: string;
  readonly publicKey: string;
}

export function makeSigningKey(): SigningKey {
  const dir = tempDir("dbtier-signing-");
  try {
    const file = path.join(dir, "key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", file]);
    return { privateKey: readFileSync(file, "utf8"), publicKey: readFileSync(`${file}.pub`, "utf8").trim() };
  } finally {
    removeDir(dir);
  }
}

// One key per application prefix in a test process, as one stack has one key: two hosts of a stack (the
// old and the new database VM) sign and check with the same pair, and a loader pins its source's.
const stackKeys = new Map<string, SigningKey>();
export function signingKeyOf(app: string): SigningKey {
  let key = stackKeys.get(app);
  if (!key) {
    key = makeSigningKey();
    stackKeys.set(app, key);
  }
  return key;
}

export interface HostOptions {
  readonly server: DbServer;
  readonly s3: S3Server;
  readonly recipient: string;
  readonly dbName?: string;
  readonly appUser?: string;
  readonly appPassword?: string;
  readonly appName?: string;
  readonly role?: "database" | "proxy";
  readonly env?: Readonly<Record<string, string | null>>;
  readonly secrets?: Readonly<Record<string, string>>;
  /** Default: signingKeyOf(appName). */
  readonly signingKey?: SigningKey;
}

export interface HostRunOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly identityFile?: string;
  readonly onSpawn?: (pid: number) => void;
  readonly timeoutMs?: number;
}

export interface TestHost {
  readonly dir: string;
  readonly envFile: string;
  readonly secretsDir: string;
  readonly stateDir: string;
  readonly envValues: Readonly<Record<string, string>>;
  run(args: readonly string[], opts?: HostRunOptions): Promise<RunResult>;
  writeEnv(overrides: Readonly<Record<string, string | null>>): void;
  secretValues(): string[];
  remove(): void;
}

export async function makeHost(opts: HostOptions): Promise<TestHost> {
  const dir = tempDir("dbtier-host-");
  const secretsDir = path.join(dir, "secrets");
  const stateDir = path.join(dir, "state");
  mkdirSync(secretsDir, { mode: 0o700 });
  mkdirSync(stateDir);
  const engine = opts.server.engine;
  const appName = opts.appName ?? "shop";
  const signingKey = opts.signingKey ?? signingKeyOf(appName);
  const base: Record<string, string> = {
    DB_ROLE: opts.role ?? "proxy",
    DB_ENGINE: engine,
    DB_ENGINE_VERSION: engine === "mariadb" ? "10.11" : "15",
    DB_PACKAGE_SOURCE: "distro",
    DB_HOST: opts.server.host,
    DB_PORT: String(opts.server.port),
    DB_NAME: opts.dbName ?? "app",
    DB_USER: opts.appUser ?? "appuser",
    DB_ADMIN_USER: opts.server.admin.user,
    DB_TLS_MODE: "verify-ca",
    DB_CA_FILE: opts.server.tls.caCert,
    DB_WEBSERVER_SOURCES: "127.0.0.1/32",
    APP_DB_SOURCE: "virgin",
    APP_NAME: appName,
    BACKUP_SIGNING_PUBLIC_KEY: signingKey.publicKey,
    BACKUP_PERIODS: "hourly daily weekly monthly",
    BACKUP_RETAIN_HOURLY: "2",
    BACKUP_RETAIN_DAILY: "7",
    BACKUP_RETAIN_WEEKLY: "4",
    BACKUP_RETAIN_MONTHLY: "12",
    BACKUP_RECIPIENT: opts.recipient,
    DATASTORE_ENDPOINT: opts.s3.endpoint,
    DATASTORE_BUCKET: opts.s3.bucket,
    DATASTORE_REGION: "us-east-1",
    DBTIER_STATE_DIR: stateDir,
  };
  const envFile = path.join(dir, "dbtier.env");
  let envValues: Record<string, string> = {};
  const writeEnv = (overrides: Readonly<Record<string, string | null>>): void => {
    const merged: Record<string, string | null> = { ...base, ...(opts.env ?? {}), ...overrides };
    const sourceApp = merged.APP_DB_SOURCE_APP;
    if (sourceApp && !("APP_DB_SOURCE_SIGNING_PUBLIC_KEY" in merged)) {
      merged.APP_DB_SOURCE_SIGNING_PUBLIC_KEY = signingKeyOf(sourceApp).publicKey;
    }
    envValues = Object.fromEntries(Object.entries(merged).filter((e): e is [string, string] => e[1] !== null));
    writeFileSync(envFile, "# test host\n" + Object.entries(envValues).map(([k, v]) => `${k}=${v}`).join("\n") + "\n");
  };
  writeEnv({});
  const secrets: Record<string, string> = {
    "db-admin-password": opts.server.admin.password,
    "db-app-password": opts.appPassword ?? "app-Pa55:w\\rd'\"#x",
    "datastore-access-key-id": opts.s3.accessKeyId,
    "datastore-secret-access-key": opts.s3.secretAccessKey,
    "backup-signing-key": signingKey.privateKey,
    ...(opts.secrets ?? {}),
  };
  for (const [name, value] of Object.entries(secrets)) {
    const file = path.join(secretsDir, name);
    writeFileSync(file, value, { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  const host: TestHost = {
    dir, envFile, secretsDir, stateDir,
    get envValues() {
      return envValues;
    },
    writeEnv,
    run: (args, runOpts = {}) => {
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        LANG: "C.UTF-8",
        DBTIER_ENV: envFile,
        DBTIER_SECRETS_DIR: secretsDir,
        DBTIER_CONNECT_ATTEMPTS: "3",
        DBTIER_CONNECT_DELAY: "1",
        DBTIER_LOCK_WAIT: "120",
        DBTIER_S3_LOW_LEVEL_RETRIES: "1",
        ...(runOpts.identityFile ? { DBTIER_AGE_IDENTITY_FILE: runOpts.identityFile } : {}),
        ...(runOpts.env ?? {}),
      };
      const o: RunOptions = { env, onSpawn: runOpts.onSpawn, timeoutMs: runOpts.timeoutMs ?? 240_000, detached: true };
      return run("bash", [TOOL, ...args], o);
    },
    secretValues: () => Object.values(secrets).filter((v) => v.length >= 6),
    remove: () => removeDir(dir),
  };
  return host;
}

export interface ArgvWatcher {
  stop(): { hits: string[]; samples: number; processesSeen: number };
}

/** Samples every process's argv while a run is in flight and records any that contains a secret. */
export function watchArgv(secrets: readonly string[]): ArgvWatcher {
  const hits = new Set<string>();
  const seen = new Set<string>();
  let samples = 0;
  let stopped = false;
  const sample = (): void => {
    if (stopped) return;
    samples++;
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      let cmdline: string;
      try {
        cmdline = readFileSync(`/proc/${entry}/cmdline`, "latin1");
      } catch {
        continue;
      }
      if (!cmdline) continue;
      const line = cmdline.split("\0").join(" ");
      seen.add(`${entry}:${line.slice(0, 60)}`);
      for (const s of secrets) if (line.includes(s)) hits.add(line);
    }
    setTimeout(sample, 5);
  };
  sample();
  return {
    stop: () => {
      stopped = true;
      return { hits: [...hits], samples, processesSeen: seen.size };
    },
  };
}

export function readIfExists(file: string): string {
  return existsSync(file) ? readFileSync(file, "utf8") : "";
}

/** Pids of every live descendant of `root` whose argv matches `pattern` (reads /proc/<pid>/stat ppids). */
export function findDescendants(root: number, pattern: RegExp): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "latin1");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parent.set(Number(entry), ppid);
    } catch {
      // gone
    }
  }
  const isDescendant = (pid: number): boolean => {
    for (let p = parent.get(pid), hops = 0; p !== undefined && hops < 64; p = parent.get(p), hops++) if (p === root) return true;
    return false;
  };
  const out: number[] = [];
  for (const pid of parent.keys()) {
    if (!isDescendant(pid)) continue;
    try {
      if (pattern.test(readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").join(" "))) out.push(pid);
    } catch {
      // gone
    }
  }
  return out;
}
