// writeTreeTar's determinism and extractTreeTar's refusals, with hostile archives crafted
// entry by entry (tar-stream lets us write what no honest tool would).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnsafeArchiveError } from '../../../functions/core/shared/errors.ts';
import { extractTreeTar, writeTreeTar } from '../../../functions/core/pack/tree-archive.ts';
import { recordReliability } from '../../support/reliability-log.ts';

let workDir = '';

type CraftedEntry = Partial<tar.Header> & { name: string; body?: string };

/** A tar built entry by entry, exactly as given. */
async function craftTar(entries: CraftedEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = new Promise<void>((done, fail) => {
    pack.on('data', (chunk: unknown) => {
      chunks.push(chunk as Buffer);
    });
    pack.on('end', () => done());
    pack.on('error', fail);
  });
  for (const { body, ...header } of entries) {
    await new Promise<void>((done, fail) =>
      body === undefined
        ? pack.entry(header, (error) => (error ? fail(error) : done()))
        : pack.entry(header, body, (error) => (error ? fail(error) : done())),
    );
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

async function sampleTree(): Promise<string> {
  const tree = await mkdtemp(join(workDir, 'tree-'));
  await mkdir(join(tree, 'pkg', 'sub'), { recursive: true });
  await writeFile(join(tree, 'pkg', '__init__.py'), 'VALUE = 1\n');
  await writeFile(join(tree, 'pkg', 'sub', `${'long'.repeat(40)}.py`), 'X = 2\n');
  await writeFile(join(tree, 'pkg', 'empty.txt'), '');
  await mkdir(join(tree, 'bin'));
  await writeFile(join(tree, 'bin', 'tool'), '#!/bin/sh\necho hi\n');
  await chmod(join(tree, 'bin', 'tool'), 0o775);
  await symlink('../pkg/__init__.py', join(tree, 'bin', 'init-link'));
  return tree;
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-archive-'));
});

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('writeTreeTar', () => {
  it('writes the same bytes for the same tree, whatever the files’ times and owners', async () => {
    // Prepare
    const tree = await sampleTree();
    const first = await writeTreeTar(tree, join(workDir, 'first.tar.gz'), {
      gzip: true,
      prefix: '/var/task',
    });
    await utimes(join(tree, 'pkg', '__init__.py'), new Date('2030-01-01'), new Date('2030-01-01'));

    // Act
    const second = await writeTreeTar(tree, join(workDir, 'second.tar.gz'), {
      gzip: true,
      prefix: 'var/task',
    });

    // Assess
    expect(second).toEqual(first);
    const bytes = await readFile(join(workDir, 'second.tar.gz'));
    expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(second.sha256);
    expect(second.size).toBe(bytes.length);
    expect(second.diffId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(second.diffId).not.toBe(second.sha256);
  });

  it('sorts entries, zeroes times and owners, and keeps only the executable bit of modes', async () => {
    // Prepare
    const tree = await sampleTree();
    const out = join(workDir, 'plain.tar');

    // Act
    await writeTreeTar(tree, out, { prefix: 'opt/python' });

    // Assess
    const headers: tar.Header[] = [];
    const extract = tar.extract();
    extract.end(await readFile(out));
    for await (const entry of extract) {
      headers.push(entry.header);
      entry.resume();
    }
    expect(headers.map((header) => header.name)).toEqual([
      'opt/',
      'opt/python/',
      'opt/python/bin/',
      'opt/python/bin/init-link',
      'opt/python/bin/tool',
      'opt/python/pkg/',
      'opt/python/pkg/__init__.py',
      'opt/python/pkg/empty.txt',
      'opt/python/pkg/sub/',
      `opt/python/pkg/sub/${'long'.repeat(40)}.py`,
    ]);
    for (const header of headers) {
      expect(header.mtime.getTime()).toBe(0);
      expect([header.uid, header.gid]).toEqual([0, 0]);
    }
    const modeOf = (name: string): number | undefined => headers.find((header) => header.name === name)?.mode;
    expect(modeOf('opt/python/bin/tool')).toBe(0o755);
    expect(modeOf('opt/python/pkg/__init__.py')).toBe(0o644);
    expect(modeOf('opt/python/pkg/')).toBe(0o755);
    expect(headers.find((header) => header.name === 'opt/python/bin/init-link')?.linkname).toBe(
      '../pkg/__init__.py',
    );
  });

  it('refuses a symlink that points out of the tree', async () => {
    // Prepare
    const tree = await sampleTree();
    await symlink('/etc/passwd', join(tree, 'pkg', 'escape'));

    // Act
    const writing = writeTreeTar(tree, join(workDir, 'escape.tar'));

    // Assess
    await expect(writing).rejects.toThrow(UnsafeArchiveError);
    await expect(writing).rejects.toThrow(/pkg\/escape -> \/etc\/passwd points outside the tree/);
  });

  it('round-trips through extractTreeTar: same files, bytes, modes and links', async () => {
    // Prepare
    const tree = await sampleTree();
    const archive = join(workDir, 'round.tar.gz');
    await writeTreeTar(tree, archive, { gzip: true });
    const destination = join(workDir, 'round-out');

    // Act
    const result = await extractTreeTar(archive, destination, { fsync: true });

    // Assess
    expect(result).toEqual({ files: 4, directories: 3, symlinks: 1, bytes: 10 + 6 + 0 + 18 });
    expect(await readFile(join(destination, 'pkg', 'sub', `${'long'.repeat(40)}.py`), 'utf8')).toBe(
      'X = 2\n',
    );
    expect((await stat(join(destination, 'bin', 'tool'))).mode & 0o777).toBe(0o755);
    expect(await readlink(join(destination, 'bin', 'init-link'))).toBe('../pkg/__init__.py');
  });
});

describe('extractTreeTar', () => {
  const hostile: {
    name: string;
    entries: CraftedEntry[];
    limits?: Parameters<typeof extractTreeTar>[2];
    error: RegExp;
  }[] = [
    {
      name: 'a ../ path',
      entries: [{ name: '../evil.py', body: 'x' }],
      error: /"\.\.\/evil\.py" climbs out/,
    },
    { name: 'a nested ../ path', entries: [{ name: 'pkg/../../evil.py', body: 'x' }], error: /climbs out/ },
    {
      name: 'an absolute path',
      entries: [{ name: '/tmp/evil.py', body: 'x' }],
      error: /"\/tmp\/evil\.py" is an absolute path/,
    },
    { name: 'a backslash path', entries: [{ name: '..\\evil.py', body: 'x' }], error: /is an absolute path/ },
    {
      name: 'a symlink to an absolute path',
      entries: [{ name: 'etc', type: 'symlink', linkname: '/etc' }],
      error: /"etc" is a symlink to "\/etc", outside the destination/,
    },
    {
      name: 'a symlink climbing out',
      entries: [{ name: 'pkg/up', type: 'symlink', linkname: '../../..' }],
      error: /symlink to "\.\.\/\.\.\/\.\.", outside/,
    },
    {
      name: 'a file written through an earlier symlink',
      entries: [
        { name: 'inner', type: 'directory' },
        { name: 'alias', type: 'symlink', linkname: 'inner' },
        { name: 'alias/evil.py', body: 'x' },
      ],
      error: /"alias\/evil\.py" would be written through a symlink/,
    },
    {
      name: 'a hard link',
      entries: [
        { name: 'a.py', body: 'x' },
        { name: 'b.py', type: 'link', linkname: 'a.py' },
      ],
      error: /"b\.py" is a hard link/,
    },
    {
      name: 'a character device',
      entries: [{ name: 'zero', type: 'character-device', devmajor: 1, devminor: 5 }],
      error: /is a character-device/,
    },
    {
      name: 'a block device',
      entries: [{ name: 'disk', type: 'block-device', devmajor: 8, devminor: 0 }],
      error: /is a block-device/,
    },
    { name: 'a fifo', entries: [{ name: 'pipe', type: 'fifo' }], error: /is a fifo/ },
    {
      name: 'a duplicate file',
      entries: [
        { name: 'pkg/a.py', body: 'first' },
        { name: 'pkg/a.py', body: 'second' },
      ],
      error: /"pkg\/a\.py" appears twice/,
    },
    {
      name: 'a file over the per-file limit',
      entries: [{ name: 'big.bin', body: 'x'.repeat(2000) }],
      limits: { maxEntryBytes: 1000 },
      error: /"big\.bin" is 2000 bytes, over the per-file limit of 1000/,
    },
    {
      name: 'files over the total limit',
      entries: Array.from({ length: 5 }, (_, index) => ({ name: `f${index}.bin`, body: 'x'.repeat(400) })),
      limits: { maxTotalBytes: 1000 },
      error: /"f2\.bin" takes the archive over the total limit of 1000 bytes/,
    },
    {
      name: 'too many entries',
      entries: Array.from({ length: 6 }, (_, index) => ({ name: `f${index}.py`, body: '' })),
      limits: { maxEntries: 5 },
      error: /"f5\.py" is past the limit of 5 entries/,
    },
  ];

  it.each(hostile)(
    'refuses $name, naming the entry, and writes nothing outside the destination',
    async ({ entries, limits, error }) => {
      // Prepare
      const archive = join(workDir, `hostile-${Math.random().toString(36).slice(2)}.tar`);
      await writeFile(archive, await craftTar(entries));
      const root = await mkdtemp(join(workDir, 'jail-'));
      const destination = join(root, 'dest');

      // Act
      const extracting = extractTreeTar(archive, destination, limits);

      // Assess
      await expect(extracting).rejects.toThrow(UnsafeArchiveError);
      await expect(extractTreeTar(archive, join(root, 'again'), limits)).rejects.toThrow(error);
      expect((await readdir(root)).sort()).toEqual(['again', 'dest']);
      expect(existsSync(join(workDir, 'evil.py'))).toBe(false);
    },
  );

  it('refuses a truncated gzip archive and a file that is not an archive', async () => {
    // Prepare
    const whole = gzipSync(await craftTar([{ name: 'pkg/a.py', body: 'x'.repeat(5000) }]));
    const truncated = join(workDir, 'truncated.tar.gz');
    await writeFile(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
    const garbage = join(workDir, 'garbage.tar');
    await writeFile(garbage, 'this is not a tar archive at all, just text '.repeat(40));

    // Act
    const fromTruncated = await extractTreeTar(truncated, join(workDir, 'truncated-out')).catch(
      (error: unknown) => error,
    );
    const fromGarbage = await extractTreeTar(garbage, join(workDir, 'garbage-out')).catch(
      (error: unknown) => error,
    );

    // Assess
    expect(fromTruncated).toBeInstanceOf(UnsafeArchiveError);
    expect(String(fromTruncated)).toMatch(/truncated\.tar\.gz is not a readable tar archive/);
    expect(fromGarbage).toBeInstanceOf(UnsafeArchiveError);
    recordReliability({
      area: 'tree archives',
      experiment:
        'hostile or broken tar archives extracted (traversal, links, devices, duplicates, bombs, truncation)',
      cases: hostile.length + 2,
      faultsInjected: 0,
      runs: hostile.length * 2 + 2,
      lost: 'nothing',
    });
  });
});
