// Three suites kept apart (unit: pure core; infra: CDK synth and ASL; integration: real
// servers and real wheels on loopback). `npm test` runs all three; each also runs alone.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/support/reliability-table.ts'],
    testTimeout: 60_000,
    // Vitest runs one file at a time on two cores (cores - 1). Most integration files spend their
    // time waiting on subprocesses, loopback servers and timers, so two at once roughly halve the
    // suite's wall time on CI's 2-core machine; the tests use their own folders, ports and caches.
    maxWorkers: 2,
    minWorkers: 1,
    hookTimeout: 120_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'infra', include: ['test/infra/**/*.test.ts'] } },
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts'] } },
      // The packed package in a fresh CDK app (npm pack, install, tsc, synth): about a minute.
      { extends: true, test: { name: 'package', include: ['test/package/**/*.test.ts'] } },
    ],
  },
});
