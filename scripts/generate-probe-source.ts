// Writes functions/probe-runtime/probe-source.ts from probe.py, so a bundled Lambda (PushImage,
// which adds probe.py to the image the AWS probe runs) carries the very same file as a string.
// A unit test fails when the two differ: run `npx tsx scripts/generate-probe-source.ts`.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const folder = join(import.meta.dirname, '..', 'functions', 'probe-runtime');
const source = readFileSync(join(folder, 'probe.py'), 'utf8');
writeFileSync(
  join(folder, 'probe-source.ts'),
  [
    '// Generated from probe.py by scripts/generate-probe-source.ts; do not edit (a test compares them).',
    '/** probe.py, for bundles that cannot read files beside their sources. */',
    `export const PROBE_SOURCE = ${JSON.stringify(source)};`,
    '',
  ].join('\n'),
);
