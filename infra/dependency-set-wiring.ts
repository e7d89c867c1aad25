// Wiring a user's own function to a dependency set that a lambda-deps stack delivered, in one call
// per function. The pipeline records each set under the construct's SSM prefix:
// `/lambda-deps/<set>/layers` (the layer version ARNs, written when they are switched),
// `<set>/efs-python-path` (the version folder on the access point) and `<set>/image` (the
// image URI with its digest), both written by the Report step once the set is probed and ready.
// CloudFormation parameters of type `AWS::SSM::Parameter::Value<…>` read them at deploy time, so
// the function gets however many layers the set has, with no `Fn.select` and no count to keep in
// step, and the exact EFS version or image digest that was delivered last.
import { CfnParameter, Token } from 'aws-cdk-lib';
import type { IRepository } from 'aws-cdk-lib/aws-ecr';
import type { AccessPoint } from 'aws-cdk-lib/aws-efs';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Code, FileSystem as LambdaFileSystem } from 'aws-cdk-lib/aws-lambda';
import type {
  CfnFunction,
  CodeConfig,
  FileSystemConfig,
  Function as LambdaFunction,
} from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { EFS_MOUNT_PATH } from './constructs/dependency-efs-store.ts';

/** Default SSM prefix of the LambdaDeps construct (its `ssmParameterPrefix` prop). */
export const DEFAULT_SSM_PARAMETER_PREFIX = '/lambda-deps/';

export interface DependencySetReference {
  /** The set's name: the folder under `requirements/` it was uploaded to, or `name` of the execution. */
  readonly set: string;
  /**
   * Where the stack records its sets: the `LambdaDeps` construct (its `layerParameterPrefix`), or
   * the prefix itself when the stack lives in another app.
   * @default '/lambda-deps/'
   */
  readonly from?: { readonly layerParameterPrefix: string } | string;
}

const SET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The SSM parameter holding a set's layer version ARNs. */
export function layersParameterName(reference: DependencySetReference): string {
  if (!SET_NAME.test(reference.set)) {
    throw new Error(
      `lambda-deps: set name "${reference.set}": use letters, digits, '.', '_' or '-' (the folder name under requirements/).`,
    );
  }
  const from = reference.from ?? DEFAULT_SSM_PARAMETER_PREFIX;
  const prefix = typeof from === 'string' ? from : from.layerParameterPrefix;
  return `${prefix}${reference.set}/layers`;
}

/**
 * A deploy-time list of the set's layer version ARNs (a CloudFormation parameter, one per set
 * and stack). The set must have been delivered before the stack that reads it is deployed.
 */
export function dependencySetLayerArns(scope: Construct, reference: DependencySetReference): string[] {
  const name = layersParameterName(reference);
  const parameter = ssmParameter(scope, `LambdaDepsLayers${name.replaceAll('/', '_')}`, {
    type: 'AWS::SSM::Parameter::Value<List<String>>',
    name,
    description: `lambda-deps: layer version ARNs of the set ${reference.set} (SSM ${name})`,
  });
  return Token.asList(parameter.value);
}

/** A CloudFormation parameter read from SSM, one per id and scope: wiring several functions to a set reuses it. */
function ssmParameter(
  scope: Construct,
  id: string,
  options: { readonly type: string; readonly name: string; readonly description: string },
): CfnParameter {
  const existing = scope.node.tryFindChild(id);
  if (existing instanceof CfnParameter) return existing;
  return new CfnParameter(scope, id, {
    type: options.type,
    default: options.name,
    description: options.description,
  });
}

/**
 * Gives `fn` every layer of the set, read from SSM at deploy time.
 *
 * @example
 * const fn = new lambda.Function(this, 'Api', { runtime: lambda.Runtime.PYTHON_3_12, handler: 'app.handler', code });
 * useDependencySetLayers(fn, { set: 'web-api', from: deps });
 */
export function useDependencySetLayers(fn: LambdaFunction, reference: DependencySetReference): void {
  const cfnFunction = fn.node.defaultChild as CfnFunction;
  cfnFunction.layers = dependencySetLayerArns(fn.stack, reference);
}

/** The SSM parameter holding the PYTHONPATH of the set's EFS version folder (under EFS_MOUNT_PATH). */
export function efsPythonPathParameterName(reference: DependencySetReference): string {
  return layersParameterName(reference).replace(/\/layers$/, '/efs-python-path');
}

/** The SSM parameter holding the set's image URI, `host/repository@sha256:…`. */
export function imageParameterName(reference: DependencySetReference): string {
  return layersParameterName(reference).replace(/\/layers$/, '/image');
}

/** A deploy-time string read from SSM (one CloudFormation parameter per name and scope). */
function deployTimeString(scope: Construct, name: string, description: string): string {
  const id = `LambdaDeps${name.replaceAll('/', '_')}`;
  return ssmParameter(scope, id, { type: 'AWS::SSM::Parameter::Value<String>', name, description })
    .valueAsString;
}

