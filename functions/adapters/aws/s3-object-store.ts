// The object store in AWS: the artifact bucket. Files are streamed both ways so a 250 MB
// layer zip never sits in memory; the exclusive create uses S3's conditional write.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { assertSafeKey } from '../local/folder-object-store.ts';
import type { LeasingObjectStore, StoredObjectInfo } from '../ports.ts';

/** S3's limit for one PutObject. */
export const S3_SINGLE_PUT_MAX_BYTES = 5 * 1024 ** 3;

/** 64 MiB parts: 10,000 parts (S3's cap) reach 640 GiB, and 4 in flight stay within Lambda memory. */
const DEFAULT_PART_SIZE_BYTES = 64 * 1024 * 1024;

function isMissing(error: unknown): boolean {
  return (
    error instanceof S3ServiceException &&
    (error.name === 'NotFound' || error.name === 'NoSuchKey' || error.$metadata.httpStatusCode === 404)
  );
}

function isPreconditionFailed(error: unknown): boolean {
  return (
    error instanceof S3ServiceException &&
    (error.name === 'PreconditionFailed' ||
      error.name === 'ConditionalRequestConflict' ||
      error.$metadata.httpStatusCode === 412 ||
      error.$metadata.httpStatusCode === 409)
  );
}

/**
 * The artifact bucket as an ObjectStore.
 *
 * @example
 * const store = new S3ObjectStore('my-artifacts', new S3Client({}));
 * await store.putBytes('locks/abc.json', '{}');
 */
export class S3ObjectStore implements LeasingObjectStore {
  readonly location: string;
  readonly bucket: string;
  private readonly client: S3Client;

  /** Files up to one part go as one PutObject; larger ones as a multipart upload of such parts. */
  readonly partSizeBytes: number;

  constructor(
    bucket: string,
    client: S3Client = new S3Client({}),
    options: { readonly partSizeBytes?: number } = {},
  ) {
    this.bucket = bucket;
    this.client = client;
    this.location = `s3://${bucket}`;
    this.partSizeBytes = options.partSizeBytes ?? DEFAULT_PART_SIZE_BYTES;
  }

  async getBytes(key: string): Promise<Buffer> {
    assertSafeKey(key);
    const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    if (!response.Body) throw new Error(`s3://${this.bucket}/${key} has no body.`);
    return Buffer.from(await response.Body.transformToByteArray());
  }

  async getToFile(key: string, path: string): Promise<void> {
    assertSafeKey(key);
    const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    if (!response.Body) throw new Error(`s3://${this.bucket}/${key} has no body.`);
    await mkdir(dirname(path), { recursive: true });
    await pipeline(response.Body as Readable, createWriteStream(path));
  }

  async putBytes(key: string, body: Buffer | string, contentType?: string): Promise<void> {
    assertSafeKey(key);
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }),
    );
  }

  async putFile(key: string, path: string, contentType?: string): Promise<void> {
    assertSafeKey(key);
    const { size } = await stat(path);
    if (size <= this.partSizeBytes) {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: createReadStream(path),
          ContentLength: size,
          ContentType: contentType,
        }),
      );
      return;
    }
    // S3 takes at most 5 GB in one PUT; lib-storage sends parts (and aborts the upload on failure).
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: createReadStream(path), ContentType: contentType },
      partSize: this.partSizeBytes,
      queueSize: 4,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== null;
  }

  async head(key: string): Promise<StoredObjectInfo | null> {
    assertSafeKey(key);
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return {
        size: response.ContentLength ?? 0,
        etag: response.ETag ?? null,
        versionId: response.VersionId && response.VersionId !== 'null' ? response.VersionId : null,
      };
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const item of page.Contents ?? []) if (item.Key) keys.push(item.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  async putIfAbsent(key: string, body: Buffer | string): Promise<boolean> {
    assertSafeKey(key);
    try {
      // S3 conditional write: refused with 412 when the key exists (409 when a racing write wins).
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, IfNoneMatch: '*' }),
      );
      return true;
    } catch (error) {
      if (isPreconditionFailed(error)) return false;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    assertSafeKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }
}
