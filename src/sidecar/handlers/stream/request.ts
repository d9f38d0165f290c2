/**
 * Live subscription requests: the schema is the wire's (src/common/wire.ts); what the stream
 * handlers add is the default backfill and how subscriptions share a pipeline.
 */
import type { SubscribeRequest } from '../../../common/wire';

export { MIN_INTERVAL_MS, MAX_INTERVAL_MS, subscribeRequestSchema, type SubscribeRequest, type LiveRequest as SubscribeRequestInput } from '../../../common/wire';

/** The default backfill never reaches further back than this (rows are also capped by limits.backfillRows). */
export const DEFAULT_BACKFILL_MAX_MS = 3_600_000;

/** Subscriptions with the same key share one upstream pipeline. */
export function pipelineKey(r: Pick<SubscribeRequest, 'instance' | 'channels' | 'reducer' | 'intervalMs'>): string {
  return JSON.stringify([r.instance, r.channels, r.reducer, r.intervalMs]);
}
