// Whether an interpreter the tests need is on PATH: tests that need one skip without it, and say so.
import { execFileSync } from 'node:child_process';

/** Whether `python3.11` runs here (the precompile and strip tests compile for that target). */
export function hasPython311(): boolean {
  try {
    execFileSync('python3.11', ['-c', 'pass'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
