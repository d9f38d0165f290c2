/**
 * The Redis store: model, samples, rollups, pub/sub and leases shared by several sidecars,
 * over one command connection and one subscriber (link.ts). Each concern is its own part:
 * sample-writer.ts (buffered, never waits on Redis), sample-reader.ts, redis-bus.ts,
 * redis-model.ts and redis-leases.ts; this file composes them into the Store interface and
 * reports health. Layout and the measurements behind it: docs/redis-layout.md.
 */
import pino, { type Logger } from 'pino';
import type { HealthProbe, ProbeStatus } from '../../core/health';
import type { SampleBatch, SampleColumns } from '../../core/samples';
import type { Reducer, Resampled } from '../../timeseries/types';
import { newInstanceId, type ResampleReader } from '../common';
import type { StoreConfig } from '../config';
import { LocalBus } from '../local-bus';
import type { RollupPlan, SeriesWindow } from '../rollup';
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
import type { Keys } from './keys';
import { RedisLink } from './link';
import { RedisBus } from './redis-bus';
import { RedisLeases } from './redis-leases';
import { RedisModel } from './redis-model';
import { RedisSampleReader } from './sample-reader';
import { RedisSampleWriter } from './sample-writer';

export interface RedisStoreOptions {
  logger?: Logger;
  /** The wall clock for retention cut-offs and expiry times. */
  now?: () => number;
}

export class RedisStore implements Store, ResampleReader {
  readonly kind = 'redis' as const;
  readonly instanceId = newInstanceId();
  readonly rollupResolutionMs: number;
  readonly probe: HealthProbe;
  readonly keys: Keys;

  private readonly link: RedisLink;
  private readonly local: LocalBus;
  private readonly writer: RedisSampleWriter;
  private readonly reader: RedisSampleReader;
  private readonly bus: RedisBus;
  private readonly model: RedisModel;
  private readonly leases: RedisLeases;

