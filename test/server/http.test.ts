/** The HTTP routes over a real socket: query frames, health, channels, blob, plugin routes, metrics. */
import { dataFrameFromJSON, FieldType } from '@grafana/data';
import { expectedRamp, expectedSine, startTestSidecar, type TestSidecar } from './harness';

let s: TestSidecar;
beforeAll(async () => {
  s = await startTestSidecar();
});
afterAll(() => s.close());

// A whole minute a few minutes back, on minute boundaries: every sample exists.
const to = Math.floor(Date.now() / 60_000) * 60_000 - 120_000;
const from = to - 60_000;

describe('POST /api/query', () => {
  it("answers frames that @grafana/data parses, with the simulator's exact values", async () => {
    const { status, body } = await s.json('/api/query', {
      method: 'POST',
      body: JSON.stringify({
        from: String(from),
        to: String(to),
        queries: [{ refId: 'A', instance: 'sim', channels: ['sine', 'ramp'], reducer: 'first', resampling: 5000, datasource: { uid: 'x' } }],
      }),
    });
    expect(status).toBe(200);
    expect(body.results.A.error).toBeUndefined();
    expect(body.results.A.frames).toHaveLength(1);
    const frame = dataFrameFromJSON(body.results.A.frames[0]);
    expect(frame.refId).toBe('A');
    expect(frame.fields.map((f) => [f.name, f.type])).toEqual([
      ['time', FieldType.time],
      ['sine', FieldType.number],
      ['ramp', FieldType.number],
    ]);
    // [from, to) in 5 s buckets aligned to the epoch, labelled by their start.
    const times = frame.fields[0].values as number[];
    expect(times).toEqual(Array.from({ length: 12 }, (_, i) => from + i * 5000));
    // 'first' of a bucket is the sample at its start (one sample per second, none missing).
    times.forEach((t, i) => {
      expect(frame.fields[1].values[i]).toBeCloseTo(expectedSine(t), 9);
      expect(frame.fields[2].values[i]).toBeCloseTo(expectedRamp(t), 9);
    });
    expect(frame.fields[1].config.unit).toBe('celsius');
  });

  it('keeps frames within maxDataPoints when no resampling is given', async () => {
    const { status, body } = await s.json('/api/query', {
      method: 'POST',
      body: JSON.stringify({ from, to, queries: [{ refId: 'B', instance: 'sim', channels: ['sine'], intervalMs: 1000, maxDataPoints: 7 }] }),
    });
    expect(status).toBe(200);
    const frame = dataFrameFromJSON(body.results.B.frames[0]);
    expect(frame.length).toBeGreaterThan(0);
    expect(frame.length).toBeLessThanOrEqual(7);
  });
});

describe('GET /api/health and /healthz', () => {
  it('reports every instance, version and uptime', async () => {
    const { status, body } = await s.json('/api/health');
    expect(status).toBe(200);
    expect(body.status).toBe('OK');
    expect(body.details.version).toBe('test');
    expect(body.details.instances.map((i: { id: string; state: string }) => [i.id, i.state])).toEqual([
      ['sim', 'ready'],
      ['fast', 'ready'],
      ['csv', 'ready'],
    ]);
  });

  it('answers the bare liveness probe without a key, and nothing more', async () => {
    const { status, body } = await s.json('/healthz', { key: null });
    expect(status).toBe(200);
    expect(body).toEqual({ status: 'ok' });
  });
});

describe('GET /api/channels', () => {
  it('filters by instance, search and type from the query string', async () => {
    const { status, body } = await s.json('/api/channels?instance=sim&search=sin&type=timeseries');
    expect(status).toBe(200);
    expect(body.channels.map((c: { name: string; instance: string }) => [c.instance, c.name])).toEqual([['sim', 'sine']]);
    expect(body.truncated).toBe(false);
  });

  it('takes repeated type parameters and lists every ready instance without one', async () => {
    const { body } = await s.json('/api/channels?type=table&type=tree');
    expect(body.channels.map((c: { name: string; instance: string }) => `${c.instance}/${c.name}`)).toEqual(['sim/devices', 'sim/model', 'fast/devices', 'fast/model']);
  });

  it('honours limit', async () => {
    const { body } = await s.json('/api/channels?limit=2');
    expect(body.channels).toHaveLength(2);
    expect(body.truncated).toBe(true);
  });
});

describe('GET /api/blob', () => {
  it("answers the plugin's bytes with its MIME type (an SVG sparkline)", async () => {
    const res = await s.fetch('/api/blob?instance=sim&channel=sine&width=120&height=40&lengthMs=60000');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const svg = await res.text();
    expect(svg).toMatch(/^(<\?xml[^>]*>\s*)?<svg/);
    expect(svg).toContain('width="120"');
    expect(svg).toContain('</svg>');
  });
});

describe('per-plugin routes (seed 002)', () => {
  it("answers the plugin's [status, json] under /plugins/<id>/", async () => {
    const { status, body } = await s.json('/plugins/csv/');
    expect(status).toBe(200);
    expect(body).toEqual({ file: 'plugins/data/example.csv', rows: 200, columns: ['tank_level', 'temperature', 'pump_on'], first: Date.UTC(2024, 0, 1), last: Date.UTC(2024, 0, 1) + 199 * 60_000 });
  });

  it('also answers under the route_path param, with the plugin choosing the status', async () => {
    expect((await s.json('/plugins/table')).body.rows).toBe(200);
    const { status, body } = await s.json('/plugins/table/nope');
    expect(status).toBe(404);
    expect(body.error.message).toMatch(/no such path \/nope/);
  });

  it('is a 404 JSON error for an instance without a handler, or an unknown one', async () => {
    const none = await s.json('/plugins/sim/');
    expect(none.status).toBe(404);
    expect(none.body.error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/has no request handler/) });
    const ghost = await s.json('/plugins/ghost/x', { method: 'POST', body: '{}' });
    expect(ghost.status).toBe(404);
    expect(ghost.body.error).toMatchObject({ code: 'UNKNOWN_INSTANCE', field: 'instance' });
  });

  it('needs a key like everything else', async () => {
    expect((await s.fetch('/plugins/csv/', { key: null })).status).toBe(401);
  });
});

describe('GET /metrics', () => {
  it('serves Prometheus text with request counts by route', async () => {
    await s.fetch('/api/health');
    const res = await s.fetch('/metrics');
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/^scadalive_http_requests_total\{route="\/api\/health",method="GET",status="200"\} \d+$/m);
    expect(text).toContain('scadalive_http_request_duration_seconds_bucket');
    expect(text).toContain('scadalive_live_pipelines');
    expect(text).toContain('scadalive_process_resident_memory_bytes');
  });
});
