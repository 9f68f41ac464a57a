// dbtier:webserversFrom: the webserver list another Pulumi stack publishes (the usual case: the webservers are
// another project's outputs), read through a StackReference before any resource is planned, since every
// firewall holds one rule per webserver and the rule limits are counted on them. Validated exactly like
// dbtier:webservers (config.ts mergeWebservers); a bad list stops the program before anything is created.
import * as pulumi from "@pulumi/pulumi";
import { formatProblems, mergeWebservers } from "./config";
import { DbTierConfig } from "./types";

/** The StackReference's resource name (one per stack). */
export const WEBSERVERS_REFERENCE = "dbtier-webservers-from";

/** `config` with the referenced stack's webservers merged in; `config` itself without dbtier:webserversFrom. */
export async function withReferencedWebservers(config: DbTierConfig): Promise<DbTierConfig> {
  if (!config.webserversFrom) return config;
  const { stack, output } = config.webserversFrom;
  const reference = new pulumi.StackReference(WEBSERVERS_REFERENCE, { name: stack });
  // Addresses are no secret here: a secret output is read like a plain one (firewall rules show addresses anyway).
  const details = await reference.getOutputDetails(output);
  const merged = mergeWebservers(config, details.value ?? details.secretValue);
  if (!merged.ok) throw new Error(`invalid dbtier config:\n${formatProblems(merged.problems).join("\n")}`);
  return merged.config;
}
