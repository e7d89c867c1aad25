// The strict local twin: wraps each step's local adapters so every call is first checked the
// way AWS would check it — IAM (the step's role from the synthesized template, evaluated for the
// exact action and ARN) and the service limits a local folder would never hit (S3's 5 GB single
// PUT, layer names and descriptions, 5 layers a function, SSM's 4 KB standard value,
// EventBridge's 256 KB entry, Step Functions' execution names and 256 KB between states).
// Every allowed call is recorded with the statement that allowed it: the least-privilege proof.
import type {
  BuildService,
  EventBus,
  FileSystemTree,
  ImageRegistry,
  LayerRegistry,
  LeasingObjectStore,
  ParameterStore,
  PipelineAdapters,
} from '../ports.ts';
import type { ProbeRunner } from '../probe-port.ts';
import { probeFunctionName } from '../../core/probe/index.ts';
import { PLACEHOLDER_ACCOUNT, PLACEHOLDER_REGION } from '../../../infra/state-machine-definition.ts';
import { EXECUTION_NAME } from '../../pipeline-state.ts';
import type { IamDecisionCache } from './iam-decision-cache.ts';
import { IamEvaluator } from './iam-evaluator.ts';
import { readTemplatePolicies, type TemplateShape } from './template-policies.ts';
import { ServiceLimitError, SERVICE_LIMITS } from './service-limits.ts';
import { layersAfterUpdate } from '../local/local-layer-registry.ts';

/** One call a local run made, and the policy statement that allowed it. */
export interface AwsCall {
  readonly state: string;
  readonly action: string;
  readonly resource: string;
  readonly allowedBy: string;
}

/** What the twin names each resource as (logical ids stand in for generated names). */
interface TwinNames {
  readonly bucket: string;
  readonly fileSystemId: string | null;
  readonly accessPointId: string | null;
  readonly repository: string | null;
  /** The state machine whose role invokes each task, and the build project it starts. */
  readonly stateMachine: string | null;
  readonly buildProject: string | null;
  /** The Probe step's function prefix and the role it passes, from the template (null: no probe). */
  readonly probe: { readonly functionNamePrefix: string; readonly roleArn: string } | null;
}

const AT = `${PLACEHOLDER_REGION}:${PLACEHOLDER_ACCOUNT}`;

/** PROBE_FUNCTION_PREFIX and the PROBE_ROLE_ARN role of the function that serves the Probe state. */
function probeSettingsOf(template: TemplateShape): TwinNames['probe'] {
  for (const resource of Object.values(template.Resources ?? {})) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const variables = (
      resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined
    )?.Variables;
    const prefix = variables?.PROBE_FUNCTION_PREFIX;
    const role = (variables?.PROBE_ROLE_ARN as { 'Fn::GetAtt'?: [string, string] } | undefined)?.[
      'Fn::GetAtt'
    ];
    if (typeof prefix === 'string' && role)
      return { functionNamePrefix: prefix, roleArn: `arn:aws:iam::${PLACEHOLDER_ACCOUNT}:role/${role[0]}` };
  }
  return null;
}

function firstOfType(template: TemplateShape, type: string, contains = ''): string | null {
  const found = Object.entries(template.Resources ?? {}).find(
    ([id, resource]) => resource.Type === type && id.includes(contains),
  );
  return found?.[0] ?? null;
}

export class AwsTwin {
  readonly calls: AwsCall[] = [];
  private readonly iam: IamEvaluator;

  /** Functions whose template config mounts an EFS access point. */
  private readonly mountingFunctions: ReadonlySet<string>;

  private constructor(
    private readonly names: TwinNames,
    template: TemplateShape,
    private readonly decisions: IamDecisionCache | null,
  ) {
    this.mountingFunctions = new Set(
      Object.entries(template.Resources ?? {})
        .filter(
          ([, resource]) =>
            resource.Type === 'AWS::Lambda::Function' && resource.Properties?.FileSystemConfigs,
        )
        .map(([id]) => id),
    );
    const bucketId = firstOfType(template, 'AWS::S3::Bucket', 'ArtifactsBucket');
    this.iam = new IamEvaluator(
      readTemplatePolicies(template, { names: bucketId ? { [bucketId]: names.bucket } : {} }),
      decisions,
    );
  }

