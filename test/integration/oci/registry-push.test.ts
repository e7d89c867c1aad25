// Pushing Lambda images over the registry HTTP API, against Debian's docker-registry on
// 127.0.0.1, checked with skopeo. The real base (public.ecr.aws/lambda/python) cannot be fetched
// here (no network), so each test pushes a small synthetic base image first: real OCI/Docker
// manifests, a manifest list with an attestation entry, and tiny rootfs layers.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DOCKER_CONFIG,
  DOCKER_LAYER_GZIP,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_CONFIG,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  canonicalJson,
  createDependencyImageLayout,
  sha256Digest,
  type ImageConfig,
  type ImageManifest,
} from '../../../functions/core/deliver/oci/image-layout.ts';
import { pushLambdaImage, type PushEvent } from '../../../functions/core/deliver/oci/push-image.ts';
import { pushProbeImage } from '../../../functions/core/deliver/oci/probe-image.ts';
import { PROBE_SOURCE } from '../../../functions/probe-runtime/probe-source.ts';
import { RegistryClient, RegistryError } from '../../../functions/core/deliver/oci/registry-client.ts';
import { writeTreeTar } from '../../../functions/core/pack/tree-archive.ts';
import { customTarget, lambdaTarget } from '../../../functions/core/shared/targets.ts';
import type { Target } from '../../../functions/core/shared/types.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { recordReliability } from '../../support/reliability-log.ts';
import {
  NO_REGISTRY_REASON,
  NO_SKOPEO_REASON,
  registryAvailable,
  skopeoAvailable,
  startRegistry,
  type LocalRegistry,
} from './local-registry.ts';

const execFileAsync = promisify(execFile);
const cannotRun = !registryAvailable() || !skopeoAvailable();
const cannotRunReason = registryAvailable() ? NO_SKOPEO_REASON : NO_REGISTRY_REASON;
const target = lambdaTarget('python3.11', 'x86_64');
const BASE_REPOSITORY = 'lambda/python';

let workDir = '';
let registry: LocalRegistry | null = null;
let dependencyLayout = '';

async function skopeoInspect(
  reference: string,
): Promise<{ Digest: string; Architecture: string; Layers: string[] }> {
  const { stdout } = await execFileAsync('skopeo', [
    'inspect',
    '--tls-verify=false',
    `docker://${reference}`,
  ]);
  return JSON.parse(stdout) as { Digest: string; Architecture: string; Layers: string[] };
}

/** A tiny rootfs layer as a base image would have, gzip, with its digests. */
async function baseLayer(
  name: string,
  files: Record<string, string>,
): Promise<{ path: string; digest: string; size: number; diffId: string }> {
  const tree = await mkdtemp(join(workDir, `base-tree-${name}-`));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(tree, path, '..'), { recursive: true });
    await writeFile(join(tree, path), content);
  }
  const path = join(workDir, `base-${name}-${randomBytes(4).toString('hex')}.tar.gz`);
  const layer = await writeTreeTar(tree, path, { gzip: true });
  return { path, digest: layer.sha256, size: layer.size, diffId: layer.diffId ?? '' };
}

/**
 * Push a synthetic Lambda base: `3.11-x86_64` (Docker schema 2), `3.11-arm64` (OCI), and `3.11`, a
 * Docker manifest list naming both plus an attestation manifest (as buildx makes them).
 */
