/**
 * The WebSocket transport of live streams (`/api/live`, protocol in protocol.ts): several
 * subscriptions per socket by client-chosen id, a bounded send queue per socket, a server
 * heartbeat (ws ping; a socket that misses a pong is terminated) and an idle timeout for
 * sockets without subscriptions. Closing a socket closes all its subscriptions.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Socket } from 'node:net';
import type { RawData, WebSocket } from 'ws';
import type { FrameJSON } from '../../../common/frames';
import type { Limits } from '../../config';
import { AppError, toAppError } from '../../errors';
import type { ServerMetrics } from '../metrics';
import type { LiveHub, LiveSubscription } from './hub';
import { idOf, message, parseClientMessage, type ServerMessage } from './protocol';
import { SendQueue, type QueueEntry } from './send-queue';
import { WebSocketSink } from './ws-sink';
import { wireFrame } from './ws-wire';

export interface WebSocketLiveOptions {
  hub: LiveHub;
  limits: Limits;
  metrics: ServerMetrics;
  heartbeatMs: number;
  idleTimeoutMs: number;
}

/** Close codes (RFC 6455 and the private 4000 range). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  policy: 1008,
  tooBig: 1009,
  /** The client let even undroppable messages pile up. */
  slowClient: 4008,
} as const;

/** How long a shutdown waits for clients to answer the close handshake. */
const CLOSE_GRACE_MS = 1000;

interface Sub {
  id: string;
  handle?: LiveSubscription;
  /** The hub accepted it: frames go out (before that they wait in `early`). */
  ready: boolean;
  closed: boolean;
  early: FrameJSON[];
  /** Non-fatal problems reported before 'subscribed'; sent after it. */
  earlyNotices: string[];
  dropped: number;
  noticeQueued: boolean;
}

export class WebSocketLive {
  private readonly connections = new Set<Connection>();
  private heartbeat?: NodeJS.Timeout;
  private closing = false;

  constructor(private readonly options: WebSocketLiveOptions) {}

  /** Adopts a freshly upgraded socket; `raw` is the TCP socket it was upgraded from. */
  accept(socket: WebSocket, raw: Socket, log: FastifyBaseLogger): void {
    if (this.closing) {
      // Upgraded while shutting down: a socket left open would hold the server's close up.
      socket.close(CLOSE.goingAway, 'server shutting down');
      return;
    }
    const conn = new Connection(socket, raw, this.options, log, () => this.connections.delete(conn));
    this.connections.add(conn);
    // One timer for all sockets, only while there are any.
    this.heartbeat ??= setInterval(() => this.beat(), this.options.heartbeatMs);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.connections.size;
  }

  /** Closes every socket (shutdown): a close frame first, then termination after a grace period. */
  async closeAll(reason = 'server shutting down'): Promise<void> {
    this.closing = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    await Promise.all([...this.connections].map((c) => c.shutdown(reason)));
  }

  private beat(): void {
    if (this.connections.size === 0) {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
      return;
    }
    for (const c of this.connections) c.beat();
  }
}

