// Sdist-only packages built the way pip builds them, on this machine, then judged by the
// target: pure projects of each backend build for any target; a C extension using old glibc
// symbols builds and imports from a layer for python3.11; one calling statx is refused for
// python3.11 (glibc 2.26), naming the glibc version, and accepted for python3.12 (2.34).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yazl from 'yazl';
import yauzl from 'yauzl';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSdistForTarget, type BuildSdistOptions } from '../../../functions/core/sdist/index.ts';
import { sha256OfFile as sha256File } from '../../../functions/core/shared/hash.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { compareDottedVersions } from '../../../functions/core/verify/elf.ts';
import { findTargetInterpreter } from '../../../functions/core/verify/index.ts';
import { probeLocally } from '../../../functions/adapters/local/local-probe-runner.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import {
  missingFromLocalIndexes,
  OLD_GLIBC_EXTENSION,
  PURE_PROJECTS,
  STATX_EXTENSION,
  writeSdist,
  type SdistProject,
} from './sdist-projects.ts';

const indexes = localIndexes();
const py311 = lambdaTarget('python3.11', 'x86_64');
const py312 = lambdaTarget('python3.12', 'x86_64');
let work = '';

async function optionsFor(project: SdistProject, target = py311): Promise<BuildSdistOptions> {
  const sdistPath = await writeSdist(project, await mkdtemp(join(work, 'sdist-')));
  return {
    sdistPath,
    sha256: await sha256File(sdistPath),
    name: project.name,
    version: project.version,
    target,
    indexUrls: indexes?.indexUrls ?? [],
    findLinks: indexes?.findLinks ?? [],
    cacheDir: join(work, 'cache'),
    outDir: await mkdtemp(join(work, 'out-')),
  };
}

/** A layer zip holding the wheel's files under python/, as the build packs a pure tree. */
async function layerFromWheel(wheelPath: string, layerPath: string): Promise<void> {
  const layer = new yazl.ZipFile();
  const zip = await new Promise<yauzl.ZipFile>((done, fail) =>
    yauzl.open(wheelPath, { lazyEntries: true }, (error, opened) => (error ? fail(error) : done(opened))),
  );
  await new Promise<void>((done, fail) => {
    zip.on('entry', (entry: yauzl.Entry) =>
      zip.openReadStream(entry, (error, stream) => {
        if (error) return fail(error);
        layer.addReadStream(stream, `python/${entry.fileName}`);
        stream.on('end', () => zip.readEntry());
      }),
    );
    zip.on('end', done);
    zip.readEntry();
  });
  layer.end();
  await pipeline(layer.outputStream, createWriteStream(layerPath));
}

// Interpreters of the target's Python are looked up once; a missing one skips, saying so.
const noPython311 = 'reason' in (await findTargetInterpreter(py311));
const noPython312 = 'reason' in (await findTargetInterpreter(py312));

describe.skipIf(indexes === null)(
  `buildSdistForTarget${indexes === null ? ` (skipped: ${NO_LOCAL_INDEXES_REASON})` : ''}`,
  () => {
    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'lambda-deps-sdist-test-'));
    });
    afterAll(() => rm(work, { recursive: true, force: true }));

    for (const project of PURE_PROJECTS) {
      const missing = missingFromLocalIndexes(project.backendDistribution ?? 'setuptools');
      const skipped = noPython311 ? 'no python3.11 here' : missing;
      it.skipIf(skipped !== null)(
        `builds the pure ${project.name} project into a pure (none-any) wheel with ${project.backend ?? 'its backend'}${skipped ? ` (skipped: ${skipped})` : ''}`,
        async () => {
          // Act
          const built = await buildSdistForTarget(await optionsFor(project));
          // Assess
          expect(built.backend).toBe(project.backend);
          expect(built.pure).toBe(true);
          expect(built.filename).toMatch(new RegExp(`^${project.module}-1\\.0-(py2\\.)?py3-none-any\\.whl$`));
          expect(built.glibcNeeded).toBeNull();
        },
        180_000,
      );
    }

    it.skipIf(noPython311)(
      'builds a C extension that needs only old glibc and imports it from a layer for python3.11',
      async () => {
        // Act
        const built = await buildSdistForTarget(await optionsFor(OLD_GLIBC_EXTENSION));
        const layer = join(work, 'oldsym-layer.zip');
        await layerFromWheel(built.wheelPath, layer);
        const probe = await probeLocally({
          target: py311,
          modules: [OLD_GLIBC_EXTENSION.module],
          artifact: { kind: 'layers', zips: [layer] },
        });
        // Assess: the real tag, never a manylinux one it was not audited for.
        expect(built.filename).toMatch(/-cp311-cp311-linux_x86_64\.whl$/);
        expect(built.pure).toBe(false);
        expect(compareDottedVersions(built.glibcNeeded ?? '99', '2.26')).toBeLessThanOrEqual(0);
        expect(probe).toMatchObject({ ran: true, ok: true });
      },
      180_000,
    );

    it.skipIf(noPython311)(
      'refuses a C extension calling statx for python3.11, naming GLIBC_2.28 and what to do',
      async () => {
        // Act
        const building = buildSdistForTarget(await optionsFor(STATX_EXTENSION));
        // Assess
        await expect(building).rejects.toMatchObject({
          name: 'SdistBuildError',
          message: expect.stringMatching(
            /statx needs GLIBC_2\.28; python3\.11 runs on Amazon Linux 2, glibc 2\.26/,
          ),
          hint: expect.stringMatching(/Build it in AWS/),
        });
      },
      180_000,
    );

    it.skipIf(noPython312)(
      'accepts the same statx extension for python3.12, whose Amazon Linux 2023 has glibc 2.34',
      async () => {
        // Act
        const built = await buildSdistForTarget(await optionsFor(STATX_EXTENSION, py312));
        // Assess
        expect(built.filename).toMatch(/-cp312-cp312-linux_x86_64\.whl$/);
        expect(built.glibcNeeded).toBe('2.28');
      },
      180_000,
    );

    it.skipIf(noPython311)(
      'reuses a cached wheel for the same sdist, and refuses an sdist whose bytes differ from the lock',
      async () => {
        // Prepare
        const options = await optionsFor(PURE_PROJECTS[0] as SdistProject);
        await buildSdistForTarget(options);
        // Act
        const again = await buildSdistForTarget({ ...options, outDir: await mkdtemp(join(work, 'again-')) });
        const tampered = buildSdistForTarget({ ...options, sha256: '0'.repeat(64) });
        // Assess
        expect(again.cached).toBe(true);
        await expect(tampered).rejects.toThrow(/does not match the sha256/);
      },
      180_000,
    );
  },
);
