// The twin's IAM decisions kept between runs (functions/adapters/twin/iam-decision-cache.ts):
// an allowed call asked again by a later run is answered without evaluating it, but only for
// the same role's same policies, never for a denial, and never from a cache folder this cache
// did not write itself (a copied or restored folder, a garbled file).
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as IamSimulate from '@cloud-copilot/iam-simulate';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const simulations = vi.hoisted(() => ({ count: 0 }));
vi.mock('@cloud-copilot/iam-simulate', async (importOriginal) => {
  const original = await importOriginal<typeof IamSimulate>();
  return {
    ...original,
    runSimulation: (...args: Parameters<typeof original.runSimulation>) => {
      simulations.count++;
      return original.runSimulation(...args);
    },
  };
});

const { IamDecisionCache } = await import('../../../functions/adapters/twin/iam-decision-cache.ts');
const { AccessDeniedError, IamEvaluator } = await import('../../../functions/adapters/twin/iam-evaluator.ts');
const { openDecisionCache } = await import('../../../functions/adapters/twin/local-run.ts');
type Policies = ConstructorParameters<typeof IamEvaluator>[0];

const READ = 'arn:aws:s3:::bucket/artifacts/*';
const OBJECT = 'arn:aws:s3:::bucket/artifacts/abc/manifest.json';

/** One role, `Reader`, whose one policy allows s3:GetObject on `resource`. */
function policies(resource: string): Policies {
  return {
    policiesByRole: new Map([
      [
        'Reader',
        [
          {
            name: 'ReaderPolicy',
            document: {
              Version: '2012-10-17',
              Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: resource }],
            },
          },
        ],
      ],
    ]),
    roleOf: new Map([['ReaderFunction', 'Reader']]),
    roleArn: (role) => `arn:aws:iam::123456789012:role/${role}`,
  };
}

let work = '';
let folder = '';
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-iam-decisions-'));
  folder = join(work, 'iam-decisions');
  simulations.count = 0;
});
afterEach(() => rm(work, { recursive: true, force: true }));

/** One run: an evaluator over `rolePolicies` with the cache in `at`, asked `ask`, then flushed. */
async function run(
  at: string,
  rolePolicies: Policies,
  ask: (iam: InstanceType<typeof IamEvaluator>) => Promise<unknown>,
) {
  const cache = await IamDecisionCache.open(at);
  const iam = new IamEvaluator(rolePolicies, cache);
  const before = simulations.count;
  const answer = await ask(iam).catch((error: unknown) => error);
  await cache?.flush();
  return { answer, simulated: simulations.count - before };
}

const getObject = (iam: InstanceType<typeof IamEvaluator>) => iam.authorize('Reader', 's3:GetObject', OBJECT);

describe('IAM decisions kept between runs', () => {
  it('answers an allowed call a later run asks again without evaluating it', async () => {
    // Act
    const first = await run(folder, policies(READ), getObject);
    const second = await run(folder, policies(READ), getObject);

    // Assess
    expect(first.simulated).toBe(1);
    expect(second.simulated).toBe(0);
    expect(second.answer).toEqual(first.answer);
    expect(second.answer).toEqual({ allowedBy: 'ReaderPolicy:Statement0' });
  });

  it('evaluates again when the role’s policies changed, and a denial every time', async () => {
    // Prepare
    await run(folder, policies(READ), getObject);

    // Act
    const narrowed = await run(folder, policies('arn:aws:s3:::bucket/locks/*'), getObject);
    const again = await run(folder, policies('arn:aws:s3:::bucket/locks/*'), getObject);

    // Assess
    expect(narrowed.simulated).toBe(1);
    expect(narrowed.answer).toBeInstanceOf(AccessDeniedError);
    expect(again.simulated).toBe(1);
    expect(again.answer).toBeInstanceOf(AccessDeniedError);
  });

  it('drops the decisions of a folder copied or restored from elsewhere', async () => {
    // Prepare
    await run(folder, policies(READ), getObject);
    const restored = join(work, 'restored');
    await cp(folder, restored, { recursive: true });

    // Act
    const fromCopy = await run(restored, policies(READ), getObject);

    // Assess
    expect(fromCopy.simulated).toBe(1);
  });

  it.each([
    ['garbage', () => 'not json {'],
    ['another evaluator', (text: string) => text.replace(/"evaluator":"[0-9a-f]+"/, '"evaluator":"other"')],
    ['another stamp', (text: string) => text.replace(/"stamp":"[^"]+"/, '"stamp":"1:2:0:3:4"')],
  ])('ignores decisions that are %s', async (_case, edit) => {
    // Prepare
    await run(folder, policies(READ), getObject);
    const path = join(folder, 'decisions.json');
    await writeFile(path, edit(await readFile(path, 'utf8')));

    // Act
    const after = await run(folder, policies(READ), getObject);

    // Assess
    expect(after.simulated).toBe(1);
    expect(after.answer).toEqual({ allowedBy: 'ReaderPolicy:Statement0' });
  });

  it('is not opened for --no-cache, without a cache folder, or when AWS is not enforced', async () => {
    // Act
    const opened = await openDecisionCache({ cacheDir: work });
    const refused = [
      await openDecisionCache({ cacheDir: work, policy: { cache: false } }),
      await openDecisionCache({}),
      await openDecisionCache({ cacheDir: work, enforceAws: false }),
    ];

    // Assess
    expect(opened).not.toBeNull();
    expect(refused).toEqual([null, null, null]);
  });
});
