import fc from 'fast-check';
import { AppError } from '../errors';
import { DataSource } from '../registry/datasource';
import { resample } from './resample';
import { REDUCERS, type Reducer, type SeriesSet } from '../registry/types';

/** The plain, obviously-correct version the fast one must agree with. */
function reference(
  raw: Record<string, Array<[number, number]>>,
  length: number,
  to: number,
  interval: number,
  reducer: Reducer,
): { times: number[]; columns: Record<string, number[]> } {
  const from = to - length;
  const start = Math.floor(from / interval) * interval;
  const n = Math.ceil((to - start) / interval);
  const times = Array.from({ length: n }, (_, k) => start + k * interval);
  const columns: Record<string, number[]> = {};
  for (const [name, samples] of Object.entries(raw)) {
    const inWindow = samples.filter(([t]) => t >= from && t < to).sort((a, b) => a[0] - b[0]);
    columns[name] = times.map((b, k) => {
      const end = start + (k + 1) * interval;
      const vs = inWindow.filter(([t]) => t >= b && t < end).map(([, v]) => v).filter((v) => !Number.isNaN(v));
      return reduceRef(vs, reducer);
    });
  }
  return { times, columns };
}

function reduceRef(vs: number[], reducer: Reducer): number {
  if (reducer === 'count') return vs.length;
  if (vs.length === 0) return NaN;
  const sum = vs.reduce((a, b) => a + b, 0);
  const mean = sum / vs.length;
  switch (reducer) {
    case 'first':
      return vs[0];
    case 'last':
      return vs[vs.length - 1];
    case 'sum':
      return sum;
    case 'mean':
      return mean;
    case 'min':
      return Math.min(...vs);
    case 'max':
      return Math.max(...vs);
    case 'std':
      return Math.sqrt(vs.reduce((a, v) => a + (v - mean) ** 2, 0) / vs.length);
    case 'median': {
      const s = [...vs].sort((a, b) => a - b);
      const m = s.length >> 1;
      return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
    }
  }
}

function toSet(raw: Record<string, Array<[number, number]>>): SeriesSet {
  const set: SeriesSet = {};
  for (const [name, samples] of Object.entries(raw)) {
    set[name] = { times: Float64Array.from(samples, (s) => s[0]), values: Float64Array.from(samples, (s) => s[1]) };
  }
  return set;
}

function expectClose(actual: Float64Array, expected: number[], what: string): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e)) {
      if (!Number.isNaN(a)) throw new Error(`${what}[${i}]: expected null (NaN), got ${a}`);
    } else if (Math.abs(a - e) > 1e-9 * Math.max(1, Math.abs(e))) {
      throw new Error(`${what}[${i}]: expected ${e}, got ${a}`);
    }
  }
}

const value = fc.oneof(
  { weight: 8, arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true }) },
  { weight: 1, arbitrary: fc.constant(NaN) },
);
// Small integer times make gaps, equal timestamps and empty buckets common.
const samples = fc.array(fc.tuple(fc.integer({ min: -2000, max: 12000 }), value), { maxLength: 200 });
const sortedOrNot = fc.tuple(samples, fc.boolean()).map(([s, sort]) => (sort ? [...s].sort((a, b) => a[0] - b[0]) : s));

describe('resample against a reference implementation', () => {
  for (const reducer of REDUCERS) {
    it(`agrees on ${reducer} for random data, windows and intervals`, () => {
      fc.assert(
        fc.property(
          fc.dictionary(fc.constantFrom('a', 'b', 'c'), sortedOrNot, { minKeys: 1 }),
          fc.integer({ min: 1, max: 12000 }),
          fc.integer({ min: -1000, max: 13000 }),
          fc.integer({ min: 1, max: 3000 }),
          (raw, length, to, interval) => {
            const got = resample(toSet(raw), length, to, interval, reducer);
            const want = reference(raw, length, to, interval, reducer);
            expect(Array.from(got.times)).toEqual(want.times);
            expect(got.interval).toBe(interval);
            got.names.forEach((name, c) => expectClose(got.columns[c], want.columns[name], `${reducer} ${name}`));
          },
        ),
        { numRuns: 300 },
      );
    });
  }
});

