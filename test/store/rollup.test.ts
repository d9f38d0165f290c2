/** Rollup slot arithmetic: merging partial aggregates equals aggregating everything at once. */
import fc from 'fast-check';
import { addSample, mergeSlot, planRollups, SLOT } from '../../src/sidecar/store/rollup';

describe('rollup slots', () => {
  it('property: merge(aggregate(a), aggregate(b)) = aggregate(a then b), ties as arrival order', () => {
    const sample = fc.record({
      t: fc.integer({ min: 0, max: 20 }),
      v: fc.oneof(fc.constant(NaN), fc.double({ min: -1e3, max: 1e3, noNaN: true })),
    });
    fc.assert(
      fc.property(fc.array(sample, { maxLength: 30 }), fc.array(sample, { maxLength: 30 }), (a, b) => {
        const all = new Float64Array(SLOT);
        const pa = new Float64Array(SLOT);
        const pb = new Float64Array(SLOT);
        for (const x of a) {
          addSample(all, 0, x.t, x.v);
          addSample(pa, 0, x.t, x.v);
        }
        for (const x of b) {
          addSample(all, 0, x.t, x.v);
          addSample(pb, 0, x.t, x.v);
        }
        mergeSlot(pa, 0, pb, 0);
        // count, min, max, first, firstTime, last, lastTime exactly; sum and m2 up to rounding.
        for (const f of [0, 3, 4, 5, 6, 7, 8]) expect(pa[f]).toBe(all[f]);
        expect(pa[1]).toBeCloseTo(all[1], 6);
        expect(pa[2]).toBeCloseTo(all[2], 4);
      }),
    );
  });

  it('plans whole slots inside the window and raw edges around them', () => {
    const plan = planRollups(150_000, 1_000_090_000, 60_000, 60_000)!;
    expect(plan.slotFrom).toBe(999_960_000);
    expect(plan.slotTo).toBe(1_000_080_000);
    expect(plan.nSlots).toBe(2);
    expect(plan.edges).toEqual([
      [999_940_000, 999_960_000],
      [1_000_080_000, 1_000_090_000],
    ]);
    expect(planRollups(30_000, 1_000_050_000, 60_000, 60_000)).toBeUndefined(); // no whole slot
  });
});
