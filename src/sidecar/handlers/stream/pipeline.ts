/**
 * One upstream feed shared by every subscription with the same instance, channels, reducer
 * and interval. It closes a bucket as soon as every channel has pushed a later sample, else on
 * a timer aligned to bucket ends (plus a grace for late samples), and hands each closed
 * bucket, once, to its subscribers.
 *
 * Where a closed bucket's row comes from:
 * - push sources (`instance.canPush`): raw samples pushed by the plugin wait in per-channel
 *   buffers and are reduced by the real resampler when their bucket closes. Buckets that
 *   began before the upstream subscription was live would be partial, so those few (the
 *   first one or two) are read from history instead.
 * - other sources: each tick reads the newly closed buckets from history (polling).
 *
 * Rows leave through one serial queue, so they are in time order even when a history read
 * is slow; `emittedEnd` (the start of the next bucket to leave) is what a new subscriber's
 * backfill stops at, so backfill and live rows meet without a gap or an overlap.
 */
import type { Logger } from 'pino';
import { AppError, toAppError } from '../../errors';
import type { InstanceHandle } from '../../registry/instance';
import { resample } from '../../timeseries/resample';
import type { Reducer, SeriesSet, Unsubscribe } from '../../registry/types';
import { SampleBuffer, type SampleCounters } from './buffer';
import { withDeadline } from './deadline';
import { concatRows, gridRows, type Rows } from './rows';
import { Emission, type Subscriber } from './subscriber';

export interface PipelineSpec {
  key: string;
  instance: string;
  channels: string[];
  reducer: Reducer;
  intervalMs: number;
}

export interface PipelineCounters extends SampleCounters {
  rowsEmitted: number;
}

export interface PipelineEnv {
  now: () => number;
  graceMs: number;
  maxPendingSamples: number;
  /** Most rows one tick emits after a stall (older closed buckets are skipped). */
  maxCatchUpRows: number;
  fetchTimeoutMs: number;
  logger: Logger;
  counters: PipelineCounters;
  /** The pipeline died (upstream subscribe failed): forget it. */
  onDead: (pipeline: Pipeline) => void;
  /** Rows were handed to every subscriber, `lagMs` after the end of their last bucket. */
  onEmitted?: (lagMs: number) => void;
}

export class Pipeline {
  readonly subscribers = new Set<Subscriber>();
  /** Start of the next bucket to be emitted (all earlier ones have left). Aligned. */
  emittedEnd: number;
  /** Set by the hub while no one is subscribed. */
  lingerTimer?: NodeJS.Timeout;
  readonly interval: number;
  /** End of the buckets already handed to the queue; samples before it are late. */
  private closedEnd: number;
  /** First bucket whose samples are all pushed (Infinity until the upstream subscription is live). */
  private pushFrom = Infinity;
  private readonly buffers?: SampleBuffer[];
  /** Newest pushed sample time per channel: once every channel is past a bucket, it is complete. */
  private readonly newest?: Float64Array;
  private upstream?: Unsubscribe;
  private timer?: NodeJS.Timeout;
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  /** A poll is queued and not yet started: another tick need not queue one (it reads up to closedEnd). */
  private pollQueued = false;
  /** In an error streak: an error is reported once per streak, not every tick. */
  private failing = false;

  constructor(
    readonly instance: InstanceHandle,
    readonly spec: PipelineSpec,
    private readonly env: PipelineEnv,
  ) {
    this.interval = spec.intervalMs;
    // The bucket in progress is the first this pipeline emits; everything before is history.
    this.emittedEnd = this.closedEnd = Math.floor(env.now() / this.interval) * this.interval;
    if (instance.canPush) {
      this.buffers = spec.channels.map(() => new SampleBuffer(env.maxPendingSamples));
      this.newest = new Float64Array(spec.channels.length).fill(-Infinity);
    }
  }

