// The pip oracle: for requirement sets drawn from this machine's on-disk indexes, the set of
// (name, version, filename) lambda-deps resolves for a Lambda target must be exactly what
// `pip install --dry-run --report` picks for the same platform tags, Python and indexes; where
// pip cannot satisfy a set, lambda-deps must fail too and name the package. Also checks that the
// predicted unzipped sizes equal the sum of the wheels' entry sizes as Python's zipfile reads them.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResolutionError } from '../../../functions/core/shared/errors.ts';
import { createPackageIndex, type ClosablePackageIndex } from '../../../functions/core/index/index-client.ts';
import { canonicalizeName } from '../../../functions/core/shared/names.ts';
import { parseRequirement } from '../../../functions/core/inputs/pep508.ts';
import { resolveDependencySet } from '../../../functions/core/resolve/resolver.ts';
import { lambdaTarget, manylinuxPlatforms } from '../../../functions/core/shared/targets.ts';
import type { Lock, Target } from '../../../functions/core/shared/types.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';

const execFileAsync = promisify(execFile);
const indexes = localIndexes();

interface OracleSet {
  readonly title: string;
  readonly runtime: 'python3.11' | 'python3.12';
  readonly lines: readonly string[];
  /** The set pip cannot satisfy: the package both tools must name. */
  readonly unsatisfiable?: string;
}

// Drawn from what the on-disk indexes hold (cp311 x86_64 wheels and pure-Python wheels).
const SETS: readonly OracleSet[] = [
  {
    title: 'transformers (re-pins huggingface-hub 2.0.0 → 1.33.0 once tokenizers asks for <2)',
    runtime: 'python3.11',
    lines: ['transformers'],
  },
  {
    title: 'scikit-learn (1.9.1 needs glibc 2.27: falls back to 1.6.1)',
    runtime: 'python3.11',
    lines: ['scikit-learn'],
  },
  {
    title: 'scipy with numpy<1.25 (newest scipy rejected, older one chosen)',
    runtime: 'python3.11',
    lines: ['scipy', 'numpy<1.25'],
  },
  { title: 'requests[socks] and boto3 (extras)', runtime: 'python3.11', lines: ['requests[socks]', 'boto3'] },
  {
    title: 'bcrypt, pillow and pydantic[email] (several files per version, extras)',
    runtime: 'python3.11',
    lines: ['bcrypt', 'pillow', 'pydantic[email]'],
  },
  {
    title: 'pandas and a marker on the requirement (markers in metadata and in the file)',
    runtime: 'python3.11',
    lines: ['pandas', 'tomli; python_version < "3.12"'],
  },
  {
    title: 'cryptography (only a manylinux_2_34 wheel: unsatisfiable on AL2)',
    runtime: 'python3.11',
    lines: ['cryptography'],
    unsatisfiable: 'cryptography',
  },
  {
    title: 'rich, httpx[cli,http2] and a marker that drops tomli (extras re-pin rich 15 → 13.9.4)',
    runtime: 'python3.12',
    lines: ['rich', 'httpx[cli,http2]', 'tomli; python_version < "3.12"'],
  },
  {
    title: 'requests[socks] (charset-normalizer has only cp311 wheels: unsatisfiable on 3.12)',
    runtime: 'python3.12',
    lines: ['requests[socks]'],
    unsatisfiable: 'charset-normalizer',
  },
  { title: 'boto3, httpx and click', runtime: 'python3.12', lines: ['boto3', 'httpx', 'click'] },
  { title: 'bcrypt (the manylinux_2_34 file wins on AL2023)', runtime: 'python3.12', lines: ['bcrypt'] },
  {
    title: 'cffi (only cp311 wheels: unsatisfiable on 3.12)',
    runtime: 'python3.12',
    lines: ['cffi'],
    unsatisfiable: 'cffi',
  },
];

type Picked = string[];

