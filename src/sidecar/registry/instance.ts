/**
 * What handlers call: one running DataSource instance behind checks. Plugins are user code,
 * so every answer is validated and normalized here, once, instead of in every handler.
 */
import { AppError } from '../errors';
import type { DataSource, Params } from './datasource';
import { isResampledShape, normalizeResampled, normalizeSeriesSet, resampledToSeriesSet } from './normalize';
import { resample, type ResampleOptions } from '../timeseries/resample';
import {
  CHANNEL_TYPES,
  REDUCERS,
  type Channel,
  type ObjectSet,
  type Reducer,
  type Resampled,
  type SampleListener,
  type SeriesSet,
  type Unsubscribe,
} from './types';

export const DEFAULT_MAX_BLOB_BYTES = 64 * 1024 * 1024;
const OBJECT_TYPES = new Set(['histogram', 'table', 'tree']);

export interface InstanceOptions {
  /** A blob larger than this is refused (LIMIT_EXCEEDED) rather than buffered. */
  maxBlobBytes?: number;
}

export interface BlobResult {
  mime: string;
  bytes: Buffer;
}

export class InstanceHandle {
  /** Channel count of the last successful listing, for health (undefined until listed). */
  channelCount?: number;
  private readonly maxBlobBytes: number;

  constructor(
    readonly id: string,
    readonly plugin: string,
    readonly project: string,
    readonly source: DataSource,
    options: InstanceOptions = {},
  ) {
    this.maxBlobBytes = options.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
  }

  /** True when the plugin pushes live samples (has `subscribe`); otherwise streams poll. */
  get canPush(): boolean {
    return typeof this.source.subscribe === 'function';
  }

  /** The plugin's channels, checked: not cached, since plugins may add channels at runtime. */
  async channels(): Promise<Channel[]> {
    const list: unknown = await this.source.getChannels();
    if (!Array.isArray(list)) throw this.bad(`getChannels returned ${typeof list}, expected an array of channels`);
    const seen = new Set<string>();
    list.forEach((ch: unknown, i) => {
      const c = ch as Partial<Channel> | null;
      if (c === null || typeof c !== 'object') throw this.bad(`channel ${i} is not an object`);
      if (typeof c.name !== 'string' || c.name === '') throw this.bad(`channel ${i} has no name (a non-empty string)`);
      if (!(CHANNEL_TYPES as readonly unknown[]).includes(c.type)) {
        throw this.bad(`channel "${c.name}" has type ${JSON.stringify(c.type)}; expected one of ${CHANNEL_TYPES.join(', ')}`);
      }
      if (seen.has(c.name)) throw new AppError('DUPLICATE_CHANNEL', `${this.label} lists channel "${c.name}" twice`);
      seen.add(c.name);
    });
    this.channelCount = list.length;
    return list as Channel[];
  }

  async channel(name: string): Promise<Channel> {
    const found = (await this.channels()).find((c) => c.name === name);
    if (!found) throw this.unknownChannels([name]);
    return found;
  }

  /**
   * Samples of `channels` in `[to - length, to)`. With `resampling` always a `Resampled`
   * grid (the registry resamples raw answers), without it always raw `SeriesSet`; either way
   * exactly the requested channels, in order. `resampling <= 0` infers the grid here, from
   * the plugin's raw samples, so `options.maxBuckets` holds for it as for any grid we build.
   */
  timeseries(channels: string[], length: number, to: number, resampling: number, reducer?: Reducer, options?: ResampleOptions): Promise<Resampled>;
  timeseries(channels: string[], length: number, to: number, resampling?: undefined, reducer?: Reducer): Promise<SeriesSet>;
  timeseries(channels: string[], length: number, to: number, resampling?: number, reducer?: Reducer, options?: ResampleOptions): Promise<SeriesSet | Resampled>;
  async timeseries(
    channels: string[],
    length: number,
    to: number,
    resampling?: number,
    reducer: Reducer = 'last',
    options: ResampleOptions = {},
  ): Promise<SeriesSet | Resampled> {
    checkWindow(length, to);
    if (resampling !== undefined && !Number.isFinite(resampling)) {
      throw new AppError('BAD_REQUEST', `resampling must be a finite number of ms, got ${resampling}`, 'resampling');
    }
    if (!REDUCERS.includes(reducer)) {
      throw new AppError('BAD_REQUEST', `unknown reducer "${reducer}"; expected one of ${REDUCERS.join(', ')}`, 'reducer');
    }
    const names = await this.checkChannels(channels);
    const infer = resampling !== undefined && resampling <= 0;
    const raw: unknown = await this.source.getTimeseries(names, length, to, infer ? undefined : resampling, reducer);

    if (isResampledShape(raw)) {
      const grid = normalizeResampled(raw, names, infer ? 0 : (resampling ?? 0), this.label);
      if (resampling === undefined) return resampledToSeriesSet(grid);
      return infer ? resample(resampledToSeriesSet(grid), length, to, resampling, reducer, options) : grid;
    }
    const set = normalizeSeriesSet(raw, names, to - length, to, this.label);
    return resampling === undefined ? set : resample(set, length, to, resampling, reducer, options);
  }