  /**
   * A twin of the stack in `template`, its artifact bucket answering to `bucket`; with
   * `decisions`, allowed calls earlier runs evaluated are not evaluated again (`flush` keeps new ones).
   */
  static fromTemplate(template: object, bucket: string, decisions: IamDecisionCache | null = null): AwsTwin {
    const shape = template as TemplateShape;
    return new AwsTwin(
      {
        bucket,
        fileSystemId: firstOfType(shape, 'AWS::EFS::FileSystem'),
        accessPointId: firstOfType(shape, 'AWS::EFS::AccessPoint'),
        repository: firstOfType(shape, 'AWS::ECR::Repository'),
        stateMachine: firstOfType(shape, 'AWS::StepFunctions::StateMachine'),
        buildProject: firstOfType(shape, 'AWS::CodeBuild::Project'),
        probe: probeSettingsOf(shape),
      },
      shape,
      decisions,
    );
  }

  /** Keep the allowed calls this run evaluated for the next run (when it was given a cache). */
  async flush(): Promise<void> {
    await this.decisions?.flush();
  }

  /** Checks one call by the role of `principal` (a function or project logical id), records it. */
  async call(
    state: string,
    principal: string,
    action: string,
    resource: string,
    context: Record<string, string> = {},
  ): Promise<void> {
    const { allowedBy } = await this.iam.authorize(this.iam.roleFor(principal), action, resource, context);
    this.calls.push({ state, action, resource, allowedBy });
  }

  /** Step Functions' own rules for a run: the execution name, and each state's output size. */
  checkExecutionName(name: string): void {
    if (!EXECUTION_NAME.test(name)) {
      throw new ServiceLimitError(
        'InvalidName',
        `Execution name "${name}" is not one Step Functions accepts.`,
        '1–80 characters without whitespace or <>{}[]?*"#%\\^|~`$&,;:/.',
      );
    }
  }

  /** The first state input or output over 256 KB the engine's event log showed (see guardStatePayloads). */
  payloadBreach: ServiceLimitError | null = null;

  /**
   * Lets the event log catch up with the engine (it reports a state's exit after the next state
   * started), then refuses to run a task after a state over 256 KB: AWS stops there.
   */
  async assertPayloadsWithinLimits(): Promise<void> {
    await new Promise((done) => setImmediate(done));
    if (this.payloadBreach) throw this.payloadBreach;
  }

  /** StartExecution takes at most 256 KB of input. */
  checkExecutionInput(input: unknown): void {
    const bytes = Buffer.byteLength(JSON.stringify(input ?? null));
    if (bytes > SERVICE_LIMITS.stepFunctionsPayloadBytes) {
      throw new ServiceLimitError(
        'ValidationException',
        `The execution input is ${bytes} bytes; StartExecution takes at most ${SERVICE_LIMITS.stepFunctionsPayloadBytes}.`,
        'Upload the requirements file to the bucket instead of passing it inline.',
      );
    }
  }

  checkStatePayload(state: string, payload: unknown): void {
    const bytes = Buffer.byteLength(JSON.stringify(payload ?? null));
    if (bytes > SERVICE_LIMITS.stepFunctionsPayloadBytes) {
      throw new ServiceLimitError(
        'States.DataLimitExceeded',
        `${state} passed ${bytes} bytes on; Step Functions allows ${SERVICE_LIMITS.stepFunctionsPayloadBytes} between states.`,
        'Return keys of stored objects rather than their contents.',
      );
    }
  }

  objectArn(key: string): string {
    return `arn:aws:s3:::${this.names.bucket}/${key}`;
  }

  /** The adapters one state's handler gets: the local ones, behind the twin's checks. */
  adaptersFor(state: string, principal: string, local: PipelineAdapters): PipelineAdapters {
    const check = (action: string, resource: string, context?: Record<string, string>): Promise<void> =>
      this.call(state, principal, action, resource, context);
    return {
      probe: this.probe(local.probe, check),
      store: this.store(local.store, check),
      layers: this.layers(local.layers, check),
      parameters: this.parameters(local.parameters, check),
      events: this.events(local.events, check),
      fileSystem: this.fileSystem(local.fileSystem, check),
      images: this.images(local.images, check),
      builds: this.builds(local.builds, check),
    };
  }

