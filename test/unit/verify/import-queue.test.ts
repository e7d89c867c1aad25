// The smoke import's queue: a distribution is handed out after the ones it requires, so the
// processes sharing one bytecode cache compile numpy once; a cycle never blocks the queue.
import { describe, expect, it } from 'vitest';
import { ImportQueue, requiredDistributions } from '../../../functions/core/verify/import-queue.ts';

/** Takes and finishes everything with `workers` concurrent takers, in the order it was handed out. */
async function drain(queue: ImportQueue, workers: number): Promise<string[]> {
  const order: string[] = [];
  const worker = async (): Promise<void> => {
    for (let next = await queue.take(); next; next = await queue.take()) {
      order.push(next.module);
      await new Promise((done) => setTimeout(done, 5));
      queue.finish(next.unit);
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return order;
}

describe('the smoke import queue', () => {
  it('hands out a distribution only after those it requires, whatever the order given', async () => {
    // Prepare
    const queue = new ImportQueue([
      { name: 'pandas', modules: ['pandas'], requires: ['numpy', 'python-dateutil', 'tzdata'] },
      { name: 'boto3', modules: ['boto3'], requires: ['botocore'] },
      { name: 'botocore', modules: ['botocore'], requires: ['python_dateutil', 'urllib3'] },
      { name: 'numpy', modules: ['numpy'], requires: [] },
      { name: 'python-dateutil', modules: ['dateutil'], requires: ['six'] },
      { name: 'six', modules: ['six'], requires: [] },
      { name: 'urllib3', modules: ['urllib3'], requires: [] },
    ]);

    // Act
    const order = await drain(queue, 2);

    // Assess
    const position = (module: string) => order.indexOf(module);
    expect([...order].sort()).toEqual(['boto3', 'botocore', 'dateutil', 'numpy', 'pandas', 'six', 'urllib3']);
    expect(position('numpy')).toBeLessThan(position('pandas'));
    expect(position('dateutil')).toBeLessThan(position('pandas'));
    expect(position('six')).toBeLessThan(position('dateutil'));
    expect(position('botocore')).toBeLessThan(position('boto3'));
    expect(position('urllib3')).toBeLessThan(position('botocore'));
  });

  it('hands out first what the most others wait for', async () => {
    // Prepare
    const queue = new ImportQueue([
      { name: 'certifi', modules: ['certifi'], requires: [] },
      { name: 'pandas', modules: ['pandas'], requires: ['numpy', 'python-dateutil'] },
      { name: 'python-dateutil', modules: ['dateutil'], requires: ['six'] },
      { name: 'numpy', modules: ['numpy'], requires: [] },
      { name: 'six', modules: ['six'], requires: [] },
    ]);

    // Act
    const first = await queue.take();
    const second = await queue.take();

    // Assess: six (two wait for it) then numpy (one), before certifi (none).
    expect([first?.module, second?.module]).toEqual(['six', 'numpy']);
  });

  it('never blocks on a requirement cycle, and ignores requirements outside the set', async () => {
    // Prepare
    const queue = new ImportQueue([
      { name: 'a', modules: ['a'], requires: ['b', 'not-installed'] },
      { name: 'b', modules: ['b', 'b2'], requires: ['a'] },
    ]);

    // Act
    const order = await Promise.race([
      drain(queue, 2),
      new Promise<string[]>((done) => setTimeout(() => done(['timed out']), 2_000)),
    ]);

    // Assess
    expect([...order].sort()).toEqual(['a', 'b', 'b2']);
  });

  it('gives a released module to the next taker first', async () => {
    // Prepare
    const queue = new ImportQueue([{ name: 'x', modules: ['x1', 'x2'], requires: [] }]);
    const first = await queue.take();

    // Act
    if (first) queue.release(first);
    const again = await queue.take();

    // Assess
    expect(again?.module).toBe('x1');
  });

  it('reads the unconditional requirements of a METADATA file, not those for an extra', () => {
    // Prepare
    const metadata = [
      'Metadata-Version: 2.1',
      'Name: requests',
      'Requires-Dist: charset_normalizer (<4,>=2)',
      'Requires-Dist: idna<4,>=2.5',
      'Requires-Dist: PySocks!=1.5.7,>=1.5.6; extra == "socks"',
      'Requires-Dist: importlib-metadata; python_version < "3.8"',
      '',
      'Requires-Dist: in-the-body-is-not-a-header',
    ].join('\n');

    // Act
    const names = requiredDistributions(metadata);

    // Assess
    expect(names).toEqual(['charset_normalizer', 'idna', 'importlib-metadata']);
  });
});

describe('what the queue says is being imported', () => {
  it('names the distributions taken and not finished, and is drained once nothing is left to take', async () => {
    // Prepare
    const queue = new ImportQueue([
      { name: 'Pandas', modules: ['pandas'], requires: [] },
      { name: 'six', modules: ['six'], requires: [] },
    ]);

    // Act
    const first = await queue.take();
    const second = await queue.take();
    const whileBoth = { importing: queue.importing().sort(), drained: queue.drained };
    if (second) queue.finish(second.unit);

    // Assess
    expect(first && second).toBeTruthy();
    expect(whileBoth).toEqual({ importing: ['pandas', 'six'], drained: true });
    expect(queue.importing()).toEqual([first?.unit]);
  });
});
