// The ELF parser on counts no real library has: each cap it applies is reported as a defect
// (so verify refuses the file instead of vouching for entries it never read), and the work
// stays bounded however the counts multiply.
import { describe, expect, it } from 'vitest';
import { readElfFacts } from '../../../functions/core/verify/elf.ts';
import { recordReliability } from '../../support/reliability-log.ts';
import { buildElf } from './elf-builder.ts';

describe('readElfFacts on hostile counts', () => {
  it('stops at 16,384 version names when many version needs share one long chain', () => {
    // Prepare: 64 Verneed entries, each pointing at the same chain of 4,096 names (262,144 in all).
    const versions = Array.from({ length: 4096 }, (_, index) => `GLIBC_2.${index % 30}`);
    const bytes = buildElf({
      is64: true,
      little: true,
      machine: 62,
      needed: ['libc.so.6'],
      glibcVersions: versions,
      versionNeedEntries: 64,
    });

    // Act
    const facts = readElfFacts(bytes, 'libhostile.so');

    // Assess
    const names = facts?.versionNeeds.reduce((sum, need) => sum + need.versions.length, 0) ?? 0;
    expect(names).toBeLessThanOrEqual(16_384);
    expect(facts?.defects.join(' ')).toMatch(/more than 16384 version names/);
  });

  it('says when the dynamic section has more entries than it reads', () => {
    // Prepare: 70,000 DT_NEEDED entries (100 names repeated), the string table's entry after them.
    const needed = Array.from({ length: 70_000 }, (_, index) => `lib${index % 100}.so`);
    const bytes = buildElf({ is64: true, little: true, machine: 62, needed, glibcVersions: [] });

    // Act
    const facts = readElfFacts(bytes, 'libmany.so');

    // Assess
    expect(facts?.defects[0]).toMatch(/more than 65536 entries/);
    recordReliability({
      area: 'binary verification',
      experiment: 'ELF files with more version names or dynamic entries than the parser reads',
      cases: 2,
      faultsInjected: 2,
      runs: 1,
      lost: 'nothing',
    });
  });

  it('keeps a library within the caps free of defects', () => {
    // Prepare
    const versions = Array.from({ length: 40 }, (_, index) => `GLIBC_2.${index}`);
    const bytes = buildElf({
      is64: true,
      little: true,
      machine: 62,
      glibcVersions: versions,
      versionNeedEntries: 8,
    });

    // Act
    const facts = readElfFacts(bytes, 'libfine.so');

    // Assess
    expect(facts?.defects).toEqual([]);
    expect(facts?.versionNeeds).toHaveLength(8);
  });
});
