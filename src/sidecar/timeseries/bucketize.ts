/**
 * The bucket grid of a window, and the order checks that frame a kernel's pass: times
 * before and after the window are checked here, times inside it by the kernel itself, so
 * every channel is read once and sorted only when that one pass finds it unsorted.
 */
import type { Series } from './types';

/** The epoch-aligned grid of a window: bucket k is `[start + k*interval, start + (k+1)*interval)`. */
export interface Grid {
  from: number;
  to: number;
  start: number;
  interval: number;
  nBuckets: number;
}

export function makeGrid(from: number, to: number, interval: number): Grid {
  const start = Math.floor(from / interval) * interval;
  // Bucket starts are < to: the last one is the one that contains to - epsilon.
  const nBuckets = Math.max(0, Math.ceil((to - start) / interval));
  return { from, to, start, interval, nBuckets };
}

/** Bucket start k, computed by multiplication so that no rounding error accumulates. */
export function bucketTime(grid: Grid, k: number): number {
  return grid.start + k * grid.interval;
}

/** Index of the first sample at or after `from`, or -1 if the times before it are unsorted (or NaN). */
export function skipBefore(times: Float64Array, from: number): number {
  let prev = -Infinity;
  let i = 0;
  for (; i < times.length; i++) {
    const t = times[i];
    if (!(t >= prev)) return -1;
    if (t >= from) break;
    prev = t;
  }
  return i;
}

/** True when `times[i..]` is ascending with no NaN, given that `times[i-1]` was. */
export function sortedFrom(times: Float64Array, i: number): boolean {
  let prev = i > 0 ? times[i - 1] : -Infinity;
  for (; i < times.length; i++) {
    const t = times[i];
    if (!(t >= prev)) return false;
    prev = t;
  }
  return true;
}

/** A time-sorted copy of `series`; equal times keep their order, NaN times are dropped. */
export function sortSeries(series: Series): Series {
  const { times, values } = series;
  let n = 0;
  const order = new Uint32Array(times.length);
  for (let i = 0; i < times.length; i++) if (times[i] === times[i]) order[n++] = i;
  const idx = order.subarray(0, n);
  idx.sort((a, b) => times[a] - times[b] || a - b);
  const t = new Float64Array(n);
  const v = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    t[j] = times[idx[j]];
    v[j] = values[idx[j]];
  }
  return { times: t, values: v };
}

export function isSorted(times: Float64Array): boolean {
  return sortedFrom(times, 0);
}
