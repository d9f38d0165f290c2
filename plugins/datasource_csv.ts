/**
 * Example user plugin: serves the columns of a CSV file as timeseries channels.
 *
 *   instances:
 *     - id: tank
 *       plugin: csv
 *       params: { file: plugins/data/example.csv }   # relative to the config file's dir
 *
 * The first row names the columns; the time column (default: the first) holds epoch ms or
 * ISO 8601 (without an offset it is UTC); every other column is a channel, and a cell that
 * is not a number is a missing value (NaN). The file is read once, at initialize().
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { AppError } from '../src/sidecar/errors';
import { DataSource, type PluginRequest } from '../src/sidecar/registry/datasource';
import type { Channel, Reducer, Resampled, SeriesSet } from '../src/sidecar/registry/types';

const paramsSchema = z.strictObject({
  file: z.string().min(1),
  timeColumn: z.string().min(1).optional(),
  delimiter: z.string().length(1, 'must be a single character').default(','),
});
type CsvParams = z.output<typeof paramsSchema>;

export default class CsvDataSource extends DataSource<CsvParams> {
  static override paramsSchema = paramsSchema;

  private times: Float64Array = new Float64Array(0);
  private readonly columns = new Map<string, Float64Array>();

  override async initialize(): Promise<void> {
    const file = path.resolve(this.app.baseDir, this.params.file);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new AppError('BAD_PARAMS', `cannot read CSV file ${file}: ${(err as Error).message}`, 'params.file');
    }
    const records = parseCsv(text.replace(/^\uFEFF/, ''), this.params.delimiter);
    const header = records.shift();
    if (!header) throw new AppError('BAD_PARAMS', `CSV file ${file} is empty`, 'params.file');

    const names = header.cells.map((h) => h.trim());
    const timeName = this.params.timeColumn ?? names[0];
    const timeIdx = names.indexOf(timeName);
    if (timeIdx < 0) {
      throw new AppError('BAD_PARAMS', `time column "${timeName}" is not in ${file}; columns: ${names.join(', ')}`, 'params.timeColumn');
    }
    names.forEach((n, i) => {
      if (n === '') throw new AppError('BAD_PARAMS', `column ${i + 1} of ${file} has no name`, 'params.file');
      if (names.indexOf(n) !== i) throw new AppError('BAD_PARAMS', `column "${n}" appears twice in ${file}`, 'params.file');
    });

    const n = records.length;
    const times = new Float64Array(n);
    const cols = names.map(() => new Float64Array(n));
    records.forEach((rec, r) => {
      const t = parseTime(rec.cells[timeIdx] ?? '');
      if (Number.isNaN(t)) {
        throw new AppError('BAD_PARAMS', `${file}:${rec.line}: time "${rec.cells[timeIdx] ?? ''}" is neither epoch ms nor ISO 8601`, 'params.file');
      }
      times[r] = t;
      for (let c = 0; c < names.length; c++) if (c !== timeIdx) cols[c][r] = parseNumber(rec.cells[c]);
    });

    // Binary search in getTimeseries needs ascending times; sort only when the file isn't.
    const order = sortedOrder(times);
    this.times = order ? permute(times, order) : times;
    this.columns.clear();
    names.forEach((name, c) => {
      if (c !== timeIdx) this.columns.set(name, order ? permute(cols[c], order) : cols[c]);
    });
    this.app.logger.info({ file, rows: n, channels: this.columns.size }, 'CSV loaded');
  }

  /**
   * Seed 002's per-plugin route (`/plugins/<id>/…`): `GET /` describes the loaded file, to
   * check what the plugin read without querying it.
   */
  override handleRequest(request: PluginRequest): [number, unknown] {
    if (request.path !== '/') return [404, { error: { code: 'NOT_FOUND', message: `no such path ${request.path}; try GET /` } }];
    if (request.method !== 'GET' && request.method !== 'HEAD') return [405, { error: { code: 'BAD_REQUEST', message: `method ${request.method} not allowed; use GET` } }];
    const n = this.times.length;
    return [
      200,
      {
        file: this.params.file,
        rows: n,
        columns: [...this.columns.keys()],
        first: n > 0 ? this.times[0] : null,
        last: n > 0 ? this.times[n - 1] : null,
      },
    ];
  }

  override getChannels(): Channel[] {
    return [...this.columns.keys()].map((name) => ({ name, type: 'timeseries' as const, description: `column "${name}" of ${this.params.file}` }));
  }

  override getTimeseries(channels: string[], length: number, to: number, resampling?: number, reducer: Reducer = 'last'): SeriesSet | Resampled {
    const lo = lowerBound(this.times, to - length);
    const hi = lowerBound(this.times, to);
    const set: SeriesSet = {};
    for (const name of channels) {
      const values = this.columns.get(name);
      if (!values) throw new AppError('UNKNOWN_CHANNEL', `unknown channel "${name}"`, 'channels');
      // subarray: views, not copies; the data never changes after initialize().
      set[name] = { times: this.times.subarray(lo, hi), values: values.subarray(lo, hi) };
    }
    return resampling === undefined || resampling === null ? set : DataSource.resample(set, length, to, resampling, reducer);
  }
}

interface CsvRecord {
  cells: string[];
  /** 1-based line where the record starts, for error messages. */
  line: number;
}

/** RFC 4180: quoted cells may hold delimiters, `""` and newlines; blank lines are skipped. */
function parseCsv(text: string, delimiter: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  const endRecord = (): void => {
    cells.push(cell);
    if (cells.length > 1 || cells[0].trim() !== '') records.push({ cells, line: start });
    cells = [];
    cell = '';
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else {
        if (ch === '\n') line++;
        cell += ch;
      }
    } else if (ch === '"' && cell.trim() === '') {
      quoted = true;
      cell = '';
    } else if (ch === delimiter) {
      cells.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      start = ++line;
    } else cell += ch;
  }
  if (cell !== '' || cells.length > 0) endRecord();
  return records;
}

const EPOCH_MS = /^-?\d+(\.\d+)?$/;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/** Epoch ms or ISO 8601; a date-time without an offset is taken as UTC, not server-local. */
function parseTime(cell: string): number {
  const s = cell.trim();
  if (EPOCH_MS.test(s)) return Number(s);
  const m = ISO_8601.exec(s);
  if (!m) return NaN;
  let iso = s.replace(' ', 'T');
  if (iso.includes('T') && m[1] === undefined) iso += 'Z';
  return Date.parse(iso);
}

function parseNumber(cell: string | undefined): number {
  const s = cell?.trim() ?? '';
  // Number('') is 0, which would invent a reading; an empty cell is missing.
  return s === '' ? NaN : Number(s);
}

/** The permutation sorting `times` (stable), or undefined when it is already ascending. */
function sortedOrder(times: Float64Array): Uint32Array | undefined {
  let sorted = true;
  for (let i = 1; i < times.length && sorted; i++) sorted = times[i - 1] <= times[i];
  if (sorted) return undefined;
  const order = Uint32Array.from(times.keys());
  return order.sort((a, b) => times[a] - times[b] || a - b);
}

function permute(a: Float64Array, order: Uint32Array): Float64Array {
  const out = new Float64Array(order.length);
  for (let i = 0; i < order.length; i++) out[i] = a[order[i]];
  return out;
}

function lowerBound(times: Float64Array, t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
