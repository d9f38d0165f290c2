/**
 * The embedded store: everything in this process, bounded. Raw samples are capped by time
 * (`retentionMs`) and count (`memory.maxSamplesPerSeries`), rollups by time and slot count,
 * so memory per series is at most ~17 B × maxSamplesPerSeries + 72 B × maxRollupSlotsPerSeries.
 * The bus is an in-process emitter; leases are trivial (one process).
 */
import pino, { type Logger } from 'pino';
import type { HealthProbe } from '../../core/health';
import type { Reducer, Resampled } from '../../timeseries/types';
import type { SampleBatch, SampleColumns } from '../../core/samples';
import { emptyColumns } from '../../core/samples';
import { newestIndex } from '../codec';
import {
  checkId,
  checkKind,
  checkLease,
  checkSeriesIds,
  cleanBatch,
  newInstanceId,
  prepareOps,
  storeResample,
  type ResampleReader,
  retentionCutoffs,
} from '../common';
import type { StoreConfig } from '../config';
import { LocalBus } from '../local-bus';
import { canUseRollups, type RollupPlan, type SeriesWindow } from '../rollup';
import type {
  LatestSample,
  ModelEvent,
  ModelKind,
  ModelOp,
  ModelWriteOptions,
  ModelWriteResult,
  ResampleSource,
  Store,
  Unsubscribe,
} from '../types';
import { RawSeries } from './raw-series';
import { RollupSeries } from './rollup-series';

export interface MemoryStoreOptions {
  logger?: Logger;
  /** The wall clock for retention and leases; tests may move it. */
  now?: () => number;
}

interface Series {
  raw: RawSeries;
  rollups: RollupSeries;
}

