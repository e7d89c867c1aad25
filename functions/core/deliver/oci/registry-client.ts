// A small client for the OCI distribution spec (the registry HTTP API that Docker, ECR and
// Debian's docker-registry speak), on undici, so images are pushed without Docker. It does the
// auth dance (anonymous, Basic, Bearer tokens from `WWW-Authenticate`, ECR's Basic from
// GetAuthorizationToken), retries transient failures with backoff, and verifies every digest
// it sends or receives. It holds no AWS code: the caller passes credentials in.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher, request as undiciRequest } from 'undici';
import { IntegrityError, LambdaDepsError } from '../../shared/errors.ts';
import { loadUndici } from '../../shared/lazy-undici.ts';
import type { Target } from '../../shared/types.ts';
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_INDEX,
  OCI_MANIFEST,
  ociArchitecture,
  sha256Digest,
  type Descriptor,
  type ImageManifest,
} from './image-layout.ts';

/** undici's request, loaded at the first registry request: every local run imports this module through the twin's image registry. */
async function request(...args: Parameters<typeof undiciRequest>) {
  return (await loadUndici()).request(...args);
}

/** A username and password (ECR: `AWS` and the token's password; see ecrRegistryCredentials). */
export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

export interface RegistryClientOptions {
  /** `https://123456789012.dkr.ecr.eu-west-1.amazonaws.com`, `public.ecr.aws`, `http://127.0.0.1:5000`. */
  readonly registryUrl: string;
  readonly credentials?: RegistryCredentials | null;
  /** Extra attempts after a transient failure (5xx, 429, connection error). Default 4. */
  readonly retries?: number;
  /** First backoff delay; doubles each attempt, with jitter. Default 250 ms. */
  readonly retryDelayMs?: number;
  /** Blobs up to this size go in one PUT; bigger ones in PATCH chunks. Default 10 MiB. */
  readonly monolithicMaxBytes?: number;
  /** Chunk size for PATCH uploads (ECR wants at least 5 MiB per chunk but the last). Default 10 MiB. */
  readonly chunkSize?: number;
  /** undici dispatcher (tests pass one with short timeouts). */
  readonly dispatcher?: Dispatcher;
}

/** A registry refused or failed a request. `transient` errors are worth retrying later. */
export class RegistryError extends LambdaDepsError {
  override name = 'RegistryError';
  readonly status: number | null;
  readonly code: string | null;
  readonly transient: boolean;
  constructor(
    message: string,
    options: ConstructorParameters<typeof LambdaDepsError>[1] & {
      status?: number | null;
      code?: string | null;
      transient?: boolean;
    } = {},
  ) {
    super(message, options);
    this.status = options.status ?? null;
    this.code = options.code ?? null;
    this.transient = options.transient ?? false;
  }
}

export const MANIFEST_MEDIA_TYPES = [OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_LIST] as const;

/** A manifest as fetched: its exact bytes (the digest is over them), type and parsed body. */
export interface FetchedManifest {
  readonly mediaType: string;
  readonly digest: string;
  readonly bytes: Buffer;
  readonly json: ImageManifest | ImageIndex;
}

export interface ImageIndex {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly manifests: readonly Descriptor[];
}

/** Where an upload's bytes come from. Files and buffers can be re-read for a retry; streams are re-opened. */
export type BlobSource =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'bytes'; readonly bytes: Buffer }
  | { readonly kind: 'stream'; readonly open: () => Promise<Readable> };

type Headers = Record<string, string>;

interface RegistryResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Dispatcher.ResponseData['body'];
}

