// What each handler module exports its Lambda `handler` with. The AWS adapters (and so the SDK
// clients) are imported only inside Lambda, or when a provider is first called: the local
// pipeline imports every handler module for its `createHandler` and injects local adapters, so a
// local run never loads the SDK.
import type { EnvironmentVariableName } from '../environment.ts';
import type { StepDependencies, StepDependenciesProvider } from './aws-adapters.ts';

async function loadAwsDependencies(required: readonly EnvironmentVariableName[]): Promise<StepDependencies> {
  const { awsDependencies } = await import('./aws-adapters.ts');
  return awsDependencies(process.env, required);
}

/**
 * The provider a handler module exports its `handler` with. Inside Lambda the settings are read
 * at once (awaited at the module's top level, so a missing variable fails the cold start, naming
 * it); elsewhere only on the first call, which the local pipeline never makes.
 *
 * @example
 *   export const handler = createHandler(await awsDependenciesWhenInLambda(['LAYER_NAME_PREFIX']));
 */
export async function awsDependenciesWhenInLambda(
  required: readonly EnvironmentVariableName[] = [],
): Promise<StepDependenciesProvider> {
  if (process.env.AWS_LAMBDA_FUNCTION_NAME) {
    const built = await loadAwsDependencies(required);
    return () => built;
  }
  let built: Promise<StepDependencies> | undefined;
  return () => (built ??= loadAwsDependencies(required));
}
