import pino from 'pino';
import { DataSource, type Params } from './datasource';
import { InstanceHandle } from './instance';
import type { AppContext, BlobSink, Channel, ObjectSet, Resampled, SampleListener, SeriesSet, Unsubscribe } from './types';

const app: AppContext = { logger: pino({ level: 'silent' }), baseDir: '/', version: 'test' };
const MIN = 60_000;

/** A plugin whose answers each test sets, to check what the handle makes of them. */
class Scripted extends DataSource {
  channelList: unknown = [
    { name: 'level', type: 'timeseries' },
    { name: 'temp', type: 'timeseries' },
    { name: 'spectrum', type: 'histogram' },
  ];
  answer: unknown;
  lastCall?: unknown[];

  override getChannels(): Channel[] {
    return this.channelList as Channel[];
  }
  override async getTimeseries(...args: unknown[]): Promise<SeriesSet | Resampled> {
    this.lastCall = args;
    return this.answer as SeriesSet;
  }
  override getObject(): ObjectSet {
    return this.answer as ObjectSet;
  }
  override getBlob(channel: string, params: Params, output: BlobSink): string {
    output.write(`${channel}:`);
    output.write(new Uint8Array([0x41, 0x42]));
    output.write(String(params.suffix ?? ''));
    return 'application/octet-stream';
  }
}

