// measure's resolution cache (core/measure/resolution-cache.ts) on real on-disk indexes: a
// measure of an unchanged file takes the lock resolved before, and any change to what that lock
// was resolved from (a page, a find-links folder, a wheel's bytes, a page that appears, the
// requirements, an included file, the target, the policy) resolves again; an entry that does not
// check out is ignored; --no-cache neither reads nor writes; a resolution that asked the network
// is never stored.
import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { ZipFile } from 'yazl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measureRequirements, type MeasureEvent } from '../../../functions/core/measure/measure.ts';
import { defaultDeliveryPolicy } from '../../../functions/core/route/policy-defaults.ts';
import type { DeliveryPolicy } from '../../../functions/core/route/delivery-policy.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import type { Lock, Target } from '../../../functions/core/shared/types.ts';
import { startLoopbackIndex, makeTinyWheel } from '../../support/loopback-index.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';

interface Wheel {
  readonly filename: string;
  readonly bytes: Buffer;
  readonly sha256: string;
}

/** A minimal py3-none-any wheel, stored uncompressed so that another `note` of the same length gives other bytes of the same size. */
async function wheel(name: string, version: string, note = 'a'): Promise<Wheel> {
  const module = name.replace(/-/g, '_');
  const distInfo = `${module}-${version}.dist-info`;
  const files: [string, string][] = [
    [`${module}/__init__.py`, `NOTE = ${JSON.stringify(note)}\n`],
    [`${distInfo}/METADATA`, `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n`],
    [`${distInfo}/WHEEL`, 'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n'],
    [`${distInfo}/RECORD`, ''],
  ];
  const zip = new ZipFile();
  for (const [path, text] of files)
    zip.addBuffer(Buffer.from(text), path, { mtime: new Date(0), compress: false });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  const filename = `${module}-${version}-py3-none-any.whl`;
  return { filename, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** One test's own index (simple/ and files/), find-links folder, requirements and cache. */
interface Fixture {
  readonly root: string;
  readonly indexUrl: string;
  readonly findLinks: string;
  readonly requirements: string;
  readonly cacheDir: string;
}

let work = '';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-resolution-cache-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Writes `name`'s wheels to files/ and its PEP 503 page (with hashes) listing them all. */
async function publish(fixture: Fixture, name: string, versions: readonly string[]): Promise<void> {
  const links: string[] = [];
  for (const version of versions) {
    const built = await wheel(name, version);
    await writeFile(join(fixture.root, 'files', built.filename), built.bytes);
    links.push(`<a href="../../files/${built.filename}#sha256=${built.sha256}">${built.filename}</a>`);
  }
  await mkdir(join(fixture.root, 'simple', name), { recursive: true });
  await writeFile(join(fixture.root, 'simple', name, 'index.html'), links.join('<br>\n'));
}

async function dropIntoFindLinks(
  fixture: Fixture,
  name: string,
  version: string,
  note?: string,
): Promise<Wheel> {
  const built = await wheel(name, version, note);
  await writeFile(join(fixture.findLinks, built.filename), built.bytes);
  return built;
}

/**
 * Lets the fixture's files age past the cache's racy window (100 ms): a source changed so shortly
 * before a run is never trusted, since a rewrite within the same clock tick could keep its times.
 */
const settle = (): Promise<void> => new Promise((done) => setTimeout(done, 250));

/** alpha 1.0 on the index, beta 1.0 in the find-links folder, requirements `alpha` and `beta`. */
async function fixture(requirements = 'alpha\nbeta\n'): Promise<Fixture> {
  const root = await mkdtemp(join(work, 'case-'));
  await mkdir(join(root, 'files'));
  await mkdir(join(root, 'find-links'));
  const made: Fixture = {
    root,
    indexUrl: `${pathToFileURL(join(root, 'simple')).href}/`,
    findLinks: join(root, 'find-links'),
    requirements: join(root, 'requirements.txt'),
    cacheDir: join(root, 'cache'),
  };
  await publish(made, 'alpha', ['1.0']);
  await dropIntoFindLinks(made, 'beta', '1.0');
  await writeFile(made.requirements, requirements);
  await settle();
  return made;
}

interface Measured {
  readonly lock: Lock;
  readonly events: MeasureEvent[];
  /** The resolving step said the set was unchanged (the cached lock was used). */
  readonly cached: boolean;
  /** The resolver pinned packages (it ran). */
  readonly resolved: boolean;
}

interface MeasureOptions {
  readonly policy?: DeliveryPolicy;
  readonly target?: Target;
  readonly indexUrl?: string;
  readonly extraIndexUrls?: string[];
  /** Called with each event as it happens, while the run goes on. */
  readonly during?: (event: MeasureEvent) => void;
}

async function measure(fixture: Fixture, options: MeasureOptions = {}): Promise<Measured> {
  const events: MeasureEvent[] = [];
  const { lock } = await measureRequirements({
    requirementsPath: fixture.requirements,
    target: options.target ?? lambdaTarget('python3.11', 'x86_64'),
    environment: { PIP_CONFIG_FILE: '/dev/null' },
    cliIndexOptions: {
      indexUrl: options.indexUrl ?? fixture.indexUrl,
      extraIndexUrls: options.extraIndexUrls ?? [],
      findLinks: [fixture.findLinks],
    },
    cacheDir: fixture.cacheDir,
    ...(options.policy ? { policy: options.policy } : {}),
    onEvent: (event) => {
      events.push(event);
      options.during?.(event);
    },
  });
  const cached = events.some(
    (event) =>
      event.type === 'step' && event.step === 'resolving' && event.detail.includes('unchanged since'),
  );
  return { lock, events, cached, resolved: events.some((event) => event.type === 'pinned') };
}

const versions = (lock: Lock): string[] => lock.packages.map((entry) => `${entry.name} ${entry.version}`);

async function entries(fixture: Fixture): Promise<string[]> {
  const names = await readdir(join(fixture.cacheDir, 'resolutions')).catch(() => []);
  return names
    .filter((name) => name.endsWith('.json'))
    .map((name) => join(fixture.cacheDir, 'resolutions', name));
}

async function onlyEntry(fixture: Fixture): Promise<string> {
  const found = await entries(fixture);
  expect(found).toHaveLength(1);
  return found[0]!;
}

describe('measure of an unchanged requirements file', () => {
  it('takes the lock resolved before, without resolving or reading the index', async () => {
    // Prepare
    const sources = await fixture();
    const first = await measure(sources);

    // Act
    const second = await measure(sources);

    // Assess
    expect(first).toMatchObject({ cached: false, resolved: true });
    expect(second).toMatchObject({ cached: true, resolved: false });
    expect(second.events.filter((event) => ['cache-hit', 'request'].includes(event.type))).toEqual([]);
    expect(second.lock).toEqual(first.lock);
    expect(versions(second.lock)).toEqual(['alpha 1.0', 'beta 1.0']);
    const entry = JSON.parse(await readFile(await onlyEntry(sources), 'utf8'));
    expect(entry.sources).toEqual(
      expect.arrayContaining([
        { path: join(sources.root, 'simple', 'alpha', 'index.html'), identity: expect.any(String) },
        { path: join(sources.root, 'simple', 'beta', 'index.html'), identity: null },
        { path: sources.findLinks, identity: expect.any(String) },
      ]),
    );
  });
});

describe('a change to what the lock was resolved from', () => {
  it('resolves again when a new version is added to a local index page', async () => {
    // Prepare
    const sources = await fixture();
    await measure(sources);
    await publish(sources, 'alpha', ['1.0', '1.1']);

    // Act
    const again = await measure(sources);

    // Assess
    expect(again).toMatchObject({ cached: false, resolved: true });
    expect(versions(again.lock)).toEqual(['alpha 1.1', 'beta 1.0']);
  });

  it('resolves again when a wheel is dropped into the find-links folder', async () => {
    // Prepare
    const sources = await fixture();
    await measure(sources);
    await dropIntoFindLinks(sources, 'beta', '2.0');

    // Act
    const again = await measure(sources);

    // Assess
    expect(again).toMatchObject({ cached: false, resolved: true });
    expect(versions(again.lock)).toEqual(['alpha 1.0', 'beta 2.0']);
  });

  it('resolves again when a project page that was absent appears', async () => {
    // Prepare: beta is only in the find-links folder; the index has no page for it.
    const sources = await fixture();
    await measure(sources);
    await publish(sources, 'beta', ['3.0']);

    // Act
    const again = await measure(sources);

    // Assess
    expect(again).toMatchObject({ cached: false, resolved: true });
    expect(versions(again.lock)).toEqual(['alpha 1.0', 'beta 3.0']);
  });

  it('resolves again when a find-links wheel is rewritten in place with other bytes of the same size', async () => {
    // Prepare
    const sources = await fixture();
    const first = await measure(sources);
    const before = await stat(join(sources.findLinks, 'beta-1.0-py3-none-any.whl'));
    const rewritten = await dropIntoFindLinks(sources, 'beta', '1.0', 'b');
    const after = await stat(join(sources.findLinks, 'beta-1.0-py3-none-any.whl'));

    // Act
    const again = await measure(sources);

    // Assess
    expect([after.ino, after.size]).toEqual([before.ino, before.size]);
    expect(again).toMatchObject({ cached: false, resolved: true });
    const beta = again.lock.packages.find((entry) => entry.name === 'beta');
    expect(beta?.sha256).toBe(rewritten.sha256);
    expect(beta?.sha256).not.toBe(first.lock.packages.find((entry) => entry.name === 'beta')?.sha256);
  });

  it('resolves again when the requirements change', async () => {
    // Prepare
    const sources = await fixture();
    await publish(sources, 'alpha', ['1.0', '1.1']);
    await settle();
    await measure(sources);
    await writeFile(sources.requirements, 'alpha==1.0\nbeta\n');

    // Act
    const again = await measure(sources);

    // Assess
    expect(again).toMatchObject({ cached: false, resolved: true });
    expect(versions(again.lock)).toEqual(['alpha 1.0', 'beta 1.0']);
    expect(await entries(sources)).toHaveLength(2);
  });

  it('resolves again when a file the requirements include with -r changes', async () => {
    // Prepare
    const sources = await fixture('-r base.txt\n');
    await writeFile(join(sources.root, 'base.txt'), 'alpha\n');
    await settle();
    const first = await measure(sources);
    await writeFile(join(sources.root, 'base.txt'), 'alpha\nbeta\n');

    // Act
    const again = await measure(sources);

    // Assess
    expect(versions(first.lock)).toEqual(['alpha 1.0']);
    expect(again).toMatchObject({ cached: false, resolved: true });
    expect(versions(again.lock)).toEqual(['alpha 1.0', 'beta 1.0']);
  });

  it.each([
    ['another target', { target: lambdaTarget('python3.12', 'arm64') }],
    ['another policy', { policy: { ...defaultDeliveryPolicy(), existingLayers: 2 } }],
  ])('resolves again, under another key, for %s', async (_what, options) => {
    // Prepare
    const sources = await fixture();
    await measure(sources);

    // Act
    const other = await measure(sources, options);
    const otherAgain = await measure(sources, options);
    const original = await measure(sources);

    // Assess
    expect(other).toMatchObject({ cached: false, resolved: true });
    expect(otherAgain.cached).toBe(true);
    expect(original.cached).toBe(true);
    expect(await entries(sources)).toHaveLength(2);
  });
});

describe('a resolution whose sources moved around it', () => {
  it('is not stored when a source changed just before the run, and is once it has aged', async () => {
    // Prepare: a page rewritten just now, within the window a same-tick rewrite could hide in.
    const sources = await fixture();
    await publish(sources, 'alpha', ['1.0']);

    // Act
    const fresh = await measure(sources);
    const storedFresh = await entries(sources);
    await settle();
    const aged = await measure(sources);
    const again = await measure(sources);

    // Assess
    expect(fresh.resolved).toBe(true);
    expect(storedFresh).toEqual([]);
    expect(aged).toMatchObject({ cached: false, resolved: true });
    expect(again.cached).toBe(true);
  });

  it('is not stored when a source changes while the set is resolved', async () => {
    // Prepare
    const sources = await fixture();
    const page = join(sources.root, 'simple', 'alpha', 'index.html');
    let touched = false;
    const touchPage = (event: MeasureEvent): void => {
      if (touched || event.type !== 'pinned') return;
      touched = true;
      appendFileSync(page, '\n');
    };

    // Act
    const during = await measure(sources, { during: touchPage });

    // Assess
    expect(touched).toBe(true);
    expect(during.resolved).toBe(true);
    expect(await entries(sources)).toEqual([]);
  });
});

describe('an entry in the cache folder that does not check out', () => {
  const spoilers: [string, (text: string) => string][] = [
    ['garbage', () => 'not json {'],
    ['truncated', (text) => text.slice(0, Math.floor(text.length / 2))],
    ['another format', (text) => JSON.stringify({ ...JSON.parse(text), format: 99 })],
    ['a wrong lockHash', (text) => JSON.stringify({ ...JSON.parse(text), lockHash: '0'.repeat(64) })],
    [
      'a lock changed under its hash',
      (text) => {
        const entry = JSON.parse(text);
        entry.lock.packages[0].version = '9.9';
        return JSON.stringify(entry);
      },
    ],
    [
      'sources that are not a list of paths',
      (text) => JSON.stringify({ ...JSON.parse(text), sources: [{ path: 7, identity: null }] }),
    ],
    ['more than 16 MiB', (text) => `${text}${' '.repeat(16 * 1024 * 1024)}`],
  ];

  it.each(spoilers)(
    'is ignored when it is %s: the set is resolved again and the entry rewritten',
    async (_what, spoil) => {
      // Prepare
      const sources = await fixture();
      const first = await measure(sources);
      const path = await onlyEntry(sources);
      await writeFile(path, spoil(await readFile(path, 'utf8')));

      // Act
      const again = await measure(sources);
      const third = await measure(sources);

      // Assess
      expect(again).toMatchObject({ cached: false, resolved: true });
      expect(again.lock).toEqual(first.lock);
      expect(third.cached).toBe(true);
    },
  );

  it('is ignored when it was filed under another key (the lock of other requirements)', async () => {
    // Prepare: entries for `alpha` and for `alpha beta`, then the first copied over the second.
    const sources = await fixture('alpha\n');
    await measure(sources);
    const [alphaOnly] = await entries(sources);
    await writeFile(sources.requirements, 'alpha\nbeta\n');
    await measure(sources);
    const both = (await entries(sources)).find((path) => path !== alphaOnly)!;
    await writeFile(both, await readFile(alphaOnly!));

    // Act
    const again = await measure(sources);

    // Assess
    expect(again).toMatchObject({ cached: false, resolved: true });
    expect(versions(again.lock)).toEqual(['alpha 1.0', 'beta 1.0']);
  });
});

/** A PEP 625 sdist whose PKG-INFO is reliable (Metadata-Version 2.2, nothing dynamic). */
async function sdist(name: string, version: string): Promise<{ filename: string; bytes: Buffer }> {
  const pack = tar.pack();
  const text = `Metadata-Version: 2.2\nName: ${name}\nVersion: ${version}\n`;
  pack.entry({ name: `${name}-${version}/PKG-INFO` }, text);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack.pipe(createGzip())) chunks.push(chunk as Buffer);
  return { filename: `${name}-${version}.tar.gz`, bytes: Buffer.concat(chunks) };
}

describe('a resolution that opened an sdist', () => {
  it('is not stored: its metadata may come from running its build backend', async () => {
    // Prepare
    const sources = await fixture('gamma\n');
    const built = await sdist('gamma', '1.0');
    await writeFile(join(sources.findLinks, built.filename), built.bytes);
    await settle();

    // Act
    const first = await measure(sources);
    const second = await measure(sources);

    // Assess
    expect(first.lock.packages).toEqual([expect.objectContaining({ name: 'gamma', tag: 'sdist' })]);
    expect(second).toMatchObject({ cached: false, resolved: true });
    expect(await entries(sources)).toEqual([]);
  });
});

describe('measure with policy.cache off (--no-cache)', () => {
  it('neither writes an entry nor reads one', async () => {
    // Prepare
    const sources = await fixture();
    const noCache = { ...defaultDeliveryPolicy(), cache: false };
    const uncached = await measure(sources, { policy: noCache });
    const nothingWritten = await entries(sources);
    await measure(sources);
    const path = await onlyEntry(sources);
    const written = await readFile(path, 'utf8');

    // Act
    const again = await measure(sources, { policy: noCache });

    // Assess
    expect(nothingWritten).toEqual([]);
    expect(uncached).toMatchObject({ cached: false, resolved: true });
    expect(again).toMatchObject({ cached: false, resolved: true });
    expect(await readFile(path, 'utf8')).toBe(written);
  });
});

describe('a resolution that asked an index over the network', () => {
  it.each(['the only index', 'an extra index beside the local one'])(
    'is not stored when it is %s',
    async (role) => {
      // Prepare
      const sources = await fixture('alpha\n');
      const remote = await startLoopbackIndex({ wheels: [await makeTinyWheel('alpha', '1.0')] });
      const indexes =
        role === 'the only index'
          ? { indexUrl: `${remote.origin}/simple/` }
          : { extraIndexUrls: [`${remote.origin}/simple/`] };
      try {
        // Act
        const first = await measure(sources, indexes);
        const second = await measure(sources, indexes);

        // Assess
        expect(remote.requests.length).toBeGreaterThan(0);
        expect(versions(first.lock)).toEqual(['alpha 1.0']);
        expect(second).toMatchObject({ cached: false, resolved: true });
        expect(await entries(sources)).toEqual([]);
      } finally {
        await remote.close();
      }
    },
  );
});

/** The machine's indexes when every one is on disk (a remote one is never cached). */
const indexes = ((found) =>
  found && [...found.indexUrls, ...found.findLinks].every((location) => !/^https?:/i.test(location))
    ? found
    : null)(localIndexes());
const NO_DISK_INDEXES_REASON = localIndexes()
  ? 'an index pip is configured with here is served over http(s), whose answers are never cached'
  : NO_LOCAL_INDEXES_REASON;

describe.skipIf(indexes === null)(
  `measure of six from this machine’s indexes${indexes ? '' : ` (${NO_DISK_INDEXES_REASON})`}`,
  () => {
    it('takes the lock resolved before on the second run', async () => {
      // Prepare
      const root = await mkdtemp(join(work, 'real-'));
      const requirementsPath = join(root, 'requirements.txt');
      await writeFile(requirementsPath, 'six\n');
      const [indexUrl, ...extraIndexUrls] = indexes?.indexUrls ?? [];
      const run = async (): Promise<MeasureEvent[]> => {
        const events: MeasureEvent[] = [];
        await measureRequirements({
          requirementsPath,
          target: lambdaTarget('python3.11', 'x86_64'),
          environment: { PIP_CONFIG_FILE: '/dev/null' },
          cliIndexOptions: {
            ...(indexUrl ? { indexUrl } : { noIndex: true }),
            extraIndexUrls,
            findLinks: indexes?.findLinks ?? [],
          },
          cacheDir: join(root, 'cache'),
          onEvent: (event) => events.push(event),
        });
        return events;
      };
      await settle();
      await run();

      // Act
      const events = await run();

      // Assess
      expect(
        events.filter((event) => event.type === 'step').map((event) => event.type === 'step' && event.detail),
      ).toContainEqual(expect.stringMatching(/unchanged since/));
      expect(events.some((event) => event.type === 'pinned')).toBe(false);
    });
  },
);
