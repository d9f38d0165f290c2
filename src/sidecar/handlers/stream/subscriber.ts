/**
 * One client's view of a pipeline. While its backfill is being fetched, live rows that
 * close are buffered; then the first frame carries the backfill and those rows (deduped by
 * bucket time), and every later row goes out as a data-only append. Each row is sent at
 * most once and in time order: anything at or before the last sent time is dropped.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { FrameJSON } from '../../../common/frames';
import { AppError } from '../../errors';
import { appendFrame, concatRows, lastTime, rowsAfter, type Rows } from './rows';

export type FrameSink = (frame: FrameJSON) => void;
/** `fatal`: the subscription has ended (it is closed; the client may resubscribe with `since`). */
export type ErrorSink = (error: AppError, fatal: boolean) => void;

/** Rows closed by a pipeline, encoded at most once however many subscribers get them. */
export class Emission {
  private encoded?: FrameJSON;

  constructor(readonly rows: Rows) {}

  get frame(): FrameJSON {
    return (this.encoded ??= appendFrame(this.rows));
  }
}

type State = 'backfilling' | 'live' | 'closed';

export class Subscriber {
  readonly id = randomUUID();
  /** Set when the pipeline died during the backfill: subscribe() then rejects with it. */
  failure?: AppError;
  private state: State = 'backfilling';
  private lastSent: number;
  private buffered: Rows[] = [];
  private bufferedRows = 0;
  private overflowRows = 0;
  /** A non-fatal error seen while backfilling, reported once the stream is live. */
  private deferredError?: AppError;

  constructor(
    private readonly send: FrameSink,
    private readonly onError: ErrorSink,
    private readonly nColumns: number,
    /** Rows kept while backfilling; beyond it the oldest are dropped (and counted in the first frame). */
    private readonly maxBuffered: number,
    private readonly logger: Logger,
    /** Called once when the subscriber ends on its own (its sink threw, or a fatal error). */
    private readonly onEnd: () => void,
    since?: number,
  ) {
    this.lastSent = since ?? -Infinity;
  }

  get isOpen(): boolean {
    return this.state !== 'closed';
  }

  deliver(emission: Emission): void {
    if (this.state === 'closed') return;
    const rows = emission.rows;
    if (this.state === 'backfilling') {
      this.buffer(rows);
      return;
    }
    if (rows.times[0] > this.lastSent) {
      this.write(emission.frame, lastTime(rows));
      return;
    }
    const fresh = rowsAfter(rows, this.lastSent);
    if (fresh.times.length) this.write(appendFrame(fresh), lastTime(fresh));
  }

  /**
   * Sends the first frame: `build` gets the backfill merged with the rows buffered meanwhile
   * and the number of buffered rows dropped for overflow. Throws the pipeline's failure, or
   * NOT_READY if the subscriber was closed meanwhile.
   */
  start(backfill: Rows, build: (rows: Rows, droppedRows: number) => FrameJSON): void {
    if (this.failure) throw this.failure;
    if (this.state !== 'backfilling') throw new AppError('NOT_READY', 'the subscription was closed before it started');
    let after = this.lastSent;
    const parts: Rows[] = [];
    for (const part of [backfill, ...this.buffered]) {
      const fresh = rowsAfter(part, after);
      if (!fresh.times.length) continue;
      parts.push(fresh);
      after = lastTime(fresh);
    }
    const rows = concatRows(parts, this.nColumns);
    const frame = build(rows, this.overflowRows);
    this.buffered = [];
    this.bufferedRows = 0;
    this.state = 'live';
    this.write(frame, Math.max(this.lastSent, lastTime(rows)));
    const deferred = this.deferredError;
    this.deferredError = undefined;
    // After subscribe() has resolved, so a transport has its stream open to tell the client.
    if (deferred) setImmediate(() => this.state === 'live' && this.report(deferred, false));
  }

  /** An upstream problem. Fatal ends the subscription. */
  fail(error: AppError, fatal: boolean): void {
    if (this.state === 'closed') return;
    if (this.state === 'backfilling') {
      if (fatal) this.failure = error;
      else this.deferredError ??= error;
      return;
    }
    if (fatal) this.state = 'closed';
    this.report(error, fatal);
  }

  /** Ends the subscription; true if it was open. No callbacks. */
  close(): boolean {
    if (this.state === 'closed') return false;
    this.state = 'closed';
    this.buffered = [];
    return true;
  }

  private buffer(rows: Rows): void {
    this.buffered.push(rows);
    this.bufferedRows += rows.times.length;
    while (this.bufferedRows > this.maxBuffered && this.buffered.length > 1) {
      const dropped = this.buffered.shift()!;
      this.bufferedRows -= dropped.times.length;
      this.overflowRows += dropped.times.length;
    }
  }

  private write(frame: FrameJSON, last: number): void {
    try {
      this.send(frame);
      this.lastSent = last;
    } catch (err) {
      // A sink that throws is a broken transport: end this subscription, keep the others.
      this.logger.warn({ err, subscription: this.id }, 'live stream sink threw; closing the subscription');
      this.state = 'closed';
      this.onEnd();
    }
  }

  private report(error: AppError, fatal: boolean): void {
    try {
      this.onError(error, fatal);
    } catch (err) {
      this.logger.warn({ err, subscription: this.id }, 'live stream error sink threw');
    }
    if (fatal) this.onEnd();
  }
}
