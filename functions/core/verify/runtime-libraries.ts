// Data: the shared libraries a Lambda Python runtime already has, so that verification can
// tell a DT_NEEDED the base image satisfies from one the artifact must bring along.
// Every entry says how sure we are. No AWS page lists the base images' libraries; what is
// `confirmed` follows from a stated source, the rest is `unconfirmed` and the verifier
// reports each use of an unconfirmed entry (so a wrong guess is visible, and the
// smoke import on the real runtime in CodeBuild fails loudly if the library is absent).
import { compareDottedVersions } from './elf.ts';
import type { Target } from '../shared/types.ts';

export type LibraryConfidence = 'confirmed' | 'unconfirmed';

export interface RuntimeLibrary {
  readonly soname: string;
  readonly confidence: LibraryConfidence;
  /** Why we believe it is there. */
  readonly source: string;
}

/** What a target's base image provides: its libraries and the libstdc++ symbol-version ceilings. */
export interface RuntimeLibrarySet {
  readonly os: string;
  readonly libraries: ReadonlyMap<string, RuntimeLibrary>;
  /** Highest GLIBCXX_ version its libstdc++.so.6 defines, or null when unknown. */
  readonly glibcxxCeiling: string | null;
  /** Highest CXXABI_ version its libstdc++.so.6 defines, or null when unknown. */
  readonly cxxabiCeiling: string | null;
  /** Where the ceilings come from. */
  readonly ceilingSource: string;
}

const GLIBC_SOURCE =
  'installed by glibc itself, which every Lambda runtime has (facts.md: AL2 glibc 2.26, AL2023 glibc 2.34); sonames from the glibc release';

/** glibc's own sonames, present in every glibc-based image of any version in our range. */
function glibcLibraries(machine: 'x86_64' | 'aarch64'): RuntimeLibrary[] {
  const loader = machine === 'x86_64' ? 'ld-linux-x86-64.so.2' : 'ld-linux-aarch64.so.1';
  return [
    loader,
    'libc.so.6',
    'libm.so.6',
    'libdl.so.2',
    'libpthread.so.0',
    'librt.so.1',
    'libutil.so.1',
    'libresolv.so.2',
    'libanl.so.1',
    'libBrokenLocale.so.1',
    'libthread_db.so.1',
  ].map((soname) => ({ soname, confidence: 'confirmed' as const, source: GLIBC_SOURCE }));
}

/**
 * Shared by both images. libgcc_s and libstdc++ are on PEP 599's manylinux2014 list of
 * libraries a wheel may assume (so auditwheel never bundles them) and scipy's manylinux
 * wheels, which need libstdc++.so.6, are widely used on Lambda: treated as confirmed.
 */
const COMMON: readonly RuntimeLibrary[] = [
  {
    soname: 'libgcc_s.so.1',
    confidence: 'confirmed',
    source: 'PEP 599 manylinux2014 allowed libraries; needed by the runtime interpreter itself',
  },
  {
    soname: 'libstdc++.so.6',
    confidence: 'confirmed',
    source: 'PEP 599 manylinux2014 allowed libraries; scipy wheels need it and import on Lambda',
  },
  {
    soname: 'libz.so.1',
    confidence: 'confirmed',
    source:
      "the libgfortran that numpy's and scipy's manylinux wheels bundle needs it and auditwheel leaves it out (on its allow-list); numpy imports on Lambda",
  },
  {
    soname: 'libexpat.so.1',
    confidence: 'unconfirmed',
    source: 'Python pyexpat may use the system expat; no AWS page lists it',
  },
  {
    soname: 'libbz2.so.1',
    confidence: 'unconfirmed',
    source: 'Python _bz2 links it on Amazon Linux builds; no AWS page lists it',
  },
  {
    soname: 'liblzma.so.5',
    confidence: 'unconfirmed',
    source: 'Python _lzma links it on Amazon Linux builds; no AWS page lists it',
  },
  {
    soname: 'libsqlite3.so.0',
    confidence: 'unconfirmed',
    source: 'Python _sqlite3 links it; no AWS page lists it',
  },
  {
    soname: 'libuuid.so.1',
    confidence: 'unconfirmed',
    source: 'util-linux libuuid, in both base images as far as known; not stated by AWS',
  },
];

/**
 * Amazon Linux 2 (python3.10, python3.11). glibc 2.26 still ships libcrypt.so.1 and libnsl.so.1.
 * OpenSSL 1.0.2k as libssl.so.10/libcrypto.so.10: seen in a listing of /lib64 on a Lambda AL2
 * runtime (awslabs/aws-media-replay-engine#13), which also shows libssl.so.3 is absent.
 */