/**
 * The file system a function needs for a set's EFS tree: the stack's access point mounted where
 * the pipeline's paths point (`/mnt/deps`), read-only (ClientMount on this file system through
 * this access point, no ClientWrite). Give it as `filesystem`, with `vpc: deps.vpc`.
 */
export function dependencySetFileSystem(deps: { readonly accessPoint?: AccessPoint }): LambdaFileSystem {
  if (!deps.accessPoint) {
    throw new Error(
      'lambda-deps: this LambdaDeps has no EFS route (routes.efs is false): there is no tree to mount.',
    );
  }
  const accessPoint = deps.accessPoint;
  // Not LambdaFileSystem.fromEfsAccessPoint: that grants ClientWrite too, and a reader of the set
  // must not be able to change the tree the pipeline verified.
  return new ReadOnlyFileSystem({
    localMountPath: EFS_MOUNT_PATH,
    arn: accessPoint.accessPointArn,
    dependency: [accessPoint.fileSystem.mountTargetsAvailable],
    connections: accessPoint.fileSystem.connections,
    policies: [
      new PolicyStatement({
        actions: ['elasticfilesystem:ClientMount'],
        resources: [accessPoint.fileSystem.fileSystemArn],
        conditions: { StringEquals: { 'elasticfilesystem:AccessPointArn': accessPoint.accessPointArn } },
      }),
    ],
  });
}

/** A Lambda file system from a config of ours (the base class's constructor is protected). */
class ReadOnlyFileSystem extends LambdaFileSystem {
  constructor(config: FileSystemConfig) {
    super(config);
  }
}

/**
 * Sets PYTHONPATH on `fn` to the set's EFS version folder, read from SSM at deploy time (a warm
 * function then never mixes two versions). `fn` must mount `dependencySetFileSystem(deps)`.
 *
 * @example
 * const worker = new lambda.Function(this, 'Worker', { runtime, handler, code, vpc: deps.vpc, filesystem: dependencySetFileSystem(deps) });
 * useDependencySetEfs(worker, { set: 'ml', from: deps });
 */
export function useDependencySetEfs(fn: LambdaFunction, reference: DependencySetReference): void {
  const mounts = (fn.node.defaultChild as CfnFunction).fileSystemConfigs;
  const mounted =
    Array.isArray(mounts) &&
    mounts.some((mount) => 'localMountPath' in mount && mount.localMountPath === EFS_MOUNT_PATH);
  if (!mounted) {
    throw new Error(
      `lambda-deps: ${fn.node.path} does not mount ${EFS_MOUNT_PATH}: create it with \`vpc: deps.vpc, filesystem: dependencySetFileSystem(deps)\`.`,
    );
  }
  const name = efsPythonPathParameterName(reference);
  fn.addEnvironment(
    'PYTHONPATH',
    deployTimeString(
      fn.stack,
      name,
      `lambda-deps: PYTHONPATH of the set ${reference.set} on EFS (SSM ${name})`,
    ),
  );
}

/** The set's image URI with its digest, read from SSM at deploy time. */
export function dependencySetImageUri(scope: Construct, reference: DependencySetReference): string {
  const name = imageParameterName(reference);
  return deployTimeString(scope, name, `lambda-deps: image of the set ${reference.set} (SSM ${name})`);
}

export interface DependencySetImageOptions {
  /** The handler inside the image, e.g. `['my_worker.handler']` (a module of the set, or of your image). */
  readonly cmd?: string[];
  readonly entrypoint?: string[];
  readonly workingDirectory?: string;
}

/**
 * Code for a function of package type Image that runs the set's image, pinned to the digest
 * delivered last (read at deploy time); Lambda may pull it from the stack's repository.
 *
 * @example
 * new lambda.Function(this, 'Job', { runtime: lambda.Runtime.FROM_IMAGE, handler: lambda.Handler.FROM_IMAGE,
 *   code: dependencySetImageCode(this, { set: 'ml', from: deps }, { cmd: ['job.handler'] }) });
 */
export function dependencySetImageCode(
  scope: Construct,
  reference: DependencySetReference & {
    readonly from?: { readonly repository?: IRepository; readonly layerParameterPrefix: string } | string;
  },
  options: DependencySetImageOptions = {},
): Code {
  const from = reference.from;
  if (typeof from === 'object' && !from.repository) {
    throw new Error(
      'lambda-deps: this LambdaDeps has no image route (routes.image is false): there is no image.',
    );
  }
  const imageUri = dependencySetImageUri(scope, reference);
  const repository = typeof from === 'object' ? from.repository : undefined;
  return new (class extends Code {
    readonly isInline = false;
    bind(): CodeConfig {
      // What Code.fromEcrImage does: the repository's policy lets the Lambda service pull.
      repository?.grantPull(new ServicePrincipal('lambda.amazonaws.com'));
      return { image: { imageUri, ...options } };
    }
  })();
}
