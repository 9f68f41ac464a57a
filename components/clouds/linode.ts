// Linode (Akamai): VPC + subnet, Instance with a cloud Firewall attached at creation, and the v2 managed
// databases (DatabaseMysqlV2 / DatabasePostgresqlV2; the v1 resources are deprecated) with an allow list.
// Linode's managed databases sit outside the VPC: the proxy reaches them over its public address, which
// the allow list names exactly. The application database and user are created by the proxy's tool.
import * as linode from "@pulumi/linode";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { RESTORE_IGNORED_INPUTS, linodeFork } from "../restoreFrom";
import { linodeAllowList } from "../trustedSources";
import { providerFields } from "./engineSettings";
import { DbTierConfig } from "../types";
import { AdapterOptions, CloudAdapter, ManagedHandle, ManagedSpec, NetworkHandle, VmHandle, VmSpec, maintenanceWindowFor, providerName, resourceTags } from "./types";

export const LINODE_IMAGE = "linode/debian12";
/** Linode's HA offer is a 3-node cluster (primary + 2 standbys); 1 otherwise. */
export const LINODE_HA_CLUSTER_SIZE = 3;

/** `mysql/8`, `postgresql/16`: the engine ids the v2 resources take. */
export function linodeEngineId(config: DbTierConfig): string {
  if (config.engine === "mariadb") throw new Error("dbtier:engine mariadb is not offered by Linode managed databases");
  return `${config.engine === "postgres" ? "postgresql" : "mysql"}/${config.engineVersion}`;
}

const isV6 = (cidr: string): boolean => cidr.includes(":");

/** Instance inputs whose later changes are ignored: first-boot input only (see vm()). */
export const LINODE_INSTANCE_IGNORE_CHANGES = ["metadatas"] as const;

/**
 * A label suffix that changes exactly when the labelled resource is replaced. Linode refuses a second
 * instance or database with the same label ("Label must be unique"), so a create-before-delete replacement
 * under a fixed label fails. `keepers` are the values of the inputs dbtier sets that force a new resource
 * (scripts/plan/replaceFacts.ts): when one changes, the suffix and with it the label change too.
 */
function replacementSuffix(name: string, keepers: Record<string, pulumi.Input<string>>, parent: pulumi.Resource, protect: boolean): random.RandomId {
  // Protected with what it names: replacing it renames, and so replaces, that resource.
  return new random.RandomId(`${name}-label-suffix`, { byteLength: 3, keepers }, { parent, protect });
}

