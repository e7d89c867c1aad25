// The local Probe twin against real artifacts built by the CLI from real wheels: it imports
// from what ships (layer zips, the EFS tree, the image's layers) with the target's exact Python,
// fails a layer laid out for the wrong Python, and says plainly when this machine cannot run
// the target (arm64 here) instead of counting that as ok.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import yazl from 'yazl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeLocally } from '../../../functions/adapters/local/local-probe-runner.ts';
import { extractTreeTar } from '../../../functions/core/pack/index.ts';
import { describeProbe, runtimeStandInOf } from '../../../functions/core/probe/index.ts';
import type { BuildManifest } from '../../../functions/core/shared/types.ts';
import { extractZip } from '../../../functions/core/pack/zip-reader.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { findTargetInterpreter } from '../../../functions/core/verify/index.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', '..', '..', 'bin', 'lambda-deps');
const noWheels = localIndexes() === null;
/** Said in a suite's name only when it is skipped. */
const SKIP_NOTE = noWheels ? ` (skipped without real wheels: ${NO_LOCAL_INDEXES_REASON})` : '';
const py312 = lambdaTarget('python3.12', 'x86_64');
const py311 = lambdaTarget('python3.11', 'x86_64');
let work = '';

async function buildWith(strategy: string, runtime: string): Promise<string> {
  const out = join(work, `${runtime}-${strategy}`);
  await run(
    BIN,
    [
      'build',
      join(work, 'requirements.txt'),
      '--runtime',
      runtime,
      '--arch',
      'x86_64',
      '--no-pipeline',
      '--strategy',
      strategy,
      '--out',
      out,
    ],
    { timeout: 120_000 },
  );
  return out;
}

async function hasInterpreter(version: '3.11' | '3.12'): Promise<boolean> {
  return !('reason' in (await findTargetInterpreter(version === '3.11' ? py311 : py312)));
}

/** Re-zip a layer's files under another folder prefix (the classic wrong-layout mistake). */
async function rezipUnder(zip: string, from: string, to: string, destination: string): Promise<void> {
  const unpacked = await mkdtemp(join(work, 'rezip-'));
  await extractZip(zip, unpacked);
  const { stdout } = await run('find', [join(unpacked, from), '-type', 'f']);
  const archive = new yazl.ZipFile();
  for (const file of stdout.trim().split('\n'))
    archive.addFile(file, `${to}/${file.slice(join(unpacked, from).length + 1)}`);
  archive.end();
  const chunks: Buffer[] = [];
  for await (const chunk of archive.outputStream) chunks.push(chunk as Buffer);
  await writeFile(destination, Buffer.concat(chunks));
}

