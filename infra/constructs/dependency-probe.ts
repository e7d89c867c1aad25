// What the Probe step needs in AWS: the role its short-lived probe functions run with (logs,
// and for the EFS route the VPC network interfaces and a client mount of the access point;
// nothing else: the probed code is untrusted), probe.py as a code asset, and the Probe step's
// own grants to create, invoke and delete only functions named with the probe prefix.
import { ArnFormat, Stack } from 'aws-cdk-lib';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IRepository } from 'aws-cdk-lib/aws-ecr';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import type { AccessPoint, FileSystem } from 'aws-cdk-lib/aws-efs';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { join } from 'node:path';
import { REPOSITORY_ROOT } from './handler-modules.ts';
import { attachScopedPolicy } from './scoped-policy.ts';

/** The folder whose only file is probe.py, the handler every probe function runs. */
export const PROBE_RUNTIME_DIR = join(REPOSITORY_ROOT, 'functions', 'probe-runtime');

export interface DependencyProbeProps {
  /** The Probe step's function: it gets the grants and the PROBE_* variables. */
  readonly probeStep: LambdaFunction;
  /** Probe function names start with it (and `-`). */
  readonly functionNamePrefix: string;
  /** Layer names the probe may attach (those the pipeline publishes). */
  readonly layerNamePrefix: string;
  /** The EFS route's network and access point, when it is deployed. */
  readonly efs?: {
    readonly vpc: IVpc;
    readonly subnets: SubnetSelection;
    readonly securityGroup: ISecurityGroup;
    readonly fileSystem: FileSystem;
    readonly accessPoint: AccessPoint;
  };
  /** The image route's repository, when it is deployed. */
  readonly repository?: IRepository;
}

export class DependencyProbe extends Construct {
  /** The role probe functions run with. */
  readonly runtimeRole: Role;

  constructor(scope: Construct, id: string, props: DependencyProbeProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const functionArn = stack.formatArn({
      service: 'lambda',
      resource: 'function',
      resourceName: `${props.functionNamePrefix}-*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.runtimeRole = new Role(this, 'RuntimeRole', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description:
        'lambda-deps probe functions: write their logs (and mount the EFS access point); nothing else',
    });
    this.grantRuntime(props);
    // probe.py only (the folder also holds its copy as a TypeScript string for bundles).
    const code = new Asset(this, 'Code', { path: PROBE_RUNTIME_DIR, exclude: ['*.ts'] });
    // CreateFunction reads the zip with the caller's permissions: this one object, nothing else.
    props.probeStep.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [code.bucket.arnForObjects(code.s3ObjectKey)],
      }),
    );
    const step = props.probeStep;
    step.addEnvironment('PROBE_ROLE_ARN', this.runtimeRole.roleArn);
    step.addEnvironment('PROBE_CODE_BUCKET', code.s3BucketName);
    step.addEnvironment('PROBE_CODE_KEY', code.s3ObjectKey);
    step.addEnvironment('PROBE_FUNCTION_PREFIX', props.functionNamePrefix);
    // In AWS the probe always runs: a probe that cannot run is a failure, never "not probed".
    step.addEnvironment('REQUIRE_PROBE', 'true');
    if (props.efs) {
      step.addEnvironment(
        'PROBE_SUBNET_IDS',
        props.efs.vpc.selectSubnets(props.efs.subnets).subnetIds.join(','),
      );
      step.addEnvironment('PROBE_SECURITY_GROUP_IDS', props.efs.securityGroup.securityGroupId);
    }
    this.grantStep(props, functionArn);
  }

  /** The probe functions' own role: logs, and the EFS route's network interfaces and mount. */
  private grantRuntime(props: DependencyProbeProps): void {
    const stack = Stack.of(this);
    const statements = [
      new PolicyStatement({
        actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [
          stack.formatArn({
            service: 'logs',
            resource: 'log-group',
            resourceName: `/aws/lambda/${props.functionNamePrefix}-*`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
    ];
    if (props.efs) {
      statements.push(
        // A function in a VPC makes its network interfaces with its own role; EC2 gives these
        // actions no resource-level permissions.
        new PolicyStatement({
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: ['*'],
        }),
        // Read-only: a probe imports, it never writes the shared tree.
        new PolicyStatement({
          actions: ['elasticfilesystem:ClientMount'],
          resources: [props.efs.fileSystem.fileSystemArn],
          conditions: {
            StringEquals: { 'elasticfilesystem:AccessPointArn': props.efs.accessPoint.accessPointArn },
          },
        }),
      );
    }
    attachScopedPolicy(this, 'RuntimePolicy', {
      role: this.runtimeRole,
      statements,
      reason: `Probe functions write logs only under /aws/lambda/${props.functionNamePrefix}-*; a VPC function's network-interface actions have no resource-level permissions.`,
    });
  }

  /** The Probe step: create, wait for, invoke and delete its own probe functions, and nothing else. */
  private grantStep(props: DependencyProbeProps, functionArn: string): void {
    const stack = Stack.of(this);
    const layerArn = stack.formatArn({
      service: 'lambda',
      resource: 'layer',
      resourceName: `${props.layerNamePrefix}*:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const statements = [
      new PolicyStatement({
        actions: [
          'lambda:CreateFunction',
          'lambda:GetFunction',
          'lambda:InvokeFunction',
          'lambda:DeleteFunction',
        ],
        resources: [functionArn],
      }),
      // CreateFunction with Layers reads each layer version with the caller's permissions.
      new PolicyStatement({ actions: ['lambda:GetLayerVersion'], resources: [layerArn] }),
    ];
    if (props.efs) {
      // Lambda checks that the caller may see the subnets and security groups it attaches;
      // these Describe actions have no resource-level permissions.
      statements.push(
        new PolicyStatement({
          actions: ['ec2:DescribeSecurityGroups', 'ec2:DescribeSubnets', 'ec2:DescribeVpcs'],
          resources: ['*'],
        }),
      );
    }
    attachScopedPolicy(this, 'StepPolicy', {
      role: props.probeStep.role,
      statements,
      reason: `Functions are limited to names starting with "${props.functionNamePrefix}-", layers to "${props.layerNamePrefix}"; the EC2 Describe actions Lambda checks for a VPC function have no resource-level permissions.`,
    });
    // Passing the runtime role, only to Lambda.
    props.probeStep.addToRolePolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['iam:PassRole'],
        resources: [this.runtimeRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'lambda.amazonaws.com' } },
      }),
    );
    // An image function's code is pulled with the caller's permissions.
    props.repository?.grantPull(props.probeStep);
  }
}
