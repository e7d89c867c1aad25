// The size report checked as a person would see it: a real build's report.html opened in
// headless Chromium (Debian's, driven by playwright-core), its numbers compared with the
// manifest beside it, and a screenshot kept in docs/ and test-results/.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuildManifest } from '../../../functions/core/shared/types.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';

const execFileAsync = promisify(execFile);
const CHROMIUM = '/usr/bin/chromium';
const skipReason = !existsSync(CHROMIUM)
  ? `Debian's chromium is not installed (${CHROMIUM}); .ci/install-system-packages installs it`
  : localIndexes() === null
    ? NO_LOCAL_INDEXES_REASON
    : null;

describe.skipIf(skipReason !== null)(
  `report.html in Chromium${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let workDir = '';
    let manifest: BuildManifest;
    let browser: Browser;

    beforeAll(async () => {
      workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-report-'));
      const out = join(workDir, 'out');
      await execFileAsync(
        'bin/lambda-deps',
        [
          'build',
          'examples/data-science/requirements.txt',
          '--runtime',
          'python3.11',
          '--arch',
          'x86_64',
          '--out',
          out,
          '--no-pipeline',
          '--json',
          '--cache-dir',
          join(workDir, 'cache'),
        ],
        { maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } },
      );
      manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as BuildManifest;
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
    }, 600_000);

    afterAll(async () => {
      await browser?.close();
      if (workDir) await rm(workDir, { recursive: true, force: true });
    });

    it('renders offline with the manifest numbers, the budget and the route', async () => {
      // Prepare
      const page = await browser.newPage({ viewport: { width: 1040, height: 900 } });
      const requests: string[] = [];
      page.on('request', (request) => {
        if (!request.url().startsWith('file:')) requests.push(request.url());
      });

      // Act
      await page.goto(pathToFileURL(join(workDir, 'out', 'report.html')).href);

      // Assess
      const bytesOf = async (testId: string): Promise<number> =>
        Number(await page.getByTestId(testId).getAttribute('data-bytes'));
      expect(await bytesOf('size-wheels')).toBe(manifest.sizes.wheels);
      expect(await bytesOf('size-installed')).toBe(manifest.sizes.installed);
      expect(await bytesOf('size-slimmed')).toBe(manifest.sizes.slimmed);
      expect(await bytesOf('slim-removed')).toBe(manifest.slimming.removedBytes);
      expect(await page.getByTestId('strategy').textContent()).toBe(manifest.strategy);
      const drawn = await page.locator('svg g.package').evaluateAll((nodes) =>
        nodes.map((node) => ({
          name: node.getAttribute('data-package'),
          bytes: Number(node.getAttribute('data-bytes')),
        })),
      );
      const expected = (manifest.packages ?? [])
        .filter((entry) => entry.slimmedBytes > 0)
        .map((entry) => ({ name: entry.name, bytes: entry.slimmedBytes }));
      expect(drawn.sort((a, b) => String(a.name).localeCompare(String(b.name)))).toEqual(
        expected.sort((a, b) => a.name.localeCompare(b.name)),
      );
      expect(await page.locator('svg rect.budget').count()).toBe(1);
      const layerRows = await page.locator('#layers tbody tr').count();
      expect(layerRows).toBe(manifest.layers.length);
      expect(requests).toEqual([]);
      const screenshot = await page.screenshot({ fullPage: true });
      expect(screenshot.length).toBeGreaterThan(10_000);
      await mkdir('test-results', { recursive: true });
      await page.screenshot({ path: join('test-results', 'size-report.png'), fullPage: true });
      // `npm test` (UPDATE_DOCS=1) also refreshes the picture the README shows.
      if (process.env.UPDATE_DOCS === '1')
        await copyFile(join('test-results', 'size-report.png'), join('docs', 'size-report.png'));
      await page.close();
    });
  },
);
