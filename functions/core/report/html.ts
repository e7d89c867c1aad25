// Small HTML builders for the report page. Every number on the page goes through `shownBytes`,
// `shownCount` or `shownDuration`, which put the raw value and the manifest field it came from in
// data attributes, so a test can check each shown number against the manifest.
import { formatBytes, formatDuration } from '../shared/units.ts';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

/** The manifest field a number came from (`sizes.slimmed`, `packages.3.slimmedBytes`), or null when derived. */
function fieldAttribute(field: string | null): string {
  return field ? ` data-field="${escapeHtml(field)}"` : '';
}

export function shownBytes(bytes: number, field: string | null): string {
  return `<span class="num" data-bytes="${bytes}"${fieldAttribute(field)}>${formatBytes(bytes)}</span>`;
}

/**
 * `3633` → `3,633`, as `toLocaleString('en-US')` writes it (at most three decimals), without it:
 * its first call loads ICU's locale data, about a hundredth of a second of every run's report.
 */
export function formatCount(count: number): string {
  if (!Number.isFinite(count)) return String(count);
  const rounded = Number(count.toFixed(3));
  const [whole = '0', fraction] = String(Math.abs(rounded)).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+$)/g, ',');
  return `${rounded < 0 ? '-' : ''}${grouped}${fraction ? `.${fraction}` : ''}`;
}

export function shownCount(count: number, field: string | null): string {
  return `<span class="num" data-count="${count}"${fieldAttribute(field)}>${formatCount(count)}</span>`;
}

export function shownDuration(milliseconds: number, field: string | null): string {
  return `<span class="num" data-ms="${milliseconds}"${fieldAttribute(field)}>${formatDuration(milliseconds)}</span>`;
}

/** A table; on a phone its rows become stacked blocks (page-style.ts), and its box scrolls rather than widen the page. */
export function table(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  id: string,
  rowIds: readonly (string | null)[] = [],
): string {
  const head = headers.map((header) => `<th scope="col">${escapeHtml(header)}</th>`).join('');
  const body = rows
    .map((row, index) => {
      const rowId = rowIds[index];
      // data-label: on a phone each row is stacked, every cell under its header's name.
      const cells = row.map(
        (cell, column) => `<td data-label="${escapeHtml(headers[column] ?? '')}">${cell}</td>`,
      );
      return `<tr${rowId ? ` id="${escapeHtml(rowId)}"` : ''}>${cells.join('')}</tr>`;
    })
    .join('');
  return `<div class="table-box" tabindex="0" role="region" aria-label="${escapeHtml(id)} table"><table id="${escapeHtml(id)}"${headers.length > 3 ? ' class="stack"' : ''}><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}

/** A value meant to be copied: one click selects all of it. */
export function copyable(value: string, id: string): string {
  return `<pre class="copy" data-next="${escapeHtml(id)}"><code>${escapeHtml(value)}</code></pre>`;
}
