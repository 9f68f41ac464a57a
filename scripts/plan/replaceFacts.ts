// Provider facts for `npm run plan -- <stack> --against <dir>`: per resource type dbtier creates, which inputs
// force a new resource when they change, whether the resource holds data, and which input must be unique in
// the account (a create-before-delete replacement that keeps it fails). Declared once, each with its source.
//
// Sources, by the short names used below:
//   do      digitalocean/terraform-provider-digitalocean @401992a (2026-08), digitalocean/<path>: `ForceNew: true`
//   linode  linode/terraform-provider-linode @6aef35f (2026-05), linode/<path>: `ForceNew` / `RequiresReplace()`
//   aws     hashicorp/terraform-provider-aws, internal/service/<path>: `ForceNew: true`; `region` forces a new
//           resource on every regional resource (provider 6.x "Enhanced Region Support",
//           hashicorp.github.io/terraform-provider-aws/enhanced-region-support)
//   random  hashicorp/terraform-provider-random, tls hashicorp/terraform-provider-tls: logical resources whose
//           every attribute is RequiresReplace (random/*.d.ts: keepers "will trigger recreation of resource")
//   d.ts    the provider package's own type docs in node_modules/@pulumi/<package>/<file>
// The bridged Pulumi providers take these from the Terraform schemas, so `pulumi preview` says the same; the
// preview stays authoritative (it sees the real state), this table explains it offline.
import { pathsOverlap } from "./paths";

export interface ReplaceFact {
  /** Pulumi input path: `userData`, `metadatas[*].userData`; `*` means every input. */
  readonly input: string;
  /** The fact holds only while this input is unset (a command with an `update` runs it instead). */
  readonly unlessSet?: string;
  /** The fact holds only while this input is true (`userDataReplaceOnChange`). */
  readonly onlyIfTrue?: string;
}

export type Statefulness =
  /** Holds data that a replacement or deletion loses (restore from a backup). */
  | { readonly kind: "data"; readonly what: string }
  /** A VM: holds data only in the database role (the self-managed database VM). */
  | { readonly kind: "database-vm" };

export interface TypeFacts {
  readonly provider: string;
  readonly replaceOn: readonly ReplaceFact[];
  /** Where `replaceOn` is written down (see the source names above). */
  readonly source: string;
  readonly stateful?: Statefulness;
  /** An input the provider requires to be unique, so create-before-delete with it unchanged is refused. */
  readonly uniqueInput?: string;
  /** What the provider does in place that a person should know (a reboot, a migration). */
  readonly inPlaceNotes?: Readonly<Record<string, string>>;
}

const on = (...inputs: string[]): ReplaceFact[] => inputs.map((input) => ({ input }));
const AWS_REGION = { input: "region" };
const DATABASE: Statefulness = { kind: "data", what: "the managed database and its data" };

