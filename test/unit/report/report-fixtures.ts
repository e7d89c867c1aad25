// Report inputs for the unit tests: the real runs' manifests (real-run-manifests.ts), one per
// route, plus variants (a probe that could not run, a 1.2 GiB image) built through the real types.
import type { BuildManifest } from '../../../functions/core/shared/types.ts';
import type { RunManifest } from '../../../functions/core/report/run-facts.ts';
import {
  efsDelivery,
  efsSection,
  executionRecord,
  imageDelivery,
  imageSection,
  layersDelivery,
  layersManifest,
} from './real-run-manifests.ts';

/** Counts as the verifier records them (the real runs predate the fields). */
const counted: BuildManifest['verification'] = {
  ...layersManifest.verification,
  filesChecked: 482,
  elfFiles: 4,
  symbolVersionsChecked: 131,
};

const noLayers = layersManifest.packages?.map((entry) => ({ ...entry, layer: null }));

export function layersRun(): RunManifest {
  return { ...layersManifest, verification: counted, execution: executionRecord, delivery: layersDelivery };
}

export function efsRun(): RunManifest {
  return {
    ...layersManifest,
    ...efsSection,
    verification: counted,
    packages: noLayers,
    delivery: efsDelivery,
  };
}

export function imageRun(): RunManifest {
  return {
    ...layersManifest,
    ...imageSection,
    verification: counted,
    packages: noLayers,
    delivery: imageDelivery,
  };
}

/** An image whose biggest package is 1.2 GiB: far over 250 MiB, well under the image limit. */
export function bigImageRun(): RunManifest {
  const packages = (noLayers ?? []).map((entry, index) =>
    index === 0
      ? { ...entry, name: 'torch', installedBytes: 1.2 * 1024 ** 3, slimmedBytes: 1.2 * 1024 ** 3 }
      : entry,
  );
  const slimmed = packages.reduce((sum, entry) => sum + entry.slimmedBytes, 0);
  return { ...imageRun(), packages, sizes: { ...layersManifest.sizes, installed: slimmed, slimmed } };
}

export function notProbed(manifest: RunManifest, reason: string): RunManifest {
  return {
    ...manifest,
    probe: {
      ran: false,
      ok: false,
      from: 'artifact',
      python: null,
      arch: 'arm64',
      modules: [],
      importMs: null,
      reason,
      where: 'local',
    },
  };
}
