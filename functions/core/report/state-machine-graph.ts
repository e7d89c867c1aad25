// Draws a state machine (Amazon States Language JSON) as an SVG: states in layers from
// StartAt downwards, Next/Choice/Default edges as arrows with their conditions, and every
// Catch as a dashed red line to a shared bus on the right. Drawn from the ASL itself, so
// the picture in the docs can never drift from the deployed definition.

interface AslState {
  readonly Type?: string;
  readonly Next?: string;
  readonly Default?: string;
  readonly End?: boolean;
  readonly Resource?: string;
  readonly Choices?: readonly Record<string, unknown>[];
  readonly Catch?: readonly { readonly ErrorEquals?: readonly string[]; readonly Next?: string }[];
  readonly Retry?: readonly unknown[];
}

export interface AslDefinition {
  readonly StartAt: string;
  readonly States: Readonly<Record<string, AslState>>;
  readonly Comment?: string;
}

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly label: string;
  readonly kind: 'next' | 'choice' | 'default' | 'catch';
}

const BOX_WIDTH = 190;
const BOX_HEIGHT = 38;
const LEVEL_GAP = 84;
const COLUMN_GAP = 40;
const MARGIN = 30;
/** Room on the left for edges that skip levels. */
const LANE_ROOM = 150;

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

/** `$.route.strategy == "layers"` from a Choice rule (nested And/Or/Not are summarised). */
export function describeChoiceRule(rule: Record<string, unknown>): string {
  const variable = typeof rule.Variable === 'string' ? rule.Variable : '';
  for (const [key, value] of Object.entries(rule)) {
    if (key === 'Variable' || key === 'Next') continue;
    if (key === 'And' || key === 'Or')
      return `${key.toLowerCase()}(${Array.isArray(value) ? value.length : 0} rules)`;
    if (key === 'Not') return `not(…)`;
    if (key === 'IsPresent') return `${variable} ${value === true ? 'is present' : 'is absent'}`;
    const operator = key.replace(/^(String|Numeric|Boolean|Timestamp)/, '').replace(/Path$/, ' (path)');
    const symbol: Record<string, string> = {
      Equals: '==',
      LessThan: '<',
      GreaterThan: '>',
      LessThanEquals: '<=',
      GreaterThanEquals: '>=',
    };
    return `${variable} ${symbol[operator] ?? operator} ${JSON.stringify(value)}`;
  }
  return variable;
}

function collectEdges(definition: AslDefinition): Edge[] {
  const edges: Edge[] = [];
  for (const [name, state] of Object.entries(definition.States)) {
    if (state.Next) edges.push({ from: name, to: state.Next, label: '', kind: 'next' });
    for (const choice of state.Choices ?? []) {
      if (typeof choice.Next === 'string')
        edges.push({ from: name, to: choice.Next, label: describeChoiceRule(choice), kind: 'choice' });
    }
    if (state.Default) edges.push({ from: name, to: state.Default, label: 'default', kind: 'default' });
    for (const rule of state.Catch ?? []) {
      if (rule.Next)
        edges.push({ from: name, to: rule.Next, label: (rule.ErrorEquals ?? []).join(', '), kind: 'catch' });
    }
  }
  return edges.filter((edge) => edge.to in definition.States);
}

/** Longest-path layering over the non-catch edges (back edges ignored); catch-only states go below their sources. */
function assignLevels(definition: AslDefinition, edges: readonly Edge[]): Map<string, number> {
  const forward = new Map<string, string[]>();
  for (const edge of edges) {
    if (edge.kind === 'catch') continue;
    forward.set(edge.from, [...(forward.get(edge.from) ?? []), edge.to]);
  }
  const levels = new Map<string, number>();
  const visit = (name: string, level: number, onPath: Set<string>): void => {
    if (onPath.has(name)) return;
    if ((levels.get(name) ?? -1) >= level) return;
    levels.set(name, level);
    onPath.add(name);
    for (const next of forward.get(name) ?? []) visit(next, level + 1, onPath);
    onPath.delete(name);
  };
  visit(definition.StartAt, 0, new Set());
  const deepest = Math.max(0, ...levels.values());
  // States reached only through Catch (the failure path) sit under everything they catch.
  let added = true;
  while (added) {
    added = false;
    for (const edge of edges) {
      if (edge.kind !== 'catch' || levels.has(edge.to)) continue;
      visit(edge.to, deepest + 1, new Set());
      added = true;
    }
  }
  let extra = Math.max(0, ...levels.values()) + 1;
  for (const name of Object.keys(definition.States)) if (!levels.has(name)) levels.set(name, extra++);
  return levels;
}

