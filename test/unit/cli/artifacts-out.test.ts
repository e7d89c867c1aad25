// The default path's --out: only files lambda-deps wrote are replaced, a path someone else wrote
// is refused before anything is touched, and a copy that fails half-way leaves the previous
// outputs whole (artifacts-out.ts, the rules of core/pack/output-folder.ts).
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FolderObjectStore } from '../../../functions/adapters/local/folder-object-store.ts';
import {
  deliverStoredArtifacts,
  refuseForeignOutputs,
  stageStoredArtifacts,
} from '../../../functions/cli/artifacts-out.ts';
import { OWNERSHIP_FILE } from '../../../functions/core/pack/output-folder.ts';

const PREFIX = 'artifacts/k/';
let out = '';

/** A store holding `contents` under PREFIX; `failOn` makes fetching that file fail. */
function storeOf(contents: Record<string, string>, failOn?: string) {
  return {
    getToFile: async (key: string, path: string) => {
      const file = key.slice(PREFIX.length);
      if (file === failOn) throw new Error(`injected: ${file} could not be read`);
      await writeFile(path, contents[file] ?? '');
    },
  };
}

beforeEach(async () => {
  out = await mkdtemp(join(tmpdir(), 'lambda-deps-out-'));
});
afterEach(() => rm(out, { recursive: true, force: true }));

describe('delivering the pipeline’s artifacts into --out', () => {
  it('refuses to replace a file it did not write, and leaves it as it was', async () => {
    // Prepare
    await mkdir(join(out, 'layers'));
    await writeFile(join(out, 'layers', 'layer-1.zip'), 'the user’s own');

    // Act
    const attempt = deliverStoredArtifacts(
      storeOf({ 'layers/layer-1.zip': 'ours' }),
      PREFIX,
      ['layers/layer-1.zip'],
      out,
    );

    // Assess
    await expect(attempt).rejects.toThrow(/layer-1\.zip was not written by lambda-deps/);
    expect(await readFile(join(out, 'layers', 'layer-1.zip'), 'utf8')).toBe('the user’s own');
  });

  it('replaces its own earlier outputs, removes the ones this run does not deliver, and keeps foreign files', async () => {
    // Prepare: an earlier run's two layers, and the user's files beside them.
    const first = { 'layers/layer-1.zip': 'v1 one', 'layers/layer-2.zip': 'v1 two' };
    await deliverStoredArtifacts(storeOf(first), PREFIX, Object.keys(first), out);
    await writeFile(join(out, 'layers', 'notes.txt'), 'mine');
    await writeFile(join(out, 'README'), 'mine too');

    // Act
    await deliverStoredArtifacts(
      storeOf({ 'layers/layer-1.zip': 'v2 one' }),
      PREFIX,
      ['layers/layer-1.zip'],
      out,
    );

    // Assess
    expect(await readFile(join(out, 'layers', 'layer-1.zip'), 'utf8')).toBe('v2 one');
    expect((await readdir(join(out, 'layers'))).sort()).toEqual(['layer-1.zip', 'notes.txt']);
    expect(await readFile(join(out, 'README'), 'utf8')).toBe('mine too');
  });

  it('leaves the previous outputs whole when the copy fails half-way', async () => {
    // Prepare
    const files = ['layers/layer-1.zip', 'layers/layer-2.zip', 'efs/site-packages.tar'];
    await deliverStoredArtifacts(
      storeOf({
        'layers/layer-1.zip': 'v1 one',
        'layers/layer-2.zip': 'v1 two',
        'efs/site-packages.tar': 'v1 tar',
      }),
      PREFIX,
      files,
      out,
    );
    const second = storeOf(
      { 'layers/layer-1.zip': 'v2 one', 'layers/layer-2.zip': 'v2 two', 'efs/site-packages.tar': 'v2 tar' },
      'layers/layer-2.zip',
    );

    // Act
    const attempt = deliverStoredArtifacts(second, PREFIX, files, out);

    // Assess
    await expect(attempt).rejects.toThrow(/injected/);
    expect(await readFile(join(out, 'layers', 'layer-1.zip'), 'utf8')).toBe('v1 one');
    expect(await readFile(join(out, 'layers', 'layer-2.zip'), 'utf8')).toBe('v1 two');
    expect(await readFile(join(out, 'efs', 'site-packages.tar'), 'utf8')).toBe('v1 tar');
    expect((await readdir(out)).filter((name) => name.startsWith('.lambda-deps-incoming-'))).toEqual([]);
    // The next run is free: the failed one left its ownership list as it found it.
    await deliverStoredArtifacts(
      storeOf({ 'layers/layer-1.zip': 'v3' }),
      PREFIX,
      ['layers/layer-1.zip'],
      out,
    );
    expect(await readFile(join(out, 'layers', 'layer-1.zip'), 'utf8')).toBe('v3');
  });
});

