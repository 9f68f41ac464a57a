// AWS: VPC with two subnets in two availability zones (RDS needs two), EC2 instance + security group + Elastic
// IP, and RDS with encryption at rest, deletion protection following dbtier:protect, a final snapshot unique
// per instance, the configured backup retention and windows, TLS required by its parameter group, Multi-AZ
// for HA and read replicas. Names AWS must hold unique are prefixes (namePrefix, identifierPrefix).
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { RESTORE_IGNORED_INPUTS, rdsRestoreToPointInTime } from "../restoreFrom";
import { rdsCaBundle } from "../tls";
import { awsDatabaseIngress } from "../trustedSources";
import { rdsParameters } from "./engineSettings";
import { DbTierConfig } from "../types";
import { AdapterOptions, CloudAdapter, ManagedHandle, ManagedSpec, NetworkHandle, VmHandle, VmSpec, maintenanceWindowFor, providerName, rdsBackupWindow, webserversOutsideNetwork } from "./types";

/** Debian's own AWS account publishes the official Debian 12 AMIs. */
export const DEBIAN_AMI_OWNER = "136693071363";
export const RDS_ADMIN_USER = "dbtier_admin";
export const RDS_STORAGE_GIB = 20;
export const RDS_MAX_STORAGE_GIB = 200;

/** Instance inputs whose later changes are ignored (see vm()). */
export const AWS_INSTANCE_IGNORE_CHANGES = ["ami", "userData"] as const;

function tags(config: DbTierConfig, role: string, name: string): Record<string, string> {
  return { Name: name, "dbtier:stack": config.stack, "dbtier:role": role, "dbtier:application": config.appDb.application };
}

/** `mysql8.0`, `mariadb11.4`, `postgres16`: the parameter group family of an engine version. */
export function rdsParameterFamily(config: DbTierConfig): string {
  return config.engine === "postgres" ? `postgres${config.engineVersion}` : `${config.engine}${config.engineVersion}`;
}

/** The parameter that makes the server refuse connections without TLS. */
export function rdsTlsParameters(config: DbTierConfig): { name: string; value: string }[] {
  return config.engine === "postgres" ? [{ name: "rds.force_ssl", value: "1" }] : [{ name: "require_secure_transport", value: "1" }];
}

/** Splits an IPv4 network into four equal subnets (prefix + 2) and returns the first `count`. */
export function splitSubnets(vpcCidr: string, count: number): string[] {
  const [address, prefixText] = vpcCidr.split("/");
  const prefix = Number(prefixText);
  if (prefix > 26) throw new Error(`dbtier:vpcCidr ${vpcCidr} is too small to split into subnets; use /26 or wider`);
  const base = address.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const size = 2 ** (32 - (prefix + 2));
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = base + i * size;
    out.push(`${[24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".")}/${prefix + 2}`);
  }
  return out;
}

/** RDS is reachable from outside the VPC only when a trusted source lies outside it. */
export function needsPublicAccess(config: DbTierConfig): boolean {
  return webserversOutsideNetwork(config).length > 0;
}

