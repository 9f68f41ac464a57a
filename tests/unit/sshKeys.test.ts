// The derived keys must be what OpenSSH itself reads and serves: checked with real ssh-keygen, sshd and ssh.
import { ChildProcess, execFileSync, spawn } from "child_process";
import { randomBytes } from "crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "fs";
import { createServer } from "net";
import { tmpdir } from "os";
import * as path from "path";
import { ed25519KeyPairFromSeed } from "../../components/sshKeys";

let dir: string;
beforeAll(() => { dir = mkdtempSync(path.join(tmpdir(), "dbtier-sshkeys-")); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeKey(name: string, privateKey: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, privateKey, { mode: 0o600 });
  return file;
}

describe("ssh key derivation", () => {
  it("must produce a private key ssh-keygen reads, whose public half is the line we pin", () => {
    for (let i = 0; i < 5; i++) {
      const pair = ed25519KeyPairFromSeed(randomBytes(32).toString("base64"), `key ${i}`);
      const file = writeKey(`k${i}`, pair.privateKey);
      expect(execFileSync("ssh-keygen", ["-y", "-f", file], { encoding: "utf8" }).trim()).toBe(pair.publicKey);
      const fingerprint = execFileSync("ssh-keygen", ["-l", "-f", file], { encoding: "utf8" }).split(" ")[1];
      expect(fingerprint).toBe(pair.fingerprint);
    }
  });

  it("must be deterministic per seed and differ across seeds", () => {
    const seed = randomBytes(32);
    const a = ed25519KeyPairFromSeed(seed.toString("base64"), "c");
    expect(ed25519KeyPairFromSeed(seed.toString("hex"), "c")).toEqual(a);
    expect(ed25519KeyPairFromSeed(seed, "c")).toEqual(a);
    expect(ed25519KeyPairFromSeed(randomBytes(32), "c").publicKey).not.toBe(a.publicKey);
  });

  it("must refuse a seed that is not 32 bytes and a multi-line comment", () => {
    expect(() => ed25519KeyPairFromSeed(randomBytes(16), "c")).toThrow(/32 bytes/);
    expect(() => ed25519KeyPairFromSeed(randomBytes(32), "a\nb")).toThrow(/single line/);
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

async function waitForPort(port: number, deadlineMs: number): Promise<void> {
  const { connect } = await import("net");
  const until = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => { socket.end(); resolve(true); });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`sshd did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("host key pinning against a real sshd", () => {
  let sshd: ChildProcess | undefined;
  afterEach(() => {
    if (sshd?.pid) sshd.kill("SIGTERM");
    sshd = undefined;
  });

  it("must let a client that pins the derived host key in, and stop one that pins another key", async () => {
    const host = ed25519KeyPairFromSeed(randomBytes(32), "test host key");
    const deployer = ed25519KeyPairFromSeed(randomBytes(32), "test deployer");
    const other = ed25519KeyPairFromSeed(randomBytes(32), "someone else");
    const hostKeyFile = writeKey("host_key", host.privateKey);
    const clientKeyFile = writeKey("client_key", deployer.privateKey);
    const user = execFileSync("id", ["-un"], { encoding: "utf8" }).trim();
    const authorized = path.join(dir, "authorized_keys");
    writeFileSync(authorized, `${deployer.publicKey}\n`, { mode: 0o600 });
    chmodSync(dir, 0o700);
    const port = await freePort();
    const config = path.join(dir, "sshd_config");
    writeFileSync(config, [
      `Port ${port}`, "ListenAddress 127.0.0.1", `HostKey ${hostKeyFile}`, `AuthorizedKeysFile ${authorized}`,
      "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
      `PidFile ${path.join(dir, "sshd.pid")}`, `AllowUsers ${user}`, "PermitRootLogin prohibit-password", "",
    ].join("\n"));
    // sshd refuses to start without its privilege-separation directory (normally made by the ssh service).
    mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    let sshdLog = "";
    sshd = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
    sshd.stderr?.on("data", (chunk: Buffer) => { sshdLog += chunk.toString(); });
    await waitForPort(port, 5000).catch((err: Error) => { throw new Error(`${err.message}: ${sshdLog}`); });

    const knownHosts = (publicKey: string): string => {
      const file = path.join(dir, `known_hosts_${Math.random().toString(36).slice(2)}`);
      writeFileSync(file, `[127.0.0.1]:${port} ${publicKey}\n`);
      return file;
    };
    const ssh = (known: string) => execFileSync("ssh", [
      "-p", String(port), "-i", clientKeyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
      "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${known}`, "-o", "GlobalKnownHostsFile=/dev/null",
      "-o", "HostKeyAlgorithms=ssh-ed25519", `${user}@127.0.0.1`, "echo pinned-ok",
    ], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10000 });

    expect(ssh(knownHosts(host.publicKey)).trim()).toBe("pinned-ok");
    expect(() => ssh(knownHosts(other.publicKey))).toThrow(/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/);
  }, 20000);
});
