// `lambda-deps graph`: draws the synthesized state machine as an SVG, from the ASL in the
// CloudFormation template itself, so the picture cannot drift from what is deployed.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { renderStateMachineSvg, type AslDefinition } from '../../core/report/state-machine-graph.ts';

/** Synthesize the app in-process (no bundling: only the definition is needed) and return its ASL. */
export async function synthesizedStateMachineDefinition(): Promise<AslDefinition> {
  const { createLambdaDepsApp } = await import('../../../infra/app.ts');
  const { extractStateMachineDefinition } = await import('../../../infra/state-machine-definition.ts');
  const outdir = await mkdtemp(join(tmpdir(), 'lambda-deps-synth-'));
  try {
    const { app, stack } = createLambdaDepsApp({ outdir, skipBundling: true });
    const assembly = app.synth();
    const template = assembly.getStackByName(stack.stackName).template as object;
    return extractStateMachineDefinition(template).definition as unknown as AslDefinition;
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}

export function createGraphCommand(): Command {
  return new Command('graph')
    .description('Draw the pipeline state machine (from the synthesized ASL) as an SVG.')
    .option('-o, --out <file>', 'write the SVG to this file instead of standard output')
    .addHelpText(
      'after',
      '\nExamples:\n  $ lambda-deps graph --out docs/state-machine.svg\n  $ lambda-deps graph > pipeline.svg',
    )
    .action(async (options: { out?: string }) => {
      const svg = renderStateMachineSvg(await synthesizedStateMachineDefinition());
      if (options.out) {
        await writeFile(options.out, svg);
        process.stderr.write(`wrote ${options.out}\n`);
      } else {
        process.stdout.write(svg);
      }
    });
}
