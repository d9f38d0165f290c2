/**
 * End to end: a real sidecar (`startSidecar`, the composition root, on an ephemeral port)
 * polling a real Modbus TCP simulator over loopback, talked to over HTTP and WebSocket
 * exactly as Grafana would. Only the config is written here; nothing is mocked.
 */
import pino from 'pino';
import { parseSidecarConfig } from '../../src/sidecar/config';
import type { ModelConfigInput } from '../../src/sidecar/scada/model/schemas';
import { startModbusSimulator, type ModbusSimulator } from '../../src/sidecar/scada/drivers/modbus/simulator';
import { startSidecar, type Sidecar, type StartOptions } from '../../src/sidecar/sidecar';
import { REPO, type Json } from '../server/harness';

export { LiveClient, REPO, sleep, type Json } from '../server/harness';

export const READ_KEY = 'e2e-read-key-0123456789';
export const CONTROL_KEY = 'e2e-control-key-0123456789';
export const silent = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** What the simulator serves, in engineering units: exact values the tests expect back. */
export const TEMPERATURE = 72.5;
export const FLOW = 123.4;
export const SETPOINT0 = 4.5;
export const LEVEL_MEAN = 50;
export const LEVEL_AMPLITUDE = 10;

/** Unit 1 (boiler): static float32 CDAB, static scaled uint16, a counter, a writable setpoint and coil. Unit 2 (tank): a sine. */
export function startPlantSimulator(): Promise<ModbusSimulator> {
  return startModbusSimulator(
    {
      host: '127.0.0.1',
      port: 0,
      updateMs: 20,
      units: [
        {
          unitId: 1,
          points: [
            {
              name: 'temperature',
              table: 'holding',
              address: 0,
              dataType: 'float32',
              byteOrder: 'CDAB',
              behaviour: { kind: 'static', value: TEMPERATURE },
            },
            { name: 'flow', table: 'input', address: 0, dataType: 'uint16', scale: 0.1, behaviour: { kind: 'static', value: FLOW } },
            {
              name: 'hours',
              table: 'holding',
              address: 10,
              dataType: 'uint32',
              behaviour: { kind: 'counter', start: 1000, step: 1, everyMs: 50 },
            },
            {
              name: 'setpoint',
              table: 'holding',
              address: 12,
              dataType: 'int16',
              scale: 0.01,
              behaviour: { kind: 'writable', initial: SETPOINT0 },
            },
            { name: 'pump', table: 'coil', address: 0, dataType: 'bool', behaviour: { kind: 'writable', initial: true } },
          ],
        },
        {
          unitId: 2,
          points: [
            {
              name: 'level',
              table: 'input',
              address: 0,
              dataType: 'float32',
              behaviour: { kind: 'sine', mean: LEVEL_MEAN, amplitude: LEVEL_AMPLITUDE, periodMs: 5000 },
            },
          ],
        },
      ],
    },
    { logger: silent },
  );
}

/** A device on `port` as the config's `model:` section (or a REST body) declares it. */
export function plantDevice(id: string, port: number): Json {
  return {
    id,
    name: `Plant ${id}`,
    protocol: 'modbus_tcp',
    host: '127.0.0.1',
    port,
    pollIntervalMs: 100,
    timeoutMs: 500,
    // Every poll is stored: exact row counts, no wait for a heartbeat.
    maxSilenceMs: 0,
    backoff: { initialMs: 100, maxMs: 1000 },
  };
}

