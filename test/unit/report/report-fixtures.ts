// Report inputs for the unit tests: the real runs' manifests (real-run-manifests.ts), one per
// route, plus variants (a probe that could not run, a 1.2 GiB image) built through the real types.
import type { BuildManifest } from '../../../functions/core/shared/types.ts';
import type { RunManifest } from '../../../functions/core/report/run-facts.ts';
import { probeNotRun, type ProbeResult } from '../../../functions/core/probe/probe-types.ts';
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
  return { ...manifest, probe: probeNotRun(manifest.target, reason, 'local') };
}

/** A probe that ran in the local twin; `failing` modules failed to import. */
export function probed(manifest: RunManifest, failing: readonly string[] = []): RunManifest {
  const modules = ['annotated_types', 'certifi', 'orjson', 'pydantic', 'requests'].map((module) => ({
    module,
    ok: !failing.includes(module),
    error: failing.includes(module) ? `ModuleNotFoundError: No module named '${module}'` : null,
    ms: 40,
  }));
  const probe: ProbeResult = {
    ran: true,
    ok: failing.length === 0,
    from: 'artifact',
    python: '3.11.14',
    arch: 'x86_64',
    modules,
    importMs: 412,
    where: 'local',
  };
  return { ...manifest, probe };
}
