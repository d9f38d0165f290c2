/**
 * What only the Redis store has: surviving Redis going away (buffer, flush on reconnect,
 * health), the key layout, replay-safe writes, and several sidecars on one Redis.
 * A real redis-server per file; each test restarts or stops it as it needs.
 */
import Redis from 'ioredis';
import { APPEND_LUA } from '../../src/sidecar/store/redis/scripts';
import { createStore, RedisStore, type Store, type StoreConfigInput } from '../../src/sidecar/store';
import { encodeRows } from '../../src/sidecar/store/codec';
import type { SampleBatch } from '../../src/sidecar/core/samples';
import { startRedisServer, type RedisServer } from '../helpers/redis-server';
import { batchOf, cols, eventually, plain, silent, sleep, withDefaults } from './backends';

const T0 = Math.floor((Date.now() - 600_000) / 60_000) * 60_000;

let server: RedisServer;
const stores: Store[] = [];
const clients: Redis[] = [];
let prefixN = 0;

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server?.stop();
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  clients.splice(0).forEach((c) => c.disconnect());
  if (!server.running) await server.start();
});

async function make(config: StoreConfigInput = {}, prefix = `r${++prefixN}:`, waitReadyMs?: number): Promise<RedisStore> {
  const store = await createStore(
    { ...withDefaults(config, { url: server.url, keyPrefix: prefix }), backend: 'redis' },
    { logger: silent, env: {}, waitReadyMs },
  );
  stores.push(store);
  return store as RedisStore;
}