describe.skipIf(noWheels)(`probeLocally${SKIP_NOTE}`, () => {
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'lambda-deps-probe-test-'));
    // bcrypt is an abi3 extension (native code for any CPython ≥ 3.8), idna pure Python.
    await writeFile(join(work, 'requirements.txt'), 'bcrypt\nidna\n');
  });
  afterAll(() => rm(work, { recursive: true, force: true }));

  it("imports every module from the layer zips with the target's exact Python and times the cold import", async (context) => {
    if (!(await hasInterpreter('3.12'))) return context.skip('no python3.12 on this machine');
    // Prepare
    const out = await buildWith('layers', 'python3.12');
    // Act
    const probe = await probeLocally({
      target: py312,
      modules: ['bcrypt', 'idna'],
      artifact: { kind: 'layers', zips: [join(out, 'layers', 'layer-shared-1.zip')] },
    });
    // Assess
    expect(probe).toMatchObject({ ran: true, ok: true, from: 'artifact', arch: 'x86_64', where: 'local' });
    expect(probe.python).toMatch(/^3\.12\.\d+$/);
    expect(probe.modules.map((module) => [module.module, module.ok])).toEqual([
      ['bcrypt', true],
      ['idna', true],
    ]);
    expect(probe.importMs).toBeGreaterThan(0);
  });

  it('fails a layer laid out for python3.12 when the runtime is python3.11, naming the module', async (context) => {
    if (!(await hasInterpreter('3.11'))) return context.skip('no python3.11 on this machine');
    // Prepare: a layer whose packages sit where only a python3.12 runtime looks.
    const out = await buildWith('layers', 'python3.11');
    const wrong = join(work, 'wrong-layout.zip');
    await rezipUnder(
      join(out, 'layers', 'layer-shared-1.zip'),
      'python',
      'python/lib/python3.12/site-packages',
      wrong,
    );
    // Act
    const good = await probeLocally({
      target: py311,
      modules: ['bcrypt'],
      artifact: { kind: 'layers', zips: [join(out, 'layers', 'layer-shared-1.zip')] },
    });
    const bad = await probeLocally({
      target: py311,
      modules: ['bcrypt'],
      artifact: { kind: 'layers', zips: [wrong] },
    });
    // Assess
    expect(good.ok).toBe(true);
    expect(good.python).toMatch(/^3\.11\.\d+$/);
    expect(bad).toMatchObject({ ran: true, ok: false });
    expect(bad.modules[0]).toMatchObject({ module: 'bcrypt', ok: false });
    expect(bad.modules[0]?.error).toContain("No module named 'bcrypt'");
  });

  it('imports from an EFS version through the PYTHONPATH a function would set', async (context) => {
    if (!(await hasInterpreter('3.11'))) return context.skip('no python3.11 on this machine');
    // Prepare: the tree as the sync step stages it under the mount.
    const out = await buildWith('efs', 'python3.11');
    const mountRoot = join(work, 'mnt');
    await mkdir(join(mountRoot, 'web', 'v1'), { recursive: true });
    await extractTreeTar(join(out, 'efs', 'site-packages.tar'), join(mountRoot, 'web', 'v1'));
    // Act
    const probe = await probeLocally({
      target: py311,
      modules: ['bcrypt', 'idna'],
      artifact: {
        kind: 'efs',
        mountRoot,
        mountPath: '/mnt/deps',
        pythonPath: '/mnt/deps/web/v1/site-packages',
      },
    });
    const outside = probeLocally({
      target: py311,
      modules: ['idna'],
      artifact: { kind: 'efs', mountRoot, mountPath: '/mnt/deps', pythonPath: '/var/task' },
    });
    // Assess
    expect(probe).toMatchObject({ ran: true, ok: true });
    await expect(outside).rejects.toThrow(/not under the mount path/);
  });

  it("imports from the image's own layers", async (context) => {
    if (!(await hasInterpreter('3.12'))) return context.skip('no python3.12 on this machine');
    // Prepare
    const out = await buildWith('image', 'python3.12');
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as {
      image: { layout: string };
    };
    // Act
    const probe = await probeLocally({
      target: py312,
      modules: ['bcrypt', 'idna'],
      artifact: { kind: 'image', layoutDir: join(out, manifest.image.layout) },
    });
    // Assess
    expect(probe).toMatchObject({ ran: true, ok: true });
    expect(probe.python).toMatch(/^3\.12\./);
  });

  it('reports an arm64 set as not probed, with the reason, and never as ok', async () => {
    // Prepare: the artifact does not matter; no aarch64 interpreter runs here.
    const target = lambdaTarget('python3.12', 'arm64');
    // Act
    const probe = await probeLocally({ target, modules: ['idna'], artifact: { kind: 'layers', zips: [] } });
    // Assess
    expect(probe).toMatchObject({ ran: false, ok: false, arch: 'arm64' });
    expect(probe.reason).toMatch(/aarch64/);
  });
});

