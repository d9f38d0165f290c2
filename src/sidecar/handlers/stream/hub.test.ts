/**
 * The live stream handler against a real Registry and the real simulator (pushing every
 * 10 ms), with real timers and 100 ms buckets. Frames go through JSON, as on the wire, and
 * into Grafana's own StreamingDataFrame; rows are checked against history (the same
 * instance's `timeseries`), never against the clock.
 */
import { StreamingDataFrame } from '@grafana/data';
import pino from 'pino';
import type { FrameJSON } from '../../../common/frames';
import { limitsSchema, type Limits } from '../../config';
import { SimulatorDataSource } from '../../datasources/simulator';
import { AppError } from '../../errors';
import { DataSource, type DataSourceClass } from '../../registry/datasource';
import { Registry } from '../../registry/registry';
import type { AppContext, Channel, Reducer, SampleListener, SeriesSet, Unsubscribe } from '../../registry/types';
import type { HandlerContext } from '../context';
import { StreamHub, type StreamHubOptions } from './hub';

const I = 100; // bucket width (ms)
const SAMPLE = 10; // sample interval of every test source (ms)
const app: AppContext = { logger: pino({ level: 'silent' }), baseDir: '/', version: 'test' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Raw samples at multiples of SAMPLE in [to - length, min(to, now)): what a live source has. */
function rampSeries(length: number, to: number, f: (t: number) => number) {
  const end = Math.min(to, Date.now());
  const first = Math.ceil((to - length) / SAMPLE);
  const n = Math.max(0, Math.ceil(end / SAMPLE) - first);
  const times = Float64Array.from({ length: n }, (_, i) => (first + i) * SAMPLE);
  return { times, values: times.map(f) };
}

let rampFailing = false;
/** A source without `subscribe`: streams poll its history. */
class Ramp extends DataSource {
  override getChannels(): Channel[] {
    return [
      { name: 'ramp', type: 'timeseries', unit: '%' },
      { name: 'ramp2', type: 'timeseries' },
    ];
  }
  override getTimeseries(channels: string[], length: number, to: number): SeriesSet {
    if (rampFailing) throw new Error('PLC unreachable');
    const out: SeriesSet = {};
    for (const ch of channels) out[ch] = rampSeries(length, to, (t) => ((t / SAMPLE) % 1000) * (ch === 'ramp2' ? 2 : 1));
    return out;
  }
}

/** Last sample of `stale`: half an hour ago, far outside any default backfill window. */
const STALE_T = Math.floor((Date.now() - 1_800_000) / 1000) * 1000 + 123;
class Sparse extends Ramp {
  override getChannels(): Channel[] {
    return [
      { name: 'fresh', type: 'timeseries' },
      { name: 'stale', type: 'timeseries' },
    ];
  }
  override getTimeseries(channels: string[], length: number, to: number): SeriesSet {
    const out: SeriesSet = {};
    for (const ch of channels) {
      if (ch === 'fresh') out[ch] = rampSeries(length, to, (t) => t / SAMPLE);
      else {
        const inside = STALE_T >= to - length && STALE_T < to;
        out[ch] = { times: Float64Array.from(inside ? [STALE_T] : []), values: Float64Array.from(inside ? [42] : []) };
      }
    }
    return out;
  }
}

/** A push source the test drives by hand; its history is exactly what was stored. */
class Manual extends DataSource {
  static current?: Manual;
  readonly stored: Array<[number, number]> = [];
  private readonly listeners = new Set<SampleListener>();
  constructor(a: AppContext, project: string, params: Record<string, unknown>) {
    super(a, project, params);
    Manual.current = this;
  }
  override getChannels(): Channel[] {
    return [{ name: 'm', type: 'timeseries' }];
  }
  override getTimeseries(_channels: string[], length: number, to: number): SeriesSet {
    const inside = this.stored.filter(([t]) => t >= to - length && t < to);
    return { m: { times: Float64Array.from(inside, ([t]) => t), values: Float64Array.from(inside, ([, v]) => v) } };
  }
  override subscribe(_channels: string[], listener: SampleListener): Unsubscribe {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  /** Stores the sample (history) and pushes it live, unless `liveOnly`. */
  push(t: number, v: number, liveOnly = false): void {
    if (!liveOnly) this.stored.push([t, v]);
    for (const l of this.listeners) l({ m: { times: Float64Array.of(t), values: Float64Array.of(v) } });
  }
}

/** Pushes but keeps no history (getTimeseries is not supported). */
class PushOnly extends DataSource {
  override getChannels(): Channel[] {
    return [{ name: 'p', type: 'timeseries' }];
  }
  override subscribe(_channels: string[], listener: SampleListener): Unsubscribe {
    let k = 0;
    const timer = setInterval(() => listener({ p: { times: Float64Array.of(Date.now() - 1), values: Float64Array.of(++k) } }), SAMPLE);
    return () => clearInterval(timer);
  }
}

/** Its live subscription fails (after `delayMs`); its history is slow, so a stream has not started by then. */
class BrokenPush extends DataSource {
  override getChannels(): Channel[] {
    return [{ name: 'x', type: 'timeseries' }];
  }
  override async getTimeseries(channels: string[], length: number, to: number): Promise<SeriesSet> {
    await sleep(Number(this.params.historyDelayMs ?? 0));
    return { x: rampSeries(length, to, (t) => t) };
  }
  override async subscribe(): Promise<Unsubscribe> {
    await sleep(Number(this.params.delayMs ?? 0));
    throw new Error('bus down');
  }
}

/** The simulator with slow history: live rows close while a backfill is being read. */
const SLOW_MS = 350;
class SlowSim extends DataSource {
  private readonly sim = new SimulatorDataSource(this.app, this.project, this.params);
  override getChannels(): Channel[] {
    return this.sim.getChannels();
  }
  override async getTimeseries(channels: string[], length: number, to: number, resampling?: number, reducer?: Reducer) {
    await sleep(SLOW_MS);
    return this.sim.getTimeseries(channels, length, to, resampling, reducer);
  }
  override subscribe(channels: string[], listener: SampleListener): Unsubscribe {
    return this.sim.subscribe(channels, listener);
  }
  override finalize(): void {
    this.sim.finalize();
  }
}

const simParams = {
  sampleIntervalMs: SAMPLE,
  channels: [
    { name: 'temperature', signal: 'sine', period: 2000, amplitude: 5, offset: 20, noise: 0.5, unit: 'degC' },
    { name: 'level', signal: 'ramp', period: 3000, amplitude: 100, unit: '%' },
  ],
};

let registry: Registry;
beforeAll(async () => {
  const plugins = new Map<string, DataSourceClass>([
    ['simulator', SimulatorDataSource],
    ['ramp', Ramp],
    ['sparse', Sparse],
    ['manual', Manual],
    ['broken', BrokenPush],
    ['slowsim', SlowSim],
    ['pushonly', PushOnly],
  ]);
  registry = new Registry({ plugins, app });
  const report = await registry.start([
    { id: 'sim', plugin: 'simulator', params: simParams },
    { id: 'slow', plugin: 'slowsim', params: simParams },
    { id: 'ramp', plugin: 'ramp' },
    { id: 'sparse', plugin: 'sparse' },
    { id: 'manual', plugin: 'manual' },
    { id: 'pushonly', plugin: 'pushonly' },
    { id: 'broken', plugin: 'broken', params: { historyDelayMs: 200 } },
    { id: 'broken-late', plugin: 'broken', params: { delayMs: 300 } },
  ]);
  expect(report.failed).toEqual([]);
});
afterAll(() => registry.stop());

function context(limits: Partial<Limits> = {}): HandlerContext {
  return { registry, limits: { ...limitsSchema.parse({}), ...limits }, version: 'test', startedAt: Date.now(), probes: [], now: Date.now };
}

const hubs: StreamHub[] = [];
function hub(options: Partial<StreamHubOptions> = {}, limits: Partial<Limits> = {}): StreamHub {
  const h = new StreamHub(context(limits), { lingerMs: 0, ...options });
  hubs.push(h);
  return h;
}
afterEach(async () => {
  rampFailing = false;
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});

interface Table {
  times: number[];
  columns: Array<Array<number | null>>;
}

/** A client: frames as they come off the wire (JSON round trip, which also copies them). */
class Client {
  readonly frames: FrameJSON[] = [];
  readonly errors: Array<{ error: AppError; fatal: boolean }> = [];
  readonly send = (frame: FrameJSON): void => {
    this.frames.push(JSON.parse(JSON.stringify(frame)) as FrameJSON);
  };
  readonly onError = (error: AppError, fatal: boolean): void => {
    this.errors.push({ error, fatal });
  };
  get appends(): number {
    return Math.max(0, this.frames.length - 1);
  }
  /** All frames fed to Grafana's StreamingDataFrame, as its panel would see them. */
  table(): Table {
    const [first, ...rest] = this.frames;
    const sdf = StreamingDataFrame.fromDataFrameJSON(first as never, { maxLength: 100_000 });
    for (const f of rest) sdf.push(f as never);
    return { times: [...sdf.fields[0].values] as number[], columns: sdf.fields.slice(1).map((f) => [...f.values] as Array<number | null>) };
  }
  rowsOf(frame: FrameJSON): number[] {
    return (frame.data?.values[0] ?? []) as number[];
  }
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** History of the same buckets, as the query path computes it (NaN as null, as on the wire). */
async function history(instance: string, channels: string[], times: number[], reducer: Reducer = 'last'): Promise<Table> {
  const from = times[0];
  const to = times[times.length - 1] + I;
  const grid = await registry.get(instance).timeseries(channels, to - from, to, I, reducer);
  return { times: Array.from(grid.times), columns: grid.columns.map((c) => Array.from(c, (v) => (Number.isNaN(v) ? null : v))) };
}

function expectContiguous(times: number[]): void {
  expect(times.length).toBeGreaterThan(0);
  expect(times).toEqual(times.map((_, i) => times[0] + i * I));
}

async function expectHistory(instance: string, channels: string[], table: Table, reducer: Reducer = 'last'): Promise<void> {
  expectContiguous(table.times);
  expect(await history(instance, channels, table.times, reducer)).toEqual(table);
}

const subscribe = (h: StreamHub, c: Client, request: Record<string, unknown>) => h.subscribe(request, c.send, c.onError);
const errorOf = (p: Promise<unknown>) => p.then(
  () => {
    throw new Error('expected a rejection');
  },
  (e: unknown) => e as AppError,
);

describe('StreamHub', () => {
  it('sends one schema frame with the backfill, then data-only appends whose rows equal history', async () => {
    const h = hub();
    const c = new Client();
    const sub = await subscribe(h, c, { instance: 'sim', channels: ['temperature', 'level'], intervalMs: I, refId: 'A', legend: '{{name}} ({{unit}})' });
    expect(c.frames).toHaveLength(1);
    const schema = c.frames[0].schema!;
    expect(schema).toMatchObject({ name: 'sim', refId: 'A', meta: { custom: { intervalMs: I, reducer: 'last', live: true } } });
    expect(schema.fields.map((f) => [f.name, f.type])).toEqual([
      ['time', 'time'],
      ['temperature', 'number'],
      ['level', 'number'],
    ]);
    expect(schema.fields[1]).toMatchObject({ config: { unit: 'celsius', displayNameFromDS: 'temperature (degC)' }, labels: { instance: 'sim' } });
    // Default backfill: min(backfillRows × interval, 1 h) = 1000 rows of 100 ms (plus any
    // row that closed while it was read).
    expect(c.rowsOf(c.frames[0]).length).toBeGreaterThanOrEqual(1000);

    await waitFor(() => c.appends >= 4, '4 appends');
    sub.close();
    sub.close();
    for (const f of c.frames.slice(1)) {
      expect(f.schema).toBeUndefined();
      expect(c.rowsOf(f).length).toBeGreaterThan(0);
    }
    const table = c.table();
    expect(table.times.length).toBeGreaterThanOrEqual(1004);
    await expectHistory('sim', ['temperature', 'level'], table);
    expect(h.stats()).toMatchObject({ pipelines: 0, subscribers: 0 });
  });

  it('shares one pipeline between identical subscriptions, another for another reducer; lingers, then tears down', async () => {
    const h = hub({ lingerMs: 300 });
    const sim = registry.get('sim').source as SimulatorDataSource;
    const base = sim.subscriptionCount;
    const mean = { instance: 'sim', channels: ['temperature'], intervalMs: I, reducer: 'mean', backfillMs: 500 };
    const [a, b, m] = [new Client(), new Client(), new Client()];
    const sa = await subscribe(h, a, mean);
    const sb = await subscribe(h, b, mean);
    expect(h.stats()).toMatchObject({ pipelines: 1, subscribers: 2 });
    const sm = await subscribe(h, m, { ...mean, reducer: 'max' });
    expect(h.stats()).toMatchObject({ pipelines: 2, subscribers: 3 });
    await waitFor(() => sim.subscriptionCount === base + 2, 'two upstream subscriptions');
    expect(a.rowsOf(a.frames[0]).length).toBeGreaterThanOrEqual(5);

    await waitFor(() => a.appends >= 3 && b.appends >= 3 && m.appends >= 3, 'appends');
    for (const s of [sa, sb, sm]) s.close();
    expect(h.stats()).toMatchObject({ pipelines: 2, subscribers: 0 });

    // A quick re-subscribe within the linger reuses the pipeline (no new upstream subscription).
    const again = new Client();
    const s2 = await subscribe(h, again, mean);
    expect(h.stats()).toMatchObject({ pipelines: 2, subscribers: 1 });
    expect(sim.subscriptionCount).toBe(base + 2);

    await expectHistory('sim', ['temperature'], a.table(), 'mean');
    await expectHistory('sim', ['temperature'], b.table(), 'mean');
    await expectHistory('sim', ['temperature'], m.table(), 'max');
    // Both subscribers of one pipeline saw the same live rows.
    const bt = b.table();
    expect(a.table().times.filter((t) => bt.times.includes(t)).length).toBeGreaterThan(3);
    await waitFor(() => again.appends >= 1, 'an append after re-subscribe');
    s2.close();
    await expectHistory('sim', ['temperature'], again.table(), 'mean');

    await waitFor(() => h.stats().pipelines === 0, 'teardown after the linger', 3000);
    expect(sim.subscriptionCount).toBe(base);
    expect(h.stats()).toMatchObject({ pipelines: 0, subscribers: 0 });
    expect(h.stats().rowsEmitted).toBeGreaterThan(0);
  });

  it('resumes from `since` with exactly the missed rows', async () => {
    const h = hub();
    const req = { instance: 'sim', channels: ['temperature', 'level'], intervalMs: I, backfillMs: 300 };
    const a = new Client();
    const sa = await subscribe(h, a, req);
    await waitFor(() => a.appends >= 2, 'appends');
    sa.close();
    const had = a.table();
    const last = had.times[had.times.length - 1];

    await sleep(4 * I); // the client is away for a few buckets
    const b = new Client();
    const sb = await subscribe(h, b, { ...req, since: last });
    const resumed = b.rowsOf(b.frames[0]);
    expect(resumed.length).toBeGreaterThanOrEqual(3);
    expect(resumed[0]).toBe(last + I);
    expect(b.frames[0].schema?.meta?.custom).toEqual({ intervalMs: I, reducer: 'last', live: true });
    await waitFor(() => b.appends >= 1, 'an append after resume');
    sb.close();

    const got = b.table();
    const all: Table = { times: [...had.times, ...got.times], columns: had.columns.map((col, i) => [...col, ...got.columns[i]]) };
    await expectHistory('sim', req.channels, all);
  });

  it('resumes with the newest rows and says how many were missed when more than backfillRows were', async () => {
    const h = hub({}, { backfillRows: 5 });
    const c = new Client();
    const since = Math.floor(Date.now() / I) * I - 40 * I;
    const s = await subscribe(h, c, { instance: 'sim', channels: ['level'], intervalMs: I, since });
    const first = c.frames[0];
    const rows = c.rowsOf(first);
    expect(rows).toHaveLength(5);
    expectContiguous(rows);
    // Everything in (since, first row) was missed: about 40 buckets minus the 5 sent.
    const custom = first.schema?.meta?.custom as { missedRows?: number };
    expect(custom.missedRows).toBe((rows[0] - since) / I - 1);
    expect(custom.missedRows).toBeGreaterThanOrEqual(34);
    expect(first.schema?.meta?.notices).toEqual([expect.objectContaining({ severity: 'warning' })]);
    await waitFor(() => c.appends >= 2, 'appends');
    s.close();
    await expectHistory('sim', ['level'], c.table());
  });

  it('sends nothing the client already has when `since` is the last closed bucket', async () => {
    const h = hub();
    const c = new Client();
    const since = Math.floor(Date.now() / I) * I - I;
    const s = await subscribe(h, c, { instance: 'sim', channels: ['level'], intervalMs: I, since });
    await waitFor(() => c.appends >= 2, 'appends');
    s.close();
    const t = c.table();
    expect(t.times[0]).toBe(since + I);
    await expectHistory('sim', ['level'], t);
  });

  it("includes each channel's last known value when the window has none", async () => {
    const h = hub();
    const c = new Client();
    const s = await subscribe(h, c, { instance: 'sparse', channels: ['fresh', 'stale'], intervalMs: I, backfillMs: 10 * I });
    s.close();
    const [times, fresh, stale] = c.frames[0].data!.values as [number[], Array<number | null>, Array<number | null>];
    expect(times).toHaveLength(11);
    expect(times[0]).toBe(Math.floor(STALE_T / I) * I);
    expect(stale[0]).toBe(42);
    expect(fresh[0]).toBeNull();
    expectContiguous(times.slice(1));
    expect(stale.slice(1).every((v) => v === null)).toBe(true);
    expect(fresh.slice(1).every((v) => typeof v === 'number')).toBe(true);
  });

  it('with no backfill window still sends the last closed bucket of every channel', async () => {
    const h = hub();
    const c = new Client();
    const before = Math.floor(Date.now() / I) * I;
    const s = await subscribe(h, c, { instance: 'sim', channels: ['temperature', 'level'], intervalMs: I, backfillMs: 0, reducer: 'mean' });
    s.close();
    const first = c.frames[0];
    const times = c.rowsOf(first);
    // The last closed bucket (and any that closed while the backfill was read).
    expect(times.length).toBeGreaterThanOrEqual(1);
    expect(times[0]).toBeGreaterThanOrEqual(before - I);
    expect(times[0]).toBeLessThanOrEqual(before);
    const table: Table = { times, columns: (first.data!.values.slice(1) as Array<Array<number | null>>) };
    await expectHistory('sim', ['temperature', 'level'], table, 'mean');
  });

  it('delivers rows that close while the backfill is read after it, without duplicates or gaps', async () => {
    const h = hub();
    const req = { instance: 'slow', channels: ['temperature'], intervalMs: I, reducer: 'mean', backfillMs: 5 * I };
    const a = new Client();
    const sa = await subscribe(h, a, req);
    await waitFor(() => a.appends >= 2, 'the pipeline running');

    const b = new Client();
    const joined = Date.now();
    const sb = await subscribe(h, b, req);
    // The backfill took SLOW_MS: the buckets that closed meanwhile are in the first frame.
    const firstRows = b.rowsOf(b.frames[0]);
    expect(firstRows[firstRows.length - 1]).toBeGreaterThanOrEqual(Math.floor(joined / I) * I + I);
    await waitFor(() => b.appends >= 2, 'appends');
    sa.close();
    sb.close();
    await expectHistory('sim', ['temperature'], b.table(), 'mean');
  });

  it('resamples pushed samples incrementally and drops late ones', async () => {
    const h = hub();
    const manual = Manual.current!;
    const c = new Client();
    const s = await subscribe(h, c, { instance: 'manual', channels: ['m'], intervalMs: I, reducer: 'sum', backfillMs: 0 });
    let k = 0;
    const pusher = setInterval(() => manual.push(Date.now() - 1, ++k), SAMPLE);
    try {
      await waitFor(() => c.appends >= 4, 'appends');
    } finally {
      clearInterval(pusher);
    }
    await waitFor(() => c.appends >= 5, 'the last bucket');
    // Nothing was stored before the subscription, so every row is live.
    expect(c.rowsOf(c.frames[0])).toEqual([]);
    const live = c.table();
    expect(live.columns[0].some((v) => v !== null && v > 0)).toBe(true);
    await expectHistory('manual', ['m'], live, 'sum');

    // A sample for a bucket that has closed: dropped, counted, the row not resent.
    const before = c.frames.length;
    manual.push(live.times[0] + 1, 1000, true);
    expect(h.stats().lateSamples).toBe(1);
    // A pushed sample that history does not have shows that rows come from the pushes.
    const now = Date.now();
    manual.push(now, 5000, true);
    await waitFor(() => c.table().times.includes(Math.floor(now / I) * I), 'the bucket of the pushed sample');
    s.close();
    const after = c.frames.slice(before).flatMap((f) => c.rowsOf(f));
    expect(after.every((time) => time > live.times[live.times.length - 1])).toBe(true);
    const t = c.table();
    expect(t.columns[0][t.times.indexOf(Math.floor(now / I) * I)]).toBe(5000);
    expect(h.stats().lateSamples).toBe(1);
  });

  it('closes a bucket as soon as every channel has pushed past it, before its timer', async () => {
    const h = hub();
    const manual = Manual.current!;
    const W = 2000;
    // Start early in a bucket so that the timer could not close it for well over a second.
    while (Date.now() % W > 200) await sleep(20);
    const B = Math.floor(Date.now() / W) * W;
    const c = new Client();
    const s = await subscribe(h, c, { instance: 'manual', channels: ['m'], intervalMs: W, reducer: 'last', backfillMs: 0 });
    // Bucket B began before the upstream subscription, so its row comes from history; the
    // rows after it come from the pushed samples only (liveOnly: history never sees them).
    manual.push(B + 1, 7);
    manual.push(B + W + 1, 9, true);
    expect(c.appends).toBe(0);
    // A sample of the bucket after next completes buckets B and B + W.
    manual.push(B + 2 * W, 10, true);
    await waitFor(() => c.table().times.includes(B + W), 'the completed buckets');
    expect(Date.now()).toBeLessThan(B + W);
    const t = c.table();
    expect(t.columns[0][t.times.indexOf(B)]).toBe(7);
    expect(t.columns[0][t.times.indexOf(B + W)]).toBe(9);
    s.close();
  });

  it('streams a push source that keeps no history, from now on', async () => {
    const h = hub();
    const c = new Client();
    const s = await subscribe(h, c, { instance: 'pushonly', channels: ['p'], intervalMs: I, reducer: 'count' });
    expect(c.frames[0].schema?.meta?.notices).toEqual([expect.objectContaining({ severity: 'info', text: expect.stringContaining('not supported') })]);
    await waitFor(() => c.appends >= 3, 'appends');
    s.close();
    expect(c.errors).toEqual([]);
    const t = c.table();
    expectContiguous(t.times);
    // Full buckets of 10 ms samples: about 10 per 100 ms bucket.
    expect(t.columns[0].slice(-2).every((n) => n !== null && n >= 5)).toBe(true);
  });

  it('polls sources without push, and reports a failing read once, then catches up without a gap', async () => {
    const h = hub();
    expect(registry.get('ramp').canPush).toBe(false);
    const req = { instance: 'ramp', channels: ['ramp', 'ramp2'], intervalMs: I, backfillMs: 5 * I };
    const c = new Client();
    const s = await subscribe(h, c, req);
    expect(c.frames[0].schema?.fields[1].config).toEqual({ unit: 'percent', displayNameFromDS: 'ramp' });
    await waitFor(() => c.appends >= 2, 'polled appends');

    rampFailing = true;
    await waitFor(() => c.errors.length >= 1, 'the error');
    expect(c.errors[0].fatal).toBe(false);
    expect(c.errors[0].error).toBeInstanceOf(AppError);
    expect(c.errors[0].error.message).toContain('PLC unreachable');
    // Meanwhile a new subscription cannot read its backfill: refused, with the reason.
    const refused = await errorOf(subscribe(h, new Client(), req));
    expect(refused.message).toContain('PLC unreachable');
    await sleep(3 * I);
    const framesBefore = c.frames.length;
    rampFailing = false;

    await waitFor(() => c.frames.length >= framesBefore + 2, 'appends after recovery');
    s.close();
    expect(c.errors).toHaveLength(1);
    await expectHistory('ramp', req.channels, c.table());
    expect(h.stats()).toMatchObject({ pipelines: 0, subscribers: 0 });
  });

  it('rejects the subscription when the upstream subscribe fails before it starts', async () => {
    const h = hub();
    const err = await errorOf(subscribe(h, new Client(), { instance: 'broken', channels: ['x'], intervalMs: I }));
    expect(err).toBeInstanceOf(AppError);
    expect(err.message).toContain('bus down');
    expect(h.stats()).toMatchObject({ pipelines: 0, subscribers: 0 });
  });

  it('ends a live subscription with a fatal error when the upstream subscribe fails later', async () => {
    const h = hub();
    const c = new Client();
    await subscribe(h, c, { instance: 'broken-late', channels: ['x'], intervalMs: I });
    await waitFor(() => c.errors.length > 0, 'the error');
    expect(c.errors).toEqual([{ error: expect.any(AppError), fatal: true }]);
    expect(c.errors[0].error.message).toContain('bus down');
    expect(h.stats()).toMatchObject({ pipelines: 0, subscribers: 0 });
    // A new subscription tries again with a fresh pipeline.
    const c2 = new Client();
    await subscribe(h, c2, { instance: 'broken-late', channels: ['x'], intervalMs: I });
    expect(h.stats()).toMatchObject({ pipelines: 1, subscribers: 1 });
  });

  it.each([
    ['no instance', { channels: ['level'], intervalMs: I }, 'BAD_REQUEST', 'instance'],
    ['no channels', { instance: 'sim', channels: [], intervalMs: I }, 'BAD_REQUEST', 'channels'],
    ['too many channels', { instance: 'sim', channels: Array.from({ length: 4 }, (_, i) => `c${i}`), intervalMs: I }, 'BAD_REQUEST', 'channels'],
    ['a channel not a string', { instance: 'sim', channels: ['level', 7], intervalMs: I }, 'BAD_REQUEST', 'channels.1'],
    ['interval too small', { instance: 'sim', channels: ['level'], intervalMs: 5 }, 'BAD_REQUEST', 'intervalMs'],
    ['interval over a day', { instance: 'sim', channels: ['level'], intervalMs: 86_400_001 }, 'BAD_REQUEST', 'intervalMs'],
    ['no interval', { instance: 'sim', channels: ['level'] }, 'BAD_REQUEST', 'intervalMs'],
    ['unknown reducer', { instance: 'sim', channels: ['level'], intervalMs: I, reducer: 'avg' }, 'BAD_REQUEST', 'reducer'],
    ['since not a number', { instance: 'sim', channels: ['level'], intervalMs: I, since: 'yesterday' }, 'BAD_REQUEST', 'since'],
    ['negative backfill', { instance: 'sim', channels: ['level'], intervalMs: I, backfillMs: -1 }, 'BAD_REQUEST', 'backfillMs'],
    ['unknown field', { instance: 'sim', channels: ['level'], intervalMs: I, interval: 5 }, 'BAD_REQUEST', 'interval'],
    ['unknown instance', { instance: 'nope', channels: ['level'], intervalMs: I }, 'UNKNOWN_INSTANCE', 'instance'],
    ['unknown channel', { instance: 'sim', channels: ['level', 'nope'], intervalMs: I }, 'UNKNOWN_CHANNEL', 'channels'],
    ['an object channel', { instance: 'sim', channels: ['level_histogram'], intervalMs: I }, 'BAD_REQUEST', 'channels'],
  ])('rejects %s, naming the field', async (_name, request, code, field) => {
    const h = hub({}, { channelsPerQuery: 3 });
    const err = await errorOf(subscribe(h, new Client(), request));
    expect(err).toBeInstanceOf(AppError);
    expect({ code: err.code, field: err.field }).toEqual({ code, field });
    expect(err.message.length).toBeGreaterThan(10);
    expect(h.stats()).toMatchObject({ pipelines: 0, subscribers: 0 });
  });

  it('rejects a request that is not an object', async () => {
    const err = await errorOf(hub().subscribe('subscribe me', () => undefined, () => undefined));
    expect(err.code).toBe('BAD_REQUEST');
  });

  it('ends every stream on close and refuses new ones', async () => {
    const h = hub();
    const c = new Client();
    await subscribe(h, c, { instance: 'sim', channels: ['level'], intervalMs: I });
    await h.close();
    expect(c.errors).toEqual([{ error: expect.objectContaining({ code: 'NOT_READY' }), fatal: true }]);
    expect(h.stats()).toMatchObject({ pipelines: 0, subscribers: 0 });
    const err = await errorOf(subscribe(h, new Client(), { instance: 'sim', channels: ['level'], intervalMs: I }));
    expect(err.code).toBe('NOT_READY');
  });
});
