// Pulumi mocks for `npm run plan` and the unit tests: plausible ids, addresses and endpoints for every
// resource type dbtier creates, and a record of every resource with its inputs (secrets kept marked).
// Mock secrets are deterministic and recognisable (`mock-secret-...`), so tests can search for leaks.
import { createHash } from "crypto";
import type * as pulumiRuntime from "@pulumi/pulumi/runtime";

/** Pulumi's wire marker for a secret value (deserialised inputs keep it). */
export const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
export const REDACTED = "[secret]";

export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  /** Inputs as the provider would receive them; secret values wrapped (see `redact` / `reveal`). */
  readonly inputs: Record<string, unknown>;
  readonly id: string;
  /** The state the mock returned (inputs plus provider-computed outputs), secrets revealed. */
  readonly state: Record<string, unknown>;
}

export function isSecretWrapper(value: unknown): value is { value: unknown } {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG;
}

/** Replaces every secret (at any depth) with "[secret]". */
export function redact(value: unknown): unknown {
  if (isSecretWrapper(value)) return REDACTED;
  if (Array.isArray(value)) return value.map(redact);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, redact(v)]));
  }
  return value;
}

/** Unwraps every secret (at any depth): the plain values, for internal use only. */
export function reveal(value: unknown): unknown {
  if (isSecretWrapper(value)) return reveal(value.value);
  if (Array.isArray(value)) return value.map(reveal);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, reveal(v)]));
  }
  return value;
}

const digest = (text: string): Buffer => createHash("sha256").update(text).digest();

/** A RandomBytes resource's mock value: deterministic per resource (the lab derives the keys it seeds). */
export function mockRandomBytes(name: string): Buffer {
  return digest(`seed/${name}`);
}

/** A mock secret value: deterministic per resource, recognisable in a leak search. */
export function mockSecret(name: string, field: string): string {
  return `mock-secret-${digest(`${name}/${field}`).toString("hex").slice(0, 24)}`;
}

const MOCK_CA = "-----BEGIN CERTIFICATE-----\nMIIBmockdbtierCAcertificateForPlansOnlyAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END CERTIFICATE-----\n";
const mockPem = (label: string, name: string): string => `-----BEGIN ${label}-----\nMIIBmock${digest(name).toString("hex").slice(0, 48)}\n-----END ${label}-----\n`;

/** Addresses: public ones from TEST-NET-1 (192.0.2.0/24), private ones inside the stack's VPC range. */
class AddressBook {
  private publicNext = 10;
  private privateNext = 10;
  constructor(private readonly vpcCidr: string) {}
  publicIp(): string {
    return `192.0.2.${this.publicNext++}`;
  }
  privateIp(): string {
    const [address] = this.vpcCidr.split("/");
    const octets = address.split(".").map(Number);
    return `${octets[0]}.${octets[1]}.${octets[2]}.${this.privateNext++}`;
  }
}

export interface PlanMocks extends pulumiRuntime.Mocks {
  readonly resources: RecordedResource[];
  readonly calls: { token: string; inputs: unknown }[];
  /** The stacks read through a StackReference (reads, not resources: never in `resources`). */
  readonly references: string[];
}

/** Outputs of other stacks a StackReference reads, by stack name (`pulumi stack output --json` of each). */
export type StackOutputsByStack = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

/** Numeric ids where the provider uses them (the program converts them with Number()). */
const NUMERIC_ID_TYPES = new Set([
  "digitalocean:index/droplet:Droplet",
  "linode:index/instance:Instance",
  "linode:index/firewall:Firewall",
  "linode:index/vpc:Vpc",
  "linode:index/vpcSubnet:VpcSubnet",
  "linode:index/databaseMysqlV2:DatabaseMysqlV2",
  "linode:index/databasePostgresqlV2:DatabasePostgresqlV2",
]);

