// verifyArtifact's rules on small artifacts made of hand-built ELF files: libraries the base
// image lacks, glibc markers, 32-bit and damaged files, extension suffixes, attribution to
// packages, layouts; and hostile inputs that must give problems, never a crash.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectPythonRoots, verifyArtifact } from '../../../functions/core/verify/artifact-verifier.ts';
import { InputError } from '../../../functions/core/shared/errors.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { recordReliability } from '../../support/reliability-log.ts';
import { buildElf } from './elf-builder.ts';

let work = '';
let counter = 0;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-verifier-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A fresh artifact folder holding the given files. */
async function artifact(files: Record<string, Buffer | string>): Promise<string> {
  const root = join(work, `artifact-${counter++}`);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return root;
}

const x86Library = (needed: string[], glibcVersions: string[] = ['GLIBC_2.17']): Buffer =>
  buildElf({ is64: true, little: true, machine: 62, needed, glibcVersions, soname: null, runpath: null });

const record = (distInfo: string, files: string[]): Record<string, string> => ({
  [`${distInfo}/METADATA`]: `Metadata-Version: 2.1\nName: ${distInfo.split('/').pop()?.split('-')[0]}\nVersion: 1\n`,
  [`${distInfo}/RECORD`]: files.map((file) => `${file},sha256=x,1`).join('\n'),
});

describe('detectPythonRoots', () => {
  it.each([
    {
      label: 'a layer with both layouts',
      paths: ['python/lib/python3.12/site-packages/a/__init__.py', 'python/b.py'],
      roots: ['python/lib/python3.12/site-packages', 'python'],
    },
    {
      label: 'a layer with python/ only',
      paths: ['python/a/__init__.py', 'python/a-1.dist-info/RECORD'],
      roots: ['python'],
    },
    { label: 'a bare site-packages', paths: ['a/__init__.py', 'a-1.dist-info/RECORD'], roots: ['.'] },
    { label: 'an EFS tree', paths: ['v1/site/a-1.dist-info/RECORD', 'v1/site/a/x.py'], roots: ['v1/site'] },
    { label: 'loose files', paths: ['handler.py'], roots: ['.'] },
  ])('finds the sys.path folders of $label', ({ paths, roots }) => {
    // Prepare
    const input = paths;

    // Act
    const detected = detectPythonRoots(input);

    // Assess
    expect(detected).toEqual(roots);
  });
});