export const linodeAdapter: CloudAdapter = {
  cloud: "linode",

  network(name: string, config: DbTierConfig, opts: AdapterOptions): NetworkHandle {
    const vpc = new linode.Vpc(`${name}-vpc`, {
      label: providerName(config, "vpc"),
      region: config.region,
      description: `dbtier ${config.stack} private network`,
    }, { parent: opts.parent });
    const subnet = new linode.VpcSubnet(`${name}-subnet`, {
      vpcId: vpc.id.apply((id) => Number(id)),
      label: providerName(config, "subnet"),
      ipv4: config.vpcCidr,
    }, { parent: opts.parent });
    return { cloud: "linode", id: vpc.id, subnetIds: [subnet.id], cidr: config.vpcCidr };
  },

  vm(spec: VmSpec, config: DbTierConfig, opts: AdapterOptions): VmHandle {
    const unsupportedTags = spec.inboundRules.filter((rule) => rule.sourceTags.length > 0);
    if (unsupportedTags.length > 0) {
      throw new Error(`dbtier:webserverTag: Linode cloud firewalls cannot admit by tag (${unsupportedTags[0].sourceTags.join(", ")}); list the webservers' addresses`);
    }
    const firewall = new linode.Firewall(`${spec.name}-firewall`, {
      label: providerName(config, `${spec.role}-fw`),
      inboundPolicy: "DROP",
      outboundPolicy: "ACCEPT",
      inbounds: spec.inboundRules.map((rule, i) => {
        const v4 = rule.sourceCidrs.filter((c) => !isV6(c));
        const v6 = rule.sourceCidrs.filter(isV6);
        return {
          label: `dbtier-${rule.port}-${i}`.slice(0, 32),
          description: rule.description,
          action: "ACCEPT",
          protocol: "TCP",
          ports: String(rule.port),
          ...(v4.length > 0 ? { ipv4s: v4 } : {}),
          ...(v6.length > 0 ? { ipv6s: v6 } : {}),
        };
      }),
      tags: resourceTags(config, spec.role),
    }, { parent: opts.parent });
    const subnetId = spec.network.subnetIds[0];
    const firewallId = firewall.id.apply((id) => Number(id));
    const labelSuffix = replacementSuffix(`${spec.name}-vm`, { image: LINODE_IMAGE, firewallId: firewall.id }, opts.parent, opts.protect && spec.role === "database");
    const instance = new linode.Instance(`${spec.name}-vm`, {
      label: labelSuffix.hex.apply((hex) => providerName(config, `${spec.role === "database" ? "db" : "proxy"}-${hex}`)),
      region: config.region,
      type: spec.size,
      image: LINODE_IMAGE,
      // Attached at creation, so the instance never boots without its firewall.
      firewallId,
      interfaces: [
        { purpose: "public" },
        { purpose: "vpc", subnetId: subnetId.apply((id) => Number(id)) },
      ],
      metadatas: [{ userData: spec.userData.apply((text) => Buffer.from(text, "utf8").toString("base64")) }],
      tags: resourceTags(config, spec.role),
    }, {
      parent: opts.parent,
      protect: opts.protect && spec.role === "database",
      additionalSecretOutputs: ["rootPass"],
      // metadata.user_data is ForceNew (linode instance/schema_resource.go): first-boot input only, later
      // changes arrive with the host-files command.
      ignoreChanges: [...LINODE_INSTANCE_IGNORE_CHANGES],
    });
    const privateIp = instance.interfaces.apply((interfaces) => {
      const vpcInterface = (interfaces ?? []).find((i) => i.purpose === "vpc");
      return vpcInterface?.ipv4?.vpc ?? "";
    });
    return {
      id: instance.id,
      publicIp: instance.ipAddress,
      privateIp,
      stateful: spec.role === "database" ? [instance] : [],
      // Attached at creation (firewallId): the instance already depends on it.
      firewall: [firewall],
    };
  },

  managedDatabase(spec: ManagedSpec, config: DbTierConfig, opts: AdapterOptions): ManagedHandle {
    if (config.readReplicas > 0) throw new Error("dbtier:readReplicas: Linode managed databases have no read replicas; allowed: 0");
    const allowLists = spec.proxy.publicIp.apply((address) => linodeAllowList(config, { address }));
    const labelSuffix = replacementSuffix(`${spec.name}-cluster`, { region: config.region }, opts.parent, opts.protect);
    const common = {
      label: labelSuffix.hex.apply((hex) => providerName(config, `db-${hex}`)),
      engineId: linodeEngineId(config),
      region: config.region,
      type: config.size,
      clusterSize: config.highAvailability ? LINODE_HA_CLUSTER_SIZE : 1,
      allowLists,
      updates: { dayOfWeek: maintenanceWindowFor(config).linodeDayOfWeek, duration: 3, frequency: "weekly", hourOfDay: maintenanceWindowFor(config).hourUtc },
    };
    const resourceOpts: pulumi.CustomResourceOptions = {
      parent: opts.parent,
      protect: opts.protect,
      additionalSecretOutputs: ["rootPassword"],
      // The fork inputs force a new database when they change: they act at creation only (restoreFrom.ts).
      ignoreChanges: [...RESTORE_IGNORED_INPUTS.linode],
    };
    // dbtier:engineConfig, with dev parity by default (Linode's MySQL: sql_require_primary_key on, ANSI sql_mode);
    // dbtier:restoreFrom: a fork of another database at a point in time.
    const args = { ...common, ...providerFields(config, "linode"), ...(config.restoreFrom ? linodeFork(config.restoreFrom) : {}) };
    const cluster = config.engine === "postgres"
      ? new linode.DatabasePostgresqlV2(`${spec.name}-cluster`, args, resourceOpts)
      : new linode.DatabaseMysqlV2(`${spec.name}-cluster`, args, resourceOpts);
    const appPassword = new random.RandomPassword(`${spec.name}-app-password`, { length: 32, special: false }, { parent: opts.parent });
    return {
      host: cluster.hostPrimary,
      proxyHost: cluster.hostPrimary,
      port: cluster.port,
      adminUser: cluster.rootUsername,
      adminPassword: pulumi.secret(cluster.rootPassword),
      appPassword: pulumi.secret(appPassword.result),
      appUserCreatedByProvider: false,
      // Linode returns the CA as base64 of the PEM text.
      caCertificate: cluster.caCert.apply((b64) => Buffer.from(b64, "base64").toString("utf8")),
      replicaHosts: [],
      stateful: [cluster],
    };
  },
};
