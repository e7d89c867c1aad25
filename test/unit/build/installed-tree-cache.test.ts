// The per-wheel cache of installed trees (<cache>/installed/<key>/): an unchanged wheel is not
// inflated or checked again, and what it gives back is what a fresh install gives, byte for
// byte; entries are untrusted input, so every kind of damage is caught and installed afresh.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  appendFile,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildDependencySet, fileSha256, type BuildEvent } from '../../../functions/core/build/build.ts';
import { createBuildContext } from '../../../functions/core/build/build-events.ts';
import { installSet, type InstallSetOptions } from '../../../functions/core/build/install-set.ts';
import {
  INSTALLED_BLOB_FILE,
  INSTALLED_ENTRY_FILE,
  installedTreeKey,
  installWheelCached,
} from '../../../functions/core/build/installed-tree-cache.ts';
import { DEFAULT_SLIM_POLICY, NO_SLIM_POLICY } from '../../../functions/core/build/slim-policy.ts';
import {
  installWheel,
  lambdaInterpreter,
  type InstallWheelOptions,
  type TreeClaims,
} from '../../../functions/core/build/wheel-installer.ts';
import type * as ZipReader from '../../../functions/core/pack/zip-reader.ts';
import { parseDeliveryPolicy } from '../../../functions/core/route/delivery-policy.ts';
import { UnsafeArchiveError } from '../../../functions/core/shared/errors.ts';
import { sha256Hex } from '../../../functions/core/shared/hash.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import type { Lock, LockedPackage, PackageIndex } from '../../../functions/core/shared/types.ts';
import { recordReliability } from '../../support/reliability-log.ts';
import { writeFixtureWheels, type FixtureWheels } from './wheel-fixtures.ts';
import { writeTinyWheel, type TinyWheel } from './tiny-wheels.ts';

// Every inflation of a wheel entry, by wheel file name: a reused wheel must not appear here.
const inflated = vi.hoisted(() => ({ wheels: [] as string[] }));
// Every wheel opened as a zip (its central directory read), by wheel file name.
const opened = vi.hoisted(() => ({ wheels: [] as string[] }));

vi.mock('../../../functions/core/pack/zip-reader.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof ZipReader>();
  const counted =
    <A extends [ZipReader.OpenZip, ...unknown[]], R>(read: (...args: A) => R) =>
    (...args: A): R => {
      inflated.wheels.push(args[0].origin.name);
      return read(...args);
    };
  return {
    ...actual,
    openZip: (...args: Parameters<typeof actual.openZip>) => {
      opened.wheels.push(args[1].name);
      return actual.openZip(...args);
    },
    inflateEntry: counted(actual.inflateEntry),
    readEntry: counted(actual.readEntry),
    writeEntryTo: counted(actual.writeEntryTo),
  };
});

const DEMO = 'demo-1.0-py3-none-any.whl';
const fileIndex: Pick<PackageIndex, 'download'> = { download: async (file) => fileURLToPath(file.url) };

let work: string;
let wheels: FixtureWheels;
let alpha: TinyWheel;
let folders = 0;

const fresh = (name: string): string => join(work, `${name}-${++folders}`);

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-installed-cache-'));
  await mkdir(join(work, 'wheels'));
  wheels = await writeFixtureWheels(join(work, 'wheels'));
  alpha = await writeTinyWheel(join(work, 'wheels'), 'alpha', '2.0', {
    'alpha/__init__.py': 'A = 1\n',
    'alpha/tests/test_a.py': 'def test(): pass\n',
    'alpha-2.0.dist-info/entry_points.txt': '[console_scripts]\nalpha = alpha:main\n',
  });
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

beforeEach(() => {
  inflated.wheels.length = 0;
});

function lockOf(packages: LockedPackage[]): Lock {
  return { lockVersion: 1, target: lambdaTarget('python3.11', 'x86_64'), packages };
}

/** Every file below `root` with its sha256 and mode; a symlink is named as one. */
async function treeSnapshot(root: string): Promise<Record<string, string>> {
  const snapshot: Record<string, string> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    const name = path.slice(root.length + 1);
    if (entry.isSymbolicLink()) snapshot[name] = 'symlink';
    else if (entry.isFile())
      snapshot[name] = `${await fileSha256(path)} ${((await stat(path)).mode & 0o777).toString(8)}`;
  }
  return snapshot;
}

