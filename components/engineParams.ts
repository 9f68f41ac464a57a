// Engine parameters (`dbtier:engineConfig`): every settable name declared once with its type, the engines it
// belongs to and, per place it can be set, the provider's own field. Pure: config.ts validates with it, the
// adapters and the host renderer map each resolved name through `parameterField`.
import { Cloud, Engine, EngineParameterValue, Mode } from "./types";

/** Where a parameter is applied: the self-managed server's config file, or a managed cloud's API field. */
export type ParameterTarget = "self-managed" | Cloud;

export type ParameterType =
  | { readonly kind: "boolean" }
  | { readonly kind: "integer"; readonly min: number; readonly max: number; readonly unit: string }
  | { readonly kind: "sql-mode" };

export interface AwsParameter {
  /** RDS parameter group name of the parameter. */
  readonly name: string;
  /** `pending-reboot` for static parameters (RDS refuses `immediate` for them). */
  readonly applyMethod: "immediate" | "pending-reboot";
}

export interface EngineParameter {
  /** As the engine spells it (SHOW VARIABLES / SHOW). */
  readonly name: string;
  readonly engines: readonly Engine[];
  readonly type: ParameterType;
  readonly description: string;
  /**
   * Field per managed cloud: DigitalOcean DatabaseMysqlConfig / DatabasePostgresqlConfig input, Linode
   * DatabaseMysqlV2 / DatabasePostgresqlV2 `engineConfig...` input, RDS parameter group entry. Absent: the
   * provider does not let it be set. Self-managed servers take every parameter.
   */
  readonly digitalocean?: string;
  readonly linode?: string;
  readonly aws?: AwsParameter;
}

/** MySQL 8.4's built-in sql_mode: what a self-managed MySQL runs with, so what dev's application is tested on. */
export const MYSQL_DEFAULT_SQL_MODE = "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION";

/** sql_mode flags of MySQL 8 (the server manual's list); MariaDB accepts these and its own below. */
const MYSQL_SQL_MODES = [
  "ALLOW_INVALID_DATES", "ANSI_QUOTES", "ERROR_FOR_DIVISION_BY_ZERO", "HIGH_NOT_PRECEDENCE", "IGNORE_SPACE",
  "NO_AUTO_VALUE_ON_ZERO", "NO_BACKSLASH_ESCAPES", "NO_DIR_IN_CREATE", "NO_ENGINE_SUBSTITUTION", "NO_UNSIGNED_SUBTRACTION",
  "NO_ZERO_DATE", "NO_ZERO_IN_DATE", "ONLY_FULL_GROUP_BY", "PAD_CHAR_TO_FULL_LENGTH", "PIPES_AS_CONCAT", "REAL_AS_FLOAT",
  "STRICT_ALL_TABLES", "STRICT_TRANS_TABLES", "TIME_TRUNCATE_FRACTIONAL", "ANSI", "TRADITIONAL",
];
const MARIADB_SQL_MODES = [...MYSQL_SQL_MODES, "NO_AUTO_CREATE_USER", "EMPTY_STRING_IS_NULL", "SIMULTANEOUS_ASSIGNMENT", "TIME_ROUND_FRACTIONAL", "ORACLE", "MSSQL", "DB2", "POSTGRESQL", "MAXDB", "NO_FIELD_OPTIONS", "NO_KEY_OPTIONS", "NO_TABLE_OPTIONS"];

export const ENGINE_PARAMETERS: readonly EngineParameter[] = [
  {
    name: "sql_require_primary_key", engines: ["mysql"], type: { kind: "boolean" },
    description: "refuse CREATE/ALTER TABLE without a primary key",
    digitalocean: "sqlRequirePrimaryKey", linode: "engineConfigMysqlSqlRequirePrimaryKey",
    aws: { name: "sql_require_primary_key", applyMethod: "immediate" },
  },
  {
    name: "sql_mode", engines: ["mysql", "mariadb"], type: { kind: "sql-mode" },
    description: "the server SQL mode, comma-separated uppercase flags",
    digitalocean: "sqlMode", linode: "engineConfigMysqlSqlMode", aws: { name: "sql_mode", applyMethod: "immediate" },
  },
  {
    name: "max_connections", engines: ["mysql", "mariadb", "postgres"], type: { kind: "integer", min: 10, max: 16000, unit: "connections" },
    description: "most client connections at once (DigitalOcean and Linode size it from the plan)",
    aws: { name: "max_connections", applyMethod: "pending-reboot" },
  },
  {
    name: "wait_timeout", engines: ["mysql", "mariadb"], type: { kind: "integer", min: 1, max: 2147483, unit: "seconds" },
    description: "idle time before the server closes a non-interactive connection",
    digitalocean: "waitTimeout", linode: "engineConfigMysqlWaitTimeout", aws: { name: "wait_timeout", applyMethod: "immediate" },
  },
  {
    name: "innodb_lock_wait_timeout", engines: ["mysql", "mariadb"], type: { kind: "integer", min: 1, max: 3600, unit: "seconds" },
    description: "how long a transaction waits for a row lock",
    digitalocean: "innodbLockWaitTimeout", linode: "engineConfigMysqlInnodbLockWaitTimeout",
    aws: { name: "innodb_lock_wait_timeout", applyMethod: "immediate" },
  },
  {
    name: "idle_in_transaction_session_timeout", engines: ["postgres"], type: { kind: "integer", min: 0, max: 604800000, unit: "milliseconds" },
    description: "end sessions idle inside an open transaction after this long (0: never)",
    digitalocean: "idleInTransactionSessionTimeout", linode: "engineConfigPgIdleInTransactionSessionTimeout",
    aws: { name: "idle_in_transaction_session_timeout", applyMethod: "immediate" },
  },
  {
    name: "log_min_duration_statement", engines: ["postgres"], type: { kind: "integer", min: -1, max: 86400000, unit: "milliseconds" },
    description: "log statements slower than this (-1: off)",
    digitalocean: "logMinDurationStatement", aws: { name: "log_min_duration_statement", applyMethod: "immediate" },
  },
];

