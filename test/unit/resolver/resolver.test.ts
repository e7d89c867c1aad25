import { describe, expect, it } from 'vitest';
import { InputError, IntegrityError, ResolutionError } from '../../../functions/core/shared/errors.ts';
import { parseRequirement } from '../../../functions/core/inputs/pep508.ts';
import { resolveDependencySet } from '../../../functions/core/resolve/resolver.ts';
import { formatControlOf, type FormatControl } from '../../../functions/core/resolve/format-control.ts';
import { customTarget, lambdaTarget } from '../../../functions/core/shared/targets.ts';
import type { Lock, Requirement } from '../../../functions/core/shared/types.ts';
import { createFakePackageIndex, fakeSha256, type FakeRelease } from '../../support/fake-package-index.ts';

const py311 = lambdaTarget('python3.11', 'x86_64');
const py312 = lambdaTarget('python3.12', 'x86_64');

function requirements(...lines: string[]): Requirement[] {
  return lines.map((line) => parseRequirement(line));
}

function picked(lock: Lock): Record<string, string> {
  return Object.fromEntries(lock.packages.map((entry) => [entry.name, entry.version]));
}

async function resolve(
  projects: Record<string, FakeRelease[]>,
  lines: string[],
  options: {
    constraints?: string[];
    target?: typeof py311;
    pre?: boolean;
    hashCheckingMode?: boolean;
    formatControl?: FormatControl;
  } = {},
): Promise<Lock> {
  return resolveDependencySet({
    requirements: requirements(...lines),
    constraints: requirements(...(options.constraints ?? [])),
    target: options.target ?? py311,
    index: createFakePackageIndex(projects),
    pre: options.pre ?? false,
    hashCheckingMode: options.hashCheckingMode ?? false,
    // pip's --only-binary :all: unless a test says otherwise: the fake index serves no sdist bytes.
    formatControl: options.formatControl ?? formatControlOf([{ option: 'only-binary', value: ':all:' }]),
  });
}

async function resolutionError(promise: Promise<unknown>): Promise<ResolutionError> {
  const error = await promise.then(
    () => null,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ResolutionError);
  return error as ResolutionError;
}

