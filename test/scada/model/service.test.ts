import pino from 'pino';
import { Writable } from 'node:stream';
import { AppError } from '../../../src/sidecar/errors';
import { ModelService } from '../../../src/sidecar/scada/model/service';
import type { Store } from '../../../src/sidecar/store';
import {
  DEVICE,
  DEVICE2,
  ITEM,
  ITEM2,
  LINK,
  LINK2,
  makeService,
  memoryStore,
  modelState,
  recordEvents,
  seedPlant,
  TERM,
  TERM2,
} from './fixtures';

async function expectError(p: Promise<unknown>, code: string, field?: string): Promise<AppError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  const e = err as AppError;
  expect({ code: e.code, field: e.field }).toEqual({ code, field });
  return e;
}

let store: Store;
let service: ModelService;

beforeEach(async () => {
  store = await memoryStore();
  service = makeService(store);
});
afterEach(async () => {
  await store.close();
});

describe('devices', () => {
  test('create fills defaults, list is sorted, get by id', async () => {
    const d2 = await service.createDevice(DEVICE2);
    const d1 = await service.createDevice(DEVICE);
    expect(d1).toMatchObject({
      id: 'plc1',
      port: 1502,
      enabled: true,
      timeoutMs: 1000,
      maxInFlight: 1,
      backoff: { initialMs: 500, maxMs: 30000 },
    });
    expect(d2.port).toBe(502);
    expect((await service.listDevices()).map((d) => d.id)).toEqual(['plc1', 'plc2']);
    expect(await service.getDevice('plc1')).toEqual(d1);
    // Stored as the schema's output, under its id (what the device manager parses).
    expect(await store.getObject('device', 'plc1')).toEqual(d1);
  });

  test('create refuses a duplicate id, unknown fields and bad values, naming the field', async () => {
    await service.createDevice(DEVICE);
    await expectError(service.createDevice(DEVICE), 'BAD_REQUEST', 'id');
    await expectError(service.createDevice({ ...DEVICE2, prot: 1 }), 'BAD_REQUEST', 'prot');
    await expectError(service.createDevice({ ...DEVICE2, port: 70000 }), 'BAD_REQUEST', 'port');
    await expectError(service.createDevice({ ...DEVICE2, id: 'bad id' }), 'BAD_REQUEST', 'id');
    await expectError(service.createDevice({ ...DEVICE2, protocol: 'bacnet' }), 'BAD_REQUEST', 'protocol');
    const { host: _h, ...noHost } = DEVICE2;
    const e = await expectError(service.createDevice(noHost), 'BAD_REQUEST', 'host');
    expect(e.message).toMatch(/required/);
  });

  test('PUT replaces the whole device; the path id wins, a different body id is a 400', async () => {
    await service.createDevice({ ...DEVICE, description: 'old', timeoutMs: 3000 });
    const { id: _id, ...body } = DEVICE;
    const d = await service.updateDevice('plc1', { ...body, name: 'renamed' });
    expect(d).toMatchObject({ id: 'plc1', name: 'renamed', timeoutMs: 1000 });
    expect(d.description).toBeUndefined(); // full replace, not a merge
    await expectError(service.updateDevice('plc1', { ...DEVICE, id: 'other' }), 'BAD_REQUEST', 'id');
    await expectError(service.updateDevice('nope', body), 'NOT_FOUND', 'device_id');
    await expectError(service.updateDevice('bad id', DEVICE), 'BAD_REQUEST', 'device_id');
    expect((await service.getDevice('plc1')).name).toBe('renamed');
  });

  test('an unchanged PUT writes nothing', async () => {
    const d = await service.createDevice(DEVICE);
    const rev = await store.modelRevision();
    await service.updateDevice('plc1', d);
    expect(await store.modelRevision()).toBe(rev);
  });

  test('get/delete of unknown or malformed ids: 404 / 400 naming the path parameter', async () => {
    await expectError(service.getDevice('nope'), 'NOT_FOUND', 'device_id');
    await expectError(service.getDevice('a/b'), 'BAD_REQUEST', 'device_id');
    await expectError(service.deleteDevice('nope'), 'NOT_FOUND', 'device_id');
  });
});