describe('verifyArtifact', () => {
  it('refuses libGL.so.1 (the opencv failure) and names the package from RECORD', async () => {
    // Prepare
    const root = await artifact({
      'python/cv2/cv2.abi3.so': x86Library(['libGL.so.1', 'libc.so.6']),
      ...record('python/opencv_python-4.0.dist-info', ['cv2/cv2.abi3.so']),
    });

    // Act
    const result = await verifyArtifact({ root, target: lambdaTarget('python3.12', 'x86_64') });

    // Assess
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatchObject({ package: 'opencv_python', file: 'python/cv2/cv2.abi3.so' });
    expect(result.problems[0]?.message).toMatch(/needs libGL\.so\.1/);
  });

  it('accepts libcrypt.so.1 on Amazon Linux 2 but not on Amazon Linux 2023', async () => {
    // Prepare
    const root = await artifact({ 'python/legacy/_c.abi3.so': x86Library(['libcrypt.so.1', 'libc.so.6']) });

    // Act
    const onAl2 = await verifyArtifact({ root, target: lambdaTarget('python3.11', 'x86_64') });
    const onAl2023 = await verifyArtifact({ root, target: lambdaTarget('python3.12', 'x86_64') });

    // Assess
    expect(onAl2.problems).toEqual([]);
    expect(onAl2023.problems.map((problem) => problem.message)).toEqual([
      expect.stringMatching(/libcrypt\.so\.1/),
    ]);
  });

  it('accepts an unconfirmed base-image library but says it assumed it', async () => {
    // Prepare
    const root = await artifact({
      'python/tls/_ssl.abi3.so': x86Library(['libssl.so.3']),
      'python/tls/_ssl2.abi3.so': x86Library(['libssl.so.3']),
    });

    // Act
    const result = await verifyArtifact({ root, target: lambdaTarget('python3.12', 'x86_64') });

    // Assess
    expect(result.ok).toBe(true);
    expect(result.assumedLibraries).toEqual([
      { library: 'libssl.so.3', source: expect.any(String), files: 2 },
    ]);
  });

  it('treats GLIBC_ABI_DT_RELR as needing glibc 2.36', async () => {
    // Prepare
    const root = await artifact({
      'python/relr/_r.abi3.so': x86Library(['libc.so.6'], ['GLIBC_2.17', 'GLIBC_ABI_DT_RELR']),
    });

    // Act
    const result = await verifyArtifact({ root, target: lambdaTarget('python3.12', 'x86_64') });

    // Assess
    expect(result.problems.map((problem) => problem.message)).toEqual([
      expect.stringMatching(/needs GLIBC_2\.36/),
    ]);
  });

  it('refuses a GLIBCXX newer than the base image libstdc++ unless the artifact ships its own', async () => {
    // Prepare
    const cxx = (runpath: string | null): Buffer =>
      buildElf({
        is64: true,
        little: true,
        machine: 62,
        needed: ['libstdc++.so.6', 'libc.so.6'],
        glibcVersions: ['GLIBC_2.17', 'GLIBCXX_3.4.30'],
        soname: null,
        runpath,
      });
    const bare = await artifact({ 'python/cxx/_c.abi3.so': cxx(null) });
    const bundled = await artifact({
      'python/cxx/_c.abi3.so': cxx('$ORIGIN/../cxx.libs'),
      'python/cxx.libs/libstdc++.so.6': x86Library(['libc.so.6']),
    });
    const target = lambdaTarget('python3.12', 'x86_64');

    // Act
    const withoutOwn = await verifyArtifact({ root: bare, target });
    const withOwn = await verifyArtifact({ root: bundled, target });

    // Assess
    expect(withoutOwn.problems.map((problem) => problem.message)).toEqual([
      expect.stringMatching(/needs GLIBCXX_3\.4\.30 from libstdc\+\+.*GLIBCXX_3\.4\.29/),
    ]);
    expect(withOwn.problems).toEqual([]);
  });

  it('refuses a 32-bit x86 library for x86_64', async () => {
    // Prepare
    const root = await artifact({
      'python/old/_x.so': buildElf({ is64: false, little: true, machine: 3, needed: ['libc.so.6'] }),
    });

    // Act
    const result = await verifyArtifact({ root, target: lambdaTarget('python3.11', 'x86_64') });

    // Assess
    expect(result.problems.map((problem) => problem.message)).toEqual([
      expect.stringMatching(/built for 32-bit i386/),
    ]);
  });

  it('reports a damaged ELF file', async () => {
    // Prepare
    const whole = x86Library(['libc.so.6']);
    const root = await artifact({ 'python/broken/_b.abi3.so': whole.subarray(0, whole.length - 24) });

    // Act
    const result = await verifyArtifact({ root, target: lambdaTarget('python3.11', 'x86_64') });

    // Assess
    expect(result.problems.map((problem) => problem.message)).toEqual([
      expect.stringMatching(/damaged ELF file/),
    ]);
  });

  it.each([
    { file: 'm.cpython-313t-x86_64-linux-gnu.so', runtime: 'python3.13', pattern: /free-threaded/ },
    {
      file: 'm.cpython-312-x86_64-linux-musl.so',
      runtime: 'python3.12',
      pattern: /built for x86_64-linux-musl/,
    },
    {
      file: 'm.cpython-312-aarch64-linux-gnu.so',
      runtime: 'python3.12',
      pattern: /built for aarch64-linux-gnu/,
    },
    { file: 'm.cpython-311-x86_64-linux-gnu.so', runtime: 'python3.12', pattern: /built for CPython 3\.11/ },
  ])('refuses the extension $file under $runtime', async ({ file, runtime, pattern }) => {
    // Prepare
    const root = await artifact({ [`python/pkg/${file}`]: x86Library(['libc.so.6']) });

    // Act
    const result = await verifyArtifact({ root, target: lambdaTarget(runtime, 'x86_64') });

    // Assess
    expect(result.problems.map((problem) => problem.message)).toEqual([expect.stringMatching(pattern)]);
    expect(result.problems[0]?.message).toContain('import pkg.m');
  });

  it('reports an aarch64 extension once for x86_64, as a machine mismatch', async () => {
    // Prepare
    const root = await artifact({
      'python/pkg/m.cpython-312-aarch64-linux-gnu.so': buildElf({
        is64: true,
        little: true,
        machine: 183,
        needed: ['libc.so.6'],
      }),
    });

    // Act
    const result = await verifyArtifact({ root, target: lambdaTarget('python3.12', 'x86_64') });

    // Assess
    expect(result.problems.map((problem) => problem.message)).toEqual([
      expect.stringMatching(/built for aarch64, but .* runs x86_64/),
    ]);
  });

  it('accepts abi3 extensions and the exact suffix', async () => {
    // Prepare
    const root = await artifact({
      'python/pkg/a.abi3.so': x86Library(['libc.so.6']),
      'python/pkg/b.cpython-312-x86_64-linux-gnu.so': x86Library(['libm.so.6']),
      'python/pkg/c.so': x86Library(['libstdc++.so.6']),
    });

    // Act
    const result = await verifyArtifact({ root, target: lambdaTarget('python3.12', 'x86_64') });

    // Assess
    expect(result).toMatchObject({ ok: true, problems: [], filesChecked: 3, elfFiles: 3 });
  });

  it('attributes files missing from RECORD through their top-level folder, and prefers packageOf when given', async () => {
    // Prepare
    const root = await artifact({
      'python/fast/_new.abi3.so': x86Library(['libmissing.so.1']),
      'python/fast/__init__.py': '',
      ...record('python/fast-2.0.dist-info', ['fast/__init__.py']),
    });
    const target = lambdaTarget('python3.11', 'x86_64');

    // Act
    const derived = await verifyArtifact({ root, target });
    const given = await verifyArtifact({ root, target, packageOf: () => 'from-lock' });

    // Assess
    expect(derived.problems.map((problem) => problem.package)).toEqual(['fast']);
    expect(given.problems.map((problem) => problem.package)).toEqual(['from-lock']);
  });

  it('finds needed libraries in the layer lib/ folder (LD_LIBRARY_PATH /opt/lib) and through /opt paths', async () => {
    // Prepare
    const root = await artifact({
      'python/a/_a.abi3.so': x86Library(['libextra.so.1']),
      'lib/libextra.so.1': x86Library(['libc.so.6']),
      'python/b/_b.abi3.so': buildElf({
        is64: true,
        little: true,
        machine: 62,
        needed: ['libother.so.2'],
        runpath: '/opt/vendor',
      }),
      'vendor/libother.so.2': x86Library(['libc.so.6']),
    });

    // Act
    const result = await verifyArtifact({ root, target: lambdaTarget('python3.12', 'x86_64') });

    // Assess
    expect(result.problems).toEqual([]);
  });

  it('turns a file that is not a zip into an InputError', async () => {
    // Prepare
    const root = await artifact({ 'layer.zip': 'not a zip at all' });

    // Act
    const attempt = verifyArtifact({
      root: join(root, 'layer.zip'),
      target: lambdaTarget('python3.12', 'x86_64'),
    });

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(InputError);
  });

  it('reports hostile files with ELF magic as problems and never throws', async () => {
    // Prepare
    let seed = 99;
    const random = (limit: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % limit;
    };
    const files: Record<string, Buffer> = {};
    const template = x86Library(['libc.so.6']);
    for (let index = 0; index < 300; index++) {
      const copy = Buffer.from(template.subarray(0, 16 + random(template.length)));
      for (let flip = 0; flip < 4; flip++) copy[16 + random(Math.max(1, copy.length - 16))] = random(256);
      files[`python/junk/f${index}.so`] = copy;
    }
    const root = await artifact(files);

    // Act
    const result = await verifyArtifact({ root, target: lambdaTarget('python3.12', 'x86_64') });

    // Assess
    expect(result.filesChecked).toBe(300);
    expect(result.elfFiles).toBe(300);
    expect(result.problems.length).toBeGreaterThan(0);
    recordReliability({
      area: 'binary verification',
      experiment: 'verifyArtifact on truncated and corrupted ELF files',
      cases: 300,
      faultsInjected: 300,
      runs: 1,
      lost: 'nothing',
    });
  });
});

