/**
 * Rollups: per series, one aggregate per epoch-aligned slot of `resolution` ms (a minute by
 * default), kept on append by both stores so long windows resample from ~1/60 of the data.
 *
 * A slot is 9 float64s: count, sum, m2, min, max, first, firstTime, last, lastTime. `m2` is
 * the sum of squared deviations from the slot mean (Welford/Chan), not the raw sum of
 * squares: sum of squares minus n·mean² cancels catastrophically for a value like
 * 1000.001 ± 0.001, while m2 merges exactly as stably as the resampler's own two-pass std.
 * (The sum of squares, if wanted, is m2 + sum²/count.) An all-zero slot is empty.
 *
 * Merging follows the resampler's tie rules: `first` keeps the earliest time and, on a tie,
 * what arrived first; `last` keeps the latest time and, on a tie, what arrived last.
 */
import { bucketTime as importedBucketTime, makeGrid, type Grid } from '../timeseries/bucketize';
import { DEFAULT_MAX_BUCKETS } from '../timeseries/resample';
import { gridTally } from '../timeseries/work-tally';
import type { Reducer } from '../timeseries/types';
import { AppError } from '../errors';
import type { SampleColumns } from '../core/samples';

/** Bound once: an import called per bucket would go through the CommonJS export getter. */
const bucketTime = importedBucketTime;

export const SLOT = 9;
export const SLOT_BYTES = SLOT * 8;
export const F_COUNT = 0;
export const F_SUM = 1;
export const F_M2 = 2;
export const F_MIN = 3;
export const F_MAX = 4;
export const F_FIRST = 5;
export const F_FIRST_T = 6;
export const F_LAST = 7;
export const F_LAST_T = 8;

/**
 * Stored rollups (Redis) are split in two regions so a reader fetches only what its reducer
 * needs: A = [count, sum, m2] for count/sum/mean/std, B = [count, min, max, first, firstTime,
 * last, lastTime] for min/max/first/last. Field lists are slot-field indexes, in stored order.
 */
export const REGION_A: readonly number[] = [F_COUNT, F_SUM, F_M2];
export const REGION_B: readonly number[] = [F_COUNT, F_MIN, F_MAX, F_FIRST, F_FIRST_T, F_LAST, F_LAST_T];

export function regionOf(reducer: Reducer): readonly number[] {
  return reducer === 'count' || reducer === 'sum' || reducer === 'mean' || reducer === 'std' ? REGION_A : REGION_B;
}

export const ALL_FIELDS: readonly number[] = [F_COUNT, F_SUM, F_M2, F_MIN, F_MAX, F_FIRST, F_FIRST_T, F_LAST, F_LAST_T];

/** The reducers a rollup answers exactly; median needs every raw value. */
export const ROLLUP_REDUCERS: ReadonlySet<Reducer> = new Set<Reducer>(['count', 'sum', 'mean', 'std', 'min', 'max', 'first', 'last']);

/** Folds one sample into the slot at `a[o..o+9)`; NaN values are skipped, as the reducers do. */
export function addSample(a: Float64Array, o: number, t: number, v: number): void {
  if (v !== v) return;
  const n = a[o];
  if (n === 0) {
    a[o] = 1;
    a[o + F_SUM] = v;
    a[o + F_M2] = 0;
    a[o + F_MIN] = v;
    a[o + F_MAX] = v;
    a[o + F_FIRST] = v;
    a[o + F_FIRST_T] = t;
    a[o + F_LAST] = v;
    a[o + F_LAST_T] = t;
    return;
  }
  const mean = a[o + F_SUM] / n;
  const n1 = n + 1;
  const sum = a[o + F_SUM] + v;
  a[o] = n1;
  a[o + F_SUM] = sum;
  a[o + F_M2] += (v - mean) * (v - sum / n1);
  if (v < a[o + F_MIN]) a[o + F_MIN] = v;
  if (v > a[o + F_MAX]) a[o + F_MAX] = v;
  if (t < a[o + F_FIRST_T]) {
    a[o + F_FIRST] = v;
    a[o + F_FIRST_T] = t;
  }
  if (t >= a[o + F_LAST_T]) {
    a[o + F_LAST] = v;
    a[o + F_LAST_T] = t;
  }
}

