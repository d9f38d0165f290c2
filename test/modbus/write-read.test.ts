/** device_ctrl and device_call: writes with FC 5/6/15/16 read back; reads on demand. */
import { AppError, toAppError } from '../../src/sidecar/errors';
import { ModbusPoller } from '../../src/sidecar/scada/drivers/modbus/poller';
import { startModbusSimulator, type ModbusSimulator } from '../../src/sidecar/scada/drivers/modbus/simulator';
import type { ModbusPointInput } from '../../src/sidecar/scada/drivers/modbus/types';
import { Collector, waitFor } from './helpers';

const writable = (name: string, table: 'holding' | 'coil', address: number, enc: Record<string, unknown>, initial: unknown) => ({
  name,
  table,
  address,
  ...enc,
  behaviour: { kind: 'writable', initial },
});

const SIM_POINTS = [
  writable('pump', 'coil', 0, { dataType: 'bool' }, false),
  writable('valve', 'coil', 1, { dataType: 'bool' }, false),
  writable('sp', 'holding', 0, { dataType: 'int16', scale: 0.1 }, 0),
  writable('mode', 'holding', 1, { dataType: 'uint16' }, 0),
  writable('flow', 'holding', 2, { dataType: 'float32', byteOrder: 'CDAB' }, 0),
  writable('total', 'holding', 4, { dataType: 'uint64', byteOrder: 'DCBA' }, 0),
  writable('b3', 'holding', 8, { dataType: 'bit', bit: 3 }, false),
  writable('b9', 'holding', 8, { dataType: 'bit', bit: 9 }, true),
  writable('name', 'holding', 10, { dataType: 'string', length: 4 }, 'old'),
  { name: 'fixed', table: 'holding', address: 20, dataType: 'uint16', behaviour: { kind: 'static', value: 9 } },
  { name: 'inp', table: 'input', address: 0, dataType: 'uint16', behaviour: { kind: 'static', value: 3 } },
];

const POINTS: ModbusPointInput[] = [
  { id: 'pump', unitId: 1, table: 'coil', address: 0, dataType: 'bool' },
  { id: 'valve', unitId: 1, table: 'coil', address: 1, dataType: 'bool', writeFunction: 'multiple' },
  { id: 'sp', unitId: 1, table: 'holding', address: 0, dataType: 'int16', scale: 0.1 },
  { id: 'mode', unitId: 1, table: 'holding', address: 1, dataType: 'uint16', writeFunction: 'multiple' },
  { id: 'flow', unitId: 1, table: 'holding', address: 2, dataType: 'float32', byteOrder: 'CDAB' },
  { id: 'total', unitId: 1, table: 'holding', address: 4, dataType: 'uint64', byteOrder: 'DCBA' },
  { id: 'b3', unitId: 1, table: 'holding', address: 8, dataType: 'bit', bit: 3 },
  { id: 'b9', unitId: 1, table: 'holding', address: 8, dataType: 'bit', bit: 9 },
  { id: 'name', unitId: 1, table: 'holding', address: 10, dataType: 'string', length: 4 },
  { id: 'fixed', unitId: 1, table: 'holding', address: 20, dataType: 'uint16' },
  { id: 'inp', unitId: 1, table: 'input', address: 0, dataType: 'uint16' },
];

