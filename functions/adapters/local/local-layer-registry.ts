// Lambda layers on a laptop: each published version is a copy of the layer zip under
// `layers/NAME/N.zip`, recorded in `layers/versions.json` with monotonically increasing
// version numbers per name and well-formed (fake) ARNs, so what the report says has the
// same shape as in AWS.
import { mkdir, rm } from 'node:fs/promises';
import { renameCounted } from '../../core/shared/atomic-write.ts';
import { join } from 'node:path';
import type { Architecture } from '../../core/shared/types.ts';
import type { LayerRegistry, LeasingObjectStore, ObjectStore, PublishedLayerVersion } from '../ports.ts';
import { readJsonFile, updateJsonFile } from './locked-json-file.ts';
import { openZip } from '../../core/pack/zip-reader.ts';
import { carryObjectDigest } from './object-digests.ts';

export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_REGION = 'local';

export interface LocalLayerVersionRecord {
  readonly version: number;
  readonly layerVersionArn: string;
  readonly file: string;
  readonly objectKey: string;
  readonly description: string;
  readonly compatibleRuntimes: readonly string[];
  readonly compatibleArchitectures: readonly Architecture[];
  readonly licenseInfo: string;
  readonly createdAt: string;
  readonly permissions: { statementId: string; principal: string; organizationId: string | null }[];
}

export interface LocalLayerVersionsFile {
  layers: Record<string, LocalLayerVersionRecord[]>;
  /** Function name → the layer version ARNs it was pointed at. */
  functions: Record<string, string[]>;
  /** Function name → its code's unzipped size in bytes (absent: 0). */
  functionCode?: Record<string, number>;
}

export function localLayerArn(layerName: string): string {
  return `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:layer:${layerName}`;
}

/** A function's layers after an update: its others kept in front, the named ones replaced. */
export function layersAfterUpdate(
  current: readonly string[],
  request: Pick<Parameters<LayerRegistry['updateFunctionLayers']>[0], 'layerVersionArns' | 'replaceNames'>,
): string[] {
  const kept = current.filter((arn) => !request.replaceNames.includes(arn.split(':')[6] ?? ''));
  return [...kept, ...request.layerVersionArns];
}

export class LocalLayerRegistry implements LayerRegistry {
  readonly versionsPath: string;

  constructor(
    private readonly root: string,
    private readonly store: ObjectStore & Partial<Pick<LeasingObjectStore, 'getReadOnlyFile' | 'identity'>>,
    /** The store's object digests (object-digests.ts), carried across the link a publish makes. */
    private readonly objectDigests: string | null = null,
  ) {
    this.versionsPath = join(root, 'versions.json');
  }

  private update<R>(change: (file: LocalLayerVersionsFile) => R | Promise<R>): Promise<R> {
    return updateJsonFile<LocalLayerVersionsFile, R>(
      this.versionsPath,
      () => ({ layers: {}, functions: {} }),
      change,
    );
  }

  private read(): Promise<LocalLayerVersionsFile> {
    return readJsonFile<LocalLayerVersionsFile>(this.versionsPath, () => ({ layers: {}, functions: {} }));
  }

  async publishLayerVersion(
    request: Parameters<LayerRegistry['publishLayerVersion']>[0],
  ): Promise<PublishedLayerVersion> {
    const directory = join(this.root, request.layerName);
    await mkdir(directory, { recursive: true });
    const staging = join(
      directory,
      `.${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.zip`,
    );
    // Its identity before the link and the rename, which move its ctime (object-digests.ts).
    const before = this.objectDigests ? ((await this.store.identity?.(request.objectKey)) ?? null) : null;
    await this.takeObject(request.objectKey, staging);
    const published = await this.update(async (file) => {
      const versions = (file.layers[request.layerName] ??= []);
      const version = (versions.at(-1)?.version ?? 0) + 1;
      const layerVersionArn = `${localLayerArn(request.layerName)}:${version}`;
      const zipPath = join(directory, `${version}.zip`);
      // The zip is in place before versions.json names it (a crash between leaves an unnamed zip, never a missing one).
      await renameCounted(staging, zipPath);
      versions.push({
        version,
        layerVersionArn,
        file: zipPath,
        objectKey: request.objectKey,
        description: request.description,
        compatibleRuntimes: [...request.compatibleRuntimes],
        compatibleArchitectures: [...request.compatibleArchitectures],
        licenseInfo: request.licenseInfo,
        createdAt: new Date().toISOString(),
        permissions: [],
      });
      return { version, layerVersionArn };
    });
    if (this.objectDigests && before) {
      const after = (await this.store.identity?.(request.objectKey)) ?? null;
      await carryObjectDigest(this.objectDigests, request.objectKey, before, after).catch(() => undefined);
    }
    return { layerName: request.layerName, layerArn: localLayerArn(request.layerName), ...published };
  }

