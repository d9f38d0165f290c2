/**
 * Seed 002's per-plugin routes: `/plugins/<prefix>/…` (any method) goes to the instance's
 * `handleRequest`, which answers `[status, json]`. The prefix is the instance id, or its
 * `route_path` param. Auth and CORS apply as everywhere; credentials are not passed on.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, toAppError } from '../../errors';
import type { HandlerContext } from '../../handlers/context';
import type { PluginRequest } from '../../registry/datasource';
import { errorBody, sendError } from '../error-reply';

/** Headers a plugin never sees: the caller's credentials are the server's business. */
const HIDDEN_HEADERS = new Set(['authorization', 'x-api-key', 'cookie', 'proxy-authorization']);

export interface PluginRouteOptions {
  /** `route_path` → instance id, for instances that set one. */
  routePaths: ReadonlyMap<string, string>;
}

export function registerPluginRoutes(app: FastifyInstance, ctx: HandlerContext, options: PluginRouteOptions): void {
  void app.register(async (scope) => {
    // Seed 002 passes "all get and post variables": accept forms and plain text besides JSON,
    // only in this scope (the API routes take JSON only).
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

    const handler = (req: FastifyRequest, reply: FastifyReply) => dispatch(ctx, options, req, reply);
    scope.all('/plugins/:prefix', handler);
    scope.all('/plugins/:prefix/*', handler);
  });
}

async function dispatch(ctx: HandlerContext, options: PluginRouteOptions, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const params = req.params as { prefix: string; '*'?: string };
  const id = options.routePaths.get(params.prefix) ?? params.prefix;
  const instance = ctx.registry.get(id);
  const source = instance.source;
  if (typeof source.handleRequest !== 'function') {
    return sendError(reply, {
      status: 404,
      body: errorBody('NOT_FOUND', `data source "${instance.id}" (plugin ${instance.plugin}) has no request handler`, 'path'),
    });
  }

  const headers: PluginRequest['headers'] = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HIDDEN_HEADERS.has(k)) headers[k] = v;
  const request: PluginRequest = {
    method: req.method,
    path: '/' + (params['*'] ?? ''),
    query: { ...(req.query as PluginRequest['query']) },
    body: req.body,
    headers,
  };

  let answer: unknown;
  try {
    answer = await source.handleRequest(request);
  } catch (err) {
    const e = toAppError(err);
    if (!(err instanceof AppError)) {
      req.log.error({ err, instance: instance.id }, 'plugin request handler threw');
      throw new AppError('INTERNAL', `the request handler of data source "${instance.id}" failed; see the sidecar log`);
    }
    throw e;
  }

  // Plugins are user code: check the `[status, body]` contract before trusting it.
  if (!Array.isArray(answer) || answer.length !== 2 || !Number.isInteger(answer[0]) || answer[0] < 200 || answer[0] > 599) {
    req.log.error({ instance: instance.id }, 'plugin request handler answered something other than [status, body]');
    throw new AppError('INTERNAL', `the request handler of data source "${instance.id}" must answer [status (200-599), body]`);
  }
  const [status, body] = answer as [number, unknown];
  let json: string | undefined;
  try {
    json = JSON.stringify(body ?? null);
  } catch (err) {
    req.log.error({ err, instance: instance.id }, 'plugin response is not JSON-serializable');
  }
  if (json === undefined) throw new AppError('INTERNAL', `the request handler of data source "${instance.id}" answered a body that is not JSON-serializable`);
  return reply.code(status).type('application/json; charset=utf-8').send(json);
}
