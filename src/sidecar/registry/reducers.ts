/**
 * One fused kernel per reducer: a single pass that walks the window's samples bucket by
 * bucket, checks that the times ascend, and reduces the values, writing `out[k]` for every
 * bucket. Each kernel is its own loop on purpose — a shared loop calling a reducer per
 * sample would be polymorphic and several times slower (see bench/resample.bench.ts).
 *
 * Contract: start at index `i` (the first sample at or after the window start); return the
 * index after the last sample inside the window, or -1 as soon as a time is smaller than
 * the one before it (the caller then sorts and runs again). NaN values are skipped
 * (`v === v` is false only for NaN); a bucket with no value is NaN, or 0 for count.
 */
import type { Grid } from './bucketize';
import { medianInPlace as importedMedian } from './select';
import type { Reducer } from './types';

export type Kernel = (times: Float64Array, values: Float64Array, grid: Grid, i: number, out: Float64Array) => number;

/**
 * First and last walk only the times (boundaries and order); the value is found afterwards
 * from the bucket's start or end, usually in one step, so values are barely read.
 */
const first: Kernel = (times, values, grid, i, out) => {
  const n = times.length;
  let prev = -Infinity;
  const { nBuckets, start, interval, to } = grid;
  const lastBucket = nBuckets - 1;
  for (let k = 0; k < nBuckets; k++) {
    const b = k === lastBucket ? to : start + (k + 1) * interval;
    const begin = i;
    for (; i < n; i++) {
      const t = times[i];
      if (!(t < b)) break;
      if (t < prev) return -1;
      prev = t;
    }
    let r = NaN;
    for (let j = begin; j < i && r !== r; j++) r = values[j];
    out[k] = r;
  }
  return i;
};

const last: Kernel = (times, values, grid, i, out) => {
  const n = times.length;
  let prev = -Infinity;
  const { nBuckets, start, interval, to } = grid;
  const lastBucket = nBuckets - 1;
  for (let k = 0; k < nBuckets; k++) {
    const b = k === lastBucket ? to : start + (k + 1) * interval;
    const begin = i;
    for (; i < n; i++) {
      const t = times[i];
      if (!(t < b)) break;
      if (t < prev) return -1;
      prev = t;
    }
    let r = NaN;
    for (let j = i - 1; j >= begin && r !== r; j--) r = values[j];
    out[k] = r;
  }
  return i;
};

const count: Kernel = (times, values, grid, i, out) => {
  const n = times.length;
  let prev = -Infinity;
  const { nBuckets, start, interval, to } = grid;
  const lastBucket = nBuckets - 1;
  for (let k = 0; k < nBuckets; k++) {
    const b = k === lastBucket ? to : start + (k + 1) * interval;
    let c = 0;
    for (; i < n; i++) {
      const t = times[i];
      if (!(t < b)) break;
      if (t < prev) return -1;
      prev = t;
      const v = values[i];
      if (v === v) c++;
    }
    out[k] = c;
  }
  return i;
};

/** Sum and mean share one loop: they differ only in what a bucket's total becomes. */
function sumKernel(divide: boolean): Kernel {
  return (times, values, grid, i, out) => {
    const n = times.length;
    let prev = -Infinity;
    const { nBuckets, start, interval, to } = grid;
    const lastBucket = nBuckets - 1;
    for (let k = 0; k < nBuckets; k++) {
      const b = k === lastBucket ? to : start + (k + 1) * interval;
      let s = 0;
      let c = 0;
      for (; i < n; i++) {
        const t = times[i];
        if (!(t < b)) break;
        if (t < prev) return -1;
        prev = t;
        const v = values[i];
        if (v === v) {
          s += v;
          c++;
        }
      }
      out[k] = c === 0 ? NaN : divide ? s / c : s;
    }
    return i;
  };
}

const sum = sumKernel(false);
const mean = sumKernel(true);

function countValid(values: Float64Array, begin: number, end: number): number {
  let c = 0;
  for (let i = begin; i < end; i++) if (values[i] === values[i]) c++;
  return c;
}

/**
 * Population standard deviation in one pass over the bucket, on values shifted by the
 * bucket's first value: the shift keeps the sum of squares from cancelling catastrophically
 * (the shifted mean is small next to the spread), and one pass is ~1.5x faster than two.
 */
