/**
 * Seed 004's (PyDataColl's) REST API as a fastify plugin, over the model service, the sample
 * store and (optionally) the device manager:
 *
 *   app.register(scadaRestRoutes, { service, store, manager, requireControl })
 *
 * Every param, query and body is validated with zod here or in the service; bad input is a
 * 400 `{error:{code,message,field}}` naming the field, an unknown id a 404 naming the path
 * parameter. Model writes and device_ctrl run behind `requireControl` (the control role);
 * reads and device_call (an on-demand read) need only a read key, which the server's auth
 * hook has already checked.
 *
 * Answers: objects as stored (links with their `id` = series id); lists as JSON arrays
 * sorted by id; 201 with the object on create; 200 with the object on PUT; 200 with
 * `{deleted:{devices,terms,items,links}}` on DELETE (cascades included).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError } from '../../errors';
import { sendError, toHttpError } from '../error-reply';
import type { SampleStore } from '../../store/types';
import { parseOrThrow } from '../../validation';
import type { LinkView, ModelService } from '../../scada/model/service';
import { DEVICE_PROTOCOL_TITLES, DEVICE_PROTOCOLS, MODEL_ID, SUPPORTED_DEVICE_PROTOCOLS, TERM_PROTOCOLS } from '../../scada/model/schemas';
import { nthNewestSample, recentSamples, type SampleView } from './scada-samples';

/**
 * What the REST API needs of the device manager. `call` reads now (all links of the device
 * when `linkIds` is absent); `control` writes one link, then reads it back.
 */
export interface DeviceManagerLike {
  call(deviceId: string, linkIds?: readonly string[]): Promise<unknown>;
  control(deviceId: string, linkId: string, value: number | boolean | string): Promise<unknown>;
}

export type RouteGuard = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown> | void;

export interface ScadaRestOptions {
  service: ModelService;
  store: Pick<SampleStore, 'range' | 'latest'>;
  /** The device manager, or a getter when it is built after the server; absent → 503 NOT_READY. */
  manager?: DeviceManagerLike | (() => DeviceManagerLike | undefined);
  /** Guard of every write, run as the route's onRequest hook: answers 403 unless the caller has the control role. */
  requireControl: RouteGuard;
  /** Most samples one `datas` request answers (default 10,000). */
  maxSamples?: number;
}

export const DEFAULT_SAMPLE_LIMIT = 100;

// ---- edge schemas ----------------------------------------------------------------------

const id = z.string().regex(MODEL_ID, 'must be 1-64 letters, digits, "_" or "-"');
const intString = (min: number, max: number) =>
  z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));
/** Epoch ms (the project's time everywhere), or an ISO 8601 date for people typing URLs. */
const time = z.string().transform((s, ctx) => {
  const t = /^-?\d+$/.test(s) ? Number(s) : /^\d{4}-\d\d-\d\d/.test(s) ? Date.parse(s) : NaN;
  if (!Number.isSafeInteger(t)) {
    ctx.addIssue({ code: 'custom', message: 'must be epoch milliseconds or an ISO 8601 date' });
    return z.NEVER;
  }
  return t;
});

const P = {
  device: z.strictObject({ device_id: id }),
  term: z.strictObject({ term_id: id }),
  item: z.strictObject({ item_id: id }),
  termItem: z.strictObject({ term_id: id, item_id: id }),
  datas: z.strictObject({ device_id: id, term_id: id, item_id: id }),
};
/** Query strings are checked too: a typo (`?limt=5`) is a 400, not silently ignored. */
const noQuery = z.strictObject({});
const bulkQuery = z.strictObject({ mode: z.enum(['create', 'upsert']).optional() });
const callBody = z.strictObject({ device_id: id, term_id: id.optional(), item_id: id.optional() });
const ctrlBody = z.strictObject({ device_id: id, term_id: id, item_id: id, value: z.union([z.number(), z.boolean(), z.string()]) });

function params<S extends z.ZodType>(schema: S, req: FastifyRequest): z.output<S> {
  return parseOrThrow(schema, { ...(req.params as object) }, 'path');
}

function body(req: FastifyRequest): unknown {
  if (req.body === undefined || req.body === null) throw new AppError('BAD_REQUEST', 'body: required: a JSON object', 'body');
  return req.body;
}

