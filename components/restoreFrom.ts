// dbtier:restoreFrom: {source, time}: create the managed database from the provider's own point-in-time
// restore, so a recovery can be drilled (or done) into a new stack. Pure: config.ts validates with
// parseRestoreFrom, the adapters take their provider's inputs from restoreInputs.
//
// What each provider takes (node_modules/@pulumi/<provider> type docs and the provider schemas):
// - DigitalOcean DatabaseCluster `backupRestore: {databaseName, backupCreatedAt?}`: databaseName is "the name of
//   an existing database cluster from which the backup will be restored", backupCreatedAt "the timestamp of an
//   existing database cluster backup in ISO8601 ... The most recent backup will be used if excluded"
//   (digitalocean types/input.d.ts). Read at create only: the provider's update ignores it (do
//   database/resource_database_cluster.go, no ForceNew). DigitalOcean keeps 7 days of backups.
// - Linode DatabaseMysqlV2 / DatabasePostgresqlV2 `forkSource` (the source database's numeric id) and
//   `forkRestoreTime` (RFC 3339): both force a new database when they change (`RequiresReplace`, the time when
//   it differs as a time; linode databasemysqlv2/framework_resource_schema.go). The time must lie after the
//   source's `oldestRestoreTime` and before its last update (Linode API "Restore a Managed Database backup").
//   Linode documents no "latest": a time is required.
// - RDS Instance `restoreToPointInTime: {sourceDbInstanceIdentifier | sourceDbiResourceId, restoreTime |
//   useLatestRestorableTime}`: restoreTime "must be a time in Universal Coordinated Time (UTC) format and must be
//   before the latest restorable time"; the block forces a new instance (aws rds/instance.go ForceNew), and
//   `identifier` is required with it (aws rds/instance.d.ts). RDS keeps at most 35 days (backupRetentionPeriod).
import { Cloud, Mode } from "./types";

export interface RestoreFrom {
  /** DigitalOcean: the source cluster's name; Linode: the source database's id; AWS: the source instance's identifier or resource id. */
  readonly source: string;
  /** RFC 3339 UTC (`2026-12-04T12:00:00Z`), or `latest` where the provider restores to its newest point by itself. */
  readonly time: string;
}

export const LATEST = "latest";

/** Per cloud: what `source` is, its pattern, whether `latest` exists, and how far back the provider keeps backups. */
export const RESTORE_RULES: Readonly<Record<Cloud, { readonly source: string; readonly pattern: RegExp; readonly latest: boolean; readonly windowDays?: number; readonly windowWhy?: string }>> = {
  digitalocean: {
    source: "the name of the DigitalOcean database cluster to restore from (e.g. shop-prod-db): lowercase letters, digits and dashes",
    pattern: /^[a-z][a-z0-9-]{1,62}$/,
    latest: true,
    windowDays: 7,
    windowWhy: "DigitalOcean keeps 7 days of backups",
  },
  linode: {
    source: "the numeric id of the Linode managed database to fork (`linode-cli databases mysql-list`)",
    pattern: /^[1-9][0-9]{0,11}$/,
    latest: false,
  },
  aws: {
    source: "the source RDS instance's identifier (a letter first, letters, digits and single hyphens, at most 63) or its resource id (db-...)",
    pattern: /^([a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,62}(?<!-)|db-[A-Z0-9]{26})$/,
    latest: true,
    windowDays: 35,
    windowWhy: "RDS keeps automated backups for at most 35 days (the source's backupRetentionPeriod may be shorter)",
  },
};

const RFC3339_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z$/;

/** A valid RFC 3339 UTC time (seconds precision kept as given, a zero fraction dropped), or undefined. */
export function parseUtcTime(text: string): Date | undefined {
  const match = RFC3339_UTC.exec(text);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second, Math.floor(Number(match[7] ?? 0) * 1000)));
  // Date.UTC rolls 2026-02-30 over into March: a date that does not exist is refused, not moved.
  const same = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day && date.getUTCHours() === hour && date.getUTCMinutes() === minute && date.getUTCSeconds() === second;
  return same ? date : undefined;
}

/** `2026-12-04T12:00:00Z` (milliseconds only when there are any): what every provider parses. */
export function canonicalUtc(date: Date): string {
  return date.getUTCMilliseconds() === 0 ? date.toISOString().replace(/\.000Z$/, "Z") : date.toISOString();
}

export interface RestoreProblem { readonly field: "" | "source" | "time"; readonly message: string }

/**
 * Validates `dbtier:restoreFrom` for the cloud and mode (`value` as parsed from the config JSON; a YAML
 * timestamp arrives as its ISO text). Returns the normalised value or every problem.
 */
