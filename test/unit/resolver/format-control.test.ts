// pip 26's FormatControl (--only-binary, --no-binary, --prefer-binary) and the finder's order of
// wheels and sdists under it.
import { describe, expect, it } from 'vitest';
import { allowedFormats, formatControlOf } from '../../../functions/core/resolve/format-control.ts';
import { judgeFile, orderFiles } from '../../../functions/core/resolve/finder.ts';
import { lambdaTarget, pythonFullVersion } from '../../../functions/core/shared/targets.ts';
import type { DistributionFile } from '../../../functions/core/shared/types.ts';

const py311 = lambdaTarget('python3.11', 'x86_64');

function file(filename: string): DistributionFile {
  return {
    filename,
    url: `https://example.test/${filename}`,
    sha256: null,
    requiresPython: null,
    yanked: false,
    size: null,
    metadataUrl: null,
    metadataSha256: null,
    source: 'test',
  };
}

const verdicts = ['lib-1.0-py3-none-any.whl', 'lib-2.0.tar.gz', 'lib-1.0.tar.gz'].map((name) =>
  judgeFile(py311, pythonFullVersion(py311), 'lib', file(name)),
);

describe('formatControlOf and allowedFormats, as pip 26 combines them', () => {
  it('allows both formats by default', () => {
    expect([...allowedFormats(formatControlOf([]), 'lib')].sort()).toEqual(['binary', 'source']);
  });

  it('lets a named package beat :all: in either direction', () => {
    // Prepare
    const control = formatControlOf([
      { option: 'only-binary', value: ':all:' },
      { option: 'no-binary', value: 'Lib_One' },
    ]);

    // Assess
    expect([...allowedFormats(control, 'lib-one')]).toEqual(['source']);
    expect([...allowedFormats(control, 'other')]).toEqual(['binary']);
  });

  it('clears the other option when :all: comes later, and :none: clears its own', () => {
    const later = formatControlOf([
      { option: 'no-binary', value: 'lib' },
      { option: 'only-binary', value: ':all:' },
    ]);
    const none = formatControlOf([{ option: 'only-binary', value: 'lib,:none:' }]);

    expect([...allowedFormats(later, 'lib')]).toEqual(['binary']);
    expect([...allowedFormats(none, 'lib')].sort()).toEqual(['binary', 'source']);
  });
});

describe('orderFiles with sdists', () => {
  it('picks a newer sdist over an older wheel by default, as pip does', () => {
    const ordered = orderFiles(verdicts, [], [], false, {
      allowed: new Set(['binary', 'source']),
      preferBinary: false,
    });
    expect(ordered.map((verdict) => verdict.file.filename)).toEqual([
      'lib-2.0.tar.gz',
      'lib-1.0-py3-none-any.whl',
      'lib-1.0.tar.gz',
    ]);
  });

  it('puts every wheel first with --prefer-binary, and drops sdists with --only-binary', () => {
    const preferred = orderFiles(verdicts, [], [], false, {
      allowed: new Set(['binary', 'source']),
      preferBinary: true,
    });
    const binaryOnly = orderFiles(verdicts, [], [], false, {
      allowed: new Set(['binary']),
      preferBinary: false,
    });
    const sourceOnly = orderFiles(verdicts, [], [], false, {
      allowed: new Set(['source']),
      preferBinary: false,
    });
    expect(preferred[0]?.file.filename).toBe('lib-1.0-py3-none-any.whl');
    expect(binaryOnly.map((verdict) => verdict.file.filename)).toEqual(['lib-1.0-py3-none-any.whl']);
    expect(sourceOnly.map((verdict) => verdict.file.filename)).toEqual(['lib-2.0.tar.gz', 'lib-1.0.tar.gz']);
  });
});
