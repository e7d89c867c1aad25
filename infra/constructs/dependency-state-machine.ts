// The pipeline itself, defined once: the state names, paths and error handling here are the
// contract the handlers and the local runner follow (design.md). Standard type (only Standard
// waits on `codebuild:startBuild.sync`), every execution logged in full and traced. Plain
// JSONPath only: no JSONata, Assign or ItemReader, which the local engine would ignore.
import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type { CfnElement } from 'aws-cdk-lib';
import type { IProject } from 'aws-cdk-lib/aws-codebuild';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  Choice,
  Condition,
  CustomState,
  DefinitionBody,
  Fail,
  JitterType,
  LogLevel,
  Pass,
  Result,
  StateMachine,
  StateMachineType,
  Succeed,
} from 'aws-cdk-lib/aws-stepfunctions';
import type { RetryProps } from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { TaskInput } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  AL2_BUILD_IMAGES,
  AL2_BUILDSPEC_PATH,
  BUILD_IMAGES,
  BUILDSPEC_PATH,
} from './dependency-build-project.ts';

/**
 * The Lambda-served steps, by their handler folder under `functions/`. A delivery step left out
 * (its route is not deployed) becomes a state that reports the set as failed, naming the route.
 */
export interface PipelineFunctions {
  readonly measure: IFunction;
  readonly readBuildManifest: IFunction;
  readonly publishLayers?: IFunction;
  readonly syncEfs?: IFunction;
  readonly pushImage?: IFunction;
  /** Imports the published artifact on the target before anything is switched to it. */
  readonly probe: IFunction;
  readonly report: IFunction;
}

/** Error name of a set whose route is not deployed in this stack. */
export const ROUTE_NOT_DEPLOYED_ERROR = 'RouteNotDeployed';

/** State names of the contract, in the order an execution meets them. */
export const STATE_NAMES = [
  'NormalizeInput',
  'FromS3Event',
  'FromConsole',
  'Measure',
  'IsCached',
  'BuildHost',
  'OnX86_64',
  'OnArm64',
  'OnX86_64Python310',
  'OnX86_64Python311',
  'Build',
  'ReadBuildManifest',
  'Route',
  'PublishLayers',
  'SyncEfs',
  'PushImage',
  'Probe',
  'Switch',
  'SwitchLayers',
  'SwitchEfs',
  'Report',
  'Done',
  'ReportFailure',
  'FailureUnreported',
  'Failed',
] as const;

/**
 * Errors of SyncEfs worth another try besides the transient ones: another sync of the same set
 * moved its staging folder away, and nothing was switched.
 */
export const SYNC_RETRIED_ERRORS = ['ConcurrentSyncError'];

/**
 * Where a set is built, per target CPU and OS (ImageOverride, BuildspecOverride). python3.12 and
 * later run on Amazon Linux 2023: CodeBuild's own AL2023 images. python3.10 and 3.11 run on
 * Amazon Linux 2 (glibc 2.26), so a native sdist built on AL2023 (glibc 2.34) may not load there:
 * on x86_64 they build on AWS SAM's build image of the runtime, built FROM the Lambda Python base
 * image (the function's own OS, CPython and libraries, plus gcc). CodeBuild's AL2 images are not
 * used: they offer Node.js 16 at most and no python3.10/3.11 on aarch64. arm64 sets of 3.10/3.11
 * stay on AL2023 because no Node.js 22 build runs on glibc 2.26 for aarch64; there a native sdist
 * is refused by the glibc check of the built wheel (its message names the symbol), and wheels
 * (manylinux) are unaffected.
 */
export const BUILD_HOSTS = {
  x86_64: { environmentType: 'LINUX_CONTAINER', image: BUILD_IMAGES.x86_64, buildspec: BUILDSPEC_PATH },
  arm64: { environmentType: 'ARM_CONTAINER', image: BUILD_IMAGES.arm64, buildspec: BUILDSPEC_PATH },
  'x86_64-python3.10': {
    environmentType: 'LINUX_CONTAINER',
    image: AL2_BUILD_IMAGES['python3.10'],
    buildspec: AL2_BUILDSPEC_PATH,
  },
  'x86_64-python3.11': {
    environmentType: 'LINUX_CONTAINER',
    image: AL2_BUILD_IMAGES['python3.11'],
    buildspec: AL2_BUILDSPEC_PATH,
  },
} as const;

