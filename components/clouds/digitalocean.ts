// DigitalOcean: VPC, Droplet + cloud Firewall, managed DatabaseCluster + DatabaseFirewall + db + user,
// a PgBouncer pool for PostgreSQL, standby nodes for HA and read replicas (each with its own firewall).
import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { RESTORE_IGNORED_INPUTS, doBackupRestore } from "../restoreFrom";
import { doDatabaseFirewallRules } from "../trustedSources";
import { providerFields } from "./engineSettings";
import { DbTierConfig } from "../types";
import { AdapterOptions, CloudAdapter, ManagedHandle, ManagedSpec, NetworkHandle, VmHandle, VmSpec, maintenanceWindowFor, providerName, resourceTags } from "./types";

/** Debian 12, the release the on-host toolkit and the vendor repositories target. */
export const DO_IMAGE = "debian-12-x64";
/** HA: a primary and one standby node (DigitalOcean fails over to the standby automatically). */
export const DO_HA_NODE_COUNT = 2;
/** PgBouncer pool size: well under the backend connections of the smallest recommended cluster size. */
export const DO_POOL_SIZE = 20;

const DO_ENGINE = { mysql: "mysql", postgres: "pg" } as const;

/** Droplet inputs whose later changes are ignored: first-boot input only (see vm()). */
export const DO_DROPLET_IGNORE_CHANGES = ["userData"] as const;

function doEngine(config: DbTierConfig): string {
  if (config.engine === "mariadb") throw new Error("dbtier:engine mariadb is not offered by DigitalOcean managed databases");
  return DO_ENGINE[config.engine];
}

