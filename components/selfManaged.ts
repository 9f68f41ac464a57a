// SelfManagedDatabase: private network, one database VM with its cloud firewall and host firewall, user-data
// that lays down the toolkit, then remote commands over SSH (pinned host key) that deliver the secrets and
// the env file, install the engine at the pinned version, initialise, harden, load the application
// database and enable the backup timers.
import * as pulumi from "@pulumi/pulumi";
import { BackupSigningKey } from "./backupSigning";
import * as random from "@pulumi/random";
import { CloudAdapter, NetworkHandle, webserversOutsideNetwork } from "./clouds/types";
import { CA_FILE, SELF_MANAGED_ADMIN_USER } from "./hostDelivery";
import { ENV_FILE, HostFile, SERVER_CERT_FILE, renderHostEnv } from "./hostFiles";
import { HostSummary, HostVm } from "./hostVm";
import { StackCertificateAuthority, serverCertificateSans } from "./tls";
import { databasePort } from "./trustedSources";
import { DbTierConfig } from "./types";

export interface SelfManagedDatabaseArgs {
  readonly config: DbTierConfig;
  readonly adapter: CloudAdapter;
  readonly signingKey: BackupSigningKey;
}

export class SelfManagedDatabase extends pulumi.ComponentResource {
  /** Where webservers connect: the private address, or the public one when a webserver is outside the network. */
  readonly host: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  readonly publicIp: pulumi.Output<string>;
  readonly adminUser: pulumi.Output<string>;
  /** Secret: the application user's password. */
  readonly appPassword: pulumi.Output<string>;
  /** PEM of the stack's CA, which signs the server certificate: clients verify the server with it. */
  readonly caCertificate: pulumi.Output<string>;
  readonly network: NetworkHandle;
  readonly hostSummary: pulumi.Output<HostSummary>;

  constructor(name: string, args: SelfManagedDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dbtier:index:SelfManagedDatabase", name, {}, opts);
    const { config, adapter } = args;
    if (config.mode !== "self-managed") throw new Error(`SelfManagedDatabase: dbtier:mode is ${config.mode}, expected self-managed`);
    const port = databasePort(config);

    this.network = adapter.network(name, config, { parent: this, protect: false });
    const passwordOpts = { parent: this, protect: config.protect };
    const adminPassword = new random.RandomPassword(`${name}-admin-password`, { length: 32, special: false }, passwordOpts);
    const appPassword = new random.RandomPassword(`${name}-app-password`, { length: 32, special: false }, passwordOpts);

    const host = new HostVm({ name, role: "database", size: config.size, config, adapter, network: this.network, parent: this });
    // Webservers inside the private network: bind the private address only. Any outside it: bind all
    // addresses (the cloud firewall, the host firewall and per-source grants still admit only them).
    const outside = webserversOutsideNetwork(config);
    const listenAll = outside.some((w) => w.family === 6) ? "::" : "0.0.0.0";
    // The stack's CA issues the server certificate for the addresses clients connect to (components/tls.ts);
    // the certificate and the CA travel with the host files, the key as a secret file, never in user-data.
    const ca = new StackCertificateAuthority(`${name}-ca`, { stack: config.stack }, passwordOpts);
    const sans = pulumi.all([host.vm.privateIp, host.vm.publicIp]).apply(([privateIp, publicIp]) =>
      serverCertificateSans({ privateIp, publicIp, webserversOutside: outside.length > 0 }));
    const server = ca.issueServerCertificate(`${name}-server-tls`, sans);
    const hostFiles: pulumi.Output<HostFile[]> = pulumi.all([host.vm.privateIp, ca.certPem, server.certPem, args.signingKey.publicKey]).apply(([privateIp, caPem, certPem, signingPublicKey]) => [
      {
        path: ENV_FILE,
        permissions: "0644",
        content: renderHostEnv({
          config,
          role: "database",
          dbHost: privateIp,
          dbPort: port,
          adminUser: SELF_MANAGED_ADMIN_USER,
          listenAddress: outside.length > 0 ? listenAll : privateIp,
          tlsMode: "verify-full",
          caFile: CA_FILE,
          backupSigningPublicKey: signingPublicKey,
        }),
      },
      // Known only after `pulumi up` creates them (a preview under mocks has none to deliver).
      ...(caPem ? [{ path: CA_FILE, permissions: "0644", content: pemLine(caPem) }] : []),
      ...(certPem ? [{ path: SERVER_CERT_FILE, permissions: "0644", content: pemLine(certPem) }] : []),
    ]);
    const secretValues = pulumi.secret(pulumi.all([adminPassword.result, appPassword.result, server.privateKeyPem, args.signingKey.privateKey]).apply(([admin, app, tlsKey, signingKey]) => ({
      adminPassword: admin,
      appPassword: app,
      tlsServerKey: tlsKey,
      backupSigningKey: signingKey,
      secrets: config.secrets,
      ...(config.appDb.baselineKnownHosts ? { baselineKnownHosts: config.appDb.baselineKnownHosts } : {}),
    })));
    const { names } = host.runSteps(hostFiles, secretValues);

    this.host = outside.length > 0 ? host.vm.publicIp : host.vm.privateIp;
    this.port = pulumi.output(port);
    this.publicIp = host.vm.publicIp;
    this.adminUser = pulumi.output(SELF_MANAGED_ADMIN_USER);
    this.appPassword = pulumi.secret(appPassword.result);
    this.caCertificate = ca.certPem;
    this.hostSummary = host.summary(names);
    this.registerOutputs({ host: this.host, port: this.port, publicIp: this.publicIp, appPassword: this.appPassword, caCertificate: this.caCertificate, hostSummary: this.hostSummary });
  }
}

const pemLine = (pem: string): string => (pem.endsWith("\n") ? pem : `${pem}\n`);
