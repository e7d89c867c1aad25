// A hostile sdist whose setup.py, run by the build backend, tries what an attacker's build code
// would: read the runner's environment (/proc/<ppid>/environ up the chain, and the runner's own
// pid), find the runner's variables in its own environment, read a credentials file, write
// outside its folder (host /tmp and the test's folder), and open a socket to a loopback server.
// The build runs in the smoke import's cell, so each attempt must fail as it does there; setup.py
// writes what happened into the wheel it builds, which the test reads.
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSdistForTarget, readSdistMetadata } from '../../../functions/core/sdist/index.ts';
import { sha256OfFile } from '../../../functions/core/shared/hash.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { findTargetInterpreter } from '../../../functions/core/verify/index.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { newCanary, startConnectionCounter, type ConnectionCounter } from '../../support/escape-witness.ts';
import { recordReliability } from '../../support/reliability-log.ts';
import { writeSdist, type SdistProject } from './sdist-projects.ts';

const run = promisify(execFile);
const target = lambdaTarget('python3.11', 'x86_64');
const indexes = localIndexes();
const interpreter = await findTargetInterpreter(target);
const skipped =
  'reason' in interpreter ? interpreter.reason : indexes === null ? NO_LOCAL_INDEXES_REASON : null;

/** setup.py: tries each escape, writes the facts into the package it builds, then builds it. */
const HOSTILE_SETUP = String.raw`
import json, os, socket
from setuptools import setup
CONFIG = json.loads(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.json")).read())
facts = {}
def attempt(name, action):
    try:
        action()
        facts[name] = "succeeded"
    except Exception as error:
        facts[name] = type(error).__name__
def ancestors_hold_canary():
    pid, seen = os.getppid(), 0
    while pid > 1 and seen < 30:
        seen += 1
        try:
            if CONFIG["canary"].encode() in open("/proc/%d/environ" % pid, "rb").read():
                return True
        except OSError:
            pass
        try:
            pid = int(open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return False
attempt("runnerEnviron", lambda: open("/proc/%d/environ" % CONFIG["runnerPid"], "rb").read() or None)
attempt("credentials", lambda: open(CONFIG["credentials"]).read())
attempt("writeTmp", lambda: open(CONFIG["tmpTarget"], "w").write("escaped"))
attempt("writeHostFolder", lambda: open(CONFIG["hostTarget"], "w").write("escaped"))
attempt("socket", lambda: socket.create_connection(("127.0.0.1", CONFIG["port"]), timeout=3).close())
facts["canaryInAncestors"] = ancestors_hold_canary()
facts["canaryInEnvironment"] = any(CONFIG["canary"] in value for value in os.environ.values())
os.makedirs("hostile_sdist", exist_ok=True)
with open(os.path.join("hostile_sdist", "__init__.py"), "w") as module:
    module.write('FACTS_JSON = """%s"""\n' % json.dumps(facts, sort_keys=True))
setup(packages=["hostile_sdist"])
`;

function hostileProject(config: object): SdistProject {
  return {
    name: 'hostile-sdist',
    version: '1.0',
    module: 'hostile_sdist',
    files: {
      'pyproject.toml':
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "hostile-sdist"\nversion = "1.0"\n',
      'setup.py': HOSTILE_SETUP,
      'config.json': JSON.stringify(config),
    },
  };
}

let work = '';
let counter: ConnectionCounter;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-hostile-sdist-'));
  counter = await startConnectionCounter();
});
afterAll(async () => {
  await counter.close();
  await rm(work, { recursive: true, force: true });
});

