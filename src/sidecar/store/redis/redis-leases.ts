/**
 * The Redis store's leases: `SET NX PX` to take one, scripts to renew and release only one's
 * own, so a holder that lost its lease can never extend or drop another's.
 */
import { checkId, checkLease } from '../common';
import { RedisPart } from './link';

export class RedisLeases extends RedisPart {

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    checkLease(name, owner, ttlMs);
    const key = this.keys.lease(name);
    const set = await this.call(() => this.redis.set(key, owner, 'PX', ttlMs, 'NX'));
    if (set === 'OK') return true;
    // Taken: by this owner already? Then acquiring renews it.
    return (await this.call(() => this.redis.scadaLeaseRenew(key, owner, ttlMs))) === 1;
  }

  async renewLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    checkLease(name, owner, ttlMs);
    return (await this.call(() => this.redis.scadaLeaseRenew(this.keys.lease(name), owner, ttlMs))) === 1;
  }

  async releaseLease(name: string, owner: string): Promise<boolean> {
    checkLease(name, owner);
    return (await this.call(() => this.redis.scadaLeaseRelease(this.keys.lease(name), owner))) === 1;
  }

  async leaseOwner(name: string): Promise<string | undefined> {
    checkId(name, 'name');
    return (await this.call(() => this.redis.get(this.keys.lease(name)))) ?? undefined;
  }

}
