/**
 * One series' rollup slots in memory, in chunks of 60 slots (an hour at one-minute slots)
 * allocated when first touched, so a sparse series costs little and trimming drops chunks.
 */
import { addSample, SLOT, type SlotPiece } from '../rollup';

const SLOTS_PER_CHUNK = 60;

export class RollupSeries {
  private readonly chunks = new Map<number, Float64Array>();
  /** Chunk starts, ascending. */
  private order: number[] = [];
  private readonly chunkMs: number;
  private lastStart = NaN;
  private lastChunk: Float64Array | undefined;

  constructor(private readonly resolution: number) {
    this.chunkMs = resolution * SLOTS_PER_CHUNK;
  }

  get slotCapacity(): number {
    return this.order.length * SLOTS_PER_CHUNK;
  }

  add(times: Float64Array, values: Float64Array): void {
    const { chunkMs, resolution } = this;
    for (let i = 0; i < times.length; i++) {
      const v = values[i];
      if (v !== v) continue;
      const t = times[i];
      const start = Math.floor(t / chunkMs) * chunkMs;
      const chunk = start === this.lastStart ? this.lastChunk! : this.chunkAt(start);
      const slot = Math.floor((t - start) / resolution);
      addSample(chunk, Math.min(slot, SLOTS_PER_CHUNK - 1) * SLOT, t, v);
    }
  }

  /** The stored slots among `nSlots` from `slotFrom` (a multiple of the resolution), as views: no copy. */
  pieces(slotFrom: number, nSlots: number): SlotPiece[] {
    const out: SlotPiece[] = [];
    const slotTo = slotFrom + nSlots * this.resolution;
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.order[mid] + this.chunkMs <= slotFrom) lo = mid + 1;
      else hi = mid;
    }
    for (let c = lo; c < this.order.length && this.order[c] < slotTo; c++) {
      const start = this.order[c];
      // Overlap of the chunk's slots with the requested ones, as slot indexes in the chunk.
      const first = Math.max(0, Math.round((slotFrom - start) / this.resolution));
      const last = Math.min(SLOTS_PER_CHUNK, Math.round((slotTo - start) / this.resolution));
      if (first >= last) continue;
      out.push({
        at: Math.round((start - slotFrom) / this.resolution) + first,
        slots: this.chunks.get(start)!.subarray(first * SLOT, last * SLOT),
      });
    }
    return out;
  }

  /** Drops chunks that end at or before `cutoff`. */
  trimBefore(cutoff: number): void {
    let k = 0;
    while (k < this.order.length && this.order[k] + this.chunkMs <= cutoff) this.chunks.delete(this.order[k++]);
    if (k > 0) this.dropFirst(k);
  }

  /** Keeps at most `maxSlots` slots' worth of the newest chunks. */
  trimToSlots(maxSlots: number): void {
    const keep = Math.max(1, Math.floor(maxSlots / SLOTS_PER_CHUNK));
    const k = this.order.length - keep;
    if (k <= 0) return;
    for (let i = 0; i < k; i++) this.chunks.delete(this.order[i]);
    this.dropFirst(k);
  }

  private dropFirst(k: number): void {
    this.order = this.order.slice(k);
    if (!this.chunks.has(this.lastStart)) {
      this.lastStart = NaN;
      this.lastChunk = undefined;
    }
  }

  private chunkAt(start: number): Float64Array {
    let chunk = this.chunks.get(start);
    if (!chunk) {
      chunk = new Float64Array(SLOTS_PER_CHUNK * SLOT);
      this.chunks.set(start, chunk);
      // Chunks almost always arrive in time order: push; otherwise insert in place.
      if (this.order.length === 0 || this.order[this.order.length - 1] < start) this.order.push(start);
      else {
        let i = this.order.length;
        while (i > 0 && this.order[i - 1] > start) i--;
        this.order.splice(i, 0, start);
      }
    }
    this.lastStart = start;
    this.lastChunk = chunk;
    return chunk;
  }
}
