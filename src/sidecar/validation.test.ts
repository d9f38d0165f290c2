import { z } from 'zod';
import { AppError } from './errors';
import { parseOrThrow } from './validation';

function thrown(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected an AppError');
}

describe('parseOrThrow', () => {
  it('returns parsed data and prefixes fields', () => {
    const schema = z.object({ n: z.number().default(3) });
    expect(parseOrThrow(schema, {}, 'thing')).toEqual({ n: 3 });
    const err = thrown(() => parseOrThrow(schema, { n: 'x' }, 'query', { fieldPrefix: 'targets.0' }));
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.field).toBe('targets.0.n');
    expect(err.message).toBe('invalid query: targets.0.n: Invalid input: expected number, received string');
  });

  it('counts further problems', () => {
    const err = thrown(() => parseOrThrow(z.object({ a: z.string(), b: z.string(), c: z.string() }), { a: 1, b: 2, c: 3 }, 'x'));
    expect(err.message).toMatch(/^invalid x: a: .*\(and 2 more problems\)$/);
  });
});
