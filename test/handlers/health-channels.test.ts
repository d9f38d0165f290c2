import { handleHealth } from '../../src/sidecar/handlers/health';
import { handleBlob, handleChannels } from '../../src/sidecar/handlers/channels';
import { DataSource } from '../../src/sidecar/registry/datasource';
import { makeContext } from '../fixtures/handler-context';

class FailsToStart extends DataSource {
  override initialize(): void {
    throw new Error('cannot reach PLC');
  }
}

describe('health handler', () => {
  it('is OK with every instance ready and reports version, uptime, instances and probes', async () => {
    const t = await makeContext({ probes: [{ name: 'store', check: async () => ({ status: 'ok', details: { kind: 'memory' } }) }] });
    try {
      const h = await handleHealth(t.ctx);
      expect(h.status).toBe('OK');
      expect(h.message).toBe('SCADA Live test: 1 of 1 data sources ready');
      expect(h.details.version).toBe('test');
      expect(h.details.uptimeSec).toBeGreaterThanOrEqual(5);
      expect(h.details.instances).toEqual([
        expect.objectContaining({ id: 'sim', plugin: 'simulator', state: 'ready', channels: expect.any(Number) }),
      ]);
      expect(h.details.probes.store).toEqual({ status: 'ok', details: { kind: 'memory' } });
    } finally {
      await t.close();
    }
  });

  it('is ERROR naming a failed instance and a down probe, and says degraded', async () => {
    const t = await makeContext({
      extraPlugins: { fails: FailsToStart },
      extraInstances: [{ id: 'plc1', plugin: 'fails' }],
      probes: [
        { name: 'store', check: async () => ({ status: 'degraded', message: 'buffering 12 samples' }) },
        { name: 'bus', check: () => Promise.reject(new Error('connection refused')) },
      ],
    });
    try {
      const h = await handleHealth(t.ctx);
      expect(h.status).toBe('ERROR');
      expect(h.message).toContain('1 of 2 data sources ready');
      expect(h.message).toContain('plc1 (fails) is failed: ');
      expect(h.message).toContain('cannot reach PLC');
      expect(h.message).toContain('bus is down: connection refused');
      expect(h.message).toContain('store degraded: buffering 12 samples');
    } finally {
      await t.close();
    }
  });
});

describe('channels and blob handlers', () => {
  it('lists channels filtered by instance, search and type', async () => {
    const t = await makeContext();
    try {
      const all = await handleChannels(t.ctx, {});
      expect(all.channels.map((c) => c.name)).toEqual(expect.arrayContaining(['sine', 'ramp', 'sine_histogram', 'devices', 'model']));
      expect(all.channels.every((c) => c.instance === 'sim')).toBe(true);
      const search = await handleChannels(t.ctx, { instance: 'sim', search: 'SIN*', type: 'timeseries' });
      expect(search.channels.map((c) => c.name)).toEqual(['sine']);
      const byUnit = await handleChannels(t.ctx, { search: '%' });
      expect(byUnit.channels.map((c) => c.name)).toContain('ramp');
      const limited = await handleChannels(t.ctx, { limit: '2' });
      expect(limited).toMatchObject({ truncated: true });
      expect(limited.channels).toHaveLength(2);
      await expect(handleChannels(t.ctx, { type: 'graph' })).rejects.toThrow(/type/);
      await expect(handleChannels(t.ctx, { instance: 'ghost' })).rejects.toThrow(/ghost/);
      await expect(handleChannels(t.ctx, { serach: 'x' })).rejects.toThrow(/serach: unknown field/);
    } finally {
      await t.close();
    }
  });

  it('fetches a blob with its MIME type, passing the rest as plugin params', async () => {
    const t = await makeContext();
    try {
      const blob = await handleBlob(t.ctx, { instance: 'sim', channel: 'sine', width: '200', height: '40' });
      expect(blob.mime).toBe('image/svg+xml');
      const svg = blob.bytes.toString('utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain('width="200"');
      await expect(handleBlob(t.ctx, { instance: 'sim' })).rejects.toThrow(/channel: required/);
    } finally {
      await t.close();
    }
  });
});
