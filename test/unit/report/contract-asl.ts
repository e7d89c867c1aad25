// A hand-written ASL in the shape of the pipeline contract, for drawing tests that must not
// depend on synthesizing the CDK app.
import type { AslDefinition } from '../../../functions/core/report/state-machine-graph.ts';

const task = (next: string, resultPath: string) => ({
  Type: 'Task',
  Resource: 'arn:aws:states:::lambda:invoke',
  ResultPath: resultPath,
  Retry: [{ ErrorEquals: ['Lambda.ServiceException'], MaxAttempts: 3 }],
  Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'ReportFailure' }],
  Next: next,
});

export const contractAsl: AslDefinition = {
  StartAt: 'NormalizeInput',
  States: {
    NormalizeInput: {
      Type: 'Choice',
      Choices: [{ Variable: '$.detail.object.key', IsPresent: true, Next: 'FromS3Event' }],
      Default: 'FromConsole',
    },
    FromS3Event: { Type: 'Pass', Next: 'Measure' },
    FromConsole: { Type: 'Pass', Next: 'Measure' },
    Measure: task('IsCached', '$.measure'),
    IsCached: {
      Type: 'Choice',
      Choices: [{ Variable: '$.measure.cached', BooleanEquals: true, Next: 'Report' }],
      Default: 'Build',
    },
    Build: {
      ...task('ReadBuildManifest', '$.build'),
      Resource: 'arn:aws:states:::codebuild:startBuild.sync',
    },
    ReadBuildManifest: task('Route', '$.route'),
    Route: {
      Type: 'Choice',
      Choices: [
        { Variable: '$.route.strategy', StringEquals: 'layers', Next: 'PublishLayers' },
        { Variable: '$.route.strategy', StringEquals: 'efs', Next: 'SyncEfs' },
        { Variable: '$.route.strategy', StringEquals: 'image', Next: 'PushImage' },
      ],
    },
    PublishLayers: task('Report', '$.delivery'),
    SyncEfs: task('Report', '$.delivery'),
    PushImage: task('Report', '$.delivery'),
    Report: task('Done', '$.report'),
    Done: { Type: 'Succeed' },
    ReportFailure: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Next: 'Failed' },
    Failed: { Type: 'Fail' },
  },
};
