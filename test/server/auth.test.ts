/** API keys, roles, the no-key policy, CORS and the WebSocket Origin check, over real sockets. */
import pino from 'pino';
import { limitsSchema, parseSidecarConfig } from '../../src/sidecar/config';
import SimulatorDataSource from '../../src/sidecar/datasources/simulator';
import type { HandlerContext } from '../../src/sidecar/handlers/context';
import { StreamHub } from '../../src/sidecar/handlers/stream';
import { Registry } from '../../src/sidecar/registry/registry';
import { KeyStore, requireControl } from '../../src/sidecar/server/auth';
import { buildServer } from '../../src/sidecar/server/server';
import { startSidecar } from '../../src/sidecar/sidecar';
import { ALLOWED_ORIGIN, CONTROL_KEY, LiveClient, READ_KEY, REPO, startTestSidecar, type Json, type TestSidecar } from './harness';

const silent = pino({ level: 'silent' });

let s: TestSidecar;
beforeAll(async () => {
  s = await startTestSidecar({ instances: [{ id: 'sim', plugin: 'simulator' }] });
});
afterAll(() => s.close());

describe('API keys', () => {
  it('401 without a key, with WWW-Authenticate: Bearer', async () => {
    const res = await s.fetch('/api/health', { key: null });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(await res.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.stringMatching(/missing API key/) } });
  });

  it('401 with a wrong key (also one differing only in length or case)', async () => {
    for (const key of ['wrong-key-0123456789', READ_KEY + 'x', READ_KEY.slice(0, -1), READ_KEY.toUpperCase()]) {
      const res = await s.fetch('/api/health', { key });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(((await res.json()) as Json).error.message).toBe('invalid API key');
    }
  });

  it('accepts Authorization: Bearer and X-API-Key; a control key passes read routes', async () => {
    expect((await s.fetch('/api/health', { key: READ_KEY })).status).toBe(200);
    expect((await s.fetch('/api/health', { key: null, headers: { 'x-api-key': READ_KEY } })).status).toBe(200);
    expect((await s.fetch('/api/health', { key: CONTROL_KEY })).status).toBe(200);
    expect((await s.fetch('/api/health', { key: null, headers: { authorization: `bearer ${CONTROL_KEY}` } })).status).toBe(200);
  });

  it('guards every route but /healthz, unknown routes included (no route discovery)', async () => {
    for (const path of ['/metrics', '/api/channels', '/api/blob?instance=sim&channel=temperature', '/nope']) {
      expect((await s.fetch(path, { key: null })).status).toBe(401);
    }
    expect((await s.fetch('/api/query', { key: null, method: 'POST', body: '{}' })).status).toBe(401);
    expect((await s.fetch('/healthz', { key: null })).status).toBe(200);
  });

  it('refuses a WebSocket upgrade without a valid key', async () => {
    await expect(LiveClient.open(s.wsUrl, { key: null })).rejects.toMatchObject({ status: 401 });
    await expect(LiveClient.open(s.wsUrl, { key: 'wrong-key-0123456789' })).rejects.toMatchObject({ status: 401 });
  });
});

