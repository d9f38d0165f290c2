/**
 * The SCADA Live data source. Every request goes through Grafana's data source proxy
 * (`${instanceSettings.url}/sidecar/…`, the plugin.json route that injects the API key),
 * so the browser never holds the key.
 */
import {
  DataSourceApi,
  LoadingState,
  StreamingDataFrame,
  dataFrameFromJSON,
  type DataFrame,
  type DataFrameJSON,
  type DataQueryError,
  type DataQueryRequest,
  type DataQueryResponse,
  type DataSourceInstanceSettings,
  type MetricFindValue,
  type ScopedVars,
  type TestDataSourceResponse,
} from '@grafana/data';
import { config, getBackendSrv, getTemplateSrv } from '@grafana/runtime';
import { Observable, lastValueFrom, merge, of } from 'rxjs';
import type { FrameJSON, QueryResponseJSON } from '../common/frames';
import type { ChannelListJSON, HealthJSON, LiveRequest, SidecarQuery } from '../common/query';
import { HttpLive, WebSocketLive, errorMessage, type LiveClient } from './live';
import { DEFAULT_QUERY, type ScadaOptions, type ScadaQuery, type ScadaVariableQuery } from './types';

/** Roles Grafana's proxy admits to the `control` route (plugin.json `reqRole: Editor`). */
const WRITE_ROLES = new Set(['Editor', 'Admin']);

/** What `device_ctrl` answers: the point written and its value read back. */
export interface DeviceCtrlJSON {
  device_id: string;
  term_id: string;
  item_id: string;
  reading: unknown;
}

/** A range whose end is this close to now counts as "ends at now" (Grafana rounds `now`). */
const NOW_SLACK_MS = 2_000;
const MIN_LIVE_INTERVAL_MS = 10;
const MAX_STREAM_ROWS = 100_000;

export class DataSource extends DataSourceApi<ScadaQuery, ScadaOptions> {
  /** Proxy base: `/api/datasources/proxy/uid/<uid>/sidecar`. */
  readonly base: string;
  /** The write route's base (`…/control`): Grafana injects the control key and admits Editors and Admins only. */
  readonly controlBase: string;
  private readonly controlKeySet: boolean;
  readonly transport: 'websocket' | 'http';
  private live?: LiveClient;

  constructor(instanceSettings: DataSourceInstanceSettings<ScadaOptions>) {
    super(instanceSettings);
    const proxy = (instanceSettings.url ?? '').replace(/\/$/, '');
    this.base = `${proxy}/sidecar`;
    this.controlBase = `${proxy}/control`;
    this.controlKeySet = instanceSettings.jsonData?.controlKeySet === true;
    this.transport = instanceSettings.jsonData?.liveTransport ?? 'websocket';
  }

  override getDefaultQuery(): Partial<ScadaQuery> {
    return DEFAULT_QUERY;
  }

  override filterQuery(q: ScadaQuery): boolean {
    return !q.hide && !!q.instance && (q.channels?.length ?? 0) > 0;
  }

  /** The shared live client: one socket per data source instance. */
  liveClient(): LiveClient {
    if (!this.live) {
      if (this.transport === 'http') this.live = new HttpLive(`${this.base}/api/live/http`);
      else {
        // The proxy path, made absolute for the WebSocket (same origin as Grafana).
        const url = new URL(`${this.base}/api/live`, globalThis.location?.href ?? 'http://localhost/');
        url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
        this.live = new WebSocketLive(url.toString());
      }
    }
    return this.live;
  }

  /** Channel names with template variables applied; a multi-value variable expands to several. */
  expandChannels(channels: string[], scopedVars: ScopedVars): string[] {
    const SEP = '\u001f';
    const out: string[] = [];
    for (const c of channels) {
      const replaced = getTemplateSrv().replace(c, scopedVars, (v: string | string[]) => (Array.isArray(v) ? v.join(SEP) : v));
      for (const name of replaced.split(SEP)) if (name !== '' && !out.includes(name)) out.push(name);
    }
    return out;
  }

  private toSidecarQuery(q: ScadaQuery, request: DataQueryRequest<ScadaQuery>): SidecarQuery {
    const vars = request.scopedVars;
    const tpl = getTemplateSrv();
    return {
      refId: q.refId,
      instance: tpl.replace(q.instance, vars),
      channels: this.expandChannels(q.channels ?? [], vars),
      kind: q.kind ?? 'timeseries',
      reducer: q.reducer ?? 'last',
      ...(q.resampling !== undefined && q.resampling !== null ? { resampling: q.resampling } : {}),
      intervalMs: request.intervalMs,
      maxDataPoints: request.maxDataPoints ?? 1000,
      ...(q.legend ? { legend: tpl.replace(q.legend, vars) } : {}),
    };
  }

