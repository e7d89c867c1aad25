// The requirements file as hostile input, end to end: `bin/lambda-deps` as a user runs it (exit
// codes, what it prints, what it writes under --out), the pipeline's bundle with includes taken
// relative to the including file, and the Measure handler's `${VAR}` allow-list.
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { loadPipelineDefinition, runPipelineLocally } from '../../../functions/cli/local-pipeline.ts';
import { createHandler } from '../../../functions/measure/handler.ts';
import { measureOptionsFromEnvironment } from '../../../functions/measure/lambda-options.ts';
import { silentLogger } from '../../../functions/middleware/step-handler.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { createLocalFixture } from '../../unit/handlers/handler-fixtures.ts';
import { runCli, type CliRun } from '../../support/run-cli.ts';

const CANARY = 'canary-secret-5b1e0c';
const indexes = localIndexes();

const run = (args: readonly string[]): Promise<CliRun> =>
  runCli(args, { env: { LAMBDA_DEPS_TEST_CANARY: CANARY } });

/** Every file's text under a folder (what a report, an event or a store object could leak). */
async function textsUnder(folder: string): Promise<string> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
  const texts = await Promise.all(
    entries
      .filter((entry) => entry.isFile())
      .map((entry) => readFile(join(entry.parentPath, entry.name), 'utf8')),
  );
  return texts.join('\n');
}

let root = '';
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'lambda-deps-untrusted-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('bin/lambda-deps on a hostile or empty requirements file', () => {
  const cases = [
    {
      name: 'build (pipeline)',
      args: (file: string, out: string) => ['build', file, '--runtime', 'python3.11', '--out', out],
    },
    {
      name: 'build --no-pipeline',
      args: (file: string, out: string) => [
        'build',
        file,
        '--runtime',
        'python3.11',
        '--out',
        out,
        '--no-pipeline',
      ],
    },
    { name: 'measure', args: (file: string) => ['measure', file, '--runtime', 'python3.11'] },
  ];

  it.each(cases)(
    '$name refuses -r /proc/self/environ with exit 2, and no output holds the environment',
    async ({ name, args }) => {
      // Prepare
      const file = join(root, `environ-${name.replace(/\W+/g, '-')}.txt`);
      await writeFile(file, 'six\n-r /proc/self/environ\n');
      const out = join(root, `out-environ-${name.replace(/\W+/g, '-')}`);

      // Act
      const result = await run([...args(file, out), '--cache-dir', join(root, 'cache')]);

      // Assess
      expect(result.code).toBe(2);
      expect(result.output).toContain(`${file}:2:4`);
      expect(result.output).toMatch(/a view of the system/);
      expect(result.output).not.toContain(CANARY);
      expect(await textsUnder(out)).not.toContain(CANARY);
    },
  );

  it.each(cases)('$name exits 2 on an empty file, saying there is nothing to deliver', async ({ args }) => {
    // Prepare
    const file = join(root, 'empty.txt');
    await writeFile(file, '# only a comment\n');

    // Act
    const result = await run([...args(file, join(root, 'out-empty')), '--cache-dir', join(root, 'cache')]);

    // Assess
    expect(result.code).toBe(2);
    expect(result.output).toContain(`${file} names no requirements: nothing to deliver`);
  });

  it('build (pipeline) exits 2 on a bad line in an included file, naming that file and line', async () => {
    // Prepare
    await mkdir(join(root, 'bad'), { recursive: true });
    await writeFile(join(root, 'bad', 'common.txt'), 'six\nsix>=\n');
    const file = join(root, 'bad', 'requirements.txt');
    await writeFile(file, '-r common.txt\n');

    // Act
    const result = await run(['build', file, '--runtime', 'python3.11', '--out', join(root, 'out-bad')]);

    // Assess
    expect(result.code).toBe(2);
    expect(result.output).toContain(`${join(root, 'bad', 'common.txt')}:2:`);
  });
});

describe('the pipeline with includes', () => {
  beforeAll(async () => {
    if (indexes) await loadPipelineDefinition();
  }, 120_000);

  it.skipIf(!indexes)(
    `reads -r, -c and a relative --find-links beside the including file, from the bundle alone${indexes ? '' : ` (skipped: ${NO_LOCAL_INDEXES_REASON})`}`,
    async () => {
      // Prepare: app/requirements.txt includes ../common/base.txt, constrains, and finds wheels in app/wheels.
      const app = join(root, 'inc', 'app');
      await mkdir(join(app, 'wheels'), { recursive: true });
      await mkdir(join(root, 'inc', 'common'), { recursive: true });
      const sources = await sixWheel();
      await copyFile(sources.path, join(app, 'wheels', sources.filename));
      await writeFile(join(root, 'inc', 'common', 'base.txt'), 'six\n');
      await writeFile(join(app, 'constraints.txt'), `six==${sources.version}\n`);
      await writeFile(
        join(app, 'requirements.txt'),
        '--no-index\n--find-links ./wheels\n-c constraints.txt\n-r ../common/base.txt\n',
      );

      // Act
      const result = await runPipelineLocally({
        requirementsPath: join(app, 'requirements.txt'),
        runtime: 'python3.11',
        arch: 'x86_64',
        outDir: join(root, 'out-inc'),
        cacheDir: join(root, 'cache'),
      });

      // Assess
      expect(result.status).toBe('SUCCEEDED');
      const [locked] = result.manifest?.lock.packages ?? [];
      expect(locked?.version).toBe(sources.version);
      expect(locked?.url).toContain(join(app, 'wheels'));
    },
  );
});

