/**
 * Chooses a query's bucket width when the user gave none: Grafana's `intervalMs`, raised
 * to a "nice" step so the frame never has more rows than `maxDataPoints`.
 */
import { makeGrid } from '../registry/bucketize';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Steps people read easily on a time axis (as Grafana's own interval rounding). */
const NICE = [
  1,
  2,
  5,
  10,
  20,
  50,
  100,
  200,
  500,
  SECOND,
  2 * SECOND,
  5 * SECOND,
  10 * SECOND,
  15 * SECOND,
  30 * SECOND,
  MINUTE,
  2 * MINUTE,
  5 * MINUTE,
  10 * MINUTE,
  15 * MINUTE,
  30 * MINUTE,
  HOUR,
  2 * HOUR,
  3 * HOUR,
  6 * HOUR,
  12 * HOUR,
  DAY,
  2 * DAY,
  7 * DAY,
  30 * DAY,
  365 * DAY,
];

/** The smallest nice step >= `ms` (multiples of a year beyond the table). */
export function niceInterval(ms: number): number {
  for (const step of NICE) if (step >= ms) return step;
  const year = NICE[NICE.length - 1];
  return Math.ceil(ms / year) * year;
}

/** The bucket width for `[from, to)`: at least `intervalMs`, and at most `maxDataPoints` buckets. */
export function chooseInterval(from: number, to: number, intervalMs: number | undefined, maxDataPoints: number): number {
  // Epoch alignment can add one partial bucket at the start, hence maxDataPoints - 1.
  const floor = (to - from) / Math.max(1, maxDataPoints - 1);
  let interval = niceInterval(Math.max(intervalMs ?? 0, floor, 1));
  while (makeGrid(from, to, interval).nBuckets > maxDataPoints) interval = niceInterval(interval + 1);
  return interval;
}
