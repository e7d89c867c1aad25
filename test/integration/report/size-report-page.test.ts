// The report page checked as a person would see it: real local pipeline runs (layers, EFS,
// image, one refused before the pipeline, one that fails inside Measure and one inside Build),
// each report.html opened in Debian's Chromium at phone
// and desktop width, its numbers compared with the manifest beside it, screenshots kept in
// test-results/ (and, with UPDATE_DOCS=1, the README's docs/size-report.png refreshed).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes, formatDuration } from '../../../functions/core/shared/units.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import {
  corpusAvailable,
  NO_CORPUS_REASON,
  serveWheelhouse,
  type WheelhouseServer,
} from '../../support/wheelhouse.ts';
import { STATX_EXTENSION, writeSdist } from '../sdist/sdist-projects.ts';
import { lowContrastText, shownNumbers, tileFills, treemapLabels, valueAt } from './report-page-checks.ts';

const execFileAsync = promisify(execFile);
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const WIDTHS = [390, 1280] as const;
const skipReason = !existsSync(CHROMIUM)
  ? `Debian's chromium is not installed (${CHROMIUM}); .ci/install-system-packages installs it`
  : localIndexes() === null
    ? NO_LOCAL_INDEXES_REASON
    : !corpusAvailable()
      ? NO_CORPUS_REASON
      : null;

/**
 * The pipeline takes no file: URLs into its locks (they name the build host's files), so this
 * machine's on-disk indexes are served on loopback: each `file:///…/simple` index's folder.
 */
async function serveLocalIndexes(): Promise<WheelhouseServer[]> {
  const folders = (localIndexes()?.indexUrls ?? [])
    .filter((url) => url.startsWith('file:') && /\/simple\/?$/.test(url))
    .map((url) => fileURLToPath(url).replace(/\/simple\/?$/, ''));
  return Promise.all(folders.map((folder) => serveWheelhouse(folder)));
}

type RunName = 'layers' | 'efs' | 'image' | 'failed' | 'measure-failed' | 'build-failed';

/** Runs that fail: refused before the pipeline, unsatisfiable in Measure, a binary refused in Build. */
const FAILED_RUNS: readonly RunName[] = ['failed', 'measure-failed', 'build-failed'];
const isFailed = (name: RunName): boolean => FAILED_RUNS.includes(name);

interface Run {
  readonly out: string;
  /** manifest.json, or the failure record (report.json) of a failed run. */
  readonly record: Record<string, unknown>;
  /** What the CLI printed. */
  readonly output: string;
  readonly requirements: string;
}

const RUNS: Record<RunName, { requirements: string; flags: string[] }> = {
  layers: { requirements: 'examples/data-science/requirements.txt', flags: [] },
  efs: { requirements: 'examples/web-api/requirements.txt', flags: ['--strategy', 'efs'] },
  image: { requirements: 'examples/web-api/requirements.txt', flags: ['--strategy', 'image'] },
  failed: { requirements: 'bad-requirements.txt', flags: [] },
  'measure-failed': { requirements: 'unsatisfiable-requirements.txt', flags: [] },
  // Its one package is an sdist in a find-links folder: a C extension calling statx (GLIBC_2.28).
  'build-failed': { requirements: 'sdist-requirements.txt', flags: ['-f', 'sdists'] },
};

/** What each failed run's page must say, in the user's words. */
const FAILURES: Partial<Record<RunName, { step: string; message: RegExp }>> = {
  'measure-failed': { step: 'Measure', message: /numpy==0\.0\.1: no version matches/ },
  'build-failed': { step: 'Build', message: /statx needs GLIBC_2\.28; python3\.11 runs on Amazon Linux 2/ },
};

/** Index flags for the served indexes, plus one whose host cannot exist (RFC 2606), which is left out with a warning. */
function indexFlags(servers: readonly WheelhouseServer[]): string[] {
  const [first, ...rest] = servers;
  return [
    ...(first ? ['--index-url', first.indexUrl] : []),
    ...rest.flatMap((server) => ['--extra-index-url', server.indexUrl]),
    '--extra-index-url',
    'https://index.invalid/simple/',
  ];
}

