// The report's check lines say when imports were not repeated (their footprints held), and a
// probe that reused some imports does not call its time the set's cold import.
import { describe, expect, it } from 'vitest';
import { checksOf } from '../../../functions/core/report/checks.ts';
import type { ProbeResult } from '../../../functions/core/probe/probe-types.ts';
import { layersRun, probed } from './report-fixtures.ts';

/** The first three modules of the probe reused; `fromBuild` of them the smoke import's. */
function withReuse(fromBuild = 0): ReturnType<typeof layersRun> {
  const manifest = probed(layersRun());
  const probe = manifest.probe as ProbeResult;
  const modules = probe.modules.map((module, index) =>
    index < 3
      ? {
          ...module,
          ms: 0,
          reused: true as const,
          ...(index < fromBuild ? { reusedFromBuild: true as const } : {}),
        }
      : module,
  );
  return {
    ...manifest,
    smokeImport: { ...manifest.smokeImport, modules: 5, reused: 4 },
    probe: { ...probe, modules, importMs: 35 },
  };
}

describe('checksOf', () => {
  it('says how many imports an earlier build and an earlier probe stood for, and how to repeat them', () => {
    const [, smoke, probe] = checksOf(withReuse());

    expect(smoke?.note).toMatch(
      /^4 of 5 not imported again: an earlier build's import .*--no-cache imports them all$/,
    );
    expect(probe?.note).toMatch(/^3 of 5 not imported again: an earlier probe's import /);
  });

  it("names a build's smoke import where it stood for the probe's imports", () => {
    const [, , all] = checksOf(withReuse(3));
    const [, , some] = checksOf(withReuse(1));

    expect(all?.note).toMatch(/^3 of 5 not imported again: a build's smoke import of each .*--no-cache/);
    expect(some?.note).toMatch(
      /^3 of 5 not imported again: an earlier probe's import .*\(for 1 of them, a build's smoke import's\)$/,
    );
  });

  it("labels a probe's time with reused imports as the others' import, not the cold import", () => {
    const [, , probe] = checksOf(withReuse());

    expect(probe?.counts.map((count) => count.label)).toEqual([
      'modules imported',
      'import of the modules not reused',
    ]);
    expect(probe?.text).not.toMatch(/ in \d/);
  });

  it('keeps the cold import and no note when nothing was reused', () => {
    const [, smoke, probe] = checksOf(probed(layersRun()));

    expect(smoke?.note).toBeUndefined();
    expect(probe?.note).toBeUndefined();
    expect(probe?.counts.map((count) => count.label)).toContain('cold import');
  });
});