export const awsAdapter: CloudAdapter = {
  cloud: "aws",

  network(name: string, config: DbTierConfig, opts: AdapterOptions): NetworkHandle {
    const parent = { parent: opts.parent };
    const vpc = new aws.ec2.Vpc(`${name}-vpc`, {
      region: config.region,
      cidrBlock: config.vpcCidr,
      enableDnsHostnames: true,
      enableDnsSupport: true,
      tags: tags(config, "network", providerName(config, "vpc")),
    }, parent);
    const gateway = new aws.ec2.InternetGateway(`${name}-gateway`, { region: config.region, vpcId: vpc.id, tags: tags(config, "network", providerName(config, "igw")) }, parent);
    const routes = new aws.ec2.RouteTable(`${name}-routes`, {
      region: config.region,
      vpcId: vpc.id,
      routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: gateway.id }],
      tags: tags(config, "network", providerName(config, "routes")),
    }, parent);
    const zones = aws.getAvailabilityZonesOutput({ state: "available", region: config.region }, parent);
    const subnetIds = splitSubnets(config.vpcCidr, 2).map((cidrBlock, i) => {
      const subnet = new aws.ec2.Subnet(`${name}-subnet-${i}`, {
        region: config.region,
        vpcId: vpc.id,
        cidrBlock,
        availabilityZone: zones.names.apply((names) => names[i % names.length]),
        // Addresses only where asked for (the VMs ask); RDS public access is decided per instance.
        mapPublicIpOnLaunch: false,
        tags: tags(config, "network", providerName(config, `subnet-${i}`)),
      }, parent);
      new aws.ec2.RouteTableAssociation(`${name}-subnet-${i}-routes`, { region: config.region, subnetId: subnet.id, routeTableId: routes.id }, parent);
      return subnet.id;
    });
    return { cloud: "aws", id: vpc.id, subnetIds, cidr: config.vpcCidr, gateway };
  },

  vm(spec: VmSpec, config: DbTierConfig, opts: AdapterOptions): VmHandle {
    const parent = { parent: opts.parent };
    const groupName = providerName(config, `${spec.role}-sg`);
    // namePrefix: AWS makes the name unique, so a replacement group can exist beside the old one.
    const group = new aws.ec2.SecurityGroup(`${spec.name}-security-group`, {
      region: config.region,
      vpcId: spec.network.id,
      namePrefix: `${groupName}-`,
      description: `dbtier ${spec.role} VM: only the listed sources`,
      tags: tags(config, spec.role, groupName),
    }, parent);
    const rules: pulumi.Resource[] = [];
    spec.inboundRules.forEach((rule, i) => {
      const sources: { cidrIpv4?: string; cidrIpv6?: string; referencedSecurityGroupId?: string }[] = [
        ...rule.sourceCidrs.map((cidr) => (cidr.includes(":") ? { cidrIpv6: cidr } : { cidrIpv4: cidr })),
        ...rule.sourceTags.map((groupId) => ({ referencedSecurityGroupId: groupId })),
      ];
      sources.forEach((source, j) => {
        rules.push(new aws.vpc.SecurityGroupIngressRule(`${spec.name}-ingress-${i}-${j}`, {
          region: config.region,
          securityGroupId: group.id,
          description: rule.description,
          ipProtocol: rule.protocol,
          fromPort: rule.port,
          toPort: rule.port,
          ...source,
        }, parent));
      });
    });
    // Outbound stays open: apt, the vendor repositories and the S3 datastore are on the Internet.
    rules.push(new aws.vpc.SecurityGroupEgressRule(`${spec.name}-egress-v4`, { region: config.region, securityGroupId: group.id, ipProtocol: "-1", cidrIpv4: "0.0.0.0/0", description: "all outbound" }, parent));
    const ami = aws.ec2.getAmiOutput({
      region: config.region,
      owners: [DEBIAN_AMI_OWNER],
      mostRecent: true,
      filters: [
        { name: "name", values: ["debian-12-amd64-*"] },
        { name: "architecture", values: ["x86_64"] },
        { name: "virtualization-type", values: ["hvm"] },
      ],
    }, parent);
    const instanceName = providerName(config, spec.role === "database" ? "db" : "proxy");
    // A stable address behind `host` and the remote commands: without an Elastic IP, every stop/start (a
    // size change; a userData change, aws ec2/instance.d.ts) gives the instance a new public address. The
    // network interface carries the Elastic IP before the instance exists, so the VM boots with the address
    // it keeps, and the private address survives a replacement too.
    const nic = new aws.ec2.NetworkInterface(`${spec.name}-nic`, {
      region: config.region,
      subnetId: spec.network.subnetIds[0],
      securityGroups: [group.id],
      description: `dbtier ${spec.role} VM`,
      tags: tags(config, spec.role, instanceName),
    }, { parent: opts.parent, protect: opts.protect && spec.role === "database" });
    // An Elastic IP needs the VPC's Internet gateway attached first (aws ec2/eip.d.ts: use dependsOn).
    const eip = new aws.ec2.Eip(`${spec.name}-address`, {
      region: config.region,
      domain: "vpc",
      networkInterface: nic.id,
      tags: tags(config, spec.role, instanceName),
    }, { parent: opts.parent, protect: opts.protect && spec.role === "database", dependsOn: spec.network.gateway ? [spec.network.gateway] : [] });
    const instance = new aws.ec2.Instance(`${spec.name}-vm`, {
      region: config.region,
      ami: ami.id,
      instanceType: spec.size,
      primaryNetworkInterface: { networkInterfaceId: nic.id },
      userData: spec.userData,
      // IMDSv2 only: no SSRF path to the instance credentials.
      metadataOptions: { httpTokens: "required", httpEndpoint: "enabled" },
      rootBlockDevice: { encrypted: true, volumeType: "gp3", volumeSize: spec.role === "database" ? 40 : 10 },
      disableApiTermination: opts.protect && spec.role === "database",
      tags: tags(config, spec.role, instanceName),
    }, {
      parent: opts.parent,
      protect: opts.protect && spec.role === "database",
      // The address is on the interface before boot; the instance's publicIp then reads the Elastic IP.
      dependsOn: [eip],
      // ami: a newer Debian image must not replace a running VM. userData: first-boot input only (a change
      // would stop and start the instance); what changes later arrives with the host-files command.
      ignoreChanges: [...AWS_INSTANCE_IGNORE_CHANGES],
      // The interface can be the primary one of one instance at a time: the old instance goes first.
      deleteBeforeReplace: true,
    });
    return {
      id: instance.id,
      publicIp: instance.publicIp,
      privateIp: instance.privateIp,
      securityGroupId: group.id,
      stateful: spec.role === "database" ? [instance] : [],
      firewall: [group, ...rules],
    };
  },

  managedDatabase(spec: ManagedSpec, config: DbTierConfig, opts: AdapterOptions): ManagedHandle {
    const parent = { parent: opts.parent };
    // Fixed names block create-before-delete replacements (RDS, subnet, parameter and security group names
    // are unique per account and region): every one is a prefix AWS completes with a unique suffix.
    const identifier = providerName(config, "db");
    const subnetGroup = new aws.rds.SubnetGroup(`${spec.name}-subnets`, {
      region: config.region,
      namePrefix: `${identifier}-`,
      subnetIds: [...spec.network.subnetIds],
      description: `dbtier ${config.stack} database subnets`,
      tags: tags(config, "database", identifier),
    }, parent);
    const group = new aws.ec2.SecurityGroup(`${spec.name}-security-group`, {
      region: config.region,
      vpcId: spec.network.id,
      namePrefix: `${identifier}-sg-`,
      description: `dbtier ${config.engine}: webservers and the proxy only`,
      tags: tags(config, "database", `${identifier}-sg`),
    }, parent);
    const proxyGroupId = spec.proxy.securityGroupId;
    if (!proxyGroupId) throw new Error("aws managed database: the proxy VM has no security group id");
    // The proxy's group id is an Output; build the rule list with a placeholder and substitute it.
    const PROXY = "__dbtier_proxy_group__";
    awsDatabaseIngress(config, { securityGroupId: PROXY }).forEach((rule, i) => {
      new aws.vpc.SecurityGroupIngressRule(`${spec.name}-ingress-${i}`, {
        region: config.region,
        securityGroupId: group.id,
        description: rule.description,
        ipProtocol: rule.ipProtocol,
        fromPort: rule.fromPort,
        toPort: rule.toPort,
        ...(rule.cidrIpv4 ? { cidrIpv4: rule.cidrIpv4 } : {}),
        ...(rule.cidrIpv6 ? { cidrIpv6: rule.cidrIpv6 } : {}),
        ...(rule.referencedSecurityGroupId ? { referencedSecurityGroupId: rule.referencedSecurityGroupId === PROXY ? proxyGroupId : rule.referencedSecurityGroupId } : {}),
      }, parent);
    });
    // One group per engine family (one per major version): `family` forces a new group (aws
    // rds/parameter_group.go), so a major upgrade creates the new family's group beside the old one and moves
    // the instance to it. The old group stays attached until RDS applies the upgrade (maintenance window), and
    // AWS refuses to delete a group in use: it is released from the stack, not deleted (remove it by hand).
    const parameters = new aws.rds.ParameterGroup(`${spec.name}-parameters`, {
      region: config.region,
      namePrefix: `${identifier}-${rdsParameterFamily(config).replace(/[^a-z0-9]/g, "-")}-`,
      family: rdsParameterFamily(config),
      description: "dbtier: TLS required, engine parameters",
      parameters: [...rdsTlsParameters(config), ...rdsParameters(config)],
      tags: tags(config, "database", `${identifier}-params`),
    }, { parent: opts.parent, retainOnDelete: true });
    const adminPassword = new random.RandomPassword(`${spec.name}-admin-password`, {
      length: 32,
      special: true,
      // RDS refuses '/', '@', '"' and spaces in master passwords.
      overrideSpecial: "!#%^*-_=+",
    }, parent);
    const appPassword = new random.RandomPassword(`${spec.name}-app-password`, { length: 32, special: false }, parent);
    // The final snapshot name must be new for every instance that is deleted: a suffix fixed per stack is
    // reused by the second replacement, and AWS refuses an existing snapshot name. The keepers are the values
    // of the inputs set below that force a new instance (aws rds/instance.go ForceNew: engine, dbName,
    // username, identifierPrefix, storageEncrypted): a new instance gets a new suffix.
    const snapshotSuffix = new random.RandomId(`${spec.name}-final-snapshot-suffix`, {
      byteLength: 4,
      keepers: { engine: config.engine, dbName: config.database.name, username: RDS_ADMIN_USER, identifierPrefix: `${identifier}-`, storageEncrypted: "true" },
    }, { parent: opts.parent, protect: opts.protect });
    const publiclyAccessible = needsPublicAccess(config);
    const restore = config.restoreFrom;
    const instance = new aws.rds.Instance(`${spec.name}-instance`, {
      region: config.region,
      // A restore needs a full identifier (aws rds/instance.d.ts); the suffix keeps it unique per instance.
      ...(restore
        ? { identifier: pulumi.interpolate`${identifier}-${snapshotSuffix.hex}`, restoreToPointInTime: rdsRestoreToPointInTime(restore) }
        : { identifierPrefix: `${identifier}-` }),
      engine: config.engine,
      engineVersion: config.engineVersion,
      instanceClass: config.size,
      allocatedStorage: RDS_STORAGE_GIB,
      maxAllocatedStorage: RDS_MAX_STORAGE_GIB,
      storageType: "gp3",
      storageEncrypted: true,
      dbName: config.database.name,
      username: RDS_ADMIN_USER,
      password: adminPassword.result,
      dbSubnetGroupName: subnetGroup.name,
      vpcSecurityGroupIds: [group.id],
      parameterGroupName: parameters.name,
      publiclyAccessible,
      multiAz: config.highAvailability,
      backupRetentionPeriod: config.backupRetentionDays,
      backupWindow: rdsBackupWindow(config),
      maintenanceWindow: maintenanceWindowFor(config).rds,
      // Unset, RDS enrols MySQL and PostgreSQL in paid Extended Support (aws rds/instance.d.ts); config decides.
      ...(config.rdsLifecycleSupport ? { engineLifecycleSupport: config.rdsLifecycleSupport } : {}),
      // Follows dbtier:protect: a stack that may be deleted must be deletable.
      deletionProtection: opts.protect,
      skipFinalSnapshot: false,
      finalSnapshotIdentifier: pulumi.interpolate`${identifier}-final-${snapshotSuffix.hex}`,
      copyTagsToSnapshot: true,
      autoMinorVersionUpgrade: true,
      // Only permits: an upgrade happens when dbtier:engineVersion names a new major, in place (with the new
      // family's parameter group above); with the same major this flag changes nothing.
      allowMajorVersionUpgrade: true,
      applyImmediately: false,
      caCertIdentifier: "rds-ca-rsa2048-g1",
      tags: tags(config, "database", identifier),
    }, {
      parent: opts.parent,
      protect: opts.protect,
      // restoreToPointInTime forces a new instance: it acts at creation only (restoreFrom.ts). A restored
      // instance keeps the source's master user name and first database, whatever this config says.
      ignoreChanges: [...RESTORE_IGNORED_INPUTS.aws, ...(restore ? ["username", "dbName"] : [])],
    });

    const replicaHosts: pulumi.Output<string>[] = [];
    for (let i = 0; i < config.readReplicas; i++) {
      const replicaId = `${identifier}-replica-${i}`;
      const replica = new aws.rds.Instance(`${spec.name}-replica-${i}`, {
        region: config.region,
        identifierPrefix: `${replicaId}-`,
        replicateSourceDb: instance.identifier,
        instanceClass: config.size,
        storageEncrypted: true,
        vpcSecurityGroupIds: [group.id],
        parameterGroupName: parameters.name,
        publiclyAccessible,
        // A replica holds no data of its own: no final snapshot. No RDS deletion protection either, or
        // lowering dbtier:readReplicas would be refused by AWS; Pulumi's protect guards it like the primary
        // (lowering readReplicas on a protected stack: `pulumi state unprotect` the replica first).
        skipFinalSnapshot: true,
        deletionProtection: false,
        autoMinorVersionUpgrade: true,
        caCertIdentifier: "rds-ca-rsa2048-g1",
        tags: tags(config, "database-replica", replicaId),
      }, { parent: opts.parent, protect: opts.protect });
      replicaHosts.push(replica.address);
    }

    return {
      host: instance.address,
      proxyHost: instance.address,
      port: instance.port,
      adminUser: pulumi.output(RDS_ADMIN_USER),
      adminPassword: pulumi.secret(adminPassword.result),
      appPassword: pulumi.secret(appPassword.result),
      appUserCreatedByProvider: false,
      // RDS publishes no CA through its API: the roots AWS publishes (components/certs, caCertIdentifier's among
      // them), so the proxy and the webservers verify the chain and the endpoint's name (verify-full).
      caCertificate: pulumi.output(rdsCaBundle()),
      replicaHosts,
      stateful: [instance],
    };
  },
};
