/**
 * The Redis store's write queue and offline buffer: samples waiting to be written, kept as
 * columns in growable typed arrays (times, values, qualities, series index), so queueing a
 * poll cycle allocates nothing per sample and a backlog of a million samples is ~21 MB.
 * Oldest first out; beyond the bound the oldest samples are dropped (the caller counts them).
 */
import type { SampleBatch } from '../../core/samples';

/** Samples taken for one write, grouped by series (stable: arrival order kept within a series). */
export interface Taken {
  /** Series ids, and for each its sample range `[starts[i], starts[i+1])` in the columns. */
  ids: string[];
  starts: Int32Array;
  times: Float64Array;
  values: Float64Array;
  qualities: Uint8Array;
  /** When the oldest of these samples was queued (ms). */
  enqueuedAt: number;
  /** A re-queued write that may have been applied already. */
  retry?: boolean;
  /** Order of taking: retries go back in this order. */
  seq: number;
}

export class SampleQueue {
  private readonly index = new Map<string, number>();
  private readonly names: string[] = [];
  private t = new Float64Array(1024);
  private v = new Float64Array(1024);
  private q = new Uint8Array(1024);
  private s = new Int32Array(1024);
  /** Buffer positions of the oldest queued sample and one past the newest. */
  private head = 0;
  private tail = 0;
  /** Enqueue times of pushed batches: [position of the batch's end, time], oldest first. */
  private marks: Array<[number, number]> = [];
  private seq = 0;

  get size(): number {
    return this.tail - this.head;
  }

  /** When the oldest queued sample was queued, if any. */
  get oldestAt(): number | undefined {
    return this.size > 0 ? this.marks[0]?.[1] : undefined;
  }

  push(batch: SampleBatch, now: number): void {
    let n = 0;
    for (const cols of batch.values()) n += cols.times.length;
    if (n === 0) return;
    this.reserve(n);
    let o = this.tail;
    for (const [id, cols] of batch) {
      let si = this.index.get(id);
      if (si === undefined) {
        si = this.names.length;
        this.index.set(id, si);
        this.names.push(id);
      }
      const k = cols.times.length;
      if (k > 8) {
        this.t.set(cols.times, o);
        this.v.set(cols.values, o);
        this.q.set(cols.qualities, o);
        this.s.fill(si, o, o + k);
      } else
        for (let i = 0; i < k; i++) {
          this.t[o + i] = cols.times[i];
          this.v[o + i] = cols.values[i];
          this.q[o + i] = cols.qualities[i];
          this.s[o + i] = si;
        }
      o += k;
    }
    this.tail = o;
    this.marks.push([o, now]);
  }

  /** Drops the `n` oldest samples. */
  dropOldest(n: number): void {
    this.head = Math.min(this.tail, this.head + n);
    this.trimMarks();
  }

  /** Takes up to `max` of the oldest samples, grouped by series, out of the queue. */
  take(max: number): Taken | undefined {
    const k = Math.min(max, this.size);
    if (k <= 0) return undefined;
    const enqueuedAt = this.marks[0]?.[1] ?? 0;
    const from = this.head;
    const to = from + k;
    // Counting sort by series index: stable, so each series keeps its arrival order.
    const counts = new Map<number, number>();
    for (let i = from; i < to; i++) counts.set(this.s[i], (counts.get(this.s[i]) ?? 0) + 1);
    const ids: string[] = [];
    const starts = new Int32Array(counts.size + 1);
    const offset = new Map<number, number>();
    let acc = 0;
    let j = 0;
    for (const [si, c] of counts) {
      ids.push(this.names[si]);
      starts[j++] = acc;
      offset.set(si, acc);
      acc += c;
    }
    starts[j] = acc;
    const times = new Float64Array(k);
    const values = new Float64Array(k);
    const qualities = new Uint8Array(k);
    if (counts.size === 1) {
      times.set(this.t.subarray(from, to));
      values.set(this.v.subarray(from, to));
      qualities.set(this.q.subarray(from, to));
    } else {
      // Positions per series, kept in a typed array indexed by series index for speed.
      const pos = new Int32Array(this.names.length);
      for (const [si, o] of offset) pos[si] = o;
      for (let i = from; i < to; i++) {
        const p = pos[this.s[i]]++;
        times[p] = this.t[i];
        values[p] = this.v[i];
        qualities[p] = this.q[i];
      }
    }
    this.head = to;
    this.trimMarks();
    return { ids, starts, times, values, qualities, enqueuedAt, seq: ++this.seq };
  }

  private trimMarks(): void {
    let m = 0;
    while (m < this.marks.length && this.marks[m][0] <= this.head) m++;
    if (m > 0) this.marks.splice(0, m);
    if (this.head === this.tail) {
      // Empty: start over at the beginning, and give back what a large backlog made us grow.
      this.head = this.tail = 0;
      this.marks = [];
      if (this.t.length > 1 << 16) {
        this.t = new Float64Array(1024);
        this.v = new Float64Array(1024);
        this.q = new Uint8Array(1024);
        this.s = new Int32Array(1024);
      }
    }
  }

  /** Room for `n` more at the tail: compact if the head has moved far, else grow. */
  private reserve(n: number): void {
    if (this.tail + n <= this.t.length) return;
    const live = this.tail - this.head;
    if (this.head > 0 && live + n <= this.t.length && this.head >= this.t.length / 2) {
      this.t.copyWithin(0, this.head, this.tail);
      this.v.copyWithin(0, this.head, this.tail);
      this.q.copyWithin(0, this.head, this.tail);
      this.s.copyWithin(0, this.head, this.tail);
    } else {
      let cap = this.t.length;
      while (cap < live + n) cap *= 2;
      const grow = <A extends Float64Array | Uint8Array | Int32Array>(a: A, make: (len: number) => A): A => {
        const b = make(cap);
        b.set(a.subarray(this.head, this.tail) as never);
        return b;
      };
      this.t = grow(this.t, (len) => new Float64Array(len));
      this.v = grow(this.v, (len) => new Float64Array(len));
      this.q = grow(this.q, (len) => new Uint8Array(len));
      this.s = grow(this.s, (len) => new Int32Array(len));
    }
    for (const m of this.marks) m[0] -= this.head;
    this.tail = live;
    this.head = 0;
  }
}
