/**
 * The whole SCADA path on the embedded (memory) store: a config `model:` whose device is a
 * real Modbus simulator, served by `startSidecar`; REST, query, live, device_call/ctrl and
 * a device added and removed through the API, all over real sockets.
 */
import { dataFrameFromJSON, FieldType } from '@grafana/data';
import type { ModbusSimulator } from '../../src/sidecar/scada/drivers/modbus/simulator';
import {
  CONTROL_KEY,
  FLOW,
  LEVEL_AMPLITUDE,
  LEVEL_MEAN,
  LiveClient,
  plantDevice,
  plantModel,
  READ_KEY,
  scadaChannels,
  SETPOINT0,
  sleep,
  startE2ESidecar,
  startPlantSimulator,
  TEMPERATURE,
  until,
  type E2ESidecar,
  type Json,
} from './harness';

let sim: ModbusSimulator;
let s: E2ESidecar;

beforeAll(async () => {
  sim = await startPlantSimulator();
  s = await startE2ESidecar({ model: plantModel(sim.port) });
});
afterAll(async () => {
  await s?.close();
  await sim?.close();
});

/** The non-null values of one field of a query answer's first frame, parsed as Grafana does. */
async function queryValues(channel: string, intervalMs = 200): Promise<number[]> {
  const r = await s.query([{ refId: 'A', instance: 'scada', channels: [channel], intervalMs }], 3000);
  if (r.status !== 200 || r.body.results.A.error) throw new Error(`query: ${r.status} ${JSON.stringify(r.body)}`);
  const frame = dataFrameFromJSON(r.body.results.A.frames[0]);
  const field = frame.fields.find((f) => f.name === channel);
  if (!field) throw new Error(`no field ${channel} in ${frame.fields.map((f) => f.name).join(', ')}`);
  return (field.values as Array<number | null>).filter((v): v is number => v !== null && Number.isFinite(v));
}

test('health lists the store, the devices and the declared model', async () => {
  const health = await until('the device to be connected', async () => {
    const r = await s.call('GET', '/api/health');
    return r.body.details?.probes?.devices?.details?.states?.connected === 1 ? r : undefined;
  });
  expect(health.status).toBe(200);
  expect(health.body.status).toBe('OK');
  expect(health.body.details.probes).toMatchObject({
    store: { status: 'ok', details: { backend: 'memory' } },
    devices: { status: 'ok', details: { devices: 1 } },
    model: { status: 'ok', details: { devices: 1, terms: 2, items: 5, links: 5 } },
  });
  expect(health.body.details.instances.map((i: Json) => `${i.id}:${i.state}`)).toEqual(['scada:ready', 'sim:ready']);
});

test('the scada instance lists one channel per link, plus the devices table and the model tree', async () => {
  const r = await s.call('GET', '/api/channels?instance=scada');
  expect(r.status).toBe(200);
  const byName = new Map<string, Json>(r.body.channels.map((c: Json) => [c.name, c]));
  expect([...byName.keys()].sort()).toEqual(
    [
      'devices',
      'model',
      'plant/boiler/flow',
      'plant/boiler/pump',
      'plant/boiler/setpoint',
      'plant/boiler/temperature',
      'plant/tank/level',
    ].sort(),
  );
  expect(byName.get('plant/boiler/temperature')).toMatchObject({
    type: 'timeseries',
    unit: 'degC',
    labels: { device: 'plant', term: 'boiler', item: 'temperature' },
  });
  expect(byName.get('devices')).toMatchObject({ type: 'table' });
  expect(byName.get('model')).toMatchObject({ type: 'tree' });
});

