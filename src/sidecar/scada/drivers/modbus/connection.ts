/**
 * The lasting connection to one device: connects, limits requests in flight, notices when
 * the device is gone and reconnects with exponential backoff and jitter, each time on a
 * fresh ModbusTcpClient (the old one destroyed, its requests failed). Its state is what
 * health reports.
 *
 *   idle → connecting → connected ⇄ (lost) → backoff → connecting → …
 *                     ↘ (failed) → backoff ↗            close() → closed, from anywhere
 */
import { systemClock, type Clock, type ClockTimer } from '../../../core/clock';
import pino, { type Logger } from 'pino';
import { ModbusTcpClient } from './client';
import { fromLibraryError, ModbusRequestError } from './request-error';

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'closed';

export interface BackoffConfig {
  initialMs: number;
  maxMs: number;
}

export interface ConnectionOptions {
  host: string;
  port: number;
  /** Per request and per connect attempt. */
  timeoutMs: number;
  maxInFlight: number;
  backoff: BackoffConfig;
  /** Consecutive timeouts, no answer in between, after which the connection is reset. */
  resetAfterTimeouts: number;
  logger?: Logger;
  /** For tests of the jitter; Math.random otherwise. */
  random?: () => number;
  /** State times and the reconnect timer (the socket's own timeouts are the wire's, in real time). */
  clock?: Clock;
}

// A type, not an interface: assignable to the driver seam's Record<string, number> of stats.
export type ConnectionStats = {
  requests: number;
  answers: number;
  timeouts: number;
  exceptions: number;
  protocolErrors: number;
  connects: number;
  disconnects: number;
};

export interface ConnectionStatus {
  state: ConnectionState;
  /** Epoch ms of the last state change. */
  since: number;
  /** Failed connection attempts since the device last answered. */
  attempts: number;
  nextRetryAt?: number;
  lastError?: string;
  inFlight: number;
  queued: number;
  stats: ConnectionStats;
}

/**
 * Delay before reconnect attempt `attempt` (1 = after the first failure): doubling from
 * initialMs, capped at maxMs, then "equal jitter" — a random point in [d/2, d] — so devices
 * that fell together do not reconnect together, and the cap still bounds the wait.
 */
export function backoffDelay(attempt: number, backoff: BackoffConfig, random: () => number = Math.random): number {
  const d = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.round(d * (1 - 0.5 * random()));
}

interface Waiter {
  resolve: () => void;
  reject: (err: ModbusRequestError) => void;
  signal?: AbortSignal;
}

export class ModbusConnection {
  private client?: ModbusTcpClient;
  private stateValue: ConnectionState = 'idle';
  private readonly clock: Clock;
  private since: number;
  private attempts = 0;
  private nextRetryAt?: number;
  private lastError?: string;
  private retryTimer?: ClockTimer;
  private active = 0;
  private readonly queue: Waiter[] = [];
  private consecutiveTimeouts = 0;
  private readonly listeners = new Set<(status: ConnectionStatus) => void>();
  private readonly logger: Logger;
  private readonly random: () => number;
  private readonly statsValue: ConnectionStats = {
    requests: 0,
    answers: 0,
    timeouts: 0,
    exceptions: 0,
    protocolErrors: 0,
    connects: 0,
    disconnects: 0,
  };

