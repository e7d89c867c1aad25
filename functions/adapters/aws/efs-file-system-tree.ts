// The EFS access point as this function has it mounted, and what any other function must
// mount to read the same tree (mount targets read with the EFS API).
import { DescribeMountTargetsCommand, EFSClient } from '@aws-sdk/client-efs';
import type { FileSystemMount, FileSystemTree } from '../ports.ts';

export class EfsFileSystemTree implements FileSystemTree {
  constructor(
    readonly mountRoot: string,
    private readonly fileSystemId: string | null,
    private readonly accessPointArn: string | null,
    private readonly client: EFSClient = new EFSClient({}),
  ) {}

  async describe(): Promise<FileSystemMount> {
    const mountTargets: FileSystemMount['mountTargets'][number][] = [];
    if (this.fileSystemId) {
      let marker: string | undefined;
      do {
        const page = await this.client.send(
          new DescribeMountTargetsCommand({ FileSystemId: this.fileSystemId, Marker: marker }),
        );
        for (const target of page.MountTargets ?? []) {
          mountTargets.push({
            mountTargetId: target.MountTargetId ?? '',
            subnetId: target.SubnetId ?? '',
            availabilityZone: target.AvailabilityZoneName ?? null,
            ipAddress: target.IpAddress ?? null,
            state: target.LifeCycleState ?? 'unknown',
          });
        }
        marker = page.NextMarker;
      } while (marker);
    }
    return {
      fileSystemId: this.fileSystemId,
      accessPointArn: this.accessPointArn,
      mountPath: this.mountRoot,
      mountTargets,
    };
  }
}