test("a query on scada channels answers the simulator's values as Grafana data frames", async () => {
  const temps = await until('temperature samples', async () =>
    (await queryValues('plant/boiler/temperature')).length >= 3 ? queryValues('plant/boiler/temperature') : undefined,
  );
  // float32 CDAB on the wire; 72.5 is exact in float32.
  expect(new Set(temps)).toEqual(new Set([TEMPERATURE]));
  const flows = await queryValues('plant/boiler/flow');
  // uint16 1234 × 0.1 (the scale is applied in float64: 123.4 up to rounding).
  for (const v of flows) expect(v).toBeCloseTo(FLOW, 9);
  const levels = await queryValues('plant/tank/level');
  expect(levels.length).toBeGreaterThan(0);
  for (const v of levels) {
    expect(v).toBeGreaterThanOrEqual(LEVEL_MEAN - LEVEL_AMPLITUDE - 1e-3);
    expect(v).toBeLessThanOrEqual(LEVEL_MEAN + LEVEL_AMPLITUDE + 1e-3);
  }

  // The frame carries what Grafana needs: a time field and the channel's unit.
  const r = await s.query([{ refId: 'B', instance: 'scada', channels: ['plant/boiler/temperature', 'plant/tank/level'], intervalMs: 500 }]);
  const frame = dataFrameFromJSON(r.body.results.B.frames[0]);
  expect(frame.fields.map((f) => [f.name, f.type])).toEqual([
    ['time', FieldType.time],
    ['plant/boiler/temperature', FieldType.number],
    ['plant/tank/level', FieldType.number],
  ]);
  expect(frame.fields[1].labels).toMatchObject({ instance: 'scada', device: 'plant', term: 'boiler', item: 'temperature' });

  // The devices table: the last value and quality of every point.
  const t = await s.query([{ refId: 'T', instance: 'scada', kind: 'object', channels: ['devices'] }]);
  const table = dataFrameFromJSON(t.body.results.T.frames[0]);
  const col = (name: string) => table.fields.find((f) => f.name === name)!.values as unknown[];
  const row = col('item').indexOf('temperature');
  expect(col('value')[row]).toBe(TEMPERATURE);
  expect(col('quality')[row]).toBe('good');
  expect(col('status')[row]).toBe('connected');
});

test('a live WebSocket subscription on scada channels receives rows as the device is polled', async () => {
  const c = await LiveClient.open(s.wsUrl, { key: READ_KEY });
  const subscribedAt = Date.now();
  try {
    c.send({
      type: 'subscribe',
      id: 'L',
      request: { instance: 'scada', channels: ['plant/boiler/temperature', 'plant/tank/level'], intervalMs: 200, backfillMs: 0 },
    });
    await c.waitFor((m) => m.type === 'subscribed' && m.id === 'L');
    const frames = await c.waitRows('L', 5, 10_000);
    expect(frames[0].schema.fields.map((f: Json) => f.name)).toEqual(['time', 'plant/boiler/temperature', 'plant/tank/level']);
    const temps = frames.flatMap((f) => f.data.values[1] as Array<number | null>).filter((v) => v !== null);
    expect(temps.length).toBeGreaterThan(0);
    expect(new Set(temps)).toEqual(new Set([TEMPERATURE]));
    const times = frames.flatMap((f) => f.data.values[0] as number[]);
    // Live rows are strictly increasing, and new: buckets that closed after the subscription began (no backfill asked).
    expect(times.every((t, i) => i === 0 || t > times[i - 1])).toBe(true);
    expect(times[times.length - 1] + 200).toBeGreaterThan(subscribedAt);
  } finally {
    await c.close();
  }
});

test('REST reads; writes need the control key (403 with a read key, nothing written)', async () => {
  expect((await s.call('GET', '/api/v1/devices', { key: null })).status).toBe(401);
  const devices = await s.call('GET', '/api/v1/devices');
  expect(devices.status).toBe(200);
  expect(devices.body.map((d: Json) => d.id)).toEqual(['plant']);
  const links = await s.call('GET', '/api/v1/terms/boiler/items');
  expect(links.body.map((l: Json) => l.id)).toEqual(['boiler:flow', 'boiler:pump', 'boiler:setpoint', 'boiler:temperature']);

  const denied = await s.call('POST', '/api/v1/items', { body: { id: 'denied', name: 'Denied' } });
  expect(denied).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
  expect((await s.call('GET', '/api/v1/items/denied')).status).toBe(404);

  const bad = await s.call('POST', '/api/v1/devices', { key: CONTROL_KEY, body: { ...plantDevice('bad', 1), port: 'x' } });
  expect(bad).toMatchObject({ status: 400, body: { error: { field: 'port' } } });
  expect((await s.call('GET', '/api/v1/devices/bad')).status).toBe(404);
});