describe('terms', () => {
  beforeEach(async () => {
    await service.createDevice(DEVICE);
    await service.createDevice(DEVICE2);
  });

  test('needs an existing device', async () => {
    await expectError(service.createTerm({ ...TERM, deviceId: 'ghost' }), 'BAD_REQUEST', 'deviceId');
  });

  test('address must fit the device protocol (Modbus unit id 0-255)', async () => {
    const e = await expectError(service.createTerm({ ...TERM, address: 256 }), 'BAD_REQUEST', 'address');
    expect(e.message).toMatch(/unit id/);
    await service.createTerm({ ...TERM, address: 0 });
  });

  test('address unique per device, free on another device', async () => {
    await service.createTerm(TERM);
    const e = await expectError(service.createTerm({ ...TERM2, address: TERM.address }), 'BAD_REQUEST', 'address');
    expect(e.message).toMatch(/unit1/);
    await service.createTerm({ ...TERM2, deviceId: 'plc2', address: TERM.address });
    // Moving unit2 onto plc1 with the same address collides again.
    await expectError(service.updateTerm('unit2', { ...TERM2, address: TERM.address }), 'BAD_REQUEST', 'address');
    // A term may keep its own address on PUT.
    await service.updateTerm('unit1', { ...TERM, name: 'renamed' });
  });

  test('listTerms by device; 404 for an unknown device', async () => {
    await service.createTerm(TERM);
    await service.createTerm({ ...TERM2, deviceId: 'plc2' });
    expect((await service.listTerms({ deviceId: 'plc1' })).map((t) => t.id)).toEqual(['unit1']);
    expect((await service.listTerms()).map((t) => t.id)).toEqual(['unit1', 'unit2']);
    await expectError(service.listTerms({ deviceId: 'ghost' }), 'NOT_FOUND', 'device_id');
  });

  test('moving a term to another device carries its links', async () => {
    await service.createTerm(TERM);
    await service.createItem(ITEM);
    await service.createLink(LINK);
    await service.updateTerm('unit1', { ...TERM, deviceId: 'plc2' });
    const { links } = await service.callTargets('plc2');
    expect(links.map((l) => l.id)).toEqual(['unit1:temp']);
  });
});

