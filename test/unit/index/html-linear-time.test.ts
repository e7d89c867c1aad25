// The PEP 503 HTML link parser on pathological markup: time must grow linearly with the page,
// so a hostile index cannot stall a run with a page of unclosed tags.
import { describe, expect, it } from 'vitest';
import { parseSimpleHtmlPage } from '../../../functions/core/index/simple-pages.ts';
import { recordReliability } from '../../support/reliability-log.ts';

const PAGE_URL = 'https://index.example/simple/six/';

/** CPU time (not wall time: the test machine may be busy with other work) and RSS growth of a parse. */
function timed(html: string): { ms: number; peakMb: number; files: number } {
  const before = process.memoryUsage.rss();
  const started = process.cpuUsage();
  const files = parseSimpleHtmlPage(html, PAGE_URL, 'https://index.example/simple/').length;
  const used = process.cpuUsage(started);
  const ms = (used.user + used.system) / 1000;
  return { ms, peakMb: (process.memoryUsage.rss() - before) / 2 ** 20, files };
}

describe('parseSimpleHtmlPage on hostile markup', () => {
  it.each([
    ['unclosed <a href', '<a href'],
    ['unclosed <a href= with an open quote', '<a href="x'],
    ['anchors that never close', '<a href="six-1.0-py3-none-any.whl">'],
  ])('parses 1 MB of %s in well under a second', (what, unit) => {
    // Prepare
    const html = unit.repeat(Math.ceil(1_000_000 / unit.length));

    // Act
    const run = timed(html);

    // Assess
    expect(run.ms).toBeLessThan(1_000);
    recordReliability({
      area: 'index bounds',
      experiment: `1 MB HTML page of ${what}: parsed in ${run.ms.toFixed(0)} ms of CPU, RSS +${run.peakMb.toFixed(0)} MiB`,
      cases: 1,
      faultsInjected: 1,
      runs: 1,
      lost: 'nothing',
    });
  });

  it('takes about ten times as long for ten times the page (linear, not quadratic)', () => {
    // Prepare
    const small = '<a href'.repeat(100_000);
    const large = '<a href'.repeat(1_000_000);
    timed(small);

    // Act
    const smallRun = timed(small);
    const largeRun = timed(large);

    // Assess: quadratic growth would be about 100×.
    expect(largeRun.ms / Math.max(smallRun.ms, 1)).toBeLessThan(40);
  });

  it('still reads a well-formed page after the tokenizer change: entities, base href and data attributes', () => {
    // Prepare
    const html =
      '<html><head><base href="/files/"></head><body>' +
      '<a href="six-1.16.0-py2.py3-none-any.whl#sha256=' +
      'a'.repeat(64) +
      '" data-requires-python="&gt;=2.7" data-yanked="">six</a>' +
      '<A HREF="six-1.15.0.tar.gz">six</A></body></html>';

    // Act
    const files = parseSimpleHtmlPage(html, PAGE_URL, 'src');

    // Assess
    expect(files.map((file) => file.url)).toEqual([
      'https://index.example/files/six-1.16.0-py2.py3-none-any.whl',
      'https://index.example/files/six-1.15.0.tar.gz',
    ]);
    expect(files[0]?.requiresPython).toBe('>=2.7');
    expect(files[0]?.yanked).toBe(true);
    expect(files[0]?.sha256).toBe('a'.repeat(64));
  });
});
