// Boots a lab host from a rendered `#cloud-config` the way cloud-init would on a VM, for the parts a host
// in a network namespace can honour. Runs *inside* the lab host (its own /etc, /var, /usr/local overlay),
// as root:  node userdata.js USER_DATA_FILE
//
// Modules, in cloud-init's order: set_hostname, write_files, users-groups, ssh (delete/pin host keys),
// set-passwords (ssh_pwauth), packages (checked present: lab hosts cannot reach a mirror, so
// package_update/upgrade are skipped and said so), runcmd (each argv, no shell; `systemctl` is the lab's
// stand-in). It then writes /run/cloud-init/status.json and result.json as cloud-init does at the end of
// boot, with the errors met, so `cloud-init status --wait` in the remote commands behaves as on a VM.
// Unknown top-level keys are an error: the lab must not silently ignore what the program asks a VM to do.
import { execFileSync, spawnSync } from "child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync, appendFileSync } from "fs";
import * as path from "path";
import * as yaml from "js-yaml";

type Doc = Record<string, unknown>;

const HANDLED = new Set([
  "hostname", "preserve_hostname", "fqdn", "users", "disable_root", "ssh_pwauth", "ssh_deletekeys", "ssh_genkeytypes",
  "ssh_keys", "package_update", "package_upgrade", "packages", "write_files", "runcmd",
]);

const errors: string[] = [];
const log = (line: string): void => {
  process.stdout.write(`userdata: ${line}\n`);
};
const fail = (line: string): void => {
  errors.push(line);
  process.stdout.write(`userdata: ERROR ${line}\n`);
};

function run(argv: readonly string[], opts: { input?: string } = {}): number {
  const result = spawnSync(argv[0], argv.slice(1), { stdio: [opts.input === undefined ? "ignore" : "pipe", "inherit", "inherit"], input: opts.input });
  if (result.error) {
    fail(`${argv.join(" ")}: ${result.error.message}`);
    return 127;
  }
  return result.status ?? 1;
}

function ownerIds(owner: string): { uid: number; gid: number } {
  const [user, group] = owner.split(":");
  const uid = Number(execFileSync("id", ["-u", user]).toString().trim());
  const gid = group ? Number(execFileSync("getent", ["group", group]).toString().split(":")[2]) : Number(execFileSync("id", ["-g", user]).toString().trim());
  return { uid, gid };
}

function writeFile(file: string, content: string | Buffer, mode: number, owner = "root:root", append = false): void {
  mkdirSync(path.dirname(file), { recursive: true });
  if (append) appendFileSync(file, content);
  else writeFileSync(file, content);
  chmodSync(file, mode);
  const { uid, gid } = ownerIds(owner);
  chownSync(file, uid, gid);
}

function decode(content: string, encoding: string | undefined): Buffer {
  switch ((encoding ?? "text/plain").toLowerCase()) {
    case "text/plain":
      return Buffer.from(content, "utf8");
    case "b64":
    case "base64":
      return Buffer.from(content, "base64");
    case "gz":
    case "gzip":
    case "gz+b64":
    case "gz+base64":
    case "gzip+b64":
    case "gzip+base64":
      return require("zlib").gunzipSync(Buffer.from(content, "base64"));
    default:
      throw new Error(`unsupported write_files encoding ${encoding}`);
  }
}

function moduleHostname(doc: Doc): void {
  if (doc.preserve_hostname === true || typeof doc.hostname !== "string") return;
  const name = doc.hostname;
  if (run(["hostname", name]) !== 0) fail(`set_hostname ${name}`);
  writeFileSync("/etc/hostname", `${name}\n`);
  appendFileSync("/etc/hosts", `127.0.1.1\t${name}\n`);
  log(`hostname ${name}`);
}

function moduleWriteFiles(doc: Doc, deferred: boolean): void {
  const files = (doc.write_files ?? []) as Doc[];
  for (const f of files) {
    if (Boolean(f.defer) !== deferred) continue;
    try {
      const file = String(f.path);
      const mode = parseInt(String(f.permissions ?? "0644"), 8);
      writeFile(file, decode(String(f.content ?? ""), f.encoding as string | undefined), mode, String(f.owner ?? "root:root"), f.append === true);
      log(`write_files ${file} ${String(f.permissions ?? "0644")} ${String(f.owner ?? "root:root")}`);
    } catch (e) {
      fail(`write_files ${String(f.path)}: ${(e as Error).message}`);
    }
  }
}

