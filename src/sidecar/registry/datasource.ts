/**
 * The DataSource plugin contract of seed 000, in TypeScript. A plugin derives from
 * `DataSource`, overrides what its backend can do, and leaves the rest to answer
 * "not supported". Every method may be sync or async.
 */
import type { z } from 'zod';
import { AppError } from '../errors';
import { resample } from '../timeseries/resample';
import type {
  AppContext,
  BlobSink,
  Channel,
  MaybePromise,
  ObjectSet,
  Reducer,
  Resampled,
  SampleListener,
  SeriesSet,
  Unsubscribe,
} from './types';

/**
 * Marks DataSource subclasses across module copies: a plugin compiled against another
 * copy of this file (a different path, or built vs. source) still passes the check.
 */
export const DATASOURCE_BRAND = Symbol.for('scadalive.DataSource');

export type Params = Record<string, unknown>;

/** A request to a plugin's own route (seed 002: the variables and headers of the request). */
export interface PluginRequest {
  method: string;
  /** The path below the plugin's prefix, starting with `/`. */
  path: string;
  query: Record<string, string | string[] | undefined>;
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
}

export class DataSource<P extends Params = Params> {
  static readonly [DATASOURCE_BRAND] = true;

  /**
   * Optional schema for `params`: the registry validates an instance's params with it
   * before construction and reports the first bad field.
   */
  static paramsSchema?: z.ZodType<Params>;

  /** The plugin name this instance was created from (set by the registry). */
  pluginName: string;

  constructor(
    readonly app: AppContext,
    readonly project: string,
    readonly params: P,
  ) {
    this.pluginName = new.target.name;
  }

  initialize(): MaybePromise<void> {}

  finalize(): MaybePromise<void> {}

  getChannels(): MaybePromise<Channel[]> {
    return [];
  }

  /**
   * Samples of `channels` in `[to - length, to)`. Without `resampling` the raw samples
   * (a `SeriesSet`); with it, a `Resampled` grid (see `DataSource.resample`).
   */
  getTimeseries(
    _channels: string[],
    _length: number,
    _to: number,
    _resampling?: number,
    _reducer: Reducer = 'last',
  ): MaybePromise<SeriesSet | Resampled> {
    throw this.notSupported('getTimeseries');
  }

  getObject(_channels: string[], _length: number, _to: number): MaybePromise<ObjectSet> {
    throw this.notSupported('getObject');
  }

  /** Writes the blob's bytes into `output` and returns its MIME type. */
  getBlob(_channel: string, _params: Params, _output: BlobSink): MaybePromise<string> {
    throw this.notSupported('getBlob');
  }

  /**
   * Live sources override this to push new samples as they arrive; the stream handler
   * polls `getTimeseries` at the bucket interval for sources that don't.
   */
  subscribe?(channels: string[], listener: SampleListener): MaybePromise<Unsubscribe>;

  /**
   * Seed 002's per-plugin endpoint: requests to `/plugins/<instance id>/…` (or the
   * `route_path` param) come here and answer `[status, json]`. Optional.
   */
  handleRequest?(request: PluginRequest): MaybePromise<[status: number, body: unknown]>;

  /** Seed 000's shared resampler, for plugins whose backend cannot resample itself. */
  static resample(set: SeriesSet, length: number, to: number, interval: number, reducer: Reducer = 'last'): Resampled {
    return resample(set, length, to, interval, reducer);
  }

  protected notSupported(method: string): AppError {
    return new AppError('NOT_SUPPORTED', `${method} is not supported by ${this.pluginName}`);
  }
}

/** `any` params so that subclasses with typed params (validated by their paramsSchema) fit. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type DataSourceClass = (new (app: AppContext, project: string, params: any) => DataSource<any>) & {
  paramsSchema?: z.ZodType<Params>;
};

/** True when `value` is a class deriving from `DataSource` (by brand, see above). */
export function isDataSourceClass(value: unknown): value is DataSourceClass {
  return typeof value === 'function' && (value as unknown as Record<symbol, unknown>)[DATASOURCE_BRAND] === true;
}
