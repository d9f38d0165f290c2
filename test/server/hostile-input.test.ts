/**
 * Hostile input, table-driven, as an attacker with only a read key would send it (behind
 * Grafana's data source proxy, that is any user who may query the data source). Each case
 * gets a clear JSON answer, the server answers /healthz right after, and the work a case
 * caused is counted, not timed: the bucket rows and cells of every grid built (the same
 * tally /metrics reports), against the bound the limits promise.
 */
import { gridTally } from '../../src/sidecar/timeseries/work-tally';
import { CONTROL_KEY, LiveClient, startTestSidecar, type Json, type TestSidecar } from './harness';

const LIMITS = {
  channelsPerQuery: 10,
  rowsPerFrame: 5000,
  cellsPerRequest: 100_000,
  queriesPerRequest: 50,
  subscriptionsPerSocket: 20,
  backfillRows: 500,
};
const YEAR = 365 * 86_400_000;

let s: TestSidecar;
beforeAll(async () => {
  s = await startTestSidecar({ limits: LIMITS });
});
afterAll(() => s.close());

/** A minute-aligned window two minutes back, where the 1 s simulator has every sample. */
const to = Math.floor(Date.now() / 60_000) * 60_000 - 120_000;

async function healthz(): Promise<void> {
  const res = await s.fetch('/healthz', { key: null });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: 'ok' });
}

/** Runs `fn` and returns what it built: bucket rows and cells of grids. */
async function counted<T>(fn: () => Promise<T>): Promise<{ result: T; buckets: number; cells: number }> {
  const before = { ...gridTally };
  const result = await fn();
  return { result, buckets: gridTally.buckets - before.buckets, cells: gridTally.cells - before.cells };
}

const rowsOf = (frame: Json): number => frame.data.values[0].length;

describe('channel search never backtracks', () => {
  const patterns: Array<[string, string, string[]]> = [
    ['250 stars then a miss', '*'.repeat(250) + 'x', []],
    ['stars and ? alternating', '*?'.repeat(120) + 'x', []],
    ['a regex alternation is literal text', 'sine|ramp', []],
    ['regex classes and groups are literal text', '([a-z]+)+$', []],
    ['a backslash and dots', '\\.*.*.*.*.*.*.*.*.*\\', []],
    ['stars around a hit', '**s*n**', ['sine']],
    ['? stands for one character', 'r?mp', ['ramp']],
    ['case-insensitive, substring', 'INE', ['sine']],
  ];
  it.each(patterns)('%s → 200, matched as a glob', async (_name, search, expected) => {
    const { status, body } = await s.json(`/api/channels?instance=sim&type=timeseries&search=${encodeURIComponent(search)}`);
    expect(status).toBe(200);
    expect(body.channels.map((c: Json) => c.name)).toEqual(expected);
    await healthz();
  });

  it('a pattern over 256 characters is refused naming search', async () => {
    const { status, body } = await s.json(`/api/channels?instance=sim&search=${'*'.repeat(257)}`);
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 'BAD_REQUEST', field: 'search' });
  });
});

