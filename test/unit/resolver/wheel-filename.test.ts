import { describe, expect, it } from 'vitest';
import { InputError } from '../../../functions/core/shared/errors.ts';
import { isWheelFilename, parseWheelFilename } from '../../../functions/core/index/wheel-filename.ts';

describe('parseWheelFilename', () => {
  it('expands compressed tag sets into every tag', () => {
    // Act
    const wheel = parseWheelFilename(
      'numpy-2.2.6-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
    );

    // Assess
    expect(wheel).toEqual({
      name: 'numpy',
      version: '2.2.6',
      build: null,
      tags: ['cp311-cp311-manylinux_2_17_x86_64', 'cp311-cp311-manylinux2014_x86_64'],
    });
  });

  it('normalizes the name and reads a build tag', () => {
    // Act
    const wheel = parseWheelFilename('cmeel_octomap-1.10.0-5-py2.py3-none-manylinux_2_28_x86_64.whl');

    // Assess
    expect(wheel).toEqual({
      name: 'cmeel-octomap',
      version: '1.10.0',
      build: '5',
      tags: ['py2-none-manylinux_2_28_x86_64', 'py3-none-manylinux_2_28_x86_64'],
    });
  });

  it.each([
    ['six-1.16.0.tar.gz', 'does not end in .whl'],
    ['six-1.16.0-py3-any.whl', 'has 4 dash-separated parts'],
    ['six-1.16.0-x1-py3-none-any.whl', 'build tag "x1" does not start with a digit'],
    ['six-1.16.0-py3..-none-any.whl', 'a tag is empty'],
  ])('rejects %s', (filename, reason) => {
    // Act
    const attempt = (): unknown => parseWheelFilename(filename);

    // Assess
    expect(attempt).toThrow(InputError);
    expect(attempt).toThrow(reason);
    expect(isWheelFilename(filename)).toBe(false);
  });
});
