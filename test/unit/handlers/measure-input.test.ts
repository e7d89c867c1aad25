import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHandler } from '../../../functions/measure/handler.ts';
import { consoleInputSchema } from '../../../functions/measure/input-schema.ts';
import { silentLogger } from '../../../functions/middleware/step-handler.ts';
import { recordReliability } from '../../support/reliability-log.ts';
import { createLocalFixture, type LocalFixture } from './handler-fixtures.ts';

const GOOD = { requirements: { bucket: 'lambda-deps-local', key: 'requirements/web.txt' } };

/** Console inputs that must be refused, each with the field the error must name. */
const BAD_INPUTS: readonly { case: string; input: unknown; field: RegExp }[] = [
  { case: 'no requirements', input: {}, field: /input\.requirements/ },
  { case: 'requirements as a string', input: { requirements: 'requests' }, field: /input\.requirements/ },
  {
    case: 'a key without a bucket',
    input: { requirements: { key: 'requirements/a.txt' } },
    field: /input\.requirements/,
  },
  { case: 'empty inline text', input: { requirements: { inline: '' } }, field: /input\.requirements/ },
  {
    case: 'both inline and a key',
    input: { requirements: { inline: 'a', bucket: 'bbb', key: 'k' } },
    field: /input\.requirements/,
  },
  {
    case: 'an unknown runtime format',
    input: { ...GOOD, runtime: 'python2.7 && rm -rf /' },
    field: /input\.runtime: a Lambda Python runtime/,
  },
  { case: 'an unknown architecture', input: { ...GOOD, architecture: 'mips' }, field: /input\.architecture/ },
  { case: 'a misspelt field', input: { ...GOOD, runtim: 'python3.12' }, field: /unknown field\(s\) runtim/ },
  { case: 'a name with a path separator', input: { ...GOOD, name: '../etc' }, field: /input\.name/ },
  { case: 'a name with shell characters', input: { ...GOOD, name: 'a;reboot' }, field: /input\.name/ },
  {
    case: 'python without glibc',
    input: { ...GOOD, python: '3.11' },
    field: /input\.glibc: a custom target needs both/,
  },
  {
    case: 'runtime and a custom target',
    input: { ...GOOD, runtime: 'python3.12', python: '3.11', glibc: '2.34' },
    field: /input\.python: give either runtime/,
  },
  {
    case: 'a policy with an unknown strategy',
    input: { ...GOOD, policy: { forceStrategy: 'zip' } },
    field: /input\.policy\.forceStrategy/,
  },
  {
    case: 'a policy with an unknown field',
    input: { ...GOOD, policy: { layers: 9 } },
    field: /input\.policy: unknown field\(s\) layers/,
  },
  {
    case: 'a negative reserve',
    input: { ...GOOD, policy: { reserveBytesForFunctionCode: -1 } },
    field: /input\.policy\.reserveBytesForFunctionCode/,
  },
  { case: 'input that is not an object', input: 42, field: /input/ },
];

describe('measure handler input', () => {
  let fixture: LocalFixture;
  let refused = 0;

  afterAll(() => {
    // Only inputs that were refused as expected are counted.
    recordReliability({
      area: 'state machine input',
      experiment: 'console input failing its schema is refused naming the field, nothing written',
      cases: BAD_INPUTS.length,
      faultsInjected: 0,
      runs: refused,
      lost: refused === BAD_INPUTS.length ? 'nothing' : `${BAD_INPUTS.length - refused} input(s) not refused`,
    });
  });

  beforeEach(async () => {
    fixture = await createLocalFixture();
  });
  afterEach(() => fixture.cleanup());

  it.each(BAD_INPUTS)('refuses $case with an InputError naming the field', async ({ input, field }) => {
    // Prepare
    const handler = createHandler(() => fixture.dependencies, silentLogger('test'));

    // Act
    const error = await handler({ source: 'console', input }).then(
      () => null,
      (caught: unknown) => caught as Error,
    );

    // Assess
    expect(error?.name).toBe('InputError');
    expect(error?.message).toMatch(/^Invalid input to measure: /);
    expect(error?.message).toMatch(field);
    expect(await fixture.dependencies.adapters.store.list('')).toEqual([]);
    refused += 1;
  });

  it('refuses an S3 event from another bucket before reading anything', async () => {
    // Prepare
    const handler = createHandler(() => fixture.dependencies, silentLogger('test'));
    const event = {
      source: 'aws.s3',
      detail: { bucket: { name: 'someone-elses' }, object: { key: 'requirements/a.txt' } },
    };

    // Act
    const attempt = handler({ source: 's3', input: event });

    // Assess
    await expect(attempt).rejects.toThrow(
      /names bucket "someone-elses", but this stack reads requirements from "lambda-deps-local"/,
    );
  });

  it('refuses an S3 event without an object key, naming the field', async () => {
    // Prepare
    const handler = createHandler(() => fixture.dependencies, silentLogger('test'));

    // Act
    const attempt = handler({
      source: 's3',
      input: { detail: { bucket: { name: 'lambda-deps-local' }, object: {} } },
    });

    // Assess
    await expect(attempt).rejects.toThrow(/input\.detail\.object\.key/);
  });

  it('names a missing requirements object and the store', async () => {
    // Prepare
    const handler = createHandler(() => fixture.dependencies, silentLogger('test'));

    // Act
    const attempt = handler({ source: 'console', input: GOOD });

    // Assess
    await expect(attempt).rejects.toThrow(/requirements\/web\.txt could not be read from file:\/\//);
  });

  it('refuses a project bundle holding a file that is not a lock or pyproject.toml beside it', async () => {
    // Prepare: a hand-made bundle whose extra key would be written outside the scratch folder.
    const handler = createHandler(() => fixture.dependencies, silentLogger('test'));
    const bundle = {
      format: 'lambda-deps-requirements-bundle/1',
      root: '/p/pyproject.toml',
      files: { '/p/pyproject.toml': '[project]\nname = "p"\nversion = "1"\n', '/p/../../etc/cron.d/x': 'x' },
    };
    const key = 'requirements/p/pyproject.toml.bundle.json';
    await fixture.dependencies.adapters.store.putBytes(key, JSON.stringify(bundle), 'application/json');

    // Act
    const attempt = handler({
      source: 'console',
      input: { requirements: { bucket: 'lambda-deps-local', key }, runtime: 'python3.11' },
    });

    // Assess
    await expect(attempt).rejects.toThrow(
      /holds \/p\/\.\.\/\.\.\/etc\/cron\.d\/x, which is not a lock or pyproject\.toml/,
    );
  });

  it('accepts a policy that carries what Measure resolves (extras, groups, format controls)', () => {
    // Act
    const parsed = consoleInputSchema.safeParse({
      ...GOOD,
      policy: {
        extras: ['aws'],
        groups: ['dev'],
        onlyBinary: [':all:'],
        noBinary: ['psycopg2'],
        preferBinary: true,
      },
    });

    // Assess
    expect(parsed.success).toBe(true);
  });

  it('accepts the documented console input', () => {
    // Act
    const parsed = consoleInputSchema.safeParse({
      ...GOOD,
      runtime: 'python3.11',
      architecture: 'x86_64',
      name: 'my-set',
      policy: { forceStrategy: 'efs', existingLayers: 1 },
    });

    // Assess
    expect(parsed.success).toBe(true);
  });
});
