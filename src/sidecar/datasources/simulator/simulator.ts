/**
 * The built-in `simulator` data source: what users see with no devices. Every sample is a
 * pure function of (channel spec, time) (see signals.ts), so history, live push and every
 * window agree on each value, and tests can predict them. Samples exist at every multiple
 * of `sampleIntervalMs` since the epoch, and never at or after now: a live source has no
 * future.
 *
 * Why one file over 400 lines: it is one DataSource, and each contract method (timeseries,
 * objects, blob, live push) is short; the signal maths lives in signals.ts and params.ts.
 */
import { AppError } from '../../errors';
import { DataSource, type Params } from '../../registry/datasource';
import { yieldToEventLoop } from '../../core/event-loop';
import {
  REDUCERS,
  type AppContext,
  type BlobSink,
  type Channel,
  type HistogramObject,
  type ObjectSet,
  type Reducer,
  type Resampled,
  type SampleListener,
  type Series,
  type SeriesSet,
  type TableObject,
  type TreeNode,
  type TreeObject,
  type Unsubscribe,
} from '../../registry/types';
import { parseOrThrow } from '../../validation';
import {
  DEVICES_CHANNEL,
  HISTOGRAM_SUFFIX,
  MODEL_CHANNEL,
  simulatorParamsSchema,
  sparklineParamsSchema,
  type ChannelSpec,
  type SimulatorParams,
} from './params';
import { SIGNALS, hashString, noiseAt, resolveSeed, shapeAt, type SignalSpec } from './signals';
import { renderSparkline } from './svg';

// See signals.ts: a module-level copy stays fast in jest's vm context too.
const { floor } = Math;

/** Raw samples one channel may produce per request (8 MB of times + values per million). */
export const MAX_SAMPLES_PER_CHANNEL = 5_000_000;
/** Raw samples one request may produce over all its channels. */
export const MAX_SAMPLES_PER_REQUEST = 20_000_000;
/** Bins of a histogram channel. */
export const HISTOGRAM_BINS = 20;
/**
 * Samples computed between two yields to the event loop: ~30 ms at the slowest signal
 * (randomWalk with noise, ~300 ns a sample here), so a long window never stalls polling.
 */
export const GENERATE_SLICE = 100_000;
/** Samples per pushed batch when a subscription catches up after falling behind. */
export const MAX_PUSH_BATCH = 10_000;

/** A channel spec with its seed resolved and its name hashed once, ready for the hot loops. */
interface SimChannel extends SignalSpec {
  name: string;
  noise: number;
  nameHash: number;
  unit?: string;
  description?: string;
}

/** The sample indices of a window: samples `first .. first+count-1`, times index × interval. */
interface SampleRange {
  first: number;
  count: number;
  /** Window start `to - length`. */
  from: number;
  /** Window end, clamped at now. */
  end: number;
}

export class SimulatorDataSource extends DataSource {
  static override paramsSchema = simulatorParamsSchema;

  readonly config: SimulatorParams;
  readonly sampleIntervalMs: number;
  private readonly series = new Map<string, SimChannel>();
  private readonly subscriptions = new Set<Unsubscribe>();

  constructor(app: AppContext, project: string, params: Params) {
    super(app, project, params);
    // The registry validates params first; parsing again fills defaults whether it handed
    // over raw or parsed params (the schema has no transforms, so this is idempotent).
    this.config = parseOrThrow(simulatorParamsSchema, params ?? {}, 'simulator params', { code: 'BAD_PARAMS', fieldPrefix: 'params' });
    this.sampleIntervalMs = this.config.sampleIntervalMs;
    for (const spec of this.config.channels) this.series.set(spec.name, compile(spec));
  }

  override finalize(): void {
    for (const stop of [...this.subscriptions]) stop();
  }

  override getChannels(): Channel[] {
    const list: Channel[] = [];
    for (const ch of this.series.values()) {
      list.push({
        name: ch.name,
        type: 'timeseries',
        ...(ch.unit !== undefined ? { unit: ch.unit } : {}),
        ...(ch.description !== undefined ? { description: ch.description } : {}),
        signal: ch.signal,
        sampleIntervalMs: this.sampleIntervalMs,
      });
    }
    for (const ch of this.series.values()) {
      list.push({
        name: ch.name + HISTOGRAM_SUFFIX,
        type: 'histogram',
        ...(ch.unit !== undefined ? { unit: ch.unit } : {}),
        description: `Distribution of ${ch.name} over the query window`,
        source: ch.name,
      });
    }
    list.push({ name: DEVICES_CHANNEL, type: 'table', description: 'Simulated channels with their last values' });
    list.push({ name: MODEL_CHANNEL, type: 'tree', description: 'simulator → signal kind → channel, with last values' });
    return list;
  }

