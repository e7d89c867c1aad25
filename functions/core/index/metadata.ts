// Core metadata of a distribution: the PEP 658/714 `.metadata` file when the index offers one,
// else METADATA read out of the wheel (by Range where possible); checked against the filename
// and cached on disk by the file's sha256.
import { join } from 'node:path';
import { isVersion, versionsEqual } from '../shared/pep440.ts';
import { IntegrityError, ResolutionError, UnsafeArchiveError } from '../shared/errors.ts';
import type { CoreMetadata, DistributionFile } from '../shared/types.ts';
import { parseCoreMetadata } from './core-metadata.ts';
import { sha256Hex } from '../shared/hash.ts';
import { recordOf } from './cache-records.ts';
import { memo, readCacheRecord, writeCacheRecord } from './context.ts';
import type { IndexContext } from './context.ts';
import { integrityError } from './download-cache.ts';
import { readRegularFile } from './local-files.ts';
import type { WheelReader } from './remote-wheel.ts';
import { normalizeName, projectOfFilename } from './simple-pages.ts';
import { readBody } from './transport.ts';

/** What a metadata record must hold to be served. */
const checkCoreMetadata = recordOf<CoreMetadata>({
  name: 'text',
  version: 'text',
  requiresDist: 'texts',
  requiresPython: 'text|null',
  providesExtra: 'texts',
});

function metadataMatchesFilename(file: DistributionFile, metadata: CoreMetadata): boolean {
  if (!file.filename.endsWith('.whl')) return true;
  const [name = '', version = ''] = file.filename.split('-');
  const sameVersion = (a: string, b: string): boolean =>
    isVersion(a) && isVersion(b) ? versionsEqual(a, b) : a.toLowerCase() === b.toLowerCase();
  return normalizeName(metadata.name) === normalizeName(name) && sameVersion(metadata.version, version);
}

function assertMetadataMatchesFilename(file: DistributionFile, metadata: CoreMetadata): void {
  if (!metadataMatchesFilename(file, metadata)) {
    const [name = ''] = file.filename.split('-');
    throw new IntegrityError(
      `${file.filename}: its metadata says ${metadata.name} ${metadata.version}, which is not the file's name and version.`,
      {
        packageName: normalizeName(name),
        hint: 'The wheel (or its .metadata file) is mislabelled or tampered with; do not install it, and report it to the index.',
      },
    );
  }
}

/** A local PEP 658 file, or null when it cannot be read (then METADATA is read from the wheel). */
async function readLocalMetadata(
  context: IndexContext,
  path: string,
  filename: string,
): Promise<Buffer | null> {
  // Told whether or not it is there: one that appears later would be read instead of the wheel's.
  await context.watch?.read(path);
  // A PEP 658 file is the wheel's name plus `.metadata`: a link to anything else is not read.
  return readRegularFile(path, context.maxPageBytes, `${filename}.metadata`).catch(() => null);
}

/**
 * The metadata reader of one index client.
 * @example const metadata = createMetadataReader(context, wheels); await metadata.fetchMetadata(file);
 */
export function createMetadataReader(
  context: IndexContext,
  wheels: WheelReader,
): { fetchMetadata(file: DistributionFile): Promise<CoreMetadata> } {
  const byKey = new Map<string, Promise<CoreMetadata>>();

  async function metadataFromFile(file: DistributionFile): Promise<CoreMetadata | null> {
    const url = file.metadataUrl;
    if (!url) return null;
    const bytes = url.startsWith('file:')
      ? await readLocalMetadata(context, context.localPath(url), file.filename)
      : await context.transport.send(url, file.source, {}, async (response) => {
          if (response.statusCode !== 200) {
            await response.body.dump();
            return null;
          }
          return readBody(response, context.maxPageBytes);
        });
    if (bytes === null) return null;
    if (file.metadataSha256) {
      const actual = sha256Hex(bytes);
      if (actual !== file.metadataSha256) throw integrityError(file, actual, 'metadata file');
    }
    return parseCoreMetadata(bytes.toString('utf8'), url);
  }

  async function metadataFromWheel(file: DistributionFile): Promise<CoreMetadata> {
    const wheel = await wheels.wheelDirectory(file);
    const candidates = wheel.entries.filter((entry) => /^[^/]+\.dist-info\/METADATA$/.test(entry.name));
    const project = projectOfFilename(file.filename);
    const entry =
      candidates.length === 1
        ? candidates[0]
        : candidates.find((candidate) => normalizeName(candidate.name.split('-')[0] ?? '') === project);
    if (!entry) {
      throw new UnsafeArchiveError(
        `${file.filename}: ${candidates.length === 0 ? 'has no' : 'has several'} *.dist-info/METADATA file${candidates.length === 0 ? '' : 's'}.`,
        {
          packageName: project,
          hint: 'A wheel must hold exactly one .dist-info folder with METADATA; this file is broken, pick another version.',
        },
      );
    }
    const text = (await wheels.readEntry(file, wheel, entry)).toString('utf8');
    return parseCoreMetadata(text, `${file.filename}/${entry.name}`);
  }

  function sdistError(file: DistributionFile): ResolutionError {
    const project = projectOfFilename(file.filename) ?? file.filename;
    return new ResolutionError(`${file.filename} is a source distribution; its metadata needs a build.`, [
      { package: project, message: `${file.filename} is not a wheel and its index offers no metadata file` },
    ]);
  }

  function fetchMetadata(file: DistributionFile): Promise<CoreMetadata> {
    const key = file.sha256 ?? file.url;
    return memo(byKey, key, async () => {
      const record = file.sha256 ? join(context.cacheDir, 'metadata', `${file.sha256}.json`) : null;
      const cached = record
        ? await readCacheRecord(context, record, 'metadata', checkCoreMetadata, (metadata) =>
            metadataMatchesFilename(file, metadata) ? null : `it names ${metadata.name} ${metadata.version}`,
          )
        : null;
      if (cached) {
        context.emit({ type: 'cache-hit', kind: 'metadata', key });
        return cached;
      }
      if (!file.filename.endsWith('.whl')) throw sdistError(file);
      const metadata = (await metadataFromFile(file)) ?? (await metadataFromWheel(file));
      assertMetadataMatchesFilename(file, metadata);
      if (record) await writeCacheRecord(context, record, JSON.stringify(metadata));
      return metadata;
    });
  }

  return { fetchMetadata };
}
