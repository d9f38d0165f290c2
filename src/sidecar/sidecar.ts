/**
 * The composition root: config in, a listening sidecar out.
 *
 *   store (memory | Redis) → model from the config → device manager (pollers) →
 *   registry (built-in plugins incl. `scada`, user plugins) → stream hub → server (handler
 *   routes, live transports, per-plugin routes, SCADA REST API) → listen
 *
 * `close()` is graceful and idempotent and undoes that in reverse: the server (stop
 * accepting, close every live socket and stream), the hub's pipelines, the registry
 * (finalizes the plugins, so no data source reads the store any more), the device manager
 * (stops pollers, releases leases), and last the store (flushes buffered samples, closes).
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import type { SidecarConfig } from './config';
import { BUILTIN_PLUGINS, SCADA_PLUGIN } from './datasources';
import { createScadaDataSourceClass } from './datasources/scada';
import { declareModel, type DeclaredModel, type DeclareOptions } from './declared-model';
import { AppError } from './errors';
import type { HandlerContext, HealthProbe } from './handlers/context';
import { StreamHub } from './handlers/stream';
import { loadPlugins } from './registry/loader';
import type { DataSourceClass } from './registry/datasource';
import { Registry } from './registry/registry';
import { DeviceManager, type DeviceManagerOptions } from './scada/manager';
import { ModelService } from './scada/model/service';
import { scadaRestRoutes } from './server/routes/scada';
import { checkAuthSetup, KeyStore, keysFromEnv, requireControl, type KeySources } from './server/auth';
import { extractRoutePaths } from './server/route-paths';
import { buildServer, routePlugin } from './server/server';
import { createStore, type Store } from './store';

export interface StartOptions {
  version: string;
  logger?: Logger;
  /** Overrides `config.baseDir` (the config file's directory, which plugins resolve relative params against). */
  baseDir?: string;
  /** Keys given on the command line, merged with the config's and the environment's. */
  keys?: KeySources;
  /** Permit running without any key (loopback only). */
  allowNoAuth?: boolean;
  /** Where SCADALIVE_API_KEYS / SCADALIVE_CONTROL_KEYS and REDIS_URL are read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Extra built-in plugins (embedding, tests); a name here overrides a built-in one. */
  plugins?: ReadonlyMap<string, DataSourceClass>;
  probes?: HealthProbe[];
  /** Device manager tuning (tests: short leases, fast resync). */
  manager?: Pick<DeviceManagerOptions, 'leaseTtlMs' | 'debounceMs' | 'resyncMs' | 'owner'>;
  /** Retry and watch timing of the config's model (tests). */
  declaredModel?: Pick<DeclareOptions, 'retryMs' | 'maxRetryMs' | 'watchMs'>;
}

export interface Sidecar {
  /** Base URL, e.g. http://127.0.0.1:3210 */
  url: string;
  server: FastifyInstance;
  registry: Registry;
  hub: StreamHub;
  store: Store;
  /** The SCADA model (what the REST API writes through). */
  model: ModelService;
  manager: DeviceManager;
  close(): Promise<void>;
}

