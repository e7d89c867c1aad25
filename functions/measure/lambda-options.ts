// The Measure function's options in Lambda: from its environment (the allowed variables, the
// buckets console inputs may name, the default policy) and from Secrets Manager. A module of its
// own because it brings the S3 and SSM clients, which the local pipeline never loads.
import { S3ObjectStore } from '../adapters/aws/s3-object-store.ts';
import { readSecretVariables, type SecretReader } from '../adapters/aws/secret-variables.ts';
import { parseDeliveryPolicy } from '../core/route/delivery-policy.ts';
import { InputError } from '../core/shared/errors.ts';
import type { MeasureHandlerOptions } from './handler.ts';

function namesFrom(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
}

/** The options from this function's environment: only the allowed variables are copied. */
export function measureOptionsFromEnvironment(
  environment: Readonly<Record<string, string | undefined>> = process.env,
): MeasureHandlerOptions {
  const allowed = namesFrom(environment.LAMBDA_DEPS_ALLOWED_VARIABLES);
  const policyText = environment.LAMBDA_DEPS_DEFAULT_POLICY;
  let policy: unknown = {};
  if (policyText) {
    try {
      policy = JSON.parse(policyText);
    } catch {
      throw new InputError('LAMBDA_DEPS_DEFAULT_POLICY is not JSON.', { hint: 'Check the construct props.' });
    }
  }
  return {
    variables: Object.fromEntries(allowed.map((name) => [name, environment[name]])),
    requirementsBuckets: namesFrom(environment.LAMBDA_DEPS_REQUIREMENTS_BUCKETS),
    openBucket: (bucket) => new S3ObjectStore(bucket),
    defaultPolicy: parseDeliveryPolicy(policy, 'LAMBDA_DEPS_DEFAULT_POLICY'),
  };
}

/** The environment's options plus the allowed variables kept in Secrets Manager (read once). */
export async function measureOptionsInLambda(
  environment: Readonly<Record<string, string | undefined>> = process.env,
  read?: SecretReader,
): Promise<MeasureHandlerOptions> {
  const options = measureOptionsFromEnvironment(environment);
  const secrets = await readSecretVariables(environment, read);
  return { ...options, variables: { ...options.variables, ...secrets } };
}
