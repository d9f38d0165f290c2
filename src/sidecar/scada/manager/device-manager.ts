/**
 * The device manager (PyDataColl's DeviceManager): keeps one poller running per enabled
 * device of the model, feeds what the pollers read into the store and onto the bus, and
 * serves on-demand reads (device_call) and writes (device_ctrl).
 *
 *   model (store) ──events──▶ reload (debounced) ──▶ reconcile: start / restart / stop pollers
 *   poller.onSamples ──▶ store.append + store.publishSamples   (quality travels with every value)
 *   poller.latest()  ──▶ store.setLatest                        (reads a deadband suppressed)
 *
 * Model changes: any burst of model events is coalesced (debounceMs) into one reload of the
 * whole model; each device's poller config is compared with the running one by its
 * canonical JSON, so only devices whose config really changed restart, each once per burst,
 * and an unrelated edit (an item's unit, another device) leaves a poller alone. A slow
 * periodic resync (resyncMs) heals events missed while Redis was away.
 *
 * Several sidecars on one Redis: a device is polled only by the holder of lease
 * `device:<id>`. Holders renew every ttl/3; the others try to acquire at the same pace and so
 * take over within about ttl + ttl/3 of a holder dying (at once, within ttl/3, after a
 * graceful stop, which releases). When the store cannot be reached a holder keeps polling —
 * samples are buffered by the store and nobody else can take the lease meanwhile — and
 * gives up only when the store answers that the lease is someone else's.
 *
 * All start/stop work runs one step at a time on an internal queue, so a reload, a lease
 * tick and stop() never interleave their effects on a device.
 */
import pino, { type Logger } from 'pino';
import { AppError } from '../../errors';
import type { HealthProbe, ProbeStatus } from '../../core/health';
import type { LatestValue } from '../drivers/modbus/report';
import { ModbusPoller, type PointReading, type PollerHealth } from '../drivers/modbus/poller';
import type { ModbusPollerConfig } from '../drivers/modbus/types';
import { QUALITY_CODE, type Quality } from '../../core/quality';
import type { SampleBatch } from '../../core/samples';
import type { ModelEvent, Store, Unsubscribe } from '../../store/types';
import { deviceLinks, EMPTY_SNAPSHOT, linkPath, loadModel, parseLink, planDevice, type DevicePlan, type ModelSnapshot } from './snapshot';

export interface DeviceManagerOptions {
  store: Store;
  logger?: Logger;
  /** Lease owner id of this sidecar (default: the store's instanceId). */
  owner?: string;
  /** Device lease time to live (default 15 s); renewed every ttl/3. */
  leaseTtlMs?: number;
  /** Model events within this window are applied together (default 50 ms). */
  debounceMs?: number;
  /** Full model reload even without events, to heal missed ones (default 30 s; 0 = never). */
  resyncMs?: number;
}

export type DeviceState =
  /** Polling, the connection is up. */
  | 'connected'
  /** Polling, connecting (first attempt or after a backoff). */
  | 'connecting'
  /** Polling, the device is unreachable: waiting before the next connect attempt. */
  | 'backoff'
  /** The model says enabled: false. */
  | 'disabled'
  /** Another sidecar holds the device's lease and polls it. */
  | 'not-owner'
  /** The device's config cannot be polled (see lastError). */
  | 'config-error'
  /** Not polled: the manager is stopped or has not started it yet. */
  | 'stopped';

export interface DeviceStatus {
  deviceId: string;
  name: string;
  protocol: string;
  enabled: boolean;
  state: DeviceState;
  /** Epoch ms of the last state change seen. */
  since?: number;
  /** The sidecar polling it (this one's id when owned), when known. */
  owner?: string;
  lastError?: string;
  /** Epoch ms of the last completed poll cycle (this sidecar only). */
  lastPollAt?: number;
  /** Points of the device; good / bad (anything not good) from their current quality. */
  points: { total: number; good: number; bad: number; byQuality: Partial<Record<Quality, number>> };
  /** Terms and links of the device the poller left out, with the reason. */
  skipped: string[];
  /** Poller details (connection, units, counters) when this sidecar polls the device. */
  poller?: PollerHealth;
}

/** One point's value read on demand (device_call) or read back after a write (device_ctrl). */
export interface Reading {
  deviceId: string;
  termId: string;
  itemId: string;
  /** The link (term item) id, also its series id. */
  linkId: string;
  /** NaN unless the quality is good (and for string points, whose text is in `text`). */
  value: number;
  text?: string;
  quality: Quality;
  time: number;
  error?: string;
}

