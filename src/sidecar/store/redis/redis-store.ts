/**
 * The Redis store: model, samples, rollups, pub/sub and leases shared by several sidecars.
 * Layout and the measurements behind it: docs/redis-layout.md.
 *
 * Writes never wait on Redis: `append` copies the batch into a columnar queue and returns;
 * the queue is drained in the background, up to two pipelines in flight, each one script
 * call per 500 series-chunks (what queued up meanwhile goes together: group commit). While
 * Redis is unreachable the queue is the buffer: bounded by `redis.bufferSamples`, the oldest
 * samples dropped (and counted) beyond it, flushed on reconnect. A write whose reply was lost
 * is sent again; the append script recognises a replay, so nothing is stored twice.
 */
import Redis, { type ChainableCommander, type RedisOptions } from 'ioredis';
import pino, { type Logger } from 'pino';
import { AppError } from '../../errors';
import type { HealthProbe, ProbeStatus } from '../../core/health';
import type { Reducer, Resampled } from '../../timeseries/types';
import type { SampleBatch, SampleColumns } from '../../core/samples';
import {
  batchOrigin,
  decodeBatch,
  decodeLatest,
  decodeRows,
  encodeBatch,
  encodeLatest,
  newestIndex,
  readF64s,
  ROW,
  sortColumns,
} from '../codec';
import {
  checkId,
  checkKind,
  checkLease,
  checkSeriesIds,
  cleanBatch,
  newInstanceId,
  prepareOps,
  sleep,
  sliceColumns,
  storeResample,
  type ResampleReader,
  retentionCutoffs,
} from '../common';
import type { StoreConfig } from '../config';
import { LocalBus } from '../local-bus';
import { addSample, canUseRollups, REGION_A, regionOf, SLOT, SLOT_BYTES, type RollupPlan, type SeriesWindow } from '../rollup';
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
import { Keys } from './keys';
import { SampleQueue, type Taken } from './sample-queue';
import { APPEND_LUA, LEASE_RELEASE_LUA, LEASE_RENEW_LUA, MODEL_WRITE_LUA } from './scripts';

export interface RedisStoreOptions {
  logger?: Logger;
  /** The wall clock for retention cut-offs and expiry times. */
  now?: () => number;
}

/** The scripts, as ioredis defines them on clients and pipelines. */
interface Scripts {
  scadaAppend(...numKeysKeysAndArgs: Array<string | number | Buffer>): Promise<number>;
  scadaModelWrite(numKeys: number, ...args: Array<string | number>): Promise<[number, number, number]>;
  scadaLeaseRenew(lease: string, owner: string, ttlMs: number): Promise<number>;
  scadaLeaseRelease(lease: string, owner: string): Promise<number>;
}
type ScriptClient = Redis & Scripts;
type ScriptPipeline = ChainableCommander & { [K in keyof Scripts]: (...args: Parameters<Scripts[K]>) => ScriptPipeline };

/** One op of the append script: a series' samples `[a, b)` of a `Taken` (time-sorted) in one raw chunk. */
interface Op {
  id: string;
  a: number;
  b: number;
  chunkStart: number;
  rollupStart: number;
  /** The series' latest value rides on this op (its newest sample, or a newer setLatest row). */
  latest?: Buffer;
}

/** Ops per script call: bounds how long one call keeps Redis busy (a few µs an op). */
const OPS_PER_CALL = 500;
/** Pipelines of appends in flight at once. */
const MAX_IN_FLIGHT = 2;
const NO_SAMPLES: Taken = {
  seq: 0,
  ids: [],
  starts: new Int32Array(1),
  times: new Float64Array(0),
  values: new Float64Array(0),
  qualities: new Uint8Array(0),
  enqueuedAt: 0,
};
/** Bytes of one rollup partial in the append script's ARGV: slot index + the slot's fields. */
const PARTIAL = 8 + SLOT_BYTES;

/** Errors after which the same write may succeed later (the connection, a busy or loading server). */
function isTransient(err: Error): boolean {
  return (
    err.name === 'AbortError' ||
    err.name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|Stream isn't writeable|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|Command timed out|aborted|LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|NOSCRIPT/i.test(
      err.message,
    )
  );
}

export class RedisStore implements Store, ResampleReader {
  readonly kind = 'redis' as const;
  readonly instanceId = newInstanceId();
  readonly rollupResolutionMs: number;
  readonly probe: HealthProbe;
  readonly keys: Keys;

  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly redis: ScriptClient;
  private readonly sub: Redis;
  private readonly bus: LocalBus;
  private readonly cfg: StoreConfig['redis'];

