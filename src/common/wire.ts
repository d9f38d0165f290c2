/**
 * The wire, defined once: the zod schemas of what clients send (query requests, live
 * subscriptions). The sidecar validates with them; the TypeScript types both sides use are
 * inferred from them (src/common/query.ts re-exports the types only, so the frontend bundle
 * never includes zod). Limits that come from the sidecar's config are parameters.
 */
import { z } from 'zod';
import { QUERY_KINDS, REDUCERS } from './query';

/** The limits the schemas enforce (the sidecar's `server.limits`). */
export interface WireLimits {
  channelsPerQuery: number;
  rowsPerFrame: number;
}

// ---- POST /api/query (Grafana's /api/ds/query shape) ----------------------------------

/** JavaScript Date's range (±100 million days): every time a user can mean, and spans stay finite. */
export const MAX_EPOCH_MS = 8.64e15;

/** Grafana sends times as epoch-ms strings; people and tests often send numbers. */
const epochMs = z.preprocess(
  (v) => (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v),
  z
    .number({ error: 'must be epoch milliseconds (a number or a numeric string)' })
    .min(-MAX_EPOCH_MS, `must be at least -${MAX_EPOCH_MS} (a date JavaScript can hold)`)
    .max(MAX_EPOCH_MS, `must be at most ${MAX_EPOCH_MS} (a date JavaScript can hold)`),
);

/** The envelope: anything wrong here fails the whole request. Queries are checked one by one. */
export const queryRequestSchema = z.object({
  from: epochMs,
  to: epochMs,
  queries: z.array(z.unknown()).min(1, 'must hold at least one query'),
});

/** One query. Not strict: Grafana adds its own keys (datasource, datasourceId, hide, key…). */
export function querySchema(limits: WireLimits) {
  const { channelsPerQuery, rowsPerFrame } = limits;
  return z.object({
    refId: z.string().min(1).max(64).default('A'),
    instance: z.string().min(1, 'must name a data source instance').max(256),
    channels: z
      .array(z.string().min(1).max(1024))
      .min(1, 'must name at least one channel')
      .max(channelsPerQuery, `at most ${channelsPerQuery} channels per query`),
    kind: z.enum(QUERY_KINDS).default('timeseries'),
    reducer: z.enum(REDUCERS).default('last'),
    /** Explicit bucket width in whole ms; <= 0 aligns channels on a grid inferred from the data. */
    resampling: z.number().int('must be a whole number of ms').finite().optional(),
    intervalMs: z.number().positive().finite().optional(),
    maxDataPoints: z.number().int().positive().max(rowsPerFrame, `must be at most ${rowsPerFrame}`).default(Math.min(1000, rowsPerFrame)),
    legend: z.string().max(256).optional(),
    hide: z.boolean().optional(),
  });
}

/** A query as the sidecar runs it (defaults filled in). */
export type Query = z.output<ReturnType<typeof querySchema>>;
/** A query as a client sends it. */
export type SidecarQuery = z.input<ReturnType<typeof querySchema>>;
/** The body of POST /api/query as a client sends it (times may be numeric strings, as Grafana's). */
export interface SidecarQueryRequest {
  from: number | string;
  to: number | string;
  queries: SidecarQuery[];
}

// ---- live streams: `subscribe.request` of /api/live, the body of /api/live/http -------

export const MIN_INTERVAL_MS = 10;
export const MAX_INTERVAL_MS = 86_400_000;

/** Strict, so a typo (`interval` for `intervalMs`) is an error naming the field instead of a silently different stream. */
export function subscribeRequestSchema(limits: Pick<WireLimits, 'channelsPerQuery'>) {
  const max = limits.channelsPerQuery;
  return z.strictObject({
    instance: z.string().min(1, 'must name a data source instance'),
    channels: z
      .array(z.string().min(1, 'must not be empty'))
      .min(1, 'must name at least one channel')
      .max(max, `at most ${max} channels per subscription`)
      // As the query handler (and the registry) do: a channel named twice is one column.
      .transform((names) => [...new Set(names)]),
    reducer: z.enum(REDUCERS).default('last'),
    // Whole ms: bucket times are then exact integers, as in query frames.
    intervalMs: z
      .number()
      .int('must be a whole number of ms')
      .min(MIN_INTERVAL_MS, `must be at least ${MIN_INTERVAL_MS} ms`)
      .max(MAX_INTERVAL_MS, `must be at most one day (${MAX_INTERVAL_MS} ms)`),
    /** Epoch ms of the last row the client already has (resume). null reads as absent. */
    since: z
      .number()
      .nullish()
      .transform((v) => v ?? undefined),
    /** History to send first; capped at limits.backfillRows rows. */
    backfillMs: z.number().min(0, 'must not be negative').optional(),
    legend: z.string().max(256, 'must be at most 256 characters').optional(),
    refId: z.string().min(1, 'must not be empty').max(64, 'must be at most 64 characters').optional(),
  });
}

/** A live subscription as the sidecar runs it (defaults filled in, channels de-duplicated). */
export type SubscribeRequest = z.output<ReturnType<typeof subscribeRequestSchema>>;
/** A live subscription as a client sends it. */
export type LiveRequest = z.input<ReturnType<typeof subscribeRequestSchema>>;
