/**
 * What Grafana's panel query runner does for one panel, reduced to what the harness needs:
 * build a DataQueryRequest for the last `rangeMs`, subscribe to `ds.query()`, keep the
 * latest frames, state and errors, and unsubscribe when the query changes or the panel goes.
 */
import {
  dateTime,
  LoadingState,
  type DataFrame,
  type DataQueryError,
  type DataQueryRequest,
  type DataQueryResponse,
  type DataSourceApi,
} from '@grafana/data';
import { useEffect, useState } from 'react';
import { from } from 'rxjs';
import type { ScadaQuery } from '../../../src/frontend/types';

export interface PanelData {
  state: LoadingState;
  frames: DataFrame[];
  errors: DataQueryError[];
  /** Emissions so far (a streaming frame is the same object each time, so count them). */
  emissions: number;
}

export function usePanelData(
  ds: DataSourceApi<ScadaQuery>,
  query: ScadaQuery,
  runId: number,
  rangeMs: number,
  maxDataPoints: number,
): PanelData {
  const [data, setData] = useState<PanelData>({ state: LoadingState.NotStarted, frames: [], errors: [], emissions: 0 });

  useEffect(() => {
    if (runId === 0 || (ds.filterQuery && !ds.filterQuery(query))) return;
    const now = Date.now();
    // Grafana's interval: range / maxDataPoints, rounded up to a whole second here.
    const intervalMs = Math.max(1000, Math.ceil(rangeMs / maxDataPoints / 1000) * 1000);
    const request: DataQueryRequest<ScadaQuery> = {
      app: 'dashboard',
      requestId: `harness-${runId}`,
      timezone: 'browser',
      range: { from: dateTime(now - rangeMs), to: dateTime(now), raw: { from: `now-${rangeMs / 60_000}m`, to: 'now' } },
      interval: `${intervalMs / 1000}s`,
      intervalMs,
      maxDataPoints,
      targets: [query],
      scopedVars: {},
      startTime: now,
    };
    setData({ state: LoadingState.Loading, frames: [], errors: [], emissions: 0 });
    const subscription = from(ds.query(request)).subscribe({
      next: (res: DataQueryResponse) =>
        setData((prev) => ({
          state: res.state ?? LoadingState.Done,
          frames: res.data,
          errors: res.errors ?? (res.error ? [res.error] : []),
          emissions: prev.emissions + 1,
        })),
      error: (e: DataQueryError) => setData((prev) => ({ ...prev, state: LoadingState.Error, errors: [e] })),
    });
    return () => subscription.unsubscribe();
    // Not `query`: it changes on every edit; running is what onRunQuery (runId) decides.
  }, [ds, runId, rangeMs, maxDataPoints]);

  return data;
}
