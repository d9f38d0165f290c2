/** Graceful close: live sockets and streams end, pipelines stop, plugins are finalized, the port is freed. */
import * as net from 'node:net';
import { DataSource } from '../../src/sidecar/registry/datasource';
import type { Channel } from '../../src/sidecar/registry/types';
import { LiveClient, LIVE_INTERVAL_MS, startTestSidecar } from './harness';

const events: string[] = [];

/** A real plugin that records its lifecycle; it has a per-plugin route that is async. */
class Recorder extends DataSource {
  override async initialize(): Promise<void> {
    await new Promise((r) => setTimeout(r, 10));
    events.push('initialize');
  }
  override async finalize(): Promise<void> {
    await new Promise((r) => setTimeout(r, 10));
    events.push('finalize');
  }
  override getChannels(): Channel[] {
    return [{ name: 'x', type: 'timeseries' }];
  }
  override async handleRequest(req: { method: string; path: string; body: unknown; query: unknown; headers: Record<string, unknown> }): Promise<[number, unknown]> {
    return [201, { method: req.method, path: req.path, body: req.body, query: req.query, sawKey: 'authorization' in req.headers || 'x-api-key' in req.headers }];
  }
}

it('close() ends sockets and streams, stops pipelines, finalizes plugins and frees the port', async () => {
  const s = await startTestSidecar({
    plugins: new Map([['recorder', Recorder]]),
    instances: [
      { id: 'fast', plugin: 'simulator', params: { sampleIntervalMs: 50 } },
      { id: 'rec', plugin: 'recorder', params: { route_path: '/recorder/' } },
    ],
  });
  expect(events).toEqual(['initialize']);

  // The per-plugin route of an async handler, with a form body and without the caller's key.
  const plugin = await s.json('/plugins/recorder/a/b?x=1', {
    method: 'POST',
    body: 'v=2&w=3',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  expect(plugin).toMatchObject({ status: 201, body: { method: 'POST', path: '/a/b', body: { v: '2', w: '3' }, query: { x: '1' }, sawKey: false } });

  const ws = await LiveClient.open(s.wsUrl);
  ws.send({ type: 'subscribe', id: 'a', request: { instance: 'fast', channels: ['temperature'], intervalMs: LIVE_INTERVAL_MS } });
  await ws.waitFor((m) => m.type === 'subscribed');
  const http = await s.fetch('/api/live/http', { method: 'POST', body: JSON.stringify({ instance: 'fast', channels: ['level'], intervalMs: LIVE_INTERVAL_MS }) });
  expect(http.status).toBe(200);
  const httpText = http.text(); // resolves when the server ends the stream
  expect(s.hub.stats().pipelines).toBe(2);

  await s.close();

  expect(ws.closed).toEqual({ code: 1001, reason: 'server shutting down' });
  const lines = (await httpText).trim().split('\n').map((l) => JSON.parse(l));
  expect(lines[lines.length - 1]).toEqual({ type: 'notice', message: 'server shutting down' });
  expect(s.hub.stats().pipelines).toBe(0);
  expect(events).toEqual(['initialize', 'finalize']);
  expect(s.registry.list().map((i) => i.state)).toEqual(['stopped', 'stopped']);

  const port = Number(new URL(s.url).port);
  await expect(
    new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1', () => {
        sock.destroy();
        resolve('connected');
      });
      sock.on('error', reject);
    }),
  ).rejects.toMatchObject({ code: 'ECONNREFUSED' });

  // Idempotent.
  await s.close();
  expect(events).toEqual(['initialize', 'finalize']);
});
