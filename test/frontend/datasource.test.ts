/**
 * @jest-environment jsdom
 *
 * The data source as Grafana runs it: jsdom's WebSocket, a BackendSrv doing real HTTP, and
 * a real sidecar behind a data source proxy that injects the key from the plugin.json route.
 */
import {
  LoadingState,
  StreamingDataFrame,
  dateTime,
  type DataQueryRequest,
  type DataQueryResponse,
  type DataSourceInstanceSettings,
} from '@grafana/data';
import type { Subscription } from 'rxjs';
import { DataSource, dropRowsUpTo } from '../../src/frontend/datasource';
import type { ScadaOptions, ScadaQuery } from '../../src/frontend/types';
import { installBackendSrv, installTemplateSrv, startProxiedSidecar, waitUntil, type ProxiedSidecar } from './grafana-env';

let env: ProxiedSidecar;

beforeAll(async () => {
  installBackendSrv();
  installTemplateSrv({ chans: ['sine', 'ramp'], one: 'sine', inst: 'fast' });
  env = await startProxiedSidecar();
}, 30_000);

afterAll(async () => {
  await env?.stop();
});

function makeDs(jsonData: ScadaOptions = {}): DataSource {
  const settings = {
    id: 1,
    uid: 'scada',
    type: 'scadalive-scada-datasource',
    name: 'SCADA Live',
    url: env.proxyUrl,
    access: 'proxy',
    readOnly: false,
    jsonData,
    meta: { id: 'scadalive-scada-datasource', name: 'SCADA Live', type: 'datasource', info: {}, module: '', baseUrl: '' },
  } as unknown as DataSourceInstanceSettings<ScadaOptions>;
  return new DataSource(settings);
}

function makeRequest(
  targets: Array<Partial<ScadaQuery>>,
  fromMs: number,
  toMs: number,
  rawTo: string,
  intervalMs = 200,
): DataQueryRequest<ScadaQuery> {
  return {
    requestId: 'Q1',
    interval: `${intervalMs}ms`,
    intervalMs,
    maxDataPoints: 600,
    range: { from: dateTime(fromMs), to: dateTime(toMs), raw: { from: 'now-1m', to: rawTo } },
    scopedVars: {},
    targets: targets.map((t, i) => ({ refId: String.fromCharCode(65 + i), instance: 'fast', channels: ['sine'], ...t }) as ScadaQuery),
    timezone: 'utc',
    app: 'dashboard',
    startTime: Date.now(),
  } as DataQueryRequest<ScadaQuery>;
}

/** Subscribes as a panel does and keeps every response. */
function run(ds: DataSource, req: DataQueryRequest<ScadaQuery>) {
  const responses: DataQueryResponse[] = [];
  const errors: unknown[] = [];
  const sub: Subscription = ds.query(req).subscribe({ next: (r) => responses.push(r), error: (e) => errors.push(e) });
  return { responses, errors, sub, last: () => responses[responses.length - 1] };
}

const timesOf = (frame: { fields: Array<{ values: unknown[] }> }): number[] => [...(frame.fields[0].values as number[])];

function expectContiguous(times: number[], step: number): void {
  for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBe(step);
}

describe('history', () => {
  it('returns the sidecar frames for a past range, with template variables applied', async () => {
    const ds = makeDs();
    const to = Date.now() - 30_000;
    const { responses, errors, sub } = run(
      ds,
      makeRequest([{ channels: ['$chans'], instance: '$inst' }], to - 20_000, to, 'now-30s', 1000),
    );
    await waitUntil(() => responses.length > 0 || errors.length > 0, 8000, 'history');
    sub.unsubscribe();
    expect(errors).toEqual([]);
    const r = responses[0];
    expect(r.state).toBe(LoadingState.Done);
    const frame = r.data[0];
    expect(frame.refId).toBe('A');
    expect(frame.fields.map((f: { name: string }) => f.name)).toEqual(['time', 'sine', 'ramp']);
    expect(frame.length).toBeGreaterThan(5);
    const times = timesOf(frame);
    expectContiguous(times, 1000);
    expect(times[times.length - 1]).toBeLessThan(to);
  });

  it('an error of one query reaches the panel as an error', async () => {
    const ds = makeDs();
    const now = Date.now();
    const { responses, errors, sub } = run(ds, makeRequest([{ instance: 'no-such-instance' }], now - 60_000, now - 30_000, 'now-30s'));
    await waitUntil(() => responses.length > 0 || errors.length > 0, 8000, 'error response');
    expect(errors).toEqual([]);
    sub.unsubscribe();
    expect(responses[0].state).toBe(LoadingState.Error);
    expect(responses[0].errors?.[0].message).toMatch(/no-such-instance/);
  });
});

