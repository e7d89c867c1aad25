// Lambda layers in AWS: versions are published from the artifact bucket (S3Bucket/S3Key/
// S3ObjectVersion, never an inline zip), shared with accounts or an organization, and
// functions are re-pointed only when asked.
import {
  AddLayerVersionPermissionCommand,
  DeleteLayerVersionCommand,
  GetFunctionConfigurationCommand,
  GetLayerVersionByArnCommand,
  LambdaClient,
  ListLayerVersionsCommand,
  PublishLayerVersionCommand,
  UpdateFunctionConfigurationCommand,
  type Architecture as LambdaArchitecture,
  type Runtime,
} from '@aws-sdk/client-lambda';
import type { LayerRegistry, PublishedLayerVersion } from '../ports.ts';

/** `arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION` → `NAME` */
export function layerNameOf(layerVersionArn: string): string {
  return layerVersionArn.split(':')[6] ?? '';
}

export class LambdaLayerRegistry implements LayerRegistry {
  constructor(
    private readonly bucket: string,
    private readonly client: LambdaClient = new LambdaClient({}),
  ) {}

  async publishLayerVersion(
    request: Parameters<LayerRegistry['publishLayerVersion']>[0],
  ): Promise<PublishedLayerVersion> {
    const response = await this.client.send(
      new PublishLayerVersionCommand({
        LayerName: request.layerName,
        Description: request.description,
        Content: {
          S3Bucket: this.bucket,
          S3Key: request.objectKey,
          ...(request.objectVersion ? { S3ObjectVersion: request.objectVersion } : {}),
        },
        CompatibleRuntimes: request.compatibleRuntimes as Runtime[],
        CompatibleArchitectures: request.compatibleArchitectures as LambdaArchitecture[],
        LicenseInfo: request.licenseInfo,
      }),
    );
    if (!response.LayerArn || !response.LayerVersionArn || response.Version === undefined) {
      throw new Error(`PublishLayerVersion for ${request.layerName} returned no version ARN.`);
    }
    return {
      layerName: request.layerName,
      version: response.Version,
      layerArn: response.LayerArn,
      layerVersionArn: response.LayerVersionArn,
    };
  }

  async addPermission(request: Parameters<LayerRegistry['addPermission']>[0]): Promise<void> {
    await this.client.send(
      new AddLayerVersionPermissionCommand({
        LayerName: request.layerName,
        VersionNumber: request.version,
        StatementId: request.statementId,
        Action: 'lambda:GetLayerVersion',
        Principal: request.principal,
        ...(request.organizationId ? { OrganizationId: request.organizationId } : {}),
      }),
    );
  }

  async getLayerVersion(
    layerVersionArn: string,
  ): Promise<(PublishedLayerVersion & { description: string }) | null> {
    try {
      const found = await this.client.send(new GetLayerVersionByArnCommand({ Arn: layerVersionArn }));
      return {
        layerName: layerNameOf(layerVersionArn),
        version: found.Version ?? Number(layerVersionArn.split(':')[7]),
        layerArn: found.LayerArn ?? layerVersionArn.replace(/:\d+$/, ''),
        layerVersionArn,
        description: found.Description ?? '',
      };
    } catch (error) {
      if ((error as Error).name === 'ResourceNotFoundException') return null;
      throw error;
    }
  }

  async updateFunctionLayers(
    request: Parameters<LayerRegistry['updateFunctionLayers']>[0],
  ): Promise<{ layers: string[] }> {
    const current = await this.client.send(
      new GetFunctionConfigurationCommand({ FunctionName: request.functionName }),
    );
    // Keep the function's own layers (first, so their order is unchanged); replace ours.
    const kept = (current.Layers ?? [])
      .map((layer) => layer.Arn ?? '')
      .filter((arn) => arn !== '' && !request.replaceNames.includes(layerNameOf(arn)));
    const layers = [...kept, ...request.layerVersionArns];
    await this.client.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: request.functionName,
        Layers: layers,
        ...(current.RevisionId ? { RevisionId: current.RevisionId } : {}),
      }),
    );
    return { layers };
  }

  async listLayerVersions(layerName: string): Promise<{ version: number; layerVersionArn: string }[]> {
    const versions: { version: number; layerVersionArn: string }[] = [];
    // A hand-written loop rather than the SDK paginator, which reuses (mutates) one input object.
    let marker: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const response = await this.client.send(
        new ListLayerVersionsCommand({ LayerName: layerName, ...(marker ? { Marker: marker } : {}) }),
      );
      for (const item of response.LayerVersions ?? []) {
        if (item.LayerVersionArn && item.Version !== undefined) {
          versions.push({ version: item.Version, layerVersionArn: item.LayerVersionArn });
        }
      }
      marker = response.NextMarker;
      if (!marker) return versions;
    }
    throw new Error(`ListLayerVersions for ${layerName} returned more than 1000 pages.`);
  }

  async deleteLayerVersion(request: { layerName: string; version: number }): Promise<void> {
    await this.client.send(
      new DeleteLayerVersionCommand({ LayerName: request.layerName, VersionNumber: request.version }),
    );
  }

  async getFunctionLayers(functionName: string): Promise<string[]> {
    const current = await this.client.send(
      new GetFunctionConfigurationCommand({ FunctionName: functionName }),
    );
    return (current.Layers ?? []).map((layer) => layer.Arn ?? '').filter((arn) => arn !== '');
  }
}
