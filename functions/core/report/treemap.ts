// Squarified treemap layout (Bruls, Huizing, van Wijk 2000): rectangles whose areas are
// proportional to sizes and whose aspect ratios stay close to 1, so small packages stay visible.

export interface TreemapItem<T> {
  readonly value: number;
  readonly data: T;
}

export interface TreemapRect<T> {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly data: T;
}

function worstAspect(row: readonly number[], side: number): number {
  const sum = row.reduce((total, value) => total + value, 0);
  const max = Math.max(...row);
  const min = Math.min(...row);
  return Math.max((side * side * max) / (sum * sum), (sum * sum) / (side * side * min));
}

/** Lay out items (any order; laid out biggest first) in the rectangle. Zero and negative values are left out. */
export function squarify<T>(
  items: readonly TreemapItem<T>[],
  bounds: { x: number; y: number; width: number; height: number },
): TreemapRect<T>[] {
  const sorted = items.filter((item) => item.value > 0).sort((a, b) => b.value - a.value);
  const total = sorted.reduce((sum, item) => sum + item.value, 0);
  if (total === 0 || bounds.width <= 0 || bounds.height <= 0) return [];
  const scale = (bounds.width * bounds.height) / total;
  const areas = sorted.map((item) => item.value * scale);
  const rects: TreemapRect<T>[] = [];
  let { x, y, width, height } = bounds;
  let index = 0;
  while (index < areas.length) {
    const side = Math.min(width, height);
    const row: number[] = [areas[index] ?? 0];
    let next = index + 1;
    while (next < areas.length) {
      const candidate = [...row, areas[next] ?? 0];
      if (worstAspect(candidate, side) > worstAspect(row, side)) break;
      row.push(areas[next] ?? 0);
      next++;
    }
    const rowArea = row.reduce((sum, value) => sum + value, 0);
    const thickness = rowArea / side;
    let offset = 0;
    row.forEach((area, position) => {
      const length = area / thickness;
      const item = sorted[index + position];
      if (!item) return;
      rects.push(
        width >= height
          ? { x, y: y + offset, width: thickness, height: length, data: item.data }
          : { x: x + offset, y, width: length, height: thickness, data: item.data },
      );
      offset += length;
    });
    if (width >= height) {
      x += thickness;
      width -= thickness;
    } else {
      y += thickness;
      height -= thickness;
    }
    index = next;
  }
  return rects;
}
