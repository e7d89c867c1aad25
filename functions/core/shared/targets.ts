// Lambda Python targets and the wheel tags each one accepts, in the order pip would
// prefer them on a native host of that platform (PEP 425, PEP 600). Never musllinux,
// never a bare `linux_*` tag (not portable), never macOS or Windows.
import { InputError } from './errors.ts';
import type { Architecture, MarkerEnvironment, Target } from './types.ts';

interface RuntimeFacts {
  readonly pythonVersion: string;
  readonly os: string;
  readonly glibc: string;
}

/**
 * Lambda's Python runtimes. Source: docs.aws.amazon.com/lambda/latest/dg/lambda-python.html
 * (OS per runtime) and docs.aws.amazon.com/linux/al2023/ug/core-glibc.html (AL2023 = glibc 2.34);
 * AL2's 2.26 is what aws-lambda-builders assumes for cp38–cp311 (no AWS page states it).
 */
export const LAMBDA_PYTHON_RUNTIMES: Readonly<Record<string, RuntimeFacts>> = {
  'python3.10': { pythonVersion: '3.10', os: 'Amazon Linux 2', glibc: '2.26' },
  'python3.11': { pythonVersion: '3.11', os: 'Amazon Linux 2', glibc: '2.26' },
  'python3.12': { pythonVersion: '3.12', os: 'Amazon Linux 2023', glibc: '2.34' },
  'python3.13': { pythonVersion: '3.13', os: 'Amazon Linux 2023', glibc: '2.34' },
  'python3.14': { pythonVersion: '3.14', os: 'Amazon Linux 2023', glibc: '2.34' },
};

interface PatchLevel {
  /** `python_full_version` assumed for the runtime. */
  readonly pythonFullVersion: string;
  /** Where the value comes from, or "unconfirmed" and why. */
  readonly source: string;
  /** When the source was read (or the value last checked). */
  readonly checked: string;
}

const UNCONFIRMED =
  'unconfirmed: neither the Lambda runtime pages (docs.aws.amazon.com/lambda/latest/dg/lambda-python.html, lambda-runtimes.html) nor the public.ecr.aws/lambda/python tags state the patch level; the value is the CPython security release of October 2025 (python.org), which the managed runtimes track with a lag';

/**
 * The CPython patch level each runtime runs: markers such as `python_full_version < "3.11.3"`
 * (redis 8.1 → async-timeout) and Requires-Python are evaluated against it, not against `X.Y.0`.
 * A target may override it (`lambdaTarget(runtime, arch, { pythonFullVersion })`, or a custom
 * target's `--python X.Y.Z`); the lock records the one assumed (`target.pythonFullVersion`).
 */
export const LAMBDA_PYTHON_PATCH_LEVELS: Readonly<Record<string, PatchLevel>> = {
  'python3.10': { pythonFullVersion: '3.10.19', source: UNCONFIRMED, checked: '2026-12-01' },
  'python3.11': { pythonFullVersion: '3.11.14', source: UNCONFIRMED, checked: '2026-12-01' },
  'python3.12': { pythonFullVersion: '3.12.12', source: UNCONFIRMED, checked: '2026-12-01' },
  'python3.13': { pythonFullVersion: '3.13.9', source: UNCONFIRMED, checked: '2026-12-01' },
  'python3.14': { pythonFullVersion: '3.14.0', source: UNCONFIRMED, checked: '2026-12-01' },
};

/** The `python_full_version` the target runs: its override, its runtime's patch level, or `X.Y.0`. */
export function pythonFullVersion(target: Target): string {
  if (target.pythonFullVersion) return target.pythonFullVersion;
  const known = target.runtime ? LAMBDA_PYTHON_PATCH_LEVELS[target.runtime] : undefined;
  if (known && known.pythonFullVersion.startsWith(`${target.pythonVersion}.`)) return known.pythonFullVersion;
  return `${target.pythonVersion}.0`;
}

function checkedFullVersion(pythonVersion: string, full: string | undefined): string | undefined {
  if (full === undefined) return undefined;
  if (!full.startsWith(`${pythonVersion}.`) || !/^\d{1,3}$/.test(full.slice(pythonVersion.length + 1))) {
    throw new InputError(`Python version "${full}" does not name a patch level of Python ${pythonVersion}.`, {
      hint: `Give it as ${pythonVersion}.N, for example ${pythonVersion}.9.`,
    });
  }
  return full;
}

export const ARCHITECTURES: readonly Architecture[] = ['x86_64', 'arm64'];

/** The machine name used in wheel platform tags and by `uname -m`. */
export function wheelMachine(architecture: Architecture): 'x86_64' | 'aarch64' {
  return architecture === 'arm64' ? 'aarch64' : 'x86_64';
}

function parseArchitecture(value: string): Architecture {
  if (value === 'x86_64' || value === 'amd64') return 'x86_64';
  if (value === 'arm64' || value === 'aarch64') return 'arm64';
  throw new InputError(`Unknown architecture "${value}".`, { hint: 'Use --arch x86_64 or --arch arm64.' });
}

