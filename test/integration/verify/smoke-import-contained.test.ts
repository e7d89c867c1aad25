// A hostile wheel, built here and installed by the real installer, whose import tries what
// package code of an attacker would: read the runner's environment through /proc/<ppid>/environ,
// find the runner's variables in its own environment, read a credentials file, write outside
// its scratch (world-writable /tmp and the artifact itself), and open a socket to a loopback
// server. The smoke import must contain every attempt, and say how it was contained.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installWheel, lambdaInterpreter } from '../../../functions/core/build/wheel-installer.ts';
import { DEFAULT_SLIM_POLICY } from '../../../functions/core/build/slim-policy.ts';
import { findTargetInterpreter, smokeImport } from '../../../functions/core/verify/smoke-import.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { newCanary, startConnectionCounter, type ConnectionCounter } from '../../support/escape-witness.ts';
import { recordReliability } from '../../support/reliability-log.ts';

const execFileAsync = promisify(execFile);
const target = lambdaTarget('python3.11', 'x86_64');
const interpreter = await findTargetInterpreter(target);
const noInterpreter = 'reason' in interpreter ? interpreter.reason : null;
const skipNote = noInterpreter ? ` (skipped: ${noInterpreter})` : '';

/** The hostile module: tries each escape, then raises with what happened (so the import "fails" with the facts). */
const HOSTILE = String.raw`
import json, os, socket, sys
facts = {}
def attempt(name, action):
    try:
        action()
        facts[name] = "succeeded"
    except Exception as error:
        facts[name] = type(error).__name__
CONFIG = json.loads(open(os.path.join(os.path.dirname(__file__), "config.json")).read())
attempt("parentEnviron", lambda: open("/proc/%d/environ" % os.getppid(), "rb").read() or None)
attempt("runnerEnviron", lambda: open("/proc/%d/environ" % CONFIG["runnerPid"], "rb").read() or None)
attempt("credentials", lambda: open(CONFIG["credentials"]).read())
attempt("writeTmp", lambda: open(CONFIG["tmpTarget"], "w").write("escaped"))
attempt("writeArtifact", lambda: open(os.path.join(os.path.dirname(__file__), "planted.py"), "w").write("x"))
attempt("socket", lambda: socket.create_connection(("127.0.0.1", CONFIG["port"]), timeout=3).close())
attempt("writeScratch", lambda: open(os.path.join(os.environ["HOME"], "scratch.txt"), "w").write("mine"))
facts["canaryInEnvironment"] = any(CONFIG["canary"] in value for value in os.environ.values())
raise RuntimeError("@@facts " + json.dumps(facts))
`;

/** Writes a wheel holding the hostile package (with its config) to `out`; returns its path. */
async function writeHostileWheel(out: string, config: object): Promise<string> {
  const script = String.raw`
import base64, hashlib, sys, zipfile
out, hostile, config = sys.argv[1], sys.argv[2], sys.argv[3]
def digest(data):
    return 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
files = [
    ('hostile/__init__.py', hostile.encode()),
    ('hostile/config.json', config.encode()),
    ('hostile-1.0.dist-info/METADATA', b'Metadata-Version: 2.1\nName: hostile\nVersion: 1.0\n'),
    ('hostile-1.0.dist-info/WHEEL', b'Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n'),
    ('hostile-1.0.dist-info/top_level.txt', b'hostile\n'),
]
with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as archive:
    for name, data in files:
        archive.writestr(name, data)
    record = ''.join('%s,%s,%d\n' % (name, digest(data), len(data)) for name, data in files)
    archive.writestr('hostile-1.0.dist-info/RECORD', record + 'hostile-1.0.dist-info/RECORD,,\n')
`;
  const path = join(out, 'hostile-1.0-py3-none-any.whl');
  await execFileAsync('python3', ['-c', script, path, HOSTILE, JSON.stringify(config)]);
  return path;
}

let work = '';
let counter: ConnectionCounter;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-hostile-'));
  counter = await startConnectionCounter();
});
afterAll(async () => {
  await counter.close();
  await rm(work, { recursive: true, force: true });
});

describe('the smoke import of a hostile wheel', () => {
  it.skipIf(noInterpreter !== null)(
    `contains every escape the package code tries, and says how${skipNote}`,
    async () => {
      // Prepare
      const canary = newCanary();
      process.env.LAMBDA_DEPS_TEST_CANARY = canary;
      const credentials = join(work, 'credentials');
      await writeFile(credentials, `aws_secret_access_key = ${canary}\n`, { mode: 0o600 });
      const tmpTarget = join(tmpdir(), `lambda-deps-escaped-${process.pid}-${Date.now()}`);
      const config = { runnerPid: process.pid, credentials, tmpTarget, port: counter.port, canary };
      const wheelPath = await writeHostileWheel(work, config);
      const bytes = await readFile(wheelPath);
      const treeDir = join(work, 'tree');
      await installWheel({
        wheelPath,
        locked: {
          name: 'hostile',
          version: '1.0',
          filename: 'hostile-1.0-py3-none-any.whl',
          url: `file://${wheelPath}`,
          sha256: createHash('sha256').update(bytes).digest('hex'),
          size: bytes.length,
          unzippedSize: 0,
          tag: 'py3-none-any',
          requiredBy: ['<requirements>'],
        },
        treeDir,
        interpreter: lambdaInterpreter('3.11'),
        slim: DEFAULT_SLIM_POLICY,
      });
      await chmod(work, 0o700);

      // Act
      const result = await smokeImport({ roots: [join(treeDir, 'python')], target });

      // Assess
      delete process.env.LAMBDA_DEPS_TEST_CANARY;
      const error = result.failures.find((failure) => failure.module === 'hostile')?.error ?? '';
      const facts = JSON.parse(/@@facts (\{.*\})/.exec(error)?.[1] ?? '{}') as Record<string, unknown>;
      expect(result.isolation).toMatchObject({
        uid: true,
        network: true,
        filesystem: true,
        environment: true,
      });
      expect(facts).toEqual({
        parentEnviron: 'PermissionError',
        runnerEnviron: 'PermissionError',
        credentials: 'PermissionError',
        writeTmp: 'OSError',
        writeArtifact: 'OSError',
        socket: 'OSError',
        writeScratch: 'succeeded',
        canaryInEnvironment: false,
      });
      expect(await stat(tmpTarget).catch(() => null)).toBeNull();
      expect(await stat(join(treeDir, 'python', 'hostile', 'planted.py')).catch(() => null)).toBeNull();
      expect(counter.connections()).toBe(0);
      const escaped = Object.entries(facts).filter(
        ([name, value]) => name !== 'writeScratch' && (value === 'succeeded' || value === true),
      );
      recordReliability({
        area: 'smoke import',
        experiment:
          'hostile wheel: /proc/<ppid>/environ, runner environ, credentials file, write to /tmp and the artifact, socket to 127.0.0.1, canary in env',
        cases: 7,
        faultsInjected: 7,
        runs: 1,
        lost:
          escaped.length === 0 && counter.connections() === 0
            ? 'nothing'
            : `escaped: ${escaped.map(([name]) => name).join(', ')}`,
      });
    },
    120_000,
  );
});
