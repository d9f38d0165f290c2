/**
 * Grafana's DataFrame JSON, as `@grafana/data`'s `dataFrameFromJSON` and
 * `StreamingDataFrame` read it. Shared by the sidecar (which writes frames) and the
 * frontend (which reads them); no Node or DOM APIs here.
 */

export type FieldType = 'time' | 'number' | 'string' | 'boolean' | 'other';

export interface FieldConfigJSON {
  unit?: string;
  displayName?: string;
  displayNameFromDS?: string;
  description?: string;
  min?: number;
  max?: number;
  decimals?: number;
  [key: string]: unknown;
}

export interface FieldSchemaJSON {
  name: string;
  type?: FieldType;
  config?: FieldConfigJSON;
  labels?: Record<string, string>;
}

export interface FrameSchemaJSON {
  name?: string;
  refId?: string;
  meta?: Record<string, unknown>;
  fields: FieldSchemaJSON[];
}

/** Positions of values JSON cannot carry, per field (see `encodeNumbers`). */
export interface EntityLookup {
  NaN?: number[];
  Inf?: number[];
  NegInf?: number[];
  Undef?: number[];
}

export interface FrameDataJSON {
  values: unknown[][];
  entities?: Array<EntityLookup | null>;
}

export interface FrameJSON {
  schema?: FrameSchemaJSON;
  data?: FrameDataJSON;
}

/** A number field's JSON values and its entity lookup (null when it needs none). */
export interface EncodedColumn {
  values: Array<number | null>;
  entities: EntityLookup | null;
}

/**
 * Encodes a column. NaN is our "no value" (an empty bucket, a missing sample) and becomes
 * null, which Grafana shows as a gap; ±Infinity go through `entities` so they survive JSON.
 */
export function encodeNumbers(column: ArrayLike<number>): EncodedColumn {
  const values = new Array<number | null>(column.length);
  let entities: EntityLookup | null = null;
  for (let i = 0; i < column.length; i++) {
    const v = column[i];
    if (v === v && v !== Infinity && v !== -Infinity) {
      values[i] = v;
      continue;
    }
    values[i] = null;
    if (v === Infinity) ((entities ??= {}).Inf ??= []).push(i);
    else if (v === -Infinity) ((entities ??= {}).NegInf ??= []).push(i);
  }
  return { values, entities };
}

/** Data of a time column followed by number columns, ready for a frame or an append. */
export function encodeData(times: ArrayLike<number>, columns: ArrayLike<number>[]): FrameDataJSON {
  const encoded = columns.map(encodeNumbers);
  const data: FrameDataJSON = { values: [Array.from(times), ...encoded.map((c) => c.values)] };
  if (encoded.some((c) => c.entities)) data.entities = [null, ...encoded.map((c) => c.entities)];
  return data;
}

export interface NumberFieldSpec {
  name: string;
  config?: FieldConfigJSON;
  labels?: Record<string, string>;
}

/** The schema of a wide time series frame: `time` plus one number field per channel. */
export function wideSchema(
  name: string,
  refId: string | undefined,
  fields: NumberFieldSpec[],
  meta?: Record<string, unknown>,
): FrameSchemaJSON {
  return {
    name,
    ...(refId !== undefined ? { refId } : {}),
    ...(meta ? { meta } : {}),
    fields: [
      { name: 'time', type: 'time', config: {} },
      ...fields.map((f) => ({ name: f.name, type: 'number' as const, config: f.config ?? {}, ...(f.labels ? { labels: f.labels } : {}) })),
    ],
  };
}

/** `{results:{<refId>:{status, frames, error?}}}`, as Grafana's `/api/ds/query` answers. */
export interface QueryResultJSON {
  status: number;
  frames: FrameJSON[];
  error?: string;
  errorSource?: 'plugin' | 'downstream';
}

export interface QueryResponseJSON {
  results: Record<string, QueryResultJSON>;
}
