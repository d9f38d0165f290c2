/**
 * Faults over real TCP: device down at start, connection dropped, device off and back,
 * exception responses, a silent unit, several requests in flight with answers out of order.
 */
import type { ConnectionStatus } from '../../src/sidecar/scada/drivers/modbus/connection';
import { ModbusPoller } from '../../src/sidecar/scada/drivers/modbus/poller';
import { startModbusSimulator, type ModbusSimulator } from '../../src/sidecar/scada/drivers/modbus/simulator';
import type { ModbusDeviceInput, ModbusPointInput } from '../../src/sidecar/scada/drivers/modbus/types';
import { Collector, freePort, sleep, waitFor } from './helpers';

const BACKOFF = { initialMs: 40, maxMs: 250 };

function device(port: number, extra: Partial<ModbusDeviceInput> = {}): ModbusDeviceInput {
  return { id: 'dev', host: '127.0.0.1', port, pollIntervalMs: 40, timeoutMs: 250, backoff: BACKOFF, ...extra };
}

/** Two units; unit 1 has a counter (changes every cycle) and a static value far away. */
const simUnits = [
  {
    unitId: 1,
    points: [
      {
        name: 'counter',
        table: 'holding' as const,
        address: 0,
        dataType: 'uint32' as const,
        behaviour: { kind: 'counter' as const, start: 0, step: 1, everyMs: 20 },
      },
      {
        name: 'far',
        table: 'holding' as const,
        address: 100,
        dataType: 'int16' as const,
        behaviour: { kind: 'static' as const, value: -7 },
      },
      { name: 'flag', table: 'coil' as const, address: 5, dataType: 'bool' as const, behaviour: { kind: 'static' as const, value: true } },
    ],
  },
  {
    unitId: 2,
    points: [
      {
        name: 'level',
        table: 'input' as const,
        address: 0,
        dataType: 'float32' as const,
        behaviour: { kind: 'static' as const, value: 42.5 },
      },
    ],
  },
];

const points: ModbusPointInput[] = [
  { id: 'u1.counter', unitId: 1, table: 'holding', address: 0, dataType: 'uint32' },
  { id: 'u1.far', unitId: 1, table: 'holding', address: 100, dataType: 'int16' },
  { id: 'u1.flag', unitId: 1, table: 'coil', address: 5, dataType: 'bool' },
  { id: 'u2.level', unitId: 2, table: 'input', address: 0, dataType: 'float32' },
];
const units = [
  { id: 't1', unitId: 1 },
  { id: 't2', unitId: 2 },
];

const ids = points.map((p) => p.id);
const allGood = (p: ModbusPoller) => ids.every((id) => p.latest(id)?.quality === 'good');
/** Good in latest() and in the samples (the batch leaves when its cycle ends). */
const allReportedGood = (p: ModbusPoller, c: Collector) => allGood(p) && ids.every((id) => c.last(id)?.quality === 'good');