function shapeFor(name: string, state: AslState, x: number, y: number): string {
  const type = state.Type ?? 'Task';
  const fill: Record<string, string> = {
    Task: '#e8f0fe',
    Choice: '#fff4e5',
    Pass: '#f1f3f4',
    Succeed: '#e6f4ea',
    Fail: '#fce8e6',
    Wait: '#f1f3f4',
    Parallel: '#e8f0fe',
    Map: '#e8f0fe',
  };
  const stroke =
    type === 'Fail' ? '#c5221f' : type === 'Succeed' ? '#137333' : type === 'Choice' ? '#b06000' : '#1a73e8';
  const radius = type === 'Task' ? 10 : type === 'Succeed' || type === 'Fail' ? BOX_HEIGHT / 2 : 2;
  // An integration (`arn:aws:states:::codebuild:startBuild.sync`) or a function ARN used directly.
  const resource = state.Resource
    ? (/:::([a-z0-9-]+:[A-Za-z0-9.]+)/.exec(state.Resource)?.[1] ??
      (/:lambda:[^:]*:[^:]*:function:/.test(state.Resource) ? 'lambda function' : ''))
    : '';
  const subtitle = type === 'Task' ? resource || 'task' : type.toLowerCase();
  const retries = state.Retry && state.Retry.length > 0 ? ' ↻' : '';
  return (
    `<g class="state" data-state="${escapeXml(name)}" data-type="${escapeXml(type)}">` +
    `<rect x="${x}" y="${y}" width="${BOX_WIDTH}" height="${BOX_HEIGHT}" rx="${radius}" fill="${fill[type] ?? '#fff'}" stroke="${stroke}" stroke-width="1.5"/>` +
    `<text x="${x + BOX_WIDTH / 2}" y="${y + 16}" text-anchor="middle" class="name">${escapeXml(name)}</text>` +
    `<text x="${x + BOX_WIDTH / 2}" y="${y + 30}" text-anchor="middle" class="type">${escapeXml(subtitle + retries)}</text></g>`
  );
}

