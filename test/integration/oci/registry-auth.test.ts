// The registry client's auth and retry behaviour against a small fake registry on loopback:
// Bearer tokens from a token service (as Docker Hub and public.ecr.aws do), Basic (as ECR does
// with the GetAuthorizationToken password), and 5xx answers retried with backoff.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { RegistryClient, RegistryError } from '../../../functions/core/deliver/oci/registry-client.ts';
import { recordReliability } from '../../support/reliability-log.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;
let server: Server | null = null;

async function serve(
  handler: (request: IncomingMessage, response: ServerResponse, origin: string) => void,
): Promise<string> {
  let origin = '';
  server = createServer((request, response) => handler(request, response, origin));
  await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
  const address = server.address();
  origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return origin;
}

afterEach(async () => {
  await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
  server = null;
});

describe('RegistryClient auth', () => {
  it('gets a Bearer token for the repository scope from the realm the challenge names, with Basic credentials', async () => {
    // Prepare
    const tokenRequests: string[] = [];
    const origin = await serve((request, response, self) => {
      const url = new URL(request.url ?? '/', self);
      if (url.pathname === '/token') {
        tokenRequests.push(
          `${url.searchParams.get('service')} ${url.searchParams.get('scope')} ${request.headers.authorization}`,
        );
        response
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ token: 'tok-123' }));
        return;
      }
      if (request.headers.authorization !== 'Bearer tok-123') {
        response
          .writeHead(401, {
            'www-authenticate': `Bearer realm="${self}/token",service="fake-registry",scope="repository:deps/web:pull"`,
          })
          .end();
        return;
      }
      response.writeHead(url.pathname === `/v2/deps/web/blobs/${DIGEST}` ? 200 : 404).end();
    });
    const client = new RegistryClient({
      registryUrl: origin,
      credentials: { username: 'me', password: 'secret' },
    });

    // Act
    const first = await client.blobExists('deps/web', DIGEST);
    const second = await client.blobExists('deps/web', `sha256:${'b'.repeat(64)}`);

    // Assess
    expect([first, second]).toEqual([true, false]);
    expect(tokenRequests).toEqual([
      `fake-registry repository:deps/web:pull Basic ${Buffer.from('me:secret').toString('base64')}`,
    ]);
  });

  it('answers a Basic challenge with the given username and password (ECR style)', async () => {
    // Prepare
    const expected = `Basic ${Buffer.from('AWS:ecr-password').toString('base64')}`;
    const origin = await serve((request, response) => {
      if (request.headers.authorization !== expected) {
        response
          .writeHead(401, {
            'www-authenticate':
              'Basic realm="https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/",service="ecr.amazonaws.com"',
          })
          .end();
        return;
      }
      response.writeHead(200).end();
    });
    const client = new RegistryClient({
      registryUrl: origin,
      credentials: { username: 'AWS', password: 'ecr-password' },
    });

    // Act
    const exists = await client.blobExists('deps/web', DIGEST);

    // Assess
    expect(exists).toBe(true);
  });

  it('says credentials are needed when a Basic challenge comes and none were given', async () => {
    // Prepare
    const origin = await serve((_request, response) => {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="registry"' }).end();
    });
    const client = new RegistryClient({ registryUrl: origin });

    // Act
    const error = await client.blobExists('deps/web', DIGEST).catch((thrown: unknown) => thrown);

    // Assess
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as RegistryError).message).toMatch(/requires a username and password/);
    expect((error as RegistryError).hint).toMatch(/ecrRegistryCredentials/);
  });
});

describe('RegistryClient retries', () => {
  it('retries 5xx answers with backoff and succeeds when the registry recovers', async () => {
    // Prepare
    let requests = 0;
    const origin = await serve((_request, response) => {
      requests++;
      response.writeHead(requests <= 2 ? 503 : 200).end();
    });
    const client = new RegistryClient({ registryUrl: origin, retries: 3, retryDelayMs: 5 });

    // Act
    const exists = await client.blobExists('deps/web', DIGEST);

    // Assess
    expect(exists).toBe(true);
    expect(requests).toBe(3);
  });

  it('gives up after the retries with a transient RegistryError naming the registry', async () => {
    // Prepare
    let requests = 0;
    const origin = await serve((_request, response) => {
      requests++;
      response
        .writeHead(500, { 'content-type': 'application/json' })
        .end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'disk full' }] }));
    });
    const client = new RegistryClient({ registryUrl: origin, retries: 2, retryDelayMs: 5 });

    // Act
    const error = await client.getManifest('deps/web', 'v1').catch((thrown: unknown) => thrown);

    // Assess
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as RegistryError).transient).toBe(true);
    expect((error as RegistryError).message).toMatch(
      /answered 500 to GET \/v2\/deps\/web\/manifests\/v1: UNKNOWN: disk full/,
    );
    expect(requests).toBe(3);
    recordReliability({
      area: 'image push',
      experiment: 'registry answering 5xx: retried with backoff, then a clear transient error',
      cases: 2,
      faultsInjected: 5,
      runs: 2,
      lost: 'nothing',
    });
  });

  it('does not retry a 4xx answer', async () => {
    // Prepare
    let requests = 0;
    const origin = await serve((_request, response) => {
      requests++;
      response.writeHead(403).end();
    });
    const client = new RegistryClient({ registryUrl: origin, retries: 3, retryDelayMs: 5 });

    // Act
    const error = await client.getManifest('deps/web', 'v1').catch((thrown: unknown) => thrown);

    // Assess
    expect((error as RegistryError).status).toBe(403);
    expect((error as RegistryError).hint).toMatch(/credentials/);
    expect(requests).toBe(1);
  });
});