describe('items and links', () => {
  beforeEach(async () => {
    await service.createDevice(DEVICE);
    await service.createTerm(TERM);
    await service.createTerm(TERM2);
    await service.createItem(ITEM);
    await service.createItem(ITEM2);
  });

  test('item CRUD', async () => {
    await expectError(service.createItem(ITEM), 'BAD_REQUEST', 'id');
    await expectError(service.createItem({ id: 'x', name: '' }), 'BAD_REQUEST', 'name');
    await expectError(service.createItem({ id: 'x', name: 'X', labels: { a: 1 } }), 'BAD_REQUEST', 'labels.a');
    const up = await service.updateItem('temp', { name: 'Temp', unit: 'K', labels: { area: 'north' } });
    expect(up).toEqual({ id: 'temp', name: 'Temp', unit: 'K', labels: { area: 'north' } });
    expect((await service.listItems()).map((i) => i.id)).toEqual(['pressure', 'temp']);
  });

  test('a link has an id = series id, defaults filled, and needs its term and item', async () => {
    const l = await service.createLink(LINK);
    expect(l).toMatchObject({
      id: 'unit1:temp',
      termId: 'unit1',
      itemId: 'temp',
      byteOrder: 'ABCD',
      offset: 0,
      writable: false,
      writeFunction: 'single',
    });
    // Stored without the id (the key is the id), so the strict link schema parses it.
    expect(await store.getObject('link', 'unit1:temp')).not.toHaveProperty('id');
    await expectError(service.createLink({ ...LINK, termId: 'ghost' }), 'BAD_REQUEST', 'termId');
    await expectError(service.createLink({ ...LINK, itemId: 'ghost' }), 'BAD_REQUEST', 'itemId');
    await expectError(service.createLink(LINK), 'BAD_REQUEST', 'itemId'); // duplicate
    await expectError(service.createLink({ ...LINK2, dataType: 'bool' }), 'BAD_REQUEST', 'dataType');
    await expectError(service.createLink({ ...LINK2 }, 'unit2'), 'BAD_REQUEST', 'termId'); // path vs body
    const { termId: _t, ...noTerm } = LINK2;
    await expectError(service.createLink(noTerm, 'ghost'), 'NOT_FOUND', 'term_id');
    expect((await service.createLink(noTerm, 'unit2')).id).toBe('unit2:pressure');
  });

  test('a GET answer can be PUT back; a wrong id in it is a 400', async () => {
    const l = await service.createLink(LINK);
    expect(await service.updateLink('unit1', 'temp', { ...l, scale: 2 })).toMatchObject({ id: 'unit1:temp', scale: 2 });
    await expectError(service.updateLink('unit1', 'temp', { ...l, id: 'unit1:pressure' }), 'BAD_REQUEST', 'id');
    await expectError(service.updateLink('unit1', 'temp', { ...l, itemId: 'pressure' }), 'BAD_REQUEST', 'itemId');
    await expectError(service.updateLink('unit1', 'pressure', LINK2), 'NOT_FOUND', 'item_id');
    await expectError(service.getLink('unit1', 'pressure'), 'NOT_FOUND', 'item_id');
    await expectError(service.getLink('ghost', 'temp'), 'NOT_FOUND', 'term_id');
  });

  test('Modbus address ranges: partial overlaps rejected, identical ranges and other tables/terms allowed', async () => {
    await service.createLink(LINK); // holding 10-11
    await service.createItem({ id: 'a', name: 'A' });
    await service.createItem({ id: 'b', name: 'B' });
    await service.createItem({ id: 'c', name: 'C' });
    // uint16 at 11 overlaps the float32's second register.
    const e = await expectError(service.createLink({ ...LINK, itemId: 'a', address: 11, dataType: 'uint16' }), 'BAD_REQUEST', 'address');
    expect(e.message).toMatch(/holding register 11 overlaps holding registers 10-11 of link unit1:temp/);
    // int64 at 8 covers 8-11.
    await expectError(service.createLink({ ...LINK, itemId: 'a', address: 8, dataType: 'int64' }), 'BAD_REQUEST', 'address');
    // The same registers read another way: identical range, allowed.
    await service.createLink({ ...LINK, itemId: 'a', dataType: 'int32', byteOrder: 'CDAB' });
    // Two bits of one register: identical ranges.
    await service.createLink({ termId: 'unit1', itemId: 'b', table: 'holding', address: 20, dataType: 'bit', bit: 0 });
    await service.createLink({ termId: 'unit1', itemId: 'c', table: 'holding', address: 20, dataType: 'bit', bit: 1 });
    // Another table, another term: independent address spaces.
    await service.createLink({ termId: 'unit1', itemId: 'pressure', table: 'input', address: 11, dataType: 'uint16' });
    await service.createLink({ termId: 'unit2', itemId: 'temp', table: 'holding', address: 11, dataType: 'uint16' });
    // A PUT that moves a link onto another's range is checked too.
    await expectError(
      service.updateLink('unit1', 'pressure', { table: 'holding', address: 19, dataType: 'int32' }),
      'BAD_REQUEST',
      'address',
    );
  });

  test("overlap: 'warn' accepts a partial overlap and logs it", async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
    const lenient = new ModelService(store, { overlap: 'warn', logger });
    await lenient.createLink(LINK);
    await lenient.createLink({ ...LINK2, address: 11 });
    expect(lines.join('')).toMatch(/overlaps/);
    expect((await lenient.listLinks()).length).toBe(2);
    // The old overlap does not block unrelated writes through the strict service.
    await service.createLink({ termId: 'unit2', itemId: 'temp', table: 'holding', address: 0, dataType: 'uint16' });
  });

  test('listLinks by term (404 for unknown) and by item', async () => {
    await service.createLink(LINK);
    await service.createLink(LINK2);
    await service.createLink({ ...LINK, termId: 'unit2' });
    expect((await service.listLinks({ termId: 'unit1' })).map((l) => l.id)).toEqual(['unit1:pressure', 'unit1:temp']);
    expect((await service.listLinks({ itemId: 'temp' })).map((l) => l.id)).toEqual(['unit1:temp', 'unit2:temp']);
    await expectError(service.listLinks({ termId: 'ghost' }), 'NOT_FOUND', 'term_id');
  });
});

