/** What both stores share: input checks, the resample orchestration and small helpers. */
import { randomBytes } from 'node:crypto';
import { AppError } from '../errors';
import { resample } from '../timeseries/resample';
import type { Reducer, Resampled, SeriesSet } from '../timeseries/types';
import type { SampleBatch, SampleColumns } from '../core/samples';
import { canUseRollups, checkWindow, gridTimes, planRollups, reduceSeries, type RollupPlan, type SeriesWindow } from './rollup';
import { MODEL_KINDS, type ModelKind, type ModelOp, type ResampleSource } from './types';

/** A short random id for this process's store: the bus origin and a default lease owner. */
export function newInstanceId(): string {
  return randomBytes(6).toString('hex');
}

/**
 * The batch with unusable parts dropped: series whose columns differ in length (a caller bug,
 * logged by the caller) and samples with a NaN time (they cannot be placed in time).
 * Returns the same Map when nothing had to go, which is the normal case.
 */
export function cleanBatch(batch: SampleBatch, onBad: (id: string, why: string) => void): SampleBatch {
  let clean = true;
  for (const [id, cols] of batch) {
    if (checkColumns(id, cols) !== 'ok') {
      clean = false;
      break;
    }
  }
  if (clean) return batch;
  const out: SampleBatch = new Map();
  for (const [id, cols] of batch) {
    const verdict = checkColumns(id, cols);
    if (verdict === 'ok') out.set(id, cols);
    else if (verdict === 'empty') continue;
    else if (typeof verdict === 'number') {
      onBad(id, `${cols.times.length - verdict} sample(s) with a NaN time dropped`);
      if (verdict > 0) out.set(id, dropNaNTimes(cols, verdict));
    } else onBad(String(id), verdict.bad);
  }
  return out;
}

/** 'ok', 'empty', the count of samples with a usable time when some are NaN, or why it is unusable. */
function checkColumns(id: string, cols: SampleColumns): 'ok' | 'empty' | number | { bad: string } {
  if (typeof id !== 'string' || id.length === 0) return { bad: 'empty series id' };
  const n = cols?.times?.length;
  if (n === undefined || cols.values?.length !== n || cols.qualities?.length !== n)
    return {
      bad: `columns missing or differing in length (times ${n}, values ${cols?.values?.length}, qualities ${cols?.qualities?.length})`,
    };
  if (n === 0) return 'empty';
  let nan = 0;
  for (let i = 0; i < n; i++) if (cols.times[i] !== cols.times[i]) nan++;
  return nan === 0 ? 'ok' : n - nan;
}

function dropNaNTimes(cols: SampleColumns, keep: number): SampleColumns {
  const times = new Float64Array(keep);
  const values = new Float64Array(keep);
  const qualities = new Uint8Array(keep);
  let j = 0;
  for (let i = 0; i < cols.times.length; i++) {
    if (cols.times[i] !== cols.times[i]) continue;
    times[j] = cols.times[i];
    values[j] = cols.values[i];
    qualities[j++] = cols.qualities[i];
  }
  return { times, values, qualities };
}

export function checkKind(kind: string): asserts kind is ModelKind {
  if (!(MODEL_KINDS as readonly string[]).includes(kind))
    throw new AppError('BAD_REQUEST', `unknown model kind "${kind}"; expected one of ${MODEL_KINDS.join(', ')}`, 'kind');
}

export function checkId(id: unknown, field = 'id'): asserts id is string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 512)
    throw new AppError('BAD_REQUEST', `${field} must be a non-empty string of at most 512 characters`, field);
}

/** Validates ops and serializes each put's value once (JSON: what both stores keep). */
export function prepareOps(ops: readonly ModelOp[]): Array<{ op: 'put' | 'delete'; kind: ModelKind; id: string; json?: string }> {
  return ops.map((o, i) => {
    checkKind(o.kind);
    checkId(o.id, `ops.${i}.id`);
    if (o.op === 'delete') return { op: 'delete', kind: o.kind, id: o.id };
    if (o.op !== 'put') throw new AppError('BAD_REQUEST', `ops.${i}.op must be put or delete`, `ops.${i}.op`);
    const json = JSON.stringify(o.value);
    if (json === undefined) throw new AppError('BAD_REQUEST', `ops.${i}.value is not JSON-serializable`, `ops.${i}.value`);
    return { op: 'put', kind: o.kind, id: o.id, json };
  });
}

