// The core metadata an sdist declares, read from its PKG-INFO without running anything: used by
// the resolver only where PEP 643 makes it reliable (Metadata-Version 2.2 or later, and neither
// Requires-Dist nor Requires-Python marked Dynamic). Otherwise, as pip does, the backend's
// prepare_metadata_for_build_wheel says, run in the build's cell (sdist-prepare-metadata.ts);
// without the build's indexes to run it with, the resolver refuses, naming the package.
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { parseCoreMetadata } from '../index/core-metadata.ts';
import { ResolutionError } from '../shared/errors.ts';
import type { CoreMetadata } from '../shared/types.ts';
import { prepareSdistMetadata, type PrepareMetadataOptions } from './sdist-prepare-metadata.ts';

const MAX_PKG_INFO_BYTES = 1024 * 1024;

/** The text of `<top>/PKG-INFO` in a .tar.gz sdist, or null when it has none. */
async function readPkgInfo(path: string): Promise<string | null> {
  const extract = tar.extract();
  let found: string | null = null;
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const wanted = found === null && header.type === 'file' && /^[^/]+\/PKG-INFO$/.test(header.name);
    stream.on('data', (data: unknown) => {
      const chunk = data as Buffer;
      bytes += chunk.length;
      if (wanted && bytes <= MAX_PKG_INFO_BYTES) chunks.push(chunk);
    });
    stream.on('end', () => {
      if (wanted && bytes <= MAX_PKG_INFO_BYTES) found = Buffer.concat(chunks).toString('utf8');
      next();
    });
    stream.resume();
  });
  await pipeline(createReadStream(path), createGunzip(), extract);
  return found;
}

function headerValues(text: string, key: string): string[] {
  const head = text.split(/\r?\n\r?\n/)[0] ?? '';
  const pattern = new RegExp(`^${key}:[ \\t]*(.*)$`, 'gim');
  return [...head.matchAll(pattern)].map((match) => (match[1] ?? '').trim());
}

/** Why PKG-INFO cannot be trusted for resolving (PEP 643), or null when it can. */
export function pkgInfoUnreliability(text: string): string | null {
  const declared = headerValues(text, 'Metadata-Version')[0] ?? '';
  const [major, minor] = declared.split('.').map(Number);
  if (!(major !== undefined && minor !== undefined && (major > 2 || (major === 2 && minor >= 2))))
    return `its PKG-INFO has Metadata-Version ${declared || '(none)'}, older than 2.2 (PEP 643)`;
  const dynamic = headerValues(text, 'Dynamic').map((value) => value.toLowerCase());
  const unreliable = ['requires-dist', 'requires-python'].filter((field) => dynamic.includes(field));
  if (unreliable.length > 0) return `its PKG-INFO marks ${unreliable.join(' and ')} as Dynamic`;
  return null;
}

/**
 * The sdist's metadata from PKG-INFO; from its backend's prepare_metadata_for_build_wheel when
 * PKG-INFO is missing or not reliable and `prepare` says where the backend may run; else a
 * ResolutionError naming the package.
 * @example await readSdistMetadata('/cache/purepkg-1.0.tar.gz', 'purepkg-1.0.tar.gz', 'purepkg', { target, indexUrls, findLinks })
 */
export async function readSdistMetadata(
  path: string,
  filename: string,
  name: string,
  prepare?: PrepareMetadataOptions,
): Promise<CoreMetadata> {
  const refuse = (why: string): ResolutionError =>
    new ResolutionError(
      `${filename}: ${why}, so its dependencies are only known after running its build backend.`,
      [
        {
          package: name,
          message: `${filename} ${why}; pin a version with a wheel or with Metadata-Version 2.2+ PKG-INFO, or pass --only-binary ${name}`,
        },
      ],
    );
  if (!/\.tar\.gz$/i.test(filename)) throw refuse('is not a .tar.gz sdist (PEP 625)');
  const text = await readPkgInfo(path);
  const unreliable = text === null ? 'has no PKG-INFO' : pkgInfoUnreliability(text);
  if (unreliable && prepare) return prepareSdistMetadata(path, filename, name, prepare);
  if (unreliable || text === null) throw refuse(unreliable ?? 'has no PKG-INFO');
  return parseCoreMetadata(text, `${filename}/PKG-INFO`);
}