describe('cascading deletes', () => {
  beforeEach(async () => {
    await seedPlant(service);
  });

  test('deleting a device removes its terms and their links in ONE atomic write, with model events', async () => {
    const events = recordEvents(store);
    const writes = jest.spyOn(store, 'writeObjects');
    const before = await store.modelRevision();
    const summary = await service.deleteDevice('plc1');
    expect(summary).toEqual({
      devices: ['plc1'],
      terms: ['unit1', 'unit2'],
      items: [],
      links: ['unit1:pressure', 'unit1:pump', 'unit1:temp', 'unit2:temp'],
    });
    expect(writes).toHaveBeenCalledTimes(1);
    expect(writes.mock.calls[0][1]).toMatchObject({ publish: true, ifRevision: before });
    expect(await store.modelRevision()).toBe(before + 1);
    // One batch of events: the device manager learns it all at once.
    expect(events).toHaveLength(1);
    expect(events[0]).toEqual(
      expect.arrayContaining([
        { kind: 'device', op: 'delete', id: 'plc1' },
        { kind: 'term', op: 'delete', id: 'unit1' },
        { kind: 'term', op: 'delete', id: 'unit2' },
        { kind: 'link', op: 'delete', id: 'unit1:temp' },
        { kind: 'link', op: 'delete', id: 'unit1:pressure' },
        { kind: 'link', op: 'delete', id: 'unit1:pump' },
        { kind: 'link', op: 'delete', id: 'unit2:temp' },
      ]),
    );
    expect(events[0]).toHaveLength(7);
    // What's left: plc2 with its term and link, and every item.
    const m = await service.getModel();
    expect(m.devices.map((d) => d.id)).toEqual(['plc2']);
    expect(m.terms.map((t) => t.id)).toEqual(['unit3']);
    expect(m.links.map((l) => l.id)).toEqual(['unit3:temp']);
    expect(m.items.map((i) => i.id)).toEqual(['pressure', 'pump', 'temp']);
  });

  test('deleting a term removes its links', async () => {
    expect(await service.deleteTerm('unit2')).toEqual({ devices: [], terms: ['unit2'], items: [], links: ['unit2:temp'] });
    expect((await service.listLinks()).map((l) => l.id)).toEqual(['unit1:pressure', 'unit1:pump', 'unit1:temp', 'unit3:temp']);
  });

  test('deleting an item removes its links on every term', async () => {
    expect(await service.deleteItem('temp')).toEqual({
      devices: [],
      terms: [],
      items: ['temp'],
      links: ['unit1:temp', 'unit2:temp', 'unit3:temp'],
    });
    expect((await service.listLinks()).map((l) => l.id)).toEqual(['unit1:pressure', 'unit1:pump']);
  });

  test('deleting a link', async () => {
    expect(await service.deleteLink('unit1', 'pump')).toEqual({ devices: [], terms: [], items: [], links: ['unit1:pump'] });
    await expectError(service.deleteLink('unit1', 'pump'), 'NOT_FOUND', 'item_id');
  });

  test('a failing store write leaves the whole model as it was', async () => {
    const before = await modelState(store);
    jest.spyOn(store, 'writeObjects').mockRejectedValueOnce(new Error('store down'));
    await expect(service.deleteDevice('plc1')).rejects.toThrow('store down');
    expect(await modelState(store)).toEqual(before);
  });
});

