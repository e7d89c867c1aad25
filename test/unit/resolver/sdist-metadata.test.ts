// An sdist's PKG-INFO is trusted for resolving only as PEP 643 allows (Metadata-Version 2.2+,
// Requires-Dist and Requires-Python not Dynamic); otherwise its backend's
// prepare_metadata_for_build_wheel says, run in the build's cell; with nowhere to run it, the
// resolver refuses, naming the file.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pkgInfoUnreliability, readSdistMetadata } from '../../../functions/core/sdist/sdist-metadata.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { findTargetInterpreter } from '../../../functions/core/verify/index.ts';
import { PURE_PROJECTS, writeSdist, type SdistProject } from '../../integration/sdist/sdist-projects.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';

const indexes = localIndexes();
const py311 = lambdaTarget('python3.11', 'x86_64');
const noPython311 = 'reason' in (await findTargetInterpreter(py311));

/** A setuptools project whose dependencies only its pyproject.toml (hence only the backend) knows. */
const DYNAMIC_PROJECT: SdistProject = {
  name: 'st-deps',
  version: '1.0',
  module: 'st_deps',
  files: {
    'pyproject.toml':
      '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "st-deps"\nversion = "1.0"\nrequires-python = ">=3.9"\ndependencies = ["attrs>=20", "tomli; python_version < \'3.11\'"]\n',
    'st_deps/__init__.py': 'VALUE = 1\n',
  },
};

const project = PURE_PROJECTS[0] as (typeof PURE_PROJECTS)[number];
let work = '';

/** An in-tree backend with build_wheel only (no prepare_metadata hook): pip builds the wheel to learn the metadata. */
const NO_HOOK_BACKEND = [
  'import zipfile',
  'META = "Metadata-Version: 2.1\\nName: nohook\\nVersion: 1.0\\nRequires-Dist: attrs>=21\\n"',
  'def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):',
  '    name = "nohook-1.0-py3-none-any.whl"',
  '    with zipfile.ZipFile(wheel_directory + "/" + name, "w") as wheel:',
  '        wheel.writestr("nohook.py", "")',
  '        wheel.writestr("nohook-1.0.dist-info/METADATA", META)',
  '        wheel.writestr("nohook-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")',
  '        wheel.writestr("nohook-1.0.dist-info/RECORD", "")',
  '    return name',
  '',
].join('\n');

const NO_HOOK_PROJECT: SdistProject = {
  name: 'nohook',
  version: '1.0',
  module: 'nohook',
  files: {
    'pyproject.toml':
      '[build-system]\nrequires = []\nbuild-backend = "nohook_backend"\nbackend-path = ["."]\n',
    'nohook_backend.py': NO_HOOK_BACKEND,
  },
};

describe('PKG-INFO as resolver metadata (PEP 643)', () => {
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'lambda-deps-pkg-info-'));
  });
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('trusts Metadata-Version 2.2 and later unless a dependency field is Dynamic', () => {
    expect(pkgInfoUnreliability('Metadata-Version: 2.2\nName: a\nVersion: 1\n')).toBeNull();
    expect(pkgInfoUnreliability('Metadata-Version: 2.4\nName: a\nDynamic: Description\n')).toBeNull();
    expect(pkgInfoUnreliability('Metadata-Version: 2.1\nName: a\n')).toMatch(/older than 2\.2/);
    expect(pkgInfoUnreliability('Metadata-Version: 2.3\nDynamic: Requires-Dist\n')).toMatch(
      /requires-dist as Dynamic/,
    );
  });

  it('reads a reliable PKG-INFO from the sdist without running it', async () => {
    const path = await writeSdist(project, join(work, 'new'), '2.2');

    const metadata = await readSdistMetadata(path, 'st_pure-1.0.tar.gz', 'st-pure');

    expect(metadata).toMatchObject({ name: 'st-pure', version: '1.0', requiresDist: [] });
  });

  it('refuses an old PKG-INFO, naming the file and what to do', async () => {
    const path = await writeSdist(project, join(work, 'old'), '2.1');

    const reading = readSdistMetadata(path, 'st_pure-1.0.tar.gz', 'st-pure');

    await expect(reading).rejects.toMatchObject({
      name: 'ResolutionError',
      problems: [
        {
          package: 'st-pure',
          message: expect.stringMatching(
            /st_pure-1\.0\.tar\.gz .*Metadata-Version 2\.1.*--only-binary st-pure/,
          ),
        },
      ],
    });
  });

  it.skipIf(indexes === null || noPython311)(
    `asks the backend (prepare_metadata_for_build_wheel, in the build cell) when PKG-INFO is 2.1${indexes === null ? ` (skipped: ${NO_LOCAL_INDEXES_REASON})` : noPython311 ? ' (skipped without python3.11)' : ''}`,
    async () => {
      // Prepare: PKG-INFO 2.1 lists no dependencies; only the backend knows them.
      const path = await writeSdist(DYNAMIC_PROJECT, join(work, 'dynamic'), '2.1');

      // Act
      const metadata = await readSdistMetadata(path, 'st_deps-1.0.tar.gz', 'st-deps', {
        target: py311,
        indexUrls: indexes?.indexUrls ?? [],
        findLinks: indexes?.findLinks ?? [],
      });

      // Assess
      expect(metadata).toMatchObject({ name: 'st-deps', version: '1.0', requiresPython: '>=3.9' });
      expect(metadata.requiresDist).toEqual(['attrs>=20', 'tomli; python_version < "3.11"']);
    },
    120_000,
  );

  it.skipIf(noPython311)(
    `refuses, naming the file, when the backend cannot get its build requirements${noPython311 ? ' (skipped without python3.11)' : ''}`,
    async () => {
      const path = await writeSdist(DYNAMIC_PROJECT, join(work, 'no-index'), '2.1');

      const reading = readSdistMetadata(path, 'st_deps-1.0.tar.gz', 'st-deps', {
        target: py311,
        indexUrls: [],
        findLinks: [],
      });

      await expect(reading).rejects.toMatchObject({
        name: 'ResolutionError',
        problems: [
          {
            package: 'st-deps',
            message: expect.stringMatching(/st_deps-1\.0\.tar\.gz: .*prepare_metadata_for_build_wheel/),
          },
        ],
      });
    },
    120_000,
  );

  it.skipIf(noPython311)(
    `builds the wheel for its metadata, as pip does, when the backend has no prepare_metadata hook${noPython311 ? ' (skipped without python3.11)' : ''}`,
    async () => {
      const path = await writeSdist(NO_HOOK_PROJECT, join(work, 'no-hook'), '2.1');

      const metadata = await readSdistMetadata(path, 'nohook-1.0.tar.gz', 'nohook', {
        target: py311,
        indexUrls: [],
        findLinks: [],
      });

      expect(metadata).toMatchObject({ name: 'nohook', version: '1.0', requiresDist: ['attrs>=21'] });
    },
    120_000,
  );
});
