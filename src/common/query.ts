/**
 * The query and live-stream wire model shared by the sidecar's handlers and the Grafana
 * frontend: constants and types only, no Node or DOM APIs. The request schemas are in wire.ts.
 */
import type { FrameJSON } from './frames';

export const REDUCERS = ['first', 'last', 'mean', 'median', 'sum', 'count', 'std', 'min', 'max'] as const;
export type Reducer = (typeof REDUCERS)[number];

export const QUERY_KINDS = ['timeseries', 'object'] as const;
export type QueryKind = (typeof QUERY_KINDS)[number];

// Request types are inferred from the wire's zod schemas; type-only, so no zod in the frontend bundle.
export type { SidecarQuery, SidecarQueryRequest, LiveRequest } from './wire';
import type { LiveRequest } from './wire';

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
