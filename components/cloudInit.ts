// Renders a VM's user-data (`#cloud-config`) from typed input. Pure: no Pulumi calls.
//
// What goes in user-data, and what does not:
// - in: only what must exist at first boot: sshd hardening, the login users (the deployer with its key; the
//   admin without, its key is delivered over SSH), packages, and the VM's SSH *host* key (so the remote
//   commands can pin it, see below). The adapters ignore later changes to user-data (ignoreChanges).
// - out: every database password and datastore key. Those reach the host over SSH with the pinned host key
//   (components/hostDelivery.ts), because user-data is readable through the provider's metadata service
//   and API by anyone with read access to the account, and stays there for the VM's lifetime.
// - out: the env file. It needs values known only after the VM or the DBaaS exists (private address,
//   DBaaS host), and changing user-data replaces the VM on most providers: keep user-data stable.
//
// The host private key is the one sensitive thing in user-data. The alternative (trust on first use of
// whatever key the VM generates) would leave the first SSH connection, the one that carries the secrets,
// open to a man in the middle. A host key leak lets someone impersonate this VM to us, it grants no access
// to the VM or the database; the components mark the rendered user-data as a Pulumi secret all the same.

import * as yaml from "js-yaml";

export interface CloudInitFile {
  readonly path: string;
  readonly content: string;
  /** Octal string, e.g. "0644". */
  readonly permissions: string;
}

export interface CloudInitUser {
  readonly name: string;
  readonly authorizedKeys: readonly string[];
  /**
   * The user's keys arrive after first boot over SSH, in `deliveredKeysFile(name)` (root-owned; sshd reads
   * it besides ~/.ssh/authorized_keys). Such a user may boot without a key.
   */
  readonly keysDelivered?: boolean;
  /** Passwordless sudo (the account has no password; key login only). */
  readonly sudo: boolean;
}

export interface CloudInitInput {
  readonly hostname: string;
  /** ed25519 host key pair (OpenSSH private key block + public line). */
  readonly hostKey: { readonly privateKey: string; readonly publicKey: string };
  readonly users: readonly CloudInitUser[];
  readonly files: readonly CloudInitFile[];
  readonly packages: readonly string[];
  /** Commands run once at first boot, each an argv list (no shell: no quoting surprises). */
  readonly runcmd: readonly (readonly string[])[];
}

/** The only top-level keys dbtier's user-data may contain (tests hold rendered output to this list). */
export const CLOUD_INIT_TOP_LEVEL_KEYS = [
  "hostname",
  "preserve_hostname",
  "users",
  "disable_root",
  "ssh_pwauth",
  "ssh_deletekeys",
  "ssh_genkeytypes",
  "ssh_keys",
  "package_update",
  "package_upgrade",
  "packages",
  "write_files",
  "runcmd",
] as const;

/** Where user-data must never write: the secret files arrive over SSH only. */
export const FORBIDDEN_USER_DATA_PREFIXES = ["/etc/dbtier/secrets"] as const;

/** Root-owned directory of keys delivered after boot (the admin's): `<dir>/<user>`. */
export const DELIVERED_KEYS_DIR = "/etc/ssh/dbtier-authorized-keys";
export const deliveredKeysFile = (user: string): string => `${DELIVERED_KEYS_DIR}/${user}`;

/** sshd drop-in: keys only, no root, only the users dbtier created. */
export function sshdHardening(users: readonly CloudInitUser[]): CloudInitFile {
  const content = [
    "# dbtier: key-only SSH for the named users; written by cloud-init.",
    "PermitRootLogin no",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PermitEmptyPasswords no",
    "X11Forwarding no",
    "AllowAgentForwarding no",
    "AllowTcpForwarding no",
    "MaxAuthTries 3",
    `AllowUsers ${users.map((u) => u.name).join(" ")}`,
    // The drop-in is included before the defaults, so this first value wins.
    `AuthorizedKeysFile .ssh/authorized_keys ${DELIVERED_KEYS_DIR}/%u`,
    "HostKey /etc/ssh/ssh_host_ed25519_key",
    "",
  ].join("\n");
  return { path: "/etc/ssh/sshd_config.d/10-dbtier.conf", content, permissions: "0644" };
}

