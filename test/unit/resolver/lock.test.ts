import { describe, expect, it } from 'vitest';
import { InputError } from '../../../functions/core/shared/errors.ts';
import { lockHash, serializeLock } from '../../../functions/core/resolve/lock.ts';
import { parseLock } from '../../../functions/core/resolve/lock-reader.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import type { Lock, LockedPackage } from '../../../functions/core/shared/types.ts';
import { recordReliability } from '../../support/reliability-log.ts';

function lockedPackage(name: string, version: string, overrides: Partial<LockedPackage> = {}): LockedPackage {
  const filename = `${name}-${version}-py3-none-any.whl`;
  return {
    name,
    version,
    filename,
    url: `https://files.test/${filename}`,
    sha256: `${name.length.toString(16)}${'0'.repeat(63)}`.slice(0, 64),
    size: 100,
    unzippedSize: 300,
    tag: 'py3-none-any',
    requiredBy: ['<requirements>'],
    ...overrides,
  };
}

const lock: Lock = {
  lockVersion: 1,
  target: lambdaTarget('python3.12', 'arm64'),
  packages: [
    lockedPackage('boto3', '1.35.0'),
    lockedPackage('six', '1.16.0'),
    lockedPackage('attrs', '24.2.0'),
  ],
};

describe('lockHash', () => {
  it('does not depend on package order or key order', () => {
    // Prepare
    const reordered: Lock = {
      packages: [...lock.packages]
        .reverse()
        .map((entry) => Object.fromEntries(Object.entries(entry).reverse()) as unknown as LockedPackage),
      target: Object.fromEntries(Object.entries(lock.target).reverse()) as unknown as Lock['target'],
      lockVersion: 1,
    };

    // Act
    const hashes = [lockHash(lock), lockHash(reordered)];

    // Assess
    expect(hashes[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(hashes[1]).toBe(hashes[0]);
  });

  it('ignores where a file was downloaded from and derived facts, but not its content or the target', () => {
    // Prepare
    const mirrored: Lock = {
      ...lock,
      packages: lock.packages.map((entry) => ({
        ...entry,
        url: `https://mirror.test/${entry.filename}`,
        requiredBy: [],
        size: 1,
      })),
    };
    const otherContent: Lock = {
      ...lock,
      packages: lock.packages.map((entry, index) =>
        index === 0 ? { ...entry, sha256: 'f'.repeat(64) } : entry,
      ),
    };
    const otherTarget: Lock = { ...lock, target: lambdaTarget('python3.12', 'x86_64') };

    // Act
    const base = lockHash(lock);

    // Assess
    expect(lockHash(mirrored)).toBe(base);
    expect(lockHash(otherContent)).not.toBe(base);
    expect(lockHash(otherTarget)).not.toBe(base);
  });
});

describe('serializeLock and parseLock', () => {
  it('round-trip a lock, with packages sorted by name', () => {
    // Act
    const text = serializeLock(lock);
    const parsed = parseLock(text, 'set.lock.json');

    // Assess
    expect(parsed.packages.map((entry) => entry.name)).toEqual(['attrs', 'boto3', 'six']);
    expect(lockHash(parsed)).toBe(lockHash(lock));
    expect(serializeLock(parsed)).toBe(text);
  });

  it('records the python_full_version assumed, and reads locks written before it was recorded', () => {
    // Prepare
    const { pythonFullVersion: _recorded, ...olderTarget } = lock.target;
    const older = serializeLock({ ...lock, target: olderTarget });

    // Act
    const parsed = parseLock(serializeLock(lock), 'set.lock.json');
    const parsedOlder = parseLock(older, 'old.lock.json');

    // Assess
    expect(parsed.target.pythonFullVersion).toMatch(/^3\.12\.\d+$/);
    expect(parsedOlder.target.pythonFullVersion).toBeUndefined();
    expect(() =>
      parseLock(
        serializeLock({ ...lock, target: { ...lock.target, pythonFullVersion: '3.12' } }),
        'bad.lock.json',
      ),
    ).toThrow(InputError);
  });

  it('rejects text that is not JSON, naming the file', () => {
    // Act
    const attempt = (): Lock => parseLock('{ not json', 'broken.lock.json');

    // Assess
    expect(attempt).toThrow(InputError);
    expect(attempt).toThrow(/broken\.lock\.json is not valid JSON/);
  });

  it('rejects a lock with a malformed field, naming the field', () => {
    // Prepare
    const text = serializeLock({ ...lock, packages: [lockedPackage('six', '1.16.0', { sha256: 'xyz' })] });

    // Act
    const attempt = (): Lock => parseLock(text, 'edited.lock.json');

    // Assess
    expect(attempt).toThrow(/edited\.lock\.json is not a lambda-deps lock: packages\.0\.sha256/);
  });

  it('rejects a lock that lists a package twice', () => {
    // Prepare
    const text = serializeLock({
      ...lock,
      packages: [lockedPackage('six', '1.16.0'), lockedPackage('six', '1.17.0')],
    });

    // Act
    const attempt = (): Lock => parseLock(text, 'twice.lock.json');

    // Assess
    expect(attempt).toThrow(/lists the package "six" twice/);
  });
});

describe('parseLock on hostile input', () => {
  it('raises InputError, never a crash, for every truncation and byte flip of a real lock', () => {
    // Prepare
    const text = serializeLock(lock);
    const corrupted: string[] = [];
    for (let end = 0; end < text.length - 2; end += 3) corrupted.push(text.slice(0, end));
    for (let position = 0; position < text.length; position += 5) {
      corrupted.push(
        `${text.slice(0, position)}${text[position] === '"' ? '}' : '"'}${text.slice(position + 1)}`,
      );
    }

    // Act
    const outcomes = corrupted.map((candidate) => {
      try {
        return lockHash(parseLock(candidate, 'hostile.lock.json')) === lockHash(lock)
          ? 'same lock'
          : 'other lock';
      } catch (error) {
        return error instanceof InputError && error.message.startsWith('hostile.lock.json')
          ? 'refused'
          : 'crash';
      }
    });
    recordReliability({
      area: 'lock files',
      experiment: 'truncated and byte-flipped lock files given to parseLock',
      cases: corrupted.length,
      faultsInjected: corrupted.length,
      runs: 1,
      lost: outcomes.includes('crash') ? 'a crash' : 'nothing',
    });

    // Assess
    expect(outcomes).not.toContain('crash');
    // A flip inside a string value may still give a valid lock; it must then hash differently.
    expect(outcomes.filter((outcome) => outcome === 'same lock')).toEqual([]);
  });
});
