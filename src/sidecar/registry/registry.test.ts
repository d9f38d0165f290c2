import { Writable } from 'node:stream';
import pino from 'pino';
import { z } from 'zod';
import { AppError } from '../errors';
import { DataSource, type DataSourceClass } from './datasource';
import { Registry, type RegistryOptions } from './registry';
import type { AppContext, Channel } from './types';

const silentApp: AppContext = { logger: pino({ level: 'silent' }), baseDir: '/', version: 'test' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Records lifecycle calls per instance id, so tests can check what really ran. */
const calls: string[] = [];
beforeEach(() => {
  calls.length = 0;
});
const idOf = (ds: DataSource) => String(ds.params.tag ?? ds.project);

class SyncSource extends DataSource {
  override initialize(): void {
    calls.push(`init:${idOf(this)}`);
  }
  override finalize(): void {
    calls.push(`fin:${idOf(this)}`);
  }
  override getChannels(): Channel[] {
    return [
      { name: 'level', type: 'timeseries', unit: 'm' },
      { name: 'temp', type: 'timeseries' },
    ];
  }
}

class AsyncSource extends DataSource {
  override async initialize(): Promise<void> {
    await sleep(10);
    calls.push(`init:${idOf(this)}`);
  }
  override async finalize(): Promise<void> {
    await sleep(5);
    calls.push(`fin:${idOf(this)}`);
  }
  override async getChannels(): Promise<Channel[]> {
    await sleep(1);
    return [{ name: 'flow', type: 'timeseries' }];
  }
}

class ThrowingInit extends DataSource {
  override initialize(): void {
    throw new Error('cannot reach PLC at 10.0.0.9:502');
  }
  override finalize(): void {
    calls.push(`fin:${idOf(this)}`);
  }
}

class HangingInit extends DataSource {
  override initialize(): Promise<void> {
    return new Promise(() => undefined);
  }
}

class SlowInit extends DataSource {
  override async initialize(): Promise<void> {
    await sleep(80);
  }
  override finalize(): void {
    calls.push(`fin:${idOf(this)}`);
  }
}

class ThrowingFinalize extends DataSource {
  override finalize(): void {
    calls.push(`fin:${idOf(this)}`);
    throw new Error('socket already closed');
  }
}

class HangingFinalize extends DataSource {
  override finalize(): Promise<void> {
    calls.push(`fin:${idOf(this)}`);
    return new Promise(() => undefined);
  }
}

class ThrowingConstructor extends DataSource {
  constructor(app: AppContext, project: string, params: Record<string, unknown>) {
    super(app, project, params);
    throw new Error('bad wiring');
  }
}

class WithSchema extends DataSource {
  static override paramsSchema = z.object({ host: z.string(), port: z.number().int().default(502) });
  override getChannels(): Channel[] {
    return [{ name: `${String(this.params.host)}:${String(this.params.port)}`, type: 'timeseries' }];
  }
}

class DupChannels extends DataSource {
  override getChannels(): Channel[] {
    return [
      { name: 'a', type: 'timeseries' },
      { name: 'a', type: 'table' },
    ];
  }
}

const plugins = new Map<string, DataSourceClass>(
  Object.entries({
    sync: SyncSource,
    async: AsyncSource,
    throwing: ThrowingInit,
    hanging: HangingInit,
    slow: SlowInit,
    badfin: ThrowingFinalize,
    hangfin: HangingFinalize,
    badctor: ThrowingConstructor,
    schema: WithSchema,
    dup: DupChannels,
  }) as [string, DataSourceClass][],
);

function registry(options: Partial<RegistryOptions> = {}): Registry {
  return new Registry({ plugins, app: silentApp, initTimeoutMs: 1000, finalizeTimeoutMs: 1000, ...options });
}

function thrown(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected an AppError');
}

describe('Registry.start', () => {
  it('initializes sync and async plugins and serves their channels', async () => {
    const r = registry();
    const report = await r.start([
      { id: 's', plugin: 'sync', params: { tag: 's' } },
      { id: 'a', plugin: 'async', project: 'plant2', params: { tag: 'a' } },
    ]);
    expect(report).toEqual({ ready: ['s', 'a'], failed: [] });
    expect(calls.sort()).toEqual(['init:a', 'init:s']);
    expect((await r.get('s').channels()).map((c) => c.name)).toEqual(['level', 'temp']);
    expect(await r.get('a').channels()).toEqual([{ name: 'flow', type: 'timeseries' }]);
    expect(r.list()).toEqual([
      { id: 's', plugin: 'sync', project: 'default', state: 'ready', channels: 2 },
      { id: 'a', plugin: 'async', project: 'plant2', state: 'ready', channels: 1 },
    ]);
    await r.stop();
  });

  it('isolates a plugin whose initialize throws, and reports it', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const logger = pino({ level: 'error' }, sink);
    const r = registry({ app: { ...silentApp, logger } });
    const report = await r.start([
      { id: 'bad', plugin: 'throwing', params: { tag: 'bad' } },
      { id: 'good', plugin: 'sync', params: { tag: 'good' } },
    ]);
    expect(report.ready).toEqual(['good']);
    expect(report.failed).toEqual([
      { id: 'bad', plugin: 'throwing', code: 'INIT_FAILED', reason: 'initialize of plugin throwing failed: cannot reach PLC at 10.0.0.9:502' },
    ]);
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged).toEqual([expect.objectContaining({ id: 'bad', plugin: 'throwing', code: 'INIT_FAILED', reason: expect.stringContaining('cannot reach PLC') })]);

    const err = thrown(() => r.get('bad'));
    expect(err.code).toBe('NOT_READY');
    expect(err.field).toBe('instance');
    expect(err.message).toBe('data source instance "bad" (plugin throwing) failed to start: initialize of plugin throwing failed: cannot reach PLC at 10.0.0.9:502');
    expect(r.list()[0]).toMatchObject({ id: 'bad', state: 'failed', error: { code: 'INIT_FAILED' } });
    expect((await r.get('good').channels()).length).toBe(2);

    // A failed initialize is not finalized; the good one is.
    await r.stop();
    expect(calls).toEqual(['init:good', 'fin:good']);
  });

  it('times out an initialize that never resolves without holding up the others', async () => {
    const r = registry({ initTimeoutMs: 50 });
    const report = await r.start([
      { id: 'stuck', plugin: 'hanging' },
      { id: 'ok', plugin: 'async', params: { tag: 'ok' } },
    ]);
    expect(report.ready).toEqual(['ok']);
    expect(report.failed).toEqual([{ id: 'stuck', plugin: 'hanging', code: 'INIT_TIMEOUT', reason: 'initialize of plugin hanging did not finish within 50 ms' }]);
    expect(thrown(() => r.get('stuck')).code).toBe('NOT_READY');
    await r.stop();
  });

  it('finalizes an instance whose initialize finishes after its deadline', async () => {
    const r = registry({ initTimeoutMs: 20 });
    const report = await r.start([{ id: 'late', plugin: 'slow', params: { tag: 'late' } }]);
    expect(report.failed[0].code).toBe('INIT_TIMEOUT');
    await sleep(120);
    expect(calls).toEqual(['fin:late']);
    expect(r.list()[0].state).toBe('failed');
    await r.stop();
    expect(calls).toEqual(['fin:late']);
  });

  it('reports an unknown plugin and still starts the rest', async () => {
    const r = registry();
    const report = await r.start([
      { id: 'x', plugin: 'modbus9000' },
      { id: 'y', plugin: 'sync' },
    ]);
    expect(report.ready).toEqual(['y']);
    expect(report.failed).toHaveLength(1);
    expect(report.failed[0]).toMatchObject({ id: 'x', plugin: 'modbus9000', code: 'UNKNOWN_PLUGIN', field: 'plugin' });
    expect(report.failed[0].reason).toMatch(/^unknown plugin "modbus9000" for instance "x"; known plugins: sync, async, /);
    await r.stop();
  });

  it('validates params with the plugin schema, naming the field, and passes parsed params with defaults', async () => {
    const r = registry();
    const report = await r.start([
      { id: 'p1', plugin: 'schema', params: { host: 'plc1' } },
      { id: 'p2', plugin: 'schema', params: { host: 'plc2', port: 'five' } },
    ]);
    expect(report.ready).toEqual(['p1']);
    expect(report.failed).toEqual([
      {
        id: 'p2',
        plugin: 'schema',
        code: 'BAD_PARAMS',
        field: 'params.port',
        reason: 'invalid params of instance "p2" (plugin schema): params.port: Invalid input: expected number, received string',
      },
    ]);
    expect((await r.get('p1').channels())[0].name).toBe('plc1:502');
    await r.stop();
  });

  it('fails an instance whose constructor throws', async () => {
    const r = registry();
    const report = await r.start([{ id: 'c', plugin: 'badctor' }]);
    expect(report.failed).toEqual([{ id: 'c', plugin: 'badctor', code: 'INIT_FAILED', reason: 'constructor of plugin badctor threw: bad wiring' }]);
    await r.stop();
  });

  it('rejects duplicate instance ids before starting anything', async () => {
    const r = registry();
    await expect(
      r.start([
        { id: 'same', plugin: 'sync', params: { tag: 1 } },
        { id: 'same', plugin: 'async', params: { tag: 2 } },
      ]),
    ).rejects.toMatchObject({ code: 'DUPLICATE_INSTANCE', message: expect.stringContaining('"same"'), field: 'instances.1.id' });
    expect(calls).toEqual([]);
    expect(r.list()).toEqual([]);

    await r.start([{ id: 'one', plugin: 'sync' }]);
    await expect(r.start([{ id: 'one', plugin: 'sync' }])).rejects.toMatchObject({ code: 'DUPLICATE_INSTANCE' });
    await r.stop();
  });

  it('keeps an instance with duplicate channel names ready, but its listing fails clearly', async () => {
    const r = registry();
    expect((await r.start([{ id: 'd', plugin: 'dup' }])).ready).toEqual(['d']);
    await expect(r.get('d').channels()).rejects.toMatchObject({
      code: 'DUPLICATE_CHANNEL',
      message: 'data source "d" (plugin dup) lists channel "a" twice',
    });
    await r.stop();
  });
});