describe('building a hostile sdist', () => {
  it.skipIf(skipped !== null)(
    `contains every escape its setup.py tries, as the smoke import does${skipped ? ` (skipped: ${skipped})` : ''}`,
    async () => {
      // Prepare
      const canary = newCanary();
      process.env.LAMBDA_DEPS_TEST_CANARY = canary;
      const credentials = join(work, 'credentials');
      await writeFile(credentials, `aws_secret_access_key = ${canary}\n`, { mode: 0o600 });
      const tmpTarget = join(tmpdir(), `lambda-deps-sdist-escaped-${process.pid}-${Date.now()}`);
      const hostTarget = join(work, 'planted.txt');
      const config = {
        runnerPid: process.pid,
        credentials,
        tmpTarget,
        hostTarget,
        port: counter.port,
        canary,
      };
      const sdistPath = await writeSdist(hostileProject(config), join(work, 'sdist'), '2.2');
      await chmod(work, 0o700);

      // Act
      const built = await buildSdistForTarget({
        sdistPath,
        sha256: await sha256OfFile(sdistPath),
        name: 'hostile-sdist',
        version: '1.0',
        target,
        indexUrls: indexes?.indexUrls ?? [],
        findLinks: indexes?.findLinks ?? [],
        outDir: join(work, 'out'),
        cacheDir: null,
      }).finally(() => delete process.env.LAMBDA_DEPS_TEST_CANARY);

      // Assess: the facts setup.py wrote into the wheel it built.
      const { stdout } = await run('unzip', ['-p', built.wheelPath, 'hostile_sdist/__init__.py']);
      const facts = JSON.parse(/FACTS_JSON = """(.*)"""/.exec(stdout)?.[1] ?? '{}') as Record<
        string,
        unknown
      >;
      expect(built.sandboxed).toBe(true);
      expect(facts).toEqual({
        runnerEnviron: 'PermissionError',
        credentials: 'PermissionError',
        writeTmp: 'OSError',
        writeHostFolder: 'PermissionError',
        socket: 'OSError',
        canaryInAncestors: false,
        canaryInEnvironment: false,
      });
      expect(await stat(tmpTarget).catch(() => null)).toBeNull();
      expect(await stat(hostTarget).catch(() => null)).toBeNull();
      expect(counter.connections()).toBe(0);
      const escaped = Object.entries(facts).filter(([, value]) => value === 'succeeded' || value === true);
      recordReliability({
        area: 'sdist build',
        experiment:
          'hostile setup.py: runner environ, /proc/<ppid>/environ up the chain, credentials file, write to /tmp and a host folder, socket to 127.0.0.1, canary in env',
        cases: 7,
        faultsInjected: 7,
        runs: 1,
        lost:
          escaped.length === 0 && counter.connections() === 0
            ? 'nothing'
            : `escaped: ${escaped.map(([name]) => name).join(', ')}`,
      });
    },
    180_000,
  );

  it.skipIf(skipped !== null)(
    `contains the same setup.py while it only says its metadata (PKG-INFO 2.1: prepare_metadata_for_build_wheel)${skipped ? ` (skipped: ${skipped})` : ''}`,
    async () => {
      // Prepare: what escapes would leave behind is looked for outside the cell.
      const canary = newCanary();
      const tmpTarget = join(tmpdir(), `lambda-deps-sdist-metadata-escaped-${process.pid}-${Date.now()}`);
      const hostTarget = join(work, 'planted-by-metadata.txt');
      const config = {
        runnerPid: process.pid,
        credentials: join(work, 'credentials'),
        tmpTarget,
        hostTarget,
        port: counter.port,
        canary,
      };
      const sdistPath = await writeSdist(hostileProject(config), join(work, 'sdist-metadata'), '2.1');
      const before = counter.connections();

      // Act
      const metadata = await readSdistMetadata(sdistPath, 'hostile_sdist-1.0.tar.gz', 'hostile-sdist', {
        target,
        indexUrls: indexes?.indexUrls ?? [],
        findLinks: indexes?.findLinks ?? [],
      });

      // Assess: setup.py ran (the metadata is its), and nothing it tried reached the host.
      expect(metadata).toMatchObject({ name: 'hostile-sdist', version: '1.0' });
      expect(await stat(tmpTarget).catch(() => null)).toBeNull();
      expect(await stat(hostTarget).catch(() => null)).toBeNull();
      expect(counter.connections()).toBe(before);
    },
    180_000,
  );
});
