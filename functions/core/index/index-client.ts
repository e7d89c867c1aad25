// The package index client: lists a project's files from PEP 691 JSON / PEP 503 HTML
// indexes (http(s) and file://) and `--find-links` folders or pages, reads core metadata
// (PEP 658/714 files, else METADATA out of the wheel through Range requests), measures
// wheels exactly from their central directory without downloading them whole, and downloads
// sha256-verified files into a content-addressed cache. HTTP goes through one keep-alive
// undici Agent with bounded concurrency and retries with backoff on transient faults.
import { createHash, randomBytes } from 'node:crypto';
import { sha256Hex } from '../shared/hash.ts';
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { crc32, inflateRawSync } from 'node:zlib';
import { eq, valid } from '@renovatebot/pep440';
import pLimit from 'p-limit';
import { EnvHttpProxyAgent, request } from 'undici';
import type { Dispatcher } from 'undici';
import { parseCoreMetadata } from './core-metadata.ts';
import {
  IndexUnreachableError,
  InputError,
  IntegrityError,
  LambdaDepsError,
  ResolutionError,
  UnsafeArchiveError,
} from '../shared/errors.ts';
import type {
  CoreMetadata,
  DistributionFile,
  IndexOptions,
  PackageIndex,
  WheelSize,
} from '../shared/types.ts';
import {
  localDataOffset,
  locateCentralDirectory,
  LOCAL_HEADER_SIZE,
  readCentralDirectory,
  unzippedSize,
} from './zip-directory.ts';
import type { ZipEntry, ZipLimits } from './zip-directory.ts';

/** Progress and diagnostics, for spinners and for tests that count retries. */
export type IndexEvent =
  | {
      readonly type: 'request';
      readonly method: 'GET' | 'HEAD';
      readonly url: string;
      readonly range: string | null;
    }
  | {
      readonly type: 'retry';
      readonly url: string;
      readonly attempt: number;
      readonly delayMs: number;
      readonly reason: string;
    }
  | {
      readonly type: 'cache-hit';
      readonly kind: 'size' | 'metadata' | 'download' | 'verification';
      readonly key: string;
    }
  | { readonly type: 'range-unsupported'; readonly origin: string }
  /** An index whose host does not exist was left out, as pip does when other indexes remain. */
  | { readonly type: 'index-skipped'; readonly index: string; readonly reason: string };

export interface PackageIndexOptions extends IndexOptions {
  /** Folder for downloads and cached sizes, metadata and local hashes (created when missing). */
  readonly cacheDir: string;
  /** Simultaneous HTTP requests (and local file reads). @default 16 */
  readonly concurrency?: number;
  /**
   * Open connections per origin, as browsers do: simple servers (`python -m http.server`, with its
   * listen backlog of 5 and a new connection per request) stall a second on each connect beyond that.
   * @default 6
   */
  readonly connectionsPerOrigin?: number;
  /** Retries after the first attempt, for 5xx, 429, timeouts, connection errors and truncated bodies. @default 4 */
  readonly retries?: number;
  /** First backoff delay; doubles each retry, with full jitter. @default 250 */
  readonly backoffMs?: number;
  /** Headers and idle-body timeout per request. @default 30_000 */
  readonly timeoutMs?: number;
  /** @default `lambda-deps` */
  readonly userAgent?: string;
  /** When set, every index and find-links location must be one of these (or below one). */
  readonly allowedIndexes?: readonly string[] | null;
  readonly onEvent?: (event: IndexEvent) => void;
  /** Zip bomb limits for wheels. */
  readonly zipLimits?: Partial<ZipLimits>;
}

/** A {@link PackageIndex} that holds sockets: call `close()` when done. */
export interface ClosablePackageIndex extends PackageIndex {
  close(): Promise<void>;
}

const SIMPLE_JSON = 'application/vnd.pypi.simple.v1+json';
const ACCEPT_INDEX = `${SIMPLE_JSON}, application/vnd.pypi.simple.latest+json;q=0.9, text/html;q=0.1`;
/** First Range request size: holds the whole directory and METADATA of most wheels in one round trip. */
const TAIL_BYTES = 256 * 1024;
const MAX_REDIRECTS = 5;
const DISTRIBUTION_SUFFIXES = ['.whl', '.tar.gz', '.zip', '.tar.bz2', '.tar.xz', '.tgz', '.tar'];

/** PEP 503 normalized name. */
function normalizeName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/** A find-links entry or index given as a bare path becomes a file: URL. */
function toUrl(location: string): string {
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(location)
    ? location
    : pathToFileURL(resolvePath(location)).href;
}

function filenameOfUrl(url: string): string {
  const path = new URL(url).pathname;
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1));
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

const HTML_ENTITIES: Readonly<Record<string, string>> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: '\u00a0',
};

function unescapeHtml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);/g, (whole, entity: string) => {
    if (entity.startsWith('#x') || entity.startsWith('#X'))
      return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(parseInt(entity.slice(1), 10));
    return HTML_ENTITIES[entity.toLowerCase()] ?? whole;
  });
}