export interface ControlResult extends Reading {
  /** The Modbus function code the write used (5, 6, 15 or 16). */
  functionCode: number;
}

interface Running {
  poller: ModbusPoller;
  key: string;
  config: ModbusPollerConfig;
  /** Reads the deadband suppressed are moved into store.latest at this pace. */
  refreshTimer: NodeJS.Timeout;
  /** Newest time stored (append or setLatest) per series. */
  stored: Map<string, number>;
  cycles: number;
  stopState: () => void;
}

interface Entry {
  id: string;
  plan?: DevicePlan;
  owned: boolean;
  /** The last time acquire/renew succeeded (local clock). */
  leaseAt?: number;
  owner?: string;
  running?: Running;
  lastError?: string;
  since?: number;
  lastPollAt?: number;
}

const POLLING_STATES = new Set<DeviceState>(['connected', 'connecting', 'backoff']);

export class DeviceManager {
  readonly store: Store;
  readonly owner: string;
  readonly leaseTtlMs: number;
  /** Lease rounds run (renewals and takeover attempts): how often this sidecar has looked. */
  leaseTicks = 0;
  private readonly logger: Logger;
  private readonly debounceMs: number;
  private readonly resyncMs: number;
  private snapshotValue: ModelSnapshot = EMPTY_SNAPSHOT;
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<(snapshot: ModelSnapshot) => void>();
  private queue: Promise<void> = Promise.resolve();
  private started = false;
  private stopped = false;
  private unsubscribe?: Unsubscribe;
  /** Model events seen, reload not yet run: `done` resolves once that reload is applied. */
  private debounce?: { timer: NodeJS.Timeout; done: Promise<void>; release: () => void };
  private leaseTimer?: NodeJS.Timeout;
  private resyncTimer?: NodeJS.Timeout;
  private version = 0;
  private lastReloadError?: string;
  private leaseTickQueued = false;
  /** Set while the store's model looks wiped (see reload). */
  private modelLost?: string;

