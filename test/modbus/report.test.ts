/** Report-by-exception: deadbands, quality changes, heartbeats; the latest value always kept. */
import { qualityName } from '../../src/sidecar/core/quality';
import { ModbusPoller } from '../../src/sidecar/scada/drivers/modbus/poller';
import { BatchBuilder, PointReport } from '../../src/sidecar/scada/drivers/point-report';
import { startModbusSimulator, type ModbusSimulator } from '../../src/sidecar/scada/drivers/modbus/simulator';
import type { Deadband } from '../../src/sidecar/scada/drivers/modbus/types';
import { Collector, sleep, waitFor } from './helpers';

/** Feeds readings (value, or a quality name) at times 0, 1000, 2000 … and lists what is emitted. */
function run(deadband: Deadband | undefined, readings: Array<number | 'bad' | 'comm_lost'>, maxSilenceMs = 60_000): string[] {
  const r = new PointReport('p', deadband, maxSilenceMs);
  const out: string[] = [];
  readings.forEach((v, i) => {
    const t = i * 1000;
    if (typeof v === 'number') r.good(v, undefined, t);
    else r.setQuality(v, t, 'x');
    const b = new BatchBuilder();
    r.report(b, t);
    const cols = b.build().get('p');
    if (cols) out.push(`${cols.times[0]}:${cols.values[0]}:${qualityName(cols.qualities[0])}`);
  });
  return out;
}

describe('PointReport', () => {
  it('without a deadband, every change and nothing else', () => {
    expect(run(undefined, [1, 1, 2, 2, 2, 3])).toEqual(['0:1:good', '2000:2:good', '5000:3:good']);
  });

  it('absolute deadband: emitted when moved by more than it since the last emitted value', () => {
    // 10 → 10.5 (0.5, no) → 11 (1.0, not more than 1) → 11.2 (1.2, yes) → 10.5 (0.7, no) → 10.1 (1.1, yes)
    expect(run({ type: 'absolute', value: 1 }, [10, 10.5, 11, 11.2, 10.5, 10.1])).toEqual([
      '0:10:good',
      '3000:11.2:good',
      '5000:10.1:good',
    ]);
  });

  it('a slow drift is reported once it adds up', () => {
    expect(run({ type: 'absolute', value: 1 }, [0, 0.4, 0.8, 1.2, 1.6])).toEqual(['0:0:good', '3000:1.2:good']);
  });

  it('percent deadband: of the last emitted value, or of the span when given', () => {
    expect(run({ type: 'percent', value: 10 }, [100, 105, 111, 115])).toEqual(['0:100:good', '2000:111:good']);
    expect(run({ type: 'percent', value: 10, span: 20 }, [100, 101, 102.5, 103])).toEqual(['0:100:good', '2000:102.5:good']);
  });

  it('quality changes are always emitted, once per transition, with NaN for bad and comm_lost', () => {
    expect(run({ type: 'absolute', value: 100 }, [5, 'comm_lost', 'comm_lost', 'comm_lost', 5, 'bad', 'bad', 6])).toEqual([
      '0:5:good',
      '1000:NaN:comm_lost',
      '4000:5:good',
      '5000:NaN:bad',
      '7000:6:good',
    ]);
  });

  it('heartbeat: an unchanged value is emitted again after maxSilenceMs', () => {
    expect(run(undefined, [7, 7, 7, 7, 7, 7], 2000)).toEqual(['0:7:good', '2000:7:good', '4000:7:good']);
    expect(run(undefined, [7, 'comm_lost', 'comm_lost', 'comm_lost'], 2000)).toEqual([
      '0:7:good',
      '1000:NaN:comm_lost',
      '3000:NaN:comm_lost',
    ]);
  });

  it('maxSilenceMs 0 emits every reading', () => {
    expect(run({ type: 'absolute', value: 5 }, [1, 1, 1])).toHaveLength(1);
    expect(run({ type: 'absolute', value: 5 }, [1, 1, 1], 0)).toHaveLength(3);
  });

  it('keeps the latest value even when it is not emitted', () => {
    const r = new PointReport('p', { type: 'absolute', value: 1 }, 60_000);
    r.good(10, undefined, 1);
    r.report(new BatchBuilder(), 1);
    r.good(10.5, undefined, 2);
    const b = new BatchBuilder();
    r.report(b, 2);
    expect(b.size).toBe(0);
    expect(r.latest()).toMatchObject({ value: 10.5, quality: 'good', time: 2 });
    r.setQuality('comm_lost', 3, 'down');
    expect(r.latest()).toMatchObject({ value: 10.5, quality: 'comm_lost', time: 3, goodTime: 2, error: 'down' });
  });
});