async function pushSyntheticBase(registryUrl: string): Promise<{ amd64Digest: string }> {
  const client = new RegistryClient({ registryUrl });
  const digests: Record<string, { digest: string; size: number; mediaType: string }> = {};
  for (const [architecture, docker] of [
    ['amd64', true],
    ['arm64', false],
  ] as const) {
    const layers = [
      await baseLayer(`os-${architecture}`, {
        'etc/os-release': `NAME="Amazon Linux"\nVERSION="2"\nARCH=${architecture}\n`,
        'var/lang/bin/python3.11': '#!placeholder interpreter\n',
      }),
      await baseLayer(`runtime-${architecture}`, { 'var/runtime/bootstrap.py': 'print("bootstrap")\n' }),
    ];
    for (const layer of layers)
      await client.uploadBlob(BASE_REPOSITORY, layer, { kind: 'file', path: layer.path });
    const config: ImageConfig = {
      architecture,
      os: 'linux',
      created: '2026-01-01T00:00:00Z',
      config: {
        Env: ['PATH=/var/lang/bin:/usr/bin', 'LAMBDA_TASK_ROOT=/var/task', 'LAMBDA_RUNTIME_DIR=/var/runtime'],
        Entrypoint: ['/lambda-entrypoint.sh'],
        WorkingDir: '/var/task',
      },
      rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
      history: [{ created_by: 'synthetic os' }, { created_by: 'synthetic runtime' }],
    };
    const configBytes = canonicalJson(config);
    const configDigest = sha256Digest(configBytes);
    await client.uploadBlob(
      BASE_REPOSITORY,
      { digest: configDigest, size: configBytes.length },
      { kind: 'bytes', bytes: configBytes },
    );
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: docker ? DOCKER_MANIFEST : OCI_MANIFEST,
      config: {
        mediaType: docker ? DOCKER_CONFIG : OCI_CONFIG,
        digest: configDigest,
        size: configBytes.length,
      },
      layers: layers.map((layer) => ({
        mediaType: docker ? DOCKER_LAYER_GZIP : OCI_LAYER_GZIP,
        digest: layer.digest,
        size: layer.size,
      })),
    };
    const bytes = canonicalJson(manifest);
    const tag = `3.11-${architecture === 'amd64' ? 'x86_64' : 'arm64'}`;
    const digest = await client.putManifest(BASE_REPOSITORY, tag, bytes, manifest.mediaType);
    digests[architecture] = { digest, size: bytes.length, mediaType: manifest.mediaType };
  }
  const amd64 = digests.amd64!;
  const arm64 = digests.arm64!;
  const list = {
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST_LIST,
    manifests: [
      {
        ...arm64,
        mediaType: DOCKER_MANIFEST,
        platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
      },
      {
        ...amd64,
        mediaType: DOCKER_MANIFEST,
        platform: { architecture: 'unknown', os: 'unknown' },
        annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
      },
      { ...amd64, mediaType: DOCKER_MANIFEST, platform: { architecture: 'amd64', os: 'linux' } },
    ],
  };
  await client.putManifest(BASE_REPOSITORY, '3.11', canonicalJson(list), DOCKER_MANIFEST_LIST);
  return { amd64Digest: amd64.digest };
}

/** A small dependency tree: a pure package and a few MB of incompressible data (so uploads take a moment). */
async function dependencyTree(megabytes: number): Promise<string> {
  const tree = await mkdtemp(join(workDir, 'deps-'));
  await mkdir(join(tree, 'sample_pkg'), { recursive: true });
  await writeFile(join(tree, 'sample_pkg', '__init__.py'), 'VALUE = 42\n');
  await writeFile(join(tree, 'sample_pkg', 'data.bin'), randomBytes(megabytes * 1024 * 1024));
  await mkdir(join(tree, 'sample_pkg-1.0.dist-info'));
  await writeFile(join(tree, 'sample_pkg-1.0.dist-info', 'METADATA'), 'Name: sample-pkg\nVersion: 1.0\n');
  return tree;
}

/** Every blob the manifest at `repository:tag` names is in the repository (or the tag is absent). */
async function tagState(
  client: RegistryClient,
  repository: string,
  tag: string,
): Promise<'absent' | { digest: string; complete: boolean }> {
  try {
    const manifest = await client.getManifest(repository, tag);
    const image = manifest.json as ImageManifest;
    const blobs = [image.config.digest, ...image.layers.map((layer) => layer.digest)];
    const present = await Promise.all(blobs.map((digest) => client.blobExists(repository, digest)));
    return { digest: manifest.digest, complete: present.every(Boolean) };
  } catch (error) {
    if (error instanceof RegistryError && error.status === 404) return 'absent';
    throw error;
  }
}

