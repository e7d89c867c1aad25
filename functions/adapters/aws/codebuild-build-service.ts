// CodeBuild in AWS, read on the failure path: BatchGetBuilds gives the phase that failed, its
// message and the build's log link, instead of the raw `.sync` error text.
import { BatchGetBuildsCommand, CodeBuildClient } from '@aws-sdk/client-codebuild';
import type { BuildDetails, BuildService } from '../ports.ts';

export class CodeBuildBuildService implements BuildService {
  constructor(private readonly client: CodeBuildClient = new CodeBuildClient({})) {}

  async describeBuild(buildId: string): Promise<BuildDetails | null> {
    const response = await this.client.send(new BatchGetBuildsCommand({ ids: [buildId] }));
    const build = response.builds?.[0];
    if (!build) return null;
    const failed = (build.phases ?? []).find(
      (phase) => phase.phaseStatus !== undefined && phase.phaseStatus !== 'SUCCEEDED',
    );
    return {
      buildId,
      status: build.buildStatus ?? 'UNKNOWN',
      failedPhase: failed
        ? {
            name: failed.phaseType ?? 'UNKNOWN',
            status: failed.phaseStatus ?? 'UNKNOWN',
            message: (failed.contexts ?? [])
              .map((context) => [context.statusCode, context.message].filter(Boolean).join(': '))
              .filter(Boolean)
              .join('; '),
          }
        : null,
      phases: (build.phases ?? []).map((phase) => ({
        name: phase.phaseType ?? 'UNKNOWN',
        status: phase.phaseStatus ?? 'IN_PROGRESS',
        durationSeconds: phase.durationInSeconds ?? null,
      })),
      logLink: build.logs?.deepLink ?? null,
    };
  }
}
