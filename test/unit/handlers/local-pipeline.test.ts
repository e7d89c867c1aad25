import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FolderObjectStore } from '../../../functions/adapters/local/folder-object-store.ts';
import { assertLocallyRunnable, buildOnce } from '../../../functions/cli/local-pipeline.ts';
import { keys } from '../../../functions/pipeline-state.ts';
import { recordReliability } from '../../support/reliability-log.ts';

const task = { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:123456789012:function:f', End: true };

describe('assertLocallyRunnable', () => {
  it.each([
    {
      feature: 'JSONata at the top level',
      definition: { QueryLanguage: 'JSONata', StartAt: 'A', States: { A: task } },
      named: /\(top level\): QueryLanguage JSONata/,
    },
    {
      feature: 'JSONata on one state',
      definition: { StartAt: 'A', States: { A: { ...task, QueryLanguage: 'JSONata' } } },
      named: /A: QueryLanguage/,
    },
    {
      feature: 'Assign',
      definition: { StartAt: 'A', States: { A: { ...task, Assign: { x: 1 } } } },
      named: /A: Assign/,
    },
    {
      feature: 'ItemReader inside a Map',
      definition: {
        StartAt: 'M',
        States: {
          M: {
            Type: 'Map',
            End: true,
            ItemReader: { Resource: 'arn:aws:states:::s3:getObject' },
            ItemProcessor: { StartAt: 'B', States: { B: { ...task, ResultWriter: {} } } },
          },
        },
      },
      named: /M: ItemReader; M > B: ResultWriter/,
    },
    {
      feature: 'ItemBatcher',
      definition: {
        StartAt: 'M',
        States: {
          M: {
            Type: 'Map',
            End: true,
            ItemBatcher: {},
            ItemProcessor: { StartAt: 'B', States: { B: task } },
          },
        },
      },
      named: /M: ItemBatcher/,
    },
  ])('refuses $feature, naming the state', ({ definition, named }) => {
    // Act
    const check = () => assertLocallyRunnable(definition);

    // Assess
    expect(check).toThrow(named);
  });

  it('accepts plain JSONPath states', () => {
    // Act
    const check = () =>
      assertLocallyRunnable({
        StartAt: 'A',
        States: { A: { ...task, ResultPath: '$.a', Parameters: { 'x.$': '$' } } },
      });

    // Assess
    expect(check).not.toThrow();
  });
});

describe('buildOnce', () => {
  let folder: string;

  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'lambda-deps-lease-'));
  });
  afterEach(() => rm(folder, { recursive: true, force: true }));

  it('builds once when many executions of the same lock arrive together, and all see the manifest', async () => {
    // Prepare
    const store = new FolderObjectStore(folder);
    const lockHash = 'd'.repeat(64);
    let builds = 0;
    const build = async () => {
      builds += 1;
      await new Promise((done) => setTimeout(done, 50));
      await store.putBytes(keys.manifest(lockHash), '{}');
    };

    // Act
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => buildOnce(store, lockHash, build, 5)));

    // Assess
    expect(builds).toBe(1);
    expect(outcomes.filter((outcome) => outcome === 'built')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === 'reused')).toHaveLength(7);
    expect(await store.exists(keys.buildLease(lockHash))).toBe(false);
    recordReliability({
      area: 'concurrency',
      experiment: 'same lock built by 8 executions at once (exclusive-create lease)',
      cases: 1,
      faultsInjected: 0,
      runs: 8,
      lost: builds === 1 ? 'nothing' : `${builds} builds`,
    });
  });

  it('lets the next execution build when the lease holder failed', async () => {
    // Prepare
    const store = new FolderObjectStore(folder);
    const lockHash = 'e'.repeat(64);
    const failing = buildOnce(store, lockHash, () => Promise.reject(new Error('build machine lost')), 5);

    // Act
    await expect(failing).rejects.toThrow('build machine lost');
    const retried = await buildOnce(store, lockHash, () => store.putBytes(keys.manifest(lockHash), '{}'), 5);

    // Assess
    expect(retried).toBe('built');
  });
});
