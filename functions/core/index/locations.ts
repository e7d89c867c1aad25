// Index and find-links locations: their shape checked before anything is fetched (a typo like
// `http:/host/simple` or `htps://…` is an error naming it, not a folder that silently is not
// there), bare paths turned into file: URLs, local ones required to exist, and the policy's
// allow-list.
import { stat } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { InputError } from '../shared/errors.ts';
import { redactUrl } from '../shared/redact.ts';
import type { SourceLocation } from '../shared/types.ts';

const HAS_SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*:/;
const SUPPORTED = /^(https?:\/\/[^/\\?#\s]|file:\/\/(\/|localhost\/))/i;

/** Whether a location is written as a URL (rather than a path). */
export function looksLikeUrl(location: string): boolean {
  return HAS_SCHEME.test(location);
}

/**
 * Refuses a location whose scheme or shape is wrong, naming it and where it was written.
 * @param what how the user named it: `--index-url`, `find-links`, …
 * @example assertLocationShape('http:/host/simple', '--index-url', null) // throws InputError
 */
export function assertLocationShape(location: string, what: string, where: SourceLocation | null): void {
  const trimmed = location.trim();
  const at = where ? ` (${where.file}:${where.line})` : '';
  const fail = (problem: string): InputError =>
    new InputError(`${what} "${redactUrl(trimmed)}"${at} ${problem}.`, {
      location: where,
      hint: 'Write an index as https://host/simple/ (or file:///path/), and a find-links location as such a URL or a folder path.',
    });
  if (trimmed === '') throw fail('is empty');
  if (!looksLikeUrl(trimmed)) return;
  if (!/^(https?|file):/i.test(trimmed)) {
    throw fail(
      `has the scheme "${trimmed.slice(0, trimmed.indexOf(':'))}:", which is not http, https or file`,
    );
  }
  if (!SUPPORTED.test(trimmed) || !URL.canParse(trimmed)) {
    throw fail('is not a well-formed URL (expected scheme://host/path)');
  }
}

/** A find-links entry or index given as a bare path becomes a file: URL. */
export function toUrl(location: string): string {
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(location)
    ? location
    : pathToFileURL(resolvePath(location)).href;
}

/**
 * Refuses a local index or find-links location that does not exist (a misspelt folder must not
 * quietly leave the lock to the other indexes).
 * @example await assertLocalLocationsExist(['./wheels'], 'find-links')
 */
export async function assertLocalLocationsExist(locations: readonly string[], what: string): Promise<void> {
  for (const location of locations) {
    const url = toUrl(location);
    if (!url.startsWith('file:')) continue;
    const path = fileURLToPath(url);
    if (!(await stat(path).catch(() => null))) {
      throw new InputError(`The ${what} location ${location} does not exist.`, {
        hint: `Check the spelling of ${path}; a location that is not there would silently leave the choice to the other indexes.`,
      });
    }
  }
}

/** Refuses index locations outside the policy's allowed list (null allows all). */
export function assertLocationsAllowed(
  locations: readonly string[],
  allowed: readonly string[] | null,
): void {
  if (allowed === null) return;
  const normalize = (location: string): string => toUrl(location).replace(/\/+$/, '');
  const roots = allowed.map(normalize);
  for (const location of locations) {
    const url = normalize(location);
    if (!roots.some((root) => url === root || url.startsWith(`${root}/`))) {
      throw new InputError(`The index ${redactUrl(location)} is not in the allowed list.`, {
        hint: `Allowed: ${allowed.map(redactUrl).join(', ') || '(none)'}. Remove the --index-url/--extra-index-url/--find-links line naming it, or add it to the policy's allowed indexes.`,
      });
    }
  }
}
