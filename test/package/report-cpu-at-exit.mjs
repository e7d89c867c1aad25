// Test helper, loaded with `node --import`: at exit, appends the process's CPU time (user + system,
// all threads, in seconds) to the file named by LAMBDA_DEPS_CPU_FILE. CPU time, unlike wall time,
// hardly moves when other processes load the machine, so start-up costs can be compared in CI.
import { appendFileSync } from 'node:fs';

process.on('exit', () => {
  const file = process.env.LAMBDA_DEPS_CPU_FILE;
  if (!file) return;
  const { user, system } = process.cpuUsage();
  appendFileSync(file, `${(user + system) / 1e6}\n`);
});
