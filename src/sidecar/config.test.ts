import { parseSidecarConfig } from './config';
import { AppError } from './errors';

const device = { id: 'plc', name: 'PLC', protocol: 'modbus_tcp', host: '127.0.0.1', port: 1502 };

function problem(data: unknown): AppError {
  try {
    parseSidecarConfig(data, '/cfg');
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected a config error');
}

describe('parseSidecarConfig', () => {
  it('defaults: memory-capable store config, no model, baseDir kept', () => {
    const c = parseSidecarConfig({}, '/cfg');
    expect(c.store.backend).toBe('auto');
    expect(c.store.redis.keyPrefix).toBe('scadalive:');
    expect(c.model).toBeUndefined();
    expect(c.baseDir).toBe('/cfg');
    expect(c.registry.pluginsDir).toBe('/cfg/plugins');
    // An empty section (`store:` in YAML) is all defaults too.
    expect(parseSidecarConfig({ store: null, model: null }, '/cfg')).toMatchObject({ store: { backend: 'auto' } });
  });

  it('parses store and model sections with their defaults filled', () => {
    const c = parseSidecarConfig(
      {
        store: { redis: { url: 'redis://127.0.0.1:6390', keyPrefix: 'x:' } },
        model: { devices: [device], terms: [{ id: 'u1', name: 'U1', deviceId: 'plc', address: 1 }] },
      },
      '/cfg',
    );
    expect(c.store.redis).toMatchObject({ url: 'redis://127.0.0.1:6390', keyPrefix: 'x:', chunkMs: 600_000 });
    expect(c.model?.devices[0]).toMatchObject({ id: 'plc', enabled: true, pollIntervalMs: 1000 });
    expect(c.model?.items).toEqual([]);
  });

  it.each<[string, unknown, string, RegExp]>([
    ['an unknown top-level section', { stor: {} }, 'stor', /unknown field/],
    ['an unknown store field', { store: { redisUrl: 'redis://x' } }, 'store.redisUrl', /unknown field/],
    ['a bad Redis URL', { store: { redis: { url: 'http://x' } } }, 'store.redis.url', /redis:\/\//],
    ['a store cross-field rule', { store: { redis: { chunkMs: 7000 } } }, 'store.redis.rollupChunkMs', /multiple of redis\.chunkMs/],
    ['an unknown model section', { model: { device: [] } }, 'model.device', /unknown field/],
    ['a bad device port', { model: { devices: [{ ...device, port: 0 }] } }, 'model.devices.0.port', /./],
    ['a duplicate device id', { model: { devices: [device, device] } }, 'model.devices.1.id', /already declared at devices\.0/],
    [
      'a link that cannot be written',
      { model: { links: [{ termId: 't', itemId: 'i', table: 'input', address: 0, dataType: 'uint16', writable: true }] } },
      'model.links.0.writable',
      /read-only/,
    ],
  ])('names the field for %s', (_what, data, field, message) => {
    const err = problem(data);
    expect(err.code).toBe('BAD_PARAMS');
    expect(err.field).toBe(field);
    expect(err.message).toMatch(message);
    expect(err.message).toContain(`${field}:`);
  });
});
