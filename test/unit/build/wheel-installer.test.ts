import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntegrityError, UnsafeArchiveError } from '../../../functions/core/shared/errors.ts';
import { DEFAULT_SLIM_POLICY, NO_SLIM_POLICY } from '../../../functions/core/build/slim-policy.ts';
import {
  entryPointScript,
  installWheel,
  lambdaInterpreter,
  parseConsoleScripts,
  parseRecordLine,
  unsafeEntryName,
  type TreeClaims,
} from '../../../functions/core/build/wheel-installer.ts';
import { writeDeterministicZip } from '../../../functions/core/pack/deterministic-zip.ts';
import { recordReliability } from '../../support/reliability-log.ts';
import { lieAboutSize, writeFixtureWheels, type FixtureWheels } from './wheel-fixtures.ts';
import { writeTinyWheel } from './tiny-wheels.ts';

let work: string;
let wheels: FixtureWheels;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-installer-'));
  await mkdir(join(work, 'wheels'));
  wheels = await writeFixtureWheels(join(work, 'wheels'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function filesBelow(root: string): Promise<string[]> {
  if (!existsSync(root)) return [];
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

describe('installWheel', () => {
  it('installs purelib and scripts from .data, rewrites #!python, writes entry points, INSTALLER and a true RECORD', async () => {
    // Prepare
    const treeDir = join(work, 'good-tree');
    const locked = await wheels.locked('demo-1.0-py3-none-any.whl');

    // Act
    const installed = await installWheel({
      wheelPath: wheels.path('demo-1.0-py3-none-any.whl'),
      locked,
      treeDir,
      interpreter: lambdaInterpreter('3.11'),
      slim: NO_SLIM_POLICY,
    });

    // Assess
    expect(await readFile(join(treeDir, 'python', 'demo_extra.py'), 'utf8')).toBe('EXTRA = True\n');
    const tool = await readFile(join(treeDir, 'bin', 'demo-tool'), 'utf8');
    expect(tool.split('\n')[0]).toBe('#!/var/lang/bin/python3.11');
    expect((await stat(join(treeDir, 'bin', 'demo-tool'))).mode & 0o111).not.toBe(0);
    const launcher = await readFile(join(treeDir, 'bin', 'demo'), 'utf8');
    expect(launcher).toBe(entryPointScript('/var/lang/bin/python3.11', 'demo', 'main'));
    expect(await readFile(join(treeDir, 'python', 'demo-1.0.dist-info', 'INSTALLER'), 'utf8')).toBe(
      'lambda-deps\n',
    );
    // headers and data are never installed into a layer.
    expect(existsSync(join(treeDir, 'python', 'demo.h'))).toBe(false);
    expect(installed.removed.map((entry) => entry.rule)).toEqual(['wheel-data-data', 'wheel-data-headers']);
    // RECORD lists every installed file with its real hash and size.
    const record = (await readFile(join(treeDir, 'python', 'demo-1.0.dist-info', 'RECORD'), 'utf8'))
      .trim()
      .split('\n');
    const installedFiles = (await filesBelow(treeDir)).length;
    expect(record).toHaveLength(installedFiles);
    for (const line of record) {
      const [path = '', hash, size] = parseRecordLine(line);
      if (path.endsWith('/RECORD')) continue;
      const content = await readFile(join(treeDir, 'python', ...path.split('/')));
      expect(hash).toBe(`sha256=${createHash('sha256').update(content).digest('base64url')}`);
      expect(Number(size)).toBe(content.length);
    }
    expect(installed.topLevel).toEqual(['demo', 'demo_extra']);
  });

  it('applies the slim policy but keeps the dist-info and counts what each rule removed', async () => {
    // Prepare
    const treeDir = join(work, 'slim-tree');
    const locked = await wheels.locked('demo-1.0-py3-none-any.whl');

    // Act
    const installed = await installWheel({
      wheelPath: wheels.path('demo-1.0-py3-none-any.whl'),
      locked,
      treeDir,
      interpreter: lambdaInterpreter('3.12'),
      slim: DEFAULT_SLIM_POLICY,
    });

    // Assess
    expect(existsSync(join(treeDir, 'python', 'demo', 'tests'))).toBe(false);
    expect(existsSync(join(treeDir, 'python', 'demo', 'py.typed'))).toBe(false);
    expect(existsSync(join(treeDir, 'python', 'demo', '__pycache__'))).toBe(false);
    expect(existsSync(join(treeDir, 'python', 'demo-1.0.dist-info', 'METADATA'))).toBe(true);
    const rules = Object.fromEntries(installed.removed.map((entry) => [entry.rule, entry.files]));
    expect(rules).toMatchObject({ bytecode: 1, 'test-suites': 2, 'type-stubs': 2 });
    expect(installed.slimmedBytes).toBeLessThan(installed.installedBytes);
  });

  const hostile: {
    wheel: string;
    error: typeof UnsafeArchiveError | typeof IntegrityError;
    message: RegExp;
  }[] = [
    { wheel: 'zip-slip.whl', error: UnsafeArchiveError, message: /entry "\.\.\/evil\.py".*climbs out/ },
    { wheel: 'absolute.whl', error: UnsafeArchiveError, message: /is an absolute path/ },
    { wheel: 'symlink.whl', error: UnsafeArchiveError, message: /entry "demo\/link".*symbolic link/ },
    {
      wheel: 'duplicate.whl',
      error: UnsafeArchiveError,
      message: /entry "demo\/__init__\.py".*appears twice/,
    },
    {
      wheel: 'record-hash.whl',
      error: UnsafeArchiveError,
      message: /entry "demo\/core\.py".*does not match its RECORD hash/,
    },
    {
      wheel: 'record-unlisted.whl',
      error: UnsafeArchiveError,
      message: /entry "demo\/core\.py".*not listed in RECORD/,
    },
    { wheel: 'no-record.whl', error: UnsafeArchiveError, message: /RECORD.*is missing/ },
    { wheel: 'no-metadata.whl', error: IntegrityError, message: /METADATA is missing/ },
    { wheel: 'metadata-name.whl', error: IntegrityError, message: /METADATA names the project "other"/ },
    { wheel: 'metadata-version.whl', error: IntegrityError, message: /METADATA says version "6\.6\.6"/ },
  ];

  it.each(hostile)(
    'refuses $wheel with $error.name and writes nothing',
    async ({ wheel, error, message }) => {
      // Prepare
      const treeDir = join(work, `tree-${wheel}`);
      const locked = await wheels.locked(wheel);

      // Act
      const install = installWheel({
        wheelPath: wheels.path(wheel),
        locked,
        treeDir,
        interpreter: '/x/python',
        slim: NO_SLIM_POLICY,
      });

      // Assess
      await expect(install).rejects.toThrow(error);
      await expect(install).rejects.toThrow(message);
      await expect(install).rejects.toMatchObject({ packageName: 'demo' });
      expect(await filesBelow(treeDir)).toEqual([]);
      expect(existsSync(join(work, 'evil.py'))).toBe(false);
      expect(existsSync(wheels.absoluteTarget)).toBe(false);
    },
  );

  it('refuses a wheel whose sha256 is not the one in the lock, before reading it', async () => {
    // Prepare
    const locked = await wheels.locked('demo-1.0-py3-none-any.whl', { sha256: 'ab'.repeat(32) });
    const treeDir = join(work, 'tree-sha');

    // Act
    const install = installWheel({
      wheelPath: wheels.path('demo-1.0-py3-none-any.whl'),
      locked,
      treeDir,
      interpreter: '/x/python',
      slim: NO_SLIM_POLICY,
    });

    // Assess
    await expect(install).rejects.toThrow(IntegrityError);
    await expect(install).rejects.toThrow(/the lock says abab/);
    expect(await filesBelow(treeDir)).toEqual([]);
  });

  it('refuses zip bombs by per-entry size, total size and entry count, and entries that lie about their size', async () => {
    // Prepare
    const lying = join(work, 'wheels', 'lying.whl');
    await writeFile(
      lying,
      lieAboutSize(await readFile(wheels.path('demo-1.0-py3-none-any.whl')), 'demo/core.py', 3),
    );
    const truncated = join(work, 'wheels', 'truncated.whl');
    const good = await readFile(wheels.path('demo-1.0-py3-none-any.whl'));
    await writeFile(truncated, good.subarray(0, good.length - 30));
    const cases = [
      { wheel: 'bomb.whl', limits: { maxEntryUncompressedBytes: 1024 * 1024 }, message: /per-entry limit/ },
      {
        wheel: 'bomb.whl',
        limits: { maxTotalUncompressedBytes: 2 * 1024 * 1024 },
        message: /unpacks to more than the limit/,
      },
      { wheel: 'many-entries.whl', limits: { maxEntries: 100 }, message: /more than the limit of 100/ },
      { wheel: 'lying.whl', limits: {}, message: /demo\/core\.py.*(does not inflate|unpacks to)/ },
      { wheel: 'truncated.whl', limits: {}, message: /end of central directory|end record/ },
    ];

    for (const { wheel, limits, message } of cases) {
      const treeDir = join(work, `tree-bomb-${wheel}`);
      // Act
      const install = installWheel({
        wheelPath: wheels.path(wheel),
        locked: await wheels.locked(wheel),
        treeDir,
        interpreter: '/x/python',
        slim: NO_SLIM_POLICY,
        limits,
      });
      // Assess
      await expect(install).rejects.toThrow(UnsafeArchiveError);
      await expect(install).rejects.toThrow(message);
      expect(await filesBelow(treeDir)).toEqual([]);
    }
    recordReliability({
      area: 'wheel input',
      experiment:
        'hostile wheels refused by the installer (zip-slip, absolute, symlink, duplicate, RECORD lies, METADATA lies, sha256 vs lock, bombs, size lies, truncated directory)',
      cases: hostile.length + 1 + cases.length,
      faultsInjected: hostile.length + 1 + cases.length,
      runs: 1,
      lost: 'nothing',
    });
  });
});

describe('unsafeEntryName', () => {
  it.each([
    ['../x', /climbs/],
    ['a/../../x', /climbs/],
    ['/etc/passwd', /absolute/],
    ['C:/x', /Windows/],
    ['a\\b', /backslash/],
    ['a//b', /empty/],
    ['a/./b', /empty/],
  ])('rejects %s', (name, reason) => {
    // Act
    const problem = unsafeEntryName(name);

    // Assess
    expect(problem).toMatch(reason);
  });

  it('accepts ordinary wheel paths', () => {
    // Act
    const problems = ['numpy/__init__.py', 'numpy.libs/libgfortran.so.5', 'x-1.0.data/scripts/x', 'dir/'].map(
      unsafeEntryName,
    );

    // Assess
    expect(problems).toEqual([null, null, null, null]);
  });
});

describe('parseConsoleScripts', () => {
  it('reads console and GUI scripts with attributes and extras, ignoring other groups', () => {
    // Prepare
    const text =
      '[console_scripts]\nf2py = numpy.f2py.f2py2e:main\nplain = tool\n\n[gui_scripts]\ngui = app.ui:App.run [extra]\n\n[pytest11]\nplugin = x.y\n';

    // Act
    const scripts = parseConsoleScripts(text);

    // Assess
    expect(scripts).toEqual([
      { name: 'f2py', module: 'numpy.f2py.f2py2e', attribute: 'main' },
      { name: 'plain', module: 'tool', attribute: '' },
      { name: 'gui', module: 'app.ui', attribute: 'App.run' },
    ]);
  });
});

describe('installWheel into one tree shared by several distributions', () => {
  const install = (
    path: string,
    locked: Awaited<ReturnType<typeof writeTinyWheel>>['locked'],
    treeDir: string,
    claims: TreeClaims,
  ) =>
    installWheel({
      wheelPath: path,
      locked,
      treeDir,
      interpreter: '/x/python',
      slim: NO_SLIM_POLICY,
      claims,
    });

  it('refuses a second distribution that installs a path with other bytes, naming both', async () => {
    // Prepare
    const dir = await mkdtemp(join(work, 'clash-'));
    const one = await writeTinyWheel(dir, 'one', '1.0', { 'shared2/__init__.py': 'WHO = "one"\n' });
    const two = await writeTinyWheel(dir, 'two', '1.0', { 'shared2/__init__.py': 'WHO = "two"\n' });
    const treeDir = join(dir, 'tree');
    const claims: TreeClaims = new Map();

    // Act
    await install(one.path, one.locked, treeDir, claims);
    const second = install(two.path, two.locked, treeDir, claims);

    // Assess
    await expect(second).rejects.toThrow(UnsafeArchiveError);
    await expect(second).rejects.toThrow(
      /python\/shared2\/__init__\.py is also installed by one.*two and one/,
    );
    expect(await readFile(join(treeDir, 'python', 'shared2', '__init__.py'), 'utf8')).toBe('WHO = "one"\n');
    expect(existsSync(join(treeDir, 'python', 'two-1.0.dist-info'))).toBe(false);
  });

  it('refuses a clash even without shared claims, when the tree already holds other bytes', async () => {
    // Prepare
    const dir = await mkdtemp(join(work, 'clash-disk-'));
    const one = await writeTinyWheel(dir, 'one', '1.0', { 'shared2/__init__.py': 'WHO = "one"\n' });
    const two = await writeTinyWheel(dir, 'two', '1.0', { 'shared2/__init__.py': 'WHO = "two"\n' });
    const treeDir = join(dir, 'tree');

    // Act
    await install(one.path, one.locked, treeDir, new Map());
    const second = install(two.path, two.locked, treeDir, new Map());

    // Assess
    await expect(second).rejects.toThrow(/shared2\/__init__\.py is already in the tree with other content/);
    expect(await readFile(join(treeDir, 'python', 'shared2', '__init__.py'), 'utf8')).toBe('WHO = "one"\n');
  });

  it('accepts the same path from two distributions when the bytes are identical', async () => {
    // Prepare
    const dir = await mkdtemp(join(work, 'same-'));
    const one = await writeTinyWheel(dir, 'one', '1.0', { 'ns/__init__.py': '', 'ns/one.py': '' });
    const two = await writeTinyWheel(dir, 'two', '1.0', { 'ns/__init__.py': '', 'ns/two.py': '' });
    const treeDir = join(dir, 'tree');
    const claims: TreeClaims = new Map();

    // Act
    await install(one.path, one.locked, treeDir, claims);
    await install(two.path, two.locked, treeDir, claims);

    // Assess
    expect(existsSync(join(treeDir, 'python', 'ns', 'two.py'))).toBe(true);
    recordReliability({
      area: 'wheel input',
      experiment:
        'duplicate-path wheels: two distributions installing one path with other bytes refused (shared claims and on disk); identical bytes accepted',
      cases: 3,
      faultsInjected: 2,
      runs: 1,
      lost: 'nothing',
    });
  });

  it('refuses a wheel whose .data/purelib would replace the RECORD the installer writes', async () => {
    // Prepare
    const dir = await mkdtemp(join(work, 'record-'));
    const evil = await writeTinyWheel(dir, 'evil', '1.0', {
      'evil/__init__.py': '',
      'evil-1.0.data/purelib/evil-1.0.dist-info/RECORD': 'evil/__init__.py,,\n',
    });
    const treeDir = join(dir, 'tree');

    // Act
    const installing = install(evil.path, evil.locked, treeDir, new Map());

    // Assess
    await expect(installing).rejects.toThrow(
      /would replace python\/evil-1\.0\.dist-info\/RECORD, which the installer writes/,
    );
    expect(await filesBelow(treeDir)).toEqual([]);
  });

  it('refuses a bomb by its compression ratio before inflating or writing anything', async () => {
    // Prepare: 64 MiB of zeros in one entry, stored as raw deflate (about 64 KiB).
    const dir = await mkdtemp(join(work, 'ratio-'));
    const zeros = Buffer.alloc(64 * 1024 ** 2);
    const { deflateRawSync, crc32 } = await import('node:zlib');
    const wheelPath = join(dir, 'bomb-1.0-py3-none-any.whl');
    await writeDeterministicZip(wheelPath, [
      {
        name: 'bomb/zeros.bin',
        kind: 'raw',
        executable: false,
        raw: { method: 8, crc32: crc32(zeros), uncompressedSize: zeros.length, data: deflateRawSync(zeros) },
      },
    ]);
    const bytes = await readFile(wheelPath);
    const locked = {
      ...(await writeTinyWheel(await mkdtemp(join(work, 'bomb-lock-')), 'bomb', '1.0', {})).locked,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.length,
    };
    const treeDir = join(dir, 'tree');

    // Act
    const installing = installWheel({
      wheelPath,
      locked,
      treeDir,
      interpreter: '/x/python',
      slim: NO_SLIM_POLICY,
    });

    // Assess
    await expect(installing).rejects.toThrow(
      /entry "bomb\/zeros\.bin": declares 67108864 bytes from \d+ compressed \(over 200:1\)/,
    );
    expect(await filesBelow(treeDir)).toEqual([]);
  });
});
