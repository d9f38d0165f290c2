/**
 * CORS allow-list (seed 002's ACL). Only origins in `corsOrigins` get CORS headers and a
 * successful preflight; everyone else gets none (the browser then blocks the response) and
 * a refused preflight. The same list decides WebSocket upgrades: browsers always send
 * `Origin` on a WebSocket handshake and do not apply CORS to it, so a page on a foreign
 * origin is refused here. A request without `Origin` is not from a browser page (curl, a
 * Grafana backend, Prometheus) and is not affected; it still needs an API key.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errorBody, sendError } from './error-reply';

const ALLOW_METHODS = 'GET, POST, PUT, PATCH, DELETE, OPTIONS';
const ALLOW_HEADERS = 'Authorization, X-API-Key, Content-Type';
const MAX_AGE_SEC = '600';

/** `https://Grafana.example.com/` and `https://grafana.example.com` are one origin. */
export function normalizeOrigin(origin: string): string {
  try {
    const u = new URL(origin);
    // URL.origin is "null" for schemes without an origin; keep the text then.
    return u.origin !== 'null' ? u.origin : origin.toLowerCase();
  } catch {
    return origin.trim().toLowerCase();
  }
}

export class OriginPolicy {
  private readonly allowed: Set<string>;

  constructor(origins: readonly string[]) {
    this.allowed = new Set(origins.map(normalizeOrigin));
  }

  /** True for an allowed origin; false for any other (including the literal "null"). */
  allows(origin: string): boolean {
    return this.allowed.has(normalizeOrigin(origin));
  }
}

function originOf(req: FastifyRequest): string | undefined {
  const o = req.headers.origin;
  return typeof o === 'string' && o !== '' ? o : undefined;
}

/**
 * The onRequest hook, registered before auth: preflights carry no credentials, so they are
 * answered here, and a refused WebSocket origin is refused before anything else.
 */
export function installCors(app: FastifyInstance, policy: OriginPolicy): void {
  app.addHook('onRequest', async (req, reply) => {
    const origin = originOf(req);
    if (origin === undefined) return;
    const allowed = policy.allows(origin);

    if (req.headers.upgrade?.toLowerCase() === 'websocket') {
      if (allowed) return;
      return sendError(reply, { status: 403, body: errorBody('FORBIDDEN', `origin ${origin} is not allowed (server.corsOrigins)`, 'origin') });
    }

    if (allowed) {
      reply.header('Access-Control-Allow-Origin', origin);
      reply.header('Access-Control-Expose-Headers', 'Content-Type, WWW-Authenticate');
    }
    // Caches must not serve one origin's answer to another.
    reply.header('Vary', 'Origin');

    const isPreflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
    if (!isPreflight) return;
    if (!allowed) {
      return sendError(reply, { status: 403, body: errorBody('FORBIDDEN', `origin ${origin} is not allowed (server.corsOrigins)`, 'origin') });
    }
    return reply
      .code(204)
      .header('Access-Control-Allow-Methods', ALLOW_METHODS)
      .header('Access-Control-Allow-Headers', ALLOW_HEADERS)
      .header('Access-Control-Max-Age', MAX_AGE_SEC)
      .send();
  });
}
