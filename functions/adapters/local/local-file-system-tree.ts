// The EFS access point on a laptop: a folder, holding the same atomic versioned layout
// (`<set>/<lockHash>/`, `<set>/current`) the sync step writes on EFS.
import { resolve } from 'node:path';
import type { FileSystemMount, FileSystemTree } from '../ports.ts';

export class LocalFileSystemTree implements FileSystemTree {
  readonly mountRoot: string;

  constructor(root: string) {
    this.mountRoot = resolve(root);
  }

  async describe(): Promise<FileSystemMount> {
    return { fileSystemId: null, accessPointArn: null, mountPath: this.mountRoot, mountTargets: [] };
  }
}