test('device_call reads now; device_ctrl writes a writable link and answers the read-back', async () => {
  const called = await s.call('POST', '/api/v1/device_call', { body: { device_id: 'plant', term_id: 'boiler', item_id: 'temperature' } });
  expect(called.status).toBe(200);
  expect(called.body.readings).toEqual([expect.objectContaining({ linkId: 'boiler:temperature', value: TEMPERATURE, quality: 'good' })]);

  const ctrl = { device_id: 'plant', term_id: 'boiler', item_id: 'setpoint', value: 6.25 };
  expect(sim.get(1, 'setpoint')).toBeCloseTo(SETPOINT0, 9);
  expect(await s.call('POST', '/api/v1/device_ctrl', { body: ctrl })).toMatchObject({
    status: 403,
    body: { error: { code: 'FORBIDDEN' } },
  });
  expect(sim.get(1, 'setpoint')).toBeCloseTo(SETPOINT0, 9);

  const written = await s.call('POST', '/api/v1/device_ctrl', { key: CONTROL_KEY, body: ctrl });
  expect(written.status).toBe(200);
  expect(written.body).toMatchObject({ series: 'boiler:setpoint', reading: { value: 6.25, quality: 'good', functionCode: 6 } });
  // The register itself changed: int16 625 at scale 0.01.
  expect(sim.get(1, 'setpoint')).toBeCloseTo(6.25, 9);

  const coil = await s.call('POST', '/api/v1/device_ctrl', {
    key: CONTROL_KEY,
    body: { device_id: 'plant', term_id: 'boiler', item_id: 'pump', value: false },
  });
  expect(coil.body.reading).toMatchObject({ value: 0, quality: 'good', functionCode: 5 });
  expect(Number(sim.get(1, 'pump'))).toBe(0);

  // The next polls store the new value: the query shows it.
  await until('the written setpoint in the store', async () =>
    (await queryValues('plant/boiler/setpoint')).some((v) => Math.abs(v - 6.25) < 1e-9),
  );

  // A link not marked writable is refused before anything reaches the device.
  const ro = await s.call('POST', '/api/v1/device_ctrl', {
    key: CONTROL_KEY,
    body: { device_id: 'plant', term_id: 'boiler', item_id: 'temperature', value: 1 },
  });
  expect(ro).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN', field: 'item_id' } } });
  expect(sim.get(1, 'temperature')).toBe(TEMPERATURE);
});

test('a device created through REST is polled at once; deleting it stops its polling and removes its channels', async () => {
  const other = await startPlantSimulator();
  try {
    const post = (path: string, body: unknown) => s.call('POST', path, { key: CONTROL_KEY, body });
    expect((await post('/api/v1/devices', plantDevice('rest-plc', other.port))).status).toBe(201);
    expect((await post('/api/v1/terms', { id: 'rest-unit', name: 'REST unit', deviceId: 'rest-plc', address: 1 })).status).toBe(201);
    // Items are shared: the config's `temperature` item, placed on the new term.
    const link = await post('/api/v1/terms/rest-unit/items', {
      itemId: 'temperature',
      table: 'holding',
      address: 0,
      dataType: 'float32',
      byteOrder: 'CDAB',
    });
    expect(link).toMatchObject({ status: 201, body: { id: 'rest-unit:temperature' } });

    await until('the new channel', async () => (await scadaChannels(s)).includes('rest-plc/rest-unit/temperature'));
    const values = await until('values of the new device', async () => {
      const v = await queryValues('rest-plc/rest-unit/temperature');
      return v.length >= 2 ? v : undefined;
    });
    expect(new Set(values)).toEqual(new Set([TEMPERATURE]));
    expect(other.stats().requests).toBeGreaterThan(0);

    // Delete: read key refused, control key removes the device with its term and link.
    expect((await s.call('DELETE', '/api/v1/devices/rest-plc')).status).toBe(403);
    const del = await s.call('DELETE', '/api/v1/devices/rest-plc', { key: CONTROL_KEY });
    expect(del).toEqual({
      status: 200,
      body: { deleted: { devices: ['rest-plc'], terms: ['rest-unit'], items: [], links: ['rest-unit:temperature'] } },
    });

    await until('the channel to go', async () => !(await scadaChannels(s)).includes('rest-plc/rest-unit/temperature'));
    await until('the poller to stop', async () => !s.manager.status().some((d) => d.deviceId === 'rest-plc'));
    // No more requests reach the deleted device (one already on the wire may still land).
    await sleep(300);
    const after = other.stats().requests;
    await sleep(700);
    expect(other.stats().requests).toBe(after);
    expect((await s.call('GET', '/api/v1/devices/rest-plc')).status).toBe(404);
    const q = await s.query([{ refId: 'A', instance: 'scada', channels: ['rest-plc/rest-unit/temperature'] }]);
    expect(q.body.results.A).toMatchObject({ status: 404, frames: [] });
    // The config's device is untouched.
    expect(s.manager.deviceStatus('plant')?.state).toBe('connected');
  } finally {
    await other.close();
  }
});

test('a config model with a broken reference refuses to start, naming the field', async () => {
  const model = plantModel(sim.port);
  model.terms![1] = { ...model.terms![1], deviceId: 'nowhere' };
  await expect(startE2ESidecar({ model })).rejects.toMatchObject({ code: 'BAD_PARAMS', field: 'model.terms.1.deviceId' });
});
