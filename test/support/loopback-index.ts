// A tiny package index on 127.0.0.1 for hostile and private-index tests: serves one project's
// wheels as a PEP 503 page, can require Basic auth (checking the header, 401 otherwise), and
// records every request with its Authorization header. Routes can be overridden to serve
// hostile pages (trickling, huge, linking to file: URLs).
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ZipFile } from 'yazl';

export interface TinyWheel {
  readonly name: string;
  readonly version: string;
  readonly filename: string;
  readonly bytes: Buffer;
  readonly sha256: string;
}

/** A minimal valid py3-none-any wheel (METADATA, WHEEL, RECORD and one module). */
export async function makeTinyWheel(name: string, version: string): Promise<TinyWheel> {
  const module = name.replace(/-/g, '_');
  const distInfo = `${module}-${version}.dist-info`;
  const files: [string, string][] = [
    [`${module}/__init__.py`, `VERSION = ${JSON.stringify(version)}\n`],
    [`${distInfo}/METADATA`, `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n`],
    [`${distInfo}/WHEEL`, 'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n'],
    [`${distInfo}/top_level.txt`, `${module}\n`],
  ];
  const record = files.map(([path, text]) => {
    const digest = createHash('sha256').update(text).digest('base64url');
    return `${path},sha256=${digest},${Buffer.byteLength(text)}`;
  });
  files.push([`${distInfo}/RECORD`, `${record.join('\n')}\n${distInfo}/RECORD,,\n`]);
  const zip = new ZipFile();
  for (const [path, text] of files) zip.addBuffer(Buffer.from(text), path, { mtime: new Date(0) });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  const filename = `${module}-${version}-py3-none-any.whl`;
  return { name, version, filename, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

export interface SeenRequest {
  readonly path: string;
  readonly authorization: string | null;
}

export type Route = (request: IncomingMessage, response: ServerResponse) => boolean;

export interface LoopbackIndex {
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  readonly requests: SeenRequest[];
  close(): Promise<void>;
}

export interface LoopbackIndexOptions {
  readonly wheels?: readonly TinyWheel[];
  /** Require `Authorization: Basic base64(user:password)` on every request. */
  readonly auth?: { readonly username: string; readonly password: string } | null;
  /** Tried first; return true when it answered. */
  readonly route?: Route;
}

function projectPage(wheels: readonly TinyWheel[], name: string): string | null {
  const matching = wheels.filter((wheel) => wheel.name === name);
  if (matching.length === 0) return null;
  const links = matching.map(
    (wheel) => `<a href="/files/${wheel.filename}#sha256=${wheel.sha256}">${wheel.filename}</a>`,
  );
  return `<!DOCTYPE html><html><body>${links.join('<br>')}</body></html>`;
}

/**
 * Starts a loopback index; every request is recorded, then checked for auth, then routed.
 * @example const index = await startLoopbackIndex({ wheels: [wheel], auth: { username: 'u', password: 'p' } });
 */
export async function startLoopbackIndex(options: LoopbackIndexOptions = {}): Promise<LoopbackIndex> {
  const wheels = options.wheels ?? [];
  const requests: SeenRequest[] = [];
  const expected = options.auth
    ? `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`).toString('base64')}`
    : null;
  const server = createServer((request, response) => {
    const path = request.url ?? '/';
    requests.push({ path, authorization: request.headers.authorization ?? null });
    if (expected !== null && request.headers.authorization !== expected) {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="private"' }).end('unauthorized');
      return;
    }
    if (options.route?.(request, response)) return;
    const project = /^\/simple\/([^/]+)\/$/.exec(path);
    const page = project ? projectPage(wheels, project[1] ?? '') : null;
    if (page !== null) {
      response.writeHead(200, { 'content-type': 'text/html' }).end(page);
      return;
    }
    const file = /^\/files\/([^/]+)$/.exec(path);
    const wheel = wheels.find((candidate) => candidate.filename === file?.[1]);
    if (wheel) {
      response.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': wheel.bytes.length,
      });
      response.end(request.method === 'HEAD' ? undefined : wheel.bytes);
      return;
    }
    response.writeHead(404).end('not found');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
