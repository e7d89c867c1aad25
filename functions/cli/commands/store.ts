// `lambda-deps store`: the two object-store moves the build needs (fetch the lock, upload the
// artifacts), against S3 or a folder depending on LAMBDA_DEPS_STORE (`s3://bucket` or
// `file:///dir`), and `store build`, the Build step in one process: both moves around
// `lambda-deps build`. The buildspec uses it instead of `aws s3 cp`, so the local build runner
// runs the very same commands. The S3 store (and so the AWS SDK) is loaded only for `s3://`.
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { Command } from 'commander';
import { InputError } from '../../core/shared/errors.ts';
import { assertSafeKey, FolderObjectStore } from '../../adapters/local/folder-object-store.ts';
import type { LeasingObjectStore, ObjectStore } from '../../adapters/ports.ts';
import { LINK_OUTPUTS_VARIABLE } from '../../core/build/build-events.ts';
import { eachSettled } from '../../core/shared/each-settled.ts';
import { objectDigestsFolder, rememberObjectDigest } from '../../adapters/local/object-digests.ts';

/** Opens the store LAMBDA_DEPS_STORE names. */
export async function openStore(location: string | undefined): Promise<ObjectStore> {
  if (!location) {
    throw new InputError('LAMBDA_DEPS_STORE is not set.', {
      hint: 'Set it to s3://BUCKET or file:///absolute/folder.',
    });
  }
  if (location.startsWith('file://')) return FolderObjectStore.fromLocation(location);
  const bucket = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/?$/.exec(location)?.[1];
  if (bucket) {
    const { S3ObjectStore } = await import('../../adapters/aws/s3-object-store.ts');
    return new S3ObjectStore(bucket);
  }
  throw new InputError(`LAMBDA_DEPS_STORE="${location}" is neither s3://BUCKET nor file:///folder.`, {
    hint: 'For example LAMBDA_DEPS_STORE=s3://my-artifacts or LAMBDA_DEPS_STORE=file:///tmp/store.',
  });
}

/** Every file below `root`, `/`-separated, sorted. */
async function filesBelow(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
}

/** Objects uploaded at once by putDirectory. */
const PUTS_AT_ONCE = 4;

/**
 * Upload every file of `directory` under `prefix`; manifest.json last, so its presence means
 * "complete". `handOver`: the files are the store's to take (ObjectStore.putFileHandedOver),
 * for a folder nothing reads once it is uploaded.
 */
export async function putDirectory(
  store: ObjectStore,
  directory: string,
  prefix: string,
  { handOver = false }: { handOver?: boolean } = {},
): Promise<string[]> {
  const normalized = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  if (normalized !== '') assertSafeKey(normalized.slice(0, -1));
  const files = await filesBelow(resolve(directory));
  const putOne =
    handOver && store.putFileHandedOver
      ? store.putFileHandedOver.bind(store)
      : (key: string, path: string, contentType?: string) => store.putFile(key, path, contentType);
  const put = (file: string): Promise<void> =>
    putOne(
      `${normalized}${file}`,
      join(directory, ...file.split('/')),
      file.endsWith('.json') ? 'application/json' : undefined,
    );
  // The others a few at a time (the seed set's upload: 20 ms, one at a time 30-38 ms), and only
  // once all of them are in, the manifest.
  const others = files.filter((file) => file !== 'manifest.json');
  await eachSettled(others, PUTS_AT_ONCE, put);
  const last = files.filter((file) => file === 'manifest.json');
  for (const file of last) await put(file);
  return [...others, ...last].map((file) => `${normalized}${file}`);
}

/** `KEY FILE KEY FILE …` as pairs; an odd count is an InputError (a file would be missing). */
function keyFilePairs(values: readonly string[]): [string, string][] {
  if (values.length % 2 !== 0)
    throw new InputError(`store get takes KEY FILE pairs; "${values.at(-1) ?? ''}" has no file.`, {
      hint: 'Give a file after every key: store get KEY1 FILE1 KEY2 FILE2.',
    });
  const pairs: [string, string][] = [];
  for (let index = 0; index < values.length; index += 2)
    pairs.push([values[index] ?? '', values[index + 1] ?? '']);
  return pairs;
}

