// `dbtier:engineConfig` (config.engineConfig: the dev-parity defaults for the engine and cloud, overridden by
// the stack, validated by engineParams.ts) as each managed cloud takes it: DigitalOcean a DatabaseMysqlConfig /
// DatabasePostgresqlConfig resource, Linode `engineConfig...` inputs of the v2 cluster, RDS entries of the
// parameter group. Pure; the field names are declared once, in engineParams.ts.
import { AwsParameter, parameterField } from "../engineParams";
import { DbTierConfig, EngineParameterValue } from "../types";

function field(name: string, cloud: "digitalocean" | "linode" | "aws"): string | AwsParameter {
  const found = parameterField(name, cloud);
  // config.ts refuses what a cloud cannot set: reaching this is a bug, not bad input.
  if (found === undefined) throw new Error(`dbtier:engineConfig.${name}: no ${cloud} field (config validation should have refused it)`);
  return found;
}

/** Inputs for the provider's own fields (DigitalOcean database config resource, Linode v2 cluster). */
export function providerFields(config: DbTierConfig, cloud: "digitalocean" | "linode"): Record<string, EngineParameterValue> {
  return Object.fromEntries(Object.entries(config.engineConfig).map(([name, value]) => [field(name, cloud) as string, value]));
}

/** RDS parameter group entries (booleans as 1/0, as RDS shows them; static parameters at the next reboot). */
export function rdsParameters(config: DbTierConfig): { name: string; value: string; applyMethod: string }[] {
  return Object.entries(config.engineConfig).map(([name, value]) => {
    const parameter = field(name, "aws") as AwsParameter;
    return { name: parameter.name, value: typeof value === "boolean" ? (value ? "1" : "0") : String(value), applyMethod: parameter.applyMethod };
  });
}