/** The state that selects each build host (a Pass state, named in the execution history). */
export const BUILD_HOST_STATES: Readonly<Record<keyof typeof BUILD_HOSTS, string>> = {
  x86_64: 'OnX86_64',
  arm64: 'OnArm64',
  'x86_64-python3.10': 'OnX86_64Python310',
  'x86_64-python3.11': 'OnX86_64Python311',
};

/** Errors worth another try: the Lambda service's own, and the handlers' `TransientError`. */
export const TRANSIENT_LAMBDA_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'TransientError',
];

/**
 * CodeBuild API errors when starting a build (throttling, concurrent-build limit). A build
 * that ran and FAILED is `States.TaskFailed` and is not retried: the same lock fails the same way.
 */
export const TRANSIENT_BUILD_ERRORS = [
  'CodeBuild.CodeBuildException',
  'CodeBuild.AccountLimitExceededException',
];

/** Error name of the final Fail state; its cause is the failure report's `reason`. */
export const FAILURE_ERROR = 'LambdaDepsFailed';

/** Build environment variables taken from the Measure result. */
const BUILD_INPUTS: Readonly<Record<string, string>> = {
  LOCK_KEY: '$.measure.lockKey',
  ARTIFACT_PREFIX: '$.measure.artifactPrefix',
  STRATEGY: '$.measure.strategy',
  PYTHON_VERSION: '$.measure.pythonVersion',
};

export interface DependencyStateMachineProps {
  readonly functions: PipelineFunctions;
  readonly buildProject: IProject;
  /** Longest an execution may run, build included. @default Duration.hours(2) */
  readonly timeout?: Duration;
  /**
   * Longest the Build state waits; keep it above the project's own timeout so CodeBuild ends
   * the build first and reports why.
   * @default Duration.minutes(70)
   */
  readonly buildStateTimeout?: Duration;
  /** Attempts after the first for transient errors. @default 3 */
  readonly transientRetryAttempts?: number;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
}