describe('report-by-exception in the poller', () => {
  let sim: ModbusSimulator;
  let poller: ModbusPoller;
  const collector = new Collector();

  beforeAll(async () => {
    sim = await startModbusSimulator({
      port: 0,
      units: [
        {
          unitId: 1,
          points: [
            { name: 'temp', table: 'holding', address: 0, dataType: 'float32', behaviour: { kind: 'writable', initial: 20 } },
            { name: 'steady', table: 'holding', address: 2, dataType: 'uint16', behaviour: { kind: 'static', value: 5 } },
            { name: 'tag', table: 'holding', address: 3, dataType: 'string', length: 4, behaviour: { kind: 'writable', initial: 'A-1' } },
          ],
        },
      ],
    });
    poller = new ModbusPoller(
      {
        device: { id: 'rbe', host: '127.0.0.1', port: sim.port, pollIntervalMs: 20, timeoutMs: 300 },
        units: [{ id: 't', unitId: 1 }],
        points: [
          { id: 'temp', unitId: 1, table: 'holding', address: 0, dataType: 'float32', deadband: { type: 'absolute', value: 0.5 } },
          { id: 'steady', unitId: 1, table: 'holding', address: 2, dataType: 'uint16', pollIntervalMs: 25 },
          { id: 'tag', unitId: 1, table: 'holding', address: 3, dataType: 'string', length: 4 },
        ],
      },
      { onSamples: collector.onSamples },
    );
    poller.start();
    await waitFor(
      'first values',
      () => collector.of('temp').length === 1 && collector.of('steady').length === 1 && collector.of('tag').length === 1,
    );
  });

  afterAll(async () => {
    await poller.stop();
    await sim.close();
  });

  const settle = async (id: string, value: number) => {
    await waitFor(`${id} = ${value}`, () => poller.latest(id)?.value === value);
    await sleep(60); // a few more polls of the same value
  };

  it('emits moves beyond the deadband, keeps the rest as latest only', async () => {
    sim.set(1, 'temp', 20.25);
    await settle('temp', 20.25);
    sim.set(1, 'temp', 20.5);
    await settle('temp', 20.5); // moved exactly 0.5: not more than the deadband
    expect(collector.of('temp').map((s) => s.value)).toEqual([20]);
    sim.set(1, 'temp', 20.75);
    await settle('temp', 20.75);
    sim.set(1, 'temp', 19.25);
    await settle('temp', 19.25);
    expect(collector.of('temp').map((s) => s.value)).toEqual([20, 20.75, 19.25]);
    expect(collector.of('temp').every((s) => s.quality === 'good')).toBe(true);
  });

  it('a steady value is polled every cycle and emitted once', async () => {
    expect(poller.health().cycles).toBeGreaterThan(20);
    expect(collector.of('steady')).toHaveLength(1);
    expect(poller.latest('steady')).toMatchObject({ value: 5, quality: 'good' });
  });

  it('a string point is emitted when its text changes, the text in latest()', async () => {
    sim.set(1, 'tag', 'B-22');
    await waitFor('tag changed', () => poller.latest('tag')?.text === 'B-22');
    await sleep(60);
    expect(collector.of('tag').map((s) => s.quality)).toEqual(['good', 'good']);
    expect(collector.of('tag').every((s) => Number.isNaN(s.value))).toBe(true);
  });

  it('per-point poll intervals: each interval group is polled at its own rate', async () => {
    const c = new Collector();
    const p = new ModbusPoller(
      {
        // maxSilenceMs 0: every reading is a sample, so samples count polls.
        device: { id: 'iv', host: '127.0.0.1', port: sim.port, pollIntervalMs: 20, maxSilenceMs: 0 },
        units: [{ id: 't', unitId: 1 }],
        points: [
          { id: 'fast', unitId: 1, table: 'holding', address: 2, dataType: 'uint16' },
          { id: 'slow', unitId: 1, table: 'holding', address: 0, dataType: 'float32', pollIntervalMs: 250 },
        ],
      },
      { onSamples: c.onSamples },
    );
    try {
      p.start();
      await waitFor('three slow polls', () => c.of('slow').length >= 3, 3000);
      expect(c.of('fast').length).toBeGreaterThan(3 * c.of('slow').length);
      // One batch per cycle: the slow point never rides along with the fast one.
      expect(c.batches.every((b) => b.size === 1)).toBe(true);
    } finally {
      await p.stop();
    }
  });

  it('heartbeat: a steady value is emitted again every maxSilenceMs', async () => {
    const hb = new Collector();
    const p = new ModbusPoller(
      {
        device: { id: 'hb', host: '127.0.0.1', port: sim.port, pollIntervalMs: 20, maxSilenceMs: 200 },
        units: [{ id: 't', unitId: 1 }],
        points: [{ id: 'steady', unitId: 1, table: 'holding', address: 2, dataType: 'uint16' }],
      },
      { onSamples: hb.onSamples },
    );
    try {
      p.start();
      await waitFor('three heartbeats', () => hb.of('steady').length >= 4, 3000);
      const times = hb.of('steady').map((s) => s.time);
      for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(200);
      expect(hb.of('steady').every((s) => s.value === 5 && s.quality === 'good')).toBe(true);
    } finally {
      await p.stop();
    }
  });
});
