/**
 * The two store implementations behind one factory, so the contract suite runs unchanged
 * against both. The Redis one gets a private redis-server (never the system Redis) and a
 * fresh key prefix per store, so tests don't see each other's keys.
 */
import pino from 'pino';
import { createStore, type Store, type StoreConfigInput } from '../../src/sidecar/store';
import type { SampleColumns } from '../../src/sidecar/core/samples';
import { startRedisServer, type RedisServer } from '../helpers/redis-server';

export const silent = pino({ level: 'silent' });

/** Small slots and chunks so tests cross slot and chunk boundaries with little data. */
export const TEST_CONFIG = {
  rollup: { resolutionMs: 1000 },
  redis: { chunkMs: 10_000, rollupChunkMs: 60_000, commandTimeoutMs: 2000, connectTimeoutMs: 1000, reconnectMaxDelayMs: 200 },
};

export interface Backend {
  name: 'memory' | 'redis';
  /** A new store, closed by `closeAll`. With `shareWith`, it uses that store's Redis key prefix (a second sidecar). */
  make(config?: StoreConfigInput, shareWith?: Store): Promise<Store>;
  closeAll(): Promise<void>;
  server?: RedisServer;
  stop(): Promise<void>;
}

let prefixCounter = 0;

/** Deep-merges the test defaults with a test's own settings. */
export function withDefaults(config: StoreConfigInput = {}, redis: Record<string, unknown> = {}): StoreConfigInput {
  return {
    ...config,
    rollup: { ...TEST_CONFIG.rollup, ...config.rollup },
    memory: { ...config.memory },
    redis: { ...TEST_CONFIG.redis, ...config.redis, ...redis },
  };
}

export async function makeBackend(name: 'memory' | 'redis'): Promise<Backend> {
  const stores: Store[] = [];
  const server = name === 'redis' ? await startRedisServer() : undefined;
  const prefixes = new WeakMap<Store, string>();
  const backend: Backend = {
    name,
    server,
    async make(config = {}, shareWith) {
      if (name === 'memory') {
        const store = await createStore({ ...withDefaults(config), backend: 'memory' }, { logger: silent, env: {} });
        stores.push(store);
        return store;
      }
      const keyPrefix = (shareWith && prefixes.get(shareWith)) ?? `t${process.pid}x${++prefixCounter}:`;
      const store = await createStore(
        { ...withDefaults(config, { keyPrefix, url: server!.url }), backend: 'redis' },
        { logger: silent, env: {} },
      );
      prefixes.set(store, keyPrefix);
      stores.push(store);
      return store;
    },
    async closeAll() {
      await Promise.all(stores.splice(0).map((s) => s.close()));
    },
    async stop() {
      await backend.closeAll();
      await server?.stop();
    },
  };
  return backend;
}

/** Columns from plain arrays (qualities default to good = 0). */
export function cols(times: number[], values: number[], qualities?: number[]): SampleColumns {
  return {
    times: Float64Array.from(times),
    values: Float64Array.from(values),
    qualities: Uint8Array.from(qualities ?? times.map(() => 0)),
  };
}

export function batchOf(entries: Record<string, SampleColumns>): Map<string, SampleColumns> {
  return new Map(Object.entries(entries));
}

/** Plain arrays of columns, for readable expectations. */
export function plain(c: SampleColumns): { times: number[]; values: number[]; qualities: number[] } {
  return { times: [...c.times], values: [...c.values], qualities: [...c.qualities] };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns true (or fails after `timeoutMs`). */
export async function eventually(fn: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
