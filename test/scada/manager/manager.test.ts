/**
 * DeviceManager over the memory store against the real Modbus simulator on loopback:
 * model → pollers → store/bus, live model changes, faults, device_call and device_ctrl.
 */
import { AppError } from '../../../src/sidecar/errors';
import { DeviceManager } from '../../../src/sidecar/scada/manager';
import { linkId } from '../../../src/sidecar/scada/model/schemas';
import { ModelService } from '../../../src/sidecar/scada/model/service';
import type { ModbusSimulator } from '../../../src/sidecar/scada/drivers/modbus/simulator';
import { qualityName } from '../../../src/sidecar/core/quality';
import type { SampleBatch } from '../../../src/sidecar/core/samples';
import { createStore, type Store } from '../../../src/sidecar/store';
import {
  countSamples,
  deleteDevice,
  LEVEL,
  latestOf,
  patchDevice,
  putDevice,
  putLink,
  SETPOINT0,
  silent,
  sleep,
  startSim,
  TEMP,
  waitFor,
} from './fixtures';

jest.setTimeout(60_000);

const TEMP_ID = linkId('d1_u1', 'temp');
const SET_ID = linkId('d1_u1', 'setpoint');
const FIXED_ID = linkId('d1_u1', 'fixed');
const LEVEL_ID = linkId('d1_u2', 'level');

let sim: ModbusSimulator;
let store: Store;
let manager: DeviceManager;

beforeEach(async () => {
  sim = await startSim();
  store = await createStore({ backend: 'memory', rollup: { resolutionMs: 1000 } }, { logger: silent, env: {} });
});

afterEach(async () => {
  await manager?.stop();
  await store.close();
  await sim.close();
});

async function startManager(extra: Partial<ConstructorParameters<typeof DeviceManager>[0]> = {}): Promise<DeviceManager> {
  manager = new DeviceManager({ store, logger: silent, debounceMs: 20, leaseTtlMs: 900, ...extra });
  await manager.start();
  return manager;
}

test('start polls every enabled device: exact values with good quality in the store, on the bus, in status', async () => {
  await putDevice(store, 'd1', sim.port);
  const seen: SampleBatch[] = [];
  const off = store.subscribeSamples((b) => seen.push(b));
  await startManager();

  await waitFor(
    'temp and level in the store',
    async () => (await latestOf(store, TEMP_ID))?.quality === 'good' && (await latestOf(store, LEVEL_ID)) !== undefined,
  );
  expect(await latestOf(store, TEMP_ID)).toMatchObject({ value: TEMP, quality: 'good' });
  expect(await latestOf(store, LEVEL_ID)).toMatchObject({ value: LEVEL, quality: 'good' });
  expect(await latestOf(store, SET_ID)).toMatchObject({ value: SETPOINT0, quality: 'good' });
  // Samples, not only latest values: the raw series holds them with their quality.
  const raw = await store.range(TEMP_ID, Date.now() - 60_000, Date.now() + 1000);
  expect(raw.times.length).toBeGreaterThan(0);
  expect(qualityName(raw.qualities[0])).toBe('good');
  expect(raw.values[0]).toBe(TEMP);
  // The same samples went onto the bus.
  expect(seen.some((b) => b.get(TEMP_ID)?.values[0] === TEMP)).toBe(true);
  off();

  await waitFor('a completed poll cycle', () => manager.deviceStatus('d1')?.lastPollAt !== undefined);
  const st = manager.deviceStatus('d1')!;
  expect(st).toMatchObject({ deviceId: 'd1', state: 'connected', enabled: true, owner: store.instanceId });
  expect(st.points).toMatchObject({ total: 4, good: 4, bad: 0 });
  expect((await manager.probe.check()).status).toBe('ok');
});

test('call reads now with quality; unknown links and devices are named errors', async () => {
  await putDevice(store, 'd1', sim.port);
  await startManager();
  await waitFor('connected', () => manager.deviceStatus('d1')?.state === 'connected');

  const all = await manager.call('d1');
  expect(all.map((r) => r.linkId).sort()).toEqual([FIXED_ID, SET_ID, TEMP_ID, LEVEL_ID].sort());
  const temp = all.find((r) => r.linkId === TEMP_ID)!;
  expect(temp).toMatchObject({ deviceId: 'd1', termId: 'd1_u1', itemId: 'temp', value: TEMP, quality: 'good' });

  const some = await manager.call('d1', [LEVEL_ID]);
  expect(some).toEqual([expect.objectContaining({ linkId: LEVEL_ID, value: LEVEL, quality: 'good' })]);

  await expect(manager.call('d1', ['nope:x'])).rejects.toMatchObject({ code: 'NOT_FOUND', field: 'linkIds.0' });
  await expect(manager.call('ghost')).rejects.toMatchObject({ code: 'NOT_FOUND', field: 'deviceId' });
});

