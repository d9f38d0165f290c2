/**
 * Rows of a wide frame in columnar form (bucket starts + one column per channel), and the
 * few operations the stream needs on them. Slices are views, not copies.
 */
import { encodeData, type FrameJSON } from '../../../common/frames';
import type { Resampled } from '../../registry/types';

export interface Rows {
  /** Bucket starts (epoch ms), ascending. */
  times: Float64Array;
  /** One column per channel, in subscription order; NaN is an empty bucket. */
  columns: Float64Array[];
}

export function emptyRows(nColumns: number): Rows {
  return { times: new Float64Array(0), columns: Array.from({ length: nColumns }, () => new Float64Array(0)) };
}

export function lastTime(rows: Rows): number {
  return rows.times.length ? rows.times[rows.times.length - 1] : -Infinity;
}

/** Rows with `lo <= time < hi` (views). */
export function rowsBetween(rows: Rows, lo: number, hi: number): Rows {
  const { times } = rows;
  let a = 0;
  while (a < times.length && !(times[a] >= lo)) a++;
  let b = a;
  while (b < times.length && times[b] < hi) b++;
  return slice(rows, a, b);
}

/** Rows with time > t: what a client that has everything up to t still lacks. */
export function rowsAfter(rows: Rows, t: number): Rows {
  const { times } = rows;
  let a = 0;
  while (a < times.length && !(times[a] > t)) a++;
  return slice(rows, a, times.length);
}

/**
 * The rows of a resampled grid with `lo <= time < hi`, columns in `channels` order (looked
 * up by name, so a plugin answering in another order still lands in the right field).
 */
export function gridRows(grid: Resampled, channels: readonly string[], lo: number, hi: number): Rows {
  const index = new Map(grid.names.map((n, i) => [n, i]));
  const columns = channels.map((name) => grid.columns[index.get(name) ?? -1] ?? new Float64Array(grid.times.length).fill(NaN));
  return rowsBetween({ times: grid.times, columns }, lo, hi);
}

export function concatRows(parts: Rows[], nColumns: number): Rows {
  const nonEmpty = parts.filter((p) => p.times.length > 0);
  if (nonEmpty.length === 0) return emptyRows(nColumns);
  if (nonEmpty.length === 1) return nonEmpty[0];
  const n = nonEmpty.reduce((s, p) => s + p.times.length, 0);
  const times = new Float64Array(n);
  const columns = Array.from({ length: nColumns }, () => new Float64Array(n));
  let at = 0;
  for (const p of nonEmpty) {
    times.set(p.times, at);
    for (let c = 0; c < nColumns; c++) columns[c].set(p.columns[c], at);
    at += p.times.length;
  }
  return { times, columns };
}

/** A data-only append frame. */
export function appendFrame(rows: Rows): FrameJSON {
  return { data: encodeData(rows.times, rows.columns) };
}

function slice(rows: Rows, a: number, b: number): Rows {
  if (a === 0 && b === rows.times.length) return rows;
  return { times: rows.times.subarray(a, b), columns: rows.columns.map((c) => c.subarray(a, b)) };
}
