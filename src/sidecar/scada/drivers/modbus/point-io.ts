/**
 * Reads and writes Modbus points over one connection: plans the fewest requests
 * (planner.ts), decodes and encodes (codec.ts), and turns what the device did wrong into
 * readings with a quality (reads) or DeviceErrors (writes). Shared by the poller's schedule
 * and by on-demand sessions, which have no schedule at all.
 */
import { DeviceError } from '../../../core/device-error';
import type { Quality } from '../../../core/quality';
import { AppError } from '../../../errors';
import type { PointReading } from '../driver';
import { decodeValue, encodeValue, type CodecSpec } from './codec';
import type { ModbusConnection } from './connection';
import { planReads, type ReadRequest } from './planner';
import { ModbusRequestError } from './request-error';
import { isBitTable, parsePoint, registerCount, type ModbusDeviceConfig, type ModbusPointConfig, type ModbusPointInput } from './types';

export type FunctionCode = 5 | 6 | 15 | 16;

const FC_READ = { coil: 1, discrete: 2, holding: 3, input: 4 } as const;

export class ModbusPointIO {
  /** Registers (and bits) read since start. */
  registersRead = 0;
  private readonly byId = new Map<string, number>();

  constructor(
    readonly device: ModbusDeviceConfig,
    readonly points: readonly ModbusPointConfig[],
    private readonly conn: ModbusConnection,
    private readonly now: () => number,
  ) {
    points.forEach((p, i) => {
      this.checkFits(p, `points.${i}`);
      this.byId.set(p.id, i);
    });
  }

  /** Index of a configured point, or undefined. */
  indexOf(id: string): number | undefined {
    return this.byId.get(id);
  }

  /** A configured point by id, or an ad-hoc point definition, checked. */
  resolve(ref: string | ModbusPointInput, field: string): ModbusPointConfig {
    if (typeof ref === 'string') {
      const i = this.byId.get(ref);
      if (i === undefined) throw new AppError('NOT_FOUND', `no point ${ref} on device ${this.device.id}`, field);
      return this.points[i];
    }
    const p = parsePoint(ref);
    this.checkFits(p, field);
    return p;
  }

  /** Reads `points` now, with the fewest requests; a failed request gives its points a quality, not an error. */
  async read(points: readonly ModbusPointConfig[]): Promise<PointReading[]> {
    const readings = new Array<PointReading>(points.length);
    await Promise.all(
      planReads(points, this.device).map(async (req) => {
        try {
          const data = await this.execute(req);
          const t = this.now();
          for (const i of req.points) readings[i] = this.decode(points[i], data, req.start, t);
        } catch (e) {
          const err = e as ModbusRequestError;
          const t = this.now();
          for (const i of req.points) readings[i] = failedReading(points[i].id, qualityOf(err), err.message, t);
        }
      }),
    );
    return readings;
  }

  /**
   * Writes one point and returns the function code used: FC 5 (coil) or 6 (one register) by
   * default, 15/16 when the point says `writeFunction: multiple` or `functionCode` asks;
   * values wider than a register always use 16. A `bit` is read, changed and written back.
   */
  async write(p: ModbusPointConfig, value: unknown, functionCode?: FunctionCode): Promise<FunctionCode> {
    if (p.table !== 'coil' && p.table !== 'holding')
      throw new AppError('BAD_REQUEST', `point ${p.id}: ${p.table} ${isBitTable(p.table) ? 'inputs' : 'registers'} are read-only`, 'table');
    const encoded = encodeValue(value, p);
    const fc = functionCode ?? chooseFunction(p);
    checkFunction(p, fc);
    const timeoutMs = this.device.timeoutMs;
    try {
      await this.conn.request(async (client) => {
        if (p.dataType === 'bool') {
          const on = encoded[0] as boolean;
          return fc === 5 ? client.writeCoil(p.unitId, p.address, on, timeoutMs) : client.writeCoils(p.unitId, p.address, [on], timeoutMs);
        }
        let regs = encoded as number[];
        if (p.dataType === 'bit') {
          // Read-modify-write: other bits of the register keep what the device has now.
          const [cur] = await client.readRegisters(p.unitId, 3, p.address, 1, timeoutMs);
          const mask = 1 << (p.bit ?? 0);
          regs = [regs[0] ? cur | mask : cur & ~mask & 0xffff];
        }
        return fc === 6
          ? client.writeRegister(p.unitId, p.address, regs[0], timeoutMs)
          : client.writeRegisters(p.unitId, p.address, regs, timeoutMs);
      });
    } catch (e) {
      throw writeError(p.id, e as ModbusRequestError);
    }
    return fc;
  }

