import fc from 'fast-check';
import pino from 'pino';
import { AppError } from '../../errors';
import { DataSource } from '../../registry/datasource';
import type { AppContext, HistogramObject, Resampled, SeriesSet, TableObject, TreeObject } from '../../registry/types';
import { simulatorParamsSchema, type SimulatorParamsInput } from './params';
import { MAX_SAMPLES_PER_CHANNEL, SimulatorDataSource } from './simulator';
import { escapeXml } from './svg';

const app: AppContext = { logger: pino({ level: 'silent' }), baseDir: '.', version: 'test' };
const make = (params: SimulatorParamsInput = {}) => new SimulatorDataSource(app, 'test', params as Record<string, unknown>);

/** A time safely in the past, aligned to a minute. */
const T = 28_333_334 * 60_000; // 1_700_000_040_000

async function raw(ds: SimulatorDataSource, channels: string[], length: number, to: number): Promise<SeriesSet> {
  return (await (await ds.getTimeseries(channels, length, to))) as SeriesSet;
}

async function caught(fn: () => unknown): Promise<AppError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected an AppError');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting');
    await sleep(5);
  }
}

// Independent formulas, written from the spec rather than from signals.ts.
const expectSine = (t: number, period: number, amp: number, off: number, phase: number) => off + amp * Math.sin(2 * Math.PI * (t / period) + phase);
const expectRamp = (t: number, period: number, amp: number, off: number) => off + amp * ((t % period) / period);
const expectSquare = (t: number, period: number, amp: number, off: number) => ((t % period) < period / 2 ? off + amp : off);

describe('params', () => {
  test('defaults give a useful demo set', async () => {
    const p = simulatorParamsSchema.parse({});
    expect(p.sampleIntervalMs).toBe(1000);
    const names = p.channels.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['temperature', 'level', 'pump_on', 'pressure']));
    expect(new Set(p.channels.map((c) => c.signal))).toEqual(new Set(['sine', 'ramp', 'square', 'randomWalk']));
    expect(p.channels.find((c) => c.name === 'temperature')?.unit).toBe('degC');
    expect(p.channels.find((c) => c.name === 'pressure')?.unit).toBe('bar');
    // Parsing parsed params changes nothing (the class re-parses what the registry hands it).
    expect(simulatorParamsSchema.parse(p)).toEqual(p);
  });

  test('channel fields get defaults', async () => {
    const p = simulatorParamsSchema.parse({ channels: [{ name: 'x', signal: 'sine' }] });
    expect(p.channels[0]).toEqual({ name: 'x', signal: 'sine', period: 60_000, amplitude: 1, offset: 0, noise: 0, phase: 0 });
  });

  test.each<[string, unknown, (string | number)[]]>([
    ['duplicate names', { channels: [{ name: 'a', signal: 'sine' }, { name: 'a', signal: 'ramp' }] }, ['channels', 1, 'name']],
    ['zero period', { channels: [{ name: 'a', signal: 'sine', period: 0 }] }, ['channels', 0, 'period']],
    ['negative period', { channels: [{ name: 'a', signal: 'sine', period: -5 }] }, ['channels', 0, 'period']],
    ['unknown signal', { channels: [{ name: 'a', signal: 'triangle' }] }, ['channels', 0, 'signal']],
    ['negative noise', { channels: [{ name: 'a', signal: 'sine', noise: -1 }] }, ['channels', 0, 'noise']],
    ['non-integer seed', { channels: [{ name: 'a', signal: 'randomWalk', seed: 1.5 }] }, ['channels', 0, 'seed']],
    ['empty name', { channels: [{ name: '', signal: 'sine' }] }, ['channels', 0, 'name']],
    ['control character in name', { channels: [{ name: 'a\u0001', signal: 'sine' }] }, ['channels', 0, 'name']],
    ['reserved name devices', { channels: [{ name: 'devices', signal: 'sine' }] }, ['channels', 0, 'name']],
    ['reserved histogram suffix', { channels: [{ name: 'x_histogram', signal: 'sine' }] }, ['channels', 0, 'name']],
    ['typo in a channel field', { channels: [{ name: 'a', signal: 'sine', amplitute: 3 }] }, ['channels', 0]],
    ['empty channel list', { channels: [] }, ['channels']],
    ['zero sample interval', { sampleIntervalMs: 0 }, ['sampleIntervalMs']],
    ['fractional sample interval', { sampleIntervalMs: 2.5 }, ['sampleIntervalMs']],
    ['NaN amplitude', { channels: [{ name: 'a', signal: 'sine', amplitude: NaN }] }, ['channels', 0, 'amplitude']],
  ])('rejects %s with the field path', (_what, params, path) => {
    const r = simulatorParamsSchema.safeParse(params);
    expect(r.success).toBe(false);
    expect(r.error!.issues[0].path).toEqual(path);
  });

  test('the constructor reports bad params as BAD_PARAMS naming the field', async () => {
    const err = await caught(() => make({ channels: [{ name: 'a', signal: 'sine' }, { name: 'a', signal: 'ramp' }] }));
    expect(err.code).toBe('BAD_PARAMS');
    expect(err.field).toBe('params.channels.1.name');
    expect(err.message).toContain('duplicate channel name "a"');
  });
});

