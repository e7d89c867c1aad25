// The AWS side of every port, built once per Lambda container from the contract's
// environment variables. Handlers import it only inside Lambda (lambda-dependencies.ts), so that
// importing a handler (as the local pipeline does) never reads AWS settings or loads the SDK.
import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { ECRClient } from '@aws-sdk/client-ecr';
import { EFSClient } from '@aws-sdk/client-efs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import { InputError } from '../../core/shared/errors.ts';
import { readPipelineSettings, type EnvironmentVariableName, type PipelineSettings } from '../environment.ts';
import type { ImageDestination, PipelineAdapters } from '../ports.ts';
import { CodeBuildBuildService } from './codebuild-build-service.ts';
import { EcrImageRegistry } from './ecr-image-registry.ts';
import { EfsFileSystemTree } from './efs-file-system-tree.ts';
import { EventBridgeEventBus } from './eventbridge-event-bus.ts';
import { LambdaLayerRegistry } from './lambda-layer-registry.ts';
import { S3ObjectStore } from './s3-object-store.ts';
import { SsmParameterStore } from './ssm-parameter-store.ts';
import { probeNotRun } from '../../core/probe/index.ts';
import type { ProbeRunner } from '../probe-port.ts';
import { LambdaProbeRunner } from './lambda-probe-runner.ts';

/** What a handler runs with: its settings and the adapters. */
export interface StepDependencies {
  readonly settings: PipelineSettings;
  readonly adapters: PipelineAdapters;
}

/** Builds the dependencies on first use; the same object for every later invocation. */
export type StepDependenciesProvider = () => StepDependencies | Promise<StepDependencies>;

/** AWS adapters from the environment, with the clients made once. */
export function awsDependencies(
  environment: Readonly<Record<string, string | undefined>>,
  required: readonly EnvironmentVariableName[] = [],
): StepDependencies {
  const settings = readPipelineSettings(environment, required);
  const ecrRepositoryUri = settings.ecrRepositoryUri;
  return {
    settings,
    adapters: {
      probe: probeRunnerFrom(environment, new LambdaClient({})),
      store: new S3ObjectStore(settings.artifactBucket, new S3Client({})),
      layers: new LambdaLayerRegistry(settings.artifactBucket, new LambdaClient({})),
      parameters: new SsmParameterStore(new SSMClient({})),
      events: new EventBridgeEventBus(settings.eventBusName, new EventBridgeClient({})),
      fileSystem: new EfsFileSystemTree(
        settings.efsMountPath,
        settings.efsFileSystemId,
        settings.efsAccessPointArn,
        new EFSClient({}),
      ),
      builds: new CodeBuildBuildService(new CodeBuildClient({})),
      images: ecrRepositoryUri
        ? new EcrImageRegistry(ecrRepositoryUri, new ECRClient({}))
        : {
            destination(): Promise<ImageDestination> {
              throw new InputError('ECR_REPOSITORY_URI is not set, so no image can be pushed.', {
                hint: 'Deploy the stack with the image route enabled.',
              });
            },
          },
    },
  };
}

/**
 * The AWS probe: a function per probe on the real runtime, when the stack gives the probe's role
 * and code (PROBE_ROLE_ARN, PROBE_CODE_BUCKET, PROBE_CODE_KEY, PROBE_FUNCTION_PREFIX). A stack
 * without them reports every probe as not run, with that reason, never as ok.
 */
function probeRunnerFrom(
  environment: Readonly<Record<string, string | undefined>>,
  client: LambdaClient,
): ProbeRunner {
  const { PROBE_ROLE_ARN, PROBE_CODE_BUCKET, PROBE_CODE_KEY, PROBE_FUNCTION_PREFIX } = environment;
  if (PROBE_ROLE_ARN && PROBE_CODE_BUCKET && PROBE_CODE_KEY && PROBE_FUNCTION_PREFIX) {
    const list = (value: string | undefined): string[] => (value ?? '').split(',').filter(Boolean);
    return new LambdaProbeRunner(client, {
      roleArn: PROBE_ROLE_ARN,
      codeBucket: PROBE_CODE_BUCKET,
      codeKey: PROBE_CODE_KEY,
      functionNamePrefix: PROBE_FUNCTION_PREFIX,
      vpc: environment.PROBE_SUBNET_IDS
        ? {
            subnetIds: list(environment.PROBE_SUBNET_IDS),
            securityGroupIds: list(environment.PROBE_SECURITY_GROUP_IDS),
          }
        : null,
      efsAccessPointArn: environment.EFS_ACCESS_POINT_ARN ?? null,
    });
  }
  return {
    probe: async (request) =>
      probeNotRun(
        request.target,
        'this stack deploys no probe function (PROBE_ROLE_ARN is not set)',
        'lambda',
      ),
  };
}
