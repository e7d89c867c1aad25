// The whole of lambda-deps as one construct a user can drop into their own app: the artifact
// bucket and its upload trigger, the state machine with its six Lambda steps and the
// CodeBuild project, and the three delivery targets (layers, an EFS access point, an ECR
// repository). Each function gets the contract's environment variables and only the
// permissions its step needs (design.md, "Contracts").
import { ArnFormat, Duration, RemovalPolicy, Resource, Size, Stack, Token, Validations } from 'aws-cdk-lib';
import type { ComputeType, Project } from 'aws-cdk-lib/aws-codebuild';
import type { SubnetType, IVpc } from 'aws-cdk-lib/aws-ec2';
import type { IRepository, TagMutability } from 'aws-cdk-lib/aws-ecr';
import type { AccessPoint, FileSystem } from 'aws-cdk-lib/aws-efs';
import { EventBus } from 'aws-cdk-lib/aws-events';
import type { IEventBus, Rule } from 'aws-cdk-lib/aws-events';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { FileSystem as LambdaFileSystem } from 'aws-cdk-lib/aws-lambda';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { IConstruct } from 'constructs';
import type { Architecture } from '../../functions/core/shared/types.ts';
import { PIPELINE_VARIABLES, type EnvironmentVariableName } from '../../functions/adapters/environment.ts';
import { parseDeliveryPolicy } from '../../functions/core/route/delivery-policy.ts';
import type { DeliveryPolicyInput } from '../../functions/core/route/delivery-policy.ts';
import { ARTIFACT_KEYS, DependencyArtifactBucket } from './dependency-artifact-bucket.ts';
import { DependencyBuildProject } from './dependency-build-project.ts';
import { DependencyEfsStore, EFS_MOUNT_PATH } from './dependency-efs-store.ts';
import { DependencyImageRepository } from './dependency-image-repository.ts';
import { DependencyStateMachine } from './dependency-state-machine.ts';
import type { PipelineFunctions } from './dependency-state-machine.ts';
import { DependencyUploadTrigger } from './dependency-upload-trigger.ts';
import { DependencyProbe } from './dependency-probe.ts';
import { attachScopedPolicy, grantObjectPrefixes } from './scoped-policy.ts';
import { createPipelineFunction, skipBundlingFromContext } from './lambda-defaults.ts';
import type { PipelineFunctionOptions } from './lambda-defaults.ts';

/** The delivery routes a stack deploys; a route that is off creates none of its resources. */
export interface LambdaDepsRoutes {
  /** Lambda layers (the publish step). @default true */
  readonly layers?: boolean;
  /** A versioned tree on an EFS access point: the VPC, the file system and sync-efs. @default true */
  readonly efs?: boolean;
  /** An ECR image: the repository and push-image. @default true */
  readonly image?: boolean;
}

/**
 * A value `${NAME}` may expand to in an uploaded requirements file: a plain value, or a Secrets
 * Manager secret (its SecretString), read by Measure at start-up and never put in its environment.
 */
export type AllowedVariable = string | ISecret;

