// The lock readers and the format detector on small files: detection by content (not name),
// the message and export commands for unknown files, markers evaluated for the target,
// groups and extras, requires-python, and Poetry's constraint syntax.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { companionsOf, detectInputFormat } from '../../../../functions/core/inputs/input-format.ts';
import { readPipfileLock } from '../../../../functions/core/inputs/locks/pipfile.ts';
import { checkRequiresPython } from '../../../../functions/core/inputs/locks/pinned-set.ts';
import { poetryConstraintToPep440 } from '../../../../functions/core/inputs/locks/poetry.ts';
import { readPylock } from '../../../../functions/core/inputs/locks/pylock.ts';
import { readUvLock } from '../../../../functions/core/inputs/locks/uv-lock.ts';
import { readPyproject } from '../../../../functions/core/inputs/pyproject.ts';
import { InputError, IntegrityError, ResolutionError } from '../../../../functions/core/shared/errors.ts';
import { lockFromPins } from '../../../../functions/core/inputs/locks/select-files.ts';
import { readInputFile, readPinnedSet } from '../../../../functions/core/inputs/locks/read-input.ts';
import type { LockedFile } from '../../../../functions/core/inputs/locks/pinned-set.ts';
import type { DistributionFile, PackageIndex } from '../../../../functions/core/shared/types.ts';
import { lambdaTarget } from '../../../../functions/core/shared/targets.ts';

const execFileAsync = promisify(execFile);
const target = lambdaTarget('python3.11', 'x86_64');
const fixture = (path: string): Promise<string> => readFile(join('test/fixtures/locks', path), 'utf8');

describe('detectInputFormat', () => {
  it('tells every format apart by content, whatever the file is called', async () => {
    // Prepare
    const cases: [string, string][] = [
      ['uv/uv.lock', 'uv.lock'],
      ['poetry/poetry.lock', 'poetry.lock'],
      ['pipenv/Pipfile.lock', 'Pipfile.lock'],
      ['pipenv/Pipfile', 'Pipfile'],
      ['pylock/pylock.toml', 'pylock.toml'],
      ['uv/pyproject.toml', 'pyproject'],
      ['poetry/pyproject.toml', 'pyproject'],
    ];

    // Act
    const detected = await Promise.all(
      cases.map(async ([path]) => detectInputFormat('deps.txt', await fixture(path))),
    );

    // Assess
    expect(detected).toEqual(cases.map(([, format]) => format));
    expect(detectInputFormat('x.json', '{"lockVersion": 1, "target": {}, "packages": []}')).toBe(
      'lambda-deps-lock',
    );
    expect(detectInputFormat('requirements.txt', 'requests==2.32.3\n-r other.txt\n')).toBe('requirements');
    expect(detectInputFormat('pyproject.toml', '[dependency-groups]\ndev = ["pytest"]\n')).toBe('pyproject');
  });

  it('refuses an unknown file saying what was expected and the commands that export one', () => {
    // Act
    const attempt = (): unknown =>
      detectInputFormat('environment.yml', 'name: app\ndependencies:\n  - numpy\n');
    const toml = (): unknown =>
      detectInputFormat('Cargo.lock', 'version = 3\n\n[[package]]\nname = "serde"\n');

    // Assess
    for (const call of [attempt, toml]) {
      expect(call).toThrow(InputError);
      try {
        call();
      } catch (error) {
        const input = error as InputError;
        expect(input.exitCode).toBe(2);
        expect(input.hint).toContain('poetry export -f requirements.txt --with-hashes');
        expect(input.hint).toContain('uv export --format requirements-txt');
        expect(input.hint).toContain('pipenv requirements --hash');
      }
    }
  });

  it('exits 2 from the CLI on an unknown format, with the export command', { timeout: 60_000 }, async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'lambda-deps-format-'));
    const file = join(dir, 'deps.toml');
    writeFileSync(file, '[tool.black]\nline-length = 100\n');

    // Act
    const run = await execFileAsync('bin/lambda-deps', ['measure', file, '--runtime', 'python3.11']).catch(
      (error: { code: number; stderr: string }) => error,
    );
    rmSync(dir, { recursive: true, force: true });

    // Assess
    expect((run as { code: number }).code).toBe(2);
    expect((run as { stderr: string }).stderr).toContain('is not a dependency file lambda-deps reads');
    expect((run as { stderr: string }).stderr).toContain('poetry export -f requirements.txt --with-hashes');
  });
});

