// The download cache: whole files streamed to disk (never held in memory), sha256-verified,
// renamed into a content-addressed folder only when complete; and sha256 of local files,
// cached by path, size and modification time.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { IndexUnreachableError, InputError, IntegrityError, LambdaDepsError } from '../shared/errors.ts';
import type { DistributionFile } from '../shared/types.ts';
import pLimit from 'p-limit';
import { sha256Hex } from '../shared/hash.ts';
import { recordOf } from './cache-records.ts';
import { memo, readCacheRecord, writeCacheRecord } from './context.ts';
import type { IndexContext } from './context.ts';
import { hashRegularFile, openRegularFile } from './local-files.ts';
import { projectOfFilename } from './simple-pages.ts';
import { describeFault, drainBody } from './transport.ts';
import type { HttpResponse } from './transport.ts';

export interface DownloadCache {
  /** A local path to the whole file, sha256-verified. */
  download(file: DistributionFile): Promise<string>;
  /** Streams a 200 response for `file` into the cache; returns the cached path. */
  saveToCache(file: DistributionFile, response: HttpResponse): Promise<string>;
  /** sha256 of the local distribution file `filename` at `path` (cached by path, size and mtime). */
  localSha256(path: string, filename: string): Promise<string>;
}

export function integrityError(file: DistributionFile, actual: string, what = 'file'): IntegrityError {
  return new IntegrityError(
    `${file.filename}: the ${what} from ${file.url} has sha256 ${actual}, but ${file.source} says ${
      what === 'file' ? file.sha256 : file.metadataSha256
    }.`,
    {
      packageName: projectOfFilename(file.filename),
      hint: 'The file was changed or corrupted after the index listed it. Do not use it: clear the cache entry, check the index (or mirror) for tampering, and retry.',
    },
  );
}

/** What a local-hash record must hold to be served (a changed file is caught by size and mtime). */
const checkLocalHash = recordOf<{ size: number; mtimeMs: number; sha256: string }>({
  size: 'count',
  mtimeMs: 'time',
  sha256: 'sha256',
});

/**
 * The download cache of one index client.
 * @example const downloads = createDownloadCache(context); await downloads.download(file);
 */
export function createDownloadCache(context: IndexContext): DownloadCache {
  const { cacheDir, emit } = context;
  // Hashing is CPU-bound on one thread; a few at once keep the disk busy without thrashing.
  const hashLimit = pLimit(4);
  const downloads = new Map<string, Promise<string>>();
  const localHashes = new Map<string, Promise<string>>();

  function localSha256(path: string, filename: string): Promise<string> {
    return memo(localHashes, path, async () => {
      await context.watch?.read(path);
      // Checked before the cache is consulted: a link swapped to a secret gets no cached answer either.
      const { handle, ...info } = await openRegularFile(path, filename);
      await handle.close();
      const record = join(cacheDir, 'local-hashes', `${sha256Hex(path)}.json`);
      const cached = await readCacheRecord(context, record, 'verification', checkLocalHash);
      if (cached && cached.size === info.size && cached.mtimeMs === info.mtimeMs) {
        emit({ type: 'cache-hit', kind: 'verification', key: path });
        return cached.sha256;
      }
      const { sha256, size } = await hashLimit(() => hashRegularFile(path, filename));
      await writeCacheRecord(context, record, JSON.stringify({ size, mtimeMs: info.mtimeMs, sha256 }));
      return sha256;
    });
  }

  function cachePath(file: DistributionFile): string {
    const folder = file.sha256
      ? join(cacheDir, 'files', file.sha256.slice(0, 2), file.sha256)
      : join(cacheDir, 'files', 'by-url', sha256Hex(file.url));
    return join(folder, basename(file.filename));
  }

  async function saveToCache(file: DistributionFile, response: HttpResponse): Promise<string> {
    const target = cachePath(file);
    // Synchronous on purpose: nothing may come between the response and drainBody's listeners.
    mkdirSync(dirname(target), { recursive: true });
    const temporary = `${target}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    const hash = createHash('sha256');
    const output = createWriteStream(temporary);
    const written = new Promise<void>((done, fail) => {
      output.once('finish', done);
      output.once('error', fail);
    });
    written.catch(() => undefined);
    let received = 0;
    try {
      // Written without waiting for the disk (see drainBody); a disk slower than the network only buffers.
      await drainBody(response, (chunk) => {
        received += chunk.length;
        if (file.size !== null && received > file.size) {
          throw new IntegrityError(
            `${file.filename}: ${file.url} sent more than the ${file.size} bytes listed.`,
            {
              packageName: projectOfFilename(file.filename),
            },
          );
        }
        hash.update(chunk);
        output.write(chunk);
      }).finally(() => output.end());
      await written;
      const actual = hash.digest('hex');
      if (file.sha256 && actual !== file.sha256) throw integrityError(file, actual);
      await rename(temporary, target);
      return target;
    } finally {
      // Wait for the stream to close: it may still be creating the file, which must not outlive this.
      const closed = new Promise<void>((done) =>
        output.closed ? done() : output.once('close', () => done()),
      );
      output.destroy();
      await closed;
      await rm(temporary, { force: true });
    }
  }

  async function downloadHttp(file: DistributionFile): Promise<string> {
    const target = cachePath(file);
    const existing = await stat(target).catch(() => null);
    if (existing?.isFile() && (file.size === null || existing.size === file.size)) {
      emit({ type: 'cache-hit', kind: 'download', key: file.sha256 ?? file.url });
      return target;
    }
    return context.transport.send(file.url, file.source, {}, async (response) => {
      if (response.statusCode !== 200) {
        await response.body.dump();
        throw new IndexUnreachableError(
          `${response.url} answered HTTP ${response.statusCode}, not the file.`,
          {
            packageName: projectOfFilename(file.filename),
            hint: `The index ${file.source} lists a file it does not serve; try again later or report it to the index's operators.`,
          },
        );
      }
      return saveToCache(file, response);
    });
  }

  async function download(file: DistributionFile): Promise<string> {
    if (!file.url.startsWith('file:'))
      return memo(downloads, file.sha256 ?? file.url, () => downloadHttp(file));
    const path = context.localPath(file.url);
    const actual = await localSha256(path, basename(file.filename)).catch((error: unknown) => {
      if (error instanceof LambdaDepsError) throw error;
      throw new InputError(`${file.filename}: cannot read ${path} (${describeFault(error)}).`, {
        packageName: projectOfFilename(file.filename),
        hint: 'Check the find-links folder or file:// index still holds the file and that it is readable.',
        cause: error,
      });
    });
    if (file.sha256 && actual !== file.sha256) throw integrityError(file, actual);
    return path;
  }

  return { download, saveToCache, localSha256 };
}
