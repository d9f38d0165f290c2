import { QUALITY_CODE } from '../../../src/sidecar/core/quality';
import { DEVICE, DEVICE2, ITEM, ITEM2, LINK, LINK2, LINK3, modelState, seedPlant, TERM, TERM2 } from '../model/fixtures';
import { READ_KEY, startRest, type RestHarness } from './helpers';

let h: RestHarness;
afterEach(async () => {
  await h?.close();
});

describe('the PyDataColl paths', () => {
  beforeEach(async () => {
    h = await startRest();
  });

  test('protocols', async () => {
    const d = await h.request('GET', '/api/v1/device_protocols');
    expect(d.status).toBe(200);
    expect(d.body).toEqual([
      { protocol: 'modbus_tcp', title: 'Modbus TCP', supported: true },
      { protocol: 'iec104', title: 'IEC 60870-5-104', supported: false },
    ]);
    const t = await h.request('GET', '/api/v1/term_protocols');
    expect(t.body[0]).toEqual({ protocol: 'modbus_tcp', name: 'modbus', address: 'unit id (0-255)', minAddress: 0, maxAddress: 255 });
  });

  test('create, read, replace and delete every kind', async () => {
    // create: 201 with the stored object (defaults filled)
    let r = await h.request('POST', '/api/v1/devices', DEVICE);
    expect(r).toMatchObject({ status: 201, body: { id: 'plc1', port: 1502, enabled: true } });
    expect((await h.request('POST', '/api/v1/terms', TERM)).status).toBe(201);
    expect((await h.request('POST', '/api/v1/items', ITEM)).status).toBe(201);
    expect((await h.request('POST', '/api/v1/items', ITEM2)).status).toBe(201);
    r = await h.request('POST', '/api/v1/terms/unit1/items', LINK);
    expect(r).toMatchObject({ status: 201, body: { id: 'unit1:temp', termId: 'unit1', itemId: 'temp', byteOrder: 'ABCD' } });
    const { termId: _t, ...link2 } = LINK2;
    expect((await h.request('POST', '/api/v1/terms/unit1/items', link2)).body.id).toBe('unit1:pressure');

    // reads
    expect((await h.request('GET', '/api/v1/devices', undefined, READ_KEY)).body.map((d: { id: string }) => d.id)).toEqual(['plc1']);
    expect((await h.request('GET', '/api/v1/devices/plc1', undefined, READ_KEY)).body.host).toBe('127.0.0.1');
    expect((await h.request('GET', '/api/v1/devices/plc1/terms', undefined, READ_KEY)).body).toEqual([TERM]);
    expect((await h.request('GET', '/api/v1/terms', undefined, READ_KEY)).body).toEqual([TERM]);
    expect((await h.request('GET', '/api/v1/terms/unit1', undefined, READ_KEY)).body).toEqual(TERM);
    expect((await h.request('GET', '/api/v1/items', undefined, READ_KEY)).body).toEqual([ITEM2, ITEM]);
    expect((await h.request('GET', '/api/v1/items/temp', undefined, READ_KEY)).body).toEqual(ITEM);
    const links = (await h.request('GET', '/api/v1/terms/unit1/items', undefined, READ_KEY)).body;
    expect(links.map((l: { id: string }) => l.id)).toEqual(['unit1:pressure', 'unit1:temp']);
    const one = await h.request('GET', '/api/v1/terms/unit1/items/temp', undefined, READ_KEY);
    expect(one.body).toMatchObject({ id: 'unit1:temp', address: 10, dataType: 'float32' });

    // PUT: full replace, 200 with the object; a GET answer goes back as is
    r = await h.request('PUT', '/api/v1/devices/plc1', { ...DEVICE, name: 'Renamed', id: undefined });
    expect(r).toMatchObject({ status: 200, body: { id: 'plc1', name: 'Renamed' } });
    r = await h.request('PUT', '/api/v1/terms/unit1', { ...TERM, address: 7 });
    expect(r.body.address).toBe(7);
    r = await h.request('PUT', '/api/v1/items/temp', { name: 'T', unit: 'K' });
    expect(r.body).toEqual({ id: 'temp', name: 'T', unit: 'K' });
    r = await h.request('PUT', '/api/v1/terms/unit1/items/temp', { ...one.body, scale: 0.5 });
    expect(r).toMatchObject({ status: 200, body: { id: 'unit1:temp', scale: 0.5 } });

    // bulk
    await h.request('POST', '/api/v1/items', { id: 'a', name: 'A' });
    r = await h.request('POST', '/api/v2/term_items', {
      links: [{ termId: 'unit1', itemId: 'a', table: 'coil', address: 3, dataType: 'bool' }],
    });
    expect(r).toMatchObject({ status: 201, body: [{ id: 'unit1:a' }] });
    r = await h.request('POST', '/api/v2/term_items?mode=upsert', [
      { termId: 'unit1', itemId: 'a', table: 'coil', address: 4, dataType: 'bool' },
    ]);
    expect(r.body[0].address).toBe(4);

    // DELETE: 200 with what went, cascades included
    r = await h.request('DELETE', '/api/v1/terms/unit1/items/a');
    expect(r).toEqual({ status: 200, body: { deleted: { devices: [], terms: [], items: [], links: ['unit1:a'] } } });
    r = await h.request('DELETE', '/api/v1/items/pressure');
    expect(r.body.deleted).toEqual({ devices: [], terms: [], items: ['pressure'], links: ['unit1:pressure'] });
    r = await h.request('DELETE', '/api/v1/devices/plc1');
    expect(r.body.deleted).toEqual({ devices: ['plc1'], terms: ['unit1'], items: [], links: ['unit1:temp'] });
    r = await h.request('POST', '/api/v1/terms', TERM);
    expect(r).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST', field: 'deviceId' } } });
    r = await h.request('DELETE', '/api/v1/terms/unit1');
    expect(r).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND', field: 'term_id' } } });
  });

  test('a read key reads but may not write (403, nothing written)', async () => {
    await seedPlant(h.service);
    const before = await modelState(h.store);
    for (const [method, url, body] of [
      ['POST', '/api/v1/devices', { ...DEVICE, id: 'plc9' }],
      ['PUT', '/api/v1/devices/plc1', DEVICE],
      ['DELETE', '/api/v1/devices/plc1', undefined],
      ['POST', '/api/v1/terms', { ...TERM2, id: 'unit9', address: 9 }],
      ['DELETE', '/api/v1/terms/unit1', undefined],
      ['POST', '/api/v1/items', { id: 'x', name: 'X' }],
      ['DELETE', '/api/v1/items/temp', undefined],
      ['PUT', '/api/v1/terms/unit1/items/temp', LINK],
      ['DELETE', '/api/v1/terms/unit1/items/temp', undefined],
      ['POST', '/api/v2/term_items', []],
      ['POST', '/api/v1/device_ctrl', { device_id: 'plc1', term_id: 'unit1', item_id: 'pump', value: true }],
    ] as const) {
      const r = await h.request(method, url, body, READ_KEY);
      expect([method, url, r.status, r.body.error?.code]).toEqual([method, url, 403, 'FORBIDDEN']);
    }
    expect(await modelState(h.store)).toEqual(before);
    expect(h.manager.controls).toHaveLength(0);
    expect((await h.request('GET', '/api/v1/devices', undefined, null)).status).toBe(401);
    // device_call only reads: a read key may
    expect((await h.request('POST', '/api/v1/device_call', { device_id: 'plc1' }, READ_KEY)).status).toBe(200);
  });
});

