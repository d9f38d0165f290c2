/**
 * Cross-checks with independent Modbus peers from Debian:
 *   - `mbpoll` (libmodbus) reads and writes the simulator;
 *   - the poller reads and writes a pymodbus server whose values pymodbus encodes itself.
 * Needs: apt-get install -y mbpoll python3-pymodbus python3-serial python3-serial-asyncio
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ModbusPoller } from '../../src/sidecar/scada/drivers/modbus/poller';
import { startModbusSimulator, type ModbusSimulator } from '../../src/sidecar/scada/drivers/modbus/simulator';
import { BYTE_ORDERS, registerCount, type DataType, type ModbusPointInput } from '../../src/sidecar/scada/drivers/modbus/types';
import { requireTool, waitFor } from './helpers';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';

async function mbpoll(port: number, args: string[], values: string[] = []): Promise<string[]> {
  const { stdout } = await run(
    'mbpoll',
    ['-m', 'tcp', '-0', '-1', '-o', '2', '-p', String(port), ...args, '127.0.0.1', ...(values.length ? ['--', ...values] : [])],
    {
      timeout: 10_000,
    },
  );
  return [...stdout.matchAll(/^\[(\d+)\]:\s+(\S+)/gm)].map((m) => m[2]);
}

describe('mbpoll reads and writes the simulator', () => {
  let sim: ModbusSimulator;

  beforeAll(async () => {
    requireTool('mbpoll', ['-V'], 'mbpoll');
    sim = await startModbusSimulator({
      port: 0,
      units: [
        {
          unitId: 1,
          points: [
            { name: 'i16', table: 'holding', address: 0, dataType: 'int16', behaviour: { kind: 'static', value: -1234 } },
            { name: 'u16', table: 'holding', address: 1, dataType: 'uint16', behaviour: { kind: 'writable', initial: 65000 } },
            { name: 'i32', table: 'holding', address: 2, dataType: 'int32', behaviour: { kind: 'static', value: -7654321 } },
            {
              name: 'fCDAB',
              table: 'holding',
              address: 4,
              dataType: 'float32',
              byteOrder: 'CDAB',
              behaviour: { kind: 'static', value: 4.5 },
            },
            { name: 'fABCD', table: 'holding', address: 6, dataType: 'float32', behaviour: { kind: 'writable', initial: -0.25 } },
            {
              name: 'i32w',
              table: 'holding',
              address: 8,
              dataType: 'int32',
              byteOrder: 'CDAB',
              behaviour: { kind: 'writable', initial: 0 },
            },
            { name: 'coil0', table: 'coil', address: 0, dataType: 'bool', behaviour: { kind: 'writable', initial: true } },
            { name: 'coil1', table: 'coil', address: 1, dataType: 'bool', behaviour: { kind: 'writable', initial: false } },
            { name: 'coil2', table: 'coil', address: 2, dataType: 'bool', behaviour: { kind: 'writable', initial: true } },
            { name: 'di9', table: 'discrete', address: 9, dataType: 'bool', behaviour: { kind: 'static', value: true } },
            {
              name: 'ir',
              table: 'input',
              address: 3,
              dataType: 'float32',
              byteOrder: 'CDAB',
              behaviour: { kind: 'static', value: 1013.25 },
            },
          ],
        },
        { unitId: 7, points: [{ name: 'x', table: 'holding', address: 0, dataType: 'uint16', behaviour: { kind: 'static', value: 77 } }] },
      ],
    });
  });

  afterAll(async () => {
    await sim?.close();
  });

  it('holding registers: 16-bit, 32-bit integers big-endian, floats in both word orders', async () => {
    expect(await mbpoll(sim.port, ['-a', '1', '-r', '0', '-c', '2', '-t', '4'])).toEqual(['64302', '65000']); // mbpoll shows registers unsigned: -1234 is 64302
    expect(await mbpoll(sim.port, ['-a', '1', '-r', '2', '-t', '4:int', '-B'])).toEqual(['-7654321']);
    expect(await mbpoll(sim.port, ['-a', '1', '-r', '4', '-t', '4:float'])).toEqual(['4.5']); // mbpoll's default word order is CDAB
    expect(await mbpoll(sim.port, ['-a', '1', '-r', '6', '-t', '4:float', '-B'])).toEqual(['-0.25']);
  });

  it('coils, discrete inputs, input registers, and a second unit id', async () => {
    expect(await mbpoll(sim.port, ['-a', '1', '-r', '0', '-c', '3', '-t', '0'])).toEqual(['1', '0', '1']);
    expect(await mbpoll(sim.port, ['-a', '1', '-r', '8', '-c', '2', '-t', '1'])).toEqual(['0', '1']);
    expect(await mbpoll(sim.port, ['-a', '1', '-r', '3', '-t', '3:float'])).toEqual(['1013.25']);
    expect(await mbpoll(sim.port, ['-a', '7', '-r', '0', '-t', '4'])).toEqual(['77']);
  });

  it('writes from mbpoll stick (FC 6, 16, 5, 15) and read back through the simulator', async () => {
    await mbpoll(sim.port, ['-a', '1', '-r', '1', '-t', '4'], ['4321']);
    expect(sim.get(1, 'u16')).toBe(4321);
    await mbpoll(sim.port, ['-a', '1', '-r', '6', '-t', '4:float', '-B'], ['12.5']);
    expect(sim.get(1, 'fABCD')).toBe(12.5);
    await mbpoll(sim.port, ['-a', '1', '-r', '8', '-t', '4:int'], ['-99999']);
    expect(sim.get(1, 'i32w')).toBe(-99999);
    await mbpoll(sim.port, ['-a', '1', '-r', '1', '-t', '0'], ['1']);
    expect(sim.get(1, 'coil1')).toBe(1);
    await mbpoll(sim.port, ['-a', '1', '-r', '0', '-t', '0'], ['0', '0', '0']);
    expect([sim.get(1, 'coil0'), sim.get(1, 'coil1'), sim.get(1, 'coil2')]).toEqual([0, 0, 0]);
  });

  it('refuses a write to a read-only point with an exception mbpoll reports', async () => {
    await expect(mbpoll(sim.port, ['-a', '1', '-r', '0', '-t', '4'], ['5'])).rejects.toThrow(/Illegal data address/i);
    expect(sim.get(1, 'i16')).toBe(-1234);
  });
});

// ---------------------------------------------------------------------------------------

interface PyPoint {
  unit: number;
  table: 'holding' | 'input' | 'coil' | 'discrete';
  address: number;
  type: DataType;
  order?: string;
  length?: number;
  value: number | boolean | string;
}

const VALUES: Array<[DataType, number]> = [
  ['int16', -321],
  ['uint16', 60001],
  ['int32', -2000000001],
  ['uint32', 4000000001],
  ['int64', -98765432109876],
  ['uint64', 2 ** 52 + 12345],
  ['float32', Math.fround(-273.15)],
  ['float64', 6.02214076e23],
];

function pyPoints(): PyPoint[] {
  const out: PyPoint[] = [];
  for (const table of ['holding', 'input'] as const) {
    let address = table === 'holding' ? 0 : 500;
    for (const [type, value] of VALUES) {
      for (const order of BYTE_ORDERS) {
        out.push({ unit: 1, table, address, type, order, value });
        address += registerCount(type);
      }
    }
    // pymodbus packs text as it is, no byte swap: ABCD only.
    out.push({ unit: 1, table, address, type: 'string', length: 5, value: 'pymodbus!' });
  }
  out.push({ unit: 1, table: 'coil', address: 10, type: 'bool', value: true });
  out.push({ unit: 1, table: 'coil', address: 11, type: 'bool', value: false });
  out.push({ unit: 1, table: 'discrete', address: 3, type: 'bool', value: true });
  out.push({ unit: 2, table: 'holding', address: 0, type: 'float32', order: 'CDAB', value: 99.5 });
  return out;
}

const idOf = (p: PyPoint) => `u${p.unit}.${p.table}.${p.address}.${p.type}.${p.order ?? ''}`;

async function startPymodbus(points: PyPoint[]): Promise<{ port: number; child: ChildProcessWithoutNullStreams }> {
  const child = spawn(PYTHON, [path.join(__dirname, 'pymodbus_server.py'), JSON.stringify(points)]);
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += String(d)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pymodbus server did not start: ${err}`)), 15_000);
    child.stdout.on('data', (d) => {
      out += String(d);
      const m = /PORT (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`pymodbus server exited (${code}): ${err}`)));
  });
  return { port, child };
}

describe('the poller reads and writes a pymodbus server', () => {
  const points = pyPoints();
  let py: { port: number; child: ChildProcessWithoutNullStreams } | undefined;
  let poller: ModbusPoller;

  beforeAll(async () => {
    requireTool(PYTHON, ['-c', 'import pymodbus, serial, serial_asyncio'], 'python3-pymodbus python3-serial python3-serial-asyncio');
    py = await startPymodbus(points);
    const polled: ModbusPointInput[] = points.map((p) => ({
      id: idOf(p),
      unitId: p.unit,
      table: p.table,
      address: p.address,
      dataType: p.type,
      ...(p.order ? { byteOrder: p.order as never } : {}),
      ...(p.length ? { length: p.length } : {}),
    }));
    // Writable extras on pymodbus' plain memory.
    polled.push(
      { id: 'w.coil', unitId: 1, table: 'coil', address: 20, dataType: 'bool' },
      { id: 'w.coils', unitId: 1, table: 'coil', address: 21, dataType: 'bool', writeFunction: 'multiple' },
      { id: 'w.reg', unitId: 1, table: 'holding', address: 300, dataType: 'int16', scale: 0.5 },
      { id: 'w.f64', unitId: 1, table: 'holding', address: 310, dataType: 'float64', byteOrder: 'BADC' },
    );
    poller = new ModbusPoller(
      {
        device: { id: 'py', host: '127.0.0.1', port: py.port, pollIntervalMs: 50, timeoutMs: 1000, maxGap: 0, maxInFlight: 4 },
        units: [
          { id: 't1', unitId: 1 },
          { id: 't2', unitId: 2 },
        ],
        points: polled,
      },
      { onSamples: () => undefined },
    );
    poller.start();
    await waitFor('every point good', () => polled.every((p) => poller.latest(p.id)?.quality === 'good'), 10_000);
  });

  afterAll(async () => {
    await poller?.stop();
    py?.child.stdin.end();
    py?.child.kill();
  });

  it.each(pyPoints().map((p) => [idOf(p), p] as const))('%s', (id, p) => {
    const latest = poller.latest(id)!;
    expect(latest.quality).toBe('good');
    if (p.type === 'string') expect(latest.text).toBe(p.value);
    else if (p.type === 'bool') expect(latest.value).toBe(p.value ? 1 : 0);
    else expect(latest.value).toBe(p.value);
  });

  it.each<[string, unknown, number, number]>([
    ['w.coil', true, 5, 1],
    ['w.coils', true, 15, 1],
    ['w.reg', -100.5, 6, -100.5],
    ['w.f64', -1.5e-7, 16, -1.5e-7],
  ])('%s ← %j with FC %d is read back from pymodbus', async (id, value, fc, expected) => {
    const res = await poller.write(id, value);
    expect(res).toMatchObject({ functionCode: fc, quality: 'good', value: expected });
  });
});
