// The pip 26 oracle: for each requirement set, the (name, version, filename) set lambda-deps
// resolves for a Lambda target must be exactly what pip 26.2.1's `install --dry-run --report`
// picks for the same platform tags, Python (the runtime's patch level) and indexes, with markers
// evaluated for the target in both; where pip cannot satisfy a set, lambda-deps must fail too and
// both must name the package. Synthetic sets (post, dev and pre releases, backjumping, markers on
// python_full_version, conflicts) are tiny real wheels in a find-links folder; real sets come from
// this machine's on-disk indexes. Also checks predicted unzipped sizes against Python's zipfile.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
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
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import type { Lock } from '../../../functions/core/shared/types.ts';
import type { FakeRelease } from '../../support/fake-package-index.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import {
  pipDryRun,
  pipOraclePython,
  pipOracleUnavailable,
  writeWheelFolder,
  type DryRunOutcome,
} from '../../support/pip-oracle.ts';

const execFileAsync = promisify(execFile);
const indexes = localIndexes();

interface OracleSet {
  readonly title: string;
  readonly runtime: 'python3.11' | 'python3.12';
  readonly lines: readonly string[];
  /** The set pip cannot satisfy: the package both tools must name. */
  readonly unsatisfiable?: string;
  /** Synthetic projects (written as wheels into a find-links folder); absent for real sets. */
  readonly projects?: Readonly<Record<string, readonly FakeRelease[]>>;
  readonly pre?: boolean;
}

const range = (count: number): number[] => Array.from({ length: count }, (_, index) => index);

