// Explanations of a failed resolution, in the manner of pip's ResolutionImpossible: which
// requirements conflict and who asked for them (the chain from the requirements file), every
// package that no file can satisfy and why (tags, glibc, Python, pre-release, yanked, sdist only),
// the indexes searched, and the index warnings gathered before the failure.
import { ResolutionError } from '../shared/errors.ts';
import { compareVersionText as compareVersions, parseVersion, specifiersContain } from '../shared/pep440.ts';
import type { Specifier, Version } from '../shared/pep440.ts';
import { describeTarget, wheelMachine } from '../shared/targets.ts';
import {
  PYTHON_IDENTIFIER,
  ROOT,
  type Candidate,
  type FileVerdict,
  type PipCriterion,
  type PipInformation,
  type PythonRequirement,
} from './candidates.ts';
import { orderFiles } from './finder.ts';
import type { PipProvider } from './provider.ts';

type Clause = Specifier;
type ParsedVersion = Version;

function clausesContain(clauses: readonly Clause[], version: ParsedVersion): boolean {
  return specifiersContain(clauses, version);
}

class NoCandidateProblem {
  constructor(
    readonly name: string,
    readonly message: string,
  ) {}
}

export interface ExplainContext {
  /** The indexes and find-links locations searched, for the message (credentials are removed). */
  readonly searched?: readonly string[];
  /** Warnings gathered before the failure (an index left out), repeated with it. */
  readonly warnings?: readonly string[];
}

/** A URL without its user name and password, for messages. */
export function withoutCredentials(location: string): string {
  try {
    const url = new URL(location);
    if (!url.username && !url.password) return location;
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, location.endsWith('/') ? '/' : '');
  } catch {
    return location.replace(/\/\/[^/@]*@/, '//');
  }
}

export class ConflictExplainer {
  constructor(
    private readonly provider: PipProvider,
    private readonly criteria: ReadonlyMap<string, PipCriterion>,
    private readonly context_: ExplainContext = {},
  ) {}

  /** The indexes searched and the warnings, as lines to append to a failure message. */
  context(): string {
    const lines: string[] = [];
    const searched = this.context_.searched ?? [];
    if (searched.length > 0) lines.push(`Searched: ${searched.map(withoutCredentials).join(', ')}`);
    for (const warning of this.context_.warnings ?? []) lines.push(`Warning: ${warning}`);
    return lines.length > 0 ? `\n${lines.join('\n')}` : '';
  }

  async describeImpossible(causes: readonly PipInformation[]): Promise<ResolutionError> {
    const problems: { package: string; message: string }[] = [];
    const pythonCauses = causes.filter(
      (cause) =>
        cause.requirement.kind === 'python' &&
        !this.provider.isSatisfiedBy(cause.requirement, this.provider.pythonCandidate),
    );
    if (pythonCauses.length > 0) {
      for (const cause of pythonCauses) {
        const parent = cause.parent;
        const name = parent?.name ?? ROOT;
        problems.push({
          package: name,
          message:
            `${name} ${parent?.version ?? ''} requires Python ${(cause.requirement as PythonRequirement).specifier}; ${describeTarget(this.provider.target)} runs Python ${this.provider.target.pythonVersion}`.replace(
              '  ',
              ' ',
            ),
        });
      }
    } else {
      const byName = new Map<string, PipInformation[]>();
      for (const cause of causes) {
        const name = cause.requirement.name;
        byName.set(name, [...(byName.get(name) ?? []), cause]);
      }
      for (const [name, group] of byName) {
        const unavailable = await this.explainUnavailable(name, group);
        if (unavailable) problems.push({ package: name, message: unavailable.message });
        else problems.push({ package: name, message: this.explainConflict(name, group) });
      }
    }
    const summary = problems
      .map((problem) =>
        problem.message.startsWith(problem.package)
          ? `  - ${problem.message}`
          : `  - ${problem.package}: ${problem.message}`,
      )
      .join('\n');
    return new ResolutionError(
      `No set of wheels satisfies the requirements for ${describeTarget(this.provider.target)}:\n${summary}${this.context()}`,
      problems,
      {
        hint: 'Relax or change the versions named above, pick a target whose Python and glibc the wheels support (--runtime, or --python/--glibc for an image), or add an index that has compatible wheels.',
      },
    );
  }

