/**
 * The data model of DataSource plugins (seed 000), in columnar form.
 * Times are epoch milliseconds; a value of NaN means "no value" (null).
 */
import type { Logger } from 'pino';

export type MaybePromise<T> = T | Promise<T>;

export const CHANNEL_TYPES = ['timeseries', 'histogram', 'table', 'tree'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];

/** A channel as `getChannels()` lists it; extra metadata is kept and shown to the frontend. */
export interface Channel {
  name: string;
  type: ChannelType;
  unit?: string;
  description?: string;
  labels?: Record<string, string>;
  [meta: string]: unknown;
}

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

export interface HistogramObject {
  type: 'histogram';
  /** Bucket edges: `counts[i]` counts values in [edges[i], edges[i+1]). */
  edges: number[];
  counts: number[];
  time?: number;
}

export interface TableColumn {
  name: string;
  type: 'number' | 'string' | 'boolean' | 'time';
  unit?: string;
}

export interface TableObject {
  type: 'table';
  columns: TableColumn[];
  rows: Array<Array<number | string | boolean | null>>;
  time?: number;
}

export interface TreeNode {
  name: string;
  value?: number | string | boolean | null;
  children?: TreeNode[];
}

export interface TreeObject {
  type: 'tree';
  root: TreeNode;
  time?: number;
}

export type ObjectValue = HistogramObject | TableObject | TreeObject;
export type ObjectSet = Record<string, ObjectValue>;

/** Where `getBlob` writes its bytes. */
export interface BlobSink {
  write(chunk: Uint8Array | string): void;
}

/** Live samples pushed by a source: new samples per channel, each batch time-sorted. */
export type SampleListener = (batch: SeriesSet) => void;
export type Unsubscribe = () => void;

/** What the host gives every plugin instance. */
export interface AppContext {
  logger: Logger;
  /** Directory relative paths in params resolve against (the config file's). */
  baseDir: string;
  version: string;
}
