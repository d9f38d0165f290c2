/**
 * Two sidecars (two DeviceManagers, each with its own Redis store) on one real redis-server:
 * a device is polled by the lease holder only, and the other takes over when the holder
 * stops (lease released) or dies (lease lapses).
 */
import { DeviceManager } from '../../../src/sidecar/scada/manager';
import { linkId } from '../../../src/sidecar/scada/model/schemas';
import type { ModbusSimulator } from '../../../src/sidecar/scada/drivers/modbus/simulator';
import { createStore, type Store } from '../../../src/sidecar/store';
import { startRedisServer, type RedisServer } from '../../helpers/redis-server';
import { countSamples, LEVEL, latestOf, putDevice, silent, startSim, TEMP, waitFor } from './fixtures';

jest.setTimeout(60_000);

// Long enough that a holder's renewal (every ttl/3) survives a busy machine's stalls; no
// assertion here depends on how long anything took.
const TTL = 3000;
let redis: RedisServer;
let sim: ModbusSimulator;
const stores: Store[] = [];
const managers: DeviceManager[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});
beforeEach(async () => {
  sim = await startSim();
});
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.stop()));
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await sim.close();
});

let prefixes = 0;
async function sidecars(n: number): Promise<{ stores: Store[]; managers: DeviceManager[] }> {
  const keyPrefix = `lease${process.pid}x${++prefixes}:`;
  const out: { stores: Store[]; managers: DeviceManager[] } = { stores: [], managers: [] };
  for (let i = 0; i < n; i++) {
    const store = await createStore(
      {
        backend: 'redis',
        rollup: { resolutionMs: 1000 },
        redis: {
          url: redis.url,
          keyPrefix,
          chunkMs: 10_000,
          rollupChunkMs: 60_000,
          connectTimeoutMs: 1000,
          commandTimeoutMs: 1000,
          reconnectMaxDelayMs: 200,
        },
      },
      { logger: silent, env: {} },
    );
    stores.push(store);
    out.stores.push(store);
    const m = new DeviceManager({ store, logger: silent, owner: `sidecar-${i}`, leaseTtlMs: TTL, debounceMs: 10 });
    managers.push(m);
    out.managers.push(m);
  }
  return out;
}

test('only the lease holder polls; the other sees its samples on the bus and takes over when it stops', async () => {
  const {
    stores: [sa, sb],
    managers: [a, b],
  } = await sidecars(2);
  await putDevice(sa, 'd1', sim.port);
  await a.start();
  await waitFor('a polls', () => a.deviceStatus('d1')?.state === 'connected');
  // b sees the model (written through a's store) and the samples a publishes.
  const heard: string[] = [];
  sb.subscribeSamples((batch, origin) => {
    if (batch.has(linkId('d1_u1', 'temp'))) heard.push(origin);
  });
  await b.start();
  expect(b.model().devices.has('d1')).toBe(true);
  // b tries to acquire at every lease round; over more than one ttl of rounds, a kept it.
  const ticks = b.leaseTicks;
  await waitFor('b tried for more than one ttl', () => b.leaseTicks >= ticks + 4, 30_000);
  expect(b.deviceStatus('d1')).toMatchObject({ state: 'not-owner', owner: 'sidecar-0' });
  expect(a.deviceStatus('d1')).toMatchObject({ state: 'connected', owner: 'sidecar-0' });
  expect(sim.stats().connections).toBe(1);
  expect(heard.length).toBeGreaterThan(0);
  expect(heard.every((o) => o === sa.instanceId)).toBe(true);
  expect(await latestOf(sb, linkId('d1_u1', 'temp'))).toMatchObject({ value: TEMP, quality: 'good' });

  await a.stop();
  // Released, not left to lapse: b takes it at its next round, not a ttl later.
  expect(await sb.leaseOwner('device:d1')).not.toBe('sidecar-0');
  await waitFor('b holds the lease', async () => (await sb.leaseOwner('device:d1')) === 'sidecar-1', 10_000, 5);
  await waitFor('b polls', () => b.deviceStatus('d1')?.state === 'connected');
  const before = await countSamples(sb, linkId('d1_u2', 'level'));
  await waitFor('b stores samples', async () => (await countSamples(sb, linkId('d1_u2', 'level'))) > before);
  expect(await latestOf(sb, linkId('d1_u2', 'level'))).toMatchObject({ value: LEVEL, quality: 'good' });
});

test('a holder that dies without releasing: its lease lapses and another sidecar takes over', async () => {
  const {
    stores: [sa, sb],
    managers: [a, b],
  } = await sidecars(2);
  await putDevice(sa, 'd1', sim.port);
  await a.start();
  await waitFor('a polls', () => a.deviceStatus('d1')?.state === 'connected');
  await b.start();
  expect(b.deviceStatus('d1')!.state).toBe('not-owner');

  // "Crash": a's connection to Redis is gone, so it can neither renew nor release.
  await sa.close();
  // Nobody released it: b gets it only once it lapses, and a holder that renewed can't have lost it sooner.
  expect(await sb.leaseOwner('device:d1')).toBe('sidecar-0');
  await waitFor('b holds the lease', async () => (await sb.leaseOwner('device:d1')) === 'sidecar-1', 20_000, 5);
  await waitFor('b polls', () => b.deviceStatus('d1')?.state === 'connected');
});

test('Redis restarted without persistence: polling goes on, the lost model is not taken for "no devices", samples reach Redis again', async () => {
  const {
    stores: [s],
    managers: [m],
  } = await sidecars(1);
  await putDevice(s, 'd1', sim.port);
  await m.start();
  await waitFor('polling', async () => (await latestOf(s, linkId('d1_u1', 'temp')))?.quality === 'good');

  await redis.restart(); // every key is gone: model, samples, leases
  await waitFor('the store reconnected', async () => (await s.probe.check()).status === 'ok', 15_000, 50);
  await m.reloadNow(); // what the periodic resync would do
  expect(m.deviceStatus('d1')!.state).toBe('connected');
  const health = await m.probe.check();
  expect(health.status).toBe('degraded');
  expect(health.message).toMatch(/model missing/);
  // The lease is taken again and samples flow into the new Redis.
  await waitFor('lease re-acquired', async () => (await s.leaseOwner('device:d1')) === 'sidecar-0', 10_000, 50);
  await waitFor('samples stored again', async () => (await latestOf(s, linkId('d1_u1', 'temp')))?.value === TEMP, 10_000, 50);

  // The model written again (e.g. from the config file): back to normal.
  await putDevice(s, 'd1', sim.port);
  await m.settled();
  expect((await m.probe.check()).status).toBe('ok');
  expect(m.deviceStatus('d1')!.state).toBe('connected');
});
