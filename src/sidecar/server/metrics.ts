/**
 * Prometheus metrics on the server's own prom-client Registry (never the global one, so
 * several servers in one process — tests, embedding — keep separate figures).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { gridTally } from '../timeseries/work-tally';
import type { LiveHub } from './live/hub';

export type Transport = 'ws' | 'http';

export class ServerMetrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'route' | 'method' | 'status'>;
  readonly httpDuration: Histogram<'route' | 'method'>;
  readonly liveSubscriptions: Gauge<'transport'>;
  readonly liveSockets: Gauge;
  /**
   * Live frames handed to clients, by transport: a plain tally read at scrape time, since
   * it is bumped once per frame per subscriber (a prom-client inc costs ~1 µs on that path).
   */
  readonly framesSent: Record<Transport, number> = { ws: 0, http: 0 };
  readonly framesDropped: Counter<'transport'>;

  private readonly stopLag?: () => void;

  constructor(hub: LiveHub | undefined) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'scadalive_' });

    this.httpRequests = new Counter({
      name: 'scadalive_http_requests_total',
      help: 'HTTP requests answered, by route pattern, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'scadalive_http_request_duration_seconds',
      help: 'HTTP request latency (for live streams: time to the start of the stream)',
      labelNames: ['route', 'method'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.liveSubscriptions = new Gauge({
      name: 'scadalive_live_subscriptions',
      help: 'Live subscriptions open, by transport',
      labelNames: ['transport'],
      registers,
    });
    this.liveSockets = new Gauge({ name: 'scadalive_live_websockets', help: 'WebSocket connections open', registers });
    const framesSent = this.framesSent;
    new Counter({
      name: 'scadalive_live_frames_sent_total',
      help: 'Live frames handed to clients, by transport',
      labelNames: ['transport'],
      registers,
      collect() {
        this.reset();
        for (const t of ['ws', 'http'] as const) this.inc({ transport: t }, framesSent[t]);
      },
    });
    // Work the resampler and rollup reader did, bumped as plain numbers on their hot paths.
    new Counter({
      name: 'scadalive_grid_buckets_total',
      help: 'Bucket rows of the grids built for queries and live backfill (resampler and rollups)',
      registers,
      collect() {
        this.reset();
        this.inc(gridTally.buckets);
      },
    });
    new Counter({
      name: 'scadalive_grid_cells_total',
      help: 'Cells (rows × channels) of the grids built for queries and live backfill',
      registers,
      collect() {
        this.reset();
        this.inc(gridTally.cells);
      },
    });
    this.framesDropped = new Counter({
      name: 'scadalive_live_frames_dropped_total',
      help: 'Live data frames dropped because a client read too slowly',
      labelNames: ['transport'],
      registers,
    });
    for (const t of ['ws', 'http'] as const) {
      this.liveSubscriptions.set({ transport: t }, 0);
      this.framesDropped.inc({ transport: t }, 0);
    }

    const emitLag = new Histogram({
      name: 'scadalive_live_emit_lag_seconds',
      help: 'Time from the end of a live bucket until its row was handed to every subscriber (per pipeline emission)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    });
    this.stopLag = hub?.onEmitLag?.((ms) => emitLag.observe(ms / 1000));

    // Upstream figures belong to the hub: read them at scrape time.
    new Gauge({
      name: 'scadalive_live_pipelines',
      help: 'Upstream live pipelines (one per distinct subscription, shared by its subscribers)',
      registers,
      collect() {
        this.set(hub?.stats().pipelines ?? 0);
      },
    });
    new Gauge({
      name: 'scadalive_live_pipeline_subscribers',
      help: 'Subscribers attached to upstream pipelines',
      registers,
      collect() {
        this.set(hub?.stats().subscribers ?? 0);
      },
    });
    new Counter({
      name: 'scadalive_live_rows_emitted_total',
      help: 'Rows emitted by upstream pipelines',
      registers,
      collect() {
        this.reset();
        this.inc(hub?.stats().rowsEmitted ?? 0);
      },
    });
    new Counter({
      name: 'scadalive_live_late_samples_total',
      help: 'Samples that arrived after their bucket had closed',
      registers,
      collect() {
        this.reset();
        this.inc(hub?.stats().lateSamples ?? 0);
      },
    });
  }

  /** Stops listening to the hub (the hub may outlive this server). */
  close(): void {
    this.stopLag?.();
  }

  observeRequest(route: string, method: string, status: number, seconds: number): void {
    this.httpRequests.inc({ route, method, status: String(status) });
    this.httpDuration.observe({ route, method }, seconds);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
