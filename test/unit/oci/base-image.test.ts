// The image route's base: Amazon Linux 2 for python3.10/3.11, 2023 for 3.12+, and for a custom
// glibc target a base the user names, whose glibc is read from libc.so.6 in its layers.
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import {
  assertBaseGlibc,
  chooseBaseImage,
  glibcInLayer,
  parseImageReference,
} from '../../../functions/core/deliver/oci/base-image.ts';
import { customTarget, lambdaTarget } from '../../../functions/core/shared/targets.ts';

type Entry = { name: string; body?: string; linkname?: string };

async function layerTar(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const entry of entries) {
    if (entry.linkname) pack.entry({ name: entry.name, type: 'symlink', linkname: entry.linkname });
    else pack.entry({ name: entry.name }, entry.body ?? '');
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  return gzipSync(Buffer.concat(chunks));
}

const layer = (bytes: Buffer) => ({ open: async () => Readable.from([bytes]), gzipped: true });
const AL2_LAYER = [
  { name: 'lib64/libc-2.26.so', body: 'ELF…' },
  { name: 'lib64/libc.so.6', linkname: 'libc-2.26.so' },
];
const AL2023_LAYER = [
  {
    name: 'usr/lib64/libc.so.6',
    body: `\u007fELF${'x'.repeat(5000)}GNU C Library (GNU libc) stable release version 2.34.\n`,
  },
];

describe('chooseBaseImage', () => {
  it.each([
    ['python3.10', 'amazonlinux2'],
    ['python3.11', 'amazonlinux2'],
    ['python3.12', 'amazonlinux2023'],
    ['python3.13', 'amazonlinux2023'],
  ])('puts a %s set on the Lambda image of that runtime (%s)', (runtime, os) => {
    // Act
    const chosen = chooseBaseImage(lambdaTarget(runtime, 'x86_64'), {
      repository: 'public.ecr.aws/lambda/python',
      customBaseImage: null,
    });

    // Assess
    expect(chosen?.os).toBe(os);
    expect(chosen?.base).toMatchObject({
      registryUrl: 'https://public.ecr.aws',
      repository: 'lambda/python',
      reference: `${runtime.slice('python'.length)}-x86_64`,
    });
    expect(chosen?.requireGlibc).toBeNull();
  });

  it('refuses a custom glibc target without a named base, saying why python3.11 does not fit', () => {
    // Act
    const choose = () =>
      chooseBaseImage(customTarget({ python: '3.11', glibc: '2.34', arch: 'x86_64' }), {
        repository: 'public.ecr.aws/lambda/python',
        customBaseImage: null,
      });

    // Assess
    expect(choose).toThrow(/Amazon Linux 2 with glibc 2\.26/);
    expect(choose).toThrow(expect.objectContaining({ hint: expect.stringContaining('--base-image') }));
  });

  it('takes the named base for a custom target and asks for its glibc to be checked', () => {
    // Act
    const chosen = chooseBaseImage(customTarget({ python: '3.11', glibc: '2.34', arch: 'x86_64' }), {
      repository: 'public.ecr.aws/lambda/python',
      customBaseImage: '127.0.0.1:5000/bases/al2023-py311@sha256:' + 'a'.repeat(64),
    });

    // Assess
    expect(chosen).toMatchObject({
      base: {
        registryUrl: 'http://127.0.0.1:5000',
        repository: 'bases/al2023-py311',
        reference: `sha256:${'a'.repeat(64)}`,
      },
      os: null,
      requireGlibc: '2.34',
    });
  });
});

describe('parseImageReference', () => {
  it('reads Docker Hub short names as library images', () => {
    expect(parseImageReference('amazonlinux:2023')).toMatchObject({
      registryUrl: 'https://registry-1.docker.io',
      repository: 'library/amazonlinux',
      reference: '2023',
    });
  });
});

describe("the base's glibc", () => {
  it('reads 2.26 from the libc.so.6 link of an Amazon Linux 2 layer', async () => {
    // Act
    const version = await glibcInLayer(Readable.from([await layerTar(AL2_LAYER)]), true);

    // Assess
    expect(version).toBe('2.26');
  });

  it("reads 2.34 from an Amazon Linux 2023 libc.so.6's own banner", async () => {
    // Act
    const version = await glibcInLayer(Readable.from([await layerTar(AL2023_LAYER)]), true);

    // Assess
    expect(version).toBe('2.34');
  });

  it('refuses a base whose glibc is older than the set needs, naming both versions', async () => {
    // Prepare
    const layers = [
      layer(await layerTar(AL2_LAYER)),
      layer(await layerTar([{ name: 'var/task/app.py', body: '' }])),
    ];

    // Act
    const check = assertBaseGlibc('127.0.0.1:5000/base:py311', layers, '2.34');

    // Assess
    await expect(check).rejects.toThrow(
      '127.0.0.1:5000/base:py311 has glibc 2.26, but the set was built for glibc 2.34',
    );
  });

  it('lets the top layer that replaces libc decide', async () => {
    // Prepare
    const layers = [layer(await layerTar(AL2_LAYER)), layer(await layerTar(AL2023_LAYER))];

    // Act
    const version = await assertBaseGlibc('base', layers, '2.34');

    // Assess
    expect(version).toBe('2.34');
  });

  it('refuses a base with no libc at all (musl, distroless static)', async () => {
    // Prepare
    const layers = [layer(await layerTar([{ name: 'lib/ld-musl-x86_64.so.1', body: '' }]))];

    // Act & Assess
    await expect(assertBaseGlibc('alpine', layers, '2.34')).rejects.toThrow(/no libc\.so\.6/);
  });
});
