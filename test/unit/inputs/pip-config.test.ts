// pip's configuration precedence, checked against pip itself: for each scenario the same
// config files, PIP_* variables, command-line flags and requirements file are given to
// pip's own option parser and requirements reader (no network: only its PackageFinder's
// index and find-links lists are read), and to readPipConfiguration + resolveIndexOptions.
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../functions/core/shared/errors.ts';
import {
  assertIndexAllowed,
  parseConfigFile,
  readPipConfiguration,
  resolveIndexOptions,
  type IndexOptionValues,
} from '../../../functions/core/inputs/pip-config.ts';
import { readRequirementsFile } from '../../../functions/core/inputs/requirements-file.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';

const execFileAsync = promisify(execFile);

/**
 * pip's own code path from the command line to the finder, stopped before any download,
 * for a list of scenarios in one process (each with its own environment and folder).
 */
const PIP_ORACLE = `
import json, os, sys
from pip._internal.commands import create_command
from pip._internal.req.req_file import parse_requirements
answers = []
for scenario in json.load(sys.stdin):
    os.environ.clear()
    os.environ.update(scenario["environment"])
    os.chdir(scenario["cwd"])
    cmd = create_command("install")
    options, args = cmd.parse_args(scenario["args"])
    with cmd.main_context():
        session = cmd.get_default_session(options)
        finder = cmd._build_package_finder(options=options, session=session)
        for f in options.requirements:
            for _ in parse_requirements(f, finder=finder, options=options, session=session):
                pass
        answers.append({"indexUrls": finder.index_urls, "findLinks": finder.find_links,
            "pre": bool(finder.allow_all_prereleases), "constraints": options.constraints})
print(json.dumps(answers))
`;

function pipAvailable(): boolean {
  try {
    execFileSync('python3', ['-c', 'import pip._internal.commands, pip._internal.req.req_file'], {
      stdio: 'ignore',
    });
    return true;
  } catch {
    return false;
  }
}

const NO_PIP_REASON = 'python3 with pip is not installed here, so there is no oracle';

interface Scenario {
  readonly name: string;
  /** Files relative to the scenario root; `{root}` in contents is replaced. */
  readonly files: Readonly<Record<string, string>>;
  /** PIP_* and XDG_* variables; `{root}` is replaced. */
  readonly environment: Readonly<Record<string, string>>;
  /** The same flags, for pip and for lambda-deps. */
  readonly cli: { readonly args: readonly string[]; readonly layer: IndexOptionValues };
}

