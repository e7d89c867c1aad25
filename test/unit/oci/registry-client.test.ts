// The registry client's pure parts: auth challenges, registry URLs and platform selection.
import { describe, expect, it } from 'vitest';
import { DOCKER_MANIFEST } from '../../../functions/core/deliver/oci/image-layout.ts';
import {
  parseAuthenticateHeader,
  registryOrigin,
  selectPlatformManifest,
  type ImageIndex,
} from '../../../functions/core/deliver/oci/registry-client.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';

const digest = (character: string): string => `sha256:${character.repeat(64)}`;

describe('parseAuthenticateHeader', () => {
  it('reads a Bearer challenge with quoted parameters', () => {
    // Prepare
    const header = 'Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws",scope="aws"';

    // Act
    const challenge = parseAuthenticateHeader(header);

    // Assess
    expect(challenge).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://public.ecr.aws/token/', service: 'public.ecr.aws', scope: 'aws' },
    });
  });

  it('reads a Basic challenge as ECR sends it', () => {
    // Prepare
    const header =
      'Basic realm="https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/",service="ecr.amazonaws.com"';

    // Act
    const challenge = parseAuthenticateHeader(header);

    // Assess
    expect(challenge.scheme).toBe('basic');
    expect(challenge.params.service).toBe('ecr.amazonaws.com');
  });
});

describe('registryOrigin', () => {
  it.each([
    ['public.ecr.aws', 'https://public.ecr.aws'],
    ['123456789012.dkr.ecr.eu-west-1.amazonaws.com', 'https://123456789012.dkr.ecr.eu-west-1.amazonaws.com'],
    ['127.0.0.1:5000', 'http://127.0.0.1:5000'],
    ['localhost:5000', 'http://localhost:5000'],
    ['http://registry.internal:5000/', 'http://registry.internal:5000'],
  ])('maps %s to %s', (input, origin) => {
    // Prepare
    // Act
    const result = registryOrigin(input);

    // Assess
    expect(result).toBe(origin);
  });
});

describe('selectPlatformManifest', () => {
  const index: ImageIndex = {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: DOCKER_MANIFEST,
        digest: digest('1'),
        size: 1,
        platform: { architecture: 'unknown', os: 'unknown' },
        annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
      },
      {
        mediaType: DOCKER_MANIFEST,
        digest: digest('2'),
        size: 1,
        platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
      },
      {
        mediaType: DOCKER_MANIFEST,
        digest: digest('3'),
        size: 1,
        platform: { architecture: 'amd64', os: 'linux' },
      },
    ],
  };

  it('chooses the single-arch manifest for each target architecture', () => {
    // Prepare
    const x86 = lambdaTarget('python3.12', 'x86_64');
    const arm = lambdaTarget('python3.12', 'arm64');

    // Act
    const forX86 = selectPlatformManifest(index, x86, 'base');
    const forArm = selectPlatformManifest(index, arm, 'base');

    // Assess
    expect(forX86.digest).toBe(digest('3'));
    expect(forArm.digest).toBe(digest('2'));
  });

  it('never chooses an attestation manifest, and says what the index offers when nothing fits', () => {
    // Prepare
    const attestationOnly: ImageIndex = {
      schemaVersion: 2,
      manifests: [index.manifests[0]!, index.manifests[1]!],
    };

    // Act
    const choosing = (): unknown =>
      selectPlatformManifest(attestationOnly, lambdaTarget('python3.12', 'x86_64'), 'lambda/python:3.12');

    // Assess
    expect(choosing).toThrow(
      /lambda\/python:3\.12 has no linux\/amd64 image \(it offers unknown\/unknown, linux\/arm64\)/,
    );
  });
});
