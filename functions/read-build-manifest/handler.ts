// ReadBuildManifest (Lambda): reads what the build wrote and decides the route. A build
// whose verification or smoke import failed stops here, so nothing wrong is ever published.
import type { Logger } from '@aws-lambda-powertools/logger';
import { z } from 'zod';
import {
  awsDependenciesWhenInLambda,
  type StepDependencies,
  type StepDependenciesProvider,
} from '../adapters/aws/aws-adapters.ts';
import { isPublishable } from '../core/route/choose-route.ts';
import { createStepHandler } from '../middleware/step-handler.ts';
import { BuildRejectedError } from '../pipeline-errors.ts';
import { measureOutputSchema, readManifest, type RouteOutput } from '../pipeline-state.ts';

const inputSchema = z.looseObject({ measure: measureOutputSchema });

async function readBuildManifestStep(
  input: z.output<typeof inputSchema>,
  { adapters }: StepDependencies,
  logger: Logger,
): Promise<RouteOutput> {
  const { manifestKey, lockHash } = input.measure;
  const manifest = await readManifest(adapters.store, manifestKey);
  if (manifest.lockHash !== lockHash) {
    throw new BuildRejectedError(
      `The build manifest ${manifestKey} is for lock ${manifest.lockHash}, not ${lockHash}.`,
      {
        hint: 'Artifacts are named by lock hash; something else wrote under this prefix. Delete it and run again.',
      },
    );
  }
  const problems = [
    ...manifest.verification.problems.map(
      (problem) => `${problem.package ?? 'unknown package'}: ${problem.message}`,
    ),
    ...manifest.smokeImport.failures.map(
      (failure) => `${failure.package}: import ${failure.module} failed: ${failure.error}`,
    ),
  ];
  const ok = isPublishable(manifest);
  if (!ok) {
    throw new BuildRejectedError(
      `The build of ${input.measure.name} did not pass its checks: ${problems.join('; ') || 'no details'}.`,
      {
        packageName:
          manifest.verification.problems[0]?.package ?? manifest.smokeImport.failures[0]?.package ?? null,
        hint: 'Nothing was published. Pin a version with wheels for the target, or drop the package.',
      },
    );
  }
  logger.info('build manifest read', { strategy: manifest.strategy });
  return { strategy: manifest.strategy, manifestKey, ok };
}

export function createHandler(provide: StepDependenciesProvider, logger?: Logger) {
  return createStepHandler(
    { step: 'read-build-manifest', inputSchema, run: readBuildManifestStep },
    provide,
    logger,
  );
}

export const handler = createHandler(awsDependenciesWhenInLambda());