describe.skipIf(noWheels)(`the Probe on the user's path${SKIP_NOTE}`, () => {
  let out = '';
  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'lambda-deps-probe-cli-'));
    await writeFile(join(out, 'requirements.txt'), 'bcrypt\nidna\n');
    await writeFile(join(out, 'pure.txt'), 'idna\n');
  });
  afterAll(() => rm(out, { recursive: true, force: true }));

  async function build(
    file: string,
    args: string[],
  ): Promise<{
    probe?: { ran: boolean; ok: boolean; python: string | null; reason?: string; modules: unknown[] };
  }> {
    const dir = join(out, args.join('-').replace(/[^a-z0-9]+/gi, '-'));
    await run(BIN, ['build', join(out, file), ...args, '--out', dir], { timeout: 300_000 }).catch(
      () => undefined,
    );
    return JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as never;
  }

  it.each([['layers'], ['efs']])(
    'probes the %s route from what ships with the target Python before switching it in',
    async (strategy) => {
      // Act
      const manifest = await build('requirements.txt', [
        '--runtime',
        'python3.11',
        '--arch',
        'x86_64',
        '--strategy',
        strategy,
      ]);
      // Assess
      expect(manifest.probe).toMatchObject({ ran: true, ok: true, from: 'artifact', where: 'local' });
      expect(manifest.probe?.python).toMatch(/^3\.11\.\d+$/);
      expect(manifest.probe?.modules.length).toBeGreaterThanOrEqual(2);
    },
    300_000,
  );

  it('says an arm64 set was not probed here, and why, instead of counting it as ok', async () => {
    // Act
    const manifest = await build('pure.txt', ['--runtime', 'python3.12', '--arch', 'arm64']);
    // Assess
    expect(manifest.probe).toMatchObject({ ran: false, ok: false });
    expect(manifest.probe?.reason).toMatch(/aarch64/);
  }, 300_000);

  it('reuses its passed probe when the identical artifact is delivered again, and probes again with --no-cache', async () => {
    // Prepare: three deliveries into one output folder (one store), as a user rebuilding would.
    const dir = join(out, 'reuse');
    const deliver = async (extra: string[] = []): Promise<{ probe?: Record<string, unknown> }> => {
      await run(
        BIN,
        [
          'build',
          join(out, 'pure.txt'),
          '--runtime',
          'python3.11',
          '--arch',
          'x86_64',
          ...extra,
          '--out',
          dir,
        ],
        { timeout: 300_000 },
      );
      return JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as never;
    };
    const first = await deliver();

    // Act
    const again = await deliver();
    const uncached = await deliver(['--no-cache']);

    // Assess
    expect(first.probe).toMatchObject({ ran: true, ok: true });
    expect(first.probe).not.toHaveProperty('reusedFrom');
    expect(again.probe).toMatchObject({ ran: true, ok: true, modules: first.probe?.modules });
    expect(again.probe?.reusedFrom).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(uncached.probe).toMatchObject({ ran: true, ok: true });
    expect(uncached.probe).not.toHaveProperty('reusedFrom');
  }, 300_000);

  it('with --require-probe, fails an arm64 set here at the Probe state and switches nothing', async () => {
    // Prepare
    const dir = join(out, 'require-probe');

    // Act
    const failed = await run(
      BIN,
      [
        'build',
        join(out, 'pure.txt'),
        '--runtime',
        'python3.12',
        '--arch',
        'arm64',
        '--require-probe',
        '--out',
        dir,
      ],
      { timeout: 300_000, env: { ...process.env, NO_COLOR: '1' } },
    ).then(
      () => ({ code: 0, stderr: '', stdout: '' }),
      (error: { code: number; stderr: string; stdout: string }) => error,
    );
    const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as {
      failedStep?: string;
      reason?: string;
      published?: string[];
    };
    const parameters = JSON.parse(
      await readFile(join(dir, 'parameters.json'), 'utf8').catch(() => '{}'),
    ) as Record<string, unknown>;

    // Assess
    expect(failed.code).toBe(1);
    expect(`${failed.stdout}${failed.stderr}`).toContain('Probe failed');
    expect(report.failedStep).toBe('Probe');
    expect(report.reason).toMatch(/not probed: .*aarch64.*--require-probe/);
    // The layer versions exist (published), but nothing names them: no parameter was written.
    expect(report.published?.length).toBeGreaterThan(0);
    expect(Object.keys(parameters).filter((name) => name.endsWith('/layers'))).toEqual([]);
    // The copies staged for --out while the Probe ran were thrown away, not delivered.
    expect((await readdir(dir)).filter((name) => name.startsWith('.lambda-deps-incoming-'))).toEqual([]);
    expect((await readdir(join(dir, 'layers'))).filter((name) => name.endsWith('.zip'))).toEqual([]);
  }, 300_000);

  it('refuses --require-probe where no probe runs (--no-pipeline), with exit 2', async () => {
    const refused = await run(
      BIN,
      [
        'build',
        join(out, 'pure.txt'),
        '--runtime',
        'python3.12',
        '--no-pipeline',
        '--require-probe',
        '--out',
        join(out, 'np'),
      ],
      { timeout: 120_000 },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--require-probe needs the pipeline');
  }, 120_000);
});

