/**
 * The `store:` section of the sidecar config. Memory is the default; Redis is used when a
 * URL is given here or in `REDIS_URL` (unless `backend: memory` forces the embedded store).
 */
import { z } from 'zod';
import { parseOrThrow } from '../validation';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const ms = z.number().int().positive();

export const storeConfigSchema = z
  .strictObject({
    backend: z.enum(['auto', 'memory', 'redis']).default('auto'),
    /** Raw samples older than this (wall clock) are dropped and never read back. */
    retentionMs: ms.default(DAY),
    rollup: z
      .strictObject({
        /** Width of one rollup slot; `resample` uses rollups for intervals that are multiples of it. */
        resolutionMs: ms.default(MINUTE),
        /**
         * Rollups outlive raw samples, so long windows stay cheap after the raw data is gone.
         * Redis keeps 80 bytes a slot: a week of minutes is ~0.8 MB a series.
         */
        retentionMs: ms.default(7 * DAY),
      })
      .default({ resolutionMs: MINUTE, retentionMs: 7 * DAY }),
    memory: z
      .strictObject({
        /** Hard cap per series (oldest dropped first): ~17 bytes a sample. */
        maxSamplesPerSeries: z.number().int().positive().default(100_000),
        /** Hard cap of rollup slots per series (72 bytes each); 7 days of minutes by default. */
        maxRollupSlotsPerSeries: z
          .number()
          .int()
          .positive()
          .default(7 * 1440),
      })
      .default({ maxSamplesPerSeries: 100_000, maxRollupSlotsPerSeries: 7 * 1440 }),
    redis: z
      .strictObject({
        url: z
          .string()
          .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
          .optional(),
        /** Prefix of every key and channel; no braces (they would become the cluster hash tag). */
        keyPrefix: z
          .string()
          .regex(/^[^{}]*$/, 'must not contain { or }')
          .default('scadalive:'),
        /** Raw samples of a series are kept in chunks of this much time (one string key each). */
        chunkMs: ms.default(10 * MINUTE),
        /**
         * Rollup slots of a series are kept in chunks of this much time (one string key each,
         * 80 bytes a slot whether used or not: 6 h of minutes is 29 KB). Longer chunks mean fewer
         * reads per query, shorter ones less memory for series that rarely change.
         */
        rollupChunkMs: ms.default(6 * HOUR),
        /** Samples parked while Redis is unreachable; beyond it the oldest are dropped (and counted). */
        bufferSamples: z.number().int().positive().default(1_000_000),
        /** Largest number of samples written in one pipeline (bounds latency of reads behind it). */
        flushSamples: z.number().int().positive().default(100_000),
        commandTimeoutMs: ms.default(5 * SECOND),
        connectTimeoutMs: ms.default(5 * SECOND),
        /** Reconnect backoff: 50 ms doubling up to this, with jitter. */
        reconnectMaxDelayMs: ms.default(5 * SECOND),
        /** Health says down (not degraded) once Redis has been unreachable this long. */
        downAfterMs: ms.default(60 * SECOND),
      })
      .default(() => redisDefaults()),
  })
  .superRefine((c, ctx) => {
    const r = c.redis;
    // Nesting keeps every raw chunk inside one rollup chunk, so one script call per chunk suffices.
    if (r.rollupChunkMs % r.chunkMs !== 0)
      ctx.addIssue({ code: 'custom', path: ['redis', 'rollupChunkMs'], message: `must be a multiple of redis.chunkMs (${r.chunkMs})` });
    if (r.rollupChunkMs % c.rollup.resolutionMs !== 0)
      ctx.addIssue({
        code: 'custom',
        path: ['redis', 'rollupChunkMs'],
        message: `must be a multiple of rollup.resolutionMs (${c.rollup.resolutionMs})`,
      });
  });

function redisDefaults() {
  return {
    keyPrefix: 'scadalive:',
    chunkMs: 10 * MINUTE,
    rollupChunkMs: 6 * HOUR,
    bufferSamples: 1_000_000,
    flushSamples: 100_000,
    commandTimeoutMs: 5 * SECOND,
    connectTimeoutMs: 5 * SECOND,
    reconnectMaxDelayMs: 5 * SECOND,
    downAfterMs: 60 * SECOND,
  };
}

export type StoreConfig = z.output<typeof storeConfigSchema>;
export type StoreConfigInput = z.input<typeof storeConfigSchema>;

/** Validates a `store:` section; errors name the field (`store.redis.url: …`). */
export function parseStoreConfig(data: unknown = {}): StoreConfig {
  return parseOrThrow(storeConfigSchema, data ?? {}, 'store config', { code: 'BAD_PARAMS', fieldPrefix: 'store' });
}