describe('channels', () => {
  test('lists timeseries, histogram, table and tree channels', async () => {
    const ds = make();
    const chans = ds.getChannels();
    const byName = new Map(chans.map((c) => [c.name, c]));
    for (const name of ['temperature', 'level', 'pump_on', 'pressure']) {
      expect(byName.get(name)?.type).toBe('timeseries');
      expect(byName.get(`${name}_histogram`)?.type).toBe('histogram');
    }
    expect(byName.get('temperature')).toMatchObject({ unit: 'degC', signal: 'sine', sampleIntervalMs: 1000 });
    expect(byName.get('devices')?.type).toBe('table');
    expect(byName.get('model')?.type).toBe('tree');
    expect(new Set(chans.map((c) => c.name)).size).toBe(chans.length);
  });
});

describe('signal values', () => {
  const ds = make({
    sampleIntervalMs: 250,
    channels: [
      { name: 's', signal: 'sine', period: 60_000, amplitude: 2, offset: 1, phase: 0.3 },
      { name: 'r', signal: 'ramp', period: 10_000, amplitude: 50, offset: 10 },
      { name: 'q', signal: 'square', period: 4_000, amplitude: 3, offset: -1 },
      { name: 's0', signal: 'sine', period: 1000 },
    ],
  });

  test('sine, ramp and square match their formulas at every sample', async () => {
    const set = (await raw(ds, ['s', 'r', 'q'], 60_000, T));
    expect(set.s.times.length).toBe(240);
    for (let i = 0; i < set.s.times.length; i++) {
      const t = set.s.times[i];
      expect(set.s.values[i]).toBeCloseTo(expectSine(t, 60_000, 2, 1, 0.3), 6);
      expect(set.r.values[i]).toBeCloseTo(expectRamp(t, 10_000, 50, 10), 9);
      expect(set.q.values[i]).toBe(expectSquare(t, 4_000, 3, -1));
    }
  });

  test('known points of each cycle', async () => {
    const set = (await raw(ds, ['r', 'q', 's0'], 10_000, T + 10_000));
    const at = (name: string, t: number) => set[name].values[set[name].times.indexOf(t)];
    // T is a multiple of every period: cycle starts there.
    expect(at('r', T)).toBe(10);
    expect(at('r', T + 5_000)).toBeCloseTo(35, 12);
    expect(at('r', T + 9_750)).toBeCloseTo(10 + 50 * 0.975, 12);
    expect(at('q', T)).toBe(2);
    expect(at('q', T + 1_750)).toBe(2);
    expect(at('q', T + 2_000)).toBe(-1);
    expect(at('q', T + 3_750)).toBe(-1);
    expect(at('s0', T + 250)).toBeCloseTo(1, 12); // a quarter period: sin(π/2)
    expect(at('s0', T + 750)).toBeCloseTo(-1, 12);
  });

  test('a sample has one value whichever window asks for it', async () => {
    const a = (await raw(ds, ['s', 'r'], 20_000, T + 10_000));
    const b = (await raw(ds, ['r', 's'], 30_000, T + 30_000));
    const t = T + 5_000;
    for (const name of ['s', 'r']) {
      expect(a[name].values[a[name].times.indexOf(t)]).toBe(b[name].values[b[name].times.indexOf(t)]);
    }
  });

  test('noise is deterministic, bounded and depends on the seed', async () => {
    const spec = { name: 'n', signal: 'sine' as const, period: 60_000, amplitude: 5, offset: 20, noise: 0.5 };
    const clean = (await raw(make({ channels: [{ ...spec, noise: 0 }] }), ['n'], 600_000, T)).n.values;
    const a = (await raw(make({ channels: [{ ...spec, seed: 7 }] }), ['n'], 600_000, T)).n.values;
    const a2 = (await raw(make({ channels: [{ ...spec, seed: 7 }] }), ['n'], 600_000, T)).n.values;
    const b = (await raw(make({ channels: [{ ...spec, seed: 8 }] }), ['n'], 600_000, T)).n.values;
    expect(Array.from(a2)).toEqual(Array.from(a));
    expect(Array.from(b)).not.toEqual(Array.from(a));
    let sum = 0;
    const distinct = new Set<number>();
    for (let i = 0; i < a.length; i++) {
      const d = a[i] - clean[i];
      expect(Math.abs(d)).toBeLessThanOrEqual(0.5 + 1e-12);
      sum += d;
      distinct.add(Math.round(d * 1e6));
    }
    expect(Math.abs(sum / a.length)).toBeLessThan(0.05); // centred on the clean signal
    expect(distinct.size).toBeGreaterThan(a.length * 0.9);
  });

  test('randomWalk is bounded, wanders, moves smoothly and follows its seed', async () => {
    const spec = { name: 'w', signal: 'randomWalk' as const, period: 900_000, amplitude: 2, offset: 10 };
    const day = 86_400_000;
    const mk = async (seed: number) => (await raw(make({ sampleIntervalMs: 10_000, channels: [{ ...spec, seed }] }), ['w'], day, T)).w.values;
    const v = await mk(1);
    let min = Infinity;
    let max = -Infinity;
    let mean = 0;
    let maxStep = 0;
    for (let i = 0; i < v.length; i++) {
      min = Math.min(min, v[i]);
      max = Math.max(max, v[i]);
      mean += v[i] / v.length;
      if (i > 0) maxStep = Math.max(maxStep, Math.abs(v[i] - v[i - 1]));
    }
    expect(min).toBeGreaterThanOrEqual(8);
    expect(max).toBeLessThanOrEqual(12);
    expect(max - min).toBeGreaterThan(0.5); // not constant
    expect(Math.abs(mean - 10)).toBeLessThan(0.5); // around offset
    expect(maxStep).toBeLessThan((max - min) / 4); // a walk, not white noise
    expect(Array.from(await mk(1))).toEqual(Array.from(v));
    expect(Array.from(await mk(2))).not.toEqual(Array.from(v));
  });

  test('channels without a seed still differ from each other', async () => {
    const base = { signal: 'randomWalk' as const, period: 60_000 };
    const set = (await raw(make({ channels: [{ name: 'a', ...base }, { name: 'b', ...base }] }), ['a', 'b'], 600_000, T));
    expect(Array.from(set.a.values)).not.toEqual(Array.from(set.b.values));
  });
});

