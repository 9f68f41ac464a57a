// `npm run promote -- --from dev --to prod [--yes] [--overwrite] [--identity FILE] [--ssh-key FILE]`
// Promotes the source stack's data to the target stack (docs/delivery.md). The logic is in promote/run.ts
// and promote/decisions.ts; this file only wires in the real Automation API, ssh and the terminal.
import * as path from "path";
import { localAutomation } from "./promote/automation";
import { promote } from "./promote/run";
import { sshRemote } from "./promote/ssh";
import { localFiles, processTerminal } from "./promote/terminal";

const projectDir = path.resolve(__dirname, "..");
const argv = process.argv.slice(2);
const keyIndex = argv.findIndex((a) => a === "--ssh-key" || a.startsWith("--ssh-key="));
const keyFile = keyIndex < 0 ? undefined : argv[keyIndex].includes("=") ? argv[keyIndex].split("=").slice(1).join("=") : argv[keyIndex + 1];
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
