/**
 * The `scada` data source end to end: model → DeviceManager → Modbus simulator over loopback
 * → memory store → data source (directly and through the registry), values equal to what
 * the simulator serves.
 */
import pino from 'pino';
import { createScadaDataSourceClass, DEVICES_CHANNEL, MODEL_CHANNEL, ScadaDataSource } from '../../../src/sidecar/datasources/scada';
import type { DataSource } from '../../../src/sidecar/registry/datasource';
import { Registry } from '../../../src/sidecar/registry/registry';
import type { AppContext, Resampled, SeriesSet, TableObject, TreeObject } from '../../../src/sidecar/registry/types';
import { DeviceManager } from '../../../src/sidecar/scada/manager';
import { linkId } from '../../../src/sidecar/scada/model/schemas';
import type { ModbusSimulator } from '../../../src/sidecar/scada/drivers/modbus/simulator';
import { QUALITY_CODE } from '../../../src/sidecar/core/quality';
import { createStore, type Store } from '../../../src/sidecar/store';
import {
  deleteDevice,
  LEVEL,
  latestOf,
  patchDevice,
  putDevice,
  putLink,
  silent,
  sleep,
  startSim,
  TEMP,
  waitFor,
} from '../manager/fixtures';

jest.setTimeout(60_000);

const app: AppContext = { logger: pino({ level: 'silent' }), baseDir: '/', version: 'test' };
const TEMP_CH = 'd1/d1_u1/temp';
const LEVEL_CH = 'd1/d1_u2/level';
const SET_CH = 'd1/d1_u1/setpoint';
const TEMP_ID = linkId('d1_u1', 'temp');

let sim: ModbusSimulator;
let store: Store;
let manager: DeviceManager;
let ds: DataSource;

beforeEach(async () => {
  sim = await startSim();
  store = await createStore({ backend: 'memory', rollup: { resolutionMs: 1000 } }, { logger: silent, env: {} });
  await putDevice(store, 'd1', sim.port);
  manager = new DeviceManager({ store, logger: silent, debounceMs: 10, leaseTtlMs: 900 });
  await manager.start();
  const Scada = createScadaDataSourceClass({ store, manager });
  ds = new Scada(app, 'default', {});
  await ds.initialize();
  await waitFor(
    'temp and level stored',
    async () => (await latestOf(store, TEMP_ID))?.quality === 'good' && (await latestOf(store, linkId('d1_u2', 'level'))) !== undefined,
  );
});

afterEach(async () => {
  await ds.finalize();
  await manager.stop();
  await store.close();
  await sim.close();
});

const names = async () => (await ds.getChannels()).map((c) => c.name);

test('channels: one per link named device/term/item with unit, labels and metadata, plus devices and model', async () => {
  const channels = await ds.getChannels();
  expect(channels.map((c) => c.name)).toEqual(['d1/d1_u1/fixed', SET_CH, TEMP_CH, LEVEL_CH, DEVICES_CHANNEL, MODEL_CHANNEL]);
  const temp = channels.find((c) => c.name === TEMP_CH)!;
  expect(temp).toMatchObject({
    type: 'timeseries',
    unit: 'degC',
    labels: { area: 'north', device: 'd1', term: 'd1_u1', item: 'temp' },
    seriesId: TEMP_ID,
    dataType: 'float32',
    writable: false,
    quality: 'good',
  });
  expect(typeof temp.description).toBe('string');
  expect(channels.find((c) => c.name === SET_CH)).toMatchObject({ writable: true, dataType: 'int16', unit: '%' });
  expect(channels.find((c) => c.name === DEVICES_CHANNEL)!.type).toBe('table');
  expect(channels.find((c) => c.name === MODEL_CHANNEL)!.type).toBe('tree');
});

