/**
 * Process and port helpers shared by the integration tests, the lab and the benchmark.
 *
 *   freePort(): Promise<number>                a TCP port on 127.0.0.1 that was free a moment ago
 *   run(cmd, args, opts): Promise<RunResult>   spawn, collect stdout/stderr, never rejects on exit code
 *   runOk(cmd, args, opts): Promise<string>    like run but rejects (with stderr) on a non-zero exit
 *   waitFor(check, {timeoutMs, intervalMs, what}) polls an async predicate until true or times out
 *   tempDir(prefix): string                    mkdtemp under os.tmpdir(); remove it with removeDir
 *
 * Everything binds to loopback only, and nothing uses fixed ports (others run tests at the same time).
 */
import { spawn, SpawnOptions } from "child_process";
import { mkdtempSync, rmSync } from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("no port"));
        return;
      }
      const { port } = address;
      server.close(() => resolve(port));
    });
  });
}

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions extends SpawnOptions {
  /** Written to the child's stdin, then closed. */
  readonly input?: string | Buffer;
  /** Kill the child (SIGKILL) after this many ms. */
  readonly timeoutMs?: number;
  /** Called with the pid right after spawn (e.g. to kill it from a fault test). */
  readonly onSpawn?: (pid: number) => void;
}

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const { input, timeoutMs, onSpawn, ...spawnOpts } = opts;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args as string[], { stdio: ["pipe", "pipe", "pipe"], ...spawnOpts });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on("data", (d: Buffer) => out.push(d));
    child.stderr?.on("data", (d: Buffer) => err.push(d));
    child.on("error", reject);
    let timer: NodeJS.Timeout | undefined;
    if (timeoutMs !== undefined) timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    if (child.pid !== undefined && onSpawn) onSpawn(child.pid);
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
    child.stdin?.on("error", () => undefined);
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

export async function runOk(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.code ?? r.signal}: ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

export async function waitFor(
  check: () => Promise<boolean> | boolean,
  { timeoutMs = 30_000, intervalMs = 100, what = "condition" }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
