// MariaDB point-in-time recovery (issue 13) against a real MariaDB with row binlogs and s3rver: base backup,
// binlog shipping on the timer's 30 s cadence, kill -9, restore to a second into a fresh data directory,
// the recovery point measured; a time outside the window, a tampered binlog, a forged manifest and a gap.
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from "fs";
import * as path from "path";
import { alive, freePort, removeDir, run, runOk, sleep, tempDir } from "../support/proc";
import { S3Server, startS3 } from "../support/s3";
import { DbServer, startMariaDb } from "../support/servers";
import { AgeKey, makeAgeKey, makeHost, TestHost } from "../support/toolkit";

jest.setTimeout(900_000);

const ADMIN = { user: "dbtier_admin", password: "Adm1n-s3cret:'\"\\#;x" };
const BINLOG = { "log-bin": "mysql-bin", "server-id": "1", "binlog-format": "ROW", "sync-binlog": "1", "innodb-flush-log-at-trx-commit": "1" };
const FINGERPRINT = path.resolve(__dirname, "..", "..", "scripts", "host", "lib", "fingerprint.py");

interface Row {
  readonly id: number;
  readonly label: string;
  readonly committedAt: number;
}

/** A host whose server is started and stopped by a control script (DBTIER_DB_CONTROL), as systemd would. */
interface RestoreHost {
  readonly host: TestHost;
  readonly datadir: string;
  readonly socket: string;
  readonly control: string;
  pid(): number;
  sql(q: string): Promise<string>;
  stop(): Promise<void>;
}

