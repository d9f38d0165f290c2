/**
 * One series' raw samples in memory: time-sorted columns in fixed-size chunks, so appending
 * never copies what is stored, trimming the oldest drops whole chunks, and a range read is
 * two binary searches and a copy. Out-of-order samples (a device's buffered events after a
 * reconnect) take a slower path that rewrites only the stored tail they fall into.
 */
import type { SampleColumns } from '../../core/samples';
import { sortColumns } from '../codec';

/** Samples per full chunk: 4096 × 17 bytes ≈ 68 KiB. New series start small and grow to it. */
const CHUNK = 4096;
const FIRST_CAPACITY = 64;

interface Chunk {
  t: Float64Array;
  v: Float64Array;
  q: Uint8Array;
  /** First live index (older samples trimmed). */
  head: number;
  /** One past the last stored index. */
  len: number;
}

function newChunk(capacity: number): Chunk {
  return { t: new Float64Array(capacity), v: new Float64Array(capacity), q: new Uint8Array(capacity), head: 0, len: 0 };
}

export class RawSeries {
  private chunks: Chunk[] = [];
  private n = 0;

  get count(): number {
    return this.n;
  }

  get lastTime(): number {
    const c = this.chunks[this.chunks.length - 1];
    return c && c.len > c.head ? c.t[c.len - 1] : -Infinity;
  }

  get firstTime(): number {
    const c = this.chunks[0];
    return c && c.len > c.head ? c.t[c.head] : Infinity;
  }

  /** Appends samples (any order; equal times keep arrival order). */
  append(cols: SampleColumns): void {
    const { times } = cols;
    if (times.length === 0) return;
    let sorted = times[0] >= this.lastTime;
    for (let i = 1; sorted && i < times.length; i++) if (times[i] < times[i - 1]) sorted = false;
    if (sorted) this.push(cols, 0, times.length);
    else this.merge(cols);
  }

  /** Samples with `from <= t < to`, copied out. */
  range(from: number, to: number): SampleColumns {
    return this.copyIndexRange(this.lowerBound(from), this.lowerBound(to));
  }

  /** Live samples `[a, b)` by index, copied out. */
  private copyIndexRange(a: number, b: number): SampleColumns {
    const count = Math.max(0, b - a);
    const times = new Float64Array(count);
    const values = new Float64Array(count);
    const qualities = new Uint8Array(count);
    let skip = a;
    let o = 0;
    for (const c of this.chunks) {
      if (o >= count) break;
      const live = c.len - c.head;
      if (skip >= live) {
        skip -= live;
        continue;
      }
      const begin = c.head + skip;
      const end = Math.min(c.len, begin + (count - o));
      times.set(c.t.subarray(begin, end), o);
      values.set(c.v.subarray(begin, end), o);
      qualities.set(c.q.subarray(begin, end), o);
      o += end - begin;
      skip = 0;
    }
    return { times, values, qualities };
  }

  /** Drops samples older than `cutoff`. */
  trimBefore(cutoff: number): void {
    if (this.firstTime >= cutoff) return;
    this.dropOldest(this.lowerBound(cutoff));
  }

  /** Keeps at most `max` samples (the newest). */
  trimToCount(max: number): void {
    if (this.n > max) this.dropOldest(this.n - max);
  }

  private dropOldest(k: number): void {
    k = Math.min(k, this.n);
    this.n -= k;
    while (k > 0 && this.chunks.length > 0) {
      const c = this.chunks[0];
      const live = c.len - c.head;
      if (k >= live) {
        this.chunks.shift();
        k -= live;
      } else {
        c.head += k;
        k = 0;
      }
    }
  }