function client(): Redis {
  const c = new Redis(server.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

async function status(store: Store): Promise<string> {
  return (await store.probe.check()).status;
}

describe('Redis going away', () => {
  it('restart mid-run: appends keep returning at once, samples appended while down are flushed after, health degraded then ok', async () => {
    const store = await make();
    await store.append(batchOf({ s: cols([T0], [0]) }));
    expect(await store.flush()).toBe(true);
    expect(await status(store)).toBe('ok');

    await server.stop();
    await eventually(async () => (await status(store)) === 'degraded', 5000, 'degraded health');
    const h = await store.probe.check();
    expect(h.message).toMatch(/reconnecting/);

    for (let i = 1; i <= 50; i++) {
      // Never waits on Redis: the append settles before the event loop's next turn, i.e. with no I/O at all.
      let settled = false;
      const done = store.append(batchOf({ s: cols([T0 + i * 1000], [i]), u: cols([T0 + i * 1000], [-i]) })).then(() => (settled = true));
      await new Promise((r) => setImmediate(r));
      expect(settled).toBe(true);
      await done;
    }
    expect(store.stats()).toMatchObject({ buffered: 100, dropped: 0 });
    expect((await store.probe.check()).message).toMatch(/buffering 100 samples/);
    // Reads cannot be buffered: they fail at once with a clear error.
    await expect(store.range('s', T0, T0 + 100_000)).rejects.toMatchObject({ code: 'NOT_READY' });

    await server.start(); // a fresh, empty Redis (no persistence)
    await eventually(() => store.stats().buffered === 0, 10_000, 'buffer flushed');
    expect(await store.flush()).toBe(true);
    const s = plain(await store.range('s', T0, T0 + 100_000));
    expect(s.times).toEqual(Array.from({ length: 50 }, (_, i) => T0 + (i + 1) * 1000));
    expect(s.values).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect((await store.range('u', T0, T0 + 100_000)).times.length).toBe(50);
    expect((await store.latest(['s'])).get('s')).toEqual({ time: T0 + 50_000, value: 50, quality: 0 });
    // Rollups were flushed too.
    const r = await store.resample(['s'], 60_000, T0 + 60_000, 60_000, 'count', { source: 'rollup' });
    expect([...r.columns[0]]).toEqual([50]);
    await eventually(async () => (await status(store)) === 'ok', 5000, 'ok health');
  });

  it('a poller appending continuously through a restart loses nothing appended after Redis went down, and stores nothing twice', async () => {
    const store = await make();
    let i = 0;
    let running = true;
    const poller = (async () => {
      while (running) {
        void store.append(batchOf({ p: cols([T0 + i * 10], [i]) }));
        i++;
        await sleep(2);
      }
    })();
    await sleep(150);
    await server.stop();
    // Samples written before the old process exited went with it (no persistence); from here on
    // they can only be in the buffer.
    const firstWhileDown = i;
    await sleep(300);
    await server.start();
    await sleep(300);
    running = false;
    await poller;
    await eventually(() => store.stats().buffered === 0, 10_000, 'buffer flushed');
    expect(await store.flush()).toBe(true);
    const got = plain(await store.range('p', T0, T0 + i * 10 + 10));
    expect(firstWhileDown).toBeGreaterThan(0);
    // Everything from the outage on is there (what was stored before it died with the old Redis).
    const expected = Array.from({ length: i - firstWhileDown }, (_, k) => firstWhileDown + k);
    const present = new Set(got.values);
    expect(expected.filter((v) => !present.has(v))).toEqual([]);
    expect(new Set(got.times).size).toBe(got.times.length); // no duplicates
    expect(store.stats().dropped).toBe(0);
  });

  it('connections killed under load: every sample stored exactly once, rollups counted once', async () => {
    const store = await make({}, 'kill:');
    const c = client();
    const nSeries = 50;
    let i = 0;
    let running = true;
    const poller = (async () => {
      while (running) {
        const batch = new Map();
        for (let s = 0; s < nSeries; s++) batch.set(`k${s}`, cols([T0 + i * 10], [i]));
        void store.append(batch);
        i++;
        await sleep(1);
      }
    })();
    for (let k = 0; k < 5; k++) {
      await sleep(60);
      // Drops the store's command connection mid-write; Redis and its data stay.
      await c.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    }
    await sleep(60);
    running = false;
    await poller;
    await eventually(() => store.stats().buffered === 0, 10_000, 'buffer flushed');
    expect(await store.flush()).toBe(true);
    const all = await store.rangeMany(
      Array.from({ length: nSeries }, (_, s) => `k${s}`),
      T0,
      T0 + i * 10 + 10,
    );
    for (const [, got] of all) {
      expect(got.times.length).toBe(i);
      expect(new Set(got.times).size).toBe(i);
    }
    const counts = await store.resample(['k0'], i * 10 + 2000, T0 + i * 10 + 1000, 1000, 'count', { source: 'rollup' });
    expect(counts.columns[0].reduce((a, b) => a + b, 0)).toBe(i);
    expect(store.stats()).toMatchObject({ dropped: 0, failed: 0 });
    expect(store.stats().retried).toBeGreaterThan(0); // the kills did hit writes in flight
  });

  it('replies lost to a timeout: the retried writes are recognised as applied and not stored twice', async () => {
    const store = await make({ redis: { commandTimeoutMs: 50 } }, 'slow:');
    const c = client();
    let i = 0;
    let running = true;
    const poller = (async () => {
      while (running) {
        void store.append(batchOf({ a: cols([T0 + i * 10], [i]), b: cols([T0 + i * 10], [-i]) }));
        i++;
        await sleep(2);
      }
    })();
    for (let k = 0; k < 3; k++) {
      await sleep(80);
      // Redis busy for 300 ms: the store's calls time out client-side, then run anyway.
      await c.eval(
        "local t = redis.call('TIME'); local s = t[1] * 1e6 + t[2]; repeat t = redis.call('TIME') until t[1] * 1e6 + t[2] - s > 300000; return 1",
        0,
      );
    }
    await sleep(100);
    running = false;
    await poller;
    await eventually(() => store.stats().buffered === 0, 10_000, 'buffer flushed');
    expect(await store.flush()).toBe(true);
    const got = plain(await store.range('a', T0, T0 + i * 10 + 10));
    expect(got.values).toEqual(Array.from({ length: i }, (_, k) => k));
    const counts = await store.resample(['a'], i * 10 + 2000, T0 + i * 10 + 1000, 1000, 'count', { source: 'rollup' });
    expect(counts.columns[0].reduce((x, y) => x + y, 0)).toBe(i);
    expect(store.stats().replaysSkipped).toBeGreaterThan(0);
  });

  it('buffer overflow drops the oldest samples and counts them; health says down', async () => {
    const store = await make({ redis: { bufferSamples: 100 } });
    await server.stop();
    await eventually(async () => (await status(store)) !== 'ok');
    for (let b = 0; b < 30; b++) {
      const times = Array.from({ length: 10 }, (_, k) => T0 + (b * 10 + k) * 100);
      await store.append(
        batchOf({
          s: cols(
            times,
            times.map((_, k) => b * 10 + k),
          ),
        }),
      );
    }
    expect(store.stats()).toMatchObject({ buffered: 100, dropped: 200 });
    const h = await store.probe.check();
    expect(h.status).toBe('down');
    expect(h.message).toMatch(/200 dropped/);
    expect(h.details).toMatchObject({ buffered: 100, dropped: 200 });
    await server.start();
    await eventually(() => store.stats().buffered === 0, 10_000);
    await store.flush();
    const s = plain(await store.range('s', T0, T0 + 60_000));
    expect(s.values).toEqual(Array.from({ length: 100 }, (_, k) => 200 + k)); // the newest 100
    await eventually(async () => (await status(store)) === 'ok');
  });

  it('starts without Redis (degraded, buffering) and catches up when it appears', async () => {
    await server.stop();
    // Resolves with no Redis at all (a start that waited for it would hang until the test's timeout).
    const store = await make({}, undefined, 200);
    expect(await status(store)).toBe('degraded');
    await store.append(batchOf({ s: cols([T0, T0 + 1], [1, 2]) }));
    store.publishSamples(batchOf({ s: cols([T0], [1]) })); // no Redis: dropped quietly
    await expect(store.getObject('device', 'd')).rejects.toMatchObject({ code: 'NOT_READY' });
    await expect(store.acquireLease('L', 'me', 1000)).rejects.toMatchObject({ code: 'NOT_READY' });
    await server.start();
    await eventually(() => store.stats().buffered === 0, 10_000);
    await store.flush();
    expect(plain(await store.range('s', T0, T0 + 10)).values).toEqual([1, 2]);
  });

  it('close() returns promptly while Redis is down', async () => {
    const store = await make();
    await server.stop();
    await store.append(batchOf({ s: cols([T0], [1]) }));
    // Resolves with Redis gone (a close that waited for it would hang until the test's timeout).
    await store.close();
  });
});

describe('layout', () => {
  it('keys carry the prefix and the series hash tag; chunks and rollups expire, latest does not', async () => {
    const store = await make({}, 'lay:');
    const now = Math.floor(Date.now() / 10_000) * 10_000 - 10_000; // two samples in one 10 s chunk
    await store.append(batchOf({ 'dev1/t1/i{x}': cols([now, now + 1000], [1, 2]), plain: cols([now], [3]) }));
    await store.flush();
    const c = client();
    const keys = (await c.keys('*')).filter((k) => k.startsWith('lay:')).sort();
    expect(keys.length).toBe(6); // per series: raw chunk, rollup chunk, latest
    for (const k of keys) {
      const tag = /\{([^}]*)\}/.exec(k)![1];
      // ioredis/Redis Cluster hash only the first {...}: every key of a series hashes alike.
      expect(['dev1/t1/i{x', 'plain']).toContain(tag);
      const pttl = await c.pttl(k);
      if (k.endsWith(':l')) expect(pttl).toBe(-1);
      else expect(pttl).toBeGreaterThan(0);
    }
    expect(keys.some((k) => /^lay:\{plain\}:r:\d+$/.test(k))).toBe(true);
    expect(keys.some((k) => /^lay:\{plain\}:u1000x60:\d+$/.test(k))).toBe(true);
  });

  it('samples already past retention are not kept at all', async () => {
    const store = await make({ retentionMs: 2000 }, 'old:');
    const old = Date.now() - 60_000;
    await store.append(batchOf({ s: cols([old], [1]) }));
    await store.flush();
    const c = client();
    expect((await c.keys('old:{s}:r:*')).length).toBe(0);
    expect((await store.latest(['s'])).get('s')!.value).toBe(1);
  });

  it('the append script is replay-safe: a retried write that was applied is skipped whole', async () => {
    const c = client() as Redis & { scadaAppend: (...a: unknown[]) => Promise<number> };
    c.defineCommand('scadaAppend', { lua: APPEND_LUA });
    const far = Date.now() + 60_000;
    const S = 60; // slots per rollup chunk
    const meta = (rows: number, parts: number, latest: number, retry: number) => {
      const m = Buffer.alloc(48);
      [rows, parts, latest, far, far, retry].forEach((v, f) => m.writeDoubleLE(v, f * 8));
      return m;
    };
    const partial = (fields: number[]) => {
      const p = Buffer.alloc(80);
      fields.forEach((v, f) => p.writeDoubleLE(v, f * 8));
      return p;
    };
    const keys = ['x:{s}:r:0', 'x:{s}:u:0', 'x:{s}:l'];
    const rows = encodeRows(cols([1000, 2000], [5, 7]), 0, 2);
    // slot 0: count 2, sum 12, m2 2, min 5, max 7, first 5 @1000, last 7 @2000
    const p1 = partial([0, 2, 12, 2, 5, 7, 5, 1000, 7, 2000]);
    const latest = rows.subarray(17, 34);
    expect(await c.scadaAppend(3, ...keys, meta(2, 1, 1, 0), rows, p1, latest, S)).toBe(0);
    // The same write again, flagged as a retry: recognised and skipped.
    expect(await c.scadaAppend(3, ...keys, meta(2, 1, 1, 1), rows, p1, latest, S)).toBe(1);
    expect(await c.strlen(keys[0])).toBe(34);
    // Still recognised when later writes followed it (two pipelines were in flight).
    const later = encodeRows(cols([2500], [6.5]), 0, 1);
    expect(await c.scadaAppend(3, ...keys, meta(1, 0, 0, 0), later, Buffer.alloc(0), Buffer.alloc(0), S)).toBe(0);
    expect(await c.scadaAppend(3, ...keys, meta(2, 1, 1, 1), rows, p1, latest, S)).toBe(1);
    expect(await c.strlen(keys[0])).toBe(51);
    // Slot 0 of both regions: A = [count, sum, m2] at 0, B = [count, min, max, first, firstT, last, lastT] at S × 24.
    const slotOf = async () => {
      const a = await c.getrangeBuffer(keys[1], 0, 23);
      const b = await c.getrangeBuffer(keys[1], S * 24, S * 24 + 55);
      return [...[0, 1, 2].map((f) => a.readDoubleLE(f * 8)), ...[0, 1, 2, 3, 4, 5, 6].map((f) => b.readDoubleLE(f * 8))];
    };
    expect(await slotOf()).toEqual([2, 12, 2, 2, 5, 7, 5, 1000, 7, 2000]);
    // A different write to the same slot merges (Chan's formula): count 3, sum 18, m2 still 2.
    const rows2 = encodeRows(cols([3000], [6]), 0, 1);
    expect(await c.scadaAppend(3, ...keys, meta(1, 1, 1, 1), rows2, partial([0, 1, 6, 0, 6, 6, 6, 3000, 6, 3000]), rows2, S)).toBe(0);
    expect(await slotOf()).toEqual([3, 18, 2, 3, 5, 7, 5, 1000, 6, 3000]);
    expect(await c.pttl(keys[0])).toBeGreaterThan(0);
    expect(await c.pttl(keys[1])).toBeGreaterThan(0);
    expect((await c.getBuffer(keys[2]))!.readDoubleLE(0)).toBe(3000);
  });
});

describe('several sidecars on one Redis', () => {
  it('share samples and model events over pub/sub (own messages are not delivered twice)', async () => {
    const a = await make({}, 'fleet:');
    const b = await make({}, 'fleet:');
    const gotA: Array<[SampleBatch, string]> = [];
    const gotB: Array<[SampleBatch, string]> = [];
    a.subscribeSamples((batch, origin) => gotA.push([batch, origin]));
    b.subscribeSamples((batch, origin) => gotB.push([batch, origin]));
    const events: unknown[] = [];
    b.subscribeModelEvents((e, origin) => events.push({ e, origin }));
    expect(await a.busReady()).toBe(true);
    expect(await b.busReady()).toBe(true);
    a.publishSamples(batchOf({ x: cols([T0, T0 + 1], [1, 2], [0, 1]) }));
    await a.writeObjects([{ op: 'delete', kind: 'device', id: 'd9' }], { publish: true });
    await eventually(() => gotB.length === 1 && events.length === 1);
    await sleep(50);
    expect(gotA.length).toBe(1);
    expect(gotA[0][1]).toBe(a.instanceId);
    expect(gotB[0][1]).toBe(a.instanceId);
    expect(plain(gotB[0][0].get('x')!)).toEqual({ times: [T0, T0 + 1], values: [1, 2], qualities: [0, 1] });
    expect(events).toEqual([{ e: [{ kind: 'device', op: 'delete', id: 'd9' }], origin: a.instanceId }]);
    // Different prefixes are different deployments: nothing crosses.
    const other = await make({}, 'elsewhere:');
    const gotOther: unknown[] = [];
    other.subscribeSamples((x) => gotOther.push(x));
    await other.busReady();
    a.publishSamples(batchOf({ x: cols([T0], [1]) }));
    await eventually(() => gotB.length === 2);
    expect(gotOther.length).toBe(0);
  });

  it('the bus resubscribes after a Redis restart', async () => {
    const a = await make({}, 'rs:');
    const b = await make({}, 'rs:');
    const got: SampleBatch[] = [];
    b.subscribeSamples((x, origin) => origin !== b.instanceId && got.push(x));
    await b.busReady();
    await server.restart();
    await eventually(async () => (await status(a)) === 'ok' && (await status(b)) === 'ok', 10_000);
    expect(await b.busReady(10_000)).toBe(true);
    a.publishSamples(batchOf({ x: cols([T0], [1]) }));
    await eventually(() => got.length === 1);
  });

  it('a lease held by a sidecar that died lapses, and another takes over', async () => {
    const a = await make({}, 'lease:');
    const b = await make({}, 'lease:');
    expect(await a.acquireLease('device:plc1', a.instanceId, 200)).toBe(true);
    expect(await b.acquireLease('device:plc1', b.instanceId, 200)).toBe(false);
    expect(await b.leaseOwner('device:plc1')).toBe(a.instanceId);
    await a.close(); // dies without releasing
    await sleep(250);
    expect(await b.acquireLease('device:plc1', b.instanceId, 200)).toBe(true);
  });

  it('a reader never sees half of an atomic model write', async () => {
    const store = await make({}, 'atom:');
    const c = client();
    let stop = false;
    let torn = 0;
    let reads = 0;
    const reader = (async () => {
      while (!stop) {
        // One MULTI: a consistent snapshot of both hashes.
        const res = await c.multi().hlen('atom:{model}:device').hlen('atom:{model}:term').exec();
        const [d, t] = res!.map(([, v]) => v as number);
        if (d !== t) torn++;
        reads++;
      }
    })();
    for (let n = 0; n < 100; n++) {
      await store.writeObjects([
        { op: 'put', kind: 'device', id: `d${n}`, value: {} },
        { op: 'put', kind: 'term', id: `t${n}`, value: { device: `d${n}` } },
      ]);
      if (n % 2 === 1)
        await store.writeObjects([
          { op: 'delete', kind: 'device', id: `d${n}` },
          { op: 'delete', kind: 'term', id: `t${n}` },
        ]);
    }
    stop = true;
    await reader;
    expect(reads).toBeGreaterThan(10);
    expect(torn).toBe(0);
  });
});

describe('createStore', () => {
  it('chooses Redis from config or REDIS_URL, memory otherwise; bad settings name the field', async () => {
    const viaEnv = await createStore({}, { env: { REDIS_URL: server.url }, logger: silent });
    stores.push(viaEnv);
    expect(viaEnv.kind).toBe('redis');
    const mem = await createStore({}, { env: {}, logger: silent });
    stores.push(mem);
    expect(mem.kind).toBe('memory');
    const forced = await createStore({ backend: 'memory' }, { env: { REDIS_URL: server.url }, logger: silent });
    stores.push(forced);
    expect(forced.kind).toBe('memory');
    await expect(createStore({ backend: 'redis' }, { env: {} })).rejects.toMatchObject({ field: 'store.redis.url' });
    await expect(createStore({ redis: { url: 'http://x' } }, { env: {} })).rejects.toMatchObject({ field: 'store.redis.url' });
    await expect(createStore({ redis: { keyPrefix: 'a{b}' } }, { env: {} })).rejects.toMatchObject({ field: 'store.redis.keyPrefix' });
    await expect(createStore({ redis: { chunkMs: 7000 } }, { env: {} })).rejects.toMatchObject({ field: 'store.redis.rollupChunkMs' });
    await expect(createStore({ retentionMs: -1 } as StoreConfigInput, { env: {} })).rejects.toMatchObject({ field: 'store.retentionMs' });
  });
});
