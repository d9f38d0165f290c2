/**
 * Keeps the device manager's copy of the model: any burst of model events from the store is
 * coalesced (debounceMs) into one reload of the whole model, a slow periodic resync
 * (resyncMs) heals events missed while Redis was away, and a model that vanished with its
 * revision going back (a Redis without persistence restarted) is not taken for "no devices".
 * Reloads run on the manager's queue, so they never interleave with its other steps.
 */
import type { Logger } from 'pino';
import { every, type Clock, type ClockTimer } from '../../core/clock';
import type { ModelEvent, Store, Unsubscribe } from '../../store/types';
import { EMPTY_SNAPSHOT, loadModel, type ModelSnapshot } from '../model/snapshot';

export interface ModelWatcherOptions {
  store: Store;
  logger: Logger;
  clock: Clock;
  debounceMs: number;
  /** 0 = never. */
  resyncMs: number;
  /** Runs a step on the manager's queue. */
  enqueue(step: () => Promise<void>): Promise<void>;
  /** After every reload that read the model (changed or not): reconcile devices with it. */
  reconcile(snapshot: ModelSnapshot): Promise<void>;
}

export class ModelWatcher {
  /** The model as last loaded (parsed and cross-referenced). */
  snapshot: ModelSnapshot = EMPTY_SNAPSHOT;
  /** Why the last reload failed (the store unreachable), until one succeeds. */
  lastError?: string;
  /** Set while the store's model looks wiped. */
  lost?: string;
  private version = 0;
  private stopped = false;
  private unsubscribe?: Unsubscribe;
  private stopResync?: () => void;
  /** Model events seen, reload not yet run: `done` resolves once that reload is applied. */
  private debounce?: { timer: ClockTimer; done: Promise<void>; release: () => void };
  private readonly listeners = new Set<(snapshot: ModelSnapshot) => void>();

  constructor(private readonly o: ModelWatcherOptions) {}

  /** Subscribes to model events and loads the model; resolves once the first reconcile is done. */
  async start(): Promise<void> {
    this.unsubscribe = this.o.store.subscribeModelEvents((events) => this.onEvents(events));
    await this.reloadNow();
    if (this.o.resyncMs > 0 && !this.stopped) this.stopResync = every(this.o.clock, this.o.resyncMs, () => void this.reloadNow());
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.stopResync?.();
    if (this.debounce) {
      this.o.clock.clearTimeout(this.debounce.timer);
      this.debounce.release();
      this.debounce = undefined;
    }
  }

  /** Called after every reload that changed the model; returns the unsubscribe function. */
  onChange(listener: (snapshot: ModelSnapshot) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Resolves once a reload due for events received so far has run. */
  async settled(): Promise<void> {
    if (this.debounce) await this.debounce.done;
  }

  /** Reloads on the queue now, as a model event would without the debounce. */
  reloadNow(): Promise<void> {
    const pending = this.debounce;
    this.debounce = undefined;
    if (pending) this.o.clock.clearTimeout(pending.timer);
    const p = this.o.enqueue(() => this.reload());
    if (pending) void p.finally(pending.release);
    return p;
  }

  /** Loads the model and reconciles with it. For steps already on the queue. */
  async reload(): Promise<void> {
    if (this.stopped) return;
    let snap: ModelSnapshot;
    try {
      snap = await loadModel(this.o.store, this.version + 1);
      this.lastError = undefined;
    } catch (err) {
      // Redis away: keep what we have; the resync, a lease round or the next event tries again.
      this.lastError = (err as Error).message;
      this.o.logger.warn({ err }, 'model reload failed; keeping the current devices');
      return;
    }
    const prev = this.snapshot;
    if (snap.devices.size === 0 && prev.devices.size > 0 && snap.storeRevision < prev.storeRevision) {
      // The model vanished and its revision went back: the store lost its data, nobody
      // deleted the devices (that would raise the revision). Keep the last known devices.
      if (this.lost === undefined)
        this.o.logger.error(
          { revision: snap.storeRevision, was: prev.storeRevision },
          'the model is gone from the store (revision went back); keeping the current devices until it is written again',
        );
      this.lost = `model missing from the store (revision ${snap.storeRevision}, was ${prev.storeRevision}); polling the last known devices`;
      return;
    }
    this.lost = undefined;
    if (sameModel(prev, snap)) {
      // Same objects: keep the snapshot and its version, so caches built on it stay valid.
      if (prev.storeRevision !== snap.storeRevision) this.snapshot = { ...prev, storeRevision: snap.storeRevision };
    } else {
      this.version = snap.version;
      for (const p of snap.problems) {
        if (!prev.problems.some((q) => q.kind === p.kind && q.id === p.id && q.message === p.message))
          this.o.logger.warn({ kind: p.kind, id: p.id, problem: p.message }, 'model object left out');
      }
      this.snapshot = snap;
      for (const l of this.listeners) {
        try {
          l(snap);
        } catch (err) {
          this.o.logger.error({ err }, 'model change listener threw');
        }
      }
    }
    await this.o.reconcile(this.snapshot);
  }

  private onEvents(events: ModelEvent[]): void {
    if (this.stopped || events.length === 0) return;
    this.o.logger.debug({ events: events.length }, 'model events');
    if (this.debounce) return; // a reload is already due and will see these changes
    let release!: () => void;
    const done = new Promise<void>((r) => (release = r));
    const timer = this.o.clock.setTimeout(() => void this.reloadNow(), this.o.debounceMs);
    this.debounce = { timer, done, release };
  }
}

/** Same objects in the same order: a reload that changed nothing keeps the old snapshot (and caches on it). */
function sameModel(a: ModelSnapshot, b: ModelSnapshot): boolean {
  const same = <T>(x: ReadonlyMap<string, T>, y: ReadonlyMap<string, T>) => x.size === y.size && JSON.stringify([...x]) === JSON.stringify([...y]);
  return (
    same(a.devices, b.devices) &&
    same(a.terms, b.terms) &&
    same(a.items, b.items) &&
    same(a.links, b.links) &&
    JSON.stringify(a.problems) === JSON.stringify(b.problems)
  );
}
