// The Probe in AWS: a short-lived function on the target's real runtime and architecture, with
// the new layers attached, the EFS version mounted (through the access point, in the VPC), or
// the image itself as its code. It is created per probe, invoked once with the module list,
// and deleted, so two executions never race on one function's configuration.
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  InvokeCommand,
  waitUntilFunctionActiveV2,
  type CreateFunctionCommandInput,
  type LambdaClient,
  type Runtime,
} from '@aws-sdk/client-lambda';
import {
  probeFunctionName,
  type ProbedModule,
  type ProbeRequest,
  type ProbeResult,
} from '../../core/probe/index.ts';
import { InputError } from '../../core/shared/errors.ts';
import type { ProbeRunner } from '../probe-port.ts';

export interface LambdaProbeSettings {
  /** The probe functions' role (no permissions beyond logs, and EFS client mount for the EFS route). */
  readonly roleArn: string;
  /** Where the stack keeps probe.py zipped (a CDK asset). */
  readonly codeBucket: string;
  readonly codeKey: string;
  /** Function names start with it; the role of the Probe step may create and delete only those. */
  readonly functionNamePrefix: string;
  /** For the EFS route: the VPC the access point is reached from. */
  readonly vpc: {
    readonly subnetIds: readonly string[];
    readonly securityGroupIds: readonly string[];
  } | null;
  readonly efsAccessPointArn: string | null;
}

interface ProbePayload {
  readonly python: string;
  readonly machine: string;
  readonly importMs: number;
  readonly modules: ProbedModule[];
}

export { probeFunctionName };

export class LambdaProbeRunner implements ProbeRunner {
  constructor(
    private readonly client: LambdaClient,
    private readonly settings: LambdaProbeSettings,
  ) {}

  async probe(request: ProbeRequest, probeId: string): Promise<ProbeResult> {
    const functionName = probeFunctionName(this.settings.functionNamePrefix, probeId);
    await this.client.send(new CreateFunctionCommand(this.functionFor(request, functionName)));
    try {
      await waitUntilFunctionActiveV2(
        { client: this.client, maxWaitTime: 300 },
        { FunctionName: functionName },
      );
      return await this.invoke(request, functionName);
    } finally {
      await this.client.send(new DeleteFunctionCommand({ FunctionName: functionName }));
    }
  }

  private functionFor(request: ProbeRequest, functionName: string): CreateFunctionCommandInput {
    const { artifact, target } = request;
    const common = {
      FunctionName: functionName,
      Role: this.settings.roleArn,
      Architectures: [target.architecture],
      Timeout: 300,
      // 1,769 MB is one full vCPU: the import time is then close to what a real cold start pays.
      MemorySize: 1769,
      Description: 'lambda-deps probe: imports a dependency set before it is switched in',
    };
    const zipCode = { S3Bucket: this.settings.codeBucket, S3Key: this.settings.codeKey };
    if (artifact.kind === 'image') {
      if (!artifact.imageUri) throw new InputError('The image probe needs the pushed image URI.');
      // The probe image is the set's image plus probe.py in /var/task (pushed beside it).
      return {
        ...common,
        PackageType: 'Image',
        Code: { ImageUri: artifact.imageUri },
        ImageConfig: { Command: ['probe.handler'] },
      };
    }
    if (!target.runtime)
      throw new InputError('A custom target has no Lambda runtime to probe layers or EFS on.', {
        hint: 'Custom targets are delivered as images.',
      });
    const zip = {
      ...common,
      PackageType: 'Zip' as const,
      Runtime: target.runtime as Runtime,
      Handler: 'probe.handler',
      Code: zipCode,
    };
    if (artifact.kind === 'layers') return { ...zip, Layers: [...(artifact.layerVersionArns ?? [])] };
    const { vpc, efsAccessPointArn } = this.settings;
    if (!vpc || !efsAccessPointArn)
      throw new InputError(
        'The EFS probe needs the VPC and the access point (the EFS route is off in this stack).',
      );
    return {
      ...zip,
      VpcConfig: { SubnetIds: [...vpc.subnetIds], SecurityGroupIds: [...vpc.securityGroupIds] },
      FileSystemConfigs: [{ Arn: efsAccessPointArn, LocalMountPath: artifact.mountPath }],
      Environment: { Variables: { PYTHONPATH: artifact.pythonPath } },
    };
  }

  private async invoke(request: ProbeRequest, functionName: string): Promise<ProbeResult> {
    const response = await this.client.send(
      new InvokeCommand({
        FunctionName: functionName,
        Payload: Buffer.from(JSON.stringify({ modules: request.modules })),
      }),
    );
    const text = Buffer.from(response.Payload ?? new Uint8Array()).toString('utf8');
    const base = { from: 'artifact' as const, arch: request.target.architecture, where: 'lambda' as const };
    if (response.FunctionError) {
      // The runtime itself failed (an import killed the process, or the init timed out).
      return {
        ...base,
        ran: true,
        ok: false,
        python: null,
        modules: [],
        importMs: null,
        reason: `the probe function failed: ${text.slice(0, 500)}`,
      };
    }
    const payload = JSON.parse(text) as ProbePayload;
    const failed = payload.modules.filter((module) => !module.ok).length;
    return {
      ...base,
      ran: true,
      ok: failed === 0 && payload.modules.length > 0,
      python: payload.python,
      modules: payload.modules,
      importMs: payload.importMs,
      ...(failed > 0 ? { reason: `${failed} of ${payload.modules.length} modules did not import` } : {}),
    };
  }
}
