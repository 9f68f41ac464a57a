// The terminal and local files behind TerminalPort and FilesPort.
import { existsSync, readFileSync, statSync } from "fs";
import * as path from "path";
import { createInterface } from "readline";
import { FilesPort, TerminalPort } from "./ports";

export function processTerminal(): TerminalPort {
  return {
    interactive: Boolean(process.stdin.isTTY && process.stdout.isTTY),
    async confirm(question: string): Promise<boolean> {
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      try {
        const answer = await new Promise<string>((resolve) => rl.question(`${question} Type "yes" to go on: `, resolve));
        return answer.trim().toLowerCase() === "yes";
      } finally {
        rl.close();
      }
    },
    info: (line) => process.stdout.write(`${line}\n`),
    error: (line) => process.stderr.write(`${line}\n`),
  };
}

export function localFiles(projectDir: string): FilesPort {
  return {
    readIdentity(file: string): string {
      if (!existsSync(file)) throw new Error(`age identity file ${file} does not exist`);
      // Like ssh with private keys: a key others can read is refused.
      if ((statSync(file).mode & 0o077) !== 0) throw new Error(`age identity file ${file} is readable by others; chmod 600 it`);
      return readFileSync(file, "utf8");
    },
    hasPolicyPack: () => existsSync(path.join(projectDir, "policy", "PulumiPolicy.yaml")),
  };
}
