// The shared PEP 440 module against the cases pypa/packaging's own tests and the issue name;
// the differential fuzz test (test/integration/resolver/packaging-fuzz.test.ts) covers the rest.
import { describe, expect, it } from 'vitest';
import {
  compareVersionText,
  filterVersions,
  parseSpecifier,
  parseSpecifierSet,
  parseVersion,
  specifiersContain,
} from '../../../functions/core/shared/pep440.ts';

function contains(specifier: string, version: string): boolean {
  const clauses = parseSpecifierSet(specifier);
  const parsed = parseVersion(version);
  if (!clauses || !parsed) throw new Error(`bad case ${specifier} ${version}`);
  return specifiersContain(clauses, parsed);
}

describe('pep440', () => {
  it('orders dev, pre, final, post and local releases as packaging does', () => {
    // Prepare
    const ordered = [
      '1.0.dev0',
      '1.0a1.dev1',
      '1.0a1',
      '1.0a1.post1',
      '1.0b2',
      '1.0rc1',
      '1.0',
      '1.0+abc',
      '1.0+1',
      '1.0.post1.dev1',
      '1.0.post1',
      '1.1.dev1',
      '1!0.1',
    ];

    // Act
    const shuffled = [...ordered].reverse().sort(compareVersionText);

    // Assess
    expect(shuffled).toEqual(ordered);
    expect(compareVersionText('1.0', '1.0.0')).toBe(0);
    expect(compareVersionText('1.0', '1.0.post1')).toBeLessThan(0);
  });

  it('parses post and dev releases without crashing and normalizes their spelling', () => {
    // Act
    const versions = ['2024.1.post1', '1.0-1', '1.0.dev', ' 1.0 ', '1.0+'].map(
      (text) => parseVersion(text)?.normalized ?? null,
    );

    // Assess
    expect(versions).toEqual(['2024.1.post1', '1.0.post1', '1.0.dev0', '1.0', null]);
  });

  it('applies the exclusive-bound rules of PEP 440 to pre, post and local releases', () => {
    // Act
    const results = [
      contains('>3.11.0rc1', '3.11.0'),
      contains('<1.0.post1', '1.0'),
      contains('>1.0', '1.0.post1'),
      contains('>1.0.post1', '1.0.post2'),
      contains('<2.0', '2.0rc1'),
      contains('>1.0', '1.0+local'),
      contains('==3.11.0.*', '3.11'),
      contains('~=2.2.post3', '2.3'),
      contains('!=1.0', '1.0+local'),
    ];

    // Assess
    expect(results).toEqual([true, true, false, true, false, false, true, true, false]);
  });

  it('falls back to pre-releases only when no final release matches (packaging 26)', () => {
    // Prepare
    const clauses = parseSpecifierSet('>=1.0') ?? [];
    const versions = ['1.0', '2.0b1'].map((text) => parseVersion(text)!);
    const onlyPre = ['2.0b1', '2.1rc1'].map((text) => parseVersion(text)!);

    // Act
    const plain = filterVersions(clauses, versions, (version) => version).map((version) => version.text);
    const fallback = filterVersions(clauses, onlyPre, (version) => version).map((version) => version.text);
    const forbidden = filterVersions(clauses, onlyPre, (version) => version, false);

    // Assess
    expect([plain, fallback, forbidden]).toEqual([['1.0'], ['2.0b1', '2.1rc1'], []]);
  });

  it('refuses specifiers packaging refuses', () => {
    // Act
    const parsed = ['~=1', '==1.0.*.*', '>=1.0.*', '<1.0+local', '==1.0+local', '===anything'].map(
      (text) => parseSpecifier(text) !== null,
    );

    // Assess
    expect(parsed).toEqual([false, false, false, false, true, true]);
  });
});
