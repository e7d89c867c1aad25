// An sdist's PKG-INFO is trusted for resolving only as PEP 643 allows (Metadata-Version 2.2+,
// Requires-Dist and Requires-Python not Dynamic); otherwise the resolver refuses, naming the file.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pkgInfoUnreliability, readSdistMetadata } from '../../../functions/core/sdist/sdist-metadata.ts';
import { PURE_PROJECTS, writeSdist } from '../../integration/sdist/sdist-projects.ts';

const project = PURE_PROJECTS[0] as (typeof PURE_PROJECTS)[number];
let work = '';

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
});
