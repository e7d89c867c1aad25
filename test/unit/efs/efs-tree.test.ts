// The versioned tree layout on a local folder: versions, the `current` link, reuse, pruning,
// cleaning up after killed runs, and what it refuses.
import { existsSync } from 'node:fs';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  COMPLETE_MARKER,
  currentVersion,
  syncVersionedTree,
} from '../../../functions/core/deliver/efs-tree.ts';
import { InputError, UnsafeArchiveError } from '../../../functions/core/shared/errors.ts';
import { writeTreeTar } from '../../../functions/core/pack/tree-archive.ts';

let workDir = '';
const tars: string[] = [];
const hash = (index: number): string => `${index}`.repeat(64).slice(0, 64);

async function versionTar(index: number): Promise<string> {
  const tree = join(workDir, `tree-${index}`);
  await mkdir(join(tree, 'pkg'), { recursive: true });
  await writeFile(join(tree, 'pkg', '__init__.py'), `VERSION = ${index}\n`);
  const tarPath = join(workDir, `tree-${index}.tar`);
  await writeTreeTar(tree, tarPath);
  return tarPath;
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-efs-unit-'));
  for (let index = 1; index <= 6; index++) tars.push(await versionTar(index));
});

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function freshMount(): Promise<string> {
  return mkdtemp(join(workDir, 'mount-'));
}

