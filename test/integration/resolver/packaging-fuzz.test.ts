// Differential fuzz test against Python's `packaging` (26.x, in the pip-oracle venv): seeded
// random versions, specifiers, markers and requirements, each judged by lambda-deps
// (functions/core/shared/pep440.ts, functions/core/inputs/pep508.ts) and by packaging in one
// Python process per batch (JSON in, JSON out). Every disagreement fails the test unless it is
// listed in DELIBERATE with the reason. The seed is printed; FUZZ_SEED=<n> replays a run.
import { execFile } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateMarker, parseMarker, parseRequirement } from '../../../functions/core/inputs/pep508.ts';
import { canonicalizeName } from '../../../functions/core/shared/names.ts';
import {
  compareVersionText,
  filterVersions,
  parseSpecifierSet,
  parseVersion,
  specifiersContain,
} from '../../../functions/core/shared/pep440.ts';
import type { MarkerEnvironment } from '../../../functions/core/shared/types.ts';
import { pipOraclePython, pipOracleUnavailable } from '../../support/pip-oracle.ts';

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CASES_PER_KIND = Number(process.env.FUZZ_CASES ?? 1_500);
const TIME_BUDGET_MS = 60_000;

/** Known, deliberate differences: case key prefix → why. None so far. */
const DELIBERATE: Readonly<Record<string, string>> = {};