/** six's wheel from the local index pip is configured with, via a measure of `six` there. */
async function sixWheel(): Promise<{ path: string; filename: string; version: string }> {
  const { measureRequirements } = await import('../../../functions/core/measure/measure.ts');
  const { lambdaTarget } = await import('../../../functions/core/shared/targets.ts');
  const file = join(root, 'six.txt');
  await writeFile(file, 'six\n');
  const [indexUrl, ...extraIndexUrls] = indexes?.indexUrls ?? [];
  const { lock } = await measureRequirements({
    requirementsPath: file,
    target: lambdaTarget('python3.11', 'x86_64'),
    cliIndexOptions: {
      ...(indexUrl ? { indexUrl } : {}),
      extraIndexUrls,
      findLinks: indexes?.findLinks ?? [],
    },
    cacheDir: join(root, 'cache'),
  });
  const [entry] = lock.packages;
  if (!entry?.url.startsWith('file://')) throw new Error('six is not on a file:// index here');
  return { path: new URL(entry.url).pathname, filename: entry.filename, version: entry.version };
}

describe('the Measure handler in AWS', () => {
  it('copies only the variables the stack allows from its environment', () => {
    // Act
    const options = measureOptionsFromEnvironment({
      AWS_SECRET_ACCESS_KEY: CANARY,
      INDEX_TOKEN: 'token-1',
      LAMBDA_DEPS_ALLOWED_VARIABLES: 'INDEX_TOKEN, MISSING',
    });

    // Assess
    expect(options.variables).toEqual({ INDEX_TOKEN: 'token-1', MISSING: undefined });
  });

  it('does not expand ${AWS_SECRET_ACCESS_KEY} from its environment into a URL', async () => {
    // Prepare
    const fixture = await createLocalFixture();
    onTestFinished(() => fixture.cleanup());
    process.env.AWS_SECRET_ACCESS_KEY = CANARY;
    const handler = createHandler(
      () => fixture.dependencies,
      silentLogger('test'),
      measureOptionsFromEnvironment(),
    );
    const inline = 'x @ http://127.0.0.1:9/${AWS_SECRET_ACCESS_KEY}/x-1.0-py3-none-any.whl\n';

    // Act
    const attempt = handler({ source: 'console', input: { requirements: { inline } } }).finally(() => {
      delete process.env.AWS_SECRET_ACCESS_KEY;
    });

    // Assess
    await expect(attempt).rejects.toThrow(/AWS_SECRET_ACCESS_KEY is not set/);
    await expect(attempt).rejects.toThrow(/LAMBDA_DEPS_ALLOWED_VARIABLES/);
    const error = await attempt.catch(
      (caught: Error & { hint?: string }) => `${caught.message} ${caught.hint ?? ''}`,
    );
    expect(error).not.toContain(CANARY);
  });

  it('reads a console input from a bucket the stack lists in requirementsBuckets, and refuses others', async () => {
    // Prepare
    const fixture = await createLocalFixture();
    onTestFinished(() => fixture.cleanup());
    const opened: string[] = [];
    const other = {
      ...fixture.dependencies.adapters.store,
      location: 's3://acme-requirements',
      getBytes: async (key: string) => {
        opened.push(key);
        return Buffer.from('# nothing\n');
      },
    };
    const handler = createHandler(() => fixture.dependencies, silentLogger('test'), {
      variables: {},
      requirementsBuckets: ['acme-requirements'],
      openBucket: (bucket) => (bucket === 'acme-requirements' ? other : fixture.dependencies.adapters.store),
    });
    const input = (bucket: string) => ({
      source: 'console',
      input: { requirements: { bucket, key: 'sets/web.txt' } },
    });

    // Act
    const listed = handler(input('acme-requirements'));
    const unlisted = handler(input('someone-elses'));

    // Assess: the listed bucket is read (its file is empty, so nothing is delivered).
    await expect(listed).rejects.toThrow(/sets\/web\.txt names no requirements/);
    expect(opened).toEqual(['sets/web.txt']);
    await expect(unlisted).rejects.toThrow(/names bucket "someone-elses"/);
  });
});
