// Pure planning of what reaches a VM and how: the user-data input (cloud-init) and the ordered remote
// commands that run over SSH with the pinned host key once the VM is up. The components only loop over
// what these functions return. The command texts are bash the remote login shell runs; `npm run plan`
// writes them to out/plan/<stack>/commands/ so the lab runs exactly what Pulumi would.
//
// User-data stays minimal and stable (login users, the pinned host key, sshd hardening, base packages).
// The toolkit, systemd units, host firewall rules and env file travel in the "host-files" command instead:
// - size: the toolkit alone is ~100 KB, over every provider's user-data limit (AWS 16 KB, DigitalOcean and
//   Linode 64 KB);
// - stability: user-data changes replace the VM on DigitalOcean and Linode. Adding a webserver (firewall
//   rules), a backup period (units) or a toolkit fix must not replace the database VM; as a command input
//   it re-runs the delivery in place.
import { createHash } from "crypto";
import * as path from "path";
import { CloudInitInput, deliveredKeysFile } from "./cloudInit";
import { ENV_FILE, HostFile, SECRET_FILES, TOOL_DIR, TOOL_ENTRY, TOOL_LINK, hostToolFiles, renderSystemdUnits, secretInstallScript, timerUnitNames, toolPackages } from "./hostFiles";
import { VmRole, renderNftables } from "./trustedSources";
import { DbTierConfig, SecretConfig } from "./types";

/** Login used by the remote commands (deployer key) and by admins (their own key). Root login is disabled. */
export const DEPLOY_USER = "dbtier-deploy";
export const ADMIN_USER = "dbtier-admin";
/** Self-managed admin account the toolkit creates and uses. */
export const SELF_MANAGED_ADMIN_USER = "dbtier_admin";
/** CA bundle of a DBaaS on the proxy (not a secret). */
export const CA_FILE = "/etc/dbtier/ca.pem";
export const FIREWALL_RULES_FILE = "/etc/dbtier/firewall.nft";
export const FIREWALL_UNIT = "dbtier-firewall.service";

/** What user-data installs with apt before the toolkit runs (the engine itself comes from `dbtier-db install`). */
/** What a VM needs at first boot beside the toolkit's own packages (toolPackages): sudo (the logins, PostgreSQL's
 * archive_command) and nftables (the host firewall unit). */
export const VM_PACKAGES = ["sudo", "nftables"] as const;

// ---------------------------------------------------------------------------------------------------------
// tar (ustar) writer: the secret and host files travel as one tar stream, base64-encoded on the command's
// stdin (Pulumi carries stdin as a string; base64 keeps the NUL-padded blocks intact).

export interface TarEntry {
  /** Relative path inside the archive, e.g. `db-admin-password` or `etc/dbtier/dbtier.env`. */
  readonly name: string;
  readonly content: string;
  /** Octal mode, e.g. "0600". */
  readonly permissions: string;
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

/** A deterministic ustar archive (mtime 0, owner 0:0) so unchanged content gives unchanged stdin. */
export function tarArchive(entries: readonly TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    if (entry.name.length === 0 || entry.name.length > 99 || entry.name.startsWith("/") || entry.name.split("/").includes("..")) {
      throw new Error(`tar entry name ${JSON.stringify(entry.name)} must be relative, without '..', under 100 bytes`);
    }
    const body = Buffer.from(entry.content, "utf8");
    const header = Buffer.alloc(512, 0);
    header.write(entry.name, 0, 100, "utf8");
    header.write(octal(parseInt(entry.permissions, 8), 8), 100, 8, "ascii");
    header.write(octal(0, 8), 108, 8, "ascii");
    header.write(octal(0, 8), 116, 8, "ascii");
    header.write(octal(body.length, 12), 124, 12, "ascii");
    header.write(octal(0, 12), 136, 12, "ascii");
    header.write("        ", 148, 8, "ascii");
    header.write("0", 156, 1, "ascii");
    header.write("ustar\0", 257, 6, "ascii");
    header.write("00", 263, 2, "ascii");
    header.write("root", 265, 32, "ascii");
    header.write("root", 297, 32, "ascii");
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
    blocks.push(header, body, Buffer.alloc((512 - (body.length % 512)) % 512, 0));
  }
  blocks.push(Buffer.alloc(1024, 0));
  return Buffer.concat(blocks);
}

export const tarBase64 = (entries: readonly TarEntry[]): string => tarArchive(entries).toString("base64");

export const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