  constructor(options: DeviceManagerOptions) {
    this.store = options.store;
    this.owner = options.owner ?? options.store.instanceId;
    this.leaseTtlMs = options.leaseTtlMs ?? 15_000;
    if (!(Number.isInteger(this.leaseTtlMs) && this.leaseTtlMs >= 30))
      throw new AppError('BAD_PARAMS', `leaseTtlMs must be an integer ≥ 30, got ${options.leaseTtlMs}`, 'leaseTtlMs');
    this.debounceMs = options.debounceMs ?? 50;
    this.resyncMs = options.resyncMs ?? 30_000;
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'device-manager' });
  }

  /** Loads the model and starts polling; resolves once the first reconcile is done. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.unsubscribe = this.store.subscribeModelEvents((events) => this.onModelEvents(events));
    await this.reloadNow();
    if (this.stopped) return;
    this.leaseTimer = setInterval(
      () => {
        // One tick at a time: while the store is slow (Redis away) ticks must not pile up on the queue.
        if (this.leaseTickQueued) return;
        this.leaseTickQueued = true;
        void this.enqueue(() => this.leaseTick()).finally(() => (this.leaseTickQueued = false));
      },
      Math.max(10, Math.floor(this.leaseTtlMs / 3)),
    );
    this.leaseTimer.unref();
    if (this.resyncMs > 0) {
      this.resyncTimer = setInterval(() => void this.reloadNow(), this.resyncMs);
      this.resyncTimer.unref();
    }
  }

  /** Stops every poller and releases the leases; idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    if (this.debounce) {
      clearTimeout(this.debounce.timer);
      this.debounce.release();
      this.debounce = undefined;
    }
    clearInterval(this.leaseTimer);
    clearInterval(this.resyncTimer);
    await this.enqueue(async () => {
      await Promise.all([...this.entries.values()].map((e) => this.stopDevice(e, true)));
    });
  }

  /** The model as last loaded (parsed and cross-referenced). */
  model(): ModelSnapshot {
    return this.snapshotValue;
  }

  /** Called after every reload that changed the model; returns the unsubscribe function. */
  onModelChange(listener: (snapshot: ModelSnapshot) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Resolves once model events received so far are applied (pollers started or stopped). */
  async settled(): Promise<void> {
    if (this.debounce) await this.debounce.done;
    await this.queue;
  }

  /** Reloads the model now (as a model event would, without the debounce). */
  reloadNow(): Promise<void> {
    const pending = this.debounce;
    this.debounce = undefined;
    if (pending) clearTimeout(pending.timer);
    const p = this.enqueue(() => this.reload());
    if (pending) void p.finally(pending.release);
    return p;
  }

  /** Current status of every device of the model, by id. */
  status(): DeviceStatus[] {
    return [...this.snapshotValue.devices.keys()].map((id) => this.deviceStatus(id)!);
  }

  /** Status of one device, or undefined when the model has no such device. */
  deviceStatus(deviceId: string): DeviceStatus | undefined {
    const device = this.snapshotValue.devices.get(deviceId);
    if (!device) return undefined;
    const e = this.entries.get(deviceId);
    const running = e?.running;
    const health = running?.poller.health();
    const byQuality = health?.qualities ?? {};
    const total = running ? running.config.points.length : (e?.plan?.config?.points.length ?? 0);
    const good = byQuality.good ?? 0;
    return {
      deviceId,
      name: device.name,
      protocol: device.protocol,
      enabled: device.enabled,
      state: this.stateOf(e, device.enabled, health),
      ...(e?.since !== undefined ? { since: health?.connection.since ?? e.since } : {}),
      ...(e?.owned ? { owner: this.owner } : e?.owner ? { owner: e.owner } : {}),
      ...(this.errorOf(e, health) ? { lastError: this.errorOf(e, health) } : {}),
      ...(e?.lastPollAt !== undefined ? { lastPollAt: e.lastPollAt } : {}),
      points: { total, good, bad: running ? total - good : 0, byQuality },
      skipped: e?.plan?.skipped ?? [],
      ...(health ? { poller: health } : {}),
    };
  }

  /** The poller's latest reading of a link when this sidecar polls its device (keeps the last good value). */
  pointLatest(linkId: string): LatestValue | undefined {
    const path = linkPath(this.snapshotValue, linkId);
    if (!path) return undefined;
    return this.entries.get(path.deviceId)?.running?.poller.latest(linkId);
  }

  /** Health: degraded while a device this sidecar polls is unreachable or a device's config is unusable. */
  readonly probe: HealthProbe = {
    name: 'devices',
    check: async () => {
      const all = this.status();
      const count: Partial<Record<DeviceState, number>> = {};
      for (const s of all) count[s.state] = (count[s.state] ?? 0) + 1;
      const down = all.filter((s) => s.state === 'backoff').map((s) => s.deviceId);
      const broken = all.filter((s) => s.state === 'config-error').map((s) => s.deviceId);
      // Connected, but a unit (term) behind it does not answer: part of the device is down.
      const silent = all.filter((s) => s.state === 'connected' && s.poller?.units.some((u) => !u.responsive)).map((s) => s.deviceId);
      const problems: string[] = [];
      if (down.length) problems.push(`${down.length} device(s) unreachable: ${down.join(', ')}`);
      if (silent.length) problems.push(`${silent.length} device(s) with units not answering: ${silent.join(', ')}`);
      if (broken.length) problems.push(`${broken.length} device(s) with a config error: ${broken.join(', ')}`);
      if (this.lastReloadError) problems.push(`model reload failed: ${this.lastReloadError}`);
      if (this.modelLost) problems.push(this.modelLost);
      const status: ProbeStatus = this.stopped ? 'down' : problems.length ? 'degraded' : 'ok';
      return {
        status,
        message: this.stopped ? 'device manager stopped' : problems.length ? problems.join('; ') : `${all.length} device(s)`,
        details: {
          owner: this.owner,
          devices: all.length,
          states: count,
          ...(down.length ? { down } : {}),
          ...(silent.length ? { silentUnits: silent } : {}),
        },
      };
    },
  };

  /**
   * device_call: reads points of a device now. `linkIds` default to every link of the
   * device. Readings of polled points also go to the store and the bus like polled ones.
   */
  async call(deviceId: string, linkIds?: readonly string[]): Promise<Reading[]> {
    await this.settled();
    const snap = this.snapshotValue;
    const { entry, plan } = this.usableDevice(deviceId);
    if (linkIds !== undefined && !Array.isArray(linkIds))
      throw new AppError('BAD_REQUEST', 'linkIds must be an array of link ids', 'linkIds');
    const ids = linkIds ? [...new Set(linkIds)] : plan.config.points.map((p) => p.id);
    const known = new Set(plan.config.points.map((p) => p.id));
    ids.forEach((id, i) => {
      if (typeof id !== 'string' || !known.has(id)) {
        const why = typeof id === 'string' && snap.links.has(id) ? `is not polled on device ${deviceId}` : 'does not exist';
        throw new AppError('NOT_FOUND', `link ${String(id)} ${why}`, `linkIds.${i}`);
      }
    });
    if (ids.length === 0) return [];
    const readings = await this.withPoller(entry, plan, (p) => p.read(ids));
    return readings.map((r) => this.toReading(deviceId, r));
  }

  /**
   * device_ctrl: writes `value` to a link of a device and reads it back. Refused (FORBIDDEN)
   * unless the link is marked `writable` in the model as stored right now.
   */
  async control(deviceId: string, linkId: string, value: unknown, functionCode?: 5 | 6 | 15 | 16): Promise<ControlResult> {
    await this.settled();
    const snap = this.snapshotValue;
    const link = snap.links.get(linkId);
    const path = link && linkPath(snap, linkId);
    if (!link || !path || path.deviceId !== deviceId) {
      throw new AppError('NOT_FOUND', link ? `link ${linkId} is not on device ${deviceId}` : `link ${linkId} does not exist`, 'linkId');
    }
    // The permission is checked against the store, not the snapshot: a link made read-only
    // a moment ago must not accept a write in the debounce window.
    const fresh = parseLink(await this.store.getObject('link', link.storeKey));
    if (!fresh.success) throw new AppError('NOT_FOUND', `link ${linkId} does not exist`, 'linkId');
    if (!fresh.data.writable) {
      throw new AppError(
        'FORBIDDEN',
        `link ${linkId} is not writable: set "writable": true on the term item to allow device_ctrl`,
        'writable',
      );
    }
    const { entry, plan } = this.usableDevice(deviceId);
    if (!plan.config.points.some((p) => p.id === linkId))
      throw new AppError('NOT_FOUND', `link ${linkId} is not polled on device ${deviceId}`, 'linkId');
    const result = await this.withPoller(entry, plan, (p) => p.write(linkId, value, functionCode));
    return { ...this.toReading(deviceId, result), functionCode: result.functionCode };
  }

  // ---- model ---------------------------------------------------------------------------

  private onModelEvents(events: ModelEvent[]): void {
    if (this.stopped || events.length === 0) return;
    this.logger.debug({ events: events.length }, 'model events');
    if (this.debounce) return; // a reload is already due and will see these changes
    let release!: () => void;
    const done = new Promise<void>((r) => (release = r));
    const timer = setTimeout(() => void this.reloadNow(), this.debounceMs);
    this.debounce = { timer, done, release };
  }

  /** Loads the model and reconciles every device with it. Runs on the queue. */
  private async reload(): Promise<void> {
    if (this.stopped) return;
    let snap: ModelSnapshot;
    try {
      snap = await loadModel(this.store, this.version + 1);
      this.lastReloadError = undefined;
    } catch (err) {
      // Redis away: keep polling what we have; the resync or the next event tries again.
      this.lastReloadError = (err as Error).message;
      this.logger.warn({ err }, 'model reload failed; keeping the current devices');
      return;
    }
    const prev = this.snapshotValue;
    if (snap.devices.size === 0 && prev.devices.size > 0 && snap.storeRevision < prev.storeRevision) {
      // The model vanished and its revision went back: the store lost its data (a Redis
      // without persistence restarted), nobody deleted the devices (that would raise the
      // revision). Keep polling what we know until the model is written again.
      if (this.modelLost === undefined)
        this.logger.error(
          { revision: snap.storeRevision, was: prev.storeRevision },
          'the model is gone from the store (revision went back); keeping the current devices until it is written again',
        );
      this.modelLost = `model missing from the store (revision ${snap.storeRevision}, was ${prev.storeRevision}); polling the last known devices`;
      return;
    }
    this.modelLost = undefined;
    if (sameModel(prev, snap)) {
      // Same objects (e.g. a write that changed nothing, or a resync): keep the snapshot and
      // its version, so caches built on it stay valid.
      if (prev.storeRevision !== snap.storeRevision) this.snapshotValue = { ...prev, storeRevision: snap.storeRevision };
    } else {
      this.version = snap.version;
      for (const p of snap.problems) {
        if (!prev.problems.some((q) => q.kind === p.kind && q.id === p.id && q.message === p.message))
          this.logger.warn({ kind: p.kind, id: p.id, problem: p.message }, 'model object left out');
      }
      this.snapshotValue = snap;
      for (const l of this.listeners) {
        try {
          l(snap);
        } catch (err) {
          this.logger.error({ err }, 'model change listener threw');
        }
      }
    }
    const current = this.snapshotValue;
    // Devices gone from the model: stop and forget.
    for (const [id, e] of this.entries) {
      if (!current.devices.has(id)) {
        await this.stopDevice(e, true);
        this.entries.delete(id);
        this.logger.info({ device: id }, 'device removed: poller stopped');
      }
    }
    for (const [id, device] of current.devices) {
      let e = this.entries.get(id);
      if (!e) this.entries.set(id, (e = { id, owned: false, since: Date.now() }));
      const plan = planDevice(current, id);
      e.plan = plan;
      for (const s of plan.skipped) this.logger.debug({ device: id, skipped: s }, 'left out of polling');
      if (!device.enabled || !plan.config) {
        if (!plan.config && plan.error) this.logger.warn({ device: id, error: plan.error }, 'device config cannot be polled');
        if (e.running || e.owned) {
          await this.stopDevice(e, true);
          e.since = Date.now();
        }
        continue;
      }
      await this.ensurePolling(e);
    }
  }

  // ---- leases and pollers -------------------------------------------------------------

  private leaseName(id: string): string {
    return `device:${id}`;
  }

  /** Every ttl/3: holders renew, the others try to take over lapsed leases. */
  private async leaseTick(): Promise<void> {
    if (this.stopped) return;
    this.leaseTicks++;
    // The last reload failed (store unreachable): try again at this pace rather than wait for the resync.
    if (this.lastReloadError !== undefined) await this.reload();
    const current = this.snapshotValue;
    await Promise.all(
      [...this.entries.values()].map(async (e) => {
        const device = current.devices.get(e.id);
        if (!device?.enabled || !e.plan?.config) return;
        if (e.owned) {
          try {
            if (await this.store.renewLease(this.leaseName(e.id), this.owner, this.leaseTtlMs)) {
              e.leaseAt = Date.now();
              return;
            }
          } catch (err) {
            // The store is unreachable: nobody can take the lease from us meanwhile; keep polling.
            this.logger.warn({ device: e.id, err: (err as Error).message }, 'lease renewal failed; polling on');
            return;
          }
          // Lapsed (e.g. Redis restarted) or taken: try once to get it back.
          e.owned = false;
        }
        await this.ensurePolling(e);
      }),
    );
  }

  /** Acquires the lease if needed and runs the poller with the current plan. */
  private async ensurePolling(e: Entry): Promise<void> {
    const plan = e.plan;
    if (!plan?.config || !plan.key || this.stopped) return;
    if (!e.owned) {
      let got = false;
      try {
        got = await this.store.acquireLease(this.leaseName(e.id), this.owner, this.leaseTtlMs);
      } catch (err) {
        e.lastError = `lease: ${(err as Error).message}`;
      }
      if (!got) {
        if (e.running) {
          this.logger.warn({ device: e.id }, 'lost the device lease: stopping its poller');
          await this.stopDevice(e, false);
        }
        e.owner = await this.store.leaseOwner(this.leaseName(e.id)).catch(() => undefined);
        return;
      }
      e.owned = true;
      e.owner = this.owner;
      e.leaseAt = Date.now();
      e.lastError = undefined;
      this.logger.info({ device: e.id, owner: this.owner }, 'device lease acquired');
    }
    if (e.running?.key === plan.key) return;
    if (e.running) {
      this.logger.info({ device: e.id }, 'device config changed: restarting its poller');
      await this.stopPoller(e);
    }
    this.startPoller(e, plan.config, plan.key);
  }

  private startPoller(e: Entry, config: ModbusPollerConfig, key: string): void {
    // Callbacks of a poller that was replaced or stopped are ignored: they check `self`.
    const self: { running?: Running } = {};
    const current = (): Running | undefined => (self.running && e.running === self.running ? self.running : undefined);
    let poller: ModbusPoller;
    try {
      poller = new ModbusPoller(config, {
        logger: this.logger,
        onSamples: (batch) => {
          const r = current();
          if (r) this.onSamples(r, batch);
        },
      });
    } catch (err) {
      e.lastError = (err as Error).message;
      this.logger.error({ device: e.id, err }, 'cannot start poller');
      return;
    }
    const stored = new Map<string, number>();
    const stopState = poller.onState((s) => {
      e.since = s.since;
      if (s.lastError) e.lastError = s.lastError;
      if (s.state === 'connected') e.lastError = undefined;
    });
    const intervals = [config.device.pollIntervalMs, ...config.points.map((p) => p.pollIntervalMs ?? config.device.pollIntervalMs)];
    const refreshMs = Math.min(10_000, Math.max(50, Math.min(...intervals)));
    const refreshTimer = setInterval(() => {
      const r = current();
      if (r) this.refresh(e, r);
    }, refreshMs);
    refreshTimer.unref();
    self.running = { poller, key, config, refreshTimer, stored, cycles: 0, stopState };
    e.running = self.running;
    e.since = Date.now();
    poller.start();
    this.logger.info({ device: e.id, points: config.points.length, units: config.units.length }, 'poller started');
  }

  private onSamples(running: Running, batch: SampleBatch): void {
    for (const [id, cols] of batch) {
      const n = cols.times.length;
      if (n > 0) running.stored.set(id, Math.max(running.stored.get(id) ?? -Infinity, cols.times[n - 1]));
    }
    // Append never throws; it buffers while Redis is down. Publish after, so a listener that
    // reads the store on a sample finds it there (memory) or on its way (Redis).
    void this.store.append(batch);
    this.store.publishSamples(batch);
  }

  /** Moves reads the deadband suppressed into store.latest, and notes completed poll cycles. */
  private refresh(e: Entry, running: Running): void {
    const health = running.poller.health();
    if (health.cycles !== running.cycles) {
      running.cycles = health.cycles;
      e.lastPollAt = Date.now();
    }
    let batch: SampleBatch | undefined;
    for (const l of running.poller.latest()) {
      if (l.quality !== 'good' || l.text !== undefined || !(l.time > (running.stored.get(l.id) ?? Infinity))) continue;
      batch ??= new Map();
      batch.set(l.id, { times: Float64Array.of(l.time), values: Float64Array.of(l.value), qualities: Uint8Array.of(QUALITY_CODE.good) });
      running.stored.set(l.id, l.time);
    }
    if (batch) void this.store.setLatest(batch);
  }

  private async stopPoller(e: Entry): Promise<void> {
    const running = e.running;
    if (!running) return;
    e.running = undefined;
    clearInterval(running.refreshTimer);
    running.stopState();
    try {
      await running.poller.stop();
    } catch (err) {
      this.logger.warn({ device: e.id, err }, 'poller stop failed');
    }
    this.logger.info({ device: e.id }, 'poller stopped');
  }

  /** Stops the poller; with `release`, gives the lease back so another sidecar can take over at once. */
  private async stopDevice(e: Entry, release: boolean): Promise<void> {
    await this.stopPoller(e);
    if (release && e.owned) {
      e.owned = false;
      e.owner = undefined;
      await this.store.releaseLease(this.leaseName(e.id), this.owner).catch((err: unknown) => {
        this.logger.warn({ device: e.id, err: (err as Error).message }, 'lease release failed; it will lapse');
      });
    }
    if (!release) e.owned = false;
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.queue.then(step).catch((err: unknown) => this.logger.error({ err }, 'device manager step failed'));
    this.queue = run;
    return run;
  }

  // ---- call / control ------------------------------------------------------------------

  private usableDevice(deviceId: string): { entry: Entry | undefined; plan: DevicePlan & { config: ModbusPollerConfig } } {
    if (typeof deviceId !== 'string') throw new AppError('BAD_REQUEST', 'deviceId must be a string', 'deviceId');
    const device = this.snapshotValue.devices.get(deviceId);
    if (!device) throw new AppError('NOT_FOUND', `device ${deviceId} does not exist`, 'deviceId');
    if (!device.enabled) throw new AppError('NOT_READY', `device ${deviceId} is disabled; enable it to read or write`, 'deviceId');
    if (this.stopped) throw new AppError('NOT_READY', 'the device manager is stopped', 'deviceId');
    const entry = this.entries.get(deviceId);
    const plan = entry?.plan ?? planDevice(this.snapshotValue, deviceId);
    if (!plan.config) throw new AppError('BAD_REQUEST', `device ${deviceId} cannot be polled: ${plan.error}`, 'deviceId');
    return { entry, plan: plan as DevicePlan & { config: ModbusPollerConfig } };
  }

  /**
   * Runs `fn` on the device's running poller; when another sidecar polls the device, on a
   * short-lived connection of this one (its readings are not stored: the owner stores).
   */
  private async withPoller<T>(
    entry: Entry | undefined,
    plan: DevicePlan & { config: ModbusPollerConfig },
    fn: (p: ModbusPoller) => Promise<T>,
  ): Promise<T> {
    const timeoutMs = plan.config.device.timeoutMs + 100;
    if (entry?.running) {
      // A poller (re)started a moment ago is still connecting: give it one connect timeout
      // rather than answer "not connected" right after a model change.
      await settledConnection(entry.running.poller, timeoutMs);
      return fn(entry.running.poller);
    }
    const { config } = plan;
    // A long interval: the transient poller reads once on connect and otherwise only on demand.
    const day = 86_400_000;
    const poller = new ModbusPoller(
      { ...config, device: { ...config.device, pollIntervalMs: day }, points: config.points.map((p) => ({ ...p, pollIntervalMs: day })) },
      { onSamples: () => {}, logger: this.logger },
    );
    try {
      poller.start();
      await settledConnection(poller, timeoutMs);
      return await fn(poller);
    } finally {
      await poller.stop();
    }
  }

  private toReading(deviceId: string, r: PointReading): Reading {
    const path = linkPath(this.snapshotValue, r.id);
    return {
      deviceId,
      termId: path?.termId ?? r.id.split(':')[0],
      itemId: path?.itemId ?? r.id.split(':')[1] ?? '',
      linkId: r.id,
      value: r.value,
      ...(r.text !== undefined ? { text: r.text } : {}),
      quality: r.quality,
      time: r.time,
      ...(r.error !== undefined ? { error: r.error } : {}),
    };
  }

  // ---- status helpers --------------------------------------------------------------------

  private stateOf(e: Entry | undefined, enabled: boolean, health: PollerHealth | undefined): DeviceState {
    if (!enabled) return 'disabled';
    if (e?.plan && !e.plan.config) return 'config-error';
    if (health) {
      const s = health.connection.state;
      if (s === 'connected' || s === 'backoff' || s === 'connecting') return s;
      if (s === 'idle') return 'connecting';
      return 'stopped';
    }
    if (e && !e.owned && e.owner && e.owner !== this.owner) return 'not-owner';
    return 'stopped';
  }

  private errorOf(e: Entry | undefined, health: PollerHealth | undefined): string | undefined {
    if (e?.plan && !e.plan.config) return e.plan.error;
    if (health && health.connection.state !== 'connected') return health.connection.lastError ?? e?.lastError;
    if (health) {
      const unit = health.units.find((u) => !u.responsive);
      if (unit) return `unit ${unit.unitId} (${unit.id}): ${unit.lastError ?? 'not answering'}`;
      return undefined;
    }
    return e?.lastError;
  }

  /** True when the device is being polled by this sidecar (for tests and the data source). */
  isPolling(deviceId: string): boolean {
    const s = this.deviceStatus(deviceId);
    return !!s && POLLING_STATES.has(s.state);
  }

  /** Link ids of a device in the current model. */
  linksOf(deviceId: string): string[] {
    return deviceLinks(this.snapshotValue, deviceId);
  }
}

/** Resolves once the poller's connection is up or has failed (backoff), or after `timeoutMs`. */
function settledConnection(poller: ModbusPoller, timeoutMs: number): Promise<void> {
  const busy = (state: string) => state === 'idle' || state === 'connecting';
  if (!busy(poller.health().connection.state)) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      off();
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    const off = poller.onState((s) => {
      if (!busy(s.state)) done();
    });
  });
}

/** Same objects in the same order: a reload that changed nothing keeps the old snapshot (and caches on it). */
function sameModel(a: ModelSnapshot, b: ModelSnapshot): boolean {
  const same = <T>(x: ReadonlyMap<string, T>, y: ReadonlyMap<string, T>) =>
    x.size === y.size && JSON.stringify([...x]) === JSON.stringify([...y]);
  return (
    same(a.devices, b.devices) &&
    same(a.terms, b.terms) &&
    same(a.items, b.items) &&
    same(a.links, b.links) &&
    JSON.stringify(a.problems) === JSON.stringify(b.problems)
  );
}
