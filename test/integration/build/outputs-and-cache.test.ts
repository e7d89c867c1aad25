// The build's output folder and cache under attack and accident: an output edited after
// delivery, cache entries corrupted in each way seen (`{}`, a negative size, an edited zip),
// files of the user's own in --out, and a failure injected at each write and rename of
// publishing in turn. Nothing foreign is deleted, old outputs stay whole until new ones are,
// and the next run always delivers the same bytes as a clean build.
import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile, appendFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildDependencySet,
  type BuildDependencySetOptions,
  type BuildEvent,
} from '../../../functions/core/build/build.ts';
import {
  injectFailureAt,
  publishingSteps,
  InjectedFailure,
} from '../../../functions/core/shared/atomic-write.ts';
import { KEPT_BUILDS } from '../../../functions/core/build/build-cache.ts';
import { InputError } from '../../../functions/core/shared/errors.ts';
import { sha256OfFile } from '../../../functions/core/shared/hash.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import type { BuildManifest, Lock, PackageIndex } from '../../../functions/core/shared/types.ts';
import { recordReliability } from '../../support/reliability-log.ts';
import { writeTinyWheel } from '../../unit/build/tiny-wheels.ts';

const fileIndex: Pick<PackageIndex, 'download'> = { download: async (file) => fileURLToPath(file.url) };

let work = '';
let lockA: Lock;
let lockB: Lock;
let counter = 0;
let detected = 0;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-outputs-'));
  const one = await writeTinyWheel(work, 'alpha', '1.0', { 'alpha/__init__.py': 'A = 1\n' });
  const two = await writeTinyWheel(work, 'beta', '2.0', { 'beta/__init__.py': 'B = 2\n' });
  const target = lambdaTarget('python3.11', 'x86_64');
  lockA = { lockVersion: 1, target, packages: [one.locked] };
  lockB = { lockVersion: 1, target, packages: [one.locked, two.locked] };
});
afterAll(async () => {
  injectFailureAt(null);
  await rm(work, { recursive: true, force: true });
});

function fresh(name: string): string {
  return join(work, `${name}-${counter++}`);
}

async function build(
  lock: Lock,
  outDir: string,
  cacheDir: string,
  events: BuildEvent[] = [],
  cacheBounds?: BuildDependencySetOptions['cacheBounds'],
): Promise<BuildManifest> {
  return buildDependencySet({
    ...(cacheBounds ? { cacheBounds } : {}),
    lock,
    index: fileIndex,
    outDir,
    cacheDir,
    policy: { forceStrategy: 'layers' },
    // No interpreter: the smoke import is skipped, which keeps each of the many builds short.
    pythonExecutable: '/nonexistent/python3.11',
    treeScratchDir: work,
    onEvent: (event) => events.push(event),
  });
}

/** sha256 of every delivered file, by relative path (the ownership list left out). */
async function delivered(outDir: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  const entries = await readdir(outDir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name).slice(outDir.length + 1);
    if (path.startsWith('.lambda-deps-outputs')) continue;
    if (path === 'manifest.json') {
      // Timings differ from run to run; everything else must be the same.
      const { timings: _timings, ...rest } = JSON.parse(
        await readFile(join(outDir, path), 'utf8'),
      ) as BuildManifest;
      result[path] = JSON.stringify(rest);
    } else result[path] = await sha256OfFile(join(outDir, path));
  }
  return result;
}