function parseAttributes(text: string): Map<string, string> {
  const attributes = new Map<string, string>();
  const pattern = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  for (const match of text.matchAll(pattern)) {
    const name = (match[1] ?? '').toLowerCase();
    if (!attributes.has(name)) attributes.set(name, unescapeHtml(match[2] ?? match[3] ?? match[4] ?? ''));
  }
  return attributes;
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

/**
 * Parses a PEP 503 HTML page (a project page, or a find-links page) into its distribution files.
 * @param html the page
 * @param pageUrl where it was read from (relative links resolve against it, or against `<base href>`)
 * @param source recorded as each file's `source`
 * @example parseSimpleHtmlPage(text, 'https://pypi.org/simple/six/', 'https://pypi.org/simple/')
 */
export function parseSimpleHtmlPage(html: string, pageUrl: string, source: string): DistributionFile[] {
  const baseTag = /<base\s([^>]*)>/i.exec(html);
  const baseHref = baseTag ? parseAttributes(baseTag[1] ?? '').get('href') : undefined;
  const base = baseHref ? new URL(baseHref, pageUrl).href : pageUrl;
  const files: DistributionFile[] = [];
  for (const match of html.matchAll(/<a\s([^>]*)>([\s\S]*?)<\/a\s*>/gi)) {
    const attributes = parseAttributes(match[1] ?? '');
    const href = attributes.get('href');
    if (!href) continue;
    let url: URL;
    try {
      url = new URL(href, base);
    } catch {
      continue;
    }
    const fragment = /(?:^|&)sha256=([0-9a-fA-F]{64})(?:&|$)/.exec(url.hash.slice(1));
    url.hash = '';
    const filename = filenameOfUrl(url.href) || unescapeHtml(match[2] ?? '').trim();
    if (!projectOfFilename(filename)) continue;
    const yanked = attributes.get('data-yanked');
    const metadata = metadataHint(
      attributes.get('data-core-metadata') ?? attributes.get('data-dist-info-metadata'),
    );
    files.push({
      filename,
      url: url.href,
      sha256: fragment?.[1]?.toLowerCase() ?? null,
      requiresPython: attributes.get('data-requires-python')?.trim() || null,
      yanked: yanked === undefined ? false : yanked === '' ? true : yanked,
      size: null,
      metadataUrl: metadata.advertised ? `${url.href}.metadata` : null,
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
    throw new IndexUnreachableError(`${pageUrl} is not a PEP 691 project page (it has no "files" list).`, {
      hint: 'Check that the index URL points at a simple repository root (it usually ends in /simple/).',
    });
  }
  const files: DistributionFile[] = [];
  for (const raw of rawFiles as Record<string, unknown>[]) {
    if (typeof raw !== 'object' || raw === null) continue;
    const filename = raw['filename'];
    const href = raw['url'];
    if (typeof filename !== 'string' || typeof href !== 'string' || !projectOfFilename(filename)) continue;
    const url = new URL(href, pageUrl);
    url.hash = '';
    const hashes = raw['hashes'] as Record<string, unknown> | undefined;
    const digest = hashes && typeof hashes['sha256'] === 'string' ? hashes['sha256'].toLowerCase() : null;
    const yanked = raw['yanked'];
    const size = raw['size'];
    const requiresPython = raw['requires-python'];
    const metadata = metadataHint(raw['core-metadata'] ?? raw['dist-info-metadata']);
    files.push({
      filename,
      url: url.href,
      sha256: digest,
      requiresPython:
        typeof requiresPython === 'string' && requiresPython.trim() ? requiresPython.trim() : null,
      yanked: typeof yanked === 'string' ? yanked || true : yanked === true,
      size: typeof size === 'number' && Number.isSafeInteger(size) && size >= 0 ? size : null,
      metadataUrl: metadata.advertised ? `${url.href}.metadata` : null,
      metadataSha256: metadata.sha256,
      source,
    });
  }
  return files;
}

/** A failure worth another attempt (5xx, 429, timeouts, resets, truncated bodies). */
class TransientError extends Error {
  override name = 'TransientError';
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

function isTransient(error: unknown): boolean {
  if (error instanceof TransientError) return true;
  if (error instanceof LambdaDepsError) return false;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
  const cause = (error as { cause?: unknown } | null)?.cause;
  return cause !== undefined && cause !== error && isTransient(cause);
}

/** The host name does not exist (as opposed to a server that is there but failing). */
function hostNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOTFOUND') return true;
  const cause = (error as { cause?: unknown } | null)?.cause;
  return cause !== undefined && cause !== error && hostNotFound(cause);
}

function describeFault(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}

interface HttpResponse {
  readonly url: string;
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Dispatcher.ResponseData['body'];
}

function header(response: HttpResponse, name: string): string | null {
  const value = response.headers[name];
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}

/**
 * Reads a body in flowing mode, calling `onChunk` for each chunk, and refuses one shorter or
 * longer than its Content-Length (a truncated transfer). Flowing mode matters: undici 7 asserts,
 * crashing the process, when a server that closes the connection after every response (HTTP/1.0,
 * as `python -m http.server` does) ends the socket while backpressure has paused its parser.
 */
function drainBody(response: HttpResponse, onChunk: (chunk: Buffer) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    if (response.body.errored) {
      reject(response.body.errored);
      return;
    }
    let length = 0;
    response.body.on('data', (chunk: Buffer) => {
      length += chunk.length;
      try {
        onChunk(chunk);
      } catch (error) {
        response.body.destroy();
        reject(error);
      }
    });
    response.body.once('error', reject);
    response.body.once('end', () => {
      const declared = header(response, 'content-length');
      if (declared !== null && Number(declared) !== length) {
        reject(
          new TransientError(`body of ${response.url} was ${length} bytes, Content-Length said ${declared}`),
        );
      } else {
        resolve(length);
      }
    });
  });
}

async function readBody(response: HttpResponse): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const length = await drainBody(response, (chunk) => chunks.push(chunk));
  return Buffer.concat(chunks, length);
}

