// The `lambda-deps` executable's entry (bin/lambda-deps runs it, as source or as the dist/cli
// bundle): process-wide settings, then the program in program.ts.
import { runCli } from './program.ts';

// The AWS SDK warns on every process under Node 20 that its releases after January 2027 will need
// Node 22. That is the SDK's support policy, not something a user of this CLI can act on mid-command;
// the README says which Node versions are supported. AWS documents this switch for it
// (aws-sdk-js-v3#7983); a value the user set is kept.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// `lambda-deps --help | head` closes the pipe early: that ends the output, not in a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

(await import('./interrupts.ts')).installInterruptHandlers();
process.exitCode = await runCli();
