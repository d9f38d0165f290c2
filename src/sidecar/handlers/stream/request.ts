/**
 * What a client sends to start a live stream. Strict, so a typo (`interval` for
 * `intervalMs`) is an error naming the field instead of a silently different stream.
 */
import { z } from 'zod';
import type { Limits } from '../../config';
import { REDUCERS } from '../../registry/types';

export const MIN_INTERVAL_MS = 10;
export const MAX_INTERVAL_MS = 86_400_000;
/** The default backfill never reaches further back than this (rows are also capped by limits.backfillRows). */
export const DEFAULT_BACKFILL_MAX_MS = 3_600_000;

export function subscribeRequestSchema(limits: Pick<Limits, 'channelsPerQuery'>) {
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

export type SubscribeRequest = z.output<ReturnType<typeof subscribeRequestSchema>>;
export type SubscribeRequestInput = z.input<ReturnType<typeof subscribeRequestSchema>>;

/** Subscriptions with the same key share one upstream pipeline. */
export function pipelineKey(r: Pick<SubscribeRequest, 'instance' | 'channels' | 'reducer' | 'intervalMs'>): string {
  return JSON.stringify([r.instance, r.channels, r.reducer, r.intervalMs]);
}
