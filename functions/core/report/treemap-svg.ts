// The treemap drawing: one tile per package (area = its bytes), the biggest folders inside the
// biggest packages, a distinct colour for each of the biggest packages, text in whichever of
// black or white reads better on the tile, and a label only where it fits, so labels never
// overlap each other or leave their tile. Tiles are links to the package's table row: reachable
// by keyboard, with their numbers as text there and in the tile's accessible name.
import { formatBytes } from '../shared/units.ts';
import { escapeHtml } from './html.ts';
import { squarify } from './treemap.ts';

export interface TreemapBox {
  readonly name: string;
  readonly version: string;
  readonly bytes: number;
  /** Manifest field of `bytes` (`packages.3.slimmedBytes`). */
  readonly field: string;
  readonly folders: readonly { readonly path: string; readonly bytes: number }[];
  /** Extra words for the accessible name (`in layer shared-1`). */
  readonly note: string | null;
}

/** Tableau 10: tells ten colours apart, also for most colour-blind readers. */
export const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
] as const;
/** Packages past the tenth share one neutral colour: their tiles are small anyway. */
export const OTHER_COLOR = '#dde1e6';
/** Packages whose folders are drawn inside their tile. */
const DETAILED_PACKAGES = 6;
const NAME_FONT = 12;
const SIZE_FONT = 11;
const FOLDER_FONT = 10;
const PAD = 4;