/** A Lambda runtime target: `lambdaTarget('python3.11', 'x86_64')`; `pythonFullVersion` overrides the patch level. */
export function lambdaTarget(
  runtime: string,
  architecture: string,
  overrides: { pythonFullVersion?: string } = {},
): Target {
  const facts = LAMBDA_PYTHON_RUNTIMES[runtime];
  if (!facts) {
    throw new InputError(`Unknown Lambda runtime "${runtime}".`, {
      hint: `Use one of ${Object.keys(LAMBDA_PYTHON_RUNTIMES).join(', ')}, or a custom target with --python X.Y --glibc X.Y.`,
    });
  }
  const full = checkedFullVersion(facts.pythonVersion, overrides.pythonFullVersion);
  return {
    runtime,
    ...facts,
    architecture: parseArchitecture(architecture),
    pythonFullVersion: full ?? pythonFullVersion({ runtime, ...facts, architecture: 'x86_64' }),
  };
}

/**
 * A target for an image on another base: `customTarget({ python: '3.11', glibc: '2.34', arch: 'x86_64' })`;
 * `python: '3.11.9'` also fixes the patch level markers see (otherwise `3.11.0`).
 */
export function customTarget(options: { python: string; glibc: string; arch: string }): Target {
  const parts = /^(3\.\d{1,2})(\.\d{1,3})?$/.exec(options.python);
  if (!parts) {
    throw new InputError(`Python version "${options.python}" is not of the form 3.X or 3.X.Y.`, {
      hint: 'For example --python 3.11 (or --python 3.11.9 to fix the patch level).',
    });
  }
  if (!/^2\.\d{1,2}$/.test(options.glibc)) {
    throw new InputError(`glibc version "${options.glibc}" is not of the form 2.X.`, {
      hint: 'For example --glibc 2.34.',
    });
  }
  return {
    runtime: null,
    pythonVersion: parts[1] as string,
    pythonFullVersion: parts[2] ? options.python : `${parts[1]}.0`,
    glibc: options.glibc,
    architecture: parseArchitecture(options.arch),
    os: 'custom',
  };
}

/** A short human label: `python3.11 x86_64 (Amazon Linux 2, glibc 2.26)`. */
export function describeTarget(target: Target): string {
  const name = target.runtime ?? `python ${target.pythonVersion} (custom)`;
  const os = target.os === 'custom' ? '' : `${target.os}, `;
  return `${name} ${target.architecture} (${os}glibc ${target.glibc})`;
}

function minorOf(version: string): number {
  return Number(version.split('.')[1]);
}

/** manylinux platform tags for the target, newest glibc first, with the legacy aliases pip also accepts. */
export function manylinuxPlatforms(target: Target): string[] {
  const machine = wheelMachine(target.architecture);
  const ceiling = minorOf(target.glibc);
  // manylinux1 (2.5) and manylinux2010 (2.12) exist only for x86 machines.
  const floor = machine === 'x86_64' ? 5 : 17;
  const legacy: Record<number, string> = { 17: 'manylinux2014', 12: 'manylinux2010', 5: 'manylinux1' };
  const platforms: string[] = [];
  for (let minor = ceiling; minor >= floor; minor--) {
    platforms.push(`manylinux_2_${minor}_${machine}`);
    const alias = legacy[minor];
    if (alias) platforms.push(`${alias}_${machine}`);
  }
  return platforms;
}

/**
 * Every wheel tag the target accepts, best first, following packaging.tags.sys_tags() for
 * CPython: cpXY-cpXY, cpXY-abi3, cpXY-none on each platform; then abi3 for older CPythons,
 * newest first; then pyXY/py3 with `none`; then `any`.
 */
export function compatibleTags(target: Target): string[] {
  const minor = minorOf(target.pythonVersion);
  const cp = `cp3${minor}`;
  const platforms = manylinuxPlatforms(target);
  const tags: string[] = [];
  for (const abi of [cp, 'abi3', 'none'])
    for (const platform of platforms) tags.push(`${cp}-${abi}-${platform}`);
  for (let older = minor - 1; older >= 2; older--)
    for (const platform of platforms) tags.push(`cp3${older}-abi3-${platform}`);
  const pyVersions = [
    `py3${minor}`,
    'py3',
    ...Array.from({ length: minor }, (_, index) => `py3${minor - 1 - index}`),
  ];
  for (const py of pyVersions) for (const platform of platforms) tags.push(`${py}-none-${platform}`);
  tags.push(`${cp}-none-any`);
  for (const py of pyVersions) tags.push(`${py}-none-any`);
  return tags;
}

const rankCache = new WeakMap<Target, Map<string, number>>();

/** Rank of a single tag for the target (0 is best), or undefined when it is not accepted. */
export function tagRank(target: Target, tag: string): number | undefined {
  let ranks = rankCache.get(target);
  if (!ranks) {
    ranks = new Map(compatibleTags(target).map((value, index) => [value, index]));
    rankCache.set(target, ranks);
  }
  return ranks.get(tag);
}

/**
 * PEP 508 marker variables for the target, not for the machine running lambda-deps
 * (pip evaluates them for the host even with --platform: pypa/pip#10050).
 * `python_full_version` is the runtime's patch level (see LAMBDA_PYTHON_PATCH_LEVELS).
 */
export function markerEnvironment(target: Target): MarkerEnvironment {
  const full = pythonFullVersion(target);
  return {
    implementation_name: 'cpython',
    implementation_version: full,
    os_name: 'posix',
    platform_machine: wheelMachine(target.architecture),
    platform_python_implementation: 'CPython',
    platform_release: '',
    platform_system: 'Linux',
    platform_version: '',
    python_full_version: full,
    python_version: target.pythonVersion,
    sys_platform: 'linux',
  };
}