  /** Samples waiting to be written, oldest first, and writes to retry (older still). */
  private readonly queue = new SampleQueue();
  private retries: Taken[] = [];
  private pendingLatest = new Map<string, Buffer>();
  /** Pipelines sent and not yet answered. */
  private inFlight = 0;
  private kickScheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  /** Counters for health and tests. */
  private droppedSamples = 0;
  private failedSamples = 0;
  private busDropped = 0;
  private writtenSamples = 0;
  /** Retried script ops found already applied (their reply had been lost). */
  private replaysSkipped = 0;
  /** Writes re-queued after a transient failure. */
  private retriedWrites = 0;
  private disconnectedAt: number | undefined;
  private droppedAtDisconnect = 0;
  private lastError: string | undefined;
  private errorsLogged = 0;
  private subscribed = new Set<string>();
  /** Rollup chunk keys whose expiry this connection has set (cleared on reconnect: Redis may be new). */
  private readonly rollupTtlSet = new Set<string>();
  private sampleSubscribers = 0;
  private modelSubscribers = 0;

  constructor(
    private readonly config: StoreConfig,
    url: string,
    options: RedisStoreOptions = {},
  ) {
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'store', backend: 'redis' });
    this.now = options.now ?? Date.now;
    this.cfg = config.redis;
    this.rollupResolutionMs = config.rollup.resolutionMs;
    this.keys = new Keys(this.cfg.keyPrefix, this.rollupResolutionMs, this.cfg.rollupChunkMs / this.rollupResolutionMs);
    this.bus = new LocalBus(this.logger);

    const maxDelay = this.cfg.reconnectMaxDelayMs;
    const common: RedisOptions = {
      lazyConnect: true,
      connectTimeout: this.cfg.connectTimeoutMs,
      // How long disconnect() waits for a socket to close before destroying it; its timer
      // lingers that long even when the socket is long gone, delaying process exit.
      disconnectTimeout: 200,
      // 50 ms doubling up to the cap, ±20 % jitter so a fleet of sidecars doesn't reconnect in step.
      retryStrategy: (times) => Math.round(Math.min(maxDelay, 50 * 2 ** Math.min(times - 1, 16)) * (0.8 + Math.random() * 0.4)),
    };
    // Commands fail at once while disconnected (the write queue is our offline buffer, bounded;
    // ioredis' own offline queue is not), and in-flight ones fail on a drop instead of being
    // silently resent: the flusher decides what to resend.
    this.redis = new Redis(url, {
      ...common,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: this.cfg.commandTimeoutMs,
      connectionName: `scadalive:${this.instanceId}`,
    }) as ScriptClient;
    // The subscriber only (re)subscribes; its commands may wait for the connection.
    this.sub = new Redis(url, { ...common, enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: true });

    this.redis.defineCommand('scadaAppend', { lua: APPEND_LUA });
    this.redis.defineCommand('scadaModelWrite', { lua: MODEL_WRITE_LUA });
    this.redis.defineCommand('scadaLeaseRenew', { numberOfKeys: 1, lua: LEASE_RENEW_LUA });
    this.redis.defineCommand('scadaLeaseRelease', { numberOfKeys: 1, lua: LEASE_RELEASE_LUA });

    // An 'error' event without a listener would be printed as unhandled; every reconnect
    // attempt emits one, so log the first of an outage and keep the rest at debug.
    const onError = (which: string) => (err: Error) => {
      this.lastError = err.message;
      if (this.errorsLogged++ === 0) this.logger.warn({ err: err.message, connection: which }, 'Redis connection error; reconnecting');
      else this.logger.debug({ err: err.message, connection: which }, 'Redis connection error');
    };
    this.redis.on('error', onError('command'));
    this.sub.on('error', onError('subscriber'));
    this.redis.on('ready', () => this.onReady());
    const onDown = () => {
      if (this.disconnectedAt === undefined && !this.closed) {
        this.disconnectedAt = this.now();
        this.droppedAtDisconnect = this.droppedSamples;
        this.logger.warn({ buffered: this.queued }, 'Redis unreachable: buffering samples');
      }
    };
    this.redis.on('close', onDown);
    this.redis.on('reconnecting', onDown);
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.onMessage(channel.toString(), message));

    this.disconnectedAt = this.now(); // until the first 'ready'
    this.redis.connect().catch(() => undefined); // failures surface as 'error' events and retries
    this.sub.connect().catch(() => undefined);
    this.probe = { name: 'store', check: async () => this.health() };
  }

  /** Resolves true once the command connection is ready (false after `timeoutMs`). */
  async waitReady(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.redis.status !== 'ready') {
      if (this.closed || Date.now() >= deadline) return false;
      await sleep(10);
    }
    return true;
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
    return {
      buffered: this.queued,
      dropped: this.droppedSamples,
      failed: this.failedSamples,
      written: this.writtenSamples,
      retried: this.retriedWrites,
      replaysSkipped: this.replaysSkipped,
      busDropped: this.busDropped,
      status: this.redis.status,
    };
  }

  // ---- samples: writes ---------------------------------------------------------------------

  async append(batch: SampleBatch): Promise<void> {
    if (this.closed) return;
    const clean = cleanBatch(batch, (id, why) => this.logger.warn({ series: id }, `append: ${why}`));
    // Copied into the queue's columns: the caller may reuse its arrays, and these may wait a while.
    this.queue.push(clean, this.now());
    this.enforceBound();
    this.scheduleKick();
  }

  /**
   * Starts a write after the current turn of the event loop: the poller's append returns at
   * once, and every batch appended in the same turn goes into the same pipeline.
   */
  private scheduleKick(): void {
    if (this.kickScheduled) return;
    this.kickScheduled = true;
    setImmediate(() => {
      this.kickScheduled = false;
      this.kick();
    });
  }

  /** Samples queued or waiting for a retry. */
  private get queued(): number {
    let n = this.queue.size;
    for (const r of this.retries) n += r.times.length;
    return n;
  }

  async setLatest(batch: SampleBatch): Promise<void> {
    if (this.closed) return;
    const clean = cleanBatch(batch, (id, why) => this.logger.warn({ series: id }, `setLatest: ${why}`));
    for (const [id, cols] of clean) {
      const i = newestIndex(cols.times);
      if (i >= 0) this.mergePendingLatest(id, encodeLatest(cols.times[i], cols.values[i], cols.qualities[i]));
    }
    this.scheduleKick();
  }

  async flush(timeoutMs = 10_000): Promise<boolean> {
    return this.drain(timeoutMs, false);
  }

  /** Waits for the queue to empty; with `giveUpWhenDown`, returns false as soon as Redis is unreachable. */
  private async drain(timeoutMs: number, giveUpWhenDown: boolean): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    this.kick();
    while (this.inFlight > 0 || this.queued > 0 || this.pendingLatest.size > 0) {
      if (Date.now() >= deadline) return false;
      if (giveUpWhenDown && this.inFlight === 0 && this.redis.status !== 'ready') return false;
      await sleep(5);
    }
    return true;
  }

  private mergePendingLatest(id: string, row: Buffer): void {
    const cur = this.pendingLatest.get(id);
    if (!cur || cur.readDoubleLE(0) <= row.readDoubleLE(0)) this.pendingLatest.set(id, row);
  }

  /** Drops the oldest samples (retries first: they are older) while the buffer is over its bound. */
  private enforceBound(): void {
    let over = this.queued - this.cfg.bufferSamples;
    if (over <= 0) return;
    let dropped = 0;
    // A retry goes whole (its ops must stay as they were sent), even if that is a few more than needed.
    while (over > 0 && this.retries.length > 0) {
      const n = this.retries.shift()!.times.length;
      over -= n;
      dropped += n;
    }
    if (over > 0) {
      const n = Math.min(over, this.queue.size);
      this.queue.dropOldest(n);
      dropped += n;
    }
    if (
      this.droppedSamples === this.droppedAtDisconnect ||
      Math.floor(this.droppedSamples / 100_000) !== Math.floor((this.droppedSamples + dropped) / 100_000)
    )
      this.logger.warn(
        { dropped, totalDropped: this.droppedSamples + dropped, bufferSamples: this.cfg.bufferSamples },
        'sample buffer full: oldest samples dropped',
      );
    this.droppedSamples += dropped;
  }

  /**
   * Sends what is queued: up to MAX_IN_FLIGHT pipelines at once, so the next one is encoded
   * while Redis executes the previous. Whatever arrives meanwhile waits and goes together in
   * the next pipeline (group commit): the slower Redis is, the more samples each script op
   * carries, so throughput adapts instead of the queue growing.
   */
  private kick(): void {
    while (
      this.inFlight < MAX_IN_FLIGHT &&
      this.retryTimer === undefined &&
      this.redis.status === 'ready' &&
      (this.retries.length > 0 || this.queue.size > 0 || this.pendingLatest.size > 0)
    ) {
      // A retried write goes alone: merged with fresh samples, its replay could not be recognised.
      const taken = this.retries.shift() ?? this.queue.take(this.cfg.flushSamples) ?? NO_SAMPLES;
      const latest = this.pendingLatest;
      this.pendingLatest = new Map();
      this.inFlight++;
      void this.write(taken, latest)
        .catch((err: Error) => {
          // A bug, not Redis: count the samples as failed rather than retry forever.
          this.failedSamples += taken.times.length;
          this.lastError = err.message;
          this.logger.error({ err }, 'sample write failed');
          return false;
        })
        .then((retry) => {
          this.inFlight--;
          if (retry && this.redis.status === 'ready' && !this.closed && this.retryTimer === undefined) {
            // Still "ready" but the write failed (timeout, busy script): try again shortly rather than spin.
            this.retryTimer = setTimeout(() => {
              this.retryTimer = undefined;
              this.kick();
            }, 200);
            this.retryTimer.unref();
          }
          this.kick();
        });
    }
  }

  private onReady(): void {
    if (this.disconnectedAt !== undefined) {
      this.logger.info({ downMs: this.now() - this.disconnectedAt, buffered: this.queued }, 'Redis ready');
      this.disconnectedAt = undefined;
    }
    this.errorsLogged = 0;
    this.rollupTtlSet.clear();
    this.kick();
  }

  /**
   * Writes taken samples and pending latest values: script calls of up to OPS_PER_CALL ops in
   * one pipeline. A call that fails in a way that may succeed later goes back to the front
   * (flagged as a retry); one Redis rejects for good is counted and logged. True if anything
   * was re-queued.
   */
  private async write(taken: Taken, latest: Map<string, Buffer>): Promise<boolean> {
    const retry = taken.retry === true;
    const ops: Op[] = [];
    for (let i = 0; i < taken.ids.length; i++) this.buildOps(taken, i, latest, ops);
    for (const [id, row] of latest) ops.push({ id, a: 0, b: 0, chunkStart: 0, rollupStart: 0, latest: row });

    const calls: Op[][] = [];
    for (let i = 0; i < ops.length; i += OPS_PER_CALL) calls.push(ops.slice(i, i + OPS_PER_CALL));
    const pipeline = this.redis.pipeline() as unknown as ScriptPipeline;
    for (const call of calls) pipeline.scadaAppend(...this.encodeCall(taken, call, retry));
    let results: Array<[Error | null, unknown]> | null;
    try {
      results = await pipeline.exec();
    } catch (err) {
      results = null;
      this.lastError = (err as Error).message;
    }

    const failed: Op[] = [];
    let permanent: Error | undefined;
    calls.forEach((call, c) => {
      const err = results ? results[c]?.[0] : new Error('pipeline failed');
      const samples = call.reduce((n, op) => n + op.b - op.a, 0);
      if (!err) {
        this.writtenSamples += samples;
        this.replaysSkipped += Number(results![c][1]) || 0;
      } else if (isTransient(err) || this.redis.status !== 'ready') failed.push(...call);
      else {
        permanent = err;
        this.failedSamples += samples;
      }
    });
    if (permanent) {
      this.lastError = (permanent as Error).message;
      this.logger.error({ err: this.lastError, failed: this.failedSamples }, 'Redis rejected a sample write; those samples are lost');
    }
    if (failed.length === 0) return false;

    // Back to the front (they are the oldest), as a retry: the same ops, the same bytes.
    for (const op of failed) if (op.latest) this.mergePendingLatest(op.id, op.latest);
    const withSamples = failed.filter((op) => op.b > op.a);
    if (withSamples.length > 0) {
      // Retries are older than anything queued; among themselves they keep the order they were first sent in.
      const r = retryOf(taken, withSamples);
      this.retriedWrites++;
      let at = 0;
      while (at < this.retries.length && this.retries[at].seq < r.seq) at++;
      this.retries.splice(at, 0, r);
      this.enforceBound();
    }
    // Expiries set by a call that failed may not have happened.
    this.rollupTtlSet.clear();
    return true;
  }

  /** Splits series `i` of `taken` by raw chunk (sorting it first if it arrived out of order). */
  private buildOps(taken: Taken, i: number, latest: Map<string, Buffer>, ops: Op[]): void {
    const { chunkMs, rollupChunkMs } = this.cfg;
    const id = taken.ids[i];
    const from = taken.starts[i];
    const to = taken.starts[i + 1];
    if (to <= from) return;
    const { times, values, qualities } = taken;
    let sorted = true;
    for (let k = from + 1; k < to; k++) if (times[k] < times[k - 1]) sorted = false;
    if (!sorted) {
      // Stable: equal times keep arrival order, which the rollups' first/last follow.
      const s = sortColumns(sliceColumns(taken, from, to));
      times.set(s.times, from);
      values.set(s.values, from);
      qualities.set(s.qualities, from);
    }
    const newest = to - 1; // sorted: the newest, and the last of equal times
    let latestRow = encodeLatest(times[newest], values[newest], qualities[newest]);
    // A setLatest row newer than anything appended wins (and then goes with this op, not alone).
    const pending = latest.get(id);
    if (pending) {
      if (pending.readDoubleLE(0) >= times[newest]) latestRow = pending;
      latest.delete(id);
    }
    let a = from;
    while (a < to) {
      const chunkStart = Math.floor(times[a] / chunkMs) * chunkMs;
      const chunkEnd = chunkStart + chunkMs;
      let b = a + 1;
      while (b < to && times[b] < chunkEnd) b++;
      ops.push({
        id,
        a,
        b,
        chunkStart,
        rollupStart: Math.floor(chunkStart / rollupChunkMs) * rollupChunkMs,
        latest: b === to ? latestRow : undefined,
      });
      a = b;
    }
  }

  /** One script call's KEYS and ARGV (see APPEND_LUA): 3 keys an op, then meta, rows, partials, latest rows. */
  private encodeCall(taken: Taken, ops: Op[], retry: boolean): Array<string | number | Buffer> {
    const res = this.rollupResolutionMs;
    const { chunkMs, rollupChunkMs } = this.cfg;
    const retention = this.config.retentionMs;
    const rollupRetention = this.config.rollup.retentionMs;
    const now = this.now();
    const { times, values, qualities } = taken;
    // Imported bindings are getters in CommonJS output: read them once, not per sample.
    const [rowBytes, slotLen, fold] = [ROW, SLOT, addSample];
    let nRows = 0;
    let nLatest = 0;
    for (const op of ops) {
      nRows += op.b - op.a;
      if (op.latest) nLatest++;
    }
    const keys: string[] = new Array(ops.length * 3);
    const meta = Buffer.allocUnsafe(ops.length * 48);
    const rows = Buffer.allocUnsafe(nRows * rowBytes);
    // At most one partial per sample; usually one per op.
    let partials = Buffer.allocUnsafe(Math.max(1, Math.min(nRows, ops.length * 2)) * PARTIAL);
    const lats = Buffer.allocUnsafe(nLatest * rowBytes);
    const slot = new Float64Array(slotLen);
    let ro = 0;
    let po = 0;
    let lo = 0;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      const prefix = this.keys.seriesPrefix(op.id);
      keys[i * 3] = `${prefix}r:${op.chunkStart}`;
      keys[i * 3 + 1] = `${prefix}${this.keys.rollupInfix}${op.rollupStart}`;
      keys[i * 3 + 2] = `${prefix}l`;
      let nParts = 0;
      let cur = NaN;
      // Sorted samples: slots change monotonically, so one running aggregate suffices; it is
      // written out when the slot changes and after the last sample (k === op.b).
      for (let k = op.a; k <= op.b; k++) {
        const last = k === op.b;
        const t = last ? NaN : times[k];
        const v = last ? NaN : values[k];
        if (!last) {
          rows.writeDoubleLE(t, ro);
          rows.writeDoubleLE(v, ro + 8);
          rows[ro + 16] = qualities[k];
          ro += rowBytes;
          if (v !== v) continue;
        }
        const s = last ? NaN : Math.floor(t / res) * res;
        if (s !== cur && cur === cur) {
          if (po + PARTIAL > partials.length) {
            const grown = Buffer.allocUnsafe(partials.length * 2);
            partials.copy(grown, 0, 0, po);
            partials = grown;
          }
          partials.writeDoubleLE((cur - op.rollupStart) / res, po);
          for (let f = 0; f < slotLen; f++) partials.writeDoubleLE(slot[f], po + 8 + f * 8);
          po += PARTIAL;
          nParts++;
        }
        if (last) break;
        if (s !== cur) {
          cur = s;
          slot.fill(0);
        }
        fold(slot, 0, t, v);
      }
      if (op.latest) {
        op.latest.copy(lats, lo);
        lo += rowBytes;
      }
      // A rollup chunk's expiry is fixed (its end + retention): set it once per connection.
      const rollupKey = keys[i * 3 + 1];
      const rollupExpireAt = op.rollupStart + rollupChunkMs + rollupRetention;
      let rollupExp = 0;
      if (nParts > 0 && !(this.rollupTtlSet.has(rollupKey) && rollupExpireAt > now)) {
        rollupExp = rollupExpireAt;
        if (this.rollupTtlSet.size > 100_000) this.rollupTtlSet.clear();
        this.rollupTtlSet.add(rollupKey);
      }
      const m = i * 48;
      meta.writeDoubleLE(op.b - op.a, m);
      meta.writeDoubleLE(nParts, m + 8);
      meta.writeDoubleLE(op.latest ? 1 : 0, m + 16);
      meta.writeDoubleLE(op.chunkStart + chunkMs + retention, m + 24);
      meta.writeDoubleLE(rollupExp, m + 32);
      meta.writeDoubleLE(retry ? 1 : 0, m + 40);
    }
    return [keys.length, ...keys, meta, rows, partials.subarray(0, po), lats, rollupChunkMs / res];
  }

  // ---- samples: reads -----------------------------------------------------------------------

  async range(seriesId: string, from: number, to: number): Promise<SampleColumns> {
    checkId(seriesId, 'series');
    return (await this.rangeMany([seriesId], from, to)).get(seriesId)!;
  }

  async rangeMany(seriesIds: readonly string[], from: number, to: number): Promise<Map<string, SampleColumns>> {
    checkSeriesIds(seriesIds);
    const pipeline = this.redis.pipeline();
    const windows = seriesIds.map((id) => this.queueRawReads(pipeline, id, from, to));
    const results = await this.execRead(pipeline);
    const out = new Map<string, SampleColumns>();
    seriesIds.forEach((id, s) => out.set(id, this.decodeWindow(results, windows[s])));
    return out;
  }

  async latest(seriesIds: readonly string[]): Promise<Map<string, LatestSample>> {
    checkSeriesIds(seriesIds);
    const out = new Map<string, LatestSample>();
    if (seriesIds.length === 0) return out;
    const pipeline = this.redis.pipeline();
    for (const id of seriesIds) pipeline.getBuffer(this.keys.latest(id));
    const results = await this.execRead(pipeline);
    seriesIds.forEach((id, i) => {
      const buf = results[i] as Buffer | null;
      const l = buf ? decodeLatest(buf) : undefined;
      if (l) out.set(id, l);
    });
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

  /**
   * Interior slots with GETRANGE on the rollup chunks (only the region the reducer reads),
   * edges from raw chunks: one round trip.
   */
  async rollupWindow(ids: readonly string[], plan: RollupPlan, reducer: Reducer): Promise<SeriesWindow[]> {
    const { rollupChunkMs } = this.cfg;
    const res = plan.resolution;
    const slotsPerChunk = rollupChunkMs / res;
    const fields = regionOf(reducer);
    const width = fields.length * 8;
    const base = fields === REGION_A ? 0 : slotsPerChunk * REGION_A.length * 8;
    const pipeline = this.redis.pipeline();
    const layout = ids.map((id) => {
      const pieces: Array<{ at: number; index: number }> = [];
      for (let c = Math.floor(plan.slotFrom / rollupChunkMs) * rollupChunkMs; c < plan.slotTo; c += rollupChunkMs) {
        const first = Math.round((Math.max(plan.slotFrom, c) - c) / res);
        const last = Math.round((Math.min(plan.slotTo, c + rollupChunkMs) - c) / res);
        pieces.push({ at: Math.round((c - plan.slotFrom) / res) + first, index: pipeline.length });
        pipeline.getrangeBuffer(this.keys.rollup(id, c), base + first * width, base + last * width - 1);
      }
      const edges = plan.edges.map(([a, b]) => this.queueRawReads(pipeline, id, a, b));
      return { pieces, edges };
    });
    const results = await this.execRead(pipeline);
    return layout.map(({ pieces, edges }) => ({
      // A missing or short chunk is empty beyond its end (zeros: count 0).
      pieces: pieces.map(({ at, index }) => {
        const buf = results[index] as Buffer;
        return { at, slots: readF64s(buf, 0, Math.floor(buf.length / 8)), fields };
      }),
      edges: edges.map((w) => this.decodeWindow(results, w)),
    }));
  }

  /** Queues GETs of the raw chunks that overlap `[from, to)` (clipped to retention). */
  private queueRawReads(
    pipeline: ChainableCommander,
    id: string,
    from: number,
    to: number,
  ): { first: number; count: number; from: number; to: number } {
    const { chunkMs } = this.cfg;
    const now = this.now();
    from = Math.max(from, now - this.config.retentionMs);
    // Chunks are found by name, so an open end needs a bound: nothing is kept beyond retention
    // into the future either (a device clock that far ahead is wrong).
    const end = Math.min(to, now + this.config.retentionMs);
    const first = pipeline.length;
    if (!(from < end)) return { first, count: 0, from, to };
    let count = 0;
    for (let c = Math.floor(from / chunkMs) * chunkMs; c < end; c += chunkMs, count++) pipeline.getBuffer(this.keys.raw(id, c));
    return { first, count, from, to };
  }

  private decodeWindow(results: unknown[], w: { first: number; count: number; from: number; to: number }): SampleColumns {
    return decodeRows(results.slice(w.first, w.first + w.count) as Array<Buffer | null>, w.from, w.to);
  }

  /** Runs a read pipeline; any failure is one clear NOT_READY error (reads are not buffered). */
  private async execRead(pipeline: ChainableCommander): Promise<unknown[]> {
    if (pipeline.length === 0) return [];
    let results: Array<[Error | null, unknown]> | null;
    try {
      results = await pipeline.exec();
    } catch (err) {
      throw this.unavailable(err);
    }
    if (!results) throw this.unavailable(new Error('no reply'));
    return results.map(([err, value]) => {
      if (err) throw this.unavailable(err);
      return value;
    });
  }

  /** The client's own words go to the log; the caller is told what happened and what to do. */
  private unavailable(err: unknown): AppError {
    const message = err instanceof Error ? err.message : String(err);
    this.logger.debug({ reason: message, status: this.redis.status }, 'Redis command failed');
    const state = this.redis.status === 'ready' ? 'did not answer' : `is not connected (${this.redis.status})`;
    return new AppError('NOT_READY', `store unavailable: Redis ${state}; try again shortly`);
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw this.unavailable(err);
    }
  }

  // ---- bus ----------------------------------------------------------------------------------

  publishSamples(batch: SampleBatch): void {
    if (this.closed || batch.size === 0) return;
    this.bus.deliverSamples(batch, this.instanceId);
    if (this.redis.status !== 'ready') {
      this.busDropped++;
      return;
    }
    let message: Buffer;
    try {
      message = encodeBatch(batch, this.instanceId);
    } catch (err) {
      this.logger.warn({ err }, 'publishSamples: batch could not be encoded');
      return;
    }
    this.redis.publish(this.keys.samplesChannel, message).catch(() => this.busDropped++);
  }

  subscribeSamples(listener: (batch: SampleBatch, origin: string) => void): Unsubscribe {
    const off = this.bus.subscribeSamples(listener);
    this.sampleSubscribers++;
    this.ensureSubscribed(this.keys.samplesChannel);
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      off();
      if (--this.sampleSubscribers === 0) this.unsubscribe(this.keys.samplesChannel);
    };
  }

  publishModelEvents(events: readonly ModelEvent[]): void {
    if (this.closed || events.length === 0) return;
    this.bus.deliverModelEvents([...events], this.instanceId);
    if (this.redis.status !== 'ready') {
      this.busDropped++;
      return;
    }
    this.redis.publish(this.keys.modelChannel, this.modelMessage(events)).catch(() => this.busDropped++);
  }

  subscribeModelEvents(listener: (events: ModelEvent[], origin: string) => void): Unsubscribe {
    const off = this.bus.subscribeModelEvents(listener);
    this.modelSubscribers++;
    this.ensureSubscribed(this.keys.modelChannel);
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      off();
      if (--this.modelSubscribers === 0) this.unsubscribe(this.keys.modelChannel);
    };
  }

  /**
   * Resolves true once Redis has confirmed every bus subscription made so far, also after a
   * reconnect (a message published before that is not seen by this sidecar's remote half).
   */
  async busReady(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // ioredis keeps the confirmed channels on its connection condition (re-filled on resubscribe).
      const condition = (this.sub as unknown as { condition?: { subscriber?: false | { channels(kind: string): string[] } } }).condition;
      const have = condition?.subscriber ? condition.subscriber.channels('subscribe') : [];
      if (this.sub.status === 'ready' && [...this.subscribed].every((c) => have.includes(c))) return true;
      if (this.closed || Date.now() >= deadline) return false;
      await sleep(10);
    }
  }

  private modelMessage(events: readonly ModelEvent[]): string {
    return JSON.stringify({ o: this.instanceId, e: events.map(({ kind, op, id }) => ({ kind, op, id })) });
  }

  private ensureSubscribed(channel: string): void {
    if (this.subscribed.has(channel) || this.closed) return;
    this.subscribed.add(channel);
    this.sub.subscribe(channel).catch((err: Error) => {
      this.subscribed.delete(channel);
      this.logger.warn({ err: err.message, channel }, 'bus subscribe failed');
    });
  }

  private unsubscribe(channel: string): void {
    if (!this.subscribed.delete(channel) || this.closed) return;
    this.sub.unsubscribe(channel).catch(() => undefined);
  }

  private onMessage(channel: string, message: Buffer): void {
    try {
      if (channel === this.keys.samplesChannel) {
        // Our own publications come back too; they were delivered locally already: skip them unread.
        if (batchOrigin(message) === this.instanceId) return;
        const { origin, batch } = decodeBatch(message);
        this.bus.deliverSamples(batch, origin);
      } else if (channel === this.keys.modelChannel) {
        const { o, e } = JSON.parse(message.toString('utf8')) as { o: string; e: ModelEvent[] };
        if (o !== this.instanceId && Array.isArray(e)) this.bus.deliverModelEvents(e, o);
      }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, channel }, 'malformed bus message ignored');
    }
  }

  // ---- model --------------------------------------------------------------------------------

  putObject(kind: ModelKind, id: string, value: unknown, options?: ModelWriteOptions): Promise<ModelWriteResult> {
    return this.writeObjects([{ op: 'put', kind, id, value }], options);
  }

  async getObject<T = unknown>(kind: ModelKind, id: string): Promise<T | undefined> {
    checkKind(kind);
    checkId(id);
    const json = await this.call(() => this.redis.hget(this.keys.model(kind), id));
    return json === null ? undefined : (JSON.parse(json) as T);
  }

  async listObjects<T = unknown>(kind: ModelKind): Promise<Map<string, T>> {
    checkKind(kind);
    const all = await this.call(() => this.redis.hgetall(this.keys.model(kind)));
    const out = new Map<string, T>();
    for (const id of Object.keys(all).sort()) out.set(id, JSON.parse(all[id]) as T);
    return out;
  }

  deleteObjects(kind: ModelKind, ids: readonly string[], options?: ModelWriteOptions): Promise<ModelWriteResult> {
    return this.writeObjects(
      ids.map((id) => ({ op: 'delete', kind, id })),
      options,
    );
  }

  async writeObjects(ops: readonly ModelOp[], options: ModelWriteOptions = {}): Promise<ModelWriteResult> {
    const prepared = prepareOps(ops);
    const events: ModelEvent[] = prepared.map(({ kind, op, id }) => ({ kind, op, id }));
    const keys = [this.keys.modelRevision, ...prepared.map((o) => this.keys.model(o.kind))];
    const args: Array<string | number> = [
      options.ifRevision === undefined ? '' : String(options.ifRevision),
      this.keys.modelChannel,
      options.publish && events.length > 0 ? this.modelMessage(events) : '',
    ];
    for (const o of prepared) args.push(o.op, o.id, o.json ?? '');
    const [ok, revision, deleted] = await this.call(() => this.redis.scadaModelWrite(keys.length, ...keys, ...args));
    if (ok === 1 && options.publish && events.length > 0) this.bus.deliverModelEvents(events, this.instanceId);
    return { ok: ok === 1, revision: Number(revision), deleted: Number(deleted) };
  }

  async modelRevision(): Promise<number> {
    return Number((await this.call(() => this.redis.get(this.keys.modelRevision))) ?? 0);
  }

  // ---- leases -------------------------------------------------------------------------------

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    checkLease(name, owner, ttlMs);
    const key = this.keys.lease(name);
    const set = await this.call(() => this.redis.set(key, owner, 'PX', ttlMs, 'NX'));
    if (set === 'OK') return true;
    // Taken: by this owner already? Then acquiring renews it.
    return (await this.call(() => this.redis.scadaLeaseRenew(key, owner, ttlMs))) === 1;
  }

  async renewLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    checkLease(name, owner, ttlMs);
    return (await this.call(() => this.redis.scadaLeaseRenew(this.keys.lease(name), owner, ttlMs))) === 1;
  }

  async releaseLease(name: string, owner: string): Promise<boolean> {
    checkLease(name, owner);
    return (await this.call(() => this.redis.scadaLeaseRelease(this.keys.lease(name), owner))) === 1;
  }

  async leaseOwner(name: string): Promise<string | undefined> {
    checkId(name, 'name');
    return (await this.call(() => this.redis.get(this.keys.lease(name)))) ?? undefined;
  }

  // ---- health and lifecycle ------------------------------------------------------------------

  private async health(): Promise<{ status: ProbeStatus; message?: string; details?: Record<string, unknown> }> {
    const details: Record<string, unknown> = {
      backend: 'redis',
      redis: this.redis.status,
      bus: this.sub.status,
      buffered: this.queued,
      dropped: this.droppedSamples,
      failed: this.failedSamples,
      busDropped: this.busDropped,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
    if (this.closed) return { status: 'down', message: 'store closed', details };
    if (this.redis.status !== 'ready') {
      const downMs = this.now() - (this.disconnectedAt ?? this.now());
      details.unreachableMs = downMs;
      const lost = this.droppedSamples - this.droppedAtDisconnect;
      if (lost > 0 || downMs >= this.cfg.downAfterMs) {
        return {
          status: 'down',
          message: `Redis unreachable for ${Math.round(downMs / 1000)} s; ${this.queued} samples buffered${lost > 0 ? `, ${lost} dropped` : ''}`,
          details,
        };
      }
      return { status: 'degraded', message: `Redis unreachable, reconnecting; buffering ${this.queued} samples`, details };
    }
    const oldest = this.retries[0]?.enqueuedAt ?? this.queue.oldestAt;
    if (oldest !== undefined && this.now() - oldest > 1000) {
      return { status: 'degraded', message: `flushing ${this.queued} buffered samples to Redis`, details };
    }
    if (this.sub.status !== 'ready' && this.subscribed.size > 0) {
      return { status: 'degraded', message: 'bus subscriber reconnecting', details };
    }
    return { status: 'ok', details };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // A last, short flush so a clean shutdown loses nothing that can still be written.
    if (this.redis.status === 'ready') await this.drain(2000, true);
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.bus.clear();
    if (this.queued > 0) this.logger.warn({ lost: this.queued }, 'store closed with samples still buffered');
    await Promise.all([quit(this.redis), quit(this.sub)]);
  }
}