  /** Sends one read request; resolves the registers (or bits as 0/1). */
  async execute(req: ReadRequest, signal?: AbortSignal): Promise<ArrayLike<number>> {
    const timeoutMs = this.device.timeoutMs;
    const fc = FC_READ[req.table];
    const data = await this.conn.request<ArrayLike<number>>(async (client) => {
      if (fc === 1 || fc === 2) return (await client.readBits(req.unitId, fc, req.start, req.count, timeoutMs)).map((b) => (b ? 1 : 0));
      return client.readRegisters(req.unitId, fc, req.start, req.count, timeoutMs);
    }, signal);
    this.registersRead += req.count;
    return data;
  }

  decode(p: ModbusPointConfig, data: ArrayLike<number>, start: number, time: number): PointReading {
    const decoded = decodeValue(data, p.address - start, p as CodecSpec);
    if (typeof decoded === 'string') return { id: p.id, value: NaN, text: decoded, quality: 'good', time };
    if (!Number.isFinite(decoded)) return { ...failedReading(p.id, 'bad', `device sent ${decoded}`, time), value: decoded };
    return { id: p.id, value: decoded, quality: 'good', time };
  }

  private checkFits(p: ModbusPointConfig, field: string): void {
    const limit = isBitTable(p.table) ? this.device.maxBits : this.device.maxRegisters;
    const n = registerCount(p.dataType, p.length);
    if (n > limit)
      throw new AppError('BAD_PARAMS', `point ${p.id} needs ${n} registers, more than the device reads at once (${limit})`, `${field}.length`);
  }
}

export function qualityOf(err: ModbusRequestError): Quality {
  return err.kind === 'exception' || err.kind === 'protocol' ? 'bad' : 'comm_lost';
}

export function failedReading(id: string, quality: Quality, error: string, time: number): PointReading {
  return { id, value: NaN, quality, time, error };
}

function chooseFunction(p: ModbusPointConfig): FunctionCode {
  if (p.dataType === 'bool') return p.writeFunction === 'multiple' ? 15 : 5;
  return registerCount(p.dataType, p.length) === 1 && p.writeFunction !== 'multiple' ? 6 : 16;
}

function checkFunction(p: ModbusPointConfig, fc: number): void {
  const ok = p.dataType === 'bool' ? fc === 5 || fc === 15 : fc === 16 || (fc === 6 && registerCount(p.dataType, p.length) === 1);
  if (!ok) throw new AppError('BAD_REQUEST', `function code ${fc} cannot write ${p.dataType} point ${p.id}`, 'functionCode');
}

/**
 * A failed write as a device fault: the caller's only when the device rejected the request
 * itself (illegal function, address or value); busy (acknowledge, busy) may work later.
 */
function writeError(id: string, err: ModbusRequestError): Error {
  if (err instanceof AppError || err instanceof DeviceError) return err;
  const what = `write to ${id}`;
  switch (err.kind) {
    case 'exception': {
      const code = err.exceptionCode ?? 0;
      const text = `device refused ${what}: ${err.message}`;
      if (code >= 1 && code <= 3) return new DeviceError('rejected', text);
      if (code === 5 || code === 6) return new DeviceError('busy', `${text}; try again`);
      return new DeviceError('device_failure', text);
    }
    case 'protocol':
      return new DeviceError('malformed', `device answered ${what} with a malformed response (${err.message}); the write may or may not have happened`);
    case 'timeout':
      return new DeviceError('timeout', `${what} got no answer: ${err.message}; the write may or may not have happened`);
    default:
      return new DeviceError('unreachable', `${what} failed: ${err.message}`);
  }
}
