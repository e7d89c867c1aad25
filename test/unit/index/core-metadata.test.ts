import { describe, expect, it } from 'vitest';
import { parseCoreMetadata } from '../../../functions/core/index/core-metadata.ts';
import { IntegrityError } from '../../../functions/core/shared/errors.ts';

describe('parseCoreMetadata', () => {
  it('reads repeated and folded headers and ignores the body', () => {
    // Prepare
    const text = [
      'Metadata-Version: 2.1',
      'Name: Requests',
      'Version: 2.28.1',
      'Summary: Python HTTP for Humans.',
      'Requires-Python: >=3.7, <4',
      'Provides-Extra: socks',
      'Provides-Extra: use_chardet_on_py3',
      'Requires-Dist: charset-normalizer (<3,>=2)',
      'Requires-Dist: idna<4,>=2.5',
      'Requires-Dist: PySocks!=1.5.7,>=1.5.6;',
      '  extra == "socks"',
      'Description-Content-Type: text/markdown',
      '',
      'Requires-Dist: not-a-header-but-body-text',
      '# Requests',
    ].join('\r\n');

    // Act
    const metadata = parseCoreMetadata(text, 'requests-2.28.1-py3-none-any.whl');

    // Assess
    expect(metadata).toEqual({
      name: 'Requests',
      version: '2.28.1',
      requiresDist: [
        'charset-normalizer (<3,>=2)',
        'idna<4,>=2.5',
        'PySocks!=1.5.7,>=1.5.6; extra == "socks"',
      ],
      requiresPython: '>=3.7, <4',
      providesExtra: ['socks', 'use_chardet_on_py3'],
    });
  });

  it('keeps reading headers after a folded value with whitespace-only lines, as numpy 1.26 has', () => {
    // Prepare
    const text =
      'Name: numpy\nVersion: 1.26.4\nLicense: Copyright.\n        All rights reserved.\n        \n        More text.\nRequires-Python: >=3.9\n\nbody';

    // Act
    const metadata = parseCoreMetadata(text, 'numpy-1.26.4.whl');

    // Assess
    expect(metadata.requiresPython).toBe('>=3.9');
  });

  it('treats header names case-insensitively and an empty Requires-Python as none', () => {
    // Prepare
    const text = 'name: six\nVERSION: 1.16.0\nrequires-python:\n';

    // Act
    const metadata = parseCoreMetadata(text, 'six.metadata');

    // Assess
    expect(metadata).toEqual({
      name: 'six',
      version: '1.16.0',
      requiresDist: [],
      requiresPython: null,
      providesExtra: [],
    });
  });

  it.each([
    { text: 'Version: 1.0\n', missing: 'Name' },
    { text: 'Name: x\n\nVersion: 1.0\n', missing: 'Version' },
    { text: '', missing: 'Name or Version' },
  ])('refuses metadata with no $missing header, naming the origin', ({ text, missing }) => {
    // Act
    const act = (): unknown =>
      parseCoreMetadata(text, 'https://index.example/x-1.0-py3-none-any.whl.metadata');

    // Assess
    expect(act).toThrow(IntegrityError);
    expect(act).toThrow(
      `https://index.example/x-1.0-py3-none-any.whl.metadata: the core metadata has no ${missing} header.`,
    );
  });
});
