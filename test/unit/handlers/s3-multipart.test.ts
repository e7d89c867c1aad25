// Large objects (an EFS tree tar can pass 5 GB, S3's single-PUT cap) go up as a multipart
// upload; small ones stay a single PutObject.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { S3_SINGLE_PUT_MAX_BYTES, S3ObjectStore } from '../../../functions/adapters/aws/s3-object-store.ts';

const s3Mock = mockClient(S3Client);
const MIB = 1024 * 1024;
let folder: string;

beforeEach(async () => {
  s3Mock.reset();
  folder = await mkdtemp(join(tmpdir(), 'lambda-deps-multipart-'));
});
afterEach(() => rm(folder, { recursive: true, force: true }));

describe('S3ObjectStore.putFile', () => {
  it('uploads a file larger than one part in parts, never as one PutObject', async () => {
    // Prepare
    s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u-1' });
    s3Mock.on(UploadPartCommand).resolves({ ETag: '"part"' });
    s3Mock.on(CompleteMultipartUploadCommand).resolves({});
    const path = join(folder, 'tree.tar');
    await writeFile(path, Buffer.alloc(11 * MIB, 7));
    const store = new S3ObjectStore('deps-bucket', new S3Client({ region: 'eu-west-1' }), {
      partSizeBytes: 5 * MIB,
    });

    // Act
    await store.putFile('artifacts/x/efs/site-packages.tar', path, 'application/x-tar');

    // Assess
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(s3Mock.commandCalls(CreateMultipartUploadCommand)[0]?.args[0].input).toMatchObject({
      Bucket: 'deps-bucket',
      Key: 'artifacts/x/efs/site-packages.tar',
      ContentType: 'application/x-tar',
    });
    expect(s3Mock.commandCalls(UploadPartCommand)).toHaveLength(3);
    expect(s3Mock.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(1);
  });

  it('sends a small file as a single PutObject', async () => {
    // Prepare
    s3Mock.on(PutObjectCommand).resolves({});
    const path = join(folder, 'layer.zip');
    await writeFile(path, 'small');
    const store = new S3ObjectStore('deps-bucket', new S3Client({ region: 'eu-west-1' }));

    // Act
    await store.putFile('artifacts/x/layers/1.zip', path);

    // Assess
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(1);
    expect(s3Mock.commandCalls(CreateMultipartUploadCommand)).toHaveLength(0);
  });

  it('keeps every single PUT under S3 5 GB cap by default', () => {
    // Act
    const store = new S3ObjectStore('deps-bucket', new S3Client({ region: 'eu-west-1' }));

    // Assess
    expect(store.partSizeBytes).toBeLessThan(S3_SINGLE_PUT_MAX_BYTES);
    expect(S3_SINGLE_PUT_MAX_BYTES).toBe(5 * 1024 ** 3);
  });
});
