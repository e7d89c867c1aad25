import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { createStateProgress, printPipelineReport } from '../../../functions/cli/pipeline-progress.ts';
import { createStepProgress, formatTable, shouldUseColor } from '../../../functions/cli/terminal-output.ts';
import { layersRun, notProbed } from '../report/report-fixtures.ts';
import { layersDelivery, measureFailure } from '../report/real-run-manifests.ts';

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

describe('the final block of a pipeline run', () => {
  function collect(): { stream: { write(text: string): boolean }; text: () => string } {
    const chunks: string[] = [];
    return {
      stream: {
        write: (text: string) => {
          chunks.push(text);
          return true;
        },
      },
      // eslint-disable-next-line no-control-regex
      text: () => chunks.join('').replace(/\x1b\[[0-9;]*m/g, ''),
    };
  }

  it("prints a failure in the user's words: the step, the user's file and line, the fix", () => {
    // Prepare
    const { stream, text } = collect();

    // Act
    printPipelineReport(measureFailure, stream, { requirementsPath: 'app/bad.txt' });

    // Assess
    expect(text()).toContain('✗ Measure failed');
    expect(text()).toContain('app/bad.txt:2:9: Expected a version after "===" in requirement "numpy==="');
    expect(text()).toContain('fix: Write version specifiers as PEP 440 clauses');
    expect(text()).not.toContain('lambda-deps-measure-');
    expect(text()).not.toContain('Measure failed. InputError');
  });

  it('prints what the page shows: the checks with counts, the probe, the warnings and the next steps', () => {
    // Prepare
    const { stream, text } = collect();
    const manifest = notProbed(layersRun(), 'this machine runs x86_64, the target is arm64');
    const report = {
      status: 'SUCCEEDED',
      name: 'web-api',
      lockHash: manifest.lockHash,
      strategy: 'layers',
      cached: false,
      delivery: layersDelivery,
      manifest,
      reportKey: 'reports/local-1.json',
      warnings: ['https://pypi.org/simple/ was left out: its host does not resolve.'],
    };

    // Act
    printPipelineReport(report, stream);

    // Assess
    const printed = text();
    expect(printed).toContain('✓ binaries: 482 files, 4 ELF files, 131 symbol versions');
    expect(printed).toContain('✓ smoke import: 11 modules imported');
    expect(printed).toContain(
      '– probe on the runtime: not probed: this machine runs x86_64, the target is arm64',
    );
    expect(printed).toContain('! https://pypi.org/simple/ was left out');
    expect(printed).toContain('! 440 KiB of this set is what the Lambda runtime already provides');
    for (const layer of layersDelivery.layers) expect(printed).toContain(layer.layerVersionArn);
    expect(printed).toContain('/lambda-deps/web-api/layers');
    expect(printed).toContain(
      'aws lambda update-function-configuration --function-name my-function --layers',
    );
  });

  it('prints a skipped smoke import as a warning, never as ok', () => {
    const { stream, text } = collect();
    const manifest = {
      ...layersRun(),
      smokeImport: { ran: false, ok: false, reason: 'no python3.11 here', modules: 0, failures: [] },
    };
    printPipelineReport(
      { status: 'SUCCEEDED', name: 'x', lockHash: 'ab', strategy: 'layers', manifest },
      stream,
    );
    expect(text()).toContain('– smoke import: skipped: no python3.11 here');
    expect(text()).toContain('! The smoke import was skipped: no python3.11 here.');
  });
});

describe('state progress on a terminal', () => {
  it('shows a running state with its elapsed time and build phase, then its final line', async () => {
    // Prepare
    const stream = Object.assign(fakeStream(true), {});
    const progress = createStateProgress(stream, { tickMs: 5 });

    // Act
    progress('Build', 'running', 0);
    progress.buildLine('[build] running: node bin/lambda-deps build lock.json --out out');
    await new Promise((resolve) => setTimeout(resolve, 30));
    progress('Build', 'succeeded', 12_300);
    progress.stop();

    // Assess
    // eslint-disable-next-line no-control-regex
    const plain = stream.written.replace(/\x1b\[[0-9;]*[mK]/g, '');
    expect(plain).toMatch(/… Build \d+ ms · build phase/);
    expect(plain).toContain('✓ Build 12.3 s');
  });

  it('writes only final lines when the output is not a terminal', () => {
    const stream = fakeStream(false);
    const progress = createStateProgress(stream, { tickMs: 5 });
    progress('Build', 'running', 0);
    progress('Build', 'succeeded', 1200);
    // eslint-disable-next-line no-control-regex
    expect(stream.written.replace(/\x1b\[[0-9;]*m/g, '')).toBe('✓ Build 1.2 s\n');
  });
});

describe('colors follow the stream the lines are written to', () => {
  // picocolors' own switch looks at the process's stdout and environment once; a state line
  // written to a piped stderr while stdout is a terminal (or the other way round) must not
  // carry escape codes into a log file, and a terminal must get them.
  it('colors the state lines and the failure block on a terminal and never on a pipe', () => {
    // Prepare
    vi.stubEnv('FORCE_COLOR', undefined);
    vi.stubEnv('NO_COLOR', undefined);
    const terminal = fakeStream(true);
    const pipe = fakeStream(false);

    // Act
    for (const stream of [terminal, pipe]) {
      createStateProgress(stream)('Measure', 'failed', 56);
      printPipelineReport(measureFailure, stream);
    }
    vi.unstubAllEnvs();

    // Assess
    expect(terminal.written).toContain('\x1b[31m✗');
    expect(pipe.written).not.toContain('\x1b[');
    expect(pipe.written).toContain('✗ Measure 56 ms\n');
  });

  it('leaves color out when NO_COLOR is set, even on a terminal', () => {
    vi.stubEnv('NO_COLOR', '1');
    const terminal = fakeStream(true);
    createStateProgress(terminal)('Measure', 'succeeded', 5);
    vi.unstubAllEnvs();
    expect(terminal.written).toBe('✓ Measure 5 ms\n');
  });
});
