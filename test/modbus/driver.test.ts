/**
 * The Modbus TCP driver through the device-driver seam, against the simulator over real
 * sockets: the model planned onto units and points, acquisition reporting samples, reads and
 * writes with the protocol's confirmation, device faults as DeviceErrors, and a session that
 * reads a device without any schedule of its own.
 */
import { linkId } from '../../src/sidecar/scada/model/schemas';
import { buildSnapshot } from '../../src/sidecar/scada/model/snapshot';
import { modbusDriver } from '../../src/sidecar/scada/drivers/modbus/driver';
import type { SampleBatch } from '../../src/sidecar/core/samples';
import type { ModbusSimulator } from '../../src/sidecar/scada/drivers/modbus/simulator';
import { deviceObj, ITEMS, linksFor, silent, startSim, TEMP, termsFor } from '../scada/manager/fixtures';
import { systemClock } from '../../src/sidecar/core/clock';
import { ManualClock } from '../helpers/manual-clock';

let sim: ModbusSimulator;
beforeAll(async () => {
  sim = await startSim();
});
afterAll(() => sim.close());

function snapshot(extraTerms: Array<{ id: string; address: number }> = []) {
  const byId = <T extends { id: string }>(list: T[]) => new Map(list.map((x) => [x.id, x as unknown]));
  const terms = [...termsFor('d1_', 'd1'), ...extraTerms.map((t) => ({ ...t, name: t.id, deviceId: 'd1' }))];
  const links = new Map(linksFor('d1_').map((l) => [linkId(l.termId, l.itemId), l as unknown]));
  return buildSnapshot(byId([deviceObj('d1', sim.port)]), byId(terms), byId(ITEMS), links, 1);
}

const TEMP_ID = linkId('d1_u1', 'temp');
const SET_ID = linkId('d1_u1', 'setpoint');
const FIXED_ID = linkId('d1_u1', 'fixed');

test('plan: terms become units, links points; a term whose address is no unit id is skipped with the reason', () => {
  const plan = modbusDriver.plan(snapshot([{ id: 'big', address: 300 }]), 'd1');
  expect(plan.config!.units).toEqual([
    { id: 'd1_u1', unitId: 1 },
    { id: 'd1_u2', unitId: 2 },
  ]);
  expect(plan.points).toEqual([FIXED_ID, SET_ID, TEMP_ID, linkId('d1_u2', 'level')]);
  expect(plan.skipped).toEqual([expect.stringMatching(/^term big: address 300 is not a Modbus unit id/)]);
  expect(plan.key).toBe(JSON.stringify(plan.config));
  expect(modbusDriver.plan(snapshot(), 'ghost')).toMatchObject({ error: expect.stringMatching(/does not exist/), points: [] });
});

test('acquisition reports samples, reads and writes with the function code as confirmation', async () => {
  const plan = modbusDriver.plan(snapshot(), 'd1');
  const batches: SampleBatch[] = [];
  const acq = modbusDriver.start(plan.config!, { logger: silent, clock: systemClock, onSamples: (b) => batches.push(b) });
  try {
    await acq.ready(2000);
    expect(acq.health().connection.state).toBe('connected');
    const [temp] = await acq.read([TEMP_ID]);
    expect(temp).toMatchObject({ id: TEMP_ID, value: TEMP, quality: 'good' });
    expect(batches.some((b) => b.get(TEMP_ID)?.values[0] === TEMP)).toBe(true);

    const w = await acq.write(SET_ID, 77);
    expect(w).toMatchObject({ reading: { id: SET_ID, value: 77, quality: 'good' }, confirmation: { functionCode: 6 } });
    expect(sim.get(1, 'setpoint')).toBe(77);
    await expect(acq.write(SET_ID, 78, { functionCode: 16 })).resolves.toMatchObject({ confirmation: { functionCode: 16 } });
    await expect(acq.write(SET_ID, 1, { functionCode: 3 })).rejects.toMatchObject({ code: 'BAD_REQUEST', field: 'functionCode' });
    // Device faults come back as domain errors, in the protocol's terms.
    await expect(acq.write(SET_ID, 1e9)).rejects.toMatchObject({ name: 'CodecError', fault: 'invalid_value', field: 'value' });
    await expect(acq.write(TEMP_ID, 1)).rejects.toMatchObject({ name: 'DeviceError', fault: 'rejected', message: expect.stringMatching(/exception 2/) });
  } finally {
    await acq.close();
  }
});

test('a session reads and writes on a connection of its own and schedules nothing', async () => {
  const plan = modbusDriver.plan(snapshot(), 'd1');
  const clock = new ManualClock();
  const before = sim.stats().requests;
  const session = modbusDriver.open(plan.config!, { logger: silent, clock });
  try {
    await waitUntil(() => sim.stats().connections > 0);
    await session.ready(2000);
    expect(await session.read([TEMP_ID])).toEqual([expect.objectContaining({ value: TEMP, quality: 'good' })]);
    // Exactly the request asked for, and no timer armed: no polling.
    expect(sim.stats().requests - before).toBe(1);
    expect(await session.read([FIXED_ID])).toEqual([expect.objectContaining({ value: 7, quality: 'good' })]);
    expect(clock.pending).toBe(0);
    const w = await session.write(SET_ID, 55);
    expect(w).toMatchObject({ reading: { value: 55 }, confirmation: { functionCode: 6 } });
  } finally {
    await session.close();
  }
  // The acquisition, by contrast, arms its poll schedule on the same clock.
  const acq = modbusDriver.start(plan.config!, { logger: silent, clock, onSamples: () => undefined });
  expect(clock.pending).toBeGreaterThan(0);
  await acq.close();
});

async function waitUntil(pred: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !pred(); i++) await new Promise((r) => setTimeout(r, 10));
}
