// The command table in functions/cli/program.ts: `--help` lists each command from it without
// loading the command's module, so each entry must say exactly what the module says.
import { Help } from 'commander';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS, createProgram, packageVersion } from '../../../functions/cli/program.ts';

describe('the CLI command table', () => {
  it.each(COMMANDS.map((entry) => [entry.name, entry] as const))(
    'lists %s with the summary and usage its module declares',
    async (_name, entry) => {
      // Act
      const command = await entry.load();

      // Assess
      expect(command.name()).toBe(entry.name);
      expect(entry.summary).toBe(command.description());
      expect(entry.term).toBe(new Help().subcommandTerm(command));
    },
  );

  it('prints the version from package.json for --version', async () => {
    // Prepare
    const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    let printed = '';
    const program = await createProgram(['node', 'lambda-deps', '--version']);
    program.configureOutput({ writeOut: (text) => (printed += text) });

    // Act
    const parsing = program.parseAsync(['node', 'lambda-deps', '--version']);

    // Assess
    await expect(parsing).rejects.toMatchObject({ code: 'commander.version' });
    expect(printed.trim()).toBe(manifest.version);
    expect(packageVersion()).toBe(manifest.version);
  });

  it('builds only the command that was asked for', async () => {
    // Act
    const program = await createProgram(['node', 'lambda-deps', 'verify', '--help']);

    // Assess
    expect(program.commands.map((command) => command.name())).toEqual(['verify']);
    expect(program.commands[0]?.options.length).toBeGreaterThan(0);
  });
});