/** A body that must be one JSON object (everything but the bulk route, which also takes a list). */
function objectBody(req: FastifyRequest): unknown {
  const b = body(req);
  if (typeof b !== 'object' || Array.isArray(b)) throw new AppError('BAD_REQUEST', 'body: must be a JSON object', 'body');
  return b;
}

// ---- the plugin --------------------------------------------------------------------------

export async function scadaRestRoutes(app: FastifyInstance, options: ScadaRestOptions): Promise<void> {
  const { service, store, requireControl } = options;
  const maxSamples = options.maxSamples ?? 10_000;
  const manager = (): DeviceManagerLike => {
    const m = typeof options.manager === 'function' ? options.manager() : options.manager;
    if (!m) throw new AppError('NOT_READY', 'the device manager is not running; device_call and device_ctrl are unavailable');
    return m;
  };

  // Same answers as the server's handler, so the plugin also works on a bare fastify (tests).
  app.setErrorHandler((err, req, reply) => {
    const e = toHttpError(err, req);
    if (e.status >= 500) req.log.error({ err }, 'request failed');
    return sendError(reply, e);
  });

  /**
   * Registers a route whose query string is checked against `query` (none allowed by
   * default). Control routes check the role first, so a read key learns nothing but 403.
   */
  function on<Q extends z.ZodType = typeof noQuery>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    opts: { control?: boolean; query?: Q; status?: number },
    handler: (req: FastifyRequest, q: z.output<Q>) => Promise<unknown>,
  ): void {
    app.route({
      method,
      url,
      // onRequest (after the server's auth hook set the role, before the body is even parsed).
      ...(opts.control ? { onRequest: requireControl } : {}),
      handler: async (req, reply) => {
        const q = parseOrThrow(opts.query ?? noQuery, { ...(req.query as object) }, 'query') as z.output<Q>;
        const answer = await handler(req, q);
        return reply.code(opts.status ?? 200).send(answer);
      },
    });
  }
  const created = { control: true, status: 201 };
  const control = { control: true };

  // ---- protocols ----
  on('GET', '/api/v1/device_protocols', {}, async () =>
    DEVICE_PROTOCOLS.map((protocol) => ({
      protocol,
      title: DEVICE_PROTOCOL_TITLES[protocol],
      supported: SUPPORTED_DEVICE_PROTOCOLS.includes(protocol),
    })),
  );
  on('GET', '/api/v1/term_protocols', {}, async () => DEVICE_PROTOCOLS.map((protocol) => ({ protocol, ...TERM_PROTOCOLS[protocol] })));

  // ---- devices ----
  on('GET', '/api/v1/devices', {}, () => service.listDevices());
  on('GET', '/api/v1/devices/:device_id', {}, (req) => service.getDevice(params(P.device, req).device_id));
  on('GET', '/api/v1/devices/:device_id/terms', {}, (req) => service.listTerms({ deviceId: params(P.device, req).device_id }));
  on('POST', '/api/v1/devices', created, (req) => service.createDevice(objectBody(req)));
  on('PUT', '/api/v1/devices/:device_id', control, (req) => service.updateDevice(params(P.device, req).device_id, objectBody(req)));
  on('DELETE', '/api/v1/devices/:device_id', control, async (req) => ({
    deleted: await service.deleteDevice(params(P.device, req).device_id),
  }));

  // ---- samples of a link ----
  const datasQuery = z.strictObject({ from: time.optional(), to: time.optional(), limit: intString(1, maxSamples).optional() });
  const indexQuery = z.strictObject({ from: time.optional(), to: time.optional() });
  const indexParam = intString(0, maxSamples - 1);
  const DATAS = '/api/v1/devices/:device_id/terms/:term_id/items/:item_id/datas';

  on('GET', DATAS, { query: datasQuery }, async (req, q) => {
    const p = params(P.datas, req);
    const link = await service.resolveLink(p.device_id, p.term_id, p.item_id);
    const { samples, truncated } = await recentSamples(store, link.id, window(q), q.limit ?? DEFAULT_SAMPLE_LIMIT);
    return { ...ids(p, link), samples, truncated };
  });
  on('GET', `${DATAS}/:index`, { query: indexQuery }, async (req, q) => {
    const { index: rawIndex, ...rest } = { ...(req.params as Record<string, string>) };
    const p = parseOrThrow(P.datas, rest, 'path');
    const index = parseOrThrow(indexParam, rawIndex, 'path', { fieldPrefix: 'index' });
    const link = await service.resolveLink(p.device_id, p.term_id, p.item_id);
    const sample: SampleView | undefined = await nthNewestSample(store, link.id, window(q), index);
    if (!sample) throw new AppError('NOT_FOUND', `link ${link.id} has no sample #${index} (0 = latest) in the window`, 'index');
    return { ...ids(p, link), index, ...sample };
  });

  // ---- items ----
  on('GET', '/api/v1/items', {}, () => service.listItems());
  on('GET', '/api/v1/items/:item_id', {}, (req) => service.getItem(params(P.item, req).item_id));
  on('POST', '/api/v1/items', created, (req) => service.createItem(objectBody(req)));
  on('PUT', '/api/v1/items/:item_id', control, (req) => service.updateItem(params(P.item, req).item_id, objectBody(req)));
  on('DELETE', '/api/v1/items/:item_id', control, async (req) => ({ deleted: await service.deleteItem(params(P.item, req).item_id) }));

  // ---- terms ----
  on('GET', '/api/v1/terms', {}, () => service.listTerms());
  on('GET', '/api/v1/terms/:term_id', {}, (req) => service.getTerm(params(P.term, req).term_id));
  on('POST', '/api/v1/terms', created, (req) => service.createTerm(objectBody(req)));
  on('PUT', '/api/v1/terms/:term_id', control, (req) => service.updateTerm(params(P.term, req).term_id, objectBody(req)));
  on('DELETE', '/api/v1/terms/:term_id', control, async (req) => ({ deleted: await service.deleteTerm(params(P.term, req).term_id) }));

  // ---- term items (links) ----
  on('GET', '/api/v1/terms/:term_id/items', {}, (req) => service.listLinks({ termId: params(P.term, req).term_id }));
  on('GET', '/api/v1/terms/:term_id/items/:item_id', {}, (req) => {
    const p = params(P.termItem, req);
    return service.getLink(p.term_id, p.item_id);
  });
  on('POST', '/api/v1/terms/:term_id/items', created, (req) => service.createLink(objectBody(req), params(P.term, req).term_id));
  on('PUT', '/api/v1/terms/:term_id/items/:item_id', control, (req) => {
    const p = params(P.termItem, req);
    return service.updateLink(p.term_id, p.item_id, objectBody(req));
  });
  on('DELETE', '/api/v1/terms/:term_id/items/:item_id', control, async (req) => {
    const p = params(P.termItem, req);
    return { deleted: await service.deleteLink(p.term_id, p.item_id) };
  });
  on('POST', '/api/v2/term_items', { ...created, query: bulkQuery }, (req, q) =>
    service.bulkLinks(body(req), { mode: q.mode ?? 'create' }),
  );

  // ---- on-demand read and write ----
  // device_call only reads (from the device, now): a read key may ask for it.
  on('POST', '/api/v1/device_call', {}, async (req) => {
    const b = parseOrThrow(callBody, objectBody(req), 'device_call');
    const { links } = await service.callTargets(b.device_id, b.term_id, b.item_id);
    const m = manager();
    // The whole device unless narrowed: the manager then reads every link it polls.
    const whole = b.term_id === undefined && b.item_id === undefined;
    const linkIds = links.map((l) => l.id);
    const readings = whole ? await m.call(b.device_id) : linkIds.length === 0 ? [] : await m.call(b.device_id, linkIds);
    return { device_id: b.device_id, readings };
  });
  on('POST', '/api/v1/device_ctrl', control, async (req) => {
    const b = parseOrThrow(ctrlBody, objectBody(req), 'device_ctrl');
    const { link } = await service.controlTarget(b.device_id, b.term_id, b.item_id, b.value);
    const reading = await manager().control(b.device_id, link.id, b.value);
    return { device_id: b.device_id, term_id: b.term_id, item_id: b.item_id, series: link.id, reading };
  });
}

function window(q: { from?: number; to?: number }): { from: number; to: number } {
  const from = q.from ?? 0;
  const to = q.to ?? Number.MAX_SAFE_INTEGER;
  if (from >= to) throw new AppError('BAD_REQUEST', `from: must be before to (${from} >= ${to})`, 'from');
  return { from, to };
}

function ids(p: { device_id: string; term_id: string; item_id: string }, link: LinkView) {
  return { device_id: p.device_id, term_id: p.term_id, item_id: p.item_id, series: link.id };
}
