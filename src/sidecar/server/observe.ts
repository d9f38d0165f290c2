/**
 * One log line and one metrics observation per answered request. Fastify's own request
 * logging is off: it logs two lines per request at info, and probes (`/healthz`, scrapes
 * of `/metrics`) would drown the log, so routes marked `quietLog` log at debug.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServerMetrics } from './metrics';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Log this route's requests at debug (probes and scrapes). */
    quietLog?: boolean;
  }
}

/** The route pattern (not the URL: bounded label cardinality), or "unmatched" for 404s. */
export function routeLabel(req: FastifyRequest): string {
  return req.routeOptions.url ?? 'unmatched';
}

export function installObservation(app: FastifyInstance, metrics: ServerMetrics): void {
  app.addHook('onResponse', async (req, reply) => {
    const route = routeLabel(req);
    const ms = reply.elapsedTime;
    metrics.observeRequest(route, req.method, reply.statusCode, ms / 1000);
    const line = { method: req.method, url: req.url.split('?')[0], route, status: reply.statusCode, ms: Math.round(ms * 10) / 10 };
    if (req.routeOptions.config?.quietLog) req.log.debug(line, 'request');
    else req.log.info(line, 'request');
  });
}
