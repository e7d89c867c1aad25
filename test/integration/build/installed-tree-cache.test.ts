// The per-wheel installed-tree cache on real manylinux wheels (numpy: hundreds of files, an
// auditwheel .libs folder, entry-point launchers): a second install of the same wheels copies
// every one from the cache and gives back exactly what the first install did, and a lock that
// adds a package builds the same layers as a build without a cache.
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDependencySet, fileSha256, type BuildEvent } from '../../../functions/core/build/build.ts';
import { createBuildContext } from '../../../functions/core/build/build-events.ts';
import { installSet } from '../../../functions/core/build/install-set.ts';
import { DEFAULT_SLIM_POLICY } from '../../../functions/core/build/slim-policy.ts';
import { lambdaInterpreter } from '../../../functions/core/build/wheel-installer.ts';
import { parseDeliveryPolicy } from '../../../functions/core/route/delivery-policy.ts';
import type { Lock, PackageIndex } from '../../../functions/core/shared/types.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { lockFromPip } from './pip-report-lock.ts';

const indexes = localIndexes();
const fileIndex: Pick<PackageIndex, 'download'> = { download: async (file) => fileURLToPath(file.url) };

/** Every file below `root` with its sha256 and mode. */
async function treeSnapshot(root: string): Promise<Map<string, string>> {
  const snapshot = new Map<string, string>();
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isSymbolicLink()) snapshot.set(path.slice(root.length), 'symlink');
    else if (entry.isFile())
      snapshot.set(path.slice(root.length), `${await fileSha256(path)} ${(await stat(path)).mode & 0o777}`);
  }
  return snapshot;
}

const reusedNames = (events: readonly BuildEvent[]): string[] =>
  events.flatMap((event) => (event.type === 'package' && event.reusedFrom ? [event.name] : [])).sort();

describe.skipIf(indexes === null)(
  `the installed-tree cache on numpy and six for python3.11 x86_64 (skipped when: ${NO_LOCAL_INDEXES_REASON})`,
  () => {
    let work: string;
    let numpy: Lock;
    let grown: Lock;

    beforeAll(async () => {
      if (!indexes) return;
      work = await mkdtemp(join(tmpdir(), 'lambda-deps-installed-real-'));
      grown = await lockFromPip(['numpy', 'six'], indexes, work);
      numpy = { ...grown, packages: grown.packages.filter((locked) => locked.name === 'numpy') };
    }, 120_000);

    afterAll(async () => {
      if (work) await rm(work, { recursive: true, force: true });
    });

    const install = async (lock: Lock, cacheDir: string, treeDir: string) => {
      const events: BuildEvent[] = [];
      const started = performance.now();
      const installed = await installSet(
        {
          lock,
          index: fileIndex,
          policy: parseDeliveryPolicy({}),
          slim: DEFAULT_SLIM_POLICY,
          treeDir,
          scratch: work,
          interpreter: lambdaInterpreter('3.11'),
          cacheDir,
        },
        createBuildContext((event) => events.push(event)),
      );
      return { installed, events, milliseconds: performance.now() - started };
    };

    it('installs the same wheels again from the cache: the same packages, a byte-identical tree', async () => {
      // Prepare
      const cacheDir = join(work, 'cache-same');
      const first = await install(grown, cacheDir, join(work, 'tree-1'));

      // Act
      const second = await install(grown, cacheDir, join(work, 'tree-2'));

      // Assess
      expect(reusedNames(first.events)).toEqual([]);
      expect(reusedNames(second.events)).toEqual(['numpy', 'six']);
      expect(second.events.filter((event) => event.type === 'warning')).toEqual([]);
      expect(second.installed).toEqual(first.installed);
      const [one, two] = [await treeSnapshot(join(work, 'tree-1')), await treeSnapshot(join(work, 'tree-2'))];
      expect(one.size).toBeGreaterThan(200);
      expect(two).toEqual(one);
      console.info(
        `numpy + six: installed in ${Math.round(first.milliseconds)} ms, from the cache in ${Math.round(second.milliseconds)} ms`,
      );
    });

    it('builds a lock that adds a package with the unchanged wheel from the cache, into the layers of an uncached build', async () => {
      // Prepare
      const cacheDir = join(work, 'cache-grown');
      const build = (lock: Lock, cache: string, out: string, events: BuildEvent[] = []) =>
        buildDependencySet({
          lock,
          index: fileIndex,
          outDir: join(work, out),
          policy: {},
          cacheDir: cache,
          onEvent: (event) => events.push(event),
        });
      await build(numpy, cacheDir, 'out-numpy');
      const events: BuildEvent[] = [];

      // Act
      const reused = await build(grown, cacheDir, 'out-grown', events);

      // Assess
      expect(reusedNames(events)).toEqual(['numpy']);
      const uncached = await build(grown, join(work, 'cache-uncached'), 'out-uncached');
      expect(reused.verification.ok).toBe(true);
      expect(reused.smokeImport.ok).toBe(uncached.smokeImport.ok);
      expect(reused.layers.map((layer) => layer.sha256)).toEqual(
        uncached.layers.map((layer) => layer.sha256),
      );
      expect(reused.packages).toEqual(uncached.packages);
    }, 240_000);
  },
);