function luminance(hex: string): number {
  const channels = [1, 3, 5].map((start) => Number.parseInt(hex.slice(start, start + 2), 16) / 255);
  const [r = 0, g = 0, b = 0] = channels.map((c) =>
    c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4,
  );
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG contrast ratio of two `#rrggbb` colours. */
export function contrastRatio(first: string, second: string): number {
  const [light, dark] = [luminance(first), luminance(second)].sort((a, b) => b - a);
  return ((light ?? 0) + 0.05) / ((dark ?? 0) + 0.05);
}

/** Black or white, whichever has the higher contrast on `background`. */
export function textColorOn(background: string): string {
  return contrastRatio(background, '#111111') >= contrastRatio(background, '#ffffff') ? '#111111' : '#ffffff';
}

/**
 * A generous width estimate for a label (wide sans-serif fonts such as DejaVu Sans run about
 * 0.6 em per character, bold 0.68), so a label judged to fit does fit.
 */
function textWidth(text: string, fontSize: number, bold: boolean): number {
  return text.length * fontSize * (bold ? 0.7 : 0.62);
}

interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

function rectAttributes(rect: Rect): string {
  return `x="${rect.x.toFixed(1)}" y="${rect.y.toFixed(1)}" width="${rect.width.toFixed(1)}" height="${rect.height.toFixed(1)}"`;
}

/** The package label: name and size on two lines, or on one, or the name alone, or nothing. Returns its height. */
function packageLabel(box: TreemapBox, rect: Rect, color: string): { svg: string; height: number } {
  const name = box.name;
  const size = formatBytes(box.bytes);
  const inner = rect.width - 2 * PAD;
  const text = (content: string, y: number, font: number, bold: boolean): string =>
    `<text class="label" x="${(rect.x + PAD).toFixed(1)}" y="${y.toFixed(1)}" font-size="${font}"${bold ? ' font-weight="700"' : ''} fill="${color}">${escapeHtml(content)}</text>`;
  const nameFits = textWidth(name, NAME_FONT, true) <= inner;
  if (
    nameFits &&
    textWidth(size, SIZE_FONT, false) <= inner &&
    rect.height >= 2 * PAD + NAME_FONT + SIZE_FONT + 6
  )
    return {
      svg:
        text(name, rect.y + PAD + NAME_FONT, NAME_FONT, true) +
        text(size, rect.y + PAD + NAME_FONT + 3 + SIZE_FONT, SIZE_FONT, false),
      height: PAD + NAME_FONT + SIZE_FONT + 6,
    };
  if (textWidth(`${name} ${size}`, NAME_FONT, true) <= inner && rect.height >= 2 * PAD + NAME_FONT + 2)
    return {
      svg: text(`${name} ${size}`, rect.y + PAD + NAME_FONT, NAME_FONT, true),
      height: PAD + NAME_FONT + 4,
    };
  if (nameFits && rect.height >= 2 * PAD + NAME_FONT + 2)
    return { svg: text(name, rect.y + PAD + NAME_FONT, NAME_FONT, true), height: PAD + NAME_FONT + 4 };
  return { svg: '', height: 0 };
}

function folderCells(box: TreemapBox, area: Rect, color: string): string {
  if (area.width <= 0 || area.height <= 0) return '';
  const folderBytes = box.folders.reduce((sum, folder) => sum + folder.bytes, 0);
  const items = box.folders.map((folder) => ({ value: folder.bytes, data: folder }));
  if (box.bytes > folderBytes)
    items.push({
      value: box.bytes - folderBytes,
      data: { path: '(other files)', bytes: box.bytes - folderBytes },
    });
  // A veil that moves the background away from the text colour keeps the label's contrast.
  const veil = color === '#111111' ? '#ffffff' : '#000000';
  return squarify(items, area)
    .map((cell) => {
      const label = cell.data.path.split('/').pop() ?? cell.data.path;
      const fits =
        textWidth(label, FOLDER_FONT, false) <= cell.width - 2 * PAD && cell.height >= FOLDER_FONT + 2 * PAD;
      return (
        `<g class="folder"><title>${escapeHtml(`${cell.data.path}: ${formatBytes(cell.data.bytes)}`)}</title>` +
        `<rect ${rectAttributes(cell)} fill="${veil}" fill-opacity="0.16" stroke="${veil}" stroke-opacity="0.45"/>` +
        (fits
          ? `<text class="folder-label" x="${(cell.x + PAD).toFixed(1)}" y="${(cell.y + PAD + FOLDER_FONT - 1).toFixed(1)}" font-size="${FOLDER_FONT}" fill="${color}">${escapeHtml(label)}</text>`
          : '') +
        '</g>'
      );
    })
    .join('');
}

/** Colours by size rank: the ten biggest packages get ten different colours. */
export function colorsBySize(boxes: readonly TreemapBox[]): Map<string, string> {
  const ranked = [...boxes].sort((a, b) => b.bytes - a.bytes);
  return new Map(ranked.map((box, rank) => [box.name, PALETTE[rank] ?? OTHER_COLOR]));
}

/**
 * One treemap drawing `width`×`height` user units; it scales to its container (width 100%),
 * so it is drawn near the size it is shown at (one for wide screens, one for phones).
 */
export function renderTreemapSvg(
  boxes: readonly TreemapBox[],
  layout: { readonly width: number; readonly height: number; readonly name: string },
  describe: (box: TreemapBox) => string,
): string {
  const colors = colorsBySize(boxes);
  const detailed = new Set(
    [...boxes]
      .sort((a, b) => b.bytes - a.bytes)
      .slice(0, DETAILED_PACKAGES)
      .map((box) => box.name),
  );
  const rects = squarify(
    boxes.map((box) => ({ value: box.bytes, data: box })),
    { x: 0, y: 0, width: layout.width, height: layout.height },
  );
  const tiles = rects.map((rect) => {
    const box = rect.data;
    const fill = colors.get(box.name) ?? OTHER_COLOR;
    const color = textColorOn(fill);
    const label = packageLabel(box, rect, color);
    const inner = {
      x: rect.x + 3,
      y: rect.y + Math.max(label.height, 3),
      width: rect.width - 6,
      height: rect.height - Math.max(label.height, 3) - 3,
    };
    return (
      `<a class="tile" href="#package-${escapeHtml(box.name)}" tabindex="0" aria-label="${escapeHtml(describe(box))}" data-package="${escapeHtml(box.name)}" data-bytes="${box.bytes}" data-field="${escapeHtml(box.field)}">` +
      `<title>${escapeHtml(describe(box))}</title>` +
      `<rect class="box" ${rectAttributes(rect)} fill="${fill}" stroke="#ffffff" stroke-width="2"/>` +
      // Folders only in a tile big enough to say whose they are.
      (detailed.has(box.name) &&
      label.height > 0 &&
      rect.width >= 60 &&
      rect.height >= 60 &&
      box.folders.length > 0
        ? folderCells(box, inner, color)
        : '') +
      label.svg +
      '</a>'
    );
  });
  return `<svg class="treemap treemap-${layout.name}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${layout.width} ${layout.height}" preserveAspectRatio="xMinYMin meet" role="group" aria-label="Treemap of unzipped bytes by package">${tiles.join('')}</svg>`;
}
