// Report: the size report page and the state machine drawing.
export * from './size-report.ts';
export * from './state-machine-graph.ts';
export * from './treemap.ts';
export * from './checks.ts';
export * from './failure.ts';
export * from './next-steps.ts';
export * from './report-page-file.ts';
export * from './route-budget.ts';
export * from './run-facts.ts';
export * from './treemap-svg.ts';
