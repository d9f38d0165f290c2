/**
 * One kernel per reducer: a single pass over the window's samples that checks that the
 * times ascend and reduces the values, writing `out[k]` for every bucket.
 *
 * Contract: start at index `i` (the first sample at or after the window start); return the
 * index after the last sample inside the window, or -1 if a time is smaller than the one
 * before it (the caller then sorts and runs again). NaN values are skipped; a bucket with
 * no value is NaN, or 0 for count.
 *
 * Why it is shaped as it is (measured with bench/resample.bench.ts):
 * - Two lanes. A pass over large arrays is bound by memory latency more than arithmetic:
 *   one sequential stream reads only ~3 GB/s here, but several streams are read
 *   concurrently. So each kernel (but the median's, bound by its selection) walks the
 *   first and the second half of the buckets in lockstep, one bucket of each at a time
 *   (four streams: two of times, two of values), ~1.3-1.6x faster than one pass.
 * - One bucket per call of a small `xxxBucket` function, which TurboFan inlines into its
 *   kernel. Every kernel repeats its own lockstep loop on purpose: a loop shared by all
 *   reducers would call them polymorphically, without inlining, once per bucket.
 * - Samples two at a time: the second one's time alone decides whether both are in the
 *   bucket (the order check then covers the first), and the checks V8 repeats at every
 *   typed-array access are shared by the pair: ~10-15% faster than one at a time.
 * - NaN is checked per bucket, not per sample: a NaN value makes the bucket's running sum
 *   NaN, and only then is the bucket reduced again, skipping NaN. A check per sample costs
 *   about a quarter of the throughput on buckets of ~10 samples.
 *
 * Why one file over 400 lines: the kernels are the resampler's hot loop, each written out
 * for its two lanes on purpose (a shared helper costs a call per bucket); split, they would
 * only be harder to compare with each other.
 */
import type { Grid } from './bucketize';
import { medianInPlace as importedMedian } from './select';
import type { Reducer } from './types';

export type Kernel = (times: Float64Array, values: Float64Array, grid: Grid, i: number, out: Float64Array) => number;

/**
 * A module constant rather than the global `NaN` in hot code: TurboFan folds it to a
 * number, whereas a global load on a path not yet run (empty buckets) makes it box the
 * bucket's result as a heap number, every bucket.
 */
const NAN = NaN;

/** Bound once: calling an import per bucket would go through the CommonJS export getter. */
const medianInPlace = importedMedian;

/** End of bucket k: the next bucket's start (by multiplication, so no rounding accumulates), or `to`. */
function bucketEnd(grid: Grid, k: number): number {
  return k === grid.nBuckets - 1 ? grid.to : grid.start + (k + 1) * grid.interval;
}

/**
 * Where the second lane starts: the first sample at or after bucket `h`, by binary search
 * from `i`. That is exact for sorted times; for unsorted ones it may be anywhere, which
 * `joinLanes` then reports.
 */
function laneStart(times: Float64Array, grid: Grid, i: number, h: number): number {
  const x = grid.start + h * grid.interval;
  let hi = times.length;
  while (i < hi) {
    const mid = i + ((hi - i) >>> 1);
    if (times[mid] < x) i = mid + 1;
    else hi = mid;
  }
  return i;
}

/**
 * The kernel's result once both lanes are done: the end of the second lane, provided the
 * first ended exactly where the second started (the second lane's first order check was
 * against the sample before it, so the whole window is then checked ascending).
 */
function joinLanes(endA: number, split: number, endB: number): number {
  return endA === split ? endB : -1;
}

/**
 * Walks the times of bucket k from sample i: the index after it, or -1 if unsorted.
 * The shape of every bucket loop below: pairs while the second of two is in the bucket,
 * then at most one more sample (the pair loop stopped at a time >= b, or NaN, after it).
 */
function walkBucket(times: Float64Array, grid: Grid, i: number, k: number): number {
  const n = times.length;
  const b = bucketEnd(grid, k);
  let prev = i > 0 ? times[i - 1] : -Infinity;
  for (; i + 1 < n; i += 2) {
    const t1 = times[i + 1];
    if (!(t1 < b)) break;
    const t0 = times[i];
    if (!(prev <= t0 && t0 <= t1)) return -1;
    prev = t1;
  }
  if (i < n && times[i] < b) {
    if (times[i] < prev) return -1;
    i++;
  }
  return i;
}

