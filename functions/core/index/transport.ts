// HTTP for the index client, as pip's network layer does it: one keep-alive undici agent (proxy
// variables honoured), bounded concurrency, retries with backoff on transient faults, Basic auth
// from the credential store for each hop's own origin, and bounds on everything: an idle timeout,
// an overall deadline per request and per run (so a server dripping a byte every few seconds
// still ends), and a cap on how much of a page is kept in memory.
import pLimit from 'p-limit';
import type { Dispatcher, EnvHttpProxyAgent, request as undiciRequest } from 'undici';
import { IndexUnreachableError, LambdaDepsError } from '../shared/errors.ts';
import { loadUndici } from '../shared/lazy-undici.ts';
import { redactUrl, stripCredentials } from '../shared/redact.ts';
import type { CredentialStore } from './credentials.ts';
import type { IndexEvent } from './events.ts';

/** A failure worth another attempt (5xx, 429, timeouts, resets, truncated bodies). */
export class TransientError extends Error {
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
export function hostNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOTFOUND') return true;
  const cause = (error as { cause?: unknown } | null)?.cause;
  return cause !== undefined && cause !== error && hostNotFound(cause);
}

/** What to do when a host cannot be reached; a lock's own hosts can be replaced by a mirror. */
export const UNREACHABLE_HOST_HINT =
  "If a lock file names this host (its sources or its file URLs), look its files up on a reachable mirror instead with -i/--index-url URL or -f/--find-links FOLDER (the lock's hashes are still checked), or lock again against a reachable index. Otherwise check the network, proxy and index URLs (pip config list).";

/** The typed error for a URL whose host name does not resolve, keeping the fault as its cause. */
export function unreachableHost(url: string, error: unknown): IndexUnreachableError {
  const host = URL.canParse(url) ? new URL(url).hostname : url;
  return new IndexUnreachableError(
    `${host} cannot be reached: its name does not resolve (${describeFault(error)}), for ${redactUrl(url)}.`,
    { hint: UNREACHABLE_HOST_HINT, cause: error },
  );
}

export function describeFault(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}

export interface HttpResponse {
  /** The URL that answered (after redirects), without credentials. */
  readonly url: string;
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Dispatcher.ResponseData['body'];
}

export function header(response: HttpResponse, name: string): string | null {
  const value = response.headers[name];
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}

/**
 * Reads a body in flowing mode, calling `onChunk` for each chunk, and refuses one shorter or
 * longer than its Content-Length (a truncated transfer). Flowing mode matters: undici 7 asserts,
 * crashing the process, when a server that closes the connection after every response (HTTP/1.0,
 * as `python -m http.server` does) ends the socket while backpressure has paused its parser.
 */
