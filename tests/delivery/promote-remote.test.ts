// promote's SSH leg for real: OpenSSH's client (scripts/promote/ssh.ts) against a real sshd on loopback
// whose host key is pinned, running the real scripts/promote/remote.sh. Only the toolkit is a stand-in
// (fixtures/fake-dbtier-db: the toolkit's log lines, as lib/backup.sh writes them), so the test sees exactly what travels: the
// arguments, the identity on stdin and nowhere else, the marker lines, and a wrong host key refused.
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import { randomBytes } from "crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { connect } from "net";
import { tmpdir } from "os";
import * as path from "path";
import { ed25519KeyPairFromSeed } from "../../components/sshKeys";
import { SshTarget } from "../../scripts/promote/ports";
import { REMOTE_SCRIPT, knownHostsLine, remoteCommand, sshRemote } from "../../scripts/promote/ssh";
import { freePort } from "../support/proc";
import { BACKUP_ID, IDENTITY } from "./promoteFakes";

jest.setTimeout(30_000);

let dir: string;
let sshd: ChildProcess | undefined;
let port: number;
let sshdLog = "";
const host = ed25519KeyPairFromSeed(randomBytes(32), "test proxy host key");
const admin = ed25519KeyPairFromSeed(randomBytes(32), "test admin");
const user = execFileSync("id", ["-un"], { encoding: "utf8" }).trim();
const file = (name: string) => path.join(dir, name);

const FAKE_TOOL = path.join(__dirname, "fixtures", "fake-dbtier-db");