  constructor(config: StoreConfig, url: string, options: RedisStoreOptions = {}) {
    const logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'store', backend: 'redis' });
    this.link = new RedisLink(config, url, this.instanceId, logger, options.now ?? Date.now);
    this.keys = this.link.keys;
    this.rollupResolutionMs = config.rollup.resolutionMs;
    this.local = new LocalBus(logger);
    this.writer = new RedisSampleWriter(this.link);
    this.reader = new RedisSampleReader(this.link);
    this.bus = new RedisBus(this.link, this.local);
    this.model = new RedisModel(this.link, this.local, (events) => this.bus.modelMessage(events));
    this.leases = new RedisLeases(this.link);

    const { redis } = this.link;
    redis.on('ready', () => this.writer.onReady());
    redis.on('close', () => this.writer.onDown());
    redis.on('reconnecting', () => this.writer.onDown());
    this.link.connect();
    this.probe = { name: 'store', check: async () => this.health() };
  }

  /** Resolves true once the command connection is ready (false after `timeoutMs`). */
  waitReady(timeoutMs: number): Promise<boolean> {
    return this.link.waitReady(timeoutMs);
  }

  /** Counters, for health details, benchmarks and tests. */
  stats(): {
    buffered: number;
    dropped: number;
    failed: number;
    written: number;
    retried: number;
    replaysSkipped: number;
    busDropped: number;
    status: string;
  } {
    const w = this.writer;
    return {
      buffered: w.queued,
      dropped: w.droppedSamples,
      failed: w.failedSamples,
      written: w.writtenSamples,
      retried: w.retriedWrites,
      replaysSkipped: w.replaysSkipped,
      busDropped: this.bus.busDropped,
      status: this.link.redis.status,
    };
  }

  // ---- samples ------------------------------------------------------------------------------

  append(batch: SampleBatch): Promise<void> {
    return this.writer.append(batch);
  }
  setLatest(batch: SampleBatch): Promise<void> {
    return this.writer.setLatest(batch);
  }
  flush(timeoutMs?: number): Promise<boolean> {
    return this.writer.flush(timeoutMs);
  }
  range(seriesId: string, from: number, to: number): Promise<SampleColumns> {
    return this.reader.range(seriesId, from, to);
  }
  rangeMany(seriesIds: readonly string[], from: number, to: number): Promise<Map<string, SampleColumns>> {
    return this.reader.rangeMany(seriesIds, from, to);
  }
  latest(seriesIds: readonly string[]): Promise<Map<string, LatestSample>> {
    return this.reader.latest(seriesIds);
  }
  resample(seriesIds: readonly string[], length: number, to: number, interval: number, reducer: Reducer, options?: { source?: ResampleSource }): Promise<Resampled> {
    return this.reader.resample(seriesIds, length, to, interval, reducer, options);
  }
  keptFrom(): { raw: number; rollup: number } {
    return this.reader.keptFrom();
  }
  canUseRollups(interval: number, reducer: Reducer): boolean {
    return this.reader.canUseRollups(interval, reducer);
  }
  rollupWindow(ids: readonly string[], plan: RollupPlan, reducer: Reducer): Promise<SeriesWindow[]> {
    return this.reader.rollupWindow(ids, plan, reducer);
  }

  // ---- bus ----------------------------------------------------------------------------------

  publishSamples(batch: SampleBatch): void {
    this.bus.publishSamples(batch);
  }
  subscribeSamples(listener: (batch: SampleBatch, origin: string) => void): Unsubscribe {
    return this.bus.subscribeSamples(listener);
  }
  publishModelEvents(events: readonly ModelEvent[]): void {
    this.bus.publishModelEvents(events);
  }
  subscribeModelEvents(listener: (events: ModelEvent[], origin: string) => void): Unsubscribe {
    return this.bus.subscribeModelEvents(listener);
  }
  busReady(timeoutMs?: number): Promise<boolean> {
    return this.bus.busReady(timeoutMs);
  }

  // ---- model and leases ---------------------------------------------------------------------

  putObject(kind: ModelKind, id: string, value: unknown, options?: ModelWriteOptions): Promise<ModelWriteResult> {
    return this.model.putObject(kind, id, value, options);
  }
  getObject<T = unknown>(kind: ModelKind, id: string): Promise<T | undefined> {
    return this.model.getObject<T>(kind, id);
  }
  listObjects<T = unknown>(kind: ModelKind): Promise<Map<string, T>> {
    return this.model.listObjects<T>(kind);
  }
  deleteObjects(kind: ModelKind, ids: readonly string[], options?: ModelWriteOptions): Promise<ModelWriteResult> {
    return this.model.deleteObjects(kind, ids, options);
  }
  writeObjects(ops: readonly ModelOp[], options?: ModelWriteOptions): Promise<ModelWriteResult> {
    return this.model.writeObjects(ops, options);
  }
  modelRevision(): Promise<number> {
    return this.model.modelRevision();
  }
  acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.leases.acquireLease(name, owner, ttlMs);
  }
  renewLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.leases.renewLease(name, owner, ttlMs);
  }
  releaseLease(name: string, owner: string): Promise<boolean> {
    return this.leases.releaseLease(name, owner);
  }
  leaseOwner(name: string): Promise<string | undefined> {
    return this.leases.leaseOwner(name);
  }

  // ---- health and lifecycle ------------------------------------------------------------------

  private async health(): Promise<{ status: ProbeStatus; message?: string; details?: Record<string, unknown> }> {
    const { redis, sub, cfg, now } = this.link;
    const w = this.writer;
    const details: Record<string, unknown> = {
      backend: 'redis',
      redis: redis.status,
      bus: sub.status,
      buffered: w.queued,
      dropped: w.droppedSamples,
      failed: w.failedSamples,
      busDropped: this.bus.busDropped,
      ...(this.link.lastError ? { lastError: this.link.lastError } : {}),
    };
    if (this.link.closed) return { status: 'down', message: 'store closed', details };
    if (redis.status !== 'ready') {
      const downMs = now() - (w.disconnectedAt ?? now());
      details.unreachableMs = downMs;
      const lost = w.droppedSamples - w.droppedAtDisconnect;
      if (lost > 0 || downMs >= cfg.downAfterMs) {
        return {
          status: 'down',
          message: `Redis unreachable for ${Math.round(downMs / 1000)} s; ${w.queued} samples buffered${lost > 0 ? `, ${lost} dropped` : ''}`,
          details,
        };
      }
      return { status: 'degraded', message: `Redis unreachable, reconnecting; buffering ${w.queued} samples`, details };
    }
    const oldest = w.oldestAt;
    if (oldest !== undefined && now() - oldest > 1000) {
      return { status: 'degraded', message: `flushing ${w.queued} buffered samples to Redis`, details };
    }
    if (sub.status !== 'ready' && this.bus.subscribed.size > 0) {
      return { status: 'degraded', message: 'bus subscriber reconnecting', details };
    }
    return { status: 'ok', details };
  }

  async close(): Promise<void> {
    if (this.link.closed) return;
    // A last, short flush so a clean shutdown loses nothing that can still be written.
    if (this.link.ready) await this.writer.drain(2000, true);
    this.link.closed = true;
    this.writer.stop();
    this.local.clear();
    if (this.writer.queued > 0) this.link.logger.warn({ lost: this.writer.queued }, 'store closed with samples still buffered');
    await this.link.quit();
  }
}
