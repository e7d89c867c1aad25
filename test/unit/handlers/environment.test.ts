import { describe, expect, it } from 'vitest';
import { awsDependencies } from '../../../functions/adapters/aws/aws-adapters.ts';
import { readPipelineSettings } from '../../../functions/adapters/environment.ts';

const CONTRACT = {
  ARTIFACT_BUCKET: 'deps-bucket',
  SSM_PARAMETER_PREFIX: '/lambda-deps/',
  EVENT_BUS_NAME: 'default',
  LAYER_NAME_PREFIX: 'lambda-deps-',
  LAYER_PRINCIPALS: '111111111111,222222222222',
  LAYER_ORGANIZATION_ID: '',
  FUNCTIONS_TO_UPDATE: 'api, worker',
  EFS_MOUNT_PATH: '/mnt/deps',
  EFS_ACCESS_POINT_ARN: 'arn:aws:elasticfilesystem:eu-west-1:111111111111:access-point/fsap-1',
  EFS_FILE_SYSTEM_ID: 'fs-1',
  ECR_REPOSITORY_URI: '111111111111.dkr.ecr.eu-west-1.amazonaws.com/deps',
  ECR_REPOSITORY_NAME: 'deps',
  INDEX_URL: 'https://pypi.org/simple',
  EXTRA_INDEX_URLS: 'https://a.example/simple https://b.example/simple',
};

describe('readPipelineSettings', () => {
  it('reads the contract variables and fills only the documented defaults', () => {
    // Act
    const settings = readPipelineSettings(CONTRACT);

    // Assess
    expect(settings).toMatchObject({
      artifactBucket: 'deps-bucket',
      layerPrincipals: ['111111111111', '222222222222'],
      layerOrganizationId: null,
      functionsToUpdate: ['api', 'worker'],
      keepEfsVersions: 3,
      baseImageRepository: 'public.ecr.aws/lambda/python',
      defaultRuntime: 'python3.12',
      defaultArchitecture: 'arm64',
      extraIndexUrls: ['https://a.example/simple', 'https://b.example/simple'],
    });
  });

  it('names every missing required variable at once', () => {
    // Prepare
    const { ARTIFACT_BUCKET: _bucket, EVENT_BUS_NAME: _bus, ...partial } = CONTRACT;

    // Act
    const read = () => readPipelineSettings(partial, ['ECR_REPOSITORY_URI']);

    // Assess
    expect(read).toThrow('Missing environment variable(s): ARTIFACT_BUCKET, EVENT_BUS_NAME.');
  });

  it.each([
    { variable: 'EFS_MOUNT_PATH', value: '/var/deps', message: /EFS_MOUNT_PATH: must match/ },
    {
      variable: 'LAYER_PRINCIPALS',
      value: '1234,abc',
      message: /LAYER_PRINCIPALS\.0: a 12-digit account id/,
    },
    { variable: 'KEEP_EFS_VERSIONS', value: 'many', message: /KEEP_EFS_VERSIONS/ },
    { variable: 'DEFAULT_ARCHITECTURE', value: 'mips', message: /DEFAULT_ARCHITECTURE/ },
    {
      variable: 'SSM_PARAMETER_PREFIX',
      value: 'lambda-deps',
      message: /SSM_PARAMETER_PREFIX: must look like/,
    },
  ])('refuses an invalid $variable', ({ variable, value, message }) => {
    // Act
    const read = () => readPipelineSettings({ ...CONTRACT, [variable]: value });

    // Assess
    expect(read).toThrow(message);
  });
});

describe('awsDependencies', () => {
  it('fails at start-up, not at first use, when the environment is incomplete', () => {
    // Act
    const build = () => awsDependencies({ ARTIFACT_BUCKET: 'b' });

    // Assess
    expect(build).toThrow(
      /Missing environment variable\(s\): SSM_PARAMETER_PREFIX, EVENT_BUS_NAME, LAYER_NAME_PREFIX, EFS_MOUNT_PATH/,
    );
  });

  it('builds the S3 store on the configured bucket', () => {
    // Act
    const { adapters } = awsDependencies(CONTRACT);

    // Assess
    expect(adapters.store.location).toBe('s3://deps-bucket');
    expect(adapters.fileSystem.mountRoot).toBe('/mnt/deps');
  });
});
