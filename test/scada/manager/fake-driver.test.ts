/**
 * The device manager through the driver seam, with a fake driver (the driver is not what is
 * under test here: the manager's supervision is) and a manual clock, on a real memory store:
 * acquisition follows the model, restarts only on a changed plan, hands samples to the store
 * and the bus, and two managers share devices by leases as time is driven, never waited for.
 */
import { DeviceManager } from '../../../src/sidecar/scada/manager';
import type {
  Acquisition,
  AcquisitionContext,
  DeviceDriver,
  DevicePlan,
  DeviceSession,
  LinkStatus,
  PointReading,
  WriteResult,
} from '../../../src/sidecar/scada/drivers/driver';
import type { ModelSnapshot } from '../../../src/sidecar/scada/model/snapshot';
import { deviceLinks } from '../../../src/sidecar/scada/model/snapshot';
import { QUALITY_CODE } from '../../../src/sidecar/core/quality';
import { MemoryStore } from '../../../src/sidecar/store/memory/memory-store';
import { storeConfigSchema } from '../../../src/sidecar/store/config';
import { ManualClock } from '../../helpers/manual-clock';
import { patchDevice, putDevice, silent } from './fixtures';

interface FakeConfig {
  deviceId: string;
  port: number;
  points: string[];
}

/** Records what the manager asks of it; emits samples when a test says so. */
class FakeDriver implements DeviceDriver<FakeConfig> {
  readonly protocol = 'modbus_tcp' as const;
  readonly started: FakeAcquisition[] = [];
  readonly sessions: string[] = [];

  plan(snapshot: ModelSnapshot, deviceId: string): DevicePlan<FakeConfig> {
    const device = snapshot.devices.get(deviceId)!;
    const points = deviceLinks(snapshot, deviceId);
    const config = { deviceId, port: device.port, points };
    return { config, key: JSON.stringify(config), skipped: [], points, refreshMs: 1000, timeoutMs: 100 };
  }

  start(config: FakeConfig, ctx: AcquisitionContext): Acquisition {
    const a = new FakeAcquisition(config, ctx);
    this.started.push(a);
    return a;
  }

  open(config: FakeConfig): DeviceSession {
    this.sessions.push(config.deviceId);
    return {
      read: async (ids) => ids.map((id) => ({ id, value: 1, quality: 'good' as const, time: 0 })),
      write: async (id, value) => ({ reading: { id, value: Number(value), quality: 'good', time: 0 }, confirmation: { session: true } }),
      ready: async () => undefined,
      close: async () => undefined,
    };
  }

  running(): FakeAcquisition[] {
    return this.started.filter((a) => !a.closed);
  }
}

class FakeAcquisition implements Acquisition {
  closed = false;
  constructor(
    readonly config: FakeConfig,
    private readonly ctx: AcquisitionContext,
  ) {}
  emit(value: number): void {
    const batch = new Map(this.config.points.map((id) => [id, { times: Float64Array.of(this.ctx.clock.now()), values: Float64Array.of(value), qualities: Uint8Array.of(QUALITY_CODE.good) }]));
    this.ctx.onSamples(batch);
  }
  async read(ids: readonly string[]): Promise<PointReading[]> {
    return ids.map((id) => ({ id, value: 2, quality: 'good', time: this.ctx.clock.now() }));
  }
  async write(id: string, value: unknown): Promise<WriteResult> {
    return { reading: { id, value: Number(value), quality: 'good', time: this.ctx.clock.now() }, confirmation: { acquired: true } };
  }
  async ready(): Promise<void> {}
  async close(): Promise<void> {
    this.closed = true;
  }
  latest = ((id?: string) => (id === undefined ? [] : undefined)) as Acquisition['latest'];
  health() {
    const connection: LinkStatus = { state: 'connected', since: 0 };
    return { deviceId: this.config.deviceId, connection, units: [], qualities: { good: this.config.points.length }, cycles: 0 };
  }
  onState(): () => void {
    return () => undefined;
  }
}

const TTL = 3000;
let clock: ManualClock;
let store: MemoryStore;
const managers: DeviceManager[] = [];

function manager(driver: FakeDriver, owner: string): DeviceManager {
  const m = new DeviceManager({ store, owner, logger: silent, clock, leaseTtlMs: TTL, debounceMs: 10, resyncMs: 0, drivers: new Map([['modbus_tcp', driver]]) });
  managers.push(m);
  return m;
}

beforeEach(() => {
  clock = new ManualClock();
  store = new MemoryStore(storeConfigSchema.parse({}), { now: () => clock.now() });
});
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.stop()));
  await store.close();
});