const SIX = 'six\n';

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'a global XDG config with a multi-line list',
    files: {
      'xdg/pip/pip.conf':
        '[global]\nindex-url = file:///g/simple\nextra-index-url =\n    file:///g/extra1\n    file:///g/extra2\nfind-links = /g/wheels\n',
      'requirements.txt': SIX,
    },
    environment: {},
    cli: { args: [], layer: {} },
  },
  {
    name: 'user files over global key by key, and [install] over [global] whatever the file',
    files: {
      'xdg/pip/pip.conf': '[install]\nindex-url = file:///g-install/simple\n',
      'home/.pip/pip.conf': '[global]\nextra-index-url = file:///legacy/extra\npre = true\n',
      'home/.config/pip/pip.conf':
        '[global]\nindex-url = file:///u/simple\nextra-index-url = file:///u/extra\n',
      'requirements.txt': SIX,
    },
    environment: {},
    cli: { args: [], layer: {} },
  },
  {
    name: 'environment variables replace config lists; command-line lists append',
    files: {
      'xdg/pip/pip.conf': '[global]\nextra-index-url = file:///c/extra\nfind-links = /c/wheels\n',
      'requirements.txt': SIX,
    },
    environment: { PIP_EXTRA_INDEX_URL: 'file:///env/1 file:///env/2', PIP_FIND_LINKS: '/env/wheels' },
    cli: {
      args: ['-i', 'file:///cli/simple', '--extra-index-url', 'file:///cli/extra', '-f', '/cli/wheels'],
      layer: {
        indexUrl: 'file:///cli/simple',
        extraIndexUrls: ['file:///cli/extra'],
        findLinks: ['/cli/wheels'],
      },
    },
  },
  {
    name: "the requirements file's -i beats the command line and drops the extras before it",
    files: {
      'requirements.txt':
        '--extra-index-url file:///f/e1\n-i file:///f/simple\n--extra-index-url file:///f/e2\nsix\n',
    },
    environment: { PIP_EXTRA_INDEX_URL: 'file:///env/extra' },
    cli: {
      args: ['-i', 'file:///cli/simple', '--extra-index-url', 'file:///cli/extra'],
      layer: { indexUrl: 'file:///cli/simple', extraIndexUrls: ['file:///cli/extra'] },
    },
  },
  {
    name: 'extras in the requirements file append to those of every other layer',
    files: {
      'xdg/pip/pip.conf': '[global]\nextra-index-url = file:///c/extra\n',
      'requirements.txt': '--extra-index-url file:///f/extra\nsix\n',
    },
    environment: { PIP_INDEX_URL: 'file:///env/simple' },
    cli: {
      args: ['--extra-index-url', 'file:///cli/extra'],
      layer: { extraIndexUrls: ['file:///cli/extra'] },
    },
  },
  {
    name: "the requirements file's --no-index and a find-links folder beside it",
    files: {
      'wheels/.keep': '',
      'requirements.txt': '--no-index\n-f wheels\nsix\n',
    },
    environment: { PIP_INDEX_URL: 'file:///env/simple' },
    cli: { args: [], layer: {} },
  },
  {
    name: "--no-index on the command line makes the file's index options no-ops",
    files: { 'requirements.txt': '-i file:///f/simple\n--extra-index-url file:///f/extra\nsix\n' },
    environment: {},
    cli: { args: ['--no-index'], layer: { noIndex: true } },
  },
  {
    name: 'PIP_CONFIG_FILE=/dev/null loads no file at all',
    files: {
      'xdg/pip/pip.conf': '[global]\nindex-url = file:///g/simple\n',
      'home/.config/pip/pip.conf': '[global]\nextra-index-url = file:///u/extra\n',
      'requirements.txt': SIX,
    },
    environment: { PIP_CONFIG_FILE: '/dev/null', PIP_INDEX_URL: 'file:///env/simple' },
    cli: { args: [], layer: {} },
  },
  {
    name: 'PIP_CONFIG_FILE is loaded last and skips the user files',
    files: {
      'xdg/pip/pip.conf': '[global]\nindex-url = file:///g/simple\nfind-links = /g/wheels\n',
      'home/.config/pip/pip.conf': '[global]\nextra-index-url = file:///u/extra\n',
      'custom.conf': '[global]\nfind-links = /custom/wheels\npre = on\n',
      'requirements.txt': SIX,
    },
    environment: { PIP_CONFIG_FILE: '{root}/custom.conf' },
    cli: { args: [], layer: {} },
  },
  {
    name: 'a PIP_CONFIG_FILE that does not exist leaves the user files in',
    files: {
      'home/.config/pip/pip.conf': '[global]\nindex-url = file:///u/simple\n',
      'requirements.txt': SIX,
    },
    environment: { PIP_CONFIG_FILE: '{root}/missing.conf' },
    cli: { args: [], layer: {} },
  },
  {
    name: 'several XDG_CONFIG_DIRS (later wins) and XDG_CONFIG_HOME',
    files: {
      'xdg/pip/pip.conf': '[global]\nindex-url = file:///xdg1/simple\nfind-links = /xdg1/wheels\n',
      'xdg2/pip/pip.conf': '[global]\nindex-url = file:///xdg2/simple\n',
      'cfg/pip/pip.conf': '[global]\nextra-index-url = file:///cfg/extra\n',
      'home/.config/pip/pip.conf': '[global]\nextra-index-url = file:///not-read/extra\n',
      'requirements.txt': SIX,
    },
    environment: { XDG_CONFIG_DIRS: '{root}/xdg:{root}/xdg2', XDG_CONFIG_HOME: '{root}/cfg' },
    cli: { args: [], layer: {} },
  },
  {
    name: 'constraint files from config, replaced by PIP_CONSTRAINT, then the command line',
    files: {
      'xdg/pip/pip.conf': '[global]\nconstraint = /c/constraints.txt\n',
      'requirements.txt': SIX,
    },
    environment: { PIP_CONSTRAINT: '/env/a.txt /env/b.txt', PIP_PRE: 'yes' },
    cli: { args: ['-c', '/cli/c.txt'], layer: { constraints: ['/cli/c.txt'] } },
  },
  {
    name: "configparser's spellings: key_with_underscores, colon delimiter, comments, upper case",
    files: {
      'xdg/pip/pip.conf':
        '# pip configuration\n[global]\nindex_url: file:///g/simple\n; a comment\nEXTRA-INDEX-URL = file:///g/extra\nno-index = off\n',
      'requirements.txt': SIX,
    },
    environment: {},
    cli: { args: [], layer: {} },
  },
];

