// The bundled copy of probe.py (PushImage adds it to the image the AWS probe runs) must be the
// file the local twin runs: one probe, not two that drift apart.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROBE_SOURCE } from '../../../functions/probe-runtime/probe-source.ts';

describe('probe-source.ts', () => {
  it('holds exactly probe.py (regenerate with `npx tsx scripts/generate-probe-source.ts`)', async () => {
    // Act
    const file = await readFile(
      join(import.meta.dirname, '..', '..', '..', 'functions', 'probe-runtime', 'probe.py'),
      'utf8',
    );

    // Assess
    expect(PROBE_SOURCE).toBe(file);
  });
});
