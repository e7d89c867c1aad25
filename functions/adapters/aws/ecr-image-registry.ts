// ECR as an image destination: the registry endpoint and a short-lived basic-auth
// credential from GetAuthorizationToken (no Docker login, no Docker).
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { InputError } from '../../core/shared/errors.ts';
import type { ImageDestination, ImageRegistry } from '../ports.ts';

/** `123456789012.dkr.ecr.eu-west-1.amazonaws.com/name` → host and repository. */
export function parseRepositoryUri(uri: string): { host: string; repository: string } {
  const slash = uri.indexOf('/');
  if (slash <= 0 || slash === uri.length - 1) {
    throw new InputError(`ECR repository URI "${uri}" is not HOST/REPOSITORY.`, {
      hint: 'Set ECR_REPOSITORY_URI to the repository URI the stack outputs.',
    });
  }
  return { host: uri.slice(0, slash), repository: uri.slice(slash + 1) };
}

export class EcrImageRegistry implements ImageRegistry {
  constructor(
    private readonly repositoryUri: string,
    private readonly client: ECRClient = new ECRClient({}),
  ) {}

  async destination(tag: string): Promise<ImageDestination> {
    const { host, repository } = parseRepositoryUri(this.repositoryUri);
    const response = await this.client.send(new GetAuthorizationTokenCommand({}));
    const token = response.authorizationData?.[0]?.authorizationToken;
    if (!token) throw new Error('ECR GetAuthorizationToken returned no token.');
    const decoded = Buffer.from(token, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return {
      kind: 'registry',
      registryUrl: `https://${host}`,
      repository,
      tag,
      credentials: { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) },
    };
  }
}
