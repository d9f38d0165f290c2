import { normalizeResampled } from './normalize';
import type { Resampled } from './types';

const grid = (extra: Partial<Resampled> = {}): Resampled => ({
  times: Float64Array.from([0, 1000]),
  names: ['a'],
  columns: [Float64Array.from([1, 2])],
  interval: 1000,
  ...extra,
});

describe('normalizeResampled notices', () => {
  it("keeps a plugin's notices, dropping what is not text and capping how many", () => {
    const raw = grid({ notices: ['one', 2, null, 'two', 'three', 'four', 'five', 'six'] as unknown as string[] });
    expect(normalizeResampled(raw, ['a'], 1000, 'test').notices).toEqual(['one', 'two', 'three', 'four', 'five']);
  });

  it('has no notices field when the plugin gave none or only junk', () => {
    expect(normalizeResampled(grid(), ['a'], 1000, 'test')).not.toHaveProperty('notices');
    expect(normalizeResampled(grid({ notices: 'oops' as unknown as string[] }), ['a'], 1000, 'test')).not.toHaveProperty('notices');
  });
});
