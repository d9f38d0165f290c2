/**
 * The composition root: config in, a listening sidecar out. Loads the plugins, starts the
 * registry, builds the handler context, the stream hub and the server, and listens.
 * `close()` is graceful and idempotent: stop accepting and close every live socket and
 * stream, stop the hub's pipelines, then finalize the plugins.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import type { SidecarConfig } from './config';
import { BUILTIN_PLUGINS } from './datasources';
import { AppError } from './errors';
import type { HandlerContext, HealthProbe } from './handlers/context';
import { StreamHub } from './handlers/stream';
import { loadPlugins } from './registry/loader';
import type { DataSourceClass } from './registry/datasource';
import { Registry } from './registry/registry';
import { checkAuthSetup, KeyStore, keysFromEnv, type KeySources } from './server/auth';
import { extractRoutePaths } from './server/route-paths';
import { buildServer } from './server/server';

export interface StartOptions {
  version: string;
  logger?: Logger;
  /** The config file's directory: plugins resolve relative params against it. Default: cwd. */
  baseDir?: string;
  /** Keys given on the command line, merged with the config's and the environment's. */
  keys?: KeySources;
  /** Permit running without any key (loopback only). */
  allowNoAuth?: boolean;
  /** Where SCADALIVE_API_KEYS / SCADALIVE_CONTROL_KEYS are read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Extra built-in plugins (embedding, tests); a name here overrides a built-in one. */
  plugins?: ReadonlyMap<string, DataSourceClass>;
  probes?: HealthProbe[];
}

export interface Sidecar {
  /** Base URL, e.g. http://127.0.0.1:3210 */
  url: string;
  server: FastifyInstance;
  registry: Registry;
  hub: StreamHub;
  close(): Promise<void>;
}

export async function startSidecar(config: SidecarConfig, options: StartOptions): Promise<Sidecar> {
  const { server: sc, registry: rc } = config;
  const logger = options.logger ?? pino({ level: sc.logLevel });

  // Refuse an unsafe setup before loading anything.
  const keys = new KeyStore(sc, keysFromEnv(options.env ?? process.env), options.keys ?? {});
  checkAuthSetup(keys, options.allowNoAuth === true, sc.host);
  if (keys.size === 0) logger.warn({ host: sc.host }, 'running WITHOUT API keys (--insecure-no-auth): loopback only, never expose this port');
  const { instances, routePaths } = extractRoutePaths(rc.instances);

  const builtins = new Map([...BUILTIN_PLUGINS, ...(options.plugins ?? [])]);
  const plugins = await loadPlugins({ dir: rc.pluginsDir, builtins, required: rc.pluginsDirExplicit, logger });
  const registry = new Registry({
    plugins,
    app: { logger, baseDir: options.baseDir ?? process.cwd(), version: options.version },
    initTimeoutMs: rc.initTimeoutMs,
    finalizeTimeoutMs: rc.finalizeTimeoutMs,
  });
  const report = await registry.start(instances);
  logger.info({ ready: report.ready, failed: report.failed.map((f) => f.id) }, 'data sources started');

  const ctx: HandlerContext = {
    registry,
    limits: sc.limits,
    version: options.version,
    startedAt: Date.now(),
    probes: options.probes ?? [],
    now: Date.now,
  };
  const hub = new StreamHub(ctx, { lingerMs: sc.pipelineLingerMs, logger: logger.child({ component: 'stream' }) });

  let server: FastifyInstance;
  try {
    server = await buildServer({ ctx, hub, config: sc, keys, allowNoAuth: options.allowNoAuth, logger, routePaths });
    await server.listen({ host: sc.host, port: sc.port });
  } catch (err) {
    await hub.close();
    await registry.stop();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new AppError('BAD_PARAMS', `cannot listen on ${sc.host}:${sc.port}: the port is in use`, 'server.port');
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new AppError('BAD_PARAMS', `cannot listen on ${sc.host}:${sc.port}: no such local address`, 'server.host');
    if (code === 'EACCES') throw new AppError('BAD_PARAMS', `cannot listen on ${sc.host}:${sc.port}: permission denied`, 'server.port');
    throw err;
  }

  const addr = server.server.address() as AddressInfo;
  const host = addr.family === 'IPv6' || addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      logger.info('shutting down');
      // Stops accepting, ends live WebSockets and HTTP streams (their subscriptions with them).
      await server.close().catch((err: unknown) => logger.error({ err }, 'closing the server failed'));
      await hub.close();
      await registry.stop();
      logger.info('stopped');
    })());

  return { url, server, registry, hub, close };
}
