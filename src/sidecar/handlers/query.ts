/**
 * The query handler: a request shaped like Grafana's `/api/ds/query` in, history as
 * DataFrame JSON out, `{results:{<refId>:{status, frames, error?}}}`. Each query is checked
 * and answered on its own, so one bad query is its own error and the others still answer.
 */
import { encodeData, wideSchema, type FrameJSON, type QueryResponseJSON, type QueryResultJSON } from '../../common/frames';
import { querySchema, queryRequestSchema, type Query } from '../../common/wire';
import { AppError, toAppError } from '../errors';
import { parseOrThrow } from '../validation';
import type { HandlerContext } from './context';
import { fieldSpec } from './fields';
import { makeGrid } from '../timeseries/bucketize';
import { yieldToEventLoop } from '../core/event-loop';
import { chooseInterval } from '../timeseries/interval';
import { objectFrames } from './object-frames';

export interface QueryAnswer {
  /** 200 when any query answered; otherwise the first failing query's status. */
  status: number;
  body: QueryResponseJSON;
}

/** A query checked and sized before any of the request's work starts. */
interface Planned {
  refId: string;
  query?: Query;
  /** Its grid, for timeseries queries: explicit or chosen bucket width, or inferred with a row cap. */
  interval?: number;
  /** Most rows its frame can have. */
  rows: number;
  /** Refused before it ran (bad input, a limit). */
  error?: AppError;
}

export async function handleQuery(ctx: HandlerContext, body: unknown): Promise<QueryAnswer> {
  const env = parseOrThrow(queryRequestSchema, body, 'query request');
  if (!(env.to > env.from))
    throw new AppError('BAD_REQUEST', `invalid query request: to (${env.to}) must be after from (${env.from})`, 'to');
  if (env.queries.length > ctx.limits.queriesPerRequest) {
    throw new AppError(
      'LIMIT_EXCEEDED',
      `invalid query request: at most ${ctx.limits.queriesPerRequest} queries per request, got ${env.queries.length}`,
      'queries',
    );
  }
  const schema = querySchema(ctx.limits);
  const plans = env.queries.map((raw, i) => plan(ctx, schema, raw, i, env.from, env.to));
  const seen = new Set<string>();
  for (const p of plans) {
    if (seen.has(p.refId)) throw new AppError('BAD_REQUEST', `invalid query request: duplicate refId "${p.refId}"`, 'queries');
    seen.add(p.refId);
  }
  // The request's whole output, sized before anything is fetched or allocated.
  const cells = plans.reduce((n, p) => n + (p.error || !p.query ? 0 : p.rows * p.query.channels.length), 0);
  if (cells > ctx.limits.cellsPerRequest) {
    throw new AppError(
      'LIMIT_EXCEEDED',
      `query request would build ${cells} cells (rows × channels over its queries), more than the limit of ${ctx.limits.cellsPerRequest} (limits.cellsPerRequest); ` +
        'use fewer channels, a shorter window or a larger interval',
      'queries',
    );
  }

  const results: Record<string, QueryResultJSON> = {};
  for (const p of plans) {
    // One query at a time, yielding between them: a request of many heavy queries shares the
    // event loop with everything else instead of holding it for their sum, and holds one
    // query's raw samples in memory at a time, not all of them.
    if (p !== plans[0]) await yieldToEventLoop();
    results[p.refId] = await answer(ctx, p, env.from, env.to);
  }
  const all = Object.values(results);
  const firstError = all.find((r) => r.error);
  const status = all.some((r) => !r.error) || !firstError ? 200 : firstError.status;
  return { status, body: { results } };
}

function plan(ctx: HandlerContext, schema: ReturnType<typeof querySchema>, raw: unknown, i: number, from: number, to: number): Planned {
  const refId = refIdOf(raw, i);
  let query: Query;
  try {
    query = parseOrThrow(schema, raw, `query ${refId}`, { fieldPrefix: `queries.${i}` });
  } catch (err) {
    return { refId, rows: 0, error: toAppError(err) };
  }
  if (query.hide || query.kind === 'object') return { refId, query, rows: query.hide ? 0 : 1 };
  const { rowsPerFrame } = ctx.limits;
  if (query.resampling !== undefined && query.resampling <= 0) {
    // Inferred from the data, coarsened to maxDataPoints (two rows at most for maxDataPoints 1).
    return { refId, query, interval: query.resampling, rows: Math.max(2, query.maxDataPoints) };
  }
  const interval = query.resampling ?? chooseInterval(from, to, query.intervalMs, query.maxDataPoints);
  const rows = makeGrid(from, to, interval).nBuckets;
  if (rows > rowsPerFrame) {
    const error = new AppError(
      'LIMIT_EXCEEDED',
      `query ${refId} would return ${rows} rows, more than ${rowsPerFrame} (limits.rowsPerFrame); use a larger resampling interval`,
      `queries.${i}.resampling`,
    );
    return { refId, query, interval, rows, error };
  }
  return { refId, query, interval, rows };
}

async function answer(ctx: HandlerContext, p: Planned, from: number, to: number): Promise<QueryResultJSON> {
  try {
    if (p.error) throw p.error;
    const q = p.query!;
    if (q.hide) return { status: 200, frames: [] };
    return { status: 200, frames: await runQuery(ctx, q, p, from, to) };
  } catch (err) {
    const e = toAppError(err);
    return { status: e.status, frames: [], error: e.message, errorSource: e.status >= 500 ? 'plugin' : 'downstream' };
  }
}

/** The refId to answer under, even for a query too broken to validate. */
function refIdOf(raw: unknown, index: number): string {
  const refId = (raw as { refId?: unknown } | null)?.refId;
  return typeof refId === 'string' && refId.length > 0 && refId.length <= 64 ? refId : `#${index}`;
}

async function runQuery(ctx: HandlerContext, q: Query, p: Planned, from: number, to: number): Promise<FrameJSON[]> {
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

  const grid = await instance.timeseries(q.channels, length, to, p.interval!, q.reducer, { maxBuckets: p.rows });
  if (grid.times.length > ctx.limits.rowsPerFrame) {
    // Only a plugin that resamples itself can get here: everything we build was sized above.
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
