// Loads policy/ the way `pulumi preview --policy-pack policy` does, without the CLI: the CLI's
// `pulumi-analyzer-policy` shim resolves @pulumi/pulumi/cmd/run-policy-pack from the pack directory and runs
// it there with node; the pack prints a port and serves the Analyzer gRPC service, which the engine then
// calls for every resource. This test plays the engine: it asks for the pack's info and has it analyze a
// good and a bad resource. It proves the directory is a loadable pack (PulumiPolicy.yaml, package.json with
// a version, index.ts type-checking under the runner's ts-node) and that the wrapping reports violations.
import { ChildProcess, spawn } from "child_process";
import { existsSync } from "fs";
import * as path from "path";

const root = path.resolve(__dirname, "../..");
const packDir = path.join(root, "policy");
const fromPolicy = (id: string) => require.resolve(id, { paths: [path.dirname(require.resolve("@pulumi/policy"))] });
/* eslint-disable @typescript-eslint/no-var-requires */
const grpc = require(fromPolicy("@grpc/grpc-js"));
const analyzerPb = require(fromPolicy("@pulumi/pulumi/proto/analyzer_pb"));
const analyzerRpc = require(fromPolicy("@pulumi/pulumi/proto/analyzer_grpc_pb"));
const { Struct } = require(fromPolicy("google-protobuf/google/protobuf/struct_pb"));
const { Empty } = require(fromPolicy("google-protobuf/google/protobuf/empty_pb"));

jest.setTimeout(90_000);

let pack: ChildProcess | undefined;
let client: any;
let stderr = "";

beforeAll(async () => {
  expect(existsSync(path.join(packDir, "PulumiPolicy.yaml"))).toBe(true);
  // Exactly what the CLI's shim does: resolve the runner from the pack directory.
  const runner = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [packDir] });
  pack = spawn(process.execPath, [runner, "127.0.0.1:1", "."], { cwd: packDir, stdio: ["ignore", "pipe", "pipe"] });
  pack.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    pack?.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const match = /^(\d+)\s*$/m.exec(out);
      if (match) resolve(Number(match[1]));
    });
    pack?.on("exit", (code) => reject(new Error(`policy pack exited with ${code} before serving:\n${stderr}`)));
  });
  client = new analyzerRpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

afterAll(() => {
  client?.close();
  if (pack && pack.exitCode === null) pack.kill("SIGTERM");
});

const call = <T>(method: string, request: unknown): Promise<T> =>
  new Promise((resolve, reject) => client[method](request, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))));

async function analyze(type: string, props: Record<string, unknown>, protect: boolean): Promise<{ policy: string; message: string }[]> {
  const request = new analyzerPb.AnalyzeRequest();
  request.setType(type);
  request.setUrn(`urn:pulumi:prod::dbtier::${type}::example`);
  request.setName("example");
  request.setProperties(Struct.fromJavaScript(props));
  const options = new analyzerPb.AnalyzerResourceOptions();
  options.setProtect(protect);
  request.setOptions(options);
  const response = await call<any>("analyze", request);
  return response.getDiagnosticsList().map((d: any) => ({ policy: d.getPolicyname(), message: d.getMessage() }));
}

it("serves the dbtier-prod pack with every rule, all mandatory", async () => {
  const info = await call<any>("getAnalyzerInfo", new Empty());
  expect(info.getName()).toBe("dbtier-prod");
  const names = info.getPoliciesList().map((p: any) => p.getName());
  expect(names).toEqual(expect.arrayContaining(["trusted-sources-narrow", "no-ssh-from-anywhere", "managed-database-protected", "rds-deletion-protection", "rds-backups-retained", "rds-encrypted-at-rest", "no-secrets-in-user-data"]));
  expect(stderr).not.toMatch(/error/i);
});

it("reports nothing for a well-formed RDS instance and names each broken rule otherwise", async () => {
  const good = { engine: "mysql", deletionProtection: true, backupRetentionPeriod: 7, storageEncrypted: true, finalSnapshotIdentifier: "final-1" };
  expect(await analyze("aws:rds/instance:Instance", good, true)).toEqual([]);
  const bad = await analyze("aws:rds/instance:Instance", { ...good, deletionProtection: false, storageEncrypted: false }, false);
  expect(bad.map((d) => d.policy).sort()).toEqual(["managed-database-protected", "rds-deletion-protection", "rds-encrypted-at-rest"]);
});

it("reports SSH open to the world on a droplet firewall", async () => {
  const diagnostics = await analyze("digitalocean:index/firewall:Firewall", { inboundRules: [{ protocol: "tcp", portRange: "22", sourceAddresses: ["0.0.0.0/0"] }] }, false);
  expect(diagnostics.map((d) => d.policy).sort()).toEqual(["no-ssh-from-anywhere", "trusted-sources-narrow"]);
  expect(diagnostics.find((d) => d.policy === "no-ssh-from-anywhere")?.message).toMatch(/admin ranges/);
});
