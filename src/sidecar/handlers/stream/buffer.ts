/**
 * Pending raw samples of one channel, between their arrival and the close of their bucket:
 * two parallel Float64Arrays that grow (doubling) up to a cap. Beyond the cap the oldest
 * samples are dropped and counted, so a flooding source costs bounded memory.
 */
import type { Series } from '../../registry/types';

export interface SampleCounters {
  /** Samples that arrived after their bucket had closed. */
  lateSamples: number;
  /** Samples dropped for overflow or a NaN time. */
  droppedSamples: number;
}

const INITIAL_CAPACITY = 64;

export class SampleBuffer {
  private times: Float64Array;
  private values: Float64Array;
  private n = 0;

  constructor(readonly cap: number) {
    if (!(Number.isInteger(cap) && cap > 0)) throw new RangeError(`buffer cap must be a positive integer, got ${cap}`);
    const capacity = Math.min(cap, INITIAL_CAPACITY);
    this.times = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
  }

  get length(): number {
    return this.n;
  }

  /**
   * Appends samples; those before `minTime` (their bucket has closed) are late and dropped.
   * Reads any array-likes: pushed batches come from plugin code, so values are coerced.
   */
  append(times: ArrayLike<number>, values: ArrayLike<number>, minTime: number, counters: SampleCounters): void {
    const len = Math.min(times.length, values.length);
    for (let i = 0; i < len; i++) {
      const t = +times[i];
      if (!(t >= minTime)) {
        if (t === t) counters.lateSamples++;
        else counters.droppedSamples++;
        continue;
      }
      if (this.n === this.times.length) this.makeRoom(counters);
      this.times[this.n] = t;
      this.values[this.n] = +values[i];
      this.n++;
    }
  }

  /** A view of the pending samples (valid until the next append or discard). */
  series(): Series {
    return { times: this.times.subarray(0, this.n), values: this.values.subarray(0, this.n) };
  }

  /** Keeps only samples at or after `t` (their buckets are still open). */
  discardBefore(t: number): void {
    const { times, values } = this;
    let w = 0;
    for (let r = 0; r < this.n; r++) {
      if (times[r] >= t) {
        times[w] = times[r];
        values[w] = values[r];
        w++;
      }
    }
    this.n = w;
    // Give back memory after a burst, with hysteresis so steady traffic doesn't thrash.
    const want = Math.max(INITIAL_CAPACITY, 2 * w);
    if (times.length > 4 * want) this.resize(Math.min(this.cap, want));
  }

  private makeRoom(counters: SampleCounters): void {
    const capacity = this.times.length;
    if (capacity < this.cap) {
      this.resize(Math.min(this.cap, capacity * 2));
      return;
    }
    // Full: drop the oldest sixteenth at once, so a flood costs one copy per cap/16 samples.
    const k = Math.max(1, this.cap >> 4);
    this.times.copyWithin(0, k, this.n);
    this.values.copyWithin(0, k, this.n);
    this.n -= k;
    counters.droppedSamples += k;
  }

  private resize(capacity: number): void {
    const times = new Float64Array(capacity);
    const values = new Float64Array(capacity);
    times.set(this.times.subarray(0, this.n));
    values.set(this.values.subarray(0, this.n));
    this.times = times;
    this.values = values;
  }
}