interface SendOptions {
  readonly method: Dispatcher.HttpMethod;
  /** Path under the registry origin, or an absolute URL (upload locations, redirects). */
  readonly url: string;
  readonly repository: string;
  /** Token scope actions: `pull` or `pull,push`. */
  readonly actions: string;
  readonly headers?: Headers;
  /** Called again for each attempt, so bodies can be resent. */
  readonly body?: () => Buffer | Readable | null;
  /** Statuses that are an answer, not an error. */
  readonly expect: readonly number[];
  /** Retry transient failures here (false inside an upload session: the session retries as a whole). */
  readonly retry?: boolean;
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

function isTransient(error: unknown): boolean {
  if (error instanceof RegistryError) return error.transient;
  const code = (error as { code?: string } | null)?.code;
  return code !== undefined && TRANSIENT_CODES.has(code);
}

function header(response: RegistryResponse, name: string): string | undefined {
  const value = response.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** `Bearer realm="…",service="…",scope="…"` → scheme and parameters. */
export function parseAuthenticateHeader(value: string): { scheme: string; params: Record<string, string> } {
  const match = /^\s*(\S+)\s*(.*)$/.exec(value);
  const params: Record<string, string> = {};
  for (const part of (match?.[2] ?? '').matchAll(/([A-Za-z_]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/g)) {
    params[(part[1] ?? '').toLowerCase()] = part[2] ?? part[3] ?? '';
  }
  return { scheme: (match?.[1] ?? '').toLowerCase(), params };
}

/** The registry's origin: a bare host means https, except loopback hosts (local test registries). */
export function registryOrigin(registryUrl: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(registryUrl)
    ? registryUrl
    : /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?(\/|$)/.test(registryUrl)
      ? `http://${registryUrl}`
      : `https://${registryUrl}`;
  return new URL(withScheme).origin;
}

/**
 * Pick the single-architecture manifest for the target from an image index / manifest list
 * (Lambda rejects multi-architecture images), skipping attestation manifests.
 */
export function selectPlatformManifest(index: ImageIndex, target: Target, where: string): Descriptor {
  const architecture = ociArchitecture(target);
  const candidates = index.manifests.filter(
    (entry) =>
      entry.platform?.os === 'linux' &&
      entry.platform.architecture === architecture &&
      (architecture !== 'arm64' || entry.platform.variant === undefined || entry.platform.variant === 'v8') &&
      entry.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest',
  );
  const chosen = candidates[0];
  if (!chosen) {
    const offered = index.manifests
      .map((entry) => `${entry.platform?.os ?? '?'}/${entry.platform?.architecture ?? '?'}`)
      .join(', ');
    throw new RegistryError(`${where} has no linux/${architecture} image (it offers ${offered || 'none'}).`, {
      hint: `Choose a base image built for ${target.architecture}, e.g. public.ecr.aws/lambda/python:${target.pythonVersion}-${target.architecture}.`,
    });
  }
  return chosen;
}

/** Counts and hashes bytes on their way to the registry. */
class DigestingStream extends Transform {
  constructor(private readonly hash: ReturnType<typeof createHash>) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    done(null, chunk);
  }
}

/** A client for one registry; repositories are named per call. */
export class RegistryClient {
  readonly origin: string;
  /** `host[:port]`, as image URIs write it. */
  readonly host: string;
  private readonly credentials: RegistryCredentials | null;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly monolithicMaxBytes: number;
  private readonly chunkSize: number;
  private readonly dispatcher: Dispatcher | undefined;
  /** Authorization header per `repository:actions`, learned from challenges. */
  private readonly authorizations = new Map<string, string>();
  private basicOnly = false;

  constructor(options: RegistryClientOptions) {
    this.origin = registryOrigin(options.registryUrl);
    this.host = new URL(this.origin).host;
    this.credentials = options.credentials ?? null;
    this.retries = options.retries ?? 4;
    this.retryDelayMs = options.retryDelayMs ?? 250;
    this.monolithicMaxBytes = options.monolithicMaxBytes ?? 10 * 1024 * 1024;
    this.chunkSize = options.chunkSize ?? 10 * 1024 * 1024;
    this.dispatcher = options.dispatcher;
  }

  /** GET /v2/: reachable and the credentials (if any) are accepted. */
  async ping(): Promise<void> {
    await this.send({ method: 'GET', url: '/v2/', repository: '', actions: '', expect: [200] }).then(drain);
  }

  /** HEAD the blob: true when the repository has it. */
  async blobExists(repository: string, digest: string): Promise<boolean> {
    const response = await this.send({
      method: 'HEAD',
      url: `/v2/${repository}/blobs/${digest}`,
      repository,
      actions: 'pull',
      expect: [200, 404],
    });
    await drain(response);
    return response.status === 200;
  }

  /**
   * Cross-repository mount (same registry): true when the registry linked the blob from
   * `fromRepository` without an upload; false when it cannot (then upload it).
   */
  async mountBlob(repository: string, digest: string, fromRepository: string): Promise<boolean> {
    const query = new URLSearchParams({ mount: digest, from: fromRepository });
    const response = await this.send({
      method: 'POST',
      url: `/v2/${repository}/blobs/uploads/?${query.toString()}`,
      repository,
      actions: 'pull,push',
      expect: [201, 202],
    });
    await drain(response);
    if (response.status === 201) return true;
    // 202: the registry opened an ordinary upload session instead; close it.
    const location = header(response, 'location');
    if (location) await this.abandonUpload(repository, location);
    return false;
  }

  /** Close an upload session we will not finish; best effort (registries may not support DELETE). */
  private async abandonUpload(repository: string, location: string): Promise<void> {
    await this.send({
      method: 'DELETE',
      url: location,
      repository,
      actions: 'pull,push',
      expect: [204, 404, 405],
      retry: false,
    })
      .then(drain)
      .catch(() => undefined);
  }

  /**
   * Upload one blob (unless it is already there), verifying its digest as it streams. Small
   * blobs go in one PUT; bigger ones in PATCH chunks. A failed session is restarted from the
   * beginning, after checking whether the blob landed anyway.
   */
  async uploadBlob(
    repository: string,
    blob: { readonly digest: string; readonly size: number },
    source: BlobSource,
  ): Promise<'uploaded' | 'existed'> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.uploadSession(repository, blob, source);
        return 'uploaded';
      } catch (error) {
        if (!isTransient(error) || attempt >= this.retries)
          throw this.explain(error, `uploading ${blob.digest} to ${repository}`);
        await this.backoff(attempt);
        // The commit may have succeeded even though its answer was lost.
        if (await this.blobExists(repository, blob.digest).catch(() => false)) return 'existed';
      }
    }
  }

  private async uploadSession(
    repository: string,
    blob: { readonly digest: string; readonly size: number },
    source: BlobSource,
  ): Promise<void> {
    const start = await this.send({
      method: 'POST',
      url: `/v2/${repository}/blobs/uploads/`,
      repository,
      actions: 'pull,push',
      expect: [202],
      retry: false,
    });
    await drain(start);
    let location = this.location(start);
    const hash = createHash('sha256');
    const monolithic = blob.size <= this.monolithicMaxBytes;
    if (!monolithic) {
      const chunks =
        source.kind === 'stream' ? [{ start: 0, end: blob.size }] : chunkRanges(blob.size, this.chunkSize);
      for (const chunk of chunks) {
        const bytes = chunk.end - chunk.start;
        const opened = source.kind === 'stream' ? await source.open() : null;
        const response = await this.send({
          method: 'PATCH',
          url: location.toString(),
          repository,
          actions: 'pull,push',
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': String(bytes),
            ...(source.kind === 'stream' ? {} : { 'content-range': `${chunk.start}-${chunk.end - 1}` }),
          },
          body: () => sourceRange(source, chunk.start, chunk.end, opened).pipe(new DigestingStream(hash)),
          expect: [202],
          retry: false,
        }).catch((error: unknown) => {
          // Free the source registry's connection when the destination failed mid-copy.
          opened?.destroy();
          throw error;
        });
        await drain(response);
        location = this.location(response);
      }
    }
    const body = monolithic ? await readWhole(source, blob.size) : null;
    if (body) hash.update(body);
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== blob.digest) {
      await this.abandonUpload(repository, location.toString());
      throw new IntegrityError(`The bytes sent for ${blob.digest} hash to ${actual}.`, {
        hint: 'The local blob or the source registry returned different content than its digest; rebuild the image layout.',
      });
    }
    location.searchParams.set('digest', blob.digest);
    const commit = await this.send({
      method: 'PUT',
      url: location.toString(),
      repository,
      actions: 'pull,push',
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(body ? body.length : 0),
      },
      body: () => body ?? Buffer.alloc(0),
      expect: [201],
      retry: false,
    });
    await drain(commit);
    const stored = header(commit, 'docker-content-digest');
    if (stored && stored !== blob.digest) {
      throw new IntegrityError(`${this.host}/${repository} stored ${blob.digest} as ${stored}.`, {
        hint: 'The registry altered the blob; check any proxy between here and the registry.',
      });
    }
  }

  /** GET a manifest or index by tag or digest, checking the digest when the reference is one. */
  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    const response = await this.send({
      method: 'GET',
      url: `/v2/${repository}/manifests/${reference}`,
      repository,
      actions: 'pull',
      headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
      expect: [200],
    });
    const bytes = Buffer.from(await response.body.arrayBuffer());
    const digest = sha256Digest(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new IntegrityError(
        `${this.host}/${repository}@${reference} returned a manifest whose digest is ${digest}.`,
        {
          hint: 'The registry or a proxy served the wrong content; try again, or report it to the registry operator.',
        },
      );
    }
    const json = JSON.parse(bytes.toString('utf8')) as (ImageManifest | ImageIndex) & { mediaType?: string };
    const mediaType =
      (header(response, 'content-type') ?? json.mediaType ?? OCI_MANIFEST).split(';')[0]?.trim() ??
      OCI_MANIFEST;
    return { mediaType, digest, bytes, json };
  }

  /** The single-architecture manifest for the target: the reference itself, or its entry in an index. */
  async getPlatformManifest(repository: string, reference: string, target: Target): Promise<FetchedManifest> {
    const fetched = await this.getManifest(repository, reference);
    if (fetched.mediaType !== OCI_INDEX && fetched.mediaType !== DOCKER_MANIFEST_LIST) return fetched;
    const chosen = selectPlatformManifest(
      fetched.json as ImageIndex,
      target,
      `${this.host}/${repository}:${reference}`,
    );
    return this.getManifest(repository, chosen.digest);
  }

  /** PUT a manifest under a tag (or digest); returns its digest, checked against the registry's. */
  async putManifest(
    repository: string,
    reference: string,
    bytes: Buffer,
    mediaType: string,
  ): Promise<string> {
    const digest = sha256Digest(bytes);
    const response = await this.send({
      method: 'PUT',
      url: `/v2/${repository}/manifests/${reference}`,
      repository,
      actions: 'pull,push',
      headers: { 'content-type': mediaType },
      body: () => bytes,
      expect: [201],
    }).catch(async (error: unknown) => {
      if (!isImmutableTagRefusal(error)) throw error;
      return this.existingTag(repository, reference, digest);
    });
    if (typeof response === 'string') return response;
    await drain(response);
    const stored = header(response, 'docker-content-digest');
    if (stored && stored !== digest) {
      throw new IntegrityError(
        `${this.host}/${repository}:${reference} stored the manifest as ${stored}, not ${digest}.`,
        {
          hint: 'The registry rewrote the manifest; it must store the bytes as sent.',
        },
      );
    }
    return digest;
  }

  /**
   * An immutable tag (ECR: 400 TAG_INVALID) that already exists: the push succeeded before
   * when it names the same manifest (a retry, two runs of one lock); anything else is refused.
   */
  private async existingTag(repository: string, tag: string, digest: string): Promise<string> {
    const existing = await this.getManifest(repository, tag);
    if (existing.digest === digest) return digest;
    throw new RegistryError(
      `${this.host}/${repository}:${tag} already names ${existing.digest}, not ${digest}, and the repository's tags are immutable.`,
      {
        code: 'TAG_INVALID',
        hint: 'The same tag was built from different content (a changed base image, or a tag reused by hand); delete the old image, or give the repository MUTABLE tags.',
      },
    );
  }

  /** Stream a blob (following redirects to storage without sending credentials there). */
  async getBlob(repository: string, digest: string): Promise<Readable> {
    let response = await this.send({
      method: 'GET',
      url: `/v2/${repository}/blobs/${digest}`,
      repository,
      actions: 'pull',
      expect: [200, 301, 302, 303, 307, 308],
    });
    for (let hops = 0; response.status !== 200; hops++) {
      const target = header(response, 'location');
      await drain(response);
      if (!target || hops > 5)
        throw new RegistryError(`${this.host}/${repository}@${digest}: too many redirects.`);
      const next = new URL(target, this.origin);
      response =
        next.origin === this.origin
          ? await this.send({
              method: 'GET',
              url: next.toString(),
              repository,
              actions: 'pull',
              expect: [200, 301, 302, 303, 307, 308],
            })
          : await this.plainGet(next);
    }
    return response.body as unknown as Readable;
  }

  /** GET a small blob (a config) whole, verifying its digest. */
  async getBlobBytes(repository: string, digest: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.getBlob(repository, digest)) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    if (sha256Digest(bytes) !== digest) {
      throw new IntegrityError(`${this.host}/${repository} served blob ${digest} with other content.`, {
        hint: 'Try again; if it persists, the registry storage is damaged.',
      });
    }
    return bytes;
  }

  private async plainGet(url: URL): Promise<RegistryResponse> {
    const response = await request(url, {
      method: 'GET',
      ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
    });
    if (response.statusCode >= 400) {
      await drain({ status: response.statusCode, headers: response.headers, body: response.body });
      throw new RegistryError(`Blob storage at ${url.host} answered ${response.statusCode}.`, {
        status: response.statusCode,
        transient: response.statusCode >= 500,
      });
    }
    return { status: response.statusCode, headers: response.headers, body: response.body };
  }

  private location(response: RegistryResponse): URL {
    const location = header(response, 'location');
    if (!location)
      throw new RegistryError(`${this.host} started an upload without a Location header.`, {
        transient: false,
      });
    return new URL(location, this.origin);
  }

  private async backoff(attempt: number): Promise<void> {
    const delay = this.retryDelayMs * 2 ** attempt;
    await sleep(delay / 2 + Math.random() * (delay / 2));
  }

  /** One request with auth and (unless told not to) retries. */
  private async send(options: SendOptions): Promise<RegistryResponse> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.sendAuthorized(options);
      } catch (error) {
        if (options.retry === false || !isTransient(error) || attempt >= this.retries)
          throw this.explain(error, `${options.method} ${options.url}`);
        await this.backoff(attempt);
      }
    }
  }

  private async sendAuthorized(options: SendOptions): Promise<RegistryResponse> {
    const scopeKey = `${options.repository}:${options.actions}`;
    let response = await this.sendOnce(options, this.authorizations.get(scopeKey));
    if (response.status === 401) {
      const challenge = header(response, 'www-authenticate') ?? '';
      await drain(response);
      const authorization = await this.answerChallenge(challenge, options);
      this.authorizations.set(scopeKey, authorization);
      response = await this.sendOnce(options, authorization);
    }
    if (options.expect.includes(response.status)) return response;
    const text = await response.body.text().catch(() => '');
    let code: string | null = null;
    let detail = text.slice(0, 300);
    try {
      const parsed = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
      code = parsed.errors?.[0]?.code ?? null;
      detail =
        parsed.errors?.map((error) => `${error.code ?? ''}: ${error.message ?? ''}`).join('; ') ?? detail;
    } catch {
      // Not a JSON error body: keep the text.
    }
    const transient = response.status >= 500 || response.status === 429;
    throw new RegistryError(
      `${this.host} answered ${response.status} to ${options.method} ${new URL(options.url, this.origin).pathname}${detail ? `: ${detail}` : ''}.`,
      {
        status: response.status,
        code,
        transient,
        hint:
          response.status === 401 || response.status === 403
            ? 'Check the registry credentials (an ECR token lasts 12 hours) and that they may push to this repository.'
            : response.status === 404
              ? 'Check the repository name and the image reference; ECR repositories must exist before a push.'
              : transient
                ? 'The registry is failing; try again later.'
                : null,
      },
    );
  }

  private async sendOnce(options: SendOptions, authorization: string | undefined): Promise<RegistryResponse> {
    const headers: Headers = { ...(options.headers ?? {}) };
    if (authorization) headers.authorization = authorization;
    else if (this.basicOnly && this.credentials) headers.authorization = basic(this.credentials);
    const body = options.body?.() ?? null;
    const response = await request(new URL(options.url, this.origin), {
      method: options.method,
      headers,
      body,
      ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
    });
    return { status: response.statusCode, headers: response.headers, body: response.body };
  }

  private async answerChallenge(challenge: string, options: SendOptions): Promise<string> {
    const { scheme, params } = parseAuthenticateHeader(challenge);
    if (scheme === 'basic') {
      if (!this.credentials) {
        throw new RegistryError(`${this.host} requires a username and password.`, {
          status: 401,
          hint: 'Pass credentials (for ECR: ecrRegistryCredentials(GetAuthorizationToken().authorizationToken)).',
        });
      }
      this.basicOnly = true;
      return basic(this.credentials);
    }
    if (scheme === 'bearer' && params.realm) {
      const scope = options.repository ? `repository:${options.repository}:${options.actions}` : params.scope;
      const url = new URL(params.realm);
      if (params.service) url.searchParams.set('service', params.service);
      if (scope) url.searchParams.set('scope', scope);
      for (let attempt = 0; ; attempt++) {
        try {
          const response = await request(url, {
            method: 'GET',
            headers: this.credentials ? { authorization: basic(this.credentials) } : {},
            ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
          });
          const text = await response.body.text();
          if (response.statusCode !== 200) {
            throw new RegistryError(
              `The token service ${url.host} answered ${response.statusCode} for ${scope ?? 'the registry'}.`,
              {
                status: response.statusCode,
                transient: response.statusCode >= 500,
                hint: 'Check the registry credentials and that they may access this repository.',
              },
            );
          }
          const token = (JSON.parse(text) as { token?: string; access_token?: string }) ?? {};
          const value = token.token ?? token.access_token;
          if (!value) throw new RegistryError(`The token service ${url.host} returned no token.`);
          return `Bearer ${value}`;
        } catch (error) {
          if (!isTransient(error) || attempt >= this.retries) throw error;
          await this.backoff(attempt);
        }
      }
    }
    throw new RegistryError(`${this.host} asks for unsupported authentication "${challenge}".`, {
      status: 401,
      hint: 'lambda-deps speaks anonymous, Basic and Bearer token auth.',
    });
  }

  /** Wrap transport errors as RegistryErrors that say which registry and what was being done. */
  private explain(error: unknown, doing: string): unknown {
    if (error instanceof LambdaDepsError) return error;
    const code = (error as { code?: string } | null)?.code ?? '';
    return new RegistryError(`${this.host} could not be reached while ${doing} (${code || String(error)}).`, {
      transient: isTransient(error),
      cause: error,
      hint: 'Check that the registry is up and reachable; a later attempt resumes where this one stopped.',
    });
  }
}

