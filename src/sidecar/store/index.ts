/**
 * `createStore(config)`: the Redis store when a URL is configured (`store.redis.url`, else
 * `REDIS_URL`), the in-memory store otherwise. `backend: memory` ignores any URL;
 * `backend: redis` without one is a config error.
 */
import pino, { type Logger } from 'pino';
import { AppError } from '../errors';
import { parseStoreConfig, type StoreConfig, type StoreConfigInput } from './config';
import { MemoryStore } from './memory/memory-store';
import { RedisStore } from './redis/redis-store';
import type { Store } from './types';

export type {
  Store,
  SampleStore,
  Bus,
  ModelStore,
  LeaseStore,
  LatestSample,
  ModelEvent,
  ModelKind,
  ModelOp,
  ModelWriteOptions,
  ModelWriteResult,
  ResampleSource,
  Unsubscribe,
} from './types';
export { MODEL_KINDS } from './types';
export { storeConfigSchema, parseStoreConfig, type StoreConfig, type StoreConfigInput } from './config';
export { MemoryStore } from './memory/memory-store';
export { RedisStore } from './redis/redis-store';

export interface CreateStoreOptions {
  logger?: Logger;
  /** Where `REDIS_URL` is read from (tests pass their own). */
  env?: Record<string, string | undefined>;
  /** How long to wait for Redis at start before going on degraded (buffering). Default: redis.connectTimeoutMs. */
  waitReadyMs?: number;
}

/** The Redis URL this config selects, or undefined for the memory store. */
export function redisUrlOf(config: StoreConfig, env: Record<string, string | undefined> = process.env): string | undefined {
  if (config.backend === 'memory') return undefined;
  const url = config.redis.url ?? (env.REDIS_URL || undefined);
  if (config.backend === 'redis' && !url)
    throw new AppError('BAD_PARAMS', 'store.backend is redis but no store.redis.url or REDIS_URL is set', 'store.redis.url');
  if (url && !/^rediss?:\/\//.test(url))
    throw new AppError('BAD_PARAMS', `REDIS_URL must be a redis:// or rediss:// URL, got "${url}"`, 'REDIS_URL');
  return url;
}

/**
 * Builds the store. With Redis, waits up to `waitReadyMs` for the connection; if Redis is not
 * there yet the store is returned anyway (health degraded, samples buffered, reconnecting).
 */
export async function createStore(input: StoreConfigInput | StoreConfig = {}, options: CreateStoreOptions = {}): Promise<Store> {
  const config = parseStoreConfig(input);
  const logger = options.logger ?? pino({ level: 'silent' });
  const url = redisUrlOf(config, options.env ?? process.env);
  if (!url) {
    logger.info('store: in-memory');
    return new MemoryStore(config, { logger });
  }
  const store = new RedisStore(config, url, { logger });
  const ready = await store.waitReady(options.waitReadyMs ?? config.redis.connectTimeoutMs);
  if (ready) logger.info({ url: redactUrl(url), prefix: config.redis.keyPrefix }, 'store: Redis');
  else logger.warn({ url: redactUrl(url) }, 'store: Redis not reachable yet; starting degraded, samples are buffered');
  return store;
}

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
