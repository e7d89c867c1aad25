// readRequirementsFile on well-formed input: pip's documented examples and each piece of
// pip's syntax (continuations, comments, ${VAR}, includes, options, hashes).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError } from '../../../functions/core/shared/errors.ts';
import {
  collectRequirementsBundle,
  readRequirementsFile,
} from '../../../functions/core/inputs/requirements-file.ts';
import {
  singleFileBundle,
  withoutUrlCredentials,
} from '../../../functions/core/inputs/requirements-bundle.ts';
import { redactText } from '../../../functions/core/shared/redact.ts';
import { execFileSync } from 'node:child_process';

const HASH_A = '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';
const HASH_B = '486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7';

describe('readRequirementsFile', () => {
  let dir: string;
  const write = (name: string, content: string | Buffer): string => {
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    return path;
  };
  const summary = (requirements: readonly { displayName: string; specifier: string }[]): string[] =>
    requirements.map((requirement) => `${requirement.displayName}${requirement.specifier}`);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lambda-deps-requirements-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads the example file of pip's documentation (without its local wheel line)", async () => {
    // Prepare
    write('other-requirements.txt', 'six\n');
    const path = write(
      'requirements.txt',
      [
        '###### Requirements without Version Specifiers ######',
        'pytest',
        'pytest-cov',
        'beautifulsoup4',
        '',
        '###### Requirements with Version Specifiers ######',
        '#   See https://www.python.org/dev/peps/pep-0440/#version-specifiers',
        'docopt == 0.6.1             # Version Matching. Must be version 0.6.1',
        'keyring >= 4.1.1            # Minimum version 4.1.1',
        'coverage != 3.5             # Version Exclusion. Anything except version 3.5',
        'Mopidy-Dirble ~= 1.1        # Compatible release. Same as >= 1.1, == 1.*',
        '',
        '###### Refer to other requirements files ######',
        '-r other-requirements.txt',
        '',
        '###### A particular file ######',
        'http://wxpython.org/Phoenix/snapshot-builds/wxPython_Phoenix-3.0.3.dev1820+49a8884-cp34-none-win_amd64.whl',
        '',
        '###### Additional Requirements without Version Specifiers ######',
        '#   Same as 1st section, just here to show that you can put things in any order.',
        'rejected',
        'green',
        '',
      ].join('\n'),
    );

    // Act
    const set = await readRequirementsFile(path, { environment: {} });

    // Assess
    expect(summary(set.requirements)).toEqual([
      'pytest',
      'pytest-cov',
      'beautifulsoup4',
      'docopt==0.6.1',
      'keyring>=4.1.1',
      'coverage!=3.5',
      'Mopidy-Dirble~=1.1',
      'six',
      'wxPython_Phoenix',
      'rejected',
      'green',
    ]);
    const wheel = set.requirements.find((requirement) => requirement.name === 'wxpython-phoenix');
    expect(wheel?.url).toMatch(/^http:\/\/wxpython\.org\/.*\.whl$/);
    expect(set.requirements[3]?.source).toEqual({ file: path, line: 8, column: 1 });
    expect(set.files).toEqual([path, join(dir, 'other-requirements.txt')]);
    expect(set.hashCheckingMode).toBe(false);
  });

  it("refuses the local wheel line of pip's example, pointing at it", async () => {
    // Prepare
    const path = write('requirements.txt', 'pytest\n./downloads/numpy-1.9.2-cp34-none-win32.whl\n');

    // Act
    const error = await readRequirementsFile(path, { environment: {} }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).location).toEqual({ file: path, line: 2, column: 1 });
    expect((error as InputError).hint).toContain('--find-links');
  });

  it("reads pip's hash-checking example: continuations, several hashes, hash-checking mode", async () => {
    // Prepare
    const path = write(
      'requirements.txt',
      `FooProject == 1.2 \\\n    --hash=sha256:${HASH_A} \\\n    --hash=sha256:${HASH_B.toUpperCase()}\n`,
    );

    // Act
    const set = await readRequirementsFile(path, { environment: {} });

    // Assess
    expect(set.hashCheckingMode).toBe(true);
    expect(set.requirements).toHaveLength(1);
    expect(set.requirements[0]).toMatchObject({
      name: 'fooproject',
      specifier: '==1.2',
      hashes: [HASH_A, HASH_B],
    });
  });

  it('takes the sha256 of a direct wheel reference from its URL fragment', async () => {
    // Prepare
    const url = `https://files.example.org/pkg-1.0-py3-none-any.whl#sha256=${HASH_A}`;
    const path = write('requirements.txt', `pkg @ ${url}\n`);

    // Act
    const set = await readRequirementsFile(path, { environment: {} });

    // Assess: the fragment is not a comment, and it counts as the hash
    expect(set.requirements[0]?.url).toBe(url);
    expect(set.requirements[0]?.hashes).toEqual([HASH_A]);
    expect(set.hashCheckingMode).toBe(true);
  });

  it('cuts comments only at the start of a line or after whitespace, and never continues a comment line', async () => {
    // Prepare
    const path = write(
      'requirements.txt',
      [
        '# a comment ending in a backslash \\',
        'requests==2.31.0# not a comment here? yes: no space',
        '',
      ].join('\n'),
    );

    // Act
    const error = await readRequirementsFile(path, { environment: {} }).catch((caught: unknown) => caught);

    // Assess: "2.31.0#" is part of the version, as in pip, so the specifier is invalid
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).location?.line).toBe(2);
  });

  it('joins continued lines and strips trailing comments', async () => {
    // Prepare
    const path = write('requirements.txt', 'requests \\\n  [socks] \\\n  >=2.31 # the HTTP library\nboto3\n');

    // Act
    const set = await readRequirementsFile(path, { environment: {} });

    // Assess
    expect(summary(set.requirements)).toEqual(['requests>=2.31', 'boto3']);
    expect(set.requirements[0]?.extras).toEqual(['socks']);
    expect(set.requirements[1]?.source?.line).toBe(4);
  });

  it('reads CRLF files with a UTF-8 byte order mark', async () => {
    // Prepare
    const path = write('requirements.txt', Buffer.from('\ufeffrequests==2.31.0\r\nboto3\r\n', 'utf8'));

    // Act
    const set = await readRequirementsFile(path, { environment: {} });

    // Assess
    expect(summary(set.requirements)).toEqual(['requests==2.31.0', 'boto3']);
  });

  it('expands ${VAR} from the given environment, and only that form', async () => {
    // Prepare
    const path = write(
      'requirements.txt',
      '--extra-index-url https://${INDEX_HOST}/simple/$HOST/\nrequests==${REQUESTS_VERSION}\n',
    );

    // Act
    const set = await readRequirementsFile(path, {
      environment: { INDEX_HOST: 'pypi.internal.example', REQUESTS_VERSION: '2.31.0', HOST: 'unused' },
    });

    // Assess
    expect(set.fileIndexOptions.extraIndexUrls).toEqual(['https://pypi.internal.example/simple/$HOST/']);
    expect(set.requirements[0]?.specifier).toBe('==2.31.0');
  });

  it('reads -r and -c relative to the including file; a constraints file makes its includes constraints', async () => {
    // Prepare
    write('sub/base.txt', 'boto3\n-c constraints/pins.txt\n');
    write('sub/constraints/pins.txt', 'urllib3<2\n-r more-pins.txt\n');
    write('sub/constraints/more-pins.txt', 'botocore<1.40\n');
    const path = write('requirements.txt', '-r sub/base.txt\nrequests\n');

    // Act
    const set = await readRequirementsFile(path, { environment: {} });

    // Assess
    expect(summary(set.requirements)).toEqual(['boto3', 'requests']);
    expect(summary(set.constraints)).toEqual(['urllib3<2', 'botocore<1.40']);
    expect(set.files).toEqual([
      path,
      join(dir, 'sub/base.txt'),
      join(dir, 'sub/constraints/pins.txt'),
      join(dir, 'sub/constraints/more-pins.txt'),
    ]);
  });

  it('reads a file included twice (not a cycle) once', async () => {
    // Prepare
    write('common.txt', 'six\n');
    write('a.txt', '-r common.txt\n');
    write('b.txt', '-r common.txt\n');
    const path = write('requirements.txt', '-r a.txt\n-r b.txt\n');

    // Act
    const set = await readRequirementsFile(path, { environment: {} });

    // Assess
    expect(summary(set.requirements)).toEqual(['six']);
  });

  it('applies index options as pip does: -i replaces the index list, extras append, -f is taken beside the file', async () => {
    // Prepare
    mkdirSync(join(dir, 'wheels'));
    const path = write(
      'requirements.txt',
      [
        '--extra-index-url https://dropped.example/simple/',
        '-i https://pypi.internal.example/simple/',
        '--extra-index=https://extra.example/simple/',
        '-f wheels',
        '-f ./not-here',
        '--pre',
        '--prefer-binary',
        '--only-binary=:all:',
        '--only-binary Foo_Bar,baz',
        '--trusted-host pypi.internal.example',
        'requests',
      ].join('\n'),
    );

    // Act
    const set = await readRequirementsFile(path, { environment: {} });

    // Assess
    expect(set.fileIndexOptions).toEqual({
      indexUrl: 'https://pypi.internal.example/simple/',
      extraIndexUrls: ['https://extra.example/simple/'],
      findLinks: [join(dir, 'wheels'), join(process.cwd(), 'not-here')],
      pre: true,
      preferBinary: true,
      onlyBinary: [':all:', 'foo-bar', 'baz'],
      trustedHosts: ['pypi.internal.example'],
    });
    expect(set.optionSources?.['https://extra.example/simple/']).toEqual({ file: path, line: 3, column: 15 });
  });

  it('ignores -i and --extra-index-url after --no-index, as pip does', async () => {
    // Prepare
    const path = write(
      'requirements.txt',
      '-i https://a.example/simple/\n--no-index\n--extra-index-url https://b.example/simple/\n-f /srv/wheels\nsix\n',
    );

    // Act
    const set = await readRequirementsFile(path, { environment: {} });

    // Assess
    expect(set.fileIndexOptions).toEqual({ noIndex: true, extraIndexUrls: [], findLinks: ['/srv/wheels'] });
  });

  it('accepts the same pin twice, and different pins under different markers', async () => {
    // Prepare
    const path = write(
      'requirements.txt',
      [
        'requests==2.31.0',
        'requests==2.31',
        'numpy==1.26.4; python_version < "3.12"',
        'numpy==2.1.0; python_version >= "3.12"',
      ].join('\n'),
    );

    // Act
    const set = await readRequirementsFile(path, { environment: {} });

    // Assess
    expect(set.requirements).toHaveLength(4);
  });

  it('allows indexes and direct references under the allow-list', async () => {
    // Prepare
    const path = write(
      'requirements.txt',
      '-i https://pypi.org/simple/\npkg @ https://files.pythonhosted.org/packages/pkg-1.0-py3-none-any.whl\n',
    );

    // Act
    const set = await readRequirementsFile(path, {
      environment: {},
      allowedIndexes: ['https://pypi.org/simple', 'https://files.pythonhosted.org/'],
    });

    // Assess
    expect(set.requirements.map((requirement) => requirement.name)).toEqual(['pkg']);
  });

  it('accepts exactly 10,000 lines ending in a line break, and a file of exactly 1 MiB', async () => {
    // Prepare
    const lines = write('lines.txt', 'six\n'.repeat(10_000));
    const mebibyte = write('mebibyte.txt', `six\n${'#'.repeat(1024 * 1024 - 5)}\n`);

    // Act
    const fromLines = await readRequirementsFile(lines, { environment: {} });
    const fromMebibyte = await readRequirementsFile(mebibyte, { environment: {} });

    // Assess
    expect(fromLines.requirements).toHaveLength(10_000);
    expect(fromMebibyte.requirements).toHaveLength(1);
  });

  it('uses process.env when no environment is given', async () => {
    // Prepare
    const variable = `LAMBDA_DEPS_TEST_${process.pid}`;
    process.env[variable] = '1.26.4';
    const path = write('requirements.txt', `numpy==\${${variable}}\n`);

    // Act
    const set = await readRequirementsFile(path).finally(() => {
      delete process.env[variable];
    });

    // Assess
    expect(set.requirements[0]?.specifier).toBe('==1.26.4');
  });

  it("bundles the file with its -r and -c includes, and reads the bundle alone (errors name the user's file and line)", async () => {
    // Prepare
    write('common/base.txt', 'six\n');
    write('app/constraints.txt', 'idna==3.20\n');
    const root = write(
      'app/requirements.txt',
      '-r ../common/base.txt\n-c constraints.txt\n--find-links ./wheels\nidna\n',
    );
    const { bundle } = await collectRequirementsBundle(root);
    rmSync(join(dir, 'common'), { recursive: true });
    const broken = {
      ...bundle,
      files: { ...bundle.files, [root]: '-r ../common/base.txt\n-r missing.txt\n' },
    };

    // Act
    const set = await readRequirementsFile(bundle.root, { bundle });
    const attempt = readRequirementsFile(bundle.root, { bundle: broken });

    // Assess
    expect(Object.keys(bundle.files).sort()).toEqual(
      [join(dir, 'app/constraints.txt'), root, join(dir, 'common/base.txt')].sort(),
    );
    expect(summary(set.requirements)).toEqual(['six', 'idna']);
    expect(summary(set.constraints)).toEqual(['idna==3.20']);
    expect(set.fileIndexOptions.findLinks).toEqual([join(dir, 'app/wheels')]);
    await expect(attempt).rejects.toMatchObject({ location: { file: root, line: 2, column: 4 } });
    await expect(attempt).rejects.toThrow(/missing\.txt is not in the uploaded requirements bundle/);
  });

  it('refuses -r /proc/self/environ, a FIFO and a device without reading them or quoting them', async () => {
    // Prepare
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const cases = ['/proc/self/environ', fifo, '/dev/zero'].map((target, index) =>
      write(`include-${index}.txt`, `-r ${target}\n`),
    );

    // Act
    const outcomes = await Promise.all(
      cases.map((path) =>
        readRequirementsFile(path, { environment: { CANARY: 'canary-7f3a' } }).then(
          () => null,
          (error: unknown) => error,
        ),
      ),
    );

    // Assess
    for (const outcome of outcomes) {
      expect(outcome).toBeInstanceOf(InputError);
      expect((outcome as InputError).message).toMatch(/not a regular file|a view of the system/);
      expect((outcome as InputError).location?.line).toBe(1);
    }
  });

  it('quotes no text of a line that is not a requirement in its error', async () => {
    // Prepare
    const secret = 'AKIAIOSFODNN7EXAMPLE';
    const cases = [
      `AWS_SECRET=${secret}`,
      `-e ${secret}`,
      `--index-url ${secret}`,
      `six --${secret}`,
      `./${secret}`,
    ];

    // Act
    const messages = await Promise.all(
      cases.map((line, index) =>
        readRequirementsFile(write(`secret-${index}.txt`, `${line}\n`)).then(
          () => 'accepted',
          (error: Error & { hint?: string | null }) => `${error.message} ${error.hint ?? ''}`,
        ),
      ),
    );

    // Assess
    for (const message of messages) {
      expect(message).not.toBe('accepted');
      expect(message).not.toContain(secret);
    }
  });
});