  override async getTimeseries(channels: string[], length: number, to: number, resampling?: number, reducer: Reducer = 'last'): Promise<SeriesSet | Resampled> {
    const chans = this.timeseriesChannels(channels, 'channels');
    checkWindow(length, to);
    // null as well as undefined means "raw": seed 000's Python callers pass None.
    const interval = resampling ?? undefined;
    if (interval !== undefined && !Number.isFinite(interval)) {
      throw new AppError('BAD_REQUEST', `resampling must be a finite number of ms, got ${resampling}`, 'resampling');
    }
    if (!REDUCERS.includes(reducer)) {
      throw new AppError('BAD_REQUEST', `unknown reducer "${reducer}"; expected one of ${REDUCERS.join(', ')}`, 'reducer');
    }
    const range = this.range(length, to);
    this.checkLimit(range, chans.length, interval !== undefined);

    const set: SeriesSet = {};
    for (const ch of chans) set[ch.name] = await this.generate(ch, range);
    if (interval === undefined) return set;

    // Resample over the window as clamped at now, so no empty buckets from the future appear.
    const clampedLength = range.end - range.from;
    if (!(clampedLength > 0)) {
      return {
        times: new Float64Array(0),
        names: chans.map((c) => c.name),
        columns: chans.map(() => new Float64Array(0)),
        interval: interval > 0 ? interval : this.sampleIntervalMs,
      };
    }
    return DataSource.resample(set, clampedLength, range.end, interval, reducer);
  }

  override async getObject(channels: string[], length: number, to: number): Promise<ObjectSet> {
    if (!Array.isArray(channels)) throw new AppError('BAD_REQUEST', 'channels must be an array of channel names', 'channels');
    checkWindow(length, to);
    // Resolve every name before any work, so a bad name fails fast and alone.
    const wanted = unique(channels).map((name) => ({ name, kind: this.objectKind(name) }));
    const range = this.range(length, to);
    const histograms = wanted.filter((w) => w.kind !== DEVICES_CHANNEL && w.kind !== MODEL_CHANNEL).length;
    this.checkLimit(range, histograms, false);

    const out: ObjectSet = {};
    for (const { name, kind } of wanted) {
      if (kind === DEVICES_CHANNEL) out[name] = this.devicesTable(range);
      else if (kind === MODEL_CHANNEL) out[name] = this.modelTree(range);
      else out[name] = await this.histogram(kind, range);
    }
    return out;
  }

