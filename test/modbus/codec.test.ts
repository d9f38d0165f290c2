import fc from 'fast-check';
import { toAppError } from '../../src/sidecar/errors';
import {
  CodecError,
  decodeBigInt,
  decodeRaw,
  decodeValue,
  encodeRaw,
  encodeValue,
  fitInteger,
  type CodecSpec,
} from '../../src/sidecar/scada/drivers/modbus/codec';
import { BYTE_ORDERS, type ByteOrder, type DataType } from '../../src/sidecar/scada/drivers/modbus/types';

const spec = (dataType: DataType, byteOrder: ByteOrder = 'ABCD', extra: Partial<CodecSpec> = {}): CodecSpec => ({
  dataType,
  byteOrder,
  scale: 1,
  offset: 0,
  ...extra,
});

describe('byte orders', () => {
  // 0x41 0x20 0x00 0x00 is 10.0 as a float32, A = 0x41 … D = 0x00; use distinct bytes instead.
  const int32 = 0x11223344;
  it.each<[ByteOrder, number[]]>([
    ['ABCD', [0x1122, 0x3344]],
    ['DCBA', [0x4433, 0x2211]],
    ['BADC', [0x2211, 0x4433]],
    ['CDAB', [0x3344, 0x1122]],
  ])('%s lays out 0x11223344 as %j', (order, regs) => {
    expect(encodeValue(int32, spec('uint32', order))).toEqual(regs);
    expect(decodeRaw(regs, 0, spec('uint32', order))).toBe(int32);
  });

  it.each<[ByteOrder, number[]]>([
    ['ABCD', [0x0102, 0x0304, 0x0506, 0x0708]],
    ['DCBA', [0x0807, 0x0605, 0x0403, 0x0201]],
    ['BADC', [0x0201, 0x0403, 0x0605, 0x0807]],
    ['CDAB', [0x0708, 0x0506, 0x0304, 0x0102]],
  ])('%s generalises to 8 bytes: 0x0102030405060708 as %j', (order, regs) => {
    expect(encodeValue(0x0102030405060708n, spec('uint64', order))).toEqual(regs);
    expect(decodeBigInt(regs, 0, spec('uint64', order))).toBe(0x0102030405060708n);
  });

  it('16-bit values: ABCD = CDAB, DCBA = BADC swap the bytes', () => {
    expect(encodeValue(0x1234, spec('uint16', 'ABCD'))).toEqual([0x1234]);
    expect(encodeValue(0x1234, spec('uint16', 'CDAB'))).toEqual([0x1234]);
    expect(encodeValue(0x1234, spec('uint16', 'DCBA'))).toEqual([0x3412]);
    expect(encodeValue(0x1234, spec('uint16', 'BADC'))).toEqual([0x3412]);
  });

  it('float32 123.456 in CDAB matches the usual word-swapped layout', () => {
    // 123.456f = 0x42F6E979
    expect(encodeValue(123.456, spec('float32', 'CDAB'))).toEqual([0xe979, 0x42f6]);
    expect(decodeRaw([0xe979, 0x42f6], 0, spec('float32', 'CDAB'))).toBeCloseTo(123.456, 4);
  });
});

describe('every numeric type round-trips in every byte order', () => {
  const cases: Array<[DataType, fc.Arbitrary<number>]> = [
    ['int16', fc.integer({ min: -32768, max: 32767 })],
    ['uint16', fc.integer({ min: 0, max: 65535 })],
    ['int32', fc.integer({ min: -2147483648, max: 2147483647 })],
    ['uint32', fc.integer({ min: 0, max: 4294967295 })],
    ['int64', fc.maxSafeInteger()],
    ['uint64', fc.maxSafeNat()],
    ['float32', fc.float({ noNaN: true, noDefaultInfinity: true }).map((f) => Math.fround(f))],
    ['float64', fc.double({ noNaN: true, noDefaultInfinity: true })],
  ];
  for (const [type, arb] of cases) {
    it(type, () => {
      fc.assert(
        fc.property(arb, fc.constantFrom(...BYTE_ORDERS), fc.integer({ min: 0, max: 3 }), (v, order, pad) => {
          const s = spec(type, order);
          const regs = [...new Array<number>(pad).fill(0xffff), ...(encodeValue(v, s) as number[])];
          expect(regs.every((r) => Number.isInteger(r) && r >= 0 && r <= 0xffff)).toBe(true);
          expect(Object.is(decodeValue(regs, pad, s), v) || decodeValue(regs, pad, s) === v).toBe(true);
        }),
      );
    });
  }

  it('int64/uint64 above 2^53 decode to the nearest double and exactly as bigint', () => {
    const s = spec('int64', 'CDAB');
    const big = -(2n ** 62n) - 12345n;
    const regs = encodeValue(big, s) as number[];
    expect(decodeBigInt(regs, 0, s)).toBe(big);
    expect(decodeValue(regs, 0, s)).toBe(Number(big));
    expect(decodeValue(encodeValue(2n ** 64n - 1n, spec('uint64')) as number[], 0, spec('uint64'))).toBe(2 ** 64);
  });
});