function expand(text: string, root: string): string {
  return text.replaceAll('{root}', root);
}

/** The environment without this machine's PIP_* and XDG_* variables, so each scenario sets its own. */
function cleanEnvironment(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] =>
        entry[1] !== undefined && !/^(PIP_|XDG_|VIRTUAL_ENV$)/.test(entry[0]),
    ),
  );
}

interface PipAnswer {
  indexUrls: string[];
  findLinks: string[];
  pre: boolean;
  constraints: string[];
}

/** Compared shapes: pip repeats entries and spells PyPI without the trailing slash. */
function normalizeAnswer(answer: PipAnswer, cwd: string): PipAnswer {
  const unique = (values: string[]): string[] => [...new Set(values)];
  return {
    indexUrls: unique(answer.indexUrls.map((url) => url.replace(/\/$/, ''))),
    findLinks: unique(
      answer.findLinks.map((link) => (isAbsolute(link) ? resolve(link) : resolve(cwd, link))),
    ),
    pre: answer.pre,
    constraints: unique(answer.constraints),
  };
}

async function askPip(
  scenarios: readonly { args: readonly string[]; environment: Record<string, string>; cwd: string }[],
): Promise<PipAnswer[]> {
  const child = execFileAsync('python3', ['-c', PIP_ORACLE]);
  child.child.stdin?.end(JSON.stringify(scenarios));
  const { stdout } = await child;
  return JSON.parse(stdout) as PipAnswer[];
}

async function askLambdaDeps(
  requirementsFile: string,
  cli: IndexOptionValues,
  environment: Record<string, string>,
  home: string,
): Promise<PipAnswer> {
  const config = await readPipConfiguration(environment, home);
  const set = await readRequirementsFile(requirementsFile, { environment });
  const { options, constraintFiles } = resolveIndexOptions({
    cli,
    file: set.fileIndexOptions,
    fileSources: set.optionSources,
    environment,
    config,
  });
  return {
    indexUrls: options.indexUrl === null ? [] : [options.indexUrl, ...options.extraIndexUrls],
    findLinks: [...options.findLinks],
    pre: options.pre,
    constraints: [...constraintFiles],
  };
}

