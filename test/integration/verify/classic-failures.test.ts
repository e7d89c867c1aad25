// The failures Lambda users hit, reproduced with real binaries (compiled here or taken from
// real wheels in the on-disk indexes) and caught by verifyArtifact; and real good sets that
// verify clean and smoke-import with a real python3.11.
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyArtifact } from '../../../functions/core/verify/artifact-verifier.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import {
  commandWorks,
  compileSharedObject,
  execFileAsync,
  indexFiles,
  minimalMachO,
  unzipMembers,
  writeDistInfo,
  zipFolder,
} from './native-fixtures.ts';

const hasGcc = await commandWorks('gcc');
const hasCrossGcc = await commandWorks('aarch64-linux-gnu-gcc');
const hasObjdump = await commandWorks('objdump');
const indexes = localIndexes();
const skipNote = (skipped: boolean, reason: string): string => (skipped ? ` (skipped: ${reason})` : '');
const noIndexesNote = skipNote(!indexes, NO_LOCAL_INDEXES_REASON);
const noGccNote = skipNote(!hasGcc, 'gcc is not installed');
const noCrossGccNote = skipNote(!hasCrossGcc, 'aarch64-linux-gnu-gcc is not installed');
const noObjdumpNote = skipNote(!hasGcc || !hasObjdump, 'gcc or objdump is not installed');

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-classic-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A fresh layer folder with a `python/` root. */
async function layer(name: string): Promise<{ root: string; site: string }> {
  const root = join(work, name);
  const site = join(root, 'python');
  await mkdir(site, { recursive: true });
  return { root, site };
}

