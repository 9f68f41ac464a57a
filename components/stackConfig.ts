// Reads Pulumi.yaml defaults and a Pulumi.<stack>.yaml into the flat map the Pulumi runtime hands a program
// (`dbtier:key` -> string, structured values as JSON), so offline tools validate exactly what `pulumi up` would.
import { readFileSync } from "fs";
import * as path from "path";
import * as yaml from "js-yaml";

/** What stands in for a `secure:` value, which only the Pulumi CLI can decrypt. */
export const SECRET_PLACEHOLDER = "[secret]";

export interface StackConfig {
  readonly raw: Record<string, string>;
  /** Keys whose value is `secure:` ciphertext in the stack file. */
  readonly secretKeys: readonly string[];
}

type YamlValue = unknown;

function isRecord(value: YamlValue): value is Record<string, YamlValue> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function asString(value: YamlValue): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Parses project + stack YAML texts. `project` is the `name:` of Pulumi.yaml (its config keys are unprefixed). */
export function parseStackConfig(projectYaml: string, stackYaml: string): StackConfig {
  const project = yaml.load(projectYaml);
  if (!isRecord(project) || typeof project.name !== "string") throw new Error("Pulumi.yaml: missing `name`");
  const raw: Record<string, string> = {};
  const secretKeys: string[] = [];
  const projectConfig = isRecord(project.config) ? project.config : {};
  for (const [key, declaration] of Object.entries(projectConfig)) {
    const fullKey = key.includes(":") ? key : `${project.name}:${key}`;
    if (isRecord(declaration) && "default" in declaration) raw[fullKey] = asString(declaration.default);
    else if (!isRecord(declaration)) raw[fullKey] = asString(declaration);
  }
  const stack = yaml.load(stackYaml);
  const stackConfig = isRecord(stack) && isRecord(stack.config) ? stack.config : {};
  for (const [key, value] of Object.entries(stackConfig)) {
    const fullKey = key.includes(":") ? key : `${project.name}:${key}`;
    if (isRecord(value) && typeof value.secure === "string") {
      raw[fullKey] = SECRET_PLACEHOLDER;
      secretKeys.push(fullKey);
    } else {
      raw[fullKey] = asString(value);
    }
  }
  return { raw, secretKeys };
}

/** Loads `Pulumi.yaml` and `Pulumi.<stack>.yaml` (or `configFile`) from `dir`. */
export function loadStackConfig(dir: string, stack: string, configFile?: string): StackConfig {
  const projectYaml = readFileSync(path.join(dir, "Pulumi.yaml"), "utf8");
  const stackYaml = readFileSync(configFile ?? path.join(dir, `Pulumi.${stack}.yaml`), "utf8");
  return parseStackConfig(projectYaml, stackYaml);
}