  /** The search ran out of rounds or time: say so, and name the conflicts it was working on. */
  async describeTooDeep(limit: string, causes: readonly PipInformation[]): Promise<ResolutionError> {
    const working = causes.length > 0 ? await this.describeImpossible(causes) : null;
    const problems = working?.problems ?? [
      { package: ROOT, message: `the dependency graph needed more than ${limit} to settle` },
    ];
    const detail = working
      ? working.message.slice(working.message.indexOf(':\n') + 2)
      : `  - ${problems[0]?.message}${this.context()}`;
    return new ResolutionError(
      `Gave up after ${limit} resolving for ${describeTarget(this.provider.target)}; the conflicts it was working on:\n${detail}`,
      problems,
      { hint: 'Pin the versions of the packages named above (see --debug output) to narrow the search.' },
    );
  }

  /** ` (via <requirements> → a 1.0 → b 2.0)` when the parent was not asked for directly. */
  private via(parent: Candidate): string {
    const chain = this.chain(parent);
    return chain.split(' → ').length > 2 ? ` (via ${chain})` : '';
  }

  private chain(parent: Candidate | null): string {
    const steps: string[] = [];
    let current = parent;
    const seen = new Set<string>();
    while (current && !seen.has(current.identifier) && steps.length < 8) {
      seen.add(current.identifier);
      steps.unshift(`${current.name} ${current.version}`);
      const criterion = this.criteria.get(current.identifier);
      current = criterion?.information[0]?.parent ?? null;
    }
    return [ROOT, ...steps].join(' → ');
  }

  private explainConflict(name: string, group: readonly PipInformation[]): string {
    const parts = group.map(({ requirement, parent }) => {
      const wants =
        requirement.kind === 'explicit'
          ? `${requirement.candidate.name}==${requirement.candidate.version}`
          : requirement.text;
      const where = requirement.source ? ` (${requirement.source.file}:${requirement.source.line})` : '';
      return parent
        ? `${parent.name} ${parent.version} requires ${wants}${this.via(parent)}`
        : `the requirements ask for ${wants}${where}`;
    });
    const constraint = this.provider.constraintFor(name);
    if (constraint) parts.push(`the constraints ask for ${constraint.texts.join(', ')}`);
    return `conflicting requirements: ${[...new Set(parts)].join('; ')}`;
  }

  /** When no file of `name` can satisfy the requirements, say why for the most recent versions. */
  private async explainUnavailable(
    name: string,
    group: readonly PipInformation[],
  ): Promise<NoCandidateProblem | null> {
    if (name === PYTHON_IDENTIFIER) return null;
    const specifiers = group
      .map((information) => information.requirement)
      .filter((requirement) => requirement.kind === 'specifier');
    if (specifiers.length !== group.length) return null;
    const constraint = this.provider.constraintFor(name);
    const clauses = [
      ...(constraint?.clauses ?? []),
      ...specifiers.flatMap((requirement) => requirement.clauses),
    ];
    const wanted = [
      ...new Set([...specifiers.map((requirement) => requirement.text), ...(constraint?.texts ?? [])]),
    ].join(', ');
    let verdicts: readonly FileVerdict[];
    try {
      verdicts = await this.provider.listing(name);
    } catch {
      return null;
    }
    if (verdicts.length === 0) {
      return new NoCandidateProblem(
        name,
        `no index or find-links location offers any file for "${name}" (asked for ${wanted}${this.requesters(group)}); check the name and the index options`,
      );
    }
    const stillFits = orderFiles(verdicts, clauses, [], this.provider.pre, this.provider.formatsFor(name));
    if (stillFits.length > 0) {
      // Files exist that fit the target and the specifier: the failure is a conflict, not availability.
      return null;
    }
    const byVersion = new Map<string, FileVerdict[]>();
    for (const verdict of verdicts) {
      if (!verdict.version) continue;
      const key = verdict.version.text;
      byVersion.set(key, [...(byVersion.get(key) ?? []), verdict]);
    }
    const versions = [...byVersion.keys()].sort((left, right) => compareVersions(right, left));
    const matching = versions.filter((version) =>
      clausesContain(clauses, parseVersion(version) as ParsedVersion),
    );
    if (matching.length === 0 && group.length > 1) return null;
    const fitting = versions.find((version) =>
      (byVersion.get(version) ?? []).some(
        (verdict) => verdict.isWheel && verdict.rank !== undefined && verdict.pythonOk,
      ),
    );
    const reasons = matching
      .slice(0, 3)
      .map((version) => this.explainVersion(name, version, byVersion.get(version) ?? []));
    if (matching.length === 0)
      reasons.push(`no version matches (available: ${versions.slice(0, 5).join(', ')})`);
    const asked = `${wanted}${this.requesters(group)}`;
    let message = asked === name ? reasons.join('; ') : `${asked}: ${reasons.join('; ')}`;
    if (fitting && !matching.slice(0, 3).includes(fitting)) {
      message += matching.includes(fitting)
        ? `; ${fitting} fits`
        : `; ${fitting} fits the target but not ${wanted}`;
    } else if (!fitting)
      message += `; no version of ${name} has a wheel for ${describeTarget(this.provider.target)}`;
    return new NoCandidateProblem(name, message);
  }

