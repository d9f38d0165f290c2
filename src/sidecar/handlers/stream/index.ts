/** The live stream handler; see hub.ts. */
export { StreamHub, DEFAULT_FETCH_TIMEOUT_MS, DEFAULT_MAX_PENDING_SAMPLES, type StreamHubOptions, type StreamStats, type StreamSubscription } from './hub';
export { subscribeRequestSchema, pipelineKey, MIN_INTERVAL_MS, MAX_INTERVAL_MS, type SubscribeRequest, type SubscribeRequestInput } from './request';
export type { ErrorSink, FrameSink } from './subscriber';
export type { Notice } from './backfill';
