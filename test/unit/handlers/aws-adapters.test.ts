import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import {
  DescribeMountTargetsCommand,
  EFSClient,
  type DescribeMountTargetsCommandInput,
} from '@aws-sdk/client-efs';
import {
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { EcrImageRegistry, parseRepositoryUri } from '../../../functions/adapters/aws/ecr-image-registry.ts';
import { EfsFileSystemTree } from '../../../functions/adapters/aws/efs-file-system-tree.ts';
import { S3ObjectStore } from '../../../functions/adapters/aws/s3-object-store.ts';

const ecrMock = mockClient(ECRClient);
const efsMock = mockClient(EFSClient);
const s3Mock = mockClient(S3Client);

function s3Error(name: string, status: number): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: status },
    message: name,
  });
}

describe('EcrImageRegistry', () => {
  beforeEach(() => ecrMock.reset());

  it('turns GetAuthorizationToken into basic credentials for the repository host', async () => {
    // Prepare
    ecrMock.on(GetAuthorizationTokenCommand).resolves({
      authorizationData: [{ authorizationToken: Buffer.from('AWS:secret-password').toString('base64') }],
    });
    const registry = new EcrImageRegistry(
      '111111111111.dkr.ecr.eu-west-1.amazonaws.com/lambda-deps/web',
      new ECRClient({ region: 'eu-west-1' }),
    );

    // Act
    const destination = await registry.destination('web-abc');

    // Assess
    expect(ecrMock.commandCalls(GetAuthorizationTokenCommand)[0]?.args[0].input).toEqual({});
    expect(destination).toEqual({
      kind: 'registry',
      registryUrl: 'https://111111111111.dkr.ecr.eu-west-1.amazonaws.com',
      repository: 'lambda-deps/web',
      tag: 'web-abc',
      credentials: { kind: 'basic', username: 'AWS', password: 'secret-password' },
    });
  });

  it('refuses a repository URI without a repository', () => {
    // Act
    const parse = () => parseRepositoryUri('111111111111.dkr.ecr.eu-west-1.amazonaws.com');

    // Assess
    expect(parse).toThrow(/is not HOST\/REPOSITORY/);
  });
});

describe('EfsFileSystemTree', () => {
  beforeEach(() => efsMock.reset());

  it('describes every mount target, following pages', async () => {
    // Prepare
    efsMock
      .on(DescribeMountTargetsCommand, { FileSystemId: 'fs-1', Marker: undefined })
      .resolves({
        MountTargets: [
          {
            MountTargetId: 'fsmt-a',
            FileSystemId: 'fs-1',
            SubnetId: 'subnet-a',
            LifeCycleState: 'available',
            AvailabilityZoneName: 'eu-west-1a',
            IpAddress: '10.0.0.5',
          },
        ],
        NextMarker: 'page-2',
      })
      .on(DescribeMountTargetsCommand, { FileSystemId: 'fs-1', Marker: 'page-2' })
      .resolves({
        MountTargets: [
          {
            MountTargetId: 'fsmt-b',
            FileSystemId: 'fs-1',
            SubnetId: 'subnet-b',
            LifeCycleState: 'available',
          },
        ],
      });
    const tree = new EfsFileSystemTree(
      '/mnt/deps',
      'fs-1',
      'arn:aws:elasticfilesystem:eu-west-1:1:access-point/fsap-1',
      new EFSClient({ region: 'eu-west-1' }),
    );

    // Act
    const mount = await tree.describe();

    // Assess
    expect(efsMock.commandCalls(DescribeMountTargetsCommand).map((call) => call.args[0].input)).toEqual<
      DescribeMountTargetsCommandInput[]
    >([
      { FileSystemId: 'fs-1', Marker: undefined },
      { FileSystemId: 'fs-1', Marker: 'page-2' },
    ]);
    expect(mount).toEqual({
      fileSystemId: 'fs-1',
      accessPointArn: 'arn:aws:elasticfilesystem:eu-west-1:1:access-point/fsap-1',
      mountPath: '/mnt/deps',
      mountTargets: [
        {
          mountTargetId: 'fsmt-a',
          subnetId: 'subnet-a',
          availabilityZone: 'eu-west-1a',
          ipAddress: '10.0.0.5',
          state: 'available',
        },
        {
          mountTargetId: 'fsmt-b',
          subnetId: 'subnet-b',
          availabilityZone: null,
          ipAddress: null,
          state: 'available',
        },
      ],
    });
  });
});

describe('S3ObjectStore', () => {
  beforeEach(() => s3Mock.reset());

  it('creates a lease with a conditional write and reports a taken one', async () => {
    // Prepare
    s3Mock.on(PutObjectCommand).resolvesOnce({}).rejectsOnce(s3Error('PreconditionFailed', 412));
    const store = new S3ObjectStore('deps-bucket', new S3Client({ region: 'eu-west-1' }));

    // Act
    const first = await store.putIfAbsent('artifacts/x/.build-lease', 'me');
    const second = await store.putIfAbsent('artifacts/x/.build-lease', 'you');

    // Assess
    expect([first, second]).toEqual([true, false]);
    expect(s3Mock.commandCalls(PutObjectCommand)[0]?.args[0].input).toEqual<PutObjectCommandInput>({
      Bucket: 'deps-bucket',
      Key: 'artifacts/x/.build-lease',
      Body: 'me',
      IfNoneMatch: '*',
    });
  });

  it('answers HEAD with the object version, and null for a missing key', async () => {
    // Prepare
    s3Mock
      .on(HeadObjectCommand, { Key: 'artifacts/x/layers/a.zip' })
      .resolves({ ContentLength: 12, ETag: '"e"', VersionId: 'v7' })
      .on(HeadObjectCommand, { Key: 'missing' })
      .rejects(s3Error('NotFound', 404));
    const store = new S3ObjectStore('deps-bucket', new S3Client({ region: 'eu-west-1' }));

    // Act
    const found = await store.head('artifacts/x/layers/a.zip');
    const missing = await store.head('missing');

    // Assess
    expect(found).toEqual({ size: 12, etag: '"e"', versionId: 'v7' });
    expect(missing).toBeNull();
  });

  it('lists every page of keys, sorted', async () => {
    // Prepare
    s3Mock
      .on(ListObjectsV2Command, { ContinuationToken: undefined })
      .resolves({ Contents: [{ Key: 'reports/b.json' }], IsTruncated: true, NextContinuationToken: 't' })
      .on(ListObjectsV2Command, { ContinuationToken: 't' })
      .resolves({ Contents: [{ Key: 'reports/a.json' }], IsTruncated: false });
    s3Mock.on(DeleteObjectCommand).resolves({});
    const store = new S3ObjectStore('deps-bucket', new S3Client({ region: 'eu-west-1' }));

    // Act
    const keys = await store.list('reports/');

    // Assess
    expect(keys).toEqual(['reports/a.json', 'reports/b.json']);
  });

  it('refuses keys that could escape the bucket prefix layout', async () => {
    // Prepare
    const store = new S3ObjectStore('deps-bucket', new S3Client({ region: 'eu-west-1' }));

    // Act
    const attempt = store.putBytes('../outside', 'x');

    // Assess
    await expect(attempt).rejects.toThrow(/is not a safe relative key/);
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });
});
