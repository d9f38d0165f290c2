/**
 * Values ↔ Modbus registers and bits, for every data type and byte order. Pure functions:
 * the poller decodes with them, writes and the simulator encode with them, so a value
 * survives the round trip by construction.
 *
 * Byte orders, generalised from the usual 4-byte names to 2 and 8 bytes: with the value's
 * bytes A B C D … most significant first, two independent swaps describe every order —
 * `swapBytes` (the two bytes inside each register) and `swapWords` (the register order):
 *   ABCD: none        AB CD          (8 bytes: AB CD EF GH)
 *   DCBA: both        DC BA          (HG FE DC BA)
 *   BADC: bytes       BA DC          (BA DC FE HG)
 *   CDAB: words       CD AB          (GH EF CD AB)
 * A 16-bit value has one register, so ABCD = CDAB = AB and DCBA = BADC = BA.
 */
import { DeviceError } from '../../../core/device-error';
import { registerCount, type ByteOrder, type DataType } from './types';

export interface CodecSpec {
  dataType: DataType;
  byteOrder: ByteOrder;
  bit?: number;
  length?: number;
  scale: number;
  offset: number;
}

/** Thrown for a value that cannot be written as asked; names the `value` field. */
export class CodecError extends DeviceError {
  constructor(message: string) {
    super('invalid_value', message, 'value');
    this.name = 'CodecError';
  }
}

const BYTES: Partial<Record<DataType, number>> = { int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8, float32: 4, float64: 8 };

const TWO_32 = 4294967296;

/** Integer range per type; 64-bit bounds as doubles (2^63 - 1 rounds up to 2^63, so the upper check is `<`). */
const INT_RANGE: Partial<Record<DataType, [number, number]>> = {
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
  int64: [-(2 ** 63), 2 ** 63],
  uint64: [0, 2 ** 64],
};

export function isIntegerType(t: DataType): boolean {
  return INT_RANGE[t] !== undefined;
}

/** Whether the value is on/off (bool of a bit table, or one bit of a register). */
export function isBooleanType(t: DataType): boolean {
  return t === 'bool' || t === 'bit';
}

export { registerCount };

function swaps(order: ByteOrder): { bytes: boolean; words: boolean } {
  return { bytes: order === 'DCBA' || order === 'BADC', words: order === 'DCBA' || order === 'CDAB' };
}

// One scratch buffer: decoding is synchronous, so no two calls ever share it at once.
const scratch = new Uint8Array(8);
const view = new DataView(scratch.buffer);

/** Registers at `at` → the value's bytes, most significant first, into `scratch`. */
function gather(regs: ArrayLike<number>, at: number, nBytes: number, order: ByteOrder): void {
  const words = nBytes >> 1;
  const s = swaps(order);
  for (let i = 0; i < words; i++) {
    const reg = regs[at + i] & 0xffff;
    const w = s.words ? words - 1 - i : i;
    const hi = reg >>> 8;
    const lo = reg & 0xff;
    scratch[2 * w] = s.bytes ? lo : hi;
    scratch[2 * w + 1] = s.bytes ? hi : lo;
  }
}

/** The inverse of gather: `scratch` → registers. */
function scatter(nBytes: number, order: ByteOrder): number[] {
  const words = nBytes >> 1;
  const s = swaps(order);
  const out = new Array<number>(words);
  for (let i = 0; i < words; i++) {
    const w = s.words ? words - 1 - i : i;
    const hi = s.bytes ? scratch[2 * w + 1] : scratch[2 * w];
    const lo = s.bytes ? scratch[2 * w] : scratch[2 * w + 1];
    out[i] = (hi << 8) | lo;
  }
  return out;
}

/**
 * The raw value at `regs[at]` (no scale/offset): a number for numeric types, 0/1 for a
 * bit, text for a string. Callers check `regs` holds registerCount registers from `at`.
 *
 * int64/uint64 come back as the nearest double: exact up to 2^53 in magnitude, rounded
 * (to 53 significant bits) above. Use decodeBigInt where every bit matters.
 */