/**
 * A loopback proxy in front of the registry that "dies" at request number `failAt`: from then on
 * every connection is cut. At `failAt` itself it either cuts before forwarding, or forwards the
 * request (so the registry acts on it) and cuts before the answer reaches the client.
 */
async function dyingProxy(
  upstream: string,
  failAt: number,
  mode: 'before' | 'after',
): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  const upstreamUrl = new URL(upstream);
  let count = 0;
  // Requests already forwarded may still finish in the registry after the cut; close() waits
  // for them, so what the test sees afterwards is the registry's final state.
  const forwardedRequests: Promise<void>[] = [];
  const server: Server = createServer((request, response) => {
    const number = ++count;
    if (number > failAt || (number === failAt && mode === 'before')) {
      request.socket.destroy();
      return;
    }
    const forwarded = httpRequest(
      {
        host: upstreamUrl.hostname,
        port: upstreamUrl.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
      },
      (answer) => {
        if (number === failAt) {
          answer.resume();
          answer.on('end', () => request.socket.destroy());
          return;
        }
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    forwardedRequests.push(new Promise((done) => forwarded.once('close', () => done())));
    forwarded.on('error', () => request.socket.destroy());
    request.on('close', () => {
      if (!request.complete) forwarded.destroy();
    });
    request.pipe(forwarded);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => count,
    close: async () => {
      await new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      });
      await Promise.all(forwardedRequests);
    },
  };
}

