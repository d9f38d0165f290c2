/**
 * The query handler: a request shaped like Grafana's `/api/ds/query` in, history as
 * DataFrame JSON out, `{results:{<refId>:{status, frames, error?}}}`. Each query is checked
 * and answered on its own, so one bad query is its own error and the others still answer.
 */
import { z } from 'zod';
import { encodeData, wideSchema, type FrameJSON, type QueryResponseJSON, type QueryResultJSON } from '../../common/frames';
import { AppError, toAppError } from '../errors';
import { REDUCERS } from '../registry/types';
import { parseOrThrow } from '../validation';
import type { HandlerContext } from './context';
import { fieldSpec } from './fields';
import { chooseInterval } from './interval';
import { objectFrames } from './object-frames';

/** Grafana sends times as epoch-ms strings; people and tests often send numbers. */
const epochMs = z.preprocess(
  (v) => (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v),
  z.number({ error: 'must be epoch milliseconds (a number or a numeric string)' }).finite(),
);

/** The envelope: anything wrong here fails the whole request. */
const envelopeSchema = z.object({
  from: epochMs,
  to: epochMs,
  queries: z.array(z.unknown()).min(1, 'must hold at least one query'),
});

/** One query. Not strict: Grafana adds its own keys (datasource, datasourceId, hide, key…). */
export function querySchema(ctx: HandlerContext) {
  const { channelsPerQuery, rowsPerFrame } = ctx.limits;
  return z.object({
    refId: z.string().min(1).max(64).default('A'),
    instance: z.string().min(1, 'must name a data source instance'),
    channels: z
      .array(z.string().min(1))
      .min(1, 'must name at least one channel')
      .max(channelsPerQuery, `at most ${channelsPerQuery} channels per query`),
    kind: z.enum(['timeseries', 'object']).default('timeseries'),
    reducer: z.enum(REDUCERS).default('last'),
    /** Explicit bucket width in ms; <= 0 aligns channels on a grid inferred from the data. */
    resampling: z.number().finite().optional(),
    intervalMs: z.number().positive().finite().optional(),
    maxDataPoints: z.number().int().positive().max(rowsPerFrame, `must be at most ${rowsPerFrame}`).default(Math.min(1000, rowsPerFrame)),
    legend: z.string().max(256).optional(),
    hide: z.boolean().optional(),
  });
}
export type Query = z.output<ReturnType<typeof querySchema>>;

export interface QueryAnswer {
  /** 200 when any query answered; otherwise the first failing query's status. */
  status: number;
  body: QueryResponseJSON;
}

export async function handleQuery(ctx: HandlerContext, body: unknown): Promise<QueryAnswer> {
  const env = parseOrThrow(envelopeSchema, body, 'query request');
  if (!(env.to > env.from))
    throw new AppError('BAD_REQUEST', `invalid query request: to (${env.to}) must be after from (${env.from})`, 'to');
  if (env.queries.length > ctx.limits.queriesPerRequest) {
    throw new AppError(
      'LIMIT_EXCEEDED',
      `invalid query request: at most ${ctx.limits.queriesPerRequest} queries per request, got ${env.queries.length}`,
      'queries',
    );
  }
  const schema = querySchema(ctx);
  const answers = await Promise.all(
    env.queries.map(async (raw, i): Promise<[string, QueryResultJSON]> => {
      const refId = refIdOf(raw, i);
      try {
        const q = parseOrThrow(schema, raw, `query ${refId}`, { fieldPrefix: `queries.${i}` });
        if (q.hide) return [refId, { status: 200, frames: [] }];
        return [refId, { status: 200, frames: await runQuery(ctx, q, env.from, env.to) }];
      } catch (err) {
        const e = toAppError(err);
        return [refId, { status: e.status, frames: [], error: e.message, errorSource: e.status >= 500 ? 'plugin' : 'downstream' }];
      }
    }),
  );
  const results: Record<string, QueryResultJSON> = {};
  for (const [refId, result] of answers) {
    if (results[refId]) throw new AppError('BAD_REQUEST', `invalid query request: duplicate refId "${refId}"`, 'queries');
    results[refId] = result;
  }
  const firstError = answers.find(([, r]) => r.error);
  const status = answers.some(([, r]) => !r.error) || !firstError ? 200 : firstError[1].status;
  return { status, body: { results } };
}

/** The refId to answer under, even for a query too broken to validate. */
function refIdOf(raw: unknown, index: number): string {
  const refId = (raw as { refId?: unknown } | null)?.refId;
  return typeof refId === 'string' && refId.length > 0 && refId.length <= 64 ? refId : `#${index}`;
}

async function runQuery(ctx: HandlerContext, q: Query, from: number, to: number): Promise<FrameJSON[]> {
  const instance = ctx.registry.get(q.instance);
  const length = to - from;
  if (q.kind === 'object') {
    const objects = await instance.objects(q.channels, length, to);
    const frames: FrameJSON[] = [];
    for (const name of q.channels) {
      const obj = objects[name];
      if (obj) frames.push(...objectFrames(q.instance, await instance.channel(name), obj, q.refId));
    }
    return frames;
  }

  const interval = q.resampling ?? chooseInterval(from, to, q.intervalMs, q.maxDataPoints);
  const grid = await instance.timeseries(q.channels, length, to, interval, q.reducer);
  if (grid.times.length > ctx.limits.rowsPerFrame) {
    throw new AppError(
      'LIMIT_EXCEEDED',
      `query ${q.refId} would return ${grid.times.length} rows, more than ${ctx.limits.rowsPerFrame}; use a larger resampling interval`,
      'resampling',
    );
  }
  const byName = new Map((await instance.channels()).map((c) => [c.name, c]));
  const fields = grid.names.map((name) => fieldSpec(q.instance, byName.get(name) ?? { name, type: 'timeseries' }, q.legend));
  const meta = {
    custom: { intervalMs: grid.interval, reducer: q.reducer },
    executedQueryString: describe(q, grid.interval),
    // Grafana shows these on the panel: data missing for a reason is never silent.
    ...(grid.notices?.length ? { notices: grid.notices.map((text) => ({ severity: 'warning' as const, text })) } : {}),
  };
  return [{ schema: wideSchema(q.instance, q.refId, fields, meta), data: encodeData(grid.times, grid.columns) }];
}

/** Shown in Grafana's query inspector: what the sidecar actually ran. */
function describe(q: Query, interval: number): string {
  return `${q.reducer}(${q.channels.join(', ')}) of ${q.instance} every ${interval} ms`;
}
