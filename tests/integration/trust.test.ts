// The tamper matrix: someone who can write to the bucket (every host holds its keys) alters, forges,
// replays or moves backups. Each case is refused before anything reaches the database: exit 1, the reason
// named, the live data's fingerprint unchanged, no safety backup written, and the forged SQL never seen by
// the server (its statement log).
import { execFileSync } from "child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as path from "path";
import { tableChecksums } from "../support/dataset";
import { removeDir, tempDir } from "../support/proc";
import { makeHost, makeSigningKey, signingKeyOf, TestHost } from "../support/toolkit";
import { completeIds, ENGINES, expectOk, makeRig, Rig, runWatched, s3Put, stored } from "./fixture";

jest.setTimeout(180_000);

const MARKER = "dbtier_forged_marker";

/** Copies every object of one backup directory to another key prefix (what an attacker with bucket write does). */
async function copyBackup(rig: Rig, from: string, to: string): Promise<void> {
  for (const key of rig.s3.keys(`${from}/`)) await s3Put(rig, `${to}/${key.slice(from.length + 1)}`, stored(rig, key));
}

function flipStoredByte(rig: Rig, key: string, at: (size: number) => number): void {
  const file = rig.s3.objectFile(key);
  const b = readFileSync(file);
  b[at(b.length)] ^= 0x01;
  writeFileSync(file, b);
}

