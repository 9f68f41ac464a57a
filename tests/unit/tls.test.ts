// components/tls.ts: the server certificate's names, the connection-string TLS query, the shipped RDS CA
// bundle, and the per-stack CA as a self-managed stack plans it (under the plan mocks).
import { X509Certificate } from "crypto";
import { parseConfig } from "../../components/config";
import { buildStack } from "../../components/tier";
import { connectionTlsQuery, rdsCaBundle, serverCertificateSans, SERVER_VALIDITY_HOURS, CA_VALIDITY_HOURS } from "../../components/tls";
import { DbTierConfig } from "../../components/types";
import { reveal } from "../../scripts/plan/mocks";
import { PlanRun, PlannedResource, runProgram } from "../../scripts/plan/run";
import { validRaw } from "./fixtures";

function config(overrides: Record<string, unknown> = {}): DbTierConfig {
  const result = parseConfig(validRaw(overrides), "dev");
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.config;
}

describe("serverCertificateSans", () => {
  test("webservers inside the network: the private address only", () => {
    expect(serverCertificateSans({ privateIp: "10.42.0.5", publicIp: "192.0.2.10", webserversOutside: false })).toEqual({ ipAddresses: ["10.42.0.5"], dnsNames: [] });
  });

  test("a webserver outside: the public address too (the host output is then the public address)", () => {
    expect(serverCertificateSans({ privateIp: "10.42.0.5", publicIp: "192.0.2.10", webserversOutside: true })).toEqual({ ipAddresses: ["10.42.0.5", "192.0.2.10"], dnsNames: [] });
  });

  test("never the unspecified address, never something that is no address, each named in the error", () => {
    expect(() => serverCertificateSans({ privateIp: "0.0.0.0", publicIp: "192.0.2.10", webserversOutside: false })).toThrow(/private address 0\.0\.0\.0 is the unspecified address/);
    expect(() => serverCertificateSans({ privateIp: "10.42.0.5", publicIp: "::", webserversOutside: true })).toThrow(/public address :: is the unspecified address/);
    expect(() => serverCertificateSans({ privateIp: "db.internal", publicIp: "192.0.2.10", webserversOutside: false })).toThrow(/private address "db.internal" is not an IP address/);
    // The public address is not checked (nor named) when no client uses it.
    expect(serverCertificateSans({ privateIp: "10.42.0.5", publicIp: "", webserversOutside: false }).ipAddresses).toEqual(["10.42.0.5"]);
  });

  test("one name once, whatever the addresses", () => {
    expect(serverCertificateSans({ privateIp: "192.0.2.10", publicIp: "192.0.2.10", webserversOutside: true }).ipAddresses).toEqual(["192.0.2.10"]);
  });
});

describe("connectionTlsQuery", () => {
  test("verifies chain and name: verify-full with sslrootcert, VERIFY_IDENTITY with ssl-ca", () => {
    expect(connectionTlsQuery("postgres")).toBe("sslmode=verify-full&sslrootcert=dbtier-ca.pem");
    expect(connectionTlsQuery("mariadb")).toBe("ssl-mode=VERIFY_IDENTITY&ssl-ca=dbtier-ca.pem");
    expect(connectionTlsQuery("mysql", "/etc/app/ca bundle.pem")).toBe("ssl-mode=VERIFY_IDENTITY&ssl-ca=%2Fetc%2Fapp%2Fca%20bundle.pem");
  });
});

describe("rdsCaBundle", () => {
  const pems = rdsCaBundle().match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];
  const certs = pems.map((pem) => new X509Certificate(pem));

  test("holds only CA certificates of Amazon RDS, each self-signed and valid now and next year", () => {
    expect(certs.length).toBeGreaterThan(60);
    const now = Date.now();
    for (const cert of certs) {
      expect(cert.ca).toBe(true);
      expect(cert.subject).toContain("O=Amazon Web Services\\, Inc.");
      expect(cert.subject).toContain("OU=Amazon RDS");
      expect(cert.checkIssued(cert)).toBe(true);
      expect(cert.verify(cert.publicKey)).toBe(true);
      expect(Date.parse(cert.validFrom)).toBeLessThan(now);
      expect(Date.parse(cert.validTo)).toBeGreaterThan(now + 365 * 86400_000);
    }
  });

  test("has the rds-ca-rsa2048-g1 root (the caCertIdentifier the RDS instances use) of every region dbtier can pick", () => {
    const subjects = certs.map((c) => c.subject);
    for (const region of ["us-east-1", "us-west-2", "eu-central-1", "eu-west-1", "ap-southeast-1"]) {
      expect(subjects.some((s) => s.includes(`CN=Amazon RDS ${region} Root CA RSA2048 G1`))).toBe(true);
    }
  });
});

