// "Parts by choice": the LambdaDeps construct deploys only the routes its props turn on, takes a
// bucket, repository or VPC of the user's, refuses imported ones without the explicit opt-in,
// and wires a user's function to a set's layers in one call. Each default and each set value is
// checked on a synthesized template (inline stub functions: the template only).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { Repository } from 'aws-cdk-lib/aws-ecr';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { createLambdaDepsApp } from '../../infra/app.ts';
import { LambdaDeps } from '../../infra/constructs/lambda-deps.ts';
import type { LambdaDepsProps } from '../../infra/constructs/lambda-deps.ts';
import { ROUTE_NOT_DEPLOYED_ERROR } from '../../infra/constructs/dependency-state-machine.ts';
import { layersParameterName, useDependencySetLayers } from '../../infra/dependency-set-wiring.ts';
import { extractStateMachineDefinition } from '../../infra/state-machine-definition.ts';

const outdirRoot = mkdtempSync(join(tmpdir(), 'lambda-deps-routes-'));
afterAll(() => rmSync(outdirRoot, { recursive: true, force: true }));

type TemplateJson = { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };

function newStack(): Stack {
  const app = new App({
    outdir: mkdtempSync(join(outdirRoot, 'app-')),
    builtinCloudFormationValidation: false,
  });
  return new Stack(app, 'UserStack');
}

function synthesize(props: (stack: Stack) => LambdaDepsProps): { json: TemplateJson; deps: LambdaDeps } {
  const stack = newStack();
  const deps = new LambdaDeps(stack, 'Deps', { skipBundling: true, ...props(stack) });
  return { json: Template.fromStack(stack).toJSON() as TemplateJson, deps };
}

function count(json: TemplateJson, type: string): number {
  return Object.values(json.Resources).filter((resource) => resource.Type === type).length;
}

/** Each delivery state's type: Task when its route is deployed, Pass (reporting the failure) when not. */
function deliveryStates(json: TemplateJson): Record<string, string> {
  const { definition } = extractStateMachineDefinition(json);
  const states = (definition.States ?? {}) as Record<string, { Type: string }>;
  return Object.fromEntries(
    ['PublishLayers', 'SyncEfs', 'PushImage'].map((name) => [name, states[name]?.Type ?? '']),
  );
}

const EFS_AND_VPC = ['AWS::EC2::VPC', 'AWS::EC2::Subnet', 'AWS::EFS::FileSystem', 'AWS::EFS::AccessPoint'];

