/**
 * Live fan-out: 1,000 WebSocket subscribers over 100 simulated channels updating at 10 Hz,
 * against a real sidecar process. Reports messages delivered per second, the latency from
 * the moment a bucket's data is complete (its end) to the client, and the sidecar's RSS.
 * Targets: p99 ≤ 20 ms and RSS ≤ 300 MB at 1,000 subscribers.
 */
import { asClients, planPinning, type Pinning } from './cpu-pinning';
import { measureFanoutFloor } from './fanout-floor';
import { connectLean, type LeanSocket } from './lean-ws-client';
import { BENCH_KEY, startSidecarProcess } from './sidecar-process';
import { mib, printTable } from './util';

const CHANNELS = 100;
const SUBSCRIBERS = 1000;
const GROUPS = 10; // each subscriber watches 10 channels: 10 distinct queries, 100 subscribers each
const INTERVAL = 100; // 10 Hz
const MEASURE_MS = 10_000;

function config(): string {
  const channels = Array.from(
    { length: CHANNELS },
    (_, i) => `      - { name: ch${i}, signal: sine, period: ${10_000 + i * 100}, amplitude: 10, offset: ${i} }`,
  );
  return [
    'instances:',
    '  - id: fan',
    '    plugin: simulator',
    '    params:',
    `      sampleIntervalMs: ${INTERVAL}`,
    '      channels:',
    ...channels.map((c) => `  ${c}`),
    '',
  ].join('\n');
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Cumulative bucket counts of the sidecar's scadalive_live_emit_lag_seconds histogram, by `le`. */
async function emitLagBuckets(url: string): Promise<Map<number, number>> {
  const res = await fetch(`${url}/metrics`, { headers: { Authorization: `Bearer ${BENCH_KEY}` } });
  const text = await res.text();
  const buckets = new Map<number, number>();
  for (const m of text.matchAll(/^scadalive_live_emit_lag_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)) {
    buckets.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]));
  }
  return buckets;
}

function diffBuckets(after: Map<number, number>, before: Map<number, number>) {
  const les = [...after.keys()].sort((a, b) => a - b);
  const cum = les.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0));
  const count = cum[cum.length - 1] ?? 0;
  return {
    count,
    within: (le: number) => cum[les.indexOf(le)] ?? 0,
    /** The smallest bucket bound holding at least the fraction `q` of emissions. */
    quantileBound: (q: number) => les[cum.findIndex((c) => c >= q * count)] ?? Infinity,
  };
}

export async function runLiveBench(): Promise<boolean> {
  const pinning = planPinning();
  return asClients(pinning, () => liveBench(pinning));
}

async function liveBench(pinning: Pinning): Promise<boolean> {
  const sidecar = await startSidecarProcess(config(), pinning.server);
  const sockets: LeanSocket[] = [];
  const latencies: number[] = [];
  let messages = 0;
  let measuring = false;
  let stopped = false;
  const VALUES = Buffer.from('"values":[[');
  const SCHEMA = Buffer.from('"schema"');
  try {
    const wsUrl = sidecar.url.replace(/^http/, 'ws') + '/api/live';
    await Promise.all(
      Array.from(
        { length: SUBSCRIBERS },
        (_, i) =>
          new Promise<void>((resolve, reject) => {
            let subscribed = false;
            connectLean(
              wsUrl,
              { Authorization: `Bearer ${BENCH_KEY}` },
              {
                onMessage: (data, now) => {
                  if (!subscribed) {
                    if (data.includes('"subscribed"')) {
                      subscribed = true;
                      resolve();
                    }
                    return;
                  }
                  // Data-only appends: read their row times straight from the bytes.
                  if (!measuring || data.includes(SCHEMA)) return;
                  const at = data.indexOf(VALUES);
                  if (at < 0) return;
                  messages++;
                  // The time column's integers, read in place: no string or array per message.
                  let t = 0;
                  for (let i = at + VALUES.length; i < data.length; i++) {
                    const c = data[i];
                    if (c >= 0x30 && c <= 0x39) t = t * 10 + (c - 0x30);
                    else {
                      latencies.push(now - (t + INTERVAL));
                      if (c !== 0x2c) break; // ','
                      t = 0;
                    }
                  }
                },
                onError: reject,
              },
            ).then((ws) => {
              sockets.push(ws);
              const g = i % GROUPS;
              const channels = Array.from({ length: CHANNELS / GROUPS }, (_, c) => `ch${g * (CHANNELS / GROUPS) + c}`);
              ws.send(
                JSON.stringify({ type: 'subscribe', id: 's', request: { instance: 'fan', channels, intervalMs: INTERVAL, backfillMs: 0 } }),
              );
            }, reject);
          }),
      ),
    );
    await new Promise((r) => setTimeout(r, 2000)); // pipelines warm, backfills done
    const lagBefore = await emitLagBuckets(sidecar.url);
    measuring = true;
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, MEASURE_MS));
    measuring = false;
    const seconds = (Date.now() - t0) / 1000;
    const rss = sidecar.rss();
    latencies.sort((a, b) => a - b);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    const p90 = percentile(latencies, 90);
    const lag = diffBuckets(await emitLagBuckets(sidecar.url), lagBefore);
    const ok = p99 <= 20 && rss.peak <= 300 * 1048576 && latencies.length > 0;
    for (const ws of sockets) ws.close();
    await sidecar.stop();
    stopped = true;
    // The same fan-out with plain TCP and no application: the machine's own floor.
    const floor = await measureFanoutFloor({
      sockets: SUBSCRIBERS,
      intervalMs: INTERVAL,
      seconds: MEASURE_MS / 1000,
      messageBytes: 256,
      serverCpus: pinning.server,
    });
    printTable(
      `Live fan-out: ${SUBSCRIBERS} WebSocket subscribers, ${CHANNELS} channels at ${1000 / INTERVAL} Hz (${GROUPS} shared queries), ${seconds.toFixed(0)} s; ${pinning.describe}`,
      ['figure', 'value', 'target'],
      [
        [
          'messages delivered',
          `${Math.round(messages / seconds)} /s (${Math.round((messages * CHANNELS) / GROUPS / seconds)} values/s)`,
          '',
        ],
        ['latency p50 / p90 (bucket complete → client)', `${p50.toFixed(1)} / ${p90.toFixed(1)} ms`, ''],
        ['latency p99', `${p99.toFixed(1)} ms`, '≤ 20 ms'],
        [
          'sidecar alone: emissions handed to all 100 sockets ≤ 20 ms after bucket end (/metrics)',
          `${((100 * lag.within(0.02)) / lag.count).toFixed(1)} % of ${lag.count}; p99 ≤ ${(1000 * lag.quantileBound(0.99)).toFixed(0)} ms`,
          '',
        ],
        ['floor: plain TCP, same fan-out, no sidecar, p50 / p99', `${floor.p50.toFixed(1)} / ${floor.p99.toFixed(1)} ms`, ''],
        ['sidecar RSS now / peak', `${mib(rss.now)} / ${mib(rss.peak)}`, '≤ 300 MiB'],
      ],
    );
    console.log(ok ? 'live fan-out: targets met' : 'live fan-out: target MISSED');
    return ok;
  } finally {
    if (!stopped) {
      for (const ws of sockets) ws.close();
      await sidecar.stop();
    }
  }
}
