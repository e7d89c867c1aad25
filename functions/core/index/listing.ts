// Listing a project's files across every index and find-links location: file:// index folders,
// remote simple pages (JSON preferred, HTML otherwise), find-links folders and pages. A remote
// page may link only to http(s) files, never to file: URLs on the build host; a local location
// must exist; only an index whose host name does not resolve is left out (with an event), as pip
// does, and only when other locations remain.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { IndexUnreachableError, InputError } from '../shared/errors.ts';
import { redactUrl } from '../shared/redact.ts';
import type { DistributionFile } from '../shared/types.ts';
import { memo } from './context.ts';
import type { IndexContext } from './context.ts';
import { readRegularFile } from './local-files.ts';
import { assertLocalLocationsExist, toUrl } from './locations.ts';
import {
  normalizeName,
  parseSimpleHtmlPage,
  parseSimpleJsonPage,
  projectOfFilename,
} from './simple-pages.ts';
import { describeFault, header, hostNotFound, readBody, TransientError } from './transport.ts';
import type { HttpResponse } from './transport.ts';

const SIMPLE_JSON = 'application/vnd.pypi.simple.v1+json';
const ACCEPT_INDEX = `${SIMPLE_JSON}, application/vnd.pypi.simple.latest+json;q=0.9, text/html;q=0.1`;

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/** An http(s) page that links to the build host's own files (or any non-web scheme) is refused. */
function refuseLocalLinks(files: DistributionFile[], pageUrl: string): DistributionFile[] {
  const local = files.find((file) => !/^https?:/i.test(file.url));
  if (local) {
    throw new InputError(
      `The page ${redactUrl(pageUrl)} links ${local.filename} to ${local.url}; a page served over http(s) may link only to http(s) files.`,
      {
        packageName: projectOfFilename(local.filename),
        hint: 'The index tries to make the build read files from this machine. Do not use it; if the wheels really are local, name their folder with --find-links.',
      },
    );
  }
  return files;
}

/** A local page file, or null when it is not there (which the watch is told too: it may appear later). */
async function readOptional(context: IndexContext, path: string): Promise<string | null> {
  await context.watch?.read(path);
  try {
    return (await readRegularFile(path, context.maxPageBytes)).toString('utf8');
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return null;
    throw error;
  }
}

export interface IndexLocations {
  readonly indexUrls: readonly string[];
  readonly findLinks: readonly string[];
}

/**
 * The lister of one index client. Kept as one closure (about 160 lines) on purpose: its inner
 * functions share the per-client memo maps, the seen-URL set and the index/find-links locations,
 * so each page is fetched once per client; as top-level functions they would take all of that
 * as arguments.
 * @example const listing = createListing(context, { indexUrls, findLinks }); await listing.listFiles('six');
 */