/** Quotes a string for bash as one word. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

// ---------------------------------------------------------------------------------------------------------
// Secrets: which files a host gets. Values are resolved by the components (Pulumi secrets); this only names them.

export interface HostSecretValues {
  readonly adminPassword: string;
  readonly appPassword: string;
  readonly secrets: SecretConfig;
  /** Not a secret, but kept beside the deploy key it pins the git server for. */
  readonly baselineKnownHosts?: string;
  /** Self-managed: the private key of the server certificate the stack's CA issued (components/tls.ts). */
  readonly tlsServerKey?: string;
  /** The stack's backup signing private key (components/backupSigning.ts). */
  readonly backupSigningKey?: string;
}

/** Flat tar entries for the secret installer (names as in SECRET_FILES, mode 0600). Absent secrets are skipped. */
export function secretEntries(values: HostSecretValues): TarEntry[] {
  const pairs: [string, string | undefined][] = [
    [SECRET_FILES.adminPassword, values.adminPassword],
    [SECRET_FILES.appPassword, values.appPassword],
    [SECRET_FILES.datastoreAccessKeyId, values.secrets.datastoreAccessKeyId],
    [SECRET_FILES.datastoreSecretAccessKey, values.secrets.datastoreSecretAccessKey],
    [SECRET_FILES.baselineDeployKey, values.secrets.baselineDeployKey],
    [SECRET_FILES.baselineKnownHosts, values.baselineKnownHosts],
    [SECRET_FILES.tlsServerKey, values.tlsServerKey],
    [SECRET_FILES.backupSigningKey, values.backupSigningKey],
    [SECRET_FILES.smtpUrl, values.secrets.smtpUrl],
    [SECRET_FILES.smtpPassword, values.secrets.smtpPassword],
    [SECRET_FILES.alertEmail, values.secrets.alertEmail],
  ];
  return pairs
    .filter((pair): pair is [string, string] => pair[1] !== undefined && pair[1] !== "")
    .map(([file, content]) => ({ name: path.posix.basename(file), content, permissions: "0600" }));
}

/** Non-secret files delivered over SSH because they need values known only after creation. */
export function hostFileEntries(files: readonly HostFile[]): TarEntry[] {
  return files.map((file) => ({ name: file.path.replace(/^\/+/, ""), content: file.content, permissions: file.permissions }));
}

// ---------------------------------------------------------------------------------------------------------
// Remote commands, in the order they run.

export type StdinKind = "secrets" | "host-files" | "none";

export interface RemoteStep {
  /** Suffix of the resource name: `${host}-${step}`. */
  readonly step: string;
  readonly description: string;
  /** Bash text the remote login shell runs. Never contains a secret: those come on stdin. */
  readonly script: string;
  readonly stdin: StdinKind;
  /**
   * When the step runs again after its first run (besides VM replacement): "host-files" when the delivered
   * files change (new webserver -> new grants, toolkit fix), "app-db" when dbtier:appDb changes (promotion).
   * Steps that re-run must be idempotent on the host.
   */
  readonly rerunOn: "host-files" | "app-db" | "own-input";
}

// Root when run as root (the lab), sudo otherwise (the deploy user on a VM). `-n`: never prompt.
const PRELUDE = [
  "set -euo pipefail",
  'if [ "$(id -u)" -eq 0 ]; then as_root() { "$@"; }; else as_root() { sudo -n "$@"; }; fi',
].join("\n");

// The first command may arrive while cloud-init is still installing packages. Only where cloud-init actually
// runs (/run/cloud-init exists from its first stage, before the network and sshd are up); elsewhere (the lab)
// there is nothing to wait for (DBTIER_CLOUD_INIT_RUN points elsewhere in tests). `cloud-init status --wait` prints nothing for minutes, which reads as a hung
// deploy: poll instead, say where boot is every 30 s, and give up after BOOT_WAIT_SECONDS so a broken boot
// fails the deploy. `cloud-init status` exits 0 when done, 1 on a critical error, 2 on recoverable errors.
export const BOOT_WAIT_SECONDS = 1800;
export const WAIT_FOR_BOOT = [
  "if [ -d \"${DBTIER_CLOUD_INIT_RUN:-/run/cloud-init}\" ] && command -v cloud-init >/dev/null 2>&1; then",
  "  waited=0",
  "  while :; do",
  "    rc=0",
  "    state=\"$(cloud-init status 2>/dev/null | sed -n 's/^status: //p')\" || rc=$?",
  "    case \"$state\" in",
  "      running|\"not started\"|\"\") ;;",
  "      *) break ;;",
  "    esac",
  `    if [ "$waited" -ge ${BOOT_WAIT_SECONDS} ]; then`,
  `      echo "cloud-init still \${state:-starting} after ${BOOT_WAIT_SECONDS} s; see 'cloud-init status --long' on the host" >&2`,
  "      exit 1",
  "    fi",
  "    if [ $((waited % 30)) -eq 0 ]; then echo \"waiting for cloud-init to finish first boot (${state:-starting}, ${waited} s)\"; fi",
  "    sleep 5",
  "    waited=$((waited + 5))",
  "  done",
  "  if [ \"$state\" != \"done\" ] || [ \"$rc\" -ne 0 ]; then",
  "    echo \"cloud-init did not finish cleanly (status: $state); see 'cloud-init status --long' on the host\" >&2",
  "    exit 1",
  "  fi",
  "fi",
].join("\n");