describe('the build cache', () => {
  it('is not changed by editing a delivered output (outputs are copies, not hard links)', async () => {
    // Prepare
    const outDir = fresh('out');
    const cacheDir = fresh('cache');
    const manifest = await build(lockA, outDir, cacheDir);
    const zip = join(outDir, manifest.layers[0]?.file ?? '');
    await appendFile(zip, 'tampered');

    // Act
    const again = await build(lockA, outDir, cacheDir);

    // Assess
    expect(again.layers[0]?.sha256).toBe(manifest.layers[0]?.sha256);
    expect(await sha256OfFile(zip)).toBe(manifest.layers[0]?.sha256);
    detected++;
  });

  it('links, not copies, only when told the output folder is nobody’s to edit (linkOutputs)', async () => {
    // Prepare
    const cacheDir = fresh('cache');
    const [linkedOut, copiedOut] = [fresh('out'), fresh('out')];

    // Act: built and delivered by links, then a cache hit delivered by copies, as to a user
    const manifest = await buildDependencySet({
      lock: lockA,
      index: fileIndex,
      outDir: linkedOut,
      cacheDir,
      policy: { forceStrategy: 'layers' },
      pythonExecutable: '/nonexistent/python3.11',
      treeScratchDir: work,
      linkOutputs: true,
    });
    await build(lockA, copiedOut, cacheDir);

    // Assess
    const [key = ''] = (await readdir(join(cacheDir, 'builds'))).filter((name) => !name.startsWith('.'));
    const file = manifest.layers[0]?.file ?? '';
    const inodeOf = async (root: string): Promise<number> => (await stat(join(root, file))).ino;
    expect(await inodeOf(linkedOut)).toBe(await inodeOf(join(cacheDir, 'builds', key)));
    expect(await inodeOf(copiedOut)).not.toBe(await inodeOf(join(cacheDir, 'builds', key)));
    expect(await sha256OfFile(join(copiedOut, file))).toBe(manifest.layers[0]?.sha256);
  });

  it("lists every file of its entry with that file's own sha256 (the zips' taken as they were written)", async () => {
    // Prepare
    const cacheDir = fresh('cache');

    // Act
    await build(lockB, fresh('out'), cacheDir);

    // Assess
    const [key = ''] = await readdir(join(cacheDir, 'builds'));
    const entry = join(cacheDir, 'builds', key);
    const { files } = JSON.parse(await readFile(join(entry, '.cache-entry.json'), 'utf8')) as {
      files: { path: string; sha256: string }[];
    };
    expect(files.some((file) => file.path.endsWith('.zip'))).toBe(true);
    for (const file of files) expect(file.sha256).toBe(await sha256OfFile(join(entry, file.path)));
  });

  const corruptions: { name: string; corrupt: (entry: string, manifest: BuildManifest) => Promise<void> }[] =
    [
      { name: 'a manifest of {}', corrupt: (entry) => writeFile(join(entry, 'manifest.json'), '{}') },
      {
        name: 'a negative size',
        corrupt: async (entry) => {
          const text = await readFile(join(entry, 'manifest.json'), 'utf8');
          await writeFile(
            join(entry, 'manifest.json'),
            text.replace(/"slimmed": \d+/, '"slimmed": -5046586573'),
          );
        },
      },
      {
        name: 'an edited layer zip',
        corrupt: (entry, manifest) => appendFile(join(entry, manifest.layers[0]?.file ?? ''), 'x'),
      },
      {
        name: 'a truncated manifest',
        corrupt: (entry) => writeFile(join(entry, 'manifest.json'), '{"lockHash": "'),
      },
    ];

  it.each(corruptions)('discards an entry with $name, warns, and builds again', async ({ corrupt }) => {
    // Prepare
    const cacheDir = fresh('cache');
    const clean = await build(lockA, fresh('out'), cacheDir);
    const [key] = await readdir(join(cacheDir, 'builds'));
    await corrupt(join(cacheDir, 'builds', key ?? ''), clean);
    const events: BuildEvent[] = [];
    const outDir = fresh('out');

    // Act
    const rebuilt = await build(lockA, outDir, cacheDir, events);

    // Assess
    const warnings = events.flatMap((event) => (event.type === 'warning' ? [event.message] : []));
    expect(warnings.some((message) => /cached build .* was discarded/.test(message))).toBe(true);
    expect(events.some((event) => event.type === 'cache-hit')).toBe(false);
    expect(rebuilt.sizes.slimmed).toBe(clean.sizes.slimmed);
    expect(rebuilt.layers.map((layer) => layer.sha256)).toEqual(clean.layers.map((layer) => layer.sha256));
    expect(await sha256OfFile(join(outDir, rebuilt.layers[0]?.file ?? ''))).toBe(clean.layers[0]?.sha256);
    detected++;
  });

  afterAll(() => {
    recordReliability({
      area: 'build cache',
      experiment: `corrupted cache entries detected (${corruptions.map((entry) => entry.name).join(', ')}; an edited output)`,
      cases: corruptions.length + 1,
      faultsInjected: corruptions.length + 1,
      runs: corruptions.length + 1,
      lost:
        detected === corruptions.length + 1 ? 'nothing' : `${corruptions.length + 1 - detected} not detected`,
    });
  });
});

