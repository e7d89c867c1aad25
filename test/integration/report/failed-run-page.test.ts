// A `build --no-pipeline` that fails writes the failed run's report.json and report.html, as the
// pipeline path does: the step that failed, the reason in the user's words and the fix the CLI
// printed. Run on the user's path (bin/lambda-deps), for a set Measure cannot satisfy and for an
// sdist whose binary Build refuses.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { findTargetInterpreter } from '../../../functions/core/verify/index.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { STATX_EXTENSION, writeSdist } from '../sdist/sdist-projects.ts';

const run = promisify(execFile);
const noPython311 = 'reason' in (await findTargetInterpreter(lambdaTarget('python3.11', 'x86_64')));
const skipped = localIndexes() === null ? NO_LOCAL_INDEXES_REASON : noPython311 ? 'no python3.11 here' : null;
let work = '';

async function buildNoPipeline(
  requirements: string,
  out: string,
  extra: string[] = [],
): Promise<{ code: number; output: string }> {
  const argv = ['build', requirements, '--runtime', 'python3.11', '--arch', 'x86_64', '--out', out];
  const flags = ['--no-pipeline', '--cache-dir', join(work, 'cache'), ...extra];
  try {
    const done = await run('bin/lambda-deps', [...argv, ...flags], {
      env: { ...process.env, NO_COLOR: '1' },
      timeout: 300_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, output: `${done.stdout}${done.stderr}` };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

/** The text of the element with `data-testid="id"`, tags removed and entities decoded. */
function testIdText(html: string, id: string): string | null {
  const match = new RegExp(`data-testid="${id}"[^>]*>([\\s\\S]*?)</(p|span|code)>`).exec(html);
  if (!match) return null;
  return (match[1] ?? '')
    .replace(/<[^>]+>/g, '')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

describe.skipIf(skipped !== null)(
  `build --no-pipeline that fails${skipped ? ` (skipped: ${skipped})` : ''}`,
  () => {
    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'lambda-deps-failed-page-'));
    });
    afterAll(() => rm(work, { recursive: true, force: true }));

    it('writes a failed-run page when Measure cannot satisfy the set', async () => {
      // Prepare
      const requirements = join(work, 'unsatisfiable.txt');
      await writeFile(requirements, 'six\nnumpy==0.0.1\n');
      const out = join(work, 'out-measure');

      // Act
      const result = await buildNoPipeline(requirements, out);

      // Assess
      expect(result.code).toBe(1);
      const html = await readFile(join(out, 'report.html'), 'utf8');
      expect(testIdText(html, 'failed-step')).toBe('Measure');
      expect(testIdText(html, 'failure-message')).toMatch(/numpy==0\.0\.1: no version matches/);
      const hint = testIdText(html, 'failure-hint') ?? '';
      expect(hint).toMatch(/Relax or change the versions/);
      expect(result.output).toContain(hint);
      const record = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as Record<string, unknown>;
      expect(record).toMatchObject({ status: 'FAILED', failedStep: 'Measure', errorType: 'ResolutionError' });
      expect(result.output).toContain(join(out, 'report.html'));
    }, 300_000);

    it('writes a failed-run page when Build refuses the binary an sdist built', async () => {
      // Prepare
      const requirements = join(work, 'sdist.txt');
      await writeFile(requirements, 'statx-ext\n');
      await writeSdist(STATX_EXTENSION, join(work, 'sdists'), '2.2');
      const out = join(work, 'out-build');

      // Act
      const result = await buildNoPipeline(requirements, out, ['-f', join(work, 'sdists')]);

      // Assess
      expect(result.code).toBe(1);
      const html = await readFile(join(out, 'report.html'), 'utf8');
      expect(testIdText(html, 'failed-step')).toBe('Build');
      expect(testIdText(html, 'failure-message')).toContain(
        'statx needs GLIBC_2.28; python3.11 runs on Amazon Linux 2, glibc 2.26',
      );
      const hint = testIdText(html, 'failure-hint') ?? '';
      expect(hint).toMatch(/^Build it in AWS/);
      expect(result.output).toContain(hint);
    }, 300_000);
  },
);