/** Merges slot `b[ob..]` (arrived later) into `a[oa..]` (Chan et al.'s parallel variance). */
export function mergeSlot(a: Float64Array, oa: number, b: Float64Array, ob: number): void {
  const nb = b[ob];
  if (nb === 0) return;
  const na = a[oa];
  if (na === 0) {
    for (let f = 0; f < SLOT; f++) a[oa + f] = b[ob + f];
    return;
  }
  const n = na + nb;
  const d = b[ob + F_SUM] / nb - a[oa + F_SUM] / na;
  a[oa + F_M2] += b[ob + F_M2] + (d * d * na * nb) / n;
  a[oa] = n;
  a[oa + F_SUM] += b[ob + F_SUM];
  if (b[ob + F_MIN] < a[oa + F_MIN]) a[oa + F_MIN] = b[ob + F_MIN];
  if (b[ob + F_MAX] > a[oa + F_MAX]) a[oa + F_MAX] = b[ob + F_MAX];
  if (b[ob + F_FIRST_T] < a[oa + F_FIRST_T]) {
    a[oa + F_FIRST] = b[ob + F_FIRST];
    a[oa + F_FIRST_T] = b[ob + F_FIRST_T];
  }
  if (b[ob + F_LAST_T] >= a[oa + F_LAST_T]) {
    a[oa + F_LAST] = b[ob + F_LAST];
    a[oa + F_LAST_T] = b[ob + F_LAST_T];
  }
}

/**
 * How a window is answered from rollups: whole slots in `[slotFrom, slotTo)`, raw samples
 * for the partial slots at its edges (`[from, slotFrom)` and `[slotTo, to)`, under a slot each).
 */
export interface RollupPlan {
  grid: Grid;
  from: number;
  to: number;
  slotFrom: number;
  slotTo: number;
  nSlots: number;
  resolution: number;
  /** Raw-sample windows at the edges (0 to 2, head first), each shorter than one slot. */
  edges: Array<[number, number]>;
  /** Whether `edges[0]` is the head `[from, slotFrom)`. */
  hasHead: boolean;
}

export function canUseRollups(interval: number, reducer: Reducer, resolution: number): boolean {
  return ROLLUP_REDUCERS.has(reducer) && Number.isFinite(interval) && interval > 0 && Number.isInteger(interval / resolution);
}

/** A plan, or undefined when the window holds no whole slot (raw samples are as cheap then). */
export function planRollups(length: number, to: number, interval: number, resolution: number): RollupPlan | undefined {
  checkWindow(length, to);
  const from = to - length;
  const slotFrom = Math.ceil(from / resolution) * resolution;
  const slotTo = Math.floor(to / resolution) * resolution;
  if (!(slotFrom < slotTo)) return undefined;
  const grid = makeGrid(from, to, interval);
  if (grid.nBuckets > DEFAULT_MAX_BUCKETS) {
    throw new AppError(
      'LIMIT_EXCEEDED',
      `resampling ${length} ms at ${interval} ms would make ${grid.nBuckets} buckets, more than the limit of ${DEFAULT_MAX_BUCKETS}; use a larger interval`,
      'resampling',
    );
  }
  const edges: Array<[number, number]> = [];
  if (from < slotFrom) edges.push([from, slotFrom]);
  if (slotTo < to) edges.push([slotTo, to]);
  return {
    grid,
    from,
    to,
    slotFrom,
    slotTo,
    nSlots: Math.round((slotTo - slotFrom) / resolution),
    resolution,
    edges,
    hasHead: from < slotFrom,
  };
}

