/**
 * A Modbus TCP device simulator on modbus-serial's ServerTCP: it serves the units and
 * points of a SimConfig from register images, moves values by their behaviours, and lets
 * tests inject faults at runtime (offline, dropped connections, delays, exception ranges,
 * silent units). Values are encoded with codec.ts, so whatever the poller decodes is what
 * the simulator meant.
 *
 * Device-like details: reads beyond the protocol limits answer exception 3, past address
 * 65535 exception 2, an unknown unit id exception 11 (as a gateway would); writes to a
 * register or coil of a non-writable point answer exception 2, writes elsewhere stick
 * (plain memory). FC 15 is applied coil by coil (ServerTCP calls setCoil per coil).
 */
import type * as net from 'node:net';
import { ServerTCP, type FCallback, type FCallbackVal } from 'modbus-serial';
import pino, { type Logger } from 'pino';
import { AppError } from '../../../errors';
import { decodeValue, encodeRaw, encodeValue, fitInteger, isIntegerType, type CodecSpec } from './codec';
import { parseSimConfig, type Behaviour, type SimConfig, type SimConfigInput, type SimFaults, type SimPoint } from './sim-config';
import { MAX_READ_REGISTERS, registerCount, type Table } from './types';
import { mulberry32 } from '../../../../common/prng';

export interface SimStats {
  /** Requests (bit reads count once per bit: ServerTCP asks for coils one by one). */
  requests: number;
  /** Most requests being answered at the same moment (i.e. sent before earlier ones were answered). */
  maxConcurrent: number;
  connections: number;
}

export interface ModbusSimulator {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
  /** Replaces the current faults; `{}` clears them all. */
  setFault(faults: SimFaults): Promise<void>;
  /** Drops every open connection once (clients see a reset; new connections are accepted). */
  dropConnections(): void;
  /** Sets a point's engineering value, as the process would; a moving point stops moving. */
  set(unitId: number, name: string, value: number | boolean | string): void;
  /** A point's current engineering value. */
  get(unitId: number, name: string): number | string;
  stats(): SimStats;
}

interface RuntimePoint {
  cfg: SimPoint;
  behaviour: Behaviour;
  walk?: { value: number; next: () => number };
}

interface UnitImage {
  regs: Record<'holding' | 'input', Uint16Array>;
  bits: Record<'coil' | 'discrete', Uint8Array>;
  /** 1 where a register/bit belongs to a point that refuses writes. */
  readOnly: Record<Table, Uint8Array>;
  points: Map<string, RuntimePoint>;
}

export async function startModbusSimulator(config: SimConfigInput, options: { logger?: Logger } = {}): Promise<ModbusSimulator> {
  const sim = new Simulator(parseSimConfig(config), options.logger ?? pino({ level: 'silent' }));
  await sim.start();
  return sim;
}

type ModbusError = Error & { modbusErrorCode: number };

function exception(code: number): ModbusError {
  return Object.assign(new Error(`exception ${code}`), { modbusErrorCode: code });
}

const WRITABLE = new Set<Behaviour['kind']>(['writable']);
const MOVING = new Set<Behaviour['kind']>(['sine', 'ramp', 'counter', 'randomWalk']);

class Simulator implements ModbusSimulator {
  readonly host: string;
  port: number;
  private server?: ServerTCP;
  private faults: SimFaults = {};
  private readonly units = new Map<number, UnitImage>();
  private timer?: NodeJS.Timeout;
  private readonly t0 = Date.now();
  private readonly counters: SimStats = { requests: 0, maxConcurrent: 0, connections: 0 };
  private inProgress = 0;
  private closed = false;

  constructor(
    private readonly config: SimConfig,
    private readonly logger: Logger,
  ) {
    this.host = config.host;
    this.port = config.port;
    for (const u of config.units) this.units.set(u.unitId, this.buildUnit(u.points));
  }

  async start(): Promise<void> {
    this.update();
    this.timer = setInterval(() => this.update(), this.config.updateMs);
    this.timer.unref(); // values need not keep a process alive; the listening socket does
    await this.listen();
    this.logger.info({ host: this.host, port: this.port, units: [...this.units.keys()] }, 'modbus simulator listening');
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.stopListening();
  }

  async setFault(faults: SimFaults): Promise<void> {
    this.faults = { ...faults };
    if (faults.offline && this.server) await this.stopListening();
    if (!faults.offline && !this.server && !this.closed) await this.listen();
  }

  dropConnections(): void {
    this.server?.socks.forEach((_, sock) => sock.destroy());
  }

  set(unitId: number, name: string, value: number | boolean | string): void {
    const { unit, point } = this.find(unitId, name);
    this.store(unit, point.cfg, value, 'strict');
    if (MOVING.has(point.behaviour.kind)) point.behaviour = { kind: 'static', value };
  }

