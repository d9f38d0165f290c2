/**
 * A real sidecar on an ephemeral port (port 0) with real plugins, and small real clients:
 * fetch for HTTP, `ws` for WebSockets. Nothing of the server is mocked.
 */
import * as path from 'node:path';
import pino from 'pino';
import WebSocket from 'ws';
import { parseSidecarConfig } from '../../src/sidecar/config';
import type { DataSourceClass } from '../../src/sidecar/registry/datasource';
import { startSidecar, type Sidecar } from '../../src/sidecar/sidecar';

/** Parsed wire JSON: tests read it loosely and assert its shape. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export const READ_KEY = 'test-read-key-0123456789';
export const CONTROL_KEY = 'test-control-key-0123456789';
export const ALLOWED_ORIGIN = 'https://grafana.example.com';
export const REPO = path.resolve(__dirname, '../..');

/** Sine, period 60 s, amplitude 10, offset 100, no noise: every value is predictable. */
export const SINE = { name: 'sine', signal: 'sine', period: 60_000, amplitude: 10, offset: 100, unit: 'degC' } as const;
/** The same shape, computed here independently of the simulator's code. */
export const expectedSine = (t: number): number => SINE.offset + SINE.amplitude * Math.sin((2 * Math.PI * (t % SINE.period)) / SINE.period);
export const RAMP = { name: 'ramp', signal: 'ramp', period: 10_000, amplitude: 100, offset: 0 } as const;
export const expectedRamp = (t: number): number => RAMP.offset + (RAMP.amplitude * (t % RAMP.period)) / RAMP.period;

/** Simulator sample interval of the fast instance, and the live bucket used in tests. */
export const FAST_SAMPLE_MS = 50;
export const LIVE_INTERVAL_MS = 200;

/** The instances a test sidecar runs unless told otherwise. */
export const DEFAULT_INSTANCES: unknown[] = [
  { id: 'sim', plugin: 'simulator', params: { sampleIntervalMs: 1000, channels: [SINE, RAMP] } },
  { id: 'fast', plugin: 'simulator', params: { sampleIntervalMs: FAST_SAMPLE_MS, channels: [SINE, RAMP] } },
  { id: 'csv', plugin: 'csv', params: { file: 'plugins/data/example.csv', route_path: 'table' } },
];

export interface TestSidecar extends Sidecar {
  fetch(pathname: string, init?: RequestInit & { key?: string | null }): Promise<Response>;
  json<T = Json>(pathname: string, init?: RequestInit & { key?: string | null }): Promise<{ status: number; body: T; headers: Headers }>;
  wsUrl: string;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

export async function startTestSidecar(
  options: {
    server?: Record<string, unknown>;
    limits?: Record<string, number>;
    instances?: unknown[];
    plugins?: ReadonlyMap<string, DataSourceClass>;
  } = {},
): Promise<TestSidecar> {
  const config = parseSidecarConfig(
    {
      server: {
        host: '127.0.0.1',
        port: 0,
        apiKeys: [READ_KEY],
        controlKeys: [CONTROL_KEY],
        corsOrigins: [ALLOWED_ORIGIN],
        logLevel: 'silent',
        pipelineLingerMs: 0,
        ...options.server,
        limits: { ...options.limits },
      },
      instances: options.instances ?? DEFAULT_INSTANCES,
    },
    REPO,
  );
  const sidecar = await startSidecar(config, {
    version: 'test',
    logger: pino({ level: 'silent' }),
    baseDir: REPO,
    env: {},
    plugins: options.plugins,
  });

  const doFetch = (pathname: string, init: RequestInit & { key?: string | null } = {}): Promise<Response> => {
    const { key = READ_KEY, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (key !== null && !headers.has('authorization')) headers.set('authorization', `Bearer ${key}`);
    if (typeof rest.body === 'string' && !headers.has('content-type')) headers.set('content-type', 'application/json');
    return fetch(sidecar.url + pathname, { ...rest, headers });
  };
  return {
    ...sidecar,
    wsUrl: sidecar.url.replace(/^http/, 'ws') + '/api/live',
    fetch: doFetch,
    async json(pathname, init) {
      const res = await doFetch(pathname, init);
      const text = await res.text();
      let body: Json;
      try {
        body = JSON.parse(text);
      } catch {
        throw new Error(`not JSON (status ${res.status}, ${res.headers.get('content-type')}): ${text.slice(0, 200)}`);
      }
      return { status: res.status, body, headers: res.headers };
    },
    async metric(name, labels = {}) {
      const text = await (await doFetch('/metrics')).text();
      const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
      for (const line of text.split('\n')) {
        if (!line.startsWith(name)) continue;
        const m = /^([a-z_]+)(\{([^}]*)\})? (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const have = (m[3] ?? '').split(',');
        if (want.every((w) => have.includes(w))) return Number(m[4]);
      }
      throw new Error(`metric ${name}${JSON.stringify(labels)} not found`);
    },
  };
}

/** A `ws` client that collects the server's JSON messages and waits for the ones a test wants. */
export class LiveClient {
  readonly messages: Json[] = [];
  private waiters: Array<() => void> = [];
  closed?: { code: number; reason: string };

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()));
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  static open(url: string, options: { key?: string | null; headers?: Record<string, string> } = {}): Promise<LiveClient> {
    const { key = READ_KEY } = options;
    const headers = { ...(key !== null ? { authorization: `Bearer ${key}` } : {}), ...options.headers };
    const ws = new WebSocket(url, { headers });
    const client = new LiveClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })));
      });
      ws.once('error', reject);
    });
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** The next message (after `from`) matching `pred`; resolves with it and its index. */
  async waitFor(pred: (m: Json) => boolean, timeoutMs = 5000, from = 0): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.slice(from).find(pred);
      if (found) return found;
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) before the expected message; got ${JSON.stringify(this.messages.slice(-5))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; last messages: ${JSON.stringify(this.messages.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  frames(id: string): Json[] {
    return this.messages.filter((m) => m.type === 'frame' && m.id === id).map((m) => m.frame);
  }

  /** Waits until subscription `id` has delivered at least `rows` rows in all. */
  async waitRows(id: string, rows: number, timeoutMs = 8000): Promise<Json[]> {
    const count = (): number => this.frames(id).reduce((n, f) => n + (f.data?.values?.[0]?.length ?? 0), 0);
    await this.waitFor(() => count() >= rows, timeoutMs);
    return this.frames(id);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
