// The stack `cdk deploy` creates: the LambdaDeps construct, its outputs, and the same values as
// SSM parameters, so `bin/lambda-deps submit --stack NAME` can find the bucket and the state
// machine with the SSM client alone (`stackParameterName`).
import { CfnOutput, Fn, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import { ARTIFACT_KEYS } from './constructs/dependency-artifact-bucket.ts';
import { LambdaDeps } from './constructs/lambda-deps.ts';
import type { LambdaDepsProps } from './constructs/lambda-deps.ts';

export interface LambdaDepsStackProps extends StackProps, LambdaDepsProps {}

/** Each value the CLI may look up: its CloudFormation output name and its SSM parameter key. */
export const STACK_OUTPUTS = {
  bucketName: 'ArtifactBucketName',
  stateMachineArn: 'StateMachineArn',
  requirementsPrefix: 'RequirementsPrefix',
  ssmParameterPrefix: 'SsmParameterPrefix',
  repositoryUri: 'ImageRepositoryUri',
  accessPointArn: 'EfsAccessPointArn',
} as const;

export type StackOutputKey = keyof typeof STACK_OUTPUTS;

/**
 * The SSM parameter that holds one stack value.
 *
 * @example
 * stackParameterName('/lambda-deps/', 'LambdaDeps', 'bucketName') // '/lambda-deps/stacks/LambdaDeps/ArtifactBucketName'
 */
export function stackParameterName(
  ssmParameterPrefix: string,
  stackName: string,
  key: StackOutputKey,
): string {
  return `${ssmParameterPrefix}stacks/${stackName}/${STACK_OUTPUTS[key]}`;
}

export class LambdaDepsStack extends Stack {
  readonly lambdaDeps: LambdaDeps;

  /**
   * The first two AZs of the region as `Fn::GetAZs` tokens, never a context lookup: with a
   * concrete account and region (as `cdk deploy` sets them) CDK would otherwise look the AZs
   * up through the bootstrap lookup role at synth time, and `cdk synth` would need AWS. A
   * LambdaDeps construct placed in another stack with a concrete environment needs the same
   * override there, or `cdk context` holding the lookup, or a `vpc` prop.
   */
  override get availabilityZones(): string[] {
    return [Fn.select(0, Fn.getAzs()), Fn.select(1, Fn.getAzs())];
  }

  constructor(scope: Construct, id: string, props: LambdaDepsStackProps = {}) {
    super(scope, id, props);
    this.lambdaDeps = new LambdaDeps(this, 'LambdaDeps', props);
    // A route that is off has no repository or access point, and so no output for it.
    const values: Partial<Record<StackOutputKey, string>> = {
      bucketName: this.lambdaDeps.bucket.bucketName,
      stateMachineArn: this.lambdaDeps.stateMachine.stateMachineArn,
      requirementsPrefix: ARTIFACT_KEYS.requirements,
      ssmParameterPrefix: this.lambdaDeps.layerParameterPrefix,
      repositoryUri: this.lambdaDeps.repository?.repositoryUri,
      accessPointArn: this.lambdaDeps.accessPoint?.accessPointArn,
    };
    const present = Object.entries(values).filter(([, value]) => value !== undefined);
    for (const [key, value] of present as [StackOutputKey, string][]) {
      new CfnOutput(this, STACK_OUTPUTS[key], { value });
      new StringParameter(this, `${STACK_OUTPUTS[key]}Parameter`, {
        parameterName: stackParameterName(this.lambdaDeps.layerParameterPrefix, this.stackName, key),
        stringValue: value,
        description: `lambda-deps stack ${this.stackName}: ${STACK_OUTPUTS[key]}`,
      });
    }
  }
}
