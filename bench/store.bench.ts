/**
 * Store benchmarks (a private redis-server from the test harness, never the system Redis):
 *
 *  1. Raw-sample layouts in Redis, side by side: Streams (XADD/XRANGE), sorted sets
 *     (ZADD/ZRANGEBYSCORE of packed members) and time-chunked binary strings (APPEND/GET),
 *     the one the store uses. 100 series × 1 h at 1 Hz: write rate, read time, bytes a sample.
 *  2. The bus codec: binary columns vs JSON of {t, v, q} objects.
 *  3. Samples per second stored, poll-cycle batches (1,000 series × N samples, one pipeline
 *     each): Redis and memory. Target: Redis ≥ 200 k/s.
 *  4. Query: 100 series × one day at 1 Hz resampled to ≤ 1,000 points (the interval the query
 *     handler would choose: 2 min): mean and max (from rollups), mean forced through the raw
 *     samples, and median (raw: rollups cannot answer it), Redis and memory.
 *     Targets: Redis ≤ 100 ms, memory ≤ 50 ms (mean).
 */
import Redis from 'ioredis';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { chooseInterval } from '../src/sidecar/timeseries/interval';
import type { SampleBatch } from '../src/sidecar/core/samples';
import { createStore, type Store, type StoreConfigInput } from '../src/sidecar/store';
import { decodeBatch, encodeBatch } from '../src/sidecar/store/codec';
import { RedisStore } from '../src/sidecar/store/redis/redis-store';
import { startRedisServer, type RedisServer } from '../test/helpers/redis-server';
import { fmtRate, mib, printTable, rng } from './util';

const logger = pino({ level: 'silent' });
const DAY = 86_400_000;

const TARGET_REDIS_WRITE = 200_000;
const TARGET_REDIS_QUERY_MS = 100;
const TARGET_MEMORY_QUERY_MS = 50;

async function median(runs: number, fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return ms[ms.length >> 1];
}

async function usedMemory(r: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await r.info('memory'))![1]);
}

// ---- 1. layouts ---------------------------------------------------------------------------------

async function compareLayouts(server: RedisServer): Promise<void> {
  const S = 100;
  const N = 3600;
  const BATCH = 60; // a minute of 1 Hz polls per pipeline
  const T0 = Date.now() - N * 1000;
  const r = new Redis(server.url);
  const rows: Array<Array<string | number>> = [];
  const row = (t: number, v: number, b: Buffer, o: number) => {
    b.writeDoubleLE(t, o);
    b.writeDoubleLE(v, o + 8);
    b[o + 16] = 0;
  };
  for (const layout of ['stream', 'zset', 'chunk'] as const) {
    await r.flushall();
    const m0 = await usedMemory(r);
    const w0 = performance.now();
    for (let b0 = 0; b0 < N; b0 += BATCH) {
      const p = r.pipeline();
      for (let s = 0; s < S; s++) {
        const key = `L:{s${s}}:${layout}`;
        if (layout === 'stream') {
          for (let i = b0; i < b0 + BATCH; i++)
            p.xadd(key, 'MINID', '~', String(T0 - DAY), `${T0 + i * 1000}-0`, 'v', String(Math.sin(i + s)), 'q', '0');
        } else if (layout === 'zset') {
          const args: Array<string | Buffer> = [];
          for (let i = b0; i < b0 + BATCH; i++) {
            const m = Buffer.allocUnsafe(17);
            row(T0 + i * 1000, Math.sin(i + s), m, 0);
            args.push(String(T0 + i * 1000), m);
          }
          p.zadd(key, ...args);
        } else {
          const buf = Buffer.allocUnsafe(17 * BATCH);
          for (let i = b0; i < b0 + BATCH; i++) row(T0 + i * 1000, Math.sin(i + s), buf, (i - b0) * 17);
          p.append(`${key}:${Math.floor((T0 + b0 * 1000) / 600_000)}`, buf);
        }
      }
      await p.exec();
    }
    const writeMs = performance.now() - w0;
    const bytes = (await usedMemory(r)) - m0;
    const readMs = await median(3, async () => {
      const p = r.pipeline();
      for (let s = 0; s < S; s++) {
        const key = `L:{s${s}}:${layout}`;
        if (layout === 'stream') p.xrange(key, String(T0), String(T0 + N * 1000));
        else if (layout === 'zset') p.zrangebyscoreBuffer(key, T0, T0 + N * 1000);
        else for (let c = Math.floor(T0 / 600_000); c <= Math.floor((T0 + N * 1000) / 600_000); c++) p.getBuffer(`${key}:${c}`);
      }
      const res = (await p.exec())!;
      // Decode to columns, as a range read must.
      const times = new Float64Array(N);
      const values = new Float64Array(N);
      let count = 0;
      for (const [, v] of res) {
        let k = 0;
        if (layout === 'stream')
          for (const [id, f] of v as Array<[string, string[]]>) {
            times[k] = parseInt(id, 10);
            values[k++] = parseFloat(f[1]);
          }
        else if (layout === 'zset')
          for (const m of v as Buffer[]) {
            times[k] = m.readDoubleLE(0);
            values[k++] = m.readDoubleLE(8);
          }
        else if (v) {
          const b = v as Buffer;
          for (let o = 0; o < b.length; o += 17) {
            times[k % N] = b.readDoubleLE(o);
            values[k++ % N] = b.readDoubleLE(o + 8);
          }
        }
        count += k;
      }
      if (count < S * N) throw new Error(`${layout}: read ${count} of ${S * N}`);
    });
    rows.push([layout, fmtRate((S * N) / (writeMs / 1000)), `${readMs.toFixed(0)} ms`, (bytes / (S * N)).toFixed(1)]);
  }
  await r.flushall();
  r.disconnect();
  printTable(
    `Raw-sample layouts in Redis: ${S} series × ${N} samples (1 h at 1 Hz), ${BATCH}-sample batches`,
    ['layout', 'write', `read all (${S} series)`, 'bytes/sample'],
    rows,
  );
}