describe('windows', () => {
  const ds = make({ sampleIntervalMs: 100, channels: [{ name: 'r', signal: 'ramp', period: 1000 }] });

  test('samples are the multiples of the interval in [to - length, to)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.double({ min: 0, max: 5_000, noNaN: true }), fc.double({ min: -50_000, max: 50_000, noNaN: true }), async (length, dt) => {
        const to = T + dt;
        const { times, values } = (await raw(ds, ['r'], length, to)).r;
        expect(values.length).toBe(times.length);
        const expected: number[] = [];
        for (let k = Math.ceil((to - length) / 100); k * 100 < to; k++) expected.push(k * 100);
        expect(Array.from(times)).toEqual(expected);
      }),
    );
  });

  test('edges: start included, end excluded', async () => {
    const { times } = (await raw(ds, ['r'], 1000, T)).r;
    expect(times[0]).toBe(T - 1000);
    expect(times[times.length - 1]).toBe(T - 100);
    expect(times.length).toBe(10);
    expect((await raw(ds, ['r'], 0, T)).r.times.length).toBe(0);
  });

  test('nothing at or after now', async () => {
    const fast = make({ sampleIntervalMs: 20, channels: [{ name: 'r', signal: 'ramp', period: 1000 }] });
    const before = Date.now();
    const { times } = (await raw(fast, ['r'], 70_000, before + 60_000)).r;
    const after = Date.now();
    expect(times[times.length - 1]).toBeLessThan(after);
    expect(times[times.length - 1]).toBeGreaterThanOrEqual(Math.ceil(before / 20) * 20 - 20);
    // A window wholly in the future is empty, raw or resampled.
    expect((await raw(fast, ['r'], 1000, after + 60_000)).r.times.length).toBe(0);
    const res = (await fast.getTimeseries(['r'], 1000, after + 60_000, 100, 'mean')) as Resampled;
    expect(res.times.length).toBe(0);
    expect(res.names).toEqual(['r']);
  });

  test('too many raw samples is LIMIT_EXCEEDED, resampled or not', async () => {
    const ms = make({ sampleIntervalMs: 1, channels: [{ name: 'r', signal: 'ramp' }] });
    const length = MAX_SAMPLES_PER_CHANNEL + 1;
    for (const resampling of [undefined, 60_000]) {
      const err = await caught(() => ms.getTimeseries(['r'], length, T, resampling, 'mean'));
      expect(err.code).toBe('LIMIT_EXCEEDED');
      expect(err.message).toContain(String(MAX_SAMPLES_PER_CHANNEL));
    }
    const five = make({ sampleIntervalMs: 1, channels: ['a', 'b', 'c', 'd', 'e'].map((name) => ({ name, signal: 'sine' as const })) });
    const err = await caught(() => five.getTimeseries(['a', 'b', 'c', 'd', 'e'], 4_500_000, T));
    expect(err.code).toBe('LIMIT_EXCEEDED');
    expect(err.field).toBe('channels');
  });

  test('bad requests name the field', async () => {
    expect(await caught(() => ds.getTimeseries(['nope'], 1000, T))).toMatchObject({ code: 'UNKNOWN_CHANNEL', field: 'channels' });
    expect((await caught(() => ds.getTimeseries(['devices'], 1000, T))).message).toContain('getObject');
    expect(await caught(() => ds.getTimeseries(['r'], -1, T))).toMatchObject({ code: 'BAD_REQUEST', field: 'length' });
    expect(await caught(() => ds.getTimeseries(['r'], 1000, NaN))).toMatchObject({ code: 'BAD_REQUEST', field: 'to' });
    expect(await caught(() => ds.getTimeseries(['r'], 1000, T, 100, 'avg' as never))).toMatchObject({ code: 'BAD_REQUEST', field: 'reducer' });
  });
});