  private projectArn(project: string | null): string {
    return `arn:aws:codebuild:${AT}:project/${project ?? 'none'}`;
  }

  /** The failure report reads a build from CodeBuild (locally there is none: the runner said it all). */
  private builds(local: BuildService | undefined, check: Check): BuildService {
    return {
      describeBuild: async (buildId) => {
        await check('codebuild:BatchGetBuilds', this.projectArn(this.names.buildProject));
        return local ? local.describeBuild(buildId) : null;
      },
    };
  }

  /**
   * What the state machine's role does for a `.sync` build: start it, poll it, and manage the
   * EventBridge rule Step Functions uses to learn that it ended.
   */
  async startBuild(state: string, project: string): Promise<void> {
    const machine = this.names.stateMachine;
    if (!machine) return;
    for (const action of ['codebuild:StartBuild', 'codebuild:BatchGetBuilds'])
      await this.call(state, machine, action, this.projectArn(project));
    const rule = `arn:aws:events:${AT}:rule/StepFunctionsGetEventForCodeBuildStartBuildRule`;
    for (const action of ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'])
      await this.call(state, machine, action, rule);
  }

  /**
   * The calls the AWS probe makes before it imports anything: pass its role to Lambda, read each
   * layer version (or pull the image), then create, wait for, invoke and delete its function.
   */
  private probe(local: ProbeRunner, check: Check): ProbeRunner {
    return {
      probe: async (request, probeId) => {
        const settings = this.names.probe;
        if (!settings) return local.probe(request, probeId);
        await check('iam:PassRole', settings.roleArn, { 'iam:PassedToService': 'lambda.amazonaws.com' });
        const { artifact } = request;
        for (const arn of artifact.kind === 'layers' ? (artifact.layerVersionArns ?? []) : []) {
          // The local registry's ARNs name another account; the layer name and version are what count.
          const [, name, version] = /:layer:([^:]+):(\d+)$/.exec(arn) ?? [];
          await check('lambda:GetLayerVersion', `arn:aws:lambda:${AT}:layer:${name ?? arn}:${version ?? ''}`);
        }
        if (artifact.kind === 'image')
          await check('ecr:BatchGetImage', `arn:aws:ecr:${AT}:repository/${this.names.repository ?? 'none'}`);
        const functionArn = `arn:aws:lambda:${AT}:function:${probeFunctionName(settings.functionNamePrefix, probeId)}`;
        for (const action of ['CreateFunction', 'GetFunction', 'InvokeFunction', 'DeleteFunction'])
          await check(`lambda:${action}`, functionArn);
        return local.probe(request, probeId);
      },
    };
  }

  private store(local: LeasingObjectStore, check: Check): LeasingObjectStore {
    const object = (key: string): string => this.objectArn(key);
    const bucketArn = `arn:aws:s3:::${this.names.bucket}`;
    return {
      location: local.location,
      getBytes: async (key) => (await check('s3:GetObject', object(key)), local.getBytes(key)),
      getToFile: async (key, path) => (await check('s3:GetObject', object(key)), local.getToFile(key, path)),
      putBytes: async (key, body, contentType) => {
        SERVICE_LIMITS.checkSinglePut(key, Buffer.byteLength(body));
        await check('s3:PutObject', object(key));
        return local.putBytes(key, body, contentType);
      },
      // The AWS store sends files over one part as a multipart upload (also s3:PutObject).
      putFile: async (key, path, contentType) => (
        await check('s3:PutObject', object(key)),
        local.putFile(key, path, contentType)
      ),
      exists: async (key) => (await check('s3:GetObject', object(key)), local.exists(key)),
      head: async (key) => (await check('s3:GetObject', object(key)), local.head(key)),
      list: async (prefix) => (await check('s3:ListBucket', bucketArn), local.list(prefix)),
      // A conditional write (If-None-Match: *) is a PutObject to IAM.
      putIfAbsent: async (key, body) => (
        await check('s3:PutObject', object(key)),
        local.putIfAbsent(key, body)
      ),
      delete: async (key) => (await check('s3:DeleteObject', object(key)), local.delete(key)),
    };
  }

  private layers(local: LayerRegistry, check: Check): LayerRegistry {
    const layerArn = (name: string): string => `arn:aws:lambda:${AT}:layer:${name}`;
    const wrapped: LayerRegistry = {
      publishLayerVersion: async (request) => {
        SERVICE_LIMITS.checkLayerRequest(request);
        // Lambda reads the zip from S3 with the caller's permissions.
        await check('s3:GetObject', this.objectArn(request.objectKey));
        await check('lambda:PublishLayerVersion', layerArn(request.layerName));
        return local.publishLayerVersion(request);
      },
      addPermission: async (request) => {
        await check('lambda:AddLayerVersionPermission', `${layerArn(request.layerName)}:${request.version}`);
        return local.addPermission(request);
      },
      updateFunctionLayers: async (request) => {
        const functionArn = `arn:aws:lambda:${AT}:function:${request.functionName}`;
        await check('lambda:GetFunctionConfiguration', functionArn);
        await check('lambda:UpdateFunctionConfiguration', functionArn);
        // Lambda refuses the whole update: nothing changes before both limits are checked.
        const after = layersAfterUpdate(
          (await local.getFunctionLayers?.(request.functionName)) ?? [],
          request,
        );
        SERVICE_LIMITS.checkFunctionLayers(request.functionName, after);
        await checkUnzippedSize(local, request.functionName, after);
        return local.updateFunctionLayers(request);
      },
    };
    const getLayerVersion = local.getLayerVersion?.bind(local);
    if (getLayerVersion) {
      wrapped.getLayerVersion = async (arn) => {
        const [name, version] = arn.split(':').slice(6, 8);
        await check('lambda:GetLayerVersion', `${layerArn(name ?? '')}:${version ?? ''}`);
        return getLayerVersion(arn);
      };
    }
    this.retirement(local, check, wrapped);
    return wrapped;
  }

  /** Retiring old versions lists a layer name, reads the functions' layers and deletes versions. */
  private retirement(local: LayerRegistry, check: Check, wrapped: LayerRegistry): void {
    const layerArn = (name: string): string => `arn:aws:lambda:${AT}:layer:${name}`;
    const list = local.listLayerVersions?.bind(local);
    if (list) {
      wrapped.listLayerVersions = async (name) =>
        // No resource-level permissions for this action (Service Authorization Reference).
        (await check('lambda:ListLayerVersions', '*'), list(name));
    }
    const remove = local.deleteLayerVersion?.bind(local);
    if (remove) {
      wrapped.deleteLayerVersion = async (request) => (
        await check('lambda:DeleteLayerVersion', `${layerArn(request.layerName)}:${request.version}`),
        remove(request)
      );
    }
    const functionLayers = local.getFunctionLayers?.bind(local);
    if (functionLayers) {
      wrapped.getFunctionLayers = async (name) => (
        await check('lambda:GetFunctionConfiguration', `arn:aws:lambda:${AT}:function:${name}`),
        functionLayers(name)
      );
    }
  }

  private parameters(local: ParameterStore, check: Check): ParameterStore {
    const parameterArn = (name: string): string =>
      `arn:aws:ssm:${AT}:parameter${name.startsWith('/') ? '' : '/'}${name}`;
    const wrapped: ParameterStore = {
      put: async (name, value, description) => {
        SERVICE_LIMITS.checkParameter(name, value);
        await check('ssm:PutParameter', parameterArn(name));
        return local.put(name, value, description);
      },
    };
    const get = local.get?.bind(local);
    if (get) wrapped.get = async (name) => (await check('ssm:GetParameter', parameterArn(name)), get(name));
    return wrapped;
  }

  private events(local: EventBus, check: Check): EventBus {
    return {
      putEvent: async (detailType, detail) => {
        SERVICE_LIMITS.checkEvent(detailType, detail);
        await check('events:PutEvents', `arn:aws:events:${AT}:event-bus/default`);
        return local.putEvent(detailType, detail);
      },
    };
  }

  private fileSystem(local: FileSystemTree, check: Check): FileSystemTree {
    const { fileSystemArn, accessPointArn } = this.efsArns();
    return {
      mountRoot: local.mountRoot,
      describe: async () => {
        await check('elasticfilesystem:DescribeMountTargets', fileSystemArn);
        await check('elasticfilesystem:DescribeAccessPoints', accessPointArn);
        return local.describe();
      },
    };
  }

  private efsArns(): { fileSystemArn: string; accessPointArn: string } {
    return {
      fileSystemArn: `arn:aws:elasticfilesystem:${AT}:file-system/${this.names.fileSystemId ?? 'none'}`,
      accessPointArn: `arn:aws:elasticfilesystem:${AT}:access-point/${this.names.accessPointId ?? 'none'}`,
    };
  }

  /**
   * What Step Functions and Lambda check before a handler runs: the state machine's role may
   * invoke the function, and a function with an EFS file system config mounts
   * it (ClientMount, and ClientWrite for a writable mount) through its access point at init.
   */
  async beforeInvoke(state: string, principal: string): Promise<void> {
    // The state machine's role invokes the task's function first.
    if (this.names.stateMachine)
      await this.call(
        state,
        this.names.stateMachine,
        'lambda:InvokeFunction',
        `arn:aws:lambda:${AT}:function:${principal}`,
      );
    if (!this.mountingFunctions.has(principal)) return;
    const { fileSystemArn, accessPointArn } = this.efsArns();
    const context = { 'elasticfilesystem:AccessPointArn': accessPointArn };
    await this.call(state, principal, 'elasticfilesystem:ClientMount', fileSystemArn, context);
    await this.call(state, principal, 'elasticfilesystem:ClientWrite', fileSystemArn, context);
  }

  private images(local: ImageRegistry, check: Check): ImageRegistry {
    const repositoryArn = `arn:aws:ecr:${AT}:repository/${this.names.repository ?? 'none'}`;
    return {
      destination: async (tag) => {
        if (!/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/.test(tag)) {
          throw new ServiceLimitError(
            'InvalidParameterException',
            `Image tag "${tag}" is not valid in ECR.`,
            'Tags are at most 128 characters of letters, digits, _ . -.',
          );
        }
        await check('ecr:GetAuthorizationToken', '*');
        for (const action of [
          'ecr:BatchCheckLayerAvailability',
          'ecr:InitiateLayerUpload',
          'ecr:UploadLayerPart',
          'ecr:CompleteLayerUpload',
          'ecr:PutImage',
        ]) {
          await check(action, repositoryArn);
        }
        return local.destination(tag);
      },
      // The layout folder stands in for the repository the destination's checks already covered.
      ...(local.putLayout ? { putLayout: local.putLayout.bind(local) } : {}),
    };
  }
}

/** The function's code plus every layer it would list, unzipped, against Lambda's 250 MB. */
async function checkUnzippedSize(
  local: LayerRegistry,
  functionName: string,
  layers: readonly string[],
): Promise<void> {
  if (!local.unzippedBytes) return;
  const layerBytes = await Promise.all(layers.map(async (arn) => (await local.unzippedBytes?.(arn)) ?? 0));
  const codeBytes = (await local.functionCodeBytes?.(functionName)) ?? 0;
  SERVICE_LIMITS.checkUnzippedSize(functionName, codeBytes, layerBytes);
}

type Check = (action: string, resource: string, context?: Record<string, string>) => Promise<void>;

/**
 * A Build state's object calls, checked against the project's role after the build ran: the
 * buildspec runs as a child process, so its store calls are read off the store (the lock it
 * read, every object it wrote under the artifact prefix).
 */
export async function checkBuildCalls(
  twin: AwsTwin,
  options: {
    readonly state: string;
    readonly projectLogicalId: string;
    readonly lockKey: string;
    readonly written: readonly string[];
  },
): Promise<void> {
  const { state, projectLogicalId } = options;
  await twin.call(state, projectLogicalId, 's3:GetObject', twin.objectArn(options.lockKey));
  for (const key of options.written)
    await twin.call(state, projectLogicalId, 's3:PutObject', twin.objectArn(key));
}