// ---- 2. bus codec -------------------------------------------------------------------------------

function compareCodecs(): void {
  const rows: Array<Array<string | number>> = [];
  for (const [nSeries, per] of [
    [1000, 1],
    [100, 100],
  ]) {
    const batch: SampleBatch = new Map();
    for (let s = 0; s < nSeries; s++) {
      const times = new Float64Array(per).map((_, i) => 1.7e12 + i * 1000);
      const values = new Float64Array(per).map((_, i) => Math.sin(s + i) * 100);
      batch.set(`dev${s % 10}/unit1/item${s}`, { times, values, qualities: new Uint8Array(per) });
    }
    const binary = encodeBatch(batch, 'abcdef012345');
    const toJson = () =>
      JSON.stringify({
        o: 'abcdef012345',
        s: [...batch].map(([id, c]) => ({ id, samples: [...c.times].map((t, i) => ({ t, v: c.values[i], q: c.qualities[i] })) })),
      });
    const json = toJson();
    const fromJson = () => {
      const m = JSON.parse(json) as { s: Array<{ id: string; samples: Array<{ t: number; v: number; q: number }> }> };
      const out: SampleBatch = new Map();
      for (const { id, samples } of m.s)
        out.set(id, {
          times: Float64Array.from(samples, (x) => x.t),
          values: Float64Array.from(samples, (x) => x.v),
          qualities: Uint8Array.from(samples, (x) => x.q),
        });
      return out;
    };
    const reps = 200;
    const t = (fn: () => unknown) => {
      fn();
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) fn();
      return ((performance.now() - t0) / reps) * 1000;
    };
    const binUs = t(() => decodeBatch(encodeBatch(batch, 'abcdef012345')));
    const jsonUs = t(() => {
      toJson();
      fromJson();
    });
    rows.push([
      `${nSeries} series × ${per}`,
      `${binary.length} B`,
      `${binUs.toFixed(0)} µs`,
      `${json.length} B`,
      `${jsonUs.toFixed(0)} µs`,
    ]);
  }
  printTable('Bus codec: one sample batch, encode + decode', ['batch', 'binary size', 'binary time', 'JSON size', 'JSON time'], rows);
}

// ---- 3. write throughput -----------------------------------------------------------------------

function pollBatch(nSeries: number, perSeries: number, t0: number, r: () => number): SampleBatch {
  const batch: SampleBatch = new Map();
  for (let s = 0; s < nSeries; s++) {
    const times = new Float64Array(perSeries);
    const values = new Float64Array(perSeries);
    for (let i = 0; i < perSeries; i++) {
      times[i] = t0 + i * 1000;
      values[i] = Math.sin(s + i) * 100 + r();
    }
    batch.set(`w/${s}`, { times, values, qualities: new Uint8Array(perSeries) });
  }
  return batch;
}

/**
 * Poll cycles appended back to back. `awaitEach`: each batch is flushed before the next is
 * appended (one pipeline per batch, nothing to coalesce); otherwise appends stream and the
 * store coalesces what queues up while Redis works (its normal operation under load).
 */
async function writeRate(store: Store, nSeries: number, perSeries: number, batches: number, awaitEach: boolean): Promise<number> {
  const r = rng(7);
  const start = Date.now() - batches * perSeries * 1000;
  const made = Array.from({ length: batches }, (_, b) => pollBatch(nSeries, perSeries, start + b * perSeries * 1000, r));
  const t0 = performance.now();
  for (const batch of made) {
    await store.append(batch);
    if (awaitEach) await store.flush(120_000);
  }
  if (!(await store.flush(120_000))) throw new Error('flush timed out');
  return (nSeries * perSeries * batches) / ((performance.now() - t0) / 1000);
}

// ---- 4. query -----------------------------------------------------------------------------------

