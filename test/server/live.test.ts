/**
 * Live streams over a real WebSocket and the chunked HTTP fallback: frames Grafana's
 * StreamingDataFrame consumes unchanged, shared pipelines, resume with `since`, heartbeat
 * and idle timeout.
 */
import { StreamingDataFrame } from '@grafana/data';
import { expectedRamp, expectedSine, LIVE_INTERVAL_MS as I, LiveClient, sleep, startTestSidecar, type Json, type TestSidecar } from './harness';

let s: TestSidecar;
beforeAll(async () => {
  s = await startTestSidecar();
});
afterAll(() => s.close());

const request = (extra: Record<string, unknown> = {}) => ({ instance: 'fast', channels: ['sine', 'ramp'], reducer: 'first', intervalMs: I, ...extra });

/** Rows of a list of frames as [time, ...values] tuples, through Grafana's own StreamingDataFrame. */
function streamRows(frames: Json[]): number[][] {
  const [first, ...rest] = frames.map((f) => JSON.parse(JSON.stringify(f)));
  expect(first.schema).toBeDefined();
  const df = StreamingDataFrame.fromDataFrameJSON(first, { maxLength: 100_000 });
  for (const f of rest) {
    expect(f.schema).toBeUndefined();
    df.push(f);
  }
  return Array.from({ length: df.length }, (_, i) => df.fields.map((f) => f.values[i] as number));
}

/** Consecutive buckets, each 'first' = the sample at the bucket start: exactly the simulator's values. */
function expectExactRows(rows: number[][]): void {
  rows.forEach(([t, sine, ramp], i) => {
    expect(t % I).toBe(0);
    if (i > 0) expect(t - rows[i - 1][0]).toBe(I);
    expect(sine).toBeCloseTo(expectedSine(t), 9);
    expect(ramp).toBeCloseTo(expectedRamp(t), 9);
  });
}

async function waitForMetric(name: string, labels: Record<string, string>, value: number, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = NaN;
  while (Date.now() < deadline) {
    last = await s.metric(name, labels);
    if (last === value) return;
    await sleep(50);
  }
  throw new Error(`${name}${JSON.stringify(labels)} is ${last}, expected ${value}`);
}