/** The interpreter for a target's Python: pip evaluates markers for the interpreter it runs in (pypa/pip#10050). */
async function interpreterFor(
  pythonVersion: string,
): Promise<{ command: string; env: Record<string, string> } | null> {
  const probe = async (env: Record<string, string>): Promise<boolean> =>
    execFileAsync(`python${pythonVersion}`, ['-m', 'pip', '--version'], {
      env: { ...process.env, ...env },
    }).then(
      () => true,
      () => false,
    );
  if (await probe({})) return { command: `python${pythonVersion}`, env: {} };
  // pyenv shims refuse versions that are installed but not selected; select one explicitly.
  const installed = await execFileAsync('pyenv', ['versions', '--bare']).then(
    ({ stdout }) => stdout.split('\n').map((line) => line.trim()),
    () => [] as string[],
  );
  const version = installed.filter((line) => line.startsWith(`${pythonVersion}.`)).at(-1);
  if (version && (await probe({ PYENV_VERSION: version })))
    return { command: `python${pythonVersion}`, env: { PYENV_VERSION: version } };
  return null;
}

function pickedFromLock(lock: Lock): Picked {
  return lock.packages.map((entry) => `${entry.name} ${entry.version} ${entry.filename}`).sort();
}

async function pipPicks(
  set: OracleSet,
  target: Target,
  interpreter: { command: string; env: Record<string, string> },
  workDir: string,
): Promise<{ ok: true; picked: Picked } | { ok: false; stderr: string }> {
  if (!indexes) throw new Error('no indexes');
  const requirementsFile = join(
    workDir,
    `${set.runtime}-${set.lines.join('_').replace(/[^a-z0-9]+/gi, '-')}.txt`,
  );
  const report = `${requirementsFile}.report.json`;
  await writeFile(requirementsFile, `${set.lines.join('\n')}\n`);
  const [first, ...extra] = indexes.indexUrls;
  const indexArguments = [
    ...(first ? ['--index-url', first] : ['--no-index']),
    ...extra.flatMap((url) => ['--extra-index-url', url]),
    ...indexes.findLinks.flatMap((location) => ['--find-links', location]),
  ];
  const argv = [
    '-m',
    'pip',
    'install',
    '--dry-run',
    '--report',
    report,
    '--ignore-installed',
    '--quiet',
    '--target',
    join(workDir, 'target'),
    ...manylinuxPlatforms(target).flatMap((platform) => ['--platform', platform]),
    '--python-version',
    target.pythonVersion,
    '--implementation',
    'cp',
    '--only-binary=:all:',
    ...indexArguments,
    '-r',
    requirementsFile,
  ];
  // pip's configuration (and its global constraint file, which caps torch) is switched off
  // with PIP_CONFIG_FILE=/dev/null; lambda-deps gets the same indexes and no constraints, so
  // both tools see exactly the same inputs. PIP_* variables would bypass /dev/null: drop them.
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    PIP_CONFIG_FILE: '/dev/null',
    ...interpreter.env,
  };
  for (const key of ['PYENV_ROOT', 'PYENV_SHELL'])
    if (process.env[key]) env[key] = process.env[key] as string;
  try {
    await execFileAsync(interpreter.command, argv, { env, maxBuffer: 32 * 1024 * 1024 });
  } catch (error) {
    return { ok: false, stderr: String((error as { stderr?: string }).stderr ?? error) };
  }
  const parsed = JSON.parse(await readFile(report, 'utf8')) as {
    install: { metadata: { name: string; version: string }; download_info: { url: string } }[];
  };
  return {
    ok: true,
    picked: parsed.install
      .map((item) => {
        const filename = decodeURIComponent(item.download_info.url.split('/').at(-1) ?? '');
        return `${canonicalizeName(item.metadata.name)} ${item.metadata.version} ${filename}`;
      })
      .sort(),
  };
}