async function runInstallSet(
  lock: Lock,
  overrides: Partial<InstallSetOptions> & { cacheDir: string },
  events: BuildEvent[] = [],
) {
  const treeDir = fresh('tree');
  const policy = overrides.policy ?? parseDeliveryPolicy({});
  const installed = await installSet(
    {
      lock,
      index: fileIndex,
      policy,
      slim: DEFAULT_SLIM_POLICY,
      treeDir,
      scratch: work,
      interpreter: lambdaInterpreter('3.11'),
      ...overrides,
    },
    createBuildContext((event) => events.push(event)),
  );
  return { installed, treeDir, events };
}

const reusedNames = (events: readonly BuildEvent[]): string[] =>
  events.flatMap((event) => (event.type === 'package' && event.reusedFrom ? [event.name] : []));

describe('installSet with a cache folder', () => {
  it('installs an unchanged wheel again from its cached tree without inflating it: same result, byte-identical tree', async () => {
    // Prepare
    const lock = lockOf([await wheels.locked(DEMO), alpha.locked]);
    const cacheDir = fresh('cache');
    const first = await runInstallSet(lock, { cacheDir });
    inflated.wheels.length = 0;

    // Act
    const second = await runInstallSet(lock, { cacheDir });

    // Assess
    expect(inflated.wheels).toEqual([]);
    expect(second.installed).toEqual(first.installed);
    expect(await treeSnapshot(second.treeDir)).toEqual(await treeSnapshot(first.treeDir));
    expect(reusedNames(second.events).sort()).toEqual(['alpha', 'demo']);
    expect(second.events.filter((event) => event.type === 'warning')).toEqual([]);
  });

  it('inflates only the package a lock adds; the unchanged one comes from the cache', async () => {
    // Prepare
    const cacheDir = fresh('cache');
    await runInstallSet(lockOf([await wheels.locked(DEMO)]), { cacheDir });
    inflated.wheels.length = 0;
    const grown = lockOf([await wheels.locked(DEMO), alpha.locked]);

    // Act
    const second = await runInstallSet(grown, { cacheDir });

    // Assess
    expect(new Set(inflated.wheels)).toEqual(new Set([alpha.locked.filename]));
    expect(reusedNames(second.events)).toEqual(['demo']);
    const uncached = await runInstallSet(grown, { cacheDir: fresh('cache') });
    expect(second.installed).toEqual(uncached.installed);
    expect(await treeSnapshot(second.treeDir)).toEqual(await treeSnapshot(uncached.treeDir));
  });

  it('does not read the per-wheel cache with --no-cache (policy.cache false)', async () => {
    // Prepare
    const lock = lockOf([await wheels.locked(DEMO)]);
    const cacheDir = fresh('cache');
    const first = await runInstallSet(lock, { cacheDir });
    const [key = ''] = await entryKeys(cacheDir);
    await writeFile(join(cacheDir, 'installed', key, INSTALLED_ENTRY_FILE), 'not json');
    inflated.wheels.length = 0;

    // Act
    const second = await runInstallSet(lock, { cacheDir, policy: parseDeliveryPolicy({ cache: false }) });

    // Assess
    expect(inflated.wheels).toContain(DEMO);
    expect(reusedNames(second.events)).toEqual([]);
    expect(second.events.filter((event) => event.type === 'warning')).toEqual([]);
    expect(second.installed).toEqual(first.installed);
  });
});

async function entryKeys(cacheDir: string): Promise<string[]> {
  return (await readdir(join(cacheDir, 'installed'))).filter((name) => !name.startsWith('.')).sort();
}

describe('buildDependencySet with a lock that adds a package', () => {
  it('reuses the unchanged wheel and packs layers byte-identical to a build without a cache', async () => {
    // Prepare
    const cacheDir = fresh('cache');
    const build = (lock: Lock, cache: string, events: BuildEvent[] = []) =>
      buildDependencySet({
        lock,
        index: fileIndex,
        outDir: fresh('out'),
        policy: { forceStrategy: 'layers' },
        cacheDir: cache,
        onEvent: (event) => events.push(event),
      });
    await build(lockOf([await wheels.locked(DEMO)]), cacheDir);
    const grown = lockOf([await wheels.locked(DEMO), alpha.locked]);
    const events: BuildEvent[] = [];

    // Act
    const reused = await build(grown, cacheDir, events);

    // Assess
    expect(reusedNames(events)).toEqual(['demo']);
    const uncached = await build(grown, fresh('cache'));
    expect(reused.layers.map((layer) => layer.sha256)).toEqual(uncached.layers.map((layer) => layer.sha256));
    expect(reused.packages).toEqual(uncached.packages);
    expect(reused.verification.ok).toBe(true);
  });
});

