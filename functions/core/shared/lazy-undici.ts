// undici (about 1 MB of JavaScript) is loaded at the first request that needs it, never at start:
// most runs read file:// indexes and a local cache, and push no image.
import type * as Undici from 'undici';

let loading: Promise<typeof Undici.default> | undefined;

/** undici's exports, loaded once. */
export function loadUndici(): Promise<typeof Undici.default> {
  // `default` is undici's module.exports both in Node and in the CLI bundle (a CommonJS package).
  return (loading ??= import('undici').then(({ default: undici }) => undici));
}