describe('datas', () => {
  const DATAS = '/api/v1/devices/plc1/terms/unit1/items/temp/datas';
  const T0 = Date.now() - 60_000;

  beforeEach(async () => {
    h = await startRest({ maxSamples: 50 });
    await seedPlant(h.service);
    const n = 5;
    await h.store.append(
      new Map([
        [
          'unit1:temp',
          {
            times: Float64Array.from({ length: n }, (_, i) => T0 + i * 1000),
            values: Float64Array.from({ length: n }, (_, i) => (i === 3 ? NaN : 20 + i)),
            qualities: Uint8Array.from({ length: n }, (_, i) => (i === 3 ? QUALITY_CODE.bad : QUALITY_CODE.good)),
          },
        ],
      ]),
    );
  });

  test('recent samples, oldest first, with quality names and null for NaN', async () => {
    const r = await h.request('GET', DATAS, undefined, READ_KEY);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ device_id: 'plc1', term_id: 'unit1', item_id: 'temp', series: 'unit1:temp', truncated: false });
    expect(r.body.samples).toEqual([
      { time: T0, value: 20, quality: 'good' },
      { time: T0 + 1000, value: 21, quality: 'good' },
      { time: T0 + 2000, value: 22, quality: 'good' },
      { time: T0 + 3000, value: null, quality: 'bad' },
      { time: T0 + 4000, value: 24, quality: 'good' },
    ]);
  });

  test('limit keeps the newest; from/to bound the window (epoch ms or ISO)', async () => {
    let r = await h.request('GET', `${DATAS}?limit=2`, undefined, READ_KEY);
    expect(r.body.samples.map((s: { time: number }) => s.time)).toEqual([T0 + 3000, T0 + 4000]);
    expect(r.body.truncated).toBe(true);
    r = await h.request('GET', `${DATAS}?from=${T0 + 1000}&to=${T0 + 3000}`, undefined, READ_KEY);
    expect(r.body.samples.map((s: { value: number }) => s.value)).toEqual([21, 22]);
    r = await h.request('GET', `${DATAS}?from=${new Date(T0 + 4000).toISOString()}`, undefined, READ_KEY);
    expect(r.body.samples.map((s: { value: number }) => s.value)).toEqual([24]);
  });

  test('datas/:index: 0 is the latest, a newer unstored latest value counts, beyond is 404', async () => {
    expect((await h.request('GET', `${DATAS}/0`, undefined, READ_KEY)).body).toMatchObject({
      index: 0,
      time: T0 + 4000,
      value: 24,
      quality: 'good',
    });
    expect((await h.request('GET', `${DATAS}/4`, undefined, READ_KEY)).body).toMatchObject({ time: T0, value: 20 });
    const r = await h.request('GET', `${DATAS}/5`, undefined, READ_KEY);
    expect(r).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND', field: 'index' } } });
    // A reading the deadband kept out of the store still moves latest: it is #0 now.
    await h.store.setLatest(
      new Map([['unit1:temp', { times: Float64Array.of(T0 + 5000), values: Float64Array.of(24.1), qualities: Uint8Array.of(0) }]]),
    );
    expect((await h.request('GET', `${DATAS}/0`, undefined, READ_KEY)).body).toMatchObject({ time: T0 + 5000, value: 24.1 });
    expect((await h.request('GET', `${DATAS}/1`, undefined, READ_KEY)).body).toMatchObject({ time: T0 + 4000, value: 24 });
    const list = await h.request('GET', `${DATAS}?limit=2`, undefined, READ_KEY);
    expect(list.body.samples.map((s: { time: number }) => s.time)).toEqual([T0 + 4000, T0 + 5000]);
  });

  test('a link never polled answers an empty list, and 404 for #0', async () => {
    const url = '/api/v1/devices/plc1/terms/unit1/items/pump/datas';
    expect((await h.request('GET', url, undefined, READ_KEY)).body).toMatchObject({ samples: [], truncated: false });
    expect((await h.request('GET', `${url}/0`, undefined, READ_KEY)).status).toBe(404);
  });

  test.each([
    [`${DATAS}?limit=0`, 400, 'limit'],
    [`${DATAS}?limit=51`, 400, 'limit'],
    [`${DATAS}?limit=abc`, 400, 'limit'],
    [`${DATAS}?limt=5`, 400, 'limt'],
    [`${DATAS}?from=yesterday`, 400, 'from'],
    [`${DATAS}?from=10&to=5`, 400, 'from'],
    [`${DATAS}/-1`, 400, 'index'],
    [`${DATAS}/50`, 400, 'index'],
    [`${DATAS}/x`, 400, 'index'],
    ['/api/v1/devices/ghost/terms/unit1/items/temp/datas', 404, 'device_id'],
    ['/api/v1/devices/plc2/terms/unit1/items/temp/datas', 404, 'term_id'],
    ['/api/v1/devices/plc1/terms/unit1/items/ghost/datas', 404, 'item_id'],
    ['/api/v1/devices/plc1/terms/unit2/items/pressure/datas/0', 404, 'item_id'],
  ])('%s → %i naming %s', async (url, status, field) => {
    const r = await h.request('GET', url, undefined, READ_KEY);
    expect([r.status, r.body.error.field]).toEqual([status, field]);
  });
});

