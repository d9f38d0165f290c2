/**
 * A link's recent samples for the `datas` routes. The sequence is the stored samples in the
 * window, plus the store's latest value when it is newer than the newest stored sample: a
 * reading suppressed by the deadband is not stored but still moves `latest`, and "the
 * current value" must be #0.
 */
import type { SampleStore } from '../../store/types';
import { qualityName, type Quality } from '../../core/quality';

export interface SampleView {
  /** Epoch ms. */
  time: number;
  /** null when the value is not a number (e.g. NaN of a bad reading): JSON has no NaN. */
  value: number | null;
  quality: Quality;
}

type Reader = Pick<SampleStore, 'range' | 'latest'>;

/** The newest `limit` samples with `from <= time < to`, oldest first. */
export async function recentSamples(
  store: Reader,
  seriesId: string,
  window: { from: number; to: number },
  limit: number,
): Promise<{ samples: SampleView[]; truncated: boolean }> {
  const [cols, latestMap] = await Promise.all([store.range(seriesId, window.from, window.to), store.latest([seriesId])]);
  const n = cols.times.length;
  const out: SampleView[] = [];
  const latest = latestMap.get(seriesId);
  const extra =
    latest !== undefined && latest.time >= window.from && latest.time < window.to && (n === 0 || latest.time > cols.times[n - 1]);
  const total = n + (extra ? 1 : 0);
  const start = Math.max(0, n - (extra ? limit - 1 : limit));
  for (let i = start; i < n; i++) out.push(view(cols.times[i], cols.values[i], cols.qualities[i]));
  if (extra) out.push(view(latest.time, latest.value, latest.quality));
  return { samples: out, truncated: total > out.length };
}

/** The `index`-th newest sample (0 = latest) in the window, or undefined. */
export async function nthNewestSample(
  store: Reader,
  seriesId: string,
  window: { from: number; to: number },
  index: number,
): Promise<SampleView | undefined> {
  const { samples } = await recentSamples(store, seriesId, window, index + 1);
  return samples.length > index ? samples[samples.length - 1 - index] : undefined;
}

function view(time: number, value: number, quality: number): SampleView {
  return { time, value: Number.isFinite(value) ? value : null, quality: qualityName(quality) };
}