  /** Objects (histogram / table / tree) of `channels` in `[to - length, to)`. */
  async objects(channels: string[], length: number, to: number): Promise<ObjectSet> {
    checkWindow(length, to);
    const names = await this.checkChannels(channels);
    const raw: unknown = await this.source.getObject(names, length, to);
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw this.bad('getObject returned no object');
    const out: ObjectSet = {};
    for (const name of names) {
      const obj = (raw as Record<string, unknown>)[name];
      if (obj === undefined || obj === null) continue;
      const type = (obj as { type?: unknown }).type;
      if (typeof obj !== 'object' || !OBJECT_TYPES.has(type as string)) {
        throw this.bad(`object of channel "${name}" has type ${JSON.stringify(type)}; expected histogram, table or tree`);
      }
      out[name] = obj as ObjectSet[string];
    }
    return out;
  }

  /** The blob of `channel`: everything the plugin wrote into the sink, and its MIME type. */
  async blob(channel: string, params: Params = {}): Promise<BlobResult> {
    await this.checkChannels([channel]);
    const chunks: Buffer[] = [];
    let size = 0;
    let open = true;
    const sink = {
      write: (chunk: Uint8Array | string): void => {
        if (!open) throw this.bad('getBlob wrote after it returned');
        // Copy: a plugin may reuse its buffer after write() returns.
        const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk);
        size += buf.length;
        if (size > this.maxBlobBytes) {
          throw new AppError('LIMIT_EXCEEDED', `blob of channel "${channel}" exceeds ${this.maxBlobBytes} bytes`, 'channel');
        }
        chunks.push(buf);
      },
    };
    let mime: unknown;
    try {
      mime = await this.source.getBlob(channel, params, sink);
    } finally {
      open = false;
    }
    // Checked again in case the plugin swallowed the LIMIT_EXCEEDED thrown by write().
    if (size > this.maxBlobBytes) throw new AppError('LIMIT_EXCEEDED', `blob of channel "${channel}" exceeds ${this.maxBlobBytes} bytes`, 'channel');
    if (typeof mime !== 'string' || mime === '') throw this.bad('getBlob must return the MIME type of what it wrote');
    return { mime, bytes: Buffer.concat(chunks, size) };
  }

  /** Live samples pushed by the plugin; NOT_SUPPORTED when it has no `subscribe` (see canPush). */
  async subscribe(channels: string[], listener: SampleListener): Promise<Unsubscribe> {
    if (!this.canPush) throw new AppError('NOT_SUPPORTED', `subscribe is not supported by ${this.plugin}`);
    const names = await this.checkChannels(channels);
    const unsubscribe = await this.source.subscribe!(names, listener);
    let done = false;
    // Idempotent, so a stream that closes twice doesn't trip the plugin.
    return () => {
      if (done) return;
      done = true;
      unsubscribe();
    };
  }

  /** Requested names, de-duplicated in order; all must be channels of this instance. */
  private async checkChannels(channels: unknown): Promise<string[]> {
    if (!Array.isArray(channels) || channels.length === 0 || !channels.every((c) => typeof c === 'string' && c !== '')) {
      throw new AppError('BAD_REQUEST', 'channels must be a non-empty list of channel names', 'channels');
    }
    const names = [...new Set(channels as string[])];
    const known = new Set((await this.channels()).map((c) => c.name));
    const unknown = names.filter((n) => !known.has(n));
    if (unknown.length) throw this.unknownChannels(unknown);
    return names;
  }

  private unknownChannels(names: string[]): AppError {
    const list = names.map((n) => `"${n}"`).join(', ');
    return new AppError('UNKNOWN_CHANNEL', `unknown channel${names.length > 1 ? 's' : ''} ${list} in data source "${this.id}"`, 'channels');
  }

  /** A misbehaving plugin is a server-side fault (500), not the client's. */
  private bad(message: string): AppError {
    return new AppError('INTERNAL', `${this.label}: ${message}`);
  }

  private get label(): string {
    return `data source "${this.id}" (plugin ${this.plugin})`;
  }
}

function checkWindow(length: number, to: number): void {
  if (!(typeof length === 'number' && Number.isFinite(length) && length > 0)) {
    throw new AppError('BAD_REQUEST', `length must be a positive number of ms, got ${length}`, 'length');
  }
  if (!(typeof to === 'number' && Number.isFinite(to))) throw new AppError('BAD_REQUEST', `to must be a finite epoch-ms time, got ${to}`, 'to');
}
