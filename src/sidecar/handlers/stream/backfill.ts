/**
 * The history a subscriber gets first: the recent closed buckets (or, on resume, exactly
 * the ones after `since`), plus each channel's last known value when the window has none,
 * so a panel is never blank after a refresh. All of it comes from `instance.timeseries`,
 * i.e. the same resampler as query frames, so live and history agree.
 */
import { toAppError } from '../../errors';
import type { InstanceHandle } from '../../registry/instance';
import { resample } from '../../timeseries/resample';
import type { Reducer, SeriesSet } from '../../registry/types';
import { withDeadline } from './deadline';
import { DEFAULT_BACKFILL_MAX_MS } from './request';
import { concatRows, emptyRows, gridRows, rowsAfter, type Rows } from './rows';

/** Grafana's QueryResultMetaNotice. */
export interface Notice {
  severity: 'info' | 'warning' | 'error';
  text: string;
}

export interface BackfillSpec {
  instance: string;
  channels: string[];
  reducer: Reducer;
  intervalMs: number;
  since?: number;
  backfillMs?: number;
}

export interface BackfillOptions {
  /** Exclusive end: the start of the first bucket the live pipeline will deliver. Aligned. */
  end: number;
  maxRows: number;
  timeoutMs: number;
}

export interface Backfill {
  rows: Rows;
  /** Rows after `since` that were not sent because of the row limit (resume only). */
  missedRows: number;
  notices: Notice[];
}

/**
 * How far back to look (from the window's start) for a channel's last value: growing steps,
 * so a channel that is merely quiet costs a small raw read, and only a dead one the full day.
 */
export const LOOKBACK_STEPS_MS = [60_000, 3_600_000, 86_400_000];

export async function fetchBackfill(instance: InstanceHandle, spec: BackfillSpec, opts: BackfillOptions): Promise<Backfill> {
  const I = spec.intervalMs;
  const { end, maxRows } = opts;
  const nCols = spec.channels.length;
  const history = (from: number) =>
    withDeadline(instance.timeseries(spec.channels, end - from, end, I, spec.reducer), opts.timeoutMs, `history of data source "${spec.instance}"`);

  if (spec.since !== undefined) {
    // Resume: exactly the buckets after `since` (the first bucket starting after it).
    const first = Math.floor(spec.since / I) * I + I;
    if (!(first < end)) return { rows: emptyRows(nCols), missedRows: 0, notices: [] };
    const wanted = Math.round((end - first) / I);
    const missedRows = Math.max(0, wanted - maxRows);
    const from = end - Math.min(wanted, maxRows) * I;
    const rows = rowsAfter(gridRows(await history(from), spec.channels, from, end), spec.since);
    const notices: Notice[] = missedRows
      ? [{ severity: 'warning', text: `resumed with the newest ${maxRows} rows; ${missedRows} older rows since the last received one were not sent (row limit)` }]
      : [];
    return { rows, missedRows, notices };
  }

  const defaultMs = Math.min(maxRows * I, DEFAULT_BACKFILL_MAX_MS);
  const n = Math.min(Math.ceil((spec.backfillMs ?? defaultMs) / I), maxRows);
  const windowFrom = end - n * I;
  const window = n > 0 ? gridRows(await history(windowFrom), spec.channels, windowFrom, end) : emptyRows(nCols);

  const missing: number[] = [];
  for (let c = 0; c < nCols; c++) if (!hasValue(window.columns[c])) missing.push(c);
  if (missing.length === 0) return { rows: window, missedRows: 0, notices: [] };

  const notices: Notice[] = [];
  let older = emptyRows(nCols);
  try {
    older = await lastValues(instance, spec, missing, windowFrom, opts.timeoutMs);
  } catch (err) {
    // Optional extra: the stream works without it, but say why a channel may look empty.
    notices.push({ severity: 'warning', text: `could not look up last known values: ${toAppError(err).message}` });
  }
  return { rows: concatRows([older, window], nCols), missedRows: 0, notices };
}

function hasValue(column: Float64Array): boolean {
  for (let i = 0; i < column.length; i++) if (column[i] === column[i]) return true;
  return false;
}

/**
 * For each channel in `missing`, the bucket of its last sample before `before` (within
 * LOOKBACK_STEPS_MS), with the reducer's value over that bucket; one row per distinct bucket,
 * other channels NaN there. Raw reads: a quiet channel has few samples.
 */
async function lastValues(instance: InstanceHandle, spec: BackfillSpec, missing: number[], before: number, timeoutMs: number): Promise<Rows> {
  const I = spec.intervalMs;
  const found = new Map<number, Map<number, number>>(); // bucket start -> column -> value
  let todo = missing;
  let to = before;
  for (const step of LOOKBACK_STEPS_MS) {
    if (todo.length === 0) break;
    // Aligned, so a sample's whole bucket lies inside the read.
    const from = Math.floor((before - step) / I) * I;
    if (!(from < to)) continue;
    const names = todo.map((c) => spec.channels[c]);
    const raw: SeriesSet = await withDeadline(instance.timeseries(names, to - from, to), timeoutMs, `history of data source "${spec.instance}"`);
    todo = todo.filter((c) => {
      const name = spec.channels[c];
      const s = raw[name];
      if (!s) return true;
      let i = s.times.length - 1;
      while (i >= 0 && !(s.values[i] === s.values[i])) i--;
      if (i < 0) return true;
      const b = Math.floor(s.times[i] / I) * I;
      const one: SeriesSet = Object.create(null) as SeriesSet;
      one[name] = s;
      const value = resample(one, I, b + I, I, spec.reducer).columns[0][0];
      const row = found.get(b) ?? new Map<number, number>();
      row.set(c, value);
      found.set(b, row);
      return false;
    });
    to = from;
  }
  const buckets = [...found.keys()].sort((a, b) => a - b);
  const times = Float64Array.from(buckets);
  const columns = spec.channels.map((_, c) => Float64Array.from(buckets, (b) => found.get(b)!.get(c) ?? NaN));
  return { times, columns };
}