  constructor(private readonly opts: ConnectionOptions) {
    this.logger = opts.logger ?? pino({ level: 'silent' });
    this.random = opts.random ?? Math.random;
    this.clock = opts.clock ?? systemClock;
    this.since = this.clock.now();
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  status(): ConnectionStatus {
    return {
      state: this.stateValue,
      since: this.since,
      attempts: this.attempts,
      nextRetryAt: this.nextRetryAt,
      lastError: this.lastError,
      inFlight: this.active,
      queued: this.queue.length,
      stats: { ...this.statsValue },
    };
  }

  /** Listens to state changes; returns the unsubscribe function. */
  onState(listener: (status: ConnectionStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (this.stateValue !== 'idle') return;
    void this.connect();
  }

  async close(): Promise<void> {
    if (this.stateValue === 'closed') return;
    this.clock.clearTimeout(this.retryTimer);
    this.nextRetryAt = undefined;
    const client = this.client;
    this.client = undefined;
    this.setState('closed');
    this.failQueue('connection closed');
    client?.destroy('connection closed');
  }

  /**
   * Runs one request on the current client once a slot is free. Fails at once (kind
   * `connection`) when not connected: while a device is down nothing queues up.
   */
  async request<T>(run: (client: ModbusTcpClient, timeoutMs: number) => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    const client = this.client;
    try {
      if (!client) throw new ModbusRequestError('connection', 'not connected');
      this.statsValue.requests++;
      const result = await run(client, this.opts.timeoutMs);
      this.answered();
      return result;
    } catch (e) {
      const err = fromLibraryError(e);
      if (client) this.account(client, err);
      throw err;
    } finally {
      this.release();
    }
  }

  private account(client: ModbusTcpClient, err: ModbusRequestError): void {
    switch (err.kind) {
      case 'timeout':
        this.statsValue.timeouts++;
        // Nothing answers at all: a half-open connection or framing we lost track of.
        if (++this.consecutiveTimeouts >= this.opts.resetAfterTimeouts && client === this.client) {
          this.lost(client, `no answer to ${this.consecutiveTimeouts} requests in a row`);
        }
        break;
      case 'exception':
        this.statsValue.exceptions++;
        this.answered();
        break;
      case 'protocol':
        this.statsValue.protocolErrors++;
        this.answered();
        break;
      default:
        break;
    }
  }

  /** The device answered: it is alive, so timeouts and failed attempts start over. */
  private answered(): void {
    this.statsValue.answers++;
    this.consecutiveTimeouts = 0;
    this.attempts = 0;
  }

  private acquire(signal?: AbortSignal): Promise<void> {
    if (this.stateValue !== 'connected') return Promise.reject(new ModbusRequestError('connection', this.lastError ?? 'not connected'));
    if (signal?.aborted) return Promise.reject(new ModbusRequestError('aborted', 'cancelled'));
    if (this.active < this.opts.maxInFlight) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.queue.push({ resolve, reject, signal }));
  }

  private release(): void {
    this.active--;
    while (this.active < this.opts.maxInFlight && this.queue.length > 0) {
      const w = this.queue.shift()!;
      if (w.signal?.aborted) {
        w.reject(new ModbusRequestError('aborted', 'cancelled'));
        continue;
      }
      this.active++;
      w.resolve();
    }
  }

  private failQueue(reason: string): void {
    const err = new ModbusRequestError('connection', reason);
    for (const w of this.queue.splice(0)) w.reject(err);
  }

  private async connect(): Promise<void> {
    this.nextRetryAt = undefined;
    this.setState('connecting');
    const { host, port, timeoutMs } = this.opts;
    let client: ModbusTcpClient;
    try {
      client = await ModbusTcpClient.connect(host, port, timeoutMs);
    } catch (err) {
      if (this.stateValue === 'closed') return;
      this.retry(fromLibraryError(err).message);
      return;
    }
    if (this.stateValue === 'closed') {
      client.destroy('connection closed');
      return;
    }
    this.client = client;
    this.consecutiveTimeouts = 0;
    this.statsValue.connects++;
    client.onClose((reason) => this.lost(client, reason));
    this.logger.info({ host, port }, 'modbus connected');
    this.setState('connected');
  }

  /** The current client is gone: fail what waits, destroy it, back off, reconnect. */
  private lost(client: ModbusTcpClient, reason: string): void {
    if (client !== this.client || this.stateValue === 'closed') return;
    this.client = undefined;
    this.statsValue.disconnects++;
    this.failQueue(reason);
    client.destroy(reason);
    this.retry(reason);
  }

  private retry(reason: string): void {
    this.attempts++;
    this.lastError = reason;
    const delay = backoffDelay(this.attempts, this.opts.backoff, this.random);
    this.nextRetryAt = this.clock.now() + delay;
    this.logger.warn(
      { host: this.opts.host, port: this.opts.port, reason, retryInMs: delay, attempt: this.attempts },
      'modbus connection down',
    );
    this.setState('backoff');
    this.retryTimer = this.clock.setTimeout(() => void this.connect(), delay);
  }

  private setState(state: ConnectionState): void {
    this.stateValue = state;
    this.since = this.clock.now();
    const status = this.status();
    for (const l of this.listeners) {
      try {
        l(status);
      } catch (err) {
        this.logger.error({ err }, 'modbus connection state listener failed');
      }
    }
  }
}
