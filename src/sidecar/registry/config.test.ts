import { AppError } from '../errors';
import { parseRegistryConfig } from './config';

function thrown(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected an AppError');
}

describe('parseRegistryConfig', () => {
  it('fills defaults and resolves pluginsDir against the config dir', () => {
    const cfg = parseRegistryConfig({ instances: [{ id: 'tank-1', plugin: 'csv' }] }, '/etc/scadalive');
    expect(cfg).toEqual({
      pluginsDir: '/etc/scadalive/plugins',
      pluginsDirExplicit: false,
      initTimeoutMs: 10000,
      finalizeTimeoutMs: 5000,
      instances: [{ id: 'tank-1', plugin: 'csv', project: 'default', params: {} }],
    });
    expect(parseRegistryConfig({ instances: [{ id: 'a', plugin: 'csv', params: null }] }, '/').instances[0].params).toEqual({});
    const explicit = parseRegistryConfig({ pluginsDir: '../p', initTimeoutMs: 50, instances: [] }, '/etc/scadalive');
    expect(explicit.pluginsDir).toBe('/etc/p');
    expect(explicit.pluginsDirExplicit).toBe(true);
    expect(explicit.initTimeoutMs).toBe(50);
  });

  it('names the field of a bad instance id', () => {
    const err = thrown(() => parseRegistryConfig({ instances: [{ id: 'ok', plugin: 'a' }, { id: 'no spaces', plugin: 'a' }] }, '/'));
    expect(err.code).toBe('BAD_PARAMS');
    expect(err.field).toBe('instances.1.id');
    expect(err.message).toBe('invalid registry config: instances.1.id: must be 1-64 letters, digits, "_" or "-"');
  });

  it('reports a missing required field as required, and an unknown key by name', () => {
    const missing = thrown(() => parseRegistryConfig({}, '/'));
    expect(missing.field).toBe('instances');
    expect(missing.message).toBe('invalid registry config: instances: required (expected array)');

    const typo = thrown(() => parseRegistryConfig({ instances: [{ id: 'a', plugin: 'csv', parms: {} }] }, '/'));
    expect(typo.field).toBe('instances.0.parms');
    expect(typo.message).toContain('unknown field');
  });

  it('rejects duplicate instance ids naming the id', () => {
    const err = thrown(() =>
      parseRegistryConfig({ instances: [{ id: 'a', plugin: 'x' }, { id: 'b', plugin: 'x' }, { id: 'a', plugin: 'y' }] }, '/'),
    );
    expect(err.code).toBe('DUPLICATE_INSTANCE');
    expect(err.message).toContain('"a"');
    expect(err.field).toBe('instances.2.id');
  });
});