describe('WebSocket /api/live', () => {
  it("streams a schema frame, then appends that Grafana's StreamingDataFrame turns into the expected rows", async () => {
    const c = await LiveClient.open(s.wsUrl);
    const subscribedAt = Date.now();
    c.send({ type: 'subscribe', id: 'a', request: request({ backfillMs: 5 * I, refId: 'A' }) });
    await c.waitFor((m) => m.type === 'subscribed' && m.id === 'a');
    const frames = await c.waitRows('a', 10);
    // 'subscribed' comes before the subscription's first frame.
    expect(c.messages.findIndex((m) => m.type === 'subscribed')).toBeLessThan(c.messages.findIndex((m) => m.type === 'frame'));
    const rows = streamRows(frames);
    expect(rows.length).toBeGreaterThanOrEqual(10);
    expectExactRows(rows);
    // The backfill: 5 buckets that had closed when the subscription started.
    expect(frames[0].data.values[0]).toHaveLength(5);
    expect(frames[0].schema.refId).toBe('A');
    expect(frames[0].schema.fields.map((f: { name: string }) => f.name)).toEqual(['time', 'sine', 'ramp']);
    // Live rows follow the backfill: the last one is a bucket that closed after the subscription began.
    expect(rows[rows.length - 1][0] + I).toBeGreaterThan(subscribedAt);

    c.send({ type: 'unsubscribe', id: 'a' });
    await c.waitFor((m) => m.type === 'unsubscribed' && m.id === 'a');
    const after = c.messages.length;
    await sleep(3 * I);
    expect(c.messages.slice(after).filter((m) => m.type === 'frame')).toEqual([]);
    await c.close();
  });

  it('shares one upstream pipeline among sockets subscribing to the same query', async () => {
    await waitForMetric('scadalive_live_pipelines', {}, 0);
    const a = await LiveClient.open(s.wsUrl);
    const b = await LiveClient.open(s.wsUrl);
    a.send({ type: 'subscribe', id: 'x', request: request() });
    b.send({ type: 'subscribe', id: 'y', request: request({ backfillMs: 0 }) });
    await a.waitFor((m) => m.type === 'subscribed');
    await b.waitFor((m) => m.type === 'subscribed');
    expect(await s.metric('scadalive_live_pipelines')).toBe(1);
    expect(await s.metric('scadalive_live_pipeline_subscribers')).toBe(2);
    expect(await s.metric('scadalive_live_subscriptions', { transport: 'ws' })).toBe(2);
    expect(await s.metric('scadalive_live_websockets')).toBe(2);

    // Both get the same rows from the shared pipeline.
    const ra = streamRows(await a.waitRows('x', 3));
    const rb = streamRows(await b.waitRows('y', 3));
    const common = rb.filter(([t]) => ra.some(([u]) => u === t));
    expect(common.length).toBeGreaterThan(0);
    for (const row of common) expect(ra.find(([t]) => t === row[0])).toEqual(row);

    // A different query is another pipeline.
    b.send({ type: 'subscribe', id: 'z', request: request({ reducer: 'last' }) });
    await b.waitFor((m) => m.type === 'subscribed' && m.id === 'z');
    expect(await s.metric('scadalive_live_pipelines')).toBe(2);

    // Closing the sockets closes their subscriptions; with no linger the pipelines go too.
    await a.close();
    await b.close();
    await waitForMetric('scadalive_live_subscriptions', { transport: 'ws' }, 0);
    await waitForMetric('scadalive_live_pipelines', {}, 0);
    expect(await s.metric('scadalive_live_frames_sent_total', { transport: 'ws' })).toBeGreaterThan(0);
  });

  it('reports in /metrics how far each emission trailed its bucket end', async () => {
    const before = await s.metric('scadalive_live_emit_lag_seconds_count');
    const c = await LiveClient.open(s.wsUrl);
    c.send({ type: 'subscribe', id: 'lag', request: request({ backfillMs: 0 }) });
    await c.waitRows('lag', 4);
    const count = (await s.metric('scadalive_live_emit_lag_seconds_count')) - before;
    expect(count).toBeGreaterThanOrEqual(3);
    // Measured from the bucket's end, not from some other clock: well inside the largest bucket.
    const sum = await s.metric('scadalive_live_emit_lag_seconds_sum');
    expect(sum).toBeGreaterThanOrEqual(0);
    expect(await s.metric('scadalive_live_emit_lag_seconds_bucket', { le: '10' })).toBe(await s.metric('scadalive_live_emit_lag_seconds_count'));
    await c.close();
  });

  it('resumes with since: a reconnecting client gets exactly the rows it missed', async () => {
    const a = await LiveClient.open(s.wsUrl);
    a.send({ type: 'subscribe', id: 'r', request: request({ backfillMs: 3 * I }) });
    const before = streamRows(await a.waitRows('r', 5));
    const last = before[before.length - 1][0];
    await a.close();

    await sleep(4 * I); // rows close meanwhile
    const b = await LiveClient.open(s.wsUrl);
    b.send({ type: 'subscribe', id: 'r', request: request({ since: last }) });
    await b.waitFor((m) => m.type === 'subscribed');
    const frames = b.frames('r');
    const missed = streamRows([frames[0]]);
    // The first frame starts right after the last row received: nothing repeated, nothing lost.
    expect(missed.length).toBeGreaterThanOrEqual(3);
    expect(missed[0][0]).toBe(last + I);
    expectExactRows([...before, ...missed]);
    const more = streamRows(await b.waitRows('r', missed.length + 2));
    expectExactRows([...before, ...more]);
    await b.close();
  });

  it('answers ping with pong and several subscriptions per socket by id', async () => {
    const c = await LiveClient.open(s.wsUrl);
    c.send({ type: 'ping' });
    await c.waitFor((m) => m.type === 'pong');
    c.send({ type: 'subscribe', id: 's1', request: request({ channels: ['sine'] }) });
    c.send({ type: 'subscribe', id: 's2', request: { instance: 'sim', channels: ['ramp'], intervalMs: 1000 } });
    await c.waitFor((m) => m.type === 'subscribed' && m.id === 's1');
    await c.waitFor((m) => m.type === 'subscribed' && m.id === 's2');
    expect(c.frames('s1')[0].schema.fields.map((f: { name: string }) => f.name)).toEqual(['time', 'sine']);
    expect(c.frames('s2')[0].schema.fields.map((f: { name: string }) => f.name)).toEqual(['time', 'ramp']);
    await c.close();
  });
});