describe('query windows and intervals', () => {
  const query = (from: number, q: Record<string, unknown>, end = to) =>
    s.json('/api/query', { method: 'POST', body: JSON.stringify({ from, to: end, queries: [{ refId: 'A', instance: 'sim', channels: ['sine'], ...q }] }) });

  // Windows across epoch 0 (a boundary of every interval) and over centuries, every small maxDataPoints.
  const windows: Array<[string, number, number]> = [
    ['±1 s around epoch 0', -1000, 1000],
    ['±1 day around epoch 0', -86_400_000, 86_400_000],
    ['60 years ending now', to - 60 * YEAR, to],
    ['three centuries ending now', to - 300 * YEAR, to],
    ['JavaScript dates end to end', -8.64e15, 8.64e15],
  ];
  const cases = windows.flatMap(([name, from, end]) => [1, 2, 3].map((mdp) => ({ name, from, end, mdp })));
  it.each(cases)('$name, maxDataPoints $mdp → at most that many rows (2 for 1), or a 413 naming the limit', async ({ from, end, mdp }) => {
    const { result, buckets } = await counted(() => query(from, { maxDataPoints: mdp }, end));
    const { status, body } = result;
    const a = body.results.A;
    if (status === 200) {
      expect(rowsOf(a.frames[0])).toBeLessThanOrEqual(Math.max(2, mdp));
    } else {
      // The simulator refuses to compute more raw samples than its limit, before computing any.
      expect(status).toBe(413);
      expect(a.error).toMatch(/more than the limit of \d+/);
    }
    expect(buckets).toBeLessThanOrEqual(Math.max(2, mdp));
    await healthz();
  });

  it('a 1 ms interval over a 9,999 s window is refused before any grid is built', async () => {
    const { result, buckets } = await counted(() => query(to - 9_999_000, { resampling: 1 }));
    expect(result.status).toBe(413);
    expect(result.body.results.A.error).toMatch(/would return 9999000 rows, more than 5000 \(limits\.rowsPerFrame\)/);
    expect(buckets).toBe(0);
    await healthz();
  });

  it('a 1 ms interval over a century is refused the same way', async () => {
    const { result, buckets } = await counted(() => query(to - 100 * YEAR, { resampling: 1 }));
    expect(result.status).toBe(413);
    expect(buckets).toBe(0);
  });

  it.each([
    ['a fractional interval', { resampling: 0.5 }, /resampling: must be a whole number of ms/],
    ['an interval of NaN as a string', { resampling: 'NaN' }, /resampling/],
    ['maxDataPoints 0', { maxDataPoints: 0 }, /maxDataPoints/],
    ['a fractional maxDataPoints', { maxDataPoints: 1.5 }, /maxDataPoints/],
    ['a negative intervalMs', { intervalMs: -5 }, /intervalMs/],
    ['a 2,000-character channel name', { channels: ['x'.repeat(2000)] }, /channels\.0/],
  ])('%s → 400 naming the field', async (_name, q, message) => {
    const { status, body } = await query(to - 60_000, q);
    expect(status).toBe(400);
    expect(body.results.A.error).toMatch(message);
  });

  it.each([
    ['from before the dates JavaScript can hold', { from: -9e15, to }, 'from'],
    ['to after them', { from: to - 1000, to: 1e300 }, 'to'],
    ['to = Infinity as a string', { from: to - 1000, to: 'Infinity' }, 'to'],
  ])('%s → 400 naming the field', async (_name, window, field) => {
    const { status, body } = await s.json('/api/query', {
      method: 'POST',
      body: JSON.stringify({ ...window, queries: [{ refId: 'A', instance: 'sim', channels: ['sine'] }] }),
    });
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 'BAD_REQUEST', field });
  });

  it('resampling <= 0 infers a whole-ms grid and keeps to maxDataPoints', async () => {
    for (const mdp of [1, 2, 50, 1000]) {
      const { result, buckets } = await counted(() => query(to - 3_600_000, { resampling: 0, maxDataPoints: mdp }));
      expect(result.status).toBe(200);
      const frame = result.body.results.A.frames[0];
      expect(rowsOf(frame)).toBeLessThanOrEqual(Math.max(2, mdp));
      expect(Number.isInteger(frame.schema.meta.custom.intervalMs)).toBe(true);
      expect(buckets).toBeLessThanOrEqual(Math.max(2, mdp));
    }
  });

  it('50 heavy queries in one request: refused as a whole, up front, naming the budget', async () => {
    const heavy = Array.from({ length: 50 }, (_, i) => ({ refId: `Q${i}`, instance: 'sim', channels: ['sine', 'ramp'], resampling: 1000 }));
    const { result, buckets } = await counted(() =>
      s.json('/api/query', { method: 'POST', body: JSON.stringify({ from: to - 4_000_000, to, queries: heavy }) }),
    );
    expect(result.status).toBe(413);
    expect(result.body.error).toEqual({
      code: 'LIMIT_EXCEEDED',
      field: 'queries',
      message: expect.stringMatching(/would build 400000 cells .* more than the limit of 100000 \(limits\.cellsPerRequest\)/),
    });
    expect(buckets).toBe(0);
    await healthz();
  });

  it('many queries within the budget all answer, one at a time', async () => {
    const many = Array.from({ length: 50 }, (_, i) => ({ refId: `Q${i}`, instance: 'sim', channels: ['sine', 'ramp'], resampling: 1000 }));
    const { result, cells } = await counted(() => s.json('/api/query', { method: 'POST', body: JSON.stringify({ from: to - 600_000, to, queries: many }) }));
    expect(result.status).toBe(200);
    expect(Object.keys(result.body.results)).toHaveLength(50);
    for (const r of Object.values(result.body.results) as Json[]) expect(rowsOf(r.frames[0])).toBe(600);
    expect(cells).toBe(50 * 600 * 2);
  });
});