/** First and last walk only the times; the value is then found from the bucket's start or end. */
function firstBucket(times: Float64Array, values: Float64Array, grid: Grid, i: number, out: Float64Array, k: number): number {
  const end = walkBucket(times, grid, i, k);
  let r = NAN;
  for (; i < end && r !== r; i++) r = values[i];
  out[k] = r;
  return end;
}

function lastBucket(times: Float64Array, values: Float64Array, grid: Grid, i: number, out: Float64Array, k: number): number {
  const end = walkBucket(times, grid, i, k);
  let r = NAN;
  for (let j = end - 1; j >= i && r !== r; j--) r = values[j];
  out[k] = r;
  return end;
}

const SUM = 0;
const MEAN = 1;
const COUNT = 2;

/** Sum, mean and count share one loop (`what` is a constant at each call, folded away once inlined). */
function sumBucket(times: Float64Array, values: Float64Array, grid: Grid, i: number, out: Float64Array, k: number, what: number): number {
  const n = times.length;
  const b = bucketEnd(grid, k);
  const begin = i;
  let prev = i > 0 ? times[i - 1] : -Infinity;
  let s = 0;
  for (; i + 1 < n; i += 2) {
    const t1 = times[i + 1];
    if (!(t1 < b)) break;
    const t0 = times[i];
    if (!(prev <= t0 && t0 <= t1)) return -1;
    prev = t1;
    s += values[i];
    s += values[i + 1];
  }
  if (i < n && times[i] < b) {
    if (times[i] < prev) return -1;
    s += values[i++];
  }
  // A NaN sum means a NaN value (or +Infinity met -Infinity): only then reduce again, skipping
  // NaN. Otherwise every sample counts, and an empty bucket's mean is 0 / 0, NaN.
  if (s !== s) s = sumSkippingNaN(values, begin, i, what);
  else if (what === MEAN) s /= i - begin;
  else if (what === COUNT) s = i - begin;
  else if (i === begin) s = NAN;
  out[k] = s;
  return i;
}

function sumSkippingNaN(values: Float64Array, begin: number, end: number, what: number): number {
  let s = 0;
  let c = 0;
  for (let j = begin; j < end; j++) {
    const v = values[j];
    if (v === v) {
      s += v;
      c++;
    }
  }
  return what === COUNT ? c : c === 0 ? NAN : what === MEAN ? s / c : s;
}

/**
 * Population standard deviation in one pass over the bucket, on values shifted by the
 * bucket's first value: the shift keeps the sum of squares from cancelling catastrophically
 * (the shifted mean is small next to the spread), and one pass is ~1.5x faster than two.
 */
function stdBucket(times: Float64Array, values: Float64Array, grid: Grid, i: number, out: Float64Array, k: number): number {
  const n = times.length;
  const b = bucketEnd(grid, k);
  const begin = i;
  const shift = i < n ? values[i] : 0;
  let prev = i > 0 ? times[i - 1] : -Infinity;
  let s = 0;
  let ss = 0;
  for (; i + 1 < n; i += 2) {
    const t1 = times[i + 1];
    if (!(t1 < b)) break;
    const t0 = times[i];
    if (!(prev <= t0 && t0 <= t1)) return -1;
    prev = t1;
    const d0 = values[i] - shift;
    const d1 = values[i + 1] - shift;
    s += d0;
    ss += d0 * d0;
    s += d1;
    ss += d1 * d1;
  }
  if (i < n && times[i] < b) {
    if (times[i] < prev) return -1;
    const d = values[i++] - shift;
    s += d;
    ss += d * d;
  }
  out[k] = s === s ? stdOf(s, ss, i - begin) : stdSkippingNaN(values, begin, i);
  return i;
}

function stdSkippingNaN(values: Float64Array, begin: number, end: number): number {
  let shift = NAN;
  let s = 0;
  let ss = 0;
  let c = 0;
  for (let j = begin; j < end; j++) {
    const v = values[j];
    if (v === v) {
      if (c === 0) shift = v;
      const d = v - shift;
      s += d;
      ss += d * d;
      c++;
    }
  }
  return stdOf(s, ss, c);
}

function stdOf(s: number, ss: number, c: number): number {
  if (c === 0) return NAN;
  const variance = (ss - (s * s) / c) / c;
  return Math.sqrt(variance > 0 ? variance : 0);
}

/**
 * Min and max pick between the running extreme and the new value by indexing a pair of
 * slots with the comparison, so noisy data costs no branch mispredictions (~20% faster
 * than `if (v < r) r = v`; Math.min compiles to branches too). `v < r` is false for NaN,
 * so NaN is skipped for free; an all-NaN bucket is told apart at its end.
 */
