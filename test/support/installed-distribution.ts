// A distribution's files as the installer leaves them, for tests of import footprints: its own
// files, METADATA and a RECORD listing each with its digest (`record` lets a test list other
// bytes than it ships, as an altered artifact would). And module source that imports only while
// a flag file exists: the flag is outside any footprint, so removing it shows which modules a
// run really imported again.
import { createHash } from 'node:crypto';

export type DistributionFiles = Record<string, string>;

const recordDigest = (content: string): string =>
  `sha256=${createHash('sha256').update(content).digest('base64url')}`;

export function distributionFiles(
  name: string,
  files: DistributionFiles,
  options: { readonly requires?: readonly string[]; readonly record?: DistributionFiles } = {},
): DistributionFiles {
  const distInfo = `${name}-1.0.dist-info`;
  const metadata = ['Metadata-Version: 2.1', `Name: ${name}`, 'Version: 1.0']
    .concat((options.requires ?? []).map((requirement) => `Requires-Dist: ${requirement}`))
    .join('\n');
  const metadataFile = { [`${distInfo}/METADATA`]: `${metadata}\n` };
  const listed = Object.entries({ ...(options.record ?? files), ...metadataFile }).map(
    ([path, content]) => `${path},${recordDigest(content)},${content.length}`,
  );
  return {
    ...files,
    ...metadataFile,
    [`${distInfo}/RECORD`]: `${[...listed, `${distInfo}/RECORD,,`].join('\n')}\n`,
  };
}

export const needsFlag = (flag: string, body = ''): string =>
  `import os\nassert os.path.exists(${JSON.stringify(flag)}), "no flag"\n${body}\n`;
