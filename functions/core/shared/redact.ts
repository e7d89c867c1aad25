// The one place credentials are taken out of URLs before they reach a lock, manifest, report,
// event, log or error: `https://user:****@host/…`, as pip's redact_auth_from_url does.

/** Matches `scheme://userinfo@` at the start of a URL inside any text. */
const USERINFO = /\b([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^\s/?#@'"<>]*)@/g;

function maskUserinfo(userinfo: string): string {
  const colon = userinfo.indexOf(':');
  // A lone user part is usually a token (`https://TOKEN@host/`): hide it whole, as pip does.
  if (colon < 0) return '****';
  return `${userinfo.slice(0, colon)}:****`;
}

/**
 * A URL with its password (or lone token user name) replaced by `****`.
 * @example redactUrl('https://me:s3cret@pypi.example/simple/') // 'https://me:****@pypi.example/simple/'
 */
export function redactUrl(url: string): string {
  return redactText(url);
}

/**
 * Every URL inside a message, log line or document, with its credentials masked.
 * @example redactText('GET https://me:s3cret@host/x failed') // 'GET https://me:****@host/x failed'
 */
export function redactText(text: string): string {
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