function moduleUsers(doc: Doc): void {
  const users = (doc.users ?? []) as (Doc | string)[];
  const sudoLines: string[] = [];
  for (const u of users) {
    if (u === "default" || typeof u === "string") continue;
    const name = String(u.name);
    if (spawnSync("id", [name]).status !== 0) {
      const argv = ["useradd", "--create-home", "--shell", String(u.shell ?? "/bin/sh")];
      if (u.system === true) argv.push("--system");
      if (run([...argv, name]) !== 0) { fail(`useradd ${name}`); continue; }
    }
    if (u.lock_passwd !== false) run(["passwd", "-l", name]);
    if (typeof u.sudo === "string") sudoLines.push(`${name} ${u.sudo}`);
    const keys = (u.ssh_authorized_keys ?? []) as string[];
    if (keys.length > 0) {
      const home = execFileSync("getent", ["passwd", name]).toString().split(":")[5];
      const dir = path.join(home, ".ssh");
      mkdirSync(dir, { recursive: true });
      const { uid, gid } = ownerIds(name);
      chownSync(dir, uid, gid);
      chmodSync(dir, 0o700);
      writeFile(path.join(dir, "authorized_keys"), `${keys.join("\n")}\n`, 0o600, `${name}:${execFileSync("id", ["-gn", name]).toString().trim()}`);
    }
    log(`user ${name}${typeof u.sudo === "string" ? " (sudo)" : ""}, ${keys.length} authorized key(s)`);
  }
  if (sudoLines.length > 0) {
    const text = `# Created by cloud-init v. lab\n\n${sudoLines.map((l) => `# User rules for ${l.split(" ")[0]}\n${l}\n`).join("\n")}`;
    writeFile("/etc/sudoers.d/90-cloud-init-users", text, 0o440);
    if (run(["visudo", "-c", "-q", "-f", "/etc/sudoers.d/90-cloud-init-users"]) !== 0) fail("sudoers rules do not parse");
  }
}

function moduleSsh(doc: Doc): void {
  if (doc.ssh_deletekeys === true) {
    for (const f of readdirSync("/etc/ssh")) {
      if (/^ssh_host_.*key(\.pub)?$/.test(f)) unlinkSync(path.join("/etc/ssh", f));
    }
    log("ssh host keys deleted");
  }
  const keys = (doc.ssh_keys ?? {}) as Record<string, string>;
  for (const [key, value] of Object.entries(keys)) {
    const m = /^(rsa|ecdsa|ed25519)_(private|public|certificate)$/.exec(key);
    if (!m) { fail(`ssh_keys: unsupported key ${key}`); continue; }
    const file = `/etc/ssh/ssh_host_${m[1]}_key${m[2] === "public" ? ".pub" : m[2] === "certificate" ? "-cert.pub" : ""}`;
    writeFile(file, value.endsWith("\n") ? value : `${value}\n`, m[2] === "private" ? 0o600 : 0o644);
    log(`ssh_keys ${file}`);
  }
  for (const type of (doc.ssh_genkeytypes ?? []) as string[]) {
    const file = `/etc/ssh/ssh_host_${type}_key`;
    if (!existsSync(file)) {
      if (run(["ssh-keygen", "-q", "-t", type, "-N", "", "-f", file]) !== 0) fail(`ssh-keygen ${type}`);
      else log(`ssh_genkeytypes generated ${file}`);
    }
  }
  if (doc.ssh_pwauth === false) {
    // cloud-init's set-passwords edits sshd_config in place.
    const config = readFileSync("/etc/ssh/sshd_config", "utf8");
    const lines = config.split("\n").filter((l) => !/^\s*PasswordAuthentication\s/i.test(l));
    writeFileSync("/etc/ssh/sshd_config", `${lines.join("\n").replace(/\n*$/, "\n")}PasswordAuthentication no\n`);
    log("ssh_pwauth: PasswordAuthentication no");
  }
}