export const REPLACE_FACTS: Readonly<Record<string, TypeFacts>> = {
  // DigitalOcean
  "digitalocean:index/droplet:Droplet": {
    provider: "DigitalOcean",
    replaceOn: on("image", "region", "publicNetworking", "sshKeys", "userData", "monitoring", "dropletAgent", "vpcUuid", "gpuPartitionMode"),
    // droplet.d.ts on userData: "Changing this forces a new resource to be created"; on sshKeys: "Modifying this
    // field will prompt you to destroy and recreate the Droplet".
    source: "do droplet/resource_droplet.go, d.ts digitalocean/droplet.d.ts",
    stateful: { kind: "database-vm" },
    inPlaceNotes: { size: "resize: the droplet is powered off and on" },
  },
  "digitalocean:index/databaseCluster:DatabaseCluster": {
    provider: "DigitalOcean",
    replaceOn: on("name", "engine", "privateNetworkUuid", "projectId"),
    source: "do database/resource_database_cluster.go",
    stateful: DATABASE,
    uniqueInput: "name",
    inPlaceNotes: { version: "major-version upgrade API, in place (a restart, no way back)", region: "cluster migration to the new region, in place (minutes of downtime)" },
  },
  "digitalocean:index/databaseReplica:DatabaseReplica": {
    provider: "DigitalOcean",
    replaceOn: on("name", "clusterId", "uuid", "region", "privateNetworkUuid", "tags"),
    source: "do database/resource_database_replica.go",
    stateful: { kind: "data", what: "a read replica (re-copied from the primary; its address changes)" },
    uniqueInput: "name",
  },
  "digitalocean:index/databaseDb:DatabaseDb": {
    provider: "DigitalOcean",
    replaceOn: on("name", "clusterId"),
    source: "do database/resource_database_db.go",
    stateful: { kind: "data", what: "the application database inside the cluster (dropped with its tables)" },
  },
  "digitalocean:index/databaseUser:DatabaseUser": { provider: "DigitalOcean", replaceOn: on("name", "clusterId"), source: "do database/resource_database_user.go" },
  "digitalocean:index/databaseFirewall:DatabaseFirewall": { provider: "DigitalOcean", replaceOn: on("clusterId"), source: "do database/resource_database_firewall.go" },
  "digitalocean:index/databaseConnectionPool:DatabaseConnectionPool": {
    provider: "DigitalOcean",
    replaceOn: on("clusterId", "name", "user", "mode", "size", "dbName"),
    source: "do database/resource_database_connection_pool.go",
  },
  "digitalocean:index/databaseMysqlConfig:DatabaseMysqlConfig": { provider: "DigitalOcean", replaceOn: on("clusterId"), source: "do database/resource_database_mysql_config.go" },
  "digitalocean:index/databasePostgresqlConfig:DatabasePostgresqlConfig": { provider: "DigitalOcean", replaceOn: on("clusterId"), source: "do database/resource_database_postgres_config.go" },
  "digitalocean:index/tag:Tag": { provider: "DigitalOcean", replaceOn: on("name"), source: "do tag/resource_tag.go" },
  "digitalocean:index/firewall:Firewall": { provider: "DigitalOcean", replaceOn: [], source: "do firewall/resource_firewall.go (no ForceNew)" },
  "digitalocean:index/vpc:Vpc": { provider: "DigitalOcean", replaceOn: on("region", "ipRange"), source: "do vpc/resource_vpc.go", uniqueInput: "name" },
  "digitalocean:index/volume:Volume": {
    provider: "DigitalOcean",
    replaceOn: on("region", "name", "description", "snapshotId", "initialFilesystemType", "initialFilesystemLabel"),
    source: "do volume/resource_volume.go",
    stateful: { kind: "data", what: "a block storage volume and its files" },
  },

  // Linode (Akamai)
  "linode:index/instance:Instance": {
    provider: "Linode",
    replaceOn: on(
      "image", "authorizedKeys", "authorizedUsers", "rootPass", "stackscriptId", "stackscriptData", "backupId",
      "firewallId", "diskEncryption", "interfaceGeneration", "networkHelper", "metadatas[*].userData",
    ),
    source: "linode instance/schema_resource.go",
    stateful: { kind: "database-vm" },
    uniqueInput: "label",
    inPlaceNotes: { region: "migration to the new region, in place (the instance is offline meanwhile)", type: "resize: the instance reboots", interfaces: "the instance reboots" },
  },
  "linode:index/databaseMysqlV2:DatabaseMysqlV2": {
    provider: "Linode",
    replaceOn: on("region", "forkSource", "forkRestoreTime"),
    source: "linode databasemysqlv2/framework_resource_schema.go",
    stateful: DATABASE,
    uniqueInput: "label",
    inPlaceNotes: { engineId: "version upgrade, in place" },
  },
  "linode:index/databasePostgresqlV2:DatabasePostgresqlV2": {
    provider: "Linode",
    replaceOn: on("region", "forkSource", "forkRestoreTime"),
    source: "linode databasepostgresqlv2/framework_resource_schema.go",
    stateful: DATABASE,
    uniqueInput: "label",
    inPlaceNotes: { engineId: "version upgrade, in place" },
  },
  "linode:index/firewall:Firewall": { provider: "Linode", replaceOn: [], source: "linode firewall/framework_schema_resource.go (none)", uniqueInput: "label" },
  "linode:index/vpc:Vpc": { provider: "Linode", replaceOn: on("region", "ipv6", "allocationClass"), source: "linode vpc/framework_schema_resource.go", uniqueInput: "label" },
  "linode:index/vpcSubnet:VpcSubnet": { provider: "Linode", replaceOn: on("vpcId", "ipv4", "ipv6"), source: "linode vpcsubnet/framework_schema_resource.go" },
  "linode:index/volume:Volume": {
    provider: "Linode",
    replaceOn: on("region", "sourceVolumeId", "encryption"),
    source: "linode volume/framework_resource_schema.go",
    stateful: { kind: "data", what: "a block storage volume and its files" },
  },

  // AWS
  "aws:ec2/instance:Instance": {
    provider: "AWS",
    replaceOn: [
      ...on(
        "ami", "availabilityZone", "subnetId", "associatePublicIpAddress", "privateIp", "keyName", "rootBlockDevice.encrypted", "rootBlockDevice.kmsKeyId",
        "primaryNetworkInterface", "networkInterfaces",
      ),
      AWS_REGION,
      { input: "userData", onlyIfTrue: "userDataReplaceOnChange" },
    ],
    // instance.d.ts: userData changes update in place unless userDataReplaceOnChange "trigger[s] a destroy and recreate".
    source: "aws ec2/ec2_instance.go, d.ts aws/ec2/instance.d.ts",
    stateful: { kind: "database-vm" },
    inPlaceNotes: { userData: "the instance is stopped and started; without an Elastic IP its public address changes", instanceType: "the instance is stopped and started" },
  },
  "aws:ec2/networkInterface:NetworkInterface": {
    provider: "AWS",
    // Also a new primary address in privateIps (CustomizeDiff ForceNewIf).
    replaceOn: [...on("subnetId", "interfaceType"), AWS_REGION],
    source: "aws ec2/vpc_network_interface.go",
  },
  "aws:ec2/eip:Eip": {
    provider: "AWS",
    replaceOn: [...on("domain", "address", "networkBorderGroup", "publicIpv4Pool", "customerOwnedIpv4Pool", "ipamPoolId"), AWS_REGION],
    source: "aws ec2/ec2_eip.go",
    inPlaceNotes: { networkInterface: "the address moves to the new interface (re-association, in place)" },
  },
  "aws:ec2/vpc:Vpc": { provider: "AWS", replaceOn: [...on("cidrBlock", "instanceTenancy"), AWS_REGION], source: "aws ec2/vpc_.go" },
  "aws:ec2/subnet:Subnet": { provider: "AWS", replaceOn: [...on("vpcId", "cidrBlock", "availabilityZone", "availabilityZoneId"), AWS_REGION], source: "aws ec2/vpc_subnet.go" },
  "aws:ec2/securityGroup:SecurityGroup": {
    provider: "AWS",
    replaceOn: [...on("name", "namePrefix", "description", "vpcId"), AWS_REGION],
    source: "aws ec2/vpc_security_group.go",
    uniqueInput: "name",
  },
  "aws:ec2/internetGateway:InternetGateway": { provider: "AWS", replaceOn: [AWS_REGION], source: "aws ec2/vpc_internet_gateway.go" },
  "aws:ec2/routeTable:RouteTable": { provider: "AWS", replaceOn: [...on("vpcId"), AWS_REGION], source: "aws ec2/vpc_route_table.go" },
  "aws:ec2/routeTableAssociation:RouteTableAssociation": { provider: "AWS", replaceOn: [...on("subnetId", "gatewayId"), AWS_REGION], source: "aws ec2/vpc_route_table_association.go" },
  "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": { provider: "AWS", replaceOn: [...on("securityGroupId"), AWS_REGION], source: "aws ec2/vpc_security_group_ingress_rule.go" },
  "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": { provider: "AWS", replaceOn: [...on("securityGroupId"), AWS_REGION], source: "aws ec2/vpc_security_group_egress_rule.go" },
  "aws:rds/instance:Instance": {
    provider: "AWS",
    replaceOn: [
      ...on(
        "availabilityZone", "characterSetName", "customIamInstanceProfile", "dbName", "engine", "identifier", "identifierPrefix",
        "kmsKeyId", "ncharCharacterSetName", "restoreToPointInTime", "s3Import", "snapshotIdentifier", "storageEncrypted", "timezone", "username",
      ),
      AWS_REGION,
    ],
    source: "aws rds/instance.go",
    stateful: DATABASE,
    uniqueInput: "identifier",
    inPlaceNotes: { engineVersion: "in place; a major version needs allowMajorVersionUpgrade, else RDS refuses the update", instanceClass: "in place (a restart, or a failover with multiAz)" },
  },
  "aws:rds/parameterGroup:ParameterGroup": {
    provider: "AWS",
    replaceOn: [...on("name", "namePrefix", "family", "description"), AWS_REGION],
    source: "aws rds/parameter_group.go",
    uniqueInput: "name",
  },
  "aws:rds/subnetGroup:SubnetGroup": { provider: "AWS", replaceOn: [...on("name", "namePrefix"), AWS_REGION], source: "aws rds/subnet_group.go", uniqueInput: "name" },
  "aws:ebs/volume:Volume": {
    provider: "AWS",
    replaceOn: [...on("availabilityZone", "encrypted", "kmsKeyId", "snapshotId", "outpostArn"), AWS_REGION],
    source: "aws ec2/ebs_volume.go",
    stateful: { kind: "data", what: "an EBS volume and its files" },
  },

  // Logical resources: every input is part of what they generate.
  "random:index/randomPassword:RandomPassword": { provider: "random", replaceOn: on("*"), source: "random internal/provider/resource_password.go" },
  "random:index/randomBytes:RandomBytes": { provider: "random", replaceOn: on("*"), source: "random internal/provider/resource_bytes.go" },
  "random:index/randomId:RandomId": { provider: "random", replaceOn: on("*"), source: "random internal/provider/resource_id.go" },
  "tls:index/privateKey:PrivateKey": { provider: "tls", replaceOn: on("*"), source: "tls internal/provider/resource_private_key.go" },
  "tls:index/selfSignedCert:SelfSignedCert": { provider: "tls", replaceOn: on("*"), source: "tls internal/provider/resource_self_signed_cert.go" },
  "tls:index/locallySignedCert:LocallySignedCert": { provider: "tls", replaceOn: on("*"), source: "tls internal/provider/resource_locally_signed_cert.go" },
  "tls:index/certRequest:CertRequest": { provider: "tls", replaceOn: on("*"), source: "tls internal/provider/resource_cert_request.go" },
  "command:remote:Command": {
    provider: "command",
    replaceOn: [{ input: "triggers", unlessSet: "update" }],
    // command.d.ts on triggers: "If the `update` command was provided the resource will be updated, otherwise it will be
    // replaced using the `create` command"; any other change re-runs `create` in place.
    source: "d.ts command/remote/command.d.ts",
  },
};

export const factsFor = (type: string): TypeFacts | undefined => REPLACE_FACTS[type];

/** Why a change of `input` replaces a resource of `type`, as a person reads it; undefined when no fact says so. */
export function replaceFactFor(type: string, input: string): string | undefined {
  const facts = factsFor(type);
  const fact = facts?.replaceOn.find((f) => pathsOverlap(f.input, input));
  return facts && fact ? describeFact(type, facts, fact) : undefined;
}

export function describeFact(type: string, facts: TypeFacts, fact: ReplaceFact): string {
  return `${facts.provider} ${type.split(":").pop() ?? type} forces a new resource when ${fact.input === "*" ? "any input" : fact.input} changes [${facts.source}]`;
}