function basic(credentials: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

async function drain(response: RegistryResponse): Promise<void> {
  await response.body.dump().catch(() => undefined);
}

function chunkRanges(size: number, chunkSize: number): { start: number; end: number }[] {
  const ranges: { start: number; end: number }[] = [];
  for (let start = 0; start < size; start += chunkSize)
    ranges.push({ start, end: Math.min(size, start + chunkSize) });
  return ranges;
}

function sourceRange(source: BlobSource, start: number, end: number, opened: Readable | null): Readable {
  if (source.kind === 'file') return createReadStream(source.path, { start, end: end - 1 });
  if (source.kind === 'bytes') return Readable.from([source.bytes.subarray(start, end)]);
  if (!opened) throw new Error('stream source was not opened');
  return opened;
}

async function readWhole(source: BlobSource, size: number): Promise<Buffer> {
  if (source.kind === 'bytes') return source.bytes;
  const chunks: Buffer[] = [];
  const stream = source.kind === 'file' ? createReadStream(source.path) : await source.open();
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  if (bytes.length !== size) {
    throw new IntegrityError(`A blob source gave ${bytes.length} bytes where ${size} were expected.`, {
      hint: 'The source blob is truncated; rebuild the image layout or retry the copy.',
    });
  }
  return bytes;
}

/** ECR (and registries with tag immutability) refuse a PUT to an existing tag with 400 TAG_INVALID. */
function isImmutableTagRefusal(error: unknown): boolean {
  return (
    error instanceof RegistryError &&
    error.status === 400 &&
    (error.code === 'TAG_INVALID' || /immutable|already exists/i.test(error.message))
  );
}
