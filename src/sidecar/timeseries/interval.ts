/**
 * Chooses a query's bucket width when the user gave none: Grafana's `intervalMs`, raised
 * to a "nice" step so the frame has no more rows than `maxDataPoints`. Closed form, with a
 * bounded search only for maxDataPoints 1: no window, however long, makes it loop.
 */
import { makeGrid } from './bucketize';

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

/** Further nice steps tried for maxDataPoints 1 before settling for two buckets. */
const ONE_BUCKET_TRIES = 4;

/**
 * The bucket width for `[from, to)`: at least `intervalMs`, and at most `maxDataPoints`
 * buckets, except that maxDataPoints 1 may get 2 when the window crosses a boundary of every
 * step tried (0, the epoch, is a boundary of every interval).
 *
 * Why the first step fits for maxDataPoints >= 2: epoch alignment starts the grid at most one
 * interval before `from`, so with interval >= span / (maxDataPoints - 1) the grid spans less
 * than span + interval <= maxDataPoints intervals.
 */
export function chooseInterval(from: number, to: number, intervalMs: number | undefined, maxDataPoints: number): number {
  const span = to - from;
  const first = niceInterval(Math.max(intervalMs ?? 0, span / Math.max(1, maxDataPoints - 1), 1));
  if (maxDataPoints >= 2 || makeGrid(from, to, first).nBuckets <= maxDataPoints) return first;
  let step = first;
  for (let i = 0; i < ONE_BUCKET_TRIES; i++) {
    step = niceInterval(step + 1);
    if (makeGrid(from, to, step).nBuckets <= 1) return step;
  }
  return first;
}
