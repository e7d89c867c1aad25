// Lock files as inputs: uv.lock, poetry.lock, Pipfile.lock and pylock.toml read into one pinned
// set, the files chosen for the target, and pylock.toml written from a lock.
export * from './pinned-set.ts';
export * from './pipfile.ts';
export * from './poetry.ts';
export * from './pylock.ts';
export * from './read-input.ts';
export * from './select-files.ts';
export * from './uv-lock.ts';
