// The local probe's kept layers (functions/adapters/local/unpacked-layers.ts): a layer zip
// unpacked once is written from the cache next time, in Lambda's order (later layers over
// earlier), with each file's digest known; an entry that is not the very file written, or that
// lies about its paths, its sizes or its zip, is never used. With every layer kept, what /opt
// would hold is known (listed, hashed, read) without writing it.
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  openLayers,
  unpackLayers,
  type LayerZip,
} from '../../../functions/adapters/local/unpacked-layers.ts';
import { writeDeterministicZip } from '../../../functions/core/pack/deterministic-zip.ts';
import {
  evictKeptLayers,
  isWholeLayer,
  keepLayerFrom,
  keptLayersRoot,
  readKeptLayer,
} from '../../../functions/core/pack/kept-layers.ts';
import { fileIdentity } from '../../../functions/core/shared/file-identity.ts';
import { sha256Hex } from '../../../functions/core/shared/hash.ts';
import { diskTreeFiles, type TreeFiles } from '../../../functions/core/verify/import-footprints.ts';

let work = '';
let cache = '';
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-unpacked-layers-'));
  cache = join(work, 'cache');
});
afterEach(() => rm(work, { recursive: true, force: true }));

/** A layer zip of `files` (path → content); `bin/` files are executable. */
async function layerZip(name: string, files: Record<string, string>): Promise<LayerZip> {
  const path = join(work, `${name}.zip`);
  await writeDeterministicZip(
    path,
    Object.entries(files).map(([file, content]) => ({
      name: file,
      kind: 'content' as const,
      executable: file.startsWith('bin/'),
      content: Buffer.from(content),
    })),
  );
  return { path, source: null };
}

/** Unpack into a new /opt; what each file holds afterwards, and the handle. */
async function unpackInto(name: string, zips: readonly LayerZip[], cacheDir: string | null = cache) {
  const opt = join(work, name);
  await mkdir(opt, { recursive: true });
  const layers = await unpackLayers(zips, opt, cacheDir);
  await layers.keep();
  const files: Record<string, string> = {};
  for (const entry of await readdir(opt, { recursive: true, withFileTypes: true }))
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      files[path.slice(opt.length + 1)] = await readFile(path, 'utf8');
    }
  return { opt, layers, files };
}

/** The unpacking's known digests, by path below its /opt. */
function digestsByPath({ opt, layers }: Awaited<ReturnType<typeof unpackInto>>): Record<string, string> {
  return Object.fromEntries(
    [...layers.digests].map(([path, digest]) => [path.slice(opt.length + 1), digest]),
  );
}

const contentDigests = (files: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(files).map(([path, content]) => [path, sha256Hex(content)]));

const FIRST = {
  'python/a/__init__.py': 'a = 1\n',
  'python/shared.py': 'from first\n',
  'bin/tool': '#!/bin/sh\n',
};
const SECOND = { 'python/b/__init__.py': 'b = 2\n', 'python/shared.py': 'from second\n' };

async function keptEntries(): Promise<string[]> {
  const names = await readdir(join(cache, 'unpacked-layers')).catch(() => []);
  return names.filter((name) => /^[0-9a-f]{64}$/.test(name));
}

