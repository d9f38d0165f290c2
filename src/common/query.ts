/**
 * The query and live-stream wire model shared by the sidecar's handlers and the Grafana
 * frontend. Plain types only (the sidecar validates them with zod); no Node or DOM APIs.
 */
import type { FrameJSON } from './frames';

export const REDUCERS = ['first', 'last', 'mean', 'median', 'sum', 'count', 'std', 'min', 'max'] as const;
export type Reducer = (typeof REDUCERS)[number];

export const QUERY_KINDS = ['timeseries', 'object'] as const;
export type QueryKind = (typeof QUERY_KINDS)[number];

/** One query of POST /api/query (Grafana's /api/ds/query shape). */
export interface SidecarQuery {
  refId: string;
  instance: string;
  channels: string[];
  kind?: QueryKind;
  reducer?: Reducer;
  resampling?: number;
  intervalMs?: number;
  maxDataPoints?: number;
  legend?: string;
  hide?: boolean;
}

export interface SidecarQueryRequest {
  from: number;
  to: number;
  queries: SidecarQuery[];
}

/** What a client sends to start a live stream (`subscribe.request`, or the /api/live/http body). */
export interface LiveRequest {
  instance: string;
  channels: string[];
  reducer?: Reducer;
  intervalMs: number;
  /** Epoch ms of the last row the client already has: the stream resumes after it. */
  since?: number | null;
  backfillMs?: number;
  legend?: string;
  refId?: string;
}

export interface WireError {
  code: string;
  message: string;
  field?: string;
}

/** Server → client messages of /api/live (and lines of /api/live/http, without `id`). */
export type LiveServerMessage =
  | { type: 'subscribed'; id?: string }
  | { type: 'frame'; id?: string; frame: FrameJSON }
  | { type: 'unsubscribed'; id: string }
  | { type: 'error'; id?: string; error: WireError }
  | { type: 'notice'; id?: string; message: string }
  | { type: 'pong' }
  | { type: 'heartbeat' };

export type LiveClientMessage =
  { type: 'subscribe'; id: string; request: LiveRequest } | { type: 'unsubscribe'; id: string } | { type: 'ping' };

/** GET /api/channels */
export interface ListedChannelJSON {
  instance: string;
  name: string;
  type: string;
  unit?: string;
  description?: string;
  labels?: Record<string, string>;
  /** A SCADA point that device_ctrl may write. */
  writable?: boolean;
}

export interface ChannelListJSON {
  channels: ListedChannelJSON[];
  truncated: boolean;
}

/** GET /api/health */
export interface HealthJSON {
  status: 'OK' | 'ERROR';
  message: string;
  details?: unknown;
}
