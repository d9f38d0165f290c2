/**
 * The Redis connections every part of the Redis store shares: the command client (with the
 * store's scripts) and the pub/sub subscriber, their error logging, and how a failed read
 * becomes one clear error. Commands fail at once while disconnected: the sample writer's
 * queue is the store's offline buffer, not ioredis'.
 */
import Redis, { type ChainableCommander, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { AppError } from '../../errors';
import { sleep } from '../common';
import type { StoreConfig } from '../config';
import { Keys } from './keys';
import { APPEND_LUA, LEASE_RELEASE_LUA, LEASE_RENEW_LUA, MODEL_WRITE_LUA } from './scripts';

/** The scripts, as ioredis defines them on clients and pipelines. */
export interface Scripts {
  scadaAppend(...numKeysKeysAndArgs: Array<string | number | Buffer>): Promise<number>;
  scadaModelWrite(numKeys: number, ...args: Array<string | number>): Promise<[number, number, number]>;
  scadaLeaseRenew(lease: string, owner: string, ttlMs: number): Promise<number>;
  scadaLeaseRelease(lease: string, owner: string): Promise<number>;
}
export type ScriptClient = Redis & Scripts;
export type ScriptPipeline = ChainableCommander & { [K in keyof Scripts]: (...args: Parameters<Scripts[K]>) => ScriptPipeline };

export class RedisLink {
  readonly redis: ScriptClient;
  readonly sub: Redis;
  readonly keys: Keys;
  readonly cfg: StoreConfig['redis'];
  /** The last connection or write error, for health. */
  lastError: string | undefined;
  /** Errors since the last 'ready' (the first of an outage is logged at warn). */
  errorsLogged = 0;
  closed = false;

  constructor(
    readonly config: StoreConfig,
    url: string,
    readonly instanceId: string,
    readonly logger: Logger,
    readonly now: () => number,
  ) {
    this.cfg = config.redis;
    const rollupResolutionMs = config.rollup.resolutionMs;
    this.keys = new Keys(this.cfg.keyPrefix, rollupResolutionMs, this.cfg.rollupChunkMs / rollupResolutionMs);
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
  }

  /** Connects both clients; failures surface as 'error' events and retries. */
  connect(): void {
    this.redis.connect().catch(() => undefined);
    this.sub.connect().catch(() => undefined);
  }

  get ready(): boolean {
    return this.redis.status === 'ready';
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

  /** Runs a read pipeline; any failure is one clear NOT_READY error (reads are not buffered). */
  async execRead(pipeline: ChainableCommander): Promise<unknown[]> {
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
  unavailable(err: unknown): AppError {
    const message = err instanceof Error ? err.message : String(err);
    this.logger.debug({ reason: message, status: this.redis.status }, 'Redis command failed');
    const state = this.redis.status === 'ready' ? 'did not answer' : `is not connected (${this.redis.status})`;
    return new AppError('NOT_READY', `store unavailable: Redis ${state}; try again shortly`);
  }

  async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw this.unavailable(err);
    }
  }

  async quit(): Promise<void> {
    await Promise.all([quit(this.redis), quit(this.sub)]);
  }
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

/** What every part of the Redis store reads of the shared link, under the names its code uses. */
export abstract class RedisPart {
  constructor(protected readonly link: RedisLink) {}

  protected get redis(): ScriptClient {
    return this.link.redis;
  }
  protected get sub(): Redis {
    return this.link.sub;
  }
  protected get keys(): Keys {
    return this.link.keys;
  }
  protected get cfg(): StoreConfig['redis'] {
    return this.link.cfg;
  }
  protected get config(): StoreConfig {
    return this.link.config;
  }
  protected get logger(): Logger {
    return this.link.logger;
  }
  protected get now(): () => number {
    return this.link.now;
  }
  protected get closed(): boolean {
    return this.link.closed;
  }
  protected get instanceId(): string {
    return this.link.instanceId;
  }
  protected get rollupResolutionMs(): number {
    return this.link.config.rollup.resolutionMs;
  }
  protected get lastError(): string | undefined {
    return this.link.lastError;
  }
  protected set lastError(message: string | undefined) {
    this.link.lastError = message;
  }
  protected call<T>(fn: () => Promise<T>): Promise<T> {
    return this.link.call(fn);
  }
  protected execRead(pipeline: ChainableCommander): Promise<unknown[]> {
    return this.link.execRead(pipeline);
  }
}
