/**
 * Every data type in every byte order, in every table that can hold it, served by the
 * simulator over real TCP and decoded by the poller to the value the simulator was given.
 */
import { ModbusPoller } from '../../src/sidecar/scada/drivers/modbus/poller';
import type { SimPoint } from '../../src/sidecar/scada/drivers/modbus/sim-config';
import { startModbusSimulator, type ModbusSimulator } from '../../src/sidecar/scada/drivers/modbus/simulator';
import {
  BYTE_ORDERS,
  registerCount,
  type DataType,
  type ModbusPointInput,
  type Table,
} from '../../src/sidecar/scada/drivers/modbus/types';
import { Collector, waitFor } from './helpers';

type SimPointInput = Omit<SimPoint, 'byteOrder' | 'scale' | 'offset'> & Partial<Pick<SimPoint, 'byteOrder' | 'scale' | 'offset'>>;

const NUMERIC: Array<[DataType, number]> = [
  ['int16', -12345],
  ['uint16', 54321],
  ['int32', -123456789],
  ['uint32', 3456789012],
  ['int64', -1234567890123],
  ['uint64', 2 ** 53 - 1],
  ['float32', Math.fround(-3.14159)],
  ['float64', 2.718281828459045],
];

interface Case {
  id: string;
  sim: SimPointInput;
  point: ModbusPointInput;
  expected: number | string;
}

function buildCases(): Case[] {
  const cases: Case[] = [];
  const next: Record<Table, number> = { holding: 0, input: 0, coil: 0, discrete: 0 };
  const add = (
    id: string,
    table: Table,
    enc: Omit<ModbusPointInput, 'id' | 'unitId' | 'table' | 'address'>,
    value: number | boolean | string,
    expected: number | string,
  ) => {
    const address = next[table];
    // Points apart by one unused register so a maxGap of 0 still plans several requests.
    next[table] += registerCount(enc.dataType, enc.length) + 1;
    const { deadband: _d, pollIntervalMs: _p, writeFunction: _w, ...simEnc } = enc;
    cases.push({
      id,
      sim: { name: id, table, address, ...simEnc, behaviour: { kind: 'static', value } } as SimPointInput,
      point: { id, unitId: 1, table, address, ...enc },
      expected,
    });
  };
  for (const table of ['holding', 'input'] as const) {
    for (const [dataType, value] of NUMERIC) {
      for (const byteOrder of BYTE_ORDERS) add(`${table}.${dataType}.${byteOrder}`, table, { dataType, byteOrder }, value, value);
    }
    for (const byteOrder of BYTE_ORDERS)
      add(`${table}.string.${byteOrder}`, table, { dataType: 'string', length: 6, byteOrder }, 'Pump-07 A', 'Pump-07 A');
    add(`${table}.bit.on`, table, { dataType: 'bit', bit: 13 }, true, 1);
    add(`${table}.bit.off`, table, { dataType: 'bit', bit: 0 }, false, 0);
    // Scale and offset: the simulator stores (value - offset) / scale, the poller undoes it.
    add(`${table}.uint16.scaled`, table, { dataType: 'uint16', scale: 0.1, offset: -10 }, 123.4, 123.4);
    add(`${table}.int32.scaled.CDAB`, table, { dataType: 'int32', byteOrder: 'CDAB', scale: 0.001 }, -2500.125, -2500.125);
    add(`${table}.float32.scaled.DCBA`, table, { dataType: 'float32', byteOrder: 'DCBA', scale: 2, offset: 1 }, 101, 101);
  }
  for (const table of ['coil', 'discrete'] as const) {
    add(`${table}.on`, table, { dataType: 'bool' }, true, 1);
    add(`${table}.off`, table, { dataType: 'bool' }, false, 0);
  }
  return cases;
}

describe('simulator → poller round trip', () => {
  const cases = buildCases();
  let sim: ModbusSimulator;
  let poller: ModbusPoller;
  const collector = new Collector();

  beforeAll(async () => {
    sim = await startModbusSimulator({ port: 0, units: [{ unitId: 1, points: cases.map((c) => c.sim) }] } as never);
    poller = new ModbusPoller(
      {
        device: { id: 'rt', host: '127.0.0.1', port: sim.port, pollIntervalMs: 50, timeoutMs: 500, maxGap: 0 },
        units: [{ id: 'u1', unitId: 1 }],
        points: cases.map((c) => c.point),
      },
      { onSamples: collector.onSamples },
    );
    poller.start();
    await waitFor('every point good and reported', () =>
      cases.every((c) => poller.latest(c.id)?.quality === 'good' && collector.last(c.id)?.quality === 'good'),
    );
  });

  afterAll(async () => {
    await poller?.stop();
    await sim?.close();
  });

  it(`covers ${cases.length} points of every type and byte order`, () => {
    expect(cases.length).toBeGreaterThan(80);
  });

  it.each(buildCases().map((c) => [c.id, c]))('%s', (_id, c) => {
    const latest = poller.latest(c.id)!;
    expect(latest.quality).toBe('good');
    if (typeof c.expected === 'string') {
      expect(latest.text).toBe(c.expected);
      expect(collector.last(c.id)).toMatchObject({ quality: 'good' });
    } else {
      expect(latest.value).toBeCloseTo(c.expected, 9);
      // The sample stream carries the same value.
      expect(collector.last(c.id)?.value).toBeCloseTo(c.expected, 9);
    }
  });

  it('reads the same values with requests merged through the unused registers (maxGap 1)', async () => {
    const merged = new ModbusPoller(
      {
        device: { id: 'rt2', host: '127.0.0.1', port: sim.port, pollIntervalMs: 50, timeoutMs: 500, maxGap: 1 },
        units: [{ id: 'u1', unitId: 1 }],
        points: cases.map((c) => c.point),
      },
      { onSamples: () => undefined },
    );
    try {
      merged.start();
      await waitFor('every point good', () => cases.every((c) => merged.latest(c.id)?.quality === 'good'));
      for (const c of cases) expect(merged.latest(c.id)).toMatchObject({ value: poller.latest(c.id)!.value, quality: 'good' });
      // With gap 0 each spaced point is its own request; with gap 1: holding and input
      // (> 125 registers each) take 2 requests, coils and discrete inputs 1.
      expect(poller.health().requestsPerCycle).toBe(cases.length);
      expect(merged.health().requestsPerCycle).toBe(6);
    } finally {
      await merged.stop();
    }
  });
});
