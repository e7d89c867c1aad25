// Which URLs a lock may name for its files: http(s) always; file: only in a lock the user named
// on this machine (never in one that came through the pipeline); and always a URL whose last
// segment is the distribution's own filename, so a lock cannot point the downloader (and its
// sha256 check) at `/etc/shadow` or `/dev/zero`.
import { InputError } from '../shared/errors.ts';
import { redactUrl } from '../shared/redact.ts';
import { filenameOfUrl, projectOfFilename } from './simple-pages.ts';

/**
 * Refuses a locked file's URL that the downloader must not fetch.
 * @example assertLockUrl({ name: 'six', filename, url }, 'set.lock.json', false)
 */
export function assertLockUrl(
  entry: { readonly name: string; readonly filename: string; readonly url: string },
  origin: string,
  localFileUrls: boolean,
): void {
  const fail = (problem: string, hint: string): InputError =>
    new InputError(`${origin}: ${entry.name}: the URL ${redactUrl(entry.url)} ${problem}.`, {
      packageName: entry.name,
      hint,
    });
  const regenerate = 'Regenerate the lock with `lambda-deps measure --lock-out FILE` rather than editing it.';
  if (!URL.canParse(entry.url) || !/^(https?|file):$/.test(new URL(entry.url).protocol)) {
    throw fail('is not an http, https or file URL', regenerate);
  }
  if (entry.url.startsWith('file:') && !localFileUrls) {
    throw fail(
      'names a file on the build host, which only a lock given on this machine may do',
      'Publish the wheel to an index the pipeline can reach, or build locally with --no-pipeline.',
    );
  }
  if (filenameOfUrl(entry.url) !== entry.filename || !projectOfFilename(entry.filename)) {
    throw fail(`does not end in the distribution's filename ${entry.filename}`, regenerate);
  }
}
