// Wiring a user's own function to a dependency set that a lambda-deps stack delivered, in one call
// per function. The pipeline records each set under the construct's SSM prefix
// (`/lambda-deps/<set>/layers`: the layer version ARNs); a CloudFormation parameter of type
// `AWS::SSM::Parameter::Value<List<String>>` reads that list at deploy time, so the function gets
// however many layers the set has, with no `Fn.select` and no count to keep in step.
import { CfnParameter, Token } from 'aws-cdk-lib';
import type { CfnFunction, Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';

/** Default SSM prefix of the LambdaDeps construct (its `ssmParameterPrefix` prop). */
export const DEFAULT_SSM_PARAMETER_PREFIX = '/lambda-deps/';

export interface DependencySetReference {
  /** The set's name: the folder under `requirements/` it was uploaded to, or `name` of the execution. */
  readonly set: string;
  /**
   * Where the stack records its sets: the `LambdaDeps` construct (its `layerParameterPrefix`), or
   * the prefix itself when the stack lives in another app.
   * @default '/lambda-deps/'
   */
  readonly from?: { readonly layerParameterPrefix: string } | string;
}

const SET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The SSM parameter holding a set's layer version ARNs. */
export function layersParameterName(reference: DependencySetReference): string {
  if (!SET_NAME.test(reference.set)) {
    throw new Error(
      `lambda-deps: set name "${reference.set}": use letters, digits, '.', '_' or '-' (the folder name under requirements/).`,
    );
  }
  const from = reference.from ?? DEFAULT_SSM_PARAMETER_PREFIX;
  const prefix = typeof from === 'string' ? from : from.layerParameterPrefix;
  return `${prefix}${reference.set}/layers`;
}

/**
 * A deploy-time list of the set's layer version ARNs (a CloudFormation parameter, one per set
 * and stack). The set must have been delivered before the stack that reads it is deployed.
 */
export function dependencySetLayerArns(scope: Construct, reference: DependencySetReference): string[] {
  const name = layersParameterName(reference);
  // One parameter per SSM name and scope: wiring several functions to a set reuses it.
  const id = `LambdaDepsLayers${name.replaceAll('/', '_')}`;
  const existing = scope.node.tryFindChild(id);
  const parameter =
    existing instanceof CfnParameter
      ? existing
      : new CfnParameter(scope, id, {
          type: 'AWS::SSM::Parameter::Value<List<String>>',
          default: name,
          description: `lambda-deps: layer version ARNs of the set ${reference.set} (SSM ${name})`,
        });
  return Token.asList(parameter.value);
}

/**
 * Gives `fn` every layer of the set, read from SSM at deploy time.
 *
 * @example
 * const fn = new lambda.Function(this, 'Api', { runtime: lambda.Runtime.PYTHON_3_12, handler: 'app.handler', code });
 * useDependencySetLayers(fn, { set: 'web-api', from: deps });
 */
export function useDependencySetLayers(fn: LambdaFunction, reference: DependencySetReference): void {
  const cfnFunction = fn.node.defaultChild as CfnFunction;
  cfnFunction.layers = dependencySetLayerArns(fn.stack, reference);
}
