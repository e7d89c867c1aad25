// Misspelt or impossible index and find-links locations are errors that name them (exit 2), from
// every place a location can be written: the command line, PIP_* variables, pip's config and a
// requirements file; and lock URLs are limited to what the downloader may fetch.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertLocationShape } from '../../../functions/core/index/locations.ts';
import { readPipConfiguration, resolveIndexOptions } from '../../../functions/core/inputs/pip-config.ts';
import { readRequirementsFile } from '../../../functions/core/inputs/requirements-file.ts';
import { serializeLock } from '../../../functions/core/resolve/lock.ts';
import { parseLock } from '../../../functions/core/resolve/lock-reader.ts';
import { InputError } from '../../../functions/core/shared/errors.ts';
import type { Lock } from '../../../functions/core/shared/types.ts';

const MISSPELT = [
  ['a missing slash', 'http:/pypi.example/simple/'],
  ['a misspelt scheme', 'htps://pypi.example/simple/'],
  ['no scheme but a port', 'pypi.example:8080/simple/'],
  ['an unsupported scheme', 'ftp://pypi.example/simple/'],
  ['no host', 'https:///simple/'],
];

function errorOf(act: () => unknown): InputError | null {
  try {
    act();
    return null;
  } catch (error) {
    return error as InputError;
  }
}

describe('assertLocationShape', () => {
  it.each(MISSPELT)('refuses a URL with %s, naming it', (_what, url) => {
    // Act
    const error = errorOf(() =>
      assertLocationShape(url, '--index-url', { file: 'r.txt', line: 3, column: 4 }),
    );

    // Assess
    expect(error).toBeInstanceOf(InputError);
    expect(error?.exitCode).toBe(2);
    expect(error?.message).toContain(url);
    expect(error?.message).toContain('r.txt:3');
  });

  it.each([
    'https://pypi.org/simple/',
    'http://127.0.0.1:8080/simple',
    'file:///srv/simple/',
    'file://localhost/srv/simple/',
    './wheels',
    '/srv/wheels',
  ])('accepts %s', (location) => {
    expect(() => assertLocationShape(location, '--index-url', null)).not.toThrow();
  });

  it('never echoes a password while refusing a URL', () => {
    const error = errorOf(() => assertLocationShape('htps://me:hunter2@host/simple/', '-i', null));
    expect(error?.message).toContain('htps://me:****@host/simple/');
    expect(error?.message).not.toContain('hunter2');
  });
});

describe('misspelt locations from each place they can be written', () => {
  it.each(MISSPELT)(
    'resolveIndexOptions refuses %s from the command line, naming where it came from',
    (_what, url) => {
      const error = errorOf(() => resolveIndexOptions({ cli: { indexUrl: url } }));
      expect(error).toBeInstanceOf(InputError);
      expect(error?.message).toMatch(/command line/);
    },
  );

  it('resolveIndexOptions refuses a misspelt PIP_EXTRA_INDEX_URL and PIP_FIND_LINKS', () => {
    const extra = errorOf(() =>
      resolveIndexOptions({ environment: { PIP_EXTRA_INDEX_URL: 'http:/x/simple' } }),
    );
    const links = errorOf(() => resolveIndexOptions({ environment: { PIP_FIND_LINKS: 'htps://x/wheels/' } }));
    expect(extra?.message).toMatch(/PIP_EXTRA_INDEX_URL/);
    expect(links?.message).toMatch(/PIP_FIND_LINKS/);
  });

  it('refuses a misspelt index-url in a pip configuration file, naming the file', async () => {
    // Prepare
    const folder = await mkdtemp(join(tmpdir(), 'lambda-deps-pip-conf-'));
    const file = join(folder, 'pip.conf');
    await writeFile(file, '[global]\nindex-url = htps://pypi.example/simple/\n');

    // Act
    const config = await readPipConfiguration({ PIP_CONFIG_FILE: file }, folder);
    const error = errorOf(() => resolveIndexOptions({ config }));
    await rm(folder, { recursive: true, force: true });

    // Assess
    expect(error).toBeInstanceOf(InputError);
    expect(error?.message).toContain(`pip config ${file} [global]`);
  });

  describe('in a requirements file', () => {
    let folder = '';
    beforeAll(async () => {
      folder = await mkdtemp(join(tmpdir(), 'lambda-deps-locations-'));
    });
    afterAll(async () => {
      await rm(folder, { recursive: true, force: true });
    });

    it.each([
      ['-i', '-i http:/pypi.example/simple/\nsix\n'],
      ['--extra-index-url', '--extra-index-url htps://pypi.example/simple/\nsix\n'],
      ['--find-links', '--find-links htps://pypi.example/wheels/\nsix\n'],
    ])('refuses a misspelt %s with the file and line', async (_option, text) => {
      // Prepare
      const file = join(folder, 'requirements.txt');
      await writeFile(file, text);

      // Act
      const error = await readRequirementsFile(file).then(
        () => null,
        (caught: unknown) => caught as InputError,
      );

      // Assess
      expect(error).toBeInstanceOf(InputError);
      expect(error?.location?.line).toBe(1);
    });
  });
});

describe('URLs in a lock', () => {
  const HASH = 'c'.repeat(64);
  function lockWith(url: string, filename = 'six-1.16.0-py2.py3-none-any.whl'): string {
    const lock: Lock = {
      lockVersion: 1,
      target: {
        runtime: 'python3.11',
        pythonVersion: '3.11',
        glibc: '2.34',
        architecture: 'x86_64',
        os: 'linux',
      },
      packages: [
        {
          name: 'six',
          version: '1.16.0',
          filename,
          url,
          sha256: HASH,
          size: 1,
          unzippedSize: 1,
          tag: 'py2.py3-none-any',
          requiredBy: ['<requirements>'],
        },
      ],
    } as Lock;
    return serializeLock(lock);
  }

  it('refuses file:///etc/shadow (not the distribution filename), even in a local lock', () => {
    const error = errorOf(() =>
      parseLock(lockWith('file:///etc/shadow'), 'set.lock.json', { localFileUrls: true }),
    );
    expect(error).toBeInstanceOf(InputError);
    expect(error?.message).toMatch(/does not end in the distribution's filename/);
  });

  it('refuses any file: URL in a lock that did not come from this machine', () => {
    const error = errorOf(() =>
      parseLock(lockWith('file:///srv/wheels/six-1.16.0-py2.py3-none-any.whl'), 'pipeline lock'),
    );
    expect(error?.message).toMatch(/names a file on the build host/);
  });

  it('accepts a file: wheel in a lock the user named locally, and https anywhere', () => {
    const local = 'file:///srv/wheels/six-1.16.0-py2.py3-none-any.whl';
    const remote = 'https://files.example/packages/six-1.16.0-py2.py3-none-any.whl';
    expect(parseLock(lockWith(local), 'set.lock.json', { localFileUrls: true }).packages[0]?.url).toBe(local);
    expect(parseLock(lockWith(remote), 'set.lock.json').packages[0]?.url).toBe(remote);
  });

  it('refuses schemes other than http, https and file', () => {
    const error = errorOf(() =>
      parseLock(lockWith('ftp://h/six-1.16.0-py2.py3-none-any.whl'), 'set.lock.json'),
    );
    expect(error?.message).toMatch(/not an http, https or file URL/);
  });

  it('writes no password into a lock', () => {
    const text = lockWith('https://me:hunter2@files.example/six-1.16.0-py2.py3-none-any.whl');
    expect(text).not.toContain('hunter2');
    expect(text).toContain('https://me:****@files.example/');
  });
});
