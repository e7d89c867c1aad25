// The resolver's model, as pip's resolvelib provider has it: candidates (a file, a file with
// extras, the target's Python), requirements (a specifier, an explicit candidate, Requires-Python)
// and the criteria and states of the search over them.
import type { CoreMetadata, DistributionFile, Requirement } from '../shared/types.ts';
import type { Specifier, Version } from '../shared/pep440.ts';
import type { Criterion, Information, State } from './criteria.ts';

export const ROOT = '<requirements>';
export const PYTHON_IDENTIFIER = '<Python from Requires-Python>';

type ParsedVersion = Version;
type Clause = Specifier;

export interface FileCandidate {
  readonly kind: 'file';
  readonly key: string;
  readonly identifier: string;
  readonly name: string;
  readonly version: string;
  readonly file: DistributionFile;
  readonly tag: string;
  readonly metadata: CoreMetadata;
  /** How the file was found: from an index, or named directly by a URL. */
  readonly direct: boolean;
}

export interface ExtrasCandidate {
  readonly kind: 'extras';
  readonly key: string;
  readonly identifier: string;
  readonly name: string;
  readonly version: string;
  readonly base: FileCandidate;
  readonly extras: readonly string[];
}

export interface PythonCandidate {
  readonly kind: 'python';
  readonly key: string;
  readonly identifier: string;
  readonly name: string;
  readonly version: string;
}

export type Candidate = FileCandidate | ExtrasCandidate | PythonCandidate;

export interface SpecifierRequirement {
  readonly kind: 'specifier';
  readonly identifier: string;
  readonly name: string;
  readonly extras: readonly string[];
  readonly specifier: string;
  readonly clauses: readonly Clause[];
  readonly hashes: readonly string[];
  /** As written, for messages (`urllib3<3,>=1.25`). */
  readonly text: string;
  readonly source: Requirement['source'];
}

export interface ExplicitRequirement {
  readonly kind: 'explicit';
  readonly identifier: string;
  readonly name: string;
  readonly candidate: Candidate;
  readonly text: string;
  readonly source: Requirement['source'];
}

export interface PythonRequirement {
  readonly kind: 'python';
  readonly identifier: string;
  readonly name: string;
  readonly specifier: string;
  readonly clauses: readonly Clause[];
  readonly text: string;
  readonly source: null;
}

export type ResolverRequirement = SpecifierRequirement | ExplicitRequirement | PythonRequirement;

export type PipInformation = Information<ResolverRequirement, Candidate>;
export type PipCriterion = Criterion<ResolverRequirement, Candidate>;
export type PipState = State<ResolverRequirement, Candidate>;

export function identifierOf(name: string, extras: readonly string[]): string {
  return extras.length > 0 ? `${name}[${[...extras].sort().join(',')}]` : name;
}

/** One file the index offers, judged for the target. */
export interface FileVerdict {
  readonly file: DistributionFile;
  readonly version: ParsedVersion | null;
  /** Best (lowest) rank among its tags, or undefined when none fits. */
  readonly rank: number | undefined;
  readonly tag: string | null;
  readonly build: readonly [number, string] | null;
  readonly wheelTags: readonly string[];
  readonly isWheel: boolean;
  readonly pythonOk: boolean;
}
