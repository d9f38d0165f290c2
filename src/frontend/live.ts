/**
 * Live transports to the sidecar's stream handler, through Grafana's data source proxy.
 *
 * - `WebSocketLive`: one socket per data source instance, shared by every subscription
 *   (ids multiplex them), kept alive with pings, reopened with exponential backoff; on
 *   reopen each subscription is sent again with a fresh request, so it resumes (`since`).
 * - `HttpLive`: the chunked-HTTP fallback (POST /api/live/http, NDJSON lines) through
 *   `getBackendSrv().chunked()`, one response per subscription, same reconnect rules.
 *
 * Both call the same per-subscription callbacks; the caller owns the frame and its `since`.
 */
import { getBackendSrv } from '@grafana/runtime';
import type { Subscription } from 'rxjs';
import type { FrameJSON } from '../common/frames';
import type { LiveClientMessage, LiveRequest, LiveServerMessage } from '../common/query';

export interface LiveHandlers {
  /** A frame: first with `schema` (+ backfill), then data-only appends. */
  onFrame(frame: FrameJSON): void;
  /** The server refused or ended the subscription for good (bad request, unknown channel…). */
  onError(error: Error): void;
  /** The connection dropped (`error` set) or came back (`error` undefined); it retries by itself. */
  onConnection?(error: Error | undefined): void;
  onNotice?(message: string): void;
}

export interface LiveClient {
  /** `request` is called at every (re)connect, so it can carry the latest `since`. */
  subscribe(request: () => LiveRequest, handlers: LiveHandlers): () => void;
  close(): void;
}

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
}

/** Exponential backoff with jitter, so many panels do not reconnect in lockstep. */
export function backoffDelay(attempt: number, { initialMs = 500, maxMs = 30_000 }: BackoffOptions = {}): number {
  const base = Math.min(maxMs, initialMs * 2 ** attempt);
  return Math.round(base * (0.75 + Math.random() * 0.25));
}

type WebSocketCtor = new (url: string) => WebSocket;

export interface WebSocketLiveOptions {
  backoff?: BackoffOptions;
  /** A ping every so often; no message for twice as long closes the socket (then it reconnects). */
  pingMs?: number;
  /**
   * How long the socket stays open after its last subscription ends. Grafana re-runs a
   * panel's query by unsubscribing and subscribing again (every edit, refresh or range
   * change), so closing at once would cost a new connection each time.
   */
  idleCloseMs?: number;
  WebSocketImpl?: WebSocketCtor;
}

interface WsSub {
  request: () => LiveRequest;
  handlers: LiveHandlers;
}

let nextId = 0;

export class WebSocketLive implements LiveClient {
  private socket?: WebSocket;
  private readonly subs = new Map<string, WsSub>();
  private attempt = 0;
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  private idleTimer?: ReturnType<typeof setTimeout>;
  private pingTimer?: ReturnType<typeof setInterval>;
  private lastMessageAt = 0;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly options: WebSocketLiveOptions = {},
  ) {}

  /** Open sockets right now (0 or 1): tests check teardown with it. */
  get isOpen(): boolean {
    return this.socket !== undefined;
  }

  subscribe(request: () => LiveRequest, handlers: LiveHandlers): () => void {
    const id = `s${++nextId}`;
    this.subs.set(id, { request, handlers });
    this.closed = false;
    this.cancelIdleClose();
    if (this.socket?.readyState === 1) this.send({ type: 'subscribe', id, request: request() });
    else this.connect();
    return () => this.unsubscribe(id);
  }

  close(): void {
    this.closed = true;
    this.subs.clear();
    this.teardown();
  }

  private unsubscribe(id: string): void {
    if (!this.subs.delete(id)) return;
    if (this.socket?.readyState === 1) this.send({ type: 'unsubscribe', id });
    // The last subscriber gone: no socket stays open for nothing, beyond a short linger.
    if (this.subs.size === 0) {
      const idleMs = this.options.idleCloseMs ?? 2_000;
      if (idleMs <= 0) this.teardown();
      else {
        this.cancelIdleClose();
        this.idleTimer = setTimeout(() => {
          this.idleTimer = undefined;
          if (this.subs.size === 0) this.teardown();
        }, idleMs);
      }
    }
  }

  private cancelIdleClose(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private connect(): void {
    if (this.socket || this.reconnectTimer || this.closed) return;
    const Impl = this.options.WebSocketImpl ?? (globalThis.WebSocket as WebSocketCtor);
    const ws = new Impl(this.url);
    this.socket = ws;
    ws.onopen = () => {
      if (this.socket !== ws) return;
      this.attempt = 0;
      this.lastMessageAt = Date.now();
      for (const [id, sub] of this.subs) {
        sub.handlers.onConnection?.(undefined);
        this.send({ type: 'subscribe', id, request: sub.request() });
      }
      this.startPing();
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (this.socket !== ws) return;
      this.lastMessageAt = Date.now();
      let msg: LiveServerMessage;
      try {
        msg = JSON.parse(String(ev.data));
      } catch {
        return; // not ours to crash on; the server only sends JSON
      }
      this.dispatch(msg);
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.socket !== ws) return;
      this.socket = undefined;
      this.stopPing();
      if (this.subs.size === 0 || this.closed) return;
      const err = new Error(`live connection closed (${ev.code}${ev.reason ? ` ${ev.reason}` : ''}); reconnecting`);
      for (const sub of this.subs.values()) sub.handlers.onConnection?.(err);
      this.scheduleReconnect();
    };
    // An error is always followed by close, which does the work.
    ws.onerror = () => undefined;
  }

  private dispatch(msg: LiveServerMessage): void {
    const sub = 'id' in msg && msg.id !== undefined ? this.subs.get(msg.id) : undefined;
    switch (msg.type) {
      case 'frame':
        sub?.handlers.onFrame(msg.frame);
        break;
      case 'error':
        if (sub && msg.id !== undefined) {
          // A refused subscription stays refused: report it and stop asking.
          this.subs.delete(msg.id);
          sub.handlers.onError(new Error(msg.error.message));
        } else {
          for (const s of this.subs.values()) s.handlers.onNotice?.(msg.error.message);
        }
        break;
      case 'notice':
        if (sub) sub.handlers.onNotice?.(msg.message);
        else for (const s of this.subs.values()) s.handlers.onNotice?.(msg.message);
        break;
      default:
        break;
    }
  }

  private scheduleReconnect(): void {
    const delay = backoffDelay(this.attempt++, this.options.backoff);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.subs.size > 0) this.connect();
    }, delay);
  }

  private startPing(): void {
    const pingMs = this.options.pingMs ?? 15_000;
    this.stopPing();
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastMessageAt > 2 * pingMs) {
        this.socket?.close(4000, 'no answer to ping');
        return;
      }
      this.send({ type: 'ping' });
    }, pingMs);
  }

  private stopPing(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
  }

  private teardown(): void {
    this.cancelIdleClose();
    this.stopPing();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const ws = this.socket;
    this.socket = undefined;
    this.attempt = 0;
    if (ws && ws.readyState <= 1) ws.close(1000, 'unsubscribed');
  }

  private send(msg: LiveClientMessage): void {
    this.socket?.send(JSON.stringify(msg));
  }
}