describe('Registry.get', () => {
  it('names an unknown instance and lists known ones', async () => {
    const r = registry();
    await r.start([{ id: 'tank', plugin: 'sync' }]);
    const err = thrown(() => r.get('tnak'));
    expect(err).toMatchObject({ code: 'UNKNOWN_INSTANCE', field: 'instance', status: 404 });
    expect(err.message).toBe('unknown data source instance "tnak"; known: tank');
    await r.stop();
  });

  it('answers NOT_READY while initializing and after stop', async () => {
    const r = registry();
    const starting = r.start([{ id: 'a', plugin: 'async', params: { tag: 'a' } }]);
    expect(thrown(() => r.get('a')).message).toBe('data source instance "a" (plugin async) is still initializing');
    expect(r.list()[0].state).toBe('initializing');
    await starting;
    await r.stop();
    expect(thrown(() => r.get('a')).message).toBe('data source instance "a" (plugin async) is stopped');
  });

  it('uses the registry plugin name in "not supported" messages', async () => {
    const r = registry();
    await r.start([{ id: 's', plugin: 'sync' }]);
    await expect(r.get('s').objects(['level'], 1000, 1000)).rejects.toMatchObject({ code: 'NOT_SUPPORTED', message: 'getObject is not supported by sync', status: 501 });
    await expect(r.get('s').timeseries(['level'], 1000, 1000)).rejects.toMatchObject({ message: 'getTimeseries is not supported by sync' });
    await expect(r.get('s').blob('level')).rejects.toMatchObject({ message: 'getBlob is not supported by sync' });
    await r.stop();
  });
});

