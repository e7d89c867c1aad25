// An in-memory PackageIndex for resolver tests: projects, versions, files (by tag), metadata and
// sizes are declared in a few lines, and every call is counted so tests can check laziness.
import { createHash } from 'node:crypto';
import type {
  CoreMetadata,
  DistributionFile,
  PackageIndex,
  WheelSize,
} from '../../functions/core/shared/types.ts';

export interface FakeFile {
  /** Full filename, or just the tag triple (`cp311-cp311-manylinux_2_17_x86_64`) to build one. */
  readonly tag?: string;
  readonly filename?: string;
  readonly yanked?: boolean | string;
  /** PEP 503 `data-requires-python` on the link (the index), distinct from the metadata's. */
  readonly requiresPython?: string;
  readonly size?: number;
}

export interface FakeRelease {
  readonly version: string;
  readonly requiresDist?: readonly string[];
  /** Requires-Python in the metadata. */
  readonly requiresPython?: string;
  readonly providesExtra?: readonly string[];
  /** Defaults to one `py3-none-any` wheel. */
  readonly files?: readonly FakeFile[];
  /** Metadata that lies about the version (to test inconsistent metadata). */
  readonly metadataVersion?: string;
}

export interface FakePackageIndex extends PackageIndex {
  readonly calls: {
    listFiles: string[];
    fetchMetadata: string[];
    measureWheel: string[];
    download: string[];
  };
}

export function fakeSha256(filename: string): string {
  return createHash('sha256').update(filename).digest('hex');
}

/**
 * @example createFakePackageIndex({ six: [{ version: '1.16.0' }], numpy: [{ version: '2.2.6', files: [{ tag: 'cp311-cp311-manylinux_2_17_x86_64' }] }] })
 */
export function createFakePackageIndex(
  projects: Readonly<Record<string, readonly FakeRelease[]>>,
): FakePackageIndex {
  const metadataByUrl = new Map<string, CoreMetadata>();
  const files = new Map<string, DistributionFile[]>();
  for (const [name, releases] of Object.entries(projects)) {
    const listing: DistributionFile[] = [];
    for (const release of releases) {
      for (const file of release.files ?? [{ tag: 'py3-none-any' }]) {
        const filename =
          file.filename ?? `${name.replace(/-/g, '_')}-${release.version}-${file.tag ?? 'py3-none-any'}.whl`;
        const url = `https://fake.test/files/${filename}`;
        listing.push({
          filename,
          url,
          sha256: fakeSha256(filename),
          requiresPython: file.requiresPython ?? null,
          yanked: file.yanked ?? false,
          size: file.size ?? 1000,
          metadataUrl: `${url}.metadata`,
          metadataSha256: null,
          source: 'https://fake.test/simple/',
        });
        metadataByUrl.set(url, {
          name,
          version: release.metadataVersion ?? release.version,
          requiresDist: release.requiresDist ?? [],
          requiresPython: release.requiresPython ?? null,
          providesExtra: release.providesExtra ?? [],
        });
      }
    }
    files.set(name, listing);
  }
  const calls: FakePackageIndex['calls'] = {
    listFiles: [],
    fetchMetadata: [],
    measureWheel: [],
    download: [],
  };
  return {
    calls,
    async listFiles(name) {
      calls.listFiles.push(name);
      return files.get(name) ?? [];
    },
    async fetchMetadata(file) {
      calls.fetchMetadata.push(file.filename);
      const metadata = metadataByUrl.get(file.url);
      if (!metadata) throw new Error(`fake index has no metadata for ${file.url}`);
      return metadata;
    },
    async measureWheel(file): Promise<WheelSize> {
      calls.measureWheel.push(file.filename);
      const size = file.size ?? 1000;
      return { size, unzippedSize: size * 3, entryCount: 10 };
    },
    async download(file) {
      calls.download.push(file.filename);
      throw new Error(`fake index does not download (${file.filename})`);
    },
  };
}
