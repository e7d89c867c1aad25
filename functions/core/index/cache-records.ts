// The shapes of the index client's on-disk records (sizes, metadata, local hashes), checked when
// read. Written by hand rather than as zod schemas because these checks sit on `measure`'s start-up
// path, which keeps zod out (loading it is about a tenth of a warm measure), and the records are
// flat: whole numbers, strings and hex digests.

/** The record, typed, or why it is not one (a field's path and what it should hold). */
export type RecordCheck<T> = (value: unknown) => T | string;

/** What one field holds: `?` marks a field that may be absent, `|null` one that may be null. */
type FieldRule = 'count' | 'time' | 'text' | 'sha256' | 'sha256?' | 'texts' | 'text|null';

const SHA256 = /^[0-9a-f]{64}$/;

function isCount(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Why `value` breaks `rule`, or null when it keeps it. */
function fieldProblem(value: unknown, rule: FieldRule): string | null {
  switch (rule) {
    case 'count':
      return isCount(value) ? null : 'expected a whole number of 0 or more';
    case 'time':
      return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? null : 'expected a time';
    case 'text':
      return typeof value === 'string' && value.length > 0 ? null : 'expected a non-empty string';
    case 'text|null':
      return value === null || typeof value === 'string' ? null : 'expected a string or null';
    case 'texts':
      return Array.isArray(value) && value.every((item) => typeof item === 'string')
        ? null
        : 'expected a list of strings';
    case 'sha256?':
      if (value === undefined) return null;
      return fieldProblem(value, 'sha256');
    case 'sha256':
      return typeof value === 'string' && SHA256.test(value) ? null : 'expected a sha256 in hex';
  }
}

/**
 * A check for a flat record with these fields; fields it does not name are dropped.
 * @example const check = recordOf<{ size: number }>({ size: 'count' });
 */
export function recordOf<T>(rules: { readonly [K in keyof T]-?: FieldRule }): RecordCheck<T> {
  const entries = Object.entries(rules) as [string, FieldRule][];
  return (value) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected an object';
    const record = value as Record<string, unknown>;
    const kept: Record<string, unknown> = {};
    for (const [field, rule] of entries) {
      const problem = fieldProblem(record[field], rule);
      if (problem) return `${field}: ${problem}`;
      if (record[field] !== undefined) kept[field] = record[field];
    }
    return kept as T;
  };
}
