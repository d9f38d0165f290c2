import { dataFrameFromJSON, FieldType, type DataFrame } from '@grafana/data';
import type { FrameJSON } from '../../src/common/frames';
import { handleQuery } from '../../src/sidecar/handlers/query';
import { chooseInterval } from '../../src/sidecar/timeseries/interval';
import { AppError } from '../../src/sidecar/errors';
import { DataSource } from '../../src/sidecar/registry/datasource';
import { expectedSine, makeContext, type TestContext } from '../fixtures/handler-context';

class Broken extends DataSource {
  override getChannels() {
    return [{ name: 'x', type: 'timeseries' as const }];
  }
  override getTimeseries(): never {
    throw new Error('device on fire');
  }
}

/** A source that keeps one minute: it answers the grid and says why the rest is empty. */
class ShortMemory extends DataSource {
  override getChannels() {
    return [{ name: 'y', type: 'timeseries' as const }];
  }
  override getTimeseries(_channels: string[], length: number, to: number, resampling = 1000) {
    const n = Math.ceil(length / resampling);
    const times = Float64Array.from({ length: n }, (_, k) => to - length + k * resampling);
    return {
      times,
      names: ['y'],
      columns: [new Float64Array(n).fill(NaN)],
      interval: resampling,
      notices: ['raw samples are kept back to 1 min ago'],
    };
  }
}

/** As Grafana gets it: through JSON on the wire. */
const parse = (frame: FrameJSON): DataFrame => dataFrameFromJSON(JSON.parse(JSON.stringify(frame)));

let t: TestContext;
beforeAll(async () => {
  t = await makeContext({
    extraPlugins: { broken: Broken, short: ShortMemory },
    extraInstances: [
      { id: 'bad', plugin: 'broken' },
      { id: 'short', plugin: 'short' },
    ],
  });
});
afterAll(() => t.close());

// A whole minute, a few minutes in the past, on second boundaries.
const to = Math.floor(Date.now() / 60_000) * 60_000 - 120_000;
const from = to - 60_000;