describe('resampling', () => {
  const ds = make({ sampleIntervalMs: 1000, channels: [{ name: 'r', signal: 'ramp', period: 60_000, amplitude: 60 }, { name: 'q', signal: 'square', period: 20_000 }] });

  test('mean of a ramp over a bucket is the arithmetic mean of its samples', async () => {
    const res = (await ds.getTimeseries(['r'], 60_000, T, 10_000, 'mean')) as Resampled;
    expect(res.interval).toBe(10_000);
    expect(Array.from(res.times)).toEqual([0, 1, 2, 3, 4, 5].map((k) => T - 60_000 + k * 10_000));
    // Samples in bucket k are 10k, 10k+1, …, 10k+9: the mean is 10k + 4.5.
    res.columns[0].forEach((v, k) => expect(v).toBeCloseTo(10 * k + 4.5, 9));
  });

  test('other reducers, and the same answer as DataSource.resample of the raw samples', async () => {
    const count = (await ds.getTimeseries(['r', 'q'], 60_000, T, 10_000, 'count')) as Resampled;
    expect(count.names).toEqual(['r', 'q']);
    expect(Array.from(count.columns[0])).toEqual([10, 10, 10, 10, 10, 10]);
    const max = (await ds.getTimeseries(['r'], 60_000, T, 10_000, 'max')) as Resampled;
    expect(Array.from(max.columns[0])).toEqual([9, 19, 29, 39, 49, 59]);
    const set = (await raw(ds, ['r', 'q'], 3_600_000, T));
    for (const reducer of ['mean', 'median', 'std', 'first', 'last'] as const) {
      const mine = (await ds.getTimeseries(['r', 'q'], 3_600_000, T, 45_000, reducer)) as Resampled;
      expect(mine).toEqual(DataSource.resample(set, 3_600_000, T, 45_000, reducer));
    }
  });
});

