// The running Build line on a terminal: the build's live counts (files and bytes installed,
// modules imported), as they come from the build's progress lines, drawn a few times a second
// at most; on a pipe, only the final lines.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  parseProgressLine,
  progressLineOf,
  type BuildProgressEvent,
} from '../../../functions/core/build/build-events.ts';
import { createStateProgress } from '../../../functions/cli/pipeline-progress.ts';

function fakeStream(isTTY: boolean): NodeJS.WriteStream & { readonly writes: string[] } {
  const writes: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      writes.push(String(chunk));
      done();
    },
  }) as unknown as NodeJS.WriteStream & { writes: string[] };
  Object.defineProperty(stream, 'isTTY', { value: isTTY });
  Object.defineProperty(stream, 'writes', { value: writes });
  return stream;
}

/** The text a person sees in each redraw (escape codes removed). */
function redraws(writes: readonly string[]): string[] {
  return (
    writes
      .filter((text) => text.startsWith('\r\x1b[2K') && text.length > 5)
      // eslint-disable-next-line no-control-regex
      .map((text) => text.replace(/\r|\x1b\[[0-9;]*[mK]/g, ''))
  );
}

/** An event as the local pipeline gets it: written by the build as a line, read back. */
function throughLine(event: BuildProgressEvent): BuildProgressEvent {
  const line = progressLineOf(event);
  const parsed = line ? parseProgressLine(line.trimEnd()) : null;
  if (!parsed) throw new Error(`${JSON.stringify(event)} did not survive its line`);
  return parsed;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const MiB = 1024 * 1024;

/** A build as the local build runner forwards it: the buildspec's line, then the build's events. */
async function feedBuild(stream: NodeJS.WriteStream): Promise<void> {
  const progress = createStateProgress(stream, { tickMs: 60_000 });
  progress('Build', 'running', 0);
  progress.buildLine('[build] running: node "$CODEBUILD_SRC_DIR/bin/lambda-deps" build lock.json --out out');
  const send = (event: BuildProgressEvent) => progress.buildProgress(throughLine(event));
  send({ type: 'phase', phase: 'install', status: 'start' });
  for (let file = 1; file <= 200; file++)
    send({
      type: 'progress',
      phase: 'install',
      counts: { files: 1034 + file, bytes: Math.round(56.1 * MiB), packages: 3, ofPackages: 14 },
    });
  await sleep(400);
  send({ type: 'phase', phase: 'install', status: 'done' });
  for (const phase of ['verify', 'smokeImport', 'pack'] as const)
    send({ type: 'phase', phase, status: 'start' });
  send({ type: 'progress', phase: 'smokeImport', counts: { modules: 9, ofModules: 14 } });
  progress.buildLine('[build] finally: if [ -f out/manifest.json ]; then');
  progress('Build', 'succeeded', 12_300);
  progress.stop();
}

describe('the running Build line', () => {
  it('shows the files and bytes installed and the modules imported, redrawn a few times a second at most', async () => {
    // Prepare
    const stream = fakeStream(true);

    // Act
    const started = performance.now();
    await feedBuild(stream);
    const elapsed = performance.now() - started;

    // Assess
    const drawn = redraws(stream.writes);
    const counted = drawn.filter((line) => line.includes('· install ·'));
    expect(counted[0]).toMatch(/^… Build \d+ ms · install · 1,035 files, 56\.1 MiB · 3 of 14 packages$/);
    // 200 updates within 0.4 s: the first at once, the latest once the redraw slot comes, no more.
    expect(counted.at(-1)).toMatch(/· install · 1,234 files, 56\.1 MiB · 3 of 14 packages$/);
    expect(drawn.length).toBeLessThanOrEqual(3 + elapsed / 250);
    expect(drawn.at(-1)).toMatch(/· smoke import · 9 of 14 modules$/);
    expect(stream.writes.at(-2)).toBe('\r\x1b[2K');
    // eslint-disable-next-line no-control-regex
    expect(stream.writes.at(-1)?.replace(/\x1b\[[0-9;]*m/g, '')).toBe('✓ Build 12.3 s\n');
  });

  it('writes only the final line on a pipe, with no redraw', async () => {
    // Prepare
    const stream = fakeStream(false);

    // Act
    await feedBuild(stream);

    // Assess
    expect(stream.writes.join('')).not.toContain('\r');
    // eslint-disable-next-line no-control-regex
    expect(stream.writes.join('').replace(/\x1b\[[0-9;]*m/g, '')).toBe('✓ Build 12.3 s\n');
  });

  it('goes back to the buildspec phase once the build command is over', () => {
    // Prepare
    const stream = fakeStream(true);
    const progress = createStateProgress(stream, { tickMs: 60_000 });
    progress('Build', 'running', 0);
    progress.buildLine('[build] running: node bin/lambda-deps build lock.json');
    progress.buildProgress({ type: 'progress', phase: 'install', counts: { files: 1, bytes: 12 } });

    // Act
    progress.buildLine('[post_build] running: node bin/lambda-deps store put-dir out');
    progress.buildProgress({ type: 'phase', phase: 'pack', status: 'done' });
    progress.stop();

    // Assess
    const drawn = redraws(stream.writes);
    expect(drawn[0]).toMatch(/· install · 1 file, 12 B$/);
    expect(progress.live).toBe(true);
  });
});
