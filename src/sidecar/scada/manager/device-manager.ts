/**
 * The device manager (PyDataColl's DeviceManager): keeps one driver acquisition running per
 * enabled device of the model that this sidecar holds the lease of, and serves on-demand
 * reads (device_call) and writes (device_ctrl). It knows no protocol: each device's driver
 * (scada/drivers, by `device.protocol`) plans, acquires, reads and writes.
 *
 *   ModelWatcher       model events → debounced reload → reconcile (this file)
 *   LeaseCoordinator   who may acquire which device (store leases, rounds every ttl/3)
 *   Supervisor         running acquisitions → store and bus
 *
 * Each device's plan is compared with the running one by its key (canonical JSON), so only
 * devices whose config really changed restart, each once per burst of model events, and an
 * unrelated edit leaves an acquisition alone. All start/stop work runs one step at a time on
 * an internal queue, so a reload, a lease round and stop() never interleave on a device.
 */
import pino, { type Logger } from 'pino';
import { systemClock, type Clock } from '../../core/clock';
import type { HealthProbe, ProbeStatus } from '../../core/health';
import { AppError } from '../../errors';
import type { Store, Unsubscribe } from '../../store/types';
import { DRIVERS } from '../drivers';
import type { DeviceDriver, DevicePlan, DeviceSession, DriverSet, LatestValue, PointReading, WriteOptions } from '../drivers/driver';
import { deviceLinks, linkPath, parseLink, type ModelSnapshot } from '../model/snapshot';
import { LeaseCoordinator } from './lease-coordinator';
import { ModelWatcher } from './model-watcher';
import { deviceError, deviceState, type ControlResult, type DeviceState, type DeviceStatus, type Reading } from './status';
import { Supervisor } from './supervisor';

export type { ControlResult, DeviceState, DeviceStatus, Reading } from './status';

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
  /** Drivers by protocol (default: every built-in driver). */
  drivers?: DriverSet;
  clock?: Clock;
}

interface Entry {
  id: string;
  plan: DevicePlan;
  driver?: DeviceDriver;
  /** Clock time of the last state change seen while nothing ran. */
  since: number;
  lastError?: string;
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
  private readonly clock: Clock;
  private readonly drivers: DriverSet;
  private readonly watcher: ModelWatcher;
  private readonly leases: LeaseCoordinator;
  private readonly supervisor: Supervisor;
  private readonly entries = new Map<string, Entry>();
  private queue: Promise<void> = Promise.resolve();
  private started = false;
  private stopped = false;
  private roundQueued = false;

