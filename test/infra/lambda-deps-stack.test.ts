// The synthesized stack: each resource is there with the properties the design asks for.
import { INPUT_FILE_PATTERNS } from '../../functions/core/inputs/input-format.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Match } from 'aws-cdk-lib/assertions';
import { STACK_OUTPUTS, stackParameterName } from '../../infra/lambda-deps-stack.ts';
import { functionIdForEntry, resourcesOfType, synthesizeApp } from './synthesized-app.ts';
import type { SynthesizedApp } from './synthesized-app.ts';

/** The variables the handlers' config module reads (the pipeline contract). */
const CONTRACT_VARIABLES = [
  'ARTIFACT_BUCKET',
  'SSM_PARAMETER_PREFIX',
  'EVENT_BUS_NAME',
  'LAYER_NAME_PREFIX',
  'LAYER_PRINCIPALS',
  'LAYER_ORGANIZATION_ID',
  'FUNCTIONS_TO_UPDATE',
  'EFS_MOUNT_PATH',
  'EFS_ACCESS_POINT_ARN',
  'EFS_FILE_SYSTEM_ID',
  'KEEP_EFS_VERSIONS',
  'ECR_REPOSITORY_URI',
  'ECR_REPOSITORY_NAME',
  'BASE_IMAGE_REPOSITORY',
  'DEFAULT_RUNTIME',
  'DEFAULT_ARCHITECTURE',
  'INDEX_URL',
  'EXTRA_INDEX_URLS',
  'POWERTOOLS_SERVICE_NAME',
];

const STEP_ENTRIES = [
  'functions/measure/handler.ts',
  'functions/read-build-manifest/handler.ts',
  'functions/publish-layers/handler.ts',
  'functions/sync-efs/handler.ts',
  'functions/push-image/handler.ts',
  'functions/report/handler.ts',
];

let synthesized: SynthesizedApp;

beforeAll(() => {
  synthesized = synthesizeApp({ nagChecks: false });
});
afterAll(() => synthesized.cleanup());

function artifactBucketId(): string {
  const [entry] = resourcesOfType(synthesized.json, 'AWS::S3::Bucket').filter(
    ([, properties]) =>
      (properties.VersioningConfiguration as { Status?: string } | undefined)?.Status === 'Enabled',
  );
  if (!entry) throw new Error('no versioned bucket');
  return entry[0];
}

