// What the build leaves out of an artifact, as a policy of named rules. Every rule has an id
// and an explanation (shown in `--help`, recorded in the manifest with the files and bytes
// it removed). Rules only ever drop files that Python never imports at run time; `*.dist-info`
// (importlib.metadata needs it: serverless-python-requirements#296) and auditwheel's `*.libs`
// folders (stripping or trimming them breaks numpy/scipy: serverless-python-requirements#318)
// are never touched.

/** One slimming rule: a file under site-packages is dropped when `matches` says so. */
export interface SlimRule {
  readonly id: string;
  readonly explanation: string;
  /**
   * @param path site-packages-relative path, `/`-separated (`numpy/_core/tests/test_api.py`)
   * @param context every path of the same wheel, to ask whether a folder is a Python package
   */
  readonly matches: (path: string, context: SlimContext) => boolean;
}

export interface SlimContext {
  /** True when `folder/__init__.py` exists in the same distribution. */
  readonly isPythonPackage: (folder: string) => boolean;
}

export interface SlimPolicy {
  /** Rules applied in order; the first that matches names the removal. */
  readonly rules: readonly SlimRule[];
  /** Compile `.pyc` for the target with its interpreter, when one is available. Off by default. */
  readonly precompile: boolean;
  /**
   * Strip symbols from extension modules (`strip --strip-unneeded`), never in `*.libs`, and only
   * when an interpreter of the target is here to smoke-import the stripped files. Off by default.
   */
  readonly stripSymbols: boolean;
  /** Leave out what the Lambda runtime already provides ({@link RUNTIME_PROVIDED}). Off by default. */
  readonly excludeRuntimeProvided: boolean;
}

/** Where a file may come from, besides `purelib`/`platlib`: used for the wheel `.data` rules. */
export const WHEEL_DATA_RULES = {
  headers: {
    id: 'wheel-data-headers',
    explanation:
      'A wheel\'s ".data/headers" are C headers for building other extensions; nothing imports them, so they are not installed.',
  },
  data: {
    id: 'wheel-data-data',
    explanation:
      'A wheel\'s ".data/data" files belong under sys.prefix (share/, etc/), which a layer cannot write to; they are left out and listed here.',
  },
} as const;

/** `dist-info` and auditwheel `*.libs` folders (and what is below them) are never slimmed. */
export function isProtected(path: string): boolean {
  const top = path.split('/', 1)[0] ?? '';
  return top.endsWith('.dist-info') || top.endsWith('.libs');
}

function segments(path: string): string[] {
  return path.split('/');
}

/** The folder of a path that is named one of `names`, at depth ≥ 2 (below a top-level package). */
function folderNamed(path: string, names: ReadonlySet<string>): string | null {
  const parts = segments(path);
  for (let index = 1; index < parts.length - 1; index++) {
    if (names.has(parts[index] ?? '')) return parts.slice(0, index + 1).join('/');
  }
  return null;
}

const TEST_FOLDERS = new Set(['tests', 'test']);
const DOC_FOLDERS = new Set(['docs', 'doc', 'examples', 'example']);
const SOURCE_SUFFIXES = ['.h', '.hpp', '.c', '.cc', '.cpp', '.cxx', '.pyx', '.pxd', '.pxi'];

/** The rules on by default, in the order they are tried. */
export const DEFAULT_SLIM_RULES: readonly SlimRule[] = [
  {
    id: 'bytecode',
    explanation:
      '__pycache__ folders and *.pyc files shipped in wheels were compiled for some other interpreter build; Python ignores or regenerates them.',
    matches: (path) => path.endsWith('.pyc') || segments(path).includes('__pycache__'),
  },
  {
    id: 'test-suites',
    explanation:
      "Folders named tests/ or test/ below a top-level package hold the package's own test suite, never imported at run time. Modules named testing/_testing are kept: numpy.testing and pandas._testing are imported by their packages.",
    matches: (path) => folderNamed(path, TEST_FOLDERS) !== null,
  },
  {
    id: 'type-stubs',
    explanation: 'Type stubs (*.pyi) and py.typed markers are read by type checkers only.',
    matches: (path) => path.endsWith('.pyi') || path.endsWith('/py.typed') || path === 'py.typed',
  },
  {
    id: 'c-sources',
    explanation:
      'C/C++ and Cython sources and headers (*.h, *.c, *.cpp, *.pyx, *.pxd, *.pxi) are inputs to compilers, not to the interpreter.',
    matches: (path) => SOURCE_SUFFIXES.some((suffix) => path.endsWith(suffix)),
  },
  {
    id: 'docs-examples',
    explanation:
      'docs/, doc/, examples/ folders inside a package that are not Python packages themselves (no __init__.py): botocore.docs and boto3.docs are imported, so they stay.',
    matches: (path, context) => {
      const folder = folderNamed(path, DOC_FOLDERS);
      return folder !== null && !context.isPythonPackage(folder);
    },
  },
];

