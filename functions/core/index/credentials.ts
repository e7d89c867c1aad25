// Credentials for private indexes, found the way pip finds them: user and password written in
// an index or find-links URL, then netrc, then an injectable provider (the AWS side supplies
// Secrets Manager values through it). They are kept by origin (scheme, host, port) and sent as
// Basic auth only to that origin: each redirect hop looks its own origin up, so a redirect to
// another host never carries them. Credentials written in a URL are also kept for the rest of
// the process (as pip's session keeps them), because a lock holds URLs without credentials and the
// client that later downloads its files is given no index URLs.
import { readNetrc, netrcLookup } from './netrc.ts';
import type { Netrc } from './netrc.ts';

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** Supplies credentials for an origin (`https://host:port`); null when it has none. */
export type CredentialsProvider = (origin: string) => Promise<Credentials | null> | Credentials | null;

export interface CredentialStore {
  /** The `Authorization` header value for a request to this URL, or null. */
  authorization(url: string): Promise<string | null>;
}

export interface CredentialSources {
  /** Index and find-links locations as the user wrote them (credentials in them are used). */
  readonly locations: readonly string[];
  /** null: no netrc; undefined: read it as pip does (NETRC, ~/.netrc). */
  readonly netrc?: Netrc | null;
  readonly provider?: CredentialsProvider | null;
  readonly environment?: Record<string, string | undefined>;
}

function originOf(url: string): string | null {
  if (!URL.canParse(url)) return null;
  const parsed = new URL(url);
  return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.origin : null;
}

function fromUrl(url: string): Credentials | null {
  const parsed = new URL(url);
  if (!parsed.username && !parsed.password) return null;
  return { username: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password) };
}

/** Credentials written in URLs during this process, by origin. */
const sessionCredentials = new Map<string, Credentials>();

function basic({ username, password }: Credentials): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

/**
 * Credentials by origin from the URLs, netrc and provider, looked up once per origin.
 * @example const store = createCredentialStore({ locations: ['https://me:pw@pypi.example/simple/'] });
 */
export function createCredentialStore(sources: CredentialSources): CredentialStore {
  const fromLocations = new Map<string, Credentials>();
  for (const location of sources.locations) {
    const origin = originOf(location);
    const credentials = origin ? fromUrl(location) : null;
    if (origin && credentials && !fromLocations.has(origin)) {
      fromLocations.set(origin, credentials);
      sessionCredentials.set(origin, credentials);
    }
  }
  let netrc: Promise<Netrc | null> | null =
    sources.netrc === undefined ? null : Promise.resolve(sources.netrc);
  const resolved = new Map<string, Promise<string | null>>();

  async function lookup(origin: string, url: string): Promise<string | null> {
    const written = fromUrl(url) ?? fromLocations.get(origin) ?? sessionCredentials.get(origin);
    if (written) return basic(written);
    netrc ??= readNetrc(sources.environment ?? process.env);
    const file = await netrc;
    const fromNetrc = file ? netrcLookup(file, new URL(origin).hostname) : null;
    if (fromNetrc && (fromNetrc.login || fromNetrc.password)) {
      return basic({ username: fromNetrc.login, password: fromNetrc.password });
    }
    const provided = sources.provider ? await sources.provider(origin) : null;
    return provided ? basic(provided) : null;
  }

  return {
    authorization(url) {
      const origin = originOf(url);
      if (!origin) return Promise.resolve(null);
      if (fromUrl(url)) return lookup(origin, url);
      let found = resolved.get(origin);
      if (!found) {
        found = lookup(origin, url);
        resolved.set(origin, found);
      }
      return found;
    },
  };
}
