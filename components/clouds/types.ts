// One interface, one adapter per cloud. The components decide *what* exists (a VM with these inbound rules,
// a managed cluster reachable from these sources); an adapter decides *how* that cloud spells it.
// Every adapter creates its resources under the `parent` it is given and names them `${name}-<role>`.
import * as pulumi from "@pulumi/pulumi";
import { cidrContains, parseCidr } from "../net";
import { resourceName } from "../names";
import { Cloud, DbTierConfig, WEEKDAYS, Webserver, Weekday } from "../types";
import { VmInboundRule, VmRole } from "../trustedSources";

/** Options every adapter call receives: the component to parent under, and whether state must be protected. */
export interface AdapterOptions {
  readonly parent: pulumi.Resource;
  readonly protect: boolean;
}

/** A private network. `id` is the provider's id; the other fields are what the cloud needs downstream. */
export interface NetworkHandle {
  readonly cloud: Cloud;
  readonly id: pulumi.Output<string>;
  /** Subnets (AWS: two, in two availability zones; Linode: one VPC subnet; DigitalOcean: none). */
  readonly subnetIds: readonly pulumi.Output<string>[];
  readonly cidr: string;
  /** What a VM's public address needs first (AWS: the Internet gateway, before an Elastic IP). */
  readonly gateway?: pulumi.Resource;
}

export interface VmSpec {
  readonly name: string;
  readonly role: VmRole;
  readonly size: string;
  /** Rendered `#cloud-config`; a secret because it carries the SSH host private key. */
  readonly userData: pulumi.Output<string>;
  /** The VM's cloud firewall inbound rules; everything else inbound is dropped. */
  readonly inboundRules: readonly VmInboundRule[];
  readonly network: NetworkHandle;
}

export interface VmHandle {
  readonly id: pulumi.Output<string>;
  /** Address the remote commands connect to (SSH admitted from the admin ranges only). */
  readonly publicIp: pulumi.Output<string>;
  readonly privateIp: pulumi.Output<string>;
  /** AWS: the VM's security group id (the managed database admits it by reference). */
  readonly securityGroupId?: pulumi.Output<string>;
  /** The resources that hold data (protected when config.protect). */
  readonly stateful: readonly pulumi.Resource[];
  /** The VM's cloud firewall and its rules: every remote command waits for them. */
  readonly firewall: readonly pulumi.Resource[];
}

/** What a managed cluster must admit besides the webservers: the proxy. */
export interface ManagedSpec {
  readonly name: string;
  readonly network: NetworkHandle;
  readonly proxy: VmHandle;
}

export interface ManagedHandle {
  /** Public hostname webservers connect to. */
  readonly host: pulumi.Output<string>;
  /** Hostname the proxy uses (private where the DBaaS sits in the VPC). */
  readonly proxyHost: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  readonly adminUser: pulumi.Output<string>;
  /** Secret. */
  readonly adminPassword: pulumi.Output<string>;
  /** Secret: the application user's password. */
  readonly appPassword: pulumi.Output<string>;
  /** True when the provider resource created the application user (DigitalOcean); else the proxy's tool does. */
  readonly appUserCreatedByProvider: boolean;
  /** PEM CA bundle when the provider publishes one for the cluster. */
  readonly caCertificate?: pulumi.Output<string>;
  /** Read-only endpoints of the read replicas. */
  readonly replicaHosts: readonly pulumi.Output<string>[];
  /** PostgreSQL connection pool endpoint (DigitalOcean), if any. */
  readonly poolHost?: pulumi.Output<string>;
  readonly poolPort?: pulumi.Output<number>;
  readonly poolName?: pulumi.Output<string>;
  /** Resources that hold data (already created with `protect` when config.protect). */
  readonly stateful: readonly pulumi.Resource[];
}

export interface CloudAdapter {
  readonly cloud: Cloud;
  network(name: string, config: DbTierConfig, opts: AdapterOptions): NetworkHandle;
  vm(spec: VmSpec, config: DbTierConfig, opts: AdapterOptions): VmHandle;
  managedDatabase(spec: ManagedSpec, config: DbTierConfig, opts: AdapterOptions): ManagedHandle;
}

/** Tags/labels every resource carries, so a stack's resources can be found and audited. */
export function resourceTags(config: DbTierConfig, role: string): string[] {
  return ["dbtier", `dbtier-${config.stack}`, `dbtier-${role}`];
}

/** Provider-side names (cluster names, labels): the collision-free planner of names.ts, stable per stack. */
export function providerName(config: DbTierConfig, role: string): string {
  return resourceName(config, role);
}

const hh = (hour: number): string => String(hour).padStart(2, "0");

/** `dbtier:maintenanceWindow` as each provider spells it: one hour from the configured start (UTC). */
export function maintenanceWindowFor(config: DbTierConfig): { day: Weekday; hourUtc: number; hh: string; rds: string; linodeDayOfWeek: number } {
  const { day, hourUtc } = config.maintenanceWindow;
  const index = WEEKDAYS.indexOf(day);
  const end = (hourUtc + 1) % 24;
  const endDay = end === 0 ? WEEKDAYS[(index + 1) % 7] : day;
  return {
    day,
    hourUtc,
    hh: `${hh(hourUtc)}:00`,
    // RDS: ddd:hh24:mi-ddd:hh24:mi, UTC (aws rds/instance.d.ts maintenanceWindow).
    rds: `${day.slice(0, 3)}:${hh(hourUtc)}:00-${endDay.slice(0, 3)}:${hh(end)}:00`,
    // Linode counts days 1 (Monday) to 7 (Sunday).
    linodeDayOfWeek: index + 1,
  };
}

/** RDS backupWindow: one hour from `dbtier:backupHour` (hh24:mi-hh24:mi, UTC; aws rds/instance.d.ts). */
export function rdsBackupWindow(config: DbTierConfig): string {
  return `${hh(config.backupHourUtc)}:00-${hh((config.backupHourUtc + 1) % 24)}:00`;
}

/**
 * Webservers that reach the database from outside the private network (over the public Internet). When
 * there are any, the database must listen on its public side too; firewalls still admit only them.
 */
export function webserversOutsideNetwork(config: DbTierConfig): Webserver[] {
  const network = parseCidr(config.vpcCidr);
  return config.webservers.filter((w) => {
    const source = parseCidr(w.cidr);
    return !network || !source || source.family !== network.family || !cidrContains(network, source);
  });
}