describe('copying the artifacts beside --out', () => {
  it('copies them all at once, and settles every copy before it gives up on one that failed', async () => {
    // Prepare: copies that each take 30 ms, the second failing at once
    const files = ['layers/layer-1.zip', 'layers/layer-2.zip', 'layers/layer-3.zip'];
    let inFlight = 0;
    let mostAtOnce = 0;
    let settled = 0;
    const slowStore = (failOn?: string) => ({
      getToFile: async (key: string, path: string) => {
        inFlight++;
        mostAtOnce = Math.max(mostAtOnce, inFlight);
        try {
          if (key.endsWith(failOn ?? '\0')) throw new Error('injected: the copy failed');
          await new Promise((wait) => setTimeout(wait, 30));
          await writeFile(path, key);
        } finally {
          inFlight--;
          settled++;
        }
      },
    });

    // Act
    await deliverStoredArtifacts(slowStore(), PREFIX, files, out);
    const atOnce = mostAtOnce;
    settled = 0;
    const failed = await deliverStoredArtifacts(slowStore('layer-2.zip'), PREFIX, files, out).catch(
      (error: unknown) => ({ error, settled }),
    );

    // Assess
    expect(atOnce).toBe(3);
    expect(await readFile(join(out, 'layers', 'layer-3.zip'), 'utf8')).toBe(`${PREFIX}layers/layer-3.zip`);
    expect(failed).toMatchObject({ error: { message: 'injected: the copy failed' }, settled: 3 });
    expect((await readdir(out)).filter((name) => name.startsWith('.lambda-deps-incoming-'))).toEqual([]);
  });
});

describe('refusing a foreign output before a run', () => {
  it('refuses a file it did not write where a delivery may write, and nothing of the twin’s own', async () => {
    // Prepare: the twin's published versions and our earlier layer, then the user's files
    await mkdir(join(out, 'layers', 'lambda-deps-web-shared-1'), { recursive: true });
    await writeFile(join(out, 'layers', 'lambda-deps-web-shared-1', '1.zip'), 'published');
    await writeFile(join(out, 'layers', 'versions.json'), '{}');
    await deliverStoredArtifacts(
      storeOf({ 'layers/layer-1.zip': 'ours' }),
      PREFIX,
      ['layers/layer-1.zip'],
      out,
    );
    await writeFile(join(out, 'layers', 'notes.txt'), 'mine');
    const theTwinsAndOurs = await refuseForeignOutputs(out).then(() => 'accepted');
    await mkdir(join(out, 'image', 'blobs'), { recursive: true });
    await writeFile(join(out, 'image', 'blobs', 'x'), 'mine');
    const image = await refuseForeignOutputs(out).catch((error: Error) => error.message);
    await rm(join(out, 'image'), { recursive: true });
    await mkdir(join(out, 'efs'));
    await writeFile(join(out, 'efs', 'site-packages.tar'), 'mine');

    // Act
    const efs = refuseForeignOutputs(out);

    // Assess
    expect(theTwinsAndOurs).toBe('accepted');
    expect(image).toMatch(/image\/blobs\/x was not written by lambda-deps/);
    await expect(efs).rejects.toThrow(/efs\/site-packages\.tar was not written by lambda-deps/);
  });
});

describe('staging the copies while the execution runs', () => {
  const incomingFolders = async (): Promise<string[]> =>
    (await readdir(out)).filter((name) => name.startsWith('.lambda-deps-incoming-'));
  const files = ['layers/layer-1.zip', 'layers/layer-2.zip'];
  /** An earlier run's one layer in --out. */
  const deliverFirst = () =>
    deliverStoredArtifacts(storeOf({ 'layers/layer-1.zip': 'v1' }), PREFIX, ['layers/layer-1.zip'], out);
  /** The next run's two layers, staged. */
  const stageSecond = () =>
    stageStoredArtifacts(
      storeOf({ 'layers/layer-1.zip': 'v2', 'layers/layer-2.zip': 'two' }),
      PREFIX,
      files,
      out,
    );

  it('touches no output until commit, then swaps the copies in; a discard delivers nothing', async () => {
    // Prepare: an earlier run's layer
    await deliverFirst();

    // Act
    const kept = await stageSecond();
    const whileStaged = {
      layer1: await readFile(join(out, 'layers', 'layer-1.zip'), 'utf8'),
      layers: await readdir(join(out, 'layers')),
      incoming: (await incomingFolders()).length,
    };
    await kept.commit();
    const thrownAway = await stageStoredArtifacts(
      storeOf({ 'layers/layer-1.zip': 'v3' }),
      PREFIX,
      ['layers/layer-1.zip'],
      out,
    );
    await thrownAway.discard();

    // Assess
    expect(whileStaged).toEqual({ layer1: 'v1', layers: ['layer-1.zip'], incoming: 1 });
    expect(await readFile(join(out, 'layers', 'layer-1.zip'), 'utf8')).toBe('v2');
    expect(await readFile(join(out, 'layers', 'layer-2.zip'), 'utf8')).toBe('two');
    expect(await incomingFolders()).toEqual([]);
    expect(JSON.parse(await readFile(join(out, OWNERSHIP_FILE), 'utf8'))).toMatchObject({ files });
  });

  it('refuses at commit a file someone wrote after the copies were staged, and replaces nothing', async () => {
    // Prepare
    await deliverFirst();
    const staged = await stageSecond();
    await writeFile(join(out, 'layers', 'layer-2.zip'), 'the user’s own');

    // Act
    const attempt = staged.commit();

    // Assess
    await expect(attempt).rejects.toThrow(/layer-2\.zip was not written by lambda-deps/);
    expect(await readFile(join(out, 'layers', 'layer-1.zip'), 'utf8')).toBe('v1');
    expect(await readFile(join(out, 'layers', 'layer-2.zip'), 'utf8')).toBe('the user’s own');
    expect(await incomingFolders()).toEqual([]);
  });
});