test('getTimeseries raw and resampled (from rollups) give the values the simulator serves', async () => {
  await sleep(1100); // samples in more than one rollup slot
  const to = Date.now() + 1;
  const raw = (await ds.getTimeseries([TEMP_CH, LEVEL_CH], 60_000, to)) as SeriesSet;
  expect(Object.keys(raw)).toEqual([TEMP_CH, LEVEL_CH]);
  expect(raw[TEMP_CH].times.length).toBeGreaterThan(1);
  expect([...new Set(raw[TEMP_CH].values)]).toEqual([TEMP]);
  expect([...new Set(raw[LEVEL_CH].values)]).toEqual([LEVEL]);

  expect(store.canUseRollups(1000, 'mean')).toBe(true);
  const grid = (await ds.getTimeseries([TEMP_CH, LEVEL_CH], 10_000, Math.floor(to / 1000) * 1000, 1000, 'mean')) as Resampled;
  expect(grid.names).toEqual([TEMP_CH, LEVEL_CH]);
  expect(grid.interval).toBe(1000);
  const temps = [...grid.columns[0]].filter((v) => !Number.isNaN(v));
  expect(temps.length).toBeGreaterThan(0);
  for (const v of temps) expect(v).toBeCloseTo(TEMP, 9);
  const levels = [...grid.columns[1]].filter((v) => !Number.isNaN(v));
  expect(levels.every((v) => v === LEVEL)).toBe(true);

  // An interval rollups cannot answer (median) goes through raw samples: same values.
  const med = (await ds.getTimeseries([LEVEL_CH], 10_000, to, 500, 'median')) as Resampled;
  expect([...med.columns[0]].filter((v) => !Number.isNaN(v)).every((v) => v === LEVEL)).toBe(true);

  await expect(ds.getTimeseries(['d1/nope/x'], 1000, to)).rejects.toMatchObject({ code: 'UNKNOWN_CHANNEL', field: 'channels' });
  await expect(ds.getTimeseries([DEVICES_CHANNEL], 1000, to)).rejects.toThrow(/object channel/);
});

test('through the registry: the bound class registers as `scada` and answers the normalized contract', async () => {
  const registry = new Registry({ plugins: new Map([['scada', createScadaDataSourceClass({ store, manager })]]), app });
  try {
    const report = await registry.start([{ id: 'plant', plugin: 'scada', params: {} }]);
    expect(report.failed).toEqual([]);
    const h = registry.get('plant');
    expect(h.canPush).toBe(true);
    const to = Date.now() + 1;
    const set = await h.timeseries([LEVEL_CH], 60_000, to);
    expect(set[LEVEL_CH].values[0]).toBe(LEVEL);
    const grid = await h.timeseries([LEVEL_CH, TEMP_CH], 60_000, to, 0);
    expect(grid.names).toEqual([LEVEL_CH, TEMP_CH]);
    const objects = await h.objects([DEVICES_CHANNEL, MODEL_CHANNEL], 60_000, to);
    expect(objects[DEVICES_CHANNEL].type).toBe('table');
    // Params are checked: unknown ones are refused with the field named.
    const bad = await registry.start([{ id: 'bad', plugin: 'scada', params: { nope: 1 } }]);
    expect(bad.failed[0]).toMatchObject({ id: 'bad', field: 'params.nope' });
  } finally {
    await registry.stop();
  }
});

test('subscribe pushes the bus samples of the requested channels, renamed, and stops on unsubscribe', async () => {
  const got: SeriesSet[] = [];
  const off = await ds.subscribe!([SET_CH], (batch) => got.push(batch));
  await manager.control('d1', linkId('d1_u1', 'setpoint'), 77);
  await waitFor('77 pushed', () => got.some((b) => b[SET_CH]?.values.includes(77)));
  for (const b of got) expect(Object.keys(b)).toEqual([SET_CH]);
  off();
  const n = got.length;
  await manager.control('d1', linkId('d1_u1', 'setpoint'), 78);
  await sleep(200);
  expect(got.length).toBe(n);
  expect(() => ds.subscribe!(['nope'], () => {})).toThrow(/unknown timeseries channel/);
});

test('getObject: the devices table and the model tree with last values, quality and status', async () => {
  const to = Date.now();
  const objs = await ds.getObject([DEVICES_CHANNEL, MODEL_CHANNEL], 60_000, to);
  const table = objs[DEVICES_CHANNEL] as TableObject;
  expect(table.columns.map((c) => c.name)).toEqual(['device', 'term', 'item', 'value', 'quality', 'time', 'unit', 'status', 'text']);
  const row = (item: string) => table.rows.find((r) => r[2] === item)!;
  expect(row('temp').slice(0, 5)).toEqual(['d1', 'd1_u1', 'temp', TEMP, 'good']);
  expect(row('temp')[6]).toBe('degC');
  expect(row('temp')[7]).toBe('connected');
  expect(typeof row('temp')[5]).toBe('number');
  expect(row('level').slice(0, 5)).toEqual(['d1', 'd1_u2', 'level', LEVEL, 'good']);

  const tree = objs[MODEL_CHANNEL] as TreeObject;
  expect(tree.root.name).toBe('scada');
  const d1 = tree.root.children![0];
  expect(d1).toMatchObject({ name: 'd1', value: 'connected' });
  expect(d1.children!.map((t) => [t.name, t.value])).toEqual([
    ['d1_u1', 1],
    ['d1_u2', 2],
  ]);
  expect(d1.children![1].children).toEqual([{ name: 'level', value: LEVEL }]);
  expect(d1.children![0].children!.find((i) => i.name === 'temp')!.value).toBe(TEMP);

  await expect(ds.getObject([TEMP_CH], 1000, to)).rejects.toThrow(/timeseries channel/);
});