export function decodeRaw(regs: ArrayLike<number>, at: number, spec: CodecSpec): number | string {
  switch (spec.dataType) {
    case 'bool':
      return regs[at] ? 1 : 0;
    case 'bit':
      return ((regs[at] & 0xffff) >>> (spec.bit ?? 0)) & 1;
    case 'string':
      return decodeString(regs, at, spec.length ?? 1, spec.byteOrder);
    default:
      break;
  }
  gather(regs, at, BYTES[spec.dataType] ?? 2, spec.byteOrder);
  switch (spec.dataType) {
    case 'int16':
      return view.getInt16(0);
    case 'uint16':
      return view.getUint16(0);
    case 'int32':
      return view.getInt32(0);
    case 'uint32':
      return view.getUint32(0);
    case 'float32':
      return view.getFloat32(0);
    case 'float64':
      return view.getFloat64(0);
    // hi * 2^32 is exact and the sum is rounded once: the correctly rounded double.
    case 'int64':
      return view.getInt32(0) * TWO_32 + view.getUint32(4);
    case 'uint64':
      return view.getUint32(0) * TWO_32 + view.getUint32(4);
  }
  return NaN;
}

/** int64/uint64 exactly. */
export function decodeBigInt(regs: ArrayLike<number>, at: number, spec: CodecSpec): bigint {
  if (spec.dataType !== 'int64' && spec.dataType !== 'uint64')
    throw new CodecError(`decodeBigInt is for int64/uint64, not ${spec.dataType}`);
  gather(regs, at, 8, spec.byteOrder);
  return spec.dataType === 'int64' ? view.getBigInt64(0) : view.getBigUint64(0);
}

/**
 * ASCII, two characters per register, first character in the high byte (swapped by
 * DCBA/BADC; register order is not swapped for text). Cut at the first NUL, so NUL
 * padding and whatever a device leaves after the terminator disappear.
 */
function decodeString(regs: ArrayLike<number>, at: number, length: number, order: ByteOrder): string {
  const swap = swaps(order).bytes;
  let out = '';
  for (let i = 0; i < length; i++) {
    const reg = regs[at + i] & 0xffff;
    const first = swap ? reg & 0xff : reg >>> 8;
    if (first === 0) break;
    out += String.fromCharCode(first);
    const second = swap ? reg >>> 8 : reg & 0xff;
    if (second === 0) break;
    out += String.fromCharCode(second);
  }
  return out;
}

/** Engineering value: raw * scale + offset for numeric types; bits and text as they are. */
export function decodeValue(regs: ArrayLike<number>, at: number, spec: CodecSpec): number | string {
  const raw = decodeRaw(regs, at, spec);
  if (typeof raw === 'string' || isBooleanType(spec.dataType)) return raw;
  return raw * spec.scale + spec.offset;
}

/** Registers (or, for bool, one bit) to write for an engineering value; strict range checks. */
export function encodeValue(value: unknown, spec: CodecSpec): number[] | boolean[] {
  if (spec.dataType === 'bool') return [toBool(value)];
  if (spec.dataType === 'bit') return [toBool(value) ? 1 : 0]; // the caller merges it into the register
  if (spec.dataType === 'string') return encodeString(value, spec);
  return encodeRaw(toRaw(value, spec), spec);
}

