// The one place where every lambda-deps Lambda gets its runtime, architecture, bundling,
// tracing and log group, so the six pipeline steps and the start-execution function cannot
// drift apart. `skipBundling` swaps the esbuild bundle for an inline stub: tests and the
// local pipeline runner only need the template, not the code, and esbuild costs seconds.
// Where the code comes from: running from this repository's TypeScript source, each function is
// bundled from source at synth; running from the published package (compiled JavaScript), the
// bundles made at `prepack` (dist/assets/<step>/index.mjs) are used as they are, so a consumer's
// synth needs neither esbuild nor Docker nor this repository's lock file.
import { join } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { CfnResource } from 'aws-cdk-lib';
import { Architecture, Code, Function as LambdaFunction, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import type { FunctionProps } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { HANDLER_ENTRY_METADATA } from '../state-machine-definition.ts';
import { prebuiltAssetDir, REPOSITORY_ROOT, RUNNING_FROM_SOURCE } from './handler-modules.ts';

/**
 * What the CodeBuild source asset keeps of the installed package (git-ignore syntax): the CLI
 * bundle, its launcher, the buildspec and package.json. The bundle carries its dependencies and
 * there is no lock file, so the buildspec installs nothing.
 */
export const PREBUILT_BUILD_SOURCE_EXCLUDES: readonly string[] = [
  '/*',
  '!/bin/',
  '!/buildspecs/',
  '!/package.json',
  '!/dist/',
  '/dist/*',
  '!/dist/cli/',
  '!/dist/bundle-inputs.json',
];

/** Context key that turns bundling off for a whole app: `cdk synth -c lambda-deps:skip-bundling=true`. */
export const SKIP_BUNDLING_CONTEXT = 'lambda-deps:skip-bundling';

export { HANDLER_ENTRY_METADATA };

/** Runtime of every lambda-deps function (the brief pins Node 22; esbuild targets the same). */
export const FUNCTION_RUNTIME = Runtime.NODEJS_22_X;

/** What a stub function does when it is invoked by mistake in AWS. */
const STUB_CODE =
  "exports.handler = async () => { throw new Error('lambda-deps: this function was synthesized with skipBundling; deploy without it'); };";

export interface PipelineFunctionOptions {
  /** Handler file relative to the repository root, e.g. `functions/measure/handler.ts`; it exports `handler`. */
  readonly entry: string;
  readonly description: string;
  readonly environment: Record<string, string>;
  /** @default 30 seconds */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** @default RemovalPolicy.DESTROY (a log group only holds logs) */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** Use an inline stub instead of the esbuild bundle. @default false */
  readonly skipBundling?: boolean;
  /** Extra settings (VPC, file system, ephemeral storage) passed through unchanged. */
  readonly extra?: Partial<Omit<FunctionProps, 'code' | 'handler' | 'runtime'>>;
}

/** Whether an app or construct asked to skip bundling through context. */
export function skipBundlingFromContext(scope: Construct): boolean {
  const value: unknown = scope.node.tryGetContext(SKIP_BUNDLING_CONTEXT);
  return value === true || value === 'true';
}

/**
 * A Lambda function with the shared defaults: nodejs22.x on arm64, X-Ray tracing, its own
 * log group with retention, and an ESM bundle made by the local esbuild (never Docker).
 */
export function createPipelineFunction(
  scope: Construct,
  id: string,
  options: PipelineFunctionOptions,
): LambdaFunction {
  const logGroup = new LogGroup(scope, `${id}Logs`, {
    retention: options.logRetention ?? RetentionDays.ONE_MONTH,
    removalPolicy: options.logRemovalPolicy ?? RemovalPolicy.DESTROY,
  });
  const shared = {
    ...options.extra,
    description: options.description,
    runtime: FUNCTION_RUNTIME,
    architecture: Architecture.ARM_64,
    tracing: Tracing.ACTIVE,
    timeout: options.timeout ?? Duration.seconds(30),
    memorySize: options.memorySize ?? 512,
    logGroup,
    environment: {
      ...options.environment,
      // Source maps make stack traces point at the TypeScript lines.
      NODE_OPTIONS: '--enable-source-maps',
    },
  };
  const fn = options.skipBundling
    ? new LambdaFunction(scope, id, { ...shared, code: Code.fromInline(STUB_CODE), handler: 'index.handler' })
    : RUNNING_FROM_SOURCE
      ? bundledFromSource(scope, id, shared, options.entry)
      : new LambdaFunction(scope, id, {
          ...shared,
          code: Code.fromAsset(prebuiltAssetDir(options.entry)),
          handler: 'index.handler',
        });
  (fn.node.defaultChild as CfnResource).addMetadata(HANDLER_ENTRY_METADATA, options.entry);
  return fn;
}

/** esbuild on this machine (never Docker), from the repository's source and lock file. */
function bundledFromSource(
  scope: Construct,
  id: string,
  shared: Omit<FunctionProps, 'code' | 'handler'>,
  entry: string,
): LambdaFunction {
  return new NodejsFunction(scope, id, {
    ...shared,
    entry: join(REPOSITORY_ROOT, entry),
    handler: 'handler',
    projectRoot: REPOSITORY_ROOT,
    depsLockFilePath: join(REPOSITORY_ROOT, 'package-lock.json'),
    bundling: {
      forceDockerBundling: false,
      format: OutputFormat.ESM,
      minify: true,
      sourceMap: true,
      target: 'node22',
      mainFields: ['module', 'main'],
      // Some bundled dependencies are CommonJS and call require(); ESM has none.
      banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
  });
}
