/**
 * Property-based tests (fast-check) over the query and live request schemas, through the
 * real handlers and a real simulator: any accepted request completes within its limits, and
 * any refused one says which field or limit refused it.
 */
import fc from 'fast-check';
import { AppError } from '../../src/sidecar/errors';
import { handleQuery } from '../../src/sidecar/handlers/query';
import { StreamHub } from '../../src/sidecar/handlers/stream/hub';
import { gridTally } from '../../src/sidecar/timeseries/work-tally';
import { makeContext, SINE, RAMP, type TestContext } from '../fixtures/handler-context';

const LIMITS = { rowsPerFrame: 2000, cellsPerRequest: 20_000, channelsPerQuery: 4, queriesPerRequest: 8, backfillRows: 300 };
const NOW = Date.now();
const YEAR = 365 * 86_400_000;

let t: TestContext;
beforeAll(async () => {
  t = await makeContext({
    limits: LIMITS,
    // One sample a minute: windows up to years stay cheap, and longer ones hit the simulator's own limit.
    extraInstances: [{ id: 'slow', plugin: 'simulator', params: { sampleIntervalMs: 60_000, channels: [SINE, RAMP] } }],
  });
});
afterAll(() => t.close());

/** Times people and attackers send: around epoch 0, now, far past and future, Date's edges, junk. */
const wildTime = fc.oneof(
  fc.constantFrom(NOW - 300 * YEAR, NOW + 300 * YEAR, -8.64e15, 8.64e15, 8.64e15 + 1, 1e300, -1e300),
  fc.double({ noNaN: false }),
  fc.constantFrom('1700000000000', 'now', '', null, true),
);
/**
 * A window that is mostly sensible: ends near now or near epoch 0, spans 1 ms to a day, or
 * decades (which the simulators refuse before computing anything). No span in between, so a
 * run's cost stays small on a busy machine: the work bounds are what is tested, not speed.
 */
const window = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(NOW, 0, 1000, -1000, NOW - 86_400_000), fc.constantFrom(1, 999, 60_000, 3_600_000, 86_400_000, 60 * YEAR, 300 * YEAR)).map(([to, span]) => ({ from: to - span, to })) },
  { weight: 1, arbitrary: fc.record({ from: wildTime, to: wildTime }, { requiredKeys: [] }) },
);
const channel = fc.oneof({ weight: 5, arbitrary: fc.constantFrom('sine', 'ramp') }, { weight: 1, arbitrary: fc.constantFrom('sine_histogram', 'devices', 'nope', '', 'x'.repeat(2000)) });
const goodQuery = fc.record(
  {
    refId: fc.constantFrom('A', 'B', 'C', 'D', 'E'),
    instance: fc.constantFrom('sim', 'slow'),
    channels: fc.array(channel, { minLength: 1, maxLength: 4 }),
    kind: fc.constantFrom('timeseries', 'timeseries', 'timeseries', 'object'),
    reducer: fc.constantFrom('last', 'mean', 'median', 'count', 'min'),
    resampling: fc.oneof(fc.integer({ min: -10, max: 0 }), fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 10 * YEAR })),
    intervalMs: fc.oneof(fc.integer({ min: 1, max: 60_000 }), fc.integer({ min: 1, max: YEAR })),
    maxDataPoints: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2000 })),
    hide: fc.constant(false),
  },
  { requiredKeys: ['instance', 'channels'] },
);
const wildQuery = fc.record(
  {
    refId: fc.oneof(fc.constantFrom('A', 'B'), fc.string({ maxLength: 70 })),
    instance: fc.constantFrom('sim', 'ghost', ''),
    channels: fc.oneof(fc.array(fc.string({ maxLength: 3 }), { maxLength: 6 }), fc.constant('sine')),
    kind: fc.constantFrom('timeseries', 'table'),
    reducer: fc.constantFrom('last', 'avg'),
    resampling: fc.oneof(fc.double(), fc.constant('1000')),
    intervalMs: fc.oneof(fc.double(), fc.constant(-1)),
    maxDataPoints: fc.oneof(fc.integer({ min: -5, max: 5 }), fc.double(), fc.constant(1e12)),
    hide: fc.boolean(),
  },
  { requiredKeys: [] },
);
const query = fc.oneof({ weight: 6, arbitrary: goodQuery }, { weight: 1, arbitrary: wildQuery });
const request = fc
  .tuple(
    window,
    fc.oneof({ weight: 9, arbitrary: fc.array(query, { minLength: 1, maxLength: 10 }) }, { weight: 1, arbitrary: fc.constant([]) }),
    // Mostly distinct refIds, as Grafana sends them; sometimes the generator's own (duplicates included).
    fc.boolean(),
  )
  .map(([w, queries, renumber]) => ({ ...w, queries: renumber ? queries.map((q, i) => ({ ...q, refId: `Q${i}` })) : queries }));

