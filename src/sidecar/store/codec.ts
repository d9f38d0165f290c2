/**
 * Binary encodings of samples: bus messages (a whole batch, columnar) and raw-sample rows
 * in Redis chunks. Little-endian throughout; on a little-endian host (every platform Node
 * ships for in practice) the float columns are copied with one memcpy each, never parsed
 * number by number. JSON of `{t, v, q}` objects is ~3× larger and ~10× slower to encode and
 * decode (see bench/store.bench.ts, "bus codec").
 */
import { endianness } from 'node:os';
import type { SampleBatch, SampleColumns } from '../core/samples';

const LITTLE = endianness() === 'LE';

/**
 * Sample-batch message (version 2), columnar so that encoding and decoding are a few copies:
 *   u8 magic 'S', u8 version, u8 origin length, origin, u32 series, u32 samples,
 *   per series: u16 id length, id (UTF-8), u32 samples;
 *   zero padding to a multiple of 8, then all times (f64), all values (f64), all qualities (u8).
 */
const MAGIC = 0x53; // 'S'
const VERSION = 2;

/** Bytes per raw row in a Redis chunk: time f64, value f64, quality u8. */
export const ROW = 17;

/** A fresh, aligned Float64Array of `n` values read from `buf` at `offset`. */
export function readF64s(buf: Uint8Array, offset: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (LITTLE) {
    new Uint8Array(out.buffer).set(buf.subarray(offset, offset + n * 8));
    return out;
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0; i < n; i++) out[i] = view.getFloat64(offset + i * 8, true);
  return out;
}

/** Encodes a batch for the bus: 17 bytes a sample plus the series ids. */
export function encodeBatch(batch: SampleBatch, origin: string): Buffer {
  const originLen = Buffer.byteLength(origin, 'utf8');
  if (originLen > 255) throw new Error('origin longer than 255 bytes');
  let head = 3 + originLen + 8;
  let total = 0;
  for (const [id, cols] of batch) {
    head += 2 + Buffer.byteLength(id, 'utf8') + 4;
    total += cols.times.length;
  }
  const timesAt = Math.ceil(head / 8) * 8;
  // Our own ArrayBuffer (not the shared Buffer pool): offset 0 is 8-aligned, so the float
  // sections can be written through Float64Array views, one `set` per series.
  const ab = new ArrayBuffer(timesAt + total * 17);
  const buf = Buffer.from(ab);
  let o = 0;
  buf[o++] = MAGIC;
  buf[o++] = VERSION;
  buf[o++] = originLen;
  o += buf.write(origin, o, 'utf8');
  o = buf.writeUInt32LE(batch.size, o);
  o = buf.writeUInt32LE(total, o);
  for (const [id, cols] of batch) {
    const idLen = Buffer.byteLength(id, 'utf8');
    if (idLen > 65535) throw new Error('series id longer than 65535 bytes');
    o = buf.writeUInt16LE(idLen, o);
    o += buf.write(id, o, 'utf8');
    o = buf.writeUInt32LE(cols.times.length, o);
  }
  buf.fill(0, o, timesAt);
  const qualitiesAt = timesAt + total * 16;
  let k = 0;
  if (LITTLE) {
    const times = new Float64Array(ab, timesAt, total);
    const values = new Float64Array(ab, timesAt + total * 8, total);
    for (const cols of batch.values()) {
      times.set(cols.times, k);
      values.set(cols.values, k);
      buf.set(cols.qualities, qualitiesAt + k);
      k += cols.times.length;
    }
  } else {
    for (const cols of batch.values()) {
      for (let i = 0; i < cols.times.length; i++) {
        buf.writeDoubleLE(cols.times[i], timesAt + (k + i) * 8);
        buf.writeDoubleLE(cols.values[i], timesAt + (total + k + i) * 8);
      }
      buf.set(cols.qualities, qualitiesAt + k);
      k += cols.times.length;
    }
  }
  return buf;
}

/** The origin of a sample-batch message, read from its header only (undefined if it is not one). */
export function batchOrigin(buf: Buffer): string | undefined {
  if (buf.length < 3 || buf[0] !== MAGIC || buf[1] !== VERSION || buf.length < 3 + buf[2]) return undefined;
  return buf.toString('utf8', 3, 3 + buf[2]);
}

