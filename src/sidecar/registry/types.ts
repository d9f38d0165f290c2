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

// The resampler's columnar shapes, part of the plugin contract too.
export { REDUCERS, type Reducer, type Series, type SeriesSet, type Resampled } from '../timeseries/types';
import type { SeriesSet } from '../timeseries/types';

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