export class DependencyStateMachine extends Construct {
  readonly stateMachine: StateMachine;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: DependencyStateMachineProps) {
    super(scope, id);
    const { functions } = props;
    const transientRetry: RetryProps = {
      errors: TRANSIENT_LAMBDA_ERRORS,
      interval: Duration.seconds(2),
      maxAttempts: props.transientRetryAttempts ?? 3,
      backoffRate: 2,
      jitterStrategy: JitterType.FULL,
    };

    // The handler returns a plain object; payloadResponseOnly puts exactly that at resultPath.
    const lambdaStep = (
      name: string,
      fn: IFunction,
      resultPath: string,
      payload?: TaskInput,
    ): LambdaInvoke => {
      const task = new LambdaInvoke(this, name, {
        stateName: name,
        lambdaFunction: fn,
        payloadResponseOnly: true,
        retryOnServiceExceptions: false,
        resultPath,
        ...(payload ? { payload } : {}),
      });
      task.addRetry(transientRetry);
      return task;
    };

    const failed = new Fail(this, 'Failed', {
      stateName: 'Failed',
      error: FAILURE_ERROR,
      // The report handler's `reason` is the sentence a person can act on, not "Unknown".
      causePath: '$.report.reason',
    });
    // If the failure report itself cannot be written, the execution still fails with the
    // original error and why the report failed, never loops back into reporting.
    const reportFailure = lambdaStep('ReportFailure', functions.report, '$.report');
    reportFailure.next(failed);
    const failureUnreported = new Pass(this, 'FailureUnreported', {
      stateName: 'FailureUnreported',
      parameters: {
        'reason.$':
          "States.Format('{} (the failure report could not be written: {}: {})', $.error.Cause, $.reportError.Error, $.reportError.Cause)",
      },
      resultPath: '$.report',
    }).next(failed);
    reportFailure.addCatch(failureUnreported, { errors: ['States.ALL'], resultPath: '$.reportError' });

    const catchToFailureReport = { errors: ['States.ALL'], resultPath: '$.error' };
    const step = (name: string, fn: IFunction, resultPath: string, payload?: TaskInput): LambdaInvoke => {
      const task = lambdaStep(name, fn, resultPath, payload);
      task.addCatch(reportFailure, catchToFailureReport);
      return task;
    };

    const measure = step('Measure', functions.measure, '$.measure');
    const readBuildManifest = step('ReadBuildManifest', functions.readBuildManifest, '$.route');
    // Same state name either way, so the contract's states all exist.
    const delivery = (name: string, fn: IFunction | undefined, route: string): LambdaInvoke | Pass => {
      if (fn) return step(name, fn, '$.delivery');
      const notDeployed = new Pass(this, name, {
        stateName: name,
        result: Result.fromObject({
          Error: ROUTE_NOT_DEPLOYED_ERROR,
          Cause: `The set needs the ${route} route, which this stack does not deploy (LambdaDeps routes.${route} is false). Deploy the route, or force another one with policy.forceStrategy.`,
        }),
        resultPath: '$.error',
      });
      notDeployed.next(reportFailure);
      return notDeployed;
    };
    const publishLayers = delivery('PublishLayers', functions.publishLayers, 'layers');
    const syncEfs = delivery('SyncEfs', functions.syncEfs, 'efs');
    if (syncEfs instanceof LambdaInvoke) syncEfs.addRetry({ ...transientRetry, errors: SYNC_RETRIED_ERRORS });
    const pushImage = delivery('PushImage', functions.pushImage, 'image');
    const report = step('Report', functions.report, '$.report');
    report.next(new Succeed(this, 'Done', { stateName: 'Done' }));

    // CustomState: CodeBuildStartBuild cannot set ComputeTypeOverride. Its construct id is
    // its state name.
    const build = new CustomState(this, 'Build', {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${Aws.PARTITION}:states:::codebuild:startBuild.sync`,
        Parameters: {
          ProjectName: props.buildProject.projectName,
          // Measure chooses SMALL/MEDIUM/LARGE from the measured size of the set.
          'ComputeTypeOverride.$': '$.measure.computeType',
          // Built, verified and smoke-imported on the set's own CPU (BuildHost).
          'EnvironmentTypeOverride.$': '$.buildHost.environmentType',
          'ImageOverride.$': '$.buildHost.image',
          // The SAM images are public, not CodeBuild curated: CodeBuild pulls them with its own credentials.
          ImagePullCredentialsTypeOverride: 'CODEBUILD',
          'BuildspecOverride.$': '$.buildHost.buildspec',
          EnvironmentVariablesOverride: Object.entries(BUILD_INPUTS).map(([name, path]) => ({
            Name: name,
            Type: 'PLAINTEXT',
            'Value.$': path,
          })),
        },
        ResultSelector: { 'buildId.$': '$.Build.Id', 'status.$': '$.Build.BuildStatus' },
        ResultPath: '$.build',
        TimeoutSeconds: (props.buildStateTimeout ?? Duration.minutes(70)).toSeconds(),
      },
    })
      .addRetry({ ...transientRetry, errors: TRANSIENT_BUILD_ERRORS, interval: Duration.seconds(10) })
      .addCatch(reportFailure, catchToFailureReport);

    const route = new Choice(this, 'Route', { stateName: 'Route' })
      .when(Condition.stringEquals('$.route.strategy', 'layers'), publishLayers)
      .when(Condition.stringEquals('$.route.strategy', 'efs'), syncEfs)
      .when(Condition.stringEquals('$.route.strategy', 'image'), pushImage);
    // Publish, then Probe, then Switch: nothing reads an artifact the Probe has not imported.
    const probe = step('Probe', functions.probe, '$.probe');
    for (const state of [publishLayers, syncEfs, pushImage])
      if (state instanceof LambdaInvoke) state.next(probe);
    probe.next(this.switchStates(functions, step, report));
    build.next(readBuildManifest);
    readBuildManifest.next(route);

    const buildOn = (host: keyof typeof BUILD_HOSTS): Pass => {
      const name = BUILD_HOST_STATES[host];
      const pass = new Pass(this, name, {
        stateName: name,
        result: Result.fromObject({ ...BUILD_HOSTS[host] }),
        resultPath: '$.buildHost',
      });
      pass.next(build);
      return pass;
    };
    // A custom target (python + glibc) has no runtime: it builds on AL2023 like 3.12+.
    const onRuntime = (runtime: string): Condition =>
      Condition.and(
        Condition.isPresent('$.measure.runtime'),
        Condition.stringEquals('$.measure.runtime', runtime),
      );
    const buildHost = new Choice(this, 'BuildHost', { stateName: 'BuildHost' })
      .when(Condition.stringEquals('$.measure.architecture', 'arm64'), buildOn('arm64'))
      .when(onRuntime('python3.10'), buildOn('x86_64-python3.10'))
      .when(onRuntime('python3.11'), buildOn('x86_64-python3.11'))
      .otherwise(buildOn('x86_64'));

    // A lock built before skips only the build: every delivery brings the set (by name) to
    // what was asked, so a second set name or a rollback to an earlier file is delivered too.
    const isCached = new Choice(this, 'IsCached', { stateName: 'IsCached' })
      .when(Condition.booleanEquals('$.measure.cached', true), readBuildManifest)
      .otherwise(buildHost);
    measure.next(isCached);

    const normalizeInput = new Choice(this, 'NormalizeInput', { stateName: 'NormalizeInput' })
      .when(
        Condition.isPresent('$.detail.object.key'),
        new Pass(this, 'FromS3Event', {
          stateName: 'FromS3Event',
          parameters: { source: 's3', 'input.$': '$', 'executionName.$': '$$.Execution.Name' },
        }).next(measure),
      )
      .otherwise(
        new Pass(this, 'FromConsole', {
          stateName: 'FromConsole',
          parameters: { source: 'console', 'input.$': '$', 'executionName.$': '$$.Execution.Name' },
        }).next(measure),
      );

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      definitionBody: DefinitionBody.fromChainable(normalizeInput),
      stateMachineType: StateMachineType.STANDARD,
      timeout: props.timeout ?? Duration.hours(2),
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: LogLevel.ALL, includeExecutionData: true },
    });

    // CustomState grants nothing by itself: what startBuild.sync needs, on this project only.
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({
        actions: ['codebuild:StartBuild', 'codebuild:StopBuild', 'codebuild:BatchGetBuilds'],
        resources: [props.buildProject.projectArn],
      }),
    );
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [
          Stack.of(this).formatArn({
            service: 'events',
            resource: 'rule',
            resourceName: 'StepFunctionsGetEventForCodeBuildStartBuildRule',
          }),
        ],
      }),
    );
    this.acknowledgeReviewedFindings(functions);
  }

  private acknowledgeReviewedFindings(functions: PipelineFunctions): void {
    const stack = Stack.of(this);
    Validations.of(this.stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'CloudWatch Logs delivery (logs:CreateLogDelivery and friends) and X-Ray actions support no resource scoping; test/infra checks every Resource "*" against this list.',
    });
    for (const fn of new Set(Object.values(functions))) {
      const child = fn.node.defaultChild as CfnElement | undefined;
      if (!child) continue;
      const logicalId = stack.resolve(child.logicalId) as string;
      Validations.of(this.stateMachine).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>:*]`,
        reason: 'Versions and aliases of a function this state machine invokes (CDK LambdaInvoke grant).',
      });
    }
  }

  /**
   * Switch: the same delivery function again, told `phase: switch`, points the set at what the
   * Probe imported (the SSM parameter and functions, or EFS `current`). An image has nothing to
   * move (its tag names one lock), so its switch is the Report's Ready event.
   */
  private switchStates(
    functions: PipelineFunctions,
    step: (name: string, fn: IFunction, resultPath: string, payload?: TaskInput) => LambdaInvoke,
    report: LambdaInvoke,
  ): Choice {
    const switchPayload = TaskInput.fromObject({
      phase: 'switch',
      'measure.$': '$.measure',
      'route.$': '$.route',
      'delivery.$': '$.delivery',
      'probe.$': '$.probe',
      'executionName.$': '$.executionName',
    });
    const choice = new Choice(this, 'Switch', { stateName: 'Switch' });
    const switches: [string, IFunction | undefined, string][] = [
      ['SwitchLayers', functions.publishLayers, 'layers'],
      ['SwitchEfs', functions.syncEfs, 'efs'],
    ];
    for (const [name, fn, strategy] of switches) {
      if (!fn) continue;
      const task = step(name, fn, '$.delivery', switchPayload).next(report);
      choice.when(Condition.stringEquals('$.route.strategy', strategy), task);
    }
    return choice.otherwise(report);
  }
}