describe('LambdaDeps routes', () => {
  it('deploys every route by default: VPC and EFS, an ECR repository, three delivery functions', () => {
    // Act
    const { json, deps } = synthesize(() => ({}));

    // Assess
    for (const type of [...EFS_AND_VPC, 'AWS::ECR::Repository']) expect(count(json, type)).toBeGreaterThan(0);
    expect(deliveryStates(json)).toEqual({ PublishLayers: 'Task', SyncEfs: 'Task', PushImage: 'Task' });
    expect(deps.routes).toEqual({ layers: true, efs: true, image: true });
    expect(deps.functions.syncEfs && deps.functions.pushImage && deps.functions.publishLayers).toBeTruthy();
  });

  it('creates no VPC, EFS or ECR repository for layers only, and fails the other routes with a reason', () => {
    // Act
    const { json, deps } = synthesize(() => ({ routes: { layers: true, efs: false, image: false } }));

    // Assess
    for (const type of [...EFS_AND_VPC, 'AWS::ECR::Repository', 'AWS::EC2::SecurityGroup']) {
      expect(count(json, type), type).toBe(0);
    }
    expect(deliveryStates(json)).toEqual({ PublishLayers: 'Task', SyncEfs: 'Pass', PushImage: 'Pass' });
    expect(deps.vpc).toBeUndefined();
    expect(deps.repository).toBeUndefined();
    expect(deps.functions.syncEfs).toBeUndefined();
    const { definition } = extractStateMachineDefinition(json);
    const syncEfs = (
      definition.States as Record<string, { Result?: { Error: string; Cause: string }; Next?: string }>
    ).SyncEfs;
    expect(syncEfs?.Result?.Error).toBe(ROUTE_NOT_DEPLOYED_ERROR);
    expect(syncEfs?.Result?.Cause).toMatch(/routes\.efs is false/);
    expect(syncEfs?.Next).toBe('ReportFailure');
  });

  it.each([
    [{ efs: false }, { PublishLayers: 'Task', SyncEfs: 'Pass', PushImage: 'Task' }, { vpc: 0, ecr: 1 }],
    [{ image: false }, { PublishLayers: 'Task', SyncEfs: 'Task', PushImage: 'Pass' }, { vpc: 1, ecr: 0 }],
    [{ layers: false }, { PublishLayers: 'Pass', SyncEfs: 'Task', PushImage: 'Task' }, { vpc: 1, ecr: 1 }],
    [
      { layers: false, image: false },
      { PublishLayers: 'Pass', SyncEfs: 'Task', PushImage: 'Pass' },
      { vpc: 1, ecr: 0 },
    ],
    [
      { layers: false, efs: false },
      { PublishLayers: 'Pass', SyncEfs: 'Pass', PushImage: 'Task' },
      { vpc: 0, ecr: 1 },
    ],
  ])('with routes %j deploys exactly those routes', (routes, states, resources) => {
    // Act
    const { json } = synthesize(() => ({ routes }));

    // Assess
    expect(deliveryStates(json)).toEqual(states);
    expect(count(json, 'AWS::EC2::VPC')).toBe(resources.vpc);
    expect(count(json, 'AWS::EFS::FileSystem')).toBe(resources.vpc);
    expect(count(json, 'AWS::ECR::Repository')).toBe(resources.ecr);
  });

  it('refuses a stack with no route at all', () => {
    expect(() => synthesize(() => ({ routes: { layers: false, efs: false, image: false } }))).toThrow(
      /turn on at least one of layers, efs, image/,
    );
  });

  it('refuses a VPC or repository for a route that is off', () => {
    expect(() =>
      synthesize((stack) => ({
        routes: { efs: false },
        vpc: new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0 }),
      })),
    ).toThrow(/vpc is given but routes\.efs is false/);
    expect(() =>
      synthesize((stack) => ({ routes: { image: false }, repository: new Repository(stack, 'Repo') })),
    ).toThrow(/repository is given but routes\.image is false/);
  });

  it('synthesizes a layers-only stack cdk-nag clean, without image and EFS outputs', () => {
    // Prepare
    const { app, stack } = createLambdaDepsApp({
      skipBundling: true,
      outdir: mkdtempSync(join(outdirRoot, 'nag-')),
      props: { routes: { layers: true, efs: false, image: false } },
    });

    // Act: an unacknowledged cdk-nag error makes synth throw.
    const template = app.synth().getStackByName(stack.stackName).template as {
      Outputs: Record<string, unknown>;
    };

    // Assess
    expect(Object.keys(template.Outputs)).toContain('ArtifactBucketName');
    expect(Object.keys(template.Outputs)).not.toContain('ImageRepositoryUri');
    expect(Object.keys(template.Outputs)).not.toContain('EfsAccessPointArn');
  });
});