  query(request: DataQueryRequest<ScadaQuery>): Observable<DataQueryResponse> {
    const targets = request.targets.filter((t) => this.filterQuery(t));
    if (targets.length === 0) return of({ data: [], state: LoadingState.Done });
    const queries = targets.map((t) => this.toSidecarQuery(t, request));
    const from = request.range.from.valueOf();
    const to = request.range.to.valueOf();
    const endsAtNow = request.range.raw.to === 'now' || to >= Date.now() - NOW_SLACK_MS;

    return new Observable<DataQueryResponse>((subscriber) => {
      let inner: { unsubscribe(): void } | undefined;
      let cancelled = false;
      this.post<QueryResponseJSON>('/api/query', { from, to, queries })
        // When every query fails the sidecar answers 4xx/5xx, still with per-query results (as /api/ds/query).
        .catch((err: unknown) => {
          const data = (err as { data?: QueryResponseJSON }).data;
          if (data && typeof data === 'object' && data.results) return data;
          throw err;
        })
        .then((resp) => {
          if (cancelled) return;
          const streams: Array<Observable<DataQueryResponse>> = [];
          for (const [i, t] of targets.entries()) {
            const q = queries[i];
            const result = resp.results?.[q.refId];
            if (!result) {
              streams.push(of(errorResponse(q.refId, 'the sidecar sent no result for this query')));
            } else if (result.error) {
              streams.push(of(errorResponse(q.refId, result.error, result.status)));
            } else if (endsAtNow && t.live !== false && q.kind !== 'object' && result.frames.length > 0) {
              streams.push(this.stream(q, result.frames[0], to, to - from, request.intervalMs));
            } else {
              const data: DataFrame[] = result.frames.map((f) => dataFrameFromJSON(f as DataFrameJSON));
              streams.push(of({ data, key: q.refId, state: LoadingState.Done }));
            }
          }
          inner = merge(...streams).subscribe(subscriber);
        })
        .catch((err: unknown) => subscriber.error(toQueryError(err)));
      return () => {
        cancelled = true;
        inner?.unsubscribe();
      };
    });
  }

  /**
   * History frame, then live appends, in one StreamingDataFrame (key = refId) that keeps the
   * panel's window. Resumes after the last complete row it holds, so reconnects neither
   * repeat nor skip.
   *
   * History's last rows may be buckets still open at `historyTo` (a 'last' or 'count' of
   * part of a bucket, or null if no sample had come yet). They are shown, but provisional:
   * the live stream is asked for everything after the last closed bucket, and the
   * provisional rows give way to the closed buckets when those arrive.
   */
  private stream(
    q: SidecarQuery,
    history: FrameJSON,
    historyTo: number,
    windowMs: number,
    fallbackIntervalMs: number,
  ): Observable<DataQueryResponse> {
    return new Observable<DataQueryResponse>((subscriber) => {
      const custom = (history.schema?.meta as { custom?: { intervalMs?: number } } | undefined)?.custom;
      const intervalMs = Math.max(
        MIN_LIVE_INTERVAL_MS,
        Math.round(custom?.intervalMs ?? (q.resampling && q.resampling > 0 ? q.resampling : fallbackIntervalMs)),
      );
      const maxLength = Math.min(MAX_STREAM_ROWS, Math.ceil(windowMs / intervalMs) + 10);
      // fromDataFrameJSON and push mutate their input: hand them a copy, never shared JSON.
      const frame = StreamingDataFrame.fromDataFrameJSON(JSON.parse(JSON.stringify(history)), { maxLength, maxDelta: windowMs });
      const key = q.refId;
      let connectionError: DataQueryError | undefined;

      const times = (): number[] => (frame.fields[0]?.values ?? []) as number[];
      // Rows at the end whose bucket had not closed when history was read.
      let provisional = 0;
      for (let t = times(), n = t.length; provisional < n && t[n - 1 - provisional] + intervalMs > historyTo;) provisional++;
      const firstProvisional = provisional > 0 ? times()[times().length - provisional] : undefined;

      /** The time of the last row that is final: live rows after it are what the frame lacks. */
      const lastTime = (): number | undefined => {
        const t = times();
        const n = t.length - provisional;
        if (n > 0) return t[n - 1];
        // Only provisional rows: ask for everything from the first of them.
        return firstProvisional !== undefined ? firstProvisional - 1 : undefined;
      };
      const dropProvisional = () => {
        for (const field of frame.fields) (field.values as unknown[]).length -= provisional;
        frame.length -= provisional;
        provisional = 0;
      };
      const emit = () => {
        subscriber.next({
          data: [frame],
          key,
          state: connectionError ? LoadingState.Error : LoadingState.Streaming,
          ...(connectionError ? { errors: [connectionError] } : {}),
        });
      };
      const request = (): LiveRequest => {
        const since = lastTime();
        return {
          instance: q.instance,
          channels: q.channels,
          reducer: q.reducer,
          intervalMs,
          refId: q.refId,
          ...(q.legend ? { legend: q.legend } : {}),
          ...(since !== undefined ? { since } : { backfillMs: windowMs }),
        };
      };
      emit();
      const stop = this.liveClient().subscribe(request, {
        onFrame: (f) => {
          const trimmed = dropRowsUpTo(f, lastTime());
          if (!trimmed) return;
          if (provisional > 0 && (trimmed.data?.values[0]?.length ?? 0) > 0) dropProvisional();
          frame.push(trimmed as DataFrameJSON);
          emit();
        },
        onError: (err) => subscriber.error({ message: err.message, refId: key }),
        onConnection: (err) => {
          connectionError = err ? { message: err.message, refId: key } : undefined;
          emit();
        },
      });
      return stop;
    });
  }

