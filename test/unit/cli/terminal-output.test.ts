import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createStepProgress, formatTable, shouldUseColor } from '../../../functions/cli/terminal-output.ts';

function fakeStream(isTTY: boolean): NodeJS.WriteStream & { written: string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  }) as unknown as NodeJS.WriteStream & { written: string };
  Object.defineProperty(stream, 'isTTY', { value: isTTY });
  Object.defineProperty(stream, 'written', { get: () => chunks.join('') });
  return stream;
}

describe('formatTable', () => {
  it('aligns columns, right-aligns numbers and ignores color codes when measuring widths', () => {
    // Act
    const text = formatTable(
      [{ header: 'package' }, { header: 'unzipped', align: 'right' }],
      [
        ['numpy', '58.6 MB'],
        ['\x1b[1msix\x1b[22m', '36 kB'],
      ],
      [['2 packages', '58.6 MB']],
    );

    // Assess
    expect(text.split('\n')).toEqual([
      'package     unzipped',
      '──────────  ────────',
      'numpy        58.6 MB',
      '\x1b[1msix\x1b[22m            36 kB',
      '──────────  ────────',
      '2 packages   58.6 MB',
      '',
    ]);
  });
});

describe('shouldUseColor', () => {
  it('follows NO_COLOR, --no-color, FORCE_COLOR and whether the stream is a terminal', () => {
    // Act
    const outcomes = [
      shouldUseColor(fakeStream(true), { environment: {} }),
      shouldUseColor(fakeStream(true), { environment: { NO_COLOR: '1' } }),
      shouldUseColor(fakeStream(true), { environment: {}, color: false }),
      shouldUseColor(fakeStream(false), { environment: {} }),
      shouldUseColor(fakeStream(false), { environment: { FORCE_COLOR: '1' } }),
    ];

    // Assess
    expect(outcomes).toEqual([true, false, false, false, true]);
  });
});

describe('createStepProgress', () => {
  it('writes steps on a terminal and nothing when quiet or piped', () => {
    // Prepare
    const terminal = fakeStream(true);
    const piped = fakeStream(false);
    const quiet = fakeStream(true);

    // Act
    for (const [stream, options] of [
      [terminal, {}],
      [piped, {}],
      [quiet, { quiet: true }],
    ] as const) {
      const progress = createStepProgress({ ...options, stream, color: false });
      progress.step('resolving');
      progress.update('resolving: numpy 2.2.6');
      progress.done('resolved 3 packages');
    }

    // Assess
    expect(terminal.written).toContain('✔ resolved 3 packages');
    expect(piped.written).toBe('');
    expect(quiet.written).toBe('');
  });
});
