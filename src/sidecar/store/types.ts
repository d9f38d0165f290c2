/**
 * The store and bus: one interface, two implementations (memory, the embedded default;
 * Redis, for several sidecars sharing model, samples and pub/sub). Everything a poller,
 * the model/REST layer, the device manager and the `scada` data source need from storage.
 *
 * Times are epoch ms. Samples travel as columns (`SampleColumns`), never arrays of objects.
 */
import type { HealthProbe } from '../core/health';
import type { Reducer, Resampled } from '../timeseries/types';
import type { SampleBatch, SampleColumns } from '../core/samples';

export type Unsubscribe = () => void;

/** The newest value of one series. `quality` is a `QUALITY_CODE`. */
export interface LatestSample {
  time: number;
  value: number;
  quality: number;
}

export const MODEL_KINDS = ['device', 'term', 'item', 'link'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

/** Something in the model changed; listeners reload `id` (it is gone when `op` is delete). */
export interface ModelEvent {
  kind: ModelKind;
  op: 'put' | 'delete';
  id: string;
}

/** One step of an atomic model write. */
export type ModelOp = { op: 'put'; kind: ModelKind; id: string; value: unknown } | { op: 'delete'; kind: ModelKind; id: string };

export interface ModelWriteOptions {
  /** Publish one `ModelEvent` per op on the bus, atomically with the write (default false). */
  publish?: boolean;
  /**
   * Optimistic concurrency: apply only if the model revision still equals this (read it with
   * `modelRevision()` before validating). Otherwise nothing is written and `ok` is false.
   */
  ifRevision?: number;
}

export interface ModelWriteResult {
  /** False only when `ifRevision` did not match; nothing was written. */
  ok: boolean;
  /** The model revision after the write (or the current one when `ok` is false). */
  revision: number;
  /** How many of the delete ops removed an existing object. */
  deleted: number;
}

/** Where a `resample` answer comes from: `auto` picks rollups whenever they give the same answer. */
export type ResampleSource = 'auto' | 'raw' | 'rollup';

export interface SampleStore {
  /**
   * Stores a poll cycle's samples (any order; equal times keep arrival order), updates the
   * rollups and moves each series' latest value forward. Never throws and never waits on a
   * slow or absent backend: the Redis store queues the batch (a bounded buffer, written in the
   * background, kept while Redis is unreachable) and resolves at once; `flush()` waits until
   * it is stored. The caller may reuse its arrays once the call returns.
   */
  append(batch: SampleBatch): Promise<void>;
  /**
   * Moves the latest value of each series forward without storing samples: for reads a
   * deadband suppressed (report by exception), so `latest()` still shows the current value.
   * Uses the newest sample of each series in `batch`; an older time never replaces a newer one.
   */
  setLatest(batch: SampleBatch): Promise<void>;
  /** Samples of one series with `from <= time < to`, time-sorted (retention applies). */
  range(seriesId: string, from: number, to: number): Promise<SampleColumns>;
  /** `range` for several series in one round trip; every requested id is in the answer. */
  rangeMany(seriesIds: readonly string[], from: number, to: number): Promise<Map<string, SampleColumns>>;
  /** Latest value per series; series never written are absent. */
  latest(seriesIds: readonly string[]): Promise<Map<string, LatestSample>>;
  /**
   * The registry resampler's answer (`Resampled`, names = series ids) over `[to - length, to)`.
   * Answered from the rollups when `canUseRollups(interval, reducer)` (the same numbers up to
   * float rounding of sum/mean/std), else from raw samples through the real resampler.
   */
  resample(
    seriesIds: readonly string[],
    length: number,
    to: number,
    interval: number,
    reducer: Reducer,
    options?: { source?: ResampleSource },
  ): Promise<Resampled>;
  /** True when `resample` with this interval and reducer can use the rollups. */
  canUseRollups(interval: number, reducer: Reducer): boolean;
  /** Resolves true once every sample appended so far is stored (false on timeout). */
  flush(timeoutMs?: number): Promise<boolean>;
}

export interface Bus {
  /**
   * Fire and forget: local subscribers get `batch` itself (synchronously, treat it as
   * read-only), other sidecars a decoded copy via Redis. Never throws.
   */
  publishSamples(batch: SampleBatch): void;
  /** `origin` identifies the publishing sidecar (`store.instanceId`). */
  subscribeSamples(listener: (batch: SampleBatch, origin: string) => void): Unsubscribe;
  /** Fire and forget, as `publishSamples`. */
  publishModelEvents(events: readonly ModelEvent[]): void;
  subscribeModelEvents(listener: (events: ModelEvent[], origin: string) => void): Unsubscribe;
}

/**
 * Generic model storage: JSON values by kind and id. The model layer validates on top;
 * `writeObjects` applies several puts and deletes atomically (a device with its terms and links).
 */
export interface ModelStore {
  putObject(kind: ModelKind, id: string, value: unknown, options?: ModelWriteOptions): Promise<ModelWriteResult>;
  getObject<T = unknown>(kind: ModelKind, id: string): Promise<T | undefined>;
  listObjects<T = unknown>(kind: ModelKind): Promise<Map<string, T>>;
  deleteObjects(kind: ModelKind, ids: readonly string[], options?: ModelWriteOptions): Promise<ModelWriteResult>;
  /** All or nothing, in one step (a Redis script: no other client sees half of it). */
  writeObjects(ops: readonly ModelOp[], options?: ModelWriteOptions): Promise<ModelWriteResult>;
  /** Increases with every successful write. */
  modelRevision(): Promise<number>;
}

/**
 * Leases share device polling across sidecars: whoever holds `device:<id>` polls it and
 * renews well within `ttlMs`; when it dies the lease lapses and another sidecar takes over.
 */
export interface LeaseStore {
  /** True if `owner` now holds the lease (acquiring a lease one already holds renews it). */
  acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** True if `owner` held the lease and its ttl was reset; false if it lapsed or is someone else's. */
  renewLease(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** True if `owner` held the lease and it is now free. */
  releaseLease(name: string, owner: string): Promise<boolean>;
  leaseOwner(name: string): Promise<string | undefined>;
}

export interface Store extends SampleStore, Bus, ModelStore, LeaseStore {
  readonly kind: 'memory' | 'redis';
  /** Unique per process and store: the bus `origin` and a natural lease owner. */
  readonly instanceId: string;
  /** Width of one rollup slot (ms). */
  readonly rollupResolutionMs: number;
  /** For health: ok / degraded (buffering, reconnecting) / down. */
  readonly probe: HealthProbe;
  /** Flushes what it can (briefly), then releases connections and timers. */
  close(): Promise<void>;
}
