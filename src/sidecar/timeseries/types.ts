/**
 * The resampler's data model, in columnar form: raw samples per channel in, one aligned grid
 * out. Times are epoch milliseconds; a value of NaN means "no value" (null).
 */
// One list of reducers for the sidecar and the frontend's editor.
export { REDUCERS, type Reducer } from '../../common/query';

/** One channel's raw samples: two parallel columns, sorted by time. */
export interface Series {
  times: Float64Array;
  values: Float64Array;
}

/** Raw samples of several channels, keyed by channel name. */
export type SeriesSet = Record<string, Series>;

/** The resampler's output: one shared time column and one value column per channel. */
export interface Resampled {
  /** Bucket starts (epoch ms), ascending. */
  times: Float64Array;
  /** Channel names in column order. */
  names: string[];
  /** One column per name; NaN is an empty bucket (null). */
  columns: Float64Array[];
  /** The bucket width actually used (inferred when resampling <= 0). */
  interval: number;
  /**
   * Why part of the answer is missing or approximate, in words for the user (e.g. a window
   * reaching past the data kept). Shown in Grafana as the frame's notices.
   */
  notices?: string[];
}

