// The CodeBuild project behind the Build state: it runs `buildspecs/build.yml` (or build-al2.yml)
// from a source asset holding just what `bin/lambda-deps` needs (bin/, functions/, buildspecs/,
// the package files), on the image the state machine picks per set (BUILD_HOSTS), unprivileged
// (images are assembled over the registry API, never with Docker). The state machine picks the compute size per build (ComputeTypeOverride); the
// project's own size is only the fallback.
import { Duration, IgnoreMode, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import {
  BuildEnvironmentVariableType,
  BuildSpec,
  ComputeType,
  LinuxArmBuildImage,
  LinuxBuildImage,
  Project,
  Source,
} from 'aws-cdk-lib/aws-codebuild';
import type { CfnProject } from 'aws-cdk-lib/aws-codebuild';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { Key } from 'aws-cdk-lib/aws-kms';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { Architecture } from '../../functions/core/shared/types.ts';
import { ARTIFACT_KEYS } from './dependency-artifact-bucket.ts';
import { REPOSITORY_ROOT, RUNNING_FROM_SOURCE } from './handler-modules.ts';
import { PREBUILT_BUILD_SOURCE_EXCLUDES } from './lambda-defaults.ts';
import { grantObjectPrefixes, renderForNag } from './scoped-policy.ts';

/** The buildspec, relative to the source root (the build engineer owns the file). */
export const BUILDSPEC_PATH = 'buildspecs/build.yml';

/** The buildspec of python3.10/3.11 sets on x86_64, run on AL2_BUILD_IMAGES (see its header). */
export const AL2_BUILDSPEC_PATH = 'buildspecs/build-al2.yml';

/**
 * AWS SAM's build images of the runtimes that run on Amazon Linux 2 (glibc 2.26): each is built
 * FROM the Lambda Python base image of its version, so what is compiled there links against the
 * function's own glibc and CPython (see BUILD_HOSTS in dependency-state-machine.ts for the choice).
 */
export const AL2_BUILD_IMAGES = {
  'python3.10': 'public.ecr.aws/sam/build-python3.10:latest',
  'python3.11': 'public.ecr.aws/sam/build-python3.11:latest',
} as const;

/** CodeBuild's Amazon Linux 2023 images (Python 3.9–3.14), per architecture. */
export const BUILD_IMAGES = {
  x86_64: 'aws/codebuild/amazonlinux-x86_64-standard:5.0',
  arm64: 'aws/codebuild/amazonlinux-aarch64-standard:3.0',
} as const;

/**
 * Repository files the build needs; everything else (node_modules, tests, cdk.out) stays out.
 * Git-ignore syntax: ignore all of the top level, then let the needed entries back in.
 */
const SOURCE_EXCLUDES = [
  '/*',
  '!/bin/',
  '!/functions/',
  '!/buildspecs/',
  '!/package.json',
  '!/package-lock.json',
  '!/tsconfig.json',
];

export interface DependencyBuildProjectProps {
  readonly artifactBucket: IBucket;
  /**
   * CPU of the build host. Smoke-imports run native code, so this should match the
   * architecture of the sets built most often.
   * @default 'arm64'
   */
  readonly architecture?: Architecture;
  /** Fallback size when a build does not override it. @default ComputeType.SMALL */
  readonly computeType?: ComputeType;
  /** @default Duration.minutes(60) */
  readonly timeout?: Duration;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /**
   * Stage one small file instead of the repository files, for tests and local runs that only
   * need the template (staging copies the source and costs time on every synth).
   * @default false
   */
  readonly skipSourceAsset?: boolean;
}

export class DependencyBuildProject extends Construct {
  readonly project: Project;
  /** Encrypts the project's artifacts and logs at rest. */
  readonly encryptionKey: Key;

  constructor(scope: Construct, id: string, props: DependencyBuildProjectProps) {
    super(scope, id);
    const architecture = props.architecture ?? 'arm64';

    const sourceAsset = new Asset(this, 'Source', {
      path: props.skipSourceAsset ? `${REPOSITORY_ROOT}/package.json` : REPOSITORY_ROOT,
      // The installed package ships the CLI prebuilt (lambda-defaults.ts); this repository ships its source.
      exclude: props.skipSourceAsset
        ? []
        : RUNNING_FROM_SOURCE
          ? SOURCE_EXCLUDES
          : [...PREBUILT_BUILD_SOURCE_EXCLUDES],
      ignoreMode: IgnoreMode.GIT,
    });

    this.encryptionKey = new Key(this, 'Key', {
      description: 'lambda-deps build project',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.project = new Project(this, 'Project', {
      description: 'lambda-deps: installs, builds, slims, verifies and packs one locked dependency set',
      source: Source.s3({ bucket: sourceAsset.bucket, path: sourceAsset.s3ObjectKey }),
      buildSpec: BuildSpec.fromSourceFilename(BUILDSPEC_PATH),
      environment: {
        buildImage:
          architecture === 'arm64'
            ? LinuxArmBuildImage.fromCodeBuildImageId(BUILD_IMAGES.arm64)
            : LinuxBuildImage.fromCodeBuildImageId(BUILD_IMAGES.x86_64),
        computeType: props.computeType ?? ComputeType.SMALL,
        privileged: false,
        environmentVariables: {
          LAMBDA_DEPS_STORE: {
            type: BuildEnvironmentVariableType.PLAINTEXT,
            value: `s3://${props.artifactBucket.bucketName}`,
          },
        },
      },
      encryptionKey: this.encryptionKey,
      timeout: props.timeout ?? Duration.minutes(60),
      logging: { cloudWatch: { logGroup } },
    });

    grantObjectPrefixes(this, this.project.role, props.artifactBucket, {
      read: [ARTIFACT_KEYS.locks, ARTIFACT_KEYS.artifacts],
      write: [ARTIFACT_KEYS.artifacts],
    });
    this.acknowledgeGeneratedGrants();
  }

  /** The statements CDK itself writes for a project (logs, reports, key, source asset). */
  private acknowledgeGeneratedGrants(): void {
    const stack = Stack.of(this);
    const projectId = stack.resolve((this.project.node.defaultChild as CfnProject).logicalId) as string;
    // cdk-nag names findings with the values the template holds: `<AWS::Region>` for an
    // environment-agnostic stack, `eu-west-1` once `cdk deploy` gives the stack its environment.
    const at = `${renderForNag(stack.resolve(stack.region))}:${renderForNag(stack.resolve(stack.account))}`;
    const findings: Record<string, string> = {
      'Action::s3:GetObject*':
        'CDK grant to read the build source asset (one object in the CDK asset bucket).',
      'Action::s3:GetBucket*':
        'CDK grant to read the build source asset (one object in the CDK asset bucket).',
      'Action::s3:List*': 'CDK grant to read the build source asset (one object in the CDK asset bucket).',
      'Action::kms:ReEncrypt*': "CDK grant on the project's own encryption key only.",
      'Action::kms:GenerateDataKey*': "CDK grant on the project's own encryption key only.",
      [`Resource::arn:<AWS::Partition>:logs:${at}:log-group:/aws/codebuild/<${projectId}>:*`]:
        "Log streams of this project's own default log group.",
      [`Resource::arn:<AWS::Partition>:codebuild:${at}:report-group/<${projectId}>-*`]:
        'Report groups named after this project only.',
    };
    for (const [finding, reason] of Object.entries(findings)) {
      Validations.of(this.project).acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason });
    }
  }
}
