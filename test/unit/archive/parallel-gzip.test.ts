// The image layer's gzip is deflated block by block on every core (core/pack/parallel-gzip.ts).
// What it writes must still be one ordinary gzip member that zlib and the gzip tool read back to
// the same bytes, and the same input must give the same bytes however many blocks deflate at
// once: the layer's digest names it in the image manifest.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32, gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ParallelGzip } from '../../../functions/core/pack/parallel-gzip.ts';

const MIB = 1024 * 1024;

/** Text-like bytes that deflate well, with repeats further apart than one block. */
function compressible(bytes: number): Buffer {
  const line = Buffer.from('def handler(event, context):\n    return {"statusCode": 200}\n');
  const out = Buffer.alloc(bytes);
  for (let at = 0; at < bytes; at += line.length) line.copy(out, at, 0, Math.min(line.length, bytes - at));
  return out;
}

/** `input` gzipped through ParallelGzip, fed in chunks of `chunkBytes`. */
async function gzipInParallel(
  input: Buffer,
  options: { concurrency: number; chunkBytes: number; level?: number },
) {
  const chunks: Buffer[] = [];
  for (let at = 0; at < input.length; at += options.chunkBytes)
    chunks.push(input.subarray(at, at + options.chunkBytes));
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    new ParallelGzip({ level: options.level ?? 1, concurrency: options.concurrency }),
    async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) out.push(chunk);
    },
  );
  return Buffer.concat(out);
}

describe('ParallelGzip', () => {
  const sizes: [string, Buffer][] = [
    ['nothing', Buffer.alloc(0)],
    ['less than a block', compressible(1000)],
    ['exactly one block', compressible(MIB)],
    ['one byte past a block', compressible(MIB + 1)],
    ['several blocks of random bytes', randomBytes(3 * MIB + 12_345)],
    ['several blocks of text', compressible(5 * MIB + 7)],
  ];

  it.each(sizes)('writes one gzip member that unzips to the input: %s', async (_name, input) => {
    const gz = await gzipInParallel(input, { concurrency: 4, chunkBytes: 64 * 1024 });
    expect(gunzipSync(gz).equals(input)).toBe(true);
    // The trailer: CRC-32 and length of the whole input, as gzip -t checks them.
    expect(gz.readUInt32LE(gz.length - 4)).toBe(input.length);
    expect(gz.readUInt32LE(gz.length - 8)).toBe(crc32(input) >>> 0);
  });

  it('gives the same bytes for any concurrency and any way the input is chunked', async () => {
    const input = compressible(4 * MIB + 99);
    const once = await gzipInParallel(input, { concurrency: 1, chunkBytes: MIB });
    for (const options of [
      { concurrency: 2, chunkBytes: 4096 },
      { concurrency: 4, chunkBytes: 3 * MIB },
      { concurrency: 8, chunkBytes: 777_777 },
    ])
      expect((await gzipInParallel(input, options)).equals(once)).toBe(true);
  });

  it('loses little against zlib on text primed across blocks (within 2 %)', async () => {
    const input = compressible(4 * MIB);
    const ours = await gzipInParallel(input, { concurrency: 4, chunkBytes: MIB, level: 6 });
    expect(ours.length).toBeLessThanOrEqual(gzipSync(input, { level: 6 }).length * 1.02 + 64);
  });

  it('is read by the gzip tool as well', async () => {
    const input = randomBytes(2 * MIB + 5);
    const gz = await gzipInParallel(input, { concurrency: 3, chunkBytes: 100_000 });
    expect(execFileSync('gzip', ['-dc'], { input: gz, maxBuffer: 8 * MIB }).equals(input)).toBe(true);
  });
});