async function build(workDir: string, name: RunName, indexes: readonly string[]): Promise<Run> {
  const out = join(workDir, name);
  const requirements = isFailed(name) ? join(workDir, RUNS[name].requirements) : RUNS[name].requirements;
  const argv = ['build', requirements, '--runtime', 'python3.11', '--arch', 'x86_64', '--out', out];
  // A folder a failed run names (`-f sdists`) is the work folder's.
  const own = RUNS[name].flags.map((flag) => (flag === 'sdists' ? join(workDir, flag) : flag));
  const flags = [...own, ...indexes, '--cache-dir', join(workDir, 'cache')];
  // PIP_CONFIG_FILE=/dev/null: only the served indexes, not pip's file: ones.
  const run = await execFileAsync('bin/lambda-deps', [...argv, ...flags], {
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, NO_COLOR: '1', PIP_CONFIG_FILE: '/dev/null' },
  }).catch((error: { stdout?: string; stderr?: string; code?: number }) => {
    if (!isFailed(name)) throw error;
    return { stdout: error.stdout ?? '', stderr: error.stderr ?? '' };
  });
  const file = isFailed(name) ? 'report.json' : 'manifest.json';
  const record = JSON.parse(await readFile(join(out, file), 'utf8')) as Record<string, unknown>;
  return { out, record, output: `${run.stdout}${run.stderr}`, requirements };
}

/** Open a run's page at a width, recording every request that is not for the page itself. */
async function openPage(
  browser: Browser,
  run: Run,
  width: number,
): Promise<{ page: Page; requests: string[] }> {
  const page = await browser.newPage({ viewport: { width, height: 800 } });
  const requests: string[] = [];
  await page.route('**/*', async (route) => {
    const url = route.request().url();
    if (url === pathToFileURL(join(run.out, 'report.html')).href) return route.continue();
    requests.push(url);
    return route.abort();
  });
  await page.goto(pathToFileURL(join(run.out, 'report.html')).href);
  return { page, requests };
}

function expectedNextValues(name: RunName, record: Record<string, unknown>): string[] {
  const delivery = record.delivery as Record<string, unknown>;
  if (name === 'layers')
    return [
      ...(delivery.layers as { layerVersionArn: string }[]).map((layer) => layer.layerVersionArn),
      ...(delivery.parameters as string[]),
      'aws lambda update-function-configuration --function-name my-function --layers',
    ];
  if (name === 'efs') return [String(delivery.pythonPath), 'LocalMountPath=/mnt/deps'];
  if (name === 'image')
    return [`${String(delivery.imageUri)}@${String(delivery.digest)}`, 'aws lambda update-function-code'];
  return [];
}