/** mulberry32: a small seeded PRNG, so a failing run can be replayed from its seed. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const random = generator(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const chance = (p: number): boolean => random() < p;
const small = (): number => pick([0, 0, 1, 1, 2, 3, 9, 10, 11, 14]);

function randomVersion(allowLocal = true): string {
  const epoch = chance(0.05) ? `${pick([1, 2])}!` : '';
  const release = Array.from({ length: pick([1, 2, 2, 3, 3, 4]) }, small).join('.');
  const separator = (): string => pick(['', '', '.', '-', '_']);
  const pre = chance(0.3)
    ? `${separator()}${pick(['a', 'b', 'rc', 'c', 'alpha', 'beta', 'pre', 'preview', 'A', 'RC'])}${chance(0.9) ? small() : ''}`
    : '';
  const post = chance(0.25)
    ? pick([`.post${small()}`, `-${small()}`, `.post`, `post${small()}`, `.r${small()}`])
    : '';
  const dev = chance(0.25) ? pick([`.dev${small()}`, `.dev`, `-dev${small()}`, `dev${small()}`]) : '';
  const local = allowLocal && chance(0.12) ? `+${pick(['abc', 'cpu', 'ubuntu-1', '1.2', 'a.7', 'X_y'])}` : '';
  const garbage = chance(0.03) ? pick(['..', '+', 'x', '.*', ' ']) : '';
  return `${epoch}${release}${pre}${post}${dev}${local}${garbage}`;
}

function randomSpecifier(): string {
  const operator = pick(['==', '!=', '<=', '>=', '<', '>', '~=', '===', '==', '>=']);
  if ((operator === '==' || operator === '!=') && chance(0.3))
    return `${operator}${Array.from({ length: pick([1, 2, 3]) }, small).join('.')}.*`;
  const version = randomVersion(operator === '==' || operator === '!=' || operator === '===' || chance(0.05));
  return `${operator}${chance(0.1) ? ' ' : ''}${version}`;
}

function randomSpecifierSet(): string {
  return Array.from({ length: pick([1, 1, 2, 3]) }, randomSpecifier).join(pick([',', ', ']));
}

const VARIABLES = [
  'python_version',
  'python_full_version',
  'implementation_version',
  'os_name',
  'platform_machine',
  'sys_platform',
  'platform_release',
];

function randomMarkerAtom(): string {
  const variable = pick(VARIABLES);
  const versionLike = variable.includes('version') || variable === 'platform_release';
  const operator = pick(
    versionLike
      ? ['<', '<=', '==', '!=', '>=', '>', '~=', '===', 'in', 'not in']
      : ['==', '!=', 'in', 'not in', '<', '>='],
  );
  const value = versionLike
    ? pick([
        randomVersion(false),
        `3.${pick([10, 11, 12, 13])}`,
        `3.${pick([11, 12])}.${small()}`,
        `3.${pick([11, 12])}.*`,
        '3.11.0rc1',
      ])
    : pick(['posix', 'nt', 'x86_64', 'aarch64', 'linux', 'win32', 'linu']);
  const quoted = chance(0.5) ? `"${value}"` : `'${value}'`;
  return chance(0.15) ? `${quoted} ${operator} ${variable}` : `${variable} ${operator} ${quoted}`;
}

function randomMarker(depth = 0): string {
  if (depth > 1 || chance(0.5)) return randomMarkerAtom();
  const joined = `${randomMarker(depth + 1)} ${pick(['and', 'or'])} ${randomMarker(depth + 1)}`;
  return chance(0.3) ? `(${joined})` : joined;
}

function randomEnvironment(): MarkerEnvironment {
  const minor = pick([10, 11, 12, 13]);
  const full = `3.${minor}.${pick([0, 1, 2, 3, 9, 14])}${chance(0.1) ? pick(['rc1', 'a2', 'b1']) : ''}`;
  return {
    implementation_name: 'cpython',
    implementation_version: full,
    os_name: 'posix',
    platform_machine: pick(['x86_64', 'aarch64']),
    platform_python_implementation: 'CPython',
    platform_release: pick(['5.10.0', '6.1.0-amzn', '']),
    platform_system: 'Linux',
    platform_version: '',
    python_full_version: full,
    python_version: `3.${minor}`,
    sys_platform: 'linux',
  };
}

function randomRequirement(): string {
  const name = pick(['requests', 'Foo_Bar.baz', 'a', 'zope.interface', 'x-y', '-bad', 'b$d']);
  const extras = chance(0.3)
    ? `[${Array.from({ length: pick([1, 2]) }, () => pick(['socks', 'Fast_Path', 'x'])).join(',')}]`
    : '';
  const specifier = chance(0.7)
    ? chance(0.2)
      ? `(${randomSpecifierSet()})`
      : ` ${randomSpecifierSet()}`
    : '';
  const marker = chance(0.4) ? ` ; ${randomMarker()}` : '';
  return `${name}${extras}${specifier}${marker}`;
}

const ORACLE = `
import json, sys
from packaging.version import Version, InvalidVersion
from packaging.specifiers import SpecifierSet, InvalidSpecifier
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
cases = json.load(sys.stdin)
def version(text):
    try: return {"ok": True, "normalized": str(Version(text))}
    except InvalidVersion: return {"ok": False}
def compare(a, b):
    try: x, y = Version(a), Version(b)
    except InvalidVersion: return "invalid"
    return -1 if x < y else (1 if x > y else 0)
def specifier(case):
    try: s = SpecifierSet(case["spec"])
    except InvalidSpecifier: return {"ok": False}
    try:
        # As pip asks: of Version objects (a candidate's version), so "===" sees str(Version), the
        # normalized text, as lambda-deps' specifiersContain and filterVersions do.
        versions = [Version(v) for v in case["versions"]]
        kept = {id(v) for v in s.filter(versions)}
        return {"ok": True, "contains": [s.contains(v, prereleases=True) for v in versions],
                "filtered": [t for t, v in zip(case["versions"], versions) if id(v) in kept]}
    except Exception as error: return {"ok": "raised", "error": type(error).__name__}
def marker(case):
    try: return {"ok": True, "value": Marker(case["marker"]).evaluate(case["environment"])}
    except Exception as error: return {"ok": False, "error": type(error).__name__}
def requirement(case):
    try: r = Requirement(case["text"])
    except Exception: return {"ok": False}
    return {"ok": True, "name": canonicalize_name(r.name), "extras": sorted(canonicalize_name(e) for e in r.extras),
            "specifiers": sorted(str(s) for s in r.specifier),
            "marker": None if r.marker is None else marker({"marker": str(r.marker), "environment": case["environment"]})}
print(json.dumps({
    "versions": [version(v) for v in cases["versions"]],
    "compares": [compare(a, b) for a, b in cases["compares"]],
    "specifiers": [specifier(c) for c in cases["specifiers"]],
    "markers": [marker(c) for c in cases["markers"]],
    "requirements": [requirement(c) for c in cases["requirements"]],
}))
`;

interface Cases {
  versions: string[];
  compares: [string, string][];
  specifiers: { spec: string; versions: string[] }[];
  markers: { marker: string; environment: MarkerEnvironment }[];
  requirements: { text: string; environment: MarkerEnvironment }[];
}

function generateCases(count: number): Cases {
  const versions = Array.from({ length: count }, () => randomVersion());
  const valid = versions.filter((text) => parseVersion(text) !== null);
  const validPair = (): [string, string] => [pick(valid), pick(valid)];
  const candidates = (): string[] => Array.from({ length: pick([3, 5, 8]) }, () => pick(valid));
  return {
    versions,
    compares: Array.from({ length: count }, validPair),
    specifiers: Array.from({ length: count }, () => ({ spec: randomSpecifierSet(), versions: candidates() })),
    markers: Array.from({ length: count }, () => ({
      marker: randomMarker(),
      environment: randomEnvironment(),
    })),
    requirements: Array.from({ length: count }, () => ({
      text: randomRequirement(),
      environment: randomEnvironment(),
    })),
  };
}

function ourMarker(text: string, environment: MarkerEnvironment): unknown {
  try {
    return { ok: true, value: evaluateMarker(parseMarker(text), environment) };
  } catch {
    return { ok: false };
  }
}

function ourSpecifier(spec: string, versions: readonly string[]): unknown {
  const clauses = parseSpecifierSet(spec);
  if (!clauses) return { ok: false };
  const parsed = versions.map((text) => ({
    text,
    version: parseVersion(text) as NonNullable<ReturnType<typeof parseVersion>>,
  }));
  return {
    ok: true,
    contains: parsed.map(({ version }) => specifiersContain(clauses, version)),
    filtered: filterVersions(clauses, parsed, ({ version }) => version).map(({ text }) => text),
  };
}

function ourRequirement(text: string, environment: MarkerEnvironment): unknown {
  let requirement;
  try {
    requirement = parseRequirement(text);
  } catch {
    return { ok: false };
  }
  return {
    ok: true,
    name: canonicalizeName(requirement.displayName),
    extras: [...requirement.extras].map(canonicalizeName).sort(),
    specifiers: requirement.specifier
      ? requirement.specifier
          .split(',')
          .map((clause) => clause.replace(/\s+/g, ''))
          .sort()
      : [],
    marker: requirement.marker ? ourMarkerFrom(requirement.marker, environment) : null,
  };
}

function ourMarkerFrom(
  marker: NonNullable<ReturnType<typeof parseRequirement>['marker']>,
  environment: MarkerEnvironment,
): unknown {
  try {
    return { ok: true, value: evaluateMarker(marker, environment) };
  } catch {
    return { ok: false };
  }
}

/** Judge every case both ways; returns the disagreements as readable lines. */
function disagreements(cases: Cases, oracle: Record<keyof Cases, unknown[]>): string[] {
  const found: string[] = [];
  const check = (key: string, ours: unknown, theirs: unknown): void => {
    // packaging names its error classes; equality of outcome (ok/value) is what matters.
    const strip = (value: unknown): string =>
      JSON.stringify(value, (name, entry: unknown) => (name === 'error' ? undefined : entry));
    if (strip(ours) === strip(theirs)) return;
    if (Object.keys(DELIBERATE).some((prefix) => key.startsWith(prefix))) return;
    found.push(`${key}: lambda-deps ${strip(ours)} vs packaging ${strip(theirs)}`);
  };
  cases.versions.forEach((text, index) => {
    const parsed = parseVersion(text);
    check(
      `version ${JSON.stringify(text)}`,
      parsed ? { ok: true, normalized: parsed.normalized } : { ok: false },
      oracle.versions[index],
    );
  });
  cases.compares.forEach(([a, b], index) =>
    check(`compare ${a} ${b}`, Math.sign(compareVersionText(a, b)), oracle.compares[index]),
  );
  cases.specifiers.forEach((entry, index) =>
    check(
      `specifier ${JSON.stringify(entry.spec)} on ${entry.versions.join(' ')}`,
      ourSpecifier(entry.spec, entry.versions),
      oracle.specifiers[index],
    ),
  );
  cases.markers.forEach((entry, index) =>
    check(
      `marker ${entry.marker} @ ${entry.environment.python_full_version}`,
      ourMarker(entry.marker, entry.environment),
      oracle.markers[index],
    ),
  );
  cases.requirements.forEach((entry, index) =>
    check(
      `requirement ${JSON.stringify(entry.text)}`,
      ourRequirement(entry.text, entry.environment),
      oracle.requirements[index],
    ),
  );
  return found;
}

