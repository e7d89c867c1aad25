import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderObjectStore } from '../../../functions/adapters/local/folder-object-store.ts';
import { runBuildspecLocally } from '../../../functions/adapters/local/local-build-runner.ts';
import { objectDigestsFolder, recallObjectDigest } from '../../../functions/adapters/local/object-digests.ts';
import { lockHash, serializeLock } from '../../../functions/core/resolve/lock.ts';
import { sha256OfFile } from '../../../functions/core/shared/hash.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import type { BuildManifest, Lock } from '../../../functions/core/shared/types.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { writeFixtureWheels } from '../../unit/build/wheel-fixtures.ts';
import { lockFromPip } from './pip-report-lock.ts';

const indexes = localIndexes();
const repository = process.cwd();
describe.skipIf(indexes === null)(
  `buildspecs/build.yml run by the local build runner (skipped when: ${NO_LOCAL_INDEXES_REASON})`,
  () => {
    let work: string;
    let store: FolderObjectStore;

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'lambda-deps-buildspec-'));
      store = new FolderObjectStore(join(work, 'store'));
    });

    afterAll(async () => {
      if (work) await rm(work, { recursive: true, force: true });
    });

    async function runFor(lock: Lock, name: string) {
      const hash = lockHash(lock);
      await store.putBytes(`locks/${hash}.json`, serializeLock(lock));
      // Measure stores the delivery policy beside the artifacts; the buildspec builds by it.
      await store.putBytes(`artifacts/${hash}/policy.json`, '{}');
      const workDir = join(work, name);
      await mkdir(workDir);
      const result = await runBuildspecLocally({
        buildspecPath: join(repository, 'buildspecs', 'build.yml'),
        workDir,
        sourceDir: repository,
        env: {
          LAMBDA_DEPS_STORE: store.location,
          LOCK_KEY: `locks/${hash}.json`,
          ARTIFACT_PREFIX: `artifacts/${hash}/`,
          STRATEGY: 'auto',
          PYTHON_VERSION: lock.target.pythonVersion,
          LAMBDA_DEPS_CACHE_DIR: join(work, 'cache'),
        },
      });
      return { hash, result };
    }

    it('builds a real lock from the folder store and puts the layers and manifest under the artifact prefix', async () => {
      // Prepare
      if (!indexes) return;
      const lock = await lockFromPip(['requests'], indexes, work);

      // Act
      const { hash, result } = await runFor(lock, 'good');

      // Assess
      expect(result.status).toBe('SUCCEEDED');
      expect(result.phases.map((phase) => phase.status)).toEqual([
        'SUCCEEDED',
        'SUCCEEDED',
        'SUCCEEDED',
        'SUCCEEDED',
      ]);
      expect(result.exportedVariables).toMatchObject({
        LOCK_HASH: hash,
        BUILD_STRATEGY: 'layers',
        BUILD_OK: 'true',
      });
      const manifest = JSON.parse(
        (await store.getBytes(`artifacts/${hash}/manifest.json`)).toString(),
      ) as BuildManifest;
      expect(manifest.verification.ok).toBe(true);
      const keys = await store.list(`artifacts/${hash}/`);
      for (const layer of manifest.layers) expect(keys).toContain(`artifacts/${hash}/${layer.file}`);
      // The step's out/ was moved into the folder store, and it held links to the build cache's
      // files, not copies: each stored zip is the cache's own file (which is only ever replaced
      // by rename, never written), written once by the whole step.
      expect(await readdir(join(work, 'good', 'out', 'layers')).catch(() => [])).toEqual([]);
      const [entry = ''] = (await readdir(join(work, 'cache', 'builds'))).filter(
        (name) => !name.startsWith('.'),
      );
      for (const layer of manifest.layers) {
        const stored = await stat(join(store.root, 'artifacts', hash, ...layer.file.split('/')));
        const cached = await stat(join(work, 'cache', 'builds', entry, ...layer.file.split('/')));
        expect(stored.ino).toBe(cached.ino);
        expect(await sha256OfFile(join(store.root, 'artifacts', hash, ...layer.file.split('/')))).toBe(
          layer.sha256,
        );
        // Remembered for the local probe by the object's identity as it lies in the store.
        const key = `artifacts/${hash}/${layer.file}`;
        const object = { key, identity: (await store.identity(key)) ?? '' };
        expect(await recallObjectDigest(objectDigestsFolder(join(work, 'cache')), object)).toBe(layer.sha256);
      }
    }, 120_000);

    it('publishes no artifact when verification fails, and leaves the failed manifest for the report', async () => {
      // Prepare
      const wheels = await writeFixtureWheels(await mkdtemp(join(work, 'wheels-')));
      // A lock's URL must end in the distribution's filename: the wheel is put under that name.
      const locked = await wheels.locked('macho.whl');
      const named = join(work, locked.filename);
      await copyFile(fileURLToPath(locked.url), named);
      const lock: Lock = {
        lockVersion: 1,
        target: lambdaTarget('python3.11', 'x86_64'),
        packages: [{ ...locked, url: pathToFileURL(named).href }],
      };

      // Act
      const { hash, result } = await runFor(lock, 'bad');

      // Assess
      expect(result.status).toBe('FAILED');
      expect(result.phases.map((phase) => [phase.name, phase.status])).toEqual([
        ['install', 'SUCCEEDED'],
        ['pre_build', 'SUCCEEDED'],
        ['build', 'FAILED'],
        ['post_build', 'SUCCEEDED'],
      ]);
      expect(result.exportedVariables.BUILD_OK).toBe('false');
      expect(await store.list(`artifacts/${hash}/`)).toEqual([
        `artifacts/${hash}/failed/manifest.json`,
        `artifacts/${hash}/policy.json`,
      ]);
      const manifest = JSON.parse(
        await readFile(join(store.root, 'artifacts', hash, 'failed', 'manifest.json'), 'utf8'),
      ) as BuildManifest;
      expect(manifest.verification.ok).toBe(false);
      expect(existsSync(join(store.root, 'artifacts', hash, 'layers'))).toBe(false);
    }, 120_000);
  },
);
