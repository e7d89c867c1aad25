import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderSizeReport } from '../../../functions/core/report/size-report.ts';
import { layerFilesOnDisk } from '../../../functions/core/report/report-page-file.ts';
import {
  colorsBySize,
  contrastRatio,
  PALETTE,
  textColorOn,
} from '../../../functions/core/report/treemap-svg.ts';
import {
  LAMBDA_IMAGE_LIMIT_BYTES,
  LAMBDA_UNZIPPED_LIMIT_BYTES,
  type MeasureResult,
} from '../../../functions/core/shared/types.ts';
import { formatBytes } from '../../../functions/core/shared/units.ts';
import { readRequirementsFile } from '../../../functions/core/inputs/requirements-file.ts';
import { describeError } from '../../../functions/core/shared/errors.ts';
import { bigImageRun, efsRun, imageRun, layersRun, notProbed, probed } from './report-fixtures.ts';
import { layersManifest, measureFailure } from './real-run-manifests.ts';

/** The page's visible text, roughly: tags, styles and the head left out. */
function visibleText(html: string): string {
  return html
    .replace(/<head>[\s\S]*<\/head>/, '')
    .replace(/<title>[\s\S]*?<\/title>/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#(\d+);/g, (_match, code: string) => String.fromCharCode(Number(code)))
    .replace(/\s+/g, ' ');
}

function attributesOf(html: string, name: string): string[] {
  return [...html.matchAll(new RegExp(`${name}="([^"]*)"`, 'g'))].map((match) => match[1] ?? '');
}

describe('the route budget on the report page', () => {
  it('states an image against the 10 GiB image limit, never against the 250 MiB layer limit', () => {
    // Act
    const html = renderSizeReport({ kind: 'build', manifest: bigImageRun() });

    // Assess
    const text = visibleText(html);
    expect(text).not.toMatch(/250 MiB/);
    expect(text).toContain(`of the route's limit of ${formatBytes(LAMBDA_IMAGE_LIMIT_BYTES)}`);
    expect(attributesOf(html, 'data-bytes')).toContain(String(LAMBDA_IMAGE_LIMIT_BYTES));
  });

  it('states layers against 250 MiB', () => {
    const html = renderSizeReport({ kind: 'build', manifest: layersRun() });
    expect(visibleText(html)).toContain(
      `of the route's limit of ${formatBytes(LAMBDA_UNZIPPED_LIMIT_BYTES)}`,
    );
  });

  it('says an EFS tree has no size limit and gives its file count', () => {
    const html = renderSizeReport({ kind: 'build', manifest: efsRun() });
    const text = visibleText(html);
    expect(text).toMatch(/in 482 files\. No size limit/);
    expect(text).not.toMatch(/250 MiB|% of/);
  });
});

describe('numbers on the report page', () => {
  it('shows bytes only in binary units, each equal to its data-bytes value', () => {
    // Act
    const html = renderSizeReport({ kind: 'build', manifest: layersRun() });

    // Assess
    expect(visibleText(html)).not.toMatch(/\d{1,3}(,\d{3}){2,} bytes|\d{6,} bytes/);
    const shown = [...html.matchAll(/data-bytes="(\d+)"[^>]*>([^<]*)</g)];
    expect(shown.length).toBeGreaterThan(20);
    for (const [, bytes, text] of shown) if (text !== '') expect(text).toBe(formatBytes(Number(bytes)));
  });

  it('names the manifest field of every number, and each field holds that number', () => {
    const manifest = layersRun();
    const html = renderSizeReport({ kind: 'build', manifest });
    const fields = [...html.matchAll(/data-(bytes|count|ms)="(\d+)" data-field="([^"]+)"/g)];
    expect(fields.length).toBeGreaterThan(30);
    for (const [, , value, field = ''] of fields) {
      const held = field
        .split('.')
        .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], manifest);
      expect({ field, value: Number(value) }).toEqual({ field, value: held });
    }
  });
});

