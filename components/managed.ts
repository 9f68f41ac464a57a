// ManagedDatabase: the provider's DBaaS (DigitalOcean cluster, Linode v2 cluster or AWS RDS) with its
// firewall/allow list admitting the webservers and the proxy only. The cloud adapter spells the resources;
// this component owns them (children under `this`) and exposes one shape for every cloud.
import * as pulumi from "@pulumi/pulumi";
import { CloudAdapter, ManagedHandle, NetworkHandle, VmHandle } from "./clouds/types";
import { DbTierConfig } from "./types";

export interface ManagedDatabaseArgs {
  readonly config: DbTierConfig;
  readonly adapter: CloudAdapter;
  readonly network: NetworkHandle;
  /** The proxy VM: admitted by the database firewall and used to install and back up the database. */
  readonly proxy: VmHandle;
}

export class ManagedDatabase extends pulumi.ComponentResource {
  readonly endpoint: ManagedHandle;
  readonly host: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  /** Secret. */
  readonly appPassword: pulumi.Output<string>;
  readonly caCertificate?: pulumi.Output<string>;

  constructor(name: string, args: ManagedDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dbtier:index:ManagedDatabase", name, {}, opts);
    const { config, adapter } = args;
    if (config.mode !== "managed") throw new Error(`ManagedDatabase: dbtier:mode is ${config.mode}, expected managed`);
    this.endpoint = adapter.managedDatabase({ name, network: args.network, proxy: args.proxy }, config, { parent: this, protect: config.protect });
    this.host = this.endpoint.host;
    this.port = this.endpoint.port;
    this.appPassword = this.endpoint.appPassword;
    if (this.endpoint.caCertificate) this.caCertificate = this.endpoint.caCertificate;
    this.registerOutputs({
      host: this.host,
      port: this.port,
      appPassword: this.appPassword,
      replicaHosts: this.endpoint.replicaHosts,
      ...(this.caCertificate ? { caCertificate: this.caCertificate } : {}),
    });
  }
}
