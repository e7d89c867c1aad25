// The hostile requirements-file corpus (issue 6): every case must stop with an InputError
// that points at the right file, line and column and gives a hint, and reading must write
// nothing anywhere. Small cases live as files in bad-requirements/ (table: cases.json);
// binary and huge ones are built here into a temp folder.
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../functions/core/shared/errors.ts';
import { readRequirementsFile } from '../../../functions/core/inputs/requirements-file.ts';
import { recordReliability } from '../../support/reliability-log.ts';

interface CorpusCase {
  readonly file: string;
  /** Substring the error message must contain. */
  readonly error: string;
  readonly line: number;
  readonly column?: number;
  /** The file the error must point at, when it is an included one (relative to the corpus). */
  readonly errorFile?: string;
  readonly allowedIndexes?: string[];
  readonly environment?: Record<string, string>;
}

const CORPUS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'bad-requirements');
const FILE_CASES = JSON.parse(readFileSync(join(CORPUS_DIR, 'cases.json'), 'utf8')) as CorpusCase[];

/** Cases whose content cannot sit in the repository as a small text file. */
const BUILT_CASES: readonly (CorpusCase & { content: () => Buffer | null })[] = [
  {
    file: 'huge.txt',
    content: () => Buffer.from('requests==2.31.0 # padding padding padding\n'.repeat(25_000)),
    error: 'more than the 1048576 bytes',
    line: 1,
    column: 1,
  },
  {
    file: 'too-many-lines.txt',
    content: () => Buffer.from('\n'.repeat(10_000) + 'requests\n'),
    error: 'more than the 10000 allowed',
    line: 10_001,
  },
  {
    file: 'invalid-utf8.txt',
    content: () =>
      Buffer.concat([Buffer.from('requests==2.31.0\nboto'), Buffer.from([0xff]), Buffer.from('3\n')]),
    error: 'is not valid UTF-8: byte 21',
    line: 2,
    column: 5,
  },
  {
    file: 'overlong-utf8.txt',
    content: () =>
      Buffer.concat([Buffer.from('six\nrequests'), Buffer.from([0xc0, 0xaf]), Buffer.from('\n')]),
    error: 'is not valid UTF-8: byte 12',
    line: 2,
    column: 9,
  },
  {
    file: 'utf16.txt',
    content: () => Buffer.from('\ufeffrequests\n', 'utf16le'),
    error: 'is not valid UTF-8: byte 0',
    line: 1,
    column: 1,
  },
  {
    file: 'nul-byte.txt',
    content: () => Buffer.from('requests\u0000==2.31.0\n'),
    error: 'Expected end or semicolon',
    line: 1,
    column: 9,
  },
  {
    file: 'variable-bomb.txt',
    content: () =>
      Buffer.from(
        `# 21 variables of 100 kB: past 1 MiB at the 11th\nsix==1.0 --hash=sha256:${'${PAD}'.repeat(21)}\n`,
      ),
    environment: { PAD: 'f'.repeat(100_000) },
    error: 'makes this line longer than 1048576 characters',
    line: 2,
    column: 84,
  },
  {
    file: 'missing-top-file.txt',
    content: () => null,
    error: 'Could not open requirements file',
    line: 1,
    column: 1,
  },
];

function listTree(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .map((entry) => {
      const info = statSync(join(root, entry));
      return `${entry} ${info.size} ${info.mtimeMs}`;
    })
    .sort();
}

describe('readRequirementsFile on hostile input', () => {
  let workDir: string;
  let corpusBefore: string[];
  let workBefore: string[];
  const outcomes: { file: string; ok: boolean }[] = [];

  beforeAll(() => {
    corpusBefore = listTree(CORPUS_DIR);
    workDir = mkdtempSync(join(tmpdir(), 'lambda-deps-bad-requirements-'));
    cpSync(CORPUS_DIR, workDir, { recursive: true });
    for (const entry of BUILT_CASES) {
      const content = entry.content();
      if (content) writeFileSync(join(workDir, entry.file), content);
    }
    workBefore = listTree(workDir);
  });

  afterAll(() => {
    rmSync(workDir, { recursive: true, force: true });
  });

  it('has at least 60 cases, each file in the table present in the corpus', () => {
    // Assess
    expect(FILE_CASES.length + BUILT_CASES.length).toBeGreaterThanOrEqual(60);
    for (const entry of FILE_CASES) expect(statSync(join(CORPUS_DIR, entry.file)).isFile()).toBe(true);
  });

  it.each([...FILE_CASES, ...BUILT_CASES].map((entry) => [entry.file, entry] as const))(
    'refuses %s with an InputError at the right place and a hint',
    async (_name, entry) => {
      // Prepare
      const path = join(workDir, entry.file);

      // Act
      const error = await readRequirementsFile(path, {
        environment: entry.environment ?? {},
        allowedIndexes: entry.allowedIndexes ?? null,
      }).then(
        () => null,
        (caught: unknown) => caught,
      );

      // Assess
      outcomes.push({ file: entry.file, ok: error instanceof InputError });
      expect(error).toBeInstanceOf(InputError);
      const inputError = error as InputError;
      expect(inputError.exitCode).toBe(2);
      expect(inputError.message).toContain(entry.error);
      expect(inputError.hint?.length ?? 0).toBeGreaterThan(10);
      expect(inputError.location).not.toBeNull();
      expect(relative(workDir, inputError.location?.file ?? '')).toBe(entry.errorFile ?? entry.file);
      expect(inputError.location?.line).toBe(entry.line);
      if (entry.column !== undefined) expect(inputError.location?.column).toBe(entry.column);
    },
  );

  it('wrote nothing, in the corpus or in the work folder, and records the experiment', () => {
    // Act
    const corpusAfter = listTree(CORPUS_DIR);
    const workAfter = listTree(workDir);

    // Assess
    expect(corpusAfter).toEqual(corpusBefore);
    expect(workAfter).toEqual(workBefore);
    const cases = FILE_CASES.length + BUILT_CASES.length;
    expect(outcomes.filter((outcome) => outcome.ok)).toHaveLength(cases);
    recordReliability({
      area: 'requirements input',
      experiment: 'hostile requirements files',
      cases,
      faultsInjected: 0,
      runs: cases,
      lost: 'nothing',
    });
  });
});