function validate(input: CloudInitInput): void {
  const problems: string[] = [];
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(input.hostname)) problems.push(`hostname ${JSON.stringify(input.hostname)} is not a valid DNS label`);
  if (!input.hostKey.privateKey.startsWith("-----BEGIN OPENSSH PRIVATE KEY-----")) problems.push("hostKey.privateKey is not an OpenSSH private key");
  if (!input.hostKey.publicKey.startsWith("ssh-ed25519 ")) problems.push("hostKey.publicKey must be an ssh-ed25519 line");
  if (!input.users.some((u) => u.authorizedKeys.length > 0)) problems.push("at least one login user with a key is required at first boot (root login is disabled)");
  for (const user of input.users) {
    if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user.name)) problems.push(`user name ${JSON.stringify(user.name)} is not a valid Linux login`);
    if (user.authorizedKeys.length === 0 && !user.keysDelivered) problems.push(`user ${user.name} has no authorized key (and none is delivered later)`);
    for (const key of user.authorizedKeys) {
      if (!/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/=]+( [^\r\n]*)?$/.test(key)) {
        problems.push(`user ${user.name}: authorized key is not a single OpenSSH public key line`);
      }
    }
  }
  const seen = new Set<string>();
  for (const file of input.files) {
    if (!file.path.startsWith("/")) problems.push(`write_files path ${file.path} must be absolute`);
    if (FORBIDDEN_USER_DATA_PREFIXES.some((prefix) => file.path === prefix || file.path.startsWith(`${prefix}/`))) {
      problems.push(`write_files path ${file.path}: secrets never travel in user-data`);
    }
    if (!/^0[0-7]{3}$/.test(file.permissions)) problems.push(`write_files ${file.path}: permissions ${file.permissions} is not an octal mode like 0644`);
    if (seen.has(file.path)) problems.push(`write_files path ${file.path} appears twice`);
    seen.add(file.path);
  }
  if (problems.length > 0) throw new Error(`invalid cloud-init input:\n  ${problems.join("\n  ")}`);
}

/** The `#cloud-config` document. Deterministic: the same input renders byte-identical text. */
export function renderCloudInit(input: CloudInitInput): string {
  validate(input);
  const hardening = sshdHardening(input.users);
  const files = [...input.files, hardening];
  const document = {
    hostname: input.hostname,
    preserve_hostname: false,
    users: input.users.map((user) => ({
      name: user.name,
      shell: "/bin/bash",
      lock_passwd: true,
      ...(user.sudo ? { sudo: "ALL=(ALL) NOPASSWD:ALL" } : {}),
      ...(user.authorizedKeys.length > 0 ? { ssh_authorized_keys: [...user.authorizedKeys] } : {}),
    })),
    disable_root: true,
    ssh_pwauth: false,
    // Replace the image's host keys with the pinned one; generate no other types (ed25519 is provided).
    ssh_deletekeys: true,
    ssh_genkeytypes: ["ed25519"],
    ssh_keys: {
      ed25519_private: input.hostKey.privateKey,
      ed25519_public: input.hostKey.publicKey,
    },
    package_update: true,
    package_upgrade: true,
    packages: [...input.packages],
    write_files: files.map((file) => ({
      path: file.path,
      content: file.content,
      owner: "root:root",
      permissions: file.permissions,
    })),
    // The drop-in above lands after sshd may have started: reload so it applies before any remote command.
    runcmd: [["systemctl", "reload", "ssh"], ...input.runcmd.map((argv) => [...argv])],
  };
  return `#cloud-config\n${yaml.dump(document, { lineWidth: -1, noRefs: true, sortKeys: false })}`;
}
