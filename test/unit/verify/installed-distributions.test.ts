// Which modules the smoke import will try: top_level.txt when a distribution has one, else
// the first path component of RECORD entries, keeping only names that exist on disk.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installedDistributions } from '../../../functions/core/verify/smoke-import.ts';

let site = '';

beforeAll(async () => {
  site = await mkdtemp(join(tmpdir(), 'lambda-deps-dists-'));
  const files: Record<string, string> = {
    'pkg/__init__.py': '',
    'mod.py': '',
    'ext.cpython-311-x86_64-linux-gnu.so': '',
    'pkg.libs/libx.so.1': '',
    'withtop/__init__.py': '',
    'withtop_extra.py': '',
    'recorded-1.0.dist-info/METADATA': 'Metadata-Version: 2.1\nName: Recorded\nVersion: 1.0\n',
    'recorded-1.0.dist-info/RECORD': [
      'pkg/__init__.py,,',
      'pkg/__pycache__/__init__.cpython-311.pyc,,',
      '__pycache__/mod.cpython-311.pyc,,',
      'mod.py,,',
      'ext.cpython-311-x86_64-linux-gnu.so,,',
      'pkg.libs/libx.so.1,,',
      '../../bin/tool,,',
      'bin/tool,,',
      'recorded-1.0.data/scripts/tool,,',
      'recorded-1.0.dist-info/RECORD,,',
      'ghost.py,,',
      '"quoted,name.py",,',
    ].join('\n'),
    'withtop-2.0.dist-info/METADATA': 'Metadata-Version: 2.1\nName: withtop\nVersion: 2.0\n',
    'withtop-2.0.dist-info/top_level.txt': 'withtop\nmissing_module\n',
    'withtop-2.0.dist-info/RECORD': 'withtop/__init__.py,,\nwithtop_extra.py,,\n',
    'emptytop/__init__.py': '',
    'emptytop-1.0.dist-info/METADATA': 'Metadata-Version: 2.1\nName: emptytop\nVersion: 1.0\n',
    'emptytop-1.0.dist-info/top_level.txt': '\n',
    'emptytop-1.0.dist-info/RECORD': 'emptytop/__init__.py,,\nemptytop-1.0.dist-info/RECORD,,\n',
  };
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(site, path)), { recursive: true });
    await writeFile(join(site, path), content);
  }
});

afterAll(async () => {
  await rm(site, { recursive: true, force: true });
});

describe('installedDistributions', () => {
  it('derives modules from RECORD, skipping metadata, scripts, caches, library folders and files not on disk', async () => {
    // Prepare
    const roots = [site];

    // Act
    const distributions = await installedDistributions(roots);

    // Assess
    expect(distributions.find((distribution) => distribution.name === 'Recorded')?.modules).toEqual([
      'ext',
      'mod',
      'pkg',
    ]);
  });

  it('prefers top_level.txt and drops names that are not installed', async () => {
    // Prepare
    const roots = [site];

    // Act
    const distributions = await installedDistributions(roots);

    // Assess
    expect(distributions.find((distribution) => distribution.name === 'withtop')?.modules).toEqual([
      'withtop',
    ]);
  });

  it('falls back to RECORD when top_level.txt is empty, so a distribution is never "0 modules: ok"', async () => {
    // Prepare
    const roots = [site];

    // Act
    const distributions = await installedDistributions(roots);

    // Assess
    expect(distributions.find((distribution) => distribution.name === 'emptytop')?.modules).toEqual([
      'emptytop',
    ]);
  });
});