describe('objects', () => {
  const ds = make({
    sampleIntervalMs: 1000,
    channels: [
      { name: 'r', signal: 'ramp', period: 100_000, amplitude: 100, unit: '%' },
      { name: 'flat', signal: 'sine', amplitude: 0, offset: 3 },
      { name: 'w', signal: 'randomWalk', seed: 3 },
      { name: 's', signal: 'sine' },
    ],
  });

  test('histogram: 20 equal bins from min to max, counts sum to the samples', async () => {
    const { r_histogram: h } = (await ds.getObject(['r_histogram'], 100_000, T)) as { r_histogram: HistogramObject };
    expect(h.type).toBe('histogram');
    expect(h.edges.length).toBe(21);
    expect(h.counts.length).toBe(20);
    expect(h.edges[0]).toBe(0);
    expect(h.edges[20]).toBe(99);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(100);
    // A ramp is uniform: every bin holds 5 ± 1 of the 100 samples.
    for (const c of h.counts) expect(Math.abs(c - 5)).toBeLessThanOrEqual(1);
    expect(h.time).toBe(T - 1000);
  });

  test('histogram of a constant and of an empty window', async () => {
    const { flat_histogram: h } = (await ds.getObject(['flat_histogram'], 50_000, T)) as { flat_histogram: HistogramObject };
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(50);
    expect(h.edges[0]).toBeLessThan(3);
    expect(h.edges[20]).toBeGreaterThan(3);
    const { w_histogram: e } = (await ds.getObject(['w_histogram'], 0, T)) as { w_histogram: HistogramObject };
    expect(e.counts).toEqual([]);
  });

  test('devices table: one row per timeseries channel with its last value', async () => {
    const { devices } = (await ds.getObject(['devices'], 60_000, T + 500)) as { devices: TableObject };
    expect(devices.type).toBe('table');
    expect(devices.columns.map((c) => c.name)).toEqual(['name', 'signal', 'unit', 'value', 'time']);
    expect(devices.rows.map((r) => r[0])).toEqual(['r', 'flat', 'w', 's']);
    const set = (await raw(ds, ['r', 'flat', 'w', 's'], 60_000, T + 500));
    for (const row of devices.rows) {
      const s = set[row[0] as string];
      expect(row[3]).toBe(s.values[s.values.length - 1]);
      expect(row[4]).toBe(T);
    }
    expect(devices.rows[0].slice(0, 3)).toEqual(['r', 'ramp', '%']);
  });

  test('model tree: simulator → signal kind → channel', async () => {
    const { model } = (await ds.getObject(['model'], 60_000, T)) as { model: TreeObject };
    expect(model.type).toBe('tree');
    expect(model.root.name).toBe('simulator');
    const kinds = model.root.children!;
    expect(kinds.map((k) => k.name)).toEqual(['sine', 'ramp', 'randomWalk']);
    expect(kinds[0].children!.map((c) => c.name)).toEqual(['flat', 's']);
    expect(kinds[0].children![0].value).toBe(3);
    expect(kinds[1].children).toEqual([{ name: 'r', value: 39 }]); // (T - 1000) mod 100 s = 39 s
  });

  test('several objects at once; unknown ones name the field', async () => {
    const set = await ds.getObject(['model', 'devices', 's_histogram'], 60_000, T);
    expect(Object.keys(set).sort()).toEqual(['devices', 'model', 's_histogram']);
    expect(await caught(() => ds.getObject(['nope_histogram'], 1000, T))).toMatchObject({ code: 'UNKNOWN_CHANNEL', field: 'channels' });
    expect((await caught(() => ds.getObject(['r'], 1000, T))).message).toContain('getTimeseries');
  });
});

