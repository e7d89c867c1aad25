// Every documented option of `build` and `measure`, run through both build paths (the local
// pipeline, the default, and --no-pipeline) on small real sets, with its effect asserted in the
// manifest. The table is checked against the commands' own option lists, so an option that is
// added without a row here, or a row whose option no longer exists, fails.
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createBuildCommand } from '../../../functions/cli/commands/build.ts';
import { createMeasureCommand } from '../../../functions/cli/commands/measure.ts';
import { loadPipelineDefinition } from '../../../functions/cli/local-pipeline.ts';
import type { BuildManifest, MeasureResult } from '../../../functions/core/shared/types.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { makeTinyWheel } from '../../support/loopback-index.ts';
import { parseImageReference } from '../../../functions/core/deliver/oci/base-image.ts';
import type { ImageManifest } from '../../../functions/core/deliver/oci/image-layout.ts';
import { RegistryClient } from '../../../functions/core/deliver/oci/registry-client.ts';
import {
  NO_REGISTRY_REASON,
  registryAvailable,
  startRegistry,
  type LocalRegistry,
} from '../oci/local-registry.ts';
import { pushSyntheticBase } from './synthetic-base.ts';
import { writeSdist } from '../sdist/sdist-projects.ts';

const indexes = localIndexes();
const SKIP = indexes === null;
const WHY = SKIP ? ` (skipped: ${NO_LOCAL_INDEXES_REASON})` : '';
const PATHS = ['pipeline', 'no-pipeline'] as const;
type BuildPath = (typeof PATHS)[number];

interface Outcome {
  readonly out: string;
  readonly stdout: string;
  readonly exitCode: number;
  readonly manifest: BuildManifest;
}

/** What a check gets: the run's outcome and the baseline run of the same path, to compare with. */
interface CheckContext {
  readonly run: Outcome;
  readonly baseline: Outcome;
  readonly path: BuildPath;
}

interface BuildRow {
  /** The run (below) the option is part of. */
  readonly run: keyof typeof BUILD_RUNS;
  /** Options the pipeline alone honours (their help says "pipeline:"): checked on that path only. */
  readonly pipelineOnly?: boolean;
  /** Runs only where docker-registry can be started on 127.0.0.1. */
  readonly needsRegistry?: boolean;
  /** Why the effect cannot be observed here, when it cannot (the check then looks at the policy the build followed). */
  readonly note?: string;
  readonly check: (context: CheckContext) => void | Promise<void>;
}

let root = '';
let cacheDir = '';
let findLinksDir = '';
let registry: LocalRegistry | null = null;
let baseLayerDigest = '';
const NO_REGISTRY = !registryAvailable();

/** The image the pipeline pushed, as its delivery names it. */
function deliveredImage(run: Outcome): string {
  return (run.manifest as { delivery?: { imageUri?: string } }).delivery?.imageUri ?? 'none';
}
let formatsDir = '';
const python = '/nonexistent/python3.11';

function indexFlags(): string[] {
  const [first, ...extra] = indexes?.indexUrls ?? [];
  return [
    ...(first ? ['--index-url', first] : []),
    ...extra.flatMap((url) => ['--extra-index-url', url]),
    ...(indexes?.findLinks ?? []).flatMap((location) => ['--find-links', location]),
  ];
}