function script(...lines: string[]): string {
  return `${[PRELUDE, ...lines].join("\n")}\n`;
}

function tool(command: string): string {
  return `as_root ${TOOL_LINK} ${command}`;
}

/**
 * The remote commands for a VM. Database VM (self-managed): secrets, host files (env), install, init, harden,
 * load-app-db, timers. Proxy: secrets, host files (env + CA), install, harden, load-app-db, timers.
 */
export function remoteSteps(config: DbTierConfig, role: VmRole): RemoteStep[] {
  const steps: RemoteStep[] = [
    {
      step: "secrets",
      description: "install the secret files (0600) from the tar stream on stdin",
      script: script(
        WAIT_FOR_BOOT,
        "# The installer is handed to bash verbatim: nothing in it may expand here.",
        "# shellcheck disable=SC2016",
        `base64 -d | as_root bash -c ${shellQuote(secretInstallScript())}`,
      ),
      stdin: "secrets",
      rerunOn: "own-input",
    },
    {
      step: "host-files",
      description: `install the toolkit, systemd units, host firewall and ${ENV_FILE}${role === "proxy" ? " and the DBaaS CA bundle" : ""} from the tar stream on stdin; apply the firewall`,
      script: script(
        WAIT_FOR_BOOT,
        "# The installer is handed to bash verbatim: nothing in it may expand here.",
        "# shellcheck disable=SC2016",
        `base64 -d | as_root bash -c ${shellQuote(hostFilesInstallScript())}`,
        "as_root systemctl daemon-reload",
        `as_root systemctl enable ${FIREWALL_UNIT}`,
        `as_root systemctl restart ${FIREWALL_UNIT}`,
      ),
      stdin: "host-files",
      rerunOn: "own-input",
    },
    { step: "install", description: `install the ${config.engine} ${role === "database" ? "server" : "client"} and tools`, script: script(tool("install")), stdin: "none", rerunOn: "host-files" },
  ];
  if (role === "database") {
    steps.push(
      { step: "init", description: "initialise the server, admin and application users", script: script(tool("init")), stdin: "none", rerunOn: "host-files" },
      { step: "harden", description: "bind DB_LISTEN_ADDRESS only, TLS, per-webserver grants, remove defaults; unattended security upgrades, listener audit", script: script(tool("harden")), stdin: "none", rerunOn: "host-files" },
    );
  } else {
    // The proxy holds the DBaaS admin password and the datastore keys: it gets the same host hardening
    // (unattended security upgrades, listener audit) as the database VM; it runs no server to bind.
    steps.push({ step: "harden", description: "unattended security upgrades, listener audit (no database server on the proxy)", script: script(tool("harden")), stdin: "none", rerunOn: "host-files" });
  }
  steps.push(
    { step: "load-app-db", description: `load the application database (${config.appDb.source})`, script: script(tool("load-app-db --if-empty")), stdin: "none", rerunOn: "app-db" },
    {
      step: "timers",
      description: "enable the backup and health timers",
      script: script("as_root systemctl daemon-reload", `as_root systemctl enable --now ${timerUnitNames(config).join(" ")}`),
      stdin: "none",
      rerunOn: "host-files",
    },
  );
  return steps;
}

// ---------------------------------------------------------------------------------------------------------
// Host files: what the "host-files" command installs.

/**
 * Bash run as root with a ustar stream on stdin (paths relative to /). Installs every file with the mode the
 * stream gives; the toolkit directory is replaced whole (a file dropped from the toolkit disappears from the
 * host) by a rename on the same filesystem. `DBTIER_ROOT` installs under another root (tests).
 */