/** What `store build` reads and writes, relative to the folder it runs in (CodeBuild's source folder). */
const BUILD_STEP_FILES = { lock: 'lock.json', policy: 'policy.json', out: 'out', failed: 'failed' } as const;

/** A build's manifest.json as JSON, null when it is missing or not JSON (the build's exit status says why). */
async function readBuildManifest(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8').catch(() => null);
  try {
    return text === null ? null : (JSON.parse(text) as unknown);
  } catch {
    return null;
  }
}

/** LOCK_HASH and BUILD_STRATEGY of a build's manifest, a line each for the shell ('' when unknown). */
function buildExports(parsed: unknown): string {
  const manifest = (parsed ?? {}) as { lockHash?: unknown; strategy?: unknown };
  const lockHash = typeof manifest.lockHash === 'string' && /^[0-9a-f]{64}$/.test(manifest.lockHash);
  const strategy = typeof manifest.strategy === 'string' && /^(layers|image|efs)$/.test(manifest.strategy);
  return `${lockHash ? String(manifest.lockHash) : ''}\n${strategy ? String(manifest.strategy) : ''}\n`;
}

/** Each layer zip's file and sha256 as the build's manifest names them (none from a manifest that is not one). */
function layerDigestsOf(parsed: unknown): { file: string; sha256: string }[] {
  const layers = (parsed as { layers?: unknown } | null)?.layers;
  if (!Array.isArray(layers)) return [];
  return layers.flatMap((layer: { file?: unknown; sha256?: unknown } | null) =>
    typeof layer?.file === 'string' && typeof layer.sha256 === 'string'
      ? [{ file: layer.file, sha256: layer.sha256 }]
      : [],
  );
}

/**
 * For a local probe of this upload: each layer zip's digest, remembered by its object's identity
 * now that it lies in the store, so that the probe neither copies nor hashes the zips (the seed
 * set's 71 MB: about 120 ms). Only a store that tells identities (the local folder) gets them,
 * and a memo that cannot be written is only a miss.
 */
async function rememberUploadedLayers(
  store: ObjectStore & Partial<Pick<LeasingObjectStore, 'identity'>>,
  prefix: string,
  layers: readonly { file: string; sha256: string }[],
  cacheDir: string,
): Promise<void> {
  if (!store.identity || layers.length === 0) return;
  const folder = objectDigestsFolder(cacheDir);
  for (const { file, sha256 } of layers) {
    const key = `${prefix}${file}`;
    const identity = await store.identity(key);
    if (identity !== null)
      await rememberObjectDigest(folder, { key, identity }, sha256).catch(() => undefined);
  }
}

/**
 * The Build step: fetch the lock and the delivery policy Measure stored beside the artifacts,
 * run `lambda-deps build` on them in this process, write the exports, then upload `out/` under
 * the prefix, or, after a failed build, only its manifest under `failed/` (for the report).
 * One process instead of four (store get, build, a node for the exports, store put-dir): each
 * start of the CLI costs a few hundred milliseconds.
 * @returns the build's exit status
 */
