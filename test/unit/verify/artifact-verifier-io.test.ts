// verifyArtifact reads a folder's files with synchronous positioned reads (far cheaper than
// one asynchronous round trip per call); it must still hand the event loop back regularly,
// since the smoke import and the packer run beside it in the same process.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyArtifact } from '../../../functions/core/verify/artifact-verifier.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { buildElf } from './elf-builder.ts';

let work = '';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-verifier-io-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('verifyArtifact on a folder', () => {
  it('lets other callbacks run while it checks 2,000 files', async () => {
    // Prepare
    const root = join(work, 'many');
    for (let folder = 0; folder < 20; folder++) {
      await mkdir(join(root, 'python', `pkg${folder}`), { recursive: true });
      for (let file = 0; file < 100; file++) {
        const content =
          file === 0
            ? buildElf({ is64: true, little: true, machine: 62, needed: ['libc.so.6'] })
            : `x = ${file}\n`;
        await writeFile(join(root, 'python', `pkg${folder}`, `m${file}.py`), content);
      }
    }
    let turns = 0;
    let running = true;
    const tick = (): void => {
      turns++;
      if (running) setImmediate(tick);
    };

    // Act
    const verifying = verifyArtifact({ root, target: lambdaTarget('python3.12', 'x86_64') });
    setImmediate(tick);
    const result = await verifying;
    running = false;

    // Assess
    expect(result.filesChecked).toBe(2000);
    expect(result.elfFiles).toBe(20);
    expect(turns).toBeGreaterThanOrEqual(8);
  });
});