describe('query handler', () => {
  it("answers wide frames Grafana parses, with the simulator's exact values", async () => {
    const answer = await handleQuery(t.ctx, {
      from: String(from),
      to: String(to),
      queries: [
        { refId: 'A', instance: 'sim', channels: ['sine', 'ramp'], reducer: 'first', resampling: 5000, legend: '{{name}} [{{unit}}]' },
      ],
    });
    expect(answer.status).toBe(200);
    const result = answer.body.results.A;
    expect(result.error).toBeUndefined();
    const frame = parse(result.frames[0]);
    expect(frame.refId).toBe('A');
    expect(frame.fields.map((f) => [f.name, f.type])).toEqual([
      ['time', FieldType.time],
      ['sine', FieldType.number],
      ['ramp', FieldType.number],
    ]);
    expect(frame.length).toBe(12);
    const times = frame.fields[0].values;
    expect(times[0]).toBe(from);
    expect(times[11]).toBe(to - 5000);
    // 'first' of each 5 s bucket is the sample at the bucket start.
    frame.fields[1].values.forEach((v: number, i: number) => expect(v).toBeCloseTo(expectedSine(times[i]), 9));
    frame.fields[2].values.forEach((v: number, i: number) => expect(v).toBeCloseTo(((times[i] % 10_000) / 10_000) * 100, 9));
    expect(frame.fields[1].config.unit).toBe('celsius');
    expect(frame.fields[1].config.displayNameFromDS).toBe('sine [degC]');
    expect(frame.fields[1].labels).toEqual({ instance: 'sim' });
    expect(frame.meta?.custom).toEqual({ intervalMs: 5000, reducer: 'first' });
  });

  it("passes a source's notices to Grafana as the frame's warnings", async () => {
    const answer = await handleQuery(t.ctx, { from, to, queries: [{ refId: 'A', instance: 'short', channels: ['y'], resampling: 5000 }] });
    const frame = parse(answer.body.results.A.frames[0]);
    expect(frame.meta?.notices).toEqual([{ severity: 'warning', text: 'raw samples are kept back to 1 min ago' }]);
    // Without notices, the frame has none.
    const plain = await handleQuery(t.ctx, { from, to, queries: [{ refId: 'A', instance: 'sim', channels: ['sine'], resampling: 5000 }] });
    expect(parse(plain.body.results.A.frames[0]).meta?.notices).toBeUndefined();
  });

  it('chooses the interval from intervalMs and maxDataPoints so no frame has more rows', async () => {
    const answer = await handleQuery(t.ctx, {
      from,
      to,
      queries: [{ refId: 'A', instance: 'sim', channels: ['sine'], intervalMs: 1000, maxDataPoints: 7 }],
    });
    const frame = parse(answer.body.results.A.frames[0]);
    expect(frame.length).toBeLessThanOrEqual(7);
    expect(frame.meta?.custom?.intervalMs).toBe(10_000);
    // No legend: the channel's name, not Grafana's default of name plus every label.
    expect(frame.fields[1].config.displayNameFromDS).toBe('sine');
    for (const [f, t2, i, m] of [
      [0, 3_600_000, 1000, 1000],
      [123, 86_400_000 + 123, 20, 1500],
      [5, 1_000_005, undefined, 3],
    ] as const) {
      const interval = chooseInterval(f, t2, i, m);
      expect(Math.ceil((t2 - Math.floor(f / interval) * interval) / interval)).toBeLessThanOrEqual(m);
      expect(interval).toBeGreaterThanOrEqual(i ?? 1);
    }
  });

  it('answers each query on its own: one failure is its own error', async () => {
    const answer = await handleQuery(t.ctx, {
      from,
      to,
      queries: [
        { refId: 'ok', instance: 'sim', channels: ['sine'], resampling: 10_000 },
        { refId: 'nochan', instance: 'sim', channels: ['nope'] },
        { refId: 'noinst', instance: 'ghost', channels: ['sine'] },
        { refId: 'types', instance: 'sim', channels: 'sine' },
        { refId: 'fire', instance: 'bad', channels: ['x'] },
        { refId: 'absurd', instance: 'sim', channels: ['sine'], maxDataPoints: 1e12 },
        { refId: 'reducer', instance: 'sim', channels: ['sine'], reducer: 'avg' },
      ],
    });
    const r = answer.body.results;
    expect(answer.status).toBe(200);
    expect(r.ok.frames).toHaveLength(1);
    expect(r.nochan).toMatchObject({ status: 404, frames: [] });
    expect(r.nochan.error).toMatch(/unknown channel "nope"/);
    expect(r.noinst.status).toBe(404);
    expect(r.noinst.error).toMatch(/ghost/);
    expect(r.types).toMatchObject({ status: 400 });
    expect(r.types.error).toMatch(/queries\.3\.channels/);
    expect(r.fire).toMatchObject({ status: 500, error: 'device on fire' });
    expect(r.absurd.error).toMatch(/queries\.5\.maxDataPoints: must be at most 100000/);
    expect(r.reducer.error).toMatch(/queries\.6\.reducer/);
  });

  it('answers the first error status when every query fails', async () => {
    const answer = await handleQuery(t.ctx, { from, to, queries: [{ refId: 'A', instance: 'ghost', channels: ['x'] }] });
    expect(answer.status).toBe(404);
  });

  it('rejects a broken envelope as a whole, naming the field', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [null, /query request/],
      [{ from: 'yesterday', to, queries: [{}] }, /from: must be epoch milliseconds/],
      [{ from, to }, /queries: required/],
      [{ from, to, queries: [] }, /at least one query/],
      [{ from: to, to: from, queries: [{}] }, /must be after from/],
      [{ from, to, queries: Array.from({ length: 51 }, (_, i) => ({ refId: `q${i}` })) }, /at most 50 queries/],
      [
        {
          from,
          to,
          queries: [
            { refId: 'A', instance: 'sim', channels: ['sine'] },
            { refId: 'A', instance: 'sim', channels: ['sine'] },
          ],
        },
        /duplicate refId "A"/,
      ],
    ];
    for (const [body, message] of cases) {
      await expect(handleQuery(t.ctx, body)).rejects.toThrow(message);
      await handleQuery(t.ctx, body).catch((e) => expect(e).toBeInstanceOf(AppError));
    }
  });

  it('turns object channels into histogram, table and node-graph frames', async () => {
    const sim = await makeContext();
    try {
      const answer = await handleQuery(sim.ctx, {
        from,
        to,
        queries: [{ refId: 'O', instance: 'sim', kind: 'object', channels: ['sine_histogram', 'devices', 'model'] }],
      });
      const frames = answer.body.results.O.frames.map(parse);
      const [hist, table, nodes, edges] = frames;
      expect(hist.fields.map((f) => f.name)).toEqual(['xMin', 'xMax', 'count']);
      expect(hist.fields[2].values.reduce((a: number, b: number) => a + b, 0)).toBe(60);
      expect(table.fields.map((f) => f.name)).toEqual(expect.arrayContaining(['name', 'value']));
      expect(table.length).toBe(2);
      expect(nodes.meta?.preferredVisualisationType).toBe('nodeGraph');
      expect(edges.length).toBe(nodes.length - 1);
    } finally {
      await sim.close();
    }
  });
});