export function checkWindow(length: number, to: number): void {
  if (!(Number.isFinite(length) && length > 0))
    throw new AppError('BAD_REQUEST', `length must be a positive number of ms, got ${length}`, 'length');
  if (!Number.isFinite(to)) throw new AppError('BAD_REQUEST', `to must be a finite epoch-ms time, got ${to}`, 'to');
}

/** The bucket of the grid that holds time `t` (same boundaries as the resampler's kernels). */
function bucketOf(grid: Grid, t: number): number {
  let k = Math.floor((t - grid.start) / grid.interval);
  if (k < 0) k = 0;
  if (k > grid.nBuckets - 1) k = grid.nBuckets - 1;
  while (k + 1 < grid.nBuckets && t >= bucketTime(grid, k + 1)) k++;
  while (k > 0 && t < bucketTime(grid, k)) k--;
  return k;
}

/** Consecutive interior slots: `slots` holds slot `at` (counted from `plan.slotFrom`) onwards. */
export interface SlotPiece {
  at: number;
  slots: Float64Array;
  /** The fields each slot holds, in order (default: all 9, as in memory); see REGION_A/B. */
  fields?: readonly number[];
}

/** One series' rollup data for a plan: interior slot pieces (ascending, gaps are empty) and raw edge samples. */
export interface SeriesWindow {
  pieces: SlotPiece[];
  edges: SampleColumns[];
}

/** One series' column, reduced per bucket of the plan's grid. */
export function reduceSeries(plan: RollupPlan, reducer: Reducer, data: SeriesWindow): Float64Array {
  const { grid } = plan;
  gridTally.cells += grid.nBuckets;
  const acc = new Float64Array(grid.nBuckets * SLOT);
  const fold = (cols: SampleColumns) => {
    const { times, values } = cols;
    for (let i = 0; i < times.length; i++) {
      const t = times[i];
      if (t >= plan.from && t < plan.to) addSample(acc, bucketOf(grid, t) * SLOT, t, values[i]);
    }
  };
  // Time order (head edge, interior slots, tail edge) keeps first/last ties as raw samples do.
  const head = plan.hasHead ? 1 : 0;
  for (let e = 0; e < head; e++) fold(data.edges[e]);
  for (const piece of data.pieces) foldSlots(plan, reducer, piece, acc);
  for (let e = head; e < data.edges.length; e++) fold(data.edges[e]);
  return finalize(acc, grid.nBuckets, reducer);
}

/**
 * Folds a piece of interior slots into the bucket aggregates. Slots are consecutive and a
 * bucket is a whole number of them, so this walks buckets and their slot ranges; each
 * reducer reads only the fields it needs (mean: count and sum), straight from the stored
 * layout (`piece.fields`, `w` float64s a slot), in a tight loop.
 */
