// Verify: checking every binary against the target (ELF machine, glibc, libraries) and smoke-importing the tree.
export * from './artifact-verifier.ts';
export * from './elf.ts';
export * from './runtime-libraries.ts';
export * from './smoke-import.ts';
export * from './elf-symbols.ts';
export * from './sandbox.ts';
export * from './stdlib-bytecode.ts';
export * from './inspection-memo.ts';
