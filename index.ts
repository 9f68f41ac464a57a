// dbtier: the database tier of a web application. Thin on purpose: parse the stack config, build the tier,
// export its outputs. Everything else lives in components/.
import * as pulumi from "@pulumi/pulumi";
import { formatProblems, parseConfig } from "./components/config";
import { DatabaseTier } from "./components/tier";

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
const config = parsed.config;
const tier = new DatabaseTier("dbtier", { config });

export const host = tier.host;
export const port = tier.port;
export const database = tier.database;
export const user = tier.user;
export const password = pulumi.secret(tier.password);
export const connectionString = pulumi.secret(tier.connectionString);
/** PEM CA bundle of the DBaaS (DigitalOcean, Linode); absent where the provider gives none (AWS, self-managed). */
export const caCertificate = tier.caCertificate;
/** Public address of the proxy VM (managed mode); SSH to it only from the admin ranges. */
export const proxyAddress = tier.proxyAddress;
export const readReplicaHosts = tier.readReplicaHosts;
export const trustedSources = tier.trustedSources;
/** Each VM: addresses, pinned SSH host key (for known_hosts) and the remote commands run on it. */
export const hosts = tier.hosts;
