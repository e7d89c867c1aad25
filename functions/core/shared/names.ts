// Python project names: PEP 503 normalization (the form every index, lock and comparison
// uses) and the PEP 508 name grammar, which also keeps shell metacharacters and path
// separators out of anything that ever becomes a file or command argument.

const PROJECT_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/**
 * The PEP 503 normalized form: lowercase, runs of `-`, `_` and `.` become one `-`.
 * @example canonicalizeName('Scikit_Learn') // 'scikit-learn'
 */
export function canonicalizeName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

/**
 * True when `name` is a valid project (or extra) name under PEP 508: ASCII letters and
 * digits, with `.`, `_` and `-` allowed only between them.
 * @example isValidProjectName('zope.interface') // true
 * @example isValidProjectName('$(reboot)') // false
 */
export function isValidProjectName(name: string): boolean {
  return PROJECT_NAME.test(name);
}