describe('device_call and device_ctrl', () => {
  test('no device manager: 503 NOT_READY (after the ids are checked)', async () => {
    h = await startRest({ withManager: false });
    await seedPlant(h.service);
    let r = await h.request('POST', '/api/v1/device_call', { device_id: 'plc1' });
    expect(r).toMatchObject({ status: 503, body: { error: { code: 'NOT_READY' } } });
    r = await h.request('POST', '/api/v1/device_ctrl', { device_id: 'plc1', term_id: 'unit1', item_id: 'pump', value: true });
    expect(r.status).toBe(503);
    r = await h.request('POST', '/api/v1/device_call', { device_id: 'ghost' });
    expect(r).toMatchObject({ status: 404, body: { error: { field: 'device_id' } } });
  });

  test('delegate to the manager with resolved link ids', async () => {
    h = await startRest();
    await seedPlant(h.service);
    let r = await h.request('POST', '/api/v1/device_call', { device_id: 'plc1' });
    expect(r).toMatchObject({ status: 200, body: { device_id: 'plc1', readings: [{ id: 'all' }] } });
    r = await h.request('POST', '/api/v1/device_call', { device_id: 'plc1', term_id: 'unit1', item_id: 'temp' });
    expect(r.body.readings).toEqual([{ id: 'unit1:temp', value: 1, quality: 'good', time: 1000 }]);
    r = await h.request('POST', '/api/v1/device_call', { device_id: 'plc1', item_id: 'temp' });
    expect(h.manager.calls.map((c) => c.linkIds)).toEqual([undefined, ['unit1:temp'], ['unit1:temp', 'unit2:temp']]);

    r = await h.request('POST', '/api/v1/device_ctrl', { device_id: 'plc1', term_id: 'unit1', item_id: 'pressure', value: 4.2 });
    expect(r).toMatchObject({
      status: 200,
      body: {
        device_id: 'plc1',
        term_id: 'unit1',
        item_id: 'pressure',
        series: 'unit1:pressure',
        reading: { id: 'unit1:pressure', value: 4.2 },
      },
    });
    expect(LINK3.writable).toBe(true);
    r = await h.request('POST', '/api/v1/device_ctrl', { device_id: 'plc1', term_id: 'unit1', item_id: 'pump', value: false });
    expect(r.status).toBe(200);
    expect(h.manager.controls).toEqual([
      { deviceId: 'plc1', linkId: 'unit1:pressure', value: 4.2 },
      { deviceId: 'plc1', linkId: 'unit1:pump', value: false },
    ]);
  });
});

