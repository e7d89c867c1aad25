// SSM parameters on a laptop: one JSON file, name → value, with a version per name as SSM keeps.
import type { ParameterStore } from '../ports.ts';
import { readJsonFile, updateJsonFile } from './locked-json-file.ts';

export interface LocalParameter {
  value: string;
  description: string;
  version: number;
  updatedAt: string;
}

export class LocalParameterStore implements ParameterStore {
  constructor(readonly path: string) {}

  async get(name: string): Promise<string | null> {
    const parameters = await readJsonFile<Record<string, LocalParameter>>(this.path, () => ({}));
    return parameters[name]?.value ?? null;
  }

  async put(name: string, value: string, description: string): Promise<void> {
    await updateJsonFile<Record<string, LocalParameter>, void>(
      this.path,
      () => ({}),
      (parameters) => {
        parameters[name] = {
          value,
          description,
          version: (parameters[name]?.version ?? 0) + 1,
          updatedAt: new Date().toISOString(),
        };
      },
    );
  }
}
