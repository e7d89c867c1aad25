// The values of the `${NAME}` variables the stack owner keeps in Secrets Manager (the construct's
// `allowedVariables`), read once at Measure's start-up. LAMBDA_DEPS_SECRET_VARIABLES maps each
// name to its secret's name; the secret is read through Parameter Store's Secrets Manager
// reference (`/aws/reference/secretsmanager/<name>`), so the SSM client Measure already has
// serves, and the value never sits in the function's environment or the template.
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { InputError } from '../../core/shared/errors.ts';

/** Reads one secret's string by its name. */
export type SecretReader = (secretName: string) => Promise<string>;

/** Names → secret names, from LAMBDA_DEPS_SECRET_VARIABLES (a JSON object of strings). */
export function secretVariableNames(text: string | undefined): Record<string, string> {
  if (!text) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new InputError('LAMBDA_DEPS_SECRET_VARIABLES is not JSON.', { hint: 'Check the construct props.' });
  }
  const valid =
    typeof parsed === 'object' &&
    parsed !== null &&
    !Array.isArray(parsed) &&
    Object.values(parsed).every((value) => typeof value === 'string' && value !== '');
  if (!valid) {
    throw new InputError('LAMBDA_DEPS_SECRET_VARIABLES must map variable names to secret names.', {
      hint: "Set it through the construct's allowedVariables prop.",
    });
  }
  return parsed as Record<string, string>;
}

/** A reader over Parameter Store's reference to Secrets Manager (decrypted). */
export function parameterStoreSecretReader(client: SSMClient = new SSMClient({})): SecretReader {
  return async (secretName) => {
    const found = await client.send(
      new GetParameterCommand({ Name: `/aws/reference/secretsmanager/${secretName}`, WithDecryption: true }),
    );
    const value = found.Parameter?.Value;
    if (value === undefined) throw new Error(`The secret ${secretName} has no string value.`);
    return value;
  };
}

/** The secret variables' values, by variable name. */
export async function readSecretVariables(
  environment: Readonly<Record<string, string | undefined>>,
  read: SecretReader = parameterStoreSecretReader(),
): Promise<Record<string, string>> {
  const names = Object.entries(secretVariableNames(environment.LAMBDA_DEPS_SECRET_VARIABLES));
  const values = await Promise.all(names.map(async ([name, secret]) => [name, await read(secret)] as const));
  return Object.fromEntries(values);
}