export function hostFilesInstallScript(): string {
  const toolRel = TOOL_DIR.replace(/^\/+/, "");
  const linkRel = TOOL_LINK.replace(/^\/+/, "");
  return `#!/usr/bin/env bash
set -euo pipefail
root="\${DBTIER_ROOT:-/}"
tool_dir="$root/${toolRel}"
install -d -m 0755 "$(dirname "$tool_dir")"
work="$(mktemp -d "$(dirname "$tool_dir")/.dbtier-files.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT
cat > "$work/files.tar"
tar -x -f "$work/files.tar" -C "$root" --no-same-owner --exclude=${toolRel}
# The listing is captured first: grep -q exits at the first match, and under pipefail the SIGPIPE that tar
# then gets on a long listing would turn a match into "no toolkit".
listing="$(tar -t -f "$work/files.tar")"
if grep -q '^${toolRel}/' <<< "$listing"; then
  install -d -m 0700 "$work/tool"
  tar -x -f "$work/files.tar" -C "$work/tool" --no-same-owner ${toolRel}
  chmod 0755 "$work/tool/${toolRel}"
  rm -rf -- "$tool_dir.previous"
  if [ -d "$tool_dir" ]; then mv -T -- "$tool_dir" "$tool_dir.previous"; fi
  mv -T -- "$work/tool/${toolRel}" "$tool_dir"
  rm -rf -- "$tool_dir.previous"
  install -d -m 0755 "$root/${path.posix.dirname(linkRel)}"
  ln -sfn ${TOOL_ENTRY} "$root/${linkRel}"
fi
echo "host files: $(wc -l <<< "$listing") file(s) installed"
`;
}

function firewallUnit(): HostFile {
  return {
    path: `/etc/systemd/system/${FIREWALL_UNIT}`,
    permissions: "0644",
    content: [
      "[Unit]",
      "Description=dbtier host firewall (nftables table inet dbtier)",
      "DefaultDependencies=no",
      "Before=network-pre.target",
      "Wants=network-pre.target",
      "",
      "[Service]",
      "Type=oneshot",
      "RemainAfterExit=yes",
      `ExecStart=/usr/sbin/nft -f ${FIREWALL_RULES_FILE}`,
      "",
      "[Install]",
      "WantedBy=sysinit.target",
      "",
    ].join("\n"),
  };
}

/**
 * The admin's SSH keys, read by sshd from a root-owned file (cloudInit.ts DELIVERED_KEYS_DIR) so that adding,
 * changing or removing `dbtier:adminSshPublicKey` re-runs this delivery instead of changing user-data (which
 * replaces the VM on DigitalOcean and Linode). Empty when no key is configured: that revokes the old one.
 */
export function adminKeysFile(config: DbTierConfig): HostFile {
  return { path: deliveredKeysFile(ADMIN_USER), content: config.adminSshPublicKey ? `${config.adminSshPublicKey}\n` : "", permissions: "0644" };
}

/** The files every VM of `role` gets, whatever the addresses: toolkit, units, host firewall, admin keys. */
export function staticHostFiles(config: DbTierConfig, role: VmRole): HostFile[] {
  return [
    ...hostToolFiles(),
    ...renderSystemdUnits(config, role),
    { path: FIREWALL_RULES_FILE, content: renderNftables(config, role), permissions: "0644" },
    firewallUnit(),
    adminKeysFile(config),
  ];
}

// ---------------------------------------------------------------------------------------------------------
// User-data input.

export interface UserDataKeys {
  readonly hostPrivateKey: string;
  readonly hostPublicKey: string;
  readonly deployerPublicKey: string;
}

/**
 * Everything user-data carries for a VM: what must exist at first boot, and nothing that changes later. The
 * deployer login (its key is derived from a stable seed), the admin login without its key (the key arrives
 * with the host files, see adminKeysFile), the pinned host key, base packages. No secret but the host key.
 * The adapters also ignore later changes to user-data (ignoreChanges), so a change here reaches only new VMs.
 */
export function planCloudInit(_config: DbTierConfig, hostname: string, keys: UserDataKeys): CloudInitInput {
  const users = [
    { name: DEPLOY_USER, authorizedKeys: [keys.deployerPublicKey], sudo: true },
    { name: ADMIN_USER, authorizedKeys: [], keysDelivered: true, sudo: true },
  ];
  return {
    hostname,
    hostKey: { privateKey: keys.hostPrivateKey, publicKey: keys.hostPublicKey },
    users,
    files: [],
    packages: [...VM_PACKAGES, ...toolPackages()],
    runcmd: [],
  };
}

/** What makes a load-app-db step run again: the application database source (e.g. a promotion). */
export function appDbTrigger(config: DbTierConfig): string {
  return sha256(JSON.stringify(config.appDb));
}
