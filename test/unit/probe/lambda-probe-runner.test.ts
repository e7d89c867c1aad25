// The AWS probe runner's exact Lambda calls: a function created per probe on the target's
// runtime and architecture with the artifact attached, invoked once, and always deleted.
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  GetFunctionCommand,
  InvokeCommand,
  LambdaClient,
  type InvokeCommandOutput,
} from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { LambdaProbeRunner, probeFunctionName } from '../../../functions/adapters/aws/lambda-probe-runner.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';

const lambda = mockClient(LambdaClient);
const settings = {
  roleArn: 'arn:aws:iam::123456789012:role/probe',
  codeBucket: 'assets',
  codeKey: 'probe.zip',
  functionNamePrefix: 'lambda-deps-probe',
  vpc: { subnetIds: ['subnet-1'], securityGroupIds: ['sg-1'] },
  efsAccessPointArn: 'arn:aws:elasticfilesystem:eu-west-1:123456789012:access-point/fsap-1',
};
const target = lambdaTarget('python3.12', 'arm64');
// The SDK hands back a Uint8Array with helpers; the runner only reads its bytes.
const payload = (modules: { module: string; ok: boolean; error: string | null }[]) =>
  Buffer.from(
    JSON.stringify({
      python: '3.12.11',
      machine: 'aarch64',
      importMs: 812.5,
      modules: modules.map((m) => ({ ...m, ms: 1 })),
    }),
  ) as unknown as InvokeCommandOutput['Payload'];

const created = () => lambda.commandCalls(CreateFunctionCommand)[0]?.args[0].input;

describe('LambdaProbeRunner', () => {
  beforeEach(() => {
    lambda.reset();
    lambda.on(CreateFunctionCommand).resolves({});
    lambda.on(GetFunctionCommand).resolves({ Configuration: { State: 'Active' } });
    lambda.on(DeleteFunctionCommand).resolves({});
  });

  it('creates the probe on the target runtime and architecture with the new layers, invokes it and deletes it', async () => {
    // Prepare
    lambda.on(InvokeCommand).resolves({ Payload: payload([{ module: 'numpy', ok: true, error: null }]) });
    const runner = new LambdaProbeRunner(new LambdaClient({}), {
      ...settings,
      vpc: null,
      efsAccessPointArn: null,
    });
    // Act
    const result = await runner.probe(
      {
        target,
        modules: ['numpy'],
        artifact: {
          kind: 'layers',
          zips: [],
          layerVersionArns: ['arn:aws:lambda:eu-west-1:123456789012:layer:l:3'],
        },
      },
      'execution-1',
    );
    // Assess
    expect(created()).toMatchObject({
      FunctionName: probeFunctionName('lambda-deps-probe', 'execution-1'),
      Runtime: 'python3.12',
      Architectures: ['arm64'],
      Handler: 'probe.handler',
      Layers: ['arn:aws:lambda:eu-west-1:123456789012:layer:l:3'],
      Code: { S3Bucket: 'assets', S3Key: 'probe.zip' },
    });
    expect(lambda.commandCalls(DeleteFunctionCommand)).toHaveLength(1);
    expect(result).toMatchObject({
      ran: true,
      ok: true,
      python: '3.12.11',
      where: 'lambda',
      importMs: 812.5,
    });
  });

  it('mounts the EFS version through the access point and sets the PYTHONPATH a function would', async () => {
    // Prepare
    lambda.on(InvokeCommand).resolves({ Payload: payload([{ module: 'idna', ok: true, error: null }]) });
    const runner = new LambdaProbeRunner(new LambdaClient({}), settings);
    // Act
    await runner.probe(
      {
        target,
        modules: ['idna'],
        artifact: {
          kind: 'efs',
          mountRoot: '',
          mountPath: '/mnt/deps',
          pythonPath: '/mnt/deps/web/v2/site-packages',
        },
      },
      'e',
    );
    // Assess
    expect(created()).toMatchObject({
      VpcConfig: { SubnetIds: ['subnet-1'], SecurityGroupIds: ['sg-1'] },
      FileSystemConfigs: [{ Arn: settings.efsAccessPointArn, LocalMountPath: '/mnt/deps' }],
      Environment: { Variables: { PYTHONPATH: '/mnt/deps/web/v2/site-packages' } },
    });
  });

  it('reports the failing module and deletes the function even when the import fails', async () => {
    // Prepare
    lambda.on(InvokeCommand).resolves({
      Payload: payload([
        { module: 'pandas', ok: false, error: "ModuleNotFoundError: No module named 'numpy'" },
      ]),
    });
    const runner = new LambdaProbeRunner(new LambdaClient({}), settings);
    // Act
    const result = await runner.probe(
      { target, modules: ['pandas'], artifact: { kind: 'layers', zips: [], layerVersionArns: [] } },
      'e',
    );
    // Assess
    expect(result).toMatchObject({ ran: true, ok: false, reason: '1 of 1 modules did not import' });
    expect(result.modules[0]?.error).toContain('numpy');
    expect(lambda.commandCalls(DeleteFunctionCommand)).toHaveLength(1);
  });

  it('keeps function names within 64 characters and distinct per probe', () => {
    // Act
    const one = probeFunctionName('x'.repeat(80), 'a');
    const two = probeFunctionName('x'.repeat(80), 'b');
    // Assess
    expect(one.length).toBeLessThanOrEqual(64);
    expect(one).not.toBe(two);
  });
});