class Pusher extends Scripted {
  listeners = new Set<SampleListener>();
  override subscribe(_channels: string[], listener: SampleListener): Unsubscribe {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

function handle(source = new Scripted(app, 'default', {}), options = {}): { h: InstanceHandle; src: Scripted } {
  source.pluginName = 'scripted';
  return { h: new InstanceHandle('i1', 'scripted', 'default', source, options), src: source };
}

const f64 = (...xs: number[]) => Float64Array.from(xs);

describe('channels', () => {
  it('returns the listing and finds one channel', async () => {
    const { h } = handle();
    expect((await h.channels()).map((c) => c.name)).toEqual(['level', 'temp', 'spectrum']);
    expect(await h.channel('spectrum')).toEqual({ name: 'spectrum', type: 'histogram' });
    expect(h.channelCount).toBe(3);
  });

  it('answers UNKNOWN_CHANNEL for a name it does not have', async () => {
    const { h } = handle();
    await expect(h.channel('pressure')).rejects.toMatchObject({ code: 'UNKNOWN_CHANNEL', field: 'channels', message: 'unknown channel "pressure" in data source "i1"' });
  });

  it('rejects duplicate names and malformed channels from the plugin', async () => {
    const { h, src } = handle();
    src.channelList = [
      { name: 'a', type: 'timeseries' },
      { name: 'b', type: 'tree' },
      { name: 'a', type: 'table' },
    ];
    await expect(h.channels()).rejects.toMatchObject({ code: 'DUPLICATE_CHANNEL', message: expect.stringContaining('lists channel "a" twice') });
    src.channelList = [{ name: '', type: 'timeseries' }];
    await expect(h.channels()).rejects.toMatchObject({ code: 'INTERNAL', message: 'data source "i1" (plugin scripted): channel 0 has no name (a non-empty string)' });
    src.channelList = [{ name: 'x', type: 'scalar' }];
    await expect(h.channels()).rejects.toThrow('channel "x" has type "scalar"; expected one of timeseries, histogram, table, tree');
    src.channelList = { level: 'timeseries' };
    await expect(h.channels()).rejects.toThrow('getChannels returned object, expected an array of channels');
  });

  it('sees channels a plugin adds at runtime', async () => {
    const { h, src } = handle();
    expect(await h.channels()).toHaveLength(3);
    src.channelList = [...(src.channelList as Channel[]), { name: 'new', type: 'timeseries' }];
    expect(await h.channel('new')).toBeDefined();
  });
});

describe('timeseries', () => {
  it('converts plain arrays, sorts, clips to [to-length, to) and fills channels the plugin left out', async () => {
    const { h, src } = handle();
    src.answer = {
      level: { times: [3 * MIN, 1 * MIN, 2 * MIN, 5 * MIN, 0], values: [3, 1, null, 5, 0] },
      extra: { times: [1], values: [1] },
    };
    const set = await h.timeseries(['level', 'temp'], 4 * MIN, 5 * MIN);
    expect(src.lastCall).toEqual([['level', 'temp'], 4 * MIN, 5 * MIN, undefined, 'last']);
    expect(Object.keys(set)).toEqual(['level', 'temp']);
    expect(set.level.times).toBeInstanceOf(Float64Array);
    expect(Array.from(set.level.times)).toEqual([1 * MIN, 2 * MIN, 3 * MIN]);
    expect(Array.from(set.level.values)).toEqual([1, NaN, 3]);
    expect(set.temp.times.length).toBe(0);
  });

  it('resamples a raw answer when resampling is asked for', async () => {
    const { h, src } = handle();
    src.answer = {
      level: { times: f64(0, 30_000, 60_000, 90_000), values: f64(1, 3, 10, NaN) },
      temp: { times: f64(10_000), values: f64(20) },
    };
    const grid = await h.timeseries(['temp', 'level'], 2 * MIN, 2 * MIN, MIN, 'mean');
    expect(src.lastCall).toEqual([['temp', 'level'], 2 * MIN, 2 * MIN, MIN, 'mean']);
    expect(grid.names).toEqual(['temp', 'level']);
    expect(Array.from(grid.times)).toEqual([0, MIN]);
    expect(Array.from(grid.columns[0])).toEqual([20, NaN]);
    expect(Array.from(grid.columns[1])).toEqual([2, 10]);
    expect(grid.interval).toBe(MIN);
  });

  it("passes a plugin's own grid through, in the requested order", async () => {
    const { h, src } = handle();
    src.answer = { times: [0, MIN], names: ['level', 'temp'], columns: [[1, 2], f64(20, 21)], interval: MIN };
    const grid = await h.timeseries(['temp', 'level'], 2 * MIN, 2 * MIN, MIN);
    expect(grid.names).toEqual(['temp', 'level']);
    expect(Array.from(grid.columns[0])).toEqual([20, 21]);
    expect(grid.columns[1]).toBeInstanceOf(Float64Array);
    expect(Array.from(grid.columns[1])).toEqual([1, 2]);
  });

  it('rejects a malformed answer with a clear message instead of crashing', async () => {
    const { h, src } = handle();
    src.answer = { level: { times: [1, 2, 3], values: [1, 2] } };
    await expect(h.timeseries(['level'], 10, 10)).rejects.toMatchObject({
      code: 'INTERNAL',
      message: 'data source "i1" (plugin scripted): channel "level" has 3 times but 2 values',
    });
    src.answer = { level: { times: 'soon', values: [] } };
    await expect(h.timeseries(['level'], 10, 10)).rejects.toThrow('channel "level" times is string, expected a Float64Array or an array of numbers');
    src.answer = [1, 2];
    await expect(h.timeseries(['level'], 10, 10)).rejects.toThrow('getTimeseries returned an array');
  });

  it('checks the request before calling the plugin', async () => {
    const { h, src } = handle();
    await expect(h.timeseries(['level', 'nope', 'nada'], 10, 10)).rejects.toMatchObject({
      code: 'UNKNOWN_CHANNEL',
      field: 'channels',
      message: 'unknown channels "nope", "nada" in data source "i1"',
    });
    await expect(h.timeseries([], 10, 10)).rejects.toMatchObject({ code: 'BAD_REQUEST', field: 'channels' });
    await expect(h.timeseries(['level'], -1, 10)).rejects.toMatchObject({ code: 'BAD_REQUEST', field: 'length' });
    await expect(h.timeseries(['level'], 1, NaN)).rejects.toMatchObject({ code: 'BAD_REQUEST', field: 'to' });
    await expect(h.timeseries(['level'], 1, 1, 1, 'avg' as 'mean')).rejects.toMatchObject({ code: 'BAD_REQUEST', field: 'reducer' });
    expect(src.lastCall).toBeUndefined();
  });
});

describe('objects, blobs and subscriptions', () => {
  it('returns the requested objects and checks their type', async () => {
    const { h, src } = handle();
    src.answer = { spectrum: { type: 'histogram', edges: [0, 1, 2], counts: [3, 4] }, other: { type: 'tree', root: { name: 'x' } } };
    expect(await h.objects(['spectrum'], 10, 10)).toEqual({ spectrum: { type: 'histogram', edges: [0, 1, 2], counts: [3, 4] } });
    src.answer = { spectrum: { type: 'pie' } };
    await expect(h.objects(['spectrum'], 10, 10)).rejects.toThrow('object of channel "spectrum" has type "pie"');
  });

  it('collects what getBlob writes', async () => {
    const { h } = handle();
    const blob = await h.blob('level', { suffix: '!' });
    expect(blob.mime).toBe('application/octet-stream');
    expect(blob.bytes.toString('utf8')).toBe('level:AB!');
    await expect(h.blob('nope')).rejects.toMatchObject({ code: 'UNKNOWN_CHANNEL' });
  });

  it('refuses a blob over the size limit', async () => {
    const { h } = handle(undefined, { maxBlobBytes: 4 });
    await expect(h.blob('level')).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
  });

  it('passes subscribe through when the plugin can push', async () => {
    const plain = handle().h;
    expect(plain.canPush).toBe(false);
    await expect(plain.subscribe(['level'], () => undefined)).rejects.toMatchObject({ code: 'NOT_SUPPORTED', message: 'subscribe is not supported by scripted' });

    const src = new Pusher(app, 'default', {});
    const { h } = handle(src);
    expect(h.canPush).toBe(true);
    const got: SeriesSet[] = [];
    const unsubscribe = await h.subscribe(['level'], (batch) => got.push(batch));
    for (const l of src.listeners) l({ level: { times: f64(1), values: f64(2) } });
    expect(got).toHaveLength(1);
    unsubscribe();
    unsubscribe();
    expect(src.listeners.size).toBe(0);
    await expect(h.subscribe(['ghost'], () => undefined)).rejects.toMatchObject({ code: 'UNKNOWN_CHANNEL' });
  });
});