const SYNTHETIC: readonly OracleSet[] = [
  {
    title: 'post releases (pytz-like listings; crashed with "segment.join is not a function")',
    runtime: 'python3.11',
    lines: ['tz'],
    projects: { tz: [{ version: '2024.1' }, { version: '2024.1.post1' }, { version: '2025.1.post2' }] },
  },
  {
    title: '>V excludes the post releases of V, so only the dev release is left',
    runtime: 'python3.11',
    lines: ['tool'],
    projects: {
      tool: [{ version: '1.0.post2', requiresDist: ['tz>2024.1'] }, { version: '1.1.dev1' }],
      tz: [{ version: '2024.1' }, { version: '2024.1.post1' }, { version: '2025.2.dev3' }],
    },
  },
  {
    title: 'dev releases are skipped while a final release exists',
    runtime: 'python3.11',
    lines: ['lib<3'],
    projects: {
      lib: [{ version: '1.0' }, { version: '2.0.dev1' }, { version: '2.0.dev2' }, { version: '3.0' }],
    },
  },
  {
    title: 'pre-releases taken when the specifier names one',
    runtime: 'python3.11',
    lines: ['lib>=2.0b1'],
    projects: { lib: [{ version: '1.0' }, { version: '2.0b1' }, { version: '2.0rc1' }] },
  },
  {
    title: 'pre-releases everywhere with --pre',
    runtime: 'python3.11',
    lines: ['lib', 'other'],
    pre: true,
    projects: {
      lib: [{ version: '1.0' }, { version: '2.0a1' }],
      other: [{ version: '0.9' }, { version: '1.0.dev4' }],
    },
  },
  {
    title: 'a project whose only versions are pre-releases',
    runtime: 'python3.11',
    lines: ['app'],
    projects: {
      app: [{ version: '1.0', requiresDist: ['early'] }],
      early: [{ version: '0.1a1' }, { version: '0.2b3' }, { version: '0.3rc1' }],
    },
  },
  {
    title: 'only pre-releases, with a specifier (packaging 26 falls back to them)',
    runtime: 'python3.11',
    lines: ['early>=0.1'],
    projects: { early: [{ version: '0.2b3' }, { version: '0.3rc1' }] },
  },
  {
    title: 'backjumping: the newest a needs a c that b forbids',
    runtime: 'python3.11',
    lines: ['a', 'b'],
    projects: {
      a: [
        { version: '1.0', requiresDist: ['c'] },
        { version: '2.0', requiresDist: ['c>=2'] },
      ],
      b: [{ version: '1.0', requiresDist: ['c<2'] }],
      c: [{ version: '1.0' }, { version: '1.5' }, { version: '2.0' }],
    },
  },
  {
    title: 'backjumping two levels: web 3 → orm 2 → db>=2 clashes with driver',
    runtime: 'python3.11',
    lines: ['web', 'driver'],
    projects: {
      web: [
        { version: '2.0', requiresDist: ['orm<2'] },
        { version: '3.0', requiresDist: ['orm>=2'] },
      ],
      orm: [
        { version: '1.0', requiresDist: ['db'] },
        { version: '2.0', requiresDist: ['db>=2'] },
      ],
      db: [{ version: '1.0' }, { version: '2.0' }],
      driver: [{ version: '1.0', requiresDist: ['db<2'] }],
    },
  },
  {
    title: 'backjumping over an unrelated pin (resolvelib ≥ 1.1 solves it)',
    runtime: 'python3.11',
    lines: ['first', 'noise', 'second'],
    projects: {
      first: range(4).map((i) => ({ version: `${i + 1}.0`, requiresDist: [`shared==${i + 1}.0`] })),
      noise: range(3).map((i) => ({ version: `${i + 1}.0` })),
      second: [{ version: '1.0', requiresDist: ['shared<=2.0'] }],
      shared: range(4).map((i) => ({ version: `${i + 1}.0` })),
    },
  },
  {
    title: 'markers on python_full_version, for the runtime patch level (redis → async-timeout)',
    runtime: 'python3.11',
    lines: ['redis'],
    projects: {
      redis: [
        {
          version: '8.1.0',
          requiresDist: [
            'async-timeout>=4.0.3; python_full_version < "3.11.3"',
            'hiredis>=3; python_full_version >= "3.11.10"',
          ],
        },
      ],
      'async-timeout': [{ version: '5.0.1' }],
      hiredis: [{ version: '3.2.0' }],
    },
  },
  {
    title: 'python_full_version against pre-release bounds and wildcards',
    runtime: 'python3.12',
    lines: ['pkg'],
    projects: {
      pkg: [
        {
          version: '1.0',
          requiresDist: [
            'a; python_full_version > "3.12.0rc1"',
            'b; python_version == "3.12.*"',
            'c; python_full_version < "3.12.0"',
            'd; python_version ~= "3.11"',
          ],
        },
      ],
      a: [{ version: '1.0' }],
      b: [{ version: '1.0' }],
      c: [{ version: '1.0' }],
      d: [{ version: '1.0' }],
    },
  },
  {
    title: 'extras with a specifier narrow the base as well (pip ≥ 23.3)',
    runtime: 'python3.11',
    lines: ['svc[fast]>=1.1', 'svc<2.0'],
    projects: {
      svc: [
        { version: '1.0', providesExtra: ['fast'], requiresDist: ['speed; extra == "fast"'] },
        { version: '1.5', providesExtra: ['fast'], requiresDist: ['speed>=2; extra == "fast"'] },
        { version: '2.0', providesExtra: ['fast'], requiresDist: ['speed>=3; extra == "fast"'] },
      ],
      speed: [{ version: '1.0' }, { version: '2.0' }, { version: '3.0' }],
    },
  },
  {
    title: 'compatible release, exclusion and local versions',
    runtime: 'python3.11',
    lines: ['lib~=1.4.2', 'other!=2.0', 'loc==1.0'],
    projects: {
      lib: [{ version: '1.4.1' }, { version: '1.4.9' }, { version: '1.5.0' }],
      other: [{ version: '1.0' }, { version: '2.0' }],
      loc: [{ version: '1.0' }, { version: '1.0+cpu' }],
    },
  },
  {
    title: 'Requires-Python of the newest version excludes the runtime: the older one is taken',
    runtime: 'python3.11',
    lines: ['modern'],
    projects: { modern: [{ version: '1.0' }, { version: '2.0', requiresPython: '>=3.12' }] },
  },
  {
    title: 'the 13-wheel conflict: x==i needs z==i, y==j needs z==K+1+j',
    runtime: 'python3.11',
    lines: ['x', 'y'],
    unsatisfiable: 'z',
    projects: {
      x: range(4).map((i) => ({ version: `${i}.0`, requiresDist: [`z==${i}.0`] })),
      y: range(4).map((j) => ({ version: `${j}.0`, requiresDist: [`z==${4 + j}.0`] })),
      z: range(5).map((k) => ({ version: `${k}.0` })),
    },
  },
  {
    title: 'a dependency with no file at all',
    runtime: 'python3.11',
    lines: ['needs-ghost'],
    unsatisfiable: 'ghost',
    projects: { 'needs-ghost': [{ version: '1.0', requiresDist: ['ghost>=1'] }] },
  },
  {
    title: 'a version range nothing satisfies',
    runtime: 'python3.11',
    lines: ['lib>=5'],
    unsatisfiable: 'lib',
    projects: { lib: [{ version: '1.0' }, { version: '2.0' }] },
  },
  {
    title: 'every version needs a newer Python',
    runtime: 'python3.11',
    lines: ['future'],
    unsatisfiable: 'future',
    projects: { future: [{ version: '1.0', requiresPython: '>=3.13' }] },
  },
];

