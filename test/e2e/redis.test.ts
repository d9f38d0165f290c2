/**
 * The same sidecar on a real Redis (`store: {redis: {url}}`): queries answer from Redis, the
 * model lives there and survives a sidecar restart, and a Redis that is down at start does
 * not stop the sidecar from starting (health degraded; the config's model and the polling
 * catch up once Redis is there).
 */
import { dataFrameFromJSON } from '@grafana/data';
import type { ModbusSimulator } from '../../src/sidecar/scada/drivers/modbus/simulator';
import type { StartOptions } from '../../src/sidecar/sidecar';
import { startRedisServer, type RedisServer } from '../helpers/redis-server';
import {
  CONTROL_KEY,
  plantModel,
  scadaChannels,
  startE2ESidecar,
  startPlantSimulator,
  TEMPERATURE,
  until,
  type E2ESidecar,
  type Json,
} from './harness';

let redis: RedisServer;
let sim: ModbusSimulator;
const open: E2ESidecar[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  sim = await startPlantSimulator();
});
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});
afterAll(async () => {
  await sim?.close();
  await redis?.stop();
});

async function start(keyPrefix: string, redisExtra: Json = {}, options: Partial<StartOptions> = {}): Promise<E2ESidecar> {
  const s = await startE2ESidecar({ model: plantModel(sim.port), store: { redis: { url: redis.url, keyPrefix, ...redisExtra } } }, options);
  open.push(s);
  return s;
}

/** Non-null values of `channel` in [from, to), from the query handler. */
async function between(s: E2ESidecar, channel: string, from: number, to: number): Promise<number[]> {
  const r = await s.call('POST', '/api/query', {
    body: { from, to, queries: [{ refId: 'A', instance: 'scada', channels: [channel], intervalMs: 100 }] },
  });
  if (r.status !== 200 || r.body.results.A.error) throw new Error(`query: ${r.status} ${JSON.stringify(r.body)}`);
  const field = dataFrameFromJSON(r.body.results.A.frames[0]).fields.find((f) => f.name === channel)!;
  return (field.values as Array<number | null>).filter((v): v is number => v !== null);
}

/** Non-null values of `channel` over the last `windowMs`. */
const values = (s: E2ESidecar, channel: string, windowMs = 3000): Promise<number[]> =>
  between(s, channel, Date.now() - windowMs, Date.now());

test('queries answer from Redis, and the model (config and REST) survives a sidecar restart', async () => {
  const prefix = 'e2e-restart:';
  const first = await start(prefix);
  expect(first.store.kind).toBe('redis');
  const health = await first.call('GET', '/api/health');
  expect(health.body.details.probes.store).toMatchObject({ status: 'ok' });

  const temps = await until('temperature samples in Redis', async () => {
    const v = await values(first, 'plant/boiler/temperature');
    return v.length >= 3 ? v : undefined;
  });
  expect(new Set(temps)).toEqual(new Set([TEMPERATURE]));

  // A link the config does not declare, added through the API: it lives only in Redis.
  const item = await first.call('POST', '/api/v1/items', { key: CONTROL_KEY, body: { id: 'hours', name: 'Running hours', unit: 'h' } });
  expect(item.status).toBe(201);
  const link = await first.call('POST', '/api/v1/terms/boiler/items', {
    key: CONTROL_KEY,
    body: { itemId: 'hours', table: 'holding', address: 10, dataType: 'uint32' },
  });
  expect(link.status).toBe(201);
  await until('the hours channel', async () => (await scadaChannels(first)).includes('plant/boiler/hours'));
  const firstHours = await until('hours samples', async () => {
    const v = await values(first, 'plant/boiler/hours');
    return v.length > 0 ? v : undefined;
  });
  await first.close();
  const stoppedAt = Date.now();
  open.splice(open.indexOf(first), 1);

  // Same config, new process state: the REST link is still there, from Redis.
  const second = await start(prefix);
  const links = await second.call('GET', '/api/v1/terms/boiler/items');
  expect(links.body.map((l: Json) => l.id)).toContain('boiler:hours');
  expect(await scadaChannels(second)).toContain('plant/boiler/hours');
  // The first run's samples are still there too (read by the second sidecar, from Redis).
  const before = await between(second, 'plant/boiler/hours', stoppedAt - 5000, stoppedAt);
  expect(before).toEqual(expect.arrayContaining(firstHours));
  // And the second polls on: the graceful stop released the device's lease, so it took it at once.
  const after = await until('new hours samples from the second sidecar', async () => {
    const v = await between(second, 'plant/boiler/hours', stoppedAt, Date.now() + 1);
    return v.length >= 2 ? v : undefined;
  });
  // A counter: it kept rising across the restart.
  expect(Math.min(...after)).toBeGreaterThan(Math.max(...firstHours));
  expect(second.manager.deviceStatus('plant')?.state).toBe('connected');
});

test('a Redis that is down at start does not stop the sidecar; the model and polling catch up when it comes back', async () => {
  await redis.stop();
  const s = await start('e2e-down:', { connectTimeoutMs: 300 });
  const down = await s.call('GET', '/api/health');
  // The sidecar answers; the store is not ok, and the config's model waits for it.
  expect(down.body.details.probes.store.status).not.toBe('ok');
  expect(down.body.details.probes.model).toMatchObject({ status: 'degraded' });
  expect(down.body.details.probes.model.message).toMatch(/not in the store yet/);

  await redis.start();
  const up = await until(
    'the model to be written and the device polled',
    async () => {
      const r = await s.call('GET', '/api/health');
      const p = r.body.details.probes;
      return p.store.status === 'ok' && p.model.status === 'ok' && p.devices.details.states?.connected === 1 ? r : undefined;
    },
    20_000,
  );
  expect(up.body.status).toBe('OK');
  const temps = await until('temperature samples', async () => {
    const v = await values(s, 'plant/boiler/temperature');
    return v.length >= 2 ? v : undefined;
  });
  expect(new Set(temps)).toEqual(new Set([TEMPERATURE]));
});

test("a Redis restart that loses everything: the config's model is written again and polling goes on", async () => {
  const s = await start('e2e-lost:', { reconnectMaxDelayMs: 200 }, { declaredModel: { watchMs: 100, retryMs: 100 } });
  await until('samples before the restart', async () => (await values(s, 'plant/boiler/temperature')).length > 0);
  // A REST object is not in the config: it is gone for good with Redis' data.
  expect((await s.call('POST', '/api/v1/items', { key: CONTROL_KEY, body: { id: 'extra', name: 'Extra' } })).status).toBe(201);

  await redis.restart(); // no persistence: an empty Redis on the same port
  const restartedAt = Date.now();
  const devices = await until('the config model back in Redis', async () => {
    const r = await s.call('GET', '/api/v1/devices');
    return r.status === 200 && r.body.length === 1 ? r.body : undefined;
  });
  expect(devices[0].id).toBe('plant');
  expect((await s.call('GET', '/api/v1/items/extra')).status).toBe(404);
  const after = await until('samples after the restart', async () => {
    const v = await between(s, 'plant/boiler/temperature', restartedAt, Date.now() + 1);
    return v.length >= 2 ? v : undefined;
  });
  expect(new Set(after)).toEqual(new Set([TEMPERATURE]));
  // Devices may report a failed write or two from the outage until their next good cycle.
  const health = await until('health ok again', async () => {
    const r = await s.call('GET', '/api/health');
    const p = r.body.details.probes;
    return p.model.status === 'ok' && p.store.status === 'ok' && p.devices.status === 'ok' ? r : undefined;
  });
  expect(health.body.status).toBe('OK');
});
