// Before the probe lets the build's smoke import stand for a module, every file the module's
// distributions list in RECORD must still be the recorded bytes. Scripts are the exception: they
// sit beside the site folder (`../bin/tool`), are never imported, and an image or an EFS tree
// ships the site folder without them, so a RECORD that lists one must not fail the check there.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexTree, recordMatchesFiles } from '../../../functions/core/verify/import-footprints.ts';

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-record-check-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const recordHash = (text: string): string =>
  `sha256=${createHash('sha256').update(text).digest('base64url')}`;

/** A site folder holding `tool`'s module (as written) and a RECORD listing it as `listed`, and a script. */
async function siteWith(
  name: string,
  written: string,
  listed: string,
  script: string | null,
): Promise<string> {
  const site = join(work, name, 'var', 'task');
  await mkdir(join(site, 'tool'), { recursive: true });
  await mkdir(join(site, 'tool-1.0.dist-info'), { recursive: true });
  await writeFile(join(site, 'tool', '__init__.py'), written);
  if (script !== null) {
    await mkdir(join(site, '..', 'bin'), { recursive: true });
    await writeFile(join(site, '..', 'bin', 'tool'), script);
  }
  const record = [
    `tool/__init__.py,${recordHash(listed)},${listed.length}`,
    `../bin/tool,${recordHash('#!/var/lang/bin/python3.11\n')},27`,
    'tool-1.0.dist-info/RECORD,,',
  ].join('\n');
  await writeFile(join(site, 'tool-1.0.dist-info', 'RECORD'), `${record}\n`);
  return site;
}

describe('recordMatchesFiles', () => {
  it('passes a distribution whose script is not shipped (an image or EFS tree)', async () => {
    const site = await siteWith('no-script', 'X = 1\n', 'X = 1\n', null);
    expect(await recordMatchesFiles(await indexTree([site]), '0:tool-1.0.dist-info')).toBe(true);
  });

  it('fails a distribution whose module is not the recorded bytes, script or not', async () => {
    const site = await siteWith('changed', 'X = 2\n', 'X = 1\n', null);
    expect(await recordMatchesFiles(await indexTree([site]), '0:tool-1.0.dist-info')).toBe(false);
  });

  it('passes when the script is there (layers ship bin/)', async () => {
    const site = await siteWith('with-script', 'X = 1\n', 'X = 1\n', '#!/var/lang/bin/python3.11\n');
    expect(await recordMatchesFiles(await indexTree([site]), '0:tool-1.0.dist-info')).toBe(true);
  });
});