describe('credentials in the pipeline bundle', () => {
  it('takes passwords and lone tokens out of URLs into variables that give them back', () => {
    // Prepare
    const bundle = singleFileBundle(
      '/p/requirements.txt',
      '-i https://alice:s3cret-pw@host/simple/\n--extra-index-url https://tok3n-value@other/simple/\n' +
        '-f https://bob:${PW}@third/links/\nx==1\n',
    );

    // Act
    const { bundle: stored, variables } = withoutUrlCredentials(bundle);

    // Assess
    const text = stored.files['/p/requirements.txt'] ?? '';
    expect(text).not.toContain('s3cret-pw');
    expect(text).not.toContain('tok3n-value');
    expect(text).toContain('https://bob:${PW}@third/links/');
    expect(Object.values(variables).sort()).toEqual(['s3cret-pw', 'tok3n-value']);
    const restored = text.replace(
      /\$\{(LAMBDA_DEPS_URL_CREDENTIAL_\d+)\}/g,
      (_whole, name: string) => variables[name] ?? '',
    );
    expect(restored).toBe(bundle.files['/p/requirements.txt']);
  });

  it('masks a ${VAR} value expanded into a URL in every later message, but not one outside a URL', async () => {
    // Prepare
    const bundle = singleFileBundle('/p/r.txt', '-i https://host/${IDX_TOKEN}/simple/\nx==${X_VERSION}\n');

    // Act
    await readRequirementsFile('/p/r.txt', {
      bundle,
      environment: { IDX_TOKEN: 'path-token-81f3', X_VERSION: '1.0.12345' },
    });

    // Assess
    expect(redactText('GET https://host/path-token-81f3/simple/x/ failed')).toBe(
      'GET https://host/****/simple/x/ failed',
    );
    expect(redactText('x==1.0.12345')).toBe('x==1.0.12345');
  });
});
