// DatabaseTier: picks the shape from the validated config. self-managed: one SelfManagedDatabase. managed:
// a private network, a DatabaseProxy VM, the ManagedDatabase admitting the webservers and the proxy, then
// the proxy's remote commands. Outputs one shape for both, for index.ts to export.
import * as pulumi from "@pulumi/pulumi";
import { awsAdapter } from "./clouds/aws";
import { digitalOceanAdapter } from "./clouds/digitalocean";
import { linodeAdapter } from "./clouds/linode";
import { CloudAdapter } from "./clouds/types";
import { HostSummary } from "./hostVm";
import { ManagedDatabase } from "./managed";
import { DatabaseProxy } from "./proxy";
import { SelfManagedDatabase } from "./selfManaged";
import { TrustedSourceRow, trustedSourceTable } from "./trustedSources";
import { Cloud, DbTierConfig, Engine } from "./types";

export const ADAPTERS: Readonly<Record<Cloud, CloudAdapter>> = {
  digitalocean: digitalOceanAdapter,
  linode: linodeAdapter,
  aws: awsAdapter,
};

export interface DatabaseTierArgs {
  readonly config: DbTierConfig;
}

/** `mysql://` or `postgresql://` URL with TLS required; user and password percent-encoded. */
export function connectionUrl(engine: Engine, parts: { user: string; password: string; host: string; port: number; database: string }): string {
  const auth = `${encodeURIComponent(parts.user)}:${encodeURIComponent(parts.password)}`;
  const target = `${parts.host.includes(":") ? `[${parts.host}]` : parts.host}:${parts.port}/${encodeURIComponent(parts.database)}`;
  return engine === "postgres" ? `postgresql://${auth}@${target}?sslmode=require` : `mysql://${auth}@${target}?ssl-mode=REQUIRED`;
}

export class DatabaseTier extends pulumi.ComponentResource {
  readonly host: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  readonly database: pulumi.Output<string>;
  readonly user: pulumi.Output<string>;
  /** Secret. */
  readonly password: pulumi.Output<string>;
  /** Secret: where webservers connect (the PgBouncer pool on DigitalOcean PostgreSQL). */
  readonly connectionString: pulumi.Output<string>;
  readonly caCertificate?: pulumi.Output<string>;
  readonly proxyAddress?: pulumi.Output<string>;
  readonly readReplicaHosts: pulumi.Output<string[]>;
  readonly trustedSources: TrustedSourceRow[];
  readonly hosts: pulumi.Output<HostSummary[]>;

  constructor(name: string, args: DatabaseTierArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dbtier:index:DatabaseTier", name, {}, opts);
    const { config } = args;
    const adapter = ADAPTERS[config.cloud];
    this.database = pulumi.output(config.database.name);
    this.user = pulumi.output(config.database.user);
    this.trustedSources = trustedSourceTable(config);

    let connectHost: pulumi.Output<string>;
    let connectPort: pulumi.Output<number>;
    let connectDatabase: pulumi.Output<string> = this.database;
    if (config.mode === "self-managed") {
      const db = new SelfManagedDatabase(`${name}-database`, { config, adapter }, { parent: this });
      this.host = db.host;
      this.port = db.port;
      this.password = db.appPassword;
      this.hosts = db.hostSummary.apply((h) => [h]);
      this.readReplicaHosts = pulumi.output([]);
      connectHost = this.host;
      connectPort = this.port;
    } else {
      const network = adapter.network(`${name}-network`, config, { parent: this, protect: false });
      const proxy = new DatabaseProxy(`${name}-proxy`, { config, adapter, network }, { parent: this });
      const managed = new ManagedDatabase(`${name}-managed`, { config, adapter, network, proxy: proxy.vm }, { parent: this });
      proxy.deploy(managed);
      this.host = managed.host;
      this.port = managed.port;
      this.password = managed.appPassword;
      if (managed.caCertificate) this.caCertificate = managed.caCertificate;
      this.proxyAddress = proxy.publicIp;
      this.hosts = (proxy.hostSummary as pulumi.Output<HostSummary>).apply((h) => [h]);
      this.readReplicaHosts = pulumi.all([...managed.endpoint.replicaHosts]);
      const pool = managed.endpoint;
      connectHost = pool.poolHost ?? this.host;
      connectPort = pool.poolPort ?? this.port;
      if (pool.poolName) connectDatabase = pool.poolName;
    }
    this.connectionString = pulumi.secret(
      pulumi.all([connectHost, connectPort, connectDatabase, this.password]).apply(([host, port, database, password]) =>
        connectionUrl(config.engine, { user: config.database.user, password, host, port, database })),
    );
    this.registerOutputs({
      host: this.host,
      port: this.port,
      database: this.database,
      user: this.user,
      password: this.password,
      connectionString: this.connectionString,
      ...(this.caCertificate ? { caCertificate: this.caCertificate } : {}),
      ...(this.proxyAddress ? { proxyAddress: this.proxyAddress } : {}),
      readReplicaHosts: this.readReplicaHosts,
      trustedSources: this.trustedSources,
      hosts: this.hosts,
    });
  }
}

/** The stack outputs, in one place so index.ts stays a few lines and tests can build a stack per config. */
export interface StackOutputs {
  readonly host: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  readonly database: pulumi.Output<string>;
  readonly user: pulumi.Output<string>;
  /** Secret. */
  readonly password: pulumi.Output<string>;
  /** Secret. */
  readonly connectionString: pulumi.Output<string>;
  /** PEM CA bundle of the DBaaS (DigitalOcean, Linode); undefined where the provider gives none. */
  readonly caCertificate: pulumi.Output<string> | undefined;
  /** Public address of the proxy VM (managed mode); SSH to it only from the admin ranges. */
  readonly proxyAddress: pulumi.Output<string> | undefined;
  readonly readReplicaHosts: pulumi.Output<string[]>;
  readonly trustedSources: TrustedSourceRow[];
  /** Each VM: addresses, pinned SSH host key (for known_hosts) and the remote commands run on it. */
  readonly hosts: pulumi.Output<HostSummary[]>;
}

export function buildStack(config: DbTierConfig, name = "dbtier"): StackOutputs {
  const tier = new DatabaseTier(name, { config });
  return {
    host: tier.host,
    port: tier.port,
    database: tier.database,
    user: tier.user,
    password: pulumi.secret(tier.password),
    connectionString: pulumi.secret(tier.connectionString),
    caCertificate: tier.caCertificate,
    proxyAddress: tier.proxyAddress,
    readReplicaHosts: tier.readReplicaHosts,
    trustedSources: tier.trustedSources,
    hosts: tier.hosts,
  };
}