describe.each(['websocket', 'http'] as const)('live over %s', (transport) => {
  it('appends live rows to one StreamingDataFrame, resumes after a drop without gaps or repeats, and tears down', async () => {
    const ds = makeDs({ liveTransport: transport });
    const now = Date.now();
    const { responses, errors, sub, last } = run(ds, makeRequest([{ channels: ['$one'], live: true }], now - 30_000, now, 'now'));
    await waitUntil(() => responses.length > 0, 8000, 'first response');
    const first = responses[0];
    expect(first.key).toBe('A');
    expect(first.state).toBe(LoadingState.Streaming);
    const frame = first.data[0] as StreamingDataFrame;
    expect(frame).toBeInstanceOf(StreamingDataFrame);
    expect(frame.length).toBeGreaterThan(10);
    const historyEnd = timesOf(frame).at(-1)!;

    // Live appends arrive in the same frame object; the window slides (maxDelta = range).
    await waitUntil(() => timesOf(frame).at(-1)! >= historyEnd + 5 * 200, 8000, 'live rows');
    expect(timesOf(frame)[0]).toBeGreaterThanOrEqual(timesOf(frame).at(-1)! - 30_000);
    expect(last().data[0]).toBe(frame);
    expect(last().state).toBe(LoadingState.Streaming);
    const step = timesOf(frame)[1] - timesOf(frame)[0];
    expectContiguous(timesOf(frame), step);

    if (transport === 'websocket') {
      expect(await env.sockets()).toBe(1);
      await env.drop();
      const before = timesOf(frame).at(-1)!;
      // Rows made while disconnected come back through `since`, exactly once.
      await waitUntil(() => timesOf(frame).at(-1)! >= before + 8 * step, 10_000, 'rows after reconnect');
      expectContiguous(timesOf(frame), step);
    }
    expect(errors).toEqual([]);
    const values = frame.fields[1].values as number[];
    for (const v of values.slice(-5)) expect(v).toBeGreaterThanOrEqual(90);

    sub.unsubscribe();
    if (transport === 'websocket') await waitUntil(async () => (await env.sockets()) === 0, 5000, 'socket closed');
    const rows = frame.length;
    await new Promise((r) => setTimeout(r, 600));
    expect(frame.length).toBe(rows);
  }, 30_000);
});

it('a bucket still open when history was read gives way to the closed bucket from live', async () => {
  const ds = makeDs();
  // Start a few hundred ms into a second, so history's last 1 s bucket is surely part-filled.
  while (Date.now() % 1000 < 250 || Date.now() % 1000 > 600) await new Promise((r) => setTimeout(r, 10));
  const now = Date.now();
  const open = Math.floor(now / 1000) * 1000;
  const { responses, errors, sub } = run(
    ds,
    makeRequest([{ channels: ['sine'], reducer: 'count', resampling: 1000, live: true }], now - 10_000, now, 'now', 1000),
  );
  await waitUntil(() => responses.length > 0, 8000, 'first response');
  const frame = responses[0].data[0] as StreamingDataFrame;
  const count = () => frame.fields[1].values as number[];
  // The fast simulator samples every 50 ms: a closed 1 s bucket counts 20, the open one fewer.
  expect(timesOf(frame).at(-1)).toBe(open);
  expect(count().at(-1)).toBeLessThan(20);
  await waitUntil(() => timesOf(frame).at(-1)! >= open + 2000, 8000, 'the open bucket closed, and the next');
  const times = timesOf(frame);
  expect(count()[times.indexOf(open)]).toBe(20);
  expect(
    count()
      .slice(0, -1)
      .every((c) => c === 20),
  ).toBe(true);
  expectContiguous(times, 1000);
  expect(errors).toEqual([]);
  sub.unsubscribe();
});

it('a refused live subscription errors the panel', async () => {
  const ds = makeDs();
  const now = Date.now();
  // An unknown channel: refused by the query handler already, so no stream starts.
  const { responses, errors, sub } = run(ds, makeRequest([{ channels: ['nope'] }], now - 5_000, now, 'now'));
  await waitUntil(() => responses.length > 0 || errors.length > 0, 8000, 'response');
  sub.unsubscribe();
  expect(errors).toEqual([]);
  expect(responses[0].state).toBe(LoadingState.Error);
});

describe('health and variables', () => {
  it('testDatasource shows the sidecar health', async () => {
    const res = await makeDs().testDatasource();
    expect(res.status).toBe('success');
    expect(typeof res.message).toBe('string');
  });

  it('testDatasource reports an unreachable sidecar as an error', async () => {
    const ds = makeDs();
    (ds as unknown as { base: string }).base = 'http://127.0.0.1:1/nowhere';
    const res = await ds.testDatasource();
    expect(res.status).toBe('error');
  });

  it('metricFindQuery lists channels, filtered', async () => {
    const ds = makeDs();
    const all = await ds.metricFindQuery({ instance: 'fast', type: 'timeseries' });
    expect(all.map((v) => v.text).sort()).toEqual(['ramp', 'sine']);
    const some = await ds.metricFindQuery({ instance: '$inst', search: 'si*', type: 'timeseries' });
    expect(some).toEqual([{ text: 'sine', value: 'sine' }]);
    expect(await ds.listInstances()).toEqual(expect.arrayContaining(['fast', 'sim']));
  });
});

it('dropRowsUpTo removes repeated rows and shifts entities', () => {
  const f = {
    data: {
      values: [
        [1, 2, 3],
        [10, null, null],
      ],
      entities: [null, { Inf: [1, 2] }],
    },
  };
  expect(dropRowsUpTo(f, 1)).toEqual({
    data: {
      values: [
        [2, 3],
        [null, null],
      ],
      entities: [null, { Inf: [0, 1] }],
    },
  });
  expect(dropRowsUpTo(f, 3)).toBeUndefined();
  expect(dropRowsUpTo(f, undefined)).toBe(f);
});
