/**
 * Bad input, table-driven: every case gets a clear JSON error naming the problem, and the
 * server keeps serving (a good request right after each one still answers).
 */
import WebSocket from 'ws';
import { LiveClient, READ_KEY, startTestSidecar, type TestSidecar } from './harness';

const LIMITS = { channelsPerQuery: 3, bodyBytes: 16 * 1024, messageBytes: 4 * 1024, subscriptionsPerSocket: 2, rowsPerFrame: 5000 };

let s: TestSidecar;
beforeAll(async () => {
  s = await startTestSidecar({ limits: LIMITS });
});
afterAll(() => s.close());

const to = Math.floor(Date.now() / 60_000) * 60_000 - 120_000;
const from = to - 60_000;
const q = (query: Record<string, unknown>) => JSON.stringify({ from, to, queries: [{ refId: 'A', instance: 'sim', channels: ['sine'], ...query }] });

async function stillServing(): Promise<void> {
  const { status, body } = await s.json('/api/query', { method: 'POST', body: q({ resampling: 10_000 }) });
  expect(status).toBe(200);
  expect(body.results.A.frames[0].data.values[0]).toHaveLength(6);
}

interface HttpCase {
  name: string;
  path: string;
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  status: number;
  /** The envelope error `{error:{code, message, field}}` … */
  error?: { code: string; message: RegExp; field?: string };
  /** … or a query's own error in `results.A` (Grafana's shape: one query failing alone). */
  queryError?: RegExp;
}

const httpCases: HttpCase[] = [
  { name: 'malformed JSON', path: '/api/query', body: '{"from": 1, "to": ', status: 400, error: { code: 'BAD_REQUEST', message: /^malformed JSON body: /, field: 'body' } },
  { name: 'empty JSON body', path: '/api/query', body: '', headers: { 'content-type': 'application/json' }, status: 400, error: { code: 'BAD_REQUEST', message: /malformed JSON body/, field: 'body' } },
  { name: 'a __proto__ key', path: '/api/query', body: '{"__proto__": {"x": 1}}', status: 400, error: { code: 'BAD_REQUEST', message: /__proto__/, field: 'body' } },
  { name: 'queries of the wrong type', path: '/api/query', body: JSON.stringify({ from, to, queries: 'all' }), status: 400, error: { code: 'BAD_REQUEST', message: /queries/, field: 'queries' } },
  { name: 'from of the wrong type', path: '/api/query', body: JSON.stringify({ from: true, to, queries: [{}] }), status: 400, error: { code: 'BAD_REQUEST', message: /from/, field: 'from' } },
  { name: 'a JSON array body', path: '/api/query', body: '[1,2]', status: 400, error: { code: 'BAD_REQUEST', message: /invalid query request/ } },
  { name: 'channels of the wrong type', path: '/api/query', body: q({ channels: 'sine' }), status: 400, queryError: /queries\.0\.channels/ },
  { name: 'unknown instance', path: '/api/query', body: q({ instance: 'ghost' }), status: 404, queryError: /unknown data source instance "ghost"/ },
  { name: 'unknown channel', path: '/api/query', body: q({ channels: ['sine', 'nope'] }), status: 404, queryError: /unknown channel "nope"/ },
  { name: 'too many channels', path: '/api/query', body: q({ channels: ['a', 'b', 'c', 'd'] }), status: 400, queryError: /channels: at most 3 channels per query/ },
  { name: 'absurd maxDataPoints', path: '/api/query', body: q({ maxDataPoints: 1e12 }), status: 400, queryError: /maxDataPoints: must be at most 5000/ },
  { name: 'too many rows for the limit', path: '/api/query', body: q({ resampling: 1 }), status: 413, queryError: /more than 5000/ },
  { name: 'an unknown reducer', path: '/api/query', body: q({ reducer: 'avg' }), status: 400, queryError: /reducer/ },
  {
    name: 'an oversized body',
    path: '/api/query',
    body: q({ legend: 'x'.repeat(20_000) }),
    status: 413,
    error: { code: 'LIMIT_EXCEEDED', message: /request body too large: the limit is 16384 bytes/, field: 'body' },
  },
  {
    name: 'a non-JSON content type',
    path: '/api/query',
    body: 'from=1',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 415,
    error: { code: 'BAD_REQUEST', message: /unsupported content type/, field: 'content-type' },
  },
  { name: 'an unknown route', path: '/api/nope', method: 'GET', status: 404, error: { code: 'NOT_FOUND', message: /no route GET \/api\/nope/ } },
  { name: 'a wrong method', path: '/api/health', method: 'DELETE', status: 404, error: { code: 'NOT_FOUND', message: /no route DELETE/ } },
  { name: 'a bad channel type filter', path: '/api/channels?type=bogus', method: 'GET', status: 400, error: { code: 'BAD_REQUEST', message: /type/, field: 'type' } },
  { name: 'an unknown channel filter', path: '/api/channels?colour=red', method: 'GET', status: 400, error: { code: 'BAD_REQUEST', message: /unknown field/, field: 'colour' } },
  { name: 'a channels listing of an unknown instance', path: '/api/channels?instance=ghost', method: 'GET', status: 404, error: { code: 'UNKNOWN_INSTANCE', message: /ghost/, field: 'instance' } },
  { name: 'a blob without a channel', path: '/api/blob?instance=sim', method: 'GET', status: 400, error: { code: 'BAD_REQUEST', message: /channel/, field: 'channel' } },
  { name: 'a blob of an unknown channel', path: '/api/blob?instance=sim&channel=nope', method: 'GET', status: 404, error: { code: 'UNKNOWN_CHANNEL', message: /nope/, field: 'channels' } },
  { name: 'bad blob params', path: '/api/blob?instance=sim&channel=sine&width=1', method: 'GET', status: 400, error: { code: 'BAD_REQUEST', message: /width/, field: 'params.width' } },
  { name: 'a live stream request with a bad interval', path: '/api/live/http', body: JSON.stringify({ instance: 'fast', channels: ['sine'], intervalMs: 'fast' }), status: 400, error: { code: 'BAD_REQUEST', message: /intervalMs/, field: 'intervalMs' } },
  { name: 'a live stream request with an unknown field', path: '/api/live/http', body: JSON.stringify({ instance: 'fast', channels: ['sine'], intervalMs: 1000, interval: 5 }), status: 400, error: { code: 'BAD_REQUEST', message: /unknown field/, field: 'interval' } },
  { name: 'a live stream of too many channels', path: '/api/live/http', body: JSON.stringify({ instance: 'fast', channels: ['a', 'b', 'c', 'd'], intervalMs: 1000 }), status: 400, error: { code: 'BAD_REQUEST', message: /at most 3 channels/, field: 'channels' } },
  { name: 'a GET of the WebSocket endpoint', path: '/api/live', method: 'GET', status: 426, error: { code: 'BAD_REQUEST', message: /WebSocket endpoint/ } },
];