async function waitForPort(deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => { socket.end(); resolve(true); });
      socket.on("error", () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not listen on ${port}: ${sshdLog}`);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "dbtier-promote-ssh-"));
  chmodSync(dir, 0o700);
  writeFileSync(file("host_key"), host.privateKey, { mode: 0o600 });
  writeFileSync(file("admin_key"), admin.privateKey, { mode: 0o600 });
  writeFileSync(file("authorized_keys"), `${admin.publicKey}\n`, { mode: 0o600 });
  copyFileSync(FAKE_TOOL, file("dbtier-db"));
  chmodSync(file("dbtier-db"), 0o755);
  writeFileSync(file("backup-id"), `${BACKUP_ID}\n`);
  writeFileSync(file("objects"), "0\n");
  writeFileSync(file("loaded-id"), `${BACKUP_ID}\n`);
  port = await freePort();
  writeFileSync(file("sshd_config"), [
    `Port ${port}`, "ListenAddress 127.0.0.1", `HostKey ${file("host_key")}`, `AuthorizedKeysFile ${file("authorized_keys")}`,
    "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
    `PidFile ${file("sshd.pid")}`, `AllowUsers ${user}`, "PermitRootLogin prohibit-password",
    // The host's toolkit path, for this session only: the stand-in instead of /usr/local/bin/dbtier-db.
    `SetEnv DBTIER_PROMOTE_TOOL=${file("dbtier-db")}`, "",
  ].join("\n"));
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  sshd = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", file("sshd_config")], { stdio: ["ignore", "ignore", "pipe"] });
  sshd.stderr?.on("data", (chunk: Buffer) => (sshdLog += chunk.toString()));
  await waitForPort(Date.now() + 5000);
});

afterAll(() => {
  if (sshd?.pid && sshd.exitCode === null) sshd.kill("SIGTERM");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const target = (hostPublicKey = host.publicKey): SshTarget => ({ stack: "prod", role: "proxy", host: "127.0.0.1", user, hostPublicKey, label: "test" });
const remote = () => sshRemote({ keyFile: file("admin_key"), port, connectTimeout: 5, quiet: true });
const calls = (): string[] => (existsSync(file("calls")) ? readFileSync(file("calls"), "utf8").trim().split("\n") : []);

it("the host-side script and the stand-in pass shellcheck", () => {
  const result = spawnSync("shellcheck", ["-S", "style", REMOTE_SCRIPT, FAKE_TOOL], { encoding: "utf8" });
  expect(result.error).toBeUndefined();
  expect(result.stdout).toBe("");
  expect(result.status).toBe(0);
});

it("pins the host key in known_hosts form and quotes the script as one word", () => {
  expect(knownHostsLine(target(), 2222)).toBe(`[127.0.0.1]:2222 ${host.publicKey.split(" ").slice(0, 2).join(" ")}\n`);
  expect(knownHostsLine(target())).toMatch(/^127\.0\.0\.1 ssh-ed25519 /);
  expect(remoteCommand("echo 'hi'", ["backup", "daily"])).toBe(`bash -c 'echo '\\''hi'\\''' dbtier-promote 'backup' 'daily'`);
});

it("backs up over SSH and reports the new backup id", async () => {
  const result = await remote().run(target(), ["backup", "daily"]);
  expect(result.stderr).not.toMatch(/Permission denied|verification failed/);
  expect(result.code).toBe(0);
  expect(result.stdout).toBe(`DBTIER_BACKUP=daily/${BACKUP_ID}\n`);
  expect(calls()).toContain("backup daily");
});

it("hands the identity over on stdin into a private file that is gone after the run", async () => {
  const result = await remote().run(target(), ["verify", BACKUP_ID], IDENTITY);
  expect(result.code).toBe(0);
  expect(result.stdout).toBe(`DBTIER_VERIFIED=${BACKUP_ID}\n`);
  const identityPath = readFileSync(file("identity-path"), "utf8").trim();
  expect(readFileSync(file("identity-mode"), "utf8").trim()).toBe("600");
  expect(existsSync(identityPath)).toBe(false);
  // The key itself was on no command line.
  expect(calls().join("\n")).not.toMatch(/AGE-SECRET-KEY/);
});

it("loads the baseline and refuses to call another backup the baseline", async () => {
  const good = await remote().run(target(), ["load", BACKUP_ID], IDENTITY);
  expect(good.code).toBe(0);
  expect(good.stdout).toBe(`DBTIER_LOADED=daily/${BACKUP_ID}\n`);
  expect(calls()).toContain(`load-app-db --backup-id ${BACKUP_ID} --identity ${readFileSync(file("identity-path"), "utf8").trim()}`);
  writeFileSync(file("loaded-id"), "20250102T040000Z-000000\n");
  const other = await remote().run(target(), ["load", BACKUP_ID, "--force"], IDENTITY);
  writeFileSync(file("loaded-id"), `${BACKUP_ID}\n`);
  expect(other.code).not.toBe(0);
  expect(other.stdout).toBe("DBTIER_LOADED=daily/20250102T040000Z-000000\n");
  expect(other.stderr).toMatch(/loaded daily\/20250102T040000Z-000000, not the expected/);
  expect(calls().some((c) => c.startsWith(`load-app-db --force --backup-id ${BACKUP_ID} --identity `))).toBe(true);
});

it("refuses a load without an identity on stdin", async () => {
  const result = await remote().run(target(), ["load", BACKUP_ID]);
  expect(result.code).not.toBe(0);
  expect(result.stderr).toMatch(/no age identity/);
});

it("probes the application database through the toolkit (_object-count)", async () => {
  writeFileSync(file("objects"), "7\n");
  const before = calls().length;
  const result = await remote().run(target(), ["probe"]);
  expect(result.code).toBe(0);
  expect(result.stdout).toBe("DBTIER_OBJECTS=7\n");
  expect(calls().slice(before)).toEqual(["_object-count"]);
});

it("probes a host still on a toolkit without _object-count through its bash functions", async () => {
  writeFileSync(file("objects"), "5\n");
  writeFileSync(file("old-toolkit"), "");
  try {
    const result = await remote().run(target(), ["probe"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("DBTIER_OBJECTS=5\n");
  } finally {
    rmSync(file("old-toolkit"));
  }
});

it("refuses a host that shows another host key, before anything runs", async () => {
  const before = calls().length;
  const impostor = ed25519KeyPairFromSeed(randomBytes(32), "someone else").publicKey;
  const result = await remote().run(target(impostor), ["backup", "daily"]);
  expect(result.code).toBe(255);
  expect(result.stderr).toMatch(/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/);
  expect(calls().length).toBe(before);
});
