/**
 * The Redis store's sample writes. They never wait on Redis: `append` copies the batch into
 * a columnar queue and returns; the queue is drained in the background, up to two pipelines
 * in flight, each one script call per 500 series-chunks (what queued up meanwhile goes
 * together: group commit). While Redis is unreachable the queue is the buffer: bounded by
 * `redis.bufferSamples`, the oldest samples dropped (and counted) beyond it, flushed on
 * reconnect. A write whose reply was lost is sent again; the append script recognises a
 * replay, so nothing is stored twice.
 *
 * Why one file over 400 lines: the queue, the group-committed pipelines, retries and the
 * append script's argument encoding share one invariant (a retry resends the same bytes), which
 * is easier to keep when they sit together.
 */
import type { SampleBatch } from '../../core/samples';
import { encodeLatest, newestIndex, ROW, sortColumns } from '../codec';
import { cleanBatch, sleep, sliceColumns } from '../common';
import { addSample, SLOT, SLOT_BYTES } from '../rollup';
import { RedisPart, type RedisLink, type ScriptPipeline } from './link';
import { SampleQueue, type Taken } from './sample-queue';

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

export class RedisSampleWriter extends RedisPart {
  droppedSamples = 0;
  failedSamples = 0;
  writtenSamples = 0;
  /** Samples a replayed write found already stored (the reply of the first try was lost). */
  replaysSkipped = 0;
  retriedWrites = 0;
  /** Clock time Redis became unreachable (undefined while it is up). */
  disconnectedAt: number | undefined;
  droppedAtDisconnect = 0;
  readonly queue = new SampleQueue();
  retries: Taken[] = [];
  private pendingLatest = new Map<string, Buffer>();
  private inFlight = 0;
  private kickScheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Rollup chunks whose expiry was set since the last reconnect. */
  private readonly rollupTtlSet = new Set<string>();

  constructor(link: RedisLink) {
    super(link);
    this.disconnectedAt = link.now(); // until the first 'ready'
  }

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
  get queued(): number {
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
  async drain(timeoutMs: number, giveUpWhenDown: boolean): Promise<boolean> {
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

  onReady(): void {
    if (this.disconnectedAt !== undefined) {
      this.logger.info({ downMs: this.now() - this.disconnectedAt, buffered: this.queued }, 'Redis ready');
      this.disconnectedAt = undefined;
    }
    this.link.errorsLogged = 0;
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

  /** Redis went away: note when, to say how long and how much was dropped since. */
  onDown(): void {
    if (this.disconnectedAt === undefined && !this.closed) {
      this.disconnectedAt = this.now();
      this.droppedAtDisconnect = this.droppedSamples;
      this.logger.warn({ buffered: this.queued }, 'Redis unreachable: buffering samples');
    }
  }

  /** The oldest sample still waiting (clock time it was queued), if any. */
  get oldestAt(): number | undefined {
    return this.retries[0]?.enqueuedAt ?? this.queue.oldestAt;
  }

  stop(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
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