export class MemoryStore implements Store, ResampleReader {
  readonly kind = 'memory' as const;
  readonly instanceId = newInstanceId();
  readonly rollupResolutionMs: number;
  readonly probe: HealthProbe;

  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly series = new Map<string, Series>();
  private readonly latestValues = new Map<string, LatestSample>();
  private readonly model = new Map<ModelKind, Map<string, string>>();
  private revision = 0;
  private readonly leases = new Map<string, { owner: string; expiresAt: number }>();
  private readonly bus: LocalBus;
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly config: StoreConfig,
    options: MemoryStoreOptions = {},
  ) {
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.now = options.now ?? Date.now;
    this.rollupResolutionMs = config.rollup.resolutionMs;
    this.bus = new LocalBus(this.logger);
    // Appends trim the series they touch; this sweep bounds the ones that went quiet.
    const sweepMs = Math.max(1000, Math.min(60_000, Math.floor(config.retentionMs / 4)));
    this.timer = setInterval(() => this.sweep(), sweepMs);
    this.timer.unref();
    this.probe = {
      name: 'store',
      check: async () => {
        if (this.closed) return { status: 'down', message: 'store closed' };
        let samples = 0;
        for (const s of this.series.values()) samples += s.raw.count;
        return { status: 'ok', message: 'in-memory store', details: { backend: 'memory', series: this.series.size, samples } };
      },
    };
  }

  // ---- samples -------------------------------------------------------------------------

  async append(batch: SampleBatch): Promise<void> {
    const clean = cleanBatch(batch, (id, why) => this.logger.warn({ series: id }, `append: ${why}`));
    const cutoff = this.now() - this.config.retentionMs;
    const rollupCutoff = this.now() - this.config.rollup.retentionMs;
    const { maxSamplesPerSeries, maxRollupSlotsPerSeries } = this.config.memory;
    for (const [id, cols] of clean) {
      const s = this.seriesFor(id);
      s.raw.append(cols);
      s.raw.trimBefore(cutoff);
      s.raw.trimToCount(maxSamplesPerSeries);
      s.rollups.add(cols.times, cols.values);
      s.rollups.trimBefore(rollupCutoff);
      s.rollups.trimToSlots(maxRollupSlotsPerSeries);
      this.moveLatest(id, cols);
    }
  }

  async setLatest(batch: SampleBatch): Promise<void> {
    const clean = cleanBatch(batch, (id, why) => this.logger.warn({ series: id }, `setLatest: ${why}`));
    for (const [id, cols] of clean) this.moveLatest(id, cols);
  }

  async range(seriesId: string, from: number, to: number): Promise<SampleColumns> {
    checkId(seriesId, 'series');
    return this.rangeOf(seriesId, from, to);
  }

  async rangeMany(seriesIds: readonly string[], from: number, to: number): Promise<Map<string, SampleColumns>> {
    checkSeriesIds(seriesIds);
    const out = new Map<string, SampleColumns>();
    for (const id of seriesIds) out.set(id, this.rangeOf(id, from, to));
    return out;
  }

  async latest(seriesIds: readonly string[]): Promise<Map<string, LatestSample>> {
    const out = new Map<string, LatestSample>();
    for (const id of seriesIds) {
      const l = this.latestValues.get(id);
      if (l) out.set(id, { ...l });
    }
    return out;
  }

  resample(
    seriesIds: readonly string[],
    length: number,
    to: number,
    interval: number,
    reducer: Reducer,
    options: { source?: ResampleSource } = {},
  ): Promise<Resampled> {
    return storeResample(this, this.rollupResolutionMs, seriesIds, length, to, interval, reducer, options.source);
  }

  keptFrom(): { raw: number; rollup: number } {
    return retentionCutoffs(this.now(), this.config);
  }

  canUseRollups(interval: number, reducer: Reducer): boolean {
    return canUseRollups(interval, reducer, this.rollupResolutionMs);
  }

  async rollupWindow(ids: readonly string[], plan: RollupPlan): Promise<SeriesWindow[]> {
    return ids.map((id) => ({
      pieces: this.series.get(id)?.rollups.pieces(plan.slotFrom, plan.nSlots) ?? [],
      edges: plan.edges.map(([a, b]) => this.rangeOf(id, a, b)),
    }));
  }

  async flush(): Promise<boolean> {
    return true;
  }

  /** Sizes, for tests and health. */
  stats(): { series: number; samples: number; rollupSlots: number } {
    let samples = 0;
    let rollupSlots = 0;
    for (const s of this.series.values()) {
      samples += s.raw.count;
      rollupSlots += s.rollups.slotCapacity;
    }
    return { series: this.series.size, samples, rollupSlots };
  }

  private rangeOf(id: string, from: number, to: number): SampleColumns {
    const s = this.series.get(id);
    if (!s) return emptyColumns();
    // Reads never see past retention, even between trims.
    return s.raw.range(Math.max(from, this.now() - this.config.retentionMs), to);
  }

  private seriesFor(id: string): Series {
    let s = this.series.get(id);
    if (!s) {
      s = { raw: new RawSeries(), rollups: new RollupSeries(this.rollupResolutionMs) };
      this.series.set(id, s);
    }
    return s;
  }

  private moveLatest(id: string, cols: SampleColumns): void {
    const i = newestIndex(cols.times);
    if (i < 0) return;
    const cur = this.latestValues.get(id);
    if (cur && cur.time > cols.times[i]) return;
    this.latestValues.set(id, { time: cols.times[i], value: cols.values[i], quality: cols.qualities[i] });
  }

  private sweep(): void {
    const now = this.now();
    const cutoff = now - this.config.retentionMs;
    const rollupCutoff = now - this.config.rollup.retentionMs;
    for (const s of this.series.values()) {
      s.raw.trimBefore(cutoff);
      s.rollups.trimBefore(rollupCutoff);
    }
    for (const [name, l] of this.leases) if (l.expiresAt <= now) this.leases.delete(name);
  }

  // ---- bus -----------------------------------------------------------------------------

  publishSamples(batch: SampleBatch): void {
    if (!this.closed) this.bus.deliverSamples(batch, this.instanceId);
  }

  subscribeSamples(listener: (batch: SampleBatch, origin: string) => void): Unsubscribe {
    return this.bus.subscribeSamples(listener);
  }

  publishModelEvents(events: readonly ModelEvent[]): void {
    if (!this.closed && events.length > 0) this.bus.deliverModelEvents([...events], this.instanceId);
  }

  subscribeModelEvents(listener: (events: ModelEvent[], origin: string) => void): Unsubscribe {
    return this.bus.subscribeModelEvents(listener);
  }

  // ---- model ---------------------------------------------------------------------------

  putObject(kind: ModelKind, id: string, value: unknown, options?: ModelWriteOptions): Promise<ModelWriteResult> {
    return this.writeObjects([{ op: 'put', kind, id, value }], options);
  }

  async getObject<T = unknown>(kind: ModelKind, id: string): Promise<T | undefined> {
    checkKind(kind);
    checkId(id);
    const json = this.model.get(kind)?.get(id);
    return json === undefined ? undefined : (JSON.parse(json) as T);
  }

  async listObjects<T = unknown>(kind: ModelKind): Promise<Map<string, T>> {
    checkKind(kind);
    const out = new Map<string, T>();
    // Sorted by id, as the Redis store answers.
    const objects = this.model.get(kind) ?? new Map<string, string>();
    for (const id of [...objects.keys()].sort()) out.set(id, JSON.parse(objects.get(id)!) as T);
    return out;
  }

  deleteObjects(kind: ModelKind, ids: readonly string[], options?: ModelWriteOptions): Promise<ModelWriteResult> {
    return this.writeObjects(
      ids.map((id) => ({ op: 'delete', kind, id })),
      options,
    );
  }

  async writeObjects(ops: readonly ModelOp[], options: ModelWriteOptions = {}): Promise<ModelWriteResult> {
    const prepared = prepareOps(ops); // validates everything before anything is written
    if (options.ifRevision !== undefined && options.ifRevision !== this.revision) return { ok: false, revision: this.revision, deleted: 0 };
    let deleted = 0;
    for (const o of prepared) {
      let objects = this.model.get(o.kind);
      if (!objects) this.model.set(o.kind, (objects = new Map()));
      if (o.op === 'put') objects.set(o.id, o.json!);
      else if (objects.delete(o.id)) deleted++;
    }
    this.revision++;
    if (options.publish && prepared.length > 0) this.publishModelEvents(prepared.map(({ kind, op, id }) => ({ kind, op, id })));
    return { ok: true, revision: this.revision, deleted };
  }

  async modelRevision(): Promise<number> {
    return this.revision;
  }

  // ---- leases --------------------------------------------------------------------------

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    checkLease(name, owner, ttlMs);
    const now = this.now();
    const cur = this.leases.get(name);
    if (cur && cur.expiresAt > now && cur.owner !== owner) return false;
    this.leases.set(name, { owner, expiresAt: now + ttlMs });
    return true;
  }

  async renewLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    checkLease(name, owner, ttlMs);
    const now = this.now();
    const cur = this.leases.get(name);
    if (!cur || cur.expiresAt <= now || cur.owner !== owner) return false;
    cur.expiresAt = now + ttlMs;
    return true;
  }

  async releaseLease(name: string, owner: string): Promise<boolean> {
    checkLease(name, owner);
    const cur = this.leases.get(name);
    if (!cur || cur.expiresAt <= this.now() || cur.owner !== owner) return false;
    this.leases.delete(name);
    return true;
  }

  async leaseOwner(name: string): Promise<string | undefined> {
    checkId(name, 'name');
    const cur = this.leases.get(name);
    return cur && cur.expiresAt > this.now() ? cur.owner : undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.bus.clear();
  }
}
