/** The simulator itself: its config checks, behaviours, the CLI entry and the sample config. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { runSimulateModbus } from '../../src/sidecar/scada/drivers/modbus/cli';
import { ModbusTcpClient } from '../../src/sidecar/scada/drivers/modbus/client';
import { ModbusPoller } from '../../src/sidecar/scada/drivers/modbus/poller';
import { parseSimConfig } from '../../src/sidecar/scada/drivers/modbus/sim-config';
import { startModbusSimulator } from '../../src/sidecar/scada/drivers/modbus/simulator';
import { parsePollerConfig } from '../../src/sidecar/scada/drivers/modbus/types';
import { sleep, waitFor } from './helpers';

const unit = (points: unknown[]) => ({ units: [{ unitId: 1, points }] });
const point = (extra: Record<string, unknown>) => ({
  name: 'p',
  table: 'holding',
  address: 0,
  dataType: 'uint16',
  behaviour: { kind: 'static', value: 1 },
  ...extra,
});

describe('simulator config', () => {
  it.each<[string, unknown, RegExp]>([
    [
      'bool in a register table',
      unit([point({ dataType: 'bool' })]),
      /units\.0\.points\.0\.dataType: bool lives in coil or discrete tables/,
    ],
    ['int16 in a coil table', unit([point({ table: 'coil' })]), /dataType: a coil holds a bool, not uint16/],
    ['bit without its number', unit([point({ dataType: 'bit' })]), /points\.0\.bit: required for dataType bit/],
    [
      'string without a length',
      unit([point({ dataType: 'string', behaviour: { kind: 'static', value: 'x' } })]),
      /points\.0\.length: required/,
    ],
    [
      'a moving string',
      unit([point({ dataType: 'string', length: 2, behaviour: { kind: 'sine' } })]),
      /behaviour\.kind: a string point is static or writable/,
    ],
    [
      'a static value out of range',
      unit([point({ behaviour: { kind: 'static', value: 70000 } })]),
      /behaviour\.value: value 70000 is out of range for uint16/,
    ],
    ['overlapping points', unit([point({}), point({ name: 'q', dataType: 'int32' })]), /points\.1\.address: holding 0 is already used/],
    ['past the last address', unit([point({ address: 65535, dataType: 'float32' })]), /address: value runs past address 65535/],
    ['an unknown behaviour', unit([point({ behaviour: { kind: 'noise' } })]), /behaviour\.kind/],
    ['a typo', { ...unit([point({})]), prot: 1 }, /prot: unknown field/],
  ])('refuses %s', (_what, config, message) => {
    expect(() => parseSimConfig(config)).toThrow(message);
  });

  it('lets bit points share a register', () => {
    expect(() =>
      parseSimConfig(
        unit([
          point({ dataType: 'bit', bit: 0, behaviour: { kind: 'static', value: true } }),
          point({ name: 'q', dataType: 'bit', bit: 1, behaviour: { kind: 'static', value: false } }),
        ]),
      ),
    ).not.toThrow();
  });

  it('the poller config checks units, ids and limits too', () => {
    const device = { id: 'd', host: 'h' };
    const p = { id: 'a', unitId: 1, table: 'holding' as const, address: 0, dataType: 'uint16' as const };
    expect(() => parsePollerConfig({ device, units: [{ id: 't', unitId: 1 }], points: [{ ...p, unitId: 2 }] })).toThrow(
      /points\.0\.unitId: no unit with unit id 2/,
    );
    expect(() => parsePollerConfig({ device, units: [{ id: 't', unitId: 1 }], points: [p, p] })).toThrow(
      /points\.1\.id: duplicate point id a/,
    );
    expect(() => parsePollerConfig({ device: { ...device, maxInFlight: 300 }, units: [], points: [] })).toThrow(/device\.maxInFlight/);
    expect(() => parsePollerConfig({ device: { ...device, backoff: { initialMs: 500, maxMs: 100 } }, units: [], points: [] })).toThrow(
      /backoff\.maxMs: must be ≥ initialMs/,
    );
    expect(
      () =>
        new ModbusPoller(
          { device: { ...device, maxRegisters: 10 }, units: [{ id: 't', unitId: 1 }], points: [{ ...p, dataType: 'string', length: 20 }] },
          { onSamples: () => undefined },
        ),
    ).toThrow(/needs 20 registers, more than the device reads at once \(10\)/);
  });
});

describe('simulator behaviours over TCP', () => {
  it('sine, ramp, counter and random walk move within their bounds, in any type and byte order', async () => {
    const sim = await startModbusSimulator({
      port: 0,
      updateMs: 10,
      units: [
        {
          unitId: 3,
          points: [
            {
              name: 'sine',
              table: 'holding',
              address: 0,
              dataType: 'float32',
              byteOrder: 'CDAB',
              behaviour: { kind: 'sine', mean: 50, amplitude: 10, periodMs: 200 },
            },
            {
              name: 'ramp',
              table: 'input',
              address: 0,
              dataType: 'int32',
              byteOrder: 'DCBA',
              scale: 0.01,
              behaviour: { kind: 'ramp', from: -5, to: 5, periodMs: 300 },
            },
            {
              name: 'count',
              table: 'holding',
              address: 10,
              dataType: 'uint16',
              behaviour: { kind: 'counter', start: 0, step: 16384, everyMs: 40 },
            },
            {
              name: 'walk',
              table: 'input',
              address: 10,
              dataType: 'int64',
              byteOrder: 'BADC',
              behaviour: { kind: 'randomWalk', start: 0, step: 3, min: -4, max: 4 },
            },
            { name: 'blink', table: 'discrete', address: 0, dataType: 'bool', behaviour: { kind: 'sine', periodMs: 60 } },
          ],
        },
      ],
    });
    const seen = new Map<string, number[]>();
    const poller = new ModbusPoller(
      {
        device: { id: 'b', host: '127.0.0.1', port: sim.port, pollIntervalMs: 10, maxSilenceMs: 0 },
        units: [{ id: 't', unitId: 3 }],
        points: [
          { id: 'sine', unitId: 3, table: 'holding', address: 0, dataType: 'float32', byteOrder: 'CDAB' },
          { id: 'ramp', unitId: 3, table: 'input', address: 0, dataType: 'int32', byteOrder: 'DCBA', scale: 0.01 },
          { id: 'count', unitId: 3, table: 'holding', address: 10, dataType: 'uint16' },
          { id: 'walk', unitId: 3, table: 'input', address: 10, dataType: 'int64', byteOrder: 'BADC' },
          { id: 'blink', unitId: 3, table: 'discrete', address: 0, dataType: 'bool' },
        ],
      },
      {
        onSamples: (batch) => {
          for (const [id, cols] of batch) seen.set(id, [...(seen.get(id) ?? []), ...cols.values]);
        },
      },
    );
    try {
      poller.start();
      await waitFor('the counter wrapped', () => (seen.get('count') ?? []).some((v, i, all) => i > 0 && v < all[i - 1]), 5000);
      await sleep(100);
      const distinct = (id: string) => new Set(seen.get(id)).size;
      for (const id of ['sine', 'ramp', 'count', 'walk', 'blink']) expect(distinct(id)).toBeGreaterThan(1);
      expect(Math.min(...seen.get('sine')!)).toBeGreaterThanOrEqual(40 - 1e-4);
      expect(Math.max(...seen.get('sine')!)).toBeLessThanOrEqual(60 + 1e-4);
      for (const v of seen.get('ramp')!) expect(v >= -5 - 1e-9 && v <= 5 + 1e-9).toBe(true);
      for (const v of seen.get('walk')!) expect(v >= -4 && v <= 4 && Number.isInteger(v)).toBe(true);
      for (const v of seen.get('blink')!) expect([0, 1]).toContain(v);
      // uint16 rolls over like a device counter (0, 16384, 32768, 49152, 0, …).
      for (const v of seen.get('count')!) expect([0, 16384, 32768, 49152]).toContain(v);
    } finally {
      await poller.stop();
      await sim.close();
    }
  });

  it('answers reads beyond the protocol limit with exception 3, and an unknown unit with 11', async () => {
    const sim = await startModbusSimulator({ port: 0, ...unit([point({})]) } as never);
    const poller = new ModbusPoller(
      { device: { id: 'x', host: '127.0.0.1', port: sim.port, pollIntervalMs: 60_000 }, units: [{ id: 't', unitId: 1 }], points: [] },
      { onSamples: () => undefined },
    );
    try {
      poller.start();
      await waitFor('connected', () => poller.health().connection.state === 'connected');
      const [gw] = await poller.read([{ id: 'g', unitId: 9, table: 'holding', address: 0, dataType: 'uint16' }]);
      expect(gw).toMatchObject({ quality: 'bad', error: 'exception 11 (gateway target device failed to respond)' });
      const client = await ModbusTcpClient.connect('127.0.0.1', sim.port, 1000);
      try {
        await expect(client.readRegisters(1, 3, 0, 126, 1000)).rejects.toMatchObject({ kind: 'exception', exceptionCode: 3 });
        await expect(client.readRegisters(1, 3, 65530, 10, 1000)).rejects.toMatchObject({ kind: 'exception', exceptionCode: 2 });
        expect(await client.readRegisters(1, 3, 0, 125, 1000)).toHaveLength(125);
      } finally {
        client.destroy();
      }
    } finally {
      await poller.stop();
      await sim.close();
    }
  });
});

describe('runSimulateModbus (scadalive simulate modbus)', () => {
  it('serves the sample config/modbus-sim.yaml, port overridden', async () => {
    const sim = await runSimulateModbus({
      config: path.join(__dirname, '../../config/modbus-sim.yaml'),
      port: 0,
      logger: pino({ level: 'silent' }),
    });
    const poller = new ModbusPoller(
      {
        device: { id: 'ps', host: '127.0.0.1', port: sim.port, pollIntervalMs: 50 },
        units: [
          { id: 'north', unitId: 1 },
          { id: 'tank', unitId: 2 },
        ],
        points: [
          { id: 'pressure', unitId: 1, table: 'holding', address: 0, dataType: 'float32', byteOrder: 'CDAB' },
          { id: 'flow', unitId: 1, table: 'input', address: 0, dataType: 'uint16', scale: 0.1 },
          { id: 'running', unitId: 1, table: 'coil', address: 0, dataType: 'bool' },
          { id: 'hours', unitId: 1, table: 'holding', address: 10, dataType: 'uint32' },
          { id: 'name', unitId: 1, table: 'holding', address: 20, dataType: 'string', length: 8 },
          { id: 'level', unitId: 2, table: 'input', address: 0, dataType: 'float32' },
        ],
      },
      { onSamples: () => undefined },
    );
    try {
      poller.start();
      await waitFor('good', () => poller.latest().every((l) => l.quality === 'good'));
      expect(poller.latest('pressure')!.value).toBeGreaterThan(3.8);
      expect(poller.latest('pressure')!.value).toBeLessThan(5.2);
      expect(poller.latest('flow')!.value).toBeGreaterThanOrEqual(80);
      expect(poller.latest('running')!.value).toBe(1);
      expect(poller.latest('hours')!.value).toBeGreaterThanOrEqual(12840);
      expect(poller.latest('name')!.text).toBe('PS-North');
      expect(poller.latest('level')!.value).toBeGreaterThanOrEqual(20);
    } finally {
      await poller.stop();
      await sim.close();
    }
  });

  it('reports a bad config file clearly', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'modbus-sim-')), 'bad.yaml');
    fs.writeFileSync(
      file,
      'units:\n  - unitId: 1\n    points:\n      - { name: x, table: coil, address: 0, dataType: float32, behaviour: { kind: static, value: 1 } }\n',
    );
    await expect(runSimulateModbus({ config: file, port: 0, logger: pino({ level: 'silent' }) })).rejects.toMatchObject({
      code: 'BAD_PARAMS',
      field: 'units.0.points.0.dataType',
    });
  });
});
