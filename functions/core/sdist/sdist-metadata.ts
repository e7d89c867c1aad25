// The core metadata an sdist declares, read from its PKG-INFO without running anything: used by
// the resolver only where PEP 643 makes it reliable (Metadata-Version 2.2 or later, and neither
// Requires-Dist nor Requires-Python marked Dynamic). Otherwise pip would run the backend's
// prepare_metadata_for_build_wheel; lambda-deps refuses at resolve time instead (it runs no sdist
// code before the build), naming the package and what to do.
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { parseCoreMetadata } from '../index/core-metadata.ts';
import { ResolutionError } from '../shared/errors.ts';
import type { CoreMetadata } from '../shared/types.ts';

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
 * The sdist's metadata from PKG-INFO, or a ResolutionError naming the package when PKG-INFO is
 * missing or not reliable.
 * @example await readSdistMetadata('/cache/purepkg-1.0.tar.gz', 'purepkg-1.0.tar.gz', 'purepkg')
 */
export async function readSdistMetadata(path: string, filename: string, name: string): Promise<CoreMetadata> {
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
  if (text === null) throw refuse('has no PKG-INFO');
  const unreliable = pkgInfoUnreliability(text);
  if (unreliable) throw refuse(unreliable);
  return parseCoreMetadata(text, `${filename}/PKG-INFO`);
}