describe('Registry.stop', () => {
  it('finalizes every initialized instance exactly once, despite one that throws and one that hangs', async () => {
    const r = registry({ finalizeTimeoutMs: 50 });
    await r.start([
      { id: 's', plugin: 'sync', params: { tag: 's' } },
      { id: 'bf', plugin: 'badfin', params: { tag: 'bf' } },
      { id: 'hf', plugin: 'hangfin', params: { tag: 'hf' } },
      { id: 'a', plugin: 'async', params: { tag: 'a' } },
    ]);
    calls.length = 0;
    await Promise.all([r.stop(), r.stop()]);
    await r.stop();
    expect(calls.sort()).toEqual(['fin:a', 'fin:bf', 'fin:hf', 'fin:s']);
    expect(r.list().map((s) => s.state)).toEqual(['stopped', 'stopped', 'stopped', 'stopped']);
  });

  it('waits for instances still initializing, then finalizes them', async () => {
    const r = registry();
    const starting = r.start([{ id: 'a', plugin: 'async', params: { tag: 'a' } }]);
    await r.stop();
    expect(calls).toEqual(['init:a', 'fin:a']);
    expect((await starting).ready).toEqual([]);
    expect(r.list()[0].state).toBe('stopped');
    await expect(r.start([{ id: 'b', plugin: 'sync' }])).rejects.toMatchObject({ code: 'NOT_READY' });
  });
});