/** The runs, each a set and its flags; every row names one. `again`/`fresh` rerun `baseline` in its folder. */
const BUILD_RUNS = {
  baseline: { set: 'pure', flags: () => ['--json', ...indexFlags()] },
  again: { set: 'pure', flags: () => ['--json', ...indexFlags()] },
  fresh: { set: 'pure', flags: () => ['--json', '--no-cache', ...indexFlags()] },
  // The layer budget, the slimming switches and the interpreter, which do not affect one another's checks.
  budget: {
    set: 'pure',
    flags: () => [
      '--existing-layers',
      '2',
      '--keep-free-layers',
      '2',
      '--reserve-mb',
      '100',
      '--exclude-runtime-provided',
      '--no-slim',
      '--precompile',
      '--strip-symbols',
      '--python-executable',
      python,
      '--name',
      'flag-set',
      '--verbose',
      ...indexFlags(),
    ],
  },
  // The runtime's own packages left out, with this machine's interpreter: the smoke import and, on
  // the pipeline, the Probe import six, which only the runtime (/var/runtime in Lambda) provides.
  runtime: {
    set: 'pure',
    flags: () => ['--json', '--exclude-runtime-provided', '--require-probe', ...indexFlags()],
  },
  // pip's format controls, on a folder where each changes the pick: flagbin and flagpref have a
  // 1.0 wheel and a 2.0 sdist, flagsrc a 1.0 wheel and a 1.0 sdist.
  binary: {
    set: 'formats',
    flags: () => [
      '--json',
      '--only-binary',
      'flagbin',
      '--no-binary',
      'flagsrc',
      '--find-links',
      formatsDir,
      ...indexFlags(),
    ],
  },
  // A pyproject.toml with an extra and a PEP 735 group; --prefer-binary picks flagpref's older wheel.
  project: {
    set: 'project',
    flags: () => [
      '--json',
      '--extra',
      'more',
      '--group',
      'dev',
      '--prefer-binary',
      '--find-links',
      formatsDir,
      ...indexFlags(),
    ],
  },
  // A custom target's image pushed to a registry on 127.0.0.1, on a base the user names (pipeline only).
  image: {
    set: 'pure',
    flags: () => [
      '--json',
      '--python',
      '3.11',
      '--glibc',
      '2.34',
      '--strategy',
      'image',
      '--registry',
      registry?.url ?? 'no-registry',
      '--base-image',
      `${registry?.host ?? 'no-registry'}/base/custom:glibc-2.34`,
      ...indexFlags(),
    ],
  },
  // A custom target from a find-links folder alone, delivered to EFS.
  offline: {
    set: 'offline',
    flags: () => [
      '--no-index',
      '--find-links',
      findLinksDir,
      '--pre',
      '--python',
      '3.11',
      '--glibc',
      '2.34',
      '--strategy',
      'efs',
      '--efs-root',
      join(root, 'efs-root'),
      '--json',
    ],
  },
} as const;

const SETS = {
  pure: 'six\nidna\n',
  offline: 'six\nidna\nflagpre\n',
  formats: 'six\nflagbin\nflagsrc\n',
} as const;
const PROJECT =
  '[project]\nname = "flags"\nversion = "1"\ndependencies = ["six", "flagpref"]\n[project.optional-dependencies]\nmore = ["idna"]\n[dependency-groups]\ndev = ["attrs"]\n';

/** The version a lock pins for a package, and the kind of file. */
function pinOf(manifest: BuildManifest, name: string): string {
  const entry = manifest.lock.packages.find((locked) => locked.name === name);
  return entry ? `${entry.version} ${entry.tag === 'sdist' ? 'sdist' : 'wheel'}` : 'absent';
}

