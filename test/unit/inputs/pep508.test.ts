// PEP 508 parsing and marker evaluation, checked against the PEP's own examples and
// against Python's `packaging` (the library pip uses) as an oracle on the same inputs.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../functions/core/shared/errors.ts';
import {
  evaluateMarker,
  parseMarker,
  parseRequirement,
  requirementApplies,
} from '../../../functions/core/inputs/pep508.ts';
import { lambdaTarget, markerEnvironment } from '../../../functions/core/shared/targets.ts';

const PACKAGING_ORACLE = `
import json, sys
from packaging.requirements import Requirement, InvalidRequirement
from packaging.markers import Marker, InvalidMarker
cases = json.load(sys.stdin)
out = {"requirements": [], "markers": []}
for text in cases["requirements"]:
    try:
        r = Requirement(text)
        out["requirements"].append({"ok": True, "name": r.name, "extras": sorted(r.extras),
            "specifiers": sorted(str(s) for s in r.specifier), "url": r.url})
    except InvalidRequirement:
        out["requirements"].append({"ok": False})
for case in cases["markers"]:
    try:
        env = dict(case["environment"])
        env["extra"] = case["extra"] or ""
        out["markers"].append({"ok": True, "value": Marker(case["marker"]).evaluate(env)})
    except (InvalidMarker, Exception) as error:
        out["markers"].append({"ok": False, "error": type(error).__name__})
print(json.dumps(out))
`;