  override getBlob(channel: string, params: Params, output: BlobSink): string {
    const [ch] = this.timeseriesChannels([channel], 'channel');
    const p = parseOrThrow(sparklineParamsSchema, params ?? {}, 'sparkline params', { fieldPrefix: 'params' });
    const to = p.to ?? Date.now();
    const range = this.range(p.lengthMs, to);
    // A sparkline needs about one point per pixel: take every k-th sample (exact values,
    // computed directly, so any window length costs the same).
    const stride = Math.max(1, Math.ceil(range.count / p.width));
    const first = Math.ceil(range.first / stride) * stride;
    const n = range.count > 0 ? Math.max(0, Math.floor((range.first + range.count - 1 - first) / stride) + 1) : 0;
    const times = new Float64Array(n);
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const index = first + i * stride;
      times[i] = index * this.sampleIntervalMs;
      values[i] = this.valueAt(ch, index);
    }
    const title = ch.unit ? `${ch.name} (${ch.unit})` : ch.name;
    output.write(renderSparkline({ title, width: p.width, height: p.height, times, values, from: range.from, to: range.end }));
    return 'image/svg+xml';
  }

  /**
   * Pushes every new sample of `channels` as it comes into existence: a timer aligned to the
   * sample grid fires just after each sample time, and one that fell behind pushes all the
   * samples it missed (in batches of at most MAX_PUSH_BATCH), so a listener sees each sample
   * exactly once and in order.
   */
  override subscribe(channels: string[], listener: SampleListener): Unsubscribe {
    const chans = this.timeseriesChannels(channels, 'channels');
    if (typeof listener !== 'function') throw new AppError('BAD_REQUEST', 'listener must be a function', 'listener');
    // Nothing to push: no timer to keep.
    if (chans.length === 0) return () => {};
    const interval = this.sampleIntervalMs;
    // The first sample that does not exist yet (samples exist strictly before now).
    let next = Math.ceil(Date.now() / interval);
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;

    const schedule = (delay: number): void => {
      timer = setTimeout(tick, Math.max(0, delay));
      // A simulator must not keep the process alive on its own.
      timer.unref();
    };
    const tick = (): void => {
      timer = undefined;
      if (stopped) return;
      const now = Date.now();
      const available = Math.ceil(now / interval) - next;
      const count = Math.min(available, MAX_PUSH_BATCH);
      if (count > 0) {
        const batch: SeriesSet = {};
        for (const ch of chans) batch[ch.name] = this.generateIndices(ch, next, count);
        next += count;
        try {
          listener(batch);
        } catch (err) {
          // One faulty listener must not stop its own stream.
          this.app.logger.warn({ err, plugin: this.pluginName }, 'simulator subscription listener threw');
        }
      }
      if (stopped) return;
      // Still behind: continue at once (after I/O); else wake just after the next sample time.
      schedule(available > count ? 0 : next * interval - Date.now() + 1);
    };

    const unsubscribe: Unsubscribe = () => {
      if (stopped) return;
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      this.subscriptions.delete(unsubscribe);
    };
    this.subscriptions.add(unsubscribe);
    schedule(next * interval - Date.now() + 1);
    return unsubscribe;
  }

  /** Number of live subscriptions (for diagnostics and tests). */
  get subscriptionCount(): number {
    return this.subscriptions.size;
  }

  // -------------------------------------------------------------------------------------

  /** The value of sample `index` (at time index × sampleIntervalMs): shape plus noise. */
  valueAt(ch: SimChannel, index: number): number {
    const v = shapeAt(index * this.sampleIntervalMs, ch);
    return ch.noise > 0 ? v + noiseAt(ch.noise, ch.seed, ch.nameHash, index) : v;
  }

  /** A window's samples, computed in slices of GENERATE_SLICE with the event loop served between them. */
  private async generate(ch: SimChannel, range: SampleRange): Promise<Series> {
    const times = new Float64Array(range.count);
    const values = new Float64Array(range.count);
    for (let done = 0; done < range.count; done += GENERATE_SLICE) {
      if (done > 0) await yieldToEventLoop();
      this.fill(ch, range.first, times, values, done, Math.min(range.count, done + GENERATE_SLICE));
    }
    return { times, values };
  }

  private generateIndices(ch: SimChannel, first: number, count: number): Series {
    const times = new Float64Array(count);
    const values = new Float64Array(count);
    this.fill(ch, first, times, values, 0, count);
    return { times, values };
  }

  /** Samples `first + begin .. first + end - 1` into `times` / `values` at `begin .. end - 1`. */
  private fill(ch: SimChannel, first: number, times: Float64Array, values: Float64Array, begin: number, end: number): void {
    const interval = this.sampleIntervalMs;
    for (let i = begin; i < end; i++) {
      const index = first + i;
      // index × interval, not a running sum: no rounding drift, same time in every window.
      times[i] = index * interval;
      values[i] = this.valueAt(ch, index);
    }
  }

  /** Sample indices in `[to - length, min(to, now))`. */
  private range(length: number, to: number): SampleRange {
    const from = to - length;
    const end = Math.min(to, Date.now());
    const first = Math.ceil(from / this.sampleIntervalMs);
    const last = Math.ceil(end / this.sampleIntervalMs) - 1;
    return { first, count: Math.max(0, last - first + 1), from, end };
  }

  private checkLimit(range: SampleRange, nChannels: number, resampling: boolean): void {
    if (range.count > MAX_SAMPLES_PER_CHANNEL) {
      throw new AppError(
        'LIMIT_EXCEEDED',
        `the window holds ${range.count} samples per channel at ${this.sampleIntervalMs} ms, more than the limit of ${MAX_SAMPLES_PER_CHANNEL}; ` +
          (resampling ? 'query a shorter window' : 'query a shorter window or resample'),
        'length',
      );
    }
    if (range.count * nChannels > MAX_SAMPLES_PER_REQUEST) {
      throw new AppError(
        'LIMIT_EXCEEDED',
        `the window holds ${range.count} samples for each of ${nChannels} channels, more than the limit of ${MAX_SAMPLES_PER_REQUEST} per request; query fewer channels or a shorter window`,
        'channels',
      );
    }
  }

  private timeseriesChannels(names: string[], field: string): SimChannel[] {
    if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) {
      throw new AppError('BAD_REQUEST', `${field} must be ${field === 'channel' ? 'a channel name' : 'an array of channel names'}`, field);
    }
    return unique(names).map((name) => {
      const ch = this.series.get(name);
      if (ch) return ch;
      const hint = this.isObjectChannel(name) ? ` ("${name}" is an object channel; use getObject)` : '';
      throw new AppError('UNKNOWN_CHANNEL', `unknown timeseries channel "${name}" in simulator${hint}`, field);
    });
  }

  /** DEVICES_CHANNEL, MODEL_CHANNEL, or the source channel of a histogram. */
  private objectKind(name: unknown): string {
    if (typeof name !== 'string') throw new AppError('BAD_REQUEST', 'channels must be an array of channel names', 'channels');
    if (name === DEVICES_CHANNEL || name === MODEL_CHANNEL) return name;
    if (name.endsWith(HISTOGRAM_SUFFIX)) {
      const source = name.slice(0, -HISTOGRAM_SUFFIX.length);
      if (this.series.has(source)) return source;
    }
    const hint = this.series.has(name) ? ` ("${name}" is a timeseries channel; use getTimeseries)` : '';
    throw new AppError('UNKNOWN_CHANNEL', `unknown object channel "${name}" in simulator${hint}`, 'channels');
  }

  private isObjectChannel(name: string): boolean {
    try {
      this.objectKind(name);
      return true;
    } catch {
      return false;
    }
  }

  /** The last sample of the window, if it holds any. */
  private lastSample(ch: SimChannel, range: SampleRange): { time: number; value: number } | null {
    if (range.count === 0) return null;
    const index = range.first + range.count - 1;
    return { time: index * this.sampleIntervalMs, value: this.valueAt(ch, index) };
  }

  private lastTime(range: SampleRange): number | undefined {
    return range.count > 0 ? (range.first + range.count - 1) * this.sampleIntervalMs : undefined;
  }

  /**
   * HISTOGRAM_BINS equal bins between the window's min and max. The last bin also holds the
   * max (as numpy does), so every sample is counted once; a constant series gets bins
   * around its value.
   */
  private async histogram(source: string, range: SampleRange): Promise<HistogramObject> {
    const ch = this.series.get(source)!;
    const time = this.lastTime(range);
    const { values } = await this.generate(ch, range);
    if (values.length === 0) return { type: 'histogram', edges: [], counts: [], ...(time !== undefined ? { time } : {}) };
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < values.length; i++) {
      if (values[i] < min) min = values[i];
      if (values[i] > max) max = values[i];
    }
    if (max === min) {
      min -= 0.5;
      max += 0.5;
    }
    const width = (max - min) / HISTOGRAM_BINS;
    const edges = new Array<number>(HISTOGRAM_BINS + 1);
    for (let i = 0; i <= HISTOGRAM_BINS; i++) edges[i] = i === HISTOGRAM_BINS ? max : min + i * width;
    const counts = new Array<number>(HISTOGRAM_BINS).fill(0);
    for (let i = 0; i < values.length; i++) {
      let b = floor((values[i] - min) / width);
      if (b >= HISTOGRAM_BINS) b = HISTOGRAM_BINS - 1;
      else if (b < 0) b = 0;
      counts[b]++;
    }
    return { type: 'histogram', edges, counts, ...(time !== undefined ? { time } : {}) };
  }

  private devicesTable(range: SampleRange): TableObject {
    const rows: TableObject['rows'] = [];
    for (const ch of this.series.values()) {
      const last = this.lastSample(ch, range);
      rows.push([ch.name, ch.signal, ch.unit ?? '', last ? last.value : null, last ? last.time : null]);
    }
    const time = this.lastTime(range);
    return {
      type: 'table',
      columns: [
        { name: 'name', type: 'string' },
        { name: 'signal', type: 'string' },
        { name: 'unit', type: 'string' },
        { name: 'value', type: 'number' },
        { name: 'time', type: 'time' },
      ],
      rows,
      ...(time !== undefined ? { time } : {}),
    };
  }

  private modelTree(range: SampleRange): TreeObject {
    const kinds: TreeNode[] = [];
    for (const kind of SIGNALS) {
      const children: TreeNode[] = [];
      for (const ch of this.series.values()) {
        if (ch.signal !== kind) continue;
        const last = this.lastSample(ch, range);
        children.push({ name: ch.name, value: last ? last.value : null });
      }
      // Only kinds that have channels: an empty branch tells a user nothing.
      if (children.length > 0) kinds.push({ name: kind, children });
    }
    const time = this.lastTime(range);
    return { type: 'tree', root: { name: 'simulator', children: kinds }, ...(time !== undefined ? { time } : {}) };
  }
}

function compile(spec: ChannelSpec): SimChannel {
  return {
    name: spec.name,
    signal: spec.signal,
    period: spec.period,
    amplitude: spec.amplitude,
    offset: spec.offset,
    phase: spec.phase,
    noise: spec.noise,
    seed: resolveSeed(spec.name, spec.seed),
    nameHash: hashString(spec.name),
    unit: spec.unit,
    description: spec.description,
  };
}

function checkWindow(length: number, to: number): void {
  if (!(typeof length === 'number' && Number.isFinite(length) && length >= 0)) {
    throw new AppError('BAD_REQUEST', `length must be a non-negative number of ms, got ${length}`, 'length');
  }
  if (!(typeof to === 'number' && Number.isFinite(to))) {
    throw new AppError('BAD_REQUEST', `to must be a finite epoch-ms time, got ${to}`, 'to');
  }
}

function unique<T>(list: T[]): T[] {
  return [...new Set(list)];
}
