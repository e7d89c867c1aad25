// Entries too big to wait in memory between a wheel's check and its write (over 48 MiB, like
// torch's 434 MB libtorch_cpu.so) are inflated once, during the check, into a staging folder
// beside the tree, and linked into the tree once the whole wheel has passed. Nothing reaches the
// tree from a wheel that fails its check, a path another distribution already installed the
// same bytes at is not written twice, and the staging folder is left empty either way.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type * as ZipReader from '../../../functions/core/pack/zip-reader.ts';
import { DEFAULT_SLIM_POLICY } from '../../../functions/core/build/slim-policy.ts';
import {
  installWheel,
  lambdaInterpreter,
  type InstallWheelOptions,
  type TreeClaims,
} from '../../../functions/core/build/wheel-installer.ts';
import { sha256Hex } from '../../../functions/core/shared/hash.ts';
import { TreeLedger } from '../../../functions/core/shared/tree-ledger.ts';
import type { LockedPackage } from '../../../functions/core/shared/types.ts';
import { lockedWheel } from './tiny-wheels.ts';

/** Every file the installer inflates an entry into (wheel-installer.ts writes through writeEntryTo). */
const inflatedInto = vi.hoisted(() => [] as string[]);
vi.mock('../../../functions/core/pack/zip-reader.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof ZipReader>();
  return {
    ...actual,
    writeEntryTo: (...args: Parameters<typeof actual.writeEntryTo>) => {
      inflatedInto.push(args[2]);
      return actual.writeEntryTo(...args);
    },
  };
});

const execFileAsync = promisify(execFile);
const BIG = 48 * 1024 ** 2 + 1;

/** A wheel `name` with a big data file, a big executable one and a module; `lie` makes RECORD's digest of the data file wrong. */
const WRITER = String.raw`
import base64, hashlib, sys, zipfile
path, name, big, lie = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == '1'
def digest(data):
    return 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
dist = '%s-1.0.dist-info' % name
files = [
    ('%s/__init__.py' % name, b'X = 1\n', 0o644),
    ('shared/big.bin', b'x' * big, 0o644),
    ('%s/tool.bin' % name, b'y' * big, 0o755),
    (dist + '/METADATA', ('Metadata-Version: 2.1\nName: %s\nVersion: 1.0\n' % name).encode(), 0o644),
    (dist + '/WHEEL', b'Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n', 0o644),
]
with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as archive:
    lines = []
    for entry, data, mode in files:
        info = zipfile.ZipInfo(entry, (2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (0o100000 | mode) << 16
        archive.writestr(info, data)
        listed = b'z' + data[1:] if lie and entry == 'shared/big.bin' else data
        lines.append('%s,%s,%d' % (entry, digest(listed), len(data)))
    archive.writestr(dist + '/RECORD', '\n'.join(lines + [dist + '/RECORD,,']) + '\n')
`;

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-staged-entries-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});
beforeEach(() => {
  inflatedInto.length = 0;
});

async function wheelOf(name: string, lie = false): Promise<{ path: string; locked: LockedPackage }> {
  const path = join(work, `${name}-1.0-py3-none-any.whl`);
  await execFileAsync('python3', ['-c', WRITER, path, name, String(BIG), lie ? '1' : '0']);
  const locked = await lockedWheel(path, name, '1.0');
  return { path, locked };
}

function optionsFor(
  wheel: { path: string; locked: LockedPackage },
  folders: { treeDir: string; stagingDir: string },
  extra: Partial<InstallWheelOptions> = {},
): InstallWheelOptions {
  return {
    wheelPath: wheel.path,
    locked: wheel.locked,
    ...folders,
    interpreter: lambdaInterpreter('3.11'),
    slim: DEFAULT_SLIM_POLICY,
    // The big entries are one letter repeated: past the zip-bomb ratio a real wheel never reaches.
    limits: { maxEntryRatio: 100_000, maxTotalRatio: 100_000 },
    ...extra,
  };
}

async function folders(name: string): Promise<{ treeDir: string; stagingDir: string }> {
  const root = await mkdtemp(join(work, `${name}-`));
  const stagingDir = join(root, 'staging');
  await mkdir(stagingDir);
  return { treeDir: join(root, 'tree'), stagingDir };
}

const sha256Of = async (path: string): Promise<string> =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

describe('big entries staged during the check', () => {
  it('land in the tree with their bytes and mode, recorded, and leave nothing staged', async () => {
    // Prepare
    const wheel = await wheelOf('stagedok');
    const where = await folders('ok');
    const ledger = new TreeLedger();

    // Act
    await installWheel(optionsFor(wheel, where, { ledger }));

    // Assess
    const big = join(where.treeDir, 'python', 'shared', 'big.bin');
    const tool = join(where.treeDir, 'python', 'stagedok', 'tool.bin');
    expect(await sha256Of(big)).toBe(sha256Hex(Buffer.alloc(BIG, 'x')));
    expect(await sha256Of(tool)).toBe(sha256Hex(Buffer.alloc(BIG, 'y')));
    expect((await stat(tool)).mode & 0o111).not.toBe(0);
    expect((await stat(big)).mode & 0o111).toBe(0);
    // The tree's file is the only name of its bytes, and the ledger vouches for it.
    expect((await stat(big)).nlink).toBe(1);
    expect(ledger.sha256Of(big)).toBe(sha256Hex(Buffer.alloc(BIG, 'x')));
    expect(await readdir(where.stagingDir)).toEqual([]);
    // Each big entry was inflated once, into the staging folder, never again into the tree.
    expect(inflatedInto.filter((path) => path.startsWith(`${where.stagingDir}/`))).toHaveLength(2);
    expect(inflatedInto).not.toContain(big);
    expect(inflatedInto).not.toContain(tool);
  });

  it('reach nothing in the tree from a wheel whose RECORD does not match them', async () => {
    // Prepare
    const wheel = await wheelOf('stagedlie', true);
    const where = await folders('lie');

    // Act
    const installing = installWheel(optionsFor(wheel, where));

    // Assess
    await expect(installing).rejects.toThrow(/shared\/big\.bin.*does not match its RECORD hash/);
    expect(existsSync(join(where.treeDir, 'python', 'shared', 'big.bin'))).toBe(false);
    expect(await readdir(where.stagingDir)).toEqual([]);
  });

  it('are not written again where another distribution installed the same bytes', async () => {
    // Prepare
    const first = await wheelOf('stagedfirst');
    const second = await wheelOf('stagedsecond');
    const where = await folders('shared');
    const claims: TreeClaims = new Map();
    await installWheel(optionsFor(first, where, { claims }));
    const before = await stat(join(where.treeDir, 'python', 'shared', 'big.bin'));

    // Act
    await installWheel(optionsFor(second, where, { claims }));

    // Assess
    const after = await stat(join(where.treeDir, 'python', 'shared', 'big.bin'));
    expect(after.ino).toBe(before.ino);
    expect(existsSync(join(where.treeDir, 'python', 'stagedsecond', 'tool.bin'))).toBe(true);
    expect(await readdir(where.stagingDir)).toEqual([]);
  });
});
