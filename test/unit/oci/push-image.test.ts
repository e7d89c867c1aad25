// The pure parts of the image push: ECR credentials, the stacked config and manifest.
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../functions/core/shared/errors.ts';
import {
  DOCKER_CONFIG,
  DOCKER_LAYER_GZIP,
  DOCKER_MANIFEST,
  OCI_CONFIG,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  dependencyImageConfig,
  type ImageConfig,
} from '../../../functions/core/deliver/oci/image-layout.ts';
import {
  ecrRegistryCredentials,
  stackConfig,
  stackManifest,
} from '../../../functions/core/deliver/oci/push-image.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';

const digest = (character: string): string => `sha256:${character.repeat(64)}`;

describe('ecrRegistryCredentials', () => {
  it('decodes the base64 AWS:password token, keeping colons inside the password', () => {
    // Prepare
    const token = Buffer.from('AWS:eyJwYXlsb2FkIjoi:with:colons').toString('base64');

    // Act
    const credentials = ecrRegistryCredentials(token, 'https://123456789012.dkr.ecr.eu-west-1.amazonaws.com');

    // Assess
    expect(credentials).toEqual({
      username: 'AWS',
      password: 'eyJwYXlsb2FkIjoi:with:colons',
      registryUrl: 'https://123456789012.dkr.ecr.eu-west-1.amazonaws.com',
    });
  });

  it.each([
    ['not base64', 'not base64 at all!'],
    ['no colon', Buffer.from('AWSpassword').toString('base64')],
    ['an empty password', Buffer.from('AWS:').toString('base64')],
    ['an empty token', ''],
  ])('refuses a token with %s', (_case, token) => {
    // Prepare
    let thrown: unknown = null;

    // Act
    try {
      ecrRegistryCredentials(token);
    } catch (error) {
      thrown = error;
    }

    // Assess
    expect(thrown).toBeInstanceOf(InputError);
    expect((thrown as InputError).message).toMatch(/not base64 of "user:password"/);
    expect((thrown as InputError).hint).toMatch(/GetAuthorizationToken/);
  });
});

describe('stackConfig', () => {
  const base: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    created: '2026-01-01T00:00:00Z',
    config: { Env: ['PATH=/var/lang/bin', 'PYTHONPATH=/var/runtime'], Entrypoint: ['/lambda-entrypoint.sh'] },
    rootfs: { type: 'layers', diff_ids: [digest('1'), digest('2')] },
    history: [{ created_by: 'os' }, { created_by: 'runtime' }],
  };

  it('appends the dependency diff_id and history, keeping the base config and times', () => {
    // Prepare
    const dependencies = dependencyImageConfig({
      target: lambdaTarget('python3.12', 'x86_64'),
      installPrefix: '/var/task',
      diffId: digest('3'),
    });

    // Act
    const stacked = stackConfig(base, dependencies);

    // Assess
    expect(stacked.rootfs.diff_ids).toEqual([digest('1'), digest('2'), digest('3')]);
    expect(stacked.history?.map((entry) => entry.created_by)).toEqual([
      'os',
      'runtime',
      dependencies.history?.[0]?.created_by,
    ]);
    expect(stacked.created).toBe(base.created);
    expect(stacked.config?.Entrypoint).toEqual(['/lambda-entrypoint.sh']);
    expect(stacked.config?.Env).toEqual(base.config?.Env);
    expect(base.rootfs.diff_ids).toHaveLength(2);
  });

  it('prepends the dependency folder to an existing PYTHONPATH', () => {
    // Prepare
    const dependencies = dependencyImageConfig({
      target: lambdaTarget('python3.12', 'x86_64'),
      installPrefix: '/opt/python',
      diffId: digest('3'),
    });

    // Act
    const stacked = stackConfig(base, dependencies);

    // Assess
    expect(stacked.config?.Env).toEqual(['PATH=/var/lang/bin', 'PYTHONPATH=/opt/python:/var/runtime']);
  });
});

describe('stackManifest', () => {
  const layer = { mediaType: OCI_LAYER_GZIP, digest: digest('c'), size: 300 };
  const config = { digest: digest('d'), size: 1200 };

  it('keeps a Docker schema 2 base in Docker media types, the dependency layer last', () => {
    // Prepare
    const base = {
      schemaVersion: 2 as const,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: DOCKER_CONFIG, digest: digest('a'), size: 10 },
      layers: [{ mediaType: DOCKER_LAYER_GZIP, digest: digest('b'), size: 20 }],
    };

    // Act
    const manifest = stackManifest(base, config, layer);

    // Assess
    expect(manifest).toEqual({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: DOCKER_CONFIG, ...config },
      layers: [base.layers[0], { mediaType: DOCKER_LAYER_GZIP, digest: layer.digest, size: layer.size }],
    });
  });

  it('keeps an OCI base in OCI media types', () => {
    // Prepare
    const base = {
      schemaVersion: 2 as const,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: digest('a'), size: 10 },
      layers: [{ mediaType: OCI_LAYER_GZIP, digest: digest('b'), size: 20 }],
    };

    // Act
    const manifest = stackManifest(base, config, layer);

    // Assess
    expect(manifest.mediaType).toBe(OCI_MANIFEST);
    expect(manifest.config.mediaType).toBe(OCI_CONFIG);
    expect(manifest.layers.map((entry) => entry.mediaType)).toEqual([OCI_LAYER_GZIP, OCI_LAYER_GZIP]);
  });
});