test('acquisition follows the model: started for an enabled device, restarted only when its plan changes, stopped when disabled', async () => {
  const driver = new FakeDriver();
  await putDevice(store, 'd1', 5020);
  const m = manager(driver, 'a');
  await m.start();
  expect(driver.running().map((a) => a.config.port)).toEqual([5020]);
  expect(m.deviceStatus('d1')).toMatchObject({ state: 'connected', owner: 'a', points: { total: 4, good: 4 } });

  // An edit outside the plan (the device's name) restarts nothing.
  await patchDevice(store, 'd1', { name: 'Renamed' });
  await clock.advance(10);
  await m.settled();
  expect(driver.started).toHaveLength(1);

  // A changed plan restarts once, with the new config.
  await patchDevice(store, 'd1', { port: 5021 });
  await clock.advance(10);
  await m.settled();
  expect(driver.started.map((a) => [a.config.port, a.closed])).toEqual([
    [5020, true],
    [5021, false],
  ]);

  await patchDevice(store, 'd1', { enabled: false });
  await clock.advance(10);
  await m.settled();
  expect(driver.running()).toHaveLength(0);
  expect(m.deviceStatus('d1')!.state).toBe('disabled');
});

test("an acquisition's samples go to the store and the bus; a stopped one's are ignored", async () => {
  const driver = new FakeDriver();
  await putDevice(store, 'd1', 5020);
  const m = manager(driver, 'a');
  await m.start();
  const heard: number[] = [];
  store.subscribeSamples((batch) => heard.push(batch.get('d1_u1:temp')!.values[0]));
  const [a] = driver.started;
  a.emit(7);
  await clock.advance(1);
  expect(heard).toEqual([7]);
  expect((await store.latest(['d1_u1:temp'])).get('d1_u1:temp')).toMatchObject({ value: 7, quality: QUALITY_CODE.good });

  await patchDevice(store, 'd1', { port: 5021 });
  await clock.advance(10);
  await m.settled();
  a.emit(8); // the replaced acquisition: ignored
  await clock.advance(1);
  expect(heard).toEqual([7]);
});

test('two managers share a device by lease: only the holder acquires; a graceful stop hands over at the next round', async () => {
  const da = new FakeDriver();
  const db = new FakeDriver();
  await putDevice(store, 'd1', 5020);
  const a = manager(da, 'a');
  const b = manager(db, 'b');
  await a.start();
  await b.start();
  await clock.advance(2 * TTL); // many lease rounds: a renews, b keeps trying
  expect(da.running()).toHaveLength(1);
  expect(db.running()).toHaveLength(0);
  expect(b.deviceStatus('d1')).toMatchObject({ state: 'not-owner', owner: 'a' });

  // On-demand access to a device another sidecar acquires goes through a session of its own.
  expect(await b.call('d1', ['d1_u1:temp'])).toEqual([expect.objectContaining({ linkId: 'd1_u1:temp', value: 1 })]);
  expect(db.sessions).toEqual(['d1']);
  expect(db.running()).toHaveLength(0);

  // Graceful stop: released at once; b takes it at its next round (ttl/3), not after a ttl.
  await a.stop();
  expect(await store.leaseOwner('device:d1')).toBeUndefined();
  await clock.advance(TTL / 3);
  expect(db.running()).toHaveLength(1);
  expect(await store.leaseOwner('device:d1')).toBe('b');
});

test('a holder that crashed (never renews, never releases): the lease lapses after its ttl and the next round takes it', async () => {
  await putDevice(store, 'd1', 5020);
  expect(await store.acquireLease('device:d1', 'crashed', TTL)).toBe(true);
  const driver = new FakeDriver();
  const c = manager(driver, 'c');
  await c.start();
  expect(c.deviceStatus('d1')).toMatchObject({ state: 'not-owner', owner: 'crashed' });
  await clock.advance(TTL - 1);
  expect(driver.running()).toHaveLength(0); // not lapsed yet
  await clock.advance(1 + TTL / 3);
  expect(driver.running()).toHaveLength(1); // lapsed, and c's next round took it
  expect(await store.leaseOwner('device:d1')).toBe('c');
});

test('device_ctrl on an acquired device writes through the acquisition and returns its confirmation', async () => {
  const driver = new FakeDriver();
  await putDevice(store, 'd1', 5020);
  const m = manager(driver, 'a');
  await m.start();
  const r = await m.control('d1', 'd1_u1:setpoint', 12);
  expect(r).toMatchObject({ deviceId: 'd1', termId: 'd1_u1', itemId: 'setpoint', value: 12, quality: 'good', acquired: true });
  expect(driver.sessions).toEqual([]);
});
