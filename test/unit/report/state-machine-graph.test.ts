import { describe, expect, it } from 'vitest';
import {
  describeChoiceRule,
  renderStateMachineSvg,
} from '../../../functions/core/report/state-machine-graph.ts';
import { contractAsl } from './contract-asl.ts';

describe('renderStateMachineSvg', () => {
  it('draws every state once, with its type', () => {
    // Act
    const svg = renderStateMachineSvg(contractAsl);

    // Assess
    for (const [name, state] of Object.entries(contractAsl.States)) {
      const matches = svg.match(new RegExp(`data-state="${name}" data-type="${state.Type}"`, 'g')) ?? [];
      expect(matches, name).toHaveLength(1);
    }
  });

  it('draws one arrow per Next, Choice and Default edge and one dashed line per Catch', () => {
    // Prepare
    const states = Object.values(contractAsl.States);
    const nextEdges = states.filter((state) => state.Next).length;
    const choiceEdges = states.reduce((sum, state) => sum + (state.Choices?.length ?? 0), 0);
    const defaultEdges = states.filter((state) => state.Default).length;
    const catchEdges = states.reduce((sum, state) => sum + (state.Catch?.length ?? 0), 0);

    // Act
    const svg = renderStateMachineSvg(contractAsl);

    // Assess
    expect(svg.match(/class="edge next"/g) ?? []).toHaveLength(nextEdges);
    expect(svg.match(/class="edge choice"/g) ?? []).toHaveLength(choiceEdges);
    expect(svg.match(/class="edge default"/g) ?? []).toHaveLength(defaultEdges);
    expect(svg.match(/class="edge catch"/g) ?? []).toHaveLength(catchEdges);
    expect(svg).toContain('$.route.strategy == &#34;layers&#34;');
  });

  it('places the failure path below every state it catches', () => {
    // Act
    const svg = renderStateMachineSvg(contractAsl);

    // Assess
    const yOf = (name: string): number =>
      Number(new RegExp(`data-state="${name}"[^>]*><rect x="[^"]+" y="([^"]+)"`).exec(svg)?.[1]);
    const lowestCatcher = Math.max(...['Measure', 'Build', 'PublishLayers', 'Report'].map(yOf));
    expect(yOf('ReportFailure')).toBeGreaterThan(lowestCatcher);
    expect(yOf('Failed')).toBeGreaterThan(yOf('ReportFailure'));
  });

  it('survives a loop back to an earlier state', () => {
    // Prepare
    const looping = {
      StartAt: 'A',
      States: {
        A: { Type: 'Task', Next: 'B' },
        B: {
          Type: 'Choice',
          Choices: [{ Variable: '$.again', BooleanEquals: true, Next: 'A' }],
          Default: 'C',
        },
        C: { Type: 'Succeed' },
      },
    };

    // Act
    const svg = renderStateMachineSvg(looping);

    // Assess
    expect(svg.match(/class="state"/g) ?? []).toHaveLength(3);
  });
});

describe('describeChoiceRule', () => {
  it.each([
    [{ Variable: '$.a', StringEquals: 'x' }, '$.a == "x"'],
    [{ Variable: '$.n', NumericGreaterThan: 3 }, '$.n > 3'],
    [{ Variable: '$.k', IsPresent: true }, '$.k is present'],
    [{ And: [{}, {}] }, 'and(2 rules)'],
  ])('summarises %j as %s', (rule, expected) => {
    expect(describeChoiceRule(rule)).toBe(expected);
  });
});
