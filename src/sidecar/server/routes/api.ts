/**
 * The HTTP adapters of the handlers: each route hands its input to a transport-agnostic
 * handler and writes the answer; errors go to the central error handler.
 */
import type { FastifyInstance } from 'fastify';
import { handleBlob, handleChannels } from '../../handlers/channels';
import type { HandlerContext } from '../../handlers/context';
import { handleHealth } from '../../handlers/health';
import { handleQuery } from '../../handlers/query';
import type { ServerMetrics } from '../metrics';

export function registerApiRoutes(app: FastifyInstance, ctx: HandlerContext, metrics: ServerMetrics): void {
  // Bare liveness: no key, no details (anyone may learn only that the process answers).
  app.get('/healthz', { config: { public: true, quietLog: true } }, async () => ({ status: 'ok' }));

  // Grafana's health check. ERROR answers 503 so monitors see it too; the body is the same.
  app.get('/api/health', async (_req, reply) => {
    const health = await handleHealth(ctx);
    return reply.code(health.status === 'OK' ? 200 : 503).send(health);
  });

  app.post('/api/query', async (req, reply) => {
    const answer = await handleQuery(ctx, req.body);
    return reply.code(answer.status).send(answer.body);
  });

  // Filters come as query-string parameters; `type` may repeat (?type=table&type=tree).
  app.get('/api/channels', async (req) => handleChannels(ctx, { ...(req.query as object) }));

  app.get('/api/blob', async (req, reply) => {
    const blob = await handleBlob(ctx, { ...(req.query as object) });
    return (
      reply
        .type(blob.mime)
        // Plugin bytes (e.g. SVG) must not run as a page of this origin if opened directly.
        .header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; sandbox")
        .header('X-Content-Type-Options', 'nosniff')
        .header('Cache-Control', 'no-store')
        .send(blob.bytes)
    );
  });

  app.get('/metrics', { config: { quietLog: true } }, async (_req, reply) => reply.type(metrics.contentType).send(await metrics.text()));
}