describe("a self-managed stack's CA and server certificate (plan mocks)", () => {
  let run: PlanRun;
  let cfg: DbTierConfig;
  const ofType = (type: string): PlannedResource[] => run.resources.filter((r) => r.type === type);
  const inputs = (r: PlannedResource): Record<string, unknown> => reveal(r.inputs) as Record<string, unknown>;
  beforeAll(async () => {
    cfg = config();
    run = await runProgram({ stack: cfg.stack, region: cfg.region, vpcCidr: cfg.vpcCidr }, () => ({ ...buildStack(cfg) }));
  });

  test("one CA (a CA certificate that signs, for no intermediate) and one server certificate it signs", () => {
    const selfSigned = ofType("tls:index/selfSignedCert:SelfSignedCert");
    expect(selfSigned).toHaveLength(1);
    const ca = inputs(selfSigned[0]);
    expect(ca.isCaCertificate).toBe(true);
    expect(ca.maxPathLength).toBe(0);
    expect(ca.allowedUses).toEqual(expect.arrayContaining(["certSigning"]));
    expect(ca.validityPeriodHours).toBe(CA_VALIDITY_HOURS);
    expect((ca.subject as Record<string, string>).commonName).toBe("dbtier dev CA");
    const signed = ofType("tls:index/locallySignedCert:LocallySignedCert");
    expect(signed).toHaveLength(1);
    const server = inputs(signed[0]);
    expect(server.allowedUses).toEqual(expect.arrayContaining(["serverAuth"]));
    expect(server.allowedUses).not.toContain("certSigning");
    expect(server.validityPeriodHours).toBe(SERVER_VALIDITY_HOURS);
    expect(ofType("tls:index/privateKey:PrivateKey").map((k) => inputs(k).algorithm)).toEqual(["ECDSA", "ECDSA"]);
  });

  test("the certificate request names the addresses webservers and the toolkit use (the fixture's webservers are outside the network)", () => {
    const vm = run.resources.find((r) => r.type === "digitalocean:index/droplet:Droplet")!;
    const request = inputs(ofType("tls:index/certRequest:CertRequest")[0]);
    expect(request.ipAddresses).toEqual([vm.state.ipv4AddressPrivate, vm.state.ipv4Address]);
    expect(request.ipAddresses).not.toContain("0.0.0.0");
    expect(request.dnsNames).toEqual([]);
  });

  test("the host's env has the toolkit verify the server's name with the stack's CA", () => {
    const cmd = run.resources.find((r) => r.type === "command:remote:Command" && r.name.endsWith("-host-files"))!;
    const tar = Buffer.from(String(reveal(cmd.inputs.stdin)), "base64").toString("latin1");
    expect(tar).toMatch(/^DB_TLS_MODE=verify-full$/m);
    expect(tar).toMatch(/^DB_CA_FILE=\/etc\/dbtier\/ca\.pem$/m);
    expect(tar).not.toMatch(/PRIVATE KEY/);
  });

  test("the CA follows dbtier:protect; the server certificate and its key never block a renewal", async () => {
    const protectedCfg = config({ protect: true });
    const protectedRun = await runProgram({ stack: protectedCfg.stack, region: protectedCfg.region, vpcCidr: protectedCfg.vpcCidr }, () => ({ ...buildStack(protectedCfg) }));
    const tlsResources = (r: PlanRun) => r.resources.filter((x) => x.type.startsWith("tls:")).map((x) => `${x.name} ${x.protect}`).sort();
    expect(tlsResources(protectedRun)).toEqual([
      "dbtier-database-ca-cert true",
      "dbtier-database-ca-key true",
      "dbtier-database-server-tls-cert false",
      "dbtier-database-server-tls-csr false",
      "dbtier-database-server-tls-key false",
    ]);
    expect(tlsResources(run).every((line) => line.endsWith(" false"))).toBe(true);
  });

  test("no TLS material in user-data", () => {
    const vms = run.resources.filter((r) => r.type === "digitalocean:index/droplet:Droplet");
    expect(vms).toHaveLength(1);
    for (const vm of vms) expect(String(inputs(vm).userData)).not.toMatch(/BEGIN (EC )?PRIVATE KEY|BEGIN CERTIFICATE|server-cert|tls-server-key/);
  });
});