const BUILD_ROWS: Record<string, BuildRow> = {
  '--out': {
    run: 'baseline',
    check: async ({ run }) => {
      expect(run.manifest.layers.length).toBeGreaterThan(0);
      for (const layer of run.manifest.layers)
        expect((await stat(join(run.out, layer.file))).isFile()).toBe(true);
    },
  },
  '--runtime': {
    run: 'baseline',
    check: ({ run }) => expect(run.manifest.target.runtime).toBe('python3.11'),
  },
  '--arch': { run: 'baseline', check: ({ run }) => expect(run.manifest.target.architecture).toBe('x86_64') },
  '--python': {
    run: 'offline',
    check: ({ run }) => expect(run.manifest.target).toMatchObject({ runtime: null, pythonVersion: '3.11' }),
  },
  '--glibc': { run: 'offline', check: ({ run }) => expect(run.manifest.target.glibc).toBe('2.34') },
  '--index-url': {
    run: 'baseline',
    check: ({ run }) =>
      expect(run.manifest.lock.packages.every((entry) => entry.url.startsWith('file://'))).toBe(true),
  },
  '--extra-index-url': {
    run: 'baseline',
    check: ({ run }) =>
      expect(run.manifest.lock.packages.map((entry) => entry.name).sort()).toEqual(['idna', 'six']),
  },
  '--find-links': {
    run: 'offline',
    check: ({ run }) => {
      for (const entry of run.manifest.lock.packages) expect(entry.url).toContain(findLinksDir);
    },
  },
  '--no-index': {
    run: 'offline',
    check: ({ run }) =>
      expect(run.manifest.lock.packages.every((entry) => entry.url.includes(findLinksDir))).toBe(true),
  },
  '--pre': {
    run: 'offline',
    // flagpre has 1.0 and 2.0b1 in the find-links folder: only --pre lets 2.0b1 win.
    check: ({ run }) => expect(pinOf(run.manifest, 'flagpre')).toBe('2.0b1 wheel'),
  },
  '--strategy': {
    run: 'offline',
    check: async ({ run }) => {
      expect(run.manifest.strategy).toBe('efs');
      expect((await stat(join(run.out, run.manifest.efs?.tree ?? 'missing'))).isFile()).toBe(true);
    },
  },
  '--existing-layers': {
    run: 'budget',
    check: ({ run }) => {
      expect(run.manifest.route?.slots).toBe(1);
      expect(run.manifest.reason).toContain('2 used by the function');
    },
  },
  '--keep-free-layers': {
    run: 'budget',
    check: ({ run, baseline }) => {
      expect(run.manifest.reason).toContain('2 kept free');
      expect(run.manifest.layers.length).toBe(1);
      expect(baseline.manifest.route?.slots).toBe(4);
    },
  },
  '--reserve-mb': {
    run: 'budget',
    check: ({ run }) => expect(run.manifest.reason).toContain('minus 100 MiB kept for function code'),
  },
  '--exclude-runtime-provided': {
    run: 'runtime',
    check: ({ run, path }) => {
      expect(run.manifest.layers.flatMap((layer) => layer.packages)).toEqual(['idna']);
      expect(run.manifest.slimming.rules.map((rule) => rule.rule)).toContain('runtime-provided');
      expect(run.manifest.smokeImport).toMatchObject({ ran: true, ok: true });
      expect(run.manifest.smokeImport.moduleNames).toContain('six');
      if (path !== 'pipeline') return;
      // The Probe imported six as Lambda would: from the runtime's packages, after the layers,
      // stood in for by the lock's six (said so: its version is the lock's, not the runtime's).
      const six = run.manifest.lock.packages.find((entry) => entry.name === 'six');
      expect(run.manifest.probe).toMatchObject({
        ran: true,
        ok: true,
        runtimeStandIn: { packages: [{ name: 'six', version: six?.version }] },
      });
      expect(run.manifest.probe?.modules.find((module) => module.module === 'six')?.ok).toBe(true);
    },
  },
  '--no-slim': {
    run: 'budget',
    check: ({ run, baseline }) => {
      const slimmed = (manifest: BuildManifest) =>
        manifest.slimming.rules.filter((rule) => rule.rule !== 'runtime-provided').length;
      expect(slimmed(baseline.manifest)).toBeGreaterThan(0);
      expect(slimmed(run.manifest)).toBe(0);
    },
  },
  '--precompile': {
    run: 'budget',
    check: ({ run }) =>
      expect(run.manifest.warnings?.some((warning) => warning.startsWith('not precompiled: '))).toBe(true),
  },
  '--strip-symbols': {
    run: 'budget',
    check: ({ run }) =>
      expect(run.manifest.warnings?.some((warning) => warning.startsWith('symbols not stripped: '))).toBe(
        true,
      ),
  },
  '--python-executable': {
    run: 'budget',
    // The Build's smoke import and, on the pipeline, the Probe both use the named interpreter.
    check: ({ path, run }) => {
      expect(run.manifest.smokeImport.ran).toBe(false);
      expect(run.manifest.smokeImport.reason).toContain(python);
      if (path !== 'pipeline') return;
      const probe = (run.manifest as { probe?: { ran?: boolean; reason?: string } }).probe;
      expect(probe).toMatchObject({ ran: false });
      expect(probe?.reason).toContain(python);
    },
  },
  '--extra': {
    run: 'project',
    // idna is only in the "more" extra.
    check: ({ run }) => {
      expect(pinOf(run.manifest, 'idna')).not.toBe('absent');
      expect(run.manifest.policy?.extras).toEqual(['more']);
    },
  },
  '--group': {
    run: 'project',
    check: ({ run }) => expect(pinOf(run.manifest, 'attrs')).not.toBe('absent'),
  },
  '--only-binary': {
    run: 'binary',
    // Without it, flagbin's newer sdist (2.0) would win.
    check: ({ run }) => expect(pinOf(run.manifest, 'flagbin')).toBe('1.0 wheel'),
  },
  '--no-binary': {
    run: 'binary',
    // Without it, flagsrc's wheel would be installed; with it the sdist is built.
    check: ({ run }) => {
      expect(pinOf(run.manifest, 'flagsrc')).toBe('1.0 sdist');
      expect(run.manifest.builtFromSdist?.map((built) => built.name)).toEqual(['flagsrc']);
    },
  },
  '--prefer-binary': {
    run: 'project',
    // Without it, flagpref's newer sdist (2.0) would win.
    check: ({ run }) => expect(pinOf(run.manifest, 'flagpref')).toBe('1.0 wheel'),
  },
  '--no-pipeline': {
    run: 'baseline',
    check: ({ run }) =>
      expect(run.manifest.layers.map((layer) => layer.file).sort()).toEqual([
        'layers/layer-shared-1.zip',
        'layers/layer-shared-2.zip',
      ]),
  },
  '--registry': {
    run: 'image',
    pipelineOnly: true,
    needsRegistry: true,
    check: ({ run }) => expect(deliveredImage(run)).toContain(`${registry?.host ?? '?'}/`),
  },
  '--base-image': {
    run: 'image',
    pipelineOnly: true,
    needsRegistry: true,
    // The pushed image's first layer is the named base's (whose libc.so.6 was checked against 2.34).
    check: async ({ run }) => {
      const reference = parseImageReference(deliveredImage(run));
      const client = new RegistryClient({ registryUrl: registry?.url ?? '' });
      const pushed = (await client.getManifest(reference.repository, reference.reference))
        .json as ImageManifest;
      expect(pushed.layers[0]?.digest).toBe(baseLayerDigest);
    },
  },
  '--efs-root': {
    run: 'offline',
    pipelineOnly: true,
    check: async () => expect((await stat(join(root, 'efs-root', 'offline'))).isDirectory()).toBe(true),
  },
  '--name': {
    run: 'budget',
    pipelineOnly: true,
    check: ({ run }) =>
      expect(JSON.stringify((run.manifest as { delivery?: unknown }).delivery)).toContain('flag-set'),
  },
  '--require-probe': {
    run: 'runtime',
    pipelineOnly: true,
    note: 'a probe that cannot run (arm64 here) then fails the run: test/integration/probe/local-probe.test.ts',
    check: ({ run }) =>
      expect((run.manifest as { probe?: { ran?: boolean; ok?: boolean } }).probe).toMatchObject({
        ran: true,
        ok: true,
      }),
  },
  '--verbose': {
    run: 'budget',
    pipelineOnly: true,
    check: ({ run }) => expect(run.stdout).toMatch(/^ {2}\| /m),
  },
  '--json': {
    run: 'baseline',
    check: ({ run }) =>
      expect((JSON.parse(run.stdout) as BuildManifest).lockHash).toBe(run.manifest.lockHash),
  },
  '--cache-dir': {
    run: 'baseline',
    check: async () => expect((await stat(join(cacheDir, 'builds'))).isDirectory()).toBe(true),
  },
  '--no-cache': {
    run: 'fresh',
    check: ({ run, baseline, path }) => {
      // A reused build is the same manifest; a fresh one has its own timings.
      expect(outcomes[path].again?.manifest.timings).toEqual(baseline.manifest.timings);
      expect(run.manifest.timings).not.toEqual(baseline.manifest.timings);
    },
  },
};

