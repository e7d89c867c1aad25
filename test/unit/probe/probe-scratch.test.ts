// Where the local probe unpacks what it imports: RAM when there is room for it, so that an
// image's thousands of files are not written to a disk only to be imported once; the disk for
// an image whose size nobody said, or one bigger than the RAM folder's free space.
import { statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { probeScratchRoot } from '../../../functions/adapters/local/local-probe-runner.ts';

const ramFree = await statfs('/dev/shm').then(
  (info) => info.bavail * info.bsize,
  () => 0,
);
const MIB = 1024 * 1024;

describe('probeScratchRoot', () => {
  it.skipIf(ramFree < 64 * MIB)('unpacks an image in RAM when it has room for twice its size', async () => {
    expect(await probeScratchRoot({ kind: 'image', layoutPrefix: 'a/image/', unpackedBytes: 10 * MIB })).toBe(
      '/dev/shm',
    );
  });

  it('unpacks an image of unknown size on disk', async () => {
    expect(await probeScratchRoot({ kind: 'image', layoutPrefix: 'a/image/' })).toBe(tmpdir());
  });

  it('unpacks an image bigger than the free RAM on disk', async () => {
    expect(await probeScratchRoot({ kind: 'image', layoutPrefix: 'a/image/', unpackedBytes: ramFree })).toBe(
      tmpdir(),
    );
  });

  it('leaves an EFS version beside the other temporary files', async () => {
    const efs = {
      kind: 'efs',
      mountRoot: '/tmp/m',
      mountPath: '/mnt/deps',
      pythonPath: '/mnt/deps/x',
    } as const;
    expect(await probeScratchRoot(efs)).toBe(tmpdir());
  });
});
