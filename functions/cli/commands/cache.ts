// `lambda-deps cache dir` and `lambda-deps cache clean`, as uv's commands of the same names: where
// the cache is, and emptying it to start over. The cache bounds itself (core/shared/cache-eviction.ts);
// clean is for a cache one no longer trusts or wants. It removes only the folders lambda-deps
// makes there (CACHE_FOLDERS), so a --cache-dir that names a folder of the user's loses nothing
// else: anything else found there is left as it is and named.
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { formatBytes } from '../../core/shared/units.ts';
import { defaultCacheDir } from './measure.ts';

/** Every top-level folder lambda-deps writes in its cache (a test builds into a cache and checks the list). */
export const CACHE_FOLDERS: readonly string[] = [
  'builds',
  'files',
  'iam-decisions',
  'import-footprints',
  'inspections',
  'installed',
  'interpreters',
  'layer-zips',
  'local-hashes',
  'measure-inputs',
  'metadata',
  'pipeline-definition',
  'probe-footprints',
  'resolutions',
  'sdist-wheels',
  'sizes',
  'unpacked-layers',
  'wheel-digests',
];

/** Bytes of the regular files below `folder` (links are not followed). */
async function bytesBelow(folder: string): Promise<number> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
  const sizes = await Promise.all(
    entries
      .filter((entry) => entry.isFile())
      .map((entry) =>
        stat(join(entry.parentPath, entry.name)).then(
          (info) => info.size,
          () => 0,
        ),
      ),
  );
  return sizes.reduce((sum, size) => sum + size, 0);
}

/** Remove lambda-deps's folders from `cacheDir`; what was removed, its bytes, and what was left. */
export async function cleanCache(
  cacheDir: string,
): Promise<{ removed: string[]; bytes: number; left: string[] }> {
  const names = await readdir(cacheDir).catch(() => [] as string[]);
  const ours = names.filter((name) => CACHE_FOLDERS.includes(name));
  let bytes = 0;
  for (const name of ours) {
    bytes += await bytesBelow(join(cacheDir, name));
    await rm(join(cacheDir, name), { recursive: true, force: true });
  }
  return { removed: ours, bytes, left: names.filter((name) => !CACHE_FOLDERS.includes(name)) };
}

export function createCacheCommand(): Command {
  const command = new Command('cache').description(
    'Show where the download and build cache is, or empty it (the folders lambda-deps makes there).',
  );
  command
    .command('dir')
    .description('print the cache folder')
    .option('--cache-dir <dir>', 'the cache folder (default ~/.cache/lambda-deps)')
    .action((options: { cacheDir?: string }) => {
      process.stdout.write(`${options.cacheDir ?? defaultCacheDir()}\n`);
    });
  command
    .command('clean')
    .description('remove everything lambda-deps keeps in the cache folder (nothing it did not make)')
    .option('--cache-dir <dir>', 'the cache folder (default ~/.cache/lambda-deps)')
    .action(async (options: { cacheDir?: string }) => {
      const cacheDir = options.cacheDir ?? defaultCacheDir();
      const { removed, bytes, left } = await cleanCache(cacheDir);
      process.stdout.write(
        `removed ${removed.length} cache folders (${formatBytes(bytes)}) from ${cacheDir}\n`,
      );
      if (left.length > 0)
        process.stderr.write(`left in place, not lambda-deps's: ${left.sort().join(', ')}\n`);
    });
  return command;
}
