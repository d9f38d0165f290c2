import fc from 'fast-check';
import { feasibleGroup, planReads, planSpans, type PlanLimits, type Span } from '../../src/sidecar/scada/drivers/modbus/planner';

/**
 * The fewest requests by brute force: over every subset of the spans (bitmask DP), the
 * minimum number of feasible groups that partition them. 3^n work; n ≤ 8 here.
 */
function bruteForceMinimum(spans: Span[], limits: PlanLimits): number {
  const n = spans.length;
  const full = (1 << n) - 1;
  const feasible = new Array<boolean>(full + 1);
  for (let m = 1; m <= full; m++)
    feasible[m] = feasibleGroup(
      spans.filter((_, i) => m & (1 << i)),
      limits,
    );
  const best = new Array<number>(full + 1).fill(Infinity);
  best[0] = 0;
  for (let m = 1; m <= full; m++) {
    const low = m & -m; // the group holding the lowest remaining span: enumerate its submasks
    for (let sub = m; sub > 0; sub = (sub - 1) & m) {
      if (sub & low && feasible[sub]) best[m] = Math.min(best[m], best[m ^ sub] + 1);
    }
  }
  return best[full];
}

const limitsArb = fc.record({ maxCount: fc.integer({ min: 1, max: 12 }), maxGap: fc.integer({ min: 0, max: 6 }) });
const mapArb = limitsArb.chain((limits) =>
  fc.tuple(
    fc.constant(limits),
    fc.array(fc.record({ start: fc.integer({ min: 0, max: 39 }), count: fc.integer({ min: 1, max: Math.min(limits.maxCount, 4) }) }), {
      minLength: 1,
      maxLength: 8,
    }),
  ),
);

describe('planSpans', () => {
  it('is optimal: as few requests as brute force over every partition (random maps ≤ 8 points, addresses < 40)', () => {
    fc.assert(
      fc.property(mapArb, ([limits, spans]) => {
        const plan = planSpans(spans, limits);
        expect(plan.length).toBe(bruteForceMinimum(spans, limits));
      }),
      { numRuns: 1500 },
    );
  });

  it('is valid: every span served exactly once, wholly inside its request, within the limits', () => {
    // Plain checks rather than expect() per span: thousands of matcher calls are slow.
    const problem = (spans: Span[], limits: PlanLimits): string | undefined => {
      const plan = planSpans(spans, limits);
      const served = plan.flatMap((r) => r.members).sort((a, b) => a - b);
      if (served.join() !== spans.map((_, i) => i).join()) return `served ${served.join()}`;
      for (const r of plan) {
        if (r.count > limits.maxCount) return `request of ${r.count}`;
        if (
          !feasibleGroup(
            r.members.map((i) => spans[i]),
            limits,
          )
        )
          return `infeasible request at ${r.start}`;
        const starts = r.members.map((i) => spans[i].start);
        const ends = r.members.map((i) => spans[i].start + spans[i].count);
        // Exactly the extent of what it serves: every span inside, nothing read past either end.
        if (Math.min(...starts) !== r.start || Math.max(...ends) !== r.start + r.count)
          return `request ${r.start}+${r.count} is not its spans' extent`;
      }
      return undefined;
    };
    fc.assert(
      fc.property(mapArb, ([limits, spans]) => problem(spans, limits) === undefined),
      { numRuns: 1500 },
    );
  });

  it('merges through gaps up to maxGap and splits at the length limit', () => {
    const spans = [
      { start: 0, count: 2 },
      { start: 4, count: 2 }, // gap 2
      { start: 10, count: 1 }, // gap 4
    ];
    expect(planSpans(spans, { maxCount: 125, maxGap: 2 }).map((r) => [r.start, r.count])).toEqual([
      [0, 6],
      [10, 1],
    ]);
    expect(planSpans(spans, { maxCount: 125, maxGap: 4 }).map((r) => [r.start, r.count])).toEqual([[0, 11]]);
    expect(planSpans(spans, { maxCount: 8, maxGap: 4 }).map((r) => [r.start, r.count])).toEqual([
      [0, 6],
      [10, 1],
    ]);
    // Overlapping and nested spans (a float and a bit of one of its registers) share a request.
    expect(
      planSpans(
        [
          { start: 5, count: 2 },
          { start: 6, count: 1 },
        ],
        { maxCount: 125, maxGap: 0 },
      ),
    ).toHaveLength(1);
  });

  it('125 contiguous uint16 → 1 request; 126 → 2', () => {
    const spans = (n: number) => Array.from({ length: n }, (_, i) => ({ start: i, count: 1 }));
    expect(planSpans(spans(125), { maxCount: 125, maxGap: 0 })).toHaveLength(1);
    expect(planSpans(spans(126), { maxCount: 125, maxGap: 0 })).toHaveLength(2);
  });

  it('refuses a span longer than a request', () => {
    expect(() => planSpans([{ start: 0, count: 130 }], { maxCount: 125, maxGap: 0 })).toThrow(RangeError);
  });
});

describe('planReads', () => {
  it('plans per unit and table, with each table’s limit', () => {
    const points = [
      { unitId: 1, table: 'holding' as const, address: 0, dataType: 'float32' as const },
      { unitId: 1, table: 'holding' as const, address: 2, dataType: 'uint16' as const },
      { unitId: 2, table: 'holding' as const, address: 0, dataType: 'uint16' as const },
      { unitId: 1, table: 'coil' as const, address: 0, dataType: 'bool' as const },
      { unitId: 1, table: 'coil' as const, address: 1999, dataType: 'bool' as const },
      { unitId: 1, table: 'input' as const, address: 0, dataType: 'string' as const, length: 10 },
    ];
    const reads = planReads(points, { maxRegisters: 125, maxBits: 2000, maxGap: 2000 });
    const summary = reads.map((r) => `${r.unitId}/${r.table}@${r.start}+${r.count}:${r.points.join(',')}`).sort();
    expect(summary).toEqual(['1/coil@0+2000:3,4', '1/holding@0+3:0,1', '1/input@0+10:5', '2/holding@0+1:2']);
  });
});
