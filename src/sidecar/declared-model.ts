/**
 * The config file's `model:` section, written into the store at start.
 *
 * A broken model (a schema error, a reference to nothing) is a config error: start fails
 * with the field named. A store that cannot take the write yet (Redis down or still
 * connecting) is not: the sidecar starts anyway, health reports the model probe degraded,
 * and the write is retried with backoff until it lands; its model events then make the
 * device manager start the pollers, as any API write would.
 *
 * Once written, the store's model revision is watched: if it goes back (a Redis without
 * persistence restarted, and the model with it), the declaration is written again, so the
 * devices of the config come back by themselves. A revision that only grows (API writes) is
 * left alone: the config never overwrites an API edit except at start.
 */
import type { Logger } from 'pino';
import { AppError } from './errors';
import type { HealthProbe, ProbeStatus } from './handlers/context';
import type { ModelConfig } from './scada/model/schemas';
import type { ModelService } from './scada/model/service';
import type { ModelStore } from './store/types';

export interface DeclaredModel {
  /** Health of the declaration: ok once written, degraded while it waits for the store. */
  readonly probe: HealthProbe;
  /** Resolves once the model is in the store (never, if the sidecar closes first). */
  readonly written: Promise<void>;
  /** Stops retrying. */
  close(): void;
}

export interface DeclareOptions {
  logger: Logger;
  /** The store the service writes to: its revision tells when the model was lost. */
  store: Pick<ModelStore, 'modelRevision'>;
  /** First retry delay; doubles up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
  /** How often the revision is checked once the model is written (default 10 s; 0 = never). */
  watchMs?: number;
}

export async function declareModel(service: ModelService, model: ModelConfig, options: DeclareOptions): Promise<DeclaredModel> {
  const { logger } = options;
  const counts = {
    devices: model.devices.length,
    terms: model.terms.length,
    items: model.items.length,
    links: model.links.length,
  };
  let state: { status: ProbeStatus; message: string } = { status: 'degraded', message: 'not written yet' };
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  /** From a retry being scheduled until it has succeeded (the watch then stays quiet). */
  let retrying = false;
  let watchTimer: NodeJS.Timeout | undefined;
  /** Highest model revision seen since the last write of the declaration. */
  let revision = 0;
  let markWritten!: () => void;
  const written = new Promise<void>((resolve) => (markWritten = resolve));

  /** True when written; throws only for a config error. */
  const attempt = async (): Promise<boolean> => {
    try {
      const r = await service.loadFromConfig(model);
      revision = r.revision;
      state = { status: 'ok', message: `declared in the config: ${describe(counts)}` };
      logger.info({ ...counts, written: r.written, revision: r.revision }, 'model from the config is in the store');
      markWritten();
      return true;
    } catch (err) {
      if (err instanceof AppError && err.code === 'BAD_PARAMS') throw err;
      const why = err instanceof Error ? err.message : String(err);
      state = { status: 'degraded', message: `the config's model is not in the store yet (${why}); retrying` };
      return false;
    }
  };

  const watchMs = options.watchMs ?? 10_000;
  let checking = false;
  const watch = (): void => {
    if (watchMs <= 0 || watchTimer || closed) return;
    watchTimer = setInterval(() => {
      if (checking || retrying) return;
      checking = true;
      void options.store
        .modelRevision()
        .then((now) => {
          if (closed) return;
          if (now >= revision) {
            revision = now;
            return;
          }
          logger.warn(
            { revision: now, was: revision },
            "the store's model revision went back (its data was lost): writing the config's model again",
          );
          state = { status: 'degraded', message: `the store lost the model (revision ${now}, was ${revision}); writing it again` };
          revision = 0;
          retry(0);
        })
        // The store is unreachable: its own probe says so; check again next time.
        .catch(() => undefined)
        .finally(() => (checking = false));
    }, watchMs);
    watchTimer.unref();
  };

  let delay = options.retryMs ?? 500;
  const max = options.maxRetryMs ?? 10_000;
  /** Tries again after `wait` ms, backing off until it succeeds. */
  const retry = (wait = delay): void => {
    retrying = true;
    timer = setTimeout(() => {
      if (closed) return;
      attempt().then(
        (ok) => {
          if (closed) return;
          if (ok) {
            retrying = false;
            delay = options.retryMs ?? 500;
            watch();
          } else {
            delay = Math.min(max, delay * 2);
            retry();
          }
        },
        // A config error can only show up now if another writer changed what the model
        // refers to meanwhile: report it, and keep what the store has.
        (err: unknown) => {
          state = { status: 'down', message: `the config's model was refused: ${(err as Error).message}` };
          logger.error({ err }, 'the config model was refused');
        },
      );
    }, wait);
    timer.unref();
  };

  if (await attempt()) watch();
  else {
    logger.warn({ reason: state.message }, 'cannot write the config model yet (store unreachable?); starting anyway and retrying');
    retry();
  }

  return {
    probe: { name: 'model', check: async () => ({ ...state, details: counts }) },
    written,
    close() {
      closed = true;
      clearTimeout(timer);
      clearInterval(watchTimer);
    },
  };
}

function describe(c: Record<string, number>): string {
  return Object.entries(c)
    .map(([k, n]) => `${n} ${n === 1 ? k.slice(0, -1) : k}`)
    .join(', ');
}
