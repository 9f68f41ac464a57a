// dbtier: the database tier of a web application. Thin on purpose: parse the stack config, build the tier,
// export its outputs. Everything else lives in components/.
import * as pulumi from "@pulumi/pulumi";
import { formatProblems, parseConfig } from "./components/config";
import { StackOutputs, buildStack } from "./components/tier";
import { withReferencedWebservers } from "./components/webserversFrom";

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

// Built at once; with dbtier:webserversFrom only after the other stack's list is read (components/webserversFrom.ts).
// Either way every output below is exported by name, so `pulumi stack output` and the plan see the same keys.
const tier: StackOutputs | Promise<StackOutputs> = config.webserversFrom ? withReferencedWebservers(config).then((merged) => buildStack(merged)) : buildStack(config);
function output<K extends keyof StackOutputs>(key: K): StackOutputs[K] | pulumi.Output<unknown> {
  // pulumi.output lifts the inner Output's secrecy and dependencies.
  return tier instanceof Promise ? pulumi.output(tier.then((outputs) => outputs[key])) : tier[key];
}

export const host = output("host");
export const port = output("port");
export const database = output("database");
export const user = output("user");
export const password = output("password");
export const connectionString = output("connectionString");
export const caCertificate = output("caCertificate");
export const proxyAddress = output("proxyAddress");
export const readReplicaHosts = output("readReplicaHosts");
// A promotion target pins it (dbtier:appDb.sourceSigningPublicKey) to load this stack's backups.
export const backupSigningPublicKey = output("backupSigningPublicKey");
export const trustedSources = output("trustedSources");
export const hosts = output("hosts");