/**
 * Python writing a wheel with random (incompressible) files of 5 and 9 MiB between small ones,
 * and one of 49 MiB stored uncompressed (the installer streams entries that big instead of
 * keeping them in memory, so the cache reads it back from the tree).
 */
const BIG_WHEEL = String.raw`
import base64, hashlib, random, sys, zipfile
random.seed(7)
files = {'big/__init__.py': b'', 'big/a.bin': random.randbytes(5 << 20), 'big/b.txt': b'between\n',
         'big/c.bin': random.randbytes(9 << 20), 'big/d.bin': random.randbytes(49 << 20), 'big/empty.txt': b'',
         'big-1.0.dist-info/METADATA': b'Metadata-Version: 2.1\nName: big\nVersion: 1.0\n'}
digest = lambda data: 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as archive:
    for name, data in files.items():
        archive.writestr(name, data, zipfile.ZIP_STORED if name == 'big/d.bin' else zipfile.ZIP_DEFLATED)
    archive.writestr('big-1.0.dist-info/RECORD', ''.join('%s,%s,%d\n' % (n, digest(d), len(d)) for n, d in files.items()))
`;

async function writeBigWheel(dir: string): Promise<{ path: string; locked: LockedPackage }> {
  const path = join(dir, 'big-1.0-py3-none-any.whl');
  await promisify(execFile)('python3', ['-c', BIG_WHEEL, path]);
  const bytes = await readFile(path);
  const locked = { ...alpha.locked, name: 'big', version: '1.0', filename: 'big-1.0-py3-none-any.whl' };
  return { path, locked: { ...locked, url: `file://${path}`, sha256: sha256Hex(bytes), size: bytes.length } };
}

/** Options for one install of `wheel` into a new tree. */
function installOptions(
  wheel: { path: string; locked: LockedPackage },
  overrides: Partial<InstallWheelOptions> = {},
): InstallWheelOptions {
  return {
    wheelPath: wheel.path,
    locked: wheel.locked,
    treeDir: fresh('tree'),
    interpreter: lambdaInterpreter('3.11'),
    slim: DEFAULT_SLIM_POLICY,
    ...overrides,
  };
}

async function demoWheel(): Promise<{ path: string; locked: LockedPackage }> {
  return { path: wheels.path(DEMO), locked: await wheels.locked(DEMO) };
}