describe('bulkLinks', () => {
  beforeEach(async () => {
    await service.createDevice(DEVICE);
    await service.createTerm(TERM);
    await service.createTerm(TERM2);
    for (const id of ['a', 'b', 'c', 'd']) await service.createItem({ id, name: id.toUpperCase() });
  });
  const L = (itemId: string, address: number, extra: object = {}) => ({
    termId: 'unit1',
    itemId,
    table: 'holding',
    address,
    dataType: 'uint16',
    ...extra,
  });

  test('writes all links in one revision, as a list or {links}', async () => {
    const before = await store.modelRevision();
    const out = await service.bulkLinks([L('a', 0), L('b', 1), L('c', 2)]);
    expect(out.map((l) => l.id)).toEqual(['unit1:a', 'unit1:b', 'unit1:c']);
    expect(await store.modelRevision()).toBe(before + 1);
    await service.bulkLinks({ links: [L('d', 3)] });
    expect((await service.listLinks()).length).toBe(4);
  });

  test.each([
    ['schema error', [L('a', 0), L('b', 1, { dataType: 'float128' })], 'links.1.dataType'],
    ['dangling term', [L('a', 0), L('b', 1), L('c', 2), L('d', 3, { termId: 'ghost' })], 'links.3.termId'],
    ['dangling item', [L('a', 0), L('ghost', 1)], 'links.1.itemId'],
    ['overlap within the request', [L('a', 0, { dataType: 'int32' }), L('b', 1)], 'links.1.address'],
    ['duplicate within the request', [L('a', 0), L('a', 0)], 'links.1.itemId'],
    ['unknown field', [L('a', 0, { adress: 1 })], 'links.0.adress'],
    ['wrong id', [L('a', 0, { id: 'unit1:b' })], 'links.0.id'],
    ['not an object', [L('a', 0), 42], 'links.1'],
  ])('%s: nothing written, the error names the index', async (_name, links, field) => {
    const before = await modelState(store);
    const e = await expectError(service.bulkLinks(links), 'BAD_REQUEST', field);
    expect(e.message).toContain(field);
    expect(await modelState(store)).toEqual(before);
  });

  test('existing links: refused in create mode, replaced in upsert mode', async () => {
    await service.createLink(L('a', 0));
    await expectError(service.bulkLinks([L('b', 1), L('a', 0)]), 'BAD_REQUEST', 'links.1.itemId');
    expect((await service.listLinks()).length).toBe(1);
    // Moving a to 5 while b takes 0: checked against the model as it will be, so no overlap.
    const out = await service.bulkLinks([L('b', 0), L('a', 5)], { mode: 'upsert' });
    expect(out.map((l) => [l.id, l.address])).toEqual([
      ['unit1:b', 0],
      ['unit1:a', 5],
    ]);
    // An overlap with an existing link names the new one.
    await expectError(service.bulkLinks([L('c', 9), L('d', 4, { dataType: 'int32' })]), 'BAD_REQUEST', 'links.1.address');
  });

  test('request shape errors', async () => {
    await expectError(service.bulkLinks({ links: 'x' }), 'BAD_REQUEST', 'links');
    await expectError(service.bulkLinks({ items: [] }), 'BAD_REQUEST', 'items');
    await expectError(service.bulkLinks(undefined), 'BAD_REQUEST', 'links');
    const small = makeService(store, { maxBulkLinks: 2 });
    await expectError(small.bulkLinks([L('a', 0), L('b', 1), L('c', 2)]), 'LIMIT_EXCEEDED', 'links');
    expect(await service.bulkLinks([])).toEqual([]);
  });
});

describe('loadFromConfig', () => {
  const MODEL = {
    devices: [DEVICE],
    terms: [TERM],
    items: [ITEM, ITEM2],
    links: [LINK, LINK2],
  };

  test('applies the model once; an unchanged restart writes and publishes nothing', async () => {
    const events = recordEvents(store);
    const first = await service.loadFromConfig(MODEL);
    expect(first.written).toBe(6);
    expect(events).toHaveLength(1);
    const state = await modelState(store);
    // A "restart": a new service on the same store, same config.
    const again = await makeService(store).loadFromConfig(JSON.parse(JSON.stringify(MODEL)));
    expect(again).toEqual({ written: 0, revision: state.revision });
    expect(await modelState(store)).toEqual(state);
    expect(events).toHaveLength(1);
  });

  test('upserts: a changed object is rewritten, API-created objects are kept', async () => {
    await service.loadFromConfig(MODEL);
    await service.createItem({ id: 'extra', name: 'Added through the API' });
    const r = await service.loadFromConfig({ ...MODEL, devices: [{ ...DEVICE, port: 2502 }] });
    expect(r.written).toBe(1);
    expect((await service.getDevice('plc1')).port).toBe(2502);
    expect((await service.getItem('extra')).name).toMatch(/API/);
  });

  test('errors name model.<kind>s.<i>.<field> and write nothing', async () => {
    const before = await modelState(store);
    await expectError(
      service.loadFromConfig({ ...MODEL, terms: [{ ...TERM, deviceId: 'ghost' }] }),
      'BAD_PARAMS',
      'model.terms.0.deviceId',
    );
    await expectError(
      service.loadFromConfig({ ...MODEL, links: [LINK, { ...LINK2, address: 11 }] }),
      'BAD_PARAMS',
      'model.links.1.address',
    );
    await expectError(service.loadFromConfig({ ...MODEL, devices: [DEVICE, DEVICE] }), 'BAD_PARAMS', 'model.devices.1.id');
    await expectError(service.loadFromConfig({ ...MODEL, items: [{ id: 'x' }] }), 'BAD_PARAMS', 'model.items.0.name');
    await expectError(service.loadFromConfig({ ...MODEL, extra: [] }), 'BAD_PARAMS', 'model.extra');
    expect(await modelState(store)).toEqual(before);
  });

  test('config objects may refer to objects already in the store', async () => {
    await service.createDevice(DEVICE2);
    await service.loadFromConfig({ terms: [{ ...TERM, deviceId: 'plc2' }] });
    expect((await service.getTerm('unit1')).deviceId).toBe('plc2');
  });
});