describe('treemap colours', () => {
  it('gives the ten biggest packages ten different colours, whatever their order in the manifest', () => {
    // Prepare: eleven packages, listed alphabetically as the manifest lists them.
    const html = renderSizeReport({ kind: 'build', manifest: layersRun() });
    const packages = [...(layersManifest.packages ?? [])].sort((a, b) => b.slimmedBytes - a.slimmedBytes);
    expect(packages.length).toBeGreaterThan(10);

    // Act: the fill of each package's tile in the wide drawing.
    const wide = html.slice(
      html.indexOf('class="treemap treemap-wide"'),
      html.indexOf('class="treemap treemap-tall"'),
    );
    const fills = new Map(
      [...wide.matchAll(/data-package="([^"]+)"[\s\S]*?class="box"[^>]*fill="(#[0-9a-f]{6})"/g)].map(
        (match) => [match[1], match[2]],
      ),
    );

    // Assess
    const biggest = packages.slice(0, 10).map((entry) => fills.get(entry.name));
    expect(new Set(biggest).size).toBe(10);
  });

  it('writes tile text in black or white, whichever reaches 4.5:1 on the tile', () => {
    for (const color of [...PALETTE, '#dde1e6'])
      expect(contrastRatio(color, textColorOn(color))).toBeGreaterThanOrEqual(4.5);
  });

  it('ranks colours by size', () => {
    const colors = colorsBySize([
      { name: 'small', version: '1', bytes: 1, field: 'x', folders: [], note: null },
      { name: 'big', version: '1', bytes: 9, field: 'y', folders: [], note: null },
    ]);
    expect(colors.get('big')).toBe(PALETTE[0]);
    expect(colors.get('small')).toBe(PALETTE[1]);
  });
});

describe('the layout', () => {
  it('draws the treemap to the width of its container, not at a fixed width', () => {
    const html = renderSizeReport({ kind: 'build', manifest: layersRun() });
    const svgs = [...html.matchAll(/<svg[^>]*>/g)].map((match) => match[0]);
    expect(svgs.length).toBe(2);
    for (const svg of svgs) expect(svg).not.toMatch(/\swidth="\d+"/);
    expect(html).toContain('name="viewport"');
  });

  it('makes each tile reachable by keyboard, its numbers in its accessible name', () => {
    const html = renderSizeReport({ kind: 'build', manifest: layersRun() });
    const tiles = [...html.matchAll(/<a class="tile"[^>]*>/g)].map((match) => match[0]);
    expect(tiles.length).toBe(2 * (layersManifest.packages?.length ?? 0));
    for (const tile of tiles) {
      expect(tile).toContain('tabindex="0"');
      expect(tile).toMatch(/aria-label="[^"]+: \d+(\.\d)? (B|KiB|MiB|GiB)/);
    }
  });
});

describe('what was checked', () => {
  it('counts files, ELF files, symbol versions and modules', () => {
    const text = visibleText(renderSizeReport({ kind: 'build', manifest: layersRun() }));
    expect(text).toMatch(/482 files 4 ELF files 131 symbol versions/);
    expect(text).toMatch(/11 modules imported/);
  });

  it('says "not probed" and why when the probe could not run, and never calls it ok', () => {
    // Act
    const html = renderSizeReport({
      kind: 'build',
      manifest: notProbed(layersRun(), 'this machine runs x86_64, the target is arm64'),
    });

    // Assess
    expect(visibleText(html)).toContain('not probed: this machine runs x86_64, the target is arm64');
    expect(html).toMatch(/data-check="probe" data-status="skipped"/);
  });

  it('shows a probe that ran with its module count and cold import time, from the manifest', () => {
    const manifest = probed(layersRun());
    const html = renderSizeReport({ kind: 'build', manifest });
    expect(html).toMatch(/data-check="probe" data-status="ok"/);
    expect(html).toContain('data-count="5" data-field="probe.modules.length"');
    expect(html).toContain('data-ms="412" data-field="probe.importMs"');
    expect(visibleText(html)).toContain(
      'imported from the artifact on a local copy of the runtime layout (Python 3.11.14, x86_64) in 412 ms',
    );
  });

  it('names the module that failed the probe and how, and offers nothing to deploy', () => {
    const html = renderSizeReport({ kind: 'build', manifest: probed(layersRun(), ['orjson']) });
    const text = visibleText(html);
    expect(html).toMatch(/data-check="probe" data-status="failed"/);
    expect(text).toContain("orjson ModuleNotFoundError: No module named 'orjson'");
    expect(text).not.toContain('What to do next');
  });

  it('claims no probe when the run recorded none', () => {
    const html = renderSizeReport({ kind: 'build', manifest: layersRun() });
    expect(html).toMatch(/data-check="probe" data-status="skipped"/);
    expect(visibleText(html)).toContain('not probed: this run recorded no probe');
  });
});

