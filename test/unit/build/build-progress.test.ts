// The build's live counts: the throttle every step reports through, the line that carries them
// out of a build run by the local build runner, and the totals a real build of fixture wheels
// reports (the files and bytes it wrote, the modules it imported).
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createBuildContext,
  parseProgressLine,
  PROGRESS_INTERVAL_MS,
  PROGRESS_LINE_PREFIX,
  progressLineOf,
  type BuildCounts,
  type BuildEvent,
} from '../../../functions/core/build/build-events.ts';
import { buildDependencySet } from '../../../functions/core/build/build.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { writeFixtureWheels, type FixtureWheels } from './wheel-fixtures.ts';
import { hasPython311 } from '../../support/python-on-path.ts';

/** Python's own count of the files in a zip and their uncompressed bytes. */
function zipTotals(path: string): { files: number; bytes: number } {
  const script = [
    'import json, sys, zipfile',
    'infos = [i for i in zipfile.ZipFile(sys.argv[1]).infolist() if not i.is_dir()]',
    'print(json.dumps({"files": len(infos), "bytes": sum(i.file_size for i in infos)}))',
  ].join('\n');
  return JSON.parse(execFileSync('python3', ['-c', script, path], { encoding: 'utf8' })) as {
    files: number;
    bytes: number;
  };
}

describe('createBuildContext counts', () => {
  it('reports a phase’s totals at once, then at most once per interval, and its last totals before the phase ends', async () => {
    // Prepare
    const events: BuildEvent[] = [];
    let clock = 1000;
    const context = createBuildContext(
      (event) => events.push(event),
      () => clock,
    );

    // Act
    await context.phase('install', async () => {
      for (let file = 1; file <= 1000; file++) {
        context.count('install', { files: file, bytes: file * 10 });
        // 1000 files over 0.5 s: five intervals.
        clock += PROGRESS_INTERVAL_MS / 200;
      }
    });

    // Assess
    const counts = events.flatMap((event) => (event.type === 'progress' ? [event.counts] : []));
    expect(counts[0]).toEqual({ files: 1, bytes: 10 });
    expect(counts.length).toBeGreaterThanOrEqual(5);
    expect(counts.length).toBeLessThanOrEqual(7);
    expect(counts.at(-1)).toEqual({ files: 1000, bytes: 10_000 });
    expect(events.at(-1)).toMatchObject({ type: 'phase', phase: 'install', status: 'done' });
  });

  it('throttles each phase on its own, so smoke-import counts are not held back by pack', async () => {
    // Prepare
    const events: BuildEvent[] = [];
    const context = createBuildContext(
      (event) => events.push(event),
      () => 0,
    );

    // Act
    context.count('pack', { files: 1 });
    context.count('smokeImport', { modules: 0, ofModules: 3 });

    // Assess
    expect(events.map((event) => event.type === 'progress' && event.phase)).toEqual(['pack', 'smokeImport']);
  });
});

describe('progress lines', () => {
  it('carries phase and count events and nothing else', () => {
    // Prepare
    const progress: BuildEvent = { type: 'progress', phase: 'install', counts: { files: 3, bytes: 99 } };
    const phase: BuildEvent = { type: 'phase', phase: 'smokeImport', status: 'start' };

    // Act
    const lines = [progress, phase].map((event) => progressLineOf(event) ?? '');

    // Assess
    expect(lines.map((line) => parseProgressLine(line.trimEnd()))).toEqual([progress, phase]);
    expect(lines.every((line) => line.endsWith('\n') && line.split('\n').length === 2)).toBe(true);
    expect(progressLineOf({ type: 'warning', message: 'a warning stays a warning' })).toBeNull();
  });

  it('refuses lines that are not well-formed progress, so a package’s output is never taken for it', () => {
    const refused = [
      'Traceback (most recent call last):',
      `${PROGRESS_LINE_PREFIX}not json`,
      `${PROGRESS_LINE_PREFIX}{"type":"progress","phase":"rm -rf","counts":{}}`,
      `${PROGRESS_LINE_PREFIX}{"type":"progress","phase":"install","counts":{"files":-1}}`,
      `${PROGRESS_LINE_PREFIX}{"type":"progress","phase":"install","counts":{"files":"12"}}`,
      `${PROGRESS_LINE_PREFIX}{"type":"phase","phase":"install","status":"exploded"}`,
      `${PROGRESS_LINE_PREFIX}null`,
    ];
    for (const line of refused) expect(parseProgressLine(line), line).toBeNull();
  });
});

describe('a build reports what it wrote and imported', () => {
  let work = '';
  let wheels: FixtureWheels;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'lambda-deps-progress-'));
    await mkdir(join(work, 'wheels'));
    wheels = await writeFixtureWheels(join(work, 'wheels'));
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it.skipIf(!hasPython311())(
    `ends install with the files and bytes the layer holds and the smoke import with every module${hasPython311() ? '' : ' (skipped without python3.11)'}`,
    async () => {
      // Prepare
      const events: BuildEvent[] = [];
      const lock = {
        lockVersion: 1 as const,
        target: lambdaTarget('python3.11', 'x86_64'),
        packages: [await wheels.locked('demo-1.0-py3-none-any.whl')],
      };

      // Act
      const manifest = await buildDependencySet({
        lock,
        index: { download: async (file) => fileURLToPath(file.url) },
        outDir: join(work, 'out'),
        policy: { forceStrategy: 'layers' },
        cacheDir: join(work, 'cache'),
        onEvent: (event) => events.push(event),
      });

      // Assess
      const last = (phase: string): BuildCounts | undefined =>
        events
          .flatMap((event) => (event.type === 'progress' && event.phase === phase ? [event.counts] : []))
          .at(-1);
      const layer = manifest.layers[0];
      expect(layer).toBeDefined();
      expect(last('install')).toEqual({
        ...zipTotals(join(work, 'out', layer?.file ?? '')),
        packages: 1,
        ofPackages: 1,
      });
      expect(last('download')).toEqual({ packages: 1, ofPackages: 1 });
      expect(manifest.smokeImport.modules).toBeGreaterThan(0);
      expect(last('smokeImport')).toEqual({
        modules: manifest.smokeImport.modules,
        ofModules: manifest.smokeImport.modules,
      });
    },
  );
});