test('control writes a writable link and returns the read-back; a non-writable link is FORBIDDEN naming the field', async () => {
  await putDevice(store, 'd1', sim.port);
  await startManager();
  await waitFor('connected', () => manager.deviceStatus('d1')?.state === 'connected');

  const r = await manager.control('d1', SET_ID, 1234);
  expect(r).toMatchObject({ linkId: SET_ID, value: 1234, quality: 'good', functionCode: 6 });
  expect(sim.get(1, 'setpoint')).toBe(1234);
  // The next polls carry it into the store.
  await waitFor('the written value in the store', async () => (await latestOf(store, SET_ID))?.value === 1234);

  const err = await manager.control('d1', FIXED_ID, 1).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AppError);
  expect(err).toMatchObject({ code: 'FORBIDDEN', field: 'writable', status: 403 });
  expect(sim.get(1, 'fixed')).toBe(7);

  await expect(manager.control('d1', 'd2_u1:temp', 1)).rejects.toMatchObject({ code: 'NOT_FOUND', field: 'linkId' });
  // A bad value is the poller's clear error, not a write.
  await expect(manager.control('d1', SET_ID, 'not a number')).rejects.toMatchObject({ fault: 'invalid_value', field: 'value' });
  expect(sim.get(1, 'setpoint')).toBe(1234);
});

test('a link added live is polled (the poller restarts once with it)', async () => {
  await putDevice(store, 'd1', sim.port);
  await startManager();
  await waitFor('connected', () => manager.deviceStatus('d1')?.state === 'connected');
  const connections = sim.stats().connections;

  const flagId = linkId('d1_u1', 'flag');
  await putLink(store, { termId: 'd1_u1', itemId: 'flag', table: 'coil', address: 0, dataType: 'bool', writable: true });
  await manager.settled();
  expect(manager.deviceStatus('d1')!.points.total).toBe(5);
  await waitFor('flag in the store', async () => (await latestOf(store, flagId))?.quality === 'good');
  expect((await latestOf(store, flagId))!.value).toBe(0);
  await manager.control('d1', flagId, true);
  await waitFor('flag true in the store', async () => (await latestOf(store, flagId))?.value === 1);
  // One restart: one new connection.
  expect(sim.stats().connections).toBe(connections + 1);

  // An edit that does not touch this device's poller config (an item's unit) restarts nothing.
  const before = manager.deviceStatus('d1')!.poller!.connection.stats!.connects;
  const polled = manager.deviceStatus('d1')!.poller!.cycles;
  await store.writeObjects([{ op: 'put', kind: 'item', id: 'temp', value: { id: 'temp', name: 'Temperature', unit: 'K' } }], {
    publish: true,
  });
  await manager.settled();
  expect(manager.model().items.get('temp')!.unit).toBe('K');
  expect(manager.deviceStatus('d1')!.poller!.connection.stats!.connects).toBe(before);
  expect(manager.deviceStatus('d1')!.poller!.cycles).toBeGreaterThanOrEqual(polled);
});

test('disable stops polling (state disabled), enable starts again', async () => {
  await putDevice(store, 'd1', sim.port);
  await startManager();
  await waitFor('temp stored', async () => (await countSamples(store, TEMP_ID)) > 0);

  await patchDevice(store, 'd1', { enabled: false });
  await manager.settled();
  expect(manager.deviceStatus('d1')).toMatchObject({ state: 'disabled', enabled: false });
  expect(manager.deviceStatus('d1')!.poller).toBeUndefined();
  const n = await countSamples(store, TEMP_ID);
  await sleep(300);
  expect(await countSamples(store, TEMP_ID)).toBe(n);
  await expect(manager.call('d1')).rejects.toMatchObject({ code: 'NOT_READY' });

  await patchDevice(store, 'd1', { enabled: true });
  await manager.settled();
  await waitFor('polling again', async () => (await countSamples(store, TEMP_ID)) > n);
});