async function makeRestoreHost(server: DbServer, s3: S3Server, key: AgeKey): Promise<RestoreHost> {
  const dir = tempDir("dbtier-pitr-target-");
  const datadir = path.join(dir, "data");
  const socket = path.join(dir, "mysqld.sock");
  const port = await freePort();
  const pidFile = path.join(dir, "mysqld.pid");
  const args = ["--no-defaults", `--datadir=${datadir}`, `--socket=${socket}`, `--port=${port}`, "--bind-address=127.0.0.1", "--user=root",
    `--pid-file=${pidFile}`, "--skip-name-resolve", "--innodb-buffer-pool-size=64M", ...Object.entries(BINLOG).map(([k, v]) => `--${k}=${v}`),
    `--ssl-cert=${server.tls.serverCert}`, `--ssl-key=${server.tls.serverKey}`, `--ssl-ca=${server.tls.caCert}`, "--require-secure-transport=ON",
    `--log-error=${path.join(dir, "error.log")}`];
  const control = path.join(dir, "control.sh");
  writeFileSync(control, `#!/bin/bash
set -eu
pid() { [[ -s ${pidFile} ]] && cat ${pidFile}; }
case "$1" in
  start)
    setsid mariadbd ${args.map((a) => `'${a}'`).join(" ")} </dev/null >/dev/null 2>&1 &
    for _ in $(seq 100); do [[ -S ${socket} ]] && exit 0; sleep 0.2; done
    echo "mariadbd did not start" >&2; exit 1 ;;
  stop)
    p="$(pid || true)"
    if [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null; then kill "$p"; while kill -0 "$p" 2>/dev/null; do sleep 0.2; done; fi ;;
esac
`, { mode: 0o700 });
  const host = await makeHost({ server: { ...server, port, socket }, s3, recipient: key.recipient, role: "database", env: { DB_DATA_DIR: datadir } });
  const pid = (): number => (existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").trim()) : -1);
  return {
    host, datadir, socket, control, pid,
    sql: (q) => runOk("mariadb", ["--no-defaults", `--socket=${socket}`, "-uroot", "--batch", "--skip-column-names", "app"], { input: q }),
    stop: async () => {
      await run("bash", [control, "stop"]);
      host.remove();
      removeDir(dir);
    },
  };
}

function expectOk(r: { code: number | null; stdout: string; stderr: string }): void {
  if (r.code !== 0) throw new Error(`dbtier-db exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
}

const fmt = (ms: number): string => new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");

describe("MariaDB point-in-time recovery", () => {
  let server: DbServer;
  let s3: S3Server;
  let key: AgeKey;
  let host: TestHost;
  let keyDir: string;
  const targets: RestoreHost[] = [];
  const rows: Row[] = [];
  let T = 0; // ms, a whole second
  let killedAt = 0;
  let restored: RestoreHost | undefined; // the server restored --to-latest, still running
  const identity = () => ({ identityFile: key.identityFile });

  const insert = async (label: string): Promise<void> => {
    const id = Number((await server.rootSql(`INSERT INTO marks (label) VALUES ('${label}'); SELECT LAST_INSERT_ID();`, "app")).trim());
    rows.push({ id, label, committedAt: Date.now() });
  };
  const binlogKeys = () => s3.keys("shop/binlog/1/").filter((k) => k.endsWith("/manifest.json")).map((k) => k.split("/")[3]);
  const newTarget = async (): Promise<RestoreHost> => {
    const t = await makeRestoreHost(server, s3, key);
    targets.push(t);
    return t;
  };

  beforeAll(async () => {
    keyDir = tempDir("dbtier-keys-");
    server = await startMariaDb({ admin: ADMIN, extraSettings: BINLOG });
    s3 = await startS3();
    key = await makeAgeKey(keyDir);
    host = await makeHost({ server, s3, recipient: key.recipient, role: "database", env: { DB_DATA_DIR: path.join(server.dir, "data") } });
    await server.rootSql("CREATE DATABASE app; CREATE TABLE app.marks (id INT AUTO_INCREMENT PRIMARY KEY, label VARCHAR(20) NOT NULL, " +
      "payload DOUBLE, at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6));");
  });
  afterAll(async () => {
    for (const t of targets) await t.stop().catch(() => undefined);
    if (alive(server?.pid() ?? -1)) await server.stop().catch(() => undefined);
    else removeDir(server.dir);
    await s3?.stop().catch(() => undefined);
    host?.remove();
    removeDir(keyDir);
  });

  test("archive-binlogs ships closed files, basebackup streams and records its binlog position, signed", async () => {
    for (let i = 0; i < 5; i++) await insert("seed");
    expectOk(await host.run(["archive-binlogs"], { env: { DBTIER_BINLOG_FLUSH_AGE: "0" } }));
    const beforeBase = binlogKeys();
    expect(beforeBase).toEqual(["mysql-bin.000001"]);
    const started = Date.now();
    const b = await host.run(["basebackup"]);
    expectOk(b);
    console.log(`basebackup: ${(Date.now() - started) / 1000}s — ${/done in .*/.exec(b.stderr)?.[0]}`);
    expect(b.stderr).toMatch(/consistent at mysql-bin\.\d{6}:\d+/);
    const base = s3.keys("shop/base/").filter((k) => k.endsWith("/manifest.json"));
    expect(base).toHaveLength(1);
    const manifest = JSON.parse(readFileSync(s3.objectFile(base[0]), "utf8"));
    expect(manifest.meta).toMatchObject({ engineFamily: "mysql", serverId: 1, binlogFile: expect.stringMatching(/^mysql-bin\.\d{6}$/) });
    expect(existsSync(s3.objectFile(base[0] + ".sig"))).toBe(true);
    // schema changes after the base are replayed too: a column, a function and a trigger using it
    await server.rootSql("ALTER TABLE marks ADD COLUMN note VARCHAR(16) DEFAULT 'n';\n" +
      "CREATE FUNCTION half(x INT) RETURNS DOUBLE DETERMINISTIC RETURN x / 2;\n" +
      "CREATE TRIGGER marks_payload BEFORE INSERT ON marks FOR EACH ROW SET NEW.payload = half(LENGTH(NEW.label)) + RAND();", "app");
    for (let i = 0; i < 5; i++) await insert("seed");
    expectOk(await host.run(["archive-binlogs"], { env: { DBTIER_BINLOG_FLUSH_AGE: "0" } }));
    // retention after the base: binlogs before its position are of no use and went; the base's own file is shipped
    const shipped = binlogKeys();
    expect(shipped[0]).toBe(manifest.meta.binlogFile);
    expect(shipped.every((f) => f >= manifest.meta.binlogFile)).toBe(true);
    // idempotent: a second run ships nothing new and changes nothing
    const again = await host.run(["archive-binlogs"]);
    expectOk(again);
    expect(again.stderr).toMatch(/0 file\(s\) shipped/);
    expect(binlogKeys()).toEqual(shipped);
    const w = await host.run(["pitr-window"]);
    expectOk(w);
    expect(w.stdout).toMatch(/^window \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \.\. \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/m);
  });

  test("verify-base restores into a scratch instance, replays, and records the content (signed)", async () => {
    expectOk(await host.run(["archive-binlogs"], { env: { DBTIER_BINLOG_FLUSH_AGE: "0" } }));
    const r = await host.run(["verify-base", "latest"], identity());
    expectOk(r);
    const rec = s3.keys("shop/base/").find((k) => k.endsWith("/verification.json")) ?? "";
    expect(existsSync(s3.objectFile(rec + ".sig"))).toBe(true);
    const doc = JSON.parse(readFileSync(s3.objectFile(rec), "utf8"));
    expect(doc.result).toBe("ok");
    expect(doc.tables.marks).toBe(rows.length);
    // the same content as the live server (quiet, everything shipped): the server-computed fingerprint
    const cnf = path.join(host.dir, "root.cnf");
    writeFileSync(cnf, `[client]\nuser=root\nsocket=${server.socket}\n`);
    const out = path.join(host.dir, "live.json");
    await runOk("python3", [FINGERPRINT, "fingerprint", "mysql", "app", out, "--client", "mariadb", "--cnf", cnf]);
    const live = JSON.parse(readFileSync(out, "utf8"));
    expect(doc.fingerprint.tables).toEqual(live.tables);
    expect(doc.fingerprint.objects).toEqual(live.objects);
    expect(Object.keys(live.objects).join(" ")).toMatch(/half.*marks_payload|marks_payload.*half/);
  });

  test("kill -9, then restore --to-time T into a fresh data directory: every row before T, none after; recovery point", async () => {
    // archive-binlogs on the timer's cadence: 30 s after the previous run ended
    let stop = false;
    const shipping = (async () => {
      while (!stop) {
        await host.run(["archive-binlogs"]);
        for (let i = 0; i < 300 && !stop; i++) await sleep(100);
      }
    })();
    const writeFor = async (label: string, ms: number): Promise<void> => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        await insert(label);
        await sleep(200);
      }
    };
    await writeFor("before", 40_000);
    T = (Math.floor(Date.now() / 1000) + 2) * 1000;
    while (Date.now() < T + 50) await sleep(20);
    await writeFor("after", 75_000);
    server.kill();
    killedAt = Date.now();
    stop = true;
    await shipping;

    const target = await newTarget();
    // TZ far from UTC: the binlog tool's --stop-datetime must still be read as UTC
    let started = Date.now();
    const r = await target.host.run(["restore", "--to-time", fmt(T), "--yes"], { ...identity(), env: { DBTIER_DB_CONTROL: `bash ${target.control}`, TZ: "Asia/Kathmandu" } });
    expectOk(r);
    console.log(`restore --to-time: ${((Date.now() - started) / 1000).toFixed(1)} s (${/replayed .*/.exec(r.stderr)?.[0]})`);
    const ids = new Set((await target.sql("SELECT id FROM marks;")).split("\n").filter(Boolean).map(Number));
    const before = rows.filter((x) => x.committedAt < T);
    const after = rows.filter((x) => x.label === "after");
    expect(before.length).toBeGreaterThan(100);
    expect(before.filter((x) => !ids.has(x.id))).toEqual([]);
    expect(after.filter((x) => ids.has(x.id))).toEqual([]);
    const timelineAtT = readFileSync(path.join(target.datadir, "dbtier-timeline"), "utf8").trim();
    // the server restored to T takes a write: its history after T must survive being replaced below
    await target.sql("INSERT INTO marks (label) VALUES ('at-T-history');");

    // the recovery point: the newest archived point after the kill, restored over the running server restored
    // to T (its new history has no base: "latest" is still the crashed server's)
    const latest = target;
    const pidAtT = latest.pid();
    started = Date.now();
    expectOk(await latest.host.run(["restore", "--to-latest", "--yes"], { ...identity(), env: { DBTIER_DB_CONTROL: `bash ${latest.control}` } }));
    console.log(`restore --to-latest: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(alive(pidAtT)).toBe(false);
    expect(readFileSync(path.join(latest.datadir, "dbtier-timeline"), "utf8")).not.toEqual(timelineAtT);
    // the old data directory went once the restored server answered, its binlogs archived first (the history
    // that began at T stays recoverable); no work directory is left
    expect(readdirSync(path.dirname(latest.datadir)).filter((n) => /dbtier-(old|restore)/.test(n))).toEqual([]);
    const atT = binlogKeys().map((f) => JSON.parse(readFileSync(s3.objectFile(`shop/binlog/1/${f}/manifest.json`), "utf8")).meta)
      .filter((m) => m.timeline === timelineAtT);
    expect(atT.length).toBeGreaterThanOrEqual(2);
    expect(atT.some((m) => m.firstTransaction !== null)).toBe(true);
    const got = new Set((await latest.sql("SELECT id FROM marks;")).split("\n").filter(Boolean).map(Number));
    const lost = rows.filter((x) => !got.has(x.id));
    const oldestLost = lost.length ? Math.min(...lost.map((x) => x.committedAt)) : killedAt;
    const newestKept = Math.max(...rows.filter((x) => got.has(x.id)).map((x) => x.committedAt));
    console.log(`recovery point after kill -9: newest recovered row committed ${((killedAt - newestKept) / 1000).toFixed(1)} s before the kill; ` +
      `oldest lost row ${((killedAt - oldestLost) / 1000).toFixed(1)} s before it; ${lost.length} of ${rows.length} rows lost`);
    expect(rows.filter((x) => x.committedAt < killedAt - 60_000 && !got.has(x.id))).toEqual([]);
    restored = latest; // the last test takes its first base (it would change what --to-latest restores here)
  });

  test("restore --to-backup ID: the base alone, as it was when it was taken", async () => {
    const baseId = s3.keys("shop/base/").find((k) => k.endsWith("/manifest.json"))?.split("/")[2] ?? "";
    const target = await newTarget();
    expectOk(await target.host.run(["restore", "--to-backup", baseId, "--yes"], { ...identity(), env: { DBTIER_DB_CONTROL: `bash ${target.control}` } }));
    // the base was taken after the first 5 rows, before the column, function and trigger were added
    expect((await target.sql("SELECT COUNT(*) FROM marks;")).trim()).toBe("5");
    expect((await target.sql("SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = 'app' AND column_name = 'note';")).trim()).toBe("0");
    await run("bash", [target.control, "stop"]);
  });

  test("a time outside the window is refused, naming the window", async () => {
    const target = await newTarget();
    const r = await target.host.run(["restore", "--to-time", "2020-01-01 00:00:00Z", "--yes"], identity());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/2020-01-01 00:00:00Z is outside the recoverable window: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \.\. \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/);
    expect(existsSync(target.datadir)).toBe(false);
  });

  test("a flipped byte in a binlog object, or a forged manifest, is refused before anything is replayed", async () => {
    // a file of the base's own chain (what --to-latest replays)
    const meta = (f: string) => JSON.parse(readFileSync(s3.objectFile(f), "utf8")).meta;
    const baseTimeline = meta(s3.keys("shop/base/").find((k) => k.endsWith("/manifest.json")) ?? "").timeline;
    const names = binlogKeys().filter((f) => meta(`shop/binlog/1/${f}/manifest.json`).timeline === baseTimeline);
    const victim = `shop/binlog/1/${names[Math.floor(names.length / 2)]}`;
    const obj = s3.objectFile(`${victim}/binlog.zst.age`);
    const original = readFileSync(obj);
    const flipped = Buffer.from(original);
    flipped[Math.floor(flipped.length / 2)] ^= 0x01;
    writeFileSync(obj, flipped);
    const target = await newTarget();
    try {
      const r = await target.host.run(["restore", "--to-latest", "--yes"], { ...identity(), env: { DBTIER_DB_CONTROL: `bash ${target.control}` } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/sha256 .* the signed manifest says .*refused before it was passed on/);
      expect(r.stderr).not.toMatch(/downloading|replayed/);
      expect(existsSync(target.datadir)).toBe(false);
    } finally {
      writeFileSync(obj, original);
    }
    // a flipped byte in the base: verify-base refuses it and records the failure (signed)
    const baseKey = s3.keys("shop/base/").find((k) => k.endsWith("/base.xbstream.zst.age")) ?? "";
    const baseOriginal = readFileSync(s3.objectFile(baseKey));
    const baseFlipped = Buffer.from(baseOriginal);
    baseFlipped[100] ^= 0x80;
    writeFileSync(s3.objectFile(baseKey), baseFlipped);
    try {
      const v = await host.run(["verify-base", "latest"], identity());
      expect(v.code).toBe(1);
      expect(v.stderr).toMatch(/part 1 .* refused before it was passed on .*\(recorded\)/);
      const rec = JSON.parse(readFileSync(s3.objectFile(baseKey.replace(/[^/]+$/, "verification.json")), "utf8"));
      expect(rec.result).toBe("failed");
      expect(rec.reason).toMatch(/sha256/);
    } finally {
      writeFileSync(s3.objectFile(baseKey), baseOriginal);
    }
    // a manifest changed after signing (a later end time, say)
    const mf = s3.objectFile(`${victim}/manifest.json`);
    const raw = readFileSync(mf, "utf8");
    writeFileSync(mf, raw.replace(/"lastTime": (\d+)/, (_m, n) => `"lastTime": ${Number(n) + 3600}`));
    try {
      const r = await target.host.run(["restore", "--to-latest", "--yes"], { ...identity(), env: { DBTIER_DB_CONTROL: `bash ${target.control}` } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/refused: its manifest is not signed by the key pinned for shop/);
      expect(r.stderr).not.toMatch(/downloading|replayed/);
      expect(existsSync(target.datadir)).toBe(false);
    } finally {
      writeFileSync(mf, raw);
    }
  });

  test("a fresh server whose binlog numbers fall inside the archive's is another history: not shipped", async () => {
    const fresh = await startMariaDb({ admin: ADMIN, extraSettings: BINLOG });
    const freshHost = await makeHost({ server: fresh, s3, recipient: key.recipient, role: "database", env: { DB_DATA_DIR: path.join(fresh.dir, "data") } });
    try {
      const before = s3.keys("shop/binlog/");
      const r = await freshHost.run(["archive-binlogs"], { env: { DBTIER_BINLOG_FLUSH_AGE: "0" } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/numbered within the archive's \(up to \d+\) and are another history: restore from the archive first/);
      expect(s3.keys("shop/binlog/")).toEqual(before);
      expect(existsSync(path.join(fresh.dir, "data", "dbtier-timeline"))).toBe(false);
    } finally {
      await fresh.stop();
      freshHost.remove();
    }
  });

  test("a missing binlog object is a gap: reported by pitr-window and health, and the window splits", async () => {
    const names = binlogKeys();
    const victim = names[Math.floor(names.length / 2)];
    const dir = path.dirname(s3.objectFile(`shop/binlog/1/${victim}/manifest.json`));
    const aside = tempDir("dbtier-gap-");
    for (const f of readdirSync(dir)) renameSync(path.join(dir, f), path.join(aside, f));
    try {
      const w = await host.run(["pitr-window"]);
      expect(w.code).toBe(1);
      expect(w.stdout).toContain(`gap: 1/${victim} missing from the archive`);
      const h = await host.run(["health"]);
      expect(h.stdout).toMatch(new RegExp(`^binlog-archive\\s+fail\\s+gap in the binlog archive: 1/${victim.replace(/\./g, "\\.")} missing`, "m"));
      // the server was killed: nothing can be shipped
      expect(h.stdout).toMatch(/^binlog-shipping\s+fail\s+.*cannot read the server's binlog state/m);
      expect(h.code).toBe(1);
    } finally {
      for (const f of readdirSync(aside)) renameSync(path.join(aside, f), path.join(dir, f));
      removeDir(aside);
    }
  });

  test("a restored server's new history has no base backup until one is taken: health says so", async () => {
    const latest = restored;
    if (!latest) throw new Error("needs the server restored --to-latest by the kill -9 test");
    // the restored server's new history has no base yet (a chain of binlogs never crosses histories): health
    // says so until one is taken
    const uncovered = await latest.host.run(["health"]);
    expect(uncovered.code).toBe(1);
    expect(uncovered.stdout).toMatch(/^base-backup\s+fail\s+no base backup of the server's current history \(\d{8}T\d{6}Z-[0-9a-f]+\): no point of it can be restored/m);
    expectOk(await latest.host.run(["basebackup"]));
    const covered = await latest.host.run(["health"]);
    expect(covered.stdout).toMatch(/^base-backup\s+ok\s+newest base \S+ of the server's current history .*, 0 h \d+ min old$/m);
    await sleep(2000); // the base is consistent at the second after it ended
    expect((await latest.host.run(["health"], { env: { DBTIER_BASE_STALE_AFTER: "0" } })).stdout).toMatch(/^base-backup\s+fail\s+newest base .*\(limit 0 h\)$/m);
    await run("bash", [latest.control, "stop"]);
  });
});