function packagingAvailable(): boolean {
  try {
    // packaging 22 and later parse with the PEP 508 grammar and normalize extras (PEP 685).
    const version = execFileSync('python3', ['-c', 'import packaging; print(packaging.__version__)'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return Number(version.split('.')[0]) >= 22;
  } catch {
    return false;
  }
}

const NO_PACKAGING_REASON =
  'python3 with the `packaging` library (22 or later, the PEP 508 grammar and PEP 685 extras) is not installed here, so there is no oracle';

/** The examples of PEP 508's "Complete Grammar" test section, plus specifier and URL forms pip users write. */
const REQUIREMENTS = [
  'A',
  'A.B-C_D',
  'aa',
  'name',
  'name<=1',
  'name>=3',
  'name>=3,<2',
  'name@http://foo.com',
  "name [fred,bar] @ http://foo.com ; python_version=='2.7'",
  "name[quux, strange];python_version<'2.7' and platform_version=='2'",
  "name; os_name=='a' or os_name=='b'",
  "name; os_name=='a' and os_name=='b' or os_name=='c'",
  "name; os_name=='a' and (os_name=='b' or os_name=='c')",
  "name; os_name=='a' or os_name=='b' and os_name=='c'",
  "name; (os_name=='a' or os_name=='b') and os_name=='c'",
  'requests (>=2.8.1, ==2.8.*)',
  'requests[security,tests] >= 2.8.1, == 2.8.* ; python_version < "2.7"',
  'pip @ https://github.com/pypa/pip/archive/1.3.1.zip#sha1=da9234ee9982d4bbb3c72346a6de940a148ea686',
  'numpy~=1.26.0',
  'foo===1.0-weird',
  'Foo_Bar.baz[X_Y]!=1.0.post1',
  'six ; sys.platform == "linux"',
  'six ; python_implementation == "CPython"',
  'name @ https://example.org/name-1.0-py3-none-any.whl ; extra == "x"',
  // Not requirements: each must fail in both.
  '',
  '$(reboot)',
  '`id`',
  'requests; rm -rf /',
  'foo/bar',
  'name>=1..0',
  'name=1.0',
  'name~=1',
  'name[',
  'name[a,]',
  'name (>=1.0',
  'name; python_version >= 3.8',
  'name; python_version',
  'name; unknown_var == "1"',
  'name; (os_name == "a"',
  'name ==1.0 other',
  '-name',
  'name-',
  'name; ',
];

/** Marker cases evaluated for real Lambda targets, with and without an extra. */
const MARKERS = [
  'python_version >= "3.11"',
  'python_version < "3.12"',
  'python_version > "3.9"',
  'python_full_version >= "3.11.0"',
  'python_full_version == "3.11.*"',
  'python_version ~= "3.10"',
  'python_version in "3.10 3.11"',
  'python_version not in "3.10 3.11"',
  'platform_machine == "aarch64"',
  'platform_machine != "x86_64"',
  '"arm" in platform_machine',
  'sys_platform == "linux" and platform_python_implementation == "CPython"',
  'sys_platform == "win32" or implementation_name == "cpython"',
  'os_name == "nt" or os_name == "posix" and python_version < "3.0"',
  '(os_name == "nt" or os_name == "posix") and python_version < "3.0"',
  'platform_system == "Linux"',
  'extra == "socks"',
  'extra == "SOCKS"',
  'extra == "Socks_Proxy"',
  'python_version >= "3.12" and extra == "socks"',
  'python_version >= "3.12" or extra == "socks"',
  '"3.9" < python_version',
  'implementation_version >= "3.11"',
  'python_version === "3.11"',
];

describe('parseRequirement', () => {
  it('reads name, extras, parenthesized specifiers and a marker', () => {
    // Prepare
    const text = 'Requests[Security, socks] (>=2.8.1, ==2.8.*) ; python_version < "2.7"';

    // Act
    const requirement = parseRequirement(text, { file: 'r.txt', line: 4, column: 1 });

    // Assess
    expect(requirement.name).toBe('requests');
    expect(requirement.displayName).toBe('Requests');
    expect(requirement.extras).toEqual(['security', 'socks']);
    expect(requirement.specifier).toBe('>=2.8.1,==2.8.*');
    expect(requirement.marker).toEqual({
      op: 'compare',
      lhs: { kind: 'variable', name: 'python_version' },
      comparator: '<',
      rhs: { kind: 'literal', value: '2.7' },
    });
    expect(requirement.url).toBeNull();
    expect(requirement.source).toEqual({ file: 'r.txt', line: 4, column: 1 });
  });

  it('reads a direct reference with a marker separated by whitespace', () => {
    // Act
    const requirement = parseRequirement(
      'name @ https://example.org/name-1.0-py3-none-any.whl ; os_name == "posix"',
    );

    // Assess
    expect(requirement.url).toBe('https://example.org/name-1.0-py3-none-any.whl');
    expect(requirement.marker).not.toBeNull();
    expect(requirement.specifier).toBe('');
  });

  it('points at the column of a bad specifier, counted from the source column', () => {
    // Act
    const act = (): unknown => parseRequirement('numpy>=1..0', { file: 'r.txt', line: 7, column: 3 });

    // Assess
    expect(act).toThrow(InputError);
    try {
      act();
    } catch (error) {
      const inputError = error as InputError;
      expect(inputError.location).toEqual({ file: 'r.txt', line: 7, column: 8 });
      expect(inputError.message).toContain('>=1..0');
      expect(inputError.hint).toBeTruthy();
    }
  });

  it('names the column in the message when there is no source', () => {
    // Act
    const act = (): unknown => parseRequirement('requests; rm -rf /');

    // Assess
    expect(act).toThrow(/column 11/);
  });

  it.each(['$(reboot)', '`reboot`', 'requests; rm -rf /', 'foo/../bar', '../etc/passwd', 'a|b', 'a&&b'])(
    'rejects %s by the name grammar',
    (text) => {
      // Act
      const act = (): unknown => parseRequirement(text);

      // Assess
      expect(act).toThrow(InputError);
    },
  );

  it.skipIf(!packagingAvailable())(
    `agrees with packaging on ${REQUIREMENTS.length} requirement strings${packagingAvailable() ? '' : ` (skipped: ${NO_PACKAGING_REASON})`}`,
    () => {
      // Prepare
      const oracle = JSON.parse(
        execFileSync('python3', ['-c', PACKAGING_ORACLE], {
          input: JSON.stringify({ requirements: REQUIREMENTS, markers: [] }),
          encoding: 'utf8',
        }),
      ) as {
        requirements: (
          | { ok: true; name: string; extras: string[]; specifiers: string[]; url: string | null }
          | { ok: false }
        )[];
      };

      // Act
      const ours = REQUIREMENTS.map((text) => {
        try {
          const requirement = parseRequirement(text);
          return {
            ok: true,
            name: requirement.name,
            extras: requirement.extras,
            specifiers: requirement.specifier ? requirement.specifier.split(',').sort() : [],
            url: requirement.url,
          };
        } catch (error) {
          if (!(error instanceof InputError)) throw error;
          return { ok: false };
        }
      });

      // Assess
      const theirs = oracle.requirements.map((entry) =>
        entry.ok
          ? {
              ...entry,
              name: entry.name.replace(/[-_.]+/g, '-').toLowerCase(),
              extras: entry.extras.map((extra) => extra.replace(/[-_.]+/g, '-').toLowerCase()).sort(),
              specifiers: entry.specifiers.map((clause) => clause.replace(/\s/g, '')).sort(),
            }
          : entry,
      );
      expect(ours.map((entry, index) => ({ text: REQUIREMENTS[index], ...entry }))).toEqual(
        theirs.map((entry, index) => ({ text: REQUIREMENTS[index], ...entry })),
      );
    },
  );
});

describe('parseMarker', () => {
  it('binds "and" tighter than "or"', () => {
    // Act
    const marker = parseMarker('os_name == "a" or os_name == "b" and os_name == "c"');

    // Assess
    expect(marker.op).toBe('or');
  });

  it('maps the legacy dotted spellings to the PEP 508 variables', () => {
    // Act
    const marker = parseMarker('sys.platform == "linux"');

    // Assess
    expect(marker).toMatchObject({ lhs: { kind: 'variable', name: 'sys_platform' } });
  });

  it('refuses an unquoted version with the column of the problem', () => {
    // Act
    const act = (): unknown => parseMarker('python_version >= 3.8');

    // Assess
    expect(act).toThrow(/column 19/);
  });
});

describe('evaluateMarker', () => {
  const python311 = markerEnvironment(lambdaTarget('python3.11', 'x86_64'));
  const python312Arm = markerEnvironment(lambdaTarget('python3.12', 'arm64'));

  it('compares versions as versions, not as strings', () => {
    // Act
    const result = evaluateMarker(parseMarker('python_version > "3.9"'), python311);

    // Assess: as strings "3.11" < "3.9"
    expect(result).toBe(true);
  });

  it('evaluates for the target, not the host', () => {
    // Act
    const onArm = evaluateMarker(parseMarker('platform_machine == "aarch64"'), python312Arm);
    const onX86 = evaluateMarker(parseMarker('platform_machine == "aarch64"'), python311);

    // Assess
    expect([onArm, onX86]).toEqual([true, false]);
  });

  it('compares extras normalized, and is false for an extra when none is given', () => {
    // Prepare
    const marker = parseMarker('extra == "Socks_Proxy"');

    // Act
    const results = [
      evaluateMarker(marker, python311, 'socks-proxy'),
      evaluateMarker(marker, python311, 'SOCKS.proxy'),
      evaluateMarker(marker, python311),
      evaluateMarker(marker, python311, 'other'),
    ];

    // Assess
    expect(results).toEqual([true, true, false, false]);
  });

  it('never orders non-version strings, as packaging 26 does (< and > are false, <= and >= mean ==)', () => {
    // Act
    const results = [
      'platform_system > "Darwin"',
      'platform_system < "Zebra"',
      'platform_system >= "Linux"',
    ].map((text) => evaluateMarker(parseMarker(text), python311));

    // Assess
    expect(results).toEqual([false, false, true]);
  });

  it('compares pre, post and dev releases in markers as packaging 26 does', () => {
    // Prepare: the runtime's real patch level, a final release.
    const environment = { ...python311, python_full_version: '3.11.0', implementation_version: '3.11.0' };

    // Act
    const results = [
      'python_full_version > "3.11.0rc1"',
      'implementation_version < "3.11.0.post1"',
      'python_version == "3.11.0.*"',
      'python_full_version < "3.11.0.post1"',
      'python_full_version >= "3.11.0.dev0"',
    ].map((text) => evaluateMarker(parseMarker(text), environment));

    // Assess
    expect(results).toEqual([true, true, true, true, true]);
  });

  it('refuses ~= between strings that are not versions, as packaging raises UndefinedComparison', () => {
    // Act
    const act = (): boolean => evaluateMarker(parseMarker('os_name ~= "posix"'), python311);

    // Assess
    expect(act).toThrow(InputError);
  });

  it.skipIf(!packagingAvailable())(
    `agrees with packaging on ${MARKERS.length} markers × 3 targets × 3 extras${packagingAvailable() ? '' : ` (skipped: ${NO_PACKAGING_REASON})`}`,
    () => {
      // Prepare
      const environments = [python311, python312Arm, markerEnvironment(lambdaTarget('python3.10', 'x86_64'))];
      const cases = MARKERS.flatMap((marker) =>
        environments.flatMap((environment) =>
          [null, 'socks', 'Socks.Proxy'].map((extra) => ({ marker, environment, extra })),
        ),
      );
      const oracle = JSON.parse(
        execFileSync('python3', ['-c', PACKAGING_ORACLE], {
          input: JSON.stringify({ requirements: [], markers: cases }),
          encoding: 'utf8',
        }),
      ) as { markers: { ok: boolean; value?: boolean }[] };

      // Act
      const ours = cases.map((entry) => ({
        ...entry,
        value: evaluateMarker(parseMarker(entry.marker), entry.environment, entry.extra),
      }));

      // Assess
      expect(oracle.markers.every((entry) => entry.ok)).toBe(true);
      expect(
        ours.map(
          (entry) =>
            `${entry.marker} | ${entry.environment.python_version} ${entry.environment.platform_machine} | ${entry.extra} => ${entry.value}`,
        ),
      ).toEqual(
        cases.map(
          (entry, index) =>
            `${entry.marker} | ${entry.environment.python_version} ${entry.environment.platform_machine} | ${entry.extra} => ${oracle.markers[index]?.value}`,
        ),
      );
    },
  );
});

describe('requirementApplies', () => {
  const environment = markerEnvironment(lambdaTarget('python3.11', 'x86_64'));

  it('applies a requirement without a marker', () => {
    // Act
    const applies = requirementApplies(parseRequirement('requests'), environment);

    // Assess
    expect(applies).toBe(true);
  });

  it('applies an extra-only requirement only when that extra is requested', () => {
    // Prepare
    const requirement = parseRequirement('PySocks!=1.5.7,>=1.5.6; extra == "socks"');

    // Act
    const results = [
      requirementApplies(requirement, environment),
      requirementApplies(requirement, environment, ['security']),
      requirementApplies(requirement, environment, ['security', 'SOCKS']),
    ];

    // Assess
    expect(results).toEqual([false, false, true]);
  });

  it('applies a requirement whose marker holds without an extra even when extras are requested', () => {
    // Prepare
    const requirement = parseRequirement('tomli; python_version < "3.12"');

    // Act
    const applies = requirementApplies(requirement, environment, ['socks']);

    // Assess
    expect(applies).toBe(true);
  });

  it('does not apply a requirement whose marker fails for the target', () => {
    // Prepare
    const requirement = parseRequirement('tomli; python_version < "3.11"');

    // Act
    const applies = requirementApplies(requirement, environment, ['socks']);

    // Assess
    expect(applies).toBe(false);
  });
});
