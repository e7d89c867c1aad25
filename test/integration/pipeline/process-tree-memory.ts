// Peak resident memory of this process and every process it started (build runners, pip,
// Python smoke imports), sampled from /proc, so a load test can state how much memory the
// whole local pipeline used, not just the Node process.
import { readdirSync, readFileSync } from 'node:fs';

function processTable(): Map<number, { parent: number; rssBytes: number }> {
  const table = new Map<number, { parent: number; rssBytes: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const parent = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      table.set(Number(entry), { parent, rssBytes: rssKb * 1024 });
    } catch {
      // The process ended between listing and reading.
    }
  }
  return table;
}

/** Sum of RSS of `root` and its descendants, now. */
export function processTreeRss(root: number = process.pid): number {
  const table = processTable();
  const children = new Map<number, number[]>();
  for (const [pid, info] of table) children.set(info.parent, [...(children.get(info.parent) ?? []), pid]);
  let total = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    total += table.get(pid)?.rssBytes ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** Samples the tree's RSS until stopped; `stop()` returns the peak in bytes. */
export function samplePeakRss(intervalMs = 200): { stop(): number } {
  let peak = processTreeRss();
  const timer = setInterval(() => {
    peak = Math.max(peak, processTreeRss());
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, processTreeRss());
    },
  };
}