export const digitalOceanAdapter: CloudAdapter = {
  cloud: "digitalocean",

  network(name: string, config: DbTierConfig, opts: AdapterOptions): NetworkHandle {
    const vpc = new digitalocean.Vpc(`${name}-vpc`, {
      name: providerName(config, "vpc"),
      region: config.region,
      ipRange: config.vpcCidr,
      description: `dbtier ${config.stack} private network`,
    }, { parent: opts.parent });
    return { cloud: "digitalocean", id: vpc.id, subnetIds: [], cidr: config.vpcCidr };
  },

  vm(spec: VmSpec, config: DbTierConfig, opts: AdapterOptions): VmHandle {
    // The firewall applies to every droplet with this tag, so it exists before the droplet boots: a firewall
    // keyed on the droplet id can only be attached once the droplet runs, leaving SSH open until then.
    const tag = new digitalocean.Tag(`${spec.name}-tag`, { name: providerName(config, `${spec.role}-vm`) }, { parent: opts.parent });
    const firewall = new digitalocean.Firewall(`${spec.name}-firewall`, {
      name: providerName(config, `${spec.role}-fw`),
      tags: [tag.name],
      inboundRules: spec.inboundRules.map((rule) => ({
        protocol: rule.protocol,
        portRange: String(rule.port),
        ...(rule.sourceCidrs.length > 0 ? { sourceAddresses: [...rule.sourceCidrs] } : {}),
        ...(rule.sourceTags.length > 0 ? { sourceTags: [...rule.sourceTags] } : {}),
      })),
      // Outbound stays open: apt, the vendor repositories and the S3 datastore are on the Internet.
      outboundRules: [
        { protocol: "tcp", portRange: "1-65535", destinationAddresses: ["0.0.0.0/0", "::/0"] },
        { protocol: "udp", portRange: "1-65535", destinationAddresses: ["0.0.0.0/0", "::/0"] },
        { protocol: "icmp", destinationAddresses: ["0.0.0.0/0", "::/0"] },
      ],
    }, { parent: opts.parent });
    const droplet = new digitalocean.Droplet(`${spec.name}-vm`, {
      name: providerName(config, spec.role === "database" ? "db" : "proxy"),
      image: DO_IMAGE,
      size: spec.size,
      region: config.region,
      vpcUuid: spec.network.id,
      userData: spec.userData,
      monitoring: true,
      gracefulShutdown: true,
      tags: [...resourceTags(config, spec.role), tag.name],
    }, {
      parent: opts.parent,
      protect: opts.protect && spec.role === "database",
      dependsOn: [firewall],
      // userData: "Changing this forces a new resource" (droplet.d.ts). It carries only first-boot input; what
      // changes later (admin keys, firewall rules, toolkit) arrives with the host-files command.
      ignoreChanges: [...DO_DROPLET_IGNORE_CHANGES],
    });
    return {
      id: droplet.id,
      publicIp: droplet.ipv4Address,
      privateIp: droplet.ipv4AddressPrivate,
      stateful: spec.role === "database" ? [droplet] : [],
      firewall: [firewall],
    };
  },

  managedDatabase(spec: ManagedSpec, config: DbTierConfig, opts: AdapterOptions): ManagedHandle {
    const engine = doEngine(config);
    const tags = resourceTags(config, "database");
    const restore = config.restoreFrom;
    const cluster = new digitalocean.DatabaseCluster(`${spec.name}-cluster`, {
      name: providerName(config, "db"),
      engine,
      version: config.engineVersion,
      size: config.size,
      region: config.region,
      nodeCount: config.highAvailability ? DO_HA_NODE_COUNT : 1,
      privateNetworkUuid: spec.network.id,
      maintenanceWindows: [{ day: maintenanceWindowFor(config).day, hour: maintenanceWindowFor(config).hh }],
      storageAutoscale: { enabled: true, thresholdPercent: 80, incrementGib: 10 },
      // dbtier:restoreFrom: a new cluster from a backup of another (components/restoreFrom.ts).
      ...(restore ? { backupRestore: doBackupRestore(restore) } : {}),
      tags,
    }, {
      parent: opts.parent,
      protect: opts.protect,
      additionalSecretOutputs: ["password", "uri", "privateUri"],
      // Read at create only; a later change must not even look like one (restoreFrom acts on a new stack).
      ignoreChanges: [...RESTORE_IGNORED_INPUTS.digitalocean],
    });

    const rules = spec.proxy.id.apply((dropletId) => doDatabaseFirewallRules(config, { dropletId }).map((r) => ({ type: r.type, value: r.value })));
    new digitalocean.DatabaseFirewall(`${spec.name}-cluster-firewall`, { clusterId: cluster.id, rules }, { parent: opts.parent });

    // The cluster's settings (an update in place; only clusterId forces a new one): the daily backup's start
    // (dbtier:backupHour; "The hour of day (in UTC) when backup for the service starts", databaseMysqlConfig.d.ts)
    // and dbtier:engineConfig, dev parity by default (DigitalOcean creates MySQL with sql_require_primary_key on).
    const settings = { clusterId: cluster.id, backupHour: config.backupHourUtc, backupMinute: 0, ...providerFields(config, "digitalocean") };
    if (config.engine === "postgres") new digitalocean.DatabasePostgresqlConfig(`${spec.name}-engine-config`, settings, { parent: opts.parent });
    else new digitalocean.DatabaseMysqlConfig(`${spec.name}-engine-config`, settings, { parent: opts.parent });

    // A restored cluster already holds the application database and user (the backup has them): creating them
    // again would fail, so the proxy's toolkit manages the user there. Both are retained on delete: a resource
    // that leaves the program (dbtier:restoreFrom added to a running stack, a renamed database) must never
    // DROP the live database or its user (a renamed user is left on the cluster: remove it by hand).
    const kept = { parent: opts.parent, protect: opts.protect, retainOnDelete: true };
    const db = restore ? undefined : new digitalocean.DatabaseDb(`${spec.name}-db`, { clusterId: cluster.id, name: config.database.name }, kept);
    const user = restore ? undefined : new digitalocean.DatabaseUser(`${spec.name}-user`, {
      clusterId: cluster.id,
      name: config.database.user,
      ...(config.engine === "mysql" ? { mysqlAuthPlugin: "caching_sha2_password" } : {}),
    }, { ...kept, additionalSecretOutputs: ["password", "accessKey", "accessCert"] });
    const appPassword = user ? user.password : new random.RandomPassword(`${spec.name}-app-password`, { length: 32, special: false }, { parent: opts.parent }).result;

    let pool: digitalocean.DatabaseConnectionPool | undefined;
    if (config.engine === "postgres") {
      pool = new digitalocean.DatabaseConnectionPool(`${spec.name}-pool`, {
        clusterId: cluster.id,
        name: `${config.database.name}-pool`.slice(0, 63),
        mode: "transaction",
        size: DO_POOL_SIZE,
        dbName: db ? db.name : config.database.name,
        user: user ? user.name : config.database.user,
      }, { parent: opts.parent, additionalSecretOutputs: ["password", "uri", "privateUri"] });
    }

    const replicaHosts: pulumi.Output<string>[] = [];
    for (let i = 0; i < config.readReplicas; i++) {
      const replica = new digitalocean.DatabaseReplica(`${spec.name}-replica-${i}`, {
        clusterId: cluster.id,
        name: providerName(config, `db-replica-${i}`),
        size: config.size,
        region: config.region,
        privateNetworkUuid: spec.network.id,
        tags,
        // Protected like the primary (lowering dbtier:readReplicas on a protected stack: `pulumi state
        // unprotect` the replica first); DigitalOcean itself has no deletion protection.
      }, { parent: opts.parent, protect: opts.protect, additionalSecretOutputs: ["password", "uri", "privateUri"] });
      // A replica has its own firewall: without one it would admit nobody; with the cluster's rules, the webservers.
      new digitalocean.DatabaseFirewall(`${spec.name}-replica-${i}-firewall`, {
        clusterId: replica.uuid,
        rules: doDatabaseFirewallRules(config).map((r) => ({ type: r.type, value: r.value })),
      }, { parent: opts.parent });
      replicaHosts.push(replica.host);
    }

    const ca = digitalocean.getDatabaseCaOutput({ clusterId: cluster.id }, { parent: opts.parent });
    return {
      host: cluster.host,
      proxyHost: cluster.privateHost,
      port: cluster.port,
      adminUser: cluster.user,
      adminPassword: pulumi.secret(cluster.password),
      appPassword: pulumi.secret(appPassword),
      appUserCreatedByProvider: user !== undefined,
      caCertificate: ca.certificate,
      replicaHosts,
      ...(pool ? { poolHost: pool.host, poolPort: pool.port, poolName: pool.name } : {}),
      stateful: [cluster, ...(db ? [db] : []), ...(user ? [user] : [])],
    };
  },
};
