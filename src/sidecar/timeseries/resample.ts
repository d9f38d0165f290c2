/**
 * The shared resampler (seed 000's `resample()`): raw columnar samples of several channels
 * in, one wide epoch-aligned grid out. See DESIGN.md "Resampling" for the semantics.
 */
import { AppError } from '../errors';
import { isSorted, makeGrid, skipBefore, sortedFrom, sortSeries, type Grid } from './bucketize';
import { inferInterval } from './infer-interval';
import { chooseInterval } from './interval';
import { KERNELS, type Kernel } from './reducers';
import { REDUCERS, type Reducer, type Resampled, type Series, type SeriesSet } from './types';
import { gridTally } from './work-tally';

export interface ResampleOptions {
  /**
   * At most this many buckets (memory is buckets × channels × 8 bytes): an explicit interval
   * that needs more is refused (LIMIT_EXCEEDED); an inferred one is coarsened to fit.
   */
  maxBuckets?: number;
}

export const DEFAULT_MAX_BUCKETS = 10_000_000;

/**
 * Resamples `set` over the window `[to - length, to)`. `interval > 0` is the bucket width
 * in ms; `interval <= 0` infers one grid from the data. Channels need not be sorted: each
 * is checked while it is bucketed and sorted only if it has to be.
 */
export function resample(
  set: SeriesSet,
  length: number,
  to: number,
  interval: number,
  reducer: Reducer = 'last',
  options: ResampleOptions = {},
): Resampled {
  if (!(Number.isFinite(length) && length > 0))
    throw new AppError('BAD_REQUEST', `length must be a positive number of ms, got ${length}`, 'length');
  if (!Number.isFinite(to)) throw new AppError('BAD_REQUEST', `to must be a finite epoch-ms time, got ${to}`, 'to');
  if (!Number.isFinite(interval))
    throw new AppError('BAD_REQUEST', `resampling interval must be a finite number of ms, got ${interval}`, 'resampling');
  if (!REDUCERS.includes(reducer))
    throw new AppError('BAD_REQUEST', `unknown reducer "${reducer}"; expected one of ${REDUCERS.join(', ')}`, 'reducer');

  const names = Object.keys(set);
  const series = names.map((name) => checkSeries(name, set[name]));
  const from = to - length;
  const maxBuckets = options.maxBuckets ?? DEFAULT_MAX_BUCKETS;
  const explicit = interval > 0;
  if (!explicit) {
    // Inference needs sorted times; sort up front here (the fixed-interval path sorts lazily).
    for (let c = 0; c < series.length; c++) if (!isSorted(series[c].times)) series[c] = sortSeries(series[c]);
    // Whole ms, so bucket times are exact integers as on every other grid.
    const inferred = Math.max(1, Math.round(inferInterval(series, from, to, length)));
    // A burst of fast samples must coarsen the grid, not exceed the caller's row budget.
    interval = makeGrid(from, to, inferred).nBuckets <= maxBuckets ? inferred : chooseInterval(from, to, inferred, maxBuckets);
  }

  const grid = makeGrid(from, to, interval);
  // chooseInterval may give maxBuckets 1 two buckets (see there); only an explicit interval is refused.
  if (grid.nBuckets > (explicit ? maxBuckets : Math.max(2, maxBuckets))) {
    throw new AppError(
      'LIMIT_EXCEEDED',
      `resampling ${length} ms at ${interval} ms would make ${grid.nBuckets} buckets, more than the limit of ${maxBuckets}; use a larger interval`,
      'resampling',
    );
  }

  gridTally.buckets += grid.nBuckets;
  gridTally.cells += grid.nBuckets * series.length;
  // Inline rather than bucketTime(): a cross-module call per bucket goes through the
  // CommonJS export getter that tsx and swc emit, measurable at a million buckets.
  const times = new Float64Array(grid.nBuckets);
  for (let k = 0, { start, interval: step } = grid; k < grid.nBuckets; k++) times[k] = start + k * step;
  const kernel = KERNELS[reducer];
  const columns = series.map((s) => {
    const out = new Float64Array(grid.nBuckets);
    if (!runKernel(kernel, s, grid, out)) runKernel(kernel, sortSeries(s), grid, out);
    return out;
  });
  return { times, names, columns, interval };
}

/** One pass of `kernel` over a channel; false (and `out` to be rewritten) if its times are unsorted. */
function runKernel(kernel: Kernel, s: Series, grid: Grid, out: Float64Array): boolean {
  const begin = skipBefore(s.times, grid.from);
  if (begin < 0) return false;
  const end = kernel(s.times, s.values, grid, begin, out);
  return end >= 0 && sortedFrom(s.times, end);
}

function checkSeries(name: string, s: Series | undefined): Series {
  if (!s || !(s.times instanceof Float64Array) || !(s.values instanceof Float64Array)) {
    throw new AppError('BAD_REQUEST', `channel "${name}" must have Float64Array times and values`, 'channels');
  }
  if (s.times.length !== s.values.length) {
    throw new AppError('BAD_REQUEST', `channel "${name}" has ${s.times.length} times but ${s.values.length} values`, 'channels');
  }
  return s;
}