describe('the bounds of the big cache folders', () => {
  /** Entries of an earlier day in `folder`, each holding `bytes`; their names. */
  async function earlierEntries(folder: string, count: number, bytes: number): Promise<string[]> {
    const names: string[] = [];
    for (let index = 0; index < count; index++) {
      const name = index.toString(16).padStart(64, 'e');
      await mkdir(join(folder, name), { recursive: true });
      await writeFile(join(folder, name, 'files.bin'), Buffer.alloc(bytes));
      const at = new Date(Date.now() - (index + 1) * 86_400_000);
      await utimes(join(folder, name), at, at);
      names.push(name);
    }
    return names;
  }

  it('keeps the builds and installed wheels used last, among them the ones this build used', async () => {
    // Prepare: lock A built (its entries then as old as any), and more earlier entries than kept
    const cacheDir = fresh('cache');
    await build(lockA, fresh('out'), cacheDir);
    const [builtA = ''] = await readdir(join(cacheDir, 'builds'));
    const [installedAlpha = ''] = (await readdir(join(cacheDir, 'installed'))).filter(
      (name) => !name.startsWith('.'),
    );
    const old = new Date(Date.now() - 30 * 86_400_000);
    await utimes(join(cacheDir, 'builds', builtA), old, old);
    await utimes(join(cacheDir, 'installed', installedAlpha), old, old);
    const earlierBuilds = await earlierEntries(join(cacheDir, 'builds'), KEPT_BUILDS + 2, 10);
    const earlierInstalls = await earlierEntries(join(cacheDir, 'installed'), 3, 1024 ** 2);

    // Act: A again (a hit, and alpha reused by B), then B (built, beta installed)
    await build(lockA, fresh('out'), cacheDir);
    await build(lockB, fresh('out'), cacheDir, [], { installedBytes: 1024 ** 2 + 100_000 });

    // Assess
    const builds = await readdir(join(cacheDir, 'builds'));
    expect(builds.filter((name) => /^[0-9a-f]{64}$/.test(name))).toHaveLength(KEPT_BUILDS);
    expect(builds).toContain(builtA);
    expect(builds).not.toContain(earlierBuilds.at(-1));
    const installed = (await readdir(join(cacheDir, 'installed'))).filter((name) =>
      /^[0-9a-f]{64}$/.test(name),
    );
    expect(installed).toContain(installedAlpha);
    expect(installed).toHaveLength(3);
    expect(installed.filter((name) => earlierInstalls.includes(name))).toEqual([earlierInstalls[0]]);
  });
});

describe('the output folder', () => {
  it('deletes nothing it did not create: a foreign file in --out stops the build and stays', async () => {
    // Prepare
    const outDir = fresh('out');
    await build(lockA, outDir, fresh('cache'));
    const foreign = join(outDir, 'layers', 'my-notes.txt');
    await writeFile(foreign, 'mine');
    const alsoForeign = fresh('out');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(alsoForeign, 'efs'), { recursive: true });
    await writeFile(join(alsoForeign, 'efs', 'keep.bin'), 'mine too');

    // Act
    const intoOwned = await build(lockB, outDir, fresh('cache')).catch((error: unknown) => error);
    const intoForeign = await build(lockA, alsoForeign, fresh('cache')).catch((error: unknown) => error);

    // Assess
    expect(intoOwned).toBeInstanceOf(InputError);
    expect(String(intoOwned)).toMatch(/my-notes\.txt was not written by lambda-deps/);
    expect(String(intoForeign)).toMatch(/keep\.bin was not written by lambda-deps/);
    expect(await readFile(foreign, 'utf8')).toBe('mine');
    expect(await readFile(join(alsoForeign, 'efs', 'keep.bin'), 'utf8')).toBe('mine too');
  });

  it('survives a failure at each write and rename of publishing: old or new outputs whole, the next run the same bytes', async () => {
    // Prepare: the outputs of A, then of B, as clean builds give them.
    const expectedA = await delivered(
      await (async () => {
        const dir = fresh('out');
        await build(lockA, dir, fresh('cache'));
        return dir;
      })(),
    );
    // Counted as in the loop below: B built over A's outputs.
    const cleanB = fresh('out');
    await build(lockA, cleanB, fresh('cache'));
    injectFailureAt(null);
    await build(lockB, cleanB, fresh('cache'));
    const steps = publishingSteps();
    const expectedB = await delivered(cleanB);
    expect(steps).toBeGreaterThan(5);
    const states: string[] = [];

    for (let step = 1; step <= steps; step++) {
      const outDir = fresh('out');
      const cacheDir = fresh('cache');
      await build(lockA, outDir, cacheDir);
      // Act
      injectFailureAt(step);
      const failed = await build(lockB, outDir, cacheDir).then(
        () => null,
        (error: unknown) => error,
      );
      injectFailureAt(null);
      const between = await delivered(outDir);
      await build(lockB, outDir, cacheDir);
      // Assess
      expect(failed).toBeInstanceOf(InjectedFailure);
      const state =
        JSON.stringify(between) === JSON.stringify(expectedA)
          ? 'old'
          : JSON.stringify(between) === JSON.stringify(expectedB)
            ? 'new'
            : 'mixed';
      states.push(state);
      expect(state).not.toBe('mixed');
      expect(await delivered(outDir)).toEqual(expectedB);
    }
    recordReliability({
      area: 'build outputs',
      experiment: `a failure at each of ${steps} write/rename steps of publishing (cache entry and --out), each followed by a successful run with the same bytes (after the failure: ${states.filter((s) => s === 'old').length} old, ${states.filter((s) => s === 'new').length} new, 0 mixed)`,
      cases: steps,
      faultsInjected: steps,
      runs: steps * 2,
      lost: 'nothing',
    });
  }, 300_000);
});
