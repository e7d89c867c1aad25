// The package root (`import { LambdaDeps } from 'lambda-deps'`): the construct and its props, the
// ready-made stack, and the app factory the `cdk` entry uses.
export { LambdaDeps, STEP_ENTRIES } from './constructs/lambda-deps.ts';
export type { LambdaDepsProps } from './constructs/lambda-deps.ts';
export { LambdaDepsStack, STACK_OUTPUTS, stackParameterName } from './lambda-deps-stack.ts';
export type { LambdaDepsStackProps, StackOutputKey } from './lambda-deps-stack.ts';
export { createLambdaDepsApp, DEFAULT_STACK_NAME } from './app.ts';
export type { CreateLambdaDepsAppOptions } from './app.ts';
export { FUNCTION_RUNTIME, SKIP_BUNDLING_CONTEXT } from './constructs/lambda-defaults.ts';
export {
  DEFAULT_SSM_PARAMETER_PREFIX,
  dependencySetFileSystem,
  dependencySetImageCode,
  dependencySetImageUri,
  dependencySetLayerArns,
  efsPythonPathParameterName,
  imageParameterName,
  layersParameterName,
  useDependencySetEfs,
  useDependencySetLayers,
} from './dependency-set-wiring.ts';
export type { DependencySetImageOptions, DependencySetReference } from './dependency-set-wiring.ts';
export type { AllowedVariable } from './constructs/lambda-deps.ts';
