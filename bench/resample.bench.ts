/**
 * Resampler throughput per reducer: one channel of 10 M points (~100 ms spacing) at 1 s and
 * 60 s buckets, and 100 channels × 100 k points. Targets (2 cores): first, last, count, sum,
 * mean, min, max ≥ 200 M points/s; std ≥ 150 M; median ≥ 40 M.
 */
import { resample } from '../src/sidecar/timeseries/resample';
import { REDUCERS, type Reducer, type SeriesSet } from '../src/sidecar/registry/types';
import { fmtRate, mib, peakRss, printTable, rng, time } from './util';

const T0 = Date.UTC(2026, 0, 1);

const TARGETS: Record<Reducer, number> = {
  first: 200e6,
  last: 200e6,
  count: 200e6,
  sum: 200e6,
  mean: 200e6,
  min: 200e6,
  max: 200e6,
  std: 150e6,
  median: 40e6,
};

/** ~100 ms spacing with jitter, values a noisy signal with 0.1 % NaN (dropped readings). */
function makeChannel(n: number, seed: number): { times: Float64Array; values: Float64Array } {
  const r = rng(seed);
  const times = new Float64Array(n);
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    times[i] = T0 + i * 100 + Math.floor(r() * 50);
    values[i] = r() < 0.001 ? NaN : Math.sin(i / 1000) * 100 + r();
  }
  return { times, values };
}

interface Case {
  name: string;
  set: SeriesSet;
  points: number;
  length: number;
  interval: number;
}

export function runResampleBench(): boolean {
  const one = { ch: makeChannel(10_000_000, 1) };
  const many: SeriesSet = {};
  for (let c = 0; c < 100; c++) many[`ch${c}`] = makeChannel(100_000, c + 2);
  const span = (n: number) => n * 100 + 100;
  const cases: Case[] = [
    { name: '1 ch × 10 M, 1 s', set: one, points: 10_000_000, length: span(10_000_000), interval: 1000 },
    { name: '1 ch × 10 M, 60 s', set: one, points: 10_000_000, length: span(10_000_000), interval: 60_000 },
    { name: '100 ch × 100 k, 1 s', set: many, points: 10_000_000, length: span(100_000), interval: 1000 },
  ];

  let ok = true;
  const rows: Array<Array<string | number>> = [];
  for (const reducer of REDUCERS) {
    const row: Array<string | number> = [reducer];
    let worst = Infinity;
    for (const c of cases) {
      const { ms } = time(() => resample(c.set, c.length, T0 + c.length, c.interval, reducer), 9);
      const rate = c.points / (ms / 1000);
      worst = Math.min(worst, rate);
      row.push(`${fmtRate(rate)} (${ms.toFixed(1)} ms)`);
    }
    const pass = worst >= TARGETS[reducer];
    ok &&= pass;
    row.push(`${fmtRate(TARGETS[reducer])} ${pass ? 'ok' : 'MISS'}`);
    rows.push(row);
  }
  printTable('Resampler: points per second (fastest of 9 runs)', ['reducer', ...cases.map((c) => c.name), 'target'], rows);
  console.log(`peak RSS ${mib(peakRss())} (data: ${mib(2 * 2 * 8 * 10_000_000)} of input columns)`);
  return ok;
}
