// Report: the size report page and the state machine drawing.
export * from './size-report.ts';
export * from './state-machine-graph.ts';
export * from './treemap.ts';
