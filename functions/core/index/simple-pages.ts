// The simple repository API pages: PEP 503 HTML (project pages and find-links pages, read with
// htmlparser2's tokenizer, which is linear in the page size whatever the markup) and PEP 691
// JSON, both turned into DistributionFile lists. Links keep no user name or password: those
// travel only in the Authorization header, never into a lock.
import { Parser } from 'htmlparser2';
import { IndexUnreachableError } from '../shared/errors.ts';
import { stripCredentials } from '../shared/redact.ts';
import type { DistributionFile } from '../shared/types.ts';

const DISTRIBUTION_SUFFIXES = ['.whl', '.tar.gz', '.zip', '.tar.bz2', '.tar.xz', '.tgz', '.tar'];

/** PEP 503 normalized name. */
export function normalizeName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

/** The normalized project a distribution filename belongs to, or null when it is not one. */
export function projectOfFilename(filename: string): string | null {
  if (filename.endsWith('.whl')) {
    const parts = filename.slice(0, -4).split('-');
    return parts.length === 5 || parts.length === 6 ? normalizeName(parts[0] ?? '') : null;
  }
  const suffix = DISTRIBUTION_SUFFIXES.find((candidate) => filename.toLowerCase().endsWith(candidate));
  if (!suffix) return null;
  // sdist: `name-version.tar.gz`; the name may hold hyphens, the version may not start with a letter.
  const stem = filename.slice(0, -suffix.length);
  const split = stem.search(/-\d[^-]*$/);
  return split > 0 ? normalizeName(stem.slice(0, split)) : null;
}

/** The last path segment of a URL, decoded. */
export function filenameOfUrl(url: string): string {
  const path = new URL(url).pathname;
  try {
    return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1));
  } catch {
    return path.slice(path.lastIndexOf('/') + 1);
  }
}

/** `sha256=abc…` (or `true`) from a PEP 658/714 attribute or JSON key: whether advertised, and its hash. */
function metadataHint(value: unknown): { advertised: boolean; sha256: string | null } {
  if (value === undefined || value === null || value === false || value === 'false') {
    return { advertised: false, sha256: null };
  }
  if (typeof value === 'string') {
    const match = /^sha256=([0-9a-fA-F]{64})$/.exec(value.trim());
    return { advertised: true, sha256: match?.[1]?.toLowerCase() ?? null };
  }
  if (typeof value === 'object') {
    const digest = (value as Record<string, unknown>)['sha256'];
    return { advertised: true, sha256: typeof digest === 'string' ? digest.toLowerCase() : null };
  }
  return { advertised: value === true, sha256: null };
}

interface Anchor {
  readonly attributes: Readonly<Record<string, string>>;
  text: string;
}

/** The anchors and the first `<base href>` of a page, in one linear pass. */
function scanAnchors(html: string): { anchors: Anchor[]; baseHref: string | null } {
  const anchors: Anchor[] = [];
  let baseHref: string | null = null;
  let open: Anchor | null = null;
  const parser = new Parser(
    {
      onopentag(name, attributes) {
        if (name === 'base' && baseHref === null && attributes['href']) baseHref = attributes['href'];
        if (name === 'a') open = { attributes, text: '' };
      },
      ontext(text) {
        if (open) open.text += text;
      },
      onclosetag(name) {
        if (name === 'a' && open) {
          anchors.push(open);
          open = null;
        }
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.end(html);
  return { anchors, baseHref };
}

/**
 * Parses a PEP 503 HTML page (a project page, or a find-links page) into its distribution files.
 * @param html the page
 * @param pageUrl where it was read from (relative links resolve against it, or against `<base href>`)
 * @param source recorded as each file's `source`
 * @example parseSimpleHtmlPage(text, 'https://pypi.org/simple/six/', 'https://pypi.org/simple/')
 */
export function parseSimpleHtmlPage(html: string, pageUrl: string, source: string): DistributionFile[] {
  const { anchors, baseHref } = scanAnchors(html);
  const base = baseHref && URL.canParse(baseHref, pageUrl) ? new URL(baseHref, pageUrl).href : pageUrl;
  const files: DistributionFile[] = [];
  for (const { attributes, text } of anchors) {
    const href = attributes['href'];
    if (!href || !URL.canParse(href, base)) continue;
    const url = new URL(href, base);
    const fragment = /(?:^|&)sha256=([0-9a-fA-F]{64})(?:&|$)/.exec(url.hash.slice(1));
    url.hash = '';
    const link = stripCredentials(url.href);
    const filename = filenameOfUrl(link) || text.trim();
    if (!projectOfFilename(filename)) continue;
    const yanked = attributes['data-yanked'];
    const metadata = metadataHint(attributes['data-core-metadata'] ?? attributes['data-dist-info-metadata']);
    files.push({
      filename,
      url: link,
      sha256: fragment?.[1]?.toLowerCase() ?? null,
      requiresPython: attributes['data-requires-python']?.trim() || null,
      yanked: yanked === undefined ? false : yanked === '' ? true : yanked,
      size: null,
      metadataUrl: metadata.advertised ? `${link}.metadata` : null,
      metadataSha256: metadata.sha256,
      source,
    });
  }
  return files;
}

/**
 * Parses a PEP 691 JSON project page.
 * @example parseSimpleJsonPage(JSON.parse(body), 'https://pypi.org/simple/six/', 'https://pypi.org/simple/')
 */
export function parseSimpleJsonPage(page: unknown, pageUrl: string, source: string): DistributionFile[] {
  const rawFiles = (page as { files?: unknown } | null)?.files;
  if (!Array.isArray(rawFiles)) {
    throw new IndexUnreachableError(
      `${stripCredentials(pageUrl)} is not a PEP 691 project page (it has no "files" list).`,
      {
        hint: 'Check that the index URL points at a simple repository root (it usually ends in /simple/).',
      },
    );
  }
  const files: DistributionFile[] = [];
  for (const raw of rawFiles as Record<string, unknown>[]) {
    if (typeof raw !== 'object' || raw === null) continue;
    const filename = raw['filename'];
    const href = raw['url'];
    if (typeof filename !== 'string' || typeof href !== 'string' || !projectOfFilename(filename)) continue;
    if (!URL.canParse(href, pageUrl)) continue;
    const url = new URL(href, pageUrl);
    url.hash = '';
    const link = stripCredentials(url.href);
    const hashes = raw['hashes'] as Record<string, unknown> | undefined;
    const digest = hashes && typeof hashes['sha256'] === 'string' ? hashes['sha256'].toLowerCase() : null;
    const yanked = raw['yanked'];
    const size = raw['size'];
    const requiresPython = raw['requires-python'];
    const metadata = metadataHint(raw['core-metadata'] ?? raw['dist-info-metadata']);
    files.push({
      filename,
      url: link,
      sha256: digest,
      requiresPython:
        typeof requiresPython === 'string' && requiresPython.trim() ? requiresPython.trim() : null,
      yanked: typeof yanked === 'string' ? yanked || true : yanked === true,
      size: typeof size === 'number' && Number.isSafeInteger(size) && size >= 0 ? size : null,
      metadataUrl: metadata.advertised ? `${link}.metadata` : null,
      metadataSha256: metadata.sha256,
      source,
    });
  }
  return files;
}
