/** Small helpers shared by the benchmarks: timing, memory tracking and a result table. */
import { performance } from 'node:perf_hooks';

export interface Timing {
  /** Fastest wall time of the measured runs, ms. */
  ms: number;
  /** Median wall time, ms. */
  median: number;
}

/**
 * Runs `fn` once to warm up, then `runs` times. Reports the fastest run — on a shared
 * 2-core machine every slower run is the same work plus interference — and the median.
 */
export function time(fn: () => void, runs = 5): Timing {
  fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return { ms: samples[0], median: samples[samples.length >> 1] };
}

export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(0)} MiB`;
}

/** Peak resident set size of this process so far (the OS's high-water mark). */
export function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}

export function printTable(title: string, header: string[], rows: Array<Array<string | number>>): void {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => r[c].length)));
  console.log(`\n${title}`);
  for (const [i, r] of cells.entries()) {
    console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

/** A deterministic PRNG so every run benchmarks the same data. */
export { mulberry32 as rng } from '../src/common/prng';

export function fmtRate(perSecond: number): string {
  return perSecond >= 1e6 ? `${(perSecond / 1e6).toFixed(1)} M/s` : `${(perSecond / 1e3).toFixed(1)} k/s`;
}