describe('warnings', () => {
  it("lists the run's warnings, the build's and a skipped smoke import", () => {
    // Prepare
    const manifest = {
      ...layersRun(),
      smokeImport: {
        ran: false,
        ok: false,
        reason: 'no python3.11 on this machine',
        modules: 0,
        failures: [],
      },
    };

    // Act
    const text = visibleText(
      renderSizeReport({
        kind: 'build',
        manifest,
        warnings: ['https://pypi.org/simple/ was left out: its host does not resolve.'],
      }),
    );

    // Assess
    expect(text).toContain('https://pypi.org/simple/ was left out');
    expect(text).toContain('what the Lambda runtime already provides');
    expect(text).toContain('The smoke import was skipped: no python3.11 on this machine.');
  });
});

describe('what to do next', () => {
  it('gives the layer ARNs, the parameter, the AWS CLI line and the CDK lines', () => {
    const text = visibleText(renderSizeReport({ kind: 'build', manifest: layersRun() }));
    const arns = layersRun().delivery as { layers: { layerVersionArn: string }[] };
    for (const layer of arns.layers) expect(text).toContain(layer.layerVersionArn);
    expect(text).toContain('/lambda-deps/web-api/layers');
    expect(text).toContain(
      `aws lambda update-function-configuration --function-name my-function --layers ${arns.layers.map((layer) => layer.layerVersionArn).join(' ')}`,
    );
    expect(text).toContain(
      "ssm.StringParameter.valueForStringParameter(this, '/lambda-deps/web-api/layers')",
    );
  });

  it('gives the PYTHONPATH and the mount for EFS', () => {
    const text = visibleText(renderSizeReport({ kind: 'build', manifest: efsRun() }));
    expect(text).toContain(
      'LocalMountPath=/mnt/deps --environment "Variables={PYTHONPATH=/mnt/deps/web-api/current/site-packages}"',
    );
  });

  it('gives the image URI with its digest', () => {
    const text = visibleText(renderSizeReport({ kind: 'build', manifest: imageRun() }));
    const delivery = imageRun().delivery as { imageUri: string; digest: string };
    expect(text).toContain(`${delivery.imageUri}@${delivery.digest}`);
    expect(text).toContain('aws lambda update-function-code --function-name my-function --image-uri');
  });

  it('offers nothing to deploy when verification failed', () => {
    const manifest = {
      ...layersRun(),
      verification: {
        ok: false,
        problems: [{ package: 'numpy', file: 'numpy/x.so', message: 'bad', hint: 'fix' }],
      },
    };
    expect(visibleText(renderSizeReport({ kind: 'build', manifest }))).not.toContain('What to do next');
  });
});

describe('a failed run', () => {
  it('shows the step, the reason in the user file and the fix the CLI prints', () => {
    // Act
    const html = renderSizeReport({
      kind: 'failed',
      failure: measureFailure,
      requirementsPath: 'app/bad.txt',
    });

    // Assess
    const text = visibleText(html);
    expect(text).toContain('Measure failed');
    expect(text).toContain('In app/bad.txt:2:9');
    expect(text).toContain('Expected a version after "===" in requirement "numpy==="');
    expect(text).toContain('Fix Write version specifiers as PEP 440 clauses');
    expect(text).not.toContain('lambda-deps-measure-');
    expect(text).not.toContain('InputError: ');
  });
});

describe('a requirements line refused before the pipeline', () => {
  /** The page of a run whose requirements file holds `lines`, as the CLI writes it (pipeline-build.ts). */
  async function pageFor(lines: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'lambda-deps-refused-line-'));
    const file = join(dir, 'requirements.txt');
    await writeFile(file, lines);
    try {
      const error = await readRequirementsFile(file).then(
        () => new Error('the file was accepted'),
        (refused: unknown) => refused as Error,
      );
      const report = {
        status: 'FAILED',
        reason: describeError(error),
        errorType: error.name,
        failedStep: 'Input',
      };
      return visibleText(renderSizeReport({ kind: 'failed', failure: report, requirementsPath: file }));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('says what was expected after an operator without quoting the line', async () => {
    const text = await pageFor('requests\nnumpy>=\n');

    expect(text).toMatch(/requirements\.txt:2:8/);
    expect(text).toContain('Expected a version after the comparison operator');
    expect(text).not.toMatch(/after it\b/);
  });

  it('names the part of the line that is wrong without quoting a line that is not a requirement', async () => {
    const text = await pageFor('six\nAWS_SECRET=abcd1234secret and more\n');

    expect(text).toMatch(/requirements\.txt:2:\d+/);
    expect(text).not.toContain('abcd1234secret');
    expect(text).not.toMatch(/found it\b|\bit is not/);
  });
});

