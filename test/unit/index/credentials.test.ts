// Credentials for private indexes: redaction of URLs in text, netrc parsing with Python's rules,
// and the store that sends each origin only its own credentials.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCredentialStore } from '../../../functions/core/index/credentials.ts';
import { netrcLookup, parseNetrc, readNetrc } from '../../../functions/core/index/netrc.ts';
import { IndexUnreachableError, ResolutionError } from '../../../functions/core/shared/errors.ts';
import { redactText, redactUrl, stripCredentials } from '../../../functions/core/shared/redact.ts';
import { recordReliability } from '../../support/reliability-log.ts';

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('redactUrl, redactText and stripCredentials', () => {
  const cases: [string, string][] = [
    ['https://me:s3cret@pypi.example/simple/', 'https://me:****@pypi.example/simple/'],
    ['https://TOKEN123@pypi.example/simple/', 'https://****@pypi.example/simple/'],
    ['http://me:p%40ss@127.0.0.1:8080/x', 'http://me:****@127.0.0.1:8080/x'],
    ['https://pypi.org/simple/', 'https://pypi.org/simple/'],
    ['git+https://me:pw@git.example/repo.git', 'git+https://me:****@git.example/repo.git'],
  ];

  it.each(cases)('masks %s as %s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });

  it('masks every URL inside a message and leaves e-mail addresses alone', () => {
    // Act
    const text = redactText(
      'GET https://a:one@h1/x failed, then http://b:two@h2/y; mail ops@example.com "https://c:three@h3/"',
    );

    // Assess
    expect(text).toBe(
      'GET https://a:****@h1/x failed, then http://b:****@h2/y; mail ops@example.com "https://c:****@h3/"',
    );
    recordReliability({
      area: 'index credentials',
      experiment: `credential redaction: ${cases.length + 3} URLs with passwords or tokens masked as user:****@host`,
      cases: cases.length + 3,
      faultsInjected: 0,
      runs: 1,
      lost: 'nothing',
    });
  });

  it('takes the user and password out of a URL that is sent or stored', () => {
    expect(stripCredentials('https://me:s3cret@host/simple/six/')).toBe('https://host/simple/six/');
    expect(stripCredentials('file:///srv/simple/')).toBe('file:///srv/simple/');
  });

  it('keeps passwords out of every typed error: message, hint and resolution problems', () => {
    // Act
    const unreachable = new IndexUnreachableError('https://me:hunter2@host/simple/ failed', {
      hint: 'check https://me:hunter2@host/simple/',
    });
    const resolution = new ResolutionError('no', [{ package: 'x', message: 'from https://me:hunter2@h/' }]);

    // Assess
    expect(`${unreachable.message} ${unreachable.hint} ${JSON.stringify(resolution.problems)}`).not.toContain(
      'hunter2',
    );
  });
});

describe('parseNetrc', () => {
  it('reads machine and default entries, quoted tokens and comments, skipping macro bodies', () => {
    // Prepare
    const text = [
      '# comment line',
      'machine pypi.example login alice password "pa ss"',
      'macdef init',
      'machine evil.example login mallory password stolen',
      '',
      'machine other.example',
      '  login bob',
      '  password two',
      'machine pypi.example login second password ignored',
      'default login anonymous password guest',
    ].join('\n');

    // Act
    const netrc = parseNetrc(text);

    // Assess
    expect(netrcLookup(netrc, 'pypi.example')).toEqual({ login: 'alice', password: 'pa ss' });
    expect(netrcLookup(netrc, 'other.example')).toEqual({ login: 'bob', password: 'two' });
    expect(netrc.machines.has('evil.example')).toBe(false);
    expect(netrcLookup(netrc, 'unknown.example')).toEqual({ login: 'anonymous', password: 'guest' });
  });

  it('reads the file NETRC names, else ~/.netrc, and treats a missing one as none', async () => {
    // Prepare
    const home = await mkdtemp(join(tmpdir(), 'lambda-deps-netrc-'));
    await writeFile(join(home, '.netrc'), 'machine a.example login u password p\n');
    await writeFile(join(home, 'other'), 'machine b.example login v password q\n');

    // Act
    const fromHome = await readNetrc({}, home);
    const fromVariable = await readNetrc({ NETRC: join(home, 'other') }, home);
    const missing = await readNetrc({ NETRC: join(home, 'absent') }, home);
    await rm(home, { recursive: true, force: true });

    // Assess
    expect(fromHome?.machines.get('a.example')?.login).toBe('u');
    expect(fromVariable?.machines.get('b.example')?.login).toBe('v');
    expect(missing).toBeNull();
  });
});

describe('createCredentialStore', () => {
  it('sends URL credentials to their own origin only, never to another host or port', async () => {
    // Prepare
    const store = createCredentialStore({
      locations: ['https://me:pw@private.example/simple/'],
      netrc: null,
    });

    // Act
    const own = await store.authorization('https://private.example/files/x.whl');
    const otherHost = await store.authorization('https://cdn.example/files/x.whl');
    const otherPort = await store.authorization('https://private.example:8443/files/x.whl');
    const plainHttp = await store.authorization('http://private.example/files/x.whl');

    // Assess
    expect(own).toBe(basic('me', 'pw'));
    expect([otherHost, otherPort, plainHttp]).toEqual([null, null, null]);
  });

  it('falls back to netrc by host name, then to the provider', async () => {
    // Prepare
    const asked: string[] = [];
    const store = createCredentialStore({
      locations: ['https://netrc.example/simple/'],
      netrc: parseNetrc('machine netrc.example login n password from-netrc'),
      provider: (origin) => {
        asked.push(origin);
        return origin === 'https://vault.example' ? { username: 'v', password: 'from-provider' } : null;
      },
    });

    // Act
    const fromNetrc = await store.authorization('https://netrc.example/simple/six/');
    const fromProvider = await store.authorization('https://vault.example/simple/six/');
    await store.authorization('https://vault.example/files/six.whl');

    // Assess
    expect(fromNetrc).toBe(basic('n', 'from-netrc'));
    expect(fromProvider).toBe(basic('v', 'from-provider'));
    expect(asked).toEqual(['https://vault.example']);
  });

  it('decodes percent-encoded user names and passwords from the URL', async () => {
    const store = createCredentialStore({
      locations: ['https://me%40corp:p%3Ass@host.example/'],
      netrc: null,
    });
    expect(await store.authorization('https://host.example/x')).toBe(basic('me@corp', 'p:ss'));
  });
});