async function loadDay(store: Store, nSeries: number, to: number): Promise<void> {
  const from = to - DAY;
  const r = rng(11);
  const per = 3600; // an hour per batch and series
  for (let h = 0; h < 24; h++) {
    const batch: SampleBatch = new Map();
    for (let s = 0; s < nSeries; s++) {
      const times = new Float64Array(per);
      const values = new Float64Array(per);
      for (let i = 0; i < per; i++) {
        times[i] = from + (h * per + i) * 1000;
        values[i] = Math.sin((h * per + i) / 600 + s) * 50 + r() * 5;
      }
      batch.set(`q/${s}`, { times, values, qualities: new Uint8Array(per) });
    }
    await store.append(batch);
  }
  if (!(await store.flush(300_000))) throw new Error('load flush timed out');
}

export async function runStoreBench(): Promise<boolean> {
  const server = await startRedisServer();
  const config: StoreConfigInput = { retentionMs: 2 * DAY, redis: { url: server.url, bufferSamples: 20_000_000, flushSamples: 200_000 } };
  let ok = true;
  try {
    await compareLayouts(server);
    compareCodecs();

    // Writes.
    const writeRows: Array<Array<string | number>> = [];
    const cases: Array<['redis' | 'memory', number, number, boolean]> = [
      ['redis', 1, 200, true],
      ['redis', 10, 60, true],
      ['redis', 1, 300, false],
      ['redis', 10, 60, false],
      ['memory', 1, 300, false],
      ['memory', 10, 60, false],
    ];
    for (const [backend, per, batches, awaitEach] of cases) {
      const store = await createStore({ ...config, backend }, { logger, env: {} });
      const rate = await writeRate(store, 1000, per, batches, awaitEach);
      await store.close();
      // The target is the sustained rate: appends streaming as pollers produce them.
      const targeted = backend === 'redis' && !awaitEach;
      const pass = !targeted || rate >= TARGET_REDIS_WRITE;
      ok &&= pass;
      writeRows.push([
        backend,
        `1,000 series × ${per}`,
        batches,
        awaitEach ? 'flush each' : 'streamed',
        fmtRate(rate),
        targeted ? `${fmtRate(TARGET_REDIS_WRITE)} ${pass ? 'ok' : 'MISS'}` : '-',
      ]);
    }
    printTable('Samples stored per second (poll-cycle batches)', ['store', 'batch', 'batches', 'mode', 'samples/s', 'target'], writeRows);

    // Queries.
    const nSeries = 100;
    const to = Date.now();
    const from = to - DAY;
    const interval = chooseInterval(from, to, undefined, 1000);
    const ids = Array.from({ length: nSeries }, (_, s) => `q/${s}`);
    const queryRows: Array<Array<string | number>> = [];
    for (const backend of ['redis', 'memory'] as const) {
      const store = await createStore({ ...config, backend, memory: { maxSamplesPerSeries: 100_000 } }, { logger, env: {} });
      const l0 = performance.now();
      await loadDay(store, nSeries, to);
      const loadMs = performance.now() - l0;
      let memNote = '';
      if (store instanceof RedisStore) {
        const r = new Redis(server.url);
        memNote = ` (Redis used_memory ${mib(await usedMemory(r))})`;
        r.disconnect();
      }
      const mean = await median(5, () => store.resample(ids, DAY, to, interval, 'mean'));
      const max = await median(5, () => store.resample(ids, DAY, to, interval, 'max'));
      const rawMean = await median(3, () => store.resample(ids, DAY, to, interval, 'mean', { source: 'raw' }));
      const med = await median(3, () => store.resample(ids, DAY, to, interval, 'median'));
      const check = await store.resample(ids, DAY, to, interval, 'mean');
      if (check.times.length > 1000 || check.columns.length !== nSeries) throw new Error('unexpected query shape');
      const target = backend === 'redis' ? TARGET_REDIS_QUERY_MS : TARGET_MEMORY_QUERY_MS;
      const pass = mean <= target;
      ok &&= pass;
      queryRows.push([
        backend,
        `${mean.toFixed(1)} ms`,
        `${max.toFixed(1)} ms`,
        `${rawMean.toFixed(0)} ms`,
        `${med.toFixed(0)} ms`,
        `≤ ${target} ms ${pass ? 'ok' : 'MISS'}`,
        `${(loadMs / 1000).toFixed(1)} s${memNote}`,
      ]);
      await store.close();
    }
    printTable(
      `Query: ${nSeries} series × 1 day at 1 Hz (${((nSeries * DAY) / 1000 / 1e6).toFixed(2)} M samples) → ${Math.ceil(DAY / interval)} points (${interval / 1000} s buckets)`,
      ['store', 'mean (rollups)', 'max (rollups)', 'mean (raw)', 'median (raw)', 'target (mean)', 'load'],
      queryRows,
    );
  } finally {
    await server.stop();
  }
  return ok;
}

// `npx tsx bench/store.bench.ts` runs this one alone.
if (require.main === module) {
  runStoreBench().then(
    (ok) => {
      console.log(ok ? '\nstore: all targets met' : '\nstore: some targets missed');
      process.exitCode = ok ? 0 : 1;
    },
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