const std: Kernel = (times, values, grid, i, out) => {
  const n = times.length;
  let prev = -Infinity;
  const { nBuckets, start, interval, to } = grid;
  const lastBucket = nBuckets - 1;
  for (let k = 0; k < nBuckets; k++) {
    const b = k === lastBucket ? to : start + (k + 1) * interval;
    let shift = NaN;
    let s = 0;
    let ss = 0;
    let c = 0;
    for (; i < n; i++) {
      const t = times[i];
      if (!(t < b)) break;
      if (t < prev) return -1;
      prev = t;
      const v = values[i];
      if (v === v) {
        if (c === 0) shift = v;
        const d = v - shift;
        s += d;
        ss += d * d;
        c++;
      }
    }
    if (c === 0) out[k] = NaN;
    else {
      const variance = (ss - (s * s) / c) / c;
      out[k] = Math.sqrt(variance > 0 ? variance : 0);
    }
  }
  return i;
};

/**
 * Min and max pick between the running extreme and the new value by indexing a two-slot
 * array with the comparison, so noisy data costs no branch mispredictions (~20% faster
 * than `if (v < r) r = v`). `v < r` is false for NaN, so NaN is skipped for free; an
 * all-NaN bucket is told apart at its end.
 */
const pick = new Float64Array(2);

const min: Kernel = (times, values, grid, i, out) => {
  const n = times.length;
  let prev = -Infinity;
  const { nBuckets, start, interval, to } = grid;
  const lastBucket = nBuckets - 1;
  const p = pick;
  for (let k = 0; k < nBuckets; k++) {
    const b = k === lastBucket ? to : start + (k + 1) * interval;
    const begin = i;
    let r = Infinity;
    for (; i < n; i++) {
      const t = times[i];
      if (!(t < b)) break;
      if (t < prev) return -1;
      prev = t;
      const v = values[i];
      p[0] = r;
      p[1] = v;
      r = p[+(v < r)];
    }
    out[k] = r === Infinity && countValid(values, begin, i) === 0 ? NaN : r;
  }
  return i;
};

const max: Kernel = (times, values, grid, i, out) => {
  const n = times.length;
  let prev = -Infinity;
  const { nBuckets, start, interval, to } = grid;
  const lastBucket = nBuckets - 1;
  const p = pick;
  for (let k = 0; k < nBuckets; k++) {
    const b = k === lastBucket ? to : start + (k + 1) * interval;
    const begin = i;
    let r = -Infinity;
    for (; i < n; i++) {
      const t = times[i];
      if (!(t < b)) break;
      if (t < prev) return -1;
      prev = t;
      const v = values[i];
      p[0] = r;
      p[1] = v;
      r = p[+(v > r)];
    }
    out[k] = r === -Infinity && countValid(values, begin, i) === 0 ? NaN : r;
  }
  return i;
};

/** Bound once: calling an import per bucket would go through the CommonJS export getter. */
const medianInPlace = importedMedian;

/** Scratch for the median, reused across buckets and calls; grown up to a bound, never kept larger. */
const KEPT_SCRATCH = 1 << 20;
let medianScratch = new Float64Array(1024);

const median: Kernel = (times, values, grid, i, out) => {
  const n = times.length;
  let prev = -Infinity;
  const { nBuckets, start, interval, to } = grid;
  const lastBucket = nBuckets - 1;
  for (let k = 0; k < nBuckets; k++) {
    const b = k === lastBucket ? to : start + (k + 1) * interval;
    const begin = i;
    for (; i < n; i++) {
      const t = times[i];
      if (!(t < b)) break;
      if (t < prev) return -1;
      prev = t;
    }
    const size = i - begin;
    if (size > medianScratch.length && size <= KEPT_SCRATCH) medianScratch = new Float64Array(size);
    const a = size > medianScratch.length ? new Float64Array(size) : medianScratch;
    let c = 0;
    for (let j = begin; j < i; j++) {
      const v = values[j];
      if (v === v) a[c++] = v;
    }
    out[k] = c > 0 ? medianInPlace(a, c) : NaN;
  }
  return i;
};

export const KERNELS: Record<Reducer, Kernel> = { first, last, mean, median, sum, count, std, min, max };
