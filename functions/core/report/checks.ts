// What was checked before anything shipped, as lines the page and the terminal both show:
// the binary checks (files, ELF files, symbol versions), the smoke import (modules) and the
// probe on the target runtime. A check that did not run says so and why; it is never shown as ok.
import { describeTarget } from '../shared/targets.ts';
import { formatDuration } from '../shared/units.ts';
import { probeOf, type RunManifest } from './run-facts.ts';

export type CheckStatus = 'ok' | 'failed' | 'skipped';

/** One number of a check, with the manifest field it comes from. */
export interface CheckCount {
  readonly label: string;
  readonly value: number;
  readonly field: string;
  readonly unit?: 'count' | 'ms';
}

export interface CheckLine {
  readonly id: 'binaries' | 'smoke-import' | 'probe';
  readonly title: string;
  readonly status: CheckStatus;
  /** One sentence: what it found. */
  readonly text: string;
  readonly counts: readonly CheckCount[];
  /** What a reader should know beside the counts (a probe result reused from an identical artifact). */
  readonly note?: string;
}

function binaryCheck(manifest: RunManifest): CheckLine {
  const { verification } = manifest;
  const counts: CheckCount[] = [];
  if (verification.filesChecked !== undefined)
    counts.push({ label: 'files', value: verification.filesChecked, field: 'verification.filesChecked' });
  if (verification.elfFiles !== undefined)
    counts.push({ label: 'ELF files', value: verification.elfFiles, field: 'verification.elfFiles' });
  if (verification.symbolVersionsChecked !== undefined)
    counts.push({
      label: 'symbol versions',
      value: verification.symbolVersionsChecked,
      field: 'verification.symbolVersionsChecked',
    });
  const problems = verification.problems.length;
  return {
    id: 'binaries',
    title: 'Binaries',
    status: verification.ok ? 'ok' : 'failed',
    text: verification.ok
      ? `every file fits ${describeTarget(manifest.target)} (machine, glibc ${manifest.target.glibc}, libraries)${counts.length === 0 ? '; this build did not record counts' : ''}`
      : `${problems} problem${problems === 1 ? '' : 's'}: nothing was published`,
    counts,
  };
}

function smokeImportCheck(manifest: RunManifest): CheckLine {
  const smoke = manifest.smokeImport;
  const counts: CheckCount[] = smoke.ran
    ? [{ label: 'modules imported', value: smoke.modules, field: 'smokeImport.modules' }]
    : [];
  if (!smoke.ran)
    return {
      id: 'smoke-import',
      title: 'Smoke import',
      status: 'skipped',
      text: `skipped: ${smoke.reason ?? 'no interpreter for the target here'}`,
      counts,
    };
  return {
    id: 'smoke-import',
    title: 'Smoke import',
    status: smoke.ok ? 'ok' : 'failed',
    text: smoke.ok
      ? 'every top-level module imported in an isolated interpreter of the target Python'
      : `${smoke.failures.length} of ${smoke.modules} modules failed to import`,
    counts,
    ...(smoke.reused ? { note: reusedImportsNote(smoke.reused, smoke.modules, 'build') } : {}),
  };
}

/** Why some imports were not repeated (core/verify/import-footprints.ts), and how to repeat them. */
function reusedImportsNote(
  reused: number,
  modules: number,
  earlier: 'build' | 'probe' | 'smoke import',
): string {
  const whose = earlier === 'smoke import' ? "a build's smoke import" : `an earlier ${earlier}'s import`;
  return `${reused} of ${modules} not imported again: ${whose} of each loaded exactly these files and missed nothing that is here now; --no-cache imports them all`;
}

function probeCheck(manifest: RunManifest): CheckLine {
  const probe = probeOf(manifest);
  const base = { id: 'probe', title: 'Probe on the runtime' } as const;
  if (!probe)
    return { ...base, status: 'skipped', text: 'not probed: this run recorded no probe', counts: [] };
  if (!probe.ran)
    return {
      ...base,
      status: 'skipped',
      text: `not probed: ${probe.reason ?? 'no reason given'}`,
      counts: [],
    };
  const modules = probe.modules ?? [];
  const failed = modules.filter((entry) => !entry.ok).length;
  const reusedModules = modules.filter((entry) => entry.reused === true).length;
  const counts: CheckCount[] = [
    { label: 'modules imported', value: modules.length, field: 'probe.modules.length' },
  ];
  // With imports reused, the time is of the others only: not the set's cold import.
  const label = reusedModules > 0 ? 'import of the modules not reused' : 'cold import';
  if (typeof probe.importMs === 'number')
    counts.push({ label, value: probe.importMs, field: 'probe.importMs', unit: 'ms' });
  const where = probe.where === 'lambda' ? 'the Lambda runtime' : 'a local copy of the runtime layout';
  const python = probe.python ? `Python ${probe.python}` : 'the target Python';
  return {
    ...base,
    status: probe.ok && failed === 0 ? 'ok' : 'failed',
    text:
      probe.ok && failed === 0
        ? `imported from the artifact on ${where} (${python}, ${probe.arch ?? manifest.target.architecture})${typeof probe.importMs === 'number' && reusedModules === 0 ? ` in ${formatDuration(probe.importMs)}` : ''}`
        : `${failed} of ${modules.length} modules failed on ${where}: nothing was switched in`,
    counts,
    ...(probe.reusedFrom
      ? {
          note: `reused the twin's probe of this identical artifact at ${probe.reusedFrom}; --no-cache probes again`,
        }
      : reusedModules > 0
        ? { note: `${probeReuseNote(modules, reusedModules)}${probe.unpacked === false ? NOT_UNPACKED : ''}` }
        : {}),
  };
}

/** What the probe's note adds when it never wrote the layers out (ProbeResult.unpacked). */
const NOT_UNPACKED =
  "; the layers were not unpacked for it: each zip's sha256 named the list of files it unpacks to, kept when it was packed or first unpacked, and the footprints were checked against those";

/** The probe's reuse note: whose imports stood for the modules it did not import again. */
function probeReuseNote(modules: readonly { reusedFromBuild?: boolean }[], reused: number): string {
  const fromBuild = modules.filter((entry) => entry.reusedFromBuild === true).length;
  if (fromBuild === reused) return reusedImportsNote(reused, modules.length, 'smoke import');
  const note = reusedImportsNote(reused, modules.length, 'probe');
  return fromBuild > 0 ? `${note} (for ${fromBuild} of them, a build's smoke import's)` : note;
}

/** The checks of a build, in the order they ran. */
export function checksOf(manifest: RunManifest): CheckLine[] {
  return [binaryCheck(manifest), smokeImportCheck(manifest), probeCheck(manifest)];
}

/** Whether the set was refused: a check that ran failed, so nothing is to be deployed. */
export function isRefused(manifest: RunManifest): boolean {
  const probe = probeOf(manifest);
  return (
    !manifest.verification.ok ||
    (manifest.smokeImport.ran && !manifest.smokeImport.ok) ||
    (probe !== null && probe.ran && !probe.ok)
  );
}