/** The samples of `ops` (ranges of `taken`) as a new retry entry. */
function retryOf(taken: Taken, ops: Op[]): Taken {
  const ids: string[] = [];
  const bounds: number[] = [0];
  let n = 0;
  for (const op of ops) {
    if (ids[ids.length - 1] === op.id) bounds[bounds.length - 1] += op.b - op.a;
    else {
      ids.push(op.id);
      bounds.push(bounds[bounds.length - 1] + op.b - op.a);
    }
    n += op.b - op.a;
  }
  const times = new Float64Array(n);
  const values = new Float64Array(n);
  const qualities = new Uint8Array(n);
  let o = 0;
  for (const op of ops) {
    times.set(taken.times.subarray(op.a, op.b), o);
    values.set(taken.values.subarray(op.a, op.b), o);
    qualities.set(taken.qualities.subarray(op.a, op.b), o);
    o += op.b - op.a;
  }
  return { ids, starts: Int32Array.from(bounds), times, values, qualities, enqueuedAt: taken.enqueuedAt, retry: true, seq: taken.seq };
}

/** QUIT if the connection is up (bounded: a dying server may never answer), then drop it for sure. */
async function quit(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([client.quit().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 1000)))]);
    clearTimeout(timer);
  }
  client.disconnect();
}
