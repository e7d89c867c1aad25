// Probe: proving a dependency set on the target runtime, from what ships, before it is switched in.
export * from './lambda-paths.ts';
export * from './probe-types.ts';