function modulePackages(doc: Doc): void {
  if (doc.package_update === true || doc.package_upgrade === true) log("package_update/upgrade: skipped (no mirror reachable from a lab host)");
  for (const p of (doc.packages ?? []) as (string | string[])[]) {
    const name = Array.isArray(p) ? p[0] : p;
    const status = spawnSync("dpkg-query", ["-W", "-f=${Status}", name]).stdout?.toString() ?? "";
    if (!status.includes("install ok installed")) fail(`package ${name} is not installed on the lab machine (add it to .ci/apt-packages.txt)`);
  }
  log(`packages: ${((doc.packages ?? []) as unknown[]).length} present`);
}

function moduleRuncmd(doc: Doc): void {
  for (const entry of (doc.runcmd ?? []) as (string | string[])[]) {
    const argv = Array.isArray(entry) ? entry.map(String) : ["sh", "-c", entry];
    const rc = run(argv);
    log(`runcmd [${argv.join(" ")}] -> ${rc}`);
    if (rc !== 0) fail(`runcmd ${argv.join(" ")} exited ${rc}`);
  }
}

function writeStatus(): void {
  const now = Date.now() / 1000;
  const stage = { errors: [...errors], start: now, finished: now };
  const datasource = "DataSourceNone [lab]";
  mkdirSync("/run/cloud-init", { recursive: true });
  writeFileSync("/run/cloud-init/status.json", JSON.stringify({ v1: { datasource, stage: null, "init-local": { errors: [], start: now, finished: now }, init: stage, "modules-config": { errors: [], start: now, finished: now }, "modules-final": { errors: [], start: now, finished: now } } }));
  writeFileSync("/run/cloud-init/result.json", JSON.stringify({ v1: { datasource, errors: [...errors] } }));
}

/** `--print-file PATH FILE`: the content a write_files entry gives PATH (for re-rendered configs). */
function printFile(target: string, file: string): void {
  const doc = yaml.load(readFileSync(file, "utf8")) as Doc;
  const entry = ((doc.write_files ?? []) as Doc[]).find((f) => f.path === target);
  if (!entry) throw new Error(`${file} writes no ${target}`);
  process.stdout.write(decode(String(entry.content ?? ""), entry.encoding as string | undefined));
}

/** `--diff-files OLD NEW`: the write_files paths whose content differs (or that appear in one only). */
function diffFiles(oldFile: string, newFile: string): void {
  const files = (file: string): Map<string, string> => {
    const doc = yaml.load(readFileSync(file, "utf8")) as Doc;
    return new Map(((doc.write_files ?? []) as Doc[]).map((f) => [String(f.path), String(f.content ?? "")]));
  };
  const [a, b] = [files(oldFile), files(newFile)];
  const paths = [...new Set([...a.keys(), ...b.keys()])].filter((p) => a.get(p) !== b.get(p));
  process.stdout.write(`${paths.length > 0 ? paths.join(", ") : "no write_files change"}\n`);
}

function main(): void {
  if (process.argv[2] === "--diff-files") {
    diffFiles(process.argv[3], process.argv[4]);
    return;
  }
  if (process.argv[2] === "--print-file") {
    printFile(process.argv[3], process.argv[4]);
    return;
  }
  const file = process.argv[2];
  if (!file) throw new Error("usage: userdata.ts USER_DATA_FILE | --print-file PATH USER_DATA_FILE");
  const text = readFileSync(file, "utf8");
  if (!text.startsWith("#cloud-config\n")) throw new Error(`${file} does not start with #cloud-config`);
  const doc = yaml.load(text) as Doc;
  for (const key of Object.keys(doc)) if (!HANDLED.has(key)) fail(`top-level key ${key} is not handled by the lab`);
  moduleHostname(doc);
  moduleWriteFiles(doc, false);
  moduleUsers(doc);
  moduleSsh(doc);
  moduleWriteFiles(doc, true);
  // sshd comes up at boot (before runcmd, which may reload it).
  if (run(["systemctl", "start", "ssh"]) !== 0) fail("sshd did not start");
  modulePackages(doc);
  moduleRuncmd(doc);
  writeStatus();
  if (errors.length > 0) {
    process.stdout.write(`userdata: ${errors.length} error(s)\n`);
    process.exit(1);
  }
  log("done");
}

main();