describe(`PEP 440 / PEP 508 against packaging (seed ${SEED})`, () => {
  let python: string | null = null;

  beforeAll(async () => {
    python = await pipOraclePython();
  }, 300_000);

  it(`agrees with packaging on ≥ 5,000 generated versions, comparisons, specifiers, markers and requirements`, async () => {
    // Prepare
    if (!python) throw new Error(pipOracleUnavailable());
    console.log(`packaging fuzz seed: ${SEED} (replay with FUZZ_SEED=${SEED})`);
    const started = performance.now();
    const found: string[] = [];
    let judged = 0;

    // Act: batches of cases, one Python process per batch, until the count or the time budget.
    while (judged < CASES_PER_KIND * 5 && performance.now() - started < TIME_BUDGET_MS) {
      const cases = generateCases(Math.min(500, CASES_PER_KIND));
      const result = await runOracle(python, cases);
      found.push(...disagreements(cases, result));
      judged += Object.values(cases).reduce((sum, list: unknown[]) => sum + list.length, 0);
    }

    // Assess
    console.log(
      `packaging fuzz: ${judged} cases in ${Math.round(performance.now() - started)} ms, ${found.length} disagreements`,
    );
    expect(judged).toBeGreaterThanOrEqual(5_000);
    expect(found.slice(0, 25)).toEqual([]);
  }, 120_000);
});

async function runOracle(python: string, cases: Cases): Promise<Record<keyof Cases, unknown[]>> {
  const child = execFile(python, ['-c', ORACLE], { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 });
  const output = new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(text) : reject(new Error(`packaging oracle exited ${code}`)),
    );
  });
  child.stdin?.end(JSON.stringify(cases));
  return JSON.parse(await output) as Record<keyof Cases, unknown[]>;
}