describe('layer files', () => {
  it('names the zip the local pipeline published, as it is on disk', async () => {
    // Prepare
    const out = await mkdtemp(join(tmpdir(), 'lambda-deps-report-files-'));
    try {
      await mkdir(join(out, 'layers', 'lambda-deps-web-api-shared-1'), { recursive: true });
      await writeFile(join(out, 'layers', 'lambda-deps-web-api-shared-1', '1.zip'), 'zip');

      // Act
      const files = await layerFilesOnDisk(out, layersRun());

      // Assess: the second layer's zip is absent, so it is not named.
      expect(files).toEqual([join('layers', 'lambda-deps-web-api-shared-1', '1.zip'), null]);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

describe('a failed build', () => {
  it("shows the build's own error and hint, not the CodeBuild wrapping", () => {
    // Prepare: the failure record of a real local run whose build refused a file: URL.
    const failure = {
      status: 'FAILED',
      reason:
        'Build failed. States.TaskFailed: The build lambda-deps-local:0f90e613 ended FAILED (BUILD FAILED: got file:///tmp/o/store/locks/6da3.json -> lock.json | error: boto3: lock.json: boto3: the URL file:///opt/pypi/files/boto3-1.43.107-py3-none-any.whl names a file on the build host, which only a lock given on this machine may do. | hint: Publish the wheel to an index the pipeline can reach, or build locally with --no-pipeline.). Its log has the details.',
      errorType: 'States.TaskFailed',
      packageName: null,
      failedStep: 'Build',
      name: 'data-science',
    };

    // Act
    const text = visibleText(renderSizeReport({ kind: 'failed', failure }));

    // Assess
    expect(text).toContain('Build failed');
    expect(text).toContain(
      'boto3: lock.json: boto3: the URL file:///opt/pypi/files/boto3-1.43.107-py3-none-any.whl names a file on the build host',
    );
    expect(text).toContain(
      'Fix Publish the wheel to an index the pipeline can reach, or build locally with --no-pipeline.',
    );
    expect(text).not.toContain('States.TaskFailed');
    expect(text).not.toContain('BUILD FAILED: got');
  });
});

describe('the measure page', () => {
  it("shows the verdict, the route's budget and each package's measured bytes, named by their fields", () => {
    // Prepare: the measure result of the same set, from its lock.
    const result: MeasureResult = {
      target: layersManifest.target,
      lockHash: layersManifest.lockHash,
      packages: layersManifest.lock.packages.map((entry) => ({
        name: entry.name,
        version: entry.version,
        filename: entry.filename,
        tag: entry.tag,
        size: entry.size,
        unzippedSize: entry.unzippedSize,
      })),
      totals: {
        size: layersManifest.lock.packages.reduce((sum, entry) => sum + entry.size, 0),
        unzippedSize: layersManifest.lock.packages.reduce((sum, entry) => sum + entry.unzippedSize, 0),
      },
      verdict: {
        strategy: 'layers',
        reason: layersManifest.reason,
        layerCount: 2,
        budgetBytes: 256_901_120,
        dominantPackages: [],
      },
      problems: [],
    };

    // Act
    const html = renderSizeReport({ kind: 'measure', result });

    // Assess
    expect(visibleText(html)).toContain(layersManifest.reason);
    expect(visibleText(html)).toContain(
      `of the route's limit of ${formatBytes(LAMBDA_UNZIPPED_LIMIT_BYTES)}`,
    );
    const fields = [...html.matchAll(/data-bytes="(\d+)" data-field="([^"]+)"/g)];
    expect(fields.length).toBeGreaterThan(result.packages.length);
    for (const [, value, field = ''] of fields) {
      const held = field
        .split('.')
        .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], result);
      expect({ field, value: Number(value) }).toEqual({ field, value: held });
    }
  });
});
