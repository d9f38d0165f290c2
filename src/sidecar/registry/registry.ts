/**
 * Runs the configured DataSource instances: validates their params, initializes them
 * concurrently with a deadline, isolates the ones that fail (reported, never fatal), hands
 * out ready instances to handlers, and finalizes them once on stop.
 */
import { z } from 'zod';
import { AppError, toAppError, type ErrorCode } from '../errors';
import { parseOrThrow } from '../validation';
import { assertUniqueIds, instanceConfigSchema, type InstanceConfig, type InstanceConfigInput } from './config';
import { isDataSourceClass, type DataSource, type DataSourceClass, type Params } from './datasource';
import { InstanceHandle, type InstanceOptions } from './instance';
import type { AppContext } from './types';

export type InstanceState = 'initializing' | 'ready' | 'failed' | 'stopped';

export interface InstanceStatus {
  id: string;
  plugin: string;
  project: string;
  state: InstanceState;
  error?: { code: ErrorCode; message: string; field?: string };
  /** Channel count at the last listing (the registry lists once after initialize). */
  channels?: number;
}

export interface StartFailure {
  id: string;
  plugin: string;
  code: ErrorCode;
  reason: string;
  field?: string;
}

export interface StartReport {
  ready: string[];
  failed: StartFailure[];
}

export interface RegistryOptions extends InstanceOptions {
  plugins: ReadonlyMap<string, DataSourceClass>;
  app: AppContext;
  initTimeoutMs?: number;
  finalizeTimeoutMs?: number;
}

interface Entry {
  id: string;
  plugin: string;
  project: string;
  state: InstanceState;
  error?: AppError;
  handle?: InstanceHandle;
  /** initialize() resolved (possibly after its deadline): finalize() is owed. */
  initialized: boolean;
  finalized: boolean;
}

const instancesSchema = z.array(instanceConfigSchema);

export class Registry {
  private readonly plugins: ReadonlyMap<string, DataSourceClass>;
  private readonly app: AppContext;
  private readonly initTimeoutMs: number;
  private readonly finalizeTimeoutMs: number;
  private readonly instanceOptions: InstanceOptions;
  private readonly entries = new Map<string, Entry>();
  private readonly starting = new Set<Promise<void>>();
  private stopping?: Promise<void>;

  constructor(options: RegistryOptions) {
    for (const [name, cls] of options.plugins) {
      if (!isDataSourceClass(cls)) throw new AppError('INVALID_PLUGIN', `plugin "${name}" is not a class deriving from DataSource`);
    }
    this.plugins = options.plugins;
    this.app = options.app;
    this.initTimeoutMs = options.initTimeoutMs ?? 10_000;
    this.finalizeTimeoutMs = options.finalizeTimeoutMs ?? 5_000;
    this.instanceOptions = { maxBlobBytes: options.maxBlobBytes };
  }

  /**
   * Creates and initializes `instances` concurrently. A bad instance (unknown plugin, bad
   * params, constructor or initialize throwing or timing out) is `failed` and reported;
   * the others still start. Throws only for a malformed list (bad or duplicate ids).
   */
  async start(instances: InstanceConfigInput[]): Promise<StartReport> {
    if (this.stopping) throw new AppError('NOT_READY', 'the registry is stopped');
    const configs = parseOrThrow(instancesSchema, instances, 'instances', { code: 'BAD_PARAMS', fieldPrefix: 'instances' });
    assertUniqueIds(configs);
    configs.forEach((cfg, i) => {
      if (this.entries.has(cfg.id)) throw new AppError('DUPLICATE_INSTANCE', `instance id "${cfg.id}" is already running`, `instances.${i}.id`);
    });

    const entries = configs.map((cfg): Entry => {
      const entry: Entry = { id: cfg.id, plugin: cfg.plugin, project: cfg.project, state: 'initializing', initialized: false, finalized: false };
      this.entries.set(cfg.id, entry);
      return entry;
    });
    const run = Promise.all(entries.map((e, i) => this.startOne(e, configs[i]))).then(() => undefined);
    this.starting.add(run);
    await run.finally(() => this.starting.delete(run));

    const report: StartReport = { ready: [], failed: [] };
    for (const e of entries) {
      if (e.state === 'ready') report.ready.push(e.id);
      else if (e.error) report.failed.push({ id: e.id, plugin: e.plugin, code: e.error.code, reason: e.error.message, ...(e.error.field ? { field: e.error.field } : {}) });
    }
    return report;
  }

  /** The ready instance `id`, for handlers. */
  get(id: string): InstanceHandle {
    const e = this.entries.get(id);
    if (!e) {
      const known = [...this.entries.keys()];
      const hint = known.length ? `; known: ${known.slice(0, 10).join(', ')}${known.length > 10 ? ', …' : ''}` : '';
      throw new AppError('UNKNOWN_INSTANCE', `unknown data source instance "${id}"${hint}`, 'instance');
    }
    if (e.state === 'ready' && e.handle) return e.handle;
    const why =
      e.state === 'initializing'
        ? 'is still initializing'
        : e.state === 'stopped'
          ? 'is stopped'
          : `failed to start: ${e.error?.message ?? 'unknown reason'}`;
    throw new AppError('NOT_READY', `data source instance "${id}" (plugin ${e.plugin}) ${why}`, 'instance');
  }

