// What runs when the process is interrupted (core/shared/interrupt-cleanup.ts): every registered
// cleanup, newest first, also those that work still running registers after the interruption
// began (a cell being set up in the background), and none that was forgotten.
import { describe, expect, it } from 'vitest';
import { atInterrupt, runInterruptCleanups } from '../../../functions/core/shared/interrupt-cleanup.ts';

describe('runInterruptCleanups', () => {
  it('runs the registered cleanups newest first, then those registered while they ran, never a forgotten one', async () => {
    // Prepare
    const ran: string[] = [];
    atInterrupt(() => ran.push('first'));
    const forget = atInterrupt(() => ran.push('forgotten'));
    atInterrupt(async () => {
      ran.push('second');
      // Work still running registers its own cleanup once the interruption has begun.
      await new Promise((done) => setTimeout(done, 5));
      atInterrupt(() => ran.push('late'));
    });
    forget();

    // Act
    await runInterruptCleanups(2_000);

    // Assess
    expect(ran).toEqual(['second', 'first', 'late']);
  });
});
