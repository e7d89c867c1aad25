// What stands in for Lambda's /var/runtime in the local probe. A build with
// --exclude-runtime-provided leaves boto3, six, … out of what ships, because in Lambda the
// runtime's own copies sit on sys.path after the layers; this machine's interpreter has none of
// them. The build's smoke import meets the same gap by installing them into the tree's
// runtime-provided folder and putting it after the artifact; the probe runs later, from what
// ships, so it installs them the same way (installSet, the lock's files through the download
// cache) into its own scratch and puts that folder after the artifact's.
import { join } from 'node:path';
import { slimPolicyOf } from '../../core/build/build.ts';
import { createBuildContext } from '../../core/build/build-events.ts';
import { installSet } from '../../core/build/install-set.ts';
import { RUNTIME_DIR, SITE_DIR } from '../../core/build/tree-files.ts';
import { lambdaInterpreter } from '../../core/build/wheel-installer.ts';
import { createPackageIndex } from '../../core/index/index-client.ts';
import type { RuntimeStandIn } from '../../core/probe/index.ts';
import { parseDeliveryPolicy } from '../../core/route/delivery-policy.ts';

/**
 * Install the stand-ins under `workDir` and return the folder to put on sys.path after the
 * artifact's (the build's `<tree>/runtime-provided/python`).
 */
export async function installRuntimeStandIn(
  standIn: RuntimeStandIn,
  workDir: string,
  cacheDir: string,
  pythonExecutable?: string | null,
): Promise<string> {
  // The build's own policy: excluded packages go to the runtime-provided folder, slimmed alike.
  const policy = parseDeliveryPolicy({ ...standIn.policy, excludeRuntimeProvided: true });
  const treeDir = join(workDir, 'runtime-stand-in');
  // Locked files carry absolute URLs: the index only downloads them (sha256-checked, cached).
  const index = createPackageIndex({
    indexUrl: null,
    extraIndexUrls: [],
    findLinks: [],
    pre: false,
    cacheDir,
  });
  try {
    await installSet(
      {
        lock: standIn.lock,
        index,
        policy,
        slim: slimPolicyOf(policy),
        treeDir,
        scratch: workDir,
        interpreter: lambdaInterpreter(standIn.lock.target.pythonVersion),
        cacheDir,
        ...(pythonExecutable ? { pythonExecutable } : {}),
      },
      createBuildContext(undefined),
    );
  } finally {
    await index.close();
  }
  return join(treeDir, RUNTIME_DIR, SITE_DIR);
}
