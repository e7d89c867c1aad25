// Debian's `docker-registry` (distribution 2.x) on 127.0.0.1 for the image tests: one process per
// storage folder, restartable on the same storage and port (to test a registry dying mid-push).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';
export const NO_REGISTRY_REASON = `Debian's docker-registry is not installed (${REGISTRY_BINARY} is missing)`;
export const SKOPEO_BINARY = '/usr/bin/skopeo';
export const NO_SKOPEO_REASON = `skopeo is not installed (${SKOPEO_BINARY} is missing)`;

export function registryAvailable(): boolean {
  return existsSync(REGISTRY_BINARY);
}

export function skopeoAvailable(): boolean {
  return existsSync(SKOPEO_BINARY);
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

export interface LocalRegistry {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** `127.0.0.1:PORT` */
  readonly host: string;
  readonly port: number;
  readonly storageDir: string;
  readonly process: ChildProcess;
  /** SIGKILL (a crash) or SIGTERM, and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Start docker-registry on the storage folder (and port, when restarting); resolves when GET /v2/ answers 200. */
export async function startRegistry(
  workDir: string,
  storageDir: string,
  port?: number,
): Promise<LocalRegistry> {
  const chosenPort = port ?? (await freePort());
  const config = join(workDir, `registry-${chosenPort}.yml`);
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storageDir}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${chosenPort}`,
      '',
    ].join('\n'),
  );
  const child = spawn(REGISTRY_BINARY, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${chosenPort}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    const ok = await fetch(`${url}/v2/`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not answer on ${url}: ${stderr}`);
    }
    await new Promise((done) => setTimeout(done, 50));
  }
  return {
    url,
    host: `127.0.0.1:${chosenPort}`,
    port: chosenPort,
    storageDir,
    process: child,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((done) => child.once('exit', done));
      child.kill(signal);
      await exited;
    },
  };
}
