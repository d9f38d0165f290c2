/**
 * The live stream handler, transport-agnostic: a transport turns a client's subscribe
 * message into `hub.subscribe(request, send, onError)` and forwards what `send` gets.
 *
 * Per subscription the client gets, in order:
 * 1. exactly one frame with `schema` (a wide frame as the query handler makes: time + one
 *    number field per channel, via fieldSpec) and `data` holding the backfill;
 * 2. data-only appends `{data}` with one row per closed bucket (several if several closed
 *    at once). Grafana's StreamingDataFrame consumes them as they are.
 *
 * Errors: invalid requests, unknown instances/channels and a failed backfill reject
 * `subscribe()` with an AppError naming the field. Once live, upstream problems go to
 * `onError(err, fatal)`: non-fatal (a history read failed; the stream goes on and retries),
 * or fatal (the plugin's live subscription failed; the subscription is then closed and the
 * client may resubscribe with `since`). Frames are never used to carry errors.
 *
 * Frames may be shared between subscribers of one pipeline: treat them as read-only.
 */
import pino, { type Logger } from 'pino';
import { encodeData, wideSchema } from '../../../common/frames';
import { AppError, toAppError } from '../../errors';
import type { InstanceHandle } from '../../registry/instance';
import type { Channel } from '../../registry/types';
import { parseOrThrow } from '../../validation';
import type { HandlerContext } from '../context';
import { fieldSpec } from '../fields';
import { fetchBackfill, type Backfill, type Notice } from './backfill';
import { Pipeline, type PipelineCounters } from './pipeline';
import { pipelineKey, subscribeRequestSchema, type SubscribeRequest } from './request';
import { emptyRows } from './rows';
import { Subscriber, type ErrorSink, type FrameSink } from './subscriber';

export interface StreamHubOptions {
  /** How long a pipeline outlives its last subscriber (config: server.pipelineLingerMs). */
  lingerMs: number;
  /** Wait after a bucket's end before closing it, for late samples; default min(interval/4, 250 ms). */
  graceMs?: number;
  /** Pending raw samples kept per channel of a push pipeline; beyond it the oldest are dropped. */
  maxPendingSamples?: number;
  /** Deadline for each history read (backfill and polling). */
  fetchTimeoutMs?: number;
  logger?: Logger;
}

export interface StreamSubscription {
  readonly id: string;
  /** Ends the subscription; idempotent. */
  close(): void;
}

export interface StreamStats {
  /** Upstream pipelines, including those lingering without subscribers. */
  pipelines: number;
  /** Subscriptions, including those still receiving their backfill. */
  subscribers: number;
  /** Rows closed and emitted by pipelines (once per pipeline, not per subscriber). */
  rowsEmitted: number;
  /** Pushed samples that arrived after their bucket had closed (dropped). */
  lateSamples: number;
  /** Pushed samples dropped for buffer overflow or an invalid time. */
  droppedSamples: number;
}

export const DEFAULT_MAX_PENDING_SAMPLES = 50_000;
export const DEFAULT_FETCH_TIMEOUT_MS = 10_000;
const MAX_GRACE_MS = 250;
/** How far ahead of this sidecar's clock a resume point may be (another sidecar's clock, skew). */
export const MAX_SINCE_AHEAD_MS = 60_000;

/**
 * `since` is the time of a row the client received, so one well ahead of now is a client bug
 * that would otherwise stream nothing, silently, until that time came.
 */
function checkSince(since: number | undefined, now: number): void {
  if (since === undefined || since <= now + MAX_SINCE_AHEAD_MS) return;
  throw new AppError(
    'BAD_REQUEST',
    `invalid subscribe request: since (${since}) is ${Math.round((since - now) / 1000)} s in the future; send the time of the last row received, or leave it out`,
    'since',
  );
}

export class StreamHub {
  private readonly pipelines = new Map<string, Pipeline>();
  private readonly counters: PipelineCounters = { rowsEmitted: 0, lateSamples: 0, droppedSamples: 0 };
  private readonly schema;
  private readonly logger: Logger;
  private readonly lagListeners = new Set<(lagMs: number) => void>();
  private closed = false;

  constructor(
    private readonly ctx: HandlerContext,
    private readonly options: StreamHubOptions,
  ) {
    this.schema = subscribeRequestSchema(ctx.limits);
    this.logger = options.logger ?? pino({ level: 'silent' });
  }

  /**
   * Starts a live stream. Resolves once the first frame (schema + backfill) has been passed
   * to `send`; rejects with an AppError (naming the field) if the stream cannot start.
   */
  async subscribe(request: unknown, send: FrameSink, onError: ErrorSink): Promise<StreamSubscription> {
    this.assertOpen();
    if (typeof send !== 'function' || typeof onError !== 'function') throw new TypeError('subscribe needs send and onError callbacks');
    const req = parseOrThrow(this.schema, request, 'subscribe request');
    checkSince(req.since, this.ctx.now());
    const instance = this.ctx.registry.get(req.instance);
    const channels = await checkChannels(instance, req.channels);
    this.assertOpen();

    const pipeline = this.pipelineFor(instance, req);
    const sub: Subscriber = new Subscriber(send, onError, req.channels.length, this.ctx.limits.backfillRows, this.logger, () => this.detach(pipeline, sub), req.since);
    this.attach(pipeline, sub);
    try {
      const backfill = await fetchBackfill(instance, req, {
        end: pipeline.emittedEnd,
        maxRows: this.ctx.limits.backfillRows,
        timeoutMs: this.options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
      }).catch((err: unknown) => {
        // A source that pushes but keeps no history still streams, from now on.
        if (pipeline.isPush && err instanceof AppError && err.code === 'NOT_SUPPORTED') return noHistory(req.channels.length, err);
        throw err;
      });
      if (this.closed) throw hubClosed();
      sub.start(backfill.rows, (rows, droppedRows) => {
        const missedRows = backfill.missedRows + droppedRows;
        const notices: Notice[] = [...backfill.notices];
        if (droppedRows) notices.push({ severity: 'warning', text: `${droppedRows} live rows were dropped while the backfill was read` });
        const meta = {
          custom: { intervalMs: req.intervalMs, reducer: req.reducer, live: true, ...(missedRows ? { missedRows } : {}) },
          ...(notices.length ? { notices } : {}),
        };
        return { schema: wideSchema(req.instance, req.refId, channels.map((c) => fieldSpec(req.instance, c, req.legend)), meta), data: encodeData(rows.times, rows.columns) };
      });
    } catch (err) {
      sub.close();
      this.detach(pipeline, sub);
      throw toAppError(err);
    }
    return {
      id: sub.id,
      close: () => {
        if (sub.close()) this.detach(pipeline, sub);
      },
    };
  }

