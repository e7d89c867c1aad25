// The local probe's reuse of earlier passed imports (adapters/local/probe-footprints.ts): layers
// that differ by a package added keep the other modules' results; a module that looked for the
// new name, or whose files differ from their RECORD, is imported again. To see which modules
// were really imported, each needs a flag file outside the artifact (which no footprint sees):
// once the flag is gone, a module imported again fails and a reused one passes. The build's own
// smoke import of the tree the layers hold stands for the probe's imports too; with every layer
// kept (core/pack/kept-layers.ts) the probe checks that against the kept file lists and unpacks
// nothing, unless some module must be imported again.
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yazl from 'yazl';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { FolderObjectStore } from '../../../functions/adapters/local/folder-object-store.ts';
import { probeLocally } from '../../../functions/adapters/local/local-probe-runner.ts';
import {
  objectDigestsFolder,
  rememberObjectDigest,
} from '../../../functions/adapters/local/object-digests.ts';
import { unpackLayers } from '../../../functions/adapters/local/unpacked-layers.ts';
import type { ProbeRequest } from '../../../functions/core/probe/index.ts';
import { sha256Hex } from '../../../functions/core/shared/hash.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { findTargetInterpreter } from '../../../functions/core/verify/index.ts';
import { smokeImport } from '../../../functions/core/verify/smoke-import.ts';
import {
  distributionFiles,
  needsFlag as needsFlagFile,
  type DistributionFiles,
} from '../../support/installed-distribution.ts';

const target = lambdaTarget('python3.11', 'x86_64');
const interpreter = await findTargetInterpreter(target);
const noInterpreter = 'reason' in interpreter ? interpreter.reason : null;
const skipNote = noInterpreter ? ` (skipped: ${noInterpreter})` : '';

const work = await mkdtemp(join(tmpdir(), 'lambda-deps-probe-footprints-'));
// The probe's cell imports as an unprivileged uid: it must be able to read the flag.
await chmod(work, 0o755);
const flag = join(work, 'flag');
let cacheDir = '';

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

type Files = DistributionFiles;
const distribution = (name: string, files: Files, record?: Files): Files =>
  distributionFiles(name, files, record ? { record } : {});

/** A layer zip holding the files under python/, as Lambda unpacks them into /opt/python. */
async function layer(name: string, files: Files): Promise<string> {
  const archive = new yazl.ZipFile();
  for (const [path, content] of Object.entries(files))
    archive.addBuffer(Buffer.from(content), `python/${path}`);
  archive.end();
  const chunks: Buffer[] = [];
  for await (const chunk of archive.outputStream) chunks.push(chunk as Buffer);
  const path = join(work, `${name}-${Math.random().toString(36).slice(2)}.zip`);
  await writeFile(path, Buffer.concat(chunks));
  return path;
}

const needsFlag = (body = ''): string => needsFlagFile(flag, body);

const base = (value: number): Files =>
  distribution('base', { 'base/__init__.py': needsFlag(`VALUE = ${value}`) });
const opt = distribution('opt', {
  'opt.py': needsFlag('try:\n    import extra\nexcept ImportError:\n    extra = None'),
});

async function probe(zips: string[], modules: string[], reuse = true) {
  const request: ProbeRequest = { target, modules, artifact: { kind: 'layers', zips }, reuse };
  const result = await probeLocally(request, { cacheDir });
  return {
    ...result,
    failed: result.modules.filter((module) => !module.ok).map((module) => module.module),
    reused: result.modules.filter((module) => module.reused).map((module) => module.module),
    fromBuild: result.modules.filter((module) => module.reusedFromBuild).map((module) => module.module),
  };
}

/**
 * The build's smoke import of base and opt, then (the flag gone, so only reused imports pass)
 * the probe of them from `layers`, a zip each in order.
 */
async function probeAfterBuild(layers: Record<string, Files>, reuse = true, { keep = false } = {}) {
  await smokeImportTree({ ...base(1), ...opt });
  const zips: string[] = [];
  for (const [name, files] of Object.entries(layers)) zips.push(await layer(name, files));
  if (keep) await keepLayers(zips);
  await rm(flag);
  return probe(zips, ['base', 'opt'], reuse);
}

/** Keep the layers in the cache (as a build that packed them would), so that what /opt holds is known. */
async function keepLayers(zips: readonly string[]): Promise<void> {
  const opt = await mkdtemp(join(work, 'keep-opt-'));
  const unpacked = await unpackLayers(
    zips.map((path) => ({ path, source: null })),
    opt,
    cacheDir,
  );
  await unpacked.keep();
  expect(unpacked.reused).toBe(0);
  await rm(opt, { recursive: true, force: true });
}