  constructor(options: DeviceManagerOptions) {
    this.store = options.store;
    this.owner = options.owner ?? options.store.instanceId;
    this.leaseTtlMs = options.leaseTtlMs ?? 15_000;
    if (!(Number.isInteger(this.leaseTtlMs) && this.leaseTtlMs >= 30))
      throw new AppError('BAD_PARAMS', `leaseTtlMs must be an integer ≥ 30, got ${options.leaseTtlMs}`, 'leaseTtlMs');
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'device-manager' });
    this.clock = options.clock ?? systemClock;
    this.drivers = options.drivers ?? DRIVERS;
    const common = { store: this.store, logger: this.logger, clock: this.clock };
    this.watcher = new ModelWatcher({
      ...common,
      debounceMs: options.debounceMs ?? 50,
      resyncMs: options.resyncMs ?? 30_000,
      enqueue: (step) => this.enqueue(step),
      reconcile: (snap) => this.reconcile(snap),
    });
    this.leases = new LeaseCoordinator({ ...common, owner: this.owner, ttlMs: this.leaseTtlMs });
    this.supervisor = new Supervisor(common);
  }

  /** Loads the model and starts acquisition; resolves once the first reconcile is done. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.watcher.start();
    if (this.stopped) return;
    this.leases.start(() => {
      // One round at a time: while the store is slow (Redis away) rounds must not pile up on the queue.
      if (this.roundQueued) return;
      this.roundQueued = true;
      void this.enqueue(() => this.leaseRound()).finally(() => (this.roundQueued = false));
    });
  }

  /** Stops every acquisition and releases the leases; idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watcher.stop();
    this.leases.stop();
    await this.enqueue(async () => {
      await Promise.all([...this.entries.values()].map((e) => this.stopDevice(e, true)));
    });
  }

  /** The model as last loaded (parsed and cross-referenced). */
  model(): ModelSnapshot {
    return this.watcher.snapshot;
  }

  /** Called after every reload that changed the model; returns the unsubscribe function. */
  onModelChange(listener: (snapshot: ModelSnapshot) => void): Unsubscribe {
    return this.watcher.onChange(listener);
  }

  /** Resolves once model events received so far are applied (acquisitions started or stopped). */
  async settled(): Promise<void> {
    await this.watcher.settled();
    await this.queue;
  }

  /** Reloads the model now (as a model event would, without the debounce). */
  reloadNow(): Promise<void> {
    return this.watcher.reloadNow();
  }

  /** Current status of every device of the model, by id. */
  status(): DeviceStatus[] {
    return [...this.model().devices.keys()].map((id) => this.deviceStatus(id)!);
  }

  /** Status of one device, or undefined when the model has no such device. */
  deviceStatus(deviceId: string): DeviceStatus | undefined {
    const device = this.model().devices.get(deviceId);
    if (!device) return undefined;
    const e = this.entries.get(deviceId);
    const running = this.supervisor.get(deviceId);
    const health = running?.acquisition.health();
    const byQuality = health?.qualities ?? {};
    const total = running ? running.points : (e?.plan.points.length ?? 0);
    const good = byQuality.good ?? 0;
    const owned = this.leases.owns(deviceId);
    const owner = owned ? this.owner : this.leases.ownerOf(deviceId);
    const lastError = deviceError(e?.plan.error, !!e && !e.plan.config, health, running?.lastError ?? e?.lastError);
    const lastPollAt = running?.lastCycleAt ?? e?.lastPollAt;
    return {
      deviceId,
      name: device.name,
      protocol: device.protocol,
      enabled: device.enabled,
      state: deviceState(e && { hasConfig: !!e.plan.config }, device.enabled, health, { owned, holder: owner, self: this.owner }),
      ...(e ? { since: health?.connection.since ?? running?.since ?? e.since } : {}),
      ...(owner ? { owner } : {}),
      ...(lastError ? { lastError } : {}),
      ...(lastPollAt !== undefined ? { lastPollAt } : {}),
      points: { total, good, bad: running ? total - good : 0, byQuality },
      skipped: e?.plan.skipped ?? [],
      ...(health ? { poller: health } : {}),
    };
  }

  /** The driver's latest reading of a link when this sidecar acquires its device (keeps the last good value). */
  pointLatest(linkId: string): LatestValue | undefined {
    const path = linkPath(this.model(), linkId);
    if (!path) return undefined;
    return this.supervisor.get(path.deviceId)?.acquisition.latest(linkId);
  }

  /** Health: degraded while a device this sidecar acquires is unreachable or a device's config is unusable. */
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
      if (this.watcher.lastError) problems.push(`model reload failed: ${this.watcher.lastError}`);
      if (this.watcher.lost) problems.push(this.watcher.lost);
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
   * device. Readings of acquired points also go to the store and the bus like acquired ones.
   */
  async call(deviceId: string, linkIds?: readonly string[]): Promise<Reading[]> {
    await this.settled();
    const snap = this.model();
    const { plan, driver } = this.usableDevice(deviceId);
    if (linkIds !== undefined && !Array.isArray(linkIds)) throw new AppError('BAD_REQUEST', 'linkIds must be an array of link ids', 'linkIds');
    const ids = linkIds ? [...new Set(linkIds)] : plan.points;
    const known = new Set(plan.points);
    ids.forEach((id, i) => {
      if (typeof id !== 'string' || !known.has(id)) {
        const why = typeof id === 'string' && snap.links.has(id) ? `is not polled on device ${deviceId}` : 'does not exist';
        throw new AppError('NOT_FOUND', `link ${String(id)} ${why}`, `linkIds.${i}`);
      }
    });
    if (ids.length === 0) return [];
    const readings = await this.withSession(deviceId, driver, plan, (s) => s.read(ids));
    return readings.map((r) => this.toReading(deviceId, r));
  }

  /**
   * device_ctrl: writes `value` to a link of a device and reads it back. Refused (FORBIDDEN)
   * unless the link is marked `writable` in the model as stored right now.
   */
  async control(deviceId: string, linkId: string, value: unknown, functionCode?: 5 | 6 | 15 | 16): Promise<ControlResult> {
    await this.settled();
    const snap = this.model();
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
      throw new AppError('FORBIDDEN', `link ${linkId} is not writable: set "writable": true on the term item to allow device_ctrl`, 'writable');
    }
    const { plan, driver } = this.usableDevice(deviceId);
    if (!plan.points.includes(linkId)) throw new AppError('NOT_FOUND', `link ${linkId} is not polled on device ${deviceId}`, 'linkId');
    const options: WriteOptions = functionCode !== undefined ? { functionCode } : {};
    const { reading, confirmation } = await this.withSession(deviceId, driver, plan, (s) => s.write(linkId, value, options));
    return { ...this.toReading(deviceId, reading), ...confirmation };
  }

  /** True when the device is acquired by this sidecar (for tests and the data source). */
  isPolling(deviceId: string): boolean {
    const s = this.deviceStatus(deviceId);
    return !!s && POLLING_STATES.has(s.state);
  }

  /** Link ids of a device in the current model. */
  linksOf(deviceId: string): string[] {
    return deviceLinks(this.model(), deviceId);
  }

  // ---- reconcile ------------------------------------------------------------------------

  /** Brings every device in line with the model. Runs on the queue (from the watcher's reload). */
  private async reconcile(snap: ModelSnapshot): Promise<void> {
    for (const [id, e] of this.entries) {
      if (!snap.devices.has(id)) {
        await this.stopDevice(e, true);
        this.entries.delete(id);
        this.leases.forget(id);
        this.logger.info({ device: id }, 'device removed: acquisition stopped');
      }
    }
    for (const [id, device] of snap.devices) {
      const driver = this.drivers.get(device.protocol);
      const plan: DevicePlan = driver
        ? driver.plan(snap, id)
        : { error: `no driver for protocol ${device.protocol}`, skipped: [], points: [] };
      let e = this.entries.get(id);
      if (!e) this.entries.set(id, (e = { id, plan, since: this.clock.now() }));
      e.plan = plan;
      e.driver = driver;
      for (const s of plan.skipped) this.logger.debug({ device: id, skipped: s }, 'left out of acquisition');
      if (!device.enabled || !plan.config) {
        if (!plan.config && plan.error) this.logger.warn({ device: id, error: plan.error }, 'device config cannot be acquired');
        if (this.supervisor.get(id) || this.leases.owns(id)) {
          await this.stopDevice(e, true);
          e.since = this.clock.now();
        }
        continue;
      }
      await this.ensureAcquiring(e);
    }
  }

  /** Every ttl/3: holders renew, the others try to take over lapsed leases. Runs on the queue. */
  private async leaseRound(): Promise<void> {
    if (this.stopped) return;
    this.leaseTicks++;
    // The last reload failed (store unreachable): try again at this pace rather than wait for the resync.
    if (this.watcher.lastError !== undefined) await this.watcher.reload();
    const snap = this.model();
    await Promise.all(
      [...this.entries.values()].map(async (e) => {
        if (!snap.devices.get(e.id)?.enabled || !e.plan.config) return;
        // Unreachable store: nobody can take the lease from us meanwhile; keep acquiring.
        if (this.leases.owns(e.id) && (await this.leases.renew(e.id)) !== 'lost') return;
        await this.ensureAcquiring(e);
      }),
    );
  }

  /** Takes the lease if needed and runs the driver with the current plan. */
  private async ensureAcquiring(e: Entry): Promise<void> {
    const { plan, driver } = e;
    if (!plan.config || !plan.key || !driver || this.stopped) return;
    if (!(await this.leases.acquire(e.id))) {
      if (this.supervisor.get(e.id)) {
        this.logger.warn({ device: e.id }, 'lost the device lease: stopping its acquisition');
        await this.stopDevice(e, false);
      }
      e.lastError = this.leases.lastError(e.id);
      return;
    }
    e.lastError = undefined;
    const running = this.supervisor.get(e.id);
    if (running?.key === plan.key) return;
    if (running) {
      this.logger.info({ device: e.id }, 'device config changed: restarting its acquisition');
      await this.stopAcquisition(e);
    }
    e.lastError = this.supervisor.start(e.id, driver, plan);
    e.since = this.clock.now();
  }

  private async stopAcquisition(e: Entry): Promise<void> {
    const running = this.supervisor.get(e.id);
    if (!running) return;
    if (running.lastCycleAt !== undefined) e.lastPollAt = running.lastCycleAt;
    await this.supervisor.stop(e.id);
  }

  /** Stops acquiring; with `release`, gives the lease back so another sidecar can take over at once. */
  private async stopDevice(e: Entry, release: boolean): Promise<void> {
    await this.stopAcquisition(e);
    if (release) await this.leases.release(e.id);
    else this.leases.drop(e.id);
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.queue.then(step).catch((err: unknown) => this.logger.error({ err }, 'device manager step failed'));
    this.queue = run;
    return run;
  }

  // ---- call / control ------------------------------------------------------------------

  private usableDevice(deviceId: string): { plan: DevicePlan; driver: DeviceDriver } {
    if (typeof deviceId !== 'string') throw new AppError('BAD_REQUEST', 'deviceId must be a string', 'deviceId');
    const device = this.model().devices.get(deviceId);
    if (!device) throw new AppError('NOT_FOUND', `device ${deviceId} does not exist`, 'deviceId');
    if (!device.enabled) throw new AppError('NOT_READY', `device ${deviceId} is disabled; enable it to read or write`, 'deviceId');
    if (this.stopped) throw new AppError('NOT_READY', 'the device manager is stopped', 'deviceId');
    const driver = this.drivers.get(device.protocol);
    if (!driver) throw new AppError('BAD_REQUEST', `device ${deviceId} cannot be polled: no driver for protocol ${device.protocol}`, 'deviceId');
    const plan = this.entries.get(deviceId)?.plan ?? driver.plan(this.model(), deviceId);
    if (!plan.config) throw new AppError('BAD_REQUEST', `device ${deviceId} cannot be polled: ${plan.error}`, 'deviceId');
    return { plan, driver };
  }

  /**
   * Runs `fn` on the device's running acquisition; when another sidecar acquires the device,
   * on a session of this one's (its readings are not stored: the owner stores).
   */
  private async withSession<T>(deviceId: string, driver: DeviceDriver, plan: DevicePlan, fn: (s: DeviceSession) => Promise<T>): Promise<T> {
    const timeoutMs = (plan.timeoutMs ?? 1000) + 100;
    const running = this.supervisor.get(deviceId);
    // A connection (re)started a moment ago is still connecting: give it one connect timeout
    // rather than answer "not connected" right after a model change.
    if (running) {
      await running.acquisition.ready(timeoutMs);
      return fn(running.acquisition);
    }
    const session = driver.open(plan.config, { logger: this.logger, clock: this.clock });
    try {
      await session.ready(timeoutMs);
      return await fn(session);
    } finally {
      await session.close();
    }
  }

  private toReading(deviceId: string, r: PointReading): Reading {
    const path = linkPath(this.model(), r.id);
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
}
