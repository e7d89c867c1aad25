// The tree ledger (core/shared/tree-ledger.ts) lets the tree check take a file's digest from
// what the build wrote instead of reading the file again. That is only right while the digest is
// the file's own: these tests hold it to that for a fresh install (bytes in memory and a big entry
// streamed from the wheel), a copy out of the per-wheel cache, and every way a file can change
// after it was recorded.
import { appendFile, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installWheelCached } from '../../../functions/core/build/installed-tree-cache.ts';
import { DEFAULT_SLIM_POLICY } from '../../../functions/core/build/slim-policy.ts';
import {
  lambdaInterpreter,
  type InstallWheelOptions,
} from '../../../functions/core/build/wheel-installer.ts';
import { keepLayerFrom, readKeptLayer } from '../../../functions/core/pack/kept-layers.ts';
import { treeDigests } from '../../../functions/core/pack/packed-tree-check.ts';
import { fileIdentity } from '../../../functions/core/shared/file-identity.ts';
import { sha256OfFile } from '../../../functions/core/shared/hash.ts';
import { TreeLedger } from '../../../functions/core/shared/tree-ledger.ts';
import { writeTinyWheel, type TinyWheel } from './tiny-wheels.ts';

let work = '';
let wheel: TinyWheel;
/** Above the installer's 48 MiB limit for holding one entry in memory: it is streamed from the wheel. */
const BIG_ENTRY_BYTES = 48 * 1024 ** 2 + 1;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-tree-ledger-'));
  wheel = await writeTinyWheel(work, 'ledgered', '1.0', {
    'ledgered/__init__.py': 'X = 1\n',
    'ledgered/big.bin': { repeat: 'x', times: BIG_ENTRY_BYTES },
    'ledgered-1.0.dist-info/entry_points.txt': '[console_scripts]\nledgered = ledgered:main\n',
  });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Every file below `root` (absolute paths). */