test('deleting a device stops its poller: no new samples, gone from status and model', async () => {
  await putDevice(store, 'd1', sim.port);
  await startManager();
  await waitFor('temp stored', async () => (await countSamples(store, TEMP_ID)) > 0);
  const connections = sim.stats().connections;

  await deleteDevice(store, 'd1');
  await manager.settled();
  expect(manager.deviceStatus('d1')).toBeUndefined();
  expect(manager.status()).toEqual([]);
  expect(manager.model().links.size).toBe(0);
  await sleep(200); // a request already on the wire may still reach the simulator
  const n = await countSamples(store, TEMP_ID);
  const requests = sim.stats().requests;
  await sleep(300);
  expect(await countSamples(store, TEMP_ID)).toBe(n);
  expect(sim.stats().requests).toBe(requests);
  expect(sim.stats().connections).toBe(connections);
  // Its lease is released for anyone.
  expect(await store.leaseOwner('device:d1')).toBeUndefined();
});

test('device down: comm_lost samples, state backoff, health degraded; back: good again', async () => {
  await putDevice(store, 'd1', sim.port);
  await startManager();
  await waitFor('good', async () => (await latestOf(store, TEMP_ID))?.quality === 'good');

  await sim.setFault({ offline: true });
  sim.dropConnections();
  await waitFor('comm_lost in the store', async () => (await latestOf(store, TEMP_ID))?.quality === 'comm_lost');
  const lost = await store.range(TEMP_ID, Date.now() - 60_000, Date.now() + 1000);
  const last = lost.times.length - 1;
  expect(qualityName(lost.qualities[last])).toBe('comm_lost');
  expect(lost.values[last]).toBeNaN();
  await waitFor('backoff', () => manager.deviceStatus('d1')?.state !== 'connected');
  const st = manager.deviceStatus('d1')!;
  expect(['backoff', 'connecting']).toContain(st.state);
  expect(st.points.bad).toBe(4);
  await waitFor('health degraded', async () => manager.deviceStatus('d1')?.state === 'backoff');
  const health = await manager.probe.check();
  expect(health.status).toBe('degraded');
  expect(health.message).toContain('d1');
  // The poller still knows the last good value, with the current quality.
  expect(manager.pointLatest(TEMP_ID)).toMatchObject({ value: TEMP, quality: 'comm_lost' });
  // An on-demand read answers comm_lost rather than hanging.
  const [r] = await manager.call('d1', [TEMP_ID]);
  expect(r.quality).toBe('comm_lost');

  await sim.setFault({});
  await waitFor('good again', async () => (await latestOf(store, TEMP_ID))?.quality === 'good');
  expect((await latestOf(store, TEMP_ID))!.value).toBe(TEMP);
  await waitFor('connected', () => manager.deviceStatus('d1')?.state === 'connected');
  expect((await manager.probe.check()).status).toBe('ok');
});

test('a device down at start is polled once it comes up', async () => {
  const port = sim.port;
  await sim.close();
  await putDevice(store, 'd1', port);
  await startManager();
  await waitFor('comm_lost', async () => (await latestOf(store, TEMP_ID))?.quality === 'comm_lost');
  sim = await startSim(port);
  await waitFor('good', async () => (await latestOf(store, TEMP_ID))?.quality === 'good', 15_000);
});

test('a config change restarts the poller with it; a bad term is skipped and reported', async () => {
  await putDevice(store, 'd1', sim.port);
  await startManager();
  await waitFor('connected', () => manager.deviceStatus('d1')?.state === 'connected');

  // Point the device at a port with nothing: the restarted poller goes down.
  const other = sim.port === 1 ? 2 : 1;
  await patchDevice(store, 'd1', { port: other });
  await manager.settled();
  expect(manager.deviceStatus('d1')!.poller!.connection.state).not.toBe('connected');
  await patchDevice(store, 'd1', { port: sim.port });
  await manager.settled();
  await waitFor('connected again', () => manager.deviceStatus('d1')?.state === 'connected');

  // A term whose address is no Modbus unit id is left out, the rest polls on.
  await store.writeObjects([{ op: 'put', kind: 'term', id: 'big', value: { id: 'big', name: 'Big', deviceId: 'd1', address: 300 } }], {
    publish: true,
  });
  await manager.settled();
  expect(manager.deviceStatus('d1')!.skipped).toEqual([expect.stringContaining('big')]);
  expect(manager.deviceStatus('d1')!.state).toBe('connected');
});