class Connection {
  private readonly subs = new Map<string, Sub>();
  private readonly queue: SendQueue<Sub>;
  private alive = true;
  private idleTimer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly socket: WebSocket,
    raw: Socket,
    private readonly options: WebSocketLiveOptions,
    private readonly log: FastifyBaseLogger,
    private readonly onGone: () => void,
  ) {
    const { metrics, limits } = options;
    this.queue = new SendQueue<Sub>(
      // Text messages go through ws; frames are queued as ready wire frames.
      new WebSocketSink(socket, raw),
      {
        maxQueued: limits.socketQueueFrames,
        // A backlog this size is a client that cannot keep up; keep memory bounded.
        highWaterBytes: Math.max(1024 * 1024, limits.messageBytes * 4),
        onSent: (e) => {
          if (e.frame) metrics.framesSent.ws++;
        },
        onDrop: (e) => this.dropped(e),
        onOverflow: () => {
          this.log.warn('live client too slow: closing its WebSocket');
          this.close(CLOSE.slowClient, 'client too slow: send queue overflow');
        },
      },
    );
    metrics.liveSockets.inc();

    socket.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    socket.on('pong', () => {
      this.alive = true;
    });
    socket.on('close', () => this.cleanup());
    // @fastify/websocket routes socket errors to its errorHandler (which logs); a socket
    // error is always followed by 'close', where cleanup happens.
    this.armIdle();
  }

  beat(): void {
    if (!this.alive) {
      this.log.debug('live client missed a heartbeat: terminating');
      this.socket.terminate();
      return;
    }
    this.alive = false;
    try {
      this.socket.ping();
    } catch {
      // Not open any more: 'close' follows.
    }
  }

  shutdown(reason: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.socket.terminate();
        resolve();
      }, CLOSE_GRACE_MS);
      timer.unref();
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.close(CLOSE.goingAway, reason);
    });
  }

  private close(code: number, reason: string): void {
    try {
      this.socket.close(code, reason);
    } catch {
      this.socket.terminate();
    }
    // Stop streaming at once; 'close' completes the cleanup when the handshake ends.
    this.closeSubs();
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    this.alive = true;
    if (this.closed) return;
    if (isBinary) {
      this.sendError(undefined, new AppError('BAD_REQUEST', 'binary messages are not supported; send JSON text messages'));
      return;
    }
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      this.sendError(undefined, new AppError('BAD_REQUEST', `malformed JSON message: ${(err as Error).message}`));
      return;
    }
    let msg;
    try {
      msg = parseClientMessage(parsed);
    } catch (err) {
      this.sendError(idOf(parsed), err);
      return;
    }
    switch (msg.type) {
      case 'ping':
        this.send({ type: 'pong' });
        return;
      case 'unsubscribe':
        this.unsubscribe(msg.id);
        return;
      case 'subscribe':
        void this.subscribe(msg.id, msg.request);
        return;
    }
  }

  private async subscribe(id: string, request: unknown): Promise<void> {
    if (this.subs.has(id)) {
      this.sendError(
        id,
        new AppError(
          'BAD_REQUEST',
          `subscription id "${id}" is already in use on this connection; unsubscribe it first or pick another id`,
          'id',
        ),
      );
      return;
    }
    const max = this.options.limits.subscriptionsPerSocket;
    if (this.subs.size >= max) {
      this.sendError(
        id,
        new AppError(
          'LIMIT_EXCEEDED',
          `too many subscriptions: at most ${max} per connection (server.limits.subscriptionsPerSocket)`,
          'id',
        ),
      );
      return;
    }
    const sub: Sub = { id, ready: false, closed: false, early: [], earlyNotices: [], dropped: 0, noticeQueued: false };
    this.subs.set(id, sub);
    this.options.metrics.liveSubscriptions.inc({ transport: 'ws' });
    this.disarmIdle();

    let handle: LiveSubscription;
    try {
      handle = await this.options.hub.subscribe(
        request,
        (frame) => this.onFrame(sub, frame),
        (err, fatal) => {
          if (sub.closed) return;
          if (!fatal) {
            // The stream goes on (e.g. one history read failed and is retried): tell, don't end.
            if (sub.ready) this.send({ type: 'notice', id, message: err.message });
            else sub.earlyNotices.push(err.message);
            return;
          }
          this.log.warn({ id, reason: err.message }, 'live subscription failed');
          this.remove(sub);
          this.sendError(id, err);
        },
      );
    } catch (err) {
      if (!sub.closed) {
        this.remove(sub);
        this.sendError(id, err);
      }
      return;
    }
    if (sub.closed) {
      // Unsubscribed, or the socket closed, while the hub was starting it.
      handle.close();
      return;
    }
    sub.handle = handle;
    sub.ready = true;
    this.send({ type: 'subscribed', id });
    for (const frame of sub.early.splice(0)) this.enqueueFrame(sub, frame);
    for (const text of sub.earlyNotices.splice(0)) this.send({ type: 'notice', id, message: text });
  }

  private unsubscribe(id: string): void {
    const sub = this.subs.get(id);
    if (!sub) {
      this.sendError(id, new AppError('NOT_FOUND', `no subscription "${id}" on this connection`, 'id'));
      return;
    }
    this.remove(sub);
    this.send({ type: 'unsubscribed', id });
  }

  private onFrame(sub: Sub, frame: FrameJSON): void {
    if (sub.closed || this.closed) return;
    if (!sub.ready) {
      // Frames sent while the hub is still starting the subscription wait for 'subscribed';
      // bounded like the queue: keep the schema frame, drop the oldest appends.
      sub.early.push(frame);
      if (sub.early.length > this.options.limits.socketQueueFrames) {
        const i = sub.early.findIndex((f) => f.schema === undefined);
        if (i >= 0) {
          sub.early.splice(i, 1);
          this.dropped({ data: '', droppable: true, tag: sub, frame: true });
        }
      }
      return;
    }
    this.enqueueFrame(sub, frame);
  }

  private enqueueFrame(sub: Sub, frame: FrameJSON): void {
    // Framed once per frame object and id for all subscribers (see ws-wire.ts).
    this.queue.push({ data: wireFrame(sub.id, frame), droppable: frame.schema === undefined, tag: sub, frame: true });
  }

  private dropped(entry: QueueEntry<Sub>): void {
    this.options.metrics.framesDropped.inc({ transport: 'ws' });
    const sub = entry.tag;
    if (!sub) return;
    sub.dropped++;
    if (sub.noticeQueued) return;
    // One notice per burst of drops, with the count as of when it is sent.
    sub.noticeQueued = true;
    this.queue.push({
      droppable: false,
      tag: sub,
      data: () => {
        const n = sub.dropped;
        sub.dropped = 0;
        sub.noticeQueued = false;
        return message({
          type: 'notice',
          id: sub.id,
          message: `client too slow: dropped ${n} frame${n === 1 ? '' : 's'} (rows are missing; resubscribe with since = the last time received to fill the gap)`,
        });
      },
    });
  }

  /** Ends one subscription: upstream closed, its waiting frames discarded. */
  private remove(sub: Sub): void {
    if (sub.closed) return;
    sub.closed = true;
    sub.early.length = 0;
    if (this.subs.get(sub.id) === sub) this.subs.delete(sub.id);
    this.queue.purge((e) => e.tag === sub && e.frame === true);
    this.options.metrics.liveSubscriptions.dec({ transport: 'ws' });
    try {
      sub.handle?.close();
    } catch (err) {
      this.log.warn({ err, id: sub.id }, 'closing a live subscription failed');
    }
    if (this.subs.size === 0) this.armIdle();
  }

  private closeSubs(): void {
    for (const sub of [...this.subs.values()]) this.remove(sub);
  }

  private cleanup(): void {
    if (this.closed) return;
    this.closeSubs();
    this.closed = true;
    this.disarmIdle();
    this.queue.close();
    this.options.metrics.liveSockets.dec();
    this.onGone();
  }

  private armIdle(): void {
    if (this.closed || this.idleTimer) return;
    const ms = this.options.idleTimeoutMs;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.subs.size > 0) return;
      this.close(CLOSE.normal, `idle: no subscription for ${ms} ms`);
    }, ms);
    this.idleTimer.unref();
  }

  private disarmIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private send(msg: ServerMessage): void {
    this.queue.push({ data: message(msg), droppable: false });
  }

  private sendError(id: string | undefined, err: unknown): void {
    const e = toAppError(err);
    if (e.code === 'INTERNAL') this.log.error({ err }, 'live request failed');
    // An unexpected error's text may carry internals; the log has it.
    const body =
      e.code === 'INTERNAL' && !(err instanceof AppError)
        ? { error: { code: e.code, message: 'internal error; see the sidecar log' } }
        : e.toJSON();
    this.send({ type: 'error', ...(id !== undefined ? { id } : {}), ...body });
  }
}
