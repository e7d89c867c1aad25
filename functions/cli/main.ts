// The `lambda-deps` command line: global options, error reporting and exit codes, and the list of
// subcommands. Each subcommand lives in its own module (commands/<name>.ts, exporting
// create<Name>Command) and is loaded only when it runs, so `measure` never pays for the AWS SDK
// that `submit` needs. Exit codes: 0 success, 1 the set cannot be satisfied or verified, 2 bad usage or input.
import { Command, CommanderError } from 'commander';
import { describeError, LambdaDepsError } from '../core/shared/errors.ts';
import { colorsFor, shouldUseColor } from './terminal-output.ts';

interface CommandEntry {
  readonly name: string;
  readonly load: () => Promise<Command>;
}

/** Every subcommand, in the order `--help` lists them. Add new commands here. */
const COMMANDS: readonly CommandEntry[] = [
  { name: 'measure', load: async () => (await import('./commands/measure.ts')).createMeasureCommand() },
  { name: 'build', load: async () => (await import('./commands/build.ts')).createBuildCommand() },
  { name: 'verify', load: async () => (await import('./commands/verify.ts')).createVerifyCommand() },
  { name: 'store', load: async () => (await import('./commands/store.ts')).createStoreCommand() },
  { name: 'submit', load: async () => (await import('./commands/submit.ts')).createSubmitCommand() },
  { name: 'graph', load: async () => (await import('./commands/graph.ts')).createGraphCommand() },
];

/** The first argument that is not a global option: the subcommand the user asked for. */
function requestedCommand(argv: readonly string[]): string | undefined {
  return argv.slice(2).find((argument) => !argument.startsWith('-'));
}

export async function createProgram(argv: readonly string[] = process.argv): Promise<Command> {
  const program = new Command('lambda-deps')
    .description(
      'Turn a Python requirements file into AWS Lambda layers, an EFS tree or a container image that import on the target runtime.',
    )
    .option('--debug', 'print stack traces and extra diagnostics')
    .option('--no-color', 'do not color the output (NO_COLOR is respected too)')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ lambda-deps measure requirements.txt --runtime python3.12 --arch arm64\n  $ lambda-deps measure pyproject.toml --extra aws --runtime python3.11 --json\n  $ lambda-deps <command> --help',
    );
  const wanted = requestedCommand(argv);
  const entries = COMMANDS.filter((entry) => entry.name === wanted);
  for (const entry of entries.length > 0 ? entries : COMMANDS) program.addCommand(await entry.load());
  // Subcommands share the error handling below: usage mistakes become exit code 2.
  const override = (command: Command): void => {
    command.exitOverride();
    command.commands.forEach(override);
  };
  override(program);
  return program;
}

function debugRequested(argv: readonly string[]): boolean {
  return argv.includes('--debug');
}

/** Run the CLI and return the exit code (the caller sets process.exitCode). */
export async function runCli(argv: readonly string[] = process.argv): Promise<number> {
  const debug = debugRequested(argv);
  const colors = colorsFor(shouldUseColor(process.stderr, { color: !argv.includes('--no-color') }));
  try {
    const program = await createProgram(argv);
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      )
        return 0;
      // commander has already printed its message.
      return 2;
    }
    const exitCode = error instanceof LambdaDepsError ? error.exitCode : 1;
    process.stderr.write(`${colors.red('error:')} ${describeError(error)}\n`);
    if (debug && error instanceof Error && error.stack) process.stderr.write(`${colors.dim(error.stack)}\n`);
    else if (!(error instanceof LambdaDepsError))
      process.stderr.write(colors.dim('(run with --debug for the stack trace)\n'));
    return exitCode;
  }
}

(await import('./interrupts.ts')).installInterruptHandlers();
process.exitCode = await runCli();
