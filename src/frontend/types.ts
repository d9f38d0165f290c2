/** The data source's query model and settings, as Grafana stores them in dashboards. */
import type { DataQuery, DataSourceJsonData } from '@grafana/data';
import type { QueryKind, Reducer } from '../common/query';

export type { QueryKind, Reducer } from '../common/query';
export { REDUCERS, QUERY_KINDS } from '../common/query';

export interface ScadaQuery extends DataQuery {
  /** Data source instance on the sidecar (e.g. `scada`, `sim`). */
  instance: string;
  /** Channel names; each may be a template variable (multi-value ones expand). */
  channels: string[];
  kind?: QueryKind;
  reducer?: Reducer;
  /** Explicit bucket width in ms; unset = Grafana's interval, rounded by the sidecar. */
  resampling?: number;
  /** Append live data when the range ends at now. */
  live?: boolean;
  legend?: string;
}

export const DEFAULT_QUERY: Partial<ScadaQuery> = {
  channels: [],
  kind: 'timeseries',
  reducer: 'last',
  live: true,
};

export type LiveTransport = 'websocket' | 'http';

export interface ScadaOptions extends DataSourceJsonData {
  /** The sidecar's base URL, as seen from the Grafana server (the proxy route's target). */
  url?: string;
  liveTransport?: LiveTransport;
  /** A control key is stored: Editors and Admins see write controls (the `control` route). */
  controlKeySet?: boolean;
}

/** Stored encrypted by Grafana; only the proxy routes read them. */
export interface ScadaSecureOptions {
  /** A read key, for everyone who may use the data source. */
  apiKey?: string;
  /** A control key, injected only by the `control` route, which Grafana opens to Editors and Admins. */
  controlKey?: string;
}

/** Template variable query: channels of an instance, optionally filtered. */
export interface ScadaVariableQuery {
  instance?: string;
  search?: string;
  type?: string;
}