  stats(): StreamStats {
    let subscribers = 0;
    for (const p of this.pipelines.values()) subscribers += p.subscribers.size;
    return { pipelines: this.pipelines.size, subscribers, ...this.counters };
  }

  /**
   * Calls `listener` each time a pipeline has handed closed rows to all its subscribers,
   * with the time since the end of the newest bucket: how far live data trails real time.
   */
  onEmitLag(listener: (lagMs: number) => void): () => void {
    this.lagListeners.add(listener);
    return () => this.lagListeners.delete(listener);
  }

  /** Ends every stream (their onError gets a fatal NOT_READY) and stops every pipeline. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = hubClosed();
    for (const p of this.pipelines.values()) {
      p.stop();
      const subs = [...p.subscribers];
      p.subscribers.clear();
      for (const sub of subs) sub.fail(err, true);
    }
    this.pipelines.clear();
  }

  private pipelineFor(instance: InstanceHandle, req: SubscribeRequest): Pipeline {
    const key = pipelineKey(req);
    const existing = this.pipelines.get(key);
    if (existing && !existing.isStopped) return existing;
    const I = req.intervalMs;
    const pipeline = new Pipeline(instance, { key, instance: req.instance, channels: req.channels, reducer: req.reducer, intervalMs: I }, {
      now: this.ctx.now,
      graceMs: this.options.graceMs ?? Math.min(I / 4, MAX_GRACE_MS),
      maxPendingSamples: this.options.maxPendingSamples ?? DEFAULT_MAX_PENDING_SAMPLES,
      maxCatchUpRows: this.ctx.limits.backfillRows,
      fetchTimeoutMs: this.options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
      logger: this.logger,
      counters: this.counters,
      onDead: (p) => {
        if (this.pipelines.get(key) === p) this.pipelines.delete(key);
      },
      onEmitted: (lagMs) => {
        for (const listener of this.lagListeners) listener(lagMs);
      },
    });
    this.pipelines.set(key, pipeline);
    pipeline.start();
    return pipeline;
  }

  private attach(pipeline: Pipeline, sub: Subscriber): void {
    if (pipeline.lingerTimer) clearTimeout(pipeline.lingerTimer);
    pipeline.lingerTimer = undefined;
    pipeline.subscribers.add(sub);
  }

  /** Reference counting: the last one out starts the linger; a subscriber within it reuses the pipeline. */
  private detach(pipeline: Pipeline, sub: Subscriber): void {
    if (!pipeline.subscribers.delete(sub) || pipeline.subscribers.size > 0) return;
    if (this.pipelines.get(pipeline.spec.key) !== pipeline) return;
    const teardown = () => {
      if (pipeline.subscribers.size > 0 || this.pipelines.get(pipeline.spec.key) !== pipeline) return;
      this.pipelines.delete(pipeline.spec.key);
      pipeline.stop();
    };
    if (this.options.lingerMs <= 0) {
      teardown();
      return;
    }
    if (pipeline.lingerTimer) clearTimeout(pipeline.lingerTimer);
    pipeline.lingerTimer = setTimeout(teardown, this.options.lingerMs);
    pipeline.lingerTimer.unref();
  }

  private assertOpen(): void {
    if (this.closed) throw hubClosed();
  }
}

function noHistory(nColumns: number, err: AppError): Backfill {
  return { rows: emptyRows(nColumns), missedRows: 0, notices: [{ severity: 'info', text: `no backfill: ${err.message}` }] };
}

function hubClosed(): AppError {
  return new AppError('NOT_READY', 'the live stream service is shutting down');
}

/** The requested channels, each a timeseries channel of the instance, in request order. */
async function checkChannels(instance: InstanceHandle, names: string[]): Promise<Channel[]> {
  const byName = new Map((await instance.channels()).map((c) => [c.name, c]));
  const unknown = names.filter((n) => !byName.has(n));
  if (unknown.length) {
    const list = unknown.map((n) => `"${n}"`).join(', ');
    throw new AppError('UNKNOWN_CHANNEL', `unknown channel${unknown.length > 1 ? 's' : ''} ${list} in data source "${instance.id}"`, 'channels');
  }
  return names.map((name) => {
    const c = byName.get(name)!;
    if (c.type !== 'timeseries') {
      throw new AppError('BAD_REQUEST', `channel "${name}" is a ${c.type} channel; live streams carry timeseries channels only`, 'channels');
    }
    return c;
  });
}