describe('layers kept between probes', () => {
  it('writes kept layers as the zips would unpack, later over earlier, with their digests known', async () => {
    // Prepare
    const zips = [await layerZip('one', FIRST), await layerZip('two', SECOND)];
    const inflated = await unpackInto('first-opt', zips);

    // Act
    const again = await unpackInto('second-opt', zips);

    // Assess: the first run inflated both (only the second layer is kept whole: the first's
    // shared.py was replaced); the second wrote that one from the cache, the same tree either way.
    expect(inflated.layers.reused).toBe(0);
    expect(await keptEntries()).toHaveLength(1);
    expect(again.layers.reused).toBe(1);
    expect(again.files).toEqual(inflated.files);
    expect(again.files['python/shared.py']).toBe('from second\n');
    // Every file's digest is known, of the bytes that ended up there (written from the cache or
    // inflated now), the replaced shared.py's included.
    expect(digestsByPath(again)).toEqual(contentDigests(again.files));
    expect(digestsByPath(inflated)).toEqual(contentDigests(inflated.files));
    expect((await stat(join(again.opt, 'bin', 'tool'))).mode & 0o111).not.toBe(0);
  });

  it('knows the digests of the files it inflates, and keeps nothing without a cache', async () => {
    // Prepare
    const zips = [await layerZip('one', FIRST)];

    // Act
    const uncached = await unpackInto('uncached-opt', zips, null);
    const kept = await unpackInto('kept-opt', zips);

    // Assess
    expect(digestsByPath(uncached)).toEqual(contentDigests(uncached.files));
    expect(digestsByPath(kept)).toEqual(contentDigests(kept.files));
    expect(kept.layers.reused).toBe(0);
    expect(uncached.files).toEqual(kept.files);
  });

  it('checks a kept list in full once per change of it or its pack, and only parses it between', async () => {
    // Prepare: a kept entry read once (its checks noted), then given a field no list has,
    // in place of the file it was, and noted again for those very bytes
    await unpackInto('first-opt', [await layerZip('one', FIRST)]);
    const [entry = ''] = await keptEntries();
    const folder = join(cache, 'unpacked-layers', entry);
    expect(await readKeptLayer(keptLayersRoot(cache), entry)).not.toBeNull();
    const checkedNote = join(folder, 'checked.json');
    const noted = JSON.parse(await readFile(checkedNote, 'utf8')) as { entry: string; pack: string };
    const entryFile = join(folder, 'entry.json');
    const odd = { ...(JSON.parse(await readFile(entryFile, 'utf8')) as object), stray: true };
    await writeFile(`${entryFile}.new`, JSON.stringify(odd));
    await rename(`${entryFile}.new`, entryFile);

    // Act: read with the old note, then with a note for the new bytes, then with the pack touched
    const withOldNote = await readKeptLayer(keptLayersRoot(cache), entry);
    await writeFile(checkedNote, JSON.stringify({ entry: await fileIdentity(entryFile), pack: noted.pack }));
    const withNewNote = await readKeptLayer(keptLayersRoot(cache), entry);
    const packFile = join(folder, 'files.bin');
    const later = new Date(Date.now() + 5_000);
    await utimes(packFile, later, later);
    const withPackTouched = await readKeptLayer(keptLayersRoot(cache), entry);

    // Assess: the stray field fails the schema unless a note vouches for these very files
    expect(withOldNote).toBeNull();
    expect(withNewNote).toMatchObject({ zipSha256: entry, stray: true });
    expect(withPackTouched).toBeNull();
  });

  it('never uses an entry copied in from elsewhere (a restored cache is a new file)', async () => {
    // Prepare
    const zips = [await layerZip('one', FIRST)];
    await unpackInto('first-opt', zips);
    const [entry = ''] = await keptEntries();
    const folder = join(cache, 'unpacked-layers', entry);
    await cp(folder, `${folder}.copy`, { recursive: true });
    await rm(folder, { recursive: true });
    await cp(`${folder}.copy`, folder, { recursive: true });

    // Act
    const again = await unpackInto('second-opt', zips);

    // Assess
    expect(again.layers.reused).toBe(0);
    expect(again.files['python/shared.py']).toBe('from first\n');
  });

  it('inflates again when the pack was changed in place, even to the same size', async () => {
    // Prepare
    const zips = [await layerZip('one', FIRST)];
    await unpackInto('first-opt', zips);
    const [entry = ''] = await keptEntries();
    const pack = join(cache, 'unpacked-layers', entry, 'files.bin');
    const bytes = await readFile(pack);
    await writeFile(
      pack,
      Buffer.from(bytes.toString('latin1').replace('from first', 'FROM FIRST'), 'latin1'),
    );

    // Act
    const again = await unpackInto('second-opt', zips);

    // Assess
    expect(again.layers.reused).toBe(0);
    expect(again.files['python/shared.py']).toBe('from first\n');
  });

  it.each([
    ['a path that climbs out of /opt', (files: { path: string }[]) => (files[0]!.path = '../escaped.py')],
    ['a path named twice', (files: { path: string }[]) => (files[1]!.path = files[0]!.path)],
    ['sizes that do not add up to the pack', (files: { size: number }[]) => (files[0]!.size += 1)],
  ])('ignores an entry with %s', async (_case, corrupt) => {
    // Prepare: the entry's list edited, its pack (and so its identity) left as written.
    const zips = [await layerZip('one', FIRST)];
    await unpackInto('first-opt', zips);
    const [entry = ''] = await keptEntries();
    const path = join(cache, 'unpacked-layers', entry, 'entry.json');
    const json = JSON.parse(await readFile(path, 'utf8')) as { files: { path: string; size: number }[] };
    corrupt(json.files);
    await writeFile(path, JSON.stringify(json));

    // Act
    const again = await unpackInto('second-opt', zips);

    // Assess
    expect(again.layers.reused).toBe(0);
    expect(again.files).toEqual({ ...FIRST });
    await expect(stat(join(work, 'escaped.py'))).rejects.toThrow();
  });

  it('ignores an entry kept for another zip, and one that is not JSON', async () => {
    // Prepare: the other zip's entry moved (same files, same identities) to where this zip's
    // belongs; then garbage there.
    const one = await layerZip('one', FIRST);
    const two = await layerZip('two', SECOND);
    await unpackInto('one-opt', [one]);
    await unpackInto('two-opt', [two]);
    const root = join(cache, 'unpacked-layers');
    const oneSha = sha256Hex(await readFile(one.path));
    const twoSha = sha256Hex(await readFile(two.path));
    await rm(join(root, oneSha), { recursive: true });
    await rename(join(root, twoSha), join(root, oneSha));

    // Act
    const swapped = await unpackInto('swapped-opt', [one]);
    await writeFile(join(root, oneSha, 'entry.json'), '{"format": 1, "files": [');
    const garbled = await unpackInto('garbled-opt', [one]);

    // Assess
    expect(swapped.layers.reused).toBe(0);
    expect(swapped.files).toEqual({ ...FIRST });
    expect(garbled.layers.reused).toBe(0);
    expect(garbled.files).toEqual({ ...FIRST });
  });
});

