// SSM Parameter Store in AWS: the latest layer version ARNs, image URI or EFS path of a set,
// where deploy tools can read them (`{{resolve:ssm:/lambda-deps/NAME/layers}}`).
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { ParameterStore } from '../ports.ts';

export class SsmParameterStore implements ParameterStore {
  constructor(private readonly client: SSMClient = new SSMClient({})) {}

  async get(name: string): Promise<string | null> {
    try {
      const found = await this.client.send(new GetParameterCommand({ Name: name }));
      return found?.Parameter?.Value ?? null;
    } catch (error) {
      if ((error as Error).name === 'ParameterNotFound') return null;
      throw error;
    }
  }

  async put(name: string, value: string, description: string): Promise<void> {
    await this.client.send(
      new PutParameterCommand({
        Name: name,
        Value: value,
        Description: description.slice(0, 1024),
        Type: 'String',
        Overwrite: true,
      }),
    );
  }
}
