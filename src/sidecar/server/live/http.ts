/**
 * The chunked-HTTP fallback of live streams, for networks whose proxies do not pass
 * WebSockets: `POST /api/live/http` with the stream request as the JSON body answers
 * `application/x-ndjson`, one server message per line (the WebSocket protocol's messages,
 * see protocol.ts: `subscribed`, then `frame`s, `notice`s, periodic `heartbeat`s), until
 * the client disconnects. A request the hub refuses is an ordinary JSON error response.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FrameJSON } from '../../../common/frames';
import type { Limits } from '../../config';
import { AppError } from '../../errors';
import type { ServerMetrics } from '../metrics';
import type { LiveHub, LiveSubscription } from './hub';
import { frameMessage, message, type ServerMessage } from './protocol';

const NEWLINE = Buffer.from('\n');
import { SendQueue } from './send-queue';

export interface HttpLiveOptions {
  hub: LiveHub;
  limits: Limits;
  metrics: ServerMetrics;
  heartbeatMs: number;
}

export const LIVE_HTTP_ROUTE = '/api/live/http';

interface Stream {
  end(reason: string): void;
}

export class HttpLive {
  private readonly streams = new Set<Stream>();
  private closing = false;

  constructor(private readonly options: HttpLiveOptions) {}

  register(app: FastifyInstance): void {
    app.post(LIVE_HTTP_ROUTE, (req, reply) => this.handle(req, reply));
  }

  get size(): number {
    return this.streams.size;
  }

  /** Ends every stream (shutdown) with a last notice line. */
  closeAll(reason = 'server shutting down'): void {
    this.closing = true;
    for (const s of [...this.streams]) s.end(reason);
  }

  private async handle(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { hub, metrics, limits } = this.options;
    if (req.body === undefined || req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) {
      throw new AppError('BAD_REQUEST', 'the body must be a JSON object: the stream request (instance, channels, intervalMs, …)', 'body');
    }

    // Frames may come while subscribe() is still running; they wait until the stream is open.
    const open: { emit?: (frame: FrameJSON) => void; fail?: (err: AppError) => void } = {};
    const early: FrameJSON[] = [];
    const earlyNotices: string[] = [];
    let failed: AppError | undefined;
    const handle: LiveSubscription = await hub.subscribe(
      req.body,
      (frame) => (open.emit ? open.emit(frame) : early.push(frame)),
      (err, fatal) => {
        if (!fatal) {
          // The stream goes on; tell the client once the stream is open.
          if (open.emit) send({ type: 'notice', message: err.message });
          else earlyNotices.push(err.message);
          return;
        }
        if (open.fail) open.fail(err);
        else failed = err;
      },
    );

    if (this.closing) {
      handle.close();
      throw new AppError('NOT_READY', 'the server is shutting down');
    }
    const res = reply.raw;
    // From here on we write the response ourselves: the stream outlives this handler.
    reply.hijack();
    if (res.destroyed || !res.socket || res.socket.destroyed) {
      // The client left while the subscription started: 'close' has come and gone.
      handle.close();
      return;
    }
    res.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string>),
      'content-type': 'application/x-ndjson; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // nginx and similar would otherwise buffer the stream.
      'x-accel-buffering': 'no',
    });
    metrics.observeRequest(LIVE_HTTP_ROUTE, 'POST', 200, reply.elapsedTime / 1000);
    metrics.liveSubscriptions.inc({ transport: 'http' });
    req.log.info({ method: 'POST', url: LIVE_HTTP_ROUTE, status: 200 }, 'live stream opened');

    let ended = false;
    let lastWrite = Date.now();
    const queue = new SendQueue(
      {
        get bufferedAmount() {
          return res.writableLength;
        },
        send: (data, done) => {
          if (res.destroyed || res.writableEnded) return void process.nextTick(done);
          res.write(typeof data === 'string' ? data + '\n' : Buffer.concat([data, NEWLINE]), (err) => done(err ?? undefined));
        },
      },
      {
        maxQueued: limits.socketQueueFrames,
        highWaterBytes: Math.max(1024 * 1024, limits.messageBytes * 4),
        onSent: (e) => {
          if (e.frame) metrics.framesSent.http++;
        },
        onDrop: () => onDrop(),
        onOverflow: () => stream.end('client too slow: send queue overflow'),
      },
    );
    const send = (msg: ServerMessage): void => {
      lastWrite = Date.now();
      queue.push({ data: message(msg), droppable: false });
    };

    let dropped = 0;
    let noticeQueued = false;
    const onDrop = (): void => {
      metrics.framesDropped.inc({ transport: 'http' });
      dropped++;
      if (noticeQueued) return;
      noticeQueued = true;
      queue.push({
        droppable: false,
        data: () => {
          const n = dropped;
          dropped = 0;
          noticeQueued = false;
          return message({
            type: 'notice',
            message: `client too slow: dropped ${n} frame${n === 1 ? '' : 's'} (rows are missing; reconnect with since = the last time received to fill the gap)`,
          });
        },
      });
    };

    const heartbeat = setInterval(() => {
      if (Date.now() - lastWrite >= this.options.heartbeatMs / 2 && queue.length === 0) send({ type: 'heartbeat' });
    }, this.options.heartbeatMs);
    heartbeat.unref();

    const cleanup = (): void => {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      this.streams.delete(stream);
      metrics.liveSubscriptions.dec({ transport: 'http' });
      try {
        handle.close();
      } catch (err) {
        req.log.warn({ err }, 'closing a live subscription failed');
      }
      req.log.info({ method: 'POST', url: LIVE_HTTP_ROUTE }, 'live stream closed');
    };
    const stream: Stream = {
      end: (reason) => {
        if (ended) return;
        // The last lines go out after what is already queued, then the response ends.
        queue.push({ data: message({ type: 'notice', message: reason }), droppable: false });
        cleanup();
        // A client that does not read gets a second, then the connection is cut.
        const deadline = Date.now() + 1000;
        const finish = (): void => {
          if (queue.length > 0 && !res.destroyed && Date.now() < deadline) return void setTimeout(finish, 10).unref();
          const stuck = queue.length > 0;
          queue.close();
          if (stuck) res.destroy();
          else res.end();
        };
        finish();
      },
    };
    this.streams.add(stream);
    res.on('close', () => {
      cleanup();
      queue.close();
    });

    const emit = (frame: FrameJSON): void => {
      if (ended) return;
      lastWrite = Date.now();
      queue.push({ data: () => frameMessage(undefined, frame), droppable: frame.schema === undefined, frame: true });
    };
    const fail = (err: AppError): void => {
      if (ended) return;
      req.log.warn({ reason: err.message }, 'live subscription failed');
      send({ type: 'error', ...err.toJSON() });
      stream.end('subscription ended');
    };

    open.emit = emit;
    open.fail = fail;
    send({ type: 'subscribed' });
    for (const frame of early.splice(0)) emit(frame);
    for (const text of earlyNotices) send({ type: 'notice', message: text });
    if (failed !== undefined) fail(failed);
  }
}