async function filesBelow(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

function options(treeDir: string, ledger: TreeLedger): InstallWheelOptions {
  return {
    wheelPath: wheel.path,
    locked: wheel.locked,
    treeDir,
    interpreter: lambdaInterpreter('3.11'),
    slim: DEFAULT_SLIM_POLICY,
    // The big entry is one letter repeated: past the zip-bomb ratio a real wheel never reaches.
    limits: { maxEntryRatio: 10_000, maxTotalRatio: 10_000 },
    ledger,
  };
}

describe('what the installs record', () => {
  it('is every file written, with the sha256 of its bytes, installed afresh and copied from the cache', async () => {
    // Prepare
    const cache = { dir: join(work, 'cache', 'installed'), warn: () => undefined };
    const freshLedger = new TreeLedger();
    const reusedLedger = new TreeLedger();
    const freshTree = join(work, 'fresh');
    const reusedTree = join(work, 'reused');

    // Act
    const fresh = await installWheelCached(options(freshTree, freshLedger), cache);
    const reused = await installWheelCached(options(reusedTree, reusedLedger), cache);

    // Assess
    expect(reused.reusedFrom).not.toBeNull();
    // Both know the wheel as the file that held the checked bytes: the packer need not hash it again.
    expect(fresh.installed.wheelIdentity).toBe(await fileIdentity(wheel.path));
    expect(reused.installed.wheelIdentity).toBe(await fileIdentity(wheel.path));
    for (const [tree, ledger] of [
      [freshTree, freshLedger],
      [reusedTree, reusedLedger],
    ] as const) {
      const files = await filesBelow(tree);
      expect(files.some((file) => file.endsWith('big.bin'))).toBe(true);
      expect(files.some((file) => file.endsWith('/bin/ledgered'))).toBe(true);
      expect(ledger.size).toBe(files.length);
      for (const file of files) expect(ledger.sha256Of(file)).toBe(await sha256OfFile(file));
    }
  }, 60_000);
});

describe('TreeLedger.sha256Of', () => {
  async function recorded(name: string, text: string) {
    const path = join(await mkdtemp(join(work, 'file-')), name);
    await writeFile(path, text);
    const ledger = new TreeLedger();
    ledger.record(path, await sha256OfFile(path));
    return { path, ledger };
  }

  it('gives the recorded digest while the file is unchanged, none once it is not', async () => {
    // Prepare
    const appended = await recorded('appended.py', 'A = 1\n');
    const replaced = await recorded('replaced.py', 'B = 1\n');
    const rewritten = await recorded('rewritten.py', 'C = 1\n');
    const removed = await recorded('removed.py', 'D = 1\n');
    const kept = await recorded('kept.py', 'E = 1\n');

    // Act: a write in place, a new file renamed over it, the same size rewritten later, a removal.
    await appendFile(appended.path, '# more\n');
    await writeFile(`${replaced.path}.new`, 'B = 2\n');
    await rename(`${replaced.path}.new`, replaced.path);
    await new Promise((resolve) => setTimeout(resolve, 30)); // past the coarse clock's tick
    await writeFile(rewritten.path, 'C = 2\n');
    await rm(removed.path);

    // Assess
    expect(appended.ledger.sha256Of(appended.path)).toBeNull();
    expect(replaced.ledger.sha256Of(replaced.path)).toBeNull();
    expect(rewritten.ledger.sha256Of(rewritten.path)).toBeNull();
    expect(removed.ledger.sha256Of(removed.path)).toBeNull();
    expect(kept.ledger.sha256Of(kept.path)).toBe(await sha256OfFile(kept.path));
    expect(kept.ledger.sha256Of(join(work, 'never-recorded.py'))).toBeNull();
  });

  it('once sealed, checks each file once: the answer it gave then stands', async () => {
    // Prepare: one file changed before the seal, one after its first answer.
    const before = await recorded('before-seal.py', 'F = 1\n');
    const after = await recorded('after-seal.py', 'G = 1\n');
    await appendFile(before.path, '# more\n');
    before.ledger.seal();
    after.ledger.seal();
    const digest = after.ledger.sha256Of(after.path);

    // Act: the tree is only read once sealed; a write now is what sealing rules out.
    await appendFile(after.path, '# more\n');

    // Assess
    expect(before.ledger.sha256Of(before.path)).toBeNull();
    expect(digest).not.toBeNull();
    expect(after.ledger.sha256Of(after.path)).toBe(digest);
  });

  it('checks every file of the sealed tree at once through the identities it is given', async () => {
    // Prepare: one file unchanged, one changed before the seal, one answered before the check
    const kept = await recorded('all-kept.py', 'H = 1\n');
    const changed = await recorded('all-changed.py', 'I = 1\n');
    const asked = await recorded('all-asked.py', 'J = 1\n');
    const ledger = new TreeLedger();
    for (const file of [kept, changed, asked]) ledger.record(file.path, await sha256OfFile(file.path));
    const keptDigest = await sha256OfFile(kept.path);
    await appendFile(changed.path, '# more\n');
    const unsealed = await ledger.checkAll(async () => []).catch((error: unknown) => error);
    ledger.seal();
    const askedDigest = ledger.sha256Of(asked.path);
    const checked: string[] = [];

    // Act: the identities told (as the copier's workers would) for every path not yet answered
    await ledger.checkAll(async (paths) => {
      checked.push(...paths);
      return Promise.all(paths.map((path) => fileIdentity(path)));
    });
    await appendFile(kept.path, '# after the check\n');

    // Assess
    expect(unsealed).toBeInstanceOf(Error);
    expect(checked.sort()).toEqual([changed.path, kept.path].sort());
    expect(ledger.sha256Of(kept.path)).toBe(keptDigest);
    expect(ledger.sha256Of(changed.path)).toBeNull();
    expect(ledger.sha256Of(asked.path)).toBe(askedDigest);
  });

  it('lets treeDigests hash what changed since it was recorded, and take the rest from the ledger', async () => {
    // Prepare: the ledger records a wrong digest for one file, which only the ledger can give.
    const root = await mkdtemp(join(work, 'tree-'));
    await writeFile(join(root, 'same.py'), 'SAME = 1\n');
    await writeFile(join(root, 'changed.py'), 'OLD = 1\n');
    const ledger = new TreeLedger();
    ledger.record(join(root, 'same.py'), 'f'.repeat(64));
    ledger.record(join(root, 'changed.py'), 'e'.repeat(64));
    await appendFile(join(root, 'changed.py'), 'NEW = 2\n');

    // Act
    const digests = await treeDigests(root, [], ledger);

    // Assess
    expect(digests.get('same.py')).toBe('f'.repeat(64));
    expect(digests.get('changed.py')).toBe(await sha256OfFile(join(root, 'changed.py')));
  });
});

describe('keepLayerFrom with the ledger', () => {
  it('takes a digest the ledger vouches for, and hashes a file rewritten since it was recorded', async () => {
    // Prepare: the ledger records a digest for same.py that only the ledger can give, and the
    // true digest of changed.py, which is then rewritten with other bytes of the same size.
    const opt = await mkdtemp(join(work, 'opt-'));
    await mkdir(join(opt, 'python'));
    await writeFile(join(opt, 'python', 'same.py'), 'SAME = 1\n');
    await writeFile(join(opt, 'python', 'changed.py'), 'OLD = 1\n');
    const recordedOld = await sha256OfFile(join(opt, 'python', 'changed.py'));
    const ledger = new TreeLedger();
    ledger.record(join(opt, 'python', 'same.py'), 'f'.repeat(64));
    ledger.record(join(opt, 'python', 'changed.py'), recordedOld);
    await new Promise((resolve) => setTimeout(resolve, 30)); // past the coarse clock's tick
    await writeFile(join(opt, 'python', 'changed.py'), 'NEW = 1\n');
    const layer = (zip: string, path: string, sha256: string, size: number) => ({
      zipSha256: zip.repeat(64),
      files: [{ path, size, executable: false, sha256 }],
    });
    const vouched = layer('a', 'python/same.py', 'f'.repeat(64), 9);
    const stale = layer('b', 'python/changed.py', recordedOld, 8);
    const known = (path: string) => ledger.sha256Of(path);
    const root = join(work, 'kept-with-ledger');

    // Act
    await keepLayerFrom(root, vouched, opt, { hashed: true, known });
    const refused = await keepLayerFrom(root, stale, opt, { hashed: true, known }).catch(
      (error: unknown) => error,
    );

    // Assess: the first layer is kept on the ledger's word; the rewritten file is hashed and refused.
    expect((await readKeptLayer(root, vouched.zipSha256))?.files).toEqual(
      vouched.files.map((file) => ({ ...file, packed: true })),
    );
    expect(String(refused)).toMatch(/changed\.py has other bytes/);
    expect(await readKeptLayer(root, stale.zipSha256)).toBeNull();
  });
});