async function writeFileAtomically(path: string, data: string | Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, data);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return null;
  }
}

/** Random access to a wheel's bytes: a local file, or ranges of a remote one. */
interface ByteSource {
  readonly size: number;
  read(start: number, end: number): Promise<Buffer>;
}

/** A wheel's central directory plus the tail bytes already fetched (often holding METADATA too). */
interface WheelDirectory {
  readonly size: number;
  readonly entries: readonly ZipEntry[];
  readonly directoryOffset: number;
  readonly tail: Buffer;
  readonly tailStart: number;
  readonly source: ByteSource;
}

/**
 * Creates the index client for a set of indexes and find-links locations.
 * @example
 * const index = createPackageIndex({ indexUrl: 'https://pypi.org/simple/', extraIndexUrls: [], findLinks: [], pre: false, cacheDir });
 * const files = await index.listFiles('requests');
 * const sizes = await index.measureWheel(files[0]!);
 * await index.close();
 */
export function createPackageIndex(options: PackageIndexOptions): ClosablePackageIndex {
  const retries = options.retries ?? 4;
  const backoffMs = options.backoffMs ?? 250;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const userAgent = options.userAgent ?? 'lambda-deps';
  const emit = options.onEvent ?? ((): void => undefined);
  const cacheDir = resolvePath(options.cacheDir);
  const limit = pLimit(options.concurrency ?? 16);
  // Hashing is CPU-bound on one thread; a few at once keep the disk busy without thrashing.
  const hashLimit = pLimit(4);
  // Honours HTTP_PROXY / HTTPS_PROXY / NO_PROXY as pip does; without them it connects directly.
  const agent = new EnvHttpProxyAgent({
    keepAliveTimeout: 10_000,
    connections: options.connectionsPerOrigin ?? 6,
  });

  const indexUrls = [options.indexUrl, ...options.extraIndexUrls].filter(
    (url): url is string => url !== null,
  );
  const findLinks = options.findLinks;
  assertLocationsAllowed([...indexUrls, ...findLinks], options.allowedIndexes ?? null);

  const listings = new Map<string, Promise<readonly DistributionFile[]>>();
  const findLinkPages = new Map<string, Promise<DistributionFile[]>>();
  const metadataByKey = new Map<string, Promise<CoreMetadata>>();
  const directories = new Map<string, Promise<WheelDirectory>>();
  const downloads = new Map<string, Promise<string>>();
  const localHashes = new Map<string, Promise<string>>();
  const noRangeOrigins = new Set<string>();

  function memo<T>(map: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
    const existing = map.get(key);
    if (existing) return existing;
    const created = make();
    map.set(key, created);
    // A failure must not stick: the next caller tries again.
    created.catch(() => map.delete(key));
    return created;
  }

  async function send<T>(
    url: string,
    indexName: string,
    init: { method?: 'GET' | 'HEAD'; headers?: Record<string, string> },
    consume: (response: HttpResponse) => Promise<T>,
  ): Promise<T> {
    const method = init.method ?? 'GET';
    let lastFault = '';
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        const delayMs = Math.round(Math.random() * backoffMs * 2 ** (attempt - 1));
        emit({ type: 'retry', url, attempt, delayMs, reason: lastFault });
        await new Promise((done) => setTimeout(done, delayMs));
      }
      try {
        return await limit(async () => {
          let current = url;
          for (let redirects = 0; ; redirects++) {
            emit({ type: 'request', method, url: current, range: init.headers?.['range'] ?? null });
            const response = await request(current, {
              method,
              dispatcher: agent,
              headers: { 'user-agent': userAgent, ...init.headers },
              headersTimeout: timeoutMs,
              bodyTimeout: timeoutMs,
            });
            const wrapped: HttpResponse = { url: current, ...response };
            const location = header(wrapped, 'location');
            if ([301, 302, 303, 307, 308].includes(response.statusCode) && location) {
              await response.body.dump();
              if (redirects >= MAX_REDIRECTS) {
                throw new IndexUnreachableError(`${url} redirects more than ${MAX_REDIRECTS} times.`, {
                  hint: `Check the index URL ${indexName}.`,
                });
              }
              current = new URL(location, current).href;
              continue;
            }
            if (response.statusCode >= 500 || response.statusCode === 429) {
              await response.body.dump();
              throw new TransientError(`HTTP ${response.statusCode} from ${current}`);
            }
            if (response.statusCode >= 400 && response.statusCode !== 404 && response.statusCode !== 416) {
              await response.body.dump();
              throw new IndexUnreachableError(
                `${indexName} answered HTTP ${response.statusCode} for ${current}.`,
                {
                  hint:
                    response.statusCode === 401 || response.statusCode === 403
                      ? 'The index needs credentials or refuses this client; check the index URL and its access rules.'
                      : 'Check the index URL; the file may have been removed from the index.',
                },
              );
            }
            try {
              return await consume(wrapped);
            } finally {
              if (!response.body.destroyed) response.body.destroy();
            }
          }
        });
      } catch (error) {
        if (!isTransient(error)) throw error;
        lastFault = describeFault(error);
      }
    }
    throw new IndexUnreachableError(
      `Could not reach ${indexName}: ${lastFault} (after ${retries + 1} attempts for ${url}).`,
      {
        hint: 'Check the network, proxy and index URL (pip config list, --index-url); if the index is down, rerun later or use another index.',
      },
    );
  }

  // ---- listing ----------------------------------------------------------------------------

  async function readLocalPage(
    path: string,
    pageUrl: string,
    source: string,
  ): Promise<DistributionFile[] | null> {
    const json = await readFile(join(path, 'index.json'), 'utf8').catch(() => null);
    if (json !== null) {
      let page: unknown;
      try {
        page = JSON.parse(json);
      } catch (error) {
        throw new IndexUnreachableError(
          `${join(path, 'index.json')} is not valid JSON (${describeFault(error)}).`,
          {
            hint: `Regenerate the file:// index ${source}, or remove the broken index.json so index.html is used.`,
            cause: error,
          },
        );
      }
      return parseSimpleJsonPage(page, pageUrl, source);
    }
    const html = await readFile(join(path, 'index.html'), 'utf8').catch(() => null);
    return html === null ? null : parseSimpleHtmlPage(html, pageUrl, source);
  }

  /**
   * Indexes whose host name does not resolve (ENOTFOUND), left out for the rest of the run. pip
   * warns and goes on with the other indexes in that case (here: PyPI named by default on a machine
   * without internet); a host that exists but fails (5xx, timeouts) stays an error, so a flaky index
   * can never silently change a lock.
   */
  const skippedIndexes = new Map<string, string>();
  const otherSources = indexUrls.length + findLinks.length > 1;

  async function listFromIndex(indexUrl: string, name: string): Promise<DistributionFile[]> {
    const pageUrl = `${withSlash(toUrl(indexUrl))}${encodeURIComponent(name)}/`;
    if (pageUrl.startsWith('file:')) {
      return (await readLocalPage(fileURLToPath(pageUrl), pageUrl, indexUrl)) ?? [];
    }
    if (skippedIndexes.has(indexUrl)) return [];
    try {
      return await listFromRemoteIndex(indexUrl, pageUrl);
    } catch (error) {
      if (!otherSources || !hostNotFound(error)) throw error;
      if (!skippedIndexes.has(indexUrl)) {
        const reason = describeFault(error);
        skippedIndexes.set(indexUrl, reason);
        emit({ type: 'index-skipped', index: indexUrl, reason });
      }
      return [];
    }
  }

  async function listFromRemoteIndex(indexUrl: string, pageUrl: string): Promise<DistributionFile[]> {
    return send(pageUrl, indexUrl, { headers: { accept: ACCEPT_INDEX } }, async (response) => {
      if (response.statusCode === 404) {
        await response.body.dump();
        return [];
      }
      const body = await readBody(response);
      const type = header(response, 'content-type') ?? '';
      if (/application\/vnd\.pypi\.simple\.(v1|latest)\+json/.test(type)) {
        let page: unknown;
        try {
          page = JSON.parse(body.toString('utf8'));
        } catch (error) {
          throw new TransientError(`${response.url} sent JSON that does not parse`, { cause: error });
        }
        return parseSimpleJsonPage(page, response.url, indexUrl);
      }
      return parseSimpleHtmlPage(body.toString('utf8'), response.url, indexUrl);
    });
  }

  async function readFindLinks(location: string): Promise<DistributionFile[]> {
    const url = toUrl(location);
    if (!url.startsWith('file:')) {
      return send(url, location, { headers: { accept: 'text/html' } }, async (response) => {
        if (response.statusCode === 404) {
          await response.body.dump();
          return [];
        }
        return parseSimpleHtmlPage((await readBody(response)).toString('utf8'), response.url, location);
      });
    }
    const path = fileURLToPath(url);
    const info = await stat(path).catch(() => null);
    if (!info) return [];
    if (info.isFile()) return parseSimpleHtmlPage(await readFile(path, 'utf8'), url, location);
    const files: DistributionFile[] = [];
    for (const filename of (await readdir(path)).sort()) {
      if (!projectOfFilename(filename)) continue;
      const full = join(path, filename);
      const entry = await stat(full).catch(() => null);
      if (!entry?.isFile()) continue;
      // The hash is computed only when a file is measured or downloaded, never to list it.
      files.push({
        filename,
        url: pathToFileURL(full).href,
        sha256: null,
        requiresPython: null,
        yanked: false,
        size: entry.size,
        metadataUrl: null,
        metadataSha256: null,
        source: location,
      });
    }
    return files;
  }

  async function listFiles(name: string): Promise<readonly DistributionFile[]> {
    const project = normalizeName(name);
    return memo(listings, project, async () => {
      const lists = await Promise.all([
        ...indexUrls.map((indexUrl) => listFromIndex(indexUrl, project)),
        ...findLinks.map(async (location) =>
          (await memo(findLinkPages, location, () => readFindLinks(location))).filter(
            (file) => projectOfFilename(file.filename) === project,
          ),
        ),
      ]);
      const seen = new Set<string>();
      const merged: DistributionFile[] = [];
      for (const file of lists.flat()) {
        const key = `${file.filename}\0${file.sha256 ?? file.url}`;
        if (seen.has(key)) continue;
        seen.add(key);
        merged.push(file);
      }
      return merged;
    });
  }

  // ---- local files and hashes ---------------------------------------------------------------

  async function hashFile(path: string): Promise<string> {
    const hash = createHash('sha256');
    await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), hash);
    return hash.digest('hex');
  }

  /** sha256 of a local file, cached on disk by path, size and modification time. */
  function localSha256(path: string): Promise<string> {
    return memo(localHashes, path, async () => {
      const info = await stat(path);
      const record = join(cacheDir, 'local-hashes', `${sha256Hex(path)}.json`);
      const cached = await readJson<{ size: number; mtimeMs: number; sha256: string }>(record);
      if (cached && cached.size === info.size && cached.mtimeMs === info.mtimeMs) {
        emit({ type: 'cache-hit', kind: 'verification', key: path });
        return cached.sha256;
      }
      const digest = await hashLimit(() => hashFile(path));
      await writeFileAtomically(
        record,
        JSON.stringify({ size: info.size, mtimeMs: info.mtimeMs, sha256: digest }),
      );
      return digest;
    });
  }

  function integrityError(file: DistributionFile, actual: string, what = 'file'): IntegrityError {
    return new IntegrityError(
      `${file.filename}: the ${what} from ${file.url} has sha256 ${actual}, but ${file.source} says ${
        what === 'file' ? file.sha256 : file.metadataSha256
      }.`,
      {
        packageName: projectOfFilename(file.filename),
        hint: 'The file was changed or corrupted after the index listed it. Do not use it: clear the cache entry, check the index (or mirror) for tampering, and retry.',
      },
    );
  }

  // ---- download -----------------------------------------------------------------------------

  function cachePath(file: DistributionFile): string {
    const folder = file.sha256
      ? join(cacheDir, 'files', file.sha256.slice(0, 2), file.sha256)
      : join(cacheDir, 'files', 'by-url', sha256Hex(file.url));
    return join(folder, basename(file.filename));
  }

  /** Streams a 200 response into the cache, verifying its sha256; only a whole, verified file is ever renamed in. */
  async function saveToCache(file: DistributionFile, response: HttpResponse): Promise<string> {
    const target = cachePath(file);
    // Synchronous on purpose: nothing may come between the response and drainBody's listeners.
    mkdirSync(dirname(target), { recursive: true });
    const temporary = `${target}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    const hash = createHash('sha256');
    const output = createWriteStream(temporary);
    const written = new Promise<void>((done, fail) => {
      output.once('finish', done);
      output.once('error', fail);
    });
    written.catch(() => undefined);
    try {
      // Written without waiting for the disk (see drainBody); a disk slower than the network only buffers.
      await drainBody(response, (chunk) => {
        hash.update(chunk);
        output.write(chunk);
      }).finally(() => output.end());
      await written;
      const actual = hash.digest('hex');
      if (file.sha256 && actual !== file.sha256) throw integrityError(file, actual);
      await rename(temporary, target);
      return target;
    } finally {
      // Wait for the stream to close: it may still be creating the file, which must not outlive this.
      const closed = new Promise<void>((done) =>
        output.closed ? done() : output.once('close', () => done()),
      );
      output.destroy();
      await closed;
      await rm(temporary, { force: true });
    }
  }

  async function downloadHttp(file: DistributionFile): Promise<string> {
    const target = cachePath(file);
    const existing = await stat(target).catch(() => null);
    if (existing?.isFile() && (file.size === null || existing.size === file.size)) {
      emit({ type: 'cache-hit', kind: 'download', key: file.sha256 ?? file.url });
      return target;
    }
    return send(file.url, file.source, {}, async (response) => {
      if (response.statusCode !== 200) {
        await response.body.dump();
        throw new IndexUnreachableError(`${file.url} answered HTTP ${response.statusCode}, not the file.`, {
          packageName: projectOfFilename(file.filename),
          hint: `The index ${file.source} lists a file it does not serve; try again later or report it to the index's operators.`,
        });
      }
      return saveToCache(file, response);
    });
  }

  async function download(file: DistributionFile): Promise<string> {
    if (file.url.startsWith('file:')) {
      const path = fileURLToPath(file.url);
      const actual = await localSha256(path).catch((error: unknown) => {
        throw new InputError(`${file.filename}: cannot read ${path} (${describeFault(error)}).`, {
          packageName: projectOfFilename(file.filename),
          hint: 'Check the find-links folder or file:// index still holds the file and that it is readable.',
          cause: error,
        });
      });
      if (file.sha256 && actual !== file.sha256) throw integrityError(file, actual);
      return path;
    }
    return memo(downloads, file.sha256 ?? file.url, () => downloadHttp(file));
  }

  // ---- wheel directory ----------------------------------------------------------------------

  async function localSource(path: string): Promise<ByteSource> {
    const info = await stat(path);
    return {
      size: info.size,
      async read(start, end) {
        const handle = await open(path, 'r');
        try {
          const buffer = Buffer.alloc(end - start);
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, start);
          if (bytesRead !== buffer.length) throw new UnsafeArchiveError(`${path} changed while being read.`);
          return buffer;
        } finally {
          await handle.close();
        }
      },
    };
  }

  /** Length of a remote file, from the index (PEP 700) or a HEAD request; null when the server will not say. */
  async function remoteSize(file: DistributionFile): Promise<number | null> {
    if (file.size !== null) return file.size;
    return send(file.url, file.source, { method: 'HEAD' }, async (response) => {
      await response.body.dump();
      if (response.statusCode !== 200) return null;
      if (header(response, 'accept-ranges') === 'none') noRangeOrigins.add(new URL(response.url).origin);
      const length = Number(header(response, 'content-length') ?? NaN);
      return Number.isSafeInteger(length) && length >= 0 ? length : null;
    });
  }

  async function readRange(file: DistributionFile, size: number, start: number, end: number) {
    const range = `bytes=${start}-${end - 1}`;
    return send(
      file.url,
      file.source,
      { headers: { range } },
      async (response): Promise<Buffer | { downloaded: string }> => {
        if (response.statusCode === 200 && !(start === 0 && end === size)) {
          // The server ignores Range and sends the whole file: keep it (verified) as the download.
          noRangeOrigins.add(new URL(response.url).origin);
          emit({ type: 'range-unsupported', origin: new URL(response.url).origin });
          return { downloaded: await saveToCache(file, response) };
        }
        if (response.statusCode !== 206 && response.statusCode !== 200) {
          await response.body.dump();
          throw new IndexUnreachableError(
            `${file.url} answered HTTP ${response.statusCode} to a Range request.`,
            {
              packageName: projectOfFilename(file.filename),
              hint: `The index ${file.source} lists a file it does not serve whole; try again later or report it.`,
            },
          );
        }
        if (response.statusCode === 206) {
          const contentRange = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(response, 'content-range') ?? '');
          if (!contentRange || Number(contentRange[1]) !== start || Number(contentRange[2]) !== end - 1) {
            throw new TransientError(
              `${response.url} answered range ${header(response, 'content-range')} to ${range}`,
            );
          }
          if (contentRange[3] !== '*' && Number(contentRange[3]) !== size) {
            throw new IntegrityError(
              `${file.filename}: ${response.url} is ${contentRange[3]} bytes, but ${file.source} says ${size}.`,
              {
                packageName: projectOfFilename(file.filename),
                hint: 'The file changed after the index listed it; retry, and if it persists report it to the index.',
              },
            );
          }
        }
        const body = await readBody(response);
        if (body.length !== end - start)
          throw new TransientError(`${response.url} sent ${body.length} bytes for ${range}`);
        return body;
      },
    );
  }

  async function openLocal(path: string): Promise<{ source: ByteSource; tail: Buffer; tailStart: number }> {
    const source = await localSource(path);
    const tailStart = Math.max(0, source.size - TAIL_BYTES);
    return { source, tail: await source.read(tailStart, source.size), tailStart };
  }

  async function openWheel(
    file: DistributionFile,
  ): Promise<{ source: ByteSource; tail: Buffer; tailStart: number }> {
    if (file.url.startsWith('file:')) return openLocal(fileURLToPath(file.url));
    const origin = new URL(file.url).origin;
    const size = noRangeOrigins.has(origin) ? null : await remoteSize(file);
    if (size === null || noRangeOrigins.has(origin)) return openLocal(await download(file));
    const tailStart = Math.max(0, size - TAIL_BYTES);
    // A wheel no bigger than the tail is fetched whole and verified, so download() is free later.
    if (tailStart === 0 && file.sha256) return openLocal(await download(file));
    const tail = await readRange(file, size, tailStart, size);
    if (!Buffer.isBuffer(tail)) return openLocal(tail.downloaded);
    let downloaded: Promise<ByteSource> | null = null;
    const source: ByteSource = {
      size,
      async read(start, end) {
        if (downloaded) return (await downloaded).read(start, end);
        const bytes = await readRange(file, size, start, end);
        if (Buffer.isBuffer(bytes)) return bytes;
        downloaded = localSource(bytes.downloaded);
        return (await downloaded).read(start, end);
      },
    };
    return { source, tail, tailStart };
  }

  function wheelDirectory(file: DistributionFile): Promise<WheelDirectory> {
    return memo(directories, file.sha256 ?? file.url, async () => {
      const { source, tail, tailStart } = await openWheel(file);
      const location = locateCentralDirectory(tail, source.size, file.filename);
      const directory =
        location.offset >= tailStart
          ? tail.subarray(location.offset - tailStart, location.offset - tailStart + location.size)
          : Buffer.concat([
              await source.read(location.offset, tailStart),
              tail.subarray(0, location.offset + location.size - tailStart),
            ]);
      const entries = readCentralDirectory(directory, location, file.filename, options.zipLimits);
      return { size: source.size, entries, directoryOffset: location.offset, tail, tailStart, source };
    });
  }

  async function readEntry(file: DistributionFile, wheel: WheelDirectory, entry: ZipEntry): Promise<Buffer> {
    const nameBytes = Buffer.byteLength(entry.name);
    const guessEnd = Math.min(
      wheel.directoryOffset,
      entry.localHeaderOffset + LOCAL_HEADER_SIZE + nameBytes + entry.compressedSize + 1024,
    );
    const slice = async (start: number, end: number): Promise<Buffer> =>
      start >= wheel.tailStart && end <= wheel.tailStart + wheel.tail.length
        ? wheel.tail.subarray(start - wheel.tailStart, end - wheel.tailStart)
        : wheel.source.read(start, end);
    let bytes = await slice(entry.localHeaderOffset, guessEnd);
    const dataOffset = localDataOffset(bytes, entry, file.filename);
    if (dataOffset === null)
      throw new UnsafeArchiveError(`${file.filename}: the local header of "${entry.name}" is cut off.`);
    const dataEnd = dataOffset + entry.compressedSize;
    if (entry.localHeaderOffset + dataEnd > wheel.directoryOffset) {
      throw new UnsafeArchiveError(`${file.filename}: "${entry.name}" runs into the central directory.`);
    }
    if (dataEnd > bytes.length)
      bytes = await slice(entry.localHeaderOffset, entry.localHeaderOffset + dataEnd);
    const compressed = bytes.subarray(dataOffset, dataEnd);
    let data: Buffer;
    try {
      if (entry.method === 0) data = compressed;
      else if (entry.method === 8)
        data = inflateRawSync(compressed, { maxOutputLength: entry.uncompressedSize + 1 });
      else {
        throw new UnsafeArchiveError(
          `${file.filename}: "${entry.name}" uses compression method ${entry.method}.`,
          {
            hint: 'Wheels use stored or deflate entries only; the archive is not a standard wheel.',
          },
        );
      }
    } catch (error) {
      if (error instanceof UnsafeArchiveError) throw error;
      throw new UnsafeArchiveError(
        `${file.filename}: "${entry.name}" does not inflate (${describeFault(error)}).`,
        {
          cause: error,
        },
      );
    }
    if (data.length !== entry.uncompressedSize || crc32(data) !== entry.crc32) {
      throw new UnsafeArchiveError(
        `${file.filename}: "${entry.name}" does not match its size or CRC-32 in the directory.`,
        {
          hint: 'The archive is corrupt; download it again, and if it persists report it to whoever publishes it.',
        },
      );
    }
    return data;
  }

  // ---- metadata -----------------------------------------------------------------------------

  function assertMetadataMatchesFilename(file: DistributionFile, metadata: CoreMetadata): void {
    if (!file.filename.endsWith('.whl')) return;
    const [name = '', version = ''] = file.filename.split('-');
    const sameVersion = (a: string, b: string): boolean =>
      valid(a) !== null && valid(b) !== null ? eq(a, b) : a.toLowerCase() === b.toLowerCase();
    if (normalizeName(metadata.name) !== normalizeName(name) || !sameVersion(metadata.version, version)) {
      throw new IntegrityError(
        `${file.filename}: its metadata says ${metadata.name} ${metadata.version}, which is not the file's name and version.`,
        {
          packageName: normalizeName(name),
          hint: 'The wheel (or its .metadata file) is mislabelled or tampered with; do not install it, and report it to the index.',
        },
      );
    }
  }

  async function metadataFromFile(file: DistributionFile): Promise<CoreMetadata | null> {
    if (!file.metadataUrl) return null;
    let bytes: Buffer | null;
    if (file.metadataUrl.startsWith('file:')) {
      bytes = await readFile(fileURLToPath(file.metadataUrl)).catch(() => null);
    } else {
      bytes = await send(file.metadataUrl, file.source, {}, async (response) => {
        if (response.statusCode !== 200) {
          await response.body.dump();
          return null;
        }
        return readBody(response);
      });
    }
    if (bytes === null) return null;
    if (file.metadataSha256) {
      const actual = sha256Hex(bytes);
      if (actual !== file.metadataSha256) throw integrityError(file, actual, 'metadata file');
    }
    return parseCoreMetadata(bytes.toString('utf8'), file.metadataUrl);
  }

  async function metadataFromWheel(file: DistributionFile): Promise<CoreMetadata> {
    const wheel = await wheelDirectory(file);
    const candidates = wheel.entries.filter((entry) => /^[^/]+\.dist-info\/METADATA$/.test(entry.name));
    const project = projectOfFilename(file.filename);
    const entry =
      candidates.length === 1
        ? candidates[0]
        : candidates.find((candidate) => normalizeName(candidate.name.split('-')[0] ?? '') === project);
    if (!entry) {
      throw new UnsafeArchiveError(
        `${file.filename}: ${candidates.length === 0 ? 'has no' : 'has several'} *.dist-info/METADATA file${candidates.length === 0 ? '' : 's'}.`,
        {
          packageName: project,
          hint: 'A wheel must hold exactly one .dist-info folder with METADATA; this file is broken, pick another version.',
        },
      );
    }
    return parseCoreMetadata(
      (await readEntry(file, wheel, entry)).toString('utf8'),
      `${file.filename}/${entry.name}`,
    );
  }

  async function fetchMetadata(file: DistributionFile): Promise<CoreMetadata> {
    const key = file.sha256 ?? file.url;
    return memo(metadataByKey, key, async () => {
      const record = file.sha256 ? join(cacheDir, 'metadata', `${file.sha256}.json`) : null;
      if (record) {
        const cached = await readJson<CoreMetadata>(record);
        if (cached) {
          emit({ type: 'cache-hit', kind: 'metadata', key });
          return cached;
        }
      }
      if (!file.filename.endsWith('.whl')) {
        const project = projectOfFilename(file.filename) ?? file.filename;
        throw new ResolutionError(`${file.filename} is a source distribution; its metadata needs a build.`, [
          {
            package: project,
            message: `${file.filename} is not a wheel and its index offers no metadata file`,
          },
        ]);
      }
      const metadata = (await metadataFromFile(file)) ?? (await metadataFromWheel(file));
      assertMetadataMatchesFilename(file, metadata);
      if (record) await writeFileAtomically(record, JSON.stringify(metadata));
      return metadata;
    });
  }

  // ---- measure ------------------------------------------------------------------------------

  /** Where a wheel's sizes are cached: by sha256, or for an unhashed local file by path, size and mtime. */
  async function sizeRecordPath(file: DistributionFile): Promise<string | null> {
    if (file.sha256) return join(cacheDir, 'sizes', `${file.sha256}.json`);
    if (!file.url.startsWith('file:')) return null;
    const path = fileURLToPath(file.url);
    const info = await stat(path);
    return join(cacheDir, 'sizes', `local-${sha256Hex(`${path}\0${info.size}\0${info.mtimeMs}`)}.json`);
  }

  async function measureWheel(file: DistributionFile): Promise<WheelSize> {
    if (!file.filename.endsWith('.whl')) {
      const project = projectOfFilename(file.filename) ?? file.filename;
      throw new ResolutionError(
        `${file.filename} is a source distribution; its installed size is known only after a build.`,
        [
          {
            package: project,
            message: `${file.filename} is not a wheel, so it cannot be measured before building`,
          },
        ],
      );
    }
    const record = await sizeRecordPath(file);
    if (record) {
      const cached = await readJson<WheelSize>(record);
      if (cached) {
        emit({ type: 'cache-hit', kind: 'size', key: file.sha256 ?? file.url });
        return cached;
      }
    }
    const wheel = await wheelDirectory(file);
    if (file.size !== null && file.size !== wheel.size) {
      throw new IntegrityError(
        `${file.filename}: the file is ${wheel.size} bytes, but ${file.source} says ${file.size}.`,
        {
          packageName: projectOfFilename(file.filename),
          hint: 'The file changed after the index listed it; retry, and if it persists report it to the index.',
        },
      );
    }
    // Local files listed without a hash (find-links folders) get one here, so a lock can name it.
    const sha256 =
      file.sha256 ?? (file.url.startsWith('file:') ? await localSha256(fileURLToPath(file.url)) : null);
    const sizes: WheelSize = {
      size: wheel.size,
      unzippedSize: unzippedSize(wheel.entries),
      entryCount: wheel.entries.length,
      ...(sha256 ? { sha256 } : {}),
    };
    if (record) await writeFileAtomically(record, JSON.stringify(sizes));
    return sizes;
  }

  return {
    listFiles,
    fetchMetadata,
    measureWheel,
    download,
    async close() {
      await agent.close();
    },
  };
}

function assertLocationsAllowed(locations: readonly string[], allowed: readonly string[] | null): void {
  if (allowed === null) return;
  const normalize = (location: string): string => toUrl(location).replace(/\/+$/, '');
  const roots = allowed.map(normalize);
  for (const location of locations) {
    const url = normalize(location);
    if (!roots.some((root) => url === root || url.startsWith(`${root}/`))) {
      throw new InputError(`The index ${location} is not in the allowed list.`, {
        hint: `Allowed: ${allowed.join(', ') || '(none)'}. Remove the --index-url/--extra-index-url/--find-links line naming it, or add it to the policy's allowed indexes.`,
      });
    }
  }
}
