// The package index client, put together the way pip's index client is: a transport (undici,
// deadlines, retries, credentials), the simple API pages (PEP 503 HTML, PEP 691 JSON), the
// listing across indexes and find-links, lazy remote wheels (Range), core metadata, exact wheel
// sizes and the download cache, each in its own module; this file wires them for one run.
import { resolve as resolvePath } from 'node:path';
import { IndexUnreachableError, InputError } from '../shared/errors.ts';
import type { DistributionFile, IndexOptions, PackageIndex } from '../shared/types.ts';
import { fileUrlPath } from './context.ts';
import type { IndexContext, SourceWatch } from './context.ts';
import { createCredentialStore } from './credentials.ts';
import type { CredentialsProvider } from './credentials.ts';
import { createDownloadCache } from './download-cache.ts';
import type { IndexEvent } from './events.ts';
import { createListing } from './listing.ts';
import { assertLocationShape, assertLocationsAllowed } from './locations.ts';
import { createMetadataReader } from './metadata.ts';
import type { Netrc } from './netrc.ts';
import { createWheelReader } from './remote-wheel.ts';
import { projectOfFilename } from './simple-pages.ts';
import { createTransport, DEADLINE_VARIABLES, hostNotFound } from './transport.ts';
import type { Transport } from './transport.ts';
import { createWheelSizes } from './wheel-sizes.ts';
import type { ZipLimits } from './zip-directory.ts';

export type { IndexEvent } from './events.ts';
export type { SourceWatch } from './context.ts';
export { parseSimpleHtmlPage, parseSimpleJsonPage, projectOfFilename } from './simple-pages.ts';

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
  /**
   * Overall time for one request, body included (a trickling server ends here).
   * @default LAMBDA_DEPS_REQUEST_DEADLINE_MS, else 600_000
   */
  readonly requestDeadlineMs?: number;
  /** Overall time for all requests of this client. @default LAMBDA_DEPS_RUN_DEADLINE_MS, else 3_600_000 */
  readonly runDeadlineMs?: number;
  /** Largest index page or metadata file read into memory. @default LAMBDA_DEPS_MAX_PAGE_BYTES, else 64 MiB */
  readonly maxPageBytes?: number;
  /** @default `lambda-deps` */
  readonly userAgent?: string;
  /** When set, every index and find-links location must be one of these (or below one). */
  readonly allowedIndexes?: readonly string[] | null;
  readonly onEvent?: (event: IndexEvent) => void;
  /** Zip bomb limits for wheels. */
  readonly zipLimits?: Partial<ZipLimits>;
  /** Credentials beyond those in the URLs and netrc (e.g. Secrets Manager values in AWS). */
  readonly credentials?: CredentialsProvider | null;
  /** The netrc to use; null for none; by default pip's (NETRC, ~/.netrc). */
  readonly netrc?: Netrc | null;
  readonly environment?: Record<string, string | undefined>;
  /** Told of every local path read and every network request (for measure's resolution cache). */
  readonly watch?: SourceWatch;
}

/** A {@link PackageIndex} that holds sockets: call `close()` when done. */
export interface ClosablePackageIndex extends PackageIndex {
  close(): Promise<void>;
}

/** A positive whole number from an option, else from an environment variable, else the default. */
function bound(
  given: number | undefined,
  variable: string,
  environment: Record<string, string | undefined>,
  fallback: number,
): number {
  const raw = environment[variable];
  const value = given ?? (raw === undefined || raw === '' ? fallback : Number(raw));
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new InputError(`${variable} = "${given ?? raw}" is not a positive whole number.`, {
      hint: `Set ${variable} to a number of ${variable.endsWith('_MS') ? 'milliseconds' : 'bytes'}, or unset it for the default (${fallback}).`,
    });
  }
  return value;
}

/**
 * `call`, with an unreachable host's error prefixed by the package (and file) it was for, so the
 * user learns which of a lock's files could not be fetched, not only which host.
 */
