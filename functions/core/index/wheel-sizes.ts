// Exact sizes of a wheel (compressed, unzipped, entry count) from its central directory, without
// downloading it whole; cached on disk by sha256 (or, for an unhashed local file, by path, size
// and mtime).
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { IntegrityError, ResolutionError } from '../shared/errors.ts';
import type { DistributionFile, WheelSize } from '../shared/types.ts';
import { sha256Hex } from '../shared/hash.ts';
import { recordOf } from './cache-records.ts';
import { readCacheRecord, writeCacheRecord } from './context.ts';
import type { IndexContext } from './context.ts';
import type { DownloadCache } from './download-cache.ts';
import type { WheelReader } from './remote-wheel.ts';
import { projectOfFilename } from './simple-pages.ts';
import { unzippedSize } from './zip-directory.ts';

/** What a size record must hold to be served. */
const checkWheelSize = recordOf<WheelSize>({
  size: 'count',
  unzippedSize: 'count',
  entryCount: 'count',
  sha256: 'sha256?',
});

/** Why a well-formed size record is still not this file's, or null when it is. */
function recordMismatch(file: DistributionFile, record: WheelSize): string | null {
  if (file.size !== null && record.size !== file.size)
    return `it says ${record.size} bytes, but ${file.source} lists ${file.size}`;
  if (file.sha256 && record.sha256 && record.sha256 !== file.sha256)
    return 'it names another sha256 than its file';
  return null;
}

/**
 * The wheel measurer of one index client.
 * @example const sizes = createWheelSizes(context, wheels, downloads); await sizes.measureWheel(file);
 */
export function createWheelSizes(
  context: IndexContext,
  wheels: WheelReader,
  downloads: DownloadCache,
): { measureWheel(file: DistributionFile): Promise<WheelSize> } {
  async function recordPath(file: DistributionFile): Promise<string | null> {
    if (file.sha256) return join(context.cacheDir, 'sizes', `${file.sha256}.json`);
    if (!file.url.startsWith('file:')) return null;
    const path = context.localPath(file.url);
    await context.watch?.read(path);
    const info = await stat(path);
    return join(
      context.cacheDir,
      'sizes',
      `local-${sha256Hex(`${path}\0${info.size}\0${info.mtimeMs}`)}.json`,
    );
  }

  async function measureWheel(file: DistributionFile): Promise<WheelSize> {
    if (!file.filename.endsWith('.whl')) {
      const project = projectOfFilename(file.filename) ?? file.filename;
      throw new ResolutionError(
        `${file.filename} is a source distribution; its installed size is known only after a build.`,
        [
          {
            package: project,
            message: `${file.filename} is not a wheel, so it cannot be measured before building`,
          },
        ],
      );
    }
    const record = await recordPath(file);
    const cached = record
      ? await readCacheRecord(context, record, 'size', checkWheelSize, (sizes) => recordMismatch(file, sizes))
      : null;
    if (cached) {
      context.emit({ type: 'cache-hit', kind: 'size', key: file.sha256 ?? file.url });
      return cached;
    }
    const wheel = await wheels.wheelDirectory(file);
    if (file.size !== null && file.size !== wheel.size) {
      throw new IntegrityError(
        `${file.filename}: the file is ${wheel.size} bytes, but ${file.source} says ${file.size}.`,
        {
          packageName: projectOfFilename(file.filename),
          hint: 'The file changed after the index listed it; retry, and if it persists report it to the index.',
        },
      );
    }
    // Local files listed without a hash (find-links folders) get one here, so a lock can name it.
    const sha256 =
      file.sha256 ??
      (file.url.startsWith('file:')
        ? await downloads.localSha256(context.localPath(file.url), file.filename)
        : null);
    const sizes: WheelSize = {
      size: wheel.size,
      unzippedSize: unzippedSize(wheel.entries),
      entryCount: wheel.entries.length,
      ...(sha256 ? { sha256 } : {}),
    };
    if (record) await writeCacheRecord(context, record, JSON.stringify(sizes));
    return sizes;
  }

  return { measureWheel };
}