describe('resample by hand', () => {
  const series = (times: number[], values: number[]) => ({ times: Float64Array.from(times), values: Float64Array.from(values) });

  it('aligns buckets to multiples of the interval since the epoch, closed on the left, window [to - length, to)', () => {
    const set = { x: series([1200, 1500, 1999, 2000, 4999, 5000, 5499, 5500], [1, 2, 3, 4, 5, 6, 7, 8]) };
    const r = resample(set, 4000, 5500, 1000, 'sum');
    expect(Array.from(r.times)).toEqual([1000, 2000, 3000, 4000, 5000]);
    // 1200 is before the window and 5500 is its open end: neither counts.
    expect(Array.from(r.columns[0])).toEqual([2 + 3, 4, NaN, 5, 6 + 7]);
  });

  it('aligns negative (pre-epoch) times by floor', () => {
    const r = resample({ x: series([-1500, -500], [1, 2]) }, 2000, 0, 1000, 'last');
    expect(Array.from(r.times)).toEqual([-2000, -1000]);
    expect(Array.from(r.columns[0])).toEqual([1, 2]);
  });

  it('answers null for empty and all-NaN buckets and 0 for their count', () => {
    const set = { x: series([0, 1000, 1001], [NaN, 5, NaN]) };
    for (const reducer of REDUCERS) {
      const col = Array.from(resample(set, 3000, 3000, 1000, reducer).columns[0]);
      if (reducer === 'count') expect(col).toEqual([0, 1, 0]);
      else if (reducer === 'std') expect(col).toEqual([NaN, 0, NaN]);
      else expect(col).toEqual([NaN, 5, NaN]);
    }
  });

  it('takes the mean of the two middle values for an even median and the population std', () => {
    const set = { x: series([0, 1, 2, 3], [4, 1, 3, 2]) };
    expect(resample(set, 1000, 1000, 1000, 'median').columns[0][0]).toBe(2.5);
    expect(resample(set, 1000, 1000, 1000, 'std').columns[0][0]).toBeCloseTo(Math.sqrt(1.25), 12);
  });

  it('median is right on buckets large enough to use selection', () => {
    const n = 10001;
    const values = Float64Array.from({ length: n }, (_, i) => (i * 7919) % n);
    const r = resample({ x: { times: Float64Array.from({ length: n }, (_, i) => i), values } }, n, n, n, 'median');
    expect(r.columns[0][0]).toBe((n - 1) / 2);
  });

  it('sorts unsorted input, keeping the order of equal timestamps for first and last', () => {
    const set = { x: series([2000, 0, 500, 500, 1500], [9, 1, 2, 3, 4]) };
    expect(Array.from(resample(set, 3000, 3000, 1000, 'first').columns[0])).toEqual([1, 4, 9]);
    expect(Array.from(resample(set, 3000, 3000, 1000, 'last').columns[0])).toEqual([3, 4, 9]);
    // The caller's arrays are not reordered.
    expect(Array.from(set.x.times)).toEqual([2000, 0, 500, 500, 1500]);
  });

  it('infers one grid from the finest channel when resampling <= 0', () => {
    const set = {
      fast: series([0, 500, 1000, 1500, 2000, 2500], [0, 1, 2, 3, 4, 5]),
      slow: series([0, 2000], [10, 20]),
    };
    for (const resampling of [0, -1]) {
      const r = resample(set, 3000, 3000, resampling, 'last');
      expect(r.interval).toBe(500);
      expect(Array.from(r.times)).toEqual([0, 500, 1000, 1500, 2000, 2500]);
      expect(Array.from(r.columns[0])).toEqual([0, 1, 2, 3, 4, 5]);
      expect(Array.from(r.columns[1])).toEqual([10, NaN, NaN, NaN, 20, NaN]);
    }
  });

  it('aligns channels sampled at the same period but different phases onto one row each', () => {
    const set = { a: series([1000, 2000, 3000], [1, 2, 3]), b: series([1100, 2100, 3100], [4, 5, 6]) };
    const r = resample(set, 3000, 4000, 0, 'last');
    expect(r.interval).toBe(1000);
    expect(Array.from(r.times)).toEqual([1000, 2000, 3000]);
    expect(r.columns.map((c) => Array.from(c))).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
  });

  it('infers with unsorted input and falls back to one bucket per window without spacing', () => {
    expect(resample({ x: series([2000, 0, 1000], [3, 1, 2]) }, 3000, 3000, 0).interval).toBe(1000);
    const single = resample({ x: series([1234], [7]) }, 10000, 10000, 0);
    expect(single.interval).toBe(10000);
    expect(Array.from(single.columns[0])).toEqual([7]);
  });

  it('answers clear errors for bad arguments', () => {
    const set = { x: series([0], [1]) };
    const err = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e as AppError;
      }
      throw new Error('expected an error');
    };
    expect(err(() => resample(set, 0, 1000, 10)).field).toBe('length');
    expect(err(() => resample(set, 1000, NaN, 10)).field).toBe('to');
    expect(err(() => resample(set, 1000, 1000, Infinity)).field).toBe('resampling');
    expect(err(() => resample(set, 1000, 1000, 10, 'avg' as Reducer)).message).toMatch(/unknown reducer "avg"/);
    const limit = err(() => resample(set, 1e9, 1e9, 1, 'last', { maxBuckets: 1000 }));
    expect(limit.code).toBe('LIMIT_EXCEEDED');
    expect(limit.message).toMatch(/1000000000 buckets/);
    expect(err(() => resample({ x: { times: new Float64Array(2), values: new Float64Array(1) } }, 1, 1, 1)).message).toMatch(
      /2 times but 1 values/,
    );
  });

  it('is what DataSource.resample exposes to plugins', () => {
    const set = { x: series([0, 1, 2], [1, 2, 3]) };
    expect(DataSource.resample(set, 1000, 1000, 1000, 'mean')).toEqual(resample(set, 1000, 1000, 1000, 'mean'));
  });
});