describe('LambdaDeps with resources of the user', () => {
  it('uses a bucket of this app instead of creating one, and switches its EventBridge notifications on', () => {
    // Act
    const { json, deps } = synthesize((stack) => ({ bucket: new Bucket(stack, 'Mine') }));

    // Assess
    expect(count(json, 'AWS::S3::Bucket')).toBe(1);
    expect(deps.bucket.node.path).toBe('UserStack/Mine');
    const notifications = Object.values(json.Resources).find(
      (resource) => resource.Type === 'Custom::S3BucketNotifications',
    );
    expect(notifications?.Properties?.NotificationConfiguration).toMatchObject({
      EventBridgeConfiguration: {},
    });
  });

  it('uses a repository of this app instead of creating one', () => {
    // Act
    const { json, deps } = synthesize((stack) => ({ repository: new Repository(stack, 'Mine') }));

    // Assess
    expect(count(json, 'AWS::ECR::Repository')).toBe(1);
    expect(deps.repository?.node.path).toBe('UserStack/Mine');
  });

  it.each([
    [
      'bucket',
      (stack: Stack): LambdaDepsProps => ({
        bucket: Bucket.fromBucketName(stack, 'Imported', 'their-bucket'),
      }),
    ],
    [
      'repository',
      (stack: Stack): LambdaDepsProps => ({
        repository: Repository.fromRepositoryName(stack, 'Imported', 'their-repo'),
      }),
    ],
    [
      'vpc',
      (stack: Stack): LambdaDepsProps => ({
        vpc: Vpc.fromVpcAttributes(stack, 'Imported', {
          vpcId: 'vpc-12345678',
          availabilityZones: ['us-east-1a', 'us-east-1b'],
          isolatedSubnetIds: ['subnet-1', 'subnet-2'],
        }),
      }),
    ],
  ])('refuses an imported %s unless acceptResponsibilityForImportedResources is true', (name, props) => {
    // Act and assess: refused by default…
    expect(() => synthesize(props)).toThrow(
      new RegExp(`${name} is imported .*acceptResponsibilityForImportedResources`),
    );
    // …and used with the opt-in, creating none of its own.
    const { json } = synthesize((stack) => ({
      ...props(stack),
      acceptResponsibilityForImportedResources: true,
    }));
    const created =
      { bucket: 'AWS::S3::Bucket', repository: 'AWS::ECR::Repository', vpc: 'AWS::EC2::VPC' }[name] ?? '';
    expect(count(json, created)).toBe(0);
  });
});

describe('useDependencySetLayers', () => {
  it('gives a function every layer of a set through one deploy-time SSM list parameter', () => {
    // Prepare
    const stack = newStack();
    const deps = new LambdaDeps(stack, 'Deps', {
      skipBundling: true,
      ssmParameterPrefix: '/acme/',
      routes: { efs: false, image: false },
    });
    const code = Code.fromInline('def handler(event, context):\n    return 1\n');
    const first = new LambdaFunction(stack, 'First', {
      runtime: Runtime.PYTHON_3_12,
      handler: 'index.handler',
      code,
    });
    const second = new LambdaFunction(stack, 'Second', {
      runtime: Runtime.PYTHON_3_12,
      handler: 'index.handler',
      code,
    });

    // Act
    useDependencySetLayers(first, { set: 'web-api', from: deps });
    useDependencySetLayers(second, { set: 'web-api', from: deps });

    // Assess
    const json = Template.fromStack(stack).toJSON() as TemplateJson & {
      Parameters: Record<string, { Type: string; Default: string }>;
    };
    const parameters = Object.entries(json.Parameters).filter(
      ([, parameter]) => parameter.Default === '/acme/web-api/layers',
    );
    expect(parameters).toHaveLength(1);
    expect(parameters[0]?.[1].Type).toBe('AWS::SSM::Parameter::Value<List<String>>');
    const layers = Object.values(json.Resources)
      .filter(
        (resource) =>
          resource.Type === 'AWS::Lambda::Function' && resource.Properties?.Runtime === 'python3.12',
      )
      .map((resource) => resource.Properties?.Layers);
    expect(layers).toEqual([{ Ref: parameters[0]?.[0] }, { Ref: parameters[0]?.[0] }]);
  });

  it('names the default prefix and refuses a set name that is not a folder name', () => {
    expect(layersParameterName({ set: 'web-api' })).toBe('/lambda-deps/web-api/layers');
    expect(() => layersParameterName({ set: '../other' })).toThrow(/set name "\.\.\/other"/);
  });
});
