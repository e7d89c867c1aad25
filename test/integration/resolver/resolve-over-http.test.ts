// The resolver over a real HTTP index (the shared wheelhouse corpus served on loopback), with
// latency and with injected server faults: it must pick exactly what it picks from the same index
// read as files, fetch in parallel rather than one request after another, and lose nothing when
// the server fails some requests.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPackageIndex, type IndexEvent } from '../../../functions/core/index/index-client.ts';
import { parseRequirement } from '../../../functions/core/inputs/pep508.ts';
import { resolveDependencySet } from '../../../functions/core/resolve/resolver.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import type { Lock } from '../../../functions/core/shared/types.ts';
import { recordReliability } from '../../support/reliability-log.ts';
import {
  buildWheelhouse,
  corpusAvailable,
  NO_CORPUS_REASON,
  serveWheelhouse,
  type WheelhouseServer,
} from '../../support/wheelhouse.ts';

const LATENCY_MS = 150;
const REQUIREMENTS = ['boto3', 'requests', 'fastsum'].map((line) => parseRequirement(line));
const target = lambdaTarget('python3.11', 'x86_64');

function identity(lock: Lock): string[] {
  return lock.packages.map(
    (entry) => `${entry.name} ${entry.version} ${entry.filename} ${entry.sha256} ${entry.unzippedSize}`,
  );
}

describe.skipIf(!corpusAvailable())(
  `resolveDependencySet over HTTP${corpusAvailable() ? '' : ` (skipped: ${NO_CORPUS_REASON})`}`,
  () => {
    let wheelhouse = '';
    let workDir = '';
    let fromFiles: Lock;
    const servers: WheelhouseServer[] = [];

    beforeAll(async () => {
      wheelhouse = await buildWheelhouse();
      workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-resolve-http-'));
      const index = createPackageIndex({
        indexUrl: pathToFileURL(join(wheelhouse, 'simple')).href,
        extraIndexUrls: [],
        findLinks: [],
        pre: false,
        cacheDir: join(workDir, 'file-cache'),
      });
      try {
        fromFiles = await resolveDependencySet({
          requirements: REQUIREMENTS,
          constraints: [],
          target,
          index,
        });
      } finally {
        await index.close();
      }
    }, 600_000);

    afterAll(async () => {
      await Promise.all(servers.map((server) => server.close()));
      if (workDir) await rm(workDir, { recursive: true, force: true });
    });

    it('picks the same files over HTTP, fetching in parallel rather than one request after another', async () => {
      // Prepare
      const server = await serveWheelhouse(wheelhouse, { latencyMs: LATENCY_MS });
      servers.push(server);
      let requests = 0;
      const index = createPackageIndex({
        indexUrl: server.indexUrl,
        extraIndexUrls: [],
        findLinks: [],
        pre: false,
        cacheDir: join(workDir, 'http-cache'),
        onEvent: (event: IndexEvent) => {
          if (event.type === 'request') requests++;
        },
      });

      // Act
      const started = performance.now();
      const lock = await resolveDependencySet({
        requirements: REQUIREMENTS,
        constraints: [],
        target,
        index,
      }).finally(() => index.close());
      const elapsed = performance.now() - started;

      // Assess
      expect(identity(lock)).toEqual(identity(fromFiles));
      expect(lock.packages.map((entry) => entry.name)).toEqual(
        expect.arrayContaining(['boto3', 'requests', 'six']),
      );
      expect(lock.packages.find((entry) => entry.name === 'fastsum')?.version).toBe('1.0');
      // Each request waits LATENCY_MS; one after another they would take requests × latency.
      expect(requests).toBeGreaterThan(2 * lock.packages.length);
      expect(elapsed).toBeLessThan((requests * LATENCY_MS) / 2);
    });

    it('loses nothing when the server fails a fifth of the requests', async () => {
      // Prepare
      const server = await serveWheelhouse(wheelhouse, { failRate: 0.2 });
      servers.push(server);
      const runs = 3;
      let retries = 0;
      const outcomes: string[][] = [];

      // Act
      for (let run = 0; run < runs; run++) {
        const index = createPackageIndex({
          indexUrl: server.indexUrl,
          extraIndexUrls: [],
          findLinks: [],
          pre: false,
          cacheDir: join(workDir, `faulty-cache-${run}`),
          backoffMs: 10,
          retries: 8,
          onEvent: (event: IndexEvent) => {
            if (event.type === 'retry') retries++;
          },
        });
        const lock = await resolveDependencySet({
          requirements: REQUIREMENTS,
          constraints: [],
          target,
          index,
        }).finally(() => index.close());
        outcomes.push(identity(lock));
      }
      const lost = outcomes.every(
        (outcome) => JSON.stringify(outcome) === JSON.stringify(identity(fromFiles)),
      )
        ? 'nothing'
        : 'a different set was resolved';
      recordReliability({
        area: 'resolver',
        experiment: 'resolve boto3, requests and fastsum over HTTP with 20% of requests failing',
        cases: REQUIREMENTS.length,
        faultsInjected: retries,
        runs,
        lost,
      });

      // Assess
      expect(retries).toBeGreaterThan(0);
      expect(lost).toBe('nothing');
    });
  },
);