/** The model matching startPlantSimulator, device `plant`. */
export function plantModel(port: number): ModelConfigInput {
  return {
    devices: [plantDevice('plant', port)],
    terms: [
      { id: 'boiler', name: 'Boiler', deviceId: 'plant', address: 1 },
      { id: 'tank', name: 'Tank', deviceId: 'plant', address: 2 },
    ],
    items: [
      { id: 'temperature', name: 'Temperature', unit: 'degC' },
      { id: 'flow', name: 'Flow', unit: 'm³/h' },
      { id: 'setpoint', name: 'Setpoint', unit: 'bar' },
      { id: 'pump', name: 'Pump running' },
      { id: 'level', name: 'Level', unit: '%' },
    ],
    links: [
      { termId: 'boiler', itemId: 'temperature', table: 'holding', address: 0, dataType: 'float32', byteOrder: 'CDAB' },
      { termId: 'boiler', itemId: 'flow', table: 'input', address: 0, dataType: 'uint16', scale: 0.1 },
      { termId: 'boiler', itemId: 'setpoint', table: 'holding', address: 12, dataType: 'int16', scale: 0.01, writable: true },
      { termId: 'boiler', itemId: 'pump', table: 'coil', address: 0, dataType: 'bool', writable: true },
      { termId: 'tank', itemId: 'level', table: 'input', address: 0, dataType: 'float32' },
    ],
  };
}

export interface E2ESidecar extends Sidecar {
  /** JSON request with a key (READ_KEY unless given; null for none). */
  call(method: string, pathname: string, options?: { key?: string | null; body?: unknown }): Promise<{ status: number; body: Json }>;
  /** POST /api/query over [now - windowMs, now). */
  query(queries: Json[], windowMs?: number): Promise<{ status: number; body: Json }>;
  wsUrl: string;
}

export async function startE2ESidecar(
  config: { model?: ModelConfigInput; store?: Json; instances?: Json[] },
  options: Partial<StartOptions> = {},
): Promise<E2ESidecar> {
  const parsed = parseSidecarConfig(
    {
      server: { host: '127.0.0.1', port: 0, apiKeys: [READ_KEY], controlKeys: [CONTROL_KEY], logLevel: 'silent', pipelineLingerMs: 0 },
      ...(config.store ? { store: config.store } : {}),
      ...(config.model ? { model: config.model } : {}),
      instances: config.instances ?? [
        { id: 'scada', plugin: 'scada' },
        { id: 'sim', plugin: 'simulator' },
      ],
    },
    REPO,
  );
  // env: {} so a REDIS_URL of the machine running the tests never picks the store.
  const sidecar = await startSidecar(parsed, { version: 'e2e', logger: silent, env: {}, manager: { resyncMs: 0 }, ...options });
  const call: E2ESidecar['call'] = async (method, pathname, options = {}) => {
    const key = options.key === undefined ? READ_KEY : options.key;
    const headers: Record<string, string> = key === null ? {} : { authorization: `Bearer ${key}` };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(sidecar.url + pathname, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await res.text();
    try {
      return { status: res.status, body: JSON.parse(text) };
    } catch {
      throw new Error(`${method} ${pathname}: not JSON (status ${res.status}): ${text.slice(0, 200)}`);
    }
  };
  return {
    ...sidecar,
    wsUrl: sidecar.url.replace(/^http/, 'ws') + '/api/live',
    call,
    query: (queries, windowMs = 5000) => {
      const to = Date.now();
      return call('POST', '/api/query', { body: { from: to - windowMs, to, queries } });
    },
  };
}

/** Polls `probe` until it returns a truthy value (returned), or fails with the last one seen. */
export async function until<T>(what: string, probe: () => Promise<T>, timeoutMs = 10_000, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let error: unknown;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      error = undefined;
      if (last) return last as NonNullable<T>;
    } catch (err) {
      error = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}; last: ${error instanceof Error ? error.message : JSON.stringify(last)?.slice(0, 500)}`);
}

/** Names of the timeseries channels of the `scada` instance. */
export async function scadaChannels(s: E2ESidecar): Promise<string[]> {
  const r = await s.call('GET', '/api/channels?instance=scada');
  if (r.status !== 200) throw new Error(`channels: ${r.status} ${JSON.stringify(r.body)}`);
  return (r.body.channels as Array<{ name: string; type: string }>).filter((c) => c.type === 'timeseries').map((c) => c.name);
}
