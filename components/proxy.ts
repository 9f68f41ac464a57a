// DatabaseProxy: a small VM in the tier's private network that never serves traffic. It installs the
// application database into the DBaaS and runs the scheduled backups against it. SSH only from the admin
// ranges; everything is configured by remote commands over SSH with the pinned host key.
//
// Two phases, because the database's firewall must name the proxy and the proxy's env must name the
// database: the constructor creates the VM, `deploy(database)` the remote commands.
import * as pulumi from "@pulumi/pulumi";
import { BackupSigningKey } from "./backupSigning";
import { CloudAdapter, NetworkHandle, VmHandle } from "./clouds/types";
import { CA_FILE } from "./hostDelivery";
import { ENV_FILE, HostFile, renderHostEnv } from "./hostFiles";
import { HostSummary, HostVm } from "./hostVm";
import { ManagedDatabase } from "./managed";
import { DbTierConfig } from "./types";

export interface DatabaseProxyArgs {
  readonly config: DbTierConfig;
  readonly adapter: CloudAdapter;
  readonly network: NetworkHandle;
  readonly signingKey: BackupSigningKey;
}

export class DatabaseProxy extends pulumi.ComponentResource {
  readonly vm: VmHandle;
  readonly publicIp: pulumi.Output<string>;
  readonly privateIp: pulumi.Output<string>;
  readonly hostPublicKey: pulumi.Output<string>;
  hostSummary?: pulumi.Output<HostSummary>;
  private readonly host: HostVm;
  private readonly config: DbTierConfig;
  private readonly proxyName: string;
  private readonly signingKey: BackupSigningKey;

  constructor(name: string, args: DatabaseProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dbtier:index:DatabaseProxy", name, {}, opts);
    const { config } = args;
    if (config.mode !== "managed") throw new Error(`DatabaseProxy: dbtier:mode is ${config.mode}, expected managed`);
    this.config = config;
    this.proxyName = name;
    this.signingKey = args.signingKey;
    this.host = new HostVm({ name, role: "proxy", size: config.proxySize, config, adapter: args.adapter, network: args.network, parent: this });
    this.vm = this.host.vm;
    this.publicIp = this.vm.publicIp;
    this.privateIp = this.vm.privateIp;
    this.hostPublicKey = this.host.hostPublicKey;
  }

  /** Creates the remote commands that point the proxy at `database`, and registers the outputs. Call once. */
  deploy(database: ManagedDatabase): pulumi.Output<HostSummary> {
    if (this.hostSummary) throw new Error(`DatabaseProxy ${this.proxyName}: deploy() called twice`);
    const { config } = this;
    const endpoint = database.endpoint;
    const ca = endpoint.caCertificate;
    const hostFiles: pulumi.Output<HostFile[]> = pulumi
      .all([endpoint.proxyHost, endpoint.port, endpoint.adminUser, ca ?? pulumi.output(undefined), this.signingKey.publicKey])
      .apply(([dbHost, dbPort, adminUser, caPem, signingPublicKey]) => {
        const env = renderHostEnv({
          config,
          role: "proxy",
          dbHost,
          dbPort,
          adminUser,
          // The provider's CA signs a certificate for the host names it gives the database: chain and name checked.
          tlsMode: caPem ? "verify-full" : "require",
          ...(caPem ? { caFile: CA_FILE } : {}),
          backupSigningPublicKey: signingPublicKey,
        });
        const files: HostFile[] = [{ path: ENV_FILE, content: env, permissions: "0644" }];
        if (caPem) files.push({ path: CA_FILE, content: caPem.endsWith("\n") ? caPem : `${caPem}\n`, permissions: "0644" });
        return files;
      });
    const secretValues = pulumi.secret(pulumi.all([endpoint.adminPassword, endpoint.appPassword, this.signingKey.privateKey]).apply(([admin, app, signingKey]) => ({
      adminPassword: admin,
      appPassword: app,
      backupSigningKey: signingKey,
      secrets: config.secrets,
      ...(config.appDb.baselineKnownHosts ? { baselineKnownHosts: config.appDb.baselineKnownHosts } : {}),
    })));
    const { names } = this.host.runSteps(hostFiles, secretValues, [database]);
    this.hostSummary = this.host.summary(names);
    this.registerOutputs({ publicIp: this.publicIp, privateIp: this.privateIp, hostPublicKey: this.hostPublicKey, hostSummary: this.hostSummary });
    return this.hostSummary;
  }
}