describe('SVG sparkline blob', () => {
  const name = `a<b>&"c'`;
  const ds = make({ sampleIntervalMs: 1000, channels: [{ name, signal: 'sine', unit: 'm³/h <x>' }, { name: 'r', signal: 'ramp' }] });

  function blob(channel: string, params: Record<string, unknown>): { mime: string; svg: string } {
    let svg = '';
    const mime = ds.getBlob(channel, params, { write: (c) => (svg += typeof c === 'string' ? c : Buffer.from(c).toString('utf8')) }) as string;
    return { mime, svg };
  }

  function points(svg: string): string[] {
    const m = /<polyline [^>]*points="([^"]*)"/.exec(svg);
    return m ? m[1].split(' ') : [];
  }

  test('one point per sample, escaped text, well-formed enough', async () => {
    const { mime, svg } = blob(name, { lengthMs: 20_000, to: T, width: 200, height: 50 });
    expect(mime).toBe('image/svg+xml');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.endsWith('</svg>')).toBe(true);
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    expect(svg).toContain('width="200" height="50"');
    const pts = points(svg);
    expect(pts.length).toBe(20);
    for (const p of pts) {
      const [x, y] = p.split(',').map(Number);
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(200);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThanOrEqual(50);
    }
    expect(svg).toContain('<title>a&lt;b&gt;&amp;&quot;c&#39; (m³/h &lt;x&gt;)</title>');
    // No raw user text: every "<" opens a tag and every "&" starts an entity.
    expect(svg).not.toContain('<b>');
    expect(svg).not.toMatch(/<(?![a-z/])/);
    expect(svg).not.toMatch(/&(?!(amp|lt|gt|quot|#39);)/);
    // Tags balance.
    const open = (svg.match(/<[a-z]+[^>]*[^/]>/g) ?? []).length;
    const close = (svg.match(/<\/[a-z]+>/g) ?? []).length;
    expect(open).toBe(close);
  });

  test('long windows are thinned to about one point per pixel', async () => {
    const pts = points(blob('r', { lengthMs: 3_600_000, to: T, width: 100 }).svg);
    expect(pts.length).toBeGreaterThanOrEqual(90);
    expect(pts.length).toBeLessThanOrEqual(101);
  });

  test('defaults, numeric strings, and a window in the future', async () => {
    expect(points(blob('r', {}).svg).length).toBeGreaterThan(0);
    expect(blob('r', { width: '120', height: '40', lengthMs: '60000', to: String(T) }).svg).toContain('width="120" height="40"');
    expect(blob('r', { to: Date.now() + 10 * 3_600_000 }).svg).toContain('no data');
  });

  test('bad params and channels', async () => {
    expect(await caught(() => blob('r', { width: 5 }))).toMatchObject({ code: 'BAD_REQUEST', field: 'params.width' });
    expect(await caught(() => blob('r', { height: 'tall' }))).toMatchObject({ code: 'BAD_REQUEST', field: 'params.height' });
    expect(await caught(() => blob('r', { lengthMs: 0 }))).toMatchObject({ code: 'BAD_REQUEST', field: 'params.lengthMs' });
    expect(await caught(() => blob('nope', {}))).toMatchObject({ code: 'UNKNOWN_CHANNEL', field: 'channel' });
  });

  test('escapeXml also replaces characters XML cannot carry', async () => {
    expect(escapeXml('a\u0001b\uD800c')).toBe('a\uFFFDb\uFFFDc');
    expect(escapeXml('😀')).toBe('😀');
  });
});

