/**
 * For `resampling <= 0`: the grid interval that aligns channels without losing any
 * channel's resolution — the smallest of the channels' typical (median) sample spacings.
 */
import { medianInPlace } from './select';
import type { Series } from './types';

/** Spacings sampled per channel: the median of a strided sample is as good and bounded in memory. */
const MAX_DELTAS = 1 << 16;

/** Median positive spacing of `times` within `[from, to)`, or NaN with fewer than two distinct times. */
function medianSpacing(times: Float64Array, from: number, to: number): number {
  const lo = lowerBound(times, from);
  const hi = lowerBound(times, to);
  const span = hi - lo - 1;
  if (span < 1) return NaN;
  const stride = Math.max(1, Math.floor(span / MAX_DELTAS));
  const deltas = new Float64Array(Math.ceil(span / stride));
  let n = 0;
  for (let i = lo; i + 1 < hi; i += stride) {
    const d = times[i + 1] - times[i];
    if (d > 0) deltas[n++] = d;
  }
  return n > 0 ? medianInPlace(deltas, n) : NaN;
}

/** First index whose time is >= t (times sorted). */
export function lowerBound(times: Float64Array, t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The inferred interval for sorted channels; `fallback` when no channel has two samples in the window. */
export function inferInterval(channels: Series[], from: number, to: number, fallback: number): number {
  let best = Infinity;
  for (const s of channels) {
    const m = medianSpacing(s.times, from, to);
    if (m < best) best = m;
  }
  return Number.isFinite(best) ? best : fallback;
}