/** The default policy: every rule above, no precompiling, keep runtime-provided packages. */
export const DEFAULT_SLIM_POLICY: SlimPolicy = {
  rules: DEFAULT_SLIM_RULES,
  precompile: false,
  stripSymbols: false,
  excludeRuntimeProvided: false,
};

/** No slimming at all (`--no-slim`). */
export const NO_SLIM_POLICY: SlimPolicy = {
  rules: [],
  precompile: false,
  stripSymbols: false,
  excludeRuntimeProvided: false,
};

/**
 * The rule that drops `path`, or null to keep it.
 * @example slimRuleFor(DEFAULT_SLIM_POLICY, 'numpy/_core/tests/test_api.py', context)?.id // 'test-suites'
 */
export function slimRuleFor(policy: SlimPolicy, path: string, context: SlimContext): SlimRule | null {
  if (isProtected(path)) return null;
  return policy.rules.find((rule) => rule.matches(path, context)) ?? null;
}

/** A context over one wheel's site-packages paths. */
export function slimContextOf(paths: Iterable<string>): SlimContext {
  const packages = new Set<string>();
  for (const path of paths)
    if (path.endsWith('/__init__.py')) packages.add(path.slice(0, -'/__init__.py'.length));
  return { isPythonPackage: (folder) => packages.has(folder) };
}

/** A stable identity of a policy, part of the build cache key. */
export function slimPolicyKey(policy: SlimPolicy): string {
  return JSON.stringify({
    rules: policy.rules.map((rule) => rule.id),
    precompile: policy.precompile,
    stripSymbols: policy.stripSymbols,
    excludeRuntimeProvided: policy.excludeRuntimeProvided,
  });
}

/**
 * Distributions the Lambda Python runtimes already ship (boto3 and its dependencies). Source:
 * docs.aws.amazon.com/lambda/latest/dg/lambda-python.html ("Runtime-included SDK versions")
 * names boto3 and botocore for every Python runtime; the others are their install-time
 * dependencies (s3transfer, jmespath, python-dateutil → six, urllib3), so they are present
 * wherever boto3 is. Unconfirmed: the exact versions per runtime, which change with each
 * runtime update — which is why excluding them is off by default.
 */
export const RUNTIME_PROVIDED: readonly {
  readonly name: string;
  readonly runtimes: readonly string[];
  readonly source: string;
}[] = ['boto3', 'botocore', 's3transfer', 'jmespath', 'python-dateutil', 'six', 'urllib3'].map((name) => ({
  name,
  runtimes: ['python3.10', 'python3.11', 'python3.12', 'python3.13', 'python3.14'],
  source:
    name === 'boto3' || name === 'botocore'
      ? 'docs.aws.amazon.com/lambda/latest/dg/lambda-python.html (runtime-included SDK)'
      : 'dependency of boto3/botocore, hence present with them (no AWS page lists it)',
}));

/** True when `name` (PEP 503 normalized) is provided by the Lambda runtime. */
export function isRuntimeProvided(name: string): boolean {
  return RUNTIME_PROVIDED.some((entry) => entry.name === name);
}

/** Lines for `--help`: one per rule, `id: explanation`. */
export function describeSlimRules(policy: SlimPolicy = DEFAULT_SLIM_POLICY): string[] {
  return [
    ...policy.rules.map((rule) => `${rule.id}: ${rule.explanation}`),
    `${WHEEL_DATA_RULES.headers.id}: ${WHEEL_DATA_RULES.headers.explanation}`,
    `${WHEEL_DATA_RULES.data.id}: ${WHEEL_DATA_RULES.data.explanation}`,
  ];
}
