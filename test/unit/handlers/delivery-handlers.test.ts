import { mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDependencyImageLayout } from '../../../functions/core/deliver/oci/image-layout.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { writeTreeTar } from '../../../functions/core/pack/tree-archive.ts';
import { silentLogger } from '../../../functions/middleware/step-handler.ts';
import { keys } from '../../../functions/pipeline-state.ts';
import {
  baseImageReference,
  createHandler as createPushImageHandler,
} from '../../../functions/push-image/handler.ts';
import { createHandler as createSyncEfsHandler } from '../../../functions/sync-efs/handler.ts';
import {
  buildManifest,
  createLocalFixture,
  deliveryState,
  LOCK_HASH,
  PASSED_PROBE,
  type LocalFixture,
} from './handler-fixtures.ts';

async function treeWithModule(root: string, module: string, body: string): Promise<string> {
  const tree = join(root, `tree-${module}`);
  await mkdir(join(tree, module), { recursive: true });
  await writeFile(join(tree, module, '__init__.py'), body);
  return tree;
}

describe('sync-efs handler (local folder standing for the access point)', () => {
  let fixture: LocalFixture;

  beforeEach(async () => {
    fixture = await createLocalFixture();
  });
  afterEach(() => fixture.cleanup());

  it('stages the tree beside the live one, switches current only in the switch phase, and reports the PYTHONPATH', async () => {
    // Prepare
    const { adapters } = fixture.dependencies;
    const tree = await treeWithModule(fixture.outDir, 'hello', 'VALUE = 1\n');
    const tarPath = join(fixture.outDir, 'site-packages.tar');
    await writeTreeTar(tree, tarPath, { prefix: 'site-packages' });
    await adapters.store.putFile(`${keys.artifactPrefix(LOCK_HASH)}efs/site-packages.tar`, tarPath);
    await adapters.store.putBytes(
      keys.manifest(LOCK_HASH),
      JSON.stringify(
        buildManifest({
          strategy: 'efs',
          layers: [],
          efs: { tree: 'efs/site-packages.tar', pythonPath: 'site-packages' },
        }),
      ),
    );
    const state = deliveryState({ measure: { strategy: 'efs' } });

    // Act
    const handler = createSyncEfsHandler(() => fixture.dependencies, silentLogger('test'));
    const staged = await handler(state);
    const currentWhileStaged = await readlink(staged.currentPath).catch(() => null);
    const delivery = await handler({ ...state, phase: 'switch', delivery: staged, probe: PASSED_PROBE });

    // Assess
    expect(staged.switched).toBe(false);
    expect(currentWhileStaged).toBeNull();
    // The Probe imports the version itself, through the path a function sets.
    expect(await readFile(join(staged.importPath, 'hello', '__init__.py'), 'utf8')).toBe('VALUE = 1\n');
    expect(delivery.switched).toBe(true);
    expect(delivery).toMatchObject({
      strategy: 'efs',
      pythonPath: `/mnt/deps/web/${LOCK_HASH}/site-packages`,
      currentPythonPath: '/mnt/deps/web/current/site-packages',
      importPath: join(adapters.fileSystem.mountRoot, 'web', 'current', 'site-packages'),
      currentPath: join(adapters.fileSystem.mountRoot, 'web', 'current'),
      mount: { mountPath: adapters.fileSystem.mountRoot, mountTargets: [] },
    });
    expect(await readlink(delivery.currentPath)).toBe(LOCK_HASH);
    expect(await readFile(join(delivery.importPath, 'hello', '__init__.py'), 'utf8')).toBe('VALUE = 1\n');
  });
});

describe('push-image handler without a registry (OCI layout folder)', () => {
  let fixture: LocalFixture;

  beforeEach(async () => {
    fixture = await createLocalFixture();
  });
  afterEach(() => fixture.cleanup());

  it('delivers the built layout as an OCI layout tagged with the set name and lock', async () => {
    // Prepare
    const { adapters } = fixture.dependencies;
    const tree = await treeWithModule(fixture.outDir, 'hello', 'VALUE = 2\n');
    const layoutDir = join(fixture.outDir, 'layout');
    const target = lambdaTarget('python3.12', 'x86_64');
    const layout = await createDependencyImageLayout({
      treeDir: tree,
      outDir: layoutDir,
      target,
      installPrefix: '/var/task',
    });
    const files = (await readdir(layoutDir, { recursive: true, withFileTypes: true })).filter((entry) =>
      entry.isFile(),
    );
    for (const file of files) {
      const relative = join(file.parentPath, file.name).slice(layoutDir.length + 1);
      await adapters.store.putFile(
        `${keys.artifactPrefix(LOCK_HASH)}image/${relative}`,
        join(file.parentPath, file.name),
      );
    }
    await adapters.store.putBytes(
      keys.manifest(LOCK_HASH),
      JSON.stringify(
        buildManifest({
          strategy: 'image',
          target,
          layers: [],
          image: { layout: 'image', digest: layout.manifestDigest },
        }),
      ),
    );

    // Act
    const delivery = await createPushImageHandler(
      () => fixture.dependencies,
      silentLogger('test'),
    )(deliveryState({ measure: { strategy: 'image', architecture: 'x86_64' } }));

    // Assess
    const tag = `web-${LOCK_HASH.slice(0, 12)}`;
    expect(delivery).toMatchObject({
      strategy: 'image',
      tag,
      digest: layout.manifestDigest,
      imageUri: `oci:${join(fixture.outDir, 'images', tag)}`,
    });
    const index = JSON.parse(await readFile(join(fixture.outDir, 'images', tag, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    expect(index.manifests.map((manifest) => manifest.digest)).toContain(layout.manifestDigest);
  });
});

describe('baseImageReference', () => {
  it.each([
    {
      repository: 'public.ecr.aws/lambda/python',
      expected: {
        registryUrl: 'https://public.ecr.aws',
        repository: 'lambda/python',
        reference: '3.12-arm64',
      },
    },
    {
      repository: '127.0.0.1:5000/lambda/python',
      expected: {
        // A loopback registry (docker-registry in tests) speaks plain http.
        registryUrl: 'http://127.0.0.1:5000',
        repository: 'lambda/python',
        reference: '3.12-arm64',
      },
    },
    {
      repository: 'library/python',
      expected: {
        registryUrl: 'https://registry-1.docker.io',
        repository: 'library/python',
        reference: '3.12-arm64',
      },
    },
  ])('points $repository at the runtime tag', ({ repository, expected }) => {
    // Act
    const reference = baseImageReference(repository, '3.12', 'arm64');

    // Assess
    expect(reference).toMatchObject(expected);
  });

  it('pushes the dependency layer alone when no base repository is set', () => {
    // Act
    const reference = baseImageReference('', '3.12', 'arm64');

    // Assess
    expect(reference).toBeNull();
  });
});