describe('resolveDependencySet against pip (the oracle)', () => {
  let workDir = '';
  let cacheDir = '';
  let index: ClosablePackageIndex | null = null;
  const interpreters = new Map<string, { command: string; env: Record<string, string> } | null>();
  const outcomes = new Map<OracleSet, { pip: Awaited<ReturnType<typeof pipPicks>>; ours: Lock | unknown }>();

  beforeAll(async () => {
    if (!indexes) return;
    workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-oracle-'));
    cacheDir = join(workDir, 'cache');
    const [first, ...extra] = indexes.indexUrls;
    index = createPackageIndex({
      indexUrl: first ?? null,
      extraIndexUrls: extra,
      findLinks: indexes.findLinks,
      pre: false,
      cacheDir,
    });
    for (const version of ['3.11', '3.12']) interpreters.set(version, await interpreterFor(version));
    // pip needs seconds per set: two at a time keeps the file well under a minute on 2 cores.
    const limit = pLimit(2);
    await Promise.all(
      SETS.map((set) =>
        limit(async () => {
          const target = lambdaTarget(set.runtime, 'x86_64');
          const interpreter = interpreters.get(target.pythonVersion);
          if (!interpreter) return;
          const ours = await resolveDependencySet({
            requirements: set.lines.map((line) => parseRequirement(line)),
            constraints: [],
            target,
            index: index as ClosablePackageIndex,
          }).catch((error: unknown) => error);
          outcomes.set(set, { pip: await pipPicks(set, target, interpreter, workDir), ours });
        }),
      ),
    );
  }, 240_000);

  afterAll(async () => {
    await index?.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it.skipIf(!indexes)(
    `covers at least 8 sets on both python3.11 and python3.12${indexes ? '' : ` (skipped: ${NO_LOCAL_INDEXES_REASON})`}`,
    () => {
      // Assess
      const compared = [...outcomes.keys()];
      expect(compared.length).toBeGreaterThanOrEqual(8);
      expect(new Set(compared.map((set) => set.runtime))).toEqual(new Set(['python3.11', 'python3.12']));
    },
  );

  for (const set of SETS) {
    it.skipIf(!indexes)(
      `picks the same files as pip for ${set.runtime}: ${set.title}${indexes ? '' : ` (skipped: ${NO_LOCAL_INDEXES_REASON})`}`,
      () => {
        // Prepare
        const outcome = outcomes.get(set);
        if (!outcome) {
          // Only a missing interpreter leaves a set without an outcome.
          expect(interpreters.get(lambdaTarget(set.runtime, 'x86_64').pythonVersion)).toBeNull();
          return;
        }

        // Act
        const { pip, ours } = outcome;

        // Assess
        if (set.unsatisfiable) {
          expect(pip.ok).toBe(false);
          expect(ours).toBeInstanceOf(ResolutionError);
          expect((ours as ResolutionError).problems.map((problem) => problem.package)).toContain(
            set.unsatisfiable,
          );
          const pipErrors = pip.ok ? [] : pip.stderr.split('\n').filter((line) => line.startsWith('ERROR'));
          expect(pipErrors.map((line) => canonicalizeName(line)).join('\n')).toContain(set.unsatisfiable);
          return;
        }
        if (!pip.ok) throw new Error(`pip failed where it should not: ${pip.stderr}`);
        if (!(ours && typeof ours === 'object' && 'packages' in ours)) throw ours;
        expect(pickedFromLock(ours as Lock)).toEqual(pip.picked);
      },
    );
  }

  it.skipIf(!indexes)(
    `predicts unzipped sizes equal to the sum of entry sizes Python's zipfile reads${indexes ? '' : ` (skipped: ${NO_LOCAL_INDEXES_REASON})`}`,
    async () => {
      // Prepare
      const packages = [...outcomes.values()]
        .map((outcome) => outcome.ours)
        .filter((ours): ours is Lock => Boolean(ours && typeof ours === 'object' && 'packages' in ours))
        .flatMap((lock) => lock.packages);
      const byPath = new Map(
        packages
          .filter((entry) => entry.url.startsWith('file:'))
          .map((entry) => [fileURLToPath(entry.url), entry.unzippedSize]),
      );
      const script =
        'import sys, zipfile, json\nprint(json.dumps({p: sum(i.file_size for i in zipfile.ZipFile(p).infolist()) for p in sys.argv[1:]}))';

      // Act
      const { stdout } = await execFileAsync('python3', ['-c', script, ...byPath.keys()], {
        maxBuffer: 16 * 1024 * 1024,
      });
      const fromPython = JSON.parse(stdout) as Record<string, number>;

      // Assess
      expect(byPath.size).toBeGreaterThanOrEqual(20);
      expect(Object.fromEntries(byPath)).toEqual(fromPython);
    },
  );
});
