/**
 * The sidecar's whole config, one YAML file validated strictly so a typo is an error that
 * names the field rather than a silently ignored setting:
 *
 *   server:     listen address, keys, CORS, limits
 *   store:      memory (default) or Redis (`store.redis.url`, else $REDIS_URL)
 *   model:      SCADA devices, terms, items and links, upserted into the store at start
 *   pluginsDir, initTimeoutMs, finalizeTimeoutMs, instances:  the registry (data sources)
 */
import { z } from 'zod';
import { parseOrThrow } from './validation';
import { parseRegistryConfig, registryConfigSchema, type RegistryConfig } from './registry/config';
import { modelConfigSchema, type ModelConfig } from './scada/model/schemas';
import { storeConfigSchema, type StoreConfig } from './store/config';

const KiB = 1024;
const MiB = 1024 * KiB;

export const limitsSchema = z.strictObject({
  /** Largest HTTP request body. */
  bodyBytes: z
    .number()
    .int()
    .positive()
    .default(1 * MiB),
  queriesPerRequest: z.number().int().positive().default(50),
  channelsPerQuery: z.number().int().positive().default(200),
  /** Upper bound for `maxDataPoints` and any frame's rows. */
  rowsPerFrame: z.number().int().positive().default(100_000),
  /**
   * The work budget of one query request: rows × channels summed over its queries (8 bytes
   * a cell), checked before anything runs; a request over it is refused with 413.
   */
  cellsPerRequest: z.number().int().positive().default(10_000_000),
  subscriptionsPerSocket: z.number().int().positive().default(100),
  /** Largest WebSocket message a client may send. */
  messageBytes: z
    .number()
    .int()
    .positive()
    .default(64 * KiB),
  /** Frames waiting for one slow WebSocket client before the oldest are dropped. */
  socketQueueFrames: z.number().int().positive().default(256),
  /** Backfill rows sent when a live subscription starts. */
  backfillRows: z.number().int().positive().default(1000),
});
export type Limits = z.output<typeof limitsSchema>;

const keyList = z.array(z.string().min(16, 'API keys must be at least 16 characters')).default([]);

export const serverConfigSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(3210),
  /** Keys that may read (query, stream, health, channels). */
  apiKeys: keyList,
  /** Keys that may also control devices (writes); a control key can read too. */
  controlKeys: keyList,
  /** Allowed browser origins for CORS and WebSocket `Origin`; empty = no cross-origin browser access. */
  corsOrigins: z.array(z.string().min(1)).default([]),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  heartbeatMs: z.number().int().positive().default(15_000),
  idleTimeoutMs: z.number().int().positive().default(60_000),
  /** How long a live pipeline outlives its last subscriber, so a quick refresh reuses it. */
  pipelineLingerMs: z.number().int().nonnegative().default(5_000),
  limits: limitsSchema.default(limitsSchema.parse({})),
});
export type ServerConfig = z.output<typeof serverConfigSchema>;

export const sidecarConfigSchema = registryConfigSchema
  .extend({
    server: serverConfigSchema.default(serverConfigSchema.parse({})),
    instances: registryConfigSchema.shape.instances.default([]),
    // `store:` or `store: {}` alone means all defaults (memory unless $REDIS_URL is set).
    store: storeConfigSchema.nullish(),
    model: modelConfigSchema.nullish(),
  })
  .strict();

export interface SidecarConfig {
  server: ServerConfig;
  registry: RegistryConfig;
  /** Always present: defaults when the file has no `store:` section. */
  store: StoreConfig;
  /** The declared model, or undefined when the file has none (the store's model is then used as is). */
  model?: ModelConfig;
  /** The config file's directory: relative paths (plugins, their params) resolve against it. */
  baseDir: string;
}

/** Validates a parsed config file; `baseDir` is the file's directory (relative paths resolve there). */
export function parseSidecarConfig(data: unknown, baseDir: string): SidecarConfig {
  const parsed = parseOrThrow(sidecarConfigSchema, data, 'config', { code: 'BAD_PARAMS' });
  const { server, store, model, ...registry } = parsed;
  return {
    server,
    registry: parseRegistryConfig(registry, baseDir),
    store: store ?? storeConfigSchema.parse({}),
    ...(model ? { model } : {}),
    baseDir,
  };
}
