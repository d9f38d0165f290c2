/**
 * The store contract, run against both implementations: the memory store and the Redis store
 * on a real redis-server. Whatever one does, the other must do the same.
 */
import fc from 'fast-check';
import { resample } from '../../src/sidecar/timeseries/resample';
import type { Reducer } from '../../src/sidecar/registry/types';
import type { SampleColumns } from '../../src/sidecar/core/samples';
import type { ModelEvent, Store } from '../../src/sidecar/store';
import { batchOf, cols, eventually, makeBackend, plain, sleep, type Backend } from './backends';

/** An hour ago, on a minute: well inside the default retention, clear of "now". */
const T0 = Math.floor((Date.now() - 3_600_000) / 60_000) * 60_000;

describe.each(['memory', 'redis'] as const)('%s store', (name) => {
  let backend: Backend;
  let store: Store;

  beforeAll(async () => {
    backend = await makeBackend(name);
  });
  afterAll(async () => {
    await backend?.stop();
  });
  beforeEach(async () => {
    store = await backend.make();
  });
  afterEach(async () => {
    await backend.closeAll();
  });

  describe('samples', () => {
    it('appends batches of several series and reads ranges back sorted', async () => {
      await store.append(batchOf({ a: cols([T0, T0 + 1000], [1, 2], [0, 1]), b: cols([T0 + 500], [10]) }));
      await store.append(batchOf({ a: cols([T0 + 2000, T0 + 3000], [3, 4]) }));
      expect(await store.flush()).toBe(true);
      expect(plain(await store.range('a', T0, T0 + 10_000))).toEqual({
        times: [T0, T0 + 1000, T0 + 2000, T0 + 3000],
        values: [1, 2, 3, 4],
        qualities: [0, 1, 0, 0],
      });
      expect(plain(await store.range('b', T0, T0 + 10_000)).values).toEqual([10]);
      const many = await store.rangeMany(['a', 'b', 'nothing'], T0 + 500, T0 + 2500);
      expect([...many.keys()]).toEqual(['a', 'b', 'nothing']);
      expect(plain(many.get('a')!).times).toEqual([T0 + 1000, T0 + 2000]);
      expect(plain(many.get('b')!).times).toEqual([T0 + 500]);
      expect(many.get('nothing')!.times.length).toBe(0);
    });

    it('reads the window [from, to): from included, to excluded', async () => {
      await store.append(batchOf({ s: cols([T0, T0 + 1, T0 + 999, T0 + 1000], [1, 2, 3, 4]) }));
      await store.flush();
      expect(plain(await store.range('s', T0, T0 + 1000)).values).toEqual([1, 2, 3]);
      expect(plain(await store.range('s', T0 + 1, T0 + 1001)).values).toEqual([2, 3, 4]);
      expect(plain(await store.range('s', T0 + 1000, T0 + 1000)).values).toEqual([]);
      expect(plain(await store.range('s', T0 + 2000, T0)).values).toEqual([]);
    });

    it('sorts out-of-order appends, keeping arrival order for equal times, across chunks', async () => {
      await store.append(batchOf({ s: cols([T0 + 30_000, T0 + 10_000], [3, 1]) }));
      await store.append(batchOf({ s: cols([T0 + 20_000, T0 + 10_000, T0 + 40_000], [2, 1.5, 4]) }));
      await store.append(batchOf({ s: cols([T0 + 5_000], [0]) }));
      await store.flush();
      const r = plain(await store.range('s', T0, T0 + 60_000));
      expect(r.times).toEqual([T0 + 5000, T0 + 10_000, T0 + 10_000, T0 + 20_000, T0 + 30_000, T0 + 40_000]);
      expect(r.values).toEqual([0, 1, 1.5, 2, 3, 4]);
    });

    it('keeps NaN values (no reading) and drops samples whose time is NaN', async () => {
      await store.append(batchOf({ s: cols([T0, NaN, T0 + 2], [NaN, 5, 7], [3, 0, 0]) }));
      await store.flush();
      const r = plain(await store.range('s', T0, T0 + 10));
      expect(r.times).toEqual([T0, T0 + 2]);
      expect(r.values).toEqual([NaN, 7]);
      expect(r.qualities).toEqual([3, 0]);
    });

    it('does not keep the caller’s arrays: reusing them after append changes nothing', async () => {
      const c = cols([T0, T0 + 1], [1, 2]);
      const p = store.append(batchOf({ s: c }));
      c.values[0] = 99;
      c.times[1] = T0 + 5;
      await p;
      await store.flush();
      expect(plain(await store.range('s', T0, T0 + 10)).values).toEqual([1, 2]);
    });

    it('latest: the newest sample per series, moved by append and by setLatest, never backwards', async () => {
      await store.append(batchOf({ a: cols([T0 + 2000, T0 + 1000], [2, 1], [0, 1]), b: cols([T0], [7], [2]) }));
      await store.flush();
      expect(Object.fromEntries(await store.latest(['a', 'b', 'c']))).toEqual({
        a: { time: T0 + 2000, value: 2, quality: 0 },
        b: { time: T0, value: 7, quality: 2 },
      });
      // A deadband suppressed storage of T0+3000, but the latest value still moves.
      await store.setLatest(batchOf({ a: cols([T0 + 3000], [2.01]) }));
      await store.flush();
      expect((await store.latest(['a'])).get('a')).toEqual({ time: T0 + 3000, value: 2.01, quality: 0 });
      expect(plain(await store.range('a', T0, T0 + 10_000)).times).toEqual([T0 + 1000, T0 + 2000]);
      // Older data (late append or setLatest) never moves it back.
      await store.append(batchOf({ a: cols([T0 + 2500], [9]) }));
      await store.setLatest(batchOf({ a: cols([T0 + 100], [8]) }));
      await store.flush();
      expect((await store.latest(['a'])).get('a')!.time).toBe(T0 + 3000);
      // Equal time: the later arrival wins.
      await store.append(batchOf({ a: cols([T0 + 3000], [5]) }));
      await store.flush();
      expect((await store.latest(['a'])).get('a')!.value).toBe(5);
    });

    it('retention: samples older than retentionMs are not read back', async () => {
      store = await backend.make({ retentionMs: 2000 });
      const now = Date.now();
      await store.append(batchOf({ s: cols([now - 60_000, now - 5000, now - 1800], [1, 2, 3]) }));
      await store.flush();
      expect(plain(await store.range('s', now - 120_000, now + 1000)).values).toEqual([3]);
      await sleep(Math.max(0, now + 250 - Date.now()));
      expect(plain(await store.range('s', now - 120_000, now + 1000)).values).toEqual([]);
      // The latest value is always kept.
      expect((await store.latest(['s'])).get('s')!.value).toBe(3);
    });

    it('rejects bad input with a clear error naming the field', async () => {
      await expect(store.range('', 0, 1)).rejects.toMatchObject({ code: 'BAD_REQUEST', field: 'series' });
      await expect(store.resample(['a'], 0, T0, 1000, 'mean')).rejects.toMatchObject({ field: 'length' });
      await expect(store.resample(['a'], 1000, T0, 1000, 'nope' as Reducer)).rejects.toMatchObject({ field: 'reducer' });
      await expect(store.resample(['a'], 60_000, T0, 1500, 'mean', { source: 'rollup' })).rejects.toMatchObject({ field: 'resampling' });
    });

    it('append ignores malformed series instead of throwing', async () => {
      const bad = { times: new Float64Array(2), values: new Float64Array(1), qualities: new Uint8Array(2) };
      await expect(
        store.append(
          new Map([
            ['bad', bad],
            ['ok', cols([T0], [1])],
          ]),
        ),
      ).resolves.toBeUndefined();
      await store.flush();
      expect(plain(await store.range('ok', T0, T0 + 1)).values).toEqual([1]);
      expect((await store.range('bad', 0, Infinity)).times.length).toBe(0);
    });
  });

  describe('resample', () => {
    it('uses rollups for multiples of the resolution and reducers other than median', () => {
      expect(store.rollupResolutionMs).toBe(1000);
      expect(store.canUseRollups(60_000, 'mean')).toBe(true);
      expect(store.canUseRollups(1000, 'std')).toBe(true);
      expect(store.canUseRollups(1500, 'mean')).toBe(false);
      expect(store.canUseRollups(500, 'mean')).toBe(false);
      expect(store.canUseRollups(60_000, 'median')).toBe(false);
    });

    it('answers as the registry resampler does, from rollups and from raw samples', async () => {
      const times: number[] = [];
      const values: number[] = [];
      for (let i = 0; i < 600; i++) {
        times.push(T0 + i * 250 + (i % 7));
        values.push(i % 13 === 0 ? NaN : Math.sin(i / 10) * 50 + i / 3);
      }
      await store.append(batchOf({ s: cols(times, values) }));
      await store.flush();
      const to = T0 + 140_321;
      const length = 130_000;
      const expected = resample({ s: { times: Float64Array.from(times), values: Float64Array.from(values) } }, length, to, 5000, 'mean');
      const viaRollups = await store.resample(['s', 'empty'], length, to, 5000, 'mean', { source: 'rollup' });
      expect([...viaRollups.times]).toEqual([...expected.times]);
      expect(viaRollups.names).toEqual(['s', 'empty']);
      expect(viaRollups.interval).toBe(5000);
      viaRollups.columns[0].forEach((v, k) => expect(v).toBeCloseTo(expected.columns[0][k], 9));
      expect(viaRollups.columns[1].every((v) => Number.isNaN(v))).toBe(true);
      const median = await store.resample(['s'], length, to, 5000, 'median');
      const expectedMedian = resample(
        { s: { times: Float64Array.from(times), values: Float64Array.from(values) } },
        length,
        to,
        5000,
        'median',
      );
      expect([...median.columns[0]]).toEqual([...expectedMedian.columns[0]]);
      const counts = await store.resample(['empty'], length, to, 5000, 'count');
      expect(counts.columns[0].every((v) => v === 0)).toBe(true);
    });

    it('says why buckets are empty when the window reaches past what is kept', async () => {
      const short = await backend.make({ retentionMs: 60_000, rollup: { resolutionMs: 1000, retentionMs: 120_000 } });
      const now = Date.now();
      const to = Math.floor(now / 1000) * 1000;
      // Inside both retentions: nothing to say; nor for a window of just the retention.
      expect((await short.resample(['s'], 30_000, to, 5000, 'median')).notices).toBeUndefined();
      expect((await short.resample(['s'], 60_000, Date.now() - 1, 5000, 'median')).notices).toBeUndefined();
      expect((await short.resample(['s'], 30_000, to, 5000, 'mean')).notices).toBeUndefined();
      // Median needs raw samples, kept 1 min: a 5 min window is mostly empty, and the user is told why.
      const median = await short.resample(['s'], 300_000, to, 5000, 'median');
      expect(median.notices).toEqual([
        expect.stringMatching(/^raw samples are kept back to \S+Z: earlier buckets are empty \(median needs every sample/),
      ]);
      // So does an interval rollups cannot answer.
      const odd = await short.resample(['s'], 300_000, to, 1500, 'mean');
      expect(odd.notices).toEqual([expect.stringContaining('rollups answer only intervals that are multiples of 1000 ms')]);
      // Mean at a multiple of the resolution comes from rollups, kept 2 min.
      const mean = await short.resample(['s'], 300_000, to, 5000, 'mean');
      expect(mean.notices).toEqual([expect.stringMatching(/^rollups are kept back to \S+Z: earlier buckets are empty$/)]);
      const cutoff = Date.parse(/kept back to (\S+Z)/.exec(mean.notices![0])![1]);
      expect(cutoff).toBeGreaterThanOrEqual(now - 120_000 - 1000);
      expect(cutoff).toBeLessThanOrEqual(Date.now() - 120_000 + 1000);
    });

    it('property: the rollup answer equals the raw resampler answer on random data', async () => {
      const reducers: Reducer[] = ['count', 'sum', 'mean', 'std', 'min', 'max', 'first', 'last'];
      let run = 0;
      let nonTrivial = 0;
      const sample = fc.record({
        // Some times from a small set, so equal times (first/last ties) and shared slots are common.
        t: fc.oneof(fc.integer({ min: 0, max: 180_000 }), fc.constantFrom(0, 999, 1000, 1500, 59_999, 60_000, 61_000)),
        v: fc.oneof(fc.constant(NaN), fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.integer({ min: -5, max: 5 })),
      });
      await fc.assert(
        fc.asyncProperty(
          fc.array(sample, { minLength: 0, maxLength: 200 }),
          fc.integer({ min: 1, max: 4 }),
          fc.constantFrom(...reducers),
          fc.constantFrom(1000, 2000, 5000, 15_000, 60_000),
          fc.integer({ min: 1, max: 200_000 }),
          fc.integer({ min: 20_000, max: 200_000 }),
          async (samples, nBatches, reducer, interval, length, toOffset) => {
            const id = `p${run++}`;
            // Split into batches appended in random order: out-of-order data and repeated slots.
            const parts: SampleColumns[] = [];
            const per = Math.ceil(samples.length / nBatches) || 1;
            for (let b = 0; b < samples.length; b += per) {
              const chunk = samples.slice(b, b + per);
              parts.push(
                cols(
                  chunk.map((s) => T0 + s.t),
                  chunk.map((s) => s.v),
                ),
              );
            }
            for (const p of parts) await store.append(batchOf({ [id]: p }));
            await store.flush();
            const to = T0 + toOffset;
            const raw = await store.resample([id], length, to, interval, reducer, { source: 'raw' });
            const rolled = await store.resample([id], length, to, interval, reducer, { source: 'rollup' });
            expect([...rolled.times]).toEqual([...raw.times]);
            const a = rolled.columns[0];
            const e = raw.columns[0];
            if (e.some((v) => v === v && v !== 0)) nonTrivial++;
            for (let k = 0; k < e.length; k++) {
              if (reducer === 'sum' || reducer === 'mean' || reducer === 'std') {
                if (Number.isNaN(e[k])) expect(a[k]).toBeNaN();
                else expect(Math.abs(a[k] - e[k])).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(e[k])) + 1e-6);
              } else expect(a[k]).toBe(e[k]);
            }
          },
        ),
        { numRuns: name === 'redis' ? 60 : 100 },
      );
      expect(nonTrivial).toBeGreaterThan(15);
    });

    it('falls back to raw samples when the window holds no whole slot', async () => {
      await store.append(batchOf({ s: cols([T0 + 100, T0 + 400, T0 + 700], [1, 2, 3]) }));
      await store.flush();
      const r = await store.resample(['s'], 500, T0 + 800, 1000, 'sum');
      expect([...r.columns[0]]).toEqual([5]);
    });
  });

  describe('bus', () => {
    it('delivers published sample batches as columns to subscribers, until they unsubscribe', async () => {
      const got: Array<Map<string, SampleColumns>> = [];
      const off = store.subscribeSamples((b) => got.push(b));
      const batch = batchOf({ a: cols([T0, T0 + 1], [1.5, NaN], [0, 3]), 'b/ü': cols([T0], [2]) });
      store.publishSamples(batch);
      await eventually(() => got.length >= 1);
      expect(plain(got[0].get('a')!)).toEqual({ times: [T0, T0 + 1], values: [1.5, NaN], qualities: [0, 3] });
      expect(plain(got[0].get('b/ü')!).values).toEqual([2]);
      off();
      store.publishSamples(batch);
      await sleep(50);
      expect(got.length).toBe(1);
    });

    it('delivers model events, and writeObjects publishes them when asked', async () => {
      const got: ModelEvent[][] = [];
      store.subscribeModelEvents((e) => got.push(e));
      store.publishModelEvents([{ kind: 'device', op: 'put', id: 'd1' }]);
      await store.writeObjects([{ op: 'put', kind: 'term', id: 't1', value: { device: 'd1' } }], { publish: true });
      await store.writeObjects([{ op: 'put', kind: 'term', id: 't2', value: {} }]);
      await eventually(() => got.length >= 2);
      await sleep(30);
      expect(got).toEqual([[{ kind: 'device', op: 'put', id: 'd1' }], [{ kind: 'term', op: 'put', id: 't1' }]]);
    });

    it('keeps delivering when a listener throws', async () => {
      const got: number[] = [];
      store.subscribeSamples(() => {
        throw new Error('listener bug');
      });
      store.subscribeSamples((b) => got.push(b.size));
      store.publishSamples(batchOf({ a: cols([T0], [1]) }));
      await eventually(() => got.length === 1);
    });
  });

  describe('model', () => {
    it('puts, gets, lists and deletes JSON objects by kind', async () => {
      await store.putObject('device', 'd1', { name: 'PLC 1', port: 502 });
      await store.putObject('device', 'd2', { name: 'PLC 2' });
      await store.putObject('term', 't1', { device: 'd1' });
      expect(await store.getObject('device', 'd1')).toEqual({ name: 'PLC 1', port: 502 });
      expect(await store.getObject('device', 'nope')).toBeUndefined();
      expect([...(await store.listObjects('device')).keys()].sort()).toEqual(['d1', 'd2']);
      expect((await store.listObjects('item')).size).toBe(0);
      const res = await store.deleteObjects('device', ['d2', 'd3']);
      expect(res).toMatchObject({ ok: true, deleted: 1 });
      expect([...(await store.listObjects('device')).keys()]).toEqual(['d1']);
    });

    it('writeObjects deletes a device with its terms and links in one step, all or nothing', async () => {
      await store.writeObjects([
        { op: 'put', kind: 'device', id: 'd1', value: {} },
        { op: 'put', kind: 'term', id: 't1', value: { device: 'd1' } },
        { op: 'put', kind: 'term', id: 't2', value: { device: 'd1' } },
        { op: 'put', kind: 'item', id: 'i1', value: {} },
        { op: 'put', kind: 'link', id: 't1:i1', value: {} },
      ]);
      // One invalid op: nothing at all is written.
      await expect(
        store.writeObjects([
          { op: 'delete', kind: 'device', id: 'd1' },
          { op: 'delete', kind: 'bogus' as 'device', id: 'x' },
        ]),
      ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      expect(await store.getObject('device', 'd1')).toEqual({});
      const res = await store.writeObjects([
        { op: 'delete', kind: 'device', id: 'd1' },
        { op: 'delete', kind: 'term', id: 't1' },
        { op: 'delete', kind: 'term', id: 't2' },
        { op: 'delete', kind: 'link', id: 't1:i1' },
      ]);
      expect(res).toMatchObject({ ok: true, deleted: 4 });
      expect((await store.listObjects('term')).size).toBe(0);
      expect((await store.listObjects('link')).size).toBe(0);
      expect((await store.listObjects('item')).size).toBe(1);
    });

    it('ifRevision: a write based on a stale read changes nothing', async () => {
      const r0 = await store.modelRevision();
      const w1 = await store.putObject('item', 'i1', { v: 1 }, { ifRevision: r0 });
      expect(w1).toMatchObject({ ok: true, revision: r0 + 1 });
      const w2 = await store.putObject('item', 'i1', { v: 2 }, { ifRevision: r0 });
      expect(w2).toMatchObject({ ok: false, revision: r0 + 1 });
      expect(await store.getObject('item', 'i1')).toEqual({ v: 1 });
      expect(await store.modelRevision()).toBe(r0 + 1);
    });

    it('another client of the same store sees the model and its revision', async () => {
      const other = await backend.make({}, store);
      if (backend.name === 'memory') return; // one process: a memory store is not shared
      await store.writeObjects([
        { op: 'put', kind: 'device', id: 'd', value: { n: 1 } },
        { op: 'put', kind: 'term', id: 't', value: { device: 'd' } },
      ]);
      expect(await other.getObject('device', 'd')).toEqual({ n: 1 });
      expect(await other.modelRevision()).toBe(await store.modelRevision());
    });
  });

  describe('leases', () => {
    it('one owner at a time; renewal and release by the owner only', async () => {
      expect(await store.acquireLease('device:d1', 'A', 5000)).toBe(true);
      expect(await store.acquireLease('device:d1', 'B', 5000)).toBe(false);
      expect(await store.leaseOwner('device:d1')).toBe('A');
      expect(await store.renewLease('device:d1', 'B', 5000)).toBe(false);
      expect(await store.renewLease('device:d1', 'A', 5000)).toBe(true);
      expect(await store.acquireLease('device:d1', 'A', 5000)).toBe(true); // re-acquiring renews
      expect(await store.releaseLease('device:d1', 'B')).toBe(false);
      expect(await store.leaseOwner('device:d1')).toBe('A');
      expect(await store.releaseLease('device:d1', 'A')).toBe(true);
      expect(await store.leaseOwner('device:d1')).toBeUndefined();
      expect(await store.acquireLease('device:d1', 'B', 5000)).toBe(true);
    });

    it('a lease lapses after its ttl unless renewed', async () => {
      expect(await store.acquireLease('L', 'A', 150)).toBe(true);
      await sleep(80);
      expect(await store.renewLease('L', 'A', 150)).toBe(true);
      await sleep(100);
      expect(await store.acquireLease('L', 'B', 150)).toBe(false); // renewed: still A's
      await sleep(200);
      expect(await store.leaseOwner('L')).toBeUndefined();
      expect(await store.renewLease('L', 'A', 150)).toBe(false);
      expect(await store.acquireLease('L', 'B', 150)).toBe(true);
    });

    it('validates its arguments', async () => {
      await expect(store.acquireLease('L', 'A', 0)).rejects.toMatchObject({ field: 'ttlMs' });
      await expect(store.acquireLease('', 'A', 10)).rejects.toMatchObject({ field: 'name' });
    });
  });

  it('health is ok and close() is clean', async () => {
    const h = await store.probe.check();
    expect(h.status).toBe('ok');
    expect(h.details).toMatchObject({ backend: name });
    await store.close();
    expect((await store.probe.check()).status).toBe('down');
  });
});
