// The LambdaDeps construct's props: for each, what the template holds by default and when set.
// Two synths serve all the cases (defaults, everything set); a third drops the construct into
// a user's own stack with their VPC.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ComputeType } from 'aws-cdk-lib/aws-codebuild';
import { SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { TagMutability } from 'aws-cdk-lib/aws-ecr';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LambdaDeps } from '../../infra/constructs/lambda-deps.ts';
import type { LambdaDepsProps } from '../../infra/constructs/lambda-deps.ts';
import { extractStateMachineDefinition } from '../../infra/state-machine-definition.ts';
import { functionIdForEntry, resourcesOfType } from './synthesized-app.ts';
import type { TemplateJson } from './synthesized-app.ts';

const MEASURE = 'functions/measure/handler.ts';
const PUBLISH = 'functions/publish-layers/handler.ts';

/** The construct in a plain stack; `props` may create what they refer to in that stack. */
function synthesizeConstruct(props: (stack: Stack) => LambdaDepsProps): TemplateJson {
  // CDK's built-in template validation would triple the time; test/infra/cdk-nag.test.ts runs it once.
  const app = new App({
    outdir: mkdtempSync(join(outdirRoot, 'app-')),
    builtinCloudFormationValidation: false,
  });
  const stack = new Stack(app, 'UserStack');
  new LambdaDeps(stack, 'Deps', { skipBundling: true, ...props(stack) });
  return Template.fromStack(stack).toJSON() as TemplateJson;
}

// Every App writes an assembly; keep them all under one folder removed at the end.
const outdirRoot = mkdtempSync(join(tmpdir(), 'lambda-deps-props-'));
afterAll(() => rmSync(outdirRoot, { recursive: true, force: true }));

let defaults: TemplateJson;
let custom: TemplateJson;

beforeAll(() => {
  defaults = synthesizeConstruct(() => ({}));
  custom = synthesizeConstruct((stack) => ({
    layerNamePrefix: 'acme-deps',
    ssmParameterPrefix: '/acme/deps/',
    layerPrincipals: ['111111111111', '222222222222'],
    layerOrganizationId: 'o-abcdefghij',
    functionsToUpdate: ['orders-api', 'billing-worker'],
    defaultRuntime: 'python3.11',
    defaultArchitecture: 'x86_64',
    indexUrl: 'https://pypi.example.com/simple',
    extraIndexUrls: ['https://a.example.com/simple', 'https://b.example.com/simple'],
    keepEfsVersions: 5,
    keepLayerVersions: 7,
    baseImageRepository: 'registry.example.com/lambda/python',
    requirementsBuckets: [Bucket.fromBucketName(stack, 'Sources', 'acme-requirements')],
    eventBus: EventBus.fromEventBusName(stack, 'Bus', 'acme-bus'),
    artifactExpiration: Duration.days(10),
    noncurrentVersionExpiration: Duration.days(7),
    imageTagMutability: TagMutability.MUTABLE,
    maxImageCount: 5,
    buildComputeType: ComputeType.LARGE,
    buildTimeout: Duration.minutes(30),
    executionTimeout: Duration.hours(1),
    transientRetryAttempts: 5,
    logRetention: RetentionDays.ONE_WEEK,
    removalPolicy: RemovalPolicy.DESTROY,
    customBaseImage: 'registry.example.com/al2-python:3.11@sha256:' + 'a'.repeat(64),
    defaultPolicy: { excludeRuntimeProvided: true, keepFreeLayers: 2 },
    allowedVariables: {
      PRIVATE_INDEX_TOKEN: Secret.fromSecretNameV2(stack, 'Token', 'acme/pypi-token'),
      INDEX_HOST: 'pypi.example.com',
    },
  }));
});

function variable(json: TemplateJson, entry: string, name: string): unknown {
  const properties = json.Resources[functionIdForEntry(json, entry)]?.Properties ?? {};
  return (properties.Environment as { Variables: Record<string, unknown> }).Variables[name];
}

function policyText(json: TemplateJson): string {
  return JSON.stringify(resourcesOfType(json, 'AWS::IAM::Policy').map(([, properties]) => properties));
}

