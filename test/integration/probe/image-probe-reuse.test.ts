// The image route's local probe, as the default path runs it after a build: the build keeps the
// image's layer listed (by its blob's sha256, with its dist-info files) and its smoke import's
// footprints, so a probe whose every module that smoke import stands for unpacks nothing; the
// image is unpacked and imported only when that is not known (nothing kept, or a blob that is
// not the one kept).
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { probeLocally } from '../../../functions/adapters/local/local-probe-runner.ts';
import { buildDependencySet } from '../../../functions/core/build/build.ts';
import { keptLayersRoot } from '../../../functions/core/pack/kept-layers.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { findTargetInterpreter } from '../../../functions/core/verify/index.ts';
import { writeTinyWheel } from '../../unit/build/tiny-wheels.ts';

const target = lambdaTarget('python3.11', 'x86_64');
const interpreter = await findTargetInterpreter(target);
const noInterpreter = 'reason' in interpreter ? interpreter.reason : null;
const skipNote = noInterpreter ? ` (skipped: ${noInterpreter})` : '';

const work = await mkdtemp(join(tmpdir(), 'lambda-deps-image-probe-'));
await chmod(work, 0o755);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A fresh image build of one tiny package, its layer kept for the probe as the pipeline's build step does. */
async function buildImage(name: string): Promise<{ layoutDir: string; cacheDir: string }> {
  const wheel = await writeTinyWheel(work, name, '1.0', {
    [`${name}/__init__.py`]: 'VALUE = 1\n',
    [`${name}/part.py`]: 'from . import VALUE\n',
  });
  const outDir = await mkdtemp(join(work, 'out-'));
  const cacheDir = await mkdtemp(join(work, 'cache-'));
  await buildDependencySet({
    lock: { lockVersion: 1, target, packages: [wheel.locked] },
    index: { download: async (file) => fileURLToPath(file.url) },
    outDir,
    cacheDir,
    policy: { forceStrategy: 'image' },
    keepUnpackedLayers: true,
  });
  return { layoutDir: join(outDir, 'image'), cacheDir };
}

function probeImage(layoutDir: string, cacheDir: string, module: string) {
  return probeLocally(
    { target, modules: [module], artifact: { kind: 'image', layoutDir }, reuse: true },
    { cacheDir },
  );
}

describe.skipIf(noInterpreter !== null)(`the local probe of an image after its build${skipNote}`, () => {
  it('unpacks nothing when the layer is kept and the build stands for every module', async () => {
    const { layoutDir, cacheDir } = await buildImage('imgkept');
    expect(await readdir(keptLayersRoot(cacheDir))).toHaveLength(1);

    const probed = await probeImage(layoutDir, cacheDir, 'imgkept');

    expect(probed).toMatchObject({ ran: true, ok: true, unpacked: false });
    expect(probed.modules).toMatchObject([{ module: 'imgkept', ok: true, reusedFromBuild: true }]);
  });

  it('unpacks the image when its layer is not kept, and still reuses the imports', async () => {
    const { layoutDir, cacheDir } = await buildImage('imgnotkept');
    await rm(keptLayersRoot(cacheDir), { recursive: true, force: true });

    const probed = await probeImage(layoutDir, cacheDir, 'imgnotkept');

    expect(probed).toMatchObject({ ran: true, ok: true });
    expect(probed.unpacked).toBeUndefined();
    expect(probed.modules).toMatchObject([{ module: 'imgnotkept', ok: true, reusedFromBuild: true }]);
  });

  it('does not take the kept layer for a blob that is not the one kept (and fails on the broken blob)', async () => {
    const { layoutDir, cacheDir } = await buildImage('imgchanged');
    const blobs = join(layoutDir, 'blobs', 'sha256');
    const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    const manifestHex = index.manifests[0]?.digest.replace('sha256:', '') ?? '';
    const manifest = JSON.parse(await readFile(join(blobs, manifestHex), 'utf8')) as {
      layers: { digest: string }[];
    };
    const layerHex = manifest.layers[0]?.digest.replace('sha256:', '') ?? '';
    // The blob's bytes replaced (a store object overwritten): it no longer hashes to its name.
    await writeFile(join(blobs, layerHex), Buffer.alloc(64));

    const probing = probeImage(layoutDir, cacheDir, 'imgchanged');

    await expect(probing).rejects.toThrow();
  });
});