describe('resolveDependencySet', () => {
  it('resolves the full closure with the newest versions and records who asked for each package', async () => {
    // Prepare
    const projects = {
      app: [{ version: '1.0', requiresDist: ['lib>=1', 'util'] }],
      lib: [{ version: '1.0' }, { version: '1.5', requiresDist: ['util<3'] }],
      util: [{ version: '2.0' }, { version: '3.0' }],
    };

    // Act
    const lock = await resolve(projects, ['app']);

    // Assess
    expect(picked(lock)).toEqual({ app: '1.0', lib: '1.5', util: '2.0' });
    expect(lock.packages.find((entry) => entry.name === 'util')?.requiredBy).toEqual(['app', 'lib']);
    expect(lock.packages.find((entry) => entry.name === 'app')?.requiredBy).toEqual(['<requirements>']);
    expect(lock.packages.map((entry) => entry.name)).toEqual(['app', 'lib', 'util']);
  });

  it('backtracks to an older version when the newest one conflicts with a package pinned later', async () => {
    // Prepare: a 2.0 needs c>=2 but every b needs c<2, so a must fall back to 1.0.
    const projects = {
      a: [
        { version: '1.0', requiresDist: ['c'] },
        { version: '2.0', requiresDist: ['c>=2'] },
      ],
      b: [
        { version: '1.0', requiresDist: ['c<2'] },
        { version: '2.0', requiresDist: ['c<2'] },
      ],
      c: [{ version: '1.0' }, { version: '1.5' }, { version: '2.0' }],
    };

    // Act
    const lock = await resolve(projects, ['a', 'b']);

    // Assess
    expect(picked(lock)).toEqual({ a: '1.0', b: '2.0', c: '1.5' });
  });

  it('picks, among several files of one version, the one whose tag the target prefers', async () => {
    // Prepare
    const projects = {
      bcrypt: [
        {
          version: '5.0.0',
          files: [
            { tag: 'cp38-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64' },
            { tag: 'cp39-abi3-manylinux_2_34_x86_64' },
            { tag: 'cp39-abi3-musllinux_1_2_x86_64' },
          ],
        },
      ],
    };

    // Act
    const forAl2 = await resolve(projects, ['bcrypt'], { target: py311 });
    const forAl2023 = await resolve(projects, ['bcrypt'], { target: py312 });

    // Assess
    expect(forAl2.packages[0]?.filename).toBe(
      'bcrypt-5.0.0-cp38-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl',
    );
    expect(forAl2.packages[0]?.tag).toBe('cp38-abi3-manylinux_2_17_x86_64');
    expect(forAl2023.packages[0]?.filename).toBe('bcrypt-5.0.0-cp39-abi3-manylinux_2_34_x86_64.whl');
  });

  it('adds the dependencies of a requested extra and locks the package itself once', async () => {
    // Prepare
    const projects = {
      requests: [
        {
          version: '2.32.0',
          requiresDist: ['urllib3', 'pysocks>=1.5; extra == "socks"'],
          providesExtra: ['socks'],
        },
      ],
      urllib3: [{ version: '2.2.0' }],
      pysocks: [{ version: '1.7.1' }],
    };

    // Act
    const plain = await resolve(projects, ['requests']);
    const withExtra = await resolve(projects, ['requests[socks]']);

    // Assess
    expect(picked(plain)).toEqual({ requests: '2.32.0', urllib3: '2.2.0' });
    expect(picked(withExtra)).toEqual({ pysocks: '1.7.1', requests: '2.32.0', urllib3: '2.2.0' });
    expect(withExtra.packages.filter((entry) => entry.name === 'requests')).toHaveLength(1);
    expect(withExtra.packages.find((entry) => entry.name === 'pysocks')?.requiredBy).toEqual(['requests']);
  });

  it('evaluates markers for the target, not for the machine running the resolver', async () => {
    // Prepare
    const projects = {
      app: [
        {
          version: '1.0',
          requiresDist: [
            'tomli; python_version < "3.12"',
            'graviton-only; platform_machine == "aarch64"',
            'windows-only; sys_platform == "win32"',
          ],
        },
      ],
      tomli: [{ version: '2.0.1' }],
      'graviton-only': [{ version: '1.0' }],
      'windows-only': [{ version: '1.0' }],
    };

    // Act
    const on311 = await resolve(projects, ['app'], { target: py311 });
    const on312arm = await resolve(projects, ['app'], { target: lambdaTarget('python3.12', 'arm64') });

    // Assess
    expect(Object.keys(picked(on311))).toEqual(['app', 'tomli']);
    expect(Object.keys(picked(on312arm))).toEqual(['app', 'graviton-only']);
  });

  it('skips a yanked file unless the requirement pins that version with ==', async () => {
    // Prepare
    const projects = {
      lib: [{ version: '1.0' }, { version: '1.1', files: [{ tag: 'py3-none-any', yanked: 'broken' }] }],
    };

    // Act
    const open = await resolve(projects, ['lib']);
    const pinned = await resolve(projects, ['lib==1.1']);

    // Assess
    expect(picked(open)).toEqual({ lib: '1.0' });
    expect(picked(pinned)).toEqual({ lib: '1.1' });
  });

  it('chooses pre-releases only with --pre, when the specifier names one, or when nothing else exists', async () => {
    // Prepare
    const projects = {
      lib: [{ version: '1.0' }, { version: '2.0b1' }],
      onlypre: [{ version: '0.1a1' }],
    };

    // Act
    const plain = await resolve(projects, ['lib']);
    const withPre = await resolve(projects, ['lib'], { pre: true });
    const named = await resolve(projects, ['lib>=2.0b1']);
    const onlyPre = await resolve(projects, ['onlypre']);
    const onlyPreWithSpecifier = await resolve(projects, ['onlypre>=0.0']);

    // Assess
    expect(picked(plain)).toEqual({ lib: '1.0' });
    expect(picked(withPre)).toEqual({ lib: '2.0b1' });
    expect(picked(named)).toEqual({ lib: '2.0b1' });
    expect(picked(onlyPre)).toEqual({ onlypre: '0.1a1' });
    // pip 26 (packaging 26) falls back to pre-releases when no final matches, specifier or not.
    expect(picked(onlyPreWithSpecifier)).toEqual({ onlypre: '0.1a1' });
  });

  it('lets constraints narrow versions without adding packages', async () => {
    // Prepare
    const projects = { lib: [{ version: '1.0' }, { version: '2.0' }], unrelated: [{ version: '1.0' }] };

    // Act
    const lock = await resolve(projects, ['lib'], { constraints: ['lib<2', 'unrelated==1.0'] });

    // Assess
    expect(picked(lock)).toEqual({ lib: '1.0' });
  });

  it('honours Requires-Python from the index link and from the metadata', async () => {
    // Prepare
    const projects = {
      linked: [
        { version: '1.0' },
        { version: '2.0', files: [{ tag: 'py3-none-any', requiresPython: '>=3.12' }] },
      ],
      declared: [{ version: '1.0' }, { version: '2.0', requiresPython: '>=3.12' }],
    };

    // Act
    const on311 = await resolve(projects, ['linked', 'declared'], { target: py311 });
    const on312 = await resolve(projects, ['linked', 'declared'], { target: py312 });

    // Assess
    expect(picked(on311)).toEqual({ declared: '1.0', linked: '1.0' });
    expect(picked(on312)).toEqual({ declared: '2.0', linked: '2.0' });
  });

  it('with --only-binary :all: never chooses an sdist, and says what to do when a version has nothing else', async () => {
    // Prepare
    const projects = {
      lib: [{ version: '1.0' }, { version: '2.0', files: [{ filename: 'lib-2.0.tar.gz' }] }],
    };

    // Act
    const lock = await resolve(projects, ['lib']);
    const error = await resolutionError(resolve(projects, ['lib>=2']));

    // Assess
    expect(picked(lock)).toEqual({ lib: '1.0' });
    expect(error.problems[0]).toEqual({
      package: 'lib',
      message: expect.stringContaining(
        'lib 2.0 has only a source distribution (lib-2.0.tar.gz), and --only-binary forbids building lib from source; drop lib from --only-binary',
      ),
    });
  });

  describe('in hash-checking mode', () => {
    const projects = {
      lib: [
        { version: '1.0', files: [{ tag: 'cp311-cp311-manylinux_2_17_x86_64' }, { tag: 'py3-none-any' }] },
      ],
      dep: [{ version: '1.0' }],
    };

    it('picks the file whose sha256 is among the requirement hashes, even when another ranks higher', async () => {
      // Prepare
      const hash = fakeSha256('lib-1.0-py3-none-any.whl');
      const requirement = { ...parseRequirement('lib==1.0'), hashes: [hash] };

      // Act
      const lock = await resolveDependencySet({
        requirements: [requirement],
        constraints: [],
        target: py311,
        index: createFakePackageIndex(projects),
        hashCheckingMode: true,
      });

      // Assess
      expect(lock.packages[0]?.filename).toBe('lib-1.0-py3-none-any.whl');
      expect(lock.packages[0]?.sha256).toBe(hash);
    });

    it('refuses a file whose sha256 matches none of the hashes', async () => {
      // Prepare
      const requirement = { ...parseRequirement('lib==1.0'), hashes: ['0'.repeat(64)] };

      // Act
      const attempt = resolveDependencySet({
        requirements: [requirement],
        constraints: [],
        target: py311,
        index: createFakePackageIndex(projects),
        hashCheckingMode: true,
      });

      // Assess
      await expect(attempt).rejects.toBeInstanceOf(IntegrityError);
      await expect(attempt).rejects.toMatchObject({ packageName: 'lib' });
    });

    it('asks for hashes of dependencies that have none, as pip does', async () => {
      // Prepare
      const withDependency = { ...projects, lib: [{ version: '1.0', requiresDist: ['dep'] }] };
      const requirement = {
        ...parseRequirement('lib==1.0'),
        hashes: [fakeSha256('lib-1.0-py3-none-any.whl')],
      };

      // Act
      const attempt = resolveDependencySet({
        requirements: [requirement],
        constraints: [],
        target: py311,
        index: createFakePackageIndex(withDependency),
        hashCheckingMode: true,
      });

      // Assess
      await expect(attempt).rejects.toBeInstanceOf(InputError);
      await expect(attempt).rejects.toMatchObject({
        hint: expect.stringContaining(`dep==1.0 --hash=sha256:${fakeSha256('dep-1.0-py3-none-any.whl')}`),
      });
    });
  });

  describe('when no file fits', () => {
    it('names the glibc a newer version needs and the newest version that fits', async () => {
      // Prepare
      const projects = {
        'scikit-learn': [
          { version: '1.6.1', files: [{ tag: 'cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64' }] },
          { version: '1.9.1', files: [{ tag: 'cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64' }] },
        ],
      };

      // Act
      const error = await resolutionError(resolve(projects, ['scikit-learn>=1.7']));
      const lock = await resolve(projects, ['scikit-learn']);

      // Assess
      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]?.package).toBe('scikit-learn');
      expect(error.problems[0]?.message).toContain(
        'scikit-learn 1.9.1 needs glibc 2.27 (manylinux_2_27); python3.11 runs on Amazon Linux 2 (glibc 2.26)',
      );
      expect(error.problems[0]?.message).toContain('1.6.1 fits the target but not scikit-learn>=1.7');
      expect(picked(lock)).toEqual({ 'scikit-learn': '1.6.1' });
    });

    it('says which CPython versions a native package has wheels for', async () => {
      // Prepare
      const projects = {
        app: [{ version: '1.0', requiresDist: ['cffi>=1'] }],
        cffi: [{ version: '1.17.1', files: [{ tag: 'cp311-cp311-manylinux_2_17_x86_64' }] }],
      };

      // Act
      const error = await resolutionError(resolve(projects, ['app'], { target: py312 }));

      // Assess
      expect(error.problems.map((problem) => problem.package)).toContain('cffi');
      const message = error.problems.find((problem) => problem.package === 'cffi')?.message ?? '';
      expect(message).toContain('cffi 1.17.1 has no wheel for CPython 3.12 (only cp311)');
      expect(message).toContain('required by app 1.0');
    });

    it('explains a conflict with the chain of who required what', async () => {
      // Prepare
      const projects = {
        a: [{ version: '1.0', requiresDist: ['c>=2'] }],
        b: [{ version: '1.0', requiresDist: ['c<2'] }],
        c: [{ version: '1.0' }, { version: '2.0' }],
      };

      // Act
      const error = await resolutionError(resolve(projects, ['a', 'b']));

      // Assess
      const message = error.problems.map((problem) => `${problem.package}: ${problem.message}`).join('\n');
      expect(message).toMatch(/c: conflicting requirements/);
      expect(message).toContain('a 1.0 requires c>=2');
      expect(message).toContain('b 1.0 requires c<2');
    });

    it('reports a package that no index offers', async () => {
      // Prepare
      const projects = { app: [{ version: '1.0' }] };

      // Act
      const error = await resolutionError(resolve(projects, ['app', 'nonexistent-package']));

      // Assess
      expect(error.problems[0]).toEqual({
        package: 'nonexistent-package',
        message: expect.stringContaining('no index or find-links location offers any file'),
      });
    });

    it('names an architecture mismatch for a custom target', async () => {
      // Prepare
      const projects = { lib: [{ version: '1.0', files: [{ tag: 'cp311-cp311-manylinux_2_17_x86_64' }] }] };

      // Act
      const error = await resolutionError(
        resolve(projects, ['lib'], {
          target: customTarget({ python: '3.11', glibc: '2.34', arch: 'arm64' }),
        }),
      );

      // Assess
      expect(error.problems[0]?.message).toContain('has no wheel for aarch64 (only x86_64)');
    });
  });

  it('fetches metadata lazily: only for the versions it tries', async () => {
    // Prepare
    const projects = { lib: Array.from({ length: 30 }, (_, minor) => ({ version: `1.${minor}` })) };
    const index = createFakePackageIndex(projects);

    // Act
    await resolveDependencySet({ requirements: requirements('lib'), constraints: [], target: py311, index });

    // Assess: the newest, plus at most the next one fetched ahead.
    expect(index.calls.fetchMetadata.length).toBeLessThanOrEqual(2);
    expect(index.calls.fetchMetadata[0]).toBe('lib-1.29-py3-none-any.whl');
    expect(index.calls.measureWheel).toEqual(['lib-1.29-py3-none-any.whl']);
  });

  it('uses a direct reference to a wheel as the only candidate', async () => {
    // Prepare
    const projects = { lib: [{ version: '2.0' }] };
    const index = createFakePackageIndex(projects);
    const fakeMetadata = index.fetchMetadata.bind(index);
    index.fetchMetadata = async (file) =>
      file.url.includes('direct')
        ? { name: 'lib', version: '1.5', requiresDist: [], requiresPython: null, providesExtra: [] }
        : fakeMetadata(file);
    const hash = 'a'.repeat(64);

    // Act
    const lock = await resolveDependencySet({
      requirements: requirements(`lib @ https://direct.test/lib-1.5-py3-none-any.whl#sha256=${hash}`),
      constraints: [],
      target: py311,
      index,
    });

    // Assess
    expect(lock.packages[0]).toMatchObject({
      name: 'lib',
      version: '1.5',
      url: 'https://direct.test/lib-1.5-py3-none-any.whl',
      sha256: hash,
    });
  });
});