const pick = new Float64Array(4);

function minBucket(times: Float64Array, values: Float64Array, grid: Grid, i: number, out: Float64Array, k: number): number {
  const n = times.length;
  const b = bucketEnd(grid, k);
  const begin = i;
  const p = pick;
  let prev = i > 0 ? times[i - 1] : -Infinity;
  let r = Infinity;
  for (; i + 1 < n; i += 2) {
    const t1 = times[i + 1];
    if (!(t1 < b)) break;
    const t0 = times[i];
    if (!(prev <= t0 && t0 <= t1)) return -1;
    prev = t1;
    const v0 = values[i];
    const v1 = values[i + 1];
    p[0] = r;
    p[1] = v0;
    r = p[+(v0 < r)];
    p[2] = r;
    p[3] = v1;
    r = p[2 + +(v1 < r)];
  }
  if (i < n && times[i] < b) {
    if (times[i] < prev) return -1;
    const v = values[i++];
    p[0] = r;
    p[1] = v;
    r = p[+(v < r)];
  }
  out[k] = r === Infinity && countValid(values, begin, i) === 0 ? NAN : r;
  return i;
}

function maxBucket(times: Float64Array, values: Float64Array, grid: Grid, i: number, out: Float64Array, k: number): number {
  const n = times.length;
  const b = bucketEnd(grid, k);
  const begin = i;
  const p = pick;
  let prev = i > 0 ? times[i - 1] : -Infinity;
  let r = -Infinity;
  for (; i + 1 < n; i += 2) {
    const t1 = times[i + 1];
    if (!(t1 < b)) break;
    const t0 = times[i];
    if (!(prev <= t0 && t0 <= t1)) return -1;
    prev = t1;
    const v0 = values[i];
    const v1 = values[i + 1];
    p[0] = r;
    p[1] = v0;
    r = p[+(v0 > r)];
    p[2] = r;
    p[3] = v1;
    r = p[2 + +(v1 > r)];
  }
  if (i < n && times[i] < b) {
    if (times[i] < prev) return -1;
    const v = values[i++];
    p[0] = r;
    p[1] = v;
    r = p[+(v > r)];
  }
  out[k] = r === -Infinity && countValid(values, begin, i) === 0 ? NAN : r;
  return i;
}

function countValid(values: Float64Array, begin: number, end: number): number {
  let c = 0;
  for (let i = begin; i < end; i++) if (values[i] === values[i]) c++;
  return c;
}

/*
 * The kernels: lane A takes buckets [0, h), lane B [h, nBuckets), one bucket of each per
 * step; lane B has one bucket more when nBuckets is odd. A bucket function returns -1 for
 * unsorted times, which stops both lanes.
 */

const first: Kernel = (times, values, grid, i, out) => {
  const h = grid.nBuckets >> 1;
  let j = laneStart(times, grid, i, h);
  const split = j;
  for (let k = 0; k < h && i >= 0 && j >= 0; k++) {
    i = firstBucket(times, values, grid, i, out, k);
    j = firstBucket(times, values, grid, j, out, h + k);
  }
  if (2 * h < grid.nBuckets && j >= 0) j = firstBucket(times, values, grid, j, out, 2 * h);
  return joinLanes(i, split, j);
};

const last: Kernel = (times, values, grid, i, out) => {
  const h = grid.nBuckets >> 1;
  let j = laneStart(times, grid, i, h);
  const split = j;
  for (let k = 0; k < h && i >= 0 && j >= 0; k++) {
    i = lastBucket(times, values, grid, i, out, k);
    j = lastBucket(times, values, grid, j, out, h + k);
  }
  if (2 * h < grid.nBuckets && j >= 0) j = lastBucket(times, values, grid, j, out, 2 * h);
  return joinLanes(i, split, j);
};

/** Sum, mean and count: one bucket function, told apart by a constant; each kernel is its own function, optimized alone. */
const sum: Kernel = (times, values, grid, i, out) => {
  const h = grid.nBuckets >> 1;
  let j = laneStart(times, grid, i, h);
  const split = j;
  for (let k = 0; k < h && i >= 0 && j >= 0; k++) {
    i = sumBucket(times, values, grid, i, out, k, SUM);
    j = sumBucket(times, values, grid, j, out, h + k, SUM);
  }
  if (2 * h < grid.nBuckets && j >= 0) j = sumBucket(times, values, grid, j, out, 2 * h, SUM);
  return joinLanes(i, split, j);
};

