/**
 * Per-point latest value and report-by-exception: what the poller keeps for every point
 * and the rule that decides which readings become samples.
 *
 * A reading is emitted when
 *   - the point was never emitted,
 *   - its quality differs from the last emitted one (good → comm_lost is one sample, not
 *     one per poll, however long the device stays down),
 *   - a good value moved by more than the deadband from the last *emitted* value (so a
 *     slow drift is still reported once it adds up), or a string's text changed,
 *   - nothing was emitted for maxSilenceMs (heartbeat; 0 = emit every reading).
 * The latest reading is kept whether emitted or not.
 *
 * Sample values: good and stale carry the value; bad and comm_lost carry NaN (there is no
 * trustworthy value), while latest() keeps the last good value next to the current quality.
 * String points have no numeric value: their samples carry NaN and quality, the text is in
 * latest() (SampleColumns has no text column).
 */
import { QUALITY_CODE, qualityName, type Quality } from '../../core/quality';
import type { SampleBatch } from '../../core/samples';
import type { Deadband } from './modbus/types';

export interface LatestValue {
  id: string;
  /** Last good value (NaN if never read); see `quality` for whether it is current. */
  value: number;
  /** String points: the last good text. */
  text?: string;
  quality: Quality;
  /** Epoch ms of the reading (or quality change) that set `quality`. */
  time: number;
  /** Epoch ms of the last good reading. */
  goodTime?: number;
  /** Why the quality is not good. */
  error?: string;
}

const GOOD = QUALITY_CODE.good;
const STALE = QUALITY_CODE.stale;

export class PointReport {
  value = NaN;
  text?: string;
  quality: number = QUALITY_CODE.comm_lost;
  time = 0;
  goodTime?: number;
  error?: string;
  /** True until the first reading or quality is set. */
  private fresh = true;

  private emittedValue = NaN;
  private emittedText?: string;
  private emittedQuality = -1;
  private emittedTime = -Infinity;

  constructor(
    readonly id: string,
    private readonly deadband: Deadband | undefined,
    private readonly maxSilenceMs: number,
  ) {}

  /** A good reading. */
  good(value: number, text: string | undefined, time: number): void {
    this.fresh = false;
    this.value = value;
    this.text = text;
    this.quality = GOOD;
    this.time = time;
    this.goodTime = time;
    this.error = undefined;
  }

  /** A reading that failed, or a quality the poller decided (stale, comm_lost). */
  setQuality(quality: Quality, time: number, error?: string): void {
    this.fresh = false;
    this.quality = QUALITY_CODE[quality];
    this.time = time;
    this.error = error;
  }

  /** Good but not refreshed since `before`: turn stale (value kept). */
  markStaleIfOlder(before: number, now: number): void {
    if (this.quality === GOOD && (this.goodTime ?? 0) < before) this.setQuality('stale', now, 'not refreshed in time');
  }

  /**
   * Appends a sample to `out` if report-by-exception says so. `now` stamps heartbeats of
   * readings not refreshed this time.
   */
  report(out: BatchBuilder, now: number): void {
    if (this.fresh) return;
    const quality = this.quality;
    // The sample's time: the reading's, or `now` for a heartbeat of a reading already
    // emitted, so times in a series never go backwards. Heartbeats are spaced on it.
    const time = this.time > this.emittedTime ? this.time : Math.max(now, this.emittedTime);
    let emit = this.emittedQuality !== quality || time - this.emittedTime >= this.maxSilenceMs;
    if (!emit && quality === GOOD) emit = this.text !== undefined ? this.text !== this.emittedText : this.moved();
    if (!emit) return;
    const carriesValue = quality === GOOD || quality === STALE;
    const value = carriesValue && this.text === undefined ? this.value : NaN;
    this.emittedValue = this.value;
    this.emittedText = this.text;
    this.emittedQuality = quality;
    this.emittedTime = time;
    out.add(this.id, time, value, quality);
  }

  private moved(): boolean {
    const v = this.value;
    const last = this.emittedValue;
    if (Number.isNaN(v) || Number.isNaN(last)) return Number.isNaN(v) !== Number.isNaN(last);
    const delta = Math.abs(v - last);
    const db = this.deadband;
    if (!db) return delta > 0;
    const limit = db.type === 'absolute' ? db.value : (db.value / 100) * (db.span ?? Math.abs(last));
    return delta > limit;
  }

  latest(): LatestValue {
    return {
      id: this.id,
      value: this.value,
      ...(this.text !== undefined ? { text: this.text } : {}),
      quality: qualityName(this.quality),
      time: this.time,
      ...(this.goodTime !== undefined ? { goodTime: this.goodTime } : {}),
      ...(this.error !== undefined ? { error: this.error } : {}),
    };
  }
}

/** Collects one sample per series for one SampleBatch. */
export class BatchBuilder {
  private readonly ids: string[] = [];
  private readonly rows: number[] = [];

  add(id: string, time: number, value: number, quality: number): void {
    this.ids.push(id);
    this.rows.push(time, value, quality);
  }

  get size(): number {
    return this.ids.length;
  }

  build(): SampleBatch {
    const batch: SampleBatch = new Map();
    this.ids.forEach((id, i) => {
      const existing = batch.get(id);
      const t = this.rows[3 * i];
      const v = this.rows[3 * i + 1];
      const q = this.rows[3 * i + 2];
      if (!existing) {
        batch.set(id, { times: Float64Array.of(t), values: Float64Array.of(v), qualities: Uint8Array.of(q) });
        return;
      }
      // The same point twice in one batch (a read() racing a cycle): keep both, in order.
      batch.set(id, {
        times: Float64Array.of(...existing.times, t),
        values: Float64Array.of(...existing.values, v),
        qualities: Uint8Array.of(...existing.qualities, q),
      });
    });
    return batch;
  }
}
