// An upload to an S3-protocol server on loopback (s3rver) through the S3 object store, the
// EventBridge `Object Created` event built from what the server stored, and the synthesized
// state machine accepting that event: the same upload twice gets the same execution name
// and the second run is a cache hit.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '../../../functions/adapters/aws/s3-object-store.ts';
import { FolderObjectStore } from '../../../functions/adapters/local/folder-object-store.ts';
import { localPaths } from '../../../functions/adapters/local/local-adapters.ts';
import { loadPipelineDefinition, runPipelineLocally } from '../../../functions/cli/local-pipeline.ts';
import { executionNameForObject } from '../../../functions/start-execution/handler.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';

const BUCKET = 'lambda-deps-artifacts';
const indexes = localIndexes();
const noIndexes = indexes === null;

let folder: string;
let server: S3rver;
let store: S3ObjectStore;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'lambda-deps-s3rver-'));
  server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory: join(folder, 's3'),
    silent: true,
    vhostBuckets: false,
    configureBuckets: [{ name: BUCKET }],
  });
  const { port } = await server.run();
  const client = new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    // Without this the SDK sends aws-chunked bodies with checksums, which s3rver stores verbatim.
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  store = new S3ObjectStore(BUCKET, client);
  if (!noIndexes) await loadPipelineDefinition();
}, 180_000);

afterAll(async () => {
  await server?.close();
  await rm(folder, { recursive: true, force: true });
});

/** The event EventBridge delivers for an upload, from what the bucket stored. */
async function objectCreatedEvent(key: string) {
  const stored = await store.head(key);
  if (!stored) throw new Error(`${key} is not in the bucket`);
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: [`arn:aws:s3:::${BUCKET}`],
    detail: {
      version: '0',
      bucket: { name: BUCKET },
      object: {
        key,
        size: stored.size,
        // EventBridge gives the ETag without the quotes of the S3 API.
        etag: (stored.etag ?? '').replace(/"/g, ''),
        ...(stored.versionId ? { 'version-id': stored.versionId } : {}),
        sequencer: Date.now().toString(16).toUpperCase(),
      },
      'request-id': randomUUID(),
      requester: '123456789012',
      reason: 'PutObject',
    },
  };
}

describe('S3ObjectStore against s3rver', () => {
  it('stores exactly the bytes uploaded and lists, heads and leases them', async () => {
    // Prepare
    const text = 'six\n';

    // Act
    await store.putBytes('requirements/probe/requirements.txt', text, 'text/plain');
    const first = await store.putIfAbsent('artifacts/probe/.build-lease', 'a');

    // Assess
    expect((await store.getBytes('requirements/probe/requirements.txt')).toString()).toBe(text);
    expect(await store.head('requirements/probe/requirements.txt')).toMatchObject({ size: text.length });
    expect(await store.list('requirements/probe/')).toEqual(['requirements/probe/requirements.txt']);
    expect(first).toBe(true);
    expect(await store.head('missing/key')).toBeNull();
  });
});

describe('an S3 upload starting the local pipeline', () => {
  it.skipIf(noIndexes)(
    `is accepted by NormalizeInput and Measure, and the same upload twice builds once${noIndexes ? ` (skipped: ${NO_LOCAL_INDEXES_REASON})` : ''}`,
    async () => {
      // Prepare
      const key = 'requirements/tiny/requirements.txt';
      const outDir = join(folder, 'out');
      const [indexUrl, ...extraIndexUrls] = indexes?.indexUrls ?? [];
      const runOnce = async () => {
        await store.putBytes(key, 'six\n', 'text/plain');
        const event = await objectCreatedEvent(key);
        const executionName = executionNameForObject({
          bucket: event.detail.bucket.name,
          key: event.detail.object.key,
          etag: event.detail.object.etag,
        });
        // The local pipeline's store is a folder standing for the same bucket: mirror the upload.
        await new FolderObjectStore(localPaths(outDir).store).putBytes(key, await store.getBytes(key));
        const run = await runPipelineLocally({
          event,
          bucket: BUCKET,
          executionName,
          outDir,
          runtime: 'python3.11',
          arch: process.arch === 'arm64' ? 'arm64' : 'x86_64',
          indexUrl: indexUrl ?? null,
          extraIndexUrls,
          findLinks: indexes?.findLinks ?? [],
        });
        return { executionName, run };
      };

      // Act
      const first = await runOnce();
      const second = await runOnce();

      // Assess
      expect(first.run.status, JSON.stringify(first.run.report)).toBe('SUCCEEDED');
      expect(first.run.execution.states.map((state) => state.name).slice(0, 5)).toEqual([
        'NormalizeInput',
        'FromS3Event',
        'Measure',
        'IsCached',
        'BuildHost',
      ]);
      expect(first.run.report).toMatchObject({ name: 'tiny', cached: false });
      expect(second.executionName).toBe(first.executionName);
      expect(second.run.execution.states.map((state) => state.name)).toEqual([
        'NormalizeInput',
        'FromS3Event',
        'Measure',
        'IsCached',
        // A lock built before skips only the build: the set is delivered again.
        'ReadBuildManifest',
        'Route',
        'PublishLayers',
        'Probe',
        'Switch',
        'SwitchLayers',
        'Report',
        'Done',
      ]);
      expect(second.run.report).toMatchObject({ cached: true, lockHash: first.run.manifest?.lockHash });
    },
    300_000,
  );
});