export interface LambdaDepsProps {
  /**
   * The delivery policy of runs that give none (S3 uploads; a console input's `policy` replaces
   * it), e.g. `{ excludeRuntimeProvided: true, keepFreeLayers: 2 }`. Checked at synth against
   * the same schema as the CLI's flags.
   * @default the policy's defaults (as `lambda-deps build` with no policy flags)
   */
  readonly defaultPolicy?: DeliveryPolicyInput;
  /**
   * The only variables `${NAME}` in an uploaded requirements file may expand to (in AWS nothing
   * expands from the functions' environment, which holds the pipeline's credentials), e.g.
   * `{ PRIVATE_INDEX_TOKEN: Secret.fromSecretNameV2(this, 'Token', 'pypi-token') }`. Measure may
   * read exactly these secrets (secretsmanager:GetSecretValue on each, nothing else).
   * @default {} (no variable expands)
   */
  readonly allowedVariables?: Readonly<Record<string, AllowedVariable>>;
  /**
   * Which routes to deploy, e.g. `{ layers: true, efs: false, image: false }`: no VPC or EFS
   * without `efs`, no ECR repository without `image`. A set whose measured route is not deployed
   * ends in `Dependency Set Failed` naming the route (force one with `policy.forceStrategy`).
   * @default every route
   */
  readonly routes?: LambdaDepsRoutes;
  /**
   * Bring your own artifact bucket instead of a new one. It must send EventBridge notifications
   * (a bucket of this app gets them switched on; for an imported one that is yours to do), and
   * it should be encrypted, versioned and TLS-only as the default one is. An imported bucket also
   * needs `acceptResponsibilityForImportedResources`.
   * @default a new encrypted, versioned, TLS-only bucket with lifecycle rules
   */
  readonly bucket?: IBucket;
  /**
   * Bring your own ECR repository for the image route. An imported one also needs
   * `acceptResponsibilityForImportedResources`.
   * @default a new repository with scan on push (when the image route is on)
   */
  readonly repository?: IRepository;
  /**
   * Set to true to use a bucket, repository or VPC that this app does not create
   * (`Bucket.fromBucketName`, `Repository.fromRepositoryName`, `Vpc.fromLookup`…): its
   * encryption, notifications, policies and lifecycle are then yours to keep right, because
   * this construct cannot see or change them.
   * @default false (an imported resource is refused)
   */
  readonly acceptResponsibilityForImportedResources?: boolean;
  /**
   * Name prefix of every published layer (`<prefix>-<set>-<n>`); the publish step may only
   * publish layers whose name starts with it.
   * @default 'lambda-deps'
   */
  readonly layerNamePrefix?: string;
  /**
   * SSM parameter path under which the latest layer ARNs and reports are written.
   * @default '/lambda-deps/'
   */
  readonly ssmParameterPrefix?: string;
  /** Accounts allowed to use the published layer versions. @default [] (this account only) */
  readonly layerPrincipals?: string[];
  /** An AWS Organization whose accounts may use the layer versions. @default none */
  readonly layerOrganizationId?: string;
  /**
   * Functions (names, in this account and region) switched to the new layer versions once
   * every layer is published. The publish step may update these and no others.
   * @default []
   */
  readonly functionsToUpdate?: string[];
  /** Runtime of a set whose input names none. @default 'python3.12' */
  readonly defaultRuntime?: string;
  /** Architecture of a set whose input names none; also the build host's. @default 'arm64' */
  readonly defaultArchitecture?: Architecture;
  /** Package index (PEP 503/691). @default 'https://pypi.org/simple' */
  readonly indexUrl?: string;
  /** More indexes searched after `indexUrl`. @default [] */
  readonly extraIndexUrls?: string[];
  /** Old EFS versions kept beside `current`. @default 3 */
  readonly keepEfsVersions?: number;
  /**
   * Layer versions kept per layer name; older ones are deleted after each delivery, except any
   * that the set's SSM parameter or a function in `functionsToUpdate` still uses. @default 3
   */
  readonly keepLayerVersions?: number;
  /** Base of dependency images (`<repository>:<python version>-<arch>`). @default 'public.ecr.aws/lambda/python' */
  readonly baseImageRepository?: string;
  /**
   * Base of images for sets with a custom glibc target (`host/repository:tag` or `…@sha256:…`):
   * no Lambda Python image fits them (python3.10/3.11 run Amazon Linux 2 with glibc 2.26). Its
   * glibc is read from libc.so.6 in its layers and must reach the target's.
   * @default none: custom targets are refused at PushImage with this hint
   */
  readonly customBaseImage?: string;
  /** Buckets besides the artifact bucket that console inputs may name as `requirements.bucket`. @default [] */
  readonly requirementsBuckets?: IBucket[];
  /** Bus that receives `Dependency Set Ready` / `… Failed` events. @default the account's default bus */
  readonly eventBus?: IEventBus;
  /** VPC for the EFS file system and sync-efs. @default a new isolated VPC (see DependencyEfsStore) */
  readonly vpc?: IVpc;
  /** Subnets of `vpc` used for EFS and sync-efs. @default SubnetType.PRIVATE_ISOLATED */
  readonly vpcSubnetType?: SubnetType;
  /** How long built artifacts are kept in the bucket. @default Duration.days(90) */
  readonly artifactExpiration?: Duration;
  /** How long old object versions are kept. @default Duration.days(30) */
  readonly noncurrentVersionExpiration?: Duration;
  /** Image tag mutability of the ECR repository. @default TagMutability.IMMUTABLE */
  readonly imageTagMutability?: TagMutability;
  /**
   * Tagged images kept in the ECR repository; older ones expire even if a function runs them.
   * @default no limit (only untagged left-overs expire)
   */
  readonly maxImageCount?: number;
  /** Fallback build size when an execution does not choose one. @default ComputeType.SMALL */
  readonly buildComputeType?: ComputeType;
  /** Longest a build may run. @default Duration.minutes(60) */
  readonly buildTimeout?: Duration;
  /** Longest an execution may run. @default Duration.hours(2) */
  readonly executionTimeout?: Duration;
  /** Attempts after the first for transient errors in each step. @default 3 */
  readonly transientRetryAttempts?: number;
  /** Retention of every log group. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** What happens to the bucket, file system and repository when the stack is deleted. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Inline stubs instead of esbuild bundles, and a placeholder build source: for tests and the
   * local runner, which need the template only. Never deploy with it.
   * @default the `lambda-deps:skip-bundling` context value, else false
   */
  readonly skipBundling?: boolean;
}