/** Splits a byte stream into NDJSON messages. */
export class NdjsonDecoder {
  private readonly decoder = new TextDecoder();
  private buffer = '';

  push(chunk: Uint8Array | string | undefined): LiveServerMessage[] {
    if (chunk === undefined) return [];
    this.buffer += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    const lines = this.buffer.split('\n');
    this.buffer = lines.pop() ?? '';
    const out: LiveServerMessage[] = [];
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        out.push(JSON.parse(line));
      } catch {
        // a torn or foreign line: skip it rather than end the stream
      }
    }
    return out;
  }
}

export interface HttpLiveOptions {
  backoff?: BackoffOptions;
}

/** The chunked-HTTP fallback: one streaming POST per subscription. */
export class HttpLive implements LiveClient {
  private readonly active = new Set<() => void>();

  constructor(
    private readonly url: string,
    private readonly options: HttpLiveOptions = {},
  ) {}

  subscribe(request: () => LiveRequest, handlers: LiveHandlers): () => void {
    let attempt = 0;
    let sub: Subscription | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let done = false;

    const retry = (err: Error) => {
      sub = undefined;
      if (done) return;
      handlers.onConnection?.(err);
      timer = setTimeout(start, backoffDelay(attempt++, this.options.backoff));
    };
    const start = () => {
      timer = undefined;
      const decoder = new NdjsonDecoder();
      let refused = false;
      sub = getBackendSrv()
        .chunked({ url: this.url, method: 'POST', data: request(), showErrorAlert: false })
        .subscribe({
          next: (res) => {
            for (const msg of decoder.push(res.data)) {
              if (msg.type === 'subscribed') {
                attempt = 0;
                handlers.onConnection?.(undefined);
              } else if (msg.type === 'frame') handlers.onFrame(msg.frame);
              else if (msg.type === 'notice') handlers.onNotice?.(msg.message);
              else if (msg.type === 'error') {
                refused = true;
                handlers.onError(new Error(msg.error.message));
              }
            }
          },
          error: (err: unknown) => {
            // A 4xx is the request's fault: retrying would not help.
            const status = (err as { status?: number }).status ?? 0;
            if (status >= 400 && status < 500) {
              done = true;
              handlers.onError(new Error(errorMessage(err)));
            } else retry(new Error(`live stream failed: ${errorMessage(err)}; reconnecting`));
          },
          complete: () => (refused ? undefined : retry(new Error('live stream ended; reconnecting'))),
        });
    };
    const stop = () => {
      done = true;
      if (timer) clearTimeout(timer);
      sub?.unsubscribe();
      this.active.delete(stop);
    };
    this.active.add(stop);
    start();
    return stop;
  }

  close(): void {
    for (const stop of [...this.active]) stop();
  }
}

/** The message of a FetchError (or anything thrown), preferring the sidecar's JSON error. */
export function errorMessage(err: unknown): string {
  const e = err as {
    data?: { error?: { message?: string } | string; message?: string };
    message?: string;
    status?: number;
    statusText?: string;
  };
  const data = e?.data;
  if (data && typeof data === 'object') {
    if (typeof data.error === 'object' && data.error?.message) return data.error.message;
    if (typeof data.error === 'string') return data.error;
    if (data.message) return data.message;
  }
  if (e?.message) return e.message;
  if (e?.status) return `HTTP ${e.status}${e.statusText ? ` ${e.statusText}` : ''}`;
  return String(err);
}