describe('bad HTTP input', () => {
  it.each(httpCases)('$name → $status with a clear JSON error', async (c) => {
    const res = await s.fetch(c.path, { method: c.method ?? 'POST', body: c.body, headers: c.headers });
    expect(res.status).toBe(c.status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const text = await res.text();
    expect(text).not.toMatch(/\bat .*\.(ts|js):\d+|<html/i); // no stack trace, no HTML
    const body = JSON.parse(text);
    if (c.error) {
      expect(body.error).toEqual({ code: c.error.code, message: expect.stringMatching(c.error.message), ...(c.error.field ? { field: c.error.field } : {}) });
    } else {
      expect(body.results.A.status).toBe(c.status);
      expect(body.results.A.error).toMatch(c.queryError!);
    }
    await stillServing();
  });
});

describe('bad WebSocket messages', () => {
  let c: LiveClient;
  beforeAll(async () => {
    c = await LiveClient.open(s.wsUrl);
  });
  afterAll(() => c.close());

  const good = { instance: 'fast', channels: ['sine'], intervalMs: 1000 };
  const wsCases: Array<{ name: string; send: unknown; id?: string; code: string; message: RegExp; field?: string }> = [
    { name: 'not JSON', send: '{"type": "subscribe"', code: 'BAD_REQUEST', message: /^malformed JSON message: / },
    { name: 'not an object', send: '42', code: 'BAD_REQUEST', message: /invalid message/ },
    { name: 'an unknown type', send: { type: 'subscribed', id: 'q' }, id: 'q', code: 'BAD_REQUEST', message: /type/, field: 'type' },
    { name: 'no type', send: { id: 'q' }, id: 'q', code: 'BAD_REQUEST', message: /type: .*expected one of "subscribe"\|"unsubscribe"\|"ping"/, field: 'type' },
    { name: 'a subscribe without a request', send: { type: 'subscribe', id: 'a' }, id: 'a', code: 'BAD_REQUEST', message: /request/, field: 'request' },
    { name: 'a subscribe without an id', send: { type: 'subscribe', request: good }, code: 'BAD_REQUEST', message: /id/, field: 'id' },
    { name: 'a subscribe with an unknown field', send: { type: 'subscribe', id: 'a', request: good, extra: 1 }, id: 'a', code: 'BAD_REQUEST', message: /unknown field/, field: 'extra' },
    { name: 'a request without intervalMs', send: { type: 'subscribe', id: 'b', request: { instance: 'fast', channels: ['sine'] } }, id: 'b', code: 'BAD_REQUEST', message: /intervalMs: required/, field: 'intervalMs' },
    { name: 'a request of the wrong type', send: { type: 'subscribe', id: 'b', request: { ...good, channels: 'sine' } }, id: 'b', code: 'BAD_REQUEST', message: /channels/, field: 'channels' },
    { name: 'an unknown instance', send: { type: 'subscribe', id: 'c', request: { ...good, instance: 'ghost' } }, id: 'c', code: 'UNKNOWN_INSTANCE', message: /ghost/, field: 'instance' },
    { name: 'an unknown channel', send: { type: 'subscribe', id: 'd', request: { ...good, channels: ['nope'] } }, id: 'd', code: 'UNKNOWN_CHANNEL', message: /"nope"/, field: 'channels' },
    { name: 'an object channel', send: { type: 'subscribe', id: 'e', request: { ...good, channels: ['devices'] } }, id: 'e', code: 'BAD_REQUEST', message: /timeseries channels only/, field: 'channels' },
    { name: 'too many channels', send: { type: 'subscribe', id: 'f', request: { ...good, channels: ['a', 'b', 'c', 'd'] } }, id: 'f', code: 'BAD_REQUEST', message: /at most 3/, field: 'channels' },
    { name: 'an unsubscribe of an unknown id', send: { type: 'unsubscribe', id: 'zzz' }, id: 'zzz', code: 'NOT_FOUND', message: /no subscription "zzz"/, field: 'id' },
    { name: 'an over-long id', send: { type: 'unsubscribe', id: 'x'.repeat(200) }, code: 'BAD_REQUEST', message: /at most 128/, field: 'id' },
  ];

  it.each(wsCases)('$name → an error message naming it; the socket stays open', async (t) => {
    const from = c.messages.length;
    c.send(typeof t.send === 'string' ? t.send : t.send);
    const err = await c.waitFor((m) => m.type === 'error', 5000, from);
    expect(err).toEqual({
      type: 'error',
      ...(t.id ? { id: t.id } : {}),
      error: { code: t.code, message: expect.stringMatching(t.message), ...(t.field ? { field: t.field } : {}) },
    });
    c.send({ type: 'ping' });
    await c.waitFor((m) => m.type === 'pong', 5000, from);
    expect(c.closed).toBeUndefined();
  });

  it('a binary message → an error; the socket stays open', async () => {
    const from = c.messages.length;
    c.ws.send(Buffer.from([1, 2, 3]));
    expect(await c.waitFor((m) => m.type === 'error', 5000, from)).toEqual({ type: 'error', error: { code: 'BAD_REQUEST', message: expect.stringMatching(/binary messages are not supported/) } });
  });

  it('a duplicate id and too many subscriptions → errors naming the id; the others run on', async () => {
    const from = c.messages.length;
    c.send({ type: 'subscribe', id: 'one', request: good });
    await c.waitFor((m) => m.type === 'subscribed' && m.id === 'one', 5000, from);
    c.send({ type: 'subscribe', id: 'one', request: good });
    expect(await c.waitFor((m) => m.type === 'error' && m.id === 'one', 5000, from)).toMatchObject({ error: { code: 'BAD_REQUEST', field: 'id', message: expect.stringMatching(/already in use/) } });
    c.send({ type: 'subscribe', id: 'two', request: { ...good, reducer: 'max' } });
    await c.waitFor((m) => m.type === 'subscribed' && m.id === 'two', 5000, from);
    c.send({ type: 'subscribe', id: 'three', request: good });
    expect(await c.waitFor((m) => m.type === 'error' && m.id === 'three', 5000, from)).toMatchObject({
      error: { code: 'LIMIT_EXCEEDED', message: expect.stringMatching(/at most 2 per connection/) },
    });
    // Freeing a slot makes room again.
    c.send({ type: 'unsubscribe', id: 'one' });
    await c.waitFor((m) => m.type === 'unsubscribed' && m.id === 'one', 5000, from);
    c.send({ type: 'subscribe', id: 'three', request: good });
    await c.waitFor((m) => m.type === 'subscribed' && m.id === 'three', 5000, from);
    expect(c.closed).toBeUndefined();
  });

  it('a message over messageBytes closes that socket with 1009; the server serves others', async () => {
    const big = await LiveClient.open(s.wsUrl);
    big.send({ type: 'subscribe', id: 'big', request: { ...good, legend: 'x'.repeat(LIMITS.messageBytes) } });
    await big.waitFor(() => big.closed !== undefined).catch(() => undefined);
    expect(big.closed?.code).toBe(1009);
    const other = await LiveClient.open(s.wsUrl);
    other.send({ type: 'ping' });
    await other.waitFor((m) => m.type === 'pong');
    await other.close();
    await stillServing();
  });

  it('a raw garbage upgrade does not hurt the server', async () => {
    const ws = new WebSocket(s.wsUrl, { headers: { authorization: `Bearer ${READ_KEY}`, 'sec-websocket-version': '99' } });
    await new Promise((resolve) => {
      ws.on('error', resolve);
      ws.on('unexpected-response', resolve);
      ws.on('open', resolve);
    });
    ws.terminate();
    await stillServing();
  });
});
