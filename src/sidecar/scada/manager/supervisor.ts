/**
 * Runs one driver acquisition per device this sidecar owns, and feeds what it reports into
 * the store and onto the bus:
 *
 *   acquisition.onSamples ──▶ store.append + store.publishSamples   (quality travels with every value)
 *   acquisition.latest()  ──▶ store.setLatest                        (readings a deadband suppressed)
 *
 * Callbacks of an acquisition that was replaced or stopped are ignored, so a late batch of
 * an old config never lands after the new one started.
 */
import type { Logger } from 'pino';
import { every, type Clock } from '../../core/clock';
import { QUALITY_CODE } from '../../core/quality';
import type { SampleBatch } from '../../core/samples';
import type { Store } from '../../store/types';
import type { Acquisition, DeviceDriver, DevicePlan } from '../drivers/driver';

export interface Running {
  acquisition: Acquisition;
  /** The plan's key: a different one means restart. */
  key: string;
  points: number;
  /** Newest time stored (append or setLatest) per series. */
  stored: Map<string, number>;
  cycles: number;
  /** Clock time of the last completed acquisition cycle. */
  lastCycleAt?: number;
  /** Clock time of the last link state change. */
  since: number;
  lastError?: string;
  stop: () => void;
}

export interface SupervisorOptions {
  store: Store;
  logger: Logger;
  clock: Clock;
}

export class Supervisor {
  private readonly running = new Map<string, Running>();

  constructor(private readonly o: SupervisorOptions) {}

  get(deviceId: string): Running | undefined {
    return this.running.get(deviceId);
  }

  /** Starts `driver` on `plan` for a device; the reason (also logged) when it cannot start. */
  start(deviceId: string, driver: DeviceDriver, plan: DevicePlan): string | undefined {
    const self: { r?: Running } = {};
    const current = (): Running | undefined => (self.r && this.running.get(deviceId) === self.r ? self.r : undefined);
    let acquisition: Acquisition;
    try {
      acquisition = driver.start(plan.config, {
        logger: this.o.logger,
        clock: this.o.clock,
        onSamples: (batch) => {
          const r = current();
          if (r) this.onSamples(r, batch);
        },
      });
    } catch (err) {
      this.o.logger.error({ device: deviceId, err }, 'cannot start acquisition');
      return (err as Error).message;
    }
    const r: Running = {
      acquisition,
      key: plan.key!,
      points: plan.points.length,
      stored: new Map(),
      cycles: 0,
      since: this.o.clock.now(),
      stop: () => undefined,
    };
    const stopState = acquisition.onState((s) => {
      r.since = s.since;
      if (s.lastError) r.lastError = s.lastError;
      if (s.state === 'connected') r.lastError = undefined;
    });
    const stopRefresh = every(this.o.clock, plan.refreshMs ?? 1000, () => {
      if (current()) this.refresh(r);
    });
    r.stop = () => {
      stopState();
      stopRefresh();
    };
    self.r = r;
    this.running.set(deviceId, r);
    this.o.logger.info({ device: deviceId, points: plan.points.length, protocol: driver.protocol }, 'acquisition started');
    return undefined;
  }

  async stop(deviceId: string): Promise<void> {
    const r = this.running.get(deviceId);
    if (!r) return;
    this.running.delete(deviceId);
    r.stop();
    try {
      await r.acquisition.close();
    } catch (err) {
      this.o.logger.warn({ device: deviceId, err }, 'acquisition stop failed');
    }
    this.o.logger.info({ device: deviceId }, 'acquisition stopped');
  }

  private onSamples(r: Running, batch: SampleBatch): void {
    for (const [id, cols] of batch) {
      const n = cols.times.length;
      if (n > 0) r.stored.set(id, Math.max(r.stored.get(id) ?? -Infinity, cols.times[n - 1]));
    }
    // Append never throws; it buffers while Redis is down. Publish after, so a listener that
    // reads the store on a sample finds it there (memory) or on its way (Redis).
    void this.o.store.append(batch);
    this.o.store.publishSamples(batch);
  }

  /** Moves readings the deadband suppressed into store.latest, and notes completed cycles. */
  private refresh(r: Running): void {
    const health = r.acquisition.health();
    if (health.cycles !== r.cycles) {
      r.cycles = health.cycles;
      r.lastCycleAt = this.o.clock.now();
    }
    let batch: SampleBatch | undefined;
    for (const l of r.acquisition.latest()) {
      if (l.quality !== 'good' || l.text !== undefined || !(l.time > (r.stored.get(l.id) ?? Infinity))) continue;
      batch ??= new Map();
      batch.set(l.id, { times: Float64Array.of(l.time), values: Float64Array.of(l.value), qualities: Uint8Array.of(QUALITY_CODE.good) });
      r.stored.set(l.id, l.time);
    }
    if (batch) void this.o.store.setLatest(batch);
  }
}