describe('router errors in our JSON shape, never echoing the URL', () => {
  const long = 'a'.repeat(10_000);
  it.each([
    ['bad percent-encoding', '/api/v1/devices/%E0%A4%A/terms', 400, 'BAD_REQUEST', /malformed URL/],
    ['bad percent-encoding in an unknown path', '/api/%zz', 400, 'BAD_REQUEST', /malformed URL/],
    ['a 10,000-character id', `/api/v1/devices/${long}`, 414, 'LIMIT_EXCEEDED', /path parameter too long: the limit is 100 characters/],
    ['a 10,000-character unknown path', `/api/${long}`, 404, 'NOT_FOUND', /^no route GET \/api\/a{195}…$/],
  ])('%s → our JSON error', async (_name, path, status, code, message) => {
    const res = await s.fetch(path);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as Json;
    expect(body.error).toMatchObject({ code, message: expect.stringMatching(message) });
    expect(JSON.stringify(body).length).toBeLessThan(400);
    await healthz();
  });
});

describe('device hosts are validated', () => {
  it.each(['no such host!!', 'plc_1.local', '-plc.example', 'a'.repeat(64) + '.example', 'http://10.0.0.5'])('%j → 400 naming host', async (host) => {
    const { status, body } = await s.json('/api/v1/devices', {
      method: 'POST',
      key: CONTROL_KEY,
      body: JSON.stringify({ id: 'bad-host', name: 'Bad host', protocol: 'modbus_tcp', host }),
    });
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 'BAD_REQUEST', field: 'host' });
  });

  it.each(['10.0.0.5', '::1', 'fe80::1', 'plc-1.plant.example', 'PLC7', 'gw.example.'])('%j is a host', async (host) => {
    const id = `h${Math.abs(host.split('').reduce((h, c) => (h * 31 + c.charCodeAt(0)) | 0, 7))}`;
    const { status } = await s.json('/api/v1/devices', {
      method: 'POST',
      key: CONTROL_KEY,
      body: JSON.stringify({ id, name: host, protocol: 'modbus_tcp', host, enabled: false }),
    });
    expect(status).toBe(201);
  });
});

describe('the live protocol', () => {
  let c: LiveClient;
  beforeAll(async () => {
    c = await LiveClient.open(s.wsUrl);
  });
  afterAll(() => c.close());

  it('since in the future is refused naming since', async () => {
    const from = c.messages.length;
    c.send({ type: 'subscribe', id: 'future', request: { instance: 'sim', channels: ['sine'], intervalMs: 1000, since: Date.now() + 3_600_000 } });
    const err = await c.waitFor((m) => m.type === 'error' && m.id === 'future', 5000, from);
    expect(err.error).toMatchObject({ code: 'BAD_REQUEST', field: 'since', message: expect.stringMatching(/in the future/) });
    await healthz();
  });

  it('heavy subscriptions up to the per-socket limit build at most backfillRows × channels each', async () => {
    const from = c.messages.length;
    const request = (i: number) => ({
      instance: 'sim',
      channels: ['sine', 'ramp'],
      // The longest backfill a client may ask for, each a pipeline of its own (a distinct interval).
      intervalMs: 1000 + i,
      backfillMs: 1e15,
    });
    const { buckets, cells } = await counted(async () => {
      for (let i = 0; i < LIMITS.subscriptionsPerSocket + 5; i++) c.send({ type: 'subscribe', id: `h${i}`, request: request(i) });
      // Each answers: subscribed (maybe with a notice) or an error; the ones past the limit are refused.
      await c.waitFor(
        () => c.messages.slice(from).filter((m) => (m.type === 'subscribed' || m.type === 'error') && /^h\d+$/.test(m.id)).length >= LIMITS.subscriptionsPerSocket + 5,
        20_000,
      );
    });
    const answers = c.messages.slice(from).filter((m) => /^h\d+$/.test(m.id ?? ''));
    const refused = answers.filter((m) => m.type === 'error' && m.error.code === 'LIMIT_EXCEEDED' && /per connection/.test(m.error.message));
    expect(refused).toHaveLength(5);
    expect(answers.filter((m) => m.type === 'subscribed')).toHaveLength(LIMITS.subscriptionsPerSocket);
    expect(buckets).toBeLessThanOrEqual(LIMITS.subscriptionsPerSocket * (LIMITS.backfillRows + 2));
    expect(cells).toBeLessThanOrEqual(LIMITS.subscriptionsPerSocket * (LIMITS.backfillRows + 2) * 2);
    for (let i = 0; i < LIMITS.subscriptionsPerSocket + 5; i++) c.send({ type: 'unsubscribe', id: `h${i}` });
    await healthz();
  });
});

it('/metrics reports event-loop lag and the grids built', async () => {
  const text = await (await s.fetch('/metrics')).text();
  expect(text).toMatch(/^scadalive_nodejs_eventloop_lag_p99_seconds \d/m);
  expect(text).toMatch(/^scadalive_grid_buckets_total \d+/m);
  expect(await s.metric('scadalive_grid_cells_total')).toBeGreaterThan(0);
});