describe('scale and offset', () => {
  it('value = raw * scale + offset, and back for writes', () => {
    const s = spec('int16', 'ABCD', { scale: 0.1, offset: -40 });
    expect(decodeValue([250], 0, s)).toBeCloseTo(-15);
    expect(encodeValue(12.3, s)).toEqual([523]); // (12.3 + 40) / 0.1 = 522.999… → 523
    expect(encodeValue(-15, s)).toEqual([250]);
  });

  it('writes outside the type range are refused with a clear error', () => {
    expect(() => encodeValue(70000, spec('uint16'))).toThrow(/value 70000 is out of range for uint16 \(0\.\.65535\)/);
    expect(() => encodeValue(-1, spec('uint32'))).toThrow(CodecError);
    expect(() => encodeValue(4000, spec('int16', 'ABCD', { scale: 0.1 }))).toThrow(/raw 40000 after scale 0.1/);
    expect(() => encodeValue(2 ** 63, spec('int64'))).toThrow(/out of range for int64/);
    expect(() => encodeValue(2n ** 63n, spec('int64'))).toThrow(/out of range/);
    expect(() => encodeValue(1e39, spec('float32'))).toThrow(/out of range for float32/);
    expect(() => encodeValue(NaN, spec('float64'))).toThrow(/finite number/);
    expect(() => encodeValue('abc', spec('int32'))).toThrow(/finite number/);
    try {
      encodeValue(70000, spec('uint16'));
    } catch (err) {
      // A domain error: the codec knows no HTTP; the transports' one mapping makes it a 400 naming value.
      expect(err).toMatchObject({ fault: 'invalid_value', field: 'value' });
      expect(toAppError(err)).toMatchObject({ status: 400, code: 'BAD_REQUEST', field: 'value' });
    }
  });

  it('numeric strings are accepted for numbers (REST bodies)', () => {
    expect(encodeValue('42', spec('uint16'))).toEqual([42]);
  });
});

describe('bits, bools and strings', () => {
  it('bit n of a register', () => {
    const s = spec('bit', 'ABCD', { bit: 9 });
    expect(decodeValue([1 << 9], 0, s)).toBe(1);
    expect(decodeValue([~(1 << 9) & 0xffff], 0, s)).toBe(0);
    expect(encodeValue(true, s)).toEqual([1]);
  });

  it('bool from a bit table, scale ignored', () => {
    expect(decodeValue([1], 0, spec('bool', 'ABCD', { scale: 10 }))).toBe(1);
    expect(encodeValue(false, spec('bool'))).toEqual([false]);
    expect(encodeValue(1, spec('bool'))).toEqual([true]);
    expect(() => encodeValue('yes', spec('bool'))).toThrow(/boolean/);
  });

  it('strings: two ASCII characters per register, NUL padded and trimmed, bytes swapped by BADC', () => {
    const s = spec('string', 'ABCD', { length: 4 });
    expect(encodeValue('PS-N1', s)).toEqual([0x5053, 0x2d4e, 0x3100, 0x0000]);
    expect(decodeValue([0x5053, 0x2d4e, 0x3100, 0x0000], 0, s)).toBe('PS-N1');
    const swapped = spec('string', 'BADC', { length: 4 });
    expect(encodeValue('PS-N1', swapped)).toEqual([0x5350, 0x4e2d, 0x0031, 0x0000]);
    expect(decodeValue(encodeValue('PS-N1', swapped) as number[], 0, swapped)).toBe('PS-N1');
    expect(decodeValue([0x4142, 0x0043], 0, spec('string', 'ABCD', { length: 2 }))).toBe('AB'); // cut at the first NUL
    expect(() => encodeValue('too long!', s)).toThrow(/does not fit 4 registers/);
    expect(() => encodeValue('naïve', s)).toThrow(/ASCII/);
  });
});

describe('fitInteger (simulator values)', () => {
  it('wraps counters and clamps signals', () => {
    expect(fitInteger(65536 + 5, 'uint16', 'wrap')).toBe(5);
    expect(fitInteger(32768, 'int16', 'wrap')).toBe(-32768);
    expect(fitInteger(-1, 'uint32', 'wrap')).toBe(4294967295);
    expect(fitInteger(1e6, 'int16', 'clamp')).toBe(32767);
    expect(fitInteger(-5, 'uint16', 'clamp')).toBe(0);
    expect(encodeRaw(fitInteger(-1, 'uint64', 'wrap'), spec('uint64')).length).toBe(4);
  });
});