describe('what /opt holds, known from kept layers without writing it', () => {
  /** Every file and folder below `opt` as `list` gives them, with each file's digest and bytes. */
  async function seen(files: TreeFiles, opt: string) {
    const listing = (await files.list(opt)).map((entry) => `${entry.isDirectory ? 'd' : 'f'} ${entry.path}`);
    const contents: Record<string, string | null> = {};
    const digests: Record<string, string | null> = {};
    for (const entry of await files.list(opt))
      if (!entry.isDirectory) {
        contents[entry.path] = (await files.read(join(opt, entry.path)))?.toString('utf8') ?? null;
        digests[entry.path] = await files.digest(join(opt, entry.path));
      }
    return { listing: listing.sort(), contents, digests };
  }

  it('lists, hashes and reads exactly what unpacking would write, later layers over earlier', async () => {
    // Prepare: each layer kept on its own (so both are kept), then the two in order.
    const one = await layerZip('one', FIRST);
    const two = await layerZip('two', SECOND);
    await unpackInto('one-opt', [one]);
    await unpackInto('two-opt', [two]);
    const written = await unpackInto('written-opt', [one, two]);
    const opt = join(work, 'known-opt');

    // Act
    const { known } = await openLayers([one, two], opt, cache);

    // Assess: the same files and folders, digests and bytes as the /opt really written.
    expect(known).not.toBeNull();
    const fromKnown = await seen(known!.files, opt);
    expect(fromKnown).toEqual(await seen(diskTreeFiles(), written.opt));
    expect(fromKnown.contents['python/shared.py']).toBe('from second\n');
    expect(known!.hasFolder(join(opt, 'python', 'a'))).toBe(true);
    expect(known!.hasFolder(join(opt, 'python', 'lib'))).toBe(false);
    // Nothing was written to learn it.
    await expect(stat(opt)).rejects.toThrow();
  });

  it('knows /opt from a layer a build kept listed, and unpacks it from the zip, keeping it whole', async () => {
    // Prepare: the layer kept as a build keeps it: every file listed, only RECORD's bytes packed.
    const files = { 'python/c/__init__.py': 'c = 3\n', 'python/c-1.0.dist-info/RECORD': 'c/__init__.py,,\n' };
    const zip = await layerZip('listed', files);
    const inflated = await unpackInto('inflated-opt', [zip], null);
    const zipSha256 = sha256Hex(await readFile(zip.path));
    const listed = Object.entries(files).map(([path, content]) => ({
      path,
      size: Buffer.byteLength(content),
      executable: false,
      sha256: sha256Hex(content),
    }));
    const root = join(cache, 'unpacked-layers');
    await keepLayerFrom(root, { zipSha256, files: listed }, inflated.opt, {
      hashed: true,
      only: (path) => path.endsWith('/RECORD'),
    });
    const opt = join(work, 'listed-opt');

    // Act
    const { known, unpack } = await openLayers([zip], opt, cache);
    const record = await known?.files.read(join(opt, 'python', 'c-1.0.dist-info', 'RECORD'));
    const notPacked = await known?.files.read(join(opt, 'python', 'c', '__init__.py'));
    const unpacked = await unpack();
    await unpacked.keep();

    // Assess: known from the list (RECORD readable, the rest only hashed); unpacked from the zip
    // (reused: 0), then kept whole for the next probe.
    expect(record?.toString('utf8')).toBe(files['python/c-1.0.dist-info/RECORD']);
    expect(notPacked ?? null).toBeNull();
    expect(await known?.files.digest(join(opt, 'python', 'c', '__init__.py'))).toBe(sha256Hex('c = 3\n'));
    expect(unpacked.reused).toBe(0);
    expect(await readFile(join(opt, 'python', 'c', '__init__.py'), 'utf8')).toBe('c = 3\n');
    expect(isWholeLayer((await readKeptLayer(root, zipSha256))!)).toBe(true);
  });

  it('knows nothing while some layer is not kept, and nothing without a cache', async () => {
    // Prepare
    const one = await layerZip('one', FIRST);
    const two = await layerZip('two', SECOND);
    await unpackInto('one-opt', [one]);

    // Act
    const partly = await openLayers([one, two], join(work, 'partly-opt'), cache);
    const uncached = await openLayers([one], join(work, 'uncached-opt'), null);

    // Assess
    expect(partly.known).toBeNull();
    expect(uncached.known).toBeNull();
  });

  it('knows nothing of a layer whose kept pack was changed in place', async () => {
    // Prepare
    const one = await layerZip('one', FIRST);
    await unpackInto('one-opt', [one]);
    const [entry = ''] = await keptEntries();
    const pack = join(cache, 'unpacked-layers', entry, 'files.bin');
    const bytes = await readFile(pack);
    await writeFile(pack, Buffer.from(bytes.toString('latin1').replace('a = 1', 'a = 2'), 'latin1'));

    // Act
    const { known } = await openLayers([one], join(work, 'tampered-opt'), cache);

    // Assess
    expect(known).toBeNull();
  });

  it('takes zips still being copied, and fails only once every copy has settled', async () => {
    // Prepare: copies still writing for 50 ms, and one that fails at once
    const one = await layerZip('one', FIRST);
    let slowDone = false;
    const slowCopy = (): Promise<LayerZip> =>
      new Promise((resolve) =>
        setTimeout(() => {
          slowDone = true;
          resolve(one);
        }, 50),
      );

    // Act
    const opened = await openLayers([Promise.resolve(one), slowCopy()], join(work, 'pending-opt'), cache);
    slowDone = false;
    const broken = Promise.reject(new Error('injected: the copy failed'));
    const failed = await openLayers([broken, slowCopy()], join(work, 'failed-opt'), cache).catch(
      (error: unknown) => ({ error, slowDone }),
    );

    // Assess
    expect(opened.known).toBeNull();
    expect(failed).toMatchObject({ error: { message: 'injected: the copy failed' }, slowDone: true });
  });

  it('bounds the kept layers to those used last, keeping the one a probe just read', async () => {
    // Prepare: two layers kept (neither replaces the other's files), both of an earlier day
    const one = await layerZip('one', FIRST);
    const two = await layerZip('two', { 'python/c/__init__.py': 'c = 3\n' });
    await unpackInto('evict-opt', [one, two]);
    const root = keptLayersRoot(cache);
    const kept = (await readdir(root)).filter((name) => /^[0-9a-f]{64}$/.test(name));
    const old = new Date(Date.now() - 86_400_000);
    for (const name of kept) await utimes(join(root, name), old, old);

    // Act: a probe reads the first layer's kept copy, then the cache is bounded to one byte
    await openLayers([one], join(work, 'read-opt'), cache);
    await evictKeptLayers(root, 1);

    // Assess
    const left = (await readdir(root)).filter((name) => /^[0-9a-f]{64}$/.test(name));
    expect(kept).toHaveLength(2);
    expect(left).toEqual([sha256Hex(await readFile(one.path))]);
  });
});
