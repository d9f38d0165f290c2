import { SampleBuffer, type SampleCounters } from './buffer';
import { concatRows, rowsAfter, rowsBetween, type Rows } from './rows';

const counters = (): SampleCounters => ({ lateSamples: 0, droppedSamples: 0 });
const f64 = (...xs: number[]) => Float64Array.from(xs);

describe('SampleBuffer', () => {
  it('keeps samples in arrival order and discards closed buckets', () => {
    const b = new SampleBuffer(100);
    const c = counters();
    b.append(f64(10, 20, 30), f64(1, 2, 3), 0, c);
    b.append([40, 50], [4, 5], 0, c);
    expect(Array.from(b.series().times)).toEqual([10, 20, 30, 40, 50]);
    b.discardBefore(35);
    expect(Array.from(b.series().times)).toEqual([40, 50]);
    expect(Array.from(b.series().values)).toEqual([4, 5]);
    expect(c).toEqual({ lateSamples: 0, droppedSamples: 0 });
  });

  it('drops and counts late samples and NaN times', () => {
    const b = new SampleBuffer(100);
    const c = counters();
    b.append(f64(5, 15, NaN, 25), f64(1, 2, 3, 4), 10, c);
    expect(Array.from(b.series().times)).toEqual([15, 25]);
    expect(c).toEqual({ lateSamples: 1, droppedSamples: 1 });
  });

  it('grows up to its cap, then drops the oldest samples and counts them', () => {
    const cap = 160;
    const b = new SampleBuffer(cap);
    const c = counters();
    const n = 1000;
    const times = Float64Array.from({ length: n }, (_, i) => i);
    b.append(times, times, 0, c);
    expect(b.length).toBeLessThanOrEqual(cap);
    expect(c.droppedSamples).toBe(n - b.length);
    const kept = b.series().times;
    // The newest survive, contiguous and in order.
    expect(kept[kept.length - 1]).toBe(n - 1);
    expect(Array.from(kept)).toEqual(Array.from({ length: kept.length }, (_, i) => n - kept.length + i));
  });

  it('gives memory back after a burst', () => {
    const b = new SampleBuffer(100_000);
    const c = counters();
    const times = Float64Array.from({ length: 50_000 }, (_, i) => i);
    b.append(times, times, 0, c);
    b.discardBefore(49_999);
    expect(b.length).toBe(1);
    b.append(f64(60_000), f64(1), 0, c);
    expect(Array.from(b.series().times)).toEqual([49_999, 60_000]);
  });
});

describe('rows', () => {
  const rows: Rows = { times: f64(0, 10, 20, 30), columns: [f64(1, 2, 3, 4), f64(5, 6, 7, 8)] };
  it('slices by time', () => {
    expect(Array.from(rowsAfter(rows, 10).times)).toEqual([20, 30]);
    expect(Array.from(rowsAfter(rows, 15).columns[1])).toEqual([7, 8]);
    expect(rowsAfter(rows, -Infinity)).toBe(rows);
    expect(Array.from(rowsBetween(rows, 10, 30).times)).toEqual([10, 20]);
  });
  it('concatenates', () => {
    const c = concatRows([rowsBetween(rows, 0, 10), rowsAfter(rows, 20)], 2);
    expect(Array.from(c.times)).toEqual([0, 30]);
    expect(c.columns.map((x) => Array.from(x))).toEqual([
      [1, 4],
      [5, 8],
    ]);
  });
});