  get(unitId: number, name: string): number | string {
    const { unit, point } = this.find(unitId, name);
    const p = point.cfg;
    if (p.dataType === 'bool') return unit.bits[p.table as 'coil' | 'discrete'][p.address];
    return decodeValue(unit.regs[p.table as 'holding' | 'input'], p.address, p as CodecSpec);
  }

  stats(): SimStats {
    return { ...this.counters };
  }

  // ---------------------------------------------------------------------------------------

  private buildUnit(points: SimPoint[]): UnitImage {
    const unit: UnitImage = {
      regs: { holding: new Uint16Array(65536), input: new Uint16Array(65536) },
      bits: { coil: new Uint8Array(65536), discrete: new Uint8Array(65536) },
      readOnly: {
        holding: new Uint8Array(65536),
        input: new Uint8Array(65536),
        coil: new Uint8Array(65536),
        discrete: new Uint8Array(65536),
      },
      points: new Map(),
    };
    for (const p of points) {
      const rp: RuntimePoint = { cfg: p, behaviour: p.behaviour };
      if (p.behaviour.kind === 'randomWalk')
        rp.walk = { value: p.behaviour.start, next: mulberry32(p.behaviour.seed ^ (p.address * 2654435761)) };
      unit.points.set(p.name, rp);
      if (!WRITABLE.has(p.behaviour.kind)) unit.readOnly[p.table].fill(1, p.address, p.address + registerCount(p.dataType, p.length));
      if (p.behaviour.kind === 'static') this.store(unit, p, p.behaviour.value, 'strict');
      if (p.behaviour.kind === 'writable') this.store(unit, p, p.behaviour.initial, 'strict');
    }
    return unit;
  }

  /** Recomputes every moving point into its unit's image. */
  private update(): void {
    const t = Date.now() - this.t0;
    for (const unit of this.units.values()) {
      for (const rp of unit.points.values()) {
        const b = rp.behaviour;
        switch (b.kind) {
          case 'sine':
            this.store(unit, rp.cfg, b.mean + b.amplitude * Math.sin((2 * Math.PI * t) / b.periodMs + b.phase), 'clamp');
            break;
          case 'ramp':
            this.store(unit, rp.cfg, b.from + ((b.to - b.from) * (t % b.periodMs)) / b.periodMs, 'clamp');
            break;
          case 'counter':
            this.store(unit, rp.cfg, b.start + b.step * Math.floor(t / b.everyMs), 'wrap');
            break;
          case 'randomWalk': {
            const w = rp.walk!;
            w.value = Math.min(b.max, Math.max(b.min, w.value + (w.next() * 2 - 1) * b.step));
            this.store(unit, rp.cfg, w.value, 'clamp');
            break;
          }
          default:
            break;
        }
      }
    }
  }

  /**
   * Writes an engineering value into the image. `strict` (configured and set() values)
   * refuses what does not fit; moving values are clamped, or wrapped for counters.
   */
  private store(unit: UnitImage, p: SimPoint, value: number | boolean | string, mode: 'strict' | 'clamp' | 'wrap'): void {
    const spec = p as CodecSpec;
    if (p.dataType === 'bool') {
      unit.bits[p.table as 'coil' | 'discrete'][p.address] = truthy(value) ? 1 : 0;
      return;
    }
    const regs = unit.regs[p.table as 'holding' | 'input'];
    if (p.dataType === 'bit') {
      const mask = 1 << (p.bit ?? 0);
      regs[p.address] = truthy(value) ? regs[p.address] | mask : regs[p.address] & ~mask;
      return;
    }
    let words: number[];
    if (mode === 'strict' || p.dataType === 'string') {
      words = encodeValue(typeof value === 'boolean' ? Number(value) : value, spec) as number[];
    } else {
      const raw = (Number(value) - p.offset) / p.scale;
      words = encodeRaw(isIntegerType(p.dataType) ? fitInteger(raw, p.dataType, mode) : raw, spec);
    }
    regs.set(words, p.address);
  }

  private find(unitId: number, name: string): { unit: UnitImage; point: RuntimePoint } {
    const unit = this.units.get(unitId);
    const point = unit?.points.get(name);
    if (!unit || !point) throw new AppError('NOT_FOUND', `simulator has no point ${name} on unit ${unitId}`);
    return { unit, point };
  }

  // --- serving ---------------------------------------------------------------------------

  /** Applies faults and checks, then `work` (now or after the configured delay). */
  private serve(
    unitId: number,
    table: Table,
    addr: number,
    count: number,
    fail: (err: ModbusError) => void,
    work: (unit: UnitImage) => void,
  ): void {
    this.counters.requests++;
    const f = this.faults;
    if (f.silentUnits?.includes(unitId)) return; // never answered
    this.counters.maxConcurrent = Math.max(this.counters.maxConcurrent, ++this.inProgress);
    const run = (): void => {
      this.inProgress--;
      const unit = this.units.get(unitId);
      if (!unit) return fail(exception(11));
      const code = f.exceptions?.find(
        (e) =>
          (e.unitId === undefined || e.unitId === unitId) &&
          (e.table === undefined || e.table === table) &&
          addr <= e.to &&
          addr + count - 1 >= e.from,
      )?.code;
      if (code !== undefined) return fail(exception(code));
      if (addr + count > 65536) return fail(exception(2));
      work(unit);
    };
    const d =
      f.delay && (f.delay.unitId === undefined || f.delay.unitId === unitId) ? f.delay.ms + Math.random() * (f.delay.jitterMs ?? 0) : 0;
    if (d > 0) setTimeout(run, d);
    else run();
  }