export function checkLease(name: string, owner: string, ttlMs?: number): void {
  checkId(name, 'name');
  checkId(owner, 'owner');
  if (ttlMs !== undefined && !(Number.isInteger(ttlMs) && ttlMs > 0))
    throw new AppError('BAD_REQUEST', `ttlMs must be a positive integer, got ${ttlMs}`, 'ttlMs');
}

export function checkSeriesIds(ids: readonly string[]): void {
  for (const id of ids) checkId(id, 'series');
}

/** What a store provides for `storeResample`. */
export interface ResampleReader {
  rangeMany(ids: readonly string[], from: number, to: number): Promise<Map<string, SampleColumns>>;
  /** Per series: its interior rollup slots (as pieces) and the raw samples of each plan edge. */
  rollupWindow(ids: readonly string[], plan: RollupPlan, reducer: Reducer): Promise<SeriesWindow[]>;
  /** How far back raw samples and rollups are kept now (their retention cut-offs, epoch ms). */
  keptFrom(): { raw: number; rollup: number };
}

export async function storeResample(
  reader: ResampleReader,
  resolution: number,
  ids: readonly string[],
  length: number,
  to: number,
  interval: number,
  reducer: Reducer,
  source: ResampleSource = 'auto',
): Promise<Resampled> {
  checkSeriesIds(ids);
  const rollupsFit = canUseRollups(interval, reducer, resolution);
  if (source === 'rollup' && !rollupsFit) {
    throw new AppError(
      'BAD_REQUEST',
      `rollups answer ${reducer} only for intervals that are multiples of ${resolution} ms (got ${interval}) and reducers other than median`,
      'resampling',
    );
  }
  const kept = reader.keptFrom();
  if (source !== 'raw' && rollupsFit) {
    const plan = planRollups(length, to, interval, resolution);
    if (plan) {
      const parts = await reader.rollupWindow(ids, plan, reducer);
      return withNotice(
        {
          times: gridTimes(plan.grid),
          names: [...ids],
          columns: parts.map((p) => reduceSeries(plan, reducer, p)),
          interval,
        },
        missesBucket(to - length, interval, kept.rollup)
          ? `rollups are kept back to ${iso(kept.rollup)}: earlier buckets are empty`
          : undefined,
      );
    }
  }
  checkWindow(length, to);
  const raw = await reader.rangeMany(ids, to - length, to);
  const set: SeriesSet = {};
  for (const id of ids) {
    const cols = raw.get(id);
    set[id] = cols ? { times: cols.times, values: cols.values } : { times: new Float64Array(0), values: new Float64Array(0) };
  }
  const why = rollupsFit
    ? ''
    : reducer === 'median'
      ? ' (median needs every sample; rollups cannot answer it)'
      : ` (rollups answer only intervals that are multiples of ${resolution} ms)`;
  return withNotice(
    resample(set, length, to, interval, reducer),
    missesBucket(to - length, interval, kept.raw)
      ? `raw samples are kept back to ${iso(kept.raw)}: earlier buckets are empty${why}`
      : undefined,
  );
}

/**
 * At least one whole bucket of the window lies before the cut-off. (A window of exactly the
 * retention, as "last 24 hours" is, starts a few ms before it by the time it is read.)
 */
function missesBucket(from: number, interval: number, keptFrom: number): boolean {
  return from + interval <= keptFrom;
}

/** What a store keeps back to, now: its `keptFrom()` from its clock and retention config. */
export function retentionCutoffs(
  now: number,
  config: { retentionMs: number; rollup: { retentionMs: number } },
): { raw: number; rollup: number } {
  return { raw: now - config.retentionMs, rollup: now - config.rollup.retentionMs };
}

/** The answer with a notice for the user, when there is one. */
function withNotice(r: Resampled, notice: string | undefined): Resampled {
  return notice ? { ...r, notices: [...(r.notices ?? []), notice] } : r;
}

const iso = (t: number): string => new Date(t).toISOString().replace('.000Z', 'Z');

/** Columns `[begin, end)` as views (no copy). */
export function sliceColumns(cols: SampleColumns, begin: number, end: number): SampleColumns {
  return {
    times: cols.times.subarray(begin, end),
    values: cols.values.subarray(begin, end),
    qualities: cols.qualities.subarray(begin, end),
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