describe('write and read on demand', () => {
  let sim: ModbusSimulator;
  let poller: ModbusPoller;
  const collector = new Collector();

  beforeAll(async () => {
    sim = await startModbusSimulator({ port: 0, units: [{ unitId: 1, points: SIM_POINTS }] } as never);
    poller = new ModbusPoller(
      {
        device: { id: 'ctl', host: '127.0.0.1', port: sim.port, pollIntervalMs: 10_000, timeoutMs: 500 },
        units: [{ id: 't', unitId: 1 }],
        points: POINTS,
      },
      { onSamples: collector.onSamples },
    );
    poller.start();
    await waitFor('connected and polled', () => poller.latest('pump')?.quality === 'good');
  });

  afterAll(async () => {
    await poller.stop();
    await sim.close();
  });

  it.each<[string, unknown, number, number | string]>([
    ['pump', true, 5, 1],
    ['valve', true, 15, 1],
    ['sp', -12.3, 6, -12.3],
    ['mode', 7, 16, 7],
    ['flow', 1234.5, 16, 1234.5],
    ['total', 2 ** 40 + 3, 16, 2 ** 40 + 3],
    ['name', 'NEW1', 16, 'NEW1'],
  ])('%s ← %j with FC %d, read back', async (id, value, fc, expected) => {
    const res = await poller.write(id, value);
    expect(res.functionCode).toBe(fc);
    expect(res.quality).toBe('good');
    if (typeof expected === 'string') expect(res.text).toBe(expected);
    else expect(res.value).toBeCloseTo(expected, 6);
    expect(sim.get(1, id)).toEqual(typeof expected === 'string' ? expected : expect.closeTo(expected, 6));
    // The read-back updates the latest value and the samples, without waiting for a poll.
    expect(poller.latest(id)).toMatchObject({ quality: 'good' });
    expect(collector.last(id)?.quality).toBe('good');
  });

  it('a single coil or register can be forced to FC 15/16, and FC 6 is refused for wider values', async () => {
    expect(await poller.write('pump', false, 15)).toMatchObject({ functionCode: 15, value: 0 });
    expect(await poller.write('sp', 1.5, 16)).toMatchObject({ functionCode: 16, value: 1.5 });
    await expect(written('flow', 1, 6)).rejects.toMatchObject({ code: 'BAD_REQUEST', field: 'functionCode' });
    await expect(written('pump', true, 6)).rejects.toMatchObject({ field: 'functionCode' });
  });

  it('a bit is read, changed and written back, leaving the other bits alone', async () => {
    expect(await poller.write('b3', true)).toMatchObject({ functionCode: 6, value: 1, quality: 'good' });
    expect(sim.get(1, 'b3')).toBe(1);
    expect(sim.get(1, 'b9')).toBe(1);
    expect(await poller.write('b9', 0)).toMatchObject({ value: 0 });
    expect(sim.get(1, 'b3')).toBe(1);
  });

  /**
   * A write as a client sees it: the poller raises device faults in the protocol's terms
   * (DeviceError), and errors.ts's toAppError, which every transport uses, says whose fault.
   */
  const written = (id: string, value: unknown, fc?: number) =>
    poller.write(id, value as number, fc as never).catch((e: unknown) => {
      throw toAppError(e);
    });

  it('device faults are domain errors, not HTTP ones', async () => {
    await expect(poller.write('mode', 70000)).rejects.toMatchObject({ name: 'CodecError', fault: 'invalid_value', field: 'value' });
    await expect(poller.write('fixed', 1)).rejects.toMatchObject({ name: 'DeviceError', fault: 'rejected' });
    await expect(poller.write('fixed', 1)).rejects.not.toHaveProperty('status');
  });

  it('refuses what cannot be written, with a clear error naming the field', async () => {
    await expect(written('mode', 70000)).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      field: 'value',
      message: expect.stringContaining('out of range for uint16'),
    });
    await expect(written('sp', 4000)).rejects.toThrow(/raw 40000 after scale 0.1/);
    await expect(written('pump', 'maybe')).rejects.toMatchObject({ field: 'value' });
    await expect(written('inp', 1)).rejects.toMatchObject({ code: 'BAD_REQUEST', field: 'table' });
    await expect(written('nope', 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // The device says no: an exception response becomes a 400 with the device's reason.
    const err = await written('fixed', 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({
      status: 400,
      message: expect.stringContaining('device refused write to fixed: exception 2 (illegal data address)'),
    });
    expect(sim.get(1, 'fixed')).toBe(9);
  });

  it.each<[string, number, number, string]>([
    ['a failure of the device itself', 4, 502, 'DEVICE_ERROR'],
    ['a gateway that cannot reach its target', 11, 502, 'DEVICE_ERROR'],
    ['a busy device (try again)', 6, 503, 'NOT_READY'],
    ['an illegal value', 3, 400, 'BAD_REQUEST'],
  ])('a write the device answers with %s (exception %i) is a %i %s', async (_what, exception, status, code) => {
    await sim.setFault({ exceptions: [{ from: 1, to: 1, code: exception }] });
    try {
      await expect(written('mode', 1)).rejects.toMatchObject({
        status,
        code,
        message: expect.stringContaining(`exception ${exception}`),
      });
    } finally {
      await sim.setFault({});
    }
  });

  it('a write the device does not answer in time is a 504 that says the write may have happened', async () => {
    await sim.setFault({ silentUnits: [1] });
    try {
      await expect(written('mode', 2)).rejects.toMatchObject({
        status: 504,
        code: 'DEVICE_TIMEOUT',
        message: expect.stringContaining('may or may not have happened'),
      });
    } finally {
      await sim.setFault({});
    }
  });

  it('read() reads configured points now, and ad-hoc point definitions', async () => {
    sim.set(1, 'mode', 42);
    const readings = await poller.read(['mode', 'inp', { id: 'adhoc', unitId: 1, table: 'holding', address: 20, dataType: 'uint16' }]);
    expect(readings).toEqual([
      expect.objectContaining({ id: 'mode', value: 42, quality: 'good' }),
      expect.objectContaining({ id: 'inp', value: 3, quality: 'good' }),
      expect.objectContaining({ id: 'adhoc', value: 9, quality: 'good' }),
    ]);
    expect(poller.latest('mode')?.value).toBe(42);
    expect(poller.latest('adhoc')).toBeUndefined(); // ad-hoc points have no series
    await expect(poller.read(['missing'])).rejects.toMatchObject({ code: 'NOT_FOUND', field: 'points.0' });
    await expect(poller.read([{ id: 'x', unitId: 1, table: 'coil', address: 0, dataType: 'int16' }])).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      field: 'dataType',
    });
  });

  it('read() of an address the device refuses answers bad for those points only', async () => {
    await sim.setFault({ exceptions: [{ from: 30, to: 30, code: 2 }] });
    try {
      const [mode, hole] = await poller.read(['mode', { id: 'hole', unitId: 1, table: 'holding', address: 30, dataType: 'uint16' }]);
      expect(mode).toMatchObject({ quality: 'good' });
      expect(hole).toMatchObject({ quality: 'bad', error: 'exception 2 (illegal data address)', value: NaN });
    } finally {
      await sim.setFault({});
    }
  });

  it('while the device is down: read() answers comm_lost, write() fails NOT_READY', async () => {
    await sim.setFault({ offline: true });
    try {
      await waitFor('down', () => poller.health().connection.state !== 'connected');
      expect(await poller.read(['mode'])).toEqual([expect.objectContaining({ quality: 'comm_lost' })]);
      await expect(written('mode', 1)).rejects.toMatchObject({ code: 'NOT_READY', status: 503 });
    } finally {
      await sim.setFault({});
    }
  });
});