  private requesters(group: readonly PipInformation[]): string {
    const parents = [
      ...new Set(
        group.map(({ parent }) => (parent ? `${parent.name} ${parent.version}` : null)).filter(Boolean),
      ),
    ];
    return parents.length > 0 ? ` (required by ${parents.join(', ')})` : '';
  }

  private explainVersion(name: string, version: string, verdicts: readonly FileVerdict[]): string {
    const parsed = parseVersion(version) as ParsedVersion;
    const label = `${name} ${version}`;
    const wheels = verdicts.filter((verdict) => verdict.isWheel);
    if (wheels.length === 0) {
      const sdist = verdicts[0]?.file.filename ?? 'sdist';
      if (!this.provider.formatsFor(name).allowed.has('source'))
        return `${label} has only a source distribution (${sdist}), and --only-binary forbids building ${name} from source; drop ${name} from --only-binary (or use --only-binary :all: --no-binary ${name}) to build it, or pin a version that ships a wheel`;
      return `${label} has only a source distribution (${sdist}), which cannot be used for the target`;
    }
    if (!this.provider.formatsFor(name).allowed.has('binary'))
      return `${label} has wheels, but --no-binary forbids them for ${name}${verdicts.some((verdict) => !verdict.isWheel) ? '' : ' and it has no sdist'}`;
    const compatible = wheels.filter((verdict) => verdict.rank !== undefined);
    if (compatible.length === 0)
      return `${label} ${this.explainTags(wheels.flatMap((verdict) => verdict.wheelTags))}`;
    const pythonOk = compatible.filter((verdict) => verdict.pythonOk);
    if (pythonOk.length === 0) {
      return `${label} requires Python ${compatible[0]?.file.requiresPython ?? '?'}; the target runs Python ${this.provider.target.pythonVersion}`;
    }
    if (parsed.isPrerelease && !this.provider.pre)
      return `${label} is a pre-release; allow it with --pre or name it in the specifier (e.g. ==${version})`;
    if (pythonOk.every((verdict) => verdict.file.yanked !== false)) {
      const reason = pythonOk[0]?.file.yanked;
      return `${label} is yanked${typeof reason === 'string' ? ` (${reason})` : ''}; pin it with ==${version} to use it anyway`;
    }
    return `${label} could not be used`;
  }