describe('readPipConfiguration and resolveIndexOptions', () => {
  let root: string;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'lambda-deps-pip-config-'));
  });

  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it.skipIf(!pipAvailable())(
    `agree with pip's own option parser and requirements reader in ${SCENARIOS.length} scenarios${pipAvailable() ? '' : ` (skipped: ${NO_PIP_REASON})`}`,
    async () => {
      // Prepare
      const prepared = SCENARIOS.map((scenario, index) => {
        const scenarioRoot = join(root, `scenario-${index}`);
        for (const [name, content] of Object.entries(scenario.files)) {
          const path = join(scenarioRoot, name);
          mkdirSync(dirname(path), { recursive: true });
          writeFileSync(path, expand(content, scenarioRoot));
        }
        const home = join(scenarioRoot, 'home');
        mkdirSync(home, { recursive: true });
        const environment: Record<string, string> = {
          ...cleanEnvironment(),
          HOME: home,
          XDG_CONFIG_DIRS: join(scenarioRoot, 'xdg'),
          ...Object.fromEntries(
            Object.entries(scenario.environment).map(([key, value]) => [key, expand(value, scenarioRoot)]),
          ),
        };
        return { scenario, scenarioRoot, home, environment };
      });

      // Act
      const pipAnswers = await askPip(
        prepared.map(({ scenario, scenarioRoot, environment }) => ({
          args: ['-r', join(scenarioRoot, 'requirements.txt'), ...scenario.cli.args],
          environment,
          cwd: scenarioRoot,
        })),
      );
      const results = await Promise.all(
        prepared.map(async ({ scenario, scenarioRoot, home, environment }, index) => {
          const ours = await askLambdaDeps(
            join(scenarioRoot, 'requirements.txt'),
            scenario.cli.layer,
            environment,
            home,
          );
          const pip = pipAnswers[index];
          if (!pip) throw new Error(`pip gave no answer for scenario ${index}`);
          return {
            name: scenario.name,
            pip: normalizeAnswer(pip, scenarioRoot),
            ours: normalizeAnswer(ours, scenarioRoot),
          };
        }),
      );

      // Assess
      expect(results.map(({ name, ours }) => ({ name, ...ours }))).toEqual(
        results.map(({ name, pip }) => ({ name, ...pip })),
      );
    },
  );

  it.skipIf(localIndexes() === null)(
    `find this machine's on-disk indexes with no flags, as pip config list names them${localIndexes() === null ? ` (skipped: ${NO_LOCAL_INDEXES_REASON})` : ''}`,
    async () => {
      // Prepare
      const expected = localIndexes();

      // Act
      const config = await readPipConfiguration(process.env, homedir());
      const { options, origins } = resolveIndexOptions({ config, environment: process.env });

      // Assess
      const indexes = [options.indexUrl, ...options.extraIndexUrls];
      for (const url of expected?.indexUrls ?? []) expect(indexes).toContain(url);
      expect([...options.findLinks].sort()).toEqual([...(expected?.findLinks ?? [])].sort());
      for (const url of options.extraIndexUrls) expect(origins[`extraIndexUrls:${url}`]).toBeTruthy();
    },
  );

  it('reads $VIRTUAL_ENV/pip.conf as the site file, over the user files', async () => {
    // Prepare
    const scenarioRoot = mkdtempSync(join(root, 'venv-'));
    mkdirSync(join(scenarioRoot, 'home/.config/pip'), { recursive: true });
    mkdirSync(join(scenarioRoot, 'venv'));
    writeFileSync(
      join(scenarioRoot, 'home/.config/pip/pip.conf'),
      '[global]\nindex-url = file:///user/simple\n',
    );
    writeFileSync(join(scenarioRoot, 'venv/pip.conf'), '[global]\nindex-url = file:///venv/simple\n');
    const environment = {
      XDG_CONFIG_DIRS: join(scenarioRoot, 'xdg'),
      VIRTUAL_ENV: join(scenarioRoot, 'venv'),
    };

    // Act
    const config = await readPipConfiguration(environment, join(scenarioRoot, 'home'));

    // Assess
    expect(config.values.indexUrl).toBe('file:///venv/simple');
    expect(config.origins.indexUrl).toBe(`pip config ${join(scenarioRoot, 'venv/pip.conf')} [global]`);
  });

  it('says where each value came from', () => {
    // Act
    const resolved = resolveIndexOptions({
      cli: { extraIndexUrls: ['https://cli.example/simple/'] },
      file: { findLinks: ['/srv/wheels'] },
      fileSources: { '/srv/wheels': { file: 'requirements.txt', line: 3, column: 4 } },
      environment: { PIP_INDEX_URL: 'https://env.example/simple/' },
    });

    // Assess
    expect(resolved.options).toEqual({
      indexUrl: 'https://env.example/simple/',
      extraIndexUrls: ['https://cli.example/simple/'],
      findLinks: ['/srv/wheels'],
      pre: false,
    });
    expect(resolved.origins).toEqual({
      indexUrl: 'environment variable PIP_INDEX_URL',
      'extraIndexUrls:https://cli.example/simple/': 'command line',
      'findLinks:/srv/wheels': 'requirements file requirements.txt:3',
    });
  });

  it('falls back to PyPI when nothing names an index', () => {
    // Act
    const resolved = resolveIndexOptions({});

    // Assess
    expect(resolved.options.indexUrl).toBe('https://pypi.org/simple/');
    expect(resolved.origins.indexUrl).toBe('default (PyPI)');
  });

  it('refuses a flag value that is not true or false, naming the file and line', async () => {
    // Prepare
    const scenarioRoot = mkdtempSync(join(root, 'bad-flag-'));
    mkdirSync(join(scenarioRoot, 'xdg/pip'), { recursive: true });
    writeFileSync(join(scenarioRoot, 'xdg/pip/pip.conf'), '[global]\n\npre = maybe\n');

    // Act
    const error = await readPipConfiguration(
      { XDG_CONFIG_DIRS: join(scenarioRoot, 'xdg') },
      join(scenarioRoot, 'home'),
    ).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).location).toEqual({
      file: join(scenarioRoot, 'xdg/pip/pip.conf'),
      line: 3,
      column: 1,
    });
  });

  it('refuses PIP_NO_INDEX that is not true or false', () => {
    // Act
    const act = (): unknown => resolveIndexOptions({ environment: { PIP_NO_INDEX: 'sometimes' } });

    // Assess
    expect(act).toThrow(/PIP_NO_INDEX/);
  });
});