/** The routes deployed when `routes` leaves one out. */
export const DEFAULT_ROUTES: Required<LambdaDepsRoutes> = { layers: true, efs: true, image: true };

/** The step functions a stack has: a route that is off has no delivery function. */
export type LambdaDepsFunctions = Pick<
  Record<keyof PipelineFunctions, LambdaFunction>,
  'measure' | 'readBuildManifest' | 'probe' | 'report'
> &
  Partial<Pick<Record<keyof PipelineFunctions, LambdaFunction>, 'publishLayers' | 'syncEfs' | 'pushImage'>>;

/** Handler folders under `functions/`, by step. */
export const STEP_ENTRIES: Readonly<Record<keyof PipelineFunctions, string>> = {
  measure: 'functions/measure/handler.ts',
  readBuildManifest: 'functions/read-build-manifest/handler.ts',
  publishLayers: 'functions/publish-layers/handler.ts',
  syncEfs: 'functions/sync-efs/handler.ts',
  pushImage: 'functions/push-image/handler.ts',
  probe: 'functions/probe/handler.ts',
  report: 'functions/report/handler.ts',
};

export class LambdaDeps extends Construct {
  readonly bucket: IBucket;
  /** The routes this stack deploys. */
  readonly routes: Required<LambdaDepsRoutes>;
  readonly stateMachine: StateMachine;
  /** SSM parameter path the pipeline writes under (ends with `/`). */
  readonly layerParameterPrefix: string;
  readonly layerNamePrefix: string;
  /** The EFS route's file system, access point and VPC (undefined when `routes.efs` is false). */
  readonly fileSystem?: FileSystem;
  readonly accessPoint?: AccessPoint;
  readonly vpc?: IVpc;
  /** The image route's repository (undefined when `routes.image` is false). */
  readonly repository?: IRepository;
  readonly buildProject: Project;
  readonly uploadRule: Rule;
  readonly startExecutionFunction: LambdaFunction;
  /** The step functions, by step (the delivery steps of deployed routes only). */
  readonly functions: Readonly<LambdaDepsFunctions>;
  private requirementsBucketCount = 0;