describe('verifyArtifact', () => {
  describe('the _cffi_backend failure', () => {
    let cffiLayer = '';
    let soName = '';

    beforeAll(async () => {
      if (!indexes) return;
      const wheel = (await indexFiles('cffi')).find((file) =>
        /cp311-cp311-.*manylinux.*x86_64.*\.whl$/.test(file),
      );
      if (!wheel) return;
      const { root, site } = await layer('cffi');
      const members = await unzipMembers(
        wheel,
        site,
        (name) => name.startsWith('_cffi_backend') || name.includes('.dist-info/'),
      );
      soName = members.find((name) => name.startsWith('_cffi_backend')) ?? '';
      cffiLayer = root;
    });

    it.skipIf(!indexes)(
      `names the file, cffi and the fix when a cp311 build meets python3.12${noIndexesNote}`,
      async () => {
        // Prepare
        expect(soName).toBe('_cffi_backend.cpython-311-x86_64-linux-gnu.so');

        // Act
        const result = await verifyArtifact({
          root: cffiLayer,
          target: lambdaTarget('python3.12', 'x86_64'),
        });

        // Assess
        expect(result.ok).toBe(false);
        expect(result.problems).toHaveLength(1);
        const [problem] = result.problems;
        expect(problem?.file).toBe(`python/${soName}`);
        expect(problem?.package).toBe('cffi');
        expect(problem?.message).toContain("No module named '_cffi_backend'");
        expect(problem?.hint).toMatch(/cp312/);
        expect(problem?.hint).toMatch(/--runtime python3\.12/);
      },
    );

    it.skipIf(!indexes)(`verifies the same layer clean for python3.11${noIndexesNote}`, async () => {
      // Prepare
      const target = lambdaTarget('python3.11', 'x86_64');

      // Act
      const result = await verifyArtifact({ root: cffiLayer, target });

      // Assess
      expect(result.problems).toEqual([]);
      expect(result.elfFiles).toBe(1);
    });

    it.skipIf(!indexes)(`finds the same problem inside a layer zip${noIndexesNote}`, async () => {
      // Prepare
      const zip = join(work, 'cffi-layer.zip');
      await zipFolder(cffiLayer, zip);

      // Act
      const result = await verifyArtifact({ root: zip, target: lambdaTarget('python3.12', 'x86_64') });

      // Assess
      expect(result.problems.map((problem) => [problem.file, problem.package])).toEqual([
        [`python/${soName}`, 'cffi'],
      ]);
      expect(result.pythonRoots).toEqual(['python']);
    });
  });

  describe('the GLIBC_2.28 failure', () => {
    let root = '';
    let objdumpShows = '';

    beforeAll(async () => {
      if (!hasGcc) return;
      const made = await layer('glibc');
      root = made.root;
      const library = join(made.site, 'statpkg', '_probe.abi3.so');
      await mkdir(join(made.site, 'statpkg'), { recursive: true });
      // statx appeared in glibc 2.28: calling it makes the library need GLIBC_2.28.
      await compileSharedObject(
        'gcc',
        '#define _GNU_SOURCE\n#include <fcntl.h>\n#include <sys/stat.h>\nint probe(const char *p) { struct statx s; return statx(AT_FDCWD, p, 0, STATX_SIZE, &s); }\n',
        library,
      );
      await writeDistInfo(made.site, 'statpkg', '1.0', ['statpkg/_probe.abi3.so']);
      if (hasObjdump) objdumpShows = (await execFileAsync('objdump', ['-T', library])).stdout;
    });

    it.skipIf(!hasGcc || !hasObjdump)(
      `refuses a library needing GLIBC_2.28 for python3.11 (glibc 2.26)${noObjdumpNote}`,
      async () => {
        // Prepare
        expect(objdumpShows).toMatch(/\(GLIBC_2\.28\)\s+statx/);

        // Act
        const result = await verifyArtifact({ root, target: lambdaTarget('python3.11', 'x86_64') });

        // Assess
        expect(result.problems).toHaveLength(1);
        expect(result.problems[0]).toMatchObject({
          package: 'statpkg',
          file: 'python/statpkg/_probe.abi3.so',
        });
        expect(result.problems[0]?.message).toMatch(/needs GLIBC_2\.28.*glibc 2\.26/);
        expect(result.problems[0]?.hint).toMatch(/manylinux_2_26 or lower.*python3\.12/);
      },
    );

    it.skipIf(!hasGcc)(`accepts it for python3.12 (glibc 2.34)${noGccNote}`, async () => {
      // Prepare
      const target = lambdaTarget('python3.12', 'x86_64');

      // Act
      const result = await verifyArtifact({ root, target });

      // Assess
      expect(result.problems).toEqual([]);
      expect(result.elfFiles).toBe(1);
    });
  });

  describe('the wrong-architecture failure', () => {
    let root = '';

    beforeAll(async () => {
      if (!hasCrossGcc) return;
      const made = await layer('aarch64');
      root = made.root;
      await compileSharedObject(
        'aarch64-linux-gnu-gcc',
        'int add(int a, int b) { return a + b; }\n',
        join(made.site, 'armpkg', '_fast.abi3.so'),
      );
      await writeDistInfo(made.site, 'armpkg', '2.0', ['armpkg/_fast.abi3.so']);
    });

    it.skipIf(!hasCrossGcc)(`refuses an aarch64 library for x86_64${noCrossGccNote}`, async () => {
      // Prepare
      const target = lambdaTarget('python3.11', 'x86_64');

      // Act
      const result = await verifyArtifact({ root, target });

      // Assess
      expect(result.problems).toHaveLength(1);
      expect(result.problems[0]).toMatchObject({ package: 'armpkg', file: 'python/armpkg/_fast.abi3.so' });
      expect(result.problems[0]?.message).toMatch(/built for aarch64.*runs x86_64/);
      expect(result.problems[0]?.hint).toMatch(/--architectures arm64/);
    });

    it.skipIf(!hasCrossGcc)(`accepts it for arm64${noCrossGccNote}`, async () => {
      // Prepare
      const target = lambdaTarget('python3.11', 'arm64');

      // Act
      const result = await verifyArtifact({ root, target });

      // Assess
      expect(result.problems).toEqual([]);
    });
  });

  describe('the missing-library failure', () => {
    let consumer = '';
    let stub = '';

    beforeAll(async () => {
      if (!hasGcc) return;
      const build = join(work, 'notthere-build');
      stub = join(build, 'libnotthere.so.1');
      await compileSharedObject('gcc', 'int missing_helper(void) { return 7; }\n', stub, [
        '-Wl,-soname,libnotthere.so.1',
      ]);
      consumer = join(build, '_core.abi3.so');
      await compileSharedObject(
        'gcc',
        'int missing_helper(void);\nint call(void) { return missing_helper(); }\n',
        consumer,
        [`-L${build}`, '-l:libnotthere.so.1', '-Wl,--enable-new-dtags,-rpath,$ORIGIN/../needy.libs'],
      );
    });

    it.skipIf(!hasGcc)(`refuses a library whose DT_NEEDED is nowhere${noGccNote}`, async () => {
      // Prepare
      const { root, site } = await layer('notthere');
      await mkdir(join(site, 'needy'), { recursive: true });
      await copyFile(consumer, join(site, 'needy', '_core.abi3.so'));
      await writeDistInfo(site, 'needy', '0.1', ['needy/_core.abi3.so']);

      // Act
      const result = await verifyArtifact({ root, target: lambdaTarget('python3.12', 'x86_64') });

      // Assess
      expect(result.problems).toHaveLength(1);
      expect(result.problems[0]).toMatchObject({ package: 'needy', file: 'python/needy/_core.abi3.so' });
      expect(result.problems[0]?.message).toMatch(
        /needs libnotthere\.so\.1, which is neither in the artifact/,
      );
      expect(result.problems[0]?.message).toContain('python/needy.libs/');
    });

    it.skipIf(!hasGcc)(
      `finds it in <pkg>.libs through RUNPATH $ORIGIN/../<pkg>.libs${noGccNote}`,
      async () => {
        // Prepare
        const { root, site } = await layer('bundled');
        await mkdir(join(site, 'needy'), { recursive: true });
        await mkdir(join(site, 'needy.libs'), { recursive: true });
        await copyFile(consumer, join(site, 'needy', '_core.abi3.so'));
        await copyFile(stub, join(site, 'needy.libs', basename(stub)));
        await writeDistInfo(site, 'needy', '0.1', ['needy/_core.abi3.so', 'needy.libs/libnotthere.so.1']);

        // Act
        const result = await verifyArtifact({ root, target: lambdaTarget('python3.12', 'x86_64') });

        // Assess
        expect(result.problems).toEqual([]);
        expect(result.elfFiles).toBe(2);
      },
    );
  });

  describe('the macOS binary failure', () => {
    /** Real macOS wheels in the on-disk indexes, if any (none are expected: they hold Linux wheels). */
    async function macosWheels(): Promise<string[]> {
      if (!indexes) return [];
      const found: string[] = [];
      for (const indexUrl of indexes.indexUrls) {
        if (!indexUrl.startsWith('file:')) continue;
        const projects = await readdir(new URL(indexUrl)).catch(() => [] as string[]);
        for (const project of projects) {
          found.push(...(await indexFiles(project)).filter((file) => /macosx.*\.whl$/.test(file)));
          if (found.length > 0) return found;
        }
      }
      return found;
    }

    it('refuses a Mach-O extension (a real one from a macOS wheel when the indexes have one, else a minimal valid Mach-O built here)', async () => {
      // Prepare
      const { root, site } = await layer('macos');
      const [wheel] = await macosWheels();
      let file: string;
      if (wheel) {
        const members = await unzipMembers(wheel, site, (name) => /\.(so|dylib)$/.test(name));
        file = members[0] ?? '';
      } else {
        file = 'speedups/_speedups.cpython-311-darwin.so';
        await mkdir(join(site, 'speedups'), { recursive: true });
        await writeFile(join(site, file), minimalMachO());
        await writeDistInfo(site, 'speedups', '1.0', [file]);
        if (await commandWorks('file', ['--version'])) {
          // file(1) is an independent judge that the bytes built here are a Mach-O.
          const { stdout } = await execFileAsync('file', ['-b', join(site, file)]);
          expect(stdout).toMatch(/Mach-O 64-bit/);
        }
      }

      // Act
      const result = await verifyArtifact({ root, target: lambdaTarget('python3.11', 'x86_64') });

      // Assess
      const problem = result.problems.find((candidate) => candidate.file === `python/${file}`);
      expect(problem?.message).toMatch(/macOS \(Mach-O\) binary/);
      expect(problem?.hint).toMatch(/manylinux2014_x86_64/);
      if (!wheel) expect(problem?.package).toBe('speedups');
    });
  });

  it('refuses a Windows extension but not the .exe launchers setuptools ships as data', async () => {
    // Prepare
    const { root, site } = await layer('windows');
    const pe = Buffer.alloc(256);
    pe.write('MZ', 0, 'latin1');
    pe.writeUInt32LE(0x80, 0x3c);
    pe.write('PE\0\0', 0x80, 'latin1');
    await mkdir(join(site, 'winpkg'), { recursive: true });
    await writeFile(join(site, 'winpkg', '_native.cp311-win_amd64.pyd'), pe);
    await writeFile(join(site, 'winpkg', 'cli-64.exe'), pe);

    // Act
    const result = await verifyArtifact({ root, target: lambdaTarget('python3.11', 'x86_64') });

    // Assess
    expect(result.problems.map((problem) => problem.file)).toEqual([
      'python/winpkg/_native.cp311-win_amd64.pyd',
    ]);
    expect(result.problems[0]?.message).toMatch(/Windows \(PE\) binary/);
  });

  it('says when a layer folder is laid out for another Python version', async () => {
    // Prepare
    const root = join(work, 'wrong-version');
    await mkdir(join(root, 'python', 'lib', 'python3.11', 'site-packages', 'mod'), { recursive: true });
    await writeFile(join(root, 'python', 'lib', 'python3.11', 'site-packages', 'mod', '__init__.py'), '');

    // Act
    const result = await verifyArtifact({ root, target: lambdaTarget('python3.12', 'x86_64') });

    // Assess
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]?.message).toMatch(/only on sys\.path for Python 3\.11/);
  });
});
