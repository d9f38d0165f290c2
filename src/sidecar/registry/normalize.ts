/**
 * Checks and repairs what a plugin's `getTimeseries` returned, so handlers always get the
 * columnar shapes of types.ts with exactly the requested channels in the requested order.
 * Cheap when the plugin already did it right: one pass per column, no copies.
 */
import { AppError } from '../errors';
import { isSorted, sortSeries } from '../timeseries/bucketize';
import { lowerBound } from '../timeseries/infer-interval';
import type { Resampled, Series, SeriesSet } from './types';

/** More notices than this from one answer are noise; the first ones say it. */
const MAX_NOTICES = 5;

/** A Resampled grid (has `names` and `columns`) rather than a SeriesSet. */
export function isResampledShape(value: unknown): value is Resampled {
  return (
    value !== null &&
    typeof value === 'object' &&
    Array.isArray((value as Resampled).names) &&
    Array.isArray((value as Resampled).columns) &&
    'times' in value
  );
}

/**
 * Raw samples for `channels` in `[from, to)`: plain arrays become Float64Array, unsorted
 * series are sorted (samples with NaN times dropped), samples outside the window are cut
 * off, and a requested channel the plugin left out is an empty series.
 */
export function normalizeSeriesSet(raw: unknown, channels: readonly string[], from: number, to: number, who: string): SeriesSet {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw invalid(who, `getTimeseries returned ${kind(raw)}, expected an object of { times, values } per channel`);
  }
  const set = raw as Record<string, unknown>;
  const out: SeriesSet = {};
  for (const name of channels) {
    const s = Object.prototype.hasOwnProperty.call(set, name) ? set[name] : undefined;
    out[name] = s === undefined || s === null ? emptySeries() : clip(normalizeSeries(s, name, who), from, to);
  }
  return out;
}

export function normalizeSeries(raw: unknown, name: string, who: string): Series {
  if (raw === null || typeof raw !== 'object') throw invalid(who, `channel "${name}" is ${kind(raw)}, expected { times, values }`);
  const r = raw as Record<string, unknown>;
  const times = toFloat64(r.times, `channel "${name}" times`, who);
  const values = toFloat64(r.values, `channel "${name}" values`, who);
  if (times.length !== values.length) {
    throw invalid(who, `channel "${name}" has ${times.length} times but ${values.length} values`);
  }
  const s = { times, values };
  return isSorted(times) ? s : sortSeries(s);
}

/**
 * A plugin's own resampled grid, checked and put in the requested channel order; a
 * requested channel it left out is an all-null column.
 */
export function normalizeResampled(raw: Resampled, channels: readonly string[], resampling: number, who: string): Resampled {
  const times = toFloat64(raw.times, 'resampled times', who);
  if (raw.names.length !== raw.columns.length) {
    throw invalid(who, `resampled result has ${raw.names.length} names but ${raw.columns.length} columns`);
  }
  const byName = new Map<string, Float64Array>();
  raw.names.forEach((name, i) => {
    const col = toFloat64(raw.columns[i], `resampled column "${String(name)}"`, who);
    if (col.length !== times.length) {
      throw invalid(who, `resampled column "${String(name)}" has ${col.length} values for ${times.length} times`);
    }
    byName.set(String(name), col);
  });
  const columns = channels.map((name) => byName.get(name) ?? new Float64Array(times.length).fill(NaN));
  const interval = positive(raw.interval) ?? positive(resampling) ?? (times.length > 1 ? positive(times[1] - times[0]) : undefined);
  if (interval === undefined) throw invalid(who, 'resampled result has no positive interval');
  const notices = Array.isArray(raw.notices) ? raw.notices.filter((n): n is string => typeof n === 'string').slice(0, MAX_NOTICES) : [];
  return { times, names: [...channels], columns, interval, ...(notices.length ? { notices } : {}) };
}

/** A grid seen as raw samples: every channel shares the grid's time column. */
export function resampledToSeriesSet(r: Resampled): SeriesSet {
  const out: SeriesSet = {};
  r.names.forEach((name, i) => {
    out[name] = { times: r.times, values: r.columns[i] };
  });
  return out;
}

/** Plain number arrays (and other typed arrays) become Float64Array; null and non-numbers become NaN. */
export function toFloat64(value: unknown, what: string, who: string): Float64Array {
  if (value instanceof Float64Array) return value;
  if (ArrayBuffer.isView(value) && !(value instanceof DataView) && typeof (value as unknown as ArrayLike<unknown>).length === 'number') {
    return Float64Array.from(value as unknown as ArrayLike<number>, Number);
  }
  if (Array.isArray(value)) {
    // Number(null) is 0, which would invent a value; a missing sample is NaN.
    return Float64Array.from(value, (v) => (typeof v === 'number' ? v : v === null || v === undefined || v === '' ? NaN : Number(v)));
  }
  throw invalid(who, `${what} is ${kind(value)}, expected a Float64Array or an array of numbers`);
}

function clip(s: Series, from: number, to: number): Series {
  const lo = lowerBound(s.times, from);
  const hi = lowerBound(s.times, to);
  if (lo === 0 && hi === s.times.length) return s;
  return { times: s.times.subarray(lo, hi), values: s.values.subarray(lo, hi) };
}

function emptySeries(): Series {
  return { times: new Float64Array(0), values: new Float64Array(0) };
}

function positive(x: unknown): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) && x > 0 ? x : undefined;
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value !== 'object') return typeof value;
  const ctor = (value as object).constructor?.name;
  return ctor && ctor !== 'Object' ? `a ${ctor}` : 'an object';
}

/** `who` names the instance, e.g. `data source "tank1" (plugin csv)`. */
function invalid(who: string, message: string): AppError {
  // INVALID_PLUGIN (a 400) would blame the client; this is the plugin's fault, hence INTERNAL.
  return new AppError('INTERNAL', `${who}: ${message}`);
}
