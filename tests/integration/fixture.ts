// Shared setup for the integration suites: one real server, one s3rver, one age key pair, one host dir.
import { readFileSync, writeFileSync } from "fs";
import * as path from "path";
import { seedDataset } from "../support/dataset";
import { removeDir, RunResult, runOk, tempDir } from "../support/proc";
import { S3Server, startS3 } from "../support/s3";
import { DbServer, ServerEngine, ServerOptions, startServer } from "../support/servers";
import { AgeKey, HostOptions, makeAgeKey, makeHost, TestHost, watchArgv } from "../support/toolkit";

export const ENGINES: ServerEngine[] = ["mariadb", "postgres"];
const S3STREAM = path.resolve(__dirname, "..", "..", "scripts", "host", "lib", "s3stream.py");

export interface Rig {
  readonly server: DbServer;
  readonly s3: S3Server;
  readonly key: AgeKey;
  readonly host: TestHost;
  readonly keyDir: string;
  /** Secrets that must never show up in argv or logs: passwords, S3 keys, the age private key. */
  readonly secrets: string[];
  cleanup(): Promise<void>;
}

export async function makeRig(
  engine: ServerEngine,
  opts: { server?: Partial<ServerOptions>; host?: Partial<HostOptions>; seed?: { rows?: number; largeRowBytes?: number } | false } = {},
): Promise<Rig> {
  const keyDir = tempDir("dbtier-keys-");
  const server = await startServer(engine, {
    admin: { user: "dbtier_admin", password: "Adm1n-s3cret:'\"\\#;x" },
    ...(opts.server ?? {}),
  });
  let s3: S3Server | undefined;
  let host: TestHost | undefined;
  let key: AgeKey;
  try {
    s3 = await startS3();
    key = await makeAgeKey(keyDir);
    host = await makeHost({ server, s3, recipient: key.recipient, ...(opts.host ?? {}) });
    if (opts.seed !== false) await seedDataset(server, "app", opts.seed ?? { rows: 300, largeRowBytes: 512 * 1024 });
  } catch (e) {
    await server.stop().catch(() => undefined);
    await s3?.stop().catch(() => undefined);
    host?.remove();
    removeDir(keyDir);
    throw e;
  }
  const ageSecret = readFileSync(key.identityFile, "utf8").match(/AGE-SECRET-KEY-\S+/)?.[0] ?? "";
  return {
    server, s3, key, host, keyDir,
    secrets: [...host.secretValues().filter((s) => s !== "S3RVER"), ageSecret, server.admin.password],
    cleanup: async () => {
      await server.stop().catch(() => undefined);
      await s3.stop().catch(() => undefined);
      host.remove();
      removeDir(keyDir);
    },
  };
}

/** Runs the tool while sampling every process's argv; fails the test if a secret shows up in argv or output. */
export async function runWatched(rig: Rig, args: string[], opts: Parameters<TestHost["run"]>[1] = {}): Promise<RunResult & { samples: number }> {
  const watcher = watchArgv(rig.secrets);
  const result = await rig.host.run(args, opts);
  const { hits, samples } = watcher.stop();
  expect(hits).toEqual([]);
  for (const s of rig.secrets) {
    expect(result.stdout).not.toContain(s);
    expect(result.stderr).not.toContain(s);
  }
  return { ...result, samples };
}

export function expectOk(r: RunResult): void {
  if (r.code !== 0) throw new Error(`dbtier-db exited ${r.code ?? r.signal}:\n${r.stderr}\n${r.stdout}`);
}

/** Backup ids under app/period that have a manifest, oldest first, read straight from s3rver's files. */
export function completeIds(rig: Rig, period: string): string[] {
  const prefix = `${rig.host.envValues.APP_NAME}/${period}/`;
  return rig.s3
    .keys(prefix)
    .filter((k) => k.endsWith("/manifest.json"))
    .map((k) => k.slice(prefix.length).split("/")[0])
    .sort();
}

export function manifest(rig: Rig, period: string, id: string, name = "manifest.json"): any {
  return JSON.parse(readFileSync(rig.s3.objectFile(`${rig.host.envValues.APP_NAME}/${period}/${id}/${name}`), "utf8"));
}

export function dataObject(rig: Rig, period: string, id: string): string {
  return rig.s3.objectFile(path.posix.join(rig.host.envValues.APP_NAME, period, id, "dump.sql.zst.age"));
}

/** Writes bytes under KEY through the real S3 API (s3stream.py put); returns its upload report. Async: the
 * S3 server runs in this process. */
export async function s3Put(rig: Rig, key: string, data: Buffer): Promise<{ sha256: string; size: number; partSize: number; parts: { size: number; sha256: string }[] }> {
  const dir = tempDir("dbtier-s3put-");
  try {
    writeFileSync(path.join(dir, "id"), rig.s3.accessKeyId, { mode: 0o600 });
    writeFileSync(path.join(dir, "secret"), rig.s3.secretAccessKey, { mode: 0o600 });
    await runOk("python3", [S3STREAM, "put", rig.s3.bucket, key, "--report", path.join(dir, "report.json")], {
      input: data,
      env: { PATH: process.env.PATH, S3_ENDPOINT: rig.s3.endpoint, S3_ACCESS_KEY_FILE: path.join(dir, "id"), S3_SECRET_KEY_FILE: path.join(dir, "secret") },
    });
    return JSON.parse(readFileSync(path.join(dir, "report.json"), "utf8"));
  } finally {
    removeDir(dir);
  }
}

export const stored = (rig: Rig, key: string): Buffer => readFileSync(rig.s3.objectFile(key));