describe('LambdaDepsStack', () => {
  describe('artifact bucket', () => {
    it('is encrypted, versioned, closed to the public and logs its access', () => {
      // Prepare
      const { template } = synthesized;

      // Act
      const buckets = template.findResources('AWS::S3::Bucket', {
        Properties: {
          BucketEncryption: {
            ServerSideEncryptionConfiguration: [
              { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
            ],
          },
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
          VersioningConfiguration: { Status: 'Enabled' },
          LoggingConfiguration: { DestinationBucketName: Match.anyValue() },
        },
      });

      // Assess
      expect(Object.keys(buckets)).toEqual([artifactBucketId()]);
    });

    it('denies every request that does not use TLS', () => {
      // Prepare
      const bucketId = artifactBucketId();

      // Act
      const policies = synthesized.template.findResources('AWS::S3::BucketPolicy', {
        Properties: {
          Bucket: { Ref: bucketId },
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Effect: 'Deny',
                Action: 's3:*',
                Condition: { Bool: { 'aws:SecureTransport': 'false' } },
                Principal: { AWS: '*' },
              }),
            ]),
          },
        },
      });

      // Assess
      expect(Object.keys(policies)).toHaveLength(1);
    });

    it('expires old artifacts and old object versions', () => {
      // Prepare
      const properties = synthesized.json.Resources[artifactBucketId()]?.Properties ?? {};

      // Act
      const rules = (properties.LifecycleConfiguration as { Rules: Record<string, unknown>[] }).Rules;

      // Assess
      expect(rules).toContainEqual(
        expect.objectContaining({ Prefix: 'artifacts/', ExpirationInDays: 90, Status: 'Enabled' }),
      );
      expect(rules).toContainEqual(
        expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 30 }, Status: 'Enabled' }),
      );
    });

    it('sends its events to EventBridge', () => {
      // Act & Assess
      synthesized.template.hasResourceProperties('Custom::S3BucketNotifications', {
        BucketName: { Ref: artifactBucketId() },
        NotificationConfiguration: { EventBridgeConfiguration: {} },
      });
    });
  });

  describe('upload rule', () => {
    it('matches Object Created events for requirements .txt and pyproject.toml files in the bucket', () => {
      // Prepare
      const [rule] = resourcesOfType(synthesized.json, 'AWS::Events::Rule');

      // Act
      const pattern = rule?.[1].EventPattern as Record<string, unknown>;

      // Assess
      expect(pattern).toEqual({
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: {
          bucket: { name: [{ Ref: artifactBucketId() }] },
          object: { key: INPUT_FILE_PATTERNS.map((pattern) => ({ wildcard: `requirements/${pattern}` })) },
        },
      });
    });

    it('targets the start-execution function with the event as it is, retries and a dead-letter queue', () => {
      // Prepare
      const startId = functionIdForEntry(synthesized.json, 'functions/start-execution/handler.ts');

      // Act
      const [rule] = resourcesOfType(synthesized.json, 'AWS::Events::Rule');
      const targets = rule?.[1].Targets as Record<string, unknown>[];

      // Assess
      expect(targets).toHaveLength(1);
      expect(targets[0]).toMatchObject({
        Arn: { 'Fn::GetAtt': [startId, 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 8 },
        DeadLetterConfig: { Arn: expect.anything() },
      });
      // No Input, InputPath or InputTransformer: the state machine accepts S3 events unchanged.
      expect(Object.keys(targets[0] ?? {}).filter((key) => key.startsWith('Input'))).toEqual([]);
    });

    it('lets the start-execution function start executions of the state machine and nothing else', () => {
      // Prepare
      const startId = functionIdForEntry(synthesized.json, 'functions/start-execution/handler.ts');
      const [machine] = resourcesOfType(synthesized.json, 'AWS::StepFunctions::StateMachine');

      // Act
      const environment = (
        synthesized.json.Resources[startId]?.Properties?.Environment as {
          Variables: Record<string, unknown>;
        }
      ).Variables;

      // Assess
      expect(environment.STATE_MACHINE_ARN).toEqual({ Ref: machine?.[0] });
      synthesized.template.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Action: 'states:StartExecution',
              Effect: 'Allow',
              Resource: { Ref: machine?.[0] },
            }),
          ]),
        },
      });
    });
  });

  describe('state machine', () => {
    it('is a Standard machine that logs everything, traces and has a timeout', () => {
      // Act & Assess
      synthesized.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        StateMachineType: 'STANDARD',
        TracingConfiguration: { Enabled: true },
        LoggingConfiguration: {
          Level: 'ALL',
          IncludeExecutionData: true,
          Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: Match.anyValue() } }],
        },
      });
    });
  });

  describe('build project', () => {
    it('runs buildspecs/build.yml unprivileged on Amazon Linux 2023 arm64, encrypted, with the store location', () => {
      // Act & Assess
      synthesized.template.hasResourceProperties('AWS::CodeBuild::Project', {
        Source: { Type: 'S3', BuildSpec: 'buildspecs/build.yml' },
        Environment: {
          Image: 'aws/codebuild/amazonlinux-aarch64-standard:3.0',
          Type: 'ARM_CONTAINER',
          ComputeType: 'BUILD_GENERAL1_SMALL',
          PrivilegedMode: false,
          EnvironmentVariables: [
            {
              Name: 'LAMBDA_DEPS_STORE',
              Type: 'PLAINTEXT',
              Value: { 'Fn::Join': ['', ['s3://', { Ref: artifactBucketId() }]] },
            },
          ],
        },
        EncryptionKey: Match.anyValue(),
        TimeoutInMinutes: 60,
        LogsConfig: { CloudWatchLogs: { Status: 'ENABLED', GroupName: Match.anyValue() } },
      });
    });
  });

  describe('functions', () => {
    it.each(STEP_ENTRIES)(
      '%s runs on nodejs22.x arm64 with tracing, its own log group and every contract variable',
      (entry) => {
        // Prepare
        const id = functionIdForEntry(synthesized.json, entry);

        // Act
        const properties = synthesized.json.Resources[id]?.Properties ?? {};
        const variables = Object.keys((properties.Environment as { Variables: object }).Variables);

        // Assess
        expect(properties).toMatchObject({
          Runtime: 'nodejs22.x',
          Architectures: ['arm64'],
          TracingConfig: { Mode: 'Active' },
          LoggingConfig: { LogGroup: { Ref: expect.any(String) } },
        });
        expect(variables).toEqual(expect.arrayContaining(CONTRACT_VARIABLES));
      },
    );

    it('gives every log group a retention', () => {
      // Act
      const groups = resourcesOfType(synthesized.json, 'AWS::Logs::LogGroup');

      // Assess
      expect(groups.length).toBeGreaterThanOrEqual(STEP_ENTRIES.length + 3);
      for (const [, properties] of groups) expect(properties.RetentionInDays).toBe(30);
    });

    it('runs sync-efs in the VPC with the access point mounted at /mnt/deps', () => {
      // Prepare
      const id = functionIdForEntry(synthesized.json, 'functions/sync-efs/handler.ts');
      const [accessPoint] = resourcesOfType(synthesized.json, 'AWS::EFS::AccessPoint');

      // Act
      const properties = synthesized.json.Resources[id]?.Properties ?? {};

      // Assess
      expect(properties.FileSystemConfigs).toEqual([{ Arn: expect.anything(), LocalMountPath: '/mnt/deps' }]);
      expect(JSON.stringify(properties.FileSystemConfigs)).toContain(`{"Ref":"${accessPoint?.[0]}"}`);
      expect(properties.VpcConfig).toMatchObject({
        SubnetIds: expect.any(Array),
        SecurityGroupIds: expect.any(Array),
      });
    });

    it('gives push-image, sync-efs and measure 10 GiB of /tmp for large sets (measure downloads whole wheels from an index without Range)', () => {
      // Act
      const sizes = [
        'functions/push-image/handler.ts',
        'functions/sync-efs/handler.ts',
        'functions/measure/handler.ts',
      ].map(
        (entry) =>
          synthesized.json.Resources[functionIdForEntry(synthesized.json, entry)]?.Properties
            ?.EphemeralStorage,
      );

      // Assess
      expect(sizes).toEqual([{ Size: 10240 }, { Size: 10240 }, { Size: 10240 }]);
    });

    it('keeps every other function out of the VPC (they call AWS APIs and public indexes)', () => {
      // Act
      const inVpc = STEP_ENTRIES.filter(
        (entry) =>
          synthesized.json.Resources[functionIdForEntry(synthesized.json, entry)]?.Properties?.VpcConfig,
      );

      // Assess
      expect(inVpc).toEqual(['functions/sync-efs/handler.ts']);
    });
  });

  describe('EFS store', () => {
    it('is encrypted, with a mount target in each of two AZs', () => {
      // Act & Assess
      synthesized.template.hasResourceProperties('AWS::EFS::FileSystem', { Encrypted: true });
      synthesized.template.resourceCountIs('AWS::EFS::MountTarget', 2);
    });

    it('has an access point for POSIX user 1001:1001 rooted at /lambda-deps, created 0755', () => {
      // Act & Assess
      synthesized.template.hasResourceProperties('AWS::EFS::AccessPoint', {
        PosixUser: { Uid: '1001', Gid: '1001' },
        RootDirectory: {
          Path: '/lambda-deps',
          CreationInfo: { OwnerUid: '1001', OwnerGid: '1001', Permissions: '755' },
        },
      });
    });

    it('accepts NFS (2049) only from the clients security group', () => {
      // Prepare
      const nfsRules = resourcesOfType(synthesized.json, 'AWS::EC2::SecurityGroupIngress').filter(
        ([, properties]) => properties.FromPort === 2049,
      );

      // Act
      const sources = nfsRules.map(([, properties]) => properties.SourceSecurityGroupId);

      // Assess
      expect(nfsRules).toHaveLength(1);
      expect(nfsRules[0]?.[1]).not.toHaveProperty('CidrIp');
      expect(sources[0]).toEqual({
        'Fn::GetAtt': [expect.stringContaining('ClientSecurityGroup'), 'GroupId'],
      });
    });

    it('lives in a VPC with isolated subnets, no NAT, an S3 gateway endpoint and flow logs', () => {
      // Act & Assess
      synthesized.template.resourceCountIs('AWS::EC2::NatGateway', 0);
      synthesized.template.resourceCountIs('AWS::EC2::InternetGateway', 0);
      synthesized.template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
        VpcEndpointType: 'Gateway',
        ServiceName: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith(['.s3'])]) }),
      });
      synthesized.template.hasResourceProperties('AWS::EC2::FlowLog', {
        ResourceType: 'VPC',
        TrafficType: 'ALL',
      });
    });
  });

  describe('image repository', () => {
    it('scans on push, keeps tags immutable and expires only untagged left-overs, never a tagged image a function may run', () => {
      // Act
      const [repository] = resourcesOfType(synthesized.json, 'AWS::ECR::Repository');
      const policy = JSON.parse(
        String((repository?.[1].LifecyclePolicy as { LifecyclePolicyText: string }).LifecyclePolicyText),
      ) as { rules: { selection: { tagStatus: string } }[] };

      // Assess
      synthesized.template.hasResourceProperties('AWS::ECR::Repository', {
        ImageScanningConfiguration: { ScanOnPush: true },
        ImageTagMutability: 'IMMUTABLE',
      });
      expect(policy.rules.map((rule) => rule.selection.tagStatus)).toEqual(['untagged']);
    });
  });

  describe('outputs', () => {
    it('names the bucket, state machine and prefixes for `submit --stack`', () => {
      // Act
      const outputs = Object.keys(synthesized.json.Outputs ?? {});

      // Assess
      expect(outputs).toEqual(expect.arrayContaining(Object.values(STACK_OUTPUTS)));
      expect(synthesized.json.Outputs?.[STACK_OUTPUTS.requirementsPrefix]?.Value).toBe('requirements/');
    });

    it('publishes the same values as SSM parameters under <prefix>stacks/<stack name>/', () => {
      // Prepare
      const expected = Object.keys(STACK_OUTPUTS).map((key) =>
        stackParameterName('/lambda-deps/', 'LambdaDeps', key as keyof typeof STACK_OUTPUTS),
      );

      // Act
      const parameters = resourcesOfType(synthesized.json, 'AWS::SSM::Parameter');
      const names = parameters.map(([, properties]) => properties.Name);

      // Assess
      expect(names.sort()).toEqual(expected.sort());
      expect(expected).toContain('/lambda-deps/stacks/LambdaDeps/StateMachineArn');
      const bucket = parameters.find(([, properties]) =>
        String(properties.Name).endsWith('/ArtifactBucketName'),
      );
      expect(bucket?.[1].Value).toEqual({ Ref: artifactBucketId() });
    });
  });
});
