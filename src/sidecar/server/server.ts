/**
 * The sidecar's HTTP + WebSocket transport on fastify: wires the hooks (CORS, auth,
 * observation), the error handlers, the handler routes, the live transports and the
 * per-plugin routes. Request order: CORS (answers preflights, refuses foreign WebSocket
 * origins) → auth (401) → route → one log line and metrics on response.
 */
import websocket from '@fastify/websocket';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyPluginOptions,
} from 'fastify';
import type { ServerConfig } from '../config';
import type { HandlerContext } from '../handlers/context';
import { installAuth, type KeyStore } from './auth';
import { installJsonParser } from './body-parser';
import { installCors, OriginPolicy } from './cors';
import { MAX_PARAM_LENGTH, frameworkErrorReply, installErrorHandlers, errorBody, sendError } from './error-reply';
import { HttpLive, LIVE_HTTP_ROUTE } from './live/http';
import type { LiveHub } from './live/hub';
import { WebSocketLive } from './live/websocket';
import { ServerMetrics } from './metrics';
import { installObservation } from './observe';
import { registerApiRoutes } from './routes/api';
import { registerPluginRoutes } from './routes/plugins';

export const LIVE_WS_ROUTE = '/api/live';

/**
 * A fastify plugin with its options, registered by `buildServer` after the auth hook, so its
 * routes need a key like every other route (guard control routes with `requireControl`).
 * Build one with `routePlugin`, which type-checks the options against the plugin.
 */
export interface RoutePlugin<O extends FastifyPluginOptions = FastifyPluginOptions> {
  plugin: FastifyPluginAsync<O>;
  options: O;
}

/** Checks `options` against `plugin`, then erases the type so plugins with different options share one list. */
export function routePlugin<O extends FastifyPluginOptions>(plugin: FastifyPluginAsync<O>, options: O): RoutePlugin {
  return { plugin, options } as unknown as RoutePlugin;
}

export interface ServerDeps {
  ctx: HandlerContext;
  hub: LiveHub;
  /** The server section of the config (limits, CORS, heartbeat, idle timeout). */
  config: Pick<ServerConfig, 'corsOrigins' | 'heartbeatMs' | 'idleTimeoutMs' | 'limits'>;
  keys: KeyStore;
  /** Run without keys when none are configured (the caller checks it is loopback-only). */
  allowNoAuth?: boolean;
  logger: FastifyBaseLogger;
  /** `route_path` → instance id for the per-plugin routes (seed 002). */
  routePaths?: ReadonlyMap<string, string>;
  /** Extra route plugins (e.g. the SCADA REST API), each in its own encapsulated context. */
  routes?: readonly RoutePlugin[];
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const { ctx, hub, config } = deps;
  const { limits } = config;

  const app = Fastify({
    loggerInstance: deps.logger,
    // One line per request comes from observe.ts instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: limits.bodyBytes,
    // Request ids are ours, not the client's.
    requestIdHeader: false,
    // `/api/health/` is `/api/health`.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    // Router errors answer in our JSON shape like every other error.
    frameworkErrors: frameworkErrorReply,
  }) as unknown as FastifyInstance;

  const metrics = new ServerMetrics(hub);
  app.addHook('onClose', (_app, done) => {
    metrics.close();
    done();
  });
  const wsLive = new WebSocketLive({ hub, limits, metrics, heartbeatMs: config.heartbeatMs, idleTimeoutMs: config.idleTimeoutMs });
  const httpLive = new HttpLive({ hub, limits, metrics, heartbeatMs: config.heartbeatMs });

  // First: its onRequest hook marks upgrade requests, so one refused by a later hook (CORS,
  // auth) still gets its socket destroyed after the error response.
  await app.register(websocket, {
    options: {
      maxPayload: limits.messageBytes,
      // Frames are JSON that compresses well, but per-message deflate costs CPU and memory
      // per socket (ws warns about it at scale); off for a fan-out server.
      perMessageDeflate: false,
    },
    // Shutdown closes the sockets itself (close frame, then terminate after a grace period).
    preClose: function (done) {
      const wss = this.websocketServer;
      wsLive.closeAll().then(
        // Closing ws's server makes late upgrades fail with 503 instead of opening sockets.
        () => wss.close(() => done()),
        done,
      );
    },
    errorHandler: (err, socket, req) => {
      req.log.debug({ reason: err.message }, 'WebSocket error');
      socket.terminate();
    },
  });

  installErrorHandlers(app);
  installJsonParser(app);
  installCors(app, new OriginPolicy(config.corsOrigins));
  installAuth(app, { keys: deps.keys, allowNoAuth: deps.allowNoAuth });
  installObservation(app, metrics);

  // Ends HTTP live streams before fastify waits for connections to finish.
  app.addHook('preClose', (done) => {
    httpLive.closeAll();
    done();
  });

  registerApiRoutes(app, ctx, metrics);
  httpLive.register(app);
  app.route({
    method: 'GET',
    url: LIVE_WS_ROUTE,
    handler: (_req, reply) =>
      sendError(reply.header('Upgrade', 'websocket'), {
        status: 426,
        body: errorBody('BAD_REQUEST', `${LIVE_WS_ROUTE} is a WebSocket endpoint (or use POST ${LIVE_HTTP_ROUTE} for chunked HTTP)`),
      }),
    wsHandler: (socket, req) => {
      metrics.observeRequest(LIVE_WS_ROUTE, 'GET', 101, 0);
      req.log.info({ method: 'GET', url: LIVE_WS_ROUTE, status: 101 }, 'live socket opened');
      socket.on('close', (code: number) => req.log.info({ url: LIVE_WS_ROUTE, code }, 'live socket closed'));
      wsLive.accept(socket, req.raw.socket, req.log);
    },
  });
  registerPluginRoutes(app, ctx, { routePaths: deps.routePaths ?? new Map() });
  for (const r of deps.routes ?? []) await app.register(r.plugin, r.options);

  return app;
}