/** Render the definition as a standalone SVG document. */
export function renderStateMachineSvg(
  definition: AslDefinition,
  title = 'lambda-deps state machine',
): string {
  const edges = collectEdges(definition);
  const levels = assignLevels(definition, edges);
  const rows = new Map<number, string[]>();
  for (const name of Object.keys(definition.States)) {
    const level = levels.get(name) ?? 0;
    rows.set(level, [...(rows.get(level) ?? []), name]);
  }
  const widest = Math.max(...[...rows.values()].map((row) => row.length));
  const contentWidth = widest * BOX_WIDTH + (widest - 1) * COLUMN_GAP;
  const busX = MARGIN + LANE_ROOM + contentWidth + 60;
  const width = busX + MARGIN + 20;
  const levelCount = Math.max(...rows.keys()) + 1;
  const height = MARGIN * 2 + 30 + levelCount * BOX_HEIGHT + (levelCount - 1) * LEVEL_GAP;
  const position = new Map<string, { x: number; y: number }>();
  for (const [level, names] of rows) {
    const rowWidth = names.length * BOX_WIDTH + (names.length - 1) * COLUMN_GAP;
    names.forEach((name, index) => {
      position.set(name, {
        x: MARGIN + LANE_ROOM + (contentWidth - rowWidth) / 2 + index * (BOX_WIDTH + COLUMN_GAP),
        y: MARGIN + 30 + level * (BOX_HEIGHT + LEVEL_GAP),
      });
    });
  }
  const parts: string[] = [];
  const catchTargets = new Set<string>();
  let laneCount = 0;
  for (const edge of edges) {
    const from = position.get(edge.from);
    const to = position.get(edge.to);
    if (!from || !to) continue;
    if (edge.kind === 'catch') {
      catchTargets.add(edge.to);
      const y = from.y + BOX_HEIGHT / 2;
      parts.push(
        `<path class="edge catch" d="M${from.x + BOX_WIDTH} ${y} H${busX}" fill="none" stroke="#c5221f" stroke-width="1.2" stroke-dasharray="5 4"/>`,
      );
      continue;
    }
    const startX = from.x + BOX_WIDTH / 2;
    const startY = from.y + BOX_HEIGHT;
    const endX = to.x + BOX_WIDTH / 2;
    const endY = to.y;
    const backwards = endY <= startY;
    // Edges that skip levels (or go back up) run down a lane on the left, clear of the boxes between.
    const skipsLevels = endY - startY > LEVEL_GAP + 1;
    const lane = MARGIN - 10 + (laneCount++ % 3) * 6;
    const path =
      backwards || skipsLevels
        ? `M${from.x} ${from.y + BOX_HEIGHT / 2} H${lane} V${to.y + BOX_HEIGHT / 2} H${to.x - 2}`
        : `M${startX} ${startY} C${startX} ${startY + LEVEL_GAP / 2}, ${endX} ${endY - LEVEL_GAP / 2}, ${endX} ${endY - 2}`;
    const color = edge.kind === 'default' ? '#5f6368' : '#202124';
    parts.push(
      `<path class="edge ${edge.kind}" d="${path}" fill="none" stroke="${color}" stroke-width="1.4" marker-end="url(#arrow)"/>`,
    );
    if (edge.label) {
      // Near the arrow's head, so labels of sibling branches do not collide.
      const [labelX, labelY, anchor] =
        backwards || skipsLevels
          ? [lane + 4, to.y + BOX_HEIGHT / 2 - 6, 'start']
          : [endX, endY - 12, 'middle'];
      parts.push(
        `<text x="${labelX}" y="${labelY}" text-anchor="${anchor}" class="edge-label">${escapeXml(edge.label)}</text>`,
      );
    }
  }
  for (const target of catchTargets) {
    const to = position.get(target);
    if (!to) continue;
    const topY = Math.min(
      ...edges
        .filter((edge) => edge.kind === 'catch')
        .map((edge) => (position.get(edge.from)?.y ?? to.y) + BOX_HEIGHT / 2),
    );
    parts.push(
      `<path class="edge catch-bus" d="M${busX} ${topY} V${to.y + BOX_HEIGHT / 2} H${to.x + BOX_WIDTH + 2}" fill="none" stroke="#c5221f" stroke-width="1.6" stroke-dasharray="5 4" marker-end="url(#arrow-red)"/>`,
      `<text x="${busX + 6}" y="${topY + 12}" class="edge-label catch-label" transform="rotate(90 ${busX + 6} ${topY + 12})">Catch States.ALL</text>`,
    );
  }
  for (const [name, state] of Object.entries(definition.States)) {
    const at = position.get(name);
    if (at) parts.push(shapeFor(name, state, at.x, at.y));
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="system-ui, sans-serif">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="#202124"/></marker>
<marker id="arrow-red" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="#c5221f"/></marker></defs>
<style>.name{font-size:13px;font-weight:600;fill:#202124}.type{font-size:10px;fill:#5f6368}.edge-label{font-size:10px;fill:#3c4043;paint-order:stroke;stroke:#fff;stroke-width:3px}.title{font-size:15px;font-weight:600}</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="${MARGIN}" y="${MARGIN}" class="title">${escapeXml(title)}</text>
${parts.join('\n')}
</svg>
`;
}
