// The validated, typed shape of a stack's `dbtier:` config. Produced only by `parseConfig` in config.ts;
// everything downstream (planners, components, on-host env rendering) reads this and never raw config.

export const CLOUDS = ["digitalocean", "linode", "aws"] as const;
export type Cloud = (typeof CLOUDS)[number];

export const MODES = ["self-managed", "managed"] as const;
export type Mode = (typeof MODES)[number];

export const ENGINES = ["mariadb", "mysql", "postgres"] as const;
export type Engine = (typeof ENGINES)[number];

export const BACKUP_PERIODS = ["hourly", "daily", "weekly", "monthly"] as const;
export type BackupPeriod = (typeof BACKUP_PERIODS)[number];

export const APP_DB_SOURCES = ["virgin", "baseline", ...BACKUP_PERIODS] as const;
export type AppDbSource = (typeof APP_DB_SOURCES)[number];

/** A trusted source after normalisation: `cidr` is canonical (host bits zeroed, /32 or /128 for single hosts). */
export interface Webserver {
  readonly name: string;
  readonly cidr: string;
  readonly family: 4 | 6;
}

export interface DatabaseNames {
  /** Application database (schema) name. */
  readonly name: string;
  /** Application user the webservers log in as. */
  readonly user: string;
}

export interface AppDbConfig {
  readonly source: AppDbSource;
  /** git URL of the repository that holds the baseline dump (required when source is `baseline`). */
  readonly baselineRepo?: string;
  /** known_hosts line(s) pinning the git server's SSH host key (required for an SSH baselineRepo). */
  readonly baselineKnownHosts?: string;
  /** Path of the dump inside the baseline repository (default `dbtier/baseline.sql`). */
  readonly baselinePath: string;
  /** Datastore prefix this stack's backups are written under (default `<database name>-<stack>`). */
  readonly application: string;
  /** Prefix a period source is loaded from (default `application`); promotion points prod at dev's. */
  readonly sourceApplication: string;
  /** The backup signing public key of sourceApplication's stack (its `backupSigningPublicKey` output), when
   * that is another stack: nothing under that prefix is loaded without it. */
  readonly sourceSigningPublicKey?: string;
}

export interface DatastoreConfig {
  /** S3-compatible endpoint URL, e.g. https://fra1.digitaloceanspaces.com */
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
}

export interface BackupsConfig {
  readonly periods: readonly BackupPeriod[];
  /** Generations kept per period. */
  readonly retention: Readonly<Record<BackupPeriod, number>>;
  readonly datastore: DatastoreConfig;
  /** age public key (`age1...`) backups are encrypted to; the private key never lives on a host. */
  readonly encryptionRecipient: string;
}

/** Values set with `pulumi config set --secret`. Absent ones are undefined, never empty strings. */
export interface SecretConfig {
  readonly datastoreAccessKeyId?: string;
  readonly datastoreSecretAccessKey?: string;
  readonly alertEmail?: string;
  /** SMTP URL for alerts, e.g. smtps://user@smtp.example.com:465 (password in smtpPassword). */
  readonly smtpUrl?: string;
  readonly smtpPassword?: string;
  /** Private deploy key (OpenSSH format) with read access to the baseline repository. */
  readonly baselineDeployKey?: string;
}

export interface DbTierConfig {
  readonly stack: string;
  readonly cloud: Cloud;
  readonly region: string;
  readonly mode: Mode;
  readonly engine: Engine;
  readonly engineVersion: string;
  /** Database VM size (self-managed) or cluster/instance size (managed). */
  readonly size: string;
  /** Proxy VM size (managed mode). */
  readonly proxySize: string;
  readonly webservers: readonly Webserver[];
  /** DO/Linode tag or AWS security group id of autoscaled webservers, if any. */
  readonly webserverTag?: string;
  /** How many droplets the DigitalOcean tag may hold: each counts 2 addresses in the database firewall's budget. */
  readonly webserverTagDroplets: number;
  /** Canonical CIDRs SSH may come from. Empty only when no VM exists. */
  readonly adminCidrs: readonly string[];
  /** Public half of the admin's SSH key pair, installed on every VM. */
  readonly adminSshPublicKey?: string;
  readonly database: DatabaseNames;
  readonly appDb: AppDbConfig;
  readonly backups: BackupsConfig;
  readonly highAvailability: boolean;
  readonly readReplicas: number;
  readonly protect: boolean;
  readonly allowWideSources: boolean;
  /** Private network range for the VPC (default derived from the stack name, so stacks never overlap). */
  readonly vpcCidr: string;
  /** Another stack's output merged into `webservers` once resolved (see `mergeWebservers`). */
  readonly webserversFrom?: WebserversFrom;
  /** Managed only: the provider's maintenance window (DigitalOcean, Linode `updates`, RDS). */
  readonly maintenanceWindow: MaintenanceWindow;
  /** Managed only: hour (UTC) the provider's daily backup starts (RDS backupWindow, DigitalOcean backup_hour). */
  readonly backupHourUtc: number;
  /** Managed AWS only: RDS automated backup retention in days (DigitalOcean and Linode keep a fixed window). */
  readonly backupRetentionDays: number;
  /** True only when the stack opted into paid RDS Extended Support (`dbtier:rdsExtendedSupport`). */
  readonly rdsExtendedSupport: boolean;
  /** What the AWS adapter sets as the RDS instance's engineLifecycleSupport (MySQL and PostgreSQL on RDS only). */
  readonly rdsLifecycleSupport?: RdsLifecycleSupport;
  /**
   * Engine parameters to apply (names as the engine spells them, e.g. sql_require_primary_key): the
   * dev-parity defaults for this engine and cloud, overridden by `dbtier:engineConfig`. Validated per engine
   * and cloud in engineParams.ts; each adapter maps a name to its provider's field there.
   */
  readonly engineConfig: Readonly<Record<string, EngineParameterValue>>;
  /** Managed only: create the database from the provider's point-in-time restore of another (restoreFrom.ts). */
  readonly restoreFrom?: { readonly source: string; readonly time: string };
  readonly secrets: SecretConfig;
}

export const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** A weekly window of one hour starting at `hourUtc` (providers that take a duration get one hour). */
export interface MaintenanceWindow {
  readonly day: Weekday;
  readonly hourUtc: number;
}

/** Where another Pulumi stack publishes the webserver list (`[{name, ip}]`) this stack trusts too. */
export interface WebserversFrom {
  /** Fully qualified stack name, `org/project/stack`. */
  readonly stack: string;
  readonly output: string;
}

/** RDS `engineLifecycleSupport` values (aws rds/instance.d.ts): the default enrols the instance in paid Extended Support. */
export type RdsLifecycleSupport = "open-source-rds-extended-support" | "open-source-rds-extended-support-disabled";

/** A validated engine parameter value: booleans and integers typed, everything else text. */
export type EngineParameterValue = string | number | boolean;

export interface ConfigProblem {
  /** Full key, e.g. `dbtier:engineVersion` or `dbtier:webservers[2].ip`. */
  readonly key: string;
  readonly message: string;
}

export type ParseResult =
  | { readonly ok: true; readonly config: DbTierConfig }
  | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

/** TCP port each engine listens on. */
export const ENGINE_PORT: Readonly<Record<Engine, number>> = { mariadb: 3306, mysql: 3306, postgres: 5432 };