/** Engineering value → raw, with the checks a write needs. */
export function toRaw(value: unknown, spec: CodecSpec): number | bigint {
  const { dataType } = spec;
  if (typeof value === 'bigint') {
    // Exact path for 64-bit integers; scaling a bigint would lose the point of it.
    if (!isIntegerType(dataType)) return toRaw(Number(value), spec);
    if (spec.scale !== 1 || spec.offset !== 0) return toRaw(Number(value), spec);
    const [lo] = INT_RANGE[dataType]!;
    const bits = BigInt(dataType.endsWith('64') ? 64 : dataType.endsWith('32') ? 32 : 16);
    const min = lo < 0 ? -(1n << (bits - 1n)) : 0n;
    const max = lo < 0 ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
    if (value < min || value > max) throw new CodecError(`value ${value} is out of range for ${dataType} (${min}..${max})`);
    return value;
  }
  const v = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new CodecError(`value must be a finite number for ${dataType}, got ${JSON.stringify(value)}`);
  const raw = (v - spec.offset) / spec.scale;
  const range = INT_RANGE[dataType];
  if (range) {
    // Nearest integer: 12.3 / 0.1 is 122.99999999999999 in floating point.
    const r = Math.round(raw);
    const tooHigh = dataType.endsWith('64') ? r >= range[1] : r > range[1];
    if (r < range[0] || tooHigh) {
      const scaled = spec.scale !== 1 || spec.offset !== 0 ? ` (raw ${r} after scale ${spec.scale}, offset ${spec.offset})` : '';
      const hi = dataType === 'int64' ? '2^63-1' : dataType === 'uint64' ? '2^64-1' : String(range[1]);
      throw new CodecError(`value ${v} is out of range for ${dataType} (${range[0] === 0 ? 0 : range[0]}..${hi})${scaled}`);
    }
    return dataType.endsWith('64') ? BigInt(r) : r;
  }
  if (dataType === 'float32' && Math.abs(raw) > 3.4028234663852886e38) throw new CodecError(`value ${v} is out of range for float32`);
  if (!Number.isFinite(raw)) throw new CodecError(`value ${v} is out of range for ${dataType}`);
  return raw;
}

/** Raw number/bigint → registers. Integers must already be in range (toRaw / fitInteger). */
export function encodeRaw(raw: number | bigint, spec: CodecSpec): number[] {
  const { dataType } = spec;
  const n = BYTES[dataType];
  if (n === undefined) throw new CodecError(`encodeRaw does not encode ${dataType}`);
  switch (dataType) {
    case 'int16':
      view.setInt16(0, Number(raw));
      break;
    case 'uint16':
      view.setUint16(0, Number(raw));
      break;
    case 'int32':
      view.setInt32(0, Number(raw));
      break;
    case 'uint32':
      view.setUint32(0, Number(raw));
      break;
    case 'float32':
      view.setFloat32(0, Number(raw));
      break;
    case 'float64':
      view.setFloat64(0, Number(raw));
      break;
    case 'int64':
      view.setBigInt64(0, typeof raw === 'bigint' ? raw : BigInt(Math.round(raw)));
      break;
    case 'uint64':
      view.setBigUint64(0, typeof raw === 'bigint' ? raw : BigInt(Math.round(raw)));
      break;
    default:
      break;
  }
  return scatter(n, spec.byteOrder);
}

/**
 * Brings any number into an integer type's range: `wrap` modulo 2^bits (a counter rolling
 * over), `clamp` to the bounds (a signal beyond its register's range). For the simulator.
 */
export function fitInteger(raw: number, dataType: DataType, mode: 'wrap' | 'clamp'): number {
  const range = INT_RANGE[dataType];
  if (!range) return raw;
  const r = Math.round(raw);
  if (mode === 'clamp') return Math.min(dataType.endsWith('64') ? range[1] - 2048 : range[1], Math.max(range[0], r));
  const span = dataType.endsWith('64') ? 2 ** 64 : range[1] - range[0] + 1;
  const m = (((r - range[0]) % span) + span) % span;
  return m + range[0];
}

function toBool(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 0 || value === 1) return value === 1;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new CodecError(`value must be a boolean (or 0/1), got ${JSON.stringify(value)}`);
}

function encodeString(value: unknown, spec: CodecSpec): number[] {
  if (typeof value !== 'string') throw new CodecError(`value must be a string, got ${JSON.stringify(value)}`);
  const length = spec.length ?? 1;
  if (value.length > length * 2)
    throw new CodecError(`string of ${value.length} characters does not fit ${length} registers (${length * 2} characters)`);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c > 127)
      throw new CodecError(`string must be ASCII without NUL; character ${i} is U+${c.toString(16).padStart(4, '0')}`);
  }
  const swap = swaps(spec.byteOrder).bytes;
  const out = new Array<number>(length);
  for (let i = 0; i < length; i++) {
    const first = value.charCodeAt(2 * i) || 0; // NaN past the end → NUL padding
    const second = value.charCodeAt(2 * i + 1) || 0;
    out[i] = swap ? (second << 8) | first : (first << 8) | second;
  }
  return out;
}
