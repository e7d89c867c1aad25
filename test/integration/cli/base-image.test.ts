// `lambda-deps build --base-image` on the default path, as a user runs it: a custom glibc target's
// image is pushed onto the base the user names, after that base's libc.so.6 is read from its
// layers; a base whose glibc is older than --glibc is refused. The bases are small synthetic
// images pushed to Debian's docker-registry on 127.0.0.1 (no public base can be fetched here).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseImageReference } from '../../../functions/core/deliver/oci/base-image.ts';
import type { ImageManifest } from '../../../functions/core/deliver/oci/image-layout.ts';
import { RegistryClient } from '../../../functions/core/deliver/oci/registry-client.ts';
import { pushSyntheticBase } from './synthetic-base.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import {
  NO_REGISTRY_REASON,
  registryAvailable,
  startRegistry,
  type LocalRegistry,
} from '../oci/local-registry.ts';

const execFileAsync = promisify(execFile);
const indexes = localIndexes();
const cannotRun = indexes === null || !registryAvailable();
const WHY = cannotRun ? ` (skipped: ${indexes === null ? NO_LOCAL_INDEXES_REASON : NO_REGISTRY_REASON})` : '';
let work = '';
let registry: LocalRegistry | null = null;

async function buildOnBase(tag: string): Promise<{ code: number; output: string; out: string }> {
  const out = join(work, `out-${tag}`);
  const [first, ...rest] = indexes?.indexUrls ?? [];
  const args = [
    'build',
    join(work, 'requirements.txt'),
    '--python',
    '3.11',
    '--glibc',
    '2.34',
    '--strategy',
    'image',
    '--registry',
    registry?.url ?? '',
    '--base-image',
    `${registry?.host ?? ''}/base/custom:${tag}`,
    '--out',
    out,
    '--cache-dir',
    join(work, 'cache'),
    '--json',
    ...(first ? ['--index-url', first] : []),
    ...rest.flatMap((url) => ['--extra-index-url', url]),
  ];
  try {
    const { stdout, stderr } = await execFileAsync('bin/lambda-deps', args, {
      maxBuffer: 64 * 1024 * 1024,
      timeout: 280_000,
    });
    return { code: 0, output: stdout + stderr, out };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}`, out };
  }
}

describe.skipIf(cannotRun)(`build --base-image for a custom glibc target${WHY}`, () => {
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'lambda-deps-base-image-'));
    registry = await startRegistry(work, join(work, 'registry'));
    await writeFile(join(work, 'requirements.txt'), 'six\n');
  });
  afterAll(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pushes the image onto a base whose glibc is new enough', { timeout: 300_000 }, async () => {
    // Prepare
    const baseLayer = await pushSyntheticBase(registry?.url ?? '', work, 'glibc-2.34', '2.34');

    // Act
    const run = await buildOnBase('glibc-2.34');

    // Assess: the pushed image sits on the named base (its first layer is the base's).
    expect(run.code, run.output).toBe(0);
    const manifest = JSON.parse(await readFile(join(run.out, 'manifest.json'), 'utf8')) as {
      delivery?: { imageUri?: string; digest?: string };
    };
    expect(manifest.delivery?.imageUri).toContain(registry?.host);
    const pushedRef = parseImageReference(manifest.delivery?.imageUri ?? 'missing');
    const client = new RegistryClient({ registryUrl: registry?.url ?? '' });
    const pushed = (await client.getManifest(pushedRef.repository, pushedRef.reference))
      .json as ImageManifest;
    expect(pushed.layers[0]?.digest).toBe(baseLayer);
  });

  it(
    'refuses a base whose glibc is older than the target’s, naming both versions',
    { timeout: 300_000 },
    async () => {
      // Prepare
      await pushSyntheticBase(registry?.url ?? '', work, 'glibc-2.26', '2.26');

      // Act
      const run = await buildOnBase('glibc-2.26');

      // Assess
      expect(run.code).not.toBe(0);
      expect(run.output).toMatch(/has glibc 2\.26, but the set was built for glibc 2\.34/);
    },
  );
});