describe('modbus faults', () => {
  let sim: ModbusSimulator | undefined;
  let poller: ModbusPoller | undefined;
  const collector = new Collector();

  afterEach(async () => {
    await poller?.stop();
    await sim?.close();
    poller = undefined;
    sim = undefined;
    collector.clear();
  });

  it('device down at start: comm_lost once per point, then good once it comes up, within the backoff cap', async () => {
    const port = await freePort();
    const states: ConnectionStatus[] = [];
    poller = new ModbusPoller({ device: device(port), units, points }, { onSamples: collector.onSamples });
    poller.onState((s) => states.push(s));
    poller.start();
    await waitFor('comm_lost for every point', () => ids.every((id) => collector.last(id)?.quality === 'comm_lost'));
    await sleep(600); // several failed attempts: still one comm_lost sample per point
    for (const id of ids) expect(collector.of(id)).toEqual([expect.objectContaining({ quality: 'comm_lost', value: NaN })]);
    const backoffs = states.filter((s) => s.state === 'backoff');
    expect(backoffs.length).toBeGreaterThanOrEqual(3);
    // Every retry is scheduled within the cap, and the delays grew from the first.
    for (const s of backoffs) expect(s.nextRetryAt! - s.since).toBeLessThanOrEqual(BACKOFF.maxMs);
    expect(poller.health().connection.state).not.toBe('connected');

    sim = await startModbusSimulator({ port, units: simUnits });
    const upAt = Date.now();
    await waitFor('every point good', () => allReportedGood(poller!, collector), BACKOFF.maxMs + 3000);
    // Recovery: the next attempt comes at most maxMs after the last failure.
    expect(states.find((s) => s.state === 'connected' && s.since >= upAt)!.since - upAt).toBeLessThanOrEqual(BACKOFF.maxMs + 200);
    // One comm_lost, then good. The counter changes every 20 ms, so it may already have a
    // second good sample by the time the slowest unit reports (seen on a loaded CI run).
    for (const id of ids) {
      const qualities = collector.of(id).map((s) => s.quality);
      if (id === 'u1.counter') expect(qualities).toEqual(['comm_lost', 'good', ...qualities.slice(2).map(() => 'good')]);
      else expect(qualities).toEqual(['comm_lost', 'good']);
    }
    expect(poller.latest('u2.level')).toMatchObject({ value: 42.5, quality: 'good' });
  });

  it('connection dropped mid-run: comm_lost, then recovers on a fresh connection', async () => {
    sim = await startModbusSimulator({ port: 0, units: simUnits });
    poller = new ModbusPoller({ device: device(sim.port), units, points }, { onSamples: collector.onSamples });
    poller.start();
    await waitFor('good', () => allGood(poller!));
    sim.dropConnections();
    await waitFor('comm_lost after the drop', () => collector.of('u1.far').some((s) => s.quality === 'comm_lost'));
    await waitFor('good again', () => collector.last('u1.far')?.quality === 'good' && allGood(poller!));
    expect(collector.of('u1.far').map((s) => s.quality)).toEqual(['good', 'comm_lost', 'good']);
    expect(poller.health().connection.stats.connects).toBe(2);
    expect(poller.latest('u1.far')).toMatchObject({ value: -7, quality: 'good' });
  });

  it('device off mid-run and back: recovers within the backoff cap', async () => {
    sim = await startModbusSimulator({ port: 0, units: simUnits });
    poller = new ModbusPoller({ device: device(sim.port), units, points }, { onSamples: collector.onSamples });
    poller.start();
    await waitFor('good', () => allGood(poller!));
    await sim.setFault({ offline: true });
    await waitFor('comm_lost', () => ids.every((id) => collector.last(id)?.quality === 'comm_lost'));
    await waitFor('backoff at its cap', () => (poller!.health().connection.attempts ?? 0) >= 4, 5000);
    const before = collector.of('u1.flag').length;
    await sim.setFault({});
    await waitFor('good again', () => allReportedGood(poller!, collector), BACKOFF.maxMs + 3000);
    expect(collector.of('u1.flag').length).toBe(before + 1); // exactly one good after the one comm_lost
    // The latest value is kept through the outage, with the quality of the moment.
    expect(poller.latest('u1.flag')).toMatchObject({ value: 1, quality: 'good' });
  });

  it('an exception response marks only the points of that request bad', async () => {
    sim = await startModbusSimulator({ port: 0, units: simUnits });
    poller = new ModbusPoller({ device: device(sim.port), units, points }, { onSamples: collector.onSamples });
    poller.start();
    await waitFor('good', () => allGood(poller!));
    await sim.setFault({ exceptions: [{ unitId: 1, table: 'holding', from: 100, to: 100, code: 2 }] });
    await waitFor('far bad', () => poller!.latest('u1.far')?.quality === 'bad');
    const counterBefore = poller.latest('u1.counter')!.value;
    await sleep(200);
    expect(poller.latest('u1.far')).toMatchObject({ quality: 'bad', value: -7, error: 'exception 2 (illegal data address)' });
    expect(collector.of('u1.far').filter((s) => s.quality === 'bad')).toHaveLength(1); // one sample per transition
    // Same unit, same table, another request: untouched and still updating.
    expect(poller.latest('u1.counter')!.quality).toBe('good');
    expect(poller.latest('u1.counter')!.value).toBeGreaterThan(counterBefore);
    expect(collector.of('u1.counter').every((s) => s.quality === 'good')).toBe(true);
    expect(poller.health().connection).toMatchObject({ state: 'connected', stats: expect.objectContaining({ connects: 1 }) });
    expect(poller.health().units.every((u) => u.responsive)).toBe(true);

    await sim.setFault({});
    await waitFor('far good again', () => collector.last('u1.far')?.quality === 'good');
    expect(collector.of('u1.far').map((s) => s.quality)).toEqual(['good', 'bad', 'good']);
  });

  it('a silent unit times out while the other unit on the same connection keeps updating', async () => {
    sim = await startModbusSimulator({ port: 0, units: simUnits });
    poller = new ModbusPoller({ device: device(sim.port, { maxInFlight: 1 }), units, points }, { onSamples: collector.onSamples });
    poller.start();
    await waitFor('good', () => allGood(poller!));
    await sim.setFault({ silentUnits: [2] });
    await waitFor('unit 2 comm_lost', () => collector.last('u2.level')?.quality === 'comm_lost');
    const n = collector.of('u1.counter').length;
    await sleep(800);
    // Unit 1's counter kept arriving (one sample per change, every 40 ms poll) …
    expect(collector.of('u1.counter').length - n).toBeGreaterThanOrEqual(5);
    expect(collector.of('u1.counter').every((s) => s.quality === 'good')).toBe(true);
    // … unit 2 is marked, probed now and then, and the connection was never reset.
    const health = poller.health();
    expect(health.units.find((u) => u.unitId === 2)).toMatchObject({ responsive: false, lastError: 'no answer within 250 ms' });
    expect(health.units.find((u) => u.unitId === 1)).toMatchObject({ responsive: true });
    expect(health.connection.stats.connects).toBe(1);
    expect(collector.of('u2.level').map((s) => s.quality)).toEqual(['good', 'comm_lost']);

    await sim.setFault({});
    await waitFor('unit 2 back', () => poller!.latest('u2.level')?.quality === 'good', BACKOFF.maxMs + 3000);
    expect(poller.latest('u2.level')!.value).toBe(42.5);
  });

  it('several requests in flight on one connection, answered out of order, each matched to its request', async () => {
    // Eight points, eight requests, each value different; answers delayed 20-60 ms at random.
    const many = Array.from({ length: 8 }, (_, i) => ({
      name: `p${i}`,
      table: 'holding' as const,
      address: i * 10,
      dataType: 'int32' as const,
      behaviour: { kind: 'static' as const, value: 1000 * i - 3 },
    }));
    sim = await startModbusSimulator({ port: 0, units: [{ unitId: 1, points: many }] });
    await sim.setFault({ delay: { ms: 20, jitterMs: 40 } });
    const manyPoints = many.map((p) => ({
      id: p.name,
      unitId: 1,
      table: p.table,
      address: p.address,
      dataType: p.dataType,
      pollIntervalMs: 30,
    }));
    poller = new ModbusPoller(
      {
        device: device(sim.port, { maxInFlight: 8, timeoutMs: 500, maxSilenceMs: 0 }),
        units: [{ id: 't1', unitId: 1 }],
        points: manyPoints,
      },
      { onSamples: collector.onSamples },
    );
    poller.start();
    await waitFor('a dozen cycles', () => poller!.health().cycles >= 12, 5000);
    expect(sim.stats().maxConcurrent).toBeGreaterThanOrEqual(4);
    for (const [i, p] of many.entries()) {
      const samples = collector.of(p.name);
      expect(samples.length).toBeGreaterThanOrEqual(12);
      expect(samples.every((s) => s.quality === 'good' && s.value === 1000 * i - 3)).toBe(true);
    }
  });

  it('a device slower than its poll interval: values turn stale between answers, good again on each', async () => {
    sim = await startModbusSimulator({ port: 0, units: simUnits });
    await sim.setFault({ delay: { ms: 150 } });
    poller = new ModbusPoller(
      { device: device(sim.port, { pollIntervalMs: 20, timeoutMs: 1000, staleAfterMs: 60 }), units, points: [points[1]] },
      { onSamples: collector.onSamples },
    );
    poller.start();
    await waitFor(
      'good, stale, good',
      () =>
        collector
          .of('u1.far')
          .map((s) => s.quality)
          .join()
          .startsWith('good,stale,good'),
      3000,
    );
    const [good, stale] = collector.of('u1.far');
    expect(stale.value).toBe(-7); // a stale sample keeps the value
    expect(stale.time - good.time).toBeGreaterThanOrEqual(60);
    expect(poller.health().overruns).toBeGreaterThan(0);
  });

  it('with maxInFlight 1, requests go one at a time', async () => {
    sim = await startModbusSimulator({ port: 0, units: simUnits });
    await sim.setFault({ delay: { ms: 10 } });
    poller = new ModbusPoller(
      { device: device(sim.port, { maxInFlight: 1, timeoutMs: 500 }), units, points },
      { onSamples: collector.onSamples },
    );
    poller.start();
    await waitFor('good', () => allGood(poller!));
    await sleep(200);
    expect(sim.stats().maxConcurrent).toBe(1);
  });
});