describe.skipIf(cannotRun)(
  `pushLambdaImage against docker-registry on loopback${cannotRun ? ` (skipped: ${cannotRunReason})` : ''}`,
  () => {
    beforeAll(async () => {
      workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-oci-'));
      registry = await startRegistry(workDir, join(workDir, 'storage'));
      await pushSyntheticBase(registry.url);
      const layout = await createDependencyImageLayout({
        treeDir: await dependencyTree(2),
        outDir: join(workDir, 'layout'),
        target,
        installPrefix: '/var/task',
      });
      dependencyLayout = layout.layoutDir;
    });

    afterAll(async () => {
      await registry?.stop();
      if (workDir) await rm(workDir, { recursive: true, force: true });
    });

    it('puts the dependency layer on the single-arch base chosen from a manifest list, and skopeo sees it', async () => {
      // Prepare
      const reg = registry!;

      // Act
      const pushed = await pushLambdaImage({
        layoutDir: dependencyLayout,
        target,
        base: { registryUrl: reg.url, repository: BASE_REPOSITORY, reference: '3.11' },
        destination: { registryUrl: reg.url, repository: 'deps/web', tag: 'set-1' },
      });

      // Assess
      const inspected = await skopeoInspect(`${reg.host}/deps/web:set-1`);
      expect(inspected.Architecture).toBe('amd64');
      expect(inspected.Layers).toHaveLength(3);
      expect(inspected.Digest).toBe(pushed.digest);
      expect(pushed.imageUri).toBe(`${reg.host}/deps/web@${pushed.digest}`);
      expect(pushed.mountedBlobs).toBe(2);
      expect(pushed.uploadedBlobs).toBe(2);
      const copy = join(workDir, 'copied');
      await execFileAsync('skopeo', [
        'copy',
        '--src-tls-verify=false',
        `docker://${reg.host}/deps/web:set-1`,
        `oci:${copy}:set-1`,
      ]);
      const blobs = readdirSync(join(copy, 'blobs', 'sha256'));
      for (const layer of inspected.Layers) expect(blobs).toContain(layer.replace('sha256:', ''));
      const client = new RegistryClient({ registryUrl: reg.url });
      const manifest = (await client.getManifest('deps/web', 'set-1')).json as ImageManifest;
      const config = JSON.parse(
        (await client.getBlobBytes('deps/web', manifest.config.digest)).toString(),
      ) as ImageConfig;
      expect(manifest.mediaType).toBe(DOCKER_MANIFEST);
      expect(config.rootfs.diff_ids).toHaveLength(3);
      expect(config.config?.Env).toContain('LAMBDA_TASK_ROOT=/var/task');
      expect(config.config?.Entrypoint).toEqual(['/lambda-entrypoint.sh']);
      expect(config.history?.at(-1)?.created_by).toContain('under /var/task');
    });

    it('pushes a probe image beside the set image: the same layers plus /var/task/probe.py, the set image untouched', async () => {
      // Prepare
      const reg = registry!;
      const pushed = await pushLambdaImage({
        layoutDir: dependencyLayout,
        target,
        base: { registryUrl: reg.url, repository: BASE_REPOSITORY, reference: '3.11' },
        destination: { registryUrl: reg.url, repository: 'deps/probed', tag: 'set-1' },
      });

      // Act
      const probe = await pushProbeImage({
        destination: { registryUrl: reg.url, repository: 'deps/probed' },
        imageDigest: pushed.digest,
        tag: 'set-1-probe',
        probeSource: PROBE_SOURCE,
      });

      // Assess
      const set = await skopeoInspect(`${reg.host}/deps/probed:set-1`);
      const probed = await skopeoInspect(`${reg.host}/deps/probed:set-1-probe`);
      expect(set.Digest).toBe(pushed.digest);
      expect(probed.Digest).toBe(probe.digest);
      expect(probe.imageUri).toBe(`${reg.host}/deps/probed@${probe.digest}`);
      expect(probed.Layers.slice(0, -1)).toEqual(set.Layers);
      const client = new RegistryClient({ registryUrl: reg.url });
      const manifest = (await client.getManifest('deps/probed', 'set-1-probe')).json as ImageManifest;
      const config = JSON.parse(
        (await client.getBlobBytes('deps/probed', manifest.config.digest)).toString(),
      ) as ImageConfig;
      expect(config.rootfs.diff_ids).toHaveLength(manifest.layers.length);
      const layer = await client.getBlobBytes('deps/probed', manifest.layers.at(-1)?.digest ?? '');
      const unpacked = join(workDir, 'probe-layer');
      await mkdir(unpacked, { recursive: true });
      await writeFile(join(unpacked, 'layer.tar.gz'), layer);
      await execFileAsync('tar', ['-xzf', join(unpacked, 'layer.tar.gz'), '-C', unpacked]);
      expect(await readFile(join(unpacked, 'var', 'task', 'probe.py'), 'utf8')).toBe(PROBE_SOURCE);
    });

    it('uploads nothing the second time: every blob is already there', async () => {
      // Prepare
      const reg = registry!;
      const options = {
        layoutDir: dependencyLayout,
        target,
        base: { registryUrl: reg.url, repository: BASE_REPOSITORY, reference: '3.11-x86_64' },
        destination: { registryUrl: reg.url, repository: 'deps/again', tag: 'v1' },
      };
      const first = await pushLambdaImage(options);

      // Act
      const second = await pushLambdaImage(options);

      // Assess
      expect(second.digest).toBe(first.digest);
      expect(second.uploadedBlobs + second.mountedBlobs).toBe(0);
      expect(second.skippedBlobs).toBe(4);
    });

    it('copies base layers blob by blob from another registry, streamed', async () => {
      // Prepare
      const reg = registry!;
      const other = await startRegistry(workDir, join(workDir, 'other-storage'));
      const events: PushEvent[] = [];

      // Act
      const pushed = await pushLambdaImage({
        layoutDir: dependencyLayout,
        target,
        base: { registryUrl: reg.url, repository: BASE_REPOSITORY, reference: '3.11' },
        destination: { registryUrl: other.url, repository: 'mirror/deps', tag: 'v1' },
        onEvent: (event) => events.push(event),
        // Everything in PATCH requests: base layers streamed from registry to registry in one
        // PATCH each, the local layer in 256 KiB chunks.
        monolithicMaxBytes: 0,
        chunkSize: 256 * 1024,
      });

      // Assess
      try {
        expect(pushed.uploadedBlobs).toBe(4);
        expect(pushed.mountedBlobs).toBe(0);
        const inspected = await skopeoInspect(`${other.host}/mirror/deps:v1`);
        expect(inspected.Layers).toHaveLength(3);
        expect(inspected.Digest).toBe(pushed.digest);
        expect(events.at(-1)).toEqual({ type: 'manifest-pushed', digest: pushed.digest, tag: 'v1' });
      } finally {
        await other.stop();
      }
    });

    it('pushes the dependency layer alone when there is no base (a layer set, not a runnable image)', async () => {
      // Prepare
      const reg = registry!;

      // Act
      const pushed = await pushLambdaImage({
        layoutDir: dependencyLayout,
        target,
        base: null,
        destination: { registryUrl: reg.url, repository: 'deps/only', tag: 'v1' },
      });

      // Assess
      const inspected = await skopeoInspect(`${reg.host}/deps/only:v1`);
      expect(inspected.Layers).toHaveLength(1);
      expect(inspected.Architecture).toBe('amd64');
      expect(inspected.Digest).toBe(pushed.digest);
    });

    it('refuses a base of the wrong architecture before uploading anything', async () => {
      // Prepare
      const reg = registry!;

      // Act
      const pushing = pushLambdaImage({
        layoutDir: dependencyLayout,
        target,
        base: { registryUrl: reg.url, repository: BASE_REPOSITORY, reference: '3.11-arm64' },
        destination: { registryUrl: reg.url, repository: 'deps/wrong-arch', tag: 'v1' },
      });

      // Assess
      await expect(pushing).rejects.toThrow(/linux\/arm64 image; the target needs linux\/amd64/);
      expect(await tagState(new RegistryClient({ registryUrl: reg.url }), 'deps/wrong-arch', 'v1')).toBe(
        'absent',
      );
    });

    it('never moves the tag onto missing blobs when the registry dies at any request, and the retry resumes', async () => {
      // Prepare
      const reg = registry!;
      const direct = new RegistryClient({ registryUrl: reg.url });
      // Count the requests a whole push makes, through a proxy that never dies; then cut the
      // connection at each one of them in turn.
      const counting = await dyingProxy(reg.url, Number.MAX_SAFE_INTEGER, 'before');
      await pushLambdaImage({
        layoutDir: dependencyLayout,
        target,
        base: { registryUrl: counting.url, repository: BASE_REPOSITORY, reference: '3.11' },
        destination: { registryUrl: counting.url, repository: 'deps/fault-count', tag: 'v1' },
      });
      await counting.close();
      const cases: { failAt: number; mode: 'before' | 'after' }[] = [];
      for (let failAt = 1; failAt <= counting.requests(); failAt++) {
        for (const mode of ['before', 'after'] as const) cases.push({ failAt, mode });
      }
      let faults = 0;
      let resumedWithSkips = 0;
      let tagMovedBeforeCut = 0;
      const reference = await pushLambdaImage({
        layoutDir: dependencyLayout,
        target,
        base: { registryUrl: reg.url, repository: BASE_REPOSITORY, reference: '3.11' },
        destination: { registryUrl: reg.url, repository: 'deps/fault-reference', tag: 'v1' },
      });
      const referenceImage = (await direct.getManifest('deps/fault-reference', reference.digest))
        .json as ImageManifest;
      const imageBlobs = [
        referenceImage.config.digest,
        ...referenceImage.layers.map((layer) => layer.digest),
      ];

      for (const { failAt, mode } of cases) {
        const repository = `deps/fault-${failAt}-${mode}`;
        const proxy = await dyingProxy(reg.url, failAt, mode);

        // Act
        const failed = await pushLambdaImage({
          layoutDir: dependencyLayout,
          target,
          base: { registryUrl: proxy.url, repository: BASE_REPOSITORY, reference: '3.11' },
          destination: { registryUrl: proxy.url, repository, tag: 'v1' },
          retries: 1,
          retryDelayMs: 5,
        }).then(
          () => false,
          () => true,
        );
        await proxy.close();
        if (failed) faults++;
        const afterFailure = await tagState(direct, repository, 'v1');
        const alreadyThere = await Promise.all(
          imageBlobs.map((digest) => direct.blobExists(repository, digest)),
        );
        const retried = await pushLambdaImage({
          layoutDir: dependencyLayout,
          target,
          base: { registryUrl: reg.url, repository: BASE_REPOSITORY, reference: '3.11' },
          destination: { registryUrl: reg.url, repository, tag: 'v1' },
        });

        // Assess
        expect(retried.digest).toBe(reference.digest);
        if (afterFailure !== 'absent') {
          tagMovedBeforeCut++;
          expect(afterFailure.complete, `case ${failAt}/${mode}: tag points at missing blobs`).toBe(true);
          expect(afterFailure.digest).toBe(retried.digest);
        }
        expect(retried.skippedBlobs, `case ${failAt}/${mode}`).toBe(alreadyThere.filter(Boolean).length);
        if (retried.skippedBlobs > 0) resumedWithSkips++;
        expect(await tagState(direct, repository, 'v1')).toEqual({ digest: retried.digest, complete: true });
      }
      console.info(
        `image push faults: a push makes ${counting.requests()} requests; ${faults} of ${cases.length} cut pushes failed; ${resumedWithSkips} retries skipped blobs already there; ${tagMovedBeforeCut} left the tag on the new, complete image`,
      );
      // Even cut after the registry stored the manifest, the push fails: it never heard back.
      expect(faults).toBe(cases.length);
      expect(resumedWithSkips).toBeGreaterThan(0);
      recordReliability({
        area: 'image push',
        experiment:
          'registry connection cut at request N (before or after the registry acted), then push retried',
        cases: cases.length,
        faultsInjected: faults,
        runs: cases.length * 2,
        lost: 'nothing',
      });
    });

    it('resumes after the registry process is killed mid-push and restarted on the same storage; the tag keeps the old image until then', async () => {
      // Prepare
      let reg = registry!;
      const direct = (): RegistryClient => new RegistryClient({ registryUrl: reg.url });
      const old = await pushLambdaImage({
        layoutDir: dependencyLayout,
        target,
        base: null,
        destination: { registryUrl: reg.url, repository: 'deps/killed', tag: 'live' },
      });
      const newLayout = await createDependencyImageLayout({
        treeDir: await dependencyTree(6),
        outDir: join(workDir, 'layout-killed'),
        target,
        installPrefix: '/var/task',
      });
      let killing: Promise<void> | null = null;

      // Act
      const failure = await pushLambdaImage({
        layoutDir: newLayout.layoutDir,
        target,
        base: { registryUrl: reg.url, repository: BASE_REPOSITORY, reference: '3.11' },
        destination: { registryUrl: reg.url, repository: 'deps/killed', tag: 'live' },
        concurrency: 1,
        retries: 1,
        retryDelayMs: 5,
        onEvent: (event) => {
          if (event.type === 'blob-uploaded' && !killing) killing = reg.stop('SIGKILL');
        },
      }).then(
        () => null,
        (error: unknown) => error,
      );
      await killing;
      reg = await startRegistry(workDir, reg.storageDir, reg.port);
      registry = reg;
      const afterRestart = await tagState(direct(), 'deps/killed', 'live');
      const resumed = await pushLambdaImage({
        layoutDir: newLayout.layoutDir,
        target,
        base: { registryUrl: reg.url, repository: BASE_REPOSITORY, reference: '3.11' },
        destination: { registryUrl: reg.url, repository: 'deps/killed', tag: 'live' },
      });

      // Assess
      expect(failure).toBeInstanceOf(RegistryError);
      expect(afterRestart).toEqual({ digest: old.digest, complete: true });
      // One at a time: two base layers mounted, the dependency layer uploaded, then the kill; so
      // only the config is left to upload.
      expect([resumed.skippedBlobs, resumed.uploadedBlobs]).toEqual([3, 1]);
      expect(await tagState(direct(), 'deps/killed', 'live')).toEqual({
        digest: resumed.digest,
        complete: true,
      });
      const inspected = await skopeoInspect(`${reg.host}/deps/killed:live`);
      expect(inspected.Digest).toBe(resumed.digest);
      recordReliability({
        area: 'image push',
        experiment:
          'registry process SIGKILLed after the first blob, restarted on the same storage, push retried',
        cases: 1,
        faultsInjected: 1,
        runs: 2,
        lost: 'nothing',
      });
    });

    const torchWheel = ((): string | null => {
      for (const folder of localIndexes()?.findLinks ?? []) {
        const name = existsSync(folder)
          ? readdirSync(folder).find((file) => /^torch-.*-cp311-.*x86_64\.whl$/.test(file))
          : undefined;
        if (name) return join(folder, name);
      }
      return null;
    })();

    it.skipIf(torchWheel === null)(
      torchWheel
        ? 'pushes torch (a real 700 MB tree) on the base in one go'
        : `pushes torch (a real 700 MB tree) on the base in one go (skipped: ${localIndexes() ? 'no torch cp311 x86_64 wheel in the find-links folders' : NO_LOCAL_INDEXES_REASON})`,
      async () => {
        // Prepare
        const reg = registry!;
        const torchTarget: Target = customTarget({ python: '3.11', glibc: '2.34', arch: 'x86_64' });
        const tree = join(workDir, 'torch-tree');
        await mkdir(tree);
        await execFileAsync('unzip', ['-q', torchWheel!, '-d', tree], { maxBuffer: 1024 * 1024 });
        const layoutStarted = performance.now();
        const layout = await createDependencyImageLayout({
          treeDir: tree,
          outDir: join(workDir, 'torch-layout'),
          target: torchTarget,
          installPrefix: '/var/task',
          gzipLevel: 1,
        });
        const layoutSeconds = (performance.now() - layoutStarted) / 1000;
        await rm(tree, { recursive: true, force: true });

        // Act
        const started = performance.now();
        const pushed = await pushLambdaImage({
          layoutDir: layout.layoutDir,
          target: torchTarget,
          base: { registryUrl: reg.url, repository: BASE_REPOSITORY, reference: '3.11' },
          destination: { registryUrl: reg.url, repository: 'deps/torch', tag: 'cpu' },
        });
        const pushSeconds = (performance.now() - started) / 1000;

        // Assess
        const inspected = await skopeoInspect(`${reg.host}/deps/torch:cpu`);
        expect(inspected.Digest).toBe(pushed.digest);
        expect(inspected.Layers).toHaveLength(3);
        expect(inspected.Layers.at(-1)).toBe(layout.layerDigest);
        expect(layout.layerTarSize).toBeGreaterThan(500 * 1024 * 1024);
        console.info(
          `torch image: layer ${(layout.layerSize / 1024 ** 2).toFixed(0)} MB gzip (${(layout.layerTarSize / 1024 ** 2).toFixed(0)} MB tar), layout ${layoutSeconds.toFixed(1)} s, push ${pushSeconds.toFixed(1)} s`,
        );
        await rm(layout.layoutDir, { recursive: true, force: true });
      },
      240_000,
    );
  },
);
