import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SLIM_POLICY,
  describeSlimRules,
  isRuntimeProvided,
  NO_SLIM_POLICY,
  slimContextOf,
  slimRuleFor,
} from '../../../functions/core/build/slim-policy.ts';

describe('slimRuleFor', () => {
  const paths = [
    'numpy/__init__.py',
    'numpy/_core/tests/test_api.py',
    'numpy/testing/__init__.py',
    'numpy/testing/_private/utils.py',
    'pandas/_testing/__init__.py',
    'pandas/tests/frame/test_api.py',
    'numpy/__init__.pyi',
    'numpy/py.typed',
    'numpy/_core/include/numpy/ndarrayobject.h',
    'scipy/special/cython_special.pxd',
    'numpy/__pycache__/version.cpython-311.pyc',
    'botocore/docs/__init__.py',
    'botocore/docs/method.py',
    'somepkg/docs/index.rst',
    'somepkg/examples/demo.py',
    'numpy.libs/libscipy_openblas64_-ff651d7f.so',
    'numpy.libs/tests/x.py',
    'numpy-2.2.6.dist-info/RECORD',
    'numpy-2.2.6.dist-info/tests/x.txt',
    'tests/__init__.py',
  ];
  const context = slimContextOf(paths);

  it.each([
    ['numpy/_core/tests/test_api.py', 'test-suites'],
    ['pandas/tests/frame/test_api.py', 'test-suites'],
    ['numpy/__init__.pyi', 'type-stubs'],
    ['numpy/py.typed', 'type-stubs'],
    ['numpy/_core/include/numpy/ndarrayobject.h', 'c-sources'],
    ['scipy/special/cython_special.pxd', 'c-sources'],
    ['numpy/__pycache__/version.cpython-311.pyc', 'bytecode'],
    ['somepkg/docs/index.rst', 'docs-examples'],
    ['somepkg/examples/demo.py', 'docs-examples'],
  ])('drops %s by rule %s', (path, rule) => {
    // Act
    const matched = slimRuleFor(DEFAULT_SLIM_POLICY, path, context);

    // Assess
    expect(matched?.id).toBe(rule);
  });

  it.each([
    'numpy/__init__.py',
    'numpy/testing/__init__.py',
    'numpy/testing/_private/utils.py',
    'pandas/_testing/__init__.py',
    'botocore/docs/method.py',
    'numpy.libs/libscipy_openblas64_-ff651d7f.so',
    'numpy.libs/tests/x.py',
    'numpy-2.2.6.dist-info/RECORD',
    'numpy-2.2.6.dist-info/tests/x.txt',
    'tests/__init__.py',
  ])('keeps %s (imported at run time, protected, or not below a package)', (path) => {
    // Act
    const matched = slimRuleFor(DEFAULT_SLIM_POLICY, path, context);

    // Assess
    expect(matched).toBeNull();
  });

  it('drops nothing when slimming is off', () => {
    // Act
    const matched = paths.map((path) => slimRuleFor(NO_SLIM_POLICY, path, context));

    // Assess
    expect(matched.every((rule) => rule === null)).toBe(true);
  });
});

describe('describeSlimRules', () => {
  it('gives every rule an id and an explanation for --help', () => {
    // Act
    const lines = describeSlimRules();

    // Assess
    expect(lines.length).toBe(DEFAULT_SLIM_POLICY.rules.length + 2);
    for (const line of lines) expect(line).toMatch(/^[a-z-]+: .{20,}/);
  });
});

describe('isRuntimeProvided', () => {
  it('lists boto3 and its dependencies, not other packages', () => {
    // Act
    const provided = [
      'boto3',
      'botocore',
      's3transfer',
      'jmespath',
      'python-dateutil',
      'six',
      'urllib3',
      'requests',
      'numpy',
    ].map(isRuntimeProvided);

    // Assess
    expect(provided).toEqual([true, true, true, true, true, true, true, false, false]);
  });
});