describe('live push', () => {
  const I = 20;
  const spec = { sampleIntervalMs: I, channels: [{ name: 'r', signal: 'ramp' as const, period: 1000, amplitude: 10 }, { name: 'w', signal: 'randomWalk' as const, period: 500, noise: 0.1 }] };

  interface Received {
    at: number;
    batch: SeriesSet;
  }

  function collect(ds: SimulatorDataSource, channels: string[], onBatch?: (n: number) => void) {
    const got: Received[] = [];
    const unsubscribe = ds.subscribe(channels, (batch) => {
      got.push({ at: Date.now(), batch });
      onBatch?.(got.length);
    });
    const times = () => got.flatMap((g) => Array.from(g.batch[channels[0]].times));
    return { got, unsubscribe, times };
  }

  /** Checks what arrived: consecutive samples, none before it existed, values as history has them. */
  async function checkStream(ds: SimulatorDataSource, got: Received[], channels: string[], subscribedAt: [number, number]) {
    const all: Record<string, { times: number[]; values: number[] }> = {};
    for (const c of channels) all[c] = { times: [], values: [] };
    for (const { at, batch } of got) {
      expect(Object.keys(batch).sort()).toEqual([...channels].sort());
      const n = batch[channels[0]].times.length;
      for (const c of channels) {
        expect(batch[c].times.length).toBe(n);
        expect(batch[c].values.length).toBe(n);
        for (const t of batch[c].times) expect(t).toBeLessThan(at); // it existed when pushed
        all[c].times.push(...batch[c].times);
        all[c].values.push(...batch[c].values);
      }
    }
    const times = all[channels[0]].times;
    // The first sample is the first that did not exist yet when subscribe() ran.
    expect([Math.ceil(subscribedAt[0] / I) * I, Math.ceil(subscribedAt[1] / I) * I]).toContain(times[0]);
    times.forEach((t, i) => i > 0 && expect(t - times[i - 1]).toBe(I));
    const history = await raw(ds, channels, times[times.length - 1] + I - times[0], times[times.length - 1] + I);
    for (const c of channels) {
      expect(all[c].times).toEqual(Array.from(history[c].times));
      expect(all[c].values).toEqual(Array.from(history[c].values));
    }
  }

  test('pushes each new sample once, aligned to the interval, until unsubscribed', async () => {
    const ds = make(spec);
    const before = Date.now();
    const { got, unsubscribe, times } = collect(ds, ['r', 'w']);
    const subscribedAt: [number, number] = [before, Date.now()];
    expect(ds.subscriptionCount).toBe(1);
    await waitFor(() => times().length >= 10);
    unsubscribe();
    unsubscribe(); // idempotent
    expect(ds.subscriptionCount).toBe(0);
    const n = got.length;
    await checkStream(ds, got, ['r', 'w'], subscribedAt);
    await sleep(5 * I);
    expect(got.length).toBe(n);
  });

  test('a timer that fell behind pushes every missed sample', async () => {
    const ds = make(spec);
    const before = Date.now();
    const { got, unsubscribe, times } = collect(ds, ['r'], (n) => {
      if (n === 1) {
        // Block the event loop for several intervals.
        const until = Date.now() + 8 * I;
        while (Date.now() < until) {
          /* busy */
        }
      }
    });
    const subscribedAt: [number, number] = [before, Date.now()];
    await waitFor(() => times().length >= 15);
    unsubscribe();
    await checkStream(ds, got, ['r'], subscribedAt);
    expect(got.some((g) => g.batch.r.times.length >= 5)).toBe(true);
  });

  test('a throwing listener keeps its stream', async () => {
    const ds = make(spec);
    let calls = 0;
    const unsubscribe = ds.subscribe(['r'], () => {
      calls++;
      throw new Error('boom');
    });
    await waitFor(() => calls >= 3);
    unsubscribe();
  });

  test('finalize stops every subscription', async () => {
    const ds = make(spec);
    const a = collect(ds, ['r']);
    const b = collect(ds, ['w']);
    expect(ds.subscriptionCount).toBe(2);
    await waitFor(() => a.got.length >= 2 && b.got.length >= 2);
    ds.finalize();
    expect(ds.subscriptionCount).toBe(0);
    const na = a.got.length;
    const nb = b.got.length;
    await sleep(5 * I);
    expect(a.got.length).toBe(na);
    expect(b.got.length).toBe(nb);
  });

  test('unknown channels are refused up front', async () => {
    const ds = make(spec);
    expect(await caught(() => ds.subscribe(['nope'], () => {}))).toMatchObject({ code: 'UNKNOWN_CHANNEL', field: 'channels' });
    expect(ds.subscriptionCount).toBe(0);
  });
});