describe('requireControl', () => {
  it('lets a control key through and answers 403 to a read key', async () => {
    // A server with one control route, as device writes will add.
    const registry = new Registry({ plugins: new Map([['simulator', SimulatorDataSource]]), app: { logger: silent, baseDir: REPO, version: 'test' } });
    await registry.start([{ id: 'sim', plugin: 'simulator' }]);
    const ctx: HandlerContext = { registry, limits: limitsSchema.parse({}), version: 'test', startedAt: Date.now(), probes: [], now: Date.now };
    const hub = new StreamHub(ctx, { lingerMs: 0 });
    const app = await buildServer({
      ctx,
      hub,
      config: { corsOrigins: [], heartbeatMs: 10_000, idleTimeoutMs: 10_000, limits: ctx.limits },
      keys: new KeyStore({ apiKeys: [READ_KEY], controlKeys: [CONTROL_KEY] }),
      logger: silent,
    });
    app.post('/api/control/test', { preHandler: requireControl }, async () => ({ done: true }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/api/control/test`;
    try {
      const as = (key: string | null) => fetch(url, { method: 'POST', headers: key ? { authorization: `Bearer ${key}` } : {} });
      const control = await as(CONTROL_KEY);
      expect(control.status).toBe(200);
      expect(await control.json()).toEqual({ done: true });
      const read = await as(READ_KEY);
      expect(read.status).toBe(403);
      expect(((await read.json()) as Json).error).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/control key/) });
      expect((await as(null)).status).toBe(401);
    } finally {
      await app.close();
      await hub.close();
      await registry.stop();
    }
  });
});

describe('where keys come from', () => {
  const config = (server: Record<string, unknown>) =>
    parseSidecarConfig({ server: { host: '127.0.0.1', port: 0, logLevel: 'silent', ...server }, instances: [{ id: 'sim', plugin: 'simulator' }] }, REPO);

  it('merges SCADALIVE_API_KEYS / SCADALIVE_CONTROL_KEYS with the config', async () => {
    const envKey = 'env-read-key-0123456789';
    const sc = await startSidecar(config({ apiKeys: [READ_KEY] }), {
      version: 'test',
      logger: silent,
      env: { SCADALIVE_API_KEYS: ` ${envKey} ,`, SCADALIVE_CONTROL_KEYS: CONTROL_KEY },
    });
    try {
      for (const key of [READ_KEY, envKey, CONTROL_KEY]) {
        expect((await fetch(`${sc.url}/api/health`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
      }
    } finally {
      await sc.close();
    }
  });

  it('refuses to start with no key at all', async () => {
    await expect(startSidecar(config({}), { version: 'test', logger: silent, env: {} })).rejects.toThrow(/no API keys configured/);
  });

  it('refuses a too-short key from the environment', async () => {
    await expect(startSidecar(config({}), { version: 'test', logger: silent, env: { SCADALIVE_API_KEYS: 'short' } })).rejects.toThrow(/shorter than 16/);
  });

  it('allows running without keys only when asked to and only on loopback', async () => {
    await expect(startSidecar(config({ host: '0.0.0.0' }), { version: 'test', logger: silent, env: {}, allowNoAuth: true })).rejects.toThrow(/only allowed on a loopback host/);
    const sc = await startSidecar(config({}), { version: 'test', logger: silent, env: {}, allowNoAuth: true });
    try {
      expect((await fetch(`${sc.url}/api/health`)).status).toBe(200);
    } finally {
      await sc.close();
    }
  });
});

describe('CORS allow-list', () => {
  const preflight = (origin: string) =>
    fetch(`${s.url}/api/query`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });

  it('answers a preflight from an allowed origin, without a key', async () => {
    const res = await preflight(ALLOWED_ORIGIN);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
  });

  it('refuses a preflight from any other origin', async () => {
    for (const origin of ['https://evil.example.com', 'http://grafana.example.com', 'null']) {
      const res = await preflight(origin);
      expect(res.status).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(((await res.json()) as Json).error).toMatchObject({ code: 'FORBIDDEN', field: 'origin' });
    }
  });

  it('adds CORS headers to responses for allowed origins only', async () => {
    const ok = await s.fetch('/api/health', { headers: { origin: ALLOWED_ORIGIN } });
    expect(ok.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(ok.headers.get('vary')).toMatch(/Origin/);
    const other = await s.fetch('/api/health', { headers: { origin: 'https://evil.example.com' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    // Even an error answer carries them for an allowed origin, so the page can read it.
    const denied = await s.fetch('/api/health', { key: null, headers: { origin: ALLOWED_ORIGIN } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
  });

  it('checks the WebSocket Origin against the same list; no Origin (not a browser) is fine', async () => {
    await expect(LiveClient.open(s.wsUrl, { headers: { origin: 'https://evil.example.com' } })).rejects.toMatchObject({
      status: 403,
      body: expect.stringContaining('is not allowed'),
    });
    const allowed = await LiveClient.open(s.wsUrl, { headers: { origin: ALLOWED_ORIGIN } });
    await allowed.close();
    const noOrigin = await LiveClient.open(s.wsUrl);
    noOrigin.send({ type: 'ping' });
    await noOrigin.waitFor((m) => m.type === 'pong');
    await noOrigin.close();
  });
});
