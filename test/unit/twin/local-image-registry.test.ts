// The local image registry keeps ECR's rules for the repository lambda-deps creates: a tag is
// immutable (the same image again succeeds, another image is refused and the first stays) and
// Lambda takes a single-architecture image, never a manifest list or an index of several.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDependencyImageLayout, OCI_INDEX } from '../../../functions/core/deliver/oci/image-layout.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { silentLogger } from '../../../functions/middleware/step-handler.ts';
import { keys } from '../../../functions/pipeline-state.ts';
import { createHandler as createPushImageHandler } from '../../../functions/push-image/handler.ts';
import {
  buildManifest,
  createLocalFixture,
  deliveryState,
  LOCK_HASH,
  type LocalFixture,
} from '../handlers/handler-fixtures.ts';

const TARGET = lambdaTarget('python3.12', 'x86_64');
const TAG = `web-${LOCK_HASH.slice(0, 12)}`;
let fixture: LocalFixture;

beforeEach(async () => {
  fixture = await createLocalFixture();
});
afterEach(() => fixture.cleanup());

/** Builds a layout of one module and stores it as the lock's image artifact; its manifest digest. */
async function storeImageBuild(
  body: string,
  editIndex: (index: { manifests: object[] }) => object = (index) => index,
): Promise<string> {
  const { adapters } = fixture.dependencies;
  const tree = join(fixture.outDir, `tree-${body.length}-${Math.random().toString(36).slice(2)}`);
  await mkdir(join(tree, 'hello'), { recursive: true });
  await writeFile(join(tree, 'hello', '__init__.py'), body);
  const layoutDir = `${tree}-layout`;
  const layout = await createDependencyImageLayout({
    treeDir: tree,
    outDir: layoutDir,
    target: TARGET,
    installPrefix: '/var/task',
  });
  const indexPath = join(layoutDir, 'index.json');
  await writeFile(indexPath, JSON.stringify(editIndex(JSON.parse(await readFile(indexPath, 'utf8')))));
  const prefix = `${keys.artifactPrefix(LOCK_HASH)}image/`;
  for (const key of await adapters.store.list(prefix)) await adapters.store.delete(key);
  const files = (await readdir(layoutDir, { recursive: true, withFileTypes: true })).filter((entry) =>
    entry.isFile(),
  );
  for (const file of files) {
    const path = join(file.parentPath, file.name);
    await adapters.store.putFile(`${prefix}${path.slice(layoutDir.length + 1)}`, path);
  }
  const manifest = buildManifest({
    strategy: 'image',
    target: TARGET,
    layers: [],
    image: { layout: 'image', digest: layout.manifestDigest },
  });
  await adapters.store.putBytes(keys.manifest(LOCK_HASH), JSON.stringify(manifest));
  return layout.manifestDigest;
}

function pushImage(): Promise<{ digest: string; tag: string }> {
  const handler = createPushImageHandler(() => fixture.dependencies, silentLogger('test'));
  return handler(deliveryState({ measure: { strategy: 'image', architecture: 'x86_64' } })) as Promise<{
    digest: string;
    tag: string;
  }>;
}

async function digestUnderTag(): Promise<string | undefined> {
  const index = JSON.parse(await readFile(join(fixture.outDir, 'images', TAG, 'index.json'), 'utf8')) as {
    manifests: { digest: string }[];
  };
  return index.manifests[0]?.digest;
}

describe('the local image registry', () => {
  it('accepts the same image pushed again under its tag', async () => {
    // Prepare
    const digest = await storeImageBuild('VALUE = 1\n');
    await pushImage();
    // Act
    const again = await pushImage();
    // Assess
    expect(again).toMatchObject({ tag: TAG, digest });
    expect(await digestUnderTag()).toBe(digest);
  });

  it('refuses another image under an existing tag, naming both digests, and keeps the first', async () => {
    // Prepare
    const first = await storeImageBuild('VALUE = 1\n');
    await pushImage();
    const second = await storeImageBuild('VALUE = 2\n');
    // Act
    const push = pushImage();
    // Assess
    await expect(push).rejects.toThrow(/ImageTagAlreadyExistsException/);
    await expect(push).rejects.toThrow(new RegExp(`${first}.*${second}`));
    expect(await digestUnderTag()).toBe(first);
  });

  it('refuses a layout whose index names an image for each of two architectures', async () => {
    // Prepare
    await storeImageBuild('VALUE = 1\n', (index) => {
      const [amd64] = index.manifests as { platform: object }[];
      return { ...index, manifests: [amd64, { ...amd64, platform: { architecture: 'arm64', os: 'linux' } }] };
    });
    // Act / Assess
    await expect(pushImage()).rejects.toThrow(/holds 2 manifests.*single-architecture/);
  });

  it('refuses a layout whose one entry is itself an index (a manifest list)', async () => {
    // Prepare
    await storeImageBuild('VALUE = 1\n', (index) => ({
      ...index,
      manifests: index.manifests.map((entry) => ({ ...entry, mediaType: OCI_INDEX })),
    }));
    // Act / Assess
    await expect(pushImage()).rejects.toThrow(/InvalidParameterValueException.*not a manifest list or index/);
  });

  it("tags the image in the form the README's deploy section gives", async () => {
    // Prepare
    const readme = await readFile(resolve(import.meta.dirname, '../../../README.md'), 'utf8');
    const form = /tagged\s+`<set>-<first (\d+) hex characters of the lock hash>`/.exec(readme);
    await storeImageBuild('VALUE = 1\n');
    // Act
    const pushed = await pushImage();
    // Assess
    expect(form, 'README: the Image bullet of the deploy section names the tag form').not.toBeNull();
    expect(pushed.tag).toBe(`web-${LOCK_HASH.slice(0, Number(form?.[1]))}`);
  });
});
