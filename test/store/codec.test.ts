/** The binary encodings: bus messages and chunk rows round-trip exactly. */
import fc from 'fast-check';
import { decodeBatch, decodeRows, encodeBatch, encodeRows, ROW } from '../../src/sidecar/store/codec';
import type { SampleBatch } from '../../src/sidecar/core/samples';
import { cols, plain } from './backends';

const anyDouble = fc.double(); // includes NaN, ±Infinity, -0

describe('bus batch codec', () => {
  it('property: decode(encode(batch)) is the batch, bit for bit', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.tuple(
            fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }),
            fc.array(fc.tuple(anyDouble, anyDouble, fc.integer({ min: 0, max: 255 })), { maxLength: 20 }),
          ),
          {
            selector: ([id]) => id,
            maxLength: 8,
          },
        ),
        fc.string({ maxLength: 20 }),
        (series, origin) => {
          const batch: SampleBatch = new Map(
            series.map(([id, rows]) => [
              id,
              cols(
                rows.map((r) => r[0]),
                rows.map((r) => r[1]),
                rows.map((r) => r[2]),
              ),
            ]),
          );
          const decoded = decodeBatch(encodeBatch(batch, origin));
          expect(decoded.origin).toBe(origin);
          expect([...decoded.batch.keys()]).toEqual([...batch.keys()]);
          for (const [id, c] of batch) {
            const d = decoded.batch.get(id)!;
            const bytes = (a: Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
            expect(bytes(d.times)).toEqual(bytes(c.times));
            expect(bytes(d.values)).toEqual(bytes(c.values));
            expect([...d.qualities]).toEqual([...c.qualities]);
          }
        },
      ),
    );
  });

  it('decodes from an unaligned buffer (as pub/sub hands them over) and rejects garbage', () => {
    const msg = encodeBatch(new Map([['a', cols([1, 2], [3, 4])]]), 'me');
    const shifted = Buffer.alloc(msg.length + 3);
    msg.copy(shifted, 3);
    expect(plain(decodeBatch(shifted.subarray(3)).batch.get('a')!)).toEqual({ times: [1, 2], values: [3, 4], qualities: [0, 0] });
    expect(() => decodeBatch(Buffer.from('{"json":true}'))).toThrow(/not a sample-batch/);
    expect(() => decodeBatch(msg.subarray(0, msg.length - 5))).toThrow();
  });
});

describe('chunk rows', () => {
  it('encode rows and decode a window of several chunks, sorted and stable', () => {
    const a = encodeRows(cols([5, 1, 3], [50, 10, 30], [0, 1, 2]), 0, 3);
    const b = encodeRows(cols([3, 7], [31, 70]), 0, 2);
    expect(a.length).toBe(3 * ROW);
    const r = plain(decodeRows([a, null, b], 2, 7));
    expect(r).toEqual({ times: [3, 3, 5], values: [30, 31, 50], qualities: [2, 0, 0] });
  });
});