  /** Index (over live samples) of the first sample with time >= t. */
  private lowerBound(t: number): number {
    let base = 0;
    for (const c of this.chunks) {
      const live = c.len - c.head;
      if (live === 0) continue;
      if (c.t[c.len - 1] < t) {
        base += live;
        continue;
      }
      let lo = c.head;
      let hi = c.len;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (c.t[mid] < t) lo = mid + 1;
        else hi = mid;
      }
      return base + (lo - c.head);
    }
    return base;
  }

  /** Index of the first sample with time > t. */
  private upperBound(t: number): number {
    let base = 0;
    for (const c of this.chunks) {
      const live = c.len - c.head;
      if (live === 0) continue;
      if (c.t[c.len - 1] <= t) {
        base += live;
        continue;
      }
      let lo = c.head;
      let hi = c.len;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (c.t[mid] <= t) lo = mid + 1;
        else hi = mid;
      }
      return base + (lo - c.head);
    }
    return base;
  }

  /** Appends sorted samples that are not older than anything stored. */
  private push(cols: SampleColumns, begin: number, end: number): void {
    let i = begin;
    while (i < end) {
      let c = this.chunks[this.chunks.length - 1];
      if (!c || c.len === CHUNK) {
        c = newChunk(this.chunks.length === 0 ? Math.min(CHUNK, Math.max(FIRST_CAPACITY, end - i)) : CHUNK);
        this.chunks.push(c);
      } else if (c.len === c.t.length) {
        // A young series: grow its only chunk by doubling until it is a full-size chunk.
        const grown = newChunk(Math.min(CHUNK, Math.max(c.t.length * 2, c.len + (end - i))));
        grown.t.set(c.t.subarray(0, c.len));
        grown.v.set(c.v.subarray(0, c.len));
        grown.q.set(c.q.subarray(0, c.len));
        grown.head = c.head;
        grown.len = c.len;
        this.chunks[this.chunks.length - 1] = c = grown;
      }
      const take = Math.min(end - i, c.t.length - c.len);
      if (take <= 8) {
        // A poll cycle brings one or a few samples a series: copying beats making views.
        for (let k = 0; k < take; k++) {
          c.t[c.len + k] = cols.times[i + k];
          c.v[c.len + k] = cols.values[i + k];
          c.q[c.len + k] = cols.qualities[i + k];
        }
      } else {
        c.t.set(cols.times.subarray(i, i + take), c.len);
        c.v.set(cols.values.subarray(i, i + take), c.len);
        c.q.set(cols.qualities.subarray(i, i + take), c.len);
      }
      c.len += take;
      this.n += take;
      i += take;
    }
  }

  /** The slow path: merges out-of-order samples into the stored tail from where the first belongs. */
  private merge(cols: SampleColumns): void {
    let sorted = true;
    for (let i = 1; i < cols.times.length; i++) if (cols.times[i] < cols.times[i - 1]) sorted = false;
    const incoming = sorted ? cols : sortColumns(cols);
    // Stored samples with the same time as an incoming one arrived earlier: they stay first.
    const p = this.upperBound(incoming.times[0]);
    const tail = this.copyIndexRange(p, this.n);
    this.truncate(p);
    const merged = mergeSorted(tail, incoming);
    this.push(merged, 0, merged.times.length);
  }

  /** Keeps the first `k` live samples. */
  private truncate(k: number): void {
    let seen = 0;
    for (let ci = 0; ci < this.chunks.length; ci++) {
      const c = this.chunks[ci];
      const live = c.len - c.head;
      if (seen + live >= k) {
        c.len = c.head + (k - seen);
        this.chunks.length = c.len > c.head ? ci + 1 : ci;
        this.n = k;
        return;
      }
      seen += live;
    }
  }
}

/** Merges two sorted column sets; on equal times `a` (stored, arrived earlier) comes first. */
function mergeSorted(a: SampleColumns, b: SampleColumns): SampleColumns {
  const na = a.times.length;
  const nb = b.times.length;
  const times = new Float64Array(na + nb);
  const values = new Float64Array(na + nb);
  const qualities = new Uint8Array(na + nb);
  let i = 0;
  let j = 0;
  let o = 0;
  while (i < na || j < nb) {
    if (j >= nb || (i < na && a.times[i] <= b.times[j])) {
      times[o] = a.times[i];
      values[o] = a.values[i];
      qualities[o++] = a.qualities[i++];
    } else {
      times[o] = b.times[j];
      values[o] = b.values[j];
      qualities[o++] = b.qualities[j++];
    }
  }
  return { times, values, qualities };
}