const AMAZON_LINUX_2: readonly RuntimeLibrary[] = [
  { soname: 'libcrypt.so.1', confidence: 'confirmed', source: 'glibc 2.26 still provides libcrypt' },
  { soname: 'libnsl.so.1', confidence: 'confirmed', source: 'glibc 2.26 still provides libnsl' },
  {
    soname: 'libssl.so.10',
    confidence: 'confirmed',
    source: '/lib64 listing on Lambda AL2 (awslabs/aws-media-replay-engine#13)',
  },
  {
    soname: 'libcrypto.so.10',
    confidence: 'confirmed',
    source: 'OpenSSL 1.0.2k ships libssl.so.10 with libcrypto.so.10',
  },
  { soname: 'libffi.so.6', confidence: 'unconfirmed', source: 'AL2 ships libffi 3.0.13 (libffi.so.6)' },
];

/**
 * Amazon Linux 2023 (python3.12+), built from the AL2023 minimal image. glibc 2.34 no longer
 * builds libcrypt (libxcrypt replaces it) and a Lambda python3.12 runtime lacks libcrypt.so.1
 * (dashingsoft/pyarmor#2087): it is deliberately NOT listed. libnsl.so.1 is packaged apart from
 * glibc since 2.28 (Fedora's libnsl subpackage); whether the minimal image has it is unknown: not listed.
 */
const AMAZON_LINUX_2023: readonly RuntimeLibrary[] = [
  { soname: 'libssl.so.3', confidence: 'unconfirmed', source: 'AL2023 ships OpenSSL 3.0' },
  { soname: 'libcrypto.so.3', confidence: 'unconfirmed', source: 'AL2023 ships OpenSSL 3.0' },
  { soname: 'libcrypt.so.2', confidence: 'unconfirmed', source: 'AL2023 ships libxcrypt (libcrypt.so.2)' },
  { soname: 'libffi.so.8', confidence: 'unconfirmed', source: 'AL2023 ships libffi 3.4 (libffi.so.8)' },
];

function toMap(libraries: readonly RuntimeLibrary[]): ReadonlyMap<string, RuntimeLibrary> {
  return new Map(libraries.map((library) => [library.soname, library]));
}

/**
 * The libraries the target's base image provides. Custom targets (an image on another base)
 * get glibc's own libraries and libgcc_s/libstdc++ only, without C++ ceilings.
 */
export function runtimeLibraries(target: Target): RuntimeLibrarySet {
  const machine = target.architecture === 'arm64' ? 'aarch64' : 'x86_64';
  const glibc = glibcLibraries(machine);
  if (target.os === 'Amazon Linux 2') {
    return {
      os: target.os,
      libraries: toMap([...glibc, ...COMMON, ...AMAZON_LINUX_2]),
      // AL2's system compiler is GCC 7.3: libstdc++ 7 defines up to GLIBCXX_3.4.24 and CXXABI_1.3.11.
      glibcxxCeiling: '3.4.24',
      cxxabiCeiling: '1.3.11',
      ceilingSource:
        'libstdc++ of GCC 7.3, the system compiler of Amazon Linux 2 (unconfirmed for the Lambda image)',
    };
  }
  if (target.os === 'Amazon Linux 2023') {
    return {
      os: target.os,
      libraries: toMap([...glibc, ...COMMON, ...AMAZON_LINUX_2023]),
      // AL2023's system compiler is GCC 11: libstdc++ 11 defines up to GLIBCXX_3.4.29 and CXXABI_1.3.13.
      glibcxxCeiling: '3.4.29',
      cxxabiCeiling: '1.3.13',
      ceilingSource:
        'libstdc++ of GCC 11, the system compiler of Amazon Linux 2023 (unconfirmed for the Lambda image)',
    };
  }
  return {
    os: target.os,
    libraries: toMap([
      ...glibc,
      ...COMMON.filter(
        (library) => library.soname === 'libgcc_s.so.1' || library.soname === 'libstdc++.so.6',
      ),
    ]),
    glibcxxCeiling: null,
    cxxabiCeiling: null,
    ceilingSource: 'a custom target: its base image is unknown',
  };
}

/** True when `needed` is above `ceiling` (dotted versions); false when either is unknown. */
export function exceedsCeiling(needed: string | null, ceiling: string | null): boolean {
  return needed !== null && ceiling !== null && compareDottedVersions(needed, ceiling) > 0;
}