describe('verifyArtifact on a zip of the wrong shape', () => {
  /** A zip written by Python's zipfile (which allows duplicates and links), from [name, content, symlink?]. */
  async function zipOf(entries: [string, string, boolean?][]): Promise<string> {
    const path = join(work, `shape-${counter++}.zip`);
    const script = [
      'import json, sys, warnings, zipfile',
      'warnings.simplefilter("ignore")',
      'with zipfile.ZipFile(sys.argv[1], "w") as z:',
      '    for name, content, link in json.loads(sys.argv[2]):',
      '        info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))',
      '        info.external_attr = (0o120777 if link else 0o100644) << 16',
      '        z.writestr(info, content)',
    ].join('\n');
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    await promisify(execFile)('python3', [
      '-c',
      script,
      path,
      JSON.stringify(entries.map(([n, c, l]) => [n, c, l ?? false])),
    ]);
    return path;
  }
  const target = lambdaTarget('python3.11', 'x86_64');

  it('refuses a symlink out of the artifact, a duplicate entry and names differing only in case', async () => {
    // Prepare
    const root = await zipOf([
      ['python/pkg/__init__.py', ''],
      ['python/pkg/shadow', '/etc/shadow', true],
      ['python/pkg/up', '../../../etc/passwd', true],
      ['python/pkg/inside', '__init__.py', true],
      ['python/pkg/mod.py', 'A = 1\n'],
      ['python/pkg/mod.py', 'A = 2\n'],
      ['python/pkg/Readme.txt', ''],
      ['python/pkg/README.txt', ''],
    ]);

    // Act
    const result = await verifyArtifact({ root, target });

    // Assess
    const messages = result.problems.map((problem) => problem.message);
    expect(result.ok).toBe(false);
    expect(messages).toEqual(
      expect.arrayContaining([
        'python/pkg/shadow is a symlink to /etc/shadow, outside the artifact.',
        'python/pkg/up is a symlink to ../../../etc/passwd, outside the artifact.',
        'python/pkg/mod.py appears more than once in the zip.',
        'python/pkg/README.txt and python/pkg/Readme.txt differ only in case.',
      ]),
    );
    expect(messages.some((message) => message.includes('python/pkg/inside'))).toBe(false);
    recordReliability({
      area: 'verify',
      experiment:
        'zip with symlinks out (absolute and ..), a duplicate entry and case-only names refused; an inside link accepted',
      cases: 5,
      faultsInjected: 4,
      runs: 1,
      lost: 'nothing',
    });
  });
});
