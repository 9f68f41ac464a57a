// DatabaseTier: picks the shape from the validated config. self-managed: one SelfManagedDatabase. managed:
// a private network, a DatabaseProxy VM, the ManagedDatabase admitting the webservers and the proxy, then
// the proxy's remote commands. Outputs one shape for both, for index.ts to export.
import * as pulumi from "@pulumi/pulumi";
import { awsAdapter } from "./clouds/aws";
import { digitalOceanAdapter } from "./clouds/digitalocean";
import { linodeAdapter } from "./clouds/linode";
import { CloudAdapter } from "./clouds/types";
import { BackupSigningKey } from "./backupSigning";
import { HostSummary } from "./hostVm";
import { ManagedDatabase } from "./managed";
import { DatabaseProxy } from "./proxy";
import { SelfManagedDatabase } from "./selfManaged";
import { connectionTlsQuery } from "./tls";
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
  // The client verifies the chain and the server's name against the `caCertificate` output (components/tls.ts).
  return `${engine === "postgres" ? "postgresql" : "mysql"}://${auth}@${target}?${connectionTlsQuery(engine)}`;
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
  /** PEM CA bundle the clients verify the database with: the stack CA (self-managed), the DBaaS CA (DigitalOcean, Linode), the RDS roots (AWS). */
  readonly caCertificate: pulumi.Output<string> | undefined;
  /** This stack's backup signing public key: a promotion target pins it to load this stack's backups. */
  readonly backupSigningPublicKey: pulumi.Output<string>;
  /** Public address of the proxy VM (managed mode); SSH to it only from the admin ranges. */
  readonly proxyAddress: pulumi.Output<string> | undefined;
  readonly readReplicaHosts: pulumi.Output<string[]>;
  readonly trustedSources: TrustedSourceRow[];
  /** Each VM: addresses, pinned SSH host key (for known_hosts) and the remote commands run on it. */
  readonly hosts: pulumi.Output<HostSummary[]>;
}

export class DatabaseTier extends pulumi.ComponentResource {
  readonly outputs: StackOutputs;

  constructor(name: string, args: DatabaseTierArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dbtier:index:DatabaseTier", name, {}, opts);
    const { config } = args;
    const adapter = ADAPTERS[config.cloud];
    const database = pulumi.output(config.database.name);
    const user = pulumi.output(config.database.user);

    const signingKey = new BackupSigningKey(`${name}-backup-signing`, { application: config.appDb.application, protect: config.protect }, { parent: this });
    let shape: Pick<StackOutputs, "host" | "port" | "password" | "caCertificate" | "proxyAddress" | "readReplicaHosts" | "hosts">;
    // Where the connection string points: the PgBouncer pool on DigitalOcean PostgreSQL, else the server.
    let connect: { host: pulumi.Output<string>; port: pulumi.Output<number>; database: pulumi.Output<string> };
    if (config.mode === "self-managed") {
      const db = new SelfManagedDatabase(`${name}-database`, { config, adapter, signingKey }, { parent: this });
      shape = {
        host: db.host,
        port: db.port,
        password: db.appPassword,
        caCertificate: db.caCertificate,
        proxyAddress: undefined,
        readReplicaHosts: pulumi.output([]),
        hosts: db.hostSummary.apply((h) => [h]),
      };
      connect = { host: db.host, port: db.port, database };
    } else {
      const network = adapter.network(`${name}-network`, config, { parent: this, protect: false });
      const proxy = new DatabaseProxy(`${name}-proxy`, { config, adapter, network, signingKey }, { parent: this });
      const managed = new ManagedDatabase(`${name}-managed`, { config, adapter, network, proxy: proxy.vm }, { parent: this });
      const hostSummary = proxy.deploy(managed);
      const endpoint = managed.endpoint;
      shape = {
        host: managed.host,
        port: managed.port,
        password: managed.appPassword,
        caCertificate: managed.caCertificate,
        proxyAddress: proxy.publicIp,
        readReplicaHosts: pulumi.all([...endpoint.replicaHosts]),
        hosts: hostSummary.apply((h) => [h]),
      };
      connect = { host: endpoint.poolHost ?? managed.host, port: endpoint.poolPort ?? managed.port, database: endpoint.poolName ?? database };
    }
    const connectionString = pulumi.secret(
      pulumi.all([connect.host, connect.port, connect.database, shape.password]).apply(([host, port, db, password]) =>
        connectionUrl(config.engine, { user: config.database.user, password, host, port, database: db })),
    );
    this.outputs = {
      ...shape,
      database,
      user,
      password: pulumi.secret(shape.password),
      connectionString,
      backupSigningPublicKey: signingKey.publicKey,
      trustedSources: trustedSourceTable(config),
    };
    this.registerOutputs(Object.fromEntries(Object.entries(this.outputs).filter(([, value]) => value !== undefined)));
  }
}

export function buildStack(config: DbTierConfig, name = "dbtier"): StackOutputs {
  return new DatabaseTier(name, { config }).outputs;
}
