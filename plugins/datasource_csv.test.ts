import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { loadPlugins } from '../src/sidecar/registry/loader';
import { Registry } from '../src/sidecar/registry/registry';
import type { DataSourceClass } from '../src/sidecar/registry/datasource';

const MIN = 60_000;
const T0 = Date.parse('2024-01-01T00:00:00Z');
const logger = pino({ level: 'silent' });

let plugins: Map<string, DataSourceClass>;
let registry: Registry;
let tmp: string;

beforeAll(async () => {
  // Through the real loader and the real plugins/ directory, as `scadalive serve` does.
  plugins = await loadPlugins({ dir: __dirname, required: true });
  registry = new Registry({ plugins, app: { logger, baseDir: path.resolve(__dirname, '..'), version: 'test' } });
  const report = await registry.start([{ id: 'tank', plugin: 'csv', params: { file: 'plugins/data/example.csv' } }]);
  expect(report).toEqual({ ready: ['tank'], failed: [] });
  tmp = await mkdtemp(path.join(tmpdir(), 'scadalive-csv-'));
});

afterAll(async () => {
  await registry.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('csv plugin on plugins/data/example.csv', () => {
  it('is discovered as "csv" and lists every non-time column', async () => {
    expect(plugins.has('csv')).toBe(true);
    expect((await registry.get('tank').channels()).map((c) => [c.name, c.type])).toEqual([
      ['tank_level', 'timeseries'],
      ['temperature', 'timeseries'],
      ['pump_on', 'timeseries'],
    ]);
  });

  it('serves raw values in [to-length, to), with missing cells as NaN', async () => {
    const set = await registry.get('tank').timeseries(['tank_level', 'temperature'], 10 * MIN, T0 + 10 * MIN);
    expect(Array.from(set.tank_level.times)).toEqual(Array.from({ length: 10 }, (_, i) => T0 + i * MIN));
    expect(Array.from(set.tank_level.values)).toEqual([2.0, 2.01, 2.02, 2.03, 2.04, 2.05, 2.06, 2.07, 2.08, 2.09]);
    // Row 5 is empty and row 6 says "n/a".
    expect(Array.from(set.temperature.values)).toEqual([18.0, 18.05, 18.1, 18.15, 18.2, NaN, NaN, 18.35, 18.4, 18.45]);

    // The window may run past the data: the last 5 of 200 rows.
    const last = await registry.get('tank').timeseries(['tank_level'], 105 * MIN, T0 + 300 * MIN);
    expect(Array.from(last.tank_level.values)).toEqual([3.95, 3.96, 3.97, 3.98, 3.99]);
    const before = await registry.get('tank').timeseries(['tank_level'], MIN, T0);
    expect(before.tank_level.times.length).toBe(0);
  });

  it('resamples with the shared resampler', async () => {
    const h = registry.get('tank');
    const mean = await h.timeseries(['tank_level', 'temperature'], 30 * MIN, T0 + 30 * MIN, 10 * MIN, 'mean');
    expect(Array.from(mean.times)).toEqual([T0, T0 + 10 * MIN, T0 + 20 * MIN]);
    expect(mean.names).toEqual(['tank_level', 'temperature']);
    [2.045, 2.145, 2.245].forEach((v, i) => expect(mean.columns[0][i]).toBeCloseTo(v, 10));
    // The NaN cells are ignored: 8 readings in the first bucket.
    expect(mean.columns[1][0]).toBeCloseTo((18.0 + 18.05 + 18.1 + 18.15 + 18.2 + 18.35 + 18.4 + 18.45) / 8, 10);

    const count = await h.timeseries(['temperature'], 30 * MIN, T0 + 30 * MIN, 10 * MIN, 'count');
    expect(Array.from(count.columns[0])).toEqual([8, 10, 10]);

    const pump = await h.timeseries(['pump_on'], 2 * 60 * MIN, T0 + 2 * 60 * MIN, 30 * MIN, 'max');
    expect(Array.from(pump.columns[0])).toEqual([1, 0, 1, 0]);
  });

  it('answers UNKNOWN_CHANNEL and NOT_SUPPORTED clearly', async () => {
    await expect(registry.get('tank').timeseries(['tank_levle'], MIN, T0)).rejects.toMatchObject({ code: 'UNKNOWN_CHANNEL', field: 'channels' });
    await expect(registry.get('tank').objects(['tank_level'], MIN, T0)).rejects.toMatchObject({ code: 'NOT_SUPPORTED', message: 'getObject is not supported by csv' });
  });
});

describe('csv plugin on other files', () => {
  async function start(id: string, file: string, text: string, params: Record<string, unknown> = {}) {
    await writeFile(path.join(tmp, file), text);
    const r = new Registry({ plugins, app: { logger, baseDir: tmp, version: 'test' } });
    const report = await r.start([{ id, plugin: 'csv', params: { file, ...params } }]);
    return { r, report };
  }

  it('reads epoch ms, sorts unsorted rows, honours delimiter, quotes, CRLF and timeColumn', async () => {
    const text = 'value;"ts";"note; with delimiter"\r\n2;2000;"b"\r\n1;1000;"a ""quoted"""\r\n\r\n3;3000;x\r\n';
    const { r, report } = await start('epoch', 'epoch.csv', text, { delimiter: ';', timeColumn: 'ts' });
    expect(report.failed).toEqual([]);
    expect((await r.get('epoch').channels()).map((c) => c.name)).toEqual(['value', 'note; with delimiter']);
    const set = await r.get('epoch').timeseries(['value', 'note; with delimiter'], 10_000, 10_000);
    expect(Array.from(set.value.times)).toEqual([1000, 2000, 3000]);
    expect(Array.from(set.value.values)).toEqual([1, 2, 3]);
    expect(Array.from(set['note; with delimiter'].values)).toEqual([NaN, NaN, NaN]);
    await r.stop();
  });

  it('takes ISO times without an offset as UTC', async () => {
    const { r } = await start('iso', 'iso.csv', 'time,v\n2024-01-01 00:00,1\n2024-01-01T01:00:00+01:00,2\n');
    const set = await r.get('iso').timeseries(['v'], 2 * 3600_000, T0 + 3600_000);
    expect(Array.from(set.v.times)).toEqual([T0, T0]);
    await r.stop();
  });

  it('fails the instance with a clear, field-naming error for bad params or a bad file', async () => {
    const missing = await start('m', 'ok.csv', 'time,v\n1,1\n', { file: 'nope.csv' });
    expect(missing.report.failed[0]).toMatchObject({ code: 'BAD_PARAMS', field: 'params.file', reason: expect.stringContaining('cannot read CSV file') });

    const r = new Registry({ plugins, app: { logger, baseDir: tmp, version: 'test' } });
    const noFile = await r.start([{ id: 'nf', plugin: 'csv', params: { delimiter: ';;' } }]);
    expect(noFile.failed[0]).toMatchObject({ code: 'BAD_PARAMS', field: 'params.file', reason: expect.stringContaining('params.file: required') });

    const col = await start('c', 'col.csv', 'time,v\n1,1\n', { timeColumn: 'when' });
    expect(col.report.failed[0]).toMatchObject({ field: 'params.timeColumn', reason: expect.stringContaining('time column "when" is not in') });

    const badTime = await start('t', 'bad.csv', 'time,v\n1,1\nyesterday,2\n');
    expect(badTime.report.failed[0].reason).toMatch(/bad\.csv:3: time "yesterday" is neither epoch ms nor ISO 8601$/);
  });
});