// Drawn from what the on-disk indexes hold (cp311 x86_64 wheels and pure-Python wheels).
const REAL: readonly OracleSet[] = [
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

const SETS: readonly OracleSet[] = [...SYNTHETIC, ...(indexes ? REAL : [])];

type Picked = string[];

function pickedFromLock(lock: Lock): Picked {
  return lock.packages.map((entry) => `${entry.name} ${entry.version} ${entry.filename}`).sort();
}

interface Outcome {
  readonly pip: DryRunOutcome;
  readonly ours: Lock | unknown;
  readonly oursMilliseconds: number;
}

/** The index both tools read for a set: its own wheel folder, or this machine's indexes. */
function sourcesFor(set: OracleSet, folder: string | null): { indexUrls: string[]; findLinks: string[] } {
  if (folder) return { indexUrls: [], findLinks: [folder] };
  return { indexUrls: indexes?.indexUrls ?? [], findLinks: indexes?.findLinks ?? [] };
}

async function runBoth(set: OracleSet, python: string, workDir: string, position: number): Promise<Outcome> {
  const target = lambdaTarget(set.runtime, 'x86_64');
  const folder = set.projects
    ? await writeWheelFolder(join(workDir, `wheels-${position}`), set.projects)
    : null;
  const sources = sourcesFor(set, folder);
  const [first, ...extra] = sources.indexUrls;
  const index: ClosablePackageIndex = createPackageIndex({
    indexUrl: first ?? null,
    extraIndexUrls: extra,
    findLinks: sources.findLinks,
    pre: set.pre ?? false,
    cacheDir: join(workDir, 'cache'),
  });
  const started = performance.now();
  const ours = await resolveDependencySet({
    requirements: set.lines.map((line) => parseRequirement(line)),
    constraints: [],
    target,
    index,
    pre: set.pre ?? false,
  })
    .catch((error: unknown) => error)
    .finally(() => index.close());
  const oursMilliseconds = performance.now() - started;
  const pip = await pipDryRun({
    python,
    target,
    lines: set.lines,
    workDir: join(workDir, 'pip'),
    pre: set.pre,
    ...sources,
  });
  return { pip, ours, oursMilliseconds };
}

describe('resolveDependencySet against pip 26 (the oracle)', () => {
  let workDir = '';
  let python: string | null = null;
  const outcomes = new Map<OracleSet, Outcome>();

  beforeAll(async () => {
    python = await pipOraclePython();
    if (!python) return;
    workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-oracle-'));
    // pip needs a second or more per set: two at a time on 2 cores.
    const limit = pLimit(2);
    await Promise.all(
      SETS.map((set, position) =>
        limit(async () => outcomes.set(set, await runBoth(set, python as string, workDir, position))),
      ),
    );
    const pipTotal = [...outcomes.values()].reduce((sum, outcome) => sum + outcome.pip.milliseconds, 0);
    const oursTotal = [...outcomes.values()].reduce((sum, outcome) => sum + outcome.oursMilliseconds, 0);
    console.log(
      `pip oracle: ${outcomes.size} sets; pip 26 ${Math.round(pipTotal)} ms, lambda-deps ${Math.round(oursTotal)} ms in all`,
    );
  }, 600_000);

  afterAll(async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it(`covers at least 20 sets, synthetic and (where there are indexes) real${indexes ? '' : ` (real sets skipped: ${NO_LOCAL_INDEXES_REASON})`}`, () => {
    // Assess
    if (!python) throw new Error(pipOracleUnavailable());
    expect(outcomes.size).toBeGreaterThanOrEqual(indexes ? 20 : SYNTHETIC.length);
    expect([...outcomes.keys()].filter((set) => set.unsatisfiable).length).toBeGreaterThanOrEqual(4);
  });

  for (const set of SETS) {
    it(`${set.unsatisfiable ? 'fails as pip does, naming ' + set.unsatisfiable : 'picks the same files as pip'} for ${set.runtime}: ${set.title}`, () => {
      // Prepare
      const outcome = outcomes.get(set);
      if (!outcome) throw new Error(pipOracleUnavailable());

      // Act
      const { pip, ours } = outcome;

      // Assess
      if (set.unsatisfiable) {
        if (pip.ok) throw new Error(`pip resolved a set expected to fail: ${pip.picked.join(', ')}`);
        expect(ours).toBeInstanceOf(ResolutionError);
        expect((ours as ResolutionError).problems.map((problem) => problem.package)).toContain(
          set.unsatisfiable,
        );
        expect(canonicalizeName(pip.stderr)).toMatch(new RegExp(`\\b${set.unsatisfiable}\\b`));
        return;
      }
      if (!pip.ok) throw new Error(`pip failed where it should not: ${pip.stderr.slice(-2000)}`);
      if (!(ours && typeof ours === 'object' && 'packages' in ours)) throw ours;
      expect(pickedFromLock(ours as Lock)).toEqual(pip.picked);
    });
  }

  it('explains the 13-wheel conflict in under 2 s', () => {
    // Prepare
    const set = SYNTHETIC.find((entry) => entry.title.startsWith('the 13-wheel'));
    const outcome = set ? outcomes.get(set) : undefined;
    if (!outcome) throw new Error(pipOracleUnavailable());

    // Assess
    expect(outcome.oursMilliseconds).toBeLessThan(2_000);
    for (const name of ['x', 'y', 'z'])
      expect((outcome.ours as Error).message).toMatch(new RegExp(`\\b${name}\\b`));
  });

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