/** Decodes a bus message; every series' columns are views into three shared arrays (read-only by contract). */
export function decodeBatch(buf: Uint8Array): { origin: string; batch: SampleBatch } {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 11 || b[0] !== MAGIC || b[1] !== VERSION) throw new Error('not a sample-batch message');
  let o = 2;
  const originLen = b[o++];
  const origin = b.toString('utf8', o, o + originLen);
  o += originLen;
  const nSeries = b.readUInt32LE(o);
  const total = b.readUInt32LE(o + 4);
  o += 8;
  const ids: string[] = [];
  const counts: number[] = [];
  let sum = 0;
  for (let s = 0; s < nSeries; s++) {
    const idLen = b.readUInt16LE(o);
    ids.push(b.toString('utf8', o + 2, o + 2 + idLen));
    o += 2 + idLen;
    const n = b.readUInt32LE(o);
    counts.push(n);
    sum += n;
    o += 4;
  }
  const timesAt = Math.ceil(o / 8) * 8;
  if (sum !== total || timesAt + total * 17 > b.length) throw new Error('truncated or inconsistent sample-batch message');
  const times = readF64s(b, timesAt, total);
  const values = readF64s(b, timesAt + total * 8, total);
  const qualities = new Uint8Array(total);
  qualities.set(b.subarray(timesAt + total * 16, timesAt + total * 17));
  const batch: SampleBatch = new Map();
  let k = 0;
  for (let s = 0; s < nSeries; s++) {
    const n = counts[s];
    batch.set(ids[s], { times: times.subarray(k, k + n), values: values.subarray(k, k + n), qualities: qualities.subarray(k, k + n) });
    k += n;
  }
  return { origin, batch };
}

/** Rows `[begin, end)` of `cols` as chunk rows (t, v, q), appended to a chunk as they are. */
export function encodeRows(cols: SampleColumns, begin: number, end: number): Buffer {
  const buf = Buffer.allocUnsafe((end - begin) * ROW);
  let o = 0;
  for (let i = begin; i < end; i++) {
    buf.writeDoubleLE(cols.times[i], o);
    buf.writeDoubleLE(cols.values[i], o + 8);
    buf[o + 16] = cols.qualities[i];
    o += ROW;
  }
  return buf;
}

/**
 * Decodes the rows of several chunks, keeping those with `from <= t < to`, time-sorted
 * (stable: equal times keep their order of arrival).
 */
export function decodeRows(chunks: ReadonlyArray<Buffer | null | undefined>, from: number, to: number): SampleColumns {
  let total = 0;
  for (const c of chunks) if (c) total += Math.floor(c.length / ROW);
  let times = new Float64Array(total);
  let values = new Float64Array(total);
  let qualities = new Uint8Array(total);
  let n = 0;
  let sorted = true;
  let prev = -Infinity;
  for (const c of chunks) {
    if (!c) continue;
    const rows = Math.floor(c.length / ROW);
    for (let r = 0, o = 0; r < rows; r++, o += ROW) {
      const t = c.readDoubleLE(o);
      if (!(t >= from && t < to)) continue;
      if (t < prev) sorted = false;
      prev = t;
      times[n] = t;
      values[n] = c.readDoubleLE(o + 8);
      qualities[n] = c[o + 16];
      n++;
    }
  }
  if (n < total) {
    times = times.slice(0, n);
    values = values.slice(0, n);
    qualities = qualities.slice(0, n);
  }
  return sorted ? { times, values, qualities } : sortColumns({ times, values, qualities });
}

/** A stable time sort of columns (out-of-order appends are rare; this is the slow path). */
export function sortColumns(cols: SampleColumns): SampleColumns {
  const n = cols.times.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => cols.times[a] - cols.times[b] || a - b);
  const times = new Float64Array(n);
  const values = new Float64Array(n);
  const qualities = new Uint8Array(n);
  for (let j = 0; j < n; j++) {
    const i = order[j];
    times[j] = cols.times[i];
    values[j] = cols.values[i];
    qualities[j] = cols.qualities[i];
  }
  return { times, values, qualities };
}

/** A latest value as one chunk row. */
export function encodeLatest(t: number, v: number, q: number): Buffer {
  const buf = Buffer.allocUnsafe(ROW);
  buf.writeDoubleLE(t, 0);
  buf.writeDoubleLE(v, 8);
  buf[16] = q;
  return buf;
}

export function decodeLatest(buf: Buffer): { time: number; value: number; quality: number } | undefined {
  if (buf.length < ROW) return undefined;
  return { time: buf.readDoubleLE(0), value: buf.readDoubleLE(8), quality: buf[16] };
}

/** Index of the newest sample (last one among equal times), or -1 for an empty column. */
export function newestIndex(times: Float64Array): number {
  let best = -1;
  let bestT = -Infinity;
  for (let i = 0; i < times.length; i++) {
    const t = times[i];
    if (t >= bestT) {
      bestT = t;
      best = i;
    }
  }
  return best;
}
