// ReadBuildManifest (Lambda): reads what the build wrote and decides the route. A build
// whose verification or smoke import failed stops here, so nothing wrong is ever published.
import type { Logger } from '@aws-lambda-powertools/logger';
import { z } from 'zod';
import type { StepDependencies, StepDependenciesProvider } from '../adapters/aws/aws-adapters.ts';
import { awsDependenciesWhenInLambda } from '../adapters/aws/lambda-dependencies.ts';
import { isPublishable } from '../core/route/choose-route.ts';
import { createStepHandler } from '../middleware/step-handler.ts';
import { BuildRejectedError } from '../pipeline-errors.ts';
import { measureOutputSchema, readManifest, type RouteOutput } from '../pipeline-state.ts';

const inputSchema = z.looseObject({ measure: measureOutputSchema });

async function readBuildManifestStep(
  input: z.output<typeof inputSchema>,
  { adapters, settings }: StepDependencies,
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
  if (!isPublishable(manifest)) {
    throw new BuildRejectedError(
      `The build of ${input.measure.name} did not pass its checks: ${problems.join('; ') || 'no details'}.`,
      {
        packageName:
          manifest.verification.problems[0]?.package ?? manifest.smokeImport.failures[0]?.package ?? null,
        hint: 'Nothing was published. Pin a version with wheels for the target, or drop the package.',
      },
    );
  }
  // A skipped smoke import proves nothing: in AWS the build runs on the set's architecture,
  // so it can only mean the build host was wrong. A local host may lack the target's
  // interpreter; there the route says the import is unverified instead of calling it ok.
  if (!manifest.smokeImport.ran) {
    const unverified = `smoke import did not run: ${manifest.smokeImport.reason ?? 'no reason given'}`;
    if (!settings.allowSkippedSmokeImport) {
      throw new BuildRejectedError(`The build of ${input.measure.name} is not verified: ${unverified}.`, {
        hint: 'Build on a host of the target architecture with its Python (the state machine picks one per set).',
      });
    }
    logger.warn('delivering without a smoke import', { unverified });
    return { strategy: manifest.strategy, manifestKey, ok: false, unverified };
  }
  logger.info('build manifest read', { strategy: manifest.strategy });
  return { strategy: manifest.strategy, manifestKey, ok: true };
}

export function createHandler(provide: StepDependenciesProvider, logger?: Logger) {
  return createStepHandler(
    { step: 'read-build-manifest', inputSchema, run: readBuildManifestStep },
    provide,
    logger,
  );
}

export const handler = createHandler(await awsDependenciesWhenInLambda());
