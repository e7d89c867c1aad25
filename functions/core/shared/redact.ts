// The one place credentials are taken out of URLs before they reach a lock, manifest, report,
// event, log or error: `https://user:****@host/…`, as pip's redact_auth_from_url does.
import type { BuildIndexes } from './types.ts';

/** Matches `scheme://userinfo@` at the start of a URL inside any text. */
const USERINFO = /\b([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^\s/?#@'"<>]*)@/g;

function maskUserinfo(userinfo: string): string {
  const colon = userinfo.indexOf(':');
  // A lone user part is usually a token (`https://TOKEN@host/`): hide it whole, as pip does.
  if (colon < 0) return '****';
  return `${userinfo.slice(0, colon)}:****`;
}

/** Values this process must never write out (a `${VAR}` expanded into a URL), longest first. */
const registeredSecrets: string[] = [];

/** Shorter values would mask ordinary words and numbers in every message. */
const MIN_SECRET_LENGTH = 6;

/**
 * Masks `value` as `****` wherever redactText runs from now on in this process: a token a
 * requirements file's `${VAR}` put into a URL's path is as secret as a password.
 * @example registerSecret(process.env.INDEX_TOKEN ?? '')
 */
export function registerSecret(value: string): void {
  if (value.length < MIN_SECRET_LENGTH || registeredSecrets.includes(value)) return;
  registeredSecrets.push(value);
  registeredSecrets.sort((left, right) => right.length - left.length);
}

function maskRegisteredSecrets(text: string): string {
  let masked = text;
  for (const secret of registeredSecrets) masked = masked.split(secret).join('****');
  return masked;
}

/**
 * A URL with its password (or lone token user name) replaced by `****`.
 * @example redactUrl('https://me:s3cret@pypi.example/simple/') // 'https://me:****@pypi.example/simple/'
 */
export function redactUrl(url: string): string {
  // Userinfo only: a lock keeps the URLs Build downloads from, so a registered path token stays
  // (messages and errors mask it through redactText).
  return maskUserinfoIn(url);
}

/**
 * Every URL inside a message, log line or document, with its credentials masked.
 * @example redactText('GET https://me:s3cret@host/x failed') // 'GET https://me:****@host/x failed'
 */
export function redactText(text: string): string {
  return maskUserinfoIn(maskRegisteredSecrets(text));
}

function maskUserinfoIn(text: string): string {
  if (!text.includes('@')) return text;
  return text.replace(USERINFO, (_whole, scheme: string, userinfo: string) =>
    userinfo === '' ? `${scheme}@` : `${scheme}${maskUserinfo(userinfo)}@`,
  );
}

/**
 * The URL without any user name or password (what is sent on the wire and kept in locks;
 * credentials travel only in the Authorization header).
 * @example stripCredentials('https://me:s3cret@host/simple/') // 'https://host/simple/'
 */
export function stripCredentials(url: string): string {
  if (!url.includes('@') || !URL.canParse(url)) return url;
  const parsed = new URL(url);
  if (!parsed.username && !parsed.password) return url;
  parsed.username = '';
  parsed.password = '';
  return parsed.href;
}

/**
 * A URL as a lock may record it: no userinfo, and this process's registered secrets (a `${VAR}`
 * token in the path) masked, so the lock that lands in the store and reports holds neither.
 * @example recordableUrl('https://me:pw@host/simple/') // 'https://host/simple/'
 */
export function recordableUrl(url: string): string {
  return redactText(stripCredentials(url));
}

/**
 * A set's indexes as a lock records them ({@link recordableUrl} on each): the build takes the
 * credentials from pip's configuration again.
 */
export function recordableIndexes(indexes: BuildIndexes): BuildIndexes {
  return { indexUrls: indexes.indexUrls.map(recordableUrl), findLinks: indexes.findLinks.map(recordableUrl) };
}