  /**
   * The object's bytes at `path`: a hard link where the store makes one, else a copy. The
   * version's zip is never written again (only renamed and, on delete, removed).
   */
  private async takeObject(key: string, path: string): Promise<void> {
    if (this.store.getReadOnlyFile) await this.store.getReadOnlyFile(key, path);
    else await this.store.getToFile(key, path);
  }

  async addPermission(request: Parameters<LayerRegistry['addPermission']>[0]): Promise<void> {
    await this.update((file) => {
      const record = file.layers[request.layerName]?.find((entry) => entry.version === request.version);
      if (!record) throw new Error(`Layer ${request.layerName}:${request.version} was never published.`);
      record.permissions.push({
        statementId: request.statementId,
        principal: request.principal,
        organizationId: request.organizationId,
      });
    });
  }

  async getLayerVersion(
    layerVersionArn: string,
  ): Promise<(PublishedLayerVersion & { description: string }) | null> {
    const layerName = layerVersionArn.split(':')[6] ?? '';
    const version = Number(layerVersionArn.split(':')[7]);
    const file = await this.read();
    const record = file.layers[layerName]?.find((entry) => entry.version === version);
    if (!record) return null;
    return {
      layerName,
      version,
      layerArn: localLayerArn(layerName),
      layerVersionArn,
      description: record.description,
    };
  }

  async updateFunctionLayers(
    request: Parameters<LayerRegistry['updateFunctionLayers']>[0],
  ): Promise<{ layers: string[] }> {
    return this.update((file) => {
      const layers = layersAfterUpdate(file.functions[request.functionName] ?? [], request);
      file.functions[request.functionName] = layers;
      return { layers };
    });
  }

  async listLayerVersions(layerName: string): Promise<{ version: number; layerVersionArn: string }[]> {
    const file = await this.read();
    return (file.layers[layerName] ?? []).map(({ version, layerVersionArn }) => ({
      version,
      layerVersionArn,
    }));
  }

  /**
   * The zip goes first and versions.json, the pointer, is written last: a crash between leaves
   * the version named without its zip, and deleting it again (as the next retirement does) finishes.
   */
  async deleteLayerVersion(request: { layerName: string; version: number }): Promise<void> {
    await this.update(async (file) => {
      const versions = file.layers[request.layerName] ?? [];
      const record = versions.find((entry) => entry.version === request.version);
      if (!record) return;
      await rm(record.file, { force: true });
      file.layers[request.layerName] = versions.filter((entry) => entry.version !== request.version);
    });
  }

  /** The sum of the version's zip entries' declared sizes (read from its central directory). */
  async unzippedBytes(layerVersionArn: string): Promise<number | null> {
    const [layerName = '', version] = layerVersionArn.split(':').slice(6, 8);
    const file = await this.read();
    const record = file.layers[layerName]?.find((entry) => entry.version === Number(version));
    if (!record) return null;
    const zip = await openZip(record.file, { name: `${layerName}:${version}` });
    try {
      return zip.entries.reduce((sum, entry) => sum + entry.uncompressedSize, 0);
    } finally {
      await zip.close();
    }
  }

  /** Locally a function is a name; its code size is what `setFunctionCodeBytes` recorded (0 if none). */
  async functionCodeBytes(functionName: string): Promise<number> {
    const file = await this.read();
    return file.functionCode?.[functionName] ?? 0;
  }

  /** Records a local function's unzipped code size, as a deployed function would have it. */
  async setFunctionCodeBytes(functionName: string, bytes: number): Promise<void> {
    await this.update((file) => {
      (file.functionCode ??= {})[functionName] = bytes;
    });
  }

  async getFunctionLayers(functionName: string): Promise<string[]> {
    const file = await this.read();
    return [...(file.functions[functionName] ?? [])];
  }
}