/**
 * Bad input of every kind: answered 400/404 naming the field, and the model exactly as it
 * was (revision and every stored object).
 */
describe('bad input changes nothing', () => {
  let b: RestHarness;
  beforeAll(async () => {
    b = await startRest();
    await seedPlant(b.service);
    await b.service.createItem({ id: 'spare', name: 'Spare' });
  });
  afterAll(async () => {
    await b.close();
  });

  type Case = [name: string, method: string, url: string, body: unknown, status: 400 | 403 | 404, field: string | undefined];
  const CTRL = '/api/v1/device_ctrl';
  const LINKS = '/api/v1/terms/unit1/items';
  const reg = (extra: object) => ({ itemId: 'spare', table: 'holding', address: 90, dataType: 'uint16', ...extra });
  // prettier-ignore
  const cases: Case[] = [
    // wrong types
    ['device port as string', 'POST', '/api/v1/devices', { ...DEVICE2, id: 'plc9', port: '502' }, 400, 'port'],
    ['term address as string', 'POST', '/api/v1/terms', { ...TERM2, id: 'u9', address: '9' }, 400, 'address'],
    ['item labels not strings', 'POST', '/api/v1/items', { id: 'x', name: 'X', labels: { a: 1 } }, 400, 'labels.a'],
    ['link address negative', 'POST', LINKS, reg({ address: -1 }), 400, 'address'],
    ['body is a list', 'POST', '/api/v1/devices', [DEVICE2], 400, 'body'],
    ['body is not JSON', 'POST', '/api/v1/items', '{"id":', 400, 'body'],
    ['ctrl value object', 'POST', CTRL, { device_id: 'plc1', term_id: 'unit1', item_id: 'pump', value: { on: true } }, 400, 'value'],
    ['ctrl wrong value type', 'POST', CTRL, { device_id: 'plc1', term_id: 'unit1', item_id: 'pump', value: 'on' }, 400, 'value'],
    // unknown fields
    ['device typo', 'POST', '/api/v1/devices', { ...DEVICE2, id: 'plc9', hots: 'x' }, 400, 'hots'],
    ['term extra field', 'PUT', '/api/v1/terms/unit1', { ...TERM, unitId: 1 }, 400, 'unitId'],
    ['link typo', 'PUT', '/api/v1/terms/unit1/items/temp', { ...LINK, adress: 3 }, 400, 'adress'],
    ['device_call extra', 'POST', '/api/v1/device_call', { device_id: 'plc1', foo: 1 }, 400, 'foo'],
    ['unknown query', 'GET', '/api/v1/devices?verbose=1', undefined, 400, 'verbose'],
    ['bulk mode', 'POST', '/api/v2/term_items?mode=merge', [], 400, 'mode'],
    ['bulk unknown key', 'POST', '/api/v2/term_items', { link: [] }, 400, 'link'],
    // missing fields
    ['device without host', 'POST', '/api/v1/devices', { id: 'plc9', name: 'x', protocol: 'modbus_tcp' }, 400, 'host'],
    ['term without deviceId', 'POST', '/api/v1/terms', { id: 'u9', name: 'x', address: 9 }, 400, 'deviceId'],
    ['link without itemId', 'POST', LINKS, { table: 'holding', address: 90, dataType: 'uint16' }, 400, 'itemId'],
    ['string link without length', 'POST', LINKS, reg({ dataType: 'string' }), 400, 'length'],
    ['no body', 'POST', '/api/v1/items', undefined, 400, 'body'],
    ['ctrl without value', 'POST', CTRL, { device_id: 'plc1', term_id: 'unit1', item_id: 'pump' }, 400, 'value'],
    // bad ids
    ['bad device id in body', 'POST', '/api/v1/devices', { ...DEVICE2, id: 'plc 9' }, 400, 'id'],
    ['bad device id in path', 'GET', '/api/v1/devices/plc%209', undefined, 400, 'device_id'],
    ['bad term id in path', 'DELETE', '/api/v1/terms/a.b', undefined, 400, 'term_id'],
    ['path and body ids differ', 'PUT', '/api/v1/items/temp', { id: 'pressure', name: 'x' }, 400, 'id'],
    ['link path/body term differ', 'POST', LINKS, { ...LINK2, termId: 'unit2' }, 400, 'termId'],
    ['link id not its own', 'PUT', '/api/v1/terms/unit1/items/temp', { ...LINK, id: 'unit1:pump' }, 400, 'id'],
    ['existing device id', 'POST', '/api/v1/devices', DEVICE, 400, 'id'],
    // unknown ids
    ['unknown device', 'GET', '/api/v1/devices/ghost', undefined, 404, 'device_id'],
    ['unknown device terms', 'GET', '/api/v1/devices/ghost/terms', undefined, 404, 'device_id'],
    ['unknown item PUT', 'PUT', '/api/v1/items/ghost', { name: 'x' }, 404, 'item_id'],
    ['unknown term link list', 'GET', '/api/v1/terms/ghost/items', undefined, 404, 'term_id'],
    ['unknown link', 'DELETE', '/api/v1/terms/unit2/items/pump', undefined, 404, 'item_id'],
    ['ctrl term of another device', 'POST', CTRL, { device_id: 'plc1', term_id: 'unit3', item_id: 'temp', value: 1 }, 404, 'term_id'],
    // dangling references
    ['term on missing device', 'POST', '/api/v1/terms', { ...TERM2, id: 'u9', deviceId: 'ghost', address: 9 }, 400, 'deviceId'],
    ['link to missing item', 'POST', LINKS, reg({ itemId: 'ghost' }), 400, 'itemId'],
    ['link on missing term', 'POST', '/api/v1/terms/ghost/items', reg({}), 404, 'term_id'],
    ['bulk dangling term', 'POST', '/api/v2/term_items', [{ ...LINK, itemId: 'spare', address: 90 }, { ...LINK, termId: 'ghost' }], 400, 'links.1.termId'],
    ['term moved to missing device', 'PUT', '/api/v1/terms/unit1', { ...TERM, deviceId: 'ghost' }, 400, 'deviceId'],
    // duplicate addresses, overlaps, duplicates
    ['term unit id taken', 'POST', '/api/v1/terms', { ...TERM2, id: 'u9', address: TERM.address }, 400, 'address'],
    ['term unit id out of range', 'POST', '/api/v1/terms', { ...TERM2, id: 'u9', address: 300 }, 400, 'address'],
    ['link overlaps temp', 'POST', LINKS, reg({ address: 11 }), 400, 'address'],
    ['duplicate link', 'POST', LINKS, LINK, 400, 'itemId'],
    ['bulk overlap names the index', 'POST', '/api/v2/term_items', [{ ...LINK, termId: 'unit2', itemId: 'spare', address: 0 }, { ...LINK2, termId: 'unit2', address: 1 }], 400, 'links.1.address'],
    ['bulk duplicate at index 2', 'POST', '/api/v2/term_items', { links: [{ ...LINK2, termId: 'unit2', address: 5 }, { ...LINK3, termId: 'unit2' }, { ...LINK2, termId: 'unit2', address: 6 }] }, 400, 'links.2.itemId'],
    // writes the model does not allow
    ['writable input register', 'PUT', '/api/v1/terms/unit1/items/temp', { ...LINK, table: 'input', writable: true }, 400, 'writable'],
    ['ctrl not writable', 'POST', CTRL, { device_id: 'plc1', term_id: 'unit1', item_id: 'temp', value: 1 }, 403, 'item_id'],
  ];

  test.each(cases)('%s → %s %s answers %#', async (_name, method, url, body, status, field) => {
    const before = await modelState(b.store);
    const controls = b.manager.controls.length;
    const r = await b.request(method, url, body);
    expect(r.status).toBe(status);
    const code = { 400: 'BAD_REQUEST', 403: 'FORBIDDEN', 404: 'NOT_FOUND' }[status];
    expect(r.body.error).toMatchObject({ code, message: expect.any(String) });
    expect(r.body.error.field).toBe(field);
    if (status !== 404) expect(r.body.error.message).toContain(field);
    expect(await modelState(b.store)).toEqual(before);
    expect(b.manager.controls.length).toBe(controls);
  });
});

test('every GET checks its query string, and a read key gets 403 before a write route looks at its input', async () => {
  h = await startRest();
  await seedPlant(h.service);
  for (const url of ['/api/v1/devices/plc1?x=1', '/api/v1/terms/unit1/items?x=1', '/api/v1/device_protocols?x=1']) {
    expect(await h.request('GET', url, undefined, READ_KEY)).toMatchObject({ status: 400, body: { error: { field: 'x' } } });
  }
  expect((await h.request('POST', '/api/v2/term_items?mode=bad', 'not json', READ_KEY)).status).toBe(403);
});