const mean: Kernel = (times, values, grid, i, out) => {
  const h = grid.nBuckets >> 1;
  let j = laneStart(times, grid, i, h);
  const split = j;
  for (let k = 0; k < h && i >= 0 && j >= 0; k++) {
    i = sumBucket(times, values, grid, i, out, k, MEAN);
    j = sumBucket(times, values, grid, j, out, h + k, MEAN);
  }
  if (2 * h < grid.nBuckets && j >= 0) j = sumBucket(times, values, grid, j, out, 2 * h, MEAN);
  return joinLanes(i, split, j);
};

const count: Kernel = (times, values, grid, i, out) => {
  const h = grid.nBuckets >> 1;
  let j = laneStart(times, grid, i, h);
  const split = j;
  for (let k = 0; k < h && i >= 0 && j >= 0; k++) {
    i = sumBucket(times, values, grid, i, out, k, COUNT);
    j = sumBucket(times, values, grid, j, out, h + k, COUNT);
  }
  if (2 * h < grid.nBuckets && j >= 0) j = sumBucket(times, values, grid, j, out, 2 * h, COUNT);
  return joinLanes(i, split, j);
};

const std: Kernel = (times, values, grid, i, out) => {
  const h = grid.nBuckets >> 1;
  let j = laneStart(times, grid, i, h);
  const split = j;
  for (let k = 0; k < h && i >= 0 && j >= 0; k++) {
    i = stdBucket(times, values, grid, i, out, k);
    j = stdBucket(times, values, grid, j, out, h + k);
  }
  if (2 * h < grid.nBuckets && j >= 0) j = stdBucket(times, values, grid, j, out, 2 * h);
  return joinLanes(i, split, j);
};

const min: Kernel = (times, values, grid, i, out) => {
  const h = grid.nBuckets >> 1;
  let j = laneStart(times, grid, i, h);
  const split = j;
  for (let k = 0; k < h && i >= 0 && j >= 0; k++) {
    i = minBucket(times, values, grid, i, out, k);
    j = minBucket(times, values, grid, j, out, h + k);
  }
  if (2 * h < grid.nBuckets && j >= 0) j = minBucket(times, values, grid, j, out, 2 * h);
  return joinLanes(i, split, j);
};

const max: Kernel = (times, values, grid, i, out) => {
  const h = grid.nBuckets >> 1;
  let j = laneStart(times, grid, i, h);
  const split = j;
  for (let k = 0; k < h && i >= 0 && j >= 0; k++) {
    i = maxBucket(times, values, grid, i, out, k);
    j = maxBucket(times, values, grid, j, out, h + k);
  }
  if (2 * h < grid.nBuckets && j >= 0) j = maxBucket(times, values, grid, j, out, 2 * h);
  return joinLanes(i, split, j);
};

/** Scratch for the median, reused across buckets and calls; grown up to a bound, never kept larger. */
const KEPT_SCRATCH = 1 << 20;
let medianScratch = new Float64Array(1024);

/**
 * The median is bound by selection, not by memory, so it takes one lane: a second lane (and
 * a bucket function) only made it ~20% slower.
 */
const median: Kernel = (times, values, grid, i, out) => {
  const n = times.length;
  let prev = -Infinity;
  const { nBuckets, start, interval, to } = grid;
  const lastK = nBuckets - 1;
  for (let k = 0; k < nBuckets; k++) {
    const b = k === lastK ? to : start + (k + 1) * interval;
    const begin = i;
    for (; i + 1 < n; i += 2) {
      const t1 = times[i + 1];
      if (!(t1 < b)) break;
      const t0 = times[i];
      if (!(prev <= t0 && t0 <= t1)) return -1;
      prev = t1;
    }
    if (i < n && times[i] < b) {
      if (times[i] < prev) return -1;
      prev = times[i++];
    }
    const size = i - begin;
    if (size > medianScratch.length && size <= KEPT_SCRATCH) medianScratch = new Float64Array(size);
    const a = size > medianScratch.length ? new Float64Array(size) : medianScratch;
    // Every value is copied; a NaN is not counted, so the next value overwrites it.
    let c = 0;
    for (let j = begin; j < i; j++) {
      const v = values[j];
      a[c] = v;
      c += +(v === v);
    }
    out[k] = c > 0 ? medianInPlace(a, c) : NAN;
  }
  return i;
};

export const KERNELS: Record<Reducer, Kernel> = { first, last, mean, median, sum, count, std, min, max };