/** Runs a commander command in this process, capturing what it prints. */
async function runCommand(
  command: Command,
  args: readonly string[],
): Promise<{ stdout: string; exitCode: number }> {
  const chunks: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
  const before = process.exitCode;
  process.exitCode = 0;
  try {
    await command.exitOverride().parseAsync([...args], { from: 'user' });
    return { stdout: chunks.join(''), exitCode: Number(process.exitCode ?? 0) };
  } finally {
    write.mockRestore();
    process.exitCode = before;
  }
}

const outcomes: Record<BuildPath, Partial<Record<keyof typeof BUILD_RUNS, Outcome>>> = {
  pipeline: {},
  'no-pipeline': {},
};

async function runBuild(path: BuildPath, name: keyof typeof BUILD_RUNS): Promise<Outcome> {
  const spec = BUILD_RUNS[name];
  const folder = name === 'again' || name === 'fresh' ? 'baseline' : name;
  const out = join(root, path, folder);
  const requirements =
    spec.set === 'project' ? join(root, 'project', 'pyproject.toml') : join(root, `${spec.set}.txt`);
  const target =
    name === 'offline' || name === 'image' ? [] : ['--runtime', 'python3.11', '--arch', 'x86_64'];
  const args = [requirements, ...target, '--out', out, '--cache-dir', cacheDir, ...spec.flags()];
  const { stdout, exitCode } = await runCommand(
    createBuildCommand(),
    // --require-probe is refused without the pipeline (no probe runs there; local-probe.test.ts).
    path === 'pipeline' ? args : [...args.filter((arg) => arg !== '--require-probe'), '--no-pipeline'],
  );
  const text = await readFile(join(out, 'manifest.json'), 'utf8').catch(() => null);
  // A run that stops before delivering (a failed probe) writes none: say which, and how it ended.
  if (text === null)
    throw new Error(`the ${name} build through ${path} wrote no manifest (exit ${exitCode})`);
  return { out, stdout, exitCode, manifest: JSON.parse(text) as BuildManifest };
}