describe('resolveDependencySet on the shapes pip 26 resolves (issue 10)', () => {
  it('resolves projects whose listings hold post and dev releases', async () => {
    // Prepare: pytz-like listings; `segment.join is not a function` crashed these.
    const projects = {
      pytz: [{ version: '2024.1' }, { version: '2024.1.post1' }, { version: '2025.2.dev3' }],
      tool: [{ version: '1.0.post2', requiresDist: ['pytz>2024.1'] }, { version: '1.1.dev1' }],
    };

    // Act
    const lock = await resolve(projects, ['tool', 'pytz']);

    // Assess: >2024.1 excludes 2024.1's own post release (PEP 440), so no final is left but the dev one.
    expect(picked(lock)).toEqual({ tool: '1.0.post2', pytz: '2025.2.dev3' });
  });

  it('takes the pre-releases of a project that has no final release, as pip 26 does', async () => {
    // Prepare
    const projects = {
      app: [{ version: '1.0', requiresDist: ['early>=0.1'] }],
      early: [{ version: '0.2b1' }, { version: '0.3rc2' }],
    };

    // Act
    const lock = await resolve(projects, ['app']);

    // Assess
    expect(picked(lock)).toEqual({ app: '1.0', early: '0.3rc2' });
  });

  it('evaluates python_full_version for the real patch level of the runtime and records it in the lock', async () => {
    // Prepare: redis 8.1 asks for async-timeout only below 3.11.3; the 3.11 runtime is past that.
    const projects = {
      redis: [{ version: '8.1.0', requiresDist: ['async-timeout>=4.0.3; python_full_version < "3.11.3"'] }],
    };
    const pinnedOld = lambdaTarget('python3.11', 'x86_64', { pythonFullVersion: '3.11.2' });

    // Act
    const lock = await resolve(projects, ['redis']);
    const onOldPatch = resolve(projects, ['redis'], { target: pinnedOld });

    // Assess
    expect(picked(lock)).toEqual({ redis: '8.1.0' });
    expect(lock.target.pythonFullVersion).toMatch(/^3\.11\.(\d+)$/);
    expect(Number(lock.target.pythonFullVersion?.split('.')[2])).toBeGreaterThanOrEqual(3);
    // async-timeout is not on this index: the override makes the marker hold, so it is needed and missing.
    expect((await resolutionError(onOldPatch)).problems.map((problem) => problem.package)).toContain(
      'async-timeout',
    );
  });

  it('lets a custom target name its patch level, and refuses one of another minor version', () => {
    // Act
    const custom = customTarget({ python: '3.12.4', glibc: '2.34', arch: 'x86_64' });
    const wrong = (): unknown => lambdaTarget('python3.12', 'x86_64', { pythonFullVersion: '3.11.9' });

    // Assess
    expect([custom.pythonVersion, custom.pythonFullVersion]).toEqual(['3.12', '3.12.4']);
    expect(wrong).toThrow(InputError);
  });

  it('explains the 13-wheel conflict (x==i needs z==i, y==j needs z==K+1+j) in under 2 s, naming x, y and z', async () => {
    // Prepare: K = 3; x and y have four versions each, z five, and no z fits both an x and a y.
    const K = 3;
    const projects = {
      x: Array.from({ length: K + 1 }, (_, i) => ({ version: `${i}.0`, requiresDist: [`z==${i}.0`] })),
      y: Array.from({ length: K + 1 }, (_, j) => ({
        version: `${j}.0`,
        requiresDist: [`z==${K + 1 + j}.0`],
      })),
      z: Array.from({ length: K + 2 }, (_, k) => ({ version: `${k}.0` })),
    };
    const started = performance.now();

    // Act
    const error = await resolutionError(resolve(projects, ['x', 'y']));
    const elapsed = performance.now() - started;

    // Assess
    expect(elapsed).toBeLessThan(2_000);
    expect(error.message).toMatch(/\bx\b/);
    expect(error.message).toMatch(/\by\b/);
    expect(error.message).toMatch(/\bz\b/);
    expect(error.problems.map((problem) => problem.package)).toContain('z');
  });

  it('lists every unsatisfiable requirement, not only the first', async () => {
    // Prepare
    const projects = { present: [{ version: '1.0' }], old: [{ version: '1.0' }] };

    // Act
    const error = await resolutionError(
      resolve(projects, ['present', 'missing-a', 'missing-b', 'old>=2', 'missing-c', 'missing-d']),
    );

    // Assess
    expect(error.problems.map((problem) => problem.package).sort()).toEqual([
      'missing-a',
      'missing-b',
      'missing-c',
      'missing-d',
      'old',
    ]);
  });

  it('names the indexes it searched and keeps the index warnings when it fails', async () => {
    // Prepare
    const projects = { present: [{ version: '1.0' }] };
    const warnings = ['https://gone.invalid/simple was left out: its host does not resolve'];

    // Act
    const error = await resolutionError(
      resolveDependencySet({
        requirements: requirements('absent'),
        constraints: [],
        target: py311,
        index: createFakePackageIndex(projects),
        searched: ['https://user:secret@mirror.test/simple', 'file:///srv/wheels'],
        warnings,
      }),
    );

    // Assess
    expect(error.message).toContain('https://mirror.test/simple');
    expect(error.message).not.toContain('secret');
    expect(error.message).toContain('file:///srv/wheels');
    expect(error.message).toContain(warnings[0]);
  });

  it('refuses a target the project itself excludes with requires-python, naming the file', async () => {
    // Act
    const error = await resolveDependencySet({
      requirements: requirements('present'),
      constraints: [],
      target: py311,
      index: createFakePackageIndex({ present: [{ version: '1.0' }] }),
      projectRequiresPython: { specifier: '>=3.12', file: 'pyproject.toml' },
    }).then(
      () => null,
      (reason: unknown) => reason,
    );

    // Assess
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toMatch(/requires Python >=3\.12 \(pyproject\.toml\).*python3\.11/);
  });
});
