// netrc credentials the way pip finds them (through requests' get_netrc_auth): the file named by
// NETRC, else ~/.netrc, else ~/_netrc; a `machine HOST` entry for the host (port ignored), else
// the `default` entry. Parsed with Python's netrc rules: whitespace-separated tokens, quoted
// tokens, `#` comments, and `macdef` bodies skipped up to the next blank line.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface NetrcEntry {
  readonly login: string;
  readonly password: string;
}

export interface Netrc {
  readonly machines: ReadonlyMap<string, NetrcEntry>;
  readonly fallback: NetrcEntry | null;
}

/** Splits netrc text into tokens, dropping comments and macro bodies. */
function tokenize(text: string): string[] {
  const tokens: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? '';
    if (line.trimStart().startsWith('#')) continue;
    const pattern = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
    for (const match of line.matchAll(pattern)) {
      const token = match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : (match[2] ?? '');
      if (token === 'macdef') {
        // A macro (its name and its body, up to the next empty line) holds no credential.
        while (index + 1 < lines.length && (lines[index + 1] ?? '').trim() !== '') index++;
        break;
      }
      tokens.push(token);
    }
  }
  return tokens;
}

/**
 * Parses a netrc file.
 * @example parseNetrc('machine pypi.example login me password s3cret').machines.get('pypi.example')
 */
export function parseNetrc(text: string): Netrc {
  const machines = new Map<string, NetrcEntry>();
  let fallback: NetrcEntry | null = null;
  const tokens = tokenize(text);
  let position = 0;
  while (position < tokens.length) {
    const keyword = tokens[position++];
    if (keyword !== 'machine' && keyword !== 'default') continue;
    // Compared as written, as Python's netrc does (URL host names arrive lowercased).
    const host = keyword === 'machine' ? (tokens[position++] ?? '') : null;
    let login = '';
    let password = '';
    while (position < tokens.length && !['machine', 'default'].includes(tokens[position] ?? '')) {
      const field = tokens[position++];
      const value = tokens[position++] ?? '';
      if (field === 'login') login = value;
      else if (field === 'password') password = value;
    }
    const entry = { login, password };
    // Python's netrc keeps the first entry for a host.
    if (host === null) fallback ??= entry;
    else if (!machines.has(host)) machines.set(host, entry);
  }
  return { machines, fallback };
}

/** The netrc entry for a host name (no port), or null. */
export function netrcLookup(netrc: Netrc, hostname: string): NetrcEntry | null {
  return netrc.machines.get(hostname) ?? netrc.fallback;
}

/**
 * Reads the user's netrc as pip does; null when there is none (a missing file is not an error).
 * @example const netrc = await readNetrc(process.env);
 */
export async function readNetrc(
  environment: Record<string, string | undefined> = process.env,
  home: string = homedir(),
): Promise<Netrc | null> {
  const candidates = environment.NETRC ? [environment.NETRC] : [join(home, '.netrc'), join(home, '_netrc')];
  for (const file of candidates) {
    const text = await readFile(file, 'utf8').catch(() => null);
    if (text !== null) return parseNetrc(text);
  }
  return null;
}
