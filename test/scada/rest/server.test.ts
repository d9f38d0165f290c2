/**
 * The plugin inside the real server (`buildServer`, through its `routes` option as the
 * sidecar registers it): its auth hook and `requireControl`, its JSON parser and error replies.
 */
import { limitsSchema } from '../../../src/sidecar/config';
import SimulatorDataSource from '../../../src/sidecar/datasources/simulator';
import type { HandlerContext } from '../../../src/sidecar/handlers/context';
import { StreamHub } from '../../../src/sidecar/handlers/stream';
import { Registry } from '../../../src/sidecar/registry/registry';
import { scadaRestRoutes } from '../../../src/sidecar/server/routes/scada';
import { KeyStore, requireControl } from '../../../src/sidecar/server/auth';
import { buildServer, routePlugin } from '../../../src/sidecar/server/server';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../../../src/sidecar/store';
import { DEVICE, makeService, memoryStore, modelState, silent } from '../model/fixtures';
import { CONTROL_KEY, READ_KEY, RecordingManager, type Json } from './helpers';

let app: FastifyInstance;
let hub: StreamHub;
let registry: Registry;
let store: Store;
let base: string;

beforeAll(async () => {
  registry = new Registry({
    plugins: new Map([['simulator', SimulatorDataSource]]),
    app: { logger: silent, baseDir: process.cwd(), version: 'test' },
  });
  await registry.start([{ id: 'sim', plugin: 'simulator' }]);
  const ctx: HandlerContext = {
    registry,
    limits: limitsSchema.parse({}),
    version: 'test',
    startedAt: Date.now(),
    probes: [],
    now: Date.now,
  };
  hub = new StreamHub(ctx, { lingerMs: 0 });
  store = await memoryStore();
  app = await buildServer({
    ctx,
    hub,
    config: { corsOrigins: [], heartbeatMs: 10_000, idleTimeoutMs: 10_000, limits: ctx.limits },
    keys: new KeyStore({ apiKeys: [READ_KEY], controlKeys: [CONTROL_KEY] }),
    logger: silent,
    routes: [routePlugin(scadaRestRoutes, { service: makeService(store), store, manager: new RecordingManager(), requireControl })],
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await app?.close();
  await hub?.close();
  await registry?.stop();
  await store?.close();
});

const call = async (method: string, path: string, key: string | null, body?: unknown) => {
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Json };
};

test('roles: no key 401, read key reads but 403 on writes, control key writes', async () => {
  expect((await call('GET', '/api/v1/devices', null)).status).toBe(401);
  expect(await call('GET', '/api/v1/devices', READ_KEY)).toEqual({ status: 200, body: [] });
  const before = await modelState(store);
  const denied = await call('POST', '/api/v1/devices', READ_KEY, DEVICE);
  expect(denied).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
  expect(await modelState(store)).toEqual(before);
  const created = await call('POST', '/api/v1/devices', CONTROL_KEY, DEVICE);
  expect(created).toMatchObject({ status: 201, body: { id: 'plc1' } });
  expect((await call('GET', '/api/v1/devices/plc1', READ_KEY)).body.host).toBe('127.0.0.1');
});

test("errors in the server's shape: bad JSON, bad field, unknown id", async () => {
  expect(await call('POST', '/api/v1/items', CONTROL_KEY, '{"id": "x",')).toMatchObject({
    status: 400,
    body: { error: { code: 'BAD_REQUEST', field: 'body' } },
  });
  expect(await call('POST', '/api/v1/items', CONTROL_KEY, { id: 'x', name: 'X', unti: 'K' })).toMatchObject({
    status: 400,
    body: { error: { code: 'BAD_REQUEST', field: 'unti' } },
  });
  expect(await call('GET', '/api/v1/items/ghost', READ_KEY)).toMatchObject({
    status: 404,
    body: { error: { code: 'NOT_FOUND', field: 'item_id' } },
  });
  // The server's own routes are untouched.
  expect((await call('GET', '/api/health', READ_KEY)).status).toBe(200);
});