/** A new id later than every existing one. */
function laterId(): string {
  const t = new Date(Date.now() + 3600_000).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${t}-${Math.random().toString(16).slice(2, 8).padEnd(6, "0")}`;
}

/** The forged backup: SQL of the attacker's, compressed and encrypted to the stack's public recipient, with a
 * manifest and a "passing" verification record that look like ours, signed with the attacker's own key. */
async function forge(rig: Rig, engine: string, id: string): Promise<void> {
  const sql = engine === "mariadb"
    ? `CREATE TABLE ${MARKER} (id INT PRIMARY KEY); INSERT INTO ${MARKER} VALUES (1);\n`
    : `CREATE TABLE ${MARKER} (id int PRIMARY KEY); INSERT INTO ${MARKER} VALUES (1);\n`;
  const encrypted = execFileSync("age", ["-r", rig.key.recipient], { input: execFileSync("zstd", ["-q", "-c"], { input: sql }) });
  const prefix = `shop/daily/${id}`;
  const report = await s3Put(rig, `${prefix}/dump.sql.zst.age`, encrypted);
  const genuine = JSON.parse(stored(rig, rig.s3.keys("shop/daily/").find((k) => k.endsWith("/manifest.json"))!).toString());
  const manifest = { ...genuine, backupId: id, object: { key: "dump.sql.zst.age", ...report }, source: {} };
  const attacker = makeSigningKey();
  const dir = tempDir("dbtier-forge-");
  try {
    writeFileSync(path.join(dir, "key"), attacker.privateKey, { mode: 0o600 });
    const manifestText = JSON.stringify(manifest);
    writeFileSync(path.join(dir, "manifest.json"), manifestText);
    execFileSync("ssh-keygen", ["-Y", "sign", "-q", "-f", path.join(dir, "key"), "-n", "dbtier-backup", path.join(dir, "manifest.json")]);
    await s3Put(rig, `${prefix}/manifest.json.sig`, readFileSync(path.join(dir, "manifest.json.sig")));
    await s3Put(rig, `${prefix}/manifest.json`, Buffer.from(manifestText));
    const sha = require("crypto").createHash("sha256").update(manifestText).digest("hex");
    const record = JSON.stringify({ format: 1, app: "shop", period: "daily", backupId: id, manifestSha256: sha, result: "ok", verifiedBy: "shop", tables: {} });
    writeFileSync(path.join(dir, "verification.json"), record);
    execFileSync("ssh-keygen", ["-Y", "sign", "-q", "-f", path.join(dir, "key"), "-n", "dbtier-backup", path.join(dir, "verification.json")]);
    await s3Put(rig, `${prefix}/verification.json.sig`, readFileSync(path.join(dir, "verification.json.sig")));
    await s3Put(rig, `${prefix}/verification.json`, Buffer.from(record));
  } finally {
    removeDir(dir);
  }
}

/** Every statement the server ran since the log was last cut (MariaDB general log, PostgreSQL log_statement). */
function statementLog(rig: Rig, engine: string): string {
  if (engine === "mariadb") return readFileSync(path.join(rig.server.dir, "data", "general.log"), "utf8");
  const dir = path.join(rig.server.dir, "data", "log");
  return existsSync(dir) ? readdirSync(dir).map((f) => readFileSync(path.join(dir, f), "utf8")).join("") : "";
}

describe.each(ENGINES)("%s: tampered backups are refused before anything runs", (engine) => {
  let rig: Rig;
  let genuine: string[] = [];
  let live: Record<string, string>;
  const logSettings: Record<string, string> = engine === "mariadb"
    ? { "general-log": "1", "general-log-file": "general.log" }
    : { logging_collector: "on", log_directory: "log", log_statement: "all", log_filename: "statements.log" };

  beforeAll(async () => {
    rig = await makeRig(engine, { server: { extraSettings: logSettings } });
    expectOk(await runWatched(rig, ["backup", "daily"]));
    expectOk(await runWatched(rig, ["backup", "daily"]));
    genuine = completeIds(rig, "daily");
    for (const id of genuine) expectOk(await runWatched(rig, ["verify", id], { identityFile: rig.key.identityFile }));
    live = await tableChecksums(rig.server, "app");
    // The statement log works: the test restores above are in it.
    expect(statementLog(rig, engine)).toMatch(engine === "mariadb" ? /INSERT INTO/ : /COPY /);
  });
  afterAll(async () => rig?.cleanup());

  /** Runs a command that must be refused, and checks that nothing changed anywhere. */
  async function refused(args: string[], reason: RegExp): Promise<string> {
    const keys = rig.s3.keys();
    const logBefore = statementLog(rig, engine).length;
    const r = await runWatched(rig, args, { identityFile: rig.key.identityFile });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(reason);
    expect(r.stderr).not.toMatch(/loading into side database|restoring into scratch|safety backup/);
    expect(rig.s3.keys()).toEqual(keys);
    expect(await tableChecksums(rig.server, "app")).toEqual(live);
    const ran = statementLog(rig, engine).slice(logBefore);
    expect(ran).not.toContain(MARKER);
    expect(ran).not.toMatch(/CREATE DATABASE|INSERT INTO/i);
    return r.stderr;
  }

  test("a flipped byte in the manifest, or in its signature", async () => {
    const id = genuine[1];
    for (const name of ["manifest.json", "manifest.json.sig"]) {
      const key = `shop/daily/${id}/${name}`;
      flipStoredByte(rig, key, (n) => Math.floor(n / 2));
      try {
        await refused(["restore", id, "--yes"], /backup daily\/\S+ refused: its manifest is not signed by the key pinned for shop/);
        await refused(["restore", "latest", "--yes", "--unverified"], /refused: its manifest is not signed by the key pinned for shop/);
      } finally {
        flipStoredByte(rig, key, (n) => Math.floor(n / 2));
      }
    }
  });

  test("list shows checked states: verified, REFUSED for an altered manifest, an untrusted record", async () => {
    const [first, second] = genuine;
    const listed = async (): Promise<string> => {
      const r = await runWatched(rig, ["list", "daily"]);
      expectOk(r);
      expect(r.stdout).toMatch(/^period\tbackup-id\tstored-bytes\tstate$/m);
      return r.stdout;
    };
    expect(await listed()).toMatch(new RegExp(`^daily\t${second}\t\\d+\tverified \\(test restore passed\\)$`, "m"));
    const manifestKey = `shop/daily/${second}/manifest.json`;
    flipStoredByte(rig, manifestKey, (n) => Math.floor(n / 2));
    try {
      expect(await listed()).toMatch(new RegExp(`^daily\t${second}\t\\d+\tREFUSED: .*not signed by the key pinned for shop`, "m"));
    } finally {
      flipStoredByte(rig, manifestKey, (n) => Math.floor(n / 2));
    }
    const recordKey = `shop/daily/${first}/verification.json`;
    flipStoredByte(rig, recordKey, (n) => n - 3);
    try {
      const out = await listed();
      expect(out).toMatch(new RegExp(`^daily\t${first}\t\\d+\tuntrusted record: `, "m"));
      expect(out).toMatch(new RegExp(`^daily\t${second}\t\\d+\tverified `, "m"));
    } finally {
      flipStoredByte(rig, recordKey, (n) => n - 3);
    }
  });

  test("a flipped byte in the verification record: not believed, so the backup counts as unverified", async () => {
    const id = genuine[1];
    const key = `shop/daily/${id}/verification.json`;
    flipStoredByte(rig, key, (n) => n - 3);
    try {
      await refused(["restore", id, "--yes"], /has no passing test restore on record \(untrusted: /);
    } finally {
      flipStoredByte(rig, key, (n) => n - 3);
    }
  });

  test("a flipped byte in the first part of the object: refused by the downloader before age sees it", async () => {
    const id = genuine[1];
    const key = `shop/daily/${id}/dump.sql.zst.age`;
    flipStoredByte(rig, key, () => 200);
    try {
      // restore: taken only with --unverified (its record names the intact object), then refused at the part.
      const keys = rig.s3.keys();
      const logBefore = statementLog(rig, engine).length;
      const r = await runWatched(rig, ["restore", id, "--yes", "--unverified"], { identityFile: rig.key.identityFile });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/FAILED, app untouched: reading daily\/\S+: download failed \(exit 1\): .*part 1 .*refused before it was passed on/);
      expect(rig.s3.keys()).toEqual(keys);
      expect(await tableChecksums(rig.server, "app")).toEqual(live);
      expect(statementLog(rig, engine).slice(logBefore)).not.toMatch(/INSERT INTO/i);
    } finally {
      flipStoredByte(rig, key, () => 200);
    }
  });

  test("a forged backup encrypted to the recipient, with a manifest and a passing record signed by another key", async () => {
    const id = laterId();
    await forge(rig, engine, id);
    try {
      await refused(["restore", "latest", "--yes"], new RegExp(`backup daily/${id} refused: its manifest is not signed by the key pinned for shop`));
      await refused(["restore", id, "--yes", "--unverified"], /refused: its manifest is not signed/);
      await refused(["verify", id], /refused: its manifest is not signed/);
      // load-app-db of a fresh database from the period: refused as well, and nothing created.
      rig.host.writeEnv({ APP_DB_SOURCE: "daily", DB_NAME: "app_loaded" });
      try {
        await refused(["load-app-db"], /refused: its manifest is not signed/);
      } finally {
        rig.host.writeEnv({});
      }
    } finally {
      for (const k of rig.s3.keys(`shop/daily/${id}/`)) rmSync(rig.s3.objectFile(k), { force: true });
      rmSync(path.dirname(rig.s3.objectFile(`shop/daily/${id}/x`)), { recursive: true, force: true });
    }
  });

  test("an older backup replayed under a newer id", async () => {
    const id = laterId();
    await copyBackup(rig, `shop/daily/${genuine[0]}`, `shop/daily/${id}`);
    try {
      await refused(["restore", "latest", "--yes"], new RegExp(`it describes daily/${genuine[0]}, not daily/${id} \\(a replay\\)`));
    } finally {
      rmSync(path.dirname(rig.s3.objectFile(`shop/daily/${id}/x`)), { recursive: true, force: true });
    }
  });

  test("a backup of another stack copied under this stack's prefix (its own key, or even this stack's key)", async () => {
    for (const signingKey of [signingKeyOf("other-stack"), signingKeyOf("shop")]) {
      const other: TestHost = await makeHost({ server: rig.server, s3: rig.s3, recipient: rig.key.recipient, appName: "other-stack", signingKey, env: { DB_NAME: "app" } });
      try {
        expectOk(await other.run(["backup", "daily"]));
        const otherId = rig.s3.keys("other-stack/daily/").find((k) => k.endsWith("/manifest.json"))!.split("/")[2];
        // Placed under a later id of the same name in this stack's prefix.
        await copyBackup(rig, `other-stack/daily/${otherId}`, `shop/daily/${otherId}`);
        try {
          const reason = signingKey === signingKeyOf("shop")
            ? /it is a backup of other-stack, not of shop/
            : /refused: its manifest is not signed by the key pinned for shop/;
          await refused(["restore", "latest", "--yes", "--unverified"], reason);
        } finally {
          rmSync(path.dirname(rig.s3.objectFile(`shop/daily/${otherId}/x`)), { recursive: true, force: true });
        }
      } finally {
        rmSync(path.join(rig.s3.dir, rig.s3.bucket, "other-stack"), { recursive: true, force: true });
        other.remove();
      }
    }
  });

  test("the newest backup deleted (or the listing replayed): 'latest' is refused, a named id still restores", async () => {
    const newest = genuine[1];
    const dir = path.dirname(rig.s3.objectFile(`shop/daily/${newest}/x`));
    const saved = tempDir("dbtier-saved-");
    try {
      execFileSync("cp", ["-a", dir, saved]);
      rmSync(dir, { recursive: true, force: true });
      await refused(["restore", "latest", "--yes"], new RegExp(`the newest backup this host wrote, daily/${newest}, is missing from the datastore`));
      // Naming an authentic, verified backup is still possible.
      const r = await runWatched(rig, ["restore", genuine[0], "--yes"], { identityFile: rig.key.identityFile });
      expectOk(r);
      expect(r.stderr).toMatch(new RegExp(`restore daily/${genuine[0]} OK`));
      expect(await tableChecksums(rig.server, "app")).toEqual(live);
    } finally {
      execFileSync("cp", ["-a", path.join(saved, path.basename(dir)), path.dirname(dir)]);
      removeDir(saved);
    }
  });

  test("the genuine backups still restore afterwards (the checks refuse only what is wrong)", async () => {
    const r = await runWatched(rig, ["restore", "latest", "--yes"], { identityFile: rig.key.identityFile });
    expectOk(r);
    expect(r.stderr).toMatch(new RegExp(`restore daily/${genuine[1]} OK: signature, parts, decryption`));
    expect(await tableChecksums(rig.server, "app")).toEqual(live);
  });
});
