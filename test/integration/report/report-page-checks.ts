// What the Chromium test checks on every report page, at every width, as functions over a
// Playwright page: overflow, numbers against the manifest, labels inside their tiles and apart,
// colours, contrast and keyboard focus. Kept apart from the test so each check reads as one idea.
import type { Page } from 'playwright-core';

export interface ShownNumber {
  readonly field: string;
  readonly value: number;
  readonly kind: 'bytes' | 'count' | 'ms';
  /** The text shown, for `span.num` elements (null for tiles, whose text is their label). */
  readonly text: string | null;
}

/** Every number on the page that names its manifest field. */
export function shownNumbers(page: Page): Promise<ShownNumber[]> {
  return page.locator('[data-field]').evaluateAll((nodes) =>
    nodes.map((node) => {
      const kind = node.hasAttribute('data-bytes')
        ? 'bytes'
        : node.hasAttribute('data-count')
          ? 'count'
          : 'ms';
      return {
        field: node.getAttribute('data-field') ?? '',
        value: Number(node.getAttribute(`data-${kind}`)),
        kind,
        text: node.classList.contains('num') ? (node.textContent ?? '') : null,
      } as const;
    }),
  );
}

/** The value at a dotted path (`packages.3.slimmedBytes`, `probe.modules.length`). */
export function valueAt(record: unknown, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], record);
}

export interface LabelFit {
  readonly label: string;
  readonly inside: boolean;
}

/**
 * Each label of the visible treemap, whether it lies inside its tile (or folder cell), and the
 * pairs of labels that overlap.
 */
export function treemapLabels(page: Page): Promise<{ fits: LabelFit[]; overlaps: string[][] }> {
  return page.evaluate(() => {
    const svg = Array.from(document.querySelectorAll<SVGSVGElement>('svg.treemap')).find(
      (element) => getComputedStyle(element).display !== 'none',
    );
    if (!svg) return { fits: [], overlaps: [] };
    const labels = Array.from(svg.querySelectorAll<SVGTextElement>('text'));
    const boxes = labels.map((text) => text.getBoundingClientRect());
    const fits = labels.map((text, index) => {
      const holder =
        text.closest('g.folder')?.querySelector('rect') ?? text.closest('a.tile')?.querySelector('rect.box');
      const outer = holder?.getBoundingClientRect();
      const box = boxes[index];
      const inside =
        !!outer &&
        !!box &&
        box.left >= outer.left - 0.5 &&
        box.right <= outer.right + 0.5 &&
        box.top >= outer.top - 0.5 &&
        box.bottom <= outer.bottom + 0.5;
      return { label: text.textContent ?? '', inside };
    });
    const overlaps: string[][] = [];
    boxes.forEach((first, i) =>
      boxes.slice(i + 1).forEach((second, offset) => {
        const width = Math.min(first.right, second.right) - Math.max(first.left, second.left);
        const height = Math.min(first.bottom, second.bottom) - Math.max(first.top, second.top);
        if (width > 0.5 && height > 0.5)
          overlaps.push([labels[i]?.textContent ?? '', labels[i + 1 + offset]?.textContent ?? '']);
      }),
    );
    return { fits, overlaps };
  });
}

/** Tile fills of the visible treemap, biggest package first. */
export function tileFills(page: Page): Promise<{ name: string; bytes: number; fill: string }[]> {
  return page.locator('svg.treemap:visible a.tile').evaluateAll((tiles) =>
    tiles
      .map((tile) => ({
        name: tile.getAttribute('data-package') ?? '',
        bytes: Number(tile.getAttribute('data-bytes')),
        fill: tile.querySelector('rect.box')?.getAttribute('fill') ?? '',
      }))
      .sort((a, b) => b.bytes - a.bytes),
  );
}

/**
 * Text whose contrast with its background is below 4.5:1 (WCAG AA for body text): HTML text on
 * the nearest opaque background, SVG labels on their tile's fill.
 */
export function lowContrastText(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const parse = (color: string): number[] => (color.match(/[\d.]+/g) ?? []).map(Number);
    const luminance = ([r = 0, g = 0, b = 0]: number[]): number => {
      const channel = (value: number): number => {
        const c = value / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    };
    const ratio = (a: number[], b: number[]): number => {
      const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
      return ((light ?? 0) + 0.05) / ((dark ?? 0) + 0.05);
    };
    const background = (element: Element | null): number[] => {
      for (let node = element; node; node = node.parentElement) {
        const rgba = parse(getComputedStyle(node).backgroundColor);
        if (rgba.length === 3 || (rgba[3] ?? 0) > 0.99) return rgba.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const low: string[] = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const element = node.parentElement;
      if (!element || !node.textContent?.trim() || element.closest('svg')) continue;
      if (element.getClientRects().length === 0) continue;
      const value = ratio(parse(getComputedStyle(element).color), background(element));
      if (value < 4.5) low.push(`${node.textContent.trim().slice(0, 40)} (${value.toFixed(2)})`);
    }
    for (const text of Array.from(document.querySelectorAll<SVGTextElement>('svg.treemap text'))) {
      const tile = text.closest('a.tile')?.querySelector('rect.box');
      if (!tile || text.getClientRects().length === 0) continue;
      const hex = (value: string): number[] =>
        [1, 3, 5].map((start) => Number.parseInt(value.slice(start, start + 2), 16));
      let behind = hex(tile.getAttribute('fill') ?? '#ffffff');
      const veil = text.closest('g.folder')?.querySelector('rect');
      if (veil) {
        const over = hex(veil.getAttribute('fill') ?? '#ffffff');
        const alpha = Number(veil.getAttribute('fill-opacity') ?? 0);
        behind = behind.map((channel, index) => channel * (1 - alpha) + (over[index] ?? 0) * alpha);
      }
      const value = ratio(hex(text.getAttribute('fill') ?? '#000000'), behind);
      if (value < 4.5) low.push(`svg ${text.textContent ?? ''} (${value.toFixed(2)})`);
    }
    return low;
  });
}