/** base's files with other bytes under the RECORD of base(1): an artifact altered in the store. */
function alteredBase(): Files {
  const original = base(1);
  return distribution(
    'base',
    { 'base/__init__.py': needsFlag('VALUE = 2') },
    { 'base/__init__.py': original['base/__init__.py'] ?? '' },
  );
}

/** The same files in site-packages, which comes before /opt/python on Lambda's path. */
function shadowOf(files: Files): Files {
  const site = 'lib/python3.11/site-packages';
  return Object.fromEntries(Object.entries(files).map(([path, text]) => [`${site}/${path}`, text]));
}

const extraLayer = (): Files => distribution('extra', { 'extra.py': 'X = 1\n' });

/** The build's smoke import of a tree holding `files` in its site folder, footprints kept in the cache. */
async function smokeImportTree(files: Files): Promise<void> {
  const site = join(await mkdtemp(join(work, 'tree-')), 'python');
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(site, path, '..'), { recursive: true });
    await writeFile(join(site, path), content);
  }
  const footprints = join(cacheDir, 'import-footprints');
  const result = await smokeImport({ roots: [site], target, footprints });
  expect(result).toMatchObject({ ran: true, ok: true });
}

beforeEach(async () => {
  cacheDir = await mkdtemp(join(work, 'cache-'));
  await writeFile(flag, '');
});

