// One package added, as a user does it: `lambda-deps build` on the default path (the local
// pipeline), then again with attrs added to the requirements file and the same cache. The
// unchanged packages' smoke imports and probe imports are reused (their footprints hold) and the
// output says so; the probe takes what the builds' smoke imports imported (this build's of the
// new package, the first build's of the others); `--no-cache` imports everything again. Real wheels from
// the on-disk indexes. The builds keep their layers unpacked in the cache, so the probe, whose
// every module a smoke import stands for, writes no /opt.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { findTargetInterpreter } from '../../../functions/core/verify/index.ts';
import { indexFlags, localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { runCli } from '../../support/run-cli.ts';

const indexes = localIndexes();
const interpreter = await findTargetInterpreter(lambdaTarget('python3.11', 'x86_64'));
const skipReason = !indexes ? NO_LOCAL_INDEXES_REASON : 'reason' in interpreter ? interpreter.reason : null;

interface RunManifest {
  smokeImport: { ok: boolean; modules: number; reused?: number };
  probe?: {
    ok: boolean;
    unpacked?: boolean;
    modules: { module: string; ok: boolean; reused?: boolean; reusedFromBuild?: boolean }[];
  };
}

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-incremental-'));
  await writeFile(join(work, 'requirements.txt'), 'six\nidna\n');
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function build(extra: readonly string[] = []) {
  const run = await runCli(
    [
      'build',
      join(work, 'requirements.txt'),
      '--runtime',
      'python3.11',
      '--arch',
      'x86_64',
      '--out',
      join(work, 'out'),
      '--cache-dir',
      join(work, 'cache'),
      ...indexFlags(indexes ?? { indexUrls: [], findLinks: [] }),
      ...extra,
    ],
    { timeoutMs: 180_000 },
  );
  const manifest = JSON.parse(await readFile(join(work, 'out', 'manifest.json'), 'utf8')) as RunManifest;
  const probed = manifest.probe?.modules ?? [];
  const reusedInProbe = probed.filter((module) => module.reused).map((module) => module.module);
  const fromBuild = probed.filter((module) => module.reusedFromBuild).map((module) => module.module);
  return { run, manifest, reusedInProbe, fromBuild };
}

describe.skipIf(skipReason !== null)(
  `build on the default path, one package added${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    it('reuses the unchanged packages’ imports, says so, and imports all again with --no-cache', async () => {
      const first = await build();
      expect(first.run.code, first.run.output).toBe(0);
      expect(first.manifest.smokeImport.reused).toBeUndefined();
      expect(first.fromBuild.sort()).toEqual(['idna', 'six']);
      // The build kept its layers unpacked: the probe checked the footprints against their file
      // lists and wrote no /opt.
      expect(first.manifest.probe?.unpacked).toBe(false);
      expect(first.run.output).toContain('the layers were not unpacked for it');

      await writeFile(join(work, 'requirements.txt'), 'six\nidna\nattrs\n');
      const added = await build();

      expect(added.run.code, added.run.output).toBe(0);
      expect(added.manifest.smokeImport).toMatchObject({ ok: true, modules: 4, reused: 2 });
      expect(added.manifest.probe?.ok).toBe(true);
      // The probe imports none: the smoke imports stand for them (this build's of attrs, the
      // first build's of idna and six).
      expect(added.reusedInProbe.sort()).toEqual(['attr', 'attrs', 'idna', 'six']);
      expect(added.fromBuild.sort()).toEqual(['attr', 'attrs', 'idna', 'six']);
      expect(added.run.output).toContain('2 of 4 not imported again');
      expect(added.run.output).toContain("4 of 4 not imported again: a build's smoke import of each");
      expect(added.manifest.probe?.unpacked).toBe(false);

      const again = await build(['--no-cache']);

      expect(again.run.code, again.run.output).toBe(0);
      expect(again.manifest.smokeImport.reused).toBeUndefined();
      expect(again.reusedInProbe).toEqual([]);
      expect(again.fromBuild).toEqual([]);
      expect(again.manifest.probe?.unpacked).toBeUndefined();
    }, 300_000);
  },
);
