// The `lambda-deps` program: global options, error reporting and exit codes, and the list of
// subcommands. Each subcommand lives in its own module (commands/<name>.ts, exporting
// create<Name>Command) and is loaded only when it runs: `--help` and `--version` load none (the
// list below carries each command's one-line summary), and `measure` never pays for the AWS SDK
// that `submit` needs. Exit codes: 0 success, 1 the set cannot be satisfied or verified, 2 bad usage or input.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { describeError, LambdaDepsError } from '../core/shared/errors.ts';
import { colorsFor, shouldUseColor } from './terminal-output.ts';

export interface CommandEntry {
  readonly name: string;
  /** How `--help` lists it: the name, `[options]` and the arguments, as commander would print them. */
  readonly term: string;
  /** The command's description, shown by `--help` without loading the command (a test keeps them equal). */
  readonly summary: string;
  readonly load: () => Promise<Command>;
}

/** Every subcommand, in the order `--help` lists them. Add new commands here. */
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'measure',
    term: 'measure [options] <requirements>',
    summary:
      'Resolve a requirements file for a Lambda target and measure it against the layer, image and EFS limits, before building.',
    load: async () => (await import('./commands/measure.ts')).createMeasureCommand(),
  },
  {
    name: 'build',
    term: 'build [options] <input>',
    summary:
      'Build a requirements file or a lock into Lambda layers, an EFS tree or an OCI image: slimmed, verified and smoke-imported.',
    load: async () => (await import('./commands/build.ts')).createBuildCommand(),
  },
  {
    name: 'verify',
    term: 'verify [options] <path>',
    summary:
      'Check a folder or layer zip for the target: ELF machine, glibc and library needs, CPython extension suffixes, macOS/Windows binaries; then import every module (when a matching interpreter exists).',
    load: async () => (await import('./commands/verify.ts')).createVerifyCommand(),
  },
  {
    name: 'store',
    term: 'store',
    summary:
      'Copy objects between this machine and the artifact store named by LAMBDA_DEPS_STORE (s3://BUCKET or file:///folder).',
    load: async () => (await import('./commands/store.ts')).createStoreCommand(),
  },
  {
    name: 'submit',
    term: 'submit [options] <requirements>',
    summary: 'Deliver a requirements file through a deployed lambda-deps stack and follow the execution',
    load: async () => (await import('./commands/submit.ts')).createSubmitCommand(),
  },
  {
    name: 'export',
    term: 'export [options] <lock>',
    summary:
      'Write a lock (or any input, resolved for a target) as a requirements file with hashes or as a PEP 751 pylock.toml.',
    load: async () => (await import('./commands/export.ts')).createExportCommand(),
  },
  {
    name: 'cache',
    term: 'cache',
    summary: 'Show where the download and build cache is, or empty it (the folders lambda-deps makes there).',
    load: async () => (await import('./commands/cache.ts')).createCacheCommand(),
  },
  {
    name: 'graph',
    term: 'graph [options]',
    summary: 'Draw the pipeline state machine (from the synthesized ASL) as an SVG.',
    load: async () => (await import('./commands/graph.ts')).createGraphCommand(),
  },
];

/** The version in package.json (two folders up, from the source and from the bundle in dist/cli/). */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: string;
  };
  return manifest.version ?? '0.0.0';
}

/**
 * The subcommand the user asked for: the first argument that is not an option (`help build`
 * asks for build's help, so it names build).
 */
function requestedCommand(argv: readonly string[]): string | undefined {
  const words = argv.slice(2).filter((argument) => !argument.startsWith('-'));
  return words[0] === 'help' ? words[1] : words[0];
}

/** A stand-in listed by the top-level help: its name and summary, without loading its module. */
function placeholderCommand(entry: CommandEntry): Command {
  return new Command(entry.name).description(entry.summary);
}

export async function createProgram(argv: readonly string[] = process.argv): Promise<Command> {
  const program = new Command('lambda-deps')
    .description(
      'Turn a Python requirements file into AWS Lambda layers, an EFS tree or a container image that import on the target runtime.',
    )
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--debug', 'print stack traces and extra diagnostics')
    .option('--no-color', 'do not color the output (NO_COLOR is respected too)')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ lambda-deps measure requirements.txt --runtime python3.12 --arch arm64\n  $ lambda-deps measure pyproject.toml --extra aws --runtime python3.11 --json\n  $ lambda-deps <command> --help',
    );
  const wanted = COMMANDS.find((entry) => entry.name === requestedCommand(argv));
  const terms = new Map(COMMANDS.map((entry) => [entry.name, entry.term]));
  program.configureHelp({ subcommandTerm: (command) => terms.get(command.name()) ?? command.name() });
  if (wanted) program.addCommand(await wanted.load());
  else for (const entry of COMMANDS) program.addCommand(placeholderCommand(entry));
  // Subcommands share the error handling below: usage mistakes become exit code 2.
  // and each command's own mistakes (an unknown option) point at that command's --help.
  const override = (command: Command): void => {
    command.exitOverride();
    if (command !== program)
      command.showHelpAfterError(`(run lambda-deps ${command.name()} --help for usage)`);
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