  async testDatasource(): Promise<TestDataSourceResponse> {
    let health: HealthJSON;
    try {
      health = await this.get<HealthJSON>('/api/health');
    } catch (err) {
      // 503 still carries the health JSON
      const data = (err as { data?: HealthJSON }).data;
      if (data && typeof data === 'object' && 'status' in data) health = data;
      else return { status: 'error', message: `Cannot reach the sidecar: ${errorMessage(err)}` };
    }
    return health.status === 'OK'
      ? { status: 'success', message: health.message || 'Sidecar is healthy', details: health.details as Record<string, unknown> }
      : { status: 'error', message: health.message || 'Sidecar reports an error', details: health.details as Record<string, unknown> };
  }

  /** Channels for the query editor and template variables. */
  async listChannels(params: ScadaVariableQuery & { limit?: number } = {}): Promise<ChannelListJSON> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') qs.set(k, String(v));
    const s = qs.toString();
    return this.get<ChannelListJSON>(`/api/channels${s ? `?${s}` : ''}`);
  }

  /** Instances (the distinct instances of the listed channels). */
  async listInstances(): Promise<string[]> {
    const { channels } = await this.listChannels({ limit: 10_000 });
    return [...new Set(channels.map((c) => c.instance))].sort();
  }

  override async metricFindQuery(query: ScadaVariableQuery | string, options?: { scopedVars?: ScopedVars }): Promise<MetricFindValue[]> {
    const q: ScadaVariableQuery = typeof query === 'string' ? { search: query } : (query ?? {});
    const tpl = getTemplateSrv();
    const vars = options?.scopedVars;
    const { channels } = await this.listChannels({
      instance: q.instance ? tpl.replace(q.instance, vars) : undefined,
      search: q.search ? tpl.replace(q.search, vars) : undefined,
      type: q.type || undefined,
    });
    return channels.map((c) => ({ text: c.name, value: c.name }));
  }

  /**
   * Whether to show write controls: a control key is configured and the user's role may use
   * the `control` route. Grafana's proxy enforces the role; this only spares Viewers a 403.
   */
  canWrite(): boolean {
    const user = config.bootData?.user;
    return this.controlKeySet && (user?.isGrafanaAdmin === true || WRITE_ROLES.has(user?.orgRole ?? ''));
  }

  /** Writes `value` to a SCADA channel (`<device>/<term>/<item>`) through the control route; resolves with the read-back. */
  async writeChannel(channel: string, value: number | boolean): Promise<DeviceCtrlJSON> {
    const [device_id, term_id, item_id, ...rest] = channel.split('/');
    if (!device_id || !term_id || !item_id || rest.length) throw new Error(`"${channel}" is not a SCADA channel (device/term/item)`);
    const res = await lastValueFrom(
      getBackendSrv().fetch<DeviceCtrlJSON>({
        url: `${this.controlBase}/api/v1/device_ctrl`,
        method: 'POST',
        data: { device_id, term_id, item_id, value },
        showErrorAlert: false,
      }),
    );
    return res.data;
  }

  private async get<T>(path: string): Promise<T> {
    const res = await lastValueFrom(getBackendSrv().fetch<T>({ url: this.base + path, method: 'GET', showErrorAlert: false }));
    return res.data;
  }

  private async post<T>(path: string, data: unknown): Promise<T> {
    const res = await lastValueFrom(getBackendSrv().fetch<T>({ url: this.base + path, method: 'POST', data, showErrorAlert: false }));
    return res.data;
  }
}

function errorResponse(refId: string, message: string, status?: number): DataQueryResponse {
  return { data: [], key: refId, state: LoadingState.Error, errors: [{ refId, message, status }] };
}

function toQueryError(err: unknown): DataQueryError {
  return { message: errorMessage(err), status: (err as { status?: number }).status };
}

/**
 * Drops the leading rows of a frame message at or before `last` (times are sorted), so a
 * resumed stream never repeats a row. Returns undefined when nothing (data or schema) is left.
 */
export function dropRowsUpTo(frame: FrameJSON, last: number | undefined): FrameJSON | undefined {
  const data = frame.data;
  if (last === undefined || !data || data.values.length === 0) return frame;
  const times = data.values[0] as number[];
  let k = 0;
  while (k < times.length && times[k] <= last) k++;
  if (k === 0) return frame;
  if (k === times.length && !frame.schema) return undefined;
  const entities = data.entities?.map((e) => {
    if (!e) return e;
    const out: Record<string, number[]> = {};
    for (const [name, idx] of Object.entries(e) as Array<[string, number[]]>) {
      const kept = idx.filter((i) => i >= k).map((i) => i - k);
      if (kept.length) out[name] = kept;
    }
    return Object.keys(out).length ? out : null;
  });
  return { ...frame, data: { values: data.values.map((col) => col.slice(k)), ...(entities ? { entities } : {}) } };
}
