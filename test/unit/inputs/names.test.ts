// PEP 503 name normalization and the PEP 508 name grammar.
import { describe, expect, it } from 'vitest';
import { canonicalizeName, isValidProjectName } from '../../../functions/core/shared/names.ts';

describe('canonicalizeName', () => {
  it.each([
    // The equivalent spellings PEP 503 lists for one project.
    ['friendly-bard', 'friendly-bard'],
    ['Friendly-Bard', 'friendly-bard'],
    ['FRIENDLY-BARD', 'friendly-bard'],
    ['friendly.bard', 'friendly-bard'],
    ['friendly_bard', 'friendly-bard'],
    ['friendly--bard', 'friendly-bard'],
    ['FrIeNdLy-._.-bArD', 'friendly-bard'],
    ['zope.interface', 'zope-interface'],
  ])('normalizes %s to %s', (name, expected) => {
    // Act
    const normalized = canonicalizeName(name);

    // Assess
    expect(normalized).toBe(expected);
  });
});

describe('isValidProjectName', () => {
  it.each(['requests', 'A', 'zope.interface', 'scikit_learn', 'py3', '1password'])('accepts %s', (name) => {
    // Act
    const valid = isValidProjectName(name);

    // Assess
    expect(valid).toBe(true);
  });

  it.each([
    '',
    '-requests',
    'requests-',
    '.hidden',
    'a b',
    '$(reboot)',
    '`id`',
    'a;b',
    'a|b',
    '../x',
    'a/b',
    'a\\b',
    'naïve',
    'a\nb',
  ])('rejects %j', (name) => {
    // Act
    const valid = isValidProjectName(name);

    // Assess
    expect(valid).toBe(false);
  });
});