describe('syncVersionedTree', () => {
  it('unpacks the tree as <set>/<lockHash>/ with its marker and points current at it', async () => {
    // Prepare
    const mountRoot = await freshMount();

    // Act
    const synced = await syncVersionedTree({
      mountRoot,
      setName: 'web',
      lockHash: hash(1),
      tarPath: tars[0]!,
      functionMountPath: '/mnt/python-deps',
    });

    // Assess
    expect(synced.versionDir).toBe(join(mountRoot, 'web', hash(1)));
    expect(synced.currentPath).toBe(join(mountRoot, 'web', 'current'));
    // Functions import from the version itself, never through `current`.
    expect(synced.pythonPath).toBe(`/mnt/python-deps/web/${hash(1)}`);
    expect(synced.currentPythonPath).toBe('/mnt/python-deps/web/current');
    expect(synced.reused).toBe(false);
    expect(await readlink(synced.currentPath)).toBe(hash(1));
    expect(await readFile(join(synced.currentPath, 'pkg', '__init__.py'), 'utf8')).toBe('VERSION = 1\n');
    expect(existsSync(join(synced.versionDir, COMPLETE_MARKER))).toBe(true);
    expect(await readdir(join(mountRoot, 'web'))).toEqual(expect.arrayContaining(['current', hash(1)]));
    expect(await currentVersion(mountRoot, 'web')).toBe(hash(1));
  });

  it('only switches current when the version is already there, complete', async () => {
    // Prepare
    const mountRoot = await freshMount();
    await syncVersionedTree({ mountRoot, setName: 'web', lockHash: hash(1), tarPath: tars[0]! });
    await syncVersionedTree({ mountRoot, setName: 'web', lockHash: hash(2), tarPath: tars[1]! });

    // Act
    const again = await syncVersionedTree({
      mountRoot,
      setName: 'web',
      lockHash: hash(1),
      tarPath: join(workDir, 'no-such.tar'),
    });

    // Assess
    expect(again.reused).toBe(true);
    expect(await readlink(again.currentPath)).toBe(hash(1));
  });

  it('keeps `keep` old versions besides current and the newest, and removes the rest', async () => {
    // Prepare
    const mountRoot = await freshMount();
    for (let index = 1; index <= 5; index++) {
      await syncVersionedTree({
        mountRoot,
        setName: 'web',
        lockHash: hash(index),
        tarPath: tars[index - 1]!,
        keep: 10,
      });
      // Markers written within the same millisecond would tie; space them out.
      const when = new Date(Date.UTC(2026, 0, index));
      await utimes(join(mountRoot, 'web', hash(index), COMPLETE_MARKER), when, when);
    }

    // Act
    const synced = await syncVersionedTree({
      mountRoot,
      setName: 'web',
      lockHash: hash(6),
      tarPath: tars[5]!,
      keep: 2,
    });

    // Assess
    expect(synced.removed.sort()).toEqual([hash(1), hash(2), hash(3)]);
    const left = (await readdir(join(mountRoot, 'web'))).filter((name) => name !== 'current').sort();
    expect(left).toEqual([hash(4), hash(5), hash(6)]);
  });

  it('never prunes the version current points at, even when it is the oldest', async () => {
    // Prepare
    const mountRoot = await freshMount();
    for (let index = 1; index <= 3; index++) {
      await syncVersionedTree({
        mountRoot,
        setName: 'web',
        lockHash: hash(index),
        tarPath: tars[index - 1]!,
      });
      const when = new Date(Date.UTC(2026, 0, index));
      await utimes(join(mountRoot, 'web', hash(index), COMPLETE_MARKER), when, when);
    }

    // Act
    const synced = await syncVersionedTree({
      mountRoot,
      setName: 'web',
      lockHash: hash(1),
      tarPath: tars[0]!,
      keep: 0,
    });

    // Assess
    expect(synced.reused).toBe(true);
    expect(synced.removed).toEqual([hash(2)]);
    expect((await readdir(join(mountRoot, 'web'))).sort()).toEqual([hash(1), hash(3), 'current'].sort());
  });

  it('cleans up what a killed run left: staging folders, half-removed folders, temp links, unmarked versions', async () => {
    // Prepare
    const mountRoot = await freshMount();
    await syncVersionedTree({ mountRoot, setName: 'web', lockHash: hash(1), tarPath: tars[0]! });
    const setDir = join(mountRoot, 'web');
    await mkdir(join(setDir, `.staging-${hash(2)}-abc123`, 'pkg'), { recursive: true });
    await writeFile(join(setDir, `.staging-${hash(2)}-abc123`, 'pkg', 'half.py'), 'x');
    await mkdir(join(setDir, `.removing-${hash(3)}-def456`));
    await symlink(hash(1), join(setDir, '.current-0a0a0a'));
    await mkdir(join(setDir, hash(4)));

    // Act
    await syncVersionedTree({ mountRoot, setName: 'web', lockHash: hash(2), tarPath: tars[1]! });

    // Assess
    expect((await readdir(setDir)).sort()).toEqual([hash(1), hash(2), 'current'].sort());
  });

  it('leaves current and the versions untouched when the archive is unsafe', async () => {
    // Prepare
    const mountRoot = await freshMount();
    await syncVersionedTree({ mountRoot, setName: 'web', lockHash: hash(1), tarPath: tars[0]! });
    const evil = join(workDir, 'evil-tree');
    await mkdir(evil, { recursive: true });
    await writeFile(join(evil, 'ok.py'), 'x');
    const evilTar = join(workDir, 'evil.tar');
    await writeTreeTar(evil, evilTar);
    const bytes = await readFile(evilTar);
    // Rename the entry in place to climb out (same length, so the header checksum is all that changes).
    const tampered = Buffer.from(bytes);
    tampered.write('../ok', 0, 'latin1');
    const checksum = [...tampered.subarray(0, 512)].reduce(
      (sum, byte, index) => sum + (index >= 148 && index < 156 ? 32 : byte),
      0,
    );
    tampered.write(`${checksum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    await writeFile(evilTar, tampered);

    // Act
    const syncing = syncVersionedTree({ mountRoot, setName: 'web', lockHash: hash(2), tarPath: evilTar });

    // Assess
    await expect(syncing).rejects.toThrow(UnsafeArchiveError);
    await expect(syncing).rejects.toThrow(/"\.\.\/ok" climbs out of the destination/);
    expect(await readlink(join(mountRoot, 'web', 'current'))).toBe(hash(1));
    expect((await readdir(join(mountRoot, 'web'))).sort()).toEqual([hash(1), 'current'].sort());
    expect(existsSync(join(mountRoot, 'ok'))).toBe(false);
  });

  it('never marks a half tree complete when two syncs of the same set race (one may fail, to be retried)', async () => {
    // Prepare
    const mountRoot = await freshMount();
    const bigTree = join(workDir, 'big-tree');
    for (let index = 0; index < 60; index++) {
      await mkdir(join(bigTree, 'pkg'), { recursive: true });
      await writeFile(join(bigTree, 'pkg', `m${index}.py`), `VALUE = ${index}\n`);
    }
    const bigTar = join(workDir, 'big.tar');
    await writeTreeTar(bigTree, bigTar);
    const outcomes: string[] = [];

    // Act
    for (let round = 0; round < 4; round++) {
      const results = await Promise.allSettled([
        syncVersionedTree({ mountRoot, setName: 'web', lockHash: `a${round}`, tarPath: bigTar, keep: 1 }),
        // The second starts a little later, so its clean-up runs while the first is unpacking.
        new Promise((done) => setTimeout(done, round * 4)).then(() =>
          syncVersionedTree({ mountRoot, setName: 'web', lockHash: `b${round}`, tarPath: bigTar, keep: 1 }),
        ),
      ]);
      for (const result of results) {
        if (result.status === 'fulfilled') outcomes.push('fulfilled');
        else outcomes.push(String(result.reason));
      }
    }

    // Assess
    expect(outcomes).toContain('fulfilled');
    for (const outcome of outcomes.filter((value) => value !== 'fulfilled')) {
      expect(outcome).toMatch(
        /ConcurrentSyncError: .* was (replaced|removed) while the tree was unpacked|ENOENT/,
      );
    }
    const setDir = join(mountRoot, 'web');
    for (const name of await readdir(setDir)) {
      if (name.startsWith('.') || name === 'current') continue;
      expect(existsSync(join(setDir, name, COMPLETE_MARKER))).toBe(true);
      expect((await readdir(join(setDir, name, 'pkg'))).length).toBe(60);
    }
    const current = await readlink(join(setDir, 'current'));
    expect((await readdir(join(setDir, current, 'pkg'))).length).toBe(60);
  });

  it.each([
    ['a set name with a slash', { setName: 'a/b', lockHash: hash(1) }],
    ['a set name starting with a dot', { setName: '.hidden', lockHash: hash(1) }],
    ['the set name "current"', { setName: 'current', lockHash: hash(1) }],
    ['a lock hash with ..', { setName: 'web', lockHash: '../x' }],
  ])('refuses %s', async (_case, names) => {
    // Prepare
    const mountRoot = await freshMount();

    // Act
    const syncing = syncVersionedTree({ mountRoot, ...names, tarPath: tars[0]! });

    // Assess
    await expect(syncing).rejects.toThrow(InputError);
    expect(await readdir(mountRoot)).toEqual([]);
  });

  it('refuses a function mount path Lambda would not accept, and a current that is not a link', async () => {
    // Prepare
    const mountRoot = await freshMount();
    await mkdir(join(mountRoot, 'web', 'current'), { recursive: true });

    // Act
    const badMount = await syncVersionedTree({
      mountRoot,
      setName: 'web',
      lockHash: hash(1),
      tarPath: tars[0]!,
      functionMountPath: '/opt/deps',
    }).catch((error: unknown) => error as InputError);
    const notALink = await syncVersionedTree({
      mountRoot,
      setName: 'web',
      lockHash: hash(1),
      tarPath: tars[0]!,
    }).catch((error: unknown) => error as InputError);

    // Assess
    expect(badMount).toBeInstanceOf(InputError);
    expect((badMount as InputError).hint).toContain('^/mnt/[a-zA-Z0-9-_.]+$');
    expect(notALink).toBeInstanceOf(InputError);
    expect((notALink as InputError).message).toMatch(/current exists but is not a symlink/);
    expect((await lstat(join(mountRoot, 'web', 'current'))).isDirectory()).toBe(true);
  });
});