test('device down: comm_lost samples are NaN (a gap), the table keeps the last value with its quality; back: values again', async () => {
  await sim.setFault({ offline: true });
  sim.dropConnections();
  await waitFor('comm_lost', async () => (await latestOf(store, TEMP_ID))?.quality === 'comm_lost');
  const down = (await ds.getTimeseries([TEMP_CH], 60_000, Date.now() + 1)) as SeriesSet;
  const v = down[TEMP_CH].values;
  expect(v[0]).toBe(TEMP);
  expect(v[v.length - 1]).toBeNaN();
  const table = (await ds.getObject([DEVICES_CHANNEL], 60_000, Date.now()))[DEVICES_CHANNEL] as TableObject;
  const row = table.rows.find((r) => r[2] === 'temp')!;
  expect(row[3]).toBe(TEMP);
  expect(row[4]).toBe('comm_lost');
  expect(['backoff', 'connecting']).toContain(row[7]);
  expect((await ds.getChannels()).find((c) => c.name === TEMP_CH)!.quality).toBe('comm_lost');

  await sim.setFault({});
  await waitFor('good again', async () => (await latestOf(store, TEMP_ID))?.quality === 'good');
  const up = (await ds.getTimeseries([TEMP_CH], 60_000, Date.now() + 1)) as SeriesSet;
  expect(up[TEMP_CH].values[up[TEMP_CH].values.length - 1]).toBe(TEMP);
});

test('a non-good sample stored with a number is still masked to NaN (raw and pushed)', async () => {
  const pushed: SeriesSet[] = [];
  await ds.subscribe!([LEVEL_CH], (b) => pushed.push(b));
  const id = linkId('d1_u2', 'level');
  const t = Date.now() + 5;
  const batch = new Map([[id, { times: Float64Array.of(t), values: Float64Array.of(999), qualities: Uint8Array.of(QUALITY_CODE.bad) }]]);
  await store.append(batch);
  store.publishSamples(batch);
  const last = pushed.find((b) => b[LEVEL_CH].times[0] === t)!;
  expect(last[LEVEL_CH].values[0]).toBeNaN();
  expect(batch.get(id)!.values[0]).toBe(999); // the shared batch itself is untouched
  const raw = (await ds.getTimeseries([LEVEL_CH], 60_000, t + 1)) as SeriesSet;
  const i = [...raw[LEVEL_CH].times].indexOf(t);
  expect(raw[LEVEL_CH].values[i]).toBeNaN();
});

test('model events: a link added live becomes a channel with data; a disabled device keeps its channels; a deleted one loses them', async () => {
  await putLink(store, { termId: 'd1_u1', itemId: 'flag', table: 'coil', address: 0, dataType: 'bool', writable: true });
  await manager.settled();
  expect(await names()).toContain('d1/d1_u1/flag');
  await manager.control('d1', linkId('d1_u1', 'flag'), true);
  await waitFor('flag data', async () => {
    const s = (await ds.getTimeseries(['d1/d1_u1/flag'], 60_000, Date.now() + 1)) as SeriesSet;
    return s['d1/d1_u1/flag'].values.includes(1);
  });

  await patchDevice(store, 'd1', { enabled: false });
  await manager.settled();
  expect(await names()).toContain(TEMP_CH); // history stays reachable
  const table = (await ds.getObject([DEVICES_CHANNEL], 1000, Date.now()))[DEVICES_CHANNEL] as TableObject;
  expect(table.rows.every((r) => r[7] === 'disabled')).toBe(true);

  await deleteDevice(store, 'd1');
  await store.deleteObjects('link', [linkId('d1_u1', 'flag')], { publish: true });
  await manager.settled();
  expect(await names()).toEqual([DEVICES_CHANNEL, MODEL_CHANNEL]);
  await expect(ds.getTimeseries([TEMP_CH], 1000, Date.now())).rejects.toMatchObject({ code: 'UNKNOWN_CHANNEL' });
  const tree = (await ds.getObject([MODEL_CHANNEL], 1000, Date.now()))[MODEL_CHANNEL] as TreeObject;
  expect(tree.root.children).toEqual([]);
});

test('the unbound class refuses to run without its dependencies', () => {
  expect(() => new ScadaDataSource(app, 'default', {}, undefined as never)).toThrow(/store and the device manager/);
});
