// A user's own functions wired to a set's EFS tree and image with the helpers of
// infra/dependency-set-wiring.ts, as examples/cdk-app does: what the synthesized template holds.
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Architecture, Code, Function as LambdaFunction, Handler, Runtime } from 'aws-cdk-lib/aws-lambda';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { LambdaDeps } from '../../infra/constructs/lambda-deps.ts';
import {
  dependencySetFileSystem,
  dependencySetImageCode,
  useDependencySetEfs,
} from '../../infra/dependency-set-wiring.ts';
import { temporaryApp, type TemplateJson } from './synthesized-app.ts';

type Resource = TemplateJson['Resources'][string];
let json: TemplateJson & { Parameters: Record<string, { Type: string; Default?: string }> };
let deps: LambdaDeps;
let stack: Stack;

function userFunction(id: string): Resource {
  const found = Object.entries(json.Resources).find(
    ([logicalId, resource]) => resource.Type === 'AWS::Lambda::Function' && logicalId.startsWith(id),
  );
  if (!found) throw new Error(`no function ${id}`);
  return found[1];
}

function parameterFor(ssmName: string): [string, { Type: string }] | undefined {
  return Object.entries(json.Parameters).find(([, parameter]) => parameter.Default === ssmName);
}

let removeAssembly = (): void => undefined;
afterAll(() => removeAssembly());

beforeAll(() => {
  const { app, cleanup } = temporaryApp({ builtinCloudFormationValidation: false });
  removeAssembly = cleanup;
  stack = new Stack(app, 'UserStack');
  deps = new LambdaDeps(stack, 'Deps', { skipBundling: true });
  const worker = new LambdaFunction(stack, 'Worker', {
    runtime: Runtime.PYTHON_3_12,
    handler: 'app.handler',
    code: Code.fromInline('def handler(event, context): return 1'),
    vpc: deps.vpc,
    filesystem: dependencySetFileSystem(deps),
  });
  useDependencySetEfs(worker, { set: 'ml', from: deps });
  new LambdaFunction(stack, 'Job', {
    runtime: Runtime.FROM_IMAGE,
    handler: Handler.FROM_IMAGE,
    architecture: Architecture.ARM_64,
    code: dependencySetImageCode(stack, { set: 'jobs', from: deps }, { cmd: ['jobs.handler'] }),
  });
  json = Template.fromStack(stack).toJSON() as typeof json;
});

describe('wiring a function to a set', () => {
  it("mounts the stack's access point at /mnt/deps and sets PYTHONPATH from SSM at deploy time", () => {
    // Act
    const worker = userFunction('Worker').Properties ?? {};
    const parameter = parameterFor('/lambda-deps/ml/efs-python-path');

    // Assess
    expect(parameter?.[1].Type).toBe('AWS::SSM::Parameter::Value<String>');
    expect((worker.Environment as { Variables: Record<string, unknown> }).Variables.PYTHONPATH).toEqual({
      Ref: parameter?.[0],
    });
    const mounts = worker.FileSystemConfigs as { LocalMountPath: string; Arn: unknown }[];
    expect(mounts).toHaveLength(1);
    expect(mounts[0]?.LocalMountPath).toBe('/mnt/deps');
    expect(JSON.stringify(mounts[0]?.Arn)).toContain(
      stack.getLogicalId(deps.accessPoint!.node.defaultChild as never),
    );
  });

  it('lets the function mount the tree read-only: ClientMount on the file system through the access point', () => {
    // Prepare
    const role = (userFunction('Worker').Properties?.Role as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];
    const statements = Object.values(json.Resources)
      .filter((resource) => resource.Type === 'AWS::IAM::Policy')
      .filter((resource) => JSON.stringify(resource.Properties?.Roles).includes(`"Ref":"${role}"`))
      .flatMap(
        (resource) =>
          (resource.Properties?.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement,
      );

    // Act
    const efs = statements.filter((statement) =>
      JSON.stringify(statement.Action).includes('elasticfilesystem:'),
    );

    // Assess
    expect(efs).toHaveLength(1);
    expect(efs[0]?.Action).toBe('elasticfilesystem:ClientMount');
    expect(efs[0]?.Resource).not.toBe('*');
    expect(JSON.stringify(efs[0]?.Condition)).toContain('elasticfilesystem:AccessPointArn');
  });

  it('runs the image of the set pinned to the digest in SSM, and lets Lambda pull from the repository', () => {
    // Act
    const job = userFunction('Job').Properties ?? {};
    const parameter = parameterFor('/lambda-deps/jobs/image');
    const repository = Object.values(json.Resources).find(
      (resource) => resource.Type === 'AWS::ECR::Repository',
    );

    // Assess
    expect(parameter?.[1].Type).toBe('AWS::SSM::Parameter::Value<String>');
    expect(job.PackageType).toBe('Image');
    expect(job.Code).toEqual({ ImageUri: { Ref: parameter?.[0] } });
    expect(job.ImageConfig).toEqual({ Command: ['jobs.handler'] });
    expect(JSON.stringify(repository?.Properties?.RepositoryPolicyText)).toContain('lambda.amazonaws.com');
  });

  it('refuses a function that does not mount the tree, and a set route the stack does not deploy', () => {
    // Prepare
    const { app, cleanup } = temporaryApp();
    onTestFinished(cleanup);
    const other = new Stack(app, 'Other');
    const layersOnly = new LambdaDeps(other, 'Deps', {
      skipBundling: true,
      routes: { layers: true, efs: false, image: false },
    });
    const plain = new LambdaFunction(other, 'Plain', {
      runtime: Runtime.PYTHON_3_12,
      handler: 'app.handler',
      code: Code.fromInline('x = 1'),
    });

    // Act & Assess
    expect(() => useDependencySetEfs(plain, { set: 'ml', from: layersOnly })).toThrow(
      /does not mount \/mnt\/deps/,
    );
    expect(() => dependencySetFileSystem(layersOnly)).toThrow(/no EFS route/);
    expect(() => dependencySetImageCode(other, { set: 'jobs', from: layersOnly })).toThrow(/no image route/);
  });
});