describe.skipIf(skipReason !== null)(
  `report.html in Chromium${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let workDir = '';
    let browser: Browser;
    let servers: WheelhouseServer[] = [];
    const runs = new Map<RunName, Run>();

    beforeAll(async () => {
      workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-report-'));
      await writeFile(join(workDir, RUNS.failed.requirements), 'requests\nnumpy>=\n');
      await writeFile(join(workDir, RUNS['measure-failed'].requirements), 'requests\nnumpy==0.0.1\n');
      await writeFile(join(workDir, RUNS['build-failed'].requirements), 'statx-ext\n');
      await writeSdist(STATX_EXTENSION, join(workDir, 'sdists'), '2.2');
      // One after another: they share the download cache, and the machine is shared.
      servers = await serveLocalIndexes();
      for (const name of Object.keys(RUNS) as RunName[])
        runs.set(name, await build(workDir, name, indexFlags(servers)));
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
      await mkdir('test-results', { recursive: true });
    }, 900_000);

    afterAll(async () => {
      await browser?.close();
      // The index servers are child processes: left running, they outlive the test run.
      await Promise.all(servers.map((server) => server.close()));
      if (workDir) await rm(workDir, { recursive: true, force: true });
    });

    for (const name of Object.keys(RUNS) as RunName[]) {
      for (const width of WIDTHS) {
        it(`shows the ${name} run at ${width} px without sideways scrolling, with the manifest's numbers, offline`, async () => {
          // Prepare
          const run = runs.get(name);
          if (!run) throw new Error(`the ${name} run did not happen`);

          // Act
          const { page, requests } = await openPage(browser, run, width);
          await page.screenshot({
            path: join('test-results', `report-${name}-${width}.png`),
            fullPage: true,
          });

          // Assess: nothing overflows, nothing is fetched.
          const { scrollWidth, innerWidth } = await page.evaluate(() => ({
            scrollWidth: document.documentElement.scrollWidth,
            innerWidth: window.innerWidth,
          }));
          expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
          expect(requests).toEqual([]);
          // Every number shown is the manifest's, written in binary units.
          const numbers = await shownNumbers(page);
          // A failed run's page shows numbers only for states that ran (none when its input was
          // refused before the pipeline started), and what it shows must still match.
          if (!isFailed(name)) expect(numbers.length).toBeGreaterThan(20);
          for (const number of numbers) {
            expect({ field: number.field, value: number.value }).toEqual({
              field: number.field,
              value: valueAt(run.record, number.field),
            });
            if (number.text !== null) {
              const formatted =
                number.kind === 'bytes'
                  ? formatBytes(number.value)
                  : number.kind === 'ms'
                    ? formatDuration(number.value)
                    : number.value.toLocaleString('en-US');
              expect(number.text).toBe(formatted);
            }
          }
          expect(await page.locator('body').innerText()).not.toMatch(
            /\d{1,3}(,\d{3}){2,} bytes|\d{6,} bytes/,
          );
          // The next steps carry the values to copy.
          const copies = (await page.locator('pre.copy').allInnerTexts()).join('\n');
          for (const value of expectedNextValues(name, run.record)) expect(copies).toContain(value);
          // The route and why, as the manifest says; a failed run says which step failed instead.
          if (isFailed(name))
            expect(await page.getByTestId('failed-step').innerText()).toBe(run.record.failedStep);
          else {
            expect(await page.getByTestId('strategy').innerText()).toBe(run.record.strategy);
            expect(await page.locator('section[aria-labelledby="route-heading"]').innerText()).toContain(
              String(run.record.reason),
            );
          }
          // Text is readable.
          expect(await lowContrastText(page)).toEqual([]);
          await page.close();
        });
      }
    }

    for (const name of ['layers', 'efs', 'image'] as const) {
      for (const width of WIDTHS) {
        it(`draws the ${name} treemap at ${width} px with labels inside their tiles, apart, and ten distinct colours`, async () => {
          // Prepare
          const run = runs.get(name);
          if (!run) throw new Error(`the ${name} run did not happen`);
          const { page } = await openPage(browser, run, width);

          // Act
          const labels = await treemapLabels(page);
          const fills = await tileFills(page);

          // Assess
          expect(labels.fits.length).toBeGreaterThan(3);
          expect(labels.fits.filter((fit) => !fit.inside)).toEqual([]);
          expect(labels.overlaps).toEqual([]);
          const biggest = fills.slice(0, 10).map((tile) => tile.fill);
          expect(new Set(biggest).size).toBe(biggest.length);
          const manifestPackages = (run.record.packages as { slimmedBytes: number }[]).filter(
            (entry) => entry.slimmedBytes > 0,
          );
          expect(fills.length).toBe(manifestPackages.length);
          await page.close();
        });
      }
    }

    for (const width of WIDTHS) {
      it(`reaches the treemap tiles by keyboard at ${width} px and marks the focused one`, async () => {
        // Prepare
        const run = runs.get('layers');
        if (!run) throw new Error('the layers run did not happen');
        const { page } = await openPage(browser, run, width);

        // Act: Tab from the top of the page until a tile has focus (bounded).
        let focused: string | null = null;
        for (let press = 0; press < 40 && focused === null; press++) {
          await page.keyboard.press('Tab');
          focused = await page.evaluate(
            () => document.activeElement?.closest('a.tile')?.getAttribute('data-package') ?? null,
          );
        }

        // Assess
        expect(focused).not.toBeNull();
        const stroke = await page.evaluate(
          () => getComputedStyle(document.activeElement?.querySelector('rect.box') as Element).strokeWidth,
        );
        expect(stroke).toBe('4px');
        expect(await page.locator('a.tile:focus').getAttribute('aria-label')).toMatch(
          /\d+(\.\d)? (KiB|MiB|GiB)/,
        );
        await page.close();
      });
    }

    it('states each route against its own budget', async () => {
      const texts = new Map<RunName, string>();
      for (const name of ['layers', 'efs', 'image'] as const) {
        const run = runs.get(name);
        if (!run) throw new Error(`the ${name} run did not happen`);
        const { page } = await openPage(browser, run, 1280);
        texts.set(name, await page.getByTestId('budget').innerText());
        await page.close();
      }
      const efs = runs.get('efs')?.record as { verification: { filesChecked: number } };
      expect(texts.get('layers')).toContain("of the route's limit of 250 MiB");
      expect(texts.get('image')).toContain("of the route's limit of 10.0 GiB");
      expect(texts.get('image')).not.toContain('250 MiB');
      expect(texts.get('efs')).toContain(
        `in ${efs.verification.filesChecked.toLocaleString('en-US')} files. No size limit`,
      );
    });

    it('says what was checked, with counts, and that nothing was probed', async () => {
      const run = runs.get('layers');
      if (!run) throw new Error('the layers run did not happen');
      const verification = run.record.verification as {
        filesChecked: number;
        elfFiles: number;
        symbolVersionsChecked: number;
      };
      expect(verification.filesChecked).toBeGreaterThan(1000);
      expect(verification.elfFiles).toBeGreaterThan(10);
      expect(verification.symbolVersionsChecked).toBeGreaterThan(10);
      const { page } = await openPage(browser, run, 1280);
      const probe = page.locator('[data-check="probe"]');
      const probed = run.record.probe as { ran?: boolean; ok?: boolean; modules?: unknown[] } | undefined;
      if (probed?.ran) {
        // It ran: its outcome, where, and how many modules it imported, as the manifest says.
        expect(await probe.getAttribute('data-status')).toBe(probed.ok ? 'ok' : 'failed');
        expect(await probe.innerText()).toMatch(
          probed.ok ? /imported from the artifact on (the Lambda runtime|a local copy)/ : /modules failed/,
        );
        expect(await probe.locator('[data-field="probe.modules.length"]').innerText()).toBe(
          String(probed.modules?.length ?? 0),
        );
      } else {
        expect(await probe.getAttribute('data-status')).toBe('skipped');
        expect(await probe.innerText()).toContain('not probed: ');
      }
      expect(await page.locator('[data-check="binaries"]').innerText()).toMatch(
        /files[\s\S]*ELF files[\s\S]*symbol versions/,
      );
      await page.close();
    });

    it('lists the warnings of the run: the index left out and the runtime-provided packages', async () => {
      const run = runs.get('layers');
      if (!run) throw new Error('the layers run did not happen');
      const { page } = await openPage(browser, run, 390);
      const warnings = await page.getByTestId('warnings').innerText();
      expect(warnings).toContain('https://index.invalid/simple/ was left out');
      expect(warnings).toContain('what the Lambda runtime already provides');
      expect(run.output).toContain('! https://index.invalid/simple/ was left out');
      await page.close();
    });

    it('names layer files that exist on disk', async () => {
      const run = runs.get('layers');
      if (!run) throw new Error('the layers run did not happen');
      const { page } = await openPage(browser, run, 1280);
      const files = await page.locator('[data-layer-file]').allInnerTexts();
      expect(files.length).toBe((run.record.layers as unknown[]).length);
      for (const file of files) expect(existsSync(join(run.out, file)), file).toBe(true);
      await page.close();
    });

    it("gives a failed run a page with the step, the user's file and the fix the CLI printed", async () => {
      // Prepare
      const run = runs.get('failed');
      if (!run) throw new Error('the failed run did not happen');
      const { page } = await openPage(browser, run, 390);

      // Assess
      expect(await page.getByTestId('failed-step').innerText()).toBe(run.record.failedStep);
      expect(await page.getByTestId('failure-location').innerText()).toBe(`${run.requirements}:2:8`);
      // What was expected, without quoting the line (it may not be a requirement at all).
      const message = await page.getByTestId('failure-message').innerText();
      expect(message).toContain('Expected a version after the comparison operator');
      expect(message).not.toContain('numpy>=');
      const hint = await page.getByTestId('failure-hint').innerText();
      expect(run.output).toContain(hint);
      expect(await page.locator('body').innerText()).not.toContain('lambda-deps-measure-');
      await page.close();
    });

    for (const [name, failure] of Object.entries(FAILURES) as [
      RunName,
      { step: string; message: RegExp },
    ][]) {
      for (const width of WIDTHS) {
        it(`gives the run that failed inside ${failure.step} a page at ${width} px with the step, the reason and the CLI's fix`, async () => {
          // Prepare
          const run = runs.get(name);
          if (!run) throw new Error(`the ${name} run did not happen`);
          const { page } = await openPage(browser, run, width);

          // Assess: the step that failed, in the user's words, with the hint the CLI printed.
          expect(run.record.failedStep).toBe(failure.step);
          expect(await page.getByTestId('failed-step').innerText()).toBe(failure.step);
          const message = await page.getByTestId('failure-message').innerText();
          expect(message).toMatch(failure.message);
          // The page wraps lines as prose; the CLI printed the same words.
          expect(run.output).toContain(message.slice(0, 60));
          const hint = await page.getByTestId('failure-hint').innerText();
          expect(hint.length).toBeGreaterThan(10);
          expect(run.output).toContain(hint);
          // None of the state's internals: no error type, no temp copy, no store URL.
          const body = await page.locator('body').innerText();
          expect(body).not.toMatch(/States\.TaskFailed|lambda-deps-measure-|\/store\/locks\//);
          await page.close();
        });
      }
    }

    it('keeps the first screen of the layers report as the README picture', async () => {
      const run = runs.get('layers');
      if (!run) throw new Error('the layers run did not happen');
      const { page } = await openPage(browser, run, 1280);
      const shot = join('test-results', 'size-report.png');
      await page.screenshot({ path: shot, fullPage: true, clip: { x: 0, y: 0, width: 1280, height: 1050 } });
      expect((await readFile(shot)).length).toBeGreaterThan(10_000);
      // `npm test` (UPDATE_DOCS=1) also refreshes the picture the README shows.
      if (process.env.UPDATE_DOCS === '1') await copyFile(shot, join('docs', 'size-report.png'));
      await page.close();
    });
  },
);