describe('lock readers', () => {
  const selection = { target, extras: [] as string[], groups: [] as string[] };

  it('follows uv.lock from the project, evaluating each marker for the target', async () => {
    // Act
    const pinned = await readUvLock(await fixture('uv/uv.lock'), 'uv.lock', selection);
    const withExtra = await readUvLock(await fixture('uv/uv.lock'), 'uv.lock', {
      ...selection,
      extras: ['yaml'],
    });

    // Assess
    const names = pinned.packages.map((entry) => entry.name);
    expect(names).toContain('pydantic-core');
    expect(names).not.toContain('colorama'); // click → colorama only on win32
    expect(names).not.toContain('pytest'); // the dev group was not asked for
    expect(withExtra.packages.map((entry) => entry.name)).toContain('pyyaml');
    expect(pinned.requiresPython).toBe('>=3.11');
    expect(pinned.sources).toEqual(['https://pypi.org/simple']);
    expect(pinned.packages.find((entry) => entry.name === 'pydantic-core')?.files).toHaveLength(3);
  });

  it('names the groups a lock has when an unknown one is asked for', async () => {
    // Act
    const attempt = readUvLock(await fixture('uv/uv.lock'), 'uv.lock', { ...selection, groups: ['docs'] });

    // Assess
    await expect(attempt).rejects.toThrow(/no dependency group "docs"/);
  });

  it('applies Pipfile.lock markers for the target and adds develop with --group dev', async () => {
    // Act
    const text = await fixture('pipenv/Pipfile.lock');
    const runtime = await readPipfileLock(text, 'Pipfile.lock', selection);
    const dev = await readPipfileLock(text, 'Pipfile.lock', { ...selection, groups: ['dev'] });

    // Assess
    expect(runtime.packages.map((entry) => entry.name)).not.toContain('colorama');
    expect(runtime.packages.map((entry) => entry.name)).not.toContain('pytest');
    expect(dev.packages.map((entry) => entry.name)).toContain('pytest');
    expect(runtime.requiresPython).toBe('==3.11.*');
    expect(runtime.packages[0]?.hashes[0]).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('reads PEP 751 markers on extras and dependency groups, and refuses other environments', async () => {
    // Prepare
    const text = [
      'lock-version = "1.0"',
      'created-by = "test"',
      'environments = ["sys_platform == \'linux\'"]',
      'dependency-groups = ["dev"]',
      '[[packages]]',
      'name = "six"',
      'version = "1.17.0"',
      'marker = "\'dev\' in dependency_groups"',
      'wheels = [{ url = "https://example.invalid/six-1.17.0-py2.py3-none-any.whl", hashes = { sha256 = "ab" } }]',
      '',
    ].join('\n');

    // Act
    const without = await readPylock(text, 'pylock.toml', selection);
    const withDev = await readPylock(text, 'pylock.toml', { ...selection, groups: ['dev'] });
    const windows = readPylock(
      text.replace("sys_platform == 'linux'", "sys_platform == 'win32'"),
      'pylock.toml',
      selection,
    );

    // Assess
    expect(without.packages).toHaveLength(0);
    expect(withDev.packages.map((entry) => entry.name)).toEqual(['six']);
    await expect(windows).rejects.toThrow(/locked for other environments/);
  });

  it('checks requires-python against the target with a clear error', () => {
    // Act + Assess
    expect(() => checkRequiresPython('>=3.12', target, 'uv.lock')).toThrow(
      /requires Python >=3\.12, but the target is python3\.11/,
    );
    expect(() => checkRequiresPython('>=3.11.11', target, 'pylock.toml')).not.toThrow();
    try {
      checkRequiresPython('>=3.12', target, 'uv.lock');
    } catch (error) {
      expect((error as InputError).exitCode).toBe(2);
      expect((error as InputError).hint).toContain('--runtime python3.12');
    }
  });

  it('translates Poetry constraints to PEP 440', () => {
    expect(poetryConstraintToPep440('^1.2.3', 'x')).toBe('>=1.2.3,<2');
    expect(poetryConstraintToPep440('^0.2.3', 'x')).toBe('>=0.2.3,<0.3');
    expect(poetryConstraintToPep440('~1.2', 'x')).toBe('>=1.2,<1.3');
    expect(poetryConstraintToPep440('1.2.*', 'x')).toBe('==1.2.*');
    expect(poetryConstraintToPep440('>=1,<2', 'x')).toBe('>=1,<2');
    expect(poetryConstraintToPep440('*', 'x')).toBe('');
    expect(() => poetryConstraintToPep440('>=1 || >=3', 'x')).toThrow(/PEP 440 cannot express/);
  });
});

describe('pyproject.toml groups', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lambda-deps-groups-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('adds PEP 735 groups with --group, following include-group', async () => {
    // Prepare
    const path = join(dir, 'pyproject.toml');
    writeFileSync(
      path,
      '[project]\nname = "x"\nversion = "1"\nrequires-python = ">=3.12"\ndependencies = ["requests"]\n\n[dependency-groups]\nlambda = ["boto3", { include-group = "Shared" }]\nshared = ["six"]\n',
    );

    // Act
    const { set, requiresPython } = await readPyproject(path, [], { groups: ['lambda'] });

    // Assess
    expect(set.requirements.map((requirement) => requirement.name)).toEqual(['requests', 'boto3', 'six']);
    expect(requiresPython).toBe('>=3.12');
  });

  it('refuses an include-group cycle', async () => {
    // Prepare
    const path = join(dir, 'pyproject.toml');
    writeFileSync(
      path,
      '[dependency-groups]\na = [{ include-group = "b" }]\nb = [{ include-group = "a" }]\n',
    );

    // Act + Assess
    await expect(readPyproject(path, [], { groups: ['a'] })).rejects.toThrow(/includes itself/);
  });

  it('reads a Poetry project without a lock as requirements, python ranges as markers', async () => {
    // Prepare
    const path = join(dir, 'pyproject.toml');
    writeFileSync(
      path,
      '[tool.poetry]\nname = "x"\n\n[tool.poetry.dependencies]\npython = "^3.11"\nrequests = "^2.32"\ntomli = { version = ">=2", python = "<3.11" }\n\n[tool.poetry.group.dev.dependencies]\npytest = "^9"\n\n[[tool.poetry.source]]\nname = "corp"\nurl = "https://pypi.corp.example/simple/"\npriority = "primary"\n',
    );

    // Act
    const { set, requiresPython } = await readPyproject(path, [], { groups: ['dev'] });

    // Assess
    expect(set.requirements.map((requirement) => `${requirement.name}${requirement.specifier}`)).toEqual([
      'requests>=2.32,<3',
      'tomli>=2',
      'pytest>=9,<10',
    ]);
    expect(set.requirements[1]?.marker).not.toBeNull();
    expect(requiresPython).toBe('>=3.11,<4');
    expect(set.fileIndexOptions).toEqual({ indexUrl: 'https://pypi.corp.example/simple/' });
  });
});

describe('lockFromPins', () => {
  /** An index that serves nothing but sizes: the lock's own URLs are used as they are. */
  function stubIndex(files: DistributionFile[] = [], downloaded: string | null = null): PackageIndex {
    return {
      listFiles: async (name) =>
        files.filter((file) => file.filename.toLowerCase().startsWith(name.replace(/-/g, '_'))),
      fetchMetadata: async () => {
        throw new Error('not used');
      },
      measureWheel: async () => ({ size: 10, unzippedSize: 20, entryCount: 1 }),
      download: async () => {
        if (!downloaded) throw new Error('not used');
        return downloaded;
      },
    };
  }

  it('says which pinned package has no wheel for the target, and what to do', async () => {
    // Prepare: the fixture's pydantic-core wheels are cp311, cp313 macOS and cp313 aarch64 only.
    const python312 = lambdaTarget('python3.12', 'x86_64');
    const pinned = await readUvLock(await fixture('uv/uv.lock'), 'uv.lock', {
      target: python312,
      extras: [],
      groups: [],
    });

    // Act
    const attempt = lockFromPins(pinned, python312, stubIndex(), false);

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(ResolutionError);
    const error = (await attempt.catch((caught: unknown) => caught)) as ResolutionError;
    expect(error.problems.map((problem) => problem.package)).toEqual(['pydantic-core']);
    expect(error.problems[0]?.message).toMatch(
      /pydantic-core 2\.46\.5 \(pinned by uv\.lock\) has no wheel for python3\.12 x86_64/,
    );
    expect(error.problems[0]?.message).toMatch(/Lock again for the target/);
  });

  it('refuses a file whose index hash differs from the lock’s', async () => {
    // Prepare
    const pinned = await readPylock(await fixture('pylock/pylock.toml'), 'pylock.toml', {
      target,
      extras: [],
      groups: [],
    });
    const other = pinned.packages.map((entry) => {
      const file = entry.files[0] as LockedFile;
      return {
        filename: file.filename,
        url: `file:///x/${file.filename}`,
        sha256: entry.name === 'idna' ? 'f'.repeat(64) : (file.hashes.sha256 ?? null),
        requiresPython: null,
        yanked: false as const,
        size: null,
        metadataUrl: null,
        metadataSha256: null,
        source: 'file:///x/',
      };
    });

    // Act
    const attempt = lockFromPins(pinned, target, stubIndex(other), true);

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(IntegrityError);
    await expect(attempt).rejects.toThrow(/idna-3\.20-py3-none-any\.whl .* but the lock says/);
  });

  it('checks hashes other than sha256 on the downloaded bytes', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'lambda-deps-hash-'));
    const wheel = join(dir, 'six-1.17.0-py2.py3-none-any.whl');
    writeFileSync(wheel, 'not the locked bytes');
    const text = [
      'lock-version = "1.0"',
      'created-by = "test"',
      '[[packages]]',
      'name = "six"',
      'version = "1.17.0"',
      `wheels = [{ url = "file://${wheel}", hashes = { sha512 = "${'a'.repeat(128)}" } }]`,
      '',
    ].join('\n');
    const pinned = await readPylock(text, 'pylock.toml', { target, extras: [], groups: [] });

    // Act
    const attempt = lockFromPins(pinned, target, stubIndex([], wheel), false);

    // Assess
    await expect(attempt).rejects.toThrow(/has sha512 [0-9a-f]{128}, but the lock says a{128}/);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('inputs beside their locks', () => {
  it('reads the Pipfile.lock beside a Pipfile, and the uv.lock beside a pyproject.toml', async () => {
    // Act
    const pipenv = await readInputFile('test/fixtures/locks/pipenv/Pipfile');
    const uv = await readInputFile('test/fixtures/locks/uv/pyproject.toml');

    // Assess
    expect(pipenv.format).toBe('Pipfile.lock');
    expect(pipenv.path.endsWith('Pipfile.lock')).toBe(true);
    expect(uv.format).toBe('uv.lock');
  });

  it('reads the poetry.lock beside a Poetry pyproject.toml, and the pyproject beside a named poetry.lock', async () => {
    // Act
    const poetry = await readInputFile('test/fixtures/locks/poetry/pyproject.toml');
    const companions = companionsOf('test/fixtures/locks/poetry/poetry.lock', 'poetry.lock');

    // Assess
    expect(poetry.format).toBe('poetry.lock');
    expect(poetry.path.endsWith('poetry/poetry.lock')).toBe(true);
    expect(companions).toEqual(['test/fixtures/locks/poetry/pyproject.toml']);
    expect(companionsOf('test/fixtures/locks/poetry/pyproject.toml', 'pyproject')).toEqual([
      'test/fixtures/locks/poetry/poetry.lock',
    ]);
    expect(companionsOf('test/fixtures/locks/pylock/pylock.toml', 'pylock.toml')).toEqual([]);
  });

  it('explains a pin that has only a source distribution', async () => {
    // Prepare
    const text = [
      'lock-version = "1.0"',
      'created-by = "test"',
      '[[packages]]',
      'name = "pyyaml"',
      'version = "6.0.3"',
      'sdist = { url = "https://example.invalid/pyyaml-6.0.3.tar.gz", hashes = { sha256 = "ab" } }',
      '',
    ].join('\n');
    const pinned = await readPylock(text, 'pylock.toml', { target, extras: [], groups: [] });

    // Act
    const attempt = lockFromPins(
      pinned,
      target,
      { listFiles: async () => [] } as unknown as PackageIndex,
      false,
    );

    // Assess
    await expect(attempt).rejects.toThrow(
      /pyyaml 6\.0\.3 \(pinned by pylock\.toml\) has no wheel .*only a source distribution \(pyyaml-6\.0\.3\.tar\.gz\)/,
    );
  });
});

describe('uv.lock in step with its pyproject.toml', () => {
  it('refuses a uv.lock whose project dependencies differ from the pyproject beside it', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'lambda-deps-stale-'));
    writeFileSync(join(dir, 'uv.lock'), await fixture('uv/uv.lock'));
    const pyproject = (await fixture('uv/pyproject.toml')).replace('"click>=8"', '"click>=8", "boto3"');
    writeFileSync(join(dir, 'pyproject.toml'), pyproject);
    const file = await readInputFile(join(dir, 'pyproject.toml'));

    // Act
    const stale = readPinnedSet(file.path, file.format, file.text, { target, extras: [], groups: [] });

    // Assess
    await expect(stale).rejects.toThrow(
      /uv\.lock is out of date with the pyproject\.toml beside it \(boto3 added\)/,
    );
    writeFileSync(join(dir, 'pyproject.toml'), await fixture('uv/pyproject.toml'));
    await expect(
      readPinnedSet(file.path, file.format, file.text, { target, extras: [], groups: [] }),
    ).resolves.toBeTruthy();
    rmSync(dir, { recursive: true, force: true });
  });
});
