// Parses a distribution's core metadata (a wheel's `*.dist-info/METADATA`, or the PEP 658
// `.metadata` file beside it): RFC 822-style headers, of which the resolver needs Name,
// Version, Requires-Dist, Requires-Python and Provides-Extra. The body after the first blank
// line (the long description) is ignored.
import { IntegrityError } from '../shared/errors.ts';
import type { CoreMetadata } from '../shared/types.ts';

/**
 * @param text the METADATA file's text
 * @param origin the file it came from (URL or wheel name), named in errors
 * @example parseCoreMetadata('Name: six\nVersion: 1.16.0\n', 'six-1.16.0-py3-none-any.whl') // { name: 'six', … }
 */
export function parseCoreMetadata(text: string, origin: string): CoreMetadata {
  const headers: { key: string; parts: string[] }[] = [];
  const body = text.replace(/^\uFEFF/, '');
  // Only the header block is parsed: the description after it can be most of the file.
  const end = /\r?\n\r?\n|\r\r/.exec(body)?.index ?? body.length;
  for (const line of body.slice(0, end).split(/\r\n|\n|\r/)) {
    if (/^[ \t]/.test(line)) {
      // A folded header continues the previous one (RFC 822 §3.1.1); unfolding joins with a space.
      // (A folded License often holds whitespace-only lines, which do not end the headers.)
      const trimmed = line.trim();
      if (trimmed !== '') headers.at(-1)?.parts.push(trimmed);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    headers.push({ key: line.slice(0, colon).trim().toLowerCase(), parts: [line.slice(colon + 1).trim()] });
  }
  const all = (key: string): string[] =>
    headers.filter((header) => header.key === key).map((header) => header.parts.join(' ').trim());
  const first = (key: string): string | null => all(key)[0] ?? null;

  const name = first('name');
  const version = first('version');
  const missing = [name ? null : 'Name', version ? null : 'Version'].filter(Boolean);
  if (!name || !version) {
    throw new IntegrityError(`${origin}: the core metadata has no ${missing.join(' or ')} header.`, {
      hint: 'The distribution is broken (its METADATA must name the project and version); pick another version or report it to its maintainers.',
    });
  }
  return {
    name,
    version,
    requiresDist: all('requires-dist').filter((value) => value !== ''),
    requiresPython: first('requires-python') || null,
    providesExtra: all('provides-extra').filter((value) => value !== ''),
  };
}