function foldSlots(plan: RollupPlan, reducer: Reducer, piece: SlotPiece, acc: Float64Array): void {
  const { grid, resolution, slotFrom } = plan;
  const { slots, at } = piece;
  const fields = piece.fields ?? ALL_FIELDS;
  const w = fields.length;
  const off = (f: number): number => {
    const i = fields.indexOf(f);
    if (i < 0) throw new Error(`rollup field ${f} not in this slot layout`);
    return i;
  };
  const n = Math.min(Math.floor(slots.length / w), plan.nSlots - at);
  const cnt = off(F_COUNT);
  let j = 0;
  for (let k = bucketOf(grid, slotFrom + at * resolution); k < grid.nBuckets && j < n; k++) {
    const end = k + 1 < grid.nBuckets ? Math.min(n, Math.round((bucketTime(grid, k + 1) - slotFrom) / resolution) - at) : n;
    const o = k * SLOT;
    switch (reducer) {
      case 'count':
      case 'sum':
      case 'mean': {
        const sm = off(F_SUM);
        let c = acc[o];
        let sum = acc[o + F_SUM];
        for (; j < end; j++) {
          c += slots[j * w + cnt];
          sum += slots[j * w + sm];
        }
        acc[o] = c;
        acc[o + F_SUM] = sum;
        break;
      }
      case 'std': {
        // Chan's merge of (count, sum, m2), as mergeSlot does.
        const sm = off(F_SUM);
        const m2 = off(F_M2);
        for (; j < end; j++) {
          const q = j * w;
          const nb = slots[q + cnt];
          if (nb === 0) continue;
          const na = acc[o];
          if (na === 0) {
            acc[o] = nb;
            acc[o + F_SUM] = slots[q + sm];
            acc[o + F_M2] = slots[q + m2];
            continue;
          }
          const d = slots[q + sm] / nb - acc[o + F_SUM] / na;
          acc[o + F_M2] += slots[q + m2] + (d * d * na * nb) / (na + nb);
          acc[o] = na + nb;
          acc[o + F_SUM] += slots[q + sm];
        }
        break;
      }
      case 'min':
      case 'max': {
        const f = reducer === 'min' ? F_MIN : F_MAX;
        const v = off(f);
        const sign = reducer === 'min' ? 1 : -1;
        for (; j < end; j++) {
          const q = j * w;
          if (slots[q + cnt] === 0) continue;
          if (acc[o] === 0 || sign * (slots[q + v] - acc[o + f]) < 0) acc[o + f] = slots[q + v];
          acc[o] += slots[q + cnt];
        }
        break;
      }
      case 'first': {
        const v = off(F_FIRST);
        const t = off(F_FIRST_T);
        for (; j < end; j++) {
          const q = j * w;
          if (slots[q + cnt] === 0) continue;
          if (acc[o] === 0 || slots[q + t] < acc[o + F_FIRST_T]) {
            acc[o + F_FIRST] = slots[q + v];
            acc[o + F_FIRST_T] = slots[q + t];
          }
          acc[o] += slots[q + cnt];
        }
        break;
      }
      case 'last': {
        const v = off(F_LAST);
        const t = off(F_LAST_T);
        for (; j < end; j++) {
          const q = j * w;
          if (slots[q + cnt] === 0) continue;
          if (acc[o] === 0 || slots[q + t] >= acc[o + F_LAST_T]) {
            acc[o + F_LAST] = slots[q + v];
            acc[o + F_LAST_T] = slots[q + t];
          }
          acc[o] += slots[q + cnt];
        }
        break;
      }
      default:
        throw new AppError('BAD_REQUEST', `reducer "${reducer}" cannot be answered from rollups`, 'reducer');
    }
  }
}

/** Bucket aggregates to one reducer's column: empty buckets are NaN, or 0 for count. */
export function finalize(acc: Float64Array, nBuckets: number, reducer: Reducer): Float64Array {
  const out = new Float64Array(nBuckets);
  for (let k = 0; k < nBuckets; k++) {
    const o = k * SLOT;
    const n = acc[o];
    if (n === 0) {
      out[k] = reducer === 'count' ? 0 : NaN;
      continue;
    }
    switch (reducer) {
      case 'count':
        out[k] = n;
        break;
      case 'sum':
        out[k] = acc[o + F_SUM];
        break;
      case 'mean':
        out[k] = acc[o + F_SUM] / n;
        break;
      case 'std':
        out[k] = Math.sqrt(Math.max(0, acc[o + F_M2]) / n);
        break;
      case 'min':
        out[k] = acc[o + F_MIN];
        break;
      case 'max':
        out[k] = acc[o + F_MAX];
        break;
      case 'first':
        out[k] = acc[o + F_FIRST];
        break;
      case 'last':
        out[k] = acc[o + F_LAST];
        break;
      default:
        throw new AppError('BAD_REQUEST', `reducer "${reducer}" cannot be answered from rollups`, 'reducer');
    }
  }
  return out;
}

/** The grid's bucket starts, as the resampler labels them. */
export function gridTimes(grid: Grid): Float64Array {
  gridTally.buckets += grid.nBuckets;
  const times = new Float64Array(grid.nBuckets);
  for (let k = 0; k < grid.nBuckets; k++) times[k] = bucketTime(grid, k);
  return times;
}
