// Starts the pipeline when a requirements file lands in the bucket: an EventBridge rule on
// S3 `Object Created` for the dependency files lambda-deps reads (input-format.ts), whose
// target is a small start-execution Lambda (EventBridge cannot name executions; the Lambda
// names each one after the object version, so a duplicated event starts nothing new). Events
// that cannot be delivered go to a dead-letter queue instead of vanishing.
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Match, Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction as LambdaFunctionTarget } from 'aws-cdk-lib/aws-events-targets';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { INPUT_FILE_PATTERNS } from '../../functions/core/inputs/input-format.ts';
import { ARTIFACT_KEYS } from './dependency-artifact-bucket.ts';
import { createPipelineFunction } from './lambda-defaults.ts';

/** Key patterns (EventBridge wildcard syntax) of the uploads that start a build. */
export const UPLOAD_KEY_PATTERNS = INPUT_FILE_PATTERNS.map(
  (pattern) => `${ARTIFACT_KEYS.requirements}${pattern}`,
);

export interface DependencyUploadTriggerProps {
  readonly bucket: IBucket;
  readonly stateMachine: IStateMachine;
  /** @default false */
  readonly skipBundling?: boolean;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
}

export class DependencyUploadTrigger extends Construct {
  readonly rule: Rule;
  readonly startExecutionFunction: LambdaFunction;
  /** Events EventBridge could not deliver to the function after its retries. */
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: DependencyUploadTriggerProps) {
    super(scope, id);

    this.startExecutionFunction = createPipelineFunction(this, 'StartExecution', {
      entry: 'functions/start-execution/handler.ts',
      description: 'lambda-deps: starts one pipeline execution per uploaded requirements object version',
      environment: {
        STATE_MACHINE_ARN: props.stateMachine.stateMachineArn,
        POWERTOOLS_SERVICE_NAME: 'lambda-deps-start-execution',
      },
      timeout: Duration.seconds(30),
      memorySize: 256,
      skipBundling: props.skipBundling,
      logRetention: props.logRetention,
    });
    props.stateMachine.grantStartExecution(this.startExecutionFunction);

    this.deadLetterQueue = new Queue(this, 'DeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the upload rule target.',
    });

    this.rule = new Rule(this, 'Rule', {
      description: 'lambda-deps: a requirements file was uploaded',
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: {
          bucket: { name: [props.bucket.bucketName] },
          object: { key: Match.anyOf(...UPLOAD_KEY_PATTERNS.map((pattern) => Match.wildcard(pattern))) },
        },
      },
    });
    // The event goes to the function as it is: the state machine accepts S3 events unchanged.
    this.rule.addTarget(
      new LambdaFunctionTarget(this.startExecutionFunction, {
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 8,
        maxEventAge: Duration.hours(6),
      }),
    );
  }
}