export async function startSidecar(config: SidecarConfig, options: StartOptions): Promise<Sidecar> {
  const { server: sc, registry: rc } = config;
  const logger = options.logger ?? pino({ level: sc.logLevel });
  const env = options.env ?? process.env;

  // Refuse an unsafe setup before loading or connecting anything.
  const keys = new KeyStore(sc, keysFromEnv(env), options.keys ?? {});
  checkAuthSetup(keys, options.allowNoAuth === true, sc.host);
  if (keys.size === 0)
    logger.warn({ host: sc.host }, 'running WITHOUT API keys (--insecure-no-auth): loopback only, never expose this port');
  const { instances, routePaths } = extractRoutePaths(rc.instances);
  if (config.model && config.model.devices.length > 0 && !instances.some((i) => i.plugin === SCADA_PLUGIN))
    logger.warn(
      `the config declares SCADA devices but no instance of the "${SCADA_PLUGIN}" plugin: they are polled, but Grafana cannot query them ` +
        `(add "- id: scada / plugin: scada" to instances)`,
    );

  // What has been started so far, undone in reverse if a later step fails.
  const undo: Array<() => Promise<void>> = [];
  const unwind = async (): Promise<void> => {
    for (const step of undo.reverse()) await step().catch((err: unknown) => logger.error({ err }, 'cleanup after a failed start failed'));
  };

  try {
    // A Redis that is down returns a degraded store (buffering, reconnecting), never an error.
    const store = await createStore(config.store, { logger, env });
    undo.push(() => store.close());

    // The declared model goes in before the manager starts, so the first reconcile polls it.
    const model = new ModelService(store, { logger: logger.child({ component: 'model' }) });
    let declared: DeclaredModel | undefined;
    if (config.model) {
      declared = await declareModel(model, config.model, { logger: logger.child({ component: 'model' }), store, ...options.declaredModel });
      const d = declared;
      undo.push(async () => d.close());
    }

    const manager = new DeviceManager({ store, logger, ...options.manager });
    undo.push(() => manager.stop());
    await manager.start();

    // `scada` needs the store and the manager, so it is bound here rather than in BUILTIN_PLUGINS.
    const builtins = new Map([
      ...BUILTIN_PLUGINS,
      [SCADA_PLUGIN, createScadaDataSourceClass({ store, manager })],
      ...(options.plugins ?? []),
    ]);
    const plugins = await loadPlugins({ dir: rc.pluginsDir, builtins, required: rc.pluginsDirExplicit, logger });
    const registry = new Registry({
      plugins,
      app: { logger, baseDir: options.baseDir ?? config.baseDir, version: options.version },
      initTimeoutMs: rc.initTimeoutMs,
      finalizeTimeoutMs: rc.finalizeTimeoutMs,
    });
    undo.push(() => registry.stop());
    const report = await registry.start(instances);
    logger.info({ ready: report.ready, failed: report.failed.map((f) => f.id) }, 'data sources started');

    const ctx: HandlerContext = {
      registry,
      limits: sc.limits,
      version: options.version,
      startedAt: Date.now(),
      probes: [store.probe, manager.probe, ...(declared ? [declared.probe] : []), ...(options.probes ?? [])],
      now: Date.now,
    };
    const hub = new StreamHub(ctx, { lingerMs: sc.pipelineLingerMs, logger: logger.child({ component: 'stream' }) });
    undo.push(() => hub.close());

    const server = await buildServer({
      ctx,
      hub,
      config: sc,
      keys,
      allowNoAuth: options.allowNoAuth,
      logger,
      routePaths,
      routes: [routePlugin(scadaRestRoutes, { service: model, store, manager, requireControl })],
    });
    undo.push(() => server.close());
    await listen(server, sc.host, sc.port);

    const addr = server.server.address() as AddressInfo;
    const host = addr.family === 'IPv6' || addr.address.includes(':') ? `[${addr.address}]` : addr.address;
    const url = `http://${host}:${addr.port}`;

    let closing: Promise<void> | undefined;
    const close = (): Promise<void> =>
      (closing ??= (async () => {
        logger.info('shutting down');
        const step = async (what: string, f: () => Promise<void>): Promise<void> => {
          // One failing step must not leave the later ones (the store's flush) undone.
          await f().catch((err: unknown) => logger.error({ err }, `${what} failed during shutdown`));
        };
        // Stops accepting, ends live WebSockets and HTTP streams (their subscriptions with them).
        await step('closing the server', () => server.close());
        await step('closing the stream hub', () => hub.close());
        // Finalizes the plugins: the scada data source unsubscribes from the bus.
        await step('stopping the data sources', () => registry.stop());
        declared?.close();
        // Stops the pollers and releases their leases, so another sidecar takes over at once.
        await step('stopping the device manager', () => manager.stop());
        // Last: samples the pollers produced until now are flushed before the connection closes.
        await step('closing the store', () => store.close());
        logger.info('stopped');
      })());

    return { url, server, registry, hub, store, model, manager, close };
  } catch (err) {
    await unwind();
    throw err;
  }
}

async function listen(server: FastifyInstance, host: string, port: number): Promise<void> {
  try {
    await server.listen({ host, port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new AppError('BAD_PARAMS', `cannot listen on ${host}:${port}: the port is in use`, 'server.port');
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND')
      throw new AppError('BAD_PARAMS', `cannot listen on ${host}:${port}: no such local address`, 'server.host');
    if (code === 'EACCES') throw new AppError('BAD_PARAMS', `cannot listen on ${host}:${port}: permission denied`, 'server.port');
    throw err;
  }
}