function naming<A, R>(
  subject: (arg: A) => { packageName: string; label: string | null },
  call: (arg: A) => Promise<R>,
): (arg: A) => Promise<R> {
  return (arg) =>
    call(arg).catch((error: unknown) => {
      if (!(error instanceof IndexUnreachableError) || !hostNotFound(error)) throw error;
      const { packageName, label } = subject(arg);
      // The package itself is printed before the message (describeError), so only the file is added.
      throw new IndexUnreachableError(label ? `${label}: ${error.message}` : error.message, {
        packageName,
        hint: error.hint,
        cause: error.cause,
      });
    });
}

/** The transport, telling the watch of each request before it is sent. */
function watched(transport: Transport, watch: SourceWatch | undefined): Transport {
  if (!watch) return transport;
  return {
    send(url, indexName, init, consume) {
      watch.request(url);
      return transport.send(url, indexName, init, consume);
    },
    close: () => transport.close(),
  };
}

const forFile = (file: DistributionFile): { packageName: string; label: string } => ({
  packageName: projectOfFilename(file.filename) ?? file.filename,
  label: file.filename,
});

/**
 * Creates the index client for a set of indexes and find-links locations.
 * @example
 * const index = createPackageIndex({ indexUrl: 'https://pypi.org/simple/', extraIndexUrls: [], findLinks: [], pre: false, cacheDir });
 * const files = await index.listFiles('requests');
 * const sizes = await index.measureWheel(files[0]!);
 * await index.close();
 */
export function createPackageIndex(options: PackageIndexOptions): ClosablePackageIndex {
  const indexUrls = [options.indexUrl, ...options.extraIndexUrls].filter(
    (url): url is string => url !== null,
  );
  const findLinks = options.findLinks;
  for (const url of indexUrls) assertLocationShape(url, 'The index URL', null);
  for (const location of findLinks) assertLocationShape(location, 'The find-links location', null);
  assertLocationsAllowed([...indexUrls, ...findLinks], options.allowedIndexes ?? null);
  const emit = options.onEvent ?? ((): void => undefined);
  const environment = options.environment ?? process.env;
  const credentials = createCredentialStore({
    locations: [...indexUrls, ...findLinks],
    ...(options.netrc !== undefined ? { netrc: options.netrc } : {}),
    provider: options.credentials ?? null,
    ...(options.environment ? { environment: options.environment } : {}),
  });
  const transport = createTransport({
    retries: options.retries ?? 4,
    backoffMs: options.backoffMs ?? 250,
    timeoutMs: options.timeoutMs ?? 30_000,
    requestDeadlineMs: bound(
      options.requestDeadlineMs,
      DEADLINE_VARIABLES['request deadline'],
      environment,
      600_000,
    ),
    runDeadlineMs: bound(options.runDeadlineMs, DEADLINE_VARIABLES['run deadline'], environment, 3_600_000),
    userAgent: options.userAgent ?? 'lambda-deps',
    concurrency: options.concurrency ?? 16,
    connectionsPerOrigin: options.connectionsPerOrigin ?? 6,
    credentials,
    emit,
  });
  const context: IndexContext = {
    cacheDir: resolvePath(options.cacheDir),
    transport: watched(transport, options.watch),
    emit,
    maxPageBytes: bound(options.maxPageBytes, 'LAMBDA_DEPS_MAX_PAGE_BYTES', environment, 64 * 1024 * 1024),
    zipLimits: options.zipLimits,
    localPath: fileUrlPath,
    watch: options.watch,
  };
  const downloads = createDownloadCache(context);
  const wheels = createWheelReader(context, downloads);
  const { listFiles } = createListing(context, { indexUrls, findLinks });
  const { fetchMetadata } = createMetadataReader(context, wheels);
  const { measureWheel } = createWheelSizes(context, wheels, downloads);
  return {
    listFiles: naming((name: string) => ({ packageName: name, label: null }), listFiles),
    fetchMetadata: naming(forFile, fetchMetadata),
    measureWheel: naming(forFile, measureWheel),
    download: naming(forFile, downloads.download),
    close: () => transport.close(),
  };
}
