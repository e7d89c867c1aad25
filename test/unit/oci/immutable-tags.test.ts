// Re-pushing a tag to a repository whose tags are immutable (ECR's default here), against a
// loopback registry that answers as ECR does: 400 TAG_INVALID for any PUT of an existing tag.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../../functions/core/deliver/oci/registry-client.ts';

const MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const manifests = new Map<string, Buffer>();
let server: Server;
let registryUrl = '';

const digestOf = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const match = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(request.url ?? '');
      if (!match) return void response.writeHead(404).end();
      const key = `${match[1]}:${match[2]}`;
      const stored = manifests.get(key);
      if (request.method === 'PUT') {
        if (stored) {
          response.writeHead(400, { 'content-type': 'application/json' });
          return void response.end(
            JSON.stringify({
              errors: [
                {
                  code: 'TAG_INVALID',
                  message: `The image tag '${match[2]}' already exists in the '${match[1]}' repository and cannot be overwritten because the repository is immutable.`,
                },
              ],
            }),
          );
        }
        const body = Buffer.concat(chunks);
        manifests.set(key, body);
        return void response.writeHead(201, { 'docker-content-digest': digestOf(body) }).end();
      }
      if (!stored) return void response.writeHead(404).end();
      response.writeHead(200, { 'content-type': MEDIA_TYPE, 'docker-content-digest': digestOf(stored) });
      response.end(request.method === 'HEAD' ? undefined : stored);
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  registryUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
afterAll(() => new Promise<void>((done) => server.close(() => done())));

const manifest = (layer: string): Buffer =>
  Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE, layers: [{ digest: layer }] }));

describe('pushing to an immutable tag', () => {
  it('succeeds again when the tag already names the same manifest (a retry, two runs of one lock)', async () => {
    // Prepare
    const client = new RegistryClient({ registryUrl, credentials: null });
    const bytes = manifest('sha256:1');
    const first = await client.putManifest('deps', 'web-abc', bytes, MEDIA_TYPE);

    // Act
    const again = await client.putManifest('deps', 'web-abc', bytes, MEDIA_TYPE);

    // Assess
    expect(again).toBe(first);
  });

  it('refuses a different manifest under an existing tag, naming both digests', async () => {
    // Prepare
    const client = new RegistryClient({ registryUrl, credentials: null });
    const stored = await client.putManifest('deps', 'web-def', manifest('sha256:2'), MEDIA_TYPE);
    const other = manifest('sha256:3');

    // Act
    const attempt = client.putManifest('deps', 'web-def', other, MEDIA_TYPE);

    // Assess
    await expect(attempt).rejects.toThrow(
      `deps:web-def already names ${stored}, not ${digestOf(other)}, and the repository's tags are immutable`,
    );
  });
});
