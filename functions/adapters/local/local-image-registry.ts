// Image destinations on a laptop: any registry reachable over HTTP(S) (`--registry
// http://127.0.0.1:5000`, anonymous), or else an OCI image layout folder per tag.
import { join, resolve } from 'node:path';
import { InputError } from '../../core/shared/errors.ts';
import type { ImageDestination, ImageRegistry } from '../ports.ts';

export class LocalImageRegistry implements ImageRegistry {
  private readonly registryUrl: string | null;

  constructor(
    private readonly options: { registry?: string | null; layoutRoot: string; repository: string },
  ) {
    const registry = options.registry ?? null;
    if (registry !== null && !/^https?:\/\/[^/]+\/?$/.test(registry)) {
      throw new InputError(`Registry "${registry}" is not a URL like http://127.0.0.1:5000.`, {
        hint: 'Give --registry the registry root, without a repository path.',
      });
    }
    this.registryUrl = registry?.replace(/\/$/, '') ?? null;
  }

  async destination(tag: string): Promise<ImageDestination> {
    if (this.registryUrl) {
      return {
        kind: 'registry',
        registryUrl: this.registryUrl,
        repository: this.options.repository,
        tag,
        credentials: { kind: 'anonymous' },
      };
    }
    return { kind: 'layout', layoutDir: join(resolve(this.options.layoutRoot), tag), tag };
  }
}