describe('POST /api/live/http (chunked fallback)', () => {
  it('streams one JSON message per line until the client disconnects', async () => {
    const abort = new AbortController();
    const res = await s.fetch('/api/live/http', { method: 'POST', body: JSON.stringify(request({ backfillMs: 2 * I })), signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    const lines: Json[] = [];
    let buf = '';
    const rowCount = () => lines.filter((l) => l.type === 'frame').reduce((n, l) => n + l.frame.data.values[0].length, 0);
    while (rowCount() < 6) {
      const { value, done } = await reader.read();
      if (done) throw new Error('stream ended early');
      buf += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
      }
    }
    expect(lines[0]).toEqual({ type: 'subscribed' });
    expect(await s.metric('scadalive_live_subscriptions', { transport: 'http' })).toBe(1);
    const frames = lines.filter((l) => l.type === 'frame').map((l) => l.frame);
    expectExactRows(streamRows(frames));

    abort.abort();
    await reader.cancel().catch(() => undefined);
    await waitForMetric('scadalive_live_subscriptions', { transport: 'http' }, 0);
    await waitForMetric('scadalive_live_pipelines', {}, 0);
  });

  it('answers a bad stream request with a plain JSON error', async () => {
    const { status, body } = await s.json('/api/live/http', { method: 'POST', body: JSON.stringify({ instance: 'fast', channels: ['sine'] }) });
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 'BAD_REQUEST', field: 'intervalMs' });
  });
});

describe('socket housekeeping', () => {
  let h: TestSidecar;
  beforeAll(async () => {
    // Short, but with room for a loaded test machine: a pong must come within one heartbeat.
    h = await startTestSidecar({ server: { heartbeatMs: 300, idleTimeoutMs: 500 } });
  });
  afterAll(() => h.close());

  it('closes a socket that has no subscription for idleTimeoutMs', async () => {
    const c = await LiveClient.open(h.wsUrl);
    await c.waitFor(() => c.closed !== undefined, 3000).catch(() => undefined);
    expect(c.closed).toEqual({ code: 1000, reason: expect.stringMatching(/^idle/) });
  });

  it('keeps a socket with a subscription past the idle timeout', async () => {
    const c = await LiveClient.open(h.wsUrl);
    c.send({ type: 'subscribe', id: 'k', request: request() });
    await c.waitFor((m) => m.type === 'subscribed');
    await sleep(1200);
    expect(c.closed).toBeUndefined();
    await c.close();
  });

  it('terminates a socket that stops answering heartbeats', async () => {
    const c = await LiveClient.open(h.wsUrl);
    c.send({ type: 'subscribe', id: 'k', request: request() });
    await c.waitFor((m) => m.type === 'subscribed');
    expect(await h.metric('scadalive_live_websockets')).toBe(1);
    // The client stops reading: it no longer sees (or answers) pings.
    (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const deadline = Date.now() + 3000;
    while ((await h.metric('scadalive_live_websockets')) > 0 && Date.now() < deadline) await sleep(50);
    expect(await h.metric('scadalive_live_websockets')).toBe(0);
    expect(await h.metric('scadalive_live_subscriptions', { transport: 'ws' })).toBe(0);
    c.ws.terminate();
  });
});
