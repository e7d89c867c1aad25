// Shared: errors, names, units, targets and the types every stage uses.
export * from './errors.ts';
export * from './names.ts';
export * from './targets.ts';
export * from './types.ts';
export * from './units.ts';
