import { link, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderObjectStore } from '../../../functions/adapters/local/folder-object-store.ts';
import { openStore, putDirectory } from '../../../functions/cli/commands/store.ts';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-store-command-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('putDirectory', () => {
  it('uploads every file under the prefix, manifest.json last', async () => {
    // Prepare
    const out = join(work, 'out');
    await mkdir(join(out, 'layers'), { recursive: true });
    await writeFile(join(out, 'manifest.json'), '{}');
    await writeFile(join(out, 'layers', 'layer-b.zip'), 'b');
    await writeFile(join(out, 'layers', 'layer-a.zip'), 'a');
    const order: string[] = [];
    class RecordingStore extends FolderObjectStore {
      override async putFile(key: string, path: string): Promise<void> {
        order.push(key);
        await super.putFile(key, path);
      }
    }
    const store = new RecordingStore(join(work, 'store'));

    // Act
    const keys = await putDirectory(store, out, 'artifacts/abc/');

    // Assess
    expect(keys).toEqual([
      'artifacts/abc/layers/layer-a.zip',
      'artifacts/abc/layers/layer-b.zip',
      'artifacts/abc/manifest.json',
    ]);
    expect(order.at(-1)).toBe('artifacts/abc/manifest.json');
    expect((await store.getBytes('artifacts/abc/layers/layer-a.zip')).toString()).toBe('a');
  });

  it('puts manifest.json only once every other object is in, and not at all when one fails', async () => {
    // Prepare: a slow first layer, and a store that fails one named object
    const out = join(work, 'out-parallel');
    await mkdir(join(out, 'layers'), { recursive: true });
    await writeFile(join(out, 'manifest.json'), '{}');
    for (const name of ['a', 'b', 'c', 'd', 'e'])
      await writeFile(join(out, 'layers', `layer-${name}.zip`), name);
    const events: string[] = [];
    class SlowStore extends FolderObjectStore {
      constructor(
        root: string,
        private readonly failing: string | null,
      ) {
        super(root);
      }
      override async putFile(key: string, path: string): Promise<void> {
        events.push(`start ${key}`);
        if (key.endsWith('layer-a.zip')) await new Promise((done) => setTimeout(done, 50));
        if (this.failing && key.endsWith(this.failing)) throw new Error(`injected: ${key}`);
        await super.putFile(key, path);
        events.push(`end ${key}`);
      }
    }

    // Act
    await putDirectory(new SlowStore(join(work, 'store-parallel'), null), out, 'p/');
    const whenAllSucceed = events.splice(0);
    const failed = await putDirectory(
      new SlowStore(join(work, 'store-failing'), 'layer-c.zip'),
      out,
      'p/',
    ).catch((error: unknown) => error);

    // Assess
    expect(whenAllSucceed.at(-2)).toBe('start p/manifest.json');
    expect(whenAllSucceed.filter((event) => event.startsWith('end')).length).toBe(6);
    expect(whenAllSucceed.indexOf('end p/layers/layer-a.zip')).toBeLessThan(
      whenAllSucceed.indexOf('start p/manifest.json'),
    );
    expect(failed).toBeInstanceOf(Error);
    expect(events.filter((event) => event.includes('manifest.json'))).toEqual([]);
  });

  it('moves handed-over files into a folder store, a file with another name too', async () => {
    // Prepare: a build step's out/, one file of which is also a name of a cache file
    const out = join(work, 'out-handed-over');
    await mkdir(join(out, 'layers'), { recursive: true });
    await writeFile(join(out, 'manifest.json'), '{}');
    await writeFile(join(out, 'layers', 'layer-a.zip'), 'a');
    await writeFile(join(work, 'cached-b.zip'), 'b');
    await link(join(work, 'cached-b.zip'), join(out, 'layers', 'layer-b.zip'));
    const inodeOfA = (await stat(join(out, 'layers', 'layer-a.zip'))).ino;
    const store = new FolderObjectStore(join(work, 'store-handed-over'));
    const objectFile = (key: string): string => join(store.root, ...key.split('/'));

    // Act
    const keys = await putDirectory(store, out, 'h/', { handOver: true });

    // Assess: each object is the very file handed over (no copy), gone from out/
    expect(keys.at(-1)).toBe('h/manifest.json');
    expect((await stat(objectFile('h/layers/layer-a.zip'))).ino).toBe(inodeOfA);
    expect(await stat(join(out, 'layers', 'layer-a.zip')).catch(() => null)).toBeNull();
    expect((await stat(objectFile('h/layers/layer-b.zip'))).ino).toBe(
      (await stat(join(work, 'cached-b.zip'))).ino,
    );
    expect((await store.getBytes('h/layers/layer-b.zip')).toString()).toBe('b');
    expect((await store.getBytes('h/manifest.json')).toString()).toBe('{}');
  });

  it('copies, and leaves the files in place, when not told they are handed over', async () => {
    // Prepare
    const out = join(work, 'out-kept');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'manifest.json'), '{}');
    const store = new FolderObjectStore(join(work, 'store-kept'));

    // Act
    await putDirectory(store, out, 'k/');

    // Assess
    expect((await stat(join(out, 'manifest.json'))).isFile()).toBe(true);
    expect((await store.getBytes('k/manifest.json')).toString()).toBe('{}');
  });

  it('refuses a prefix that climbs out of the store', async () => {
    // Prepare
    const store = new FolderObjectStore(join(work, 'store-2'));

    // Act
    const put = putDirectory(store, join(work, 'out'), '../outside/');

    // Assess
    await expect(put).rejects.toThrow(/not a safe relative key/);
  });
});

describe('openStore', () => {
  it('opens a folder for file:// and refuses anything but s3:// and file://', async () => {
    // Act
    const folder = await openStore(pathToFileURL(join(work, 'store')).href);
    const missing = openStore(undefined);
    const other = openStore('https://example.com/bucket');

    // Assess
    expect(folder.location).toBe(pathToFileURL(join(work, 'store')).href);
    await expect(missing).rejects.toThrow(/LAMBDA_DEPS_STORE is not set/);
    await expect(other).rejects.toThrow(/neither s3:\/\/BUCKET nor file:\/\/\/folder/);
  });
});