export function createPlanMocks(options: { region: string; vpcCidr: string; stackOutputs?: StackOutputsByStack }): PlanMocks {
  const resources: RecordedResource[] = [];
  const calls: { token: string; inputs: unknown }[] = [];
  const references: string[] = [];
  const addresses = new AddressBook(options.vpcCidr);
  let numericId = 100001;

  const computed = (type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> => {
    const dbPort = (engine: unknown): number => (String(engine).startsWith("pg") || String(engine).startsWith("postgres") ? 5432 : 3306);
    switch (type) {
      case "random:index/randomPassword:RandomPassword":
        return { result: mockSecret(name, "result"), bcryptHash: mockSecret(name, "bcrypt") };
      case "random:index/randomBytes:RandomBytes": {
        const bytes = mockRandomBytes(name);
        return { base64: bytes.toString("base64"), hex: bytes.toString("hex") };
      }
      case "random:index/randomId:RandomId": {
        const bytes = digest(`id/${name}`).subarray(0, Number(inputs.byteLength ?? 4));
        return { hex: bytes.toString("hex"), b64Url: bytes.toString("base64url"), b64Std: bytes.toString("base64"), dec: BigInt(`0x${bytes.toString("hex")}`).toString() };
      }
      // @pulumi/tls: the keys and certificates a real run generates (the key a secret, the certificates not).
      case "tls:index/privateKey:PrivateKey":
        return { privateKeyPem: mockSecret(name, "privateKeyPem"), publicKeyPem: mockPem("PUBLIC KEY", name) };
      case "tls:index/certRequest:CertRequest":
        return { certRequestPem: mockPem("CERTIFICATE REQUEST", name) };
      case "tls:index/selfSignedCert:SelfSignedCert":
      case "tls:index/locallySignedCert:LocallySignedCert":
        return { certPem: mockPem("CERTIFICATE", name), readyForRenewal: false };
      case "digitalocean:index/droplet:Droplet":
        return { ipv4Address: addresses.publicIp(), ipv4AddressPrivate: addresses.privateIp(), urn: `do:droplet:${name}` };
      case "digitalocean:index/databaseCluster:DatabaseCluster":
        return {
          host: `${name}-do-user-1.db.ondigitalocean.com`,
          privateHost: `private-${name}-do-user-1.db.ondigitalocean.com`,
          port: 25060,
          user: "doadmin",
          password: mockSecret(name, "password"),
          database: "defaultdb",
          uri: mockSecret(name, "uri"),
          privateUri: mockSecret(name, "privateUri"),
          urn: `do:dbaas:${name}`,
        };
      case "digitalocean:index/databaseUser:DatabaseUser":
        return { password: mockSecret(name, "password"), role: "normal" };
      case "digitalocean:index/databaseConnectionPool:DatabaseConnectionPool":
        return { host: `${name}-do-user-1.db.ondigitalocean.com`, privateHost: `private-${name}-do-user-1.db.ondigitalocean.com`, port: 25061, password: mockSecret(name, "password"), uri: mockSecret(name, "uri"), privateUri: mockSecret(name, "privateUri") };
      case "digitalocean:index/databaseReplica:DatabaseReplica":
        return { uuid: `uuid-${name}`, host: `${name}-do-user-1.db.ondigitalocean.com`, privateHost: `private-${name}-do-user-1.db.ondigitalocean.com`, port: 25060, password: mockSecret(name, "password") };
      case "linode:index/instance:Instance": {
        const publicIp = addresses.publicIp();
        const interfaces = (Array.isArray(inputs.interfaces) ? inputs.interfaces : []) as Record<string, unknown>[];
        return {
          ipAddress: publicIp,
          ipv4s: [publicIp],
          interfaces: interfaces.map((i) => (i.purpose === "vpc" ? { ...i, ipv4: { vpc: addresses.privateIp(), nat11: "" } } : i)),
        };
      }
      case "linode:index/databaseMysqlV2:DatabaseMysqlV2":
      case "linode:index/databasePostgresqlV2:DatabasePostgresqlV2":
        return {
          hostPrimary: `a${numericId}-akamai-prod-1.g2a.akamaidb.net`,
          hostSecondary: `replica-a${numericId}-akamai-prod-1.g2a.akamaidb.net`,
          port: dbPort(inputs.engineId),
          rootUsername: "akmadmin",
          rootPassword: mockSecret(name, "rootPassword"),
          caCert: Buffer.from(MOCK_CA).toString("base64"),
          sslConnection: true,
        };
      case "aws:ec2/instance:Instance":
        return { publicIp: addresses.publicIp(), privateIp: addresses.privateIp(), arn: `arn:aws:ec2:${options.region}:123456789012:instance/i-${name}` };
      case "aws:ec2/securityGroup:SecurityGroup":
        return { arn: `arn:aws:ec2:${options.region}:123456789012:security-group/sg-${name}` };
      case "aws:rds/instance:Instance": {
        const identifier = String(inputs.identifier ?? name);
        const port = dbPort(inputs.engine ?? "mysql");
        const address = `${identifier}.c0mock0.${options.region}.rds.amazonaws.com`;
        return { identifier, address, endpoint: `${address}:${port}`, port, arn: `arn:aws:rds:${options.region}:123456789012:db:${identifier}` };
      }
      case "aws:rds/subnetGroup:SubnetGroup":
      case "aws:rds/parameterGroup:ParameterGroup":
        return { name: String(inputs.name ?? name) };
      case "command:remote:Command":
        return { stdout: "", stderr: "" };
      default:
        return {};
    }
  };

  const idFor = (type: string, name: string): string => {
    if (NUMERIC_ID_TYPES.has(type)) return String(numericId++);
    if (type.startsWith("aws:ec2/securityGroup")) return `sg-${digest(name).toString("hex").slice(0, 17)}`;
    if (type.startsWith("aws:ec2/subnet")) return `subnet-${digest(name).toString("hex").slice(0, 17)}`;
    if (type.startsWith("aws:ec2/vpc")) return `vpc-${digest(name).toString("hex").slice(0, 17)}`;
    if (type.startsWith("aws:ec2/instance")) return `i-${digest(name).toString("hex").slice(0, 17)}`;
    return `${name}-id`;
  };

  return {
    resources,
    calls,
    references,
    newResource(args: pulumiRuntime.MockResourceArgs): pulumiRuntime.MockResourceResult {
      const inputs = (args.inputs ?? {}) as Record<string, unknown>;
      if (args.type === "pulumi:pulumi:StackReference") {
        // A read of another stack: its outputs as given (none when not given: the program then reports them unset).
        const stack = String(inputs.name ?? args.name);
        references.push(stack);
        return { id: stack, state: { name: stack, outputs: { ...(options.stackOutputs?.[stack] ?? {}) }, secretOutputNames: [] } };
      }
      const id = idFor(args.type, args.name);
      const state = { ...(reveal(inputs) as Record<string, unknown>), ...computed(args.type, args.name, reveal(inputs) as Record<string, unknown>) };
      resources.push({ type: args.type, name: args.name, inputs, id, state });
      return { id, state };
    },
    call(args: pulumiRuntime.MockCallArgs): pulumiRuntime.MockCallResult {
      calls.push({ token: args.token, inputs: args.inputs });
      switch (args.token) {
        case "digitalocean:index/getDatabaseCa:getDatabaseCa":
          return { certificate: MOCK_CA, clusterId: args.inputs.clusterId };
        case "aws:index/getAvailabilityZones:getAvailabilityZones":
          return { names: [`${options.region}a`, `${options.region}b`, `${options.region}c`], zoneIds: ["z1", "z2", "z3"], id: options.region };
        case "aws:ec2/getAmi:getAmi":
          return { id: "ami-0mockdebian12", name: "debian-12-amd64-20250101-0000", architecture: "x86_64" };
        default:
          return args.inputs;
      }
    },
  };
}