describe.skipIf(noInterpreter !== null)(`the local probe's reuse by footprint${skipNote}`, () => {
  it('imports nothing again from layers whose files are unchanged', async () => {
    const zips = [await layer('base', base(1)), await layer('opt', opt)];
    expect((await probe(zips, ['base', 'opt'])).ok).toBe(true);
    await rm(flag);

    const again = await probe(zips, ['base', 'opt']);

    expect(again).toMatchObject({ ok: true, failed: [], reused: ['base', 'opt'] });
    expect(again.modules.map((module) => module.module)).toEqual(['base', 'opt']);
  });

  it('imports again a module that looked for a name a new layer provides', async () => {
    const zips = [await layer('base', base(1)), await layer('opt', opt)];
    expect((await probe(zips, ['base', 'opt'])).ok).toBe(true);
    await rm(flag);
    const extra = await layer('extra', distribution('extra', { 'extra.py': 'X = 1\n' }));

    const again = await probe([...zips, extra], ['base', 'opt', 'extra']);

    expect(again).toMatchObject({ failed: ['opt'], reused: ['base'] });
  });

  it('imports again a distribution whose files no longer match its RECORD', async () => {
    const zips = [await layer('base', base(1)), await layer('opt', opt)];
    expect((await probe(zips, ['base', 'opt'])).ok).toBe(true);
    await rm(flag);
    // Same RECORD (so the same RECORD digest), other bytes: an artifact altered in the store.
    const original = base(1);
    const altered = distribution(
      'base',
      { 'base/__init__.py': needsFlag('VALUE = 2') },
      {
        'base/__init__.py': original['base/__init__.py'] ?? '',
      },
    );
    const [, optZip = ''] = zips;

    const again = await probe([await layer('altered', altered), optZip], ['base', 'opt']);

    // (opt was imported after base in the same process: its footprint holds base too.)
    expect(again.failed).toContain('base');
    expect(again.reused).not.toContain('base');
  });

  it('imports everything when the run may not reuse (--no-cache)', async () => {
    const zips = [await layer('base', base(1)), await layer('opt', opt)];
    expect((await probe(zips, ['base', 'opt'])).ok).toBe(true);
    await rm(flag);

    const again = await probe(zips, ['base', 'opt'], false);

    expect(again).toMatchObject({ failed: ['base', 'opt'], reused: [] });
  });

  it('starts no interpreter when every module is reused, and names it by its facts', async () => {
    // Prepare: an interpreter that refuses to run probe.py once `refuse` exists (its facts and
    // the cell's set-up still run): a probe that ran it would come back crashed.
    if ('reason' in interpreter) return;
    const refuse = join(work, 'refuse');
    const wrapper = join(work, 'python3.11-refusing');
    await writeFile(
      wrapper,
      `#!/bin/sh\nfor arg in "$@"; do case "$arg" in */probe.py) [ -e '${refuse}' ] && exit 3;; esac; done\nexec '${interpreter.executable}' "$@"\n`,
    );
    await chmod(wrapper, 0o755);
    const zips = [await layer('base', base(1)), await layer('opt', opt)];
    const request: ProbeRequest = {
      target,
      modules: ['base', 'opt'],
      artifact: { kind: 'layers', zips },
      reuse: true,
    };
    const first = await probeLocally(request, { cacheDir, pythonExecutable: wrapper });
    await writeFile(refuse, '');

    // Act
    const again = await probeLocally(request, { cacheDir, pythonExecutable: wrapper });

    // Assess
    expect(first).toMatchObject({ ok: true });
    expect(again).toMatchObject({ ok: true, python: first.python, importMs: 0 });
    expect(again.modules.every((module) => module.reused)).toBe(true);
    await rm(refuse);
  });

  it("imports nothing again that the build's smoke import of the same files stands for", async () => {
    const probed = await probeAfterBuild({ base: base(1), opt });

    expect(probed).toMatchObject({
      ok: true,
      failed: [],
      reused: ['base', 'opt'],
      fromBuild: ['base', 'opt'],
    });
  });

  it('imports again what a layer holds other bytes of than the tree the build imported', async () => {
    const probed = await probeAfterBuild({ base: base(2), opt });

    expect(probed.failed).toContain('base');
    expect(probed.fromBuild).not.toContain('base');
  });

  it('imports again a module that an earlier folder on the path now shadows', async () => {
    // The same files in site-packages, which comes before /opt/python on Lambda's path.
    const site = 'lib/python3.11/site-packages';
    const shadow = Object.fromEntries(
      Object.entries(base(1)).map(([path, text]) => [`${site}/${path}`, text]),
    );

    const probed = await probeAfterBuild({ base: base(1), opt, shadow });

    expect(probed.failed).toContain('base');
    expect(probed.fromBuild).not.toContain('base');
  });

  it("does not take the build's imports when the run may not reuse (--no-cache)", async () => {
    const probed = await probeAfterBuild({ base: base(1), opt }, false);

    expect(probed).toMatchObject({ failed: ['base', 'opt'], fromBuild: [] });
  });

  it('unpacks nothing when every layer is kept and the build stands for every module', async () => {
    const probed = await probeAfterBuild({ base: base(1), opt }, true, { keep: true });

    expect(probed).toMatchObject({ ok: true, failed: [], fromBuild: ['base', 'opt'], unpacked: false });
  });

  it('reads no zip out of the store whose digest its uploading build remembered, and every other one', async () => {
    // Prepare: the layers as store objects; the build kept them and remembered the first two's digests
    await smokeImportTree({ ...base(1), ...opt });
    // (A third layer with files of its own: one repeating opt's would replace them, and opt's
    // layer would then be kept only when both zips came out byte for byte the same.)
    const other = distribution('other', { 'other_pkg/__init__.py': 'X = 1\n' });
    const zips = [await layer('base', base(1)), await layer('opt', opt), await layer('other', other)];
    await keepLayers(zips);
    const store = new FolderObjectStore(join(cacheDir, 'store'));
    const keys = zips.map((_zip, index) => `artifacts/k/layers/layer-${index}.zip`);
    for (const [index, zip] of zips.entries()) await store.putFile(keys[index] ?? '', zip);
    for (const [index, zip] of zips.slice(0, 2).entries()) {
      const key = keys[index] ?? '';
      const object = { key, identity: (await store.identity(key)) ?? '' };
      await rememberObjectDigest(objectDigestsFolder(cacheDir), object, sha256Hex(await readFile(zip)));
    }
    // The first object is replaced after the build remembered it (same bytes, a new file).
    const first = join(cacheDir, 'store', ...(keys[0] ?? '').split('/'));
    await copyFile(first, `${first}.new`);
    await rename(`${first}.new`, first);
    const copied: string[] = [];
    const countingStore = Object.assign(Object.create(store) as FolderObjectStore, {
      getToFile: (key: string, path: string) => {
        copied.push(key);
        return store.getToFile(key, path);
      },
    });
    await rm(flag);

    // Act
    const request: ProbeRequest = {
      target,
      modules: ['base', 'opt'],
      artifact: { kind: 'layers', zips: [], objectKeys: keys },
      reuse: true,
    };
    const result = await probeLocally(request, { cacheDir, store: countingStore });

    // Assess: the replaced object and the one never remembered were copied (to be hashed), only they
    expect(result).toMatchObject({ ok: true, unpacked: false });
    expect(copied.sort()).toEqual([keys[0], keys[2]]);
  });

  it.each([
    ['other bytes under the same RECORD', { base: alteredBase(), opt }],
    ['a folder earlier on the path shadowing a module', { base: base(1), opt, shadow: shadowOf(base(1)) }],
    ['a new layer providing a name a module missed', { base: base(1), opt, extra: extraLayer() }],
  ])('writes kept layers out and imports again for %s', async (_case, layers) => {
    const probed = await probeAfterBuild(layers, true, { keep: true });

    expect(probed.unpacked).toBeUndefined();
    expect(probed.ok).toBe(false);
    expect(probed.failed.length).toBeGreaterThan(0);
  });
});