describe('a rebuild that delivers the same store objects again', () => {
  let storeRoot = '';
  beforeEach(async () => {
    storeRoot = await mkdtemp(join(tmpdir(), 'lambda-deps-out-store-'));
  });
  afterEach(() => rm(storeRoot, { recursive: true, force: true }));

  /** A folder store holding `contents` under PREFIX, counting the objects it copies out. */
  async function folderStore(contents: Record<string, string>) {
    const store = new FolderObjectStore(storeRoot);
    for (const [file, body] of Object.entries(contents)) await store.putBytes(`${PREFIX}${file}`, body);
    const copied: string[] = [];
    return {
      copied,
      store,
      getToFile: async (key: string, path: string) => {
        copied.push(key.slice(PREFIX.length));
        await store.getToFile(key, path);
      },
      identity: (key: string) => store.identity(key),
    };
  }
  const files = ['layers/layer-1.zip', 'layers/layer-2.zip'];
  const contents = { 'layers/layer-1.zip': 'layer one', 'layers/layer-2.zip': 'layer two' };

  it('copies nothing when both the store objects and the copies are unchanged', async () => {
    // Prepare
    const source = await folderStore(contents);
    await deliverStoredArtifacts(source, PREFIX, files, out);
    source.copied.length = 0;

    // Act
    await deliverStoredArtifacts(source, PREFIX, files, out);

    // Assess
    expect(source.copied).toEqual([]);
    expect(await readFile(join(out, 'layers', 'layer-2.zip'), 'utf8')).toBe('layer two');
    expect((await readdir(out)).filter((name) => name.startsWith('.lambda-deps-'))).toEqual([OWNERSHIP_FILE]);
  });

  it('copies again a file changed in place in --out, even to the same size', async () => {
    // Prepare
    const source = await folderStore(contents);
    await deliverStoredArtifacts(source, PREFIX, files, out);
    await writeFile(join(out, 'layers', 'layer-1.zip'), 'layer ONE');
    source.copied.length = 0;

    // Act
    await deliverStoredArtifacts(source, PREFIX, files, out);

    // Assess
    expect(source.copied).toEqual(['layers/layer-1.zip']);
    expect(await readFile(join(out, 'layers', 'layer-1.zip'), 'utf8')).toBe('layer one');
  });

  it('copies again an object the store replaced', async () => {
    // Prepare
    const source = await folderStore(contents);
    await deliverStoredArtifacts(source, PREFIX, files, out);
    await source.store.putBytes(`${PREFIX}layers/layer-2.zip`, 'layer 2!!');
    source.copied.length = 0;

    // Act
    await deliverStoredArtifacts(source, PREFIX, files, out);

    // Assess
    expect(source.copied).toEqual(['layers/layer-2.zip']);
    expect(await readFile(join(out, 'layers', 'layer-2.zip'), 'utf8')).toBe('layer 2!!');
  });

  it('copies everything when the recorded identities are garbage or name other files', async () => {
    // Prepare
    const source = await folderStore(contents);
    await deliverStoredArtifacts(source, PREFIX, files, out);
    const list = JSON.parse(await readFile(join(out, OWNERSHIP_FILE), 'utf8')) as {
      copies: Record<string, { source: string; copy: string }>;
    };
    const first = list.copies['layers/layer-1.zip'];
    list.copies = {
      'layers/layer-1.zip': { source: 'made up', copy: first?.copy ?? '' },
      'layers/layer-2.zip': { source: first?.source ?? '', copy: first?.copy ?? '' },
    };
    await writeFile(join(out, OWNERSHIP_FILE), JSON.stringify(list));
    source.copied.length = 0;

    // Act
    await deliverStoredArtifacts(source, PREFIX, files, out);

    // Assess
    expect(source.copied.sort()).toEqual(files);
  });

  it('copies everything from a store that cannot tell an object’s identity', async () => {
    // Prepare
    const source = await folderStore(contents);
    const blind = { getToFile: source.getToFile };
    await deliverStoredArtifacts(blind, PREFIX, files, out);
    source.copied.length = 0;

    // Act
    await deliverStoredArtifacts(blind, PREFIX, files, out);

    // Assess
    expect(source.copied.sort()).toEqual(files);
  });
});
