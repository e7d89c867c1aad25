// Where the EFS strategy delivers: an encrypted file system in a VPC of isolated subnets
// (no NAT: the only function inside is sync-efs, which needs S3, reached through a gateway
// endpoint, and the EFS API, reached through an interface endpoint), one mount target per
// AZ, and an access point that makes every client POSIX user 1001 under `/lambda-deps`,
// created 0755 — never 777. Flow logs record the VPC's traffic.
import { Annotations, RemovalPolicy } from 'aws-cdk-lib';
import {
  FlowLogDestination,
  FlowLogTrafficType,
  GatewayVpcEndpointAwsService,
  InterfaceVpcEndpointAwsService,
  SecurityGroup,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import type { InterfaceVpcEndpoint, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { FileSystem, PerformanceMode, ThroughputMode } from 'aws-cdk-lib/aws-efs';
import type { AccessPoint } from 'aws-cdk-lib/aws-efs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** Where Lambda functions mount the access point (matches `^/mnt/[a-zA-Z0-9-_.]+$`). */
export const EFS_MOUNT_PATH = '/mnt/deps';

/** The access point's root inside the file system. */
export const EFS_ROOT_PATH = '/lambda-deps';

/** POSIX identity every client of the access point acts as. */
export const EFS_POSIX_USER = { uid: '1001', gid: '1001' } as const;

export interface DependencyEfsStoreProps {
  /**
   * A VPC to use instead of creating one. It must have subnets of `subnetType` in at least
   * two AZs and a route to S3 and the EFS API (endpoints or NAT) for sync-efs.
   * @default a new VPC: 2 AZs, isolated subnets, an S3 gateway and an EFS interface endpoint, flow logs
   */
  readonly vpc?: IVpc;
  /** @default SubnetType.PRIVATE_ISOLATED (or PRIVATE_WITH_EGRESS for an imported VPC that has NAT) */
  readonly subnetType?: SubnetType;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
}

export class DependencyEfsStore extends Construct {
  readonly vpc: IVpc;
  readonly subnets: SubnetSelection;
  readonly fileSystem: FileSystem;
  readonly accessPoint: AccessPoint;
  /** Security group for functions that mount the access point; the only source allowed on 2049. */
  readonly clientSecurityGroup: SecurityGroup;
  /** The EFS API endpoint, when this construct made the VPC. */
  readonly efsApiEndpoint: InterfaceVpcEndpoint | undefined;

  constructor(scope: Construct, id: string, props: DependencyEfsStoreProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.subnets = { subnetType: props.subnetType ?? SubnetType.PRIVATE_ISOLATED };

    if (props.vpc) {
      this.vpc = props.vpc;
    } else {
      const vpc = new Vpc(this, 'Vpc', {
        maxAzs: 2,
        natGateways: 0,
        subnetConfiguration: [{ name: 'isolated', subnetType: SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
        gatewayEndpoints: { S3: { service: GatewayVpcEndpointAwsService.S3 } },
      });
      this.efsApiEndpoint = vpc.addInterfaceEndpoint('EfsApi', {
        service: InterfaceVpcEndpointAwsService.ELASTIC_FILESYSTEM,
        subnets: this.subnets,
        privateDnsEnabled: true,
        // Not open to the whole VPC: only the clients' security group may reach it (below).
        open: false,
      });
      vpc.addFlowLog('FlowLogs', {
        trafficType: FlowLogTrafficType.ALL,
        destination: FlowLogDestination.toCloudWatchLogs(
          new LogGroup(this, 'FlowLogGroup', {
            retention: props.logRetention ?? RetentionDays.ONE_MONTH,
            removalPolicy: RemovalPolicy.DESTROY,
          }),
        ),
      });
      this.vpc = vpc;
    }

    this.clientSecurityGroup = new SecurityGroup(this, 'ClientSecurityGroup', {
      vpc: this.vpc,
      description: 'lambda-deps functions that mount the dependency file system',
      allowAllOutbound: true,
    });
    // Egress stays open: sync-efs reaches S3 through the gateway endpoint, whose prefix list id
    // is unknown at synth time, and the isolated subnets have no route out of the VPC anyway.
    Annotations.of(this.clientSecurityGroup).acknowledgeWarning(
      '@aws-cdk/aws-ec2:ipv4IgnoreEgressRule',
      'Egress is open on purpose (S3 gateway endpoint); ingress is what this construct restricts.',
    );
    const fileSystemSecurityGroup = new SecurityGroup(this, 'FileSystemSecurityGroup', {
      vpc: this.vpc,
      description: 'lambda-deps dependency file system: NFS from its clients only',
      allowAllOutbound: false,
    });

    this.fileSystem = new FileSystem(this, 'FileSystem', {
      vpc: this.vpc,
      vpcSubnets: this.subnets,
      securityGroup: fileSystemSecurityGroup,
      encrypted: true,
      performanceMode: PerformanceMode.GENERAL_PURPOSE,
      throughputMode: ThroughputMode.ELASTIC,
      enableAutomaticBackups: true,
      removalPolicy,
    });
    this.fileSystem.connections.allowDefaultPortFrom(
      this.clientSecurityGroup,
      'NFS from lambda-deps clients',
    );
    this.efsApiEndpoint?.connections.allowDefaultPortFrom(
      this.clientSecurityGroup,
      'EFS API from lambda-deps clients',
    );

    this.accessPoint = this.fileSystem.addAccessPoint('AccessPoint', {
      path: EFS_ROOT_PATH,
      posixUser: { ...EFS_POSIX_USER },
      createAcl: { ownerUid: EFS_POSIX_USER.uid, ownerGid: EFS_POSIX_USER.gid, permissions: '755' },
    });
  }
}
