// readPyprojectDependencies: PEP 621 dependencies and optional-dependency groups.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError } from '../../../functions/core/shared/errors.ts';
import { readPyprojectDependencies } from '../../../functions/core/inputs/pyproject.ts';

const PYPROJECT = `[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "my-function"
version = "1.0.0"
requires-python = ">=3.11"
dependencies = [
  "requests>=2.31",
  'boto3; python_version < "3.12"',
]

[project.optional-dependencies]
AWS_Extras = ["aws-lambda-powertools[tracer]>=2"]
test = [
  "pytest",
]
`;

describe('readPyprojectDependencies', () => {
  let dir: string;
  const write = (content: string): string => {
    const path = join(dir, 'pyproject.toml');
    writeFileSync(path, content);
    return path;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lambda-deps-pyproject-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads [project].dependencies with the line and column of each string', async () => {
    // Prepare
    const path = write(PYPROJECT);

    // Act
    const set = await readPyprojectDependencies(path, []);

    // Assess
    expect(set.requirements.map((requirement) => requirement.name)).toEqual(['requests', 'boto3']);
    expect(set.requirements[0]?.source).toEqual({ file: path, line: 10, column: 4 });
    expect(set.requirements[1]?.source).toEqual({ file: path, line: 11, column: 4 });
    expect(set.files).toEqual([path]);
    expect(set.hashCheckingMode).toBe(false);
  });

  it('adds the optional-dependency groups asked for, matching names normalized', async () => {
    // Prepare
    const path = write(PYPROJECT);

    // Act
    const set = await readPyprojectDependencies(path, ['aws-extras', 'test']);

    // Assess
    expect(set.requirements.map((requirement) => requirement.name)).toEqual([
      'requests',
      'boto3',
      'aws-lambda-powertools',
      'pytest',
    ]);
    expect(set.requirements[2]?.extras).toEqual(['tracer']);
  });

  it('refuses an unknown extra, listing the known ones', async () => {
    // Prepare
    const path = write(PYPROJECT);

    // Act
    const error = await readPyprojectDependencies(path, ['docs']).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toContain('"docs"');
    expect((error as InputError).hint).toBe('Known groups: AWS_Extras, test.');
    expect((error as InputError).location?.line).toBe(14);
  });

  it('reports TOML syntax errors with line and column', async () => {
    // Prepare
    const path = write('[project]\nname = "x"\ndependencies = ["requests",\n  oops]\n');

    // Act
    const error = await readPyprojectDependencies(path, []).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).location).toMatchObject({ file: path, line: 4, column: 3 });
  });

  it('reports a bad dependency string at its place in the file', async () => {
    // Prepare
    const path = write('[project]\nname = "x"\ndependencies = [\n  "requests>=2..0",\n]\n');

    // Act
    const error = await readPyprojectDependencies(path, []).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).location).toEqual({ file: path, line: 4, column: 12 });
  });

  it.each([
    ['[tool.poetry]\nname = "x"\n', 'declares no dependencies'],
    ['[build-system]\nrequires = ["hatchling"]\n', 'no [project] table'],
    ['[project]\ndependencies = "requests"\n', 'must be an array of strings'],
    ['[project]\ndependencies = [1, 2]\n', 'must be an array of strings'],
    ['[project]\noptional-dependencies = ["x"]\n', 'is not a table'],
  ])('refuses %j', async (content, message) => {
    // Prepare
    const path = write(content);

    // Act
    const error = await readPyprojectDependencies(path, []).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toContain(message);
    expect((error as InputError).hint).toBeTruthy();
  });

  it('refuses a direct reference that is not a wheel, at its line', async () => {
    // Prepare
    const path = write(
      '[project]\nname = "x"\ndependencies = [\n  "pkg @ https://example.org/pkg-1.0.tar.gz",\n]\n',
    );

    // Act
    const error = await readPyprojectDependencies(path, []).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toContain('is not a wheel');
    expect((error as InputError).location?.line).toBe(4);
  });

  it('refuses a direct reference outside the allowed indexes', async () => {
    // Prepare
    const path = write(
      '[project]\nname = "x"\ndependencies = ["pkg @ https://evil.example/pkg-1.0-py3-none-any.whl"]\n',
    );

    // Act
    const error = await readPyprojectDependencies(path, [], {
      allowedIndexes: ['https://pypi.org/simple/'],
    }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toContain('not in the allowed index list');
  });

  it('refuses a missing file with a hint', async () => {
    // Act
    const error = await readPyprojectDependencies(join(dir, 'nope.toml'), []).catch(
      (caught: unknown) => caught,
    );

    // Assess
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toContain('ENOENT');
  });
});