  constructor(scope: Construct, id: string, props: LambdaDepsProps = {}) {
    super(scope, id);
    const skipBundling = props.skipBundling ?? skipBundlingFromContext(this);
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const defaultArchitecture = props.defaultArchitecture ?? 'arm64';
    this.layerNamePrefix = props.layerNamePrefix ?? 'lambda-deps';
    this.layerParameterPrefix = props.ssmParameterPrefix ?? '/lambda-deps/';
    validateProps(this.layerNamePrefix, this.layerParameterPrefix, props);
    this.routes = { ...DEFAULT_ROUTES, ...props.routes };
    validateOwnedResources(this.routes, props);

    this.bucket = props.bucket ?? this.createArtifactBucket(props, removalPolicy);
    // The upload trigger is an EventBridge rule; a bucket of this app can be switched on here.
    if (props.bucket && Resource.isOwnedResource(props.bucket)) props.bucket.enableEventBridgeNotification();
    // The bucket's EventBridge switch is a CDK custom resource, a singleton at stack level.
    const notificationsHandler = Stack.of(this).node.tryFindChild(
      'BucketNotificationsHandler050a0587b7544547bf325f094a3db834',
    );
    if (notificationsHandler) {
      Validations.of(notificationsHandler).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: "CDK's bucket-notification custom resource; the managed policy only lets it write its logs.",
      });
    }
    const efs = this.routes.efs
      ? new DependencyEfsStore(this, 'Efs', {
          vpc: props.vpc,
          subnetType: props.vpcSubnetType,
          removalPolicy,
          logRetention,
        })
      : undefined;
    this.vpc = efs?.vpc;
    this.fileSystem = efs?.fileSystem;
    this.accessPoint = efs?.accessPoint;
    this.repository = this.routes.image
      ? (props.repository ??
        new DependencyImageRepository(this, 'Images', {
          imageTagMutability: props.imageTagMutability,
          maxImageCount: props.maxImageCount,
          removalPolicy,
        }).repository)
      : undefined;
    const eventBus = props.eventBus ?? EventBus.fromEventBusName(this, 'DefaultBus', 'default');

    // Every setting of the contract but the two set per function (POWERTOOLS_SERVICE_NAME, REQUIRE_PROBE).
    const environment: Record<
      Exclude<EnvironmentVariableName, 'POWERTOOLS_SERVICE_NAME' | 'REQUIRE_PROBE'>,
      string
    > = {
      ARTIFACT_BUCKET: this.bucket.bucketName,
      SSM_PARAMETER_PREFIX: this.layerParameterPrefix,
      EVENT_BUS_NAME: eventBus.eventBusName,
      LAYER_NAME_PREFIX: this.layerNamePrefix,
      LAYER_PRINCIPALS: (props.layerPrincipals ?? []).join(','),
      LAYER_ORGANIZATION_ID: props.layerOrganizationId ?? '',
      FUNCTIONS_TO_UPDATE: (props.functionsToUpdate ?? []).join(','),
      EFS_MOUNT_PATH,
      // Empty when the route is off: the steps that read these are not deployed then.
      EFS_ACCESS_POINT_ARN: this.accessPoint?.accessPointArn ?? '',
      EFS_FILE_SYSTEM_ID: this.fileSystem?.fileSystemId ?? '',
      KEEP_EFS_VERSIONS: String(props.keepEfsVersions ?? 3),
      KEEP_LAYER_VERSIONS: String(props.keepLayerVersions ?? 3),
      ECR_REPOSITORY_URI: this.repository?.repositoryUri ?? '',
      ECR_REPOSITORY_NAME: this.repository?.repositoryName ?? '',
      BASE_IMAGE_REPOSITORY: props.baseImageRepository ?? 'public.ecr.aws/lambda/python',
      CUSTOM_BASE_IMAGE: props.customBaseImage ?? '',
      DEFAULT_RUNTIME: props.defaultRuntime ?? 'python3.12',
      DEFAULT_ARCHITECTURE: defaultArchitecture,
      INDEX_URL: props.indexUrl ?? 'https://pypi.org/simple',
      EXTRA_INDEX_URLS: (props.extraIndexUrls ?? []).join(' '),
    };
    const stepFunction = (
      step: keyof PipelineFunctions,
      description: string,
      options: Partial<PipelineFunctionOptions> = {},
    ): LambdaFunction =>
      createPipelineFunction(this, `${step[0]?.toUpperCase()}${step.slice(1)}Function`, {
        entry: STEP_ENTRIES[step],
        description: `lambda-deps: ${description}`,
        environment: {
          ...environment,
          POWERTOOLS_SERVICE_NAME: `lambda-deps-${STEP_ENTRIES[step].split('/')[1]}`,
        },
        skipBundling,
        logRetention,
        ...options,
      });

    // Resolving and measuring fetch metadata over HTTP; give them room.
    // An index without HTTP Range makes Measure download whole wheels (torch: gigabytes).
    const measure = stepFunction('measure', 'resolves and measures a dependency set, writes its lock', {
      timeout: Duration.minutes(10),
      memorySize: 2048,
      extra: { ephemeralStorageSize: Size.gibibytes(10) },
    });
    this.configureMeasure(measure, props);
    const readBuildManifest = stepFunction(
      'readBuildManifest',
      'reads the build manifest and picks the route',
    );
    const publishLayers = this.routes.layers
      ? stepFunction('publishLayers', 'publishes layer versions from S3 and records them', {
          timeout: Duration.minutes(5),
        })
      : undefined;
    const syncEfs = efs
      ? stepFunction('syncEfs', 'writes a dependency tree onto EFS and switches current', {
          timeout: Duration.minutes(15),
          memorySize: 2048,
          extra: {
            // The tree is streamed, but wheels can unpack large (torch); /tmp takes the overflow.
            ephemeralStorageSize: Size.gibibytes(10),
            vpc: efs.vpc,
            vpcSubnets: efs.subnets,
            securityGroups: [efs.clientSecurityGroup],
            filesystem: LambdaFileSystem.fromEfsAccessPoint(efs.accessPoint, EFS_MOUNT_PATH),
          },
        })
      : undefined;
    const pushImage = this.routes.image
      ? stepFunction('pushImage', 'pushes a dependency image to ECR over the registry API', {
          timeout: Duration.minutes(15),
          memorySize: 2048,
          // Room for the base image's and the dependency layer's blobs (images may reach gigabytes).
          extra: { ephemeralStorageSize: Size.gibibytes(10) },
        })
      : undefined;
    // Creating a probe function, waiting for it to be active and one cold import: minutes at most.
    const probe = stepFunction('probe', 'imports a published set on its target runtime before the switch', {
      timeout: Duration.minutes(10),
    });
    new DependencyProbe(this, 'Probe', {
      probeStep: probe,
      functionNamePrefix: `${this.layerNamePrefix}-probe`,
      layerNamePrefix: this.layerNamePrefix,
      ...(efs
        ? {
            efs: {
              vpc: efs.vpc,
              subnets: efs.subnets,
              securityGroup: efs.clientSecurityGroup,
              fileSystem: efs.fileSystem,
              accessPoint: efs.accessPoint,
            },
          }
        : {}),
      ...(this.repository ? { repository: this.repository } : {}),
    });
    const report = stepFunction('report', 'writes the manifest and report, emits the event', {
      timeout: Duration.minutes(2),
    });
    // Only the steps that exist: a route that is off leaves no key behind.
    const steps = { measure, readBuildManifest, publishLayers, syncEfs, pushImage, probe, report };
    this.functions = Object.fromEntries(
      Object.entries(steps).filter(([, fn]) => fn !== undefined),
    ) as unknown as LambdaDepsFunctions;

    this.grantStepPermissions({ eventBus, props });

    this.buildProject = new DependencyBuildProject(this, 'Build', {
      artifactBucket: this.bucket,
      architecture: defaultArchitecture,
      computeType: props.buildComputeType,
      timeout: props.buildTimeout,
      logRetention,
      skipSourceAsset: skipBundling,
    }).project;
    // The failure report reads a failed build (its phase, message and log link) from CodeBuild.
    report.addToRolePolicy(
      new PolicyStatement({
        actions: ['codebuild:BatchGetBuilds'],
        resources: [this.buildProject.projectArn],
      }),
    );

    this.stateMachine = new DependencyStateMachine(this, 'Pipeline', {
      functions: this.functions,
      buildProject: this.buildProject,
      timeout: props.executionTimeout,
      buildStateTimeout: (props.buildTimeout ?? Duration.minutes(60)).plus(Duration.minutes(10)),
      transientRetryAttempts: props.transientRetryAttempts,
      logRetention,
    }).stateMachine;

    const trigger = new DependencyUploadTrigger(this, 'Upload', {
      bucket: this.bucket,
      stateMachine: this.stateMachine,
      skipBundling,
      logRetention,
    });
    this.uploadRule = trigger.rule;
    this.startExecutionFunction = trigger.startExecutionFunction;

    this.acknowledgeReviewedFindings();
  }

  /**
   * Measure's share of the props: the default policy of S3-triggered runs, and the variables
   * `${NAME}` may expand to. Plain values are environment variables; a secret is read at start-up
   * through Parameter Store's Secrets Manager reference, so its value is in no template or
   * environment, and Measure may read exactly those secrets.
   */
  private configureMeasure(measure: LambdaFunction, props: LambdaDepsProps): void {
    measure.addEnvironment(
      'LAMBDA_DEPS_DEFAULT_POLICY',
      JSON.stringify(parseDeliveryPolicy(props.defaultPolicy ?? {}, 'LambdaDeps defaultPolicy')),
    );
    const variables = Object.entries(props.allowedVariables ?? {});
    measure.addEnvironment('LAMBDA_DEPS_ALLOWED_VARIABLES', variables.map(([name]) => name).join(','));
    const secrets: Record<string, string> = {};
    for (const [name, value] of variables) {
      if (typeof value === 'string') measure.addEnvironment(name, value);
      else secrets[name] = value.secretName;
    }
    const secretValues = variables.flatMap(([, value]) => (typeof value === 'string' ? [] : [value]));
    measure.addEnvironment('LAMBDA_DEPS_SECRET_VARIABLES', JSON.stringify(secrets));
    if (secretValues.length === 0) return;
    const stack = Stack.of(this);
    attachScopedPolicy(measure, 'AllowedSecrets', {
      role: measure.role,
      statements: [
        new PolicyStatement({
          actions: ['secretsmanager:GetSecretValue'],
          // A secret imported by name has a partial ARN: the six characters Secrets Manager adds.
          resources: secretValues.map((secret) => secret.secretFullArn ?? `${secret.secretArn}-??????`),
        }),
        new PolicyStatement({
          actions: ['ssm:GetParameter'],
          resources: secretValues.map((secret) =>
            stack.formatArn({
              service: 'ssm',
              resource: 'parameter',
              resourceName: `aws/reference/secretsmanager/${secret.secretName}`,
            }),
          ),
        }),
      ],
      reason:
        'Only the secrets the stack owner listed in allowedVariables, through their Parameter Store reference.',
    });
    for (const secret of secretValues) secret.encryptionKey?.grantDecrypt(measure);
  }

  /** The default artifact bucket, and the acknowledgement of the notification handler it brings. */
  private createArtifactBucket(props: LambdaDepsProps, removalPolicy: RemovalPolicy): IBucket {
    const artifacts = new DependencyArtifactBucket(this, 'Artifacts', {
      artifactExpiration: props.artifactExpiration,
      noncurrentVersionExpiration: props.noncurrentVersionExpiration,
      removalPolicy,
    });
    return artifacts.bucket;
  }

  /** Each step's grants, scoped to its key prefixes, layer names, parameters and resources. */
  private grantStepPermissions(options: { eventBus: IEventBus; props: LambdaDepsProps }): void {
    const { measure, readBuildManifest, publishLayers, syncEfs, pushImage, probe, report } = this.functions;
    const stack = Stack.of(this);
    const {
      requirements,
      locks,
      artifacts,
      delivered,
      reports,
      inlineRequirements,
      deliveryRecords,
      buildPolicies,
    } = ARTIFACT_KEYS;
    const parameterStatement = (): PolicyStatement =>
      new PolicyStatement({
        actions: ['ssm:PutParameter', 'ssm:GetParameter', 'ssm:AddTagsToResource'],
        resources: [
          stack.formatArn({
            service: 'ssm',
            resource: 'parameter',
            // formatArn puts the `/` between `parameter` and the name.
            resourceName: `${this.layerParameterPrefix.replace(/^\//, '')}*`,
          }),
        ],
      });
    const parameterReason = `Parameters are limited to the ${this.layerParameterPrefix} path.`;
    const describeEfs =
      this.fileSystem && this.accessPoint
        ? new PolicyStatement({
            actions: ['elasticfilesystem:DescribeAccessPoints', 'elasticfilesystem:DescribeMountTargets'],
            resources: [this.fileSystem.fileSystemArn, this.accessPoint.accessPointArn],
          })
        : undefined;

    grantObjectPrefixes(measure, measure.role, this.bucket, {
      read: [requirements, delivered, locks, inlineRequirements, buildPolicies],
      write: [locks, inlineRequirements, buildPolicies],
    });
    for (const bucket of options.props.requirementsBuckets ?? []) this.addRequirementsBucket(bucket);

    grantObjectPrefixes(readBuildManifest, readBuildManifest.role, this.bucket, { read: [artifacts] });

    if (publishLayers) {
      // The lease and record that keep two executions of one set from publishing twice.
      grantObjectPrefixes(publishLayers, publishLayers.role, this.bucket, {
        read: [artifacts],
        write: [deliveryRecords],
        delete: [deliveryRecords],
      });
      const layerArn = stack.formatArn({
        service: 'lambda',
        resource: 'layer',
        resourceName: `${this.layerNamePrefix}*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
      attachScopedPolicy(publishLayers, 'LayerPublishing', {
        role: publishLayers.role,
        statements: [
          new PolicyStatement({
            actions: [
              'lambda:PublishLayerVersion',
              'lambda:GetLayerVersion',
              'lambda:AddLayerVersionPermission',
            ],
            resources: [layerArn, `${layerArn}:*`],
          }),
          // Retiring old versions: deleting is scoped to our layers' versions; the Service
          // Authorization Reference gives ListLayerVersions no resource type, so it needs "*".
          new PolicyStatement({ actions: ['lambda:DeleteLayerVersion'], resources: [`${layerArn}:*`] }),
          new PolicyStatement({ actions: ['lambda:ListLayerVersions'], resources: ['*'] }),
          parameterStatement(),
        ],
        reason: `Layers are limited to names starting with "${this.layerNamePrefix}" (any version); lambda:ListLayerVersions has no resource-level permissions (it only reads version numbers); ${parameterReason}`,
      });
      const functionNames = options.props.functionsToUpdate ?? [];
      if (functionNames.length > 0) {
        publishLayers.addToRolePolicy(
          new PolicyStatement({
            actions: ['lambda:GetFunctionConfiguration', 'lambda:UpdateFunctionConfiguration'],
            resources: functionNames.map((name) =>
              stack.formatArn({
                service: 'lambda',
                resource: 'function',
                resourceName: name,
                arnFormat: ArnFormat.COLON_RESOURCE_NAME,
              }),
            ),
          }),
        );
      }
    }

    // ClientMount/ClientWrite on this access point come with the Lambda file system config.
    if (syncEfs && describeEfs) {
      grantObjectPrefixes(syncEfs, syncEfs.role, this.bucket, { read: [artifacts] });
      syncEfs.addToRolePolicy(describeEfs);
    }

    if (pushImage && this.repository) {
      grantObjectPrefixes(pushImage, pushImage.role, this.bucket, { read: [artifacts] });
      this.repository.grantPullPush(pushImage);
    }

    // The manifest (the module list) and the policy (whether a probe that cannot run fails).
    grantObjectPrefixes(probe, probe.role, this.bucket, { read: [artifacts] });

    grantObjectPrefixes(report, report.role, this.bucket, {
      read: [artifacts, locks, delivered],
      write: [reports, delivered],
    });
    options.eventBus.grantPutEventsTo(report);
    attachScopedPolicy(report, 'ParameterWriting', {
      role: report.role,
      statements: [parameterStatement()],
      reason: parameterReason,
    });
    if (describeEfs) report.addToRolePolicy(describeEfs);
  }

  /**
   * Lets console inputs name `{ requirements: { bucket, key } }` in another bucket: Measure may
   * read any object there (and nothing else is granted).
   */
  addRequirementsBucket(bucket: IBucket): void {
    const measure = this.functions.measure;
    attachScopedPolicy(measure, `RequirementsBucket${this.requirementsBucketCount++}`, {
      role: measure.role,
      statements: [
        new PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }),
        new PolicyStatement({
          actions: ['s3:GetObject', 's3:GetObjectVersion'],
          resources: [bucket.arnForObjects('*')],
        }),
      ],
      reason: 'Read-only access to a bucket the deployer named as a source of requirements files.',
    });
  }

  /** cdk-nag findings that were reviewed; each acknowledgement says why it is acceptable. */
  private acknowledgeReviewedFindings(): void {
    for (const fn of [...Object.values(this.functions), this.startExecutionFunction]) {
      if (!fn) continue;
      Validations.of(fn).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'AWSLambdaBasicExecutionRole is the AWS-maintained minimum for writing the function logs.',
      });
      Validations.of(fn).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Only X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) and, for push-image, ecr:GetAuthorizationToken: these actions support no resource scoping. test/infra checks every Resource "*" against this list.',
      });
      Validations.of(fn).acknowledge({
        id: 'AwsSolutions-L1',
        reason: 'Pinned to nodejs22.x on purpose: the bundles target node22 and are tested on it.',
      });
    }
    if (this.functions.syncEfs)
      Validations.of(this.functions.syncEfs).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        reason: 'sync-efs runs in the VPC; this AWS-maintained policy only manages its network interfaces.',
      });
  }
}

/**
 * Routes: at least one. Resources brought in: a route that is off takes none, and one this app
 * does not create needs the explicit opt-in (nothing here can check its settings).
 */
function validateOwnedResources(routes: Required<LambdaDepsRoutes>, props: LambdaDepsProps): void {
  const problems: string[] = [];
  if (!routes.layers && !routes.efs && !routes.image)
    problems.push('routes: turn on at least one of layers, efs, image');
  if (props.vpc && !routes.efs)
    problems.push('vpc is given but routes.efs is false (only the EFS route uses a VPC)');
  if (props.repository && !routes.image) problems.push('repository is given but routes.image is false');
  const given: [string, IConstruct | undefined][] = [
    ['bucket', props.bucket],
    ['repository', props.repository],
    ['vpc', props.vpc],
  ];
  const imported = given.filter(
    ([, resource]) => resource !== undefined && !Resource.isOwnedResource(resource),
  );
  if (imported.length > 0 && props.acceptResponsibilityForImportedResources !== true) {
    problems.push(
      `${imported.map(([name]) => name).join(', ')} ${imported.length === 1 ? 'is' : 'are'} imported (not created in this app): set acceptResponsibilityForImportedResources: true to use ${imported.length === 1 ? 'it' : 'them'}, and keep ${imported.length === 1 ? 'its' : 'their'} encryption, notifications and policies right yourself`,
    );
  }
  if (problems.length > 0) throw new Error(`LambdaDeps: invalid props: ${problems.join('; ')}.`);
}

function validateProps(layerNamePrefix: string, ssmParameterPrefix: string, props: LambdaDepsProps): void {
  const problems: string[] = [];
  if (!Token.isUnresolved(layerNamePrefix) && !/^[a-zA-Z0-9_-]{1,60}$/.test(layerNamePrefix)) {
    problems.push(`layerNamePrefix "${layerNamePrefix}": use 1–60 letters, digits, - or _`);
  }
  if (!Token.isUnresolved(ssmParameterPrefix) && !/^\/([\w.-]+\/)+$/.test(ssmParameterPrefix)) {
    problems.push(
      `ssmParameterPrefix "${ssmParameterPrefix}": must start and end with / (e.g. /lambda-deps/)`,
    );
  }
  for (const account of props.layerPrincipals ?? []) {
    if (!/^\d{12}$/.test(account))
      problems.push(`layerPrincipals: "${account}" is not a 12-digit account id`);
  }
  if (props.layerOrganizationId !== undefined && !/^o-[a-z0-9]{10,32}$/.test(props.layerOrganizationId)) {
    problems.push(`layerOrganizationId "${props.layerOrganizationId}": expected o-xxxxxxxxxx`);
  }
  for (const name of props.functionsToUpdate ?? []) {
    if (!/^[a-zA-Z0-9_-]{1,64}$/.test(name))
      problems.push(`functionsToUpdate: "${name}" is not a function name`);
  }
  problems.push(...allowedVariableProblems(props.allowedVariables ?? {}));
  for (const [name, keep] of [
    ['keepEfsVersions', props.keepEfsVersions],
    ['keepLayerVersions', props.keepLayerVersions],
  ] as const) {
    if (keep !== undefined && (!Number.isInteger(keep) || keep < 1 || keep > 100)) {
      problems.push(`${name} ${keep}: use a whole number from 1 to 100`);
    }
  }
  if (problems.length > 0) throw new Error(`LambdaDeps: invalid props: ${problems.join('; ')}.`);
}

/** Names the construct, Lambda or Node.js already give a meaning to in Measure's environment. */
const RESERVED_VARIABLE = /^(AWS_|LAMBDA_|POWERTOOLS_|NODE_|_)|^(PATH|LANG|TZ|HOME|LD_LIBRARY_PATH)$/;

function allowedVariableProblems(variables: Readonly<Record<string, AllowedVariable>>): string[] {
  return Object.keys(variables).flatMap((name) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name))
      return [
        `allowedVariables: "${name}" is not a variable name (letters, digits and _, as \${NAME} takes)`,
      ];
    if (RESERVED_VARIABLE.test(name) || (PIPELINE_VARIABLES as readonly string[]).includes(name))
      return [
        `allowedVariables: "${name}" is reserved (AWS_*, LAMBDA_*, the pipeline's own settings); pick another name`,
      ];
    return [];
  });
}