export function drainBody(response: HttpResponse, onChunk: (chunk: Buffer) => void): Promise<number> {
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

function tooLarge(response: HttpResponse, maxBytes: number): IndexUnreachableError {
  return new IndexUnreachableError(
    `${response.url} is larger than the ${maxBytes}-byte limit for an index page or metadata file.`,
    {
      hint: 'The index sent far more than any simple page needs; check the URL. If the page is genuine, raise maxPageBytes.',
    },
  );
}

/** A whole body in memory, refused (before it is read, when Content-Length says so) beyond `maxBytes`. */
export async function readBody(response: HttpResponse, maxBytes: number): Promise<Buffer> {
  const declared = Number(header(response, 'content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    response.body.destroy();
    throw tooLarge(response, maxBytes);
  }
  const chunks: Buffer[] = [];
  let kept = 0;
  const length = await drainBody(response, (chunk) => {
    kept += chunk.length;
    if (kept > maxBytes) throw tooLarge(response, maxBytes);
    chunks.push(chunk);
  });
  return Buffer.concat(chunks, length);
}

export interface TransportOptions {
  readonly retries: number;
  readonly backoffMs: number;
  /** Headers and idle-body timeout. */
  readonly timeoutMs: number;
  /** Overall time for one request, body included. */
  readonly requestDeadlineMs: number;
  /** Overall time for every request of this client together. */
  readonly runDeadlineMs: number;
  readonly userAgent: string;
  readonly concurrency: number;
  readonly connectionsPerOrigin: number;
  readonly credentials: CredentialStore;
  readonly emit: (event: IndexEvent) => void;
}

export interface RequestInit {
  readonly method?: 'GET' | 'HEAD';
  readonly headers?: Record<string, string>;
}

export interface Transport {
  /** Sends a request (following redirects, retrying transient faults) and hands the answer to `consume`. */
  send<T>(
    url: string,
    indexName: string,
    init: RequestInit,
    consume: (response: HttpResponse) => Promise<T>,
  ): Promise<T>;
  close(): Promise<void>;
}

const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** The environment variables a CLI user sets to raise each deadline (read in index-client.ts). */
export const DEADLINE_VARIABLES = {
  'request deadline': 'LAMBDA_DEPS_REQUEST_DEADLINE_MS',
  'run deadline': 'LAMBDA_DEPS_RUN_DEADLINE_MS',
} as const;

function deadlineError(
  url: string,
  what: keyof typeof DEADLINE_VARIABLES,
  ms: number,
): IndexUnreachableError {
  return new IndexUnreachableError(
    `${redactUrl(url)} gave no complete answer within the ${what} of ${ms} ms.`,
    {
      hint: `The server is too slow or sends data in a trickle. Retry later, use another index, or raise the ${what}: set ${DEADLINE_VARIABLES[what]} to more than ${ms} (milliseconds) in the environment.`,
    },
  );
}

/**
 * Creates the HTTP transport for one index client.
 * @example const transport = createTransport({ ...options, credentials, emit });
 */
export function createTransport(options: TransportOptions): Transport {
  const limit = pLimit(options.concurrency);
  // undici is loaded on the first request (lazy-undici.ts).
  let agent: Promise<{ agent: EnvHttpProxyAgent; request: typeof undiciRequest }> | null = null;
  const connect = (): NonNullable<typeof agent> =>
    (agent ??= loadUndici().then((undici) => ({
      // Honours HTTP_PROXY / HTTPS_PROXY / NO_PROXY as pip does; without them it connects directly.
      agent: new undici.EnvHttpProxyAgent({
        keepAliveTimeout: 10_000,
        connections: options.connectionsPerOrigin,
      }),
      request: undici.request,
    })));
  const runSignal = AbortSignal.timeout(options.runDeadlineMs);

  async function exchange<T>(
    url: string,
    indexName: string,
    init: RequestInit,
    consume: (response: HttpResponse) => Promise<T>,
  ): Promise<T> {
    const method = init.method ?? 'GET';
    const requestSignal = AbortSignal.timeout(options.requestDeadlineMs);
    const signal = AbortSignal.any([requestSignal, runSignal]);
    let current = stripCredentials(url);
    let written = url;
    try {
      for (let redirects = 0; ; redirects++) {
        options.emit({ type: 'request', method, url: current, range: init.headers?.['range'] ?? null });
        const authorization = await options.credentials.authorization(written);
        const http = await connect();
        const response = await http.request(current, {
          method,
          dispatcher: http.agent,
          signal,
          headers: {
            'user-agent': options.userAgent,
            ...init.headers,
            ...(authorization ? { authorization } : {}),
          },
          headersTimeout: options.timeoutMs,
          bodyTimeout: options.timeoutMs,
        });
        const wrapped: HttpResponse = { url: current, ...response };
        const location = header(wrapped, 'location');
        if (REDIRECTS.has(response.statusCode) && location) {
          await response.body.dump();
          if (redirects >= MAX_REDIRECTS) {
            throw new IndexUnreachableError(`${redactUrl(url)} redirects more than ${MAX_REDIRECTS} times.`, {
              hint: `Check the index URL ${redactUrl(indexName)}.`,
            });
          }
          // The next hop is looked up by its own origin: credentials never follow to another host.
          written = new URL(location, current).href;
          current = stripCredentials(written);
          continue;
        }
        await checkStatus(wrapped, indexName);
        try {
          return await consume(wrapped);
        } finally {
          if (!response.body.destroyed) response.body.destroy();
        }
      }
    } catch (error) {
      if (runSignal.aborted) throw deadlineError(current, 'run deadline', options.runDeadlineMs);
      if (requestSignal.aborted) throw deadlineError(current, 'request deadline', options.requestDeadlineMs);
      throw error;
    }
  }

  async function send<T>(
    url: string,
    indexName: string,
    init: RequestInit,
    consume: (response: HttpResponse) => Promise<T>,
  ): Promise<T> {
    let lastFault = '';
    for (let attempt = 0; attempt <= options.retries; attempt++) {
      if (attempt > 0) {
        const delayMs = Math.round(Math.random() * options.backoffMs * 2 ** (attempt - 1));
        options.emit({ type: 'retry', url: stripCredentials(url), attempt, delayMs, reason: lastFault });
        await new Promise((done) => setTimeout(done, delayMs));
      }
      try {
        return await limit(() => exchange(url, indexName, init, consume));
      } catch (error) {
        if (!(error instanceof LambdaDepsError) && hostNotFound(error)) throw unreachableHost(url, error);
        if (!isTransient(error)) throw error;
        lastFault = describeFault(error);
      }
    }
    throw new IndexUnreachableError(
      `Could not reach ${redactUrl(indexName)}: ${lastFault} (after ${options.retries + 1} attempts for ${redactUrl(url)}).`,
      {
        hint: 'Check the network, proxy and index URL (pip config list, --index-url); if the index is down, rerun later or use another index.',
      },
    );
  }

  return {
    send,
    async close() {
      if (agent) await (await agent).agent.close();
    },
  };
}

/** Throws for answers that are neither content, a 404 nor a 416 (which callers handle). */
async function checkStatus(response: HttpResponse, indexName: string): Promise<void> {
  const status = response.statusCode;
  if (status >= 500 || status === 429) {
    await response.body.dump();
    throw new TransientError(`HTTP ${status} from ${response.url}`);
  }
  if (status >= 400 && status !== 404 && status !== 416) {
    await response.body.dump();
    throw new IndexUnreachableError(`${redactUrl(indexName)} answered HTTP ${status} for ${response.url}.`, {
      hint:
        status === 401 || status === 403
          ? 'The index needs credentials or refuses these: put them in the index URL (https://user:password@host/simple/) or in ~/.netrc (machine HOST login USER password PASSWORD), and check its access rules.'
          : 'Check the index URL; the file may have been removed from the index.',
    });
  }
}
