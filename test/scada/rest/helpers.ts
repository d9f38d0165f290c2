/**
 * A minimal fastify with the SCADA REST plugin: the server's own error replies, a real key
 * check (401 without a key, 403 on writes for the read key) and a small device manager that
 * records what it is asked and answers readings.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ModelService } from '../../../src/sidecar/scada/model/service';
import { scadaRestRoutes, type DeviceManagerLike } from '../../../src/sidecar/server/routes/scada';
import { errorBody, installErrorHandlers, sendError } from '../../../src/sidecar/server/error-reply';
import type { Store } from '../../../src/sidecar/store';
import { makeService, memoryStore } from '../model/fixtures';

export const READ_KEY = 'rest-read-key-0123456789';
export const CONTROL_KEY = 'rest-control-key-0123456789';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** Records calls; answers one good reading per link. */
export class RecordingManager implements DeviceManagerLike {
  readonly calls: Array<{ deviceId: string; linkIds?: readonly string[] }> = [];
  readonly controls: Array<{ deviceId: string; linkId: string; value: unknown }> = [];

  async call(deviceId: string, linkIds?: readonly string[]): Promise<unknown> {
    this.calls.push({ deviceId, linkIds });
    return (linkIds ?? ['all']).map((id) => ({ id, value: 1, quality: 'good', time: 1000 }));
  }

  async control(deviceId: string, linkId: string, value: number | boolean | string): Promise<unknown> {
    this.controls.push({ deviceId, linkId, value });
    return { id: linkId, value, quality: 'good', time: 2000 };
  }
}

export interface RestHarness {
  app: FastifyInstance;
  store: Store;
  service: ModelService;
  manager: RecordingManager;
  /** `key` defaults to the control key; null sends none. */
  request(method: string, url: string, body?: unknown, key?: string | null): Promise<{ status: number; body: Json }>;
  close(): Promise<void>;
}

export async function startRest(options: { withManager?: boolean; maxSamples?: number } = {}): Promise<RestHarness> {
  const store = await memoryStore();
  const service = makeService(store);
  const manager = new RecordingManager();
  const app = Fastify();
  installErrorHandlers(app);
  app.addHook('onRequest', async (req, reply) => {
    const key = req.headers['x-api-key'];
    if (key !== READ_KEY && key !== CONTROL_KEY)
      return sendError(reply, { status: 401, body: errorBody('UNAUTHORIZED', 'missing API key') });
  });
  const requireControl = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (req.headers['x-api-key'] !== CONTROL_KEY)
      await sendError(reply, { status: 403, body: errorBody('FORBIDDEN', 'needs a control key') });
  };
  await app.register(scadaRestRoutes, {
    service,
    store,
    requireControl,
    manager: options.withManager === false ? undefined : () => manager,
    maxSamples: options.maxSamples,
  });
  // Real sockets and fetch (light-my-request's `inject` pulls an ESM-only module jest cannot load).
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  return {
    app,
    store,
    service,
    manager,
    async request(method, url, body, key = CONTROL_KEY) {
      const headers: Record<string, string> = key === null ? {} : { 'x-api-key': key };
      const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      if (payload !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(base + url, { method, headers, body: payload });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    async close() {
      await app.close();
      await store.close();
    },
  };
}
