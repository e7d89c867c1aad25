// `lambda-deps build` on the default path writes into the user's --out folder: a file there that
// lambda-deps did not write is never replaced (the build stops with exit 2 instead), and files
// beside the outputs survive; a rerun replaces its own outputs.
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuildManifest } from '../../../functions/core/shared/types.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';

const execFileAsync = promisify(execFile);
const indexes = localIndexes();
let work = '';

async function build(out: string): Promise<{ code: number; stderr: string }> {
  const [first, ...rest] = indexes?.indexUrls ?? [];
  const args = [
    'build',
    join(work, 'requirements.txt'),
    '--runtime',
    'python3.11',
    '--out',
    out,
    '--cache-dir',
    join(work, 'cache'),
    '--json',
    ...(first ? ['--index-url', first] : []),
    ...rest.flatMap((url) => ['--extra-index-url', url]),
  ];
  try {
    await execFileAsync('bin/lambda-deps', args, { maxBuffer: 64 * 1024 * 1024, timeout: 280_000 });
    return { code: 0, stderr: '' };
  } catch (error) {
    const failed = error as { code?: number; stderr?: string };
    return { code: failed.code ?? -1, stderr: failed.stderr ?? '' };
  }
}

describe.skipIf(indexes === null)(
  `--out on the default build path${indexes ? '' : ` (skipped: ${NO_LOCAL_INDEXES_REASON})`}`,
  () => {
    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'lambda-deps-out-folder-'));
      await writeFile(join(work, 'requirements.txt'), 'six\n');
    });
    afterAll(() => rm(work, { recursive: true, force: true }));

    it('refuses to overwrite a layer file it did not write, and keeps the files beside its outputs', async () => {
      // Prepare: a first run says which layer file the set makes.
      const first = join(work, 'first');
      expect((await build(first)).code).toBe(0);
      await writeFile(join(first, 'layers', 'mine.txt'), 'the user’s');
      const manifest = JSON.parse(await readFile(join(first, 'manifest.json'), 'utf8')) as BuildManifest;
      const layer = manifest.layers[0]?.file ?? 'missing';
      const second = join(work, 'second');
      await mkdir(join(second, 'layers'), { recursive: true });
      await writeFile(join(second, layer), 'a file of the user’s');

      // Act
      const rerun = await build(first);
      const refused = await build(second);

      // Assess
      expect(rerun.code, rerun.stderr).toBe(0);
      expect(await readFile(join(first, 'layers', 'mine.txt'), 'utf8')).toBe('the user’s');
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/was not written by lambda-deps, and a build would replace it/);
      expect(await readFile(join(second, layer), 'utf8')).toBe('a file of the user’s');
      // Refused before the run: nothing was built, published or switched for it.
      expect(refused.stderr).not.toMatch(/PublishLayers/);
      expect(existsSync(join(second, 'parameters.json'))).toBe(false);
      expect(existsSync(join(second, 'layers', 'versions.json'))).toBe(false);
      expect(existsSync(join(second, 'store'))).toBe(false);
    }, 600_000);
  },
);
