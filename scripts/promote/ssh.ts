// SSH behind RemotePort: OpenSSH's client, accepting only the host key the stack pinned, running
// scripts/promote/remote.sh as `bash -c` on the host. Key material travels on stdin, never in argv.
import { spawn } from "child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { shellQuote } from "../../components/hostDelivery";
import { RemotePort, RemoteResult, SshTarget } from "./ports";

export const REMOTE_SCRIPT = path.join(__dirname, "remote.sh");

export interface SshOptions {
  /** Private key file for the admin user; ssh's defaults (agent, ~/.ssh) when absent. */
  readonly keyFile?: string;
  readonly port?: number;
  /** Seconds to wait for a connection. */
  readonly connectTimeout?: number;
  readonly sshBinary?: string;
  /** Do not pass the remote side's stderr through to ours (tests). */
  readonly quiet?: boolean;
}

/** The known_hosts line: the target's address and the pinned key (without its comment). */
export function knownHostsLine(target: SshTarget, port = 22): string {
  const [type, key] = target.hostPublicKey.trim().split(/\s+/);
  const host = port === 22 ? target.host : `[${target.host}]:${port}`;
  return `${host} ${type} ${key}\n`;
}

/** The remote command line: the script as one quoted word, then its arguments. */
export function remoteCommand(script: string, args: readonly string[]): string {
  return ["bash", "-c", shellQuote(script), "dbtier-promote", ...args.map(shellQuote)].join(" ");
}

export function sshArgs(target: SshTarget, knownHostsFile: string, options: SshOptions, command: string): string[] {
  return [
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${knownHostsFile}`,
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", "HostKeyAlgorithms=ssh-ed25519",
    "-o", "UpdateHostKeys=no",
    "-o", `ConnectTimeout=${options.connectTimeout ?? 20}`,
    "-o", "ServerAliveInterval=30",
    "-o", "LogLevel=ERROR",
    ...(options.keyFile ? ["-o", "IdentitiesOnly=yes", "-i", options.keyFile] : []),
    "-p", String(options.port ?? 22),
    "-l", target.user,
    target.host,
    "--",
    command,
  ];
}

export function sshRemote(options: SshOptions = {}): RemotePort {
  const script = readFileSync(REMOTE_SCRIPT, "utf8");
  return {
    run(target: SshTarget, args: readonly string[], stdin?: string): Promise<RemoteResult> {
      const dir = mkdtempSync(path.join(tmpdir(), "dbtier-promote-"));
      const knownHosts = path.join(dir, "known_hosts");
      writeFileSync(knownHosts, knownHostsLine(target, options.port), { mode: 0o600 });
      return new Promise<RemoteResult>((resolve) => {
        const child = spawn(options.sshBinary ?? "ssh", sshArgs(target, knownHosts, options, remoteCommand(script, args)), { stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => {
          stderr += d.toString();
          if (!options.quiet) process.stderr.write(d);
        });
        const finish = (code: number) => {
          rmSync(dir, { recursive: true, force: true });
          resolve({ code, stdout, stderr });
        };
        child.on("error", (err) => {
          stderr += `${err.message}\n`;
          finish(255);
        });
        child.on("close", (code) => finish(code ?? 255));
        child.stdin.on("error", () => undefined); // the remote side may close stdin early; the exit status tells
        child.stdin.end(stdin ?? "");
      });
    },
  };
}