export function parseRestoreFrom(value: unknown, cloud: Cloud, mode: Mode, today: Date): { restoreFrom?: RestoreFrom; problems: RestoreProblem[] } {
  const problems: RestoreProblem[] = [];
  if (value === undefined) return { problems };
  if (mode !== "managed") {
    return { problems: [{ field: "", message: "applies only to dbtier:mode managed (the provider's point-in-time restore); a self-managed database is restored on its host: dbtier-db restore --to-time 'YYYY-MM-DD HH:MM:SSZ'" }] };
  }
  const rules = RESTORE_RULES[cloud];
  const allowedTimes = `an RFC 3339 UTC time such as 2026-12-04T12:00:00Z${rules.latest ? ", or latest" : " (Linode has no latest)"}`;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { problems: [{ field: "", message: `must be an object {source, time}: source is ${rules.source}; time is ${allowedTimes}` }] };
  }
  const fields = value as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (key !== "source" && key !== "time") problems.push({ field: "", message: `field ${JSON.stringify(key)} is not known (known: source, time)` });
  }
  let source: string | undefined;
  const rawSource = typeof fields.source === "number" ? String(fields.source) : fields.source;
  if (rawSource === undefined) problems.push({ field: "source", message: `is required: ${rules.source}` });
  else if (typeof rawSource !== "string" || !rules.pattern.test(rawSource.trim())) problems.push({ field: "source", message: `${JSON.stringify(rawSource)} is not allowed on ${cloud}; allowed: ${rules.source}` });
  else source = rawSource.trim();

  let time: string | undefined;
  const rawTime = fields.time;
  if (rawTime === undefined) {
    problems.push({ field: "time", message: `is required: ${allowedTimes}` });
  } else if (rawTime === LATEST) {
    if (rules.latest) time = LATEST;
    else problems.push({ field: "time", message: `"latest" is not offered by ${cloud}: a fork needs the time to restore to; allowed: an RFC 3339 UTC time such as 2026-12-04T12:00:00Z, after the source's oldest restore time` });
  } else {
    const parsed = typeof rawTime === "string" ? parseUtcTime(rawTime.trim()) : undefined;
    if (!parsed) {
      problems.push({ field: "time", message: `${JSON.stringify(rawTime)} is not allowed; allowed: ${allowedTimes} (UTC, with the Z)` });
    } else if (parsed.getTime() > today.getTime()) {
      // Shown canonical: a YAML timestamp arrives with milliseconds the user never wrote.
      problems.push({ field: "time", message: `${JSON.stringify(canonicalUtc(parsed))} is in the future (now is ${canonicalUtc(new Date(Math.floor(today.getTime() / 1000) * 1000))}); allowed: a past time${rules.latest ? ", or latest" : ""}` });
    } else if (rules.windowDays !== undefined && today.getTime() - parsed.getTime() > rules.windowDays * 86400_000) {
      problems.push({ field: "time", message: `${JSON.stringify(canonicalUtc(parsed))} is more than ${rules.windowDays} days ago: ${rules.windowWhy}; allowed: a time within the last ${rules.windowDays} days${rules.latest ? ", or latest" : ""}` });
    } else {
      time = canonicalUtc(parsed);
    }
  }
  return problems.length > 0 || source === undefined || time === undefined ? { problems } : { restoreFrom: { source, time }, problems };
}

/** DigitalOcean DatabaseCluster `backupRestore` (no backupCreatedAt: the most recent backup). */
export function doBackupRestore(r: RestoreFrom): { databaseName: string; backupCreatedAt?: string } {
  return { databaseName: r.source, ...(r.time === LATEST ? {} : { backupCreatedAt: r.time }) };
}

/** Linode v2 cluster fork inputs. */
export function linodeFork(r: RestoreFrom): { forkSource: number; forkRestoreTime: string } {
  if (r.time === LATEST) throw new Error("dbtier:restoreFrom.time: Linode needs a time (config validation should have refused latest)");
  return { forkSource: Number(r.source), forkRestoreTime: r.time };
}

/** RDS Instance `restoreToPointInTime`. */
export function rdsRestoreToPointInTime(r: RestoreFrom): { sourceDbInstanceIdentifier?: string; sourceDbiResourceId?: string; restoreTime?: string; useLatestRestorableTime?: boolean } {
  return {
    ...(r.source.startsWith("db-") && /^db-[A-Z0-9]{26}$/.test(r.source) ? { sourceDbiResourceId: r.source } : { sourceDbInstanceIdentifier: r.source }),
    ...(r.time === LATEST ? { useLatestRestorableTime: true } : { restoreTime: r.time }),
  };
}

/**
 * The restore inputs each adapter ignores once the database exists (`ignoreChanges`), whether or not the stack
 * restores: they act at creation only, so adding, changing or removing dbtier:restoreFrom on a running stack
 * never replaces its database (Linode and RDS would replace it: the inputs force a new resource).
 */
export const RESTORE_IGNORED_INPUTS: Readonly<Record<Cloud, readonly string[]>> = {
  digitalocean: ["backupRestore"],
  linode: ["forkSource", "forkRestoreTime"],
  // identifier/identifierPrefix: a restored instance needs a fixed identifier (RDS takes no prefix with a
  // restore), an ordinary one a prefix; switching between them must not replace the instance either.
  aws: ["restoreToPointInTime", "identifier", "identifierPrefix"],
};
