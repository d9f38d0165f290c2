/** What only the memory store has: hard memory bounds, and its sorted chunked series. */
import fc from 'fast-check';
import { parseStoreConfig } from '../../src/sidecar/store';
import { MemoryStore } from '../../src/sidecar/store/memory/memory-store';
import { RawSeries } from '../../src/sidecar/store/memory/raw-series';
import { batchOf, cols, plain, silent } from './backends';

const T0 = Date.UTC(2026, 0, 1);

describe('memory store bounds', () => {
  let store: MemoryStore | undefined;
  afterEach(async () => {
    await store?.close();
  });

  it('keeps at most maxSamplesPerSeries samples per series, the newest', async () => {
    const now = T0 + 3_600_000;
    store = new MemoryStore(parseStoreConfig({ memory: { maxSamplesPerSeries: 1000 } }), { logger: silent, now: () => now });
    for (let b = 0; b < 10; b++) {
      const times = Array.from({ length: 500 }, (_, k) => T0 + (b * 500 + k) * 100);
      await store.append(
        batchOf({
          s: cols(
            times,
            times.map((_, k) => b * 500 + k),
          ),
        }),
      );
    }
    expect(store.stats().samples).toBe(1000);
    const r = plain(await store.range('s', 0, Infinity));
    expect(r.values[0]).toBe(4000);
    expect(r.values[999]).toBe(4999);
  });

  it('drops samples past retention on append, and idle series on the sweep; rollups are capped too', async () => {
    let now = T0;
    store = new MemoryStore(parseStoreConfig({ retentionMs: 60_000, memory: { maxRollupSlotsPerSeries: 120 } }), {
      logger: silent,
      now: () => now,
    });
    const hour = Array.from({ length: 3600 }, (_, k) => T0 - 3_600_000 + k * 1000);
    await store.append(
      batchOf({
        s: cols(
          hour,
          hour.map(() => 1),
        ),
        idle: cols([T0 - 1000], [1]),
      }),
    );
    expect(store.stats().samples).toBe(60 + 1); // the last minute of s, and idle's one sample
    for (let h = 0; h < 10; h++) {
      const t = Array.from({ length: 60 }, (_, k) => T0 + h * 3_600_000 + k * 60_000);
      await store.append(
        batchOf({
          r: cols(
            t,
            t.map(() => 1),
          ),
        }),
      );
    }
    // One-minute slots in chunks of 60: 120 slots = the newest 2 hours.
    const r = store.stats().rollupSlots;
    expect(r).toBeLessThanOrEqual(120 + 2 * 60); // r: 2 chunks; s: up to 2 chunks of its hour
    now = T0 + 120_000;
    (store as unknown as { sweep(): void }).sweep();
    expect((await store.range('idle', 0, Infinity)).times.length).toBe(0);
    expect((await store.latest(['idle'])).get('idle')!.value).toBe(1); // latest is kept
  });
});

describe('RawSeries', () => {
  it('property: any sequence of appends reads back as a stable time sort of everything appended', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 30 }), { maxLength: 12 }),
        fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
        (batches, cap) => {
          const s = new RawSeries();
          const all: Array<{ t: number; v: number }> = [];
          let v = 0;
          for (const times of batches) {
            const values = times.map(() => v++);
            times.forEach((t, i) => all.push({ t, v: values[i] }));
            s.append(cols(times, values));
            if (cap !== undefined) s.trimToCount(cap);
            // Reference: stable sort, then the same trim.
            all.sort((a, b) => a.t - b.t);
            if (cap !== undefined && all.length > cap) all.splice(0, all.length - cap);
          }
          const r = plain(s.range(-Infinity, Infinity));
          expect(r.times).toEqual(all.map((x) => x.t));
          expect(r.values).toEqual(all.map((x) => x.v));
          expect(s.count).toBe(all.length);
          // Windows and trims by time.
          const r2 = plain(s.range(10, 20));
          expect(r2.values).toEqual(all.filter((x) => x.t >= 10 && x.t < 20).map((x) => x.v));
          s.trimBefore(25);
          expect(plain(s.range(-Infinity, Infinity)).values).toEqual(all.filter((x) => x.t >= 25).map((x) => x.v));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('grows across many chunks and trims whole chunks', () => {
    const s = new RawSeries();
    const n = 20_000;
    const times = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < n; i += 1000) s.append(cols(times.slice(i, i + 1000), times.slice(i, i + 1000)));
    expect(s.count).toBe(n);
    expect(plain(s.range(4095, 4098)).values).toEqual([4095, 4096, 4097]);
    s.trimBefore(9000);
    expect(s.count).toBe(n - 9000);
    expect(s.firstTime).toBe(9000);
    // An out-of-order sample deep inside still lands in place.
    s.append(cols([9000.5], [-1]));
    expect(plain(s.range(9000, 9002)).values).toEqual([9000, -1, 9001]);
  });
});
