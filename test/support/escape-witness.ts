// What the hostile-code tests (smoke import, sdist build) watch escapes with: a loopback server
// that counts the connections made to it (and refuses each), and a canary value planted in the
// runner's environment or files that the contained code must never see.
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';

export interface ConnectionCounter {
  readonly port: number;
  /** How many connections reached the server so far. */
  connections(): number;
  close(): Promise<void>;
}

/** A server on 127.0.0.1 that counts and drops every connection: any count above 0 is an escape. */
export async function startConnectionCounter(): Promise<ConnectionCounter> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    connections: () => connections,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

/** A value no test output holds by chance. */
export function newCanary(): string {
  return `canary-${createHash('sha256').update(String(Math.random())).digest('hex').slice(0, 16)}`;
}
