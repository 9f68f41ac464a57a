// `npm run promote -- --from dev --to prod [--yes] [--overwrite] [--identity FILE] [--ssh-key FILE]`
// Promotes the source stack's data to the target stack (docs/delivery.md). The logic is in promote/run.ts
// and promote/decisions.ts; this file only wires in the real Automation API, ssh and the terminal.
import * as path from "path";
import { localAutomation } from "./promote/automation";
import { parseArgs } from "./promote/decisions";
import { promote } from "./promote/run";
import { sshRemote } from "./promote/ssh";
import { localFiles, processTerminal } from "./promote/terminal";

const projectDir = path.resolve(__dirname, "..");
const argv = process.argv.slice(2);
// The SSH key is the one option the transport itself needs; run() parses (and reports on) the same argv.
const parsed = parseArgs(argv, process.env);
const keyFile = parsed.ok ? parsed.options.sshKeyFile : undefined;
// eslint-disable-next-line @typescript-eslint/no-var-requires
const sdkVersion: string = require("@pulumi/pulumi/package.json").version;

promote(argv, {
  automation: localAutomation(projectDir),
  remote: sshRemote(keyFile ? { keyFile } : {}),
  terminal: processTerminal(),
  files: localFiles(projectDir),
  env: process.env,
  sdkVersion,
}).then((code) => {
  process.exitCode = code;
});