describe.skipIf(noWheels)(
  `the local probe of a set built without the runtime's own packages${SKIP_NOTE}`,
  () => {
    let out = '';
    let manifest: BuildManifest | null = null;
    beforeAll(async () => {
      if (!(await hasInterpreter('3.11'))) return;
      out = await mkdtemp(join(tmpdir(), 'lambda-deps-probe-runtime-'));
      // html5lib imports six, which Lambda's runtime provides (/var/runtime) and the build leaves out.
      await writeFile(join(out, 'requirements.txt'), 'six\nhtml5lib\n');
      await run(
        BIN,
        [
          'build',
          join(out, 'requirements.txt'),
          '--runtime',
          'python3.11',
          '--arch',
          'x86_64',
          '--exclude-runtime-provided',
          '--no-pipeline',
          '--out',
          join(out, 'out'),
        ],
        { timeout: 120_000 },
      );
      manifest = JSON.parse(await readFile(join(out, 'out', 'manifest.json'), 'utf8')) as BuildManifest;
    }, 150_000);
    afterAll(() => (out ? rm(out, { recursive: true, force: true }) : undefined));

    /** The probe the Probe state asks for: the set's modules from its layers, with the stand-ins. */
    function requestFor(built: BuildManifest, zips: readonly string[], modules?: readonly string[]) {
      return {
        target: built.target,
        modules: modules ?? built.smokeImport.moduleNames ?? [],
        artifact: { kind: 'layers' as const, zips },
      };
    }

    it("imports six from the stand-in for /var/runtime (the lock's six), and says so", async (context) => {
      if (!manifest) return context.skip('no python3.11 on this machine');
      // Prepare
      const zips = manifest.layers.map((layer) => join(out, 'out', layer.file));
      const standIn = runtimeStandInOf(manifest);
      const six = manifest.lock.packages.find((entry) => entry.name === 'six');
      // Act
      const without = await probeLocally(requestFor(manifest, zips));
      const probe = await probeLocally({
        ...requestFor(manifest, zips),
        ...(standIn ? { runtimeStandIn: standIn } : {}),
      });
      // Assess: six is nowhere in what ships; as in Lambda, it comes from the runtime.
      expect(manifest.layers.flatMap((layer) => layer.packages)).not.toContain('six');
      expect(without.modules.find((module) => module.module === 'html5lib')?.error).toContain(
        "No module named 'six'",
      );
      expect(probe).toMatchObject({ ran: true, ok: true });
      expect(probe.modules.map((module) => module.module)).toEqual(
        expect.arrayContaining(['html5lib', 'six']),
      );
      expect(probe.runtimeStandIn?.packages).toEqual([{ name: 'six', version: six?.version }]);
      expect(probe.runtimeStandIn?.note).toContain('not confirmed');
      expect(describeProbe(probe)).toContain(`stood in for by the lock's six ${six?.version ?? ''}`);
    });

    it('puts the stand-in after the artifact, as /var/runtime comes after the layers', async (context) => {
      if (!manifest) return context.skip('no python3.11 on this machine');
      // Prepare: a layer shipping its own six, which must win over the runtime's.
      const layer = join(out, 'own-six.zip');
      const archive = new yazl.ZipFile();
      archive.addBuffer(Buffer.from('raise ImportError("the layer\'s own six")\n'), 'python/six.py');
      archive.end();
      const chunks: Buffer[] = [];
      for await (const chunk of archive.outputStream) chunks.push(chunk as Buffer);
      await writeFile(layer, Buffer.concat(chunks));
      const standIn = runtimeStandInOf(manifest);
      // Act
      const probe = await probeLocally({
        ...requestFor(manifest, [layer], ['six']),
        ...(standIn ? { runtimeStandIn: standIn } : {}),
      });
      // Assess
      expect(standIn).toBeDefined();
      expect(probe.modules[0]).toMatchObject({ module: 'six', ok: false });
      expect(probe.modules[0]?.error).toContain("the layer's own six");
    });
  },
);
