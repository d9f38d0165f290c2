/**
 * The bounded outgoing queue of one live client (a WebSocket or a chunked HTTP response).
 *
 * Messages are handed to the transport only while it keeps up: with no send pending, at
 * once; else only while fewer than `maxInFlight` writes are incomplete and the transport
 * holds less than `highWaterBytes` (socket / response writableLength). The rest wait
 * here; when more than `maxQueued` wait, the oldest droppable entry (a data-only frame
 * append) is dropped, so the newest data is kept. Schema frames and control messages are
 * never dropped; if a client lets even those pile up (twice the limit), `onOverflow`
 * fires and the owner closes the client. Memory per client is thus bounded by the queue
 * limit plus the transport's high-water mark.
 */

export interface Sink {
  /** Bytes accepted by the transport but not yet written to the network. */
  readonly bufferedAmount: number;
  /** Sends one message; `done` fires when it was written (or failed), exactly once. */
  send(data: string | Buffer, done: (err?: Error | null) => void): void;
}

export interface QueueEntry<T = unknown> {
  /** The message, or a function producing it when it is sent (e.g. a notice with counts). */
  data: string | Buffer | (() => string | Buffer);
  /** Data-only frame appends may be dropped for a slow client; nothing else may. */
  droppable: boolean;
  /** What the entry belongs to (a subscription), for dropping and purging. */
  tag?: T;
  /** Counted as a frame in metrics. */
  frame?: boolean;
}

export interface SendQueueOptions<T> {
  maxQueued: number;
  highWaterBytes?: number;
  maxInFlight?: number;
  onDrop?: (entry: QueueEntry<T>) => void;
  onSent?: (entry: QueueEntry<T>) => void;
  onOverflow?: () => void;
}

export const DEFAULT_HIGH_WATER_BYTES = 1024 * 1024;
export const DEFAULT_MAX_IN_FLIGHT = 64;

export class SendQueue<T = unknown> {
  private readonly entries: QueueEntry<T>[] = [];
  private inFlight = 0;
  private closed = false;
  private readonly highWater: number;
  private readonly maxInFlight: number;

  constructor(
    private readonly sink: Sink,
    private readonly options: SendQueueOptions<T>,
  ) {
    this.highWater = options.highWaterBytes ?? DEFAULT_HIGH_WATER_BYTES;
    this.maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  }

  /** Messages waiting (not yet handed to the transport). */
  get length(): number {
    return this.entries.length;
  }

  push(entry: QueueEntry<T>): void {
    if (this.closed) return;
    // The usual case on the fan-out path: nothing waits and the transport keeps up.
    if (this.entries.length === 0 && this.canSend()) {
      this.dispatch(entry);
      return;
    }
    this.entries.push(entry);
    if (this.entries.length > this.options.maxQueued) {
      const i = this.entries.findIndex((e) => e.droppable);
      if (i >= 0) {
        const [dropped] = this.entries.splice(i, 1);
        this.options.onDrop?.(dropped);
      } else if (this.entries.length > 2 * this.options.maxQueued) {
        this.options.onOverflow?.();
        return;
      }
    }
    this.pump();
  }

  /** Removes waiting entries matching `pred` (e.g. frames of a closed subscription). */
  purge(pred: (entry: QueueEntry<T>) => boolean): void {
    for (let i = this.entries.length - 1; i >= 0; i--) if (pred(this.entries[i])) this.entries.splice(i, 1);
  }

  close(): void {
    this.closed = true;
    this.entries.length = 0;
  }

  /** One completion callback for every send: no closure per message on the fan-out path. */
  private readonly sent = (): void => {
    this.inFlight--;
    this.pump();
  };

  private canSend(): boolean {
    // Nothing of ours pending means the transport has flushed what we gave it: skip asking
    // for its backlog, the usual case for a client that keeps up.
    if (this.inFlight === 0) return true;
    return this.inFlight < this.maxInFlight && this.sink.bufferedAmount < this.highWater;
  }

  private dispatch(entry: QueueEntry<T>): void {
    const data = typeof entry.data === 'function' ? entry.data() : entry.data;
    this.inFlight++;
    this.sink.send(data, this.sent);
    this.options.onSent?.(entry);
  }

  private pump(): void {
    // Whatever stays waits for a pending send's completion, which calls pump again.
    while (!this.closed && this.entries.length > 0 && this.canSend()) this.dispatch(this.entries.shift()!);
  }
}