function artifactBucket(json: TemplateJson): {
  id: string;
  properties: Record<string, unknown>;
  deletion: unknown;
} {
  const entry = Object.entries(json.Resources).find(
    ([, resource]) =>
      resource.Type === 'AWS::S3::Bucket' &&
      (resource.Properties?.VersioningConfiguration as { Status?: string } | undefined)?.Status === 'Enabled',
  );
  if (!entry) throw new Error('no artifact bucket');
  return {
    id: entry[0],
    properties: entry[1].Properties ?? {},
    deletion: (entry[1] as { DeletionPolicy?: unknown }).DeletionPolicy,
  };
}

function project(json: TemplateJson): Record<string, unknown> {
  const [entry] = resourcesOfType(json, 'AWS::CodeBuild::Project');
  return entry?.[1] ?? {};
}

function states(json: TemplateJson): Record<string, Record<string, unknown>> {
  return extractStateMachineDefinition(json).definition.States as Record<string, Record<string, unknown>>;
}

describe('LambdaDeps props', () => {
  describe('layerNamePrefix', () => {
    it('defaults to lambda-deps, in the variable and the layer permission', () => {
      // Act & Assess
      expect(variable(defaults, PUBLISH, 'LAYER_NAME_PREFIX')).toBe('lambda-deps');
      expect(policyText(defaults)).toContain(':layer:lambda-deps*');
    });
    it('scopes the layer permission to a set prefix', () => {
      // Act & Assess
      expect(variable(custom, PUBLISH, 'LAYER_NAME_PREFIX')).toBe('acme-deps');
      expect(policyText(custom)).toContain(':layer:acme-deps*');
      expect(policyText(custom)).not.toContain(':layer:lambda-deps');
    });
  });

  describe('ssmParameterPrefix', () => {
    it('defaults to /lambda-deps/', () => {
      // Act & Assess
      expect(variable(defaults, PUBLISH, 'SSM_PARAMETER_PREFIX')).toBe('/lambda-deps/');
      expect(policyText(defaults)).toContain(':parameter/lambda-deps/*');
    });
    it('scopes parameter writes to a set path', () => {
      // Act & Assess
      expect(variable(custom, PUBLISH, 'SSM_PARAMETER_PREFIX')).toBe('/acme/deps/');
      expect(policyText(custom)).toContain(':parameter/acme/deps/*');
    });
  });

  describe('layerPrincipals and layerOrganizationId', () => {
    it('default to empty', () => {
      // Act & Assess
      expect(variable(defaults, PUBLISH, 'LAYER_PRINCIPALS')).toBe('');
      expect(variable(defaults, PUBLISH, 'LAYER_ORGANIZATION_ID')).toBe('');
    });
    it('pass set accounts comma-separated and the organization id', () => {
      // Act & Assess
      expect(variable(custom, PUBLISH, 'LAYER_PRINCIPALS')).toBe('111111111111,222222222222');
      expect(variable(custom, PUBLISH, 'LAYER_ORGANIZATION_ID')).toBe('o-abcdefghij');
    });
  });

  describe('functionsToUpdate', () => {
    it('defaults to none, with no permission to update any function', () => {
      // Act & Assess
      expect(variable(defaults, PUBLISH, 'FUNCTIONS_TO_UPDATE')).toBe('');
      expect(policyText(defaults)).not.toContain('lambda:UpdateFunctionConfiguration');
    });
    it('allows updating exactly the set functions', () => {
      // Act & Assess
      expect(variable(custom, PUBLISH, 'FUNCTIONS_TO_UPDATE')).toBe('orders-api,billing-worker');
      const text = policyText(custom);
      expect(text).toContain('lambda:UpdateFunctionConfiguration');
      expect(text).toContain(':function:orders-api"');
      expect(text).toContain(':function:billing-worker"');
      expect(text).not.toMatch(/:function:\*/);
    });
  });

  describe('defaultRuntime and defaultArchitecture', () => {
    it('default to python3.12 on arm64, built on the aarch64 image', () => {
      // Act & Assess
      expect(variable(defaults, MEASURE, 'DEFAULT_RUNTIME')).toBe('python3.12');
      expect(variable(defaults, MEASURE, 'DEFAULT_ARCHITECTURE')).toBe('arm64');
      expect(project(defaults).Environment).toMatchObject({
        Type: 'ARM_CONTAINER',
        Image: 'aws/codebuild/amazonlinux-aarch64-standard:3.0',
      });
    });
    it('follow set values, building x86_64 sets on the x86_64 image', () => {
      // Act & Assess
      expect(variable(custom, MEASURE, 'DEFAULT_RUNTIME')).toBe('python3.11');
      expect(variable(custom, MEASURE, 'DEFAULT_ARCHITECTURE')).toBe('x86_64');
      expect(project(custom).Environment).toMatchObject({
        Type: 'LINUX_CONTAINER',
        Image: 'aws/codebuild/amazonlinux-x86_64-standard:5.0',
      });
    });
  });

  describe('indexUrl and extraIndexUrls', () => {
    it('default to PyPI and no extra index', () => {
      // Act & Assess
      expect(variable(defaults, MEASURE, 'INDEX_URL')).toBe('https://pypi.org/simple');
      expect(variable(defaults, MEASURE, 'EXTRA_INDEX_URLS')).toBe('');
    });
    it('pass set indexes, extra ones space-separated', () => {
      // Act & Assess
      expect(variable(custom, MEASURE, 'INDEX_URL')).toBe('https://pypi.example.com/simple');
      expect(variable(custom, MEASURE, 'EXTRA_INDEX_URLS')).toBe(
        'https://a.example.com/simple https://b.example.com/simple',
      );
    });
  });

  describe('keepEfsVersions and baseImageRepository', () => {
    it('default to 3 and the public Lambda Python base', () => {
      // Act & Assess
      expect(variable(defaults, 'functions/sync-efs/handler.ts', 'KEEP_EFS_VERSIONS')).toBe('3');
      expect(variable(defaults, 'functions/push-image/handler.ts', 'BASE_IMAGE_REPOSITORY')).toBe(
        'public.ecr.aws/lambda/python',
      );
    });
    it('pass set values', () => {
      // Act & Assess
      expect(variable(custom, 'functions/sync-efs/handler.ts', 'KEEP_EFS_VERSIONS')).toBe('5');
      expect(variable(custom, 'functions/push-image/handler.ts', 'BASE_IMAGE_REPOSITORY')).toBe(
        'registry.example.com/lambda/python',
      );
    });
  });

  describe('keepLayerVersions', () => {
    it('defaults to 3 layer versions kept per name', () => {
      // Act & Assess
      expect(variable(defaults, 'functions/publish-layers/handler.ts', 'KEEP_LAYER_VERSIONS')).toBe('3');
    });
    it('passes a set value to the publish step', () => {
      // Act & Assess
      expect(variable(custom, 'functions/publish-layers/handler.ts', 'KEEP_LAYER_VERSIONS')).toBe('7');
    });
  });

  describe('requirementsBuckets', () => {
    it('default to none: measure reads only the artifact bucket', () => {
      // Act & Assess
      expect(policyText(defaults)).not.toContain('acme-requirements');
    });
    it('let measure read the set buckets, read-only', () => {
      // Act & Assess
      const measureRole = (
        custom.Resources[functionIdForEntry(custom, MEASURE)]?.Properties?.Role as { 'Fn::GetAtt': string[] }
      )['Fn::GetAtt'][0];
      const policies = resourcesOfType(custom, 'AWS::IAM::Policy').filter(([, properties]) =>
        JSON.stringify(properties).includes('acme-requirements'),
      );
      expect(policies).toHaveLength(1);
      expect(JSON.stringify(policies[0]?.[1].Roles)).toContain(`"${measureRole}"`);
      expect(JSON.stringify(policies[0]?.[1].PolicyDocument)).not.toContain('s3:Put');
    });
  });

  describe('eventBus', () => {
    it("defaults to the account's default bus", () => {
      // Act & Assess
      expect(variable(defaults, 'functions/report/handler.ts', 'EVENT_BUS_NAME')).toBe('default');
      expect(policyText(defaults)).toContain(':event-bus/default');
    });
    it('uses a set bus for the variable and the PutEvents grant', () => {
      // Act & Assess
      expect(variable(custom, 'functions/report/handler.ts', 'EVENT_BUS_NAME')).toBe('acme-bus');
      expect(policyText(custom)).toContain(':event-bus/acme-bus');
    });
  });

  describe('artifactExpiration and noncurrentVersionExpiration', () => {
    it('default to 90 and 30 days', () => {
      // Act & Assess
      const rules = (artifactBucket(defaults).properties.LifecycleConfiguration as { Rules: object[] }).Rules;
      expect(rules).toContainEqual(expect.objectContaining({ Prefix: 'artifacts/', ExpirationInDays: 90 }));
      expect(rules).toContainEqual(
        expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 30 } }),
      );
    });
    it('follow set durations', () => {
      // Act & Assess
      const rules = (artifactBucket(custom).properties.LifecycleConfiguration as { Rules: object[] }).Rules;
      expect(rules).toContainEqual(expect.objectContaining({ Prefix: 'artifacts/', ExpirationInDays: 10 }));
      expect(rules).toContainEqual(
        expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 7 } }),
      );
    });
  });

  describe('imageTagMutability and maxImageCount', () => {
    it('default to immutable tags and no count limit (a tagged image in use never expires)', () => {
      // Act & Assess
      const [repository] = resourcesOfType(defaults, 'AWS::ECR::Repository');
      expect(repository?.[1].ImageTagMutability).toBe('IMMUTABLE');
      expect(JSON.stringify(repository?.[1].LifecyclePolicy)).not.toContain('imageCountMoreThan');
    });
    it('follow set values', () => {
      // Act & Assess
      const [repository] = resourcesOfType(custom, 'AWS::ECR::Repository');
      expect(repository?.[1].ImageTagMutability).toBe('MUTABLE');
      expect(JSON.stringify(repository?.[1].LifecyclePolicy)).toContain('\\"countNumber\\":5}');
    });
  });

  describe('buildComputeType and buildTimeout', () => {
    it('default to SMALL and 60 minutes, the Build state waiting 10 minutes longer', () => {
      // Act & Assess
      expect(project(defaults)).toMatchObject({
        TimeoutInMinutes: 60,
        Environment: { ComputeType: 'BUILD_GENERAL1_SMALL' },
      });
      expect(states(defaults).Build?.TimeoutSeconds).toBe(70 * 60);
    });
    it('follow set values', () => {
      // Act & Assess
      expect(project(custom)).toMatchObject({
        TimeoutInMinutes: 30,
        Environment: { ComputeType: 'BUILD_GENERAL1_LARGE' },
      });
      expect(states(custom).Build?.TimeoutSeconds).toBe(40 * 60);
    });
  });

  describe('executionTimeout and transientRetryAttempts', () => {
    it('default to 2 hours and 3 attempts', () => {
      // Act & Assess
      expect(extractStateMachineDefinition(defaults).definition.TimeoutSeconds).toBe(7200);
      expect((states(defaults).Measure?.Retry as { MaxAttempts: number }[])[0]?.MaxAttempts).toBe(3);
    });
    it('follow set values', () => {
      // Act & Assess
      expect(extractStateMachineDefinition(custom).definition.TimeoutSeconds).toBe(3600);
      expect((states(custom).Measure?.Retry as { MaxAttempts: number }[])[0]?.MaxAttempts).toBe(5);
    });
  });

  describe('logRetention', () => {
    it('defaults to one month on every log group', () => {
      // Act & Assess
      const retentions = resourcesOfType(defaults, 'AWS::Logs::LogGroup').map(([, p]) => p.RetentionInDays);
      expect(new Set(retentions)).toEqual(new Set([30]));
    });
    it('applies a set retention to every log group', () => {
      // Act & Assess
      const retentions = resourcesOfType(custom, 'AWS::Logs::LogGroup').map(([, p]) => p.RetentionInDays);
      expect(new Set(retentions)).toEqual(new Set([7]));
    });
  });

  describe('removalPolicy', () => {
    it('defaults to RETAIN for the bucket, file system and repository', () => {
      // Act & Assess
      expect(artifactBucket(defaults).deletion).toBe('Retain');
      for (const type of ['AWS::EFS::FileSystem', 'AWS::ECR::Repository']) {
        const [entry] = Object.values(defaults.Resources).filter((resource) => resource.Type === type);
        expect((entry as { DeletionPolicy?: string }).DeletionPolicy, type).toBe('Retain');
      }
    });
    it('follows a set policy', () => {
      // Act & Assess
      expect(artifactBucket(custom).deletion).toBe('Delete');
    });
  });

  describe('defaultPolicy', () => {
    it("defaults to the policy's defaults, set on the measure step", () => {
      // Act
      const policy = JSON.parse(String(variable(defaults, MEASURE, 'LAMBDA_DEPS_DEFAULT_POLICY'))) as Record<
        string,
        unknown
      >;

      // Assess
      expect(policy).toMatchObject({
        slim: true,
        excludeRuntimeProvided: false,
        keepFreeLayers: 1,
        cache: true,
      });
    });
    it('passes a set policy, completed with the defaults, to the measure step only', () => {
      // Act
      const policy = JSON.parse(String(variable(custom, MEASURE, 'LAMBDA_DEPS_DEFAULT_POLICY'))) as Record<
        string,
        unknown
      >;

      // Assess
      expect(policy).toMatchObject({ excludeRuntimeProvided: true, keepFreeLayers: 2, slim: true });
      expect(variable(custom, PUBLISH, 'LAMBDA_DEPS_DEFAULT_POLICY')).toBeUndefined();
    });
    it.each<[string, LambdaDepsProps['defaultPolicy'], RegExp]>([
      ['an unknown field', { slimm: false } as never, /defaultPolicy is not valid: .*slimm/],
      ['a wrong type', { keepFreeLayers: 'two' } as never, /defaultPolicy is not valid: keepFreeLayers/],
      ['an unknown strategy', { forceStrategy: 'zip' } as never, /defaultPolicy is not valid: forceStrategy/],
    ])('rejects %s at synth, naming the prop and the field', (_case, defaultPolicy, message) => {
      // Act & Assess
      expect(() => synthesizeConstruct(() => ({ defaultPolicy }))).toThrow(message);
    });
  });

  describe('allowedVariables', () => {
    it('default to none: nothing expands and measure reads no secret', () => {
      // Act & Assess
      expect(variable(defaults, MEASURE, 'LAMBDA_DEPS_ALLOWED_VARIABLES')).toBe('');
      expect(variable(defaults, MEASURE, 'LAMBDA_DEPS_SECRET_VARIABLES')).toBe('{}');
      expect(policyText(defaults)).not.toContain('secretsmanager:');
    });
    it('allow the set names: plain values in the environment, secrets by name only', () => {
      // Act & Assess
      expect(variable(custom, MEASURE, 'LAMBDA_DEPS_ALLOWED_VARIABLES')).toBe(
        'PRIVATE_INDEX_TOKEN,INDEX_HOST',
      );
      expect(variable(custom, MEASURE, 'INDEX_HOST')).toBe('pypi.example.com');
      expect(variable(custom, MEASURE, 'PRIVATE_INDEX_TOKEN')).toBeUndefined();
      expect(JSON.parse(String(variable(custom, MEASURE, 'LAMBDA_DEPS_SECRET_VARIABLES')))).toEqual({
        PRIVATE_INDEX_TOKEN: 'acme/pypi-token',
      });
      expect(variable(custom, PUBLISH, 'INDEX_HOST')).toBeUndefined();
    });
    it.each<[string, string]>([
      ['a name with a dash', 'INDEX-TOKEN'],
      ['an AWS_ name', 'AWS_SECRET_ACCESS_KEY'],
      ['a pipeline setting', 'ARTIFACT_BUCKET'],
      ['a setting the construct sets on one function', 'REQUIRE_PROBE'],
      ['a LAMBDA_ name', 'LAMBDA_DEPS_DEFAULT_POLICY'],
    ])('rejects %s at synth', (_case, name) => {
      // Act & Assess
      expect(() => synthesizeConstruct(() => ({ allowedVariables: { [name]: 'x' } }))).toThrow(
        new RegExp(`allowedVariables: "${name}"`),
      );
    });
  });

  describe('customBaseImage', () => {
    it('defaults to none, so PushImage refuses custom targets', () => {
      // Act & Assess
      expect(variable(defaults, 'functions/push-image/handler.ts', 'CUSTOM_BASE_IMAGE')).toBe('');
    });
    it('reaches PushImage when set', () => {
      // Act & Assess
      expect(variable(custom, 'functions/push-image/handler.ts', 'CUSTOM_BASE_IMAGE')).toBe(
        'registry.example.com/al2-python:3.11@sha256:' + 'a'.repeat(64),
      );
    });
  });

  describe('vpc', () => {
    it('defaults to a new isolated VPC with flow logs', () => {
      // Act & Assess
      expect(resourcesOfType(defaults, 'AWS::EC2::VPC')).toHaveLength(1);
      expect(resourcesOfType(defaults, 'AWS::EC2::FlowLog')).toHaveLength(1);
    });
    it("picks the isolated subnets of a user's VPC when vpcSubnetType is not set", () => {
      // Prepare & Act: a VPC with public, egress and isolated subnets
      const json = synthesizeConstruct((stack) => ({
        vpc: new Vpc(stack, 'MixedVpc', {
          maxAzs: 2,
          subnetConfiguration: [
            { name: 'public', subnetType: SubnetType.PUBLIC },
            { name: 'egress', subnetType: SubnetType.PRIVATE_WITH_EGRESS },
            { name: 'isolated', subnetType: SubnetType.PRIVATE_ISOLATED },
          ],
        }),
      }));

      // Assess
      const syncEfs = json.Resources[functionIdForEntry(json, 'functions/sync-efs/handler.ts')]?.Properties;
      const subnets = JSON.stringify((syncEfs?.VpcConfig as { SubnetIds?: unknown } | undefined)?.SubnetIds);
      expect(subnets).toMatch(/MixedVpcisolatedSubnet1/);
      expect(subnets).not.toMatch(/egressSubnet|publicSubnet/);
    });
    it("uses the user's VPC and subnets when given, creating none", () => {
      // Prepare & Act
      const json = synthesizeConstruct((stack) => ({
        vpc: new Vpc(stack, 'UserVpc', { maxAzs: 2 }),
        vpcSubnetType: SubnetType.PRIVATE_WITH_EGRESS,
      }));

      // Assess
      const vpcs = resourcesOfType(json, 'AWS::EC2::VPC').map(([id]) => id);
      expect(vpcs).toHaveLength(1);
      expect(vpcs[0]).toMatch(/^UserVpc/);
      const syncEfs = json.Resources[functionIdForEntry(json, 'functions/sync-efs/handler.ts')]?.Properties;
      expect(JSON.stringify(syncEfs?.VpcConfig)).toContain('UserVpcPrivateSubnet');
    });
  });

  describe('validation', () => {
    it.each<[string, LambdaDepsProps, RegExp]>([
      ['a layer prefix with a slash', { layerNamePrefix: 'bad/prefix' }, /layerNamePrefix "bad\/prefix"/],
      [
        'a parameter prefix without slashes',
        { ssmParameterPrefix: 'lambda-deps' },
        /ssmParameterPrefix "lambda-deps"/,
      ],
      ['an account id that is not 12 digits', { layerPrincipals: ['12345'] }, /layerPrincipals: "12345"/],
      [
        'an organization id of the wrong shape',
        { layerOrganizationId: 'org-1' },
        /layerOrganizationId "org-1"/,
      ],
      [
        'a function ARN instead of a name',
        { functionsToUpdate: ['arn:aws:lambda:x'] },
        /functionsToUpdate: "arn:aws:lambda:x"/,
      ],
      ['zero EFS versions', { keepEfsVersions: 0 }, /keepEfsVersions 0/],
    ])('rejects %s, naming the prop', (_case, props, message) => {
      // Act & Assess
      expect(() => synthesizeConstruct(() => props)).toThrow(message);
    });
  });
});
