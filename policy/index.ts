// The policy pack entry point: wraps the pure rules of rules.ts for @pulumi/policy. Nothing is decided here.
import { PolicyPack, ResourceValidationPolicy } from "@pulumi/policy";
import { DEFAULT_RULE_CONFIG, RULES, Rule, ruleConfig } from "./rules";

/** Every rule reads the same optional config (only the trusted-source rule uses it). */
const configSchema = {
  properties: {
    widestIpv4Prefix: { type: "integer" as const, minimum: 0, maximum: 32, default: DEFAULT_RULE_CONFIG.widestIpv4Prefix },
    widestIpv6Prefix: { type: "integer" as const, minimum: 0, maximum: 128, default: DEFAULT_RULE_CONFIG.widestIpv6Prefix },
    allowedWideSources: { type: "array" as const, items: { type: "string" as const }, default: [] as string[] },
  },
};

function toPolicy(rule: Rule): ResourceValidationPolicy {
  return {
    name: rule.name,
    description: rule.description,
    enforcementLevel: "mandatory",
    ...(rule.name === "trusted-sources-narrow" ? { configSchema } : {}),
    validateResource: (args, reportViolation) => {
      const config = rule.name === "trusted-sources-narrow" ? ruleConfig(args.getConfig<Record<string, unknown>>()) : DEFAULT_RULE_CONFIG;
      for (const message of rule.check({ type: args.type, props: args.props, protect: args.opts.protect }, config)) {
        reportViolation(message);
      }
    },
  };
}

new PolicyPack("dbtier-prod", {
  description: "dbtier prod guard rails: trusted sources, SSH, managed database protection and backups, encryption, user-data secrets",
  enforcementLevel: "mandatory",
  policies: RULES.map(toPolicy),
});