  /** Every configured instance and its state, in configuration order (for health). */
  list(): InstanceStatus[] {
    return [...this.entries.values()].map((e) => ({
      id: e.id,
      plugin: e.plugin,
      project: e.project,
      state: e.state,
      ...(e.error ? { error: { code: e.error.code, message: e.error.message, ...(e.error.field ? { field: e.error.field } : {}) } } : {}),
      ...(e.handle?.channelCount !== undefined ? { channels: e.handle.channelCount } : {}),
    }));
  }

  /** Names of the plugins instances can be created from. */
  pluginNames(): string[] {
    return [...this.plugins.keys()];
  }

  /**
   * Finalizes every initialized instance once, each bounded by finalizeTimeoutMs; failures
   * are logged, never thrown. Waits for instances still initializing first. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.allSettled([...this.starting]);
      await Promise.all([...this.entries.values()].map((e) => this.finalize(e)));
    })();
    return this.stopping;
  }

  private async startOne(entry: Entry, cfg: InstanceConfig): Promise<void> {
    try {
      const cls = this.plugins.get(cfg.plugin);
      if (!cls) {
        const known = [...this.plugins.keys()].join(', ') || 'none';
        throw new AppError('UNKNOWN_PLUGIN', `unknown plugin "${cfg.plugin}" for instance "${cfg.id}"; known plugins: ${known}`, 'plugin');
      }
      const params = this.checkParams(cls, cfg);
      const app: AppContext = { ...this.app, logger: this.app.logger.child({ instance: cfg.id, plugin: cfg.plugin }) };
      let source: DataSource;
      try {
        source = new cls(app, cfg.project, params);
      } catch (err) {
        throw wrap(err, `constructor of plugin ${cfg.plugin} threw`);
      }
      // Named by the registry key, so "not supported by <plugin>" messages say what the config says.
      source.pluginName = cfg.plugin;
      entry.handle = new InstanceHandle(cfg.id, cfg.plugin, cfg.project, source, this.instanceOptions);
      await this.initialize(entry, source);
    } catch (err) {
      const e = toAppError(err);
      entry.state = 'failed';
      entry.error = e;
      this.app.logger.error({ id: entry.id, plugin: entry.plugin, code: e.code, reason: e.message }, 'data source instance failed to start');
      return;
    }

    if (this.stopping) {
      // stop() was called while this one initialized: it waits for us, then finalizes.
      entry.state = 'stopped';
      return;
    }
    entry.state = 'ready';
    // One listing up front checks the channels and gives health a count; a failure here is
    // only a warning, since a device may simply be offline.
    await withTimeout(entry.handle!.channels(), this.initTimeoutMs, () => new AppError('INIT_TIMEOUT', 'getChannels timed out')).catch((err: unknown) => {
      this.app.logger.warn({ id: entry.id, plugin: entry.plugin, reason: toAppError(err).message }, 'data source instance could not list its channels');
    });
  }

  private checkParams(cls: DataSourceClass, cfg: InstanceConfig): Params {
    const schema = cls.paramsSchema;
    if (schema === undefined) return cfg.params;
    if (typeof (schema as { safeParse?: unknown }).safeParse !== 'function') {
      throw new AppError('INVALID_PLUGIN', `plugin ${cfg.plugin} has a paramsSchema that is not a zod schema`);
    }
    return parseOrThrow(schema, cfg.params, `params of instance "${cfg.id}" (plugin ${cfg.plugin})`, { code: 'BAD_PARAMS', fieldPrefix: 'params' });
  }

  private async initialize(entry: Entry, source: DataSource): Promise<void> {
    const init = Promise.resolve().then(() => source.initialize());
    try {
      await withTimeout(init, this.initTimeoutMs, () => new AppError('INIT_TIMEOUT', `initialize of plugin ${entry.plugin} did not finish within ${this.initTimeoutMs} ms`));
      entry.initialized = true;
    } catch (err) {
      if (err instanceof AppError && err.code === 'INIT_TIMEOUT') {
        // It may still finish: then it holds resources, so finalize it (it stays failed).
        init.then(
          () => {
            entry.initialized = true;
            this.app.logger.warn({ id: entry.id, plugin: entry.plugin }, 'data source instance initialized after its deadline; finalizing it');
            void this.finalize(entry);
          },
          () => undefined,
        );
        throw err;
      }
      throw wrap(err, `initialize of plugin ${entry.plugin} failed`);
    }
  }

  private async finalize(entry: Entry): Promise<void> {
    if (entry.state === 'ready') entry.state = 'stopped';
    if (!entry.initialized || entry.finalized || !entry.handle) return;
    entry.finalized = true;
    const source = entry.handle.source;
    try {
      await withTimeout(
        Promise.resolve().then(() => source.finalize()),
        this.finalizeTimeoutMs,
        () => new AppError('INTERNAL', `finalize did not finish within ${this.finalizeTimeoutMs} ms`),
      );
    } catch (err) {
      this.app.logger.error({ id: entry.id, plugin: entry.plugin, reason: toAppError(err).message }, 'data source instance failed to finalize');
    }
  }
}

/** An AppError keeps its code (e.g. BAD_PARAMS from the plugin); anything else is INIT_FAILED. */
function wrap(err: unknown, context: string): AppError {
  if (err instanceof AppError) return err;
  return new AppError('INIT_FAILED', `${context}: ${err instanceof Error ? err.message : String(err)}`);
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => AppError): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
