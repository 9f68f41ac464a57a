// Deterministic ed25519 key pairs for the SSH host key of each VM and the deployer key the remote commands
// log in with. The 32-byte seed comes from `random.RandomBytes`, so the key is stable across `pulumi up`
// runs and lives in state only as a secret. Pure: node's crypto derives the public half, the rest is the
// OpenSSH wire format written out by hand (PROTOCOL.key in OpenSSH's source: "openssh-key-v1", no cipher).

import { createHash, createPrivateKey, createPublicKey } from "crypto";

export interface Ed25519KeyPair {
  /** `-----BEGIN OPENSSH PRIVATE KEY-----` block, unencrypted, ending in a newline. */
  readonly privateKey: string;
  /** One authorized_keys / known_hosts style line: `ssh-ed25519 AAAA... comment`. */
  readonly publicKey: string;
  /** `SHA256:...` fingerprint as printed by `ssh-keygen -lf`. */
  readonly fingerprint: string;
}

const KEY_TYPE = "ssh-ed25519";
// PKCS#8 DER prefix of an ed25519 private key; the 32-byte seed follows it.
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
// SubjectPublicKeyInfo DER prefix of an ed25519 public key; the 32-byte key follows it.
const SPKI_ED25519_PREFIX_LENGTH = 12;

function sshString(data: Buffer | string): Buffer {
  const body = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length, 0);
  return Buffer.concat([length, body]);
}

function uint32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0, 0);
  return out;
}

/** Accepts the seed as raw bytes, base64 (what RandomBytes.base64 gives) or 64 hex digits. */
export function decodeSeed(seed: Buffer | string): Buffer {
  let bytes: Buffer;
  if (Buffer.isBuffer(seed)) {
    bytes = seed;
  } else if (/^[0-9a-fA-F]{64}$/.test(seed)) {
    bytes = Buffer.from(seed, "hex");
  } else {
    bytes = Buffer.from(seed, "base64");
  }
  if (bytes.length !== 32) {
    throw new Error(`ed25519 seed must be 32 bytes, got ${bytes.length}`);
  }
  return bytes;
}

/** Raw 32-byte public key for a seed. */
export function ed25519PublicFromSeed(seed: Buffer): Buffer {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  return spki.subarray(SPKI_ED25519_PREFIX_LENGTH);
}

function wrap(base64: string, width: number): string {
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += width) lines.push(base64.slice(i, i + width));
  return lines.join("\n");
}

/**
 * Derives the key pair. `comment` ends up in the public line and inside the private key; keep it free of
 * anything sensitive (e.g. `dbtier-dev-db host key`).
 */
export function ed25519KeyPairFromSeed(seedInput: Buffer | string, comment: string): Ed25519KeyPair {
  if (/[\r\n]/.test(comment)) throw new Error("ssh key comment must be a single line");
  const seed = decodeSeed(seedInput);
  const pub = ed25519PublicFromSeed(seed);
  const publicBlob = Buffer.concat([sshString(KEY_TYPE), sshString(pub)]);

  // The two check integers only detect a wrong passphrase; derived from the seed so output is deterministic.
  const check = createHash("sha256").update("dbtier-openssh-check").update(seed).digest().readUInt32BE(0);
  let privateSection = Buffer.concat([
    uint32(check),
    uint32(check),
    sshString(KEY_TYPE),
    sshString(pub),
    sshString(Buffer.concat([seed, pub])),
    sshString(comment),
  ]);
  // Pad with 1, 2, 3, ... to the cipher block size (8 for "none").
  const padding: number[] = [];
  for (let i = 1; (privateSection.length + padding.length) % 8 !== 0; i++) padding.push(i);
  privateSection = Buffer.concat([privateSection, Buffer.from(padding)]);

  const body = Buffer.concat([
    Buffer.from("openssh-key-v1\0", "binary"),
    sshString("none"),
    sshString("none"),
    sshString(""),
    uint32(1),
    sshString(publicBlob),
    sshString(privateSection),
  ]);
  const privateKey = `-----BEGIN OPENSSH PRIVATE KEY-----\n${wrap(body.toString("base64"), 70)}\n-----END OPENSSH PRIVATE KEY-----\n`;
  const publicKey = comment ? `${KEY_TYPE} ${publicBlob.toString("base64")} ${comment}` : `${KEY_TYPE} ${publicBlob.toString("base64")}`;
  const fingerprint = `SHA256:${createHash("sha256").update(publicBlob).digest("base64").replace(/=+$/, "")}`;
  return { privateKey, publicKey, fingerprint };
}
