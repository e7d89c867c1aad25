// Builds the lambda-deps CDK app in-process: `infra/main.ts` (the `cdk` entry) and the local
// pipeline runner both call `createLambdaDepsApp`, so there is one app and one state machine.
// Synthesis needs no AWS credentials, no context lookups and no Docker.
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SKIP_BUNDLING_CONTEXT } from './constructs/lambda-defaults.ts';
import { LambdaDepsStack } from './lambda-deps-stack.ts';
import type { LambdaDepsStackProps } from './lambda-deps-stack.ts';

/** Default stack name; `submit --stack` takes it unless told otherwise. */
export const DEFAULT_STACK_NAME = 'LambdaDeps';

export interface CreateLambdaDepsAppOptions {
  /** Where `app.synth()` writes the cloud assembly. @default a fresh temp folder (CDK's own default) */
  readonly outdir?: string;
  /** Stack props (every LambdaDeps prop, plus stack name, env, nagChecks). */
  readonly props?: Partial<LambdaDepsStackProps>;
  /**
   * Inline stub functions and a placeholder build source instead of esbuild bundles and the
   * repository asset: the template is the same shape, synthesis takes about a second. For
   * tests and the local runner; never deploy such an assembly. Sets the
   * `lambda-deps:skip-bundling` context (also settable with `cdk synth -c lambda-deps:skip-bundling=true`).
   * @default false
   */
  readonly skipBundling?: boolean;
  /**
   * Run cdk-nag's AwsSolutions checks as a policy validation plugin: an unacknowledged error
   * makes `app.synth()` throw with the report, warnings are printed.
   * @default true
   */
  readonly nagChecks?: boolean;
  /**
   * CDK's built-in CloudFormation template validation. It takes most of the synth time
   * (seconds, against half a second without), so in-process callers that only need the
   * template leave it off; the `cdk` entry (infra/main.ts) turns it on.
   * @default false
   */
  readonly cloudFormationValidation?: boolean;
}

/**
 * @example
 * const { app, stack } = createLambdaDepsApp({ skipBundling: true });
 * const template = app.synth().getStackByName(stack.stackName).template;
 */
export function createLambdaDepsApp(options: CreateLambdaDepsAppOptions = {}): {
  app: App;
  stack: LambdaDepsStack;
} {
  const app = new App({
    ...(options.outdir === undefined ? {} : { outdir: options.outdir }),
    context: options.skipBundling ? { [SKIP_BUNDLING_CONTEXT]: true } : {},
    builtinCloudFormationValidation: options.cloudFormationValidation ?? false,
  });
  if (options.nagChecks ?? true)
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  const { stackName, ...props } = options.props ?? {};
  const stack = new LambdaDepsStack(app, stackName ?? DEFAULT_STACK_NAME, {
    description: 'lambda-deps: Python dependency sets as Lambda layers, an EFS tree or an ECR image',
    ...props,
    ...(stackName === undefined ? {} : { stackName }),
  });
  return { app, stack };
}
