// The CLI on each Node.js line the README lists as supported: 22 and 24 (the Lambda steps run on
// nodejs22.x), besides the machine's own node, which runs every other test. The other versions
// come from the npm registry's `node` package (`npx node@22`, cached by npm after the first
// run); where the registry cannot be reached the tests are skipped and say so.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../support/pip-indexes.ts';

const REPOSITORY = resolve(import.meta.dirname, '..', '..');
const BIN = join(REPOSITORY, 'bin', 'lambda-deps');
const VERSION = (JSON.parse(readFileSync(join(REPOSITORY, 'package.json'), 'utf8')) as { version: string })
  .version;
const SUPPORTED_LINES = [22, 24];
const work = mkdtempSync(join(tmpdir(), 'lambda-deps-node-versions-'));
const indexes = localIndexes();

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the supported Node.js versions', () => {
  it('are the ones the README names, and package.json engines admits each of them', () => {
    // Prepare
    const readme = readFileSync(join(REPOSITORY, 'README.md'), 'utf8');
    const engines = (
      JSON.parse(readFileSync(join(REPOSITORY, 'package.json'), 'utf8')) as {
        engines: { node: string };
      }
    ).engines.node;
    const statement = /- \*\*Node\.js\*\*: supported are ([^\n]+(?:\n {2}[^\n]+)*)/.exec(readme)?.[1] ?? '';

    // Act: the lowest version engines admits on each supported line
    const floors = engines
      .split('||')
      .map((range) => /(\d+)\.(\d+)\.\d+/.exec(range)?.slice(1, 3).map(Number));

    // Assess
    expect(statement).toContain(`\`${engines}\``);
    for (const line of SUPPORTED_LINES) {
      expect(statement).toMatch(new RegExp(`Node\\.js ${line}\\b|and ${line}:`));
      expect(floors.some((floor) => floor !== undefined && floor[0]! <= line)).toBe(true);
    }
    expect(engines).toContain('>=22.12.0');
  });
});

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * This process's environment without colours: NO_COLOR, and no FORCE_COLOR (CI sets it), since
 * Node 22 and later warn on stderr when both are set, and stderr must hold no warning.
 */
function plainEnvironment(): NodeJS.ProcessEnv {
  const { FORCE_COLOR: _forced, ...rest } = process.env;
  return { ...rest, NO_COLOR: '1' };
}

function run(
  file: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  timeout = 120_000,
): Promise<Run> {
  return new Promise((done) => {
    execFile(
      file,
      [...args],
      { cwd: work, env: { ...plainEnvironment(), ...env }, timeout, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

/** The path of a Node.js binary of this major line, from the registry's `node` package, or why not. */
async function nodeBinary(major: number): Promise<{ path: string } | { reason: string }> {
  const found = await run('npx', ['--yes', `node@${major}`, '-p', 'process.execPath'], {}, 180_000);
  const path = found.stdout.trim().split('\n').pop() ?? '';
  if (found.code !== 0 || !path) {
    return {
      reason: `npx node@${major} failed (is the npm registry reachable?): ${found.stderr.trim().slice(-200)}`,
    };
  }
  return { path };
}

const binaries = await Promise.all(
  SUPPORTED_LINES.map(async (major) => ({ major, binary: await nodeBinary(major) })),
);

function indexFlags(): string[] {
  if (!indexes) return [];
  const [first, ...extra] = indexes.indexUrls;
  return [
    ...(first ? ['--index-url', first] : ['--no-index']),
    ...extra.flatMap((url) => ['--extra-index-url', url]),
    ...indexes.findLinks.flatMap((location) => ['--find-links', location]),
  ];
}

describe.each(binaries)('the CLI on Node.js $major', ({ major, binary }) => {
  const skip = 'reason' in binary ? ` (skipped: ${binary.reason})` : '';
  const node = 'path' in binary ? binary.path : '';

  it.skipIf(skip !== '')(
    `runs on Node.js ${major}: --version and --help answer, nothing on stderr${skip}`,
    async () => {
      // Act
      const reported = await run(node, ['-p', 'process.versions.node']);
      const version = await run(node, [BIN, '--version']);
      const help = await run(node, [BIN, '--help']);

      // Assess
      expect(reported.stdout.trim().split('.')[0]).toBe(String(major));
      expect(version).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/Commands:/);
      expect(help.stderr).toBe('');
    },
  );

  const measureSkip = skip || (indexes ? '' : ` (skipped: ${NO_LOCAL_INDEXES_REASON})`);
  it.skipIf(measureSkip !== '')(
    `measures a small set on Node.js ${major}, the same JSON as everywhere${measureSkip}`,
    async () => {
      // Prepare
      const requirements = join(work, `requirements-${major}.txt`);
      writeFileSync(requirements, 'six\n');

      // Act
      const measured = await run(node, [
        BIN,
        'measure',
        requirements,
        '--runtime',
        'python3.11',
        '--arch',
        'x86_64',
        '--json',
        '--cache-dir',
        join(work, `cache-${major}`),
        ...indexFlags(),
      ]);

      // Assess
      expect(measured.stderr).not.toMatch(/Warning/);
      expect(measured.code).toBe(0);
      const document = JSON.parse(measured.stdout) as { packages?: { name: string }[] };
      expect(document.packages?.map((entry) => entry.name)).toContain('six');
    },
  );
});
