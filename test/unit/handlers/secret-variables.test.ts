// Measure in AWS: `${NAME}` expands to the secrets the construct's allowedVariables list, read
// through Parameter Store's Secrets Manager reference, and to nothing else in its environment.
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  parameterStoreSecretReader,
  secretVariableNames,
} from '../../../functions/adapters/aws/secret-variables.ts';
import { measureOptionsInLambda } from '../../../functions/measure/lambda-options.ts';

const ssm = mockClient(SSMClient);
afterEach(() => ssm.reset());

describe('secret variables of the Measure step', () => {
  it('reads each listed secret through its Parameter Store reference, decrypted', async () => {
    // Prepare
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'token-from-secrets-manager' } });
    const environment = {
      AWS_SECRET_ACCESS_KEY: 'canary-5b1e0c',
      INDEX_HOST: 'pypi.example.com',
      LAMBDA_DEPS_ALLOWED_VARIABLES: 'PRIVATE_INDEX_TOKEN,INDEX_HOST',
      LAMBDA_DEPS_SECRET_VARIABLES: JSON.stringify({ PRIVATE_INDEX_TOKEN: 'acme/pypi-token' }),
    };

    // Act
    const options = await measureOptionsInLambda(environment, parameterStoreSecretReader(new SSMClient({})));

    // Assess
    expect(options.variables).toEqual({
      PRIVATE_INDEX_TOKEN: 'token-from-secrets-manager',
      INDEX_HOST: 'pypi.example.com',
    });
    expect(ssm.commandCalls(GetParameterCommand).map((call) => call.args[0].input)).toEqual([
      { Name: '/aws/reference/secretsmanager/acme/pypi-token', WithDecryption: true },
    ]);
  });

  it('reads no secret when the stack lists none', async () => {
    // Act
    const options = await measureOptionsInLambda({ LAMBDA_DEPS_SECRET_VARIABLES: '{}' }, () => {
      throw new Error('no secret should be read');
    });

    // Assess
    expect(options.variables).toEqual({});
  });

  it.each([
    ['not JSON', '{', /is not JSON/],
    ['a list', '["A"]', /must map variable names to secret names/],
    ['an empty secret name', '{"A":""}', /must map variable names to secret names/],
  ])('refuses a LAMBDA_DEPS_SECRET_VARIABLES that is %s', (_case, text, message) => {
    // Act & Assess
    expect(() => secretVariableNames(text)).toThrow(message);
  });
});