test('two managers on one store: only the lease holder polls; stopping it hands over', async () => {
  await putDevice(store, 'd1', sim.port);
  // A ttl long enough that a's renewals survive a busy machine; nothing asserts how long anything took.
  const a = new DeviceManager({ store, logger: silent, owner: 'sidecar-a', leaseTtlMs: 3000, debounceMs: 10 });
  const b = new DeviceManager({ store, logger: silent, owner: 'sidecar-b', leaseTtlMs: 3000, debounceMs: 10 });
  try {
    await a.start();
    await b.start();
    await waitFor('a polls', () => a.deviceStatus('d1')?.state === 'connected');
    // More than a lease ttl of b's rounds: b keeps trying and must not get it.
    const ticks = b.leaseTicks;
    await waitFor('b tried for more than one ttl', () => b.leaseTicks >= ticks + 4, 30_000);
    expect(b.deviceStatus('d1')).toMatchObject({ state: 'not-owner', owner: 'sidecar-a' });
    expect(b.deviceStatus('d1')!.poller).toBeUndefined();
    expect(await store.leaseOwner('device:d1')).toBe('sidecar-a');
    // b can still read on demand (a short-lived connection of its own).
    const [r] = await b.call('d1', [LEVEL_ID]);
    expect(r).toMatchObject({ value: LEVEL, quality: 'good' });

    await a.stop();
    // a released the lease on stop (it did not wait to lapse); b takes it at its next round.
    expect(await store.leaseOwner('device:d1')).not.toBe('sidecar-a');
    await waitFor('b holds the lease', async () => (await store.leaseOwner('device:d1')) === 'sidecar-b', 10_000, 5);
    await waitFor('b polls', () => b.deviceStatus('d1')?.state === 'connected', 5000, 10);
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('deadband-suppressed reads still move the latest value', async () => {
  await putDevice(store, 'd1', sim.port);
  // Half of the values the counter takes are within the deadband of the last emitted one.
  await putLink(store, {
    termId: 'd1_u1',
    itemId: 'ramp',
    table: 'input',
    address: 0,
    dataType: 'uint16',
    deadband: { type: 'absolute', value: 1_000_000 },
  });
  await patchDevice(store, 'd1', { maxSilenceMs: 60_000 });
  await startManager();
  const rampId = linkId('d1_u1', 'ramp');
  await waitFor('ramp stored', async () => (await countSamples(store, rampId)) > 0);
  const first = (await store.range(rampId, 0, Date.now() + 1000)).values[0];
  await waitFor('latest moved past the one stored sample', async () => ((await latestOf(store, rampId))?.value ?? first) > first + 2);
  expect(await countSamples(store, rampId)).toBe(1);
});

test('through the model service (the REST layer writer): create → polled, link writable → control, delete → stopped', async () => {
  // The service is another engineer's part of the tree: this checks the two agree on the stored model.
  const service = new ModelService(store, { logger: silent });
  await startManager();
  await service.createDevice({
    id: 'plc',
    name: 'PLC',
    protocol: 'modbus_tcp',
    host: '127.0.0.1',
    port: sim.port,
    pollIntervalMs: 40,
    timeoutMs: 300,
  });
  await service.createTerm({ id: 'u1', name: 'Unit 1', deviceId: 'plc', address: 1 });
  await service.createItem({ id: 'sp', name: 'Setpoint' });
  await service.createLink({ termId: 'u1', itemId: 'sp', table: 'holding', address: 10, dataType: 'int16' });
  await manager.settled();
  const id = linkId('u1', 'sp');
  await waitFor('sp polled', async () => (await latestOf(store, id))?.value === SETPOINT0);
  await expect(manager.control('plc', id, 9)).rejects.toMatchObject({ code: 'FORBIDDEN', field: 'writable' });
  await service.updateLink('u1', 'sp', { table: 'holding', address: 10, dataType: 'int16', writable: true });
  // No settled() wait: the permission is read from the store, so it holds at once.
  expect(await manager.control('plc', id, 9)).toMatchObject({ value: 9, quality: 'good' });

  await service.deleteDevice('plc');
  await manager.settled();
  expect(manager.status()).toEqual([]);
  await sleep(100);
  const n = await countSamples(store, id);
  await sleep(200);
  expect(await countSamples(store, id)).toBe(n);
});

test('a silent unit marks only its points comm_lost and health degraded; the other unit polls on', async () => {
  await putDevice(store, 'd1', sim.port);
  await startManager();
  await waitFor('good', async () => (await latestOf(store, LEVEL_ID))?.quality === 'good');
  await sim.setFault({ silentUnits: [2] });
  await waitFor('level comm_lost', async () => (await latestOf(store, LEVEL_ID))?.quality === 'comm_lost');
  expect((await latestOf(store, TEMP_ID))!.quality).toBe('good');
  const health = await manager.probe.check();
  expect(health.status).toBe('degraded');
  expect(health.message).toMatch(/units not answering: d1/);
  expect(manager.deviceStatus('d1')!.lastError).toMatch(/unit 2/);
  await sim.setFault({});
  await waitFor('level good', async () => (await latestOf(store, LEVEL_ID))?.quality === 'good', 15_000);
});
