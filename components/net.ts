// Pure IP/CIDR parsing and canonicalisation. No dependency: node's `net` validates addresses but does not
// zero host bits or print a canonical IPv6 form, and rules compare sources as canonical strings.
import { isIPv4, isIPv6 } from "net";

export interface Cidr {
  readonly family: 4 | 6;
  /** Network address bytes with host bits zeroed. */
  readonly bytes: readonly number[];
  readonly prefix: number;
  /** e.g. `203.0.113.10/32`, `2001:db8::/48`. */
  readonly canonical: string;
  /** True when the text carried host bits that were zeroed (`203.0.113.7/24`). */
  readonly hadHostBits: boolean;
}

function ipv4Bytes(text: string): number[] {
  return text.split(".").map((part) => Number(part));
}

function ipv6Bytes(text: string): number[] {
  let head = text;
  let tailV4: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    tailV4 = ipv4Bytes(text.slice(lastColon + 1));
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const [left, right] = head.includes("::") ? head.split("::") : [head, undefined];
  const words = (s: string | undefined) => (s ? s.split(":").filter((w) => w.length > 0).map((w) => parseInt(w, 16)) : []);
  const leftWords = words(left);
  const rightWords = words(right);
  const fill = right === undefined ? 0 : 8 - leftWords.length - rightWords.length;
  const all = [...leftWords, ...new Array<number>(fill).fill(0), ...rightWords];
  const bytes = all.flatMap((w) => [w >> 8, w & 0xff]);
  if (tailV4.length === 4) bytes.splice(12, 4, ...tailV4);
  return bytes;
}

function formatIpv6(bytes: readonly number[]): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i] << 8) | bytes[i + 1]);
  // RFC 5952: compress the longest run (>= 2) of zero words, the first one on ties.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** Parses an address or CIDR; returns undefined when it is neither. A bare address becomes a /32 or /128. */
export function parseCidr(text: string): Cidr | undefined {
  const trimmed = text.trim();
  const slash = trimmed.indexOf("/");
  const address = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const prefixText = slash < 0 ? undefined : trimmed.slice(slash + 1);
  const family: 4 | 6 | undefined = isIPv4(address) ? 4 : isIPv6(address) ? 6 : undefined;
  if (family === undefined || address.includes("%")) return undefined;
  const maxPrefix = family === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^[0-9]{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? maxPrefix : Number(prefixText);
  if (prefix > maxPrefix) return undefined;
  const raw = family === 4 ? ipv4Bytes(address) : ipv6Bytes(address);
  const bytes = raw.map((b, i) => {
    const bitsLeft = prefix - i * 8;
    if (bitsLeft >= 8) return b;
    if (bitsLeft <= 0) return 0;
    return b & (0xff << (8 - bitsLeft)) & 0xff;
  });
  const hadHostBits = bytes.some((b, i) => b !== raw[i]);
  const addressText = family === 4 ? bytes.join(".") : formatIpv6(bytes);
  return { family, bytes, prefix, canonical: `${addressText}/${prefix}`, hadHostBits };
}

/** True when `inner` lies entirely inside `outer` (same family). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || inner.prefix < outer.prefix) return false;
  for (let bit = 0; bit < outer.prefix; bit++) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if ((outer.bytes[byte] & mask) !== (inner.bytes[byte] & mask)) return false;
  }
  return true;
}

/** The address part of a canonical CIDR (`203.0.113.10/32` -> `203.0.113.10`). */
export function cidrAddress(cidr: string): string {
  return cidr.slice(0, cidr.indexOf("/"));
}

/** True for a single host (/32 or /128). */
export function isHostCidr(c: Cidr): boolean {
  return c.prefix === (c.family === 4 ? 32 : 128);
}

const SPECIAL_RANGES = [
  ["0.0.0.0/8", "\"this network\""],
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local"],
  ["224.0.0.0/4", "multicast"],
  ["240.0.0.0/4", "reserved"],
  ["::/128", "unspecified"],
  ["::1/128", "loopback"],
  ["fe80::/10", "link-local"],
  ["ff00::/8", "multicast"],
].map(([range, label]) => ({ range: parseCidr(range) as Cidr, label }));

/** Names why an address cannot be a client source (loopback, multicast...), or undefined when it can. */
export function specialRangeLabel(c: Cidr): string | undefined {
  if (c.prefix === 0) return undefined; // "anywhere" is judged by the wide-source rule, not here
  return SPECIAL_RANGES.find((s) => cidrContains(s.range, c))?.label;
}

const PRIVATE_V4 = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"].map((r) => parseCidr(r) as Cidr);

export function isPrivateV4(c: Cidr): boolean {
  return PRIVATE_V4.some((p) => cidrContains(p, c));
}