export function createListing(
  context: IndexContext,
  { indexUrls, findLinks }: IndexLocations,
): { listFiles(name: string): Promise<readonly DistributionFile[]> } {
  const listings = new Map<string, Promise<readonly DistributionFile[]>>();
  const findLinkPages = new Map<string, Promise<DistributionFile[]>>();
  const checked = new Map<string, Promise<void>>();
  /**
   * Indexes whose host name does not resolve (ENOTFOUND), left out for the rest of the run. pip
   * warns and goes on with the other indexes in that case (here: PyPI named by default on a machine
   * without internet); a host that exists but fails (5xx, timeouts) stays an error, so a flaky index
   * can never silently change a lock.
   */
  const skippedIndexes = new Map<string, string>();
  const otherSources = indexUrls.length + findLinks.length > 1;

  async function readLocalPage(
    path: string,
    pageUrl: string,
    source: string,
  ): Promise<DistributionFile[] | null> {
    const json = await readOptional(context, join(path, 'index.json'));
    if (json !== null) {
      let page: unknown;
      try {
        page = JSON.parse(json);
      } catch (error) {
        throw new IndexUnreachableError(
          `${join(path, 'index.json')} is not valid JSON (${describeFault(error)}).`,
          {
            hint: `Regenerate the file:// index ${source}, or remove the broken index.json so index.html is used.`,
            cause: error,
          },
        );
      }
      return parseSimpleJsonPage(page, pageUrl, source);
    }
    const html = await readOptional(context, join(path, 'index.html'));
    return html === null ? null : parseSimpleHtmlPage(html, pageUrl, source);
  }

  async function remotePage(
    response: HttpResponse,
    source: string,
    json: boolean,
  ): Promise<DistributionFile[]> {
    if (response.statusCode === 404) {
      await response.body.dump();
      return [];
    }
    const body = await readBody(response, context.maxPageBytes);
    const type = header(response, 'content-type') ?? '';
    if (json && /application\/vnd\.pypi\.simple\.(v1|latest)\+json/.test(type)) {
      let page: unknown;
      try {
        page = JSON.parse(body.toString('utf8'));
      } catch (error) {
        throw new TransientError(`${response.url} sent JSON that does not parse`, { cause: error });
      }
      return refuseLocalLinks(parseSimpleJsonPage(page, response.url, source), response.url);
    }
    return refuseLocalLinks(parseSimpleHtmlPage(body.toString('utf8'), response.url, source), response.url);
  }

  async function listFromIndex(indexUrl: string, name: string): Promise<DistributionFile[]> {
    const pageUrl = `${withSlash(toUrl(indexUrl))}${encodeURIComponent(name)}/`;
    if (pageUrl.startsWith('file:')) {
      return (await readLocalPage(fileURLToPath(pageUrl), pageUrl, indexUrl)) ?? [];
    }
    if (skippedIndexes.has(indexUrl)) return [];
    try {
      const accept = { headers: { accept: ACCEPT_INDEX } };
      return await context.transport.send(pageUrl, indexUrl, accept, (response) =>
        remotePage(response, redactUrl(indexUrl), true),
      );
    } catch (error) {
      if (!otherSources || !hostNotFound(error)) throw error;
      if (!skippedIndexes.has(indexUrl)) {
        const reason = describeFault((error as Error).cause ?? error);
        skippedIndexes.set(indexUrl, reason);
        context.emit({ type: 'index-skipped', index: redactUrl(indexUrl), reason });
      }
      return [];
    }
  }

  async function readFindLinks(location: string): Promise<DistributionFile[]> {
    const url = toUrl(location);
    if (!url.startsWith('file:')) {
      const accept = { headers: { accept: 'text/html' } };
      return context.transport.send(url, location, accept, (response) =>
        remotePage(response, redactUrl(location), false),
      );
    }
    const path = fileURLToPath(url);
    // A folder's own identity moves when an entry is added, removed or renamed.
    await context.watch?.read(path);
    const info = await stat(path);
    if (info.isFile()) {
      return parseSimpleHtmlPage(
        (await readRegularFile(path, context.maxPageBytes)).toString('utf8'),
        url,
        location,
      );
    }
    const files: DistributionFile[] = [];
    for (const filename of (await readdir(path)).sort()) {
      if (!projectOfFilename(filename)) continue;
      const full = join(path, filename);
      // Its size is listed, so a file written in place changes the listing.
      await context.watch?.read(full);
      const entry = await stat(full).catch(() => null);
      if (!entry?.isFile()) continue;
      // The hash is computed only when a file is measured or downloaded, never to list it.
      files.push({
        filename,
        url: pathToFileURL(full).href,
        sha256: null,
        requiresPython: null,
        yanked: false,
        size: entry.size,
        metadataUrl: null,
        metadataSha256: null,
        source: location,
      });
    }
    return files;
  }

  function locationsExist(): Promise<void> {
    return memo(checked, '', async () => {
      await assertLocalLocationsExist(indexUrls, 'index');
      await assertLocalLocationsExist(findLinks, 'find-links');
    });
  }

  function listFiles(name: string): Promise<readonly DistributionFile[]> {
    const project = normalizeName(name);
    return memo(listings, project, async () => {
      await locationsExist();
      const lists = await Promise.all([
        ...indexUrls.map((indexUrl) => listFromIndex(indexUrl, project)),
        ...findLinks.map(async (location) =>
          (await memo(findLinkPages, location, () => readFindLinks(location))).filter(
            (file) => projectOfFilename(file.filename) === project,
          ),
        ),
      ]);
      const seen = new Set<string>();
      const merged: DistributionFile[] = [];
      for (const file of lists.flat()) {
        const key = `${file.filename}\0${file.sha256 ?? file.url}`;
        if (seen.has(key)) continue;
        seen.add(key);
        merged.push(file);
      }
      return merged;
    });
  }

  return { listFiles };
}