  /** Say, in terms of the target, why none of these wheel tags fits. */
  private explainTags(tags: readonly string[]): string {
    const target = this.provider.target;
    const machine = wheelMachine(target.architecture);
    const cp = `cp3${target.pythonVersion.split('.')[1]}`;
    const targetGlibc = glibcNumber(target.glibc);
    const parsed = tags.map((tag) => {
      const [python = '', abi = '', platform = ''] = tag.split('-');
      return { python, abi, platform, tag, ...platformFacts(platform) };
    });
    const pythonFits = (entry: (typeof parsed)[number]): boolean => {
      const python = entry.python;
      if (python === cp || python === 'py3' || python === `py3${cp.slice(3)}` || /^py3\d*$/.test(python)) {
        return entry.abi === 'none' || entry.abi === cp || entry.abi === 'abi3' || python.startsWith('py');
      }
      if (entry.abi === 'abi3' && /^cp3\d+$/.test(python))
        return Number(python.slice(3)) <= Number(cp.slice(3));
      return false;
    };
    const platformFits = (entry: (typeof parsed)[number]): boolean =>
      entry.platform === 'any' ||
      (entry.family === 'manylinux' && entry.machine === machine && (entry.glibc ?? 0) <= targetGlibc);
    const glibcBlocked = parsed.filter(
      (entry) =>
        pythonFits(entry) &&
        entry.family === 'manylinux' &&
        entry.machine === machine &&
        (entry.glibc ?? 0) > targetGlibc,
    );
    if (glibcBlocked.length > 0) {
      const needed = glibcBlocked.reduce((lowest, entry) =>
        (entry.glibc ?? 0) < (lowest.glibc ?? 0) ? entry : lowest,
      );
      const glibcText = `${Math.floor((needed.glibc ?? 0) / 1000)}.${(needed.glibc ?? 0) % 1000}`;
      const runs = target.runtime
        ? `${target.runtime} runs on ${target.os} (glibc ${target.glibc})`
        : `the target has glibc ${target.glibc}`;
      return `needs glibc ${glibcText} (${needed.platform.replace(`_${machine}`, '')}); ${runs}`;
    }
    const platformOk = parsed.filter(platformFits);
    if (platformOk.length > 0) {
      const interpreters = [
        ...new Set(platformOk.map((entry) => (entry.abi === 'abi3' ? `${entry.python}-abi3` : entry.python))),
      ].sort();
      return `has no wheel for CPython ${target.pythonVersion} (only ${interpreters.join(', ')})`;
    }
    const linuxOtherArch = parsed.filter(
      (entry) => entry.family === 'manylinux' && entry.machine !== machine,
    );
    if (linuxOtherArch.length > 0) {
      const machines = [...new Set(linuxOtherArch.map((entry) => entry.machine))].join(', ');
      return `has no wheel for ${machine} (only ${machines}); the target is ${target.architecture}`;
    }
    const families = [...new Set(parsed.map((entry) => entry.family))].join(', ');
    return `has wheels only for ${families}, not for manylinux (glibc) ${machine}`;
  }
}

function platformFacts(platform: string): { family: string; machine: string | null; glibc: number | null } {
  const legacy: Record<string, number> = { manylinux1: 2005, manylinux2010: 2012, manylinux2014: 2017 };
  let match = /^manylinux_(\d+)_(\d+)_(.+)$/.exec(platform);
  if (match)
    return {
      family: 'manylinux',
      machine: match[3] as string,
      glibc: Number(match[1]) * 1000 + Number(match[2]),
    };
  match = /^(manylinux1|manylinux2010|manylinux2014)_(.+)$/.exec(platform);
  if (match)
    return { family: 'manylinux', machine: match[2] as string, glibc: legacy[match[1] as string] ?? null };
  if (platform.startsWith('musllinux')) return { family: 'musllinux', machine: null, glibc: null };
  if (platform.startsWith('macosx')) return { family: 'macOS', machine: null, glibc: null };
  if (platform.startsWith('win')) return { family: 'Windows', machine: null, glibc: null };
  if (platform.startsWith('linux')) return { family: 'linux (not portable)', machine: null, glibc: null };
  return { family: platform, machine: null, glibc: null };
}

function glibcNumber(glibc: string): number {
  const [major = '0', minor = '0'] = glibc.split('.');
  return Number(major) * 1000 + Number(minor);
}