function expectNamedRefusal(err: unknown): void {
  expect(err).toBeInstanceOf(AppError);
  const e = err as AppError;
  expect(e.status).toBeGreaterThanOrEqual(400);
  expect(e.status).toBeLessThan(500);
  expect(e.field).toEqual(expect.any(String));
}

test('any query request completes: accepted ones within their limits, refused ones naming a field', async () => {
  await fc.assert(
    fc.asyncProperty(request, async (req) => {
      const before = { ...gridTally };
      let answer;
      try {
        answer = await handleQuery(t.ctx, req);
      } catch (err) {
        expectNamedRefusal(err);
        expect(gridTally.cells).toBe(before.cells); // refused before any grid was built
        return;
      }
      expect(gridTally.cells - before.cells).toBeLessThanOrEqual(LIMITS.cellsPerRequest);
      for (const result of Object.values(answer.body.results)) {
        if (result.error) {
          expect(result.status).toBeGreaterThanOrEqual(400);
          // Schema errors name the query's field; limits and lookups name what refused.
          expect(result.error).toMatch(/queries\.\d+(\.\w+)*:|limit|unknown|instance|channel|must|not supported/i);
          continue;
        }
        for (const frame of result.frames ?? []) {
          const rows = (frame.data?.values?.[0] as unknown[] | undefined)?.length ?? 0;
          expect(rows).toBeLessThanOrEqual(LIMITS.rowsPerFrame);
        }
      }
    }),
    { numRuns: 300 },
  );
});

const goodSubscribe = fc.record(
  {
    instance: fc.constantFrom('sim', 'slow'),
    channels: fc.array(fc.constantFrom('sine', 'ramp'), { minLength: 1, maxLength: 4 }),
    reducer: fc.constantFrom('last', 'max', 'mean'),
    intervalMs: fc.oneof(fc.integer({ min: 10, max: 5000 }), fc.constantFrom(60_000, 86_400_000)),
    since: fc.oneof(fc.constant(undefined), fc.integer({ min: NOW - 3_600_000, max: NOW + 120_000 })),
    backfillMs: fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 10 * YEAR }), fc.constant(1e15)),
  },
  { requiredKeys: ['instance', 'channels', 'intervalMs'] },
);
const wildSubscribe = fc.record(
  {
    instance: fc.constantFrom('sim', 'ghost'),
    channels: fc.oneof(fc.array(fc.string({ maxLength: 3 }), { maxLength: 6 }), fc.constant('sine')),
    reducer: fc.constantFrom('last', 'avg'),
    intervalMs: fc.oneof(fc.integer({ min: 1, max: 100_000_000 }), fc.double()),
    since: wildTime,
    backfillMs: fc.oneof(fc.integer({ min: -10, max: 0 }), fc.double()),
    legend: fc.string({ maxLength: 300 }),
    extra: fc.constant(1),
  },
  { requiredKeys: [] },
);
const subscribe = fc.oneof({ weight: 3, arbitrary: goodSubscribe }, { weight: 1, arbitrary: wildSubscribe });

test('any live subscribe request starts within its limits or is refused naming a field', async () => {
  const hub = new StreamHub(t.ctx, { lingerMs: 0 });
  try {
    await fc.assert(
      fc.asyncProperty(subscribe, async (req) => {
        const before = { ...gridTally };
        let frames = 0;
        let sub;
        try {
          sub = await hub.subscribe(
            req,
            () => void frames++,
            () => undefined,
          );
        } catch (err) {
          if (err instanceof AppError && err.code === 'LIMIT_EXCEEDED') {
            // The source refused to compute too many samples: a limit, named.
            expect(err.message).toMatch(/limit/);
          } else expectNamedRefusal(err);
          return;
        }
        sub.close();
        expect(frames).toBeGreaterThanOrEqual(1); // schema and backfill first
        const channels = new Set((req as { channels: string[] }).channels).size;
        expect(gridTally.cells - before.cells).toBeLessThanOrEqual((LIMITS.backfillRows + 2) * channels * 2);
      }),
      { numRuns: 200 },
    );
  } finally {
    await hub.close();
  }
});
