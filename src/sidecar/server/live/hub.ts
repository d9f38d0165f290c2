/**
 * What the live transports need from the stream handler (handlers/stream's StreamHub):
 * structural, so the transports do not depend on how the hub shares pipelines.
 */
import type { FrameJSON } from '../../../common/frames';
import type { AppError } from '../../errors';

export interface LiveSubscription {
  close(): void;
}

export interface LiveHubStats {
  pipelines: number;
  subscribers: number;
  rowsEmitted: number;
  lateSamples: number;
}

export interface LiveHub {
  /**
   * Validates `request` (throws an AppError naming the field) and starts a subscription:
   * first one frame with `schema` and the backfill, then data-only appends. `onError`
   * reports upstream problems once live: `fatal` ends the subscription (the client may
   * resubscribe with `since`); otherwise the stream goes on.
   */
  subscribe(
    request: unknown,
    send: (frame: FrameJSON) => void,
    onError: (err: AppError, fatal: boolean) => void,
  ): Promise<LiveSubscription>;
  stats(): LiveHubStats;
  /** Reports how long after its bucket's end each emission reached every subscriber's transport. */
  onEmitLag?(listener: (lagMs: number) => void): () => void;
  close(): void | Promise<void>;
}