describe('installWheelCached', () => {
  it('hands the writing of a new entry to `defer` instead of waiting for it, and the entry is whole once it settles', async () => {
    // Prepare
    const demo = await demoWheel();
    const writes: Promise<void>[] = [];
    const dir = join(fresh('cache'), 'installed');
    const cache = { dir, warn: () => undefined, defer: (write: Promise<void>) => void writes.push(write) };

    // Act
    const first = await installWheelCached(installOptions(demo), cache);
    await Promise.all(writes);
    inflated.wheels.length = 0;
    const again = await installWheelCached(installOptions(demo), { dir, warn: () => undefined });

    // Assess
    expect(writes).toHaveLength(1);
    expect(again.reusedFrom).not.toBeNull();
    expect(inflated.wheels).toEqual([]);
    expect(again.installed).toEqual(first.installed);
  });

  it('keys an entry by everything that changes the install: another slim policy or interpreter installs afresh', async () => {
    // Prepare
    const demo = await demoWheel();
    const warnings: string[] = [];
    const cache = {
      dir: join(fresh('cache'), 'installed'),
      warn: (message: string) => warnings.push(message),
    };
    await installWheelCached(installOptions(demo), cache);
    const variants = [
      { slim: NO_SLIM_POLICY },
      { interpreter: '/opt/other/bin/python3' },
      { siteDir: 'site-packages' },
    ];

    for (const variant of variants) {
      inflated.wheels.length = 0;

      // Act
      const options = installOptions(demo, variant);
      const { installed, reusedFrom } = await installWheelCached(options, cache);

      // Assess
      expect(reusedFrom).toBeNull();
      expect(inflated.wheels).toContain(DEMO);
      expect(installedTreeKey(options)).not.toBe(installedTreeKey(installOptions(demo)));
      const expected = installOptions(demo, variant);
      expect(installed).toEqual(await installWheel(expected));
      expect(await treeSnapshot(options.treeDir)).toEqual(await treeSnapshot(expected.treeDir));
    }
    inflated.wheels.length = 0;
    const again = await installWheelCached(installOptions(demo, variants[1]), cache);
    expect(again.reusedFrom).not.toBeNull();
    expect(inflated.wheels).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it('copies files bigger than a read chunk exactly, from memory or read again from the entry', async () => {
    // Prepare
    const big = await writeBigWheel(await mkdtemp(join(work, 'big-')));
    const dir = join(fresh('cache'), 'installed');
    const stored = installOptions(big);
    const { installed } = await installWheelCached(stored, { dir, warn: () => undefined });
    // None, some and all of the files kept in memory between the check and the write.
    for (const heldBytes of [0, 20 * 1024 ** 2, 1024 ** 3]) {
      // Act
      const options = installOptions(big);
      const cached = await installWheelCached(options, { dir, warn: () => undefined, heldBytes });

      // Assess
      expect(cached.reusedFrom).not.toBeNull();
      expect(cached.installed).toEqual(installed);
      expect(await treeSnapshot(options.treeDir)).toEqual(await treeSnapshot(stored.treeDir));
    }
    expect(installed).toEqual(await installWheel(installOptions(big)));
  });

  it('still refuses a wheel whose sha256 is not the locked one, though its entry is cached', async () => {
    // Prepare
    const demo = await demoWheel();
    const cache = { dir: join(fresh('cache'), 'installed'), warn: () => undefined };
    await installWheelCached(installOptions(demo), cache);
    const swapped = { path: alpha.path, locked: demo.locked };

    // Act
    const attempt = installWheelCached(installOptions(swapped), cache);

    // Assess
    await expect(attempt).rejects.toThrow(/sha256 is .*, the lock says/);
  });

  it('remembers the wheel checked by a fresh install, so the next install from its entry does not hash it', async () => {
    // Prepare
    const demo = await demoWheel();
    const cacheRoot = fresh('cache');
    const cache = { dir: join(cacheRoot, 'installed'), warn: () => undefined };

    // Act
    const first = await installWheelCached(installOptions(demo), cache);
    const memos = await readdir(join(cacheRoot, 'wheel-digests'));

    // Assess: the fresh install's check is on record, for the wheel file as it was checked.
    expect(first.reusedFrom).toBeNull();
    expect(memos).toHaveLength(1);
    const memo = JSON.parse(await readFile(join(cacheRoot, 'wheel-digests', memos[0] ?? ''), 'utf8'));
    expect(memo).toEqual({
      identity: first.installed.wheelIdentity,
      sha256: demo.locked.sha256.toLowerCase(),
    });
  });

  it('checks a description against its wheel once per change of either: an unchanged pair is reused without opening the wheel', async () => {
    // Prepare
    const demo = await demoWheel();
    const copy = join(fresh('wheels'), basename(demo.path));
    await cp(demo.path, copy);
    const wheel = { path: copy, locked: demo.locked };
    const cacheDir = join(fresh('cache'), 'installed');
    const cache = { dir: cacheDir, warn: () => undefined };
    await installWheelCached(installOptions(wheel), cache);
    const reuse = async (): Promise<{ reused: boolean; opened: string[] }> => {
      opened.wheels.length = 0;
      const { reusedFrom } = await installWheelCached(installOptions(wheel), cache);
      return { reused: reusedFrom !== null, opened: [...opened.wheels] };
    };

    // Act
    const unchanged = await reuse();
    await cp(copy, `${copy}.new`);
    await rename(`${copy}.new`, copy); // the same bytes as another file
    const wheelReplaced = await reuse();
    const checkedAgain = await reuse();
    const { folder } = await onlyEntry(cacheDir);
    const description = join(folder, INSTALLED_ENTRY_FILE);
    await writeFile(description, await readFile(description)); // the same bytes, written again
    const descriptionRewritten = await reuse();

    // Assess
    const name = basename(demo.path);
    expect(unchanged).toEqual({ reused: true, opened: [] });
    expect(wheelReplaced).toEqual({ reused: true, opened: [name] });
    expect(checkedAgain).toEqual({ reused: true, opened: [] });
    expect(descriptionRewritten).toEqual({ reused: true, opened: [name] });
  });

  it('refuses a wheel changed in place after an install from its entry passed (its hash is not remembered past a change)', async () => {
    // Prepare: installed, then installed again from the entry (the wheel's hash passed twice).
    const demo = await demoWheel();
    const copy = join(fresh('wheels'), basename(demo.path));
    await cp(demo.path, copy);
    const wheel = { path: copy, locked: demo.locked };
    const cache = { dir: join(fresh('cache'), 'installed'), warn: () => undefined };
    await installWheelCached(installOptions(wheel), cache);
    await installWheelCached({ ...installOptions(wheel), treeDir: fresh('tree-again') }, cache);
    const bytes = await readFile(copy);
    bytes[bytes.length - 30] = (bytes[bytes.length - 30] ?? 0) ^ 0x01;
    await writeFile(copy, bytes);

    // Act
    const attempt = installWheelCached({ ...installOptions(wheel), treeDir: fresh('tree-changed') }, cache);

    // Assess
    await expect(attempt).rejects.toThrow(/sha256 is .*, the lock says/);
  });

  /** The description of the one entry in `cache`. */
  async function onlyEntry(cacheDir: string): Promise<{ folder: string; description: EntryDescription }> {
    const [key = ''] = await readdir(cacheDir);
    const folder = join(cacheDir, key);
    return {
      folder,
      description: JSON.parse(await readFile(join(folder, INSTALLED_ENTRY_FILE), 'utf8')) as EntryDescription,
    };
  }

  interface EntryDescription {
    files: { path: string; size: number; source: { kind: string; dataOffset?: number } }[];
  }

  const editDescription = async (folder: string, edit: (description: EntryDescription) => void) => {
    const description = JSON.parse(
      await readFile(join(folder, INSTALLED_ENTRY_FILE), 'utf8'),
    ) as EntryDescription;
    edit(description);
    await writeFile(join(folder, INSTALLED_ENTRY_FILE), JSON.stringify(description));
  };
  const escapeTarget = (): string => join(work, `escaped-${process.pid}.py`);
  /** The entry's blob with one byte of python/demo/core.py flipped. */
  const blobWithAChangedByte = async (folder: string, description: EntryDescription): Promise<Buffer> => {
    const index = description.files.findIndex((file) => file.path === 'python/demo/core.py');
    const offset = description.files.slice(0, index).reduce((sum, file) => sum + file.size, 0);
    const blob = await readFile(join(folder, INSTALLED_BLOB_FILE));
    blob[offset + 3] = (blob[offset + 3] ?? 0) ^ 0x01;
    return blob;
  };

  const tamperings: {
    name: string;
    reason: RegExp;
    tamper: (folder: string, description: EntryDescription) => Promise<void>;
  }[] = [
    {
      name: 'a changed byte in one cached file',
      reason: /python\/demo\/core\.py was changed after it was cached/,
      tamper: async (folder, description) =>
        writeFile(join(folder, INSTALLED_BLOB_FILE), await blobWithAChangedByte(folder, description)),
    },
    {
      // A new inode with a new ctime, as a restored cache folder has: not the blob this cache
      // wrote, so every file is hashed again.
      name: 'the cached files replaced by a copy with a changed byte',
      reason: /python\/demo\/core\.py was changed after it was cached/,
      tamper: async (folder, description) => {
        await writeFile(join(folder, 'copy.bin'), await blobWithAChangedByte(folder, description));
        await rename(join(folder, 'copy.bin'), join(folder, INSTALLED_BLOB_FILE));
      },
    },
    {
      name: 'the cached files deleted',
      reason: /files\.bin cannot be opened \(ENOENT\)/,
      tamper: (folder) => rm(join(folder, INSTALLED_BLOB_FILE)),
    },
    {
      name: 'the cached files truncated',
      reason: /files\.bin is not the \d+ bytes its description lists/,
      tamper: (folder) => truncate(join(folder, INSTALLED_BLOB_FILE), 100),
    },
    {
      name: 'a byte appended to the cached files',
      reason: /files\.bin is not the \d+ bytes its description lists/,
      tamper: (folder) => appendFile(join(folder, INSTALLED_BLOB_FILE), 'x'),
    },
    {
      name: 'garbage JSON',
      reason: /entry\.json is not JSON/,
      tamper: (folder) => writeFile(join(folder, INSTALLED_ENTRY_FILE), '{"format": 1, "files": ['),
    },
    {
      name: 'an empty description',
      reason: /entry\.json does not describe an installed tree/,
      tamper: (folder) => writeFile(join(folder, INSTALLED_ENTRY_FILE), '{}'),
    },
    {
      name: 'a path with ..',
      reason: /climbs out .* with "\.\."/,
      tamper: (folder) =>
        editDescription(folder, (description) => {
          const file = description.files.find((candidate) => candidate.path === 'python/demo/core.py');
          if (file) file.path = `python/../../${escapeTarget().split('/').pop() ?? ''}`;
        }),
    },
    {
      name: 'an absolute path',
      reason: /is an absolute path/,
      tamper: (folder) =>
        editDescription(folder, (description) => {
          const file = description.files.find((candidate) => candidate.path === 'python/demo/core.py');
          if (file) file.path = escapeTarget();
        }),
    },
    {
      name: 'a wheel source that points at other bytes of the wheel',
      reason: /is not the entry of demo-1\.0-py3-none-any\.whl it names/,
      tamper: (folder) =>
        editDescription(folder, (description) => {
          const file = description.files.find((candidate) => candidate.source.kind === 'wheel');
          if (file?.source.dataOffset !== undefined) file.source.dataOffset += 1;
        }),
    },
    {
      name: 'a symlink in place of the cached files (to an identical copy)',
      reason: /files\.bin cannot be opened \(a symlink\)/,
      tamper: async (folder) => {
        const copy = join(work, `blob-copy-${++folders}`);
        await writeFile(copy, await readFile(join(folder, INSTALLED_BLOB_FILE)));
        await rm(join(folder, INSTALLED_BLOB_FILE));
        await symlink(copy, join(folder, INSTALLED_BLOB_FILE));
      },
    },
    {
      name: "another wheel's entry under this wheel's key",
      reason: /made for another wheel or other install options/,
      tamper: async (folder) => {
        const other = join(fresh('cache'), 'installed');
        await installWheelCached(installOptions(alpha), { dir: other, warn: () => undefined });
        const [key = ''] = await readdir(other);
        await rm(folder, { recursive: true });
        await rename(join(other, key), folder);
      },
    },
  ];
  let detected = 0;

  it.each(tamperings)(
    'discards an entry with $name, warns, and installs afresh with the same result',
    async ({ tamper, reason }) => {
      // Prepare
      const demo = await demoWheel();
      const cacheDir = join(fresh('cache'), 'installed');
      const warnings: string[] = [];
      const cache = { dir: cacheDir, warn: (message: string) => warnings.push(message) };
      const clean = installOptions(demo);
      const expected = await installWheelCached(clean, cache);
      const { folder, description } = await onlyEntry(cacheDir);
      await tamper(folder, description);
      inflated.wheels.length = 0;

      // Act
      const options = installOptions(demo);
      const { installed, reusedFrom } = await installWheelCached(options, cache);

      // Assess
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(
        /the cached install .* was discarded: .*; installing demo-1\.0-py3-none-any\.whl afresh/,
      );
      expect(warnings[0]).toMatch(reason);
      expect(reusedFrom).toBeNull();
      expect(inflated.wheels).toContain(DEMO);
      expect(installed).toEqual(expected.installed);
      expect(await treeSnapshot(options.treeDir)).toEqual(await treeSnapshot(clean.treeDir));
      expect(existsSync(escapeTarget())).toBe(false);
      // The entry was written again, whole: the next install reuses it.
      inflated.wheels.length = 0;
      const next = await installWheelCached(installOptions(demo), cache);
      expect(next.reusedFrom).not.toBeNull();
      expect(inflated.wheels).toEqual([]);
      expect(next.installed).toEqual(expected.installed);
      detected++;
    },
  );

  afterAll(() => {
    recordReliability({
      area: 'build cache',
      experiment: `damaged per-wheel installed-tree entries detected (${tamperings.map((entry) => entry.name).join('; ')})`,
      cases: tamperings.length,
      faultsInjected: tamperings.length,
      runs: tamperings.length,
      lost: detected === tamperings.length ? 'nothing' : `${tamperings.length - detected} not detected`,
    });
  });
});

describe('installWheelCached into one tree shared by several distributions', () => {
  const clashing = async (): Promise<{ one: TinyWheel; two: TinyWheel }> => {
    const dir = await mkdtemp(join(work, 'clash-'));
    return {
      one: await writeTinyWheel(dir, 'one', '1.0', { 'shared2/__init__.py': 'WHO = "one"\n' }),
      two: await writeTinyWheel(dir, 'two', '1.0', { 'shared2/__init__.py': 'WHO = "two"\n' }),
    };
  };
  const plain = { interpreter: '/x/python', slim: NO_SLIM_POLICY };

  it('registers exactly the claims a fresh install registers', async () => {
    // Prepare
    const demo = await demoWheel();
    const cache = { dir: join(fresh('cache'), 'installed'), warn: () => undefined };
    const treeDir = fresh('tree');
    const freshClaims: TreeClaims = new Map();
    await installWheel({ ...installOptions(demo, { treeDir }), claims: freshClaims });
    await installWheelCached(installOptions(demo), cache);
    await rm(treeDir, { recursive: true });
    const cachedClaims: TreeClaims = new Map();

    // Act
    const { reusedFrom } = await installWheelCached(
      { ...installOptions(demo, { treeDir }), claims: cachedClaims },
      cache,
    );

    // Assess
    expect(reusedFrom).not.toBeNull();
    expect(cachedClaims).toEqual(freshClaims);
  });

  it('refuses a clash between a cached wheel and a fresh one, whichever comes first', async () => {
    // Prepare
    const { one, two } = await clashing();
    const cache = { dir: join(fresh('cache'), 'installed'), warn: () => undefined };
    await installWheelCached(installOptions(one, plain), cache);
    const cachedFirst = fresh('tree');
    const claimsA: TreeClaims = new Map();
    const freshFirst = fresh('tree');
    const claimsB: TreeClaims = new Map();

    // Act
    const first = await installWheelCached(
      { ...installOptions(one, { ...plain, treeDir: cachedFirst }), claims: claimsA },
      cache,
    );
    const secondFresh = await installWheel({
      ...installOptions(two, { ...plain, treeDir: cachedFirst }),
      claims: claimsA,
    }).catch((error: unknown) => error);
    await installWheel({ ...installOptions(two, { ...plain, treeDir: freshFirst }), claims: claimsB });
    const secondCached = await installWheelCached(
      { ...installOptions(one, { ...plain, treeDir: freshFirst }), claims: claimsB },
      cache,
    ).catch((error: unknown) => error);

    // Assess
    expect(first.reusedFrom).not.toBeNull();
    expect(secondFresh).toBeInstanceOf(UnsafeArchiveError);
    expect(String(secondFresh)).toMatch(
      /python\/shared2\/__init__\.py is also installed by one.*two and one/,
    );
    expect(secondCached).toBeInstanceOf(UnsafeArchiveError);
    expect(String(secondCached)).toMatch(
      /python\/shared2\/__init__\.py is also installed by two.*one and two/,
    );
    expect(await readFile(join(freshFirst, 'python', 'shared2', '__init__.py'), 'utf8')).toBe(
      'WHO = "two"\n',
    );
    expect(existsSync(join(freshFirst, 'python', 'one-1.0.dist-info'))).toBe(false);
  });

  it('refuses a clash without shared claims when the tree already holds other bytes', async () => {
    // Prepare
    const { one, two } = await clashing();
    const cache = { dir: join(fresh('cache'), 'installed'), warn: () => undefined };
    await installWheelCached(installOptions(one, plain), cache);
    const treeDir = fresh('tree');
    await installWheel(installOptions(two, { ...plain, treeDir }));

    // Act
    const attempt = installWheelCached(installOptions(one, { ...plain, treeDir }), cache);

    // Assess
    await expect(attempt).rejects.toThrow(/shared2\/__init__\.py is already in the tree with other content/);
    expect(await readFile(join(treeDir, 'python', 'shared2', '__init__.py'), 'utf8')).toBe('WHO = "two"\n');
  });

  it('accepts the same path from a cached wheel and a fresh one when the bytes are identical', async () => {
    // Prepare
    const dir = await mkdtemp(join(work, 'same-'));
    const one = await writeTinyWheel(dir, 'one', '1.0', { 'ns/__init__.py': '', 'ns/one.py': '' });
    const two = await writeTinyWheel(dir, 'two', '1.0', { 'ns/__init__.py': '', 'ns/two.py': '' });
    const cache = { dir: join(fresh('cache'), 'installed'), warn: () => undefined };
    await installWheelCached(installOptions(two, plain), cache);
    const treeDir = fresh('tree');
    const claims: TreeClaims = new Map();

    // Act
    await installWheel({ ...installOptions(one, { ...plain, treeDir }), claims });
    const cached = await installWheelCached({ ...installOptions(two, { ...plain, treeDir }), claims }, cache);

    // Assess
    expect(cached.reusedFrom).not.toBeNull();
    expect(existsSync(join(treeDir, 'python', 'ns', 'two.py'))).toBe(true);
    expect(sha256Hex(await readFile(join(treeDir, 'python', 'ns', '__init__.py')))).toBe(sha256Hex(''));
  });

  const sharing = async (): Promise<{ one: TinyWheel; two: TinyWheel }> => {
    const dir = await mkdtemp(join(work, 'sharing-'));
    const shared = { 'ns/__init__.py': 'SHARED = True\n' };
    return {
      one: await writeTinyWheel(dir, 'one', '1.0', { ...shared, 'ns/one.py': '' }),
      two: await writeTinyWheel(dir, 'two', '1.0', { ...shared, 'ns/two.py': '' }),
    };
  };

  it('stores a wheel whose shared file another distribution wrote, checking those bytes', async () => {
    // Prepare
    const { one, two } = await sharing();
    const warnings: string[] = [];
    const cache = {
      dir: join(fresh('cache'), 'installed'),
      warn: (message: string) => warnings.push(message),
    };
    const treeDir = fresh('tree');
    const claims: TreeClaims = new Map();
    await installWheel({ ...installOptions(one, { ...plain, treeDir }), claims });
    const stored = await installWheelCached({ ...installOptions(two, { ...plain, treeDir }), claims }, cache);

    // Act
    const options = installOptions(two, plain);
    const reused = await installWheelCached(options, cache);

    // Assess
    expect(stored.reusedFrom).toBeNull();
    expect(reused.reusedFrom).not.toBeNull();
    expect(reused.installed).toEqual(stored.installed);
    expect(await readFile(join(options.treeDir, 'python', 'ns', '__init__.py'), 'utf8')).toBe(
      'SHARED = True\n',
    );
    expect(warnings).toEqual([]);
  });

  it('stores no entry while a shared file is not written yet, and says nothing', async () => {
    // Prepare
    const { two } = await sharing();
    const warnings: string[] = [];
    const cacheDir = join(fresh('cache'), 'installed');
    const cache = { dir: cacheDir, warn: (message: string) => warnings.push(message) };
    const treeDir = fresh('tree');
    // Another distribution claimed the path with the same bytes and is still writing it.
    const digest = `sha256=${Buffer.from(sha256Hex('SHARED = True\n'), 'hex').toString('base64url')}`;
    const claims: TreeClaims = new Map([
      [join(treeDir, 'python', 'ns', '__init__.py'), { packageName: 'one', sha256: digest }],
    ]);

    // Act
    const installed = await installWheelCached(
      { ...installOptions(two, { ...plain, treeDir }), claims },
      cache,
    );

    // Assess
    expect(installed.reusedFrom).toBeNull();
    expect(await readdir(cacheDir)).toEqual([]);
    expect(warnings).toEqual([]);
    await installWheelCached(installOptions(two, plain), cache);
    expect((await installWheelCached(installOptions(two, plain), cache)).reusedFrom).not.toBeNull();
  });
});
