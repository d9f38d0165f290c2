/**
 * The Redis store's sample reads: raw chunks and rollup chunks of the requested window in
 * one pipelined round trip, latest values, and resampling on top of them (common.ts).
 */
import type { ChainableCommander } from 'ioredis';
import type { SampleColumns } from '../../core/samples';
import type { Reducer, Resampled } from '../../timeseries/types';
import { decodeLatest, decodeRows, readF64s } from '../codec';
import { checkId, checkSeriesIds, retentionCutoffs, storeResample, type ResampleReader } from '../common';
import { canUseRollups, REGION_A, regionOf, type RollupPlan, type SeriesWindow } from '../rollup';
import type { LatestSample, ResampleSource } from '../types';
import { RedisPart } from './link';

export class RedisSampleReader extends RedisPart implements ResampleReader {
  async range(seriesId: string, from: number, to: number): Promise<SampleColumns> {
    checkId(seriesId, 'series');
    return (await this.rangeMany([seriesId], from, to)).get(seriesId)!;
  }

  async rangeMany(seriesIds: readonly string[], from: number, to: number): Promise<Map<string, SampleColumns>> {
    checkSeriesIds(seriesIds);
    const pipeline = this.redis.pipeline();
    const windows = seriesIds.map((id) => this.queueRawReads(pipeline, id, from, to));
    const results = await this.execRead(pipeline);
    const out = new Map<string, SampleColumns>();
    seriesIds.forEach((id, s) => out.set(id, this.decodeWindow(results, windows[s])));
    return out;
  }

  async latest(seriesIds: readonly string[]): Promise<Map<string, LatestSample>> {
    checkSeriesIds(seriesIds);
    const out = new Map<string, LatestSample>();
    if (seriesIds.length === 0) return out;
    const pipeline = this.redis.pipeline();
    for (const id of seriesIds) pipeline.getBuffer(this.keys.latest(id));
    const results = await this.execRead(pipeline);
    seriesIds.forEach((id, i) => {
      const buf = results[i] as Buffer | null;
      const l = buf ? decodeLatest(buf) : undefined;
      if (l) out.set(id, l);
    });
    return out;
  }

  resample(
    seriesIds: readonly string[],
    length: number,
    to: number,
    interval: number,
    reducer: Reducer,
    options: { source?: ResampleSource } = {},
  ): Promise<Resampled> {
    return storeResample(this, this.rollupResolutionMs, seriesIds, length, to, interval, reducer, options.source);
  }

  keptFrom(): { raw: number; rollup: number } {
    return retentionCutoffs(this.now(), this.config);
  }

  canUseRollups(interval: number, reducer: Reducer): boolean {
    return canUseRollups(interval, reducer, this.rollupResolutionMs);
  }

  /**
   * Interior slots with GETRANGE on the rollup chunks (only the region the reducer reads),
   * edges from raw chunks: one round trip.
   */
  async rollupWindow(ids: readonly string[], plan: RollupPlan, reducer: Reducer): Promise<SeriesWindow[]> {
    const { rollupChunkMs } = this.cfg;
    const res = plan.resolution;
    const slotsPerChunk = rollupChunkMs / res;
    const fields = regionOf(reducer);
    const width = fields.length * 8;
    const base = fields === REGION_A ? 0 : slotsPerChunk * REGION_A.length * 8;
    const pipeline = this.redis.pipeline();
    const layout = ids.map((id) => {
      const pieces: Array<{ at: number; index: number }> = [];
      for (let c = Math.floor(plan.slotFrom / rollupChunkMs) * rollupChunkMs; c < plan.slotTo; c += rollupChunkMs) {
        const first = Math.round((Math.max(plan.slotFrom, c) - c) / res);
        const last = Math.round((Math.min(plan.slotTo, c + rollupChunkMs) - c) / res);
        pieces.push({ at: Math.round((c - plan.slotFrom) / res) + first, index: pipeline.length });
        pipeline.getrangeBuffer(this.keys.rollup(id, c), base + first * width, base + last * width - 1);
      }
      const edges = plan.edges.map(([a, b]) => this.queueRawReads(pipeline, id, a, b));
      return { pieces, edges };
    });
    const results = await this.execRead(pipeline);
    return layout.map(({ pieces, edges }) => ({
      // A missing or short chunk is empty beyond its end (zeros: count 0).
      pieces: pieces.map(({ at, index }) => {
        const buf = results[index] as Buffer;
        return { at, slots: readF64s(buf, 0, Math.floor(buf.length / 8)), fields };
      }),
      edges: edges.map((w) => this.decodeWindow(results, w)),
    }));
  }

  /** Queues GETs of the raw chunks that overlap `[from, to)` (clipped to retention). */
  private queueRawReads(
    pipeline: ChainableCommander,
    id: string,
    from: number,
    to: number,
  ): { first: number; count: number; from: number; to: number } {
    const { chunkMs } = this.cfg;
    const now = this.now();
    from = Math.max(from, now - this.config.retentionMs);
    // Chunks are found by name, so an open end needs a bound: nothing is kept beyond retention
    // into the future either (a device clock that far ahead is wrong).
    const end = Math.min(to, now + this.config.retentionMs);
    const first = pipeline.length;
    if (!(from < end)) return { first, count: 0, from, to };
    let count = 0;
    for (let c = Math.floor(from / chunkMs) * chunkMs; c < end; c += chunkMs, count++) pipeline.getBuffer(this.keys.raw(id, c));
    return { first, count, from, to };
  }

  private decodeWindow(results: unknown[], w: { first: number; count: number; from: number; to: number }): SampleColumns {
    return decodeRows(results.slice(w.first, w.first + w.count) as Array<Buffer | null>, w.from, w.to);
  }

}
