// The Measure step on a project upload (pyproject.toml, read from a scratch folder): the second
// measure of the same, unchanged project takes the lock it resolved the first time, as a
// requirements file's does, instead of resolving again (real wheels from pip's on-disk indexes).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHandler } from '../../../functions/measure/handler.ts';
import { silentLogger } from '../../../functions/middleware/step-handler.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { createLocalFixture, type LocalFixture } from '../../unit/handlers/handler-fixtures.ts';

const indexes = localIndexes();
const PROJECT = '[project]\nname = "cached-project"\nversion = "1"\ndependencies = ["six"]\n';

describe.skipIf(indexes === null)(
  `the Measure step on a pyproject.toml upload (skipped when: ${NO_LOCAL_INDEXES_REASON})`,
  () => {
    let fixture: LocalFixture;
    let cacheDir: string;

    beforeAll(async () => {
      cacheDir = await mkdtemp(join(tmpdir(), 'lambda-deps-project-cache-'));
      const [indexUrl = null, ...extraIndexUrls] = indexes?.indexUrls ?? [];
      fixture = await createLocalFixture({
        indexUrl,
        extraIndexUrls,
        findLinks: indexes?.findLinks ?? [],
        cacheDir,
      });
    });
    afterAll(async () => {
      await fixture.cleanup();
      await rm(cacheDir, { recursive: true, force: true });
    });

    it('takes the lock it resolved before while the project is unchanged', async () => {
      // Prepare: the project as the console upload stores it (a bundle of the file)
      const key = 'requirements/p/pyproject.toml.bundle.json';
      const bundle = {
        format: 'lambda-deps-requirements-bundle/1',
        root: '/p/pyproject.toml',
        files: { '/p/pyproject.toml': PROJECT },
      };
      await fixture.dependencies.adapters.store.putBytes(key, JSON.stringify(bundle), 'application/json');
      const event = {
        source: 'console' as const,
        input: { requirements: { bucket: 'lambda-deps-local', key }, runtime: 'python3.11' },
      };
      const measureWithLog = async () => {
        const logger = silentLogger('measure');
        const info = vi.spyOn(logger, 'info');
        const output = await createHandler(() => fixture.dependencies, logger)(event);
        const resolving = info.mock.calls.filter(([message]) => message === 'measure: resolving');
        return { output, resolving: resolving.map(([, detail]) => JSON.stringify(detail)) };
      };
      const first = await measureWithLog();
      // (A source written within the racy window of a run is never trusted: see resolution-sources.ts.)
      await new Promise((done) => setTimeout(done, 150));

      // Act
      const second = await measureWithLog();

      // Assess
      expect(second.output).toMatchObject({ lockHash: (first.output as { lockHash: string }).lockHash });
      expect(first.resolving.join()).not.toMatch(/unchanged since/);
      expect(second.resolving.join()).toMatch(/unchanged since/);
    }, 60_000);
  },
);
