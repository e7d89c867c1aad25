// JSON with object keys sorted at every level: the same data always gives the same text, so
// its sha256 can name it (the lock's hash, the resolution cache's keys). Undefined object
// values are left out and undefined array items written as null, as JSON.stringify does.

/** @example canonicalJson({ b: 1, a: [2, undefined] }) // '{"a":[2,null],"b":1}' */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, entry]) => entry !== undefined)
      .sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0));
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonicalJson(entry)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