  private readRegisters(table: 'holding' | 'input', addr: number, length: number, unitId: number, cb: FCallbackVal<number[]>): void {
    if (length < 1 || length > MAX_READ_REGISTERS) return cb(exception(3), []);
    this.serve(
      unitId,
      table,
      addr,
      length,
      (e) => cb(e, []),
      (unit) => cb(null, Array.from(unit.regs[table].subarray(addr, addr + length))),
    );
  }

  private readBit(table: 'coil' | 'discrete', addr: number, unitId: number, cb: FCallbackVal<boolean>): void {
    this.serve(
      unitId,
      table,
      addr,
      1,
      (e) => cb(e, false),
      (unit) => cb(null, unit.bits[table][addr] === 1),
    );
  }

  private writeRegisters(addr: number, values: number[], unitId: number, cb: FCallback): void {
    this.serve(unitId, 'holding', addr, values.length, cb, (unit) => {
      if (unit.readOnly.holding.subarray(addr, addr + values.length).includes(1)) return cb(exception(2));
      unit.regs.holding.set(values, addr);
      cb(null);
    });
  }

  private writeCoil(addr: number, value: boolean, unitId: number, cb: FCallback): void {
    this.serve(unitId, 'coil', addr, 1, cb, (unit) => {
      if (unit.readOnly.coil[addr]) return cb(exception(2));
      unit.bits.coil[addr] = value ? 1 : 0;
      cb(null);
    });
  }

  private vector() {
    // Callback style throughout: ServerTCP tells the styles apart by each function's arity.
    return {
      getCoil: (addr: number, unitId: number, cb: FCallbackVal<boolean>) => this.readBit('coil', addr, unitId, cb),
      getDiscreteInput: (addr: number, unitId: number, cb: FCallbackVal<boolean>) => this.readBit('discrete', addr, unitId, cb),
      getHoldingRegister: (addr: number, unitId: number, cb: FCallbackVal<number>) =>
        this.readRegisters('holding', addr, 1, unitId, (e, v) => cb(e, v[0] ?? 0)),
      getInputRegister: (addr: number, unitId: number, cb: FCallbackVal<number>) =>
        this.readRegisters('input', addr, 1, unitId, (e, v) => cb(e, v[0] ?? 0)),
      getMultipleHoldingRegisters: (addr: number, length: number, unitId: number, cb: FCallbackVal<number[]>) =>
        this.readRegisters('holding', addr, length, unitId, cb),
      getMultipleInputRegisters: (addr: number, length: number, unitId: number, cb: FCallbackVal<number[]>) =>
        this.readRegisters('input', addr, length, unitId, cb),
      setCoil: (addr: number, value: boolean, unitId: number, cb: FCallback) => this.writeCoil(addr, value, unitId, cb),
      setRegister: (addr: number, value: number, unitId: number, cb: FCallback) => this.writeRegisters(addr, [value], unitId, cb),
      setRegisterArray: (addr: number, values: number[], unitId: number, cb: FCallback) => this.writeRegisters(addr, values, unitId, cb),
    };
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      // ServerTCP reads `port || 502`, so an ephemeral port is asked for as the string '0'.
      const server = new ServerTCP(this.vector(), { host: this.host, port: (this.port === 0 ? '0' : this.port) as number, unitID: 255 });
      server.on('serverError', (err) => {
        if (this.server !== server)
          reject(new AppError('BAD_PARAMS', `modbus simulator cannot listen on ${this.host}:${this.port}: ${err?.message ?? err}`));
        else this.logger.error({ err }, 'modbus simulator server error');
      });
      server.on('socketError', (err) => this.logger.debug({ err }, 'modbus simulator socket error'));
      server.on('error', (err) => this.logger.warn({ err }, 'modbus simulator error'));
      server.on('initialized', () => {
        const inner = (server as unknown as { _server?: net.Server })._server;
        const address = inner?.address();
        if (address && typeof address === 'object') this.port = address.port;
        inner?.on('connection', (sock: net.Socket) => {
          this.counters.connections++;
          // Answers go out at once: with Nagle on, pipelined answers wait for the client's
          // delayed ACK (~40 ms), and several requests in flight would be slower than one.
          sock.setNoDelay(true);
        });
        this.server = server;
        resolve();
      });
    });
  }

  private stopListening(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}

function truthy(v: number | boolean | string): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') return v === 'true' || v === '1';
  return Math.abs(v) >= 0.5;
}