async function runBuildStep(
  lockKey: string,
  prefix: string,
  options: { cacheDir: string; exports: string },
): Promise<number> {
  // The build log's record of the node it ran on (the buildspec starts no `node --version` for it).
  process.stderr.write(`lambda-deps store build on node ${process.version} (${process.arch})\n`);
  assertSafeKey(lockKey);
  if (!prefix.endsWith('/')) throw new InputError(`The artifact prefix "${prefix}" must end in /.`);
  assertSafeKey(prefix.slice(0, -1));
  const opened = await openStore(process.env.LAMBDA_DEPS_STORE);
  const files = BUILD_STEP_FILES;
  for (const [key, path] of [
    [lockKey, files.lock],
    [`${prefix}policy.json`, files.policy],
  ] as const) {
    await opened.getToFile(key, path);
    process.stderr.write(`got ${opened.location}/${key} -> ${path}\n`);
  }
  const { runCli } = await import('../program.ts');
  // out/ is this step's own, read by nothing but the upload below: links to the build cache's
  // files instead of a second copy of every layer (the seed set's 71 MB: up to 0.14 s here).
  process.env[LINK_OUTPUTS_VARIABLE] = '1';
  const [node = process.execPath, script = ''] = process.argv;
  const status = await runCli([
    node,
    script,
    'build',
    files.lock,
    '--out',
    files.out,
    '--policy-file',
    files.policy,
    '--cache-dir',
    options.cacheDir,
    '--json',
  ]);
  const manifest = join(files.out, 'manifest.json');
  // (Parsed once, for the exports and for the digests remembered after the upload.)
  const parsedManifest = await readBuildManifest(manifest);
  await writeFile(options.exports, buildExports(parsedManifest));
  if (status === 0) {
    // The step's out/ holds links to the cache's files, which nothing writes in place, and is read
    // by nothing after this: the store may take the files themselves.
    const layers = layerDigestsOf(parsedManifest);
    const keys = await putDirectory(opened, files.out, prefix, { handOver: true });
    process.stderr.write(`put ${keys.length} objects under ${opened.location}/${prefix}\n`);
    await rememberUploadedLayers(opened, prefix, layers, options.cacheDir);
  } else if ((await readFile(manifest).catch(() => null)) !== null) {
    await mkdir(files.failed, { recursive: true });
    await copyFile(manifest, join(files.failed, 'manifest.json'));
    await putDirectory(opened, files.failed, `${prefix}failed/`);
    process.stderr.write(`put the failed build's manifest under ${opened.location}/${prefix}failed/\n`);
  }
  return status;
}

export function createStoreCommand(): Command {
  const store = new Command('store').description(
    'Copy objects between this machine and the artifact store named by LAMBDA_DEPS_STORE (s3://BUCKET or file:///folder).',
  );
  store
    .command('get')
    .description('Download objects to files: one KEY FILE pair, or more (one process fetches them all).')
    .argument('<key>', 'object key, e.g. locks/<lockHash>.json')
    .argument('<file>', 'where to write it')
    .argument('[more...]', 'further KEY FILE pairs')
    .action(async (key: string, file: string, more: string[]) => {
      const pairs = keyFilePairs([key, file, ...more]);
      for (const [each] of pairs) assertSafeKey(each);
      const opened = await openStore(process.env.LAMBDA_DEPS_STORE);
      for (const [each, path] of pairs) {
        await opened.getToFile(each, path);
        process.stderr.write(`got ${opened.location}/${each} -> ${path}\n`);
      }
    });
  store
    .command('put-dir')
    .description('Upload every file of a folder under a key prefix (manifest.json last).')
    .argument('<dir>', 'folder to upload')
    .argument('<prefix>', 'key prefix, e.g. artifacts/<lockHash>/')
    .action(async (directory: string, prefix: string) => {
      const opened = await openStore(process.env.LAMBDA_DEPS_STORE);
      const keys = await putDirectory(opened, directory, prefix);
      process.stderr.write(`put ${keys.length} objects under ${opened.location}/${prefix}\n`);
    });
  store
    .command('build')
    .description(
      "The pipeline's Build step in one process (buildspecs/build.yml): get the lock and <prefix>policy.json, build them into out/, write the exports file, then put out/ under the prefix (after a failed build, only its manifest, under <prefix>failed/). Exit status as lambda-deps build's.",
    )
    .argument('<lock-key>', 'key of the lock, e.g. locks/<lockHash>.json')
    .argument('<prefix>', 'artifact key prefix ending in /, e.g. artifacts/<artifactKey>/')
    .requiredOption('--cache-dir <dir>', 'the build cache')
    .requiredOption('--exports <file>', "where to write the manifest's lockHash and strategy, a line each")
    .action(async (lockKey: string, prefix: string, options: { cacheDir: string; exports: string }) => {
      process.exitCode = await runBuildStep(lockKey, prefix, options);
    });
  store.addHelpText(
    'after',
    '\nExamples:\n  $ LAMBDA_DEPS_STORE=s3://my-bucket lambda-deps store get locks/abc.json lock.json\n  $ LAMBDA_DEPS_STORE=file:///tmp/store lambda-deps store put-dir out artifacts/abc/\n  $ LAMBDA_DEPS_STORE=file:///tmp/store lambda-deps store build locks/abc.json artifacts/abc/ --cache-dir /tmp/cache --exports exports.txt > build-result.json',
  );
  return store;
}
