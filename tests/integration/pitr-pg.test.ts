// Point-in-time recovery on self-managed PostgreSQL (issue 13), against a real PostgreSQL 15 whose
// archive_command is `dbtier-db archive-wal %p %f` and a real S3 server: WAL archiving (S3 outage, retry,
// idempotence, refusal to overwrite), fetch-wal refusing tampered objects before a byte is placed, a base
// backup, a restore to a second after kill -9 (every row before T, none after), a time outside the window
// refused naming the window, verify-base recording a signed result whose fingerprint is the live one, and the
// recovery point measured after kill -9 with the production archive_timeout.
import { execFileSync } from "child_process";
import { appendFileSync, chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "fs";
import * as path from "path";
import { alive, freePort, removeDir, run, runOk, sleep, tempDir, waitFor } from "../support/proc";
import { S3Server, startS3 } from "../support/s3";
import type { DbServer } from "../support/servers";
import { AgeKey, makeAgeKey, makeHost, makeSigningKey, signingKeyOf, TestHost, TOOL } from "../support/toolkit";

jest.setTimeout(900_000);

const PG_BIN = "/usr/lib/postgresql/15/bin";
const APP = "pitrpg";
const ADMIN = { user: "dbtier_admin", password: "Adm1n-s3cret:'\"\\#;x" };
// What init renders (scripts/host/lib/system.sh postgres_archive_config): the recovery point is 60 s.
const ARCHIVE_TIMEOUT = readFileSync(path.resolve(__dirname, "..", "..", "scripts", "host", "lib", "system.sh"), "utf8")
  .match(/^PG_ARCHIVE_TIMEOUT=(\d+)$/m)?.[1];

interface PitrServer {
  readonly dir: string;
  readonly data: string;
  readonly sock: string;
  readonly port: number;
  pid(): number;
  sql(sql: string, db?: string): Promise<string>;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** A PostgreSQL 15 configured as init configures a database VM for PITR, settings in its postgresql.conf (a
 * restore starts the copy with the files the base backup carries). The data directory's parent is the
 * server user's; the toolkit reaches the server over the socket (DB_SOCKET). */
async function startPitrServer(dir: string, port: number, archiveCommand: string): Promise<PitrServer> {
  const data = path.join(dir, "data");
  const sock = path.join(dir, "sock");
  mkdirSync(sock);
  await runOk("chown", ["-R", "postgres:postgres", dir]);
  await runOk("runuser", ["-u", "postgres", "--", `${PG_BIN}/initdb`, "-D", data, "-U", "postgres", "--auth-local=peer",
    "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], { cwd: dir });
  writeFileSync(path.join(data, "pg_hba.conf"),
    "local all postgres peer\nlocal replication postgres peer\nlocal all all scram-sha-256\n");
  appendFileSync(path.join(data, "postgresql.conf"), [
    "", "# dbtier pitr test server",
    "listen_addresses = ''", `port = ${port}`, `unix_socket_directories = '${sock}'`,
    "fsync = off", "shared_buffers = 32MB", "max_connections = 30", "password_encryption = 'scram-sha-256'",
    "wal_level = replica", "archive_mode = on", `archive_command = '${archiveCommand.replace(/'/g, "''")}'`,
    `archive_timeout = ${ARCHIVE_TIMEOUT}`, "synchronous_commit = on", "",
  ].join("\n"));
  const logFile = path.join(dir, "server.log");
  await runOk("runuser", ["-u", "postgres", "--", `${PG_BIN}/pg_ctl`, "-D", data, "-l", logFile, "-w", "start"], { cwd: dir });
  const pid = (): number => {
    const f = path.join(data, "postmaster.pid");
    return existsSync(f) ? Number(readFileSync(f, "utf8").split("\n")[0]) : -1;
  };
  const sql = (q: string, db = "postgres"): Promise<string> =>
    runOk("runuser", ["-u", "postgres", "--", "psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
      "-h", sock, "-p", String(port), "-d", db], { input: q, cwd: dir });
  const waitGone = async (p: number): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while (p > 0 && alive(p) && Date.now() < deadline) await sleep(50);
  };
  return {
    dir, data, sock, port, pid, sql,
    kill: async () => {
      const p = pid();
      if (p > 0 && alive(p)) process.kill(p, "SIGKILL");
      await waitGone(p);
      // the backends notice their postmaster died and exit; the port and shared memory are then free
      await waitFor(async () => (await run("pgrep", ["-u", "postgres", "-f", `-D ${data}`])).code !== 0 ||
        (await run("runuser", ["-u", "postgres", "--", "psql", "-X", "-h", sock, "-p", String(port), "-c", "SELECT 1"])).code !== 0,
      { what: "the killed server's processes to exit", timeoutMs: 30_000 });
      await sleep(1000);
    },
    stop: async () => {
      const p = pid();
      if (p > 0 && alive(p)) {
        process.kill(p, "SIGINT");
        await waitGone(p);
        if (alive(p)) process.kill(p, "SIGKILL");
      }
    },
  };
}

let s3: S3Server;
let key: AgeKey;
let keyDir: string;
let host: TestHost;
let pg: PitrServer;
let serverDir: string;

/** dbtier-db as the host runs it (root), optionally with another env file. */
const tool = (args: string[], env: Record<string, string> = {}): ReturnType<TestHost["run"]> =>
  host.run(args, { identityFile: key.identityFile, env, timeoutMs: 600_000 });

const wal = (name: string, obj = ""): string => `${APP}/wal/${name}/${obj}`;
const epoch = (d: Date): number => Math.floor(d.getTime() / 1000);
const fmt = (s: number): string => new Date(s * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");

async function archivedUpTo(name: string): Promise<void> {
  await waitFor(async () => s3.has(wal(name, "manifest.json")), {
    what: `WAL ${name} archived`, timeoutMs: 120_000,
  });
}

/** Switches to a new segment and waits until the one just closed is in the archive. */
async function switchAndArchive(): Promise<string> {
  const closed = (await pg.sql("SELECT pg_walfile_name(pg_switch_wal());")).trim();
  await archivedUpTo(closed);
  return closed;
}

beforeAll(async () => {
  expect(ARCHIVE_TIMEOUT).toBeDefined();
  keyDir = tempDir("dbtier-pitr-keys-");
  key = await makeAgeKey(keyDir);
  s3 = await startS3();
  serverDir = tempDir("dbtier-pitr-pg-");
  const port = await freePort();
  const server = { engine: "postgres", host: "127.0.0.1", port, admin: ADMIN, tls: { caCert: "" } } as unknown as DbServer;
  host = await makeHost({
    server, s3, recipient: key.recipient, appName: APP, role: "database",
    env: { DB_SOCKET: path.join(serverDir, "sock"), DB_DATA_DIR: path.join(serverDir, "data"), DB_TLS_MODE: "require",
      DB_CA_FILE: null, PITR_WINDOW_DAYS: "7" },
  });
  // The server runs its archive_command as its own user: it reads the host's env and secret files (on a VM
  // init's sudo rule runs the toolkit as root instead; either way the server calls what archive_command says).
  await runOk("chown", ["-R", "postgres:postgres", host.dir]);
  const archiveCommand = `DBTIER_ENV=${host.envFile} DBTIER_SECRETS_DIR=${host.secretsDir} bash ${TOOL} archive-wal "%p" "%f"`;
  pg = await startPitrServer(serverDir, port, archiveCommand);
  await pg.sql(`CREATE ROLE ${ADMIN.user} LOGIN CREATEDB CREATEROLE PASSWORD '${ADMIN.password.replace(/'/g, "''")}';
GRANT pg_monitor TO ${ADMIN.user};
CREATE DATABASE app;`);
  await pg.sql("CREATE TABLE marks (id bigserial PRIMARY KEY, phase text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());", "app");
});

afterAll(async () => {
  await pg?.stop().catch(() => undefined);
  await s3?.stop().catch(() => undefined);
  host?.remove();
  if (serverDir) removeDir(serverDir);
  if (keyDir) removeDir(keyDir);
});

test("init renders WAL archiving whose archive_command the toolkit recognizes, and a sudo rule visudo accepts", async () => {
  const root = tempDir("dbtier-pitr-root-");
  try {
    const r = await run("bash", ["--norc", "-c", `source ${TOOL}; CFG[DB_ENGINE_VERSION]=15; postgres_archive_config && postgres_archive_sudoers`],
      { env: { PATH: process.env.PATH, DBTIER_ROOT: root, DBTIER_ENV: host.envFile, DBTIER_SECRETS_DIR: host.secretsDir } });
    expect(r.stderr).toContain("wrote /etc/sudoers.d/dbtier-pitr");
    expect(r.code).toBe(0);
    const conf = readFileSync(path.join(root, "etc/postgresql/15/main/conf.d/61-dbtier-pitr.conf"), "utf8");
    expect(conf).toMatch(/^wal_level = replica$/m);
    expect(conf).toMatch(/^archive_mode = on$/m);
    expect(conf).toMatch(new RegExp(`^archive_timeout = ${ARCHIVE_TIMEOUT}$`, "m"));
    expect(Number(ARCHIVE_TIMEOUT)).toBeLessThanOrEqual(60);
    const command = conf.match(/^archive_command = '(.*)'$/m)?.[1] ?? "";
    const tool = path.resolve(TOOL);
    expect(command).toBe(`sudo -n ${tool} archive-wal "%p" "%f"`);
    // what basebackup records and restore builds its restore_command from
    const prefix = await runOk("python3", ["-c", "import sys; sys.path.insert(0, sys.argv[1]); from dbtier.pitr import pg; print(pg.tool_prefix(sys.argv[2]))",
      path.join(path.dirname(TOOL), "lib"), command]);
    expect(prefix.trim()).toBe(`sudo -n ${tool}`);
    const sudoers = path.join(root, "etc/sudoers.d/dbtier-pitr");
    expect(readFileSync(sudoers, "utf8")).toContain(`postgres ALL=(root) NOPASSWD: ${tool} archive-wal *, ${tool} fetch-wal *`);
    await runOk("visudo", ["-c", "-q", "-f", sudoers]);
  } finally {
    removeDir(root);
  }
});

/** The first 40 bytes of a WAL segment (XLogLongPageHeaderData, PostgreSQL 15's magic) with this system identifier. */
function walLongHeader(systemIdentifier: bigint): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt16LE(0xd110, 0); // xlp_magic
  h.writeUInt16LE(0x0002, 2); // xlp_info: XLP_LONG_HEADER
  h.writeUInt32LE(1, 4); // xlp_tli
  h.writeBigUInt64LE(systemIdentifier, 24); // xlp_sysid
  h.writeUInt32LE(16 << 20, 32); // xlp_seg_size
  h.writeUInt32LE(8192, 36); // xlp_xlog_blcksz
  return h;
}

describe("archive-wal and fetch-wal", () => {
  // A data directory of its own (PG_VERSION, pg_wal): the server's archiver never sees these names.
  // Its own application prefix too: these objects are no part of the server's archive.
  let fake: string;
  let fakeEnv: string;
  const NAME = "000000010000000000000001";
  const FAKE_APP = `${APP}-fake`;
  const wal = (name: string, obj = ""): string => `${FAKE_APP}/wal/${name}/${obj}`;
  beforeAll(() => {
    fake = tempDir("dbtier-pitr-fakedata-");
    mkdirSync(path.join(fake, "pg_wal"));
    writeFileSync(path.join(fake, "PG_VERSION"), "15\n");
    fakeEnv = path.join(fake, "fake.env");
    writeFileSync(fakeEnv, readFileSync(host.envFile, "utf8").replace(/^APP_NAME=.*$/m, `APP_NAME=${FAKE_APP}`));
  });
  afterAll(() => removeDir(fake));
  // as the server runs its restore_command: in its data directory (fetch-wal as root writes nowhere else)
  const inFake = (args: string[]) => run("bash", [TOOL, ...args], {
    cwd: fake, timeoutMs: 120_000,
    env: { PATH: process.env.PATH, DBTIER_ENV: fakeEnv, DBTIER_SECRETS_DIR: host.secretsDir, DBTIER_AGE_IDENTITY_FILE: key.identityFile },
  });

  test("an S3 outage fails the archive_command (PostgreSQL retries); the retry stores it; again is a no-op; other content is refused", async () => {
    const seg = Buffer.concat([walLongHeader(7n), Buffer.from("dbtier wal test "), Buffer.alloc(1 << 20, 7)]);
    writeFileSync(path.join(fake, "pg_wal", NAME), seg);
    // the same env with a datastore nobody listens on
    const down = path.join(fake, "down.env");
    const deadPort = await freePort();
    writeFileSync(down, readFileSync(fakeEnv, "utf8").replace(/^DATASTORE_ENDPOINT=.*$/m, `DATASTORE_ENDPOINT=http://127.0.0.1:${deadPort}`));
    const args = ["archive-wal", `pg_wal/${NAME}`, NAME];
    const failed = await run("bash", [TOOL, ...args], {
      cwd: fake, env: { PATH: process.env.PATH, DBTIER_ENV: down, DBTIER_SECRETS_DIR: host.secretsDir, DBTIER_S3_LOW_LEVEL_RETRIES: "1", S3_ATTEMPTS: "1" },
      timeoutMs: 120_000,
    });
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toMatch(/archive-wal/);
    expect(existsSync(s3.objectFile(wal(NAME, "manifest.json")))).toBe(false);
    const env = { PATH: process.env.PATH, DBTIER_ENV: fakeEnv, DBTIER_SECRETS_DIR: host.secretsDir };
    const ok = await run("bash", [TOOL, ...args], { cwd: fake, env, timeoutMs: 120_000 });
    expect(ok.stderr).toMatch(/archived/);
    expect(ok.code).toBe(0);
    const manifest = readFileSync(s3.objectFile(wal(NAME, "manifest.json")));
    const again = await run("bash", [TOOL, ...args], { cwd: fake, env, timeoutMs: 120_000 });
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/already archived with the same content/);
    writeFileSync(path.join(fake, "pg_wal", NAME), Buffer.concat([seg.subarray(0, 100), Buffer.from("x"), seg.subarray(101)]));
    const other = await run("bash", [TOOL, ...args], { cwd: fake, env, timeoutMs: 120_000 });
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/already archived with different content.*not overwritten/);
    expect(readFileSync(s3.objectFile(wal(NAME, "manifest.json")))).toEqual(manifest);
    // a path outside the server's pg_wal is never archived (the toolkit may run as root through sudo)
    const outside = await run("bash", [TOOL, "archive-wal", host.envFile, NAME], { cwd: fake, env, timeoutMs: 60_000 });
    expect(outside.code).not.toBe(0);

    // fetch-wal: the bytes come back; a name never archived is "not found" (1), distinct from an error
    const dest = path.join(fake, "pg_wal", "RECOVERYXLOG");
    const fetched = await inFake(["fetch-wal", NAME, dest]);
    expect(fetched.code).toBe(0);
    expect(readFileSync(dest)).toEqual(seg);
    const missing = await inFake(["fetch-wal", "000000010000000000000009", path.join(fake, "pg_wal", "X")]);
    expect(missing.code).toBe(1);
    expect(existsSync(path.join(fake, "pg_wal", "X"))).toBe(false);
  });

  test("fetch-wal refuses a flipped byte and a forged signature before anything is placed (exit 126: the recovery stops)", async () => {
    const dest = path.join(fake, "pg_wal", "TAMPERED");
    const objFile = s3.objectFile(wal(NAME, "wal.zst.age"));
    const original = readFileSync(objFile);
    const flipped = Buffer.from(original);
    flipped[Math.floor(flipped.length / 2)] ^= 0x01;
    writeFileSync(objFile, flipped);
    const r1 = await inFake(["fetch-wal", NAME, dest]);
    expect(r1.code).toBe(126);
    expect(r1.stderr).toMatch(/sha256/);
    expect(existsSync(dest)).toBe(false);
    expect(readdirSync(path.join(fake, "pg_wal")).filter((f) => f.includes("dbtier"))).toEqual([]);
    writeFileSync(objFile, original);

    // a manifest that says what the attacker wants, signed with a key that is not the stack's
    const mFile = s3.objectFile(wal(NAME, "manifest.json"));
    const sFile = s3.objectFile(wal(NAME, "manifest.json.sig"));
    const [m0, s0] = [readFileSync(mFile), readFileSync(sFile)];
    const forgedKey = makeSigningKey();
    const kd = tempDir("dbtier-forge-");
    try {
      writeFileSync(path.join(kd, "k"), forgedKey.privateKey, { mode: 0o600 });
      chmodSync(path.join(kd, "k"), 0o600);
      const forged = Buffer.from(m0.toString().replace(/"host": "[^"]*"/, `"host": "elsewhere"`));
      writeFileSync(mFile, forged);
      writeFileSync(sFile, execFileSync("ssh-keygen", ["-Y", "sign", "-q", "-f", path.join(kd, "k"), "-n", "dbtier-backup"], { input: forged }));
    } finally {
      removeDir(kd);
    }
    const r2 = await inFake(["fetch-wal", NAME, dest]);
    expect(r2.code).toBe(126);
    expect(r2.stderr).toMatch(/not signed by the key pinned for/);
    expect(existsSync(dest)).toBe(false);
    writeFileSync(mFile, m0);
    writeFileSync(sFile, s0);
    expect(signingKeyOf(APP).publicKey).toBe(host.envValues.BACKUP_SIGNING_PUBLIC_KEY);
  });

  test("fetch-wal as root never follows a link the server's user planted (the temporary name or the destination): the target stays untouched, the file is owned like pg_wal", async () => {
    expect(process.getuid?.()).toBe(0);
    const dir = tempDir("dbtier-place-");
    const wal = path.join(dir, "pg_wal");
    mkdirSync(wal);
    const victim = path.join(dir, "victim");
    writeFileSync(victim, "root's file\n", { mode: 0o644 });
    // pg_wal belongs to the server's user (here: nobody), as on a real server
    chownSync(wal, 65534, 65534);
    // The placing step as fetch-wal runs it, with the attacker's moves made between its steps: a link planted
    // at the temporary name once it is known, and the destination itself a link to root's file.
    const script = `
import io, os, sys
sys.path.insert(0, sys.argv[1])
from dbtier.pitr.common import _Target
wal, victim = sys.argv[2], sys.argv[3]
t = _Target(os.path.join(wal, "RECOVERYXLOG"))
os.symlink(victim, os.path.join(wal, t.tmp))
try:
    t.write(io.BytesIO(b"planted"))
    print("followed")
except FileExistsError:
    print("refused")
os.unlink(os.path.join(wal, t.tmp))
t.close()
os.symlink(victim, os.path.join(wal, "RECOVERYXLOG"))
t = _Target(os.path.join(wal, "RECOVERYXLOG"))
t.write(io.BytesIO(b"segment bytes"))
t.place()
t.close()
print("placed")
`;
    try {
      const r = await run("/usr/bin/python3", ["-I", "-c", script, path.join(path.dirname(TOOL), "lib"), wal, victim], { timeoutMs: 30_000 });
      expect(r.stderr).toBe("");
      expect(r.stdout.trim().split("\n")).toEqual(["refused", "placed"]);
      expect(readFileSync(victim, "utf8")).toBe("root's file\n");
      expect(statSync(victim).uid).toBe(0);
      const placed = lstatSync(path.join(wal, "RECOVERYXLOG"));
      expect(placed.isSymbolicLink()).toBe(false);
      expect(placed.uid).toBe(65534);
      expect(readFileSync(path.join(wal, "RECOVERYXLOG"), "utf8")).toBe("segment bytes");
      expect(readdirSync(wal)).toEqual(["RECOVERYXLOG"]);
    } finally {
      removeDir(dir);
    }
  });
});

describe("base backup, restore to a second after kill -9, verify-base", () => {
  let T = 0;
  let before = 0;

  test("basebackup stores a signed base; rows before and after T; kill -9; a time outside the window is refused naming it; restore --to-time T has every row before T and none after", async () => {
    const bb = await tool(["basebackup"]);
    expect(bb.stderr).toMatch(/basebackup \S+ done/);
    expect(bb.code).toBe(0);
    const bases = s3.keys(`${APP}/base/`).filter((k) => k.endsWith("/manifest.json"));
    expect(bases).toHaveLength(1);
    expect(s3.keys(`${APP}/base/`).some((k) => k.endsWith("/base.tar.zst.age"))).toBe(true);

    for (let i = 0; i < 20; i++) {
      await pg.sql("INSERT INTO marks (phase) VALUES ('before');", "app");
      await sleep(50);
    }
    before = Number((await pg.sql("SELECT count(*) FROM marks WHERE phase = 'before';", "app")).trim());
    const lastBefore = new Date((await pg.sql("SELECT max(at) FROM marks;", "app")).trim().replace(" ", "T").replace(/\+00$/, "Z"));
    T = epoch(lastBefore) + 1;
    while (Date.now() < (T + 1) * 1000 + 200) await sleep(100);
    for (let i = 0; i < 10; i++) await pg.sql("INSERT INTO marks (phase) VALUES ('after');", "app");
    await switchAndArchive();
    // more writes the archive never sees
    for (let i = 0; i < 5; i++) await pg.sql("INSERT INTO marks (phase) VALUES ('after-unarchived');", "app");
    await pg.kill();

    const win = await tool(["pitr-window"]);
    expect(win.code).toBe(0);
    const m = win.stdout.trim().match(/^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ) \.\. (\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ)$/m);
    expect(m).not.toBeNull();
    const [from, to] = [Date.parse(m![1].replace(" ", "T")) / 1000, Date.parse(m![2].replace(" ", "T")) / 1000];
    expect(from).toBeLessThanOrEqual(T);
    expect(to).toBeGreaterThanOrEqual(T);

    const outside = await tool(["restore", "--to-time", fmt(to + 3600), "--yes"]);
    expect(outside.code).toBe(2);
    expect(outside.stderr).toContain(`outside the recoverable window ${m![1]} .. ${m![2]}`);
    const tooEarly = await tool(["restore", "--to-time", fmt(from - 3600), "--yes"]);
    expect(tooEarly.code).toBe(2);
    expect(existsSync(path.join(pg.data, "PG_VERSION"))).toBe(true);

    const r = await tool(["restore", "--to-time", fmt(T), "--yes"]);
    expect(r.stderr).toMatch(/restore to .*: OK/);
    expect(r.code).toBe(0);
    const counts = (await pg.sql("SELECT phase, count(*) FROM marks GROUP BY phase ORDER BY phase;", "app")).trim();
    expect(counts).toBe(`before\t${before}`);
    expect(readdirSync(serverDir).filter((f) => f.includes("dbtier-aside"))).toEqual([]);
    // the restored server archives again (a new timeline)
    await switchAndArchive();
  });

  test("verify-base latest restores into a scratch instance, replays the archive and records a signed result with the live fingerprint", async () => {
    expect(T).toBeGreaterThan(0);
    await pg.sql("INSERT INTO marks (phase) VALUES ('after-restore');", "app");
    await switchAndArchive();
    const r = await tool(["verify-base", "latest"]);
    expect(r.stderr).toMatch(/verify-base \S+: OK \(recorded\)/);
    expect(r.code).toBe(0);
    const recKey = s3.keys(`${APP}/base/`).find((k) => k.endsWith("/verification.json"));
    expect(recKey).toBeDefined();
    const record = readFileSync(s3.objectFile(recKey!));
    const sig = readFileSync(s3.objectFile(`${recKey}.sig`));
    const kd = tempDir("dbtier-verify-sig-");
    try {
      writeFileSync(path.join(kd, "allowed"), `${APP} namespaces="dbtier-backup" ${host.envValues.BACKUP_SIGNING_PUBLIC_KEY}\n`);
      writeFileSync(path.join(kd, "sig"), sig);
      execFileSync("ssh-keygen", ["-Y", "verify", "-f", path.join(kd, "allowed"), "-I", APP, "-n", "dbtier-backup", "-s", path.join(kd, "sig")], { input: record });
      const doc = JSON.parse(record.toString());
      expect(doc.result).toBe("ok");
      // the live database's fingerprint, computed by the server the same way
      const out = path.join(kd, "live.json");
      await runOk("chown", ["postgres", kd]);
      await runOk("runuser", ["-u", "postgres", "--", "/usr/bin/python3", path.resolve(__dirname, "..", "..", "scripts", "host", "lib", "fingerprint.py"),
        "fingerprint", "postgres", "app", out], { env: { PATH: process.env.PATH, PGHOST: pg.sock, PGPORT: String(pg.port), PGUSER: "postgres" }, cwd: kd });
      const live = JSON.parse(readFileSync(out, "utf8"));
      expect(doc.fingerprint.tables).toEqual(live.tables);
      const marks = Object.entries(live.tables as Record<string, { rows: number }>).find(([k]) => /marks/.test(k));
      expect(marks?.[1].rows).toBe(before + 1);
      expect(doc.fingerprint.objects).toEqual(live.objects);
    } finally {
      removeDir(kd);
    }
  });

  test("recovery point: after kill -9, everything committed more than 60 s before is restored (--to-latest)", async () => {
    // One row every 250 ms, so little WAL that only archive_timeout closes segments. The kill comes at the
    // worst moment: just before the next timed switch (archive_timeout after the last one), when the
    // unarchived tail is longest.
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await pg.sql("INSERT INTO marks (phase) VALUES ('rpo');", "app");
        await sleep(250);
      }
    })();
    writer.catch(() => undefined); // awaited below; a failure there fails the test
    const walManifests = (): Set<string> => new Set(s3.keys(`${APP}/wal/`).filter((k) => /\/[0-9A-F]{24}\/manifest\.json$/.test(k)));
    const known = walManifests();
    // a segment closed by the timer (not by a manual switch): its arrival marks the timer's phase
    await waitFor(async () => [...walManifests()].some((k) => !known.has(k)), {
      what: "a segment closed by archive_timeout", timeoutMs: (Number(ARCHIVE_TIMEOUT) + 30) * 1000,
    });
    const arrived = Date.now() / 1000;
    const fresh = [...walManifests()].filter((k) => !known.has(k));
    const doc = JSON.parse(readFileSync(s3.objectFile(fresh[0]), "utf8"));
    // from the segment's last commit (the timer closed it within one 250 ms write interval after) to its
    // signed, checked object seen in the datastore
    const archiving = arrived - doc.meta.lastCommit;
    while (Date.now() / 1000 < arrived + Number(ARCHIVE_TIMEOUT) - 3) await sleep(100);
    writing = false;
    await writer;
    const killedAt = Date.now() / 1000;
    await pg.kill();
    const r = await tool(["restore", "--to-latest", "--yes"]);
    expect(r.stderr).toMatch(/restore to .*: OK/);
    expect(r.code).toBe(0);
    const newest = Number((await pg.sql("SELECT extract(epoch FROM max(at)) FROM marks WHERE phase = 'rpo';", "app")).trim());
    const lost = killedAt - newest;
    // WAL replays as a prefix: every row older than the newest restored one is there too
    // eslint-disable-next-line no-console
    console.log(`pitr-pg recovery point: the newest restored commit is ${lost.toFixed(1)} s older than the kill -9 ` +
      `(killed ${(killedAt - arrived).toFixed(1)} s after a timed segment arrived; archive_timeout ${ARCHIVE_TIMEOUT} s; ` +
      `archiving a segment took ${archiving.toFixed(1)} s from its last commit)`);
    expect(lost).toBeGreaterThan(Number(ARCHIVE_TIMEOUT) - 15);
    expect(lost).toBeLessThanOrEqual(60);
    expect(Number(ARCHIVE_TIMEOUT) + archiving).toBeLessThan(60);
  });

  /** The base backup's manifest (there is one). */
  const baseManifest = (): { key: string; doc: { name: string; meta: { startWal: string } } } => {
    const k = s3.keys(`${APP}/base/`).find((x) => x.endsWith("/manifest.json"))!;
    return { key: k, doc: JSON.parse(readFileSync(s3.objectFile(k), "utf8")) };
  };
  /** Every archived copy (any timeline) of the segment `ahead` positions after the base's first one. */
  const copiesAfterBase = (ahead: number): string[] => {
    const start = baseManifest().doc.meta.startWal.slice(8);
    const pos = BigInt(`0x${start.slice(0, 8)}`) * 256n + BigInt(`0x${start.slice(8)}`) + BigInt(ahead);
    const want = (pos / 256n).toString(16).toUpperCase().padStart(8, "0") + (pos % 256n).toString(16).toUpperCase().padStart(8, "0");
    return s3.keys(`${APP}/wal/`).filter((k) => k.endsWith("/wal.zst.age") && k.split("/")[2].slice(8) === want);
  };
  const marks = async (): Promise<string> => (await pg.sql("SELECT phase, count(*) FROM marks GROUP BY phase ORDER BY phase;", "app")).trim();

  test("restore --to-backup on the running server gives the base's state; --to-latest then follows that newest timeline, not the longer older one", async () => {
    const id = baseManifest().doc.name;
    expect(pg.pid()).toBeGreaterThan(0);
    const r = await tool(["restore", "--to-backup", id, "--yes"]);
    expect(r.stderr).toMatch(/restore to base backup .*: OK/);
    expect(r.code).toBe(0);
    // the base was taken before the first row
    expect(await marks()).toBe("");
    for (let i = 0; i < 3; i++) await pg.sql("INSERT INTO marks (phase) VALUES ('after-to-backup');", "app");
    await switchAndArchive();
    const latest = await tool(["restore", "--to-latest", "--yes"]);
    expect(latest.stderr).toMatch(/restore to .*: OK/);
    expect(latest.code).toBe(0);
    expect(await marks()).toBe("after-to-backup\t3");
  });

  test("a tampered segment stops the recovery (fetch-wal refuses it): the restore fails and the old data directory is back", async () => {
    // segments on the newest timeline after the base's first one, so the recovery must read them
    for (let i = 0; i < 3; i++) {
      await pg.sql("INSERT INTO marks (phase) VALUES ('more');", "app");
      await switchAndArchive();
    }
    const copies = copiesAfterBase(1);
    expect(copies.length).toBeGreaterThan(0);
    const originals = copies.map((k) => readFileSync(s3.objectFile(k)));
    for (const k of copies) {
      const b = Buffer.from(readFileSync(s3.objectFile(k)));
      b[Math.floor(b.length / 2)] ^= 0x01;
      writeFileSync(s3.objectFile(k), b);
    }
    const marker = path.join(pg.data, "dbtier-test-marker");
    writeFileSync(marker, "the live data directory\n");
    const r = await tool(["restore", "--to-latest", "--yes"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/sha256/);
    expect(r.stderr).toMatch(/the old data directory is back at \S+ \(the server is started on it again;/);
    expect(readFileSync(marker, "utf8")).toBe("the live data directory\n");
    // the server that ran before the attempt answers again, with its data
    expect(await marks()).toBe("after-to-backup\t3\nmore\t3");
    copies.forEach((k, i) => writeFileSync(s3.objectFile(k), originals[i]));
    const again = await tool(["restore", "--to-latest", "--yes"]);
    expect(again.code).toBe(0);
    expect(await marks()).toBe("after-to-backup\t3\nmore\t3");
  });

  test("a segment of another database system (a fresh server not restored from the archive) is not archived: it would read as the history's next segment", async () => {
    const dir = tempDir("dbtier-pitr-other-");
    try {
      mkdirSync(path.join(dir, "pg_wal"));
      writeFileSync(path.join(dir, "PG_VERSION"), "15\n");
      const name = "0000000100000000000000F0";
      writeFileSync(path.join(dir, "pg_wal", name), Buffer.concat([walLongHeader(4242n), Buffer.alloc(1 << 16, 1)]));
      const r = await run("bash", [TOOL, "archive-wal", `pg_wal/${name}`, name], {
        cwd: dir, timeoutMs: 120_000,
        env: { PATH: process.env.PATH, DBTIER_ENV: host.envFile, DBTIER_SECRETS_DIR: host.secretsDir },
      });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/written by database system 4242, but the archive's newest base backup is of system \d+: another history/);
      expect(s3.keys(`${APP}/wal/${name}/`)).toEqual([]);
      // the server's own segments still go (the lineage check is cached per system, not poisoned by a refusal)
      await switchAndArchive();
    } finally {
      removeDir(dir);
    }
  });

  test("health: the archiver keeps up and the archive has no gap; a missing segment is a failing wal-gaps check", async () => {
    await switchAndArchive();
    const ok = await tool(["health"]);
    expect(ok.stdout).toMatch(/^wal-archive\s+ok\s/m);
    expect(ok.stdout).toMatch(/^wal-gaps\s+ok\s+no gap; window \d{4}-/m);
    expect(ok.stdout).toMatch(/^base-backup\s+ok\s+newest base \S+ of this server, consistent at \d{4}-.*, \d+ h \d+ min old$/m);
    const stale = await tool(["health"], { DBTIER_BASE_STALE_AFTER: "0" });
    expect(stale.code).toBe(1);
    expect(stale.stdout).toMatch(/^base-backup\s+fail\s+newest base \S+ of this server, .*\(limit 0 h\)$/m);
    const kd = tempDir("dbtier-pitr-rm-");
    try {
      writeFileSync(path.join(kd, "id"), s3.accessKeyId, { mode: 0o600 });
      writeFileSync(path.join(kd, "secret"), s3.secretAccessKey, { mode: 0o600 });
      for (const k of copiesAfterBase(2)) {
        await runOk("python3", [path.join(path.dirname(TOOL), "lib", "s3stream.py"), "rm", s3.bucket, k.replace(/wal\.zst\.age$/, ""), "--prefix"], {
          env: { PATH: process.env.PATH, S3_ENDPOINT: s3.endpoint, S3_ACCESS_KEY_FILE: path.join(kd, "id"), S3_SECRET_KEY_FILE: path.join(kd, "secret") },
        });
      }
    } finally {
      removeDir(kd);
    }
    const gap = await tool(["health"]);
    expect(gap.code).toBe(1);
    expect(gap.stdout).toMatch(/^wal-gaps\s+fail\s+1 WAL segment\(s\) missing/m);
  });
});
