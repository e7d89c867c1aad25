import { describe, expect, it } from 'vitest';
import {
  parseSimpleHtmlPage,
  parseSimpleJsonPage,
  projectOfFilename,
} from '../../../functions/core/index/index-client.ts';
import { IndexUnreachableError } from '../../../functions/core/shared/errors.ts';

const PAGE_URL = 'https://index.example/simple/scikit-learn/';
const SOURCE = 'https://index.example/simple/';
const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);

describe('parseSimpleHtmlPage', () => {
  it('reads hrefs, hash fragments, requires-python, yanked and metadata attributes', () => {
    // Prepare
    const html = `<!DOCTYPE html><html><body>
      <a href="../../files/scikit_learn-1.6.1-cp311-cp311-manylinux_2_17_x86_64.whl#sha256=${HASH_A}"
         data-requires-python="&gt;=3.9, &lt;4" data-core-metadata="sha256=${HASH_B}">scikit_learn-1.6.1-cp311-cp311-manylinux_2_17_x86_64.whl</a>
      <A HREF='https://cdn.example/p/scikit-learn-1.5.0.tar.gz#md5=123' data-yanked="broken &amp; bad">scikit-learn-1.5.0.tar.gz</A>
      <a href="/files/scikit_learn-1.4.0-py3-none-any.whl" data-yanked data-dist-info-metadata="true">x</a>
      <a href="notes.txt">notes</a>
      <a name="anchor-without-href">nothing</a>
    </body></html>`;

    // Act
    const files = parseSimpleHtmlPage(html, PAGE_URL, SOURCE);

    // Assess
    expect(files).toEqual([
      {
        filename: 'scikit_learn-1.6.1-cp311-cp311-manylinux_2_17_x86_64.whl',
        url: 'https://index.example/files/scikit_learn-1.6.1-cp311-cp311-manylinux_2_17_x86_64.whl',
        sha256: HASH_A,
        requiresPython: '>=3.9, <4',
        yanked: false,
        size: null,
        metadataUrl:
          'https://index.example/files/scikit_learn-1.6.1-cp311-cp311-manylinux_2_17_x86_64.whl.metadata',
        metadataSha256: HASH_B,
        source: SOURCE,
      },
      {
        filename: 'scikit-learn-1.5.0.tar.gz',
        url: 'https://cdn.example/p/scikit-learn-1.5.0.tar.gz',
        sha256: null,
        requiresPython: null,
        yanked: 'broken & bad',
        size: null,
        metadataUrl: null,
        metadataSha256: null,
        source: SOURCE,
      },
      {
        filename: 'scikit_learn-1.4.0-py3-none-any.whl',
        url: 'https://index.example/files/scikit_learn-1.4.0-py3-none-any.whl',
        sha256: null,
        requiresPython: null,
        yanked: true,
        size: null,
        metadataUrl: 'https://index.example/files/scikit_learn-1.4.0-py3-none-any.whl.metadata',
        metadataSha256: null,
        source: SOURCE,
      },
    ]);
  });

  it('prefers data-core-metadata over data-dist-info-metadata (PEP 714) and honours <base href>', () => {
    // Prepare
    const html = `<html><head><base href="https://mirror.example/root/"></head><body>
      <a href="six-1.16.0-py2.py3-none-any.whl#sha256=${HASH_A}" data-core-metadata="sha256=${HASH_B}" data-dist-info-metadata="sha256=${HASH_A}">six</a>
    </body></html>`;

    // Act
    const [file] = parseSimpleHtmlPage(html, 'https://index.example/simple/six/', SOURCE);

    // Assess
    expect(file?.url).toBe('https://mirror.example/root/six-1.16.0-py2.py3-none-any.whl');
    expect(file?.metadataSha256).toBe(HASH_B);
  });

  it('decodes percent-escaped filenames from the URL', () => {
    // Prepare
    const html = `<a href="torch-2.13.0%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl">t</a>`;

    // Act
    const [file] = parseSimpleHtmlPage(html, 'file:///srv/wheels/index.html', '/srv/wheels');

    // Assess
    expect(file?.filename).toBe('torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl');
  });
});

describe('parseSimpleJsonPage', () => {
  it('reads PEP 691 files with PEP 700 size, PEP 592 yanked and PEP 714 metadata keys', () => {
    // Prepare
    const page = {
      meta: { 'api-version': '1.1' },
      name: 'scikit-learn',
      files: [
        {
          filename: 'scikit_learn-1.6.1-cp311-cp311-manylinux_2_17_x86_64.whl',
          url: '../../files/scikit_learn-1.6.1-cp311-cp311-manylinux_2_17_x86_64.whl',
          hashes: { sha256: HASH_A.toUpperCase() },
          'requires-python': '>=3.9',
          size: 13_000_000,
          'core-metadata': { sha256: HASH_B },
          yanked: false,
        },
        {
          filename: 'scikit_learn-1.5.0-cp311-cp311-manylinux_2_17_x86_64.whl',
          url: 'https://cdn.example/scikit_learn-1.5.0-cp311-cp311-manylinux_2_17_x86_64.whl',
          hashes: {},
          'dist-info-metadata': true,
          yanked: 'regression in fit()',
        },
        { filename: 'scikit-learn-1.0.exe', url: 'x.exe', hashes: {} },
        'not an object',
      ],
    };

    // Act
    const files = parseSimpleJsonPage(page, PAGE_URL, SOURCE);

    // Assess
    expect(files).toHaveLength(2);
    expect(files[0]).toMatchObject({
      url: 'https://index.example/files/scikit_learn-1.6.1-cp311-cp311-manylinux_2_17_x86_64.whl',
      sha256: HASH_A,
      requiresPython: '>=3.9',
      size: 13_000_000,
      metadataSha256: HASH_B,
      yanked: false,
    });
    expect(files[1]).toMatchObject({
      sha256: null,
      size: null,
      yanked: 'regression in fit()',
      metadataUrl: 'https://cdn.example/scikit_learn-1.5.0-cp311-cp311-manylinux_2_17_x86_64.whl.metadata',
      metadataSha256: null,
    });
  });

  it('refuses a document that is not a project page', () => {
    // Prepare
    const page = { meta: { 'api-version': '1.0' }, projects: [] };

    // Act
    const act = (): unknown => parseSimpleJsonPage(page, PAGE_URL, SOURCE);

    // Assess
    expect(act).toThrow(IndexUnreachableError);
    expect(act).toThrow(/scikit-learn\/ is not a PEP 691 project page/);
  });
});

describe('projectOfFilename', () => {
  it.each([
    ['scikit_learn-1.6.1-cp311-cp311-manylinux_2_17_x86_64.whl', 'scikit-learn'],
    ['Zope.Interface-6.0-1-cp311-cp311-linux_x86_64.whl', 'zope-interface'],
    ['python-dateutil-2.8.2.tar.gz', 'python-dateutil'],
    ['backports.zoneinfo-0.2.1.zip', 'backports-zoneinfo'],
    ['README.md', null],
    ['broken.whl', null],
  ])('%s belongs to %s', (filename, project) => {
    // Act
    const actual = projectOfFilename(filename);

    // Assess
    expect(actual).toBe(project);
  });
});
