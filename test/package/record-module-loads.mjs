// Test helper, loaded with `node --import`: registers a module resolve hook that appends every
// resolved module URL to the file named by LAMBDA_DEPS_RECORD_LOADS, so a test can tell which
// modules a command loaded (lazy loading is a start-up promise of the CLI).
import { register } from 'node:module';

register(new URL('./record-module-loads-hooks.mjs', import.meta.url), {
  data: { file: process.env.LAMBDA_DEPS_RECORD_LOADS },
});
