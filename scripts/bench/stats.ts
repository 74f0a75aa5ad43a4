/** Small statistics helpers shared by the load generator and the summary. */

/** Nearest-rank percentile (q in 0..1) of an ascending array; NaN when it is empty. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/**
 * The index of the median element by `value` (for an even count, the lower middle), so callers can
 * report the whole median run (its CPU figures too), not just a number averaged from two runs.
 */
export function medianIndex<T>(items: readonly T[], value: (item: T) => number): number {
  if (items.length === 0) throw new Error("median of nothing");
  const order = items.map((item, i) => ({ i, v: value(item) })).sort((a, b) => a.v - b.v);
  return order[Math.floor((order.length - 1) / 2)]!.i;
}

/** The median of plain numbers. */
export function median(values: readonly number[]): number {
  return values[medianIndex(values, (v) => v)]!;
}
