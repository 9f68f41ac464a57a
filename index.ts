// dbtier: the database tier of a web application. Thin on purpose: parse the stack config, build the tier,
// export its outputs. Everything else lives in components/.
import * as pulumi from "@pulumi/pulumi";
import { formatProblems, parseConfig } from "./components/config";
import { buildStack } from "./components/tier";

const raw = pulumi.runtime.allConfig();
// The CLI tells the program which keys were set with --secret (PULUMI_CONFIG_SECRET_KEYS); the SDK reads it
// in an internal helper, used when present so credentials set in plaintext are refused.
const runtimeInternals = pulumi.runtime as unknown as { isConfigSecret?: (key: string) => boolean };
const isSecret = runtimeInternals.isConfigSecret ? (key: string) => runtimeInternals.isConfigSecret!(key) : undefined;
const parsed = parseConfig(raw, pulumi.getStack(), isSecret);
if (!parsed.ok) {
  // One error listing every problem, so a user fixes them all in one go.
  throw new Error(`invalid dbtier config:\n${formatProblems(parsed.problems).join("\n")}`);
}
const outputs = buildStack(parsed.config);

export const host = outputs.host;
export const port = outputs.port;
export const database = outputs.database;
export const user = outputs.user;
export const password = outputs.password;
export const connectionString = outputs.connectionString;
export const caCertificate = outputs.caCertificate;
export const proxyAddress = outputs.proxyAddress;
export const readReplicaHosts = outputs.readReplicaHosts;
// A promotion target pins it (dbtier:appDb.sourceSigningPublicKey) to load this stack's backups.
export const backupSigningPublicKey = outputs.backupSigningPublicKey;
export const trustedSources = outputs.trustedSources;
export const hosts = outputs.hosts;