beforeAll(async () => {
  if (SKIP) return;
  root = await mkdtemp(join(tmpdir(), 'lambda-deps-flags-'));
  cacheDir = join(root, 'cache');
  for (const [name, text] of Object.entries(SETS)) await writeFile(join(root, `${name}.txt`), text);
  await writeFile(join(root, 'wheels.txt'), 'six\nidna\nattrs\n');
  // A find-links folder of the set's wheels, taken from the index pip is configured with.
  findLinksDir = join(root, 'wheels');
  await mkdir(findLinksDir);
  const { measureRequirements } = await import('../../../functions/core/measure/measure.ts');
  const [indexUrl, ...extraIndexUrls] = indexes?.indexUrls ?? [];
  const { lock } = await measureRequirements({
    requirementsPath: join(root, 'wheels.txt'),
    target: (await import('../../../functions/core/shared/targets.ts')).lambdaTarget('python3.11', 'x86_64'),
    cliIndexOptions: {
      ...(indexUrl ? { indexUrl } : {}),
      extraIndexUrls,
      findLinks: indexes?.findLinks ?? [],
    },
    cacheDir,
  });
  for (const entry of lock.packages) {
    if (entry.url.startsWith('file://'))
      await copyFile(new URL(entry.url), join(findLinksDir, entry.filename));
  }
  await writeFormatPackages();
  if (!NO_REGISTRY) {
    registry = await startRegistry(root, join(root, 'registry'));
    baseLayerDigest = await pushSyntheticBase(registry.url, root, 'glibc-2.34', '2.34');
  }
  await loadPipelineDefinition();
}, 120_000);
/** Tiny packages whose pick each of --pre, --only-binary, --no-binary and --prefer-binary changes. */
async function writeFormatPackages(): Promise<void> {
  for (const version of ['1.0', '2.0b1']) {
    const wheel = await makeTinyWheel('flagpre', version);
    await writeFile(join(findLinksDir, wheel.filename), wheel.bytes);
  }
  formatsDir = join(root, 'formats');
  await mkdir(formatsDir);
  for (const [name, sdistVersion] of [
    ['flagbin', '2.0'],
    ['flagpref', '2.0'],
    ['flagsrc', '1.0'],
  ] as const) {
    const wheel = await makeTinyWheel(name, '1.0');
    await writeFile(join(formatsDir, wheel.filename), wheel.bytes);
    const project = {
      name,
      version: sdistVersion,
      module: name,
      files: {
        'pyproject.toml': `[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "${name}"\nversion = "${sdistVersion}"\n`,
        [`${name}/__init__.py`]: `VERSION = "${sdistVersion}"\n`,
      },
    };
    const sdist = await writeSdist(project, join(root, `made-${name}`), '2.2');
    await copyFile(sdist, join(formatsDir, `${name}-${sdistVersion}.tar.gz`));
  }
  await mkdir(join(root, 'project'));
  await writeFile(join(root, 'project', 'pyproject.toml'), PROJECT);
}