describe('parseConfigFile', () => {
  it.each([
    ['index-url = x\n', 'before any [section]', 1],
    ['[global]\nindex-url = a\nindex-url = b\n', 'set twice', 3],
    ['[global]\n[global]\n', 'appears twice', 2],
    ['[global]\njust some words\n', 'cannot read line', 2],
  ])('refuses %j like configparser does', (text, message, line) => {
    // Act
    const act = (): unknown => parseConfigFile(text, 'pip.conf');

    // Assess
    expect(act).toThrow(message);
    try {
      act();
    } catch (error) {
      expect((error as InputError).location?.line).toBe(line);
    }
  });

  it('keeps inline "#" text in the value, as configparser does', () => {
    // Act
    const sections = parseConfigFile('[global]\nindex-url = https://x.example/simple/ # note\n', 'pip.conf');

    // Assess
    expect(sections.get('global')?.get('index-url')?.value).toBe('https://x.example/simple/ # note');
  });
});

describe('assertIndexAllowed', () => {
  const allowList = ['https://pypi.org/simple', 'https://user:secret@private.example/pypi/'];

  it.each([
    'https://pypi.org/simple',
    'https://pypi.org/simple/',
    'https://pypi.org/simple/requests/',
    'https://private.example/pypi/simple/',
  ])('allows %s', (url) => {
    // Act
    const act = (): void => assertIndexAllowed(url, allowList);

    // Assess
    expect(act).not.toThrow();
  });

  it.each([
    'https://pypi.org/simple-evil/',
    'http://pypi.org/simple/',
    'https://pypi.org.evil.example/simple/',
    'https://pypi.org:8443/simple/',
    'https://evil.example/?u=https://pypi.org/simple/',
    'not a url',
  ])('refuses %s', (url) => {
    // Act
    const act = (): void => assertIndexAllowed(url, allowList, { file: 'r.txt', line: 2, column: 4 });

    // Assess
    expect(act).toThrow(InputError);
  });

  it('names the file and line, and never prints credentials', () => {
    // Act
    const error = (() => {
      try {
        assertIndexAllowed('https://me:hunter2@evil.example/simple/', allowList, {
          file: 'r.txt',
          line: 2,
          column: 4,
        });
      } catch (caught) {
        return caught as InputError;
      }
      return null;
    })();

    // Assess
    expect(error?.message).toContain('r.txt:2');
    expect(error?.location).toEqual({ file: 'r.txt', line: 2, column: 4 });
    expect(`${error?.message} ${error?.hint}`).not.toMatch(/hunter2|secret/);
  });

  it('allows everything without an allow-list', () => {
    // Act
    const act = (): void => assertIndexAllowed('https://anything.example/', null);

    // Assess
    expect(act).not.toThrow();
  });
});