  get isPush(): boolean {
    return this.buffers !== undefined;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  start(): void {
    if (this.buffers) void this.connect();
    this.schedule();
  }

  /** Stops timers and the upstream subscription. Subscribers are the hub's business. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.timer = this.lingerTimer = undefined;
    this.disconnect();
  }

  private async connect(): Promise<void> {
    let unsubscribe: Unsubscribe;
    try {
      unsubscribe = await this.instance.subscribe(this.spec.channels, this.onSamples);
    } catch (err) {
      this.die(toAppError(err));
      return;
    }
    if (this.stopped) {
      safely(unsubscribe, this.env.logger);
      return;
    }
    this.upstream = unsubscribe;
    // Every sample from now on is pushed, so buckets starting from here are complete.
    this.pushFrom = Math.ceil(this.env.now() / this.interval) * this.interval;
  }

  private disconnect(): void {
    const up = this.upstream;
    this.upstream = undefined;
    if (up) safely(up, this.env.logger);
  }

  /** The plugin's listener: must never throw back into plugin code. */
  private readonly onSamples = (batch: SeriesSet): void => {
    const buffers = this.buffers;
    if (this.stopped || !buffers) return;
    try {
      if (batch === null || typeof batch !== 'object') return;
      const { channels } = this.spec;
      for (let c = 0; c < channels.length; c++) {
        if (!Object.prototype.hasOwnProperty.call(batch, channels[c])) continue;
        const s = batch[channels[c]];
        if (!s || typeof s !== 'object' || !s.times || !s.values) continue;
        buffers[c].append(s.times, s.values, this.closedEnd, this.env.counters);
        const n = s.times.length;
        if (n > 0 && s.times[n - 1] > this.newest![c]) this.newest![c] = s.times[n - 1];
      }
      this.closeCompleted();
    } catch (err) {
      this.env.logger.warn({ err, pipeline: this.spec.key }, 'bad live sample batch ignored');
    }
  };

  /**
   * Closes at once the buckets every channel has pushed past, instead of waiting for the
   * timer's grace: a regularly pushing source then reaches clients as soon as a bucket is
   * complete. Channels that fall silent leave the closing to the timer.
   */
  private closeCompleted(): void {
    let watermark = Infinity;
    for (const t of this.newest!) if (t < watermark) watermark = t;
    const closable = Math.floor(watermark / this.interval) * this.interval;
    if (!(closable > this.closedEnd) || !Number.isFinite(closable)) return;
    this.close(this.closedEnd, closable);
    if (this.timer) clearTimeout(this.timer);
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    const due = this.closedEnd + this.interval + this.env.graceMs;
    this.timer = setTimeout(this.tick, Math.max(1, due - this.env.now()));
    this.timer.unref();
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    if (this.stopped) return;
    try {
      const I = this.interval;
      const closable = Math.floor((this.env.now() - this.env.graceMs) / I) * I;
      if (closable > this.closedEnd) this.close(this.closedEnd, closable);
    } catch (err) {
      this.env.logger.error({ err, pipeline: this.spec.key }, 'live pipeline tick failed');
    }
    this.schedule();
  };

  /** Buckets [from, to) have closed. */
  private close(from: number, to: number): void {
    this.closedEnd = to;
    if (!this.buffers) {
      if (!this.pollQueued) {
        this.pollQueued = true;
        this.enqueue(() => this.poll());
      }
      return;
    }
    // After a stall (timers starved, machine asleep), emit only the newest rows.
    from = Math.max(from, to - this.env.maxCatchUpRows * this.interval);
    const split = Math.min(Math.max(from, this.pushFrom), to);
    // Computed now, while the samples are here; always, since a subscriber may join
    // before the queue gets to it and expects these rows.
    const pushed = split < to ? this.resamplePending(split, to) : undefined;
    for (const b of this.buffers) b.discardBefore(to);
    this.enqueue(async () => {
      const parts: Rows[] = [];
      if (split > from && this.subscribers.size > 0) {
        try {
          parts.push(await this.history(from, split));
          this.failing = false;
        } catch (err) {
          // Only the first bucket(s) of a push pipeline come from history; skip them and
          // go on with the pushed ones (the error tells the client; a resume refills them).
          // A push-only source has no history to read: nothing to report then.
          if (!(err instanceof AppError && err.code === 'NOT_SUPPORTED')) this.report(err);
        }
      }
      if (pushed) parts.push(pushed);
      this.emit(concatRows(parts, this.spec.channels.length), to);
    });
  }

  /** Polling: the closed buckets not yet emitted, from history; on failure retried next tick. */
  private async poll(): Promise<void> {
    this.pollQueued = false;
    const to = this.closedEnd;
    let from = this.emittedEnd;
    if (!(from < to)) return;
    if (this.subscribers.size === 0) {
      // Lingering: nobody to read for; a new subscriber's backfill covers these.
      this.emittedEnd = to;
      return;
    }
    from = Math.max(from, to - this.env.maxCatchUpRows * this.interval);
    try {
      const rows = await this.history(from, to);
      this.failing = false;
      this.emit(rows, to);
    } catch (err) {
      this.report(err);
    }
  }

  private history(from: number, to: number): Promise<Rows> {
    const { channels, reducer } = this.spec;
    return withDeadline(
      this.instance.timeseries(channels, to - from, to, this.interval, reducer),
      this.env.fetchTimeoutMs,
      `data source "${this.spec.instance}"`,
    ).then((grid) => gridRows(grid, channels, from, to));
  }

  /** Rows of buckets [from, to) from the pending samples, by the same resampler as history. */
  private resamplePending(from: number, to: number): Rows {
    const { channels, reducer } = this.spec;
    const set = Object.create(null) as SeriesSet;
    channels.forEach((name, c) => (set[name] = this.buffers![c].series()));
    const grid = resample(set, to - from, to, this.interval, reducer);
    return gridRows(grid, channels, from, to);
  }

  private emit(rows: Rows, to: number): void {
    if (this.stopped) return;
    this.emittedEnd = Math.max(this.emittedEnd, to);
    if (rows.times.length === 0) return;
    this.env.counters.rowsEmitted += rows.times.length;
    const emission = new Emission(rows);
    const subs = [...this.subscribers];
    for (const sub of subs) sub.deliver(emission);
    if (subs.length > 0) this.env.onEmitted?.(this.env.now() - to);
  }

  private enqueue(task: () => void | Promise<void>): void {
    this.queue = this.queue.then(task).catch((err: unknown) => {
      this.env.logger.error({ err, pipeline: this.spec.key }, 'live pipeline task failed');
    });
  }

  /** A failing read: told to subscribers once per streak (non-fatal: the stream goes on). */
  private report(err: unknown): void {
    if (this.stopped) return;
    const e = toAppError(err);
    this.env.logger.warn({ pipeline: this.spec.key, code: e.code, reason: e.message }, 'live pipeline read failed');
    if (this.failing) return;
    this.failing = true;
    const error = new AppError(e.code, `live data of "${this.spec.instance}" could not be read: ${e.message}`, e.field);
    for (const sub of [...this.subscribers]) sub.fail(error, false);
  }

  /** The upstream subscription failed: every subscriber's stream ends with the error. */
  private die(err: AppError): void {
    if (this.stopped) return;
    this.env.logger.warn({ pipeline: this.spec.key, code: err.code, reason: err.message }, 'live subscription to the data source failed');
    this.stop();
    this.env.onDead(this);
    const error = new AppError(err.code, `live subscription to "${this.spec.instance}" failed: ${err.message}`, err.field);
    const subs = [...this.subscribers];
    this.subscribers.clear();
    for (const sub of subs) sub.fail(error, true);
  }
}

function safely(fn: () => void, logger: Logger): void {
  try {
    fn();
  } catch (err) {
    logger.warn({ err }, 'unsubscribing from a data source threw');
  }
}