/**
 * Dev parity for managed MySQL: DigitalOcean and Linode create MySQL with sql_require_primary_key ON, and
 * Linode's default sql_mode is `ANSI,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,NO_ZERO_DATE,
 * NO_ZERO_IN_DATE,STRICT_ALL_TABLES` (linode databaseMysqlV2.d.ts; DigitalOcean "How to Create Primary Keys").
 * dev's self-managed server runs the engine's own defaults, so prod is set to the same: migrations that pass on
 * dev pass on prod. `dbtier:engineConfig` overrides either (DigitalOcean recommends primary keys for its
 * replication: set sql_require_primary_key true once the schema has them).
 */
export const PARITY_DEFAULTS: Readonly<Partial<Record<ParameterTarget, Partial<Record<Engine, Readonly<Record<string, EngineParameterValue>>>>>>> = {
  digitalocean: { mysql: { sql_require_primary_key: false, sql_mode: MYSQL_DEFAULT_SQL_MODE } },
  linode: { mysql: { sql_require_primary_key: false, sql_mode: MYSQL_DEFAULT_SQL_MODE } },
};

export const parameterTarget = (cloud: Cloud, mode: Mode): ParameterTarget => (mode === "self-managed" ? "self-managed" : cloud);

/** The provider's field for `name` at `target` (the parameter's own name on self-managed), or undefined. */
export function parameterField(name: string, target: ParameterTarget): string | AwsParameter | undefined {
  const parameter = ENGINE_PARAMETERS.find((p) => p.name === name);
  if (!parameter) return undefined;
  return target === "self-managed" ? parameter.name : parameter[target];
}

/** Names settable for `engine` at `target`, for error messages. */
export function settableParameters(engine: Engine, target: ParameterTarget): string[] {
  return ENGINE_PARAMETERS.filter((p) => p.engines.includes(engine) && parameterField(p.name, target) !== undefined).map((p) => p.name);
}

export interface ParameterProblem { readonly field: string; readonly message: string }

const TARGET_LABEL: Readonly<Record<ParameterTarget, string>> = {
  "self-managed": "a self-managed server", digitalocean: "DigitalOcean managed databases", linode: "Linode managed databases", aws: "RDS",
};

function checkValue(parameter: EngineParameter, engine: Engine, value: unknown): { value?: EngineParameterValue; problem?: string } {
  const type = parameter.type;
  if (type.kind === "boolean") {
    return typeof value === "boolean" ? { value } : { problem: `${JSON.stringify(value)} is not allowed; allowed: true | false` };
  }
  if (type.kind === "integer") {
    const ok = typeof value === "number" && Number.isInteger(value) && value >= type.min && value <= type.max;
    return ok ? { value: value as number } : { problem: `${JSON.stringify(value)} is not allowed; allowed: a whole number of ${type.unit} from ${type.min} to ${type.max}` };
  }
  const modes = engine === "mariadb" ? MARIADB_SQL_MODES : MYSQL_SQL_MODES;
  if (typeof value !== "string") return { problem: `${JSON.stringify(value)} is not a string of comma-separated sql_mode flags (e.g. ${MYSQL_DEFAULT_SQL_MODE})` };
  const flags = value.split(",").map((f) => f.trim()).filter((f) => f !== "");
  const unknown = flags.filter((f) => !modes.includes(f));
  if (unknown.length > 0) return { problem: `${unknown.map((f) => JSON.stringify(f)).join(", ")} ${unknown.length === 1 ? "is not an" : "are not"} ${engine} sql_mode flag${unknown.length === 1 ? "" : "s"}; allowed: ${modes.join(", ")}` };
  return { value: flags.join(",") };
}

/**
 * Validates `dbtier:engineConfig` (an object of name -> value) for the engine and where it runs, and returns
 * the parameters to apply: the parity defaults for that place, overridden by the given values.
 */
export function resolveEngineConfig(value: unknown, engine: Engine, cloud: Cloud, mode: Mode): { config: Record<string, EngineParameterValue>; problems: ParameterProblem[] } {
  const target = parameterTarget(cloud, mode);
  const config: Record<string, EngineParameterValue> = { ...(PARITY_DEFAULTS[target]?.[engine] ?? {}) };
  const problems: ParameterProblem[] = [];
  if (value === undefined) return { config, problems };
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { config, problems: [{ field: "", message: "must be an object of engine parameter names to values, e.g. {sql_require_primary_key: false}" }] };
  }
  const settable = settableParameters(engine, target);
  for (const [name, given] of Object.entries(value as Record<string, unknown>)) {
    const parameter = ENGINE_PARAMETERS.find((p) => p.name === name);
    if (!parameter || !parameter.engines.includes(engine)) {
      problems.push({ field: name, message: `is not a ${engine} parameter dbtier can set; allowed here: ${settable.join(", ") || "none"}` });
      continue;
    }
    if (!settable.includes(name)) {
      problems.push({ field: name, message: `cannot be set on ${TARGET_LABEL[target]}; allowed here: ${settable.join(", ") || "none"}` });
      continue;
    }
    const checked = checkValue(parameter, engine, given);
    if (checked.problem !== undefined) problems.push({ field: name, message: checked.problem });
    else config[name] = checked.value as EngineParameterValue;
  }
  return { config, problems };
}
