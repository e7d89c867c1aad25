// Smoke-import reuse by footprint (core/verify/import-footprints.ts): a passed import is not
// repeated while every file it loaded is unchanged and no name it missed has appeared. To see
// which modules were really imported, every module here also requires a flag file outside the
// tree (something a footprint cannot see): once the flag is gone, a module that is imported
// again fails, and one an earlier import stands for passes.
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { findTargetInterpreter, smokeImport } from '../../../functions/core/verify/smoke-import.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import {
  distributionFiles,
  needsFlag as needsFlagFile,
  type DistributionFiles,
} from '../../support/installed-distribution.ts';

const target = lambdaTarget('python3.11', 'x86_64');
const interpreter = await findTargetInterpreter(target);
const noInterpreter = 'reason' in interpreter ? interpreter.reason : null;
const skipNote = noInterpreter ? ` (skipped: ${noInterpreter})` : '';

const work = await mkdtemp(join(tmpdir(), 'lambda-deps-footprints-'));
// The cell imports as an unprivileged uid: it must be able to reach the tree and the flag.
await chmod(work, 0o755);
const flag = join(work, 'flag');
let site = '';
let footprints = '';

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A distribution as the installer leaves it, written into the site folder. */
async function writeDistribution(name: string, files: DistributionFiles, requires: string[] = []) {
  for (const [path, content] of Object.entries(distributionFiles(name, files, { requires }))) {
    await mkdir(dirname(join(site, path)), { recursive: true });
    await writeFile(join(site, path), content);
  }
}

const needsFlag = (body = ''): string => needsFlagFile(flag, body);

async function run() {
  const result = await smokeImport({ roots: [site], target, footprints });
  return { ...result, failed: result.failures.map((failure) => failure.module).sort() };
}

beforeEach(async () => {
  site = await mkdtemp(join(work, 'site-'));
  await chmod(site, 0o755);
  footprints = await mkdtemp(join(work, 'footprints-'));
  await writeFile(flag, '');
  await writeDistribution('base', { 'base/__init__.py': needsFlag('VALUE = 1') });
  await writeDistribution('top', { 'top.py': needsFlag('import base') }, ['base']);
  await writeDistribution('opt', {
    'opt.py': needsFlag('try:\n    import extra\nexcept ImportError:\n    extra = None'),
  });
});

describe.skipIf(noInterpreter !== null)(`smoke-import reuse by footprint${skipNote}`, () => {
  it('imports nothing again for an unchanged tree', async () => {
    const first = await run();
    expect(first.ok, JSON.stringify(first.failures)).toBe(true);
    expect(first.reused ?? 0).toBe(0);

    await rm(flag);
    const second = await run();

    expect(second.failed).toEqual([]);
    expect(second).toMatchObject({ ok: true, modules: 3, reused: 3 });
    expect(second.moduleNames).toEqual(first.moduleNames);
  });

  it('imports again what loaded a changed distribution', async () => {
    expect((await run()).ok).toBe(true);
    await rm(flag);
    await writeDistribution('base', { 'base/__init__.py': needsFlag('VALUE = 2') });

    const second = await run();

    // top imports base; opt may have shared a process with base (then it counts base too).
    expect(second.failed).toEqual(expect.arrayContaining(['base', 'top']));
    expect(second.modules).toBe(3);
  });

  it('imports again a module that looked for a name that is now installed', async () => {
    expect((await run()).ok).toBe(true);
    await rm(flag);
    await writeDistribution('extra', { 'extra.py': 'X = 1\n' });

    const second = await run();

    expect(second.failed).toContain('opt');
    expect(second.failed).not.toContain('extra');
    expect(second.modules).toBe(4);
  });

  it('imports again a module that a file in an earlier root now shadows', async () => {
    const later = site;
    site = await mkdtemp(join(work, 'earlier-'));
    await chmod(site, 0o755);
    const roots = [site, later];
    const first = await smokeImport({ roots, target, footprints });
    expect(first.ok, JSON.stringify(first.failures)).toBe(true);
    await rm(flag);
    await writeFile(join(site, 'top.py'), needsFlag());

    const second = await smokeImport({ roots, target, footprints });

    expect(second.failures.map((failure) => failure.module)).toContain('top');
  });

  it('trusts no footprint file that is cut short, garbled or about another module', async () => {
    expect((await run()).ok).toBe(true);
    const files = await readdir(footprints);
    expect(files).toHaveLength(3);
    const [cut = '', garbled = '', other = ''] = files;
    await writeFile(join(footprints, cut), '{"module": "base", "footpr');
    await writeFile(join(footprints, garbled), JSON.stringify({ module: 'top', footprints: [{ dists: 7 }] }));
    await writeFile(join(footprints, other), JSON.stringify({ module: 'someone-else', footprints: [] }));
    await rm(flag);

    const second = await run();

    expect(second.failed).toEqual(['base', 'opt', 'top']);
    expect(second.reused ?? 0).toBe(0);
  });

  it('reuses nothing without a footprint folder', async () => {
    expect((await run()).ok).toBe(true);
    await rm(flag);

    const second = await smokeImport({ roots: [site], target });

    expect(second.failures.map((failure) => failure.module).sort()).toEqual(['base', 'opt', 'top']);
  });
});