describe('concurrency', () => {
  beforeEach(async () => {
    await service.createDevice(DEVICE);
  });

  test('two writers (two sidecars) racing for one unit id: exactly one wins, the other is re-validated', async () => {
    const other = makeService(store); // no shared in-process queue: only ifRevision protects
    const writes = jest.spyOn(store, 'writeObjects');
    const results = await Promise.allSettled([service.createTerm(TERM), other.createTerm({ ...TERM2, address: TERM.address })]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(1);
    expect(failed[0].reason).toMatchObject({ code: 'BAD_REQUEST', field: 'address' });
    expect(await service.listTerms()).toHaveLength(1);
    // The loser's first write was refused by ifRevision (it had validated a stale model).
    const outcomes = await Promise.all(writes.mock.results.map((r) => r.value as Promise<{ ok: boolean }>));
    expect(outcomes.map((o) => o.ok)).toEqual([true, false]);
  });

  test('many concurrent writes through one service all land', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => service.createItem({ id: `i${i}`, name: `I${i}` })));
    expect(await service.listItems()).toHaveLength(20);
  });

  test('gives up with a 409 CONFLICT when the model keeps changing', async () => {
    // A store whose revision always looks stale, as if another writer always got in first.
    const racing = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'modelRevision') return async () => (await target.modelRevision()) - 1;
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const before = await modelState(store);
    await expectError(makeService(racing, { maxAttempts: 3 }).createItem(ITEM), 'CONFLICT', undefined);
    expect(await modelState(store)).toEqual(before);
  });
});

describe('device_call / device_ctrl targets', () => {
  beforeEach(async () => {
    await seedPlant(service);
  });

  test('callTargets narrows by term and item; unknown or foreign ids are 404 naming the field', async () => {
    expect((await service.callTargets('plc1')).links.map((l) => l.id)).toEqual([
      'unit1:pressure',
      'unit1:pump',
      'unit1:temp',
      'unit2:temp',
    ]);
    expect((await service.callTargets('plc1', 'unit2')).links.map((l) => l.id)).toEqual(['unit2:temp']);
    expect((await service.callTargets('plc1', undefined, 'temp')).links.map((l) => l.id)).toEqual(['unit1:temp', 'unit2:temp']);
    await expectError(service.callTargets('ghost'), 'NOT_FOUND', 'device_id');
    await expectError(service.callTargets('plc1', 'unit3'), 'NOT_FOUND', 'term_id');
    await expectError(service.callTargets('plc1', 'unit2', 'pressure'), 'NOT_FOUND', 'item_id');
    await expectError(service.callTargets('plc1', 'unit1', 'ghost'), 'NOT_FOUND', 'item_id');
  });

  test('controlTarget checks writable, table and value type', async () => {
    expect((await service.controlTarget('plc1', 'unit1', 'pressure', 3.5)).link.id).toBe('unit1:pressure');
    expect((await service.controlTarget('plc1', 'unit1', 'pump', true)).link.id).toBe('unit1:pump');
    await expectError(service.controlTarget('plc1', 'unit1', 'temp', 1), 'FORBIDDEN', 'item_id'); // not writable
    await expectError(service.controlTarget('plc1', 'unit1', 'pump', 'on'), 'BAD_REQUEST', 'value');
    await expectError(service.controlTarget('plc1', 'unit1', 'pressure', true), 'BAD_REQUEST', 'value');
    await expectError(service.controlTarget('plc1', 'unit1', 'pressure', Number.NaN), 'BAD_REQUEST', 'value');
    // Read-only tables cannot even be marked writable.
    await expectError(service.updateLink('unit1', 'temp', { ...LINK, table: 'input', writable: true }), 'BAD_REQUEST', 'writable');
    await service.createItem({ id: 'label', name: 'Label' });
    await service.createLink({
      termId: 'unit1',
      itemId: 'label',
      table: 'holding',
      address: 100,
      dataType: 'string',
      length: 2,
      writable: true,
    });
    expect((await service.controlTarget('plc1', 'unit1', 'label', 'ABCD')).link.id).toBe('unit1:label');
    await expectError(service.controlTarget('plc1', 'unit1', 'label', 'ABCDE'), 'BAD_REQUEST', 'value');
  });
});
