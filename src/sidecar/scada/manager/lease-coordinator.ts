/**
 * Which devices this sidecar may acquire: a device is acquired only by the holder of lease
 * `device:<id>` in the store. Holders renew every ttl/3; the others try to acquire at the
 * same pace and so take over within about ttl + ttl/3 of a holder dying (at its next round
 * after a graceful stop, which releases). While the store cannot be reached a holder keeps
 * its devices (nobody else can take the lease meanwhile) and gives one up only when the
 * store answers that the lease is someone else's.
 */
import type { Logger } from 'pino';
import { every, type Clock } from '../../core/clock';
import type { Store } from '../../store/types';

export interface LeaseCoordinatorOptions {
  store: Store;
  owner: string;
  ttlMs: number;
  clock: Clock;
  logger: Logger;
}

interface LeaseState {
  owned: boolean;
  /** The holder as last seen (this sidecar's id when owned). */
  owner?: string;
  lastError?: string;
}

export type Renewal = 'renewed' | 'lost' | 'unreachable';

export class LeaseCoordinator {
  private readonly leases = new Map<string, LeaseState>();
  private stopTicking?: () => void;

  constructor(private readonly o: LeaseCoordinatorOptions) {}

  /** Calls `round` every ttl/3 until stop(). */
  start(round: () => void): void {
    this.stopTicking = every(this.o.clock, Math.max(10, Math.floor(this.o.ttlMs / 3)), round);
  }

  stop(): void {
    this.stopTicking?.();
  }

  owns(deviceId: string): boolean {
    return this.leases.get(deviceId)?.owned === true;
  }

  /** The holder as last seen, when known. */
  ownerOf(deviceId: string): string | undefined {
    return this.leases.get(deviceId)?.owner;
  }

  lastError(deviceId: string): string | undefined {
    return this.leases.get(deviceId)?.lastError;
  }

  /** Takes the lease unless someone holds it; true when this sidecar holds it now. */
  async acquire(deviceId: string): Promise<boolean> {
    const l = this.state(deviceId);
    if (l.owned) return true;
    let got = false;
    try {
      got = await this.o.store.acquireLease(leaseName(deviceId), this.o.owner, this.o.ttlMs);
    } catch (err) {
      l.lastError = `lease: ${(err as Error).message}`;
    }
    if (!got) {
      l.owner = await this.o.store.leaseOwner(leaseName(deviceId)).catch(() => undefined);
      return false;
    }
    Object.assign(l, { owned: true, owner: this.o.owner, lastError: undefined });
    this.o.logger.info({ device: deviceId, owner: this.o.owner }, 'device lease acquired');
    return true;
  }

  /** Renews a held lease: `lost` when the store says it lapsed or is someone else's. */
  async renew(deviceId: string): Promise<Renewal> {
    const l = this.state(deviceId);
    try {
      if (await this.o.store.renewLease(leaseName(deviceId), this.o.owner, this.o.ttlMs)) return 'renewed';
    } catch (err) {
      this.o.logger.warn({ device: deviceId, err: (err as Error).message }, 'lease renewal failed; polling on');
      return 'unreachable';
    }
    l.owned = false;
    return 'lost';
  }

  /** Gives the lease back so another sidecar can take over at once. */
  async release(deviceId: string): Promise<void> {
    const l = this.leases.get(deviceId);
    if (!l?.owned) return;
    l.owned = false;
    l.owner = undefined;
    await this.o.store.releaseLease(leaseName(deviceId), this.o.owner).catch((err: unknown) => {
      this.o.logger.warn({ device: deviceId, err: (err as Error).message }, 'lease release failed; it will lapse');
    });
  }

  /** Stops counting a lease as held without releasing it (another sidecar has it). */
  drop(deviceId: string): void {
    const l = this.leases.get(deviceId);
    if (l) l.owned = false;
  }

  forget(deviceId: string): void {
    this.leases.delete(deviceId);
  }

  private state(deviceId: string): LeaseState {
    let l = this.leases.get(deviceId);
    if (!l) this.leases.set(deviceId, (l = { owned: false }));
    return l;
  }
}

function leaseName(deviceId: string): string {
  return `device:${deviceId}`;
}