afterAll(async () => {
  await registry?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

function documentedOptions(command: Command): string[] {
  return command.options
    .filter((option) => !(option as { hidden?: boolean }).hidden)
    .map((option) => option.long ?? option.short ?? '');
}

describe('the flag table', () => {
  it('has a row for every documented option of build, and no row for an option build lacks', () => {
    // Act
    const options = documentedOptions(createBuildCommand());

    // Assess
    expect(Object.keys(BUILD_ROWS).sort()).toEqual([...options].sort());
  });

  it('marks as pipeline-only exactly the options whose help says "pipeline:"', () => {
    // Act
    const pipelineOnly = createBuildCommand()
      .options.filter((option) => option.description.startsWith('pipeline:'))
      .map((option) => option.long);

    // Assess
    expect(
      Object.entries(BUILD_ROWS)
        .filter(([, row]) => row.pipelineOnly)
        .map(([name]) => name)
        .sort(),
    ).toEqual(pipelineOnly.sort());
  });

  it('has a row for every documented option of measure', () => {
    // Act
    const options = documentedOptions(createMeasureCommand());

    // Assess
    expect(Object.keys(MEASURE_ROWS).sort()).toEqual([...options].sort());
  });
});

describe.each(PATHS)('build through %s', (path) => {
  beforeAll(async () => {
    if (SKIP) return;
    for (const name of Object.keys(BUILD_RUNS) as (keyof typeof BUILD_RUNS)[]) {
      // The image run names pipeline-only options (refused by --no-pipeline) and needs a registry.
      if (name === 'image' && (path !== 'pipeline' || NO_REGISTRY)) continue;
      outcomes[path][name] = await runBuild(path, name);
    }
  }, 240_000);

  const rows = Object.entries(BUILD_ROWS).filter(
    ([, row]) => (path === 'pipeline' || !row.pipelineOnly) && !row.needsRegistry,
  );
  const registryRows = Object.entries(BUILD_ROWS).filter(
    ([, row]) => path === 'pipeline' && row.needsRegistry,
  );
  const honours = async (row: BuildRow) => {
    // Prepare
    const run = outcomes[path][row.run];
    const baseline = outcomes[path].baseline;
    if (!run || !baseline) throw new Error(`run ${row.run} did not happen`);

    // Act & Assess
    expect(run.exitCode).toBe(0);
    await row.check({ run, baseline, path });
  };
  it.skipIf(SKIP).each(rows)(`honours %s${WHY}`, (_name, row) => honours(row));
  it.skipIf(SKIP || NO_REGISTRY).each(registryRows)(
    `honours %s${WHY}${NO_REGISTRY ? ` (skipped: ${NO_REGISTRY_REASON})` : ''}`,
    (_name, row) => honours(row),
  );

  it.skipIf(SKIP)(`writes every layer file the manifest names under --out${WHY}`, async () => {
    for (const outcome of Object.values(outcomes[path])) {
      for (const layer of outcome.manifest.layers) {
        expect((await stat(join(outcome.out, layer.file))).isFile()).toBe(true);
      }
    }
  });
});

describe('both paths', () => {
  it.skipIf(SKIP)(`deliver the same artifacts for the same flags${WHY}`, () => {
    for (const name of ['baseline', 'budget', 'runtime', 'offline', 'binary', 'project'] as const) {
      const [pipeline, direct] = [outcomes.pipeline[name]?.manifest, outcomes['no-pipeline'][name]?.manifest];
      expect(pipeline?.layers.map((layer) => [layer.file, layer.sha256])).toEqual(
        direct?.layers.map((layer) => [layer.file, layer.sha256]),
      );
      expect(pipeline?.policyHash).toBe(direct?.policyHash);
      expect(pipeline?.efs).toEqual(direct?.efs);
      expect(pipeline?.strategy).toBe(direct?.strategy);
    }
  });
});

// measure: one process path; its verdict must agree with what build made of the same set and flags.
interface MeasureRow {
  readonly run: keyof typeof MEASURE_RUNS;
  readonly check: (result: MeasureResult & { lockPath: string; reportPath: string }) => void | Promise<void>;
}

/** As pinOf, for a measured set. */
function measuredPin(result: MeasureResult, name: string): string {
  const entry = result.packages.find((measured) => measured.name === name);
  return entry ? `${entry.version} ${entry.filename.endsWith('.whl') ? 'wheel' : 'sdist'}` : 'absent';
}

const MEASURE_RUNS = {
  baseline: {
    set: 'pure.txt',
    flags: () => ['--runtime', 'python3.11', '--arch', 'x86_64', ...indexFlags()],
  },
  // Its own cache folder, holding only a stand-in for an earlier run's files: --no-cache reads
  // and writes none of it.
  uncached: {
    set: 'pure.txt',
    flags: () => ['--runtime', 'python3.11', '--no-cache', '--cache-dir', uncachedDir(), ...indexFlags()],
  },
  budget: {
    set: 'pure.txt',
    flags: () => [
      '--runtime',
      'python3.11',
      '--existing-layers',
      '2',
      '--keep-free-layers',
      '2',
      '--reserve-mb',
      '100',
      '--exclude-runtime-provided',
      ...indexFlags(),
    ],
  },
  binary: {
    set: 'formats.txt',
    flags: () => [
      '--runtime',
      'python3.11',
      '--only-binary',
      'flagbin',
      '--no-binary',
      'flagsrc',
      '--find-links',
      formatsDir,
      ...indexFlags(),
    ],
  },
  custom: {
    set: 'pyproject/pyproject.toml',
    flags: () => [
      '--python',
      '3.11',
      '--glibc',
      '2.34',
      '--extra',
      'more',
      '--group',
      'dev',
      '--strategy',
      'image',
      '--no-index',
      '--find-links',
      findLinksDir,
      '--find-links',
      formatsDir,
      '--prefer-binary',
      '--pre',
    ],
  },
} as const;

const MEASURE_ROWS: Record<string, MeasureRow> = {
  '--runtime': { run: 'baseline', check: (result) => expect(result.target.runtime).toBe('python3.11') },
  '--arch': { run: 'baseline', check: (result) => expect(result.target.architecture).toBe('x86_64') },
  '--python': { run: 'custom', check: (result) => expect(result.target.pythonVersion).toBe('3.11') },
  '--glibc': { run: 'custom', check: (result) => expect(result.target.glibc).toBe('2.34') },
  '--index-url': { run: 'baseline', check: (result) => expect(result.packages.length).toBe(2) },
  '--extra-index-url': {
    run: 'baseline',
    check: (result) => expect(result.packages.map((entry) => entry.name).sort()).toEqual(['idna', 'six']),
  },
  '--find-links': {
    run: 'custom',
    check: (result) => expect(result.packages.map((entry) => entry.name)).toContain('flagpref'),
  },
  '--no-index': { run: 'custom', check: (result) => expect(result.warnings ?? []).toEqual([]) },
  '--pre': {
    run: 'custom',
    check: (result) => expect(measuredPin(result, 'flagpre')).toBe('2.0b1 wheel'),
  },
  '--group': {
    run: 'custom',
    check: (result) => expect(result.packages.map((entry) => entry.name)).toContain('attrs'),
  },
  '--extra': {
    run: 'custom',
    check: (result) => expect(result.packages.map((entry) => entry.name)).toContain('idna'),
  },
  '--strategy': { run: 'custom', check: (result) => expect(result.verdict?.strategy).toBe('image') },
  '--only-binary': {
    run: 'binary',
    check: (result) => expect(measuredPin(result, 'flagbin')).toBe('1.0 wheel'),
  },
  '--no-binary': {
    run: 'binary',
    check: (result) => expect(measuredPin(result, 'flagsrc')).toBe('1.0 sdist'),
  },
  '--prefer-binary': {
    run: 'custom',
    check: (result) => expect(measuredPin(result, 'flagpref')).toBe('1.0 wheel'),
  },
  '--existing-layers': {
    run: 'budget',
    check: (result) => {
      expect(result.verdict?.slots).toBe(outcomes.pipeline.budget?.manifest.route?.slots);
      expect(result.verdict?.reason).toContain('2 used by the function');
    },
  },
  '--keep-free-layers': {
    run: 'budget',
    check: (result) =>
      expect(result.verdict?.layerCount).toBe(outcomes.pipeline.budget?.manifest.route?.layerCount),
  },
  '--reserve-mb': {
    run: 'budget',
    check: (result) => expect(result.verdict?.reason).toContain('minus 100 MiB'),
  },
  '--exclude-runtime-provided': {
    run: 'budget',
    check: (result) => expect(result.verdict?.dominantPackages).toEqual(['idna']),
  },
  '--cache-dir': {
    run: 'baseline',
    check: async () => expect((await stat(cacheDir)).isDirectory()).toBe(true),
  },
  '--json': { run: 'baseline', check: (result) => expect(result.lockHash).toMatch(/^[0-9a-f]{64}$/) },
  '--no-cache': {
    run: 'uncached',
    check: async (result) => {
      expect(result.lockHash).toBe(measured.baseline?.lockHash);
      expect(await readdir(uncachedDir(), { recursive: true })).toEqual(['earlier.json']);
      expect(await readFile(join(uncachedDir(), 'earlier.json'), 'utf8')).toBe('{}');
    },
  },
  '--lock-out': {
    run: 'baseline',
    check: async (result) =>
      expect(await readFile(result.lockPath, 'utf8')).toContain(result.packages[0]?.filename ?? '?'),
  },
  '--report': {
    run: 'baseline',
    check: async (result) => expect(await readFile(result.reportPath, 'utf8')).toContain('<html'),
  },
};

/** The `uncached` run's own cache folder. */
const uncachedDir = (): string => join(root, 'cache-never-used');
const measured: Partial<
  Record<keyof typeof MEASURE_RUNS, MeasureResult & { lockPath: string; reportPath: string }>
> = {};

describe('measure', () => {
  const results = measured;
  beforeAll(async () => {
    if (SKIP) return;
    await mkdir(uncachedDir());
    await writeFile(join(uncachedDir(), 'earlier.json'), '{}');
    await mkdir(join(root, 'pyproject'));
    await writeFile(
      join(root, 'pyproject', 'pyproject.toml'),
      '[project]\nname = "flags"\nversion = "1"\ndependencies = ["six", "flagpre", "flagpref"]\n[project.optional-dependencies]\nmore = ["idna"]\n[dependency-groups]\ndev = ["attrs"]\n',
    );
    for (const [name, spec] of Object.entries(MEASURE_RUNS)) {
      const lockPath = join(root, `${name}.lock.json`);
      const reportPath = join(root, `${name}.html`);
      const args = [
        join(root, spec.set),
        ...spec.flags(),
        ...(spec.flags().includes('--cache-dir') ? [] : ['--cache-dir', cacheDir]),
        '--json',
        '--lock-out',
        lockPath,
        '--report',
        reportPath,
      ];
      const { stdout } = await runCommand(createMeasureCommand(), args);
      results[name as keyof typeof MEASURE_RUNS] = {
        ...(JSON.parse(stdout) as MeasureResult),
        lockPath,
        reportPath,
      };
    }
  }, 60_000);

  it.skipIf(SKIP).each(Object.entries(MEASURE_ROWS))(`honours %s${WHY}`, async (_name, row) => {
    // Prepare
    const result = results[row.run];
    if (!result) throw new Error(`run ${row.run} did not happen`);

    // Act & Assess
    await row.check(result);
  });

  it.skipIf(SKIP)(`agrees with build on layer count and free slots for the same set${WHY}`, () => {
    for (const path of PATHS) {
      expect(results.baseline?.verdict?.layerCount).toBe(outcomes[path].baseline?.manifest.route?.layerCount);
      expect(results.baseline?.verdict?.slots).toBe(outcomes[path].baseline?.manifest.route?.slots);
    }
  });
});
