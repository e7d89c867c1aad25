// Interrupted runs: a build stopped by SIGINT or SIGTERM while it holds the build lease and a
// tree in /dev/shm must exit 130 with the lease released and its scratch gone, and a lease
// left by a holder that died is recognised within seconds (its pid on this host is gone, or
// its expiry passed), while a live holder's lease is respected.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderObjectStore } from '../../../functions/adapters/local/folder-object-store.ts';
import { runOnce } from '../../../functions/adapters/store-lease.ts';
import { recordReliability } from '../../support/reliability-log.ts';
import { writeTinyWheel } from '../../unit/build/tiny-wheels.ts';

const repo = resolve(import.meta.dirname, '../../..');
let work = '';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-interrupt-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A build that holds the lease and its /dev/shm tree, then waits forever on a download. */
const HOLDER = String.raw`
import { installInterruptHandlers } from '${repo}/functions/cli/interrupts.ts';
import { FolderObjectStore } from '${repo}/functions/adapters/local/folder-object-store.ts';
import { runOnce } from '${repo}/functions/adapters/store-lease.ts';
import { buildDependencySet } from '${repo}/functions/core/build/build.ts';
import { lambdaTarget } from '${repo}/functions/core/shared/targets.ts';
const [storeDir, cacheDir, shmDir, outDir, lockedJson] = process.argv.slice(2);
installInterruptHandlers();
// A real hung download holds a socket open; this stands in for it.
setInterval(() => undefined, 1_000);
const store = new FolderObjectStore(storeDir);
await runOnce(store, { leaseKey: 'artifacts/x/.build-lease', doneKey: 'artifacts/x/manifest.json' }, async () => {
  await buildDependencySet({
    lock: { lockVersion: 1, target: lambdaTarget('python3.11', 'x86_64'), packages: [JSON.parse(lockedJson)] },
    index: { download: () => { console.log('ready'); return new Promise(() => undefined); } },
    outDir, cacheDir, strategy: 'layers', treeScratchDir: shmDir,
  });
});
`;

async function stopMidBuild(signal: NodeJS.Signals): Promise<{ code: number | null; leftovers: string[] }> {
  const dir = await mkdtemp(join(work, `${signal}-`));
  const shmDir = await mkdtemp(join('/dev/shm', 'lambda-deps-interrupt-test-'));
  try {
    const wheel = await writeTinyWheel(dir, 'alpha', '1.0', { 'alpha/__init__.py': '' });
    const script = join(dir, 'holder.mts');
    await writeFile(script, HOLDER);
    const [storeDir, cacheDir, outDir] = ['store', 'cache', 'out'].map((name) => join(dir, name));
    const child = spawn(
      join(repo, 'node_modules/.bin/tsx'),
      [script, storeDir ?? '', cacheDir ?? '', shmDir, outDir ?? '', JSON.stringify(wheel.locked)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await new Promise<void>((ready, fail) => {
      const timer = setTimeout(() => fail(new Error(`the holder never got ready: ${stderr}`)), 60_000);
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) {
          clearTimeout(timer);
          ready();
        }
      });
    });
    const during = await readdir(shmDir);
    expect(during.length).toBeGreaterThan(0);
    child.kill(signal);
    const code = await new Promise<number | null>((done) => child.on('close', (exitCode) => done(exitCode)));
    const leftovers = [
      ...(await readdir(shmDir)).map((name) => `/dev/shm/…/${name}`),
      ...(await readdir(join(storeDir ?? '', 'artifacts', 'x')).catch(() => [])).map(
        (name) => `store/${name}`,
      ),
      ...(await readdir(join(cacheDir ?? '', 'builds')).catch(() => [])).map((name) => `cache/${name}`),
    ];
    return { code, leftovers };
  } finally {
    await rm(shmDir, { recursive: true, force: true });
  }
}

describe('an interrupted build', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    'stops on %s with exit 130, its lease released and its scratch (/dev/shm too) removed',
    async (signal) => {
      // Act
      const { code, leftovers } = await stopMidBuild(signal);

      // Assess
      expect(code).toBe(130);
      expect(leftovers).toEqual([]);
    },
    120_000,
  );
});

describe('a lease left behind', () => {
  const deadPid = async (): Promise<number> => {
    const child = spawn('true');
    await new Promise((done) => child.on('close', done));
    return child.pid ?? 999_999;
  };
  const thisHost = async (): Promise<string> => {
    const { hostname } = await import('node:os');
    const { readFile } = await import('node:fs/promises');
    return `${hostname()}/${(await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim()}`;
  };

  it('is taken over within seconds when its holder on this host is dead, or its expiry passed; a live one is waited for', async () => {
    // Prepare
    const store = new FolderObjectStore(await mkdtemp(join(work, 'store-')));
    const now = Date.now();
    const cases = [
      {
        name: 'dead pid here',
        lease: {
          holder: 'a',
          pid: await deadPid(),
          host: await thisHost(),
          at: now,
          expiresAt: now + 3_600_000,
        },
        takenOver: true,
      },
      {
        name: 'expired elsewhere',
        lease: { holder: 'b', pid: 1, host: 'elsewhere/boot', at: now - 60_000, expiresAt: now - 1_000 },
        takenOver: true,
      },
      {
        name: 'live elsewhere',
        lease: { holder: 'c', pid: 1, host: 'elsewhere/boot', at: now, expiresAt: now + 3_600_000 },
        takenOver: false,
      },
      {
        name: 'live here (this process)',
        lease: { holder: 'd', pid: process.pid, host: await thisHost(), at: now, expiresAt: now + 3_600_000 },
        takenOver: false,
      },
    ];
    const outcomes: string[] = [];

    for (const { name, lease, takenOver } of cases) {
      const leaseKey = `artifacts/${lease.holder}/.build-lease`;
      const doneKey = `artifacts/${lease.holder}/manifest.json`;
      await store.putBytes(leaseKey, JSON.stringify(lease));
      const started = Date.now();

      // Act
      const outcome = await runOnce(store, { leaseKey, doneKey, pollMs: 50, waitMs: 2_000 }, () =>
        store.putBytes(doneKey, '{}'),
      ).catch((error: unknown) => (error instanceof Error ? error.name : String(error)));
      const seconds = (Date.now() - started) / 1000;

      // Assess
      outcomes.push(`${name}: ${String(outcome)} in ${seconds.toFixed(1)} s`);
      if (takenOver) {
        expect(outcome).toBe('ran');
        expect(seconds).toBeLessThan(1.5);
        expect(await store.exists(leaseKey)).toBe(false);
      } else expect(outcome).toBe('TransientError');
    }
    recordReliability({
      area: 'interrupted runs',
      experiment: `stale leases recognised by pid, host and expiry (${outcomes.join('; ')}); SIGINT and SIGTERM mid-build exit 130 with lease and /dev/shm scratch removed`,
      cases: cases.length + 2,
      faultsInjected: cases.length + 2,
      runs: cases.length + 2,
      lost: 'nothing',
    });
  }, 60_000);
});
