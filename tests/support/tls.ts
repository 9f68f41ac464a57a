/**
 * Test TLS material made with openssl.
 *
 *   makeTls(dir, { hosts, days, owner }): Promise<TlsFiles>
 *     a throwaway CA plus a server certificate for `hosts` (IP addresses or DNS names, default 127.0.0.1
 *     and localhost), valid `days` (default 30; pass 1 to exercise expiry warnings). Keys are 0600 and,
 *     when `owner` ("postgres", "mysql") is given, chowned to that user so the server can read them.
 *   issueWithCa(dir, ca, hosts): another server certificate from the CA of `ca` (e.g. for a wrong name)
 */
import { chmodSync, mkdirSync, writeFileSync } from "fs";
import * as path from "path";
import { runOk } from "./proc";

export interface TlsFiles {
  readonly caCert: string;
  readonly caKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
}

export async function makeTls(
  dir: string,
  { hosts = ["127.0.0.1", "localhost"], days = 30, owner }: { hosts?: string[]; days?: number; owner?: string } = {},
): Promise<TlsFiles> {
  mkdirSync(dir, { recursive: true });
  const f = (n: string) => path.join(dir, n);
  const files: TlsFiles = { caCert: f("ca.crt"), caKey: f("ca.key"), serverCert: f("server.crt"), serverKey: f("server.key") };
  await runOk("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", files.caKey, "-out", files.caCert, "-days", "60", "-subj", "/CN=dbtier test CA"]);
  const san = hosts.map((h) => (/^[0-9.:]+$/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(",");
  await runOk("openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", files.serverKey, "-out", f("server.csr"), "-subj", `/CN=${hosts[0]}`]);
  const ext = f("server.ext");
  writeFileSync(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  await runOk("openssl", ["x509", "-req", "-in", f("server.csr"), "-CA", files.caCert, "-CAkey", files.caKey,
    "-CAcreateserial", "-out", files.serverCert, "-days", String(days), "-extfile", ext]);
  chmodSync(files.serverKey, 0o600);
  chmodSync(files.caKey, 0o600);
  if (owner) await runOk("chown", [owner, files.serverKey, files.serverCert]);
  return files;
}

/** A server certificate for `hosts` signed by the CA in `ca` (another certificate from the same CA). */
export async function issueWithCa(dir: string, ca: TlsFiles, hosts: string[]): Promise<{ serverCert: string; serverKey: string }> {
  mkdirSync(dir, { recursive: true });
  const f = (n: string) => path.join(dir, n);
  await runOk("openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f("server.key"),
    "-out", f("server.csr"), "-subj", `/CN=${hosts[0]}`]);
  const san = hosts.map((h) => (/^[0-9.:]+$/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(",");
  writeFileSync(f("server.ext"), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  await runOk("openssl", ["x509", "-req", "-in", f("server.csr"), "-CA", ca.caCert, "-CAkey", ca.caKey, "-CAcreateserial",
    "-out", f("server.crt"), "-days", "2", "-extfile", f("server.ext")]);
  return { serverCert: f("server.crt"), serverKey: f("server.key") };
}
