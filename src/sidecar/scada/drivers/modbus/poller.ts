/**
 * Polls one Modbus TCP device: its units and points, grouped by poll interval, read with
 * the fewest requests (planner.ts) over one connection (connection.ts), decoded (codec.ts)
 * and reported by exception (report.ts) as one SampleBatch per poll cycle.
 *
 * Scheduling: one task per (interval, unit), each with its own timer, so a slow or silent
 * unit delays only itself. A tick that finds its task's previous cycle still running runs
 * the next cycle as soon as that one ends (polling as fast as the device allows, never
 * queueing up).
 *
 * Qualities:
 *   good       the value was read and decoded.
 *   bad        the device answered that request with an exception (e.g. illegal data
 *              address): only the points of that request; or the answer was malformed; or
 *              the decoded number is NaN/±Inf.
 *   comm_lost  no answer: the device is down (every point, once per transition, then
 *              heartbeats) or a unit is silent (its points; the unit is then probed with
 *              one request per backoff step, at least 4 timeouts apart, so it does
 *              not hog the connection).
 *   stale      a good value not refreshed within staleAfterMs (default 3 × interval +
 *              timeout) while the device is connected and the unit answering — e.g. the
 *              device answers slower than the interval asks. The value is kept; the next
 *              reading makes it good again.
 */
import pino, { type Logger } from 'pino';
import { AppError } from '../../../errors';
import { DeviceError } from '../../../core/device-error';
import type { SampleBatch } from '../../../core/samples';
import { decodeValue, encodeValue, type CodecSpec } from './codec';
import { backoffDelay, ModbusConnection, type ConnectionStatus } from './connection';
import { planReads, type ReadRequest } from './planner';
import { BatchBuilder, PointReport, type LatestValue } from './report';
import { ModbusRequestError } from './request-error';
import {
  isBitTable,
  parsePoint,
  parsePollerConfig,
  registerCount,
  type ModbusDeviceConfig,
  type ModbusPointConfig,
  type ModbusPointInput,
  type ModbusPollerInput,
  type ModbusUnitConfig,
} from './types';
import type { Quality } from '../../../core/quality';

export interface PollerOptions {
  /** One call per poll cycle that has something to report. Must not throw (it is caught and logged). */
  onSamples: (batch: SampleBatch) => void;
  logger?: Logger;
  /** Jitter source, for tests. */
  random?: () => number;
}

/** What read() and write() answer for one point. */
export interface PointReading {
  id: string;
  /** NaN unless good. */
  value: number;
  text?: string;
  quality: Quality;
  time: number;
  error?: string;
}

export interface WriteResult extends PointReading {
  /** The function code the write used. */
  functionCode: 5 | 6 | 15 | 16;
}

export interface UnitHealth {
  id: string;
  unitId: number;
  responsive: boolean;
  lastError?: string;
  retryAt?: number;
}

export interface PollerHealth {
  deviceId: string;
  connection: ConnectionStatus;
  units: UnitHealth[];
  /** Points per current quality. */
  qualities: Partial<Record<Quality, number>>;
  cycles: number;
  /** Ticks that found the previous cycle still running. */
  overruns: number;
  /** Registers (and bits) read since start. */
  registersRead: number;
  requestsPerCycle: number;
}

interface UnitState extends UnitHealth {
  failures: number;
}

interface PlannedRead extends ReadRequest {
  lastError?: string;
}

interface PollTask {
  intervalMs: number;
  unitId: number;
  staleAfterMs: number;
  reads: PlannedRead[];
  points: number[];
  nextAt: number;
  timer?: NodeJS.Timeout;
  running: boolean;
  /** A tick came while running: run again as soon as this cycle ends. */
  again: boolean;
}

const FC_READ = { coil: 1, discrete: 2, holding: 3, input: 4 } as const;

export class ModbusPoller {
  readonly device: ModbusDeviceConfig;
  private readonly points: ModbusPointConfig[];
  private readonly reports: PointReport[];
  private readonly byId = new Map<string, number>();
  private readonly units = new Map<number, UnitState>();
  private readonly tasks: PollTask[] = [];
  private readonly conn: ModbusConnection;
  private readonly logger: Logger;
  private readonly random: () => number;
  private started = false;
  private stopped = false;
  private cycles = 0;
  private overruns = 0;
  private registersRead = 0;

  constructor(
    config: ModbusPollerInput,
    private readonly options: PollerOptions,
  ) {
    const cfg = parsePollerConfig(config);
    this.device = cfg.device;
    this.points = cfg.points;
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ device: cfg.device.id });
    this.random = options.random ?? Math.random;
    this.points.forEach((p, i) => {
      this.checkFits(p, `points.${i}`);
      this.byId.set(p.id, i);
    });
    this.reports = this.points.map((p) => new PointReport(p.id, p.deadband, cfg.device.maxSilenceMs));
    for (const u of cfg.units) this.units.set(u.unitId, { id: u.id, unitId: u.unitId, responsive: true, failures: 0 });
    this.planTasks(cfg.units);
    const d = this.device;
    this.conn = new ModbusConnection({
      host: d.host,
      port: d.port,
      timeoutMs: d.timeoutMs,
      maxInFlight: d.maxInFlight,
      backoff: d.backoff,
      resetAfterTimeouts: d.resetAfterTimeouts,
      logger: this.logger,
      random: this.random,
    });
    this.conn.onState((s) => this.onConnectionState(s));
  }

  /** Connects and starts polling. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.conn.start();
    const now = Date.now();
    for (const task of this.tasks) {
      task.nextAt = now;
      this.schedule(task);
    }
  }

  /** Stops polling and closes the connection; nothing is emitted afterwards. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const task of this.tasks) clearTimeout(task.timer);
    await this.conn.close();
  }

  /** The latest reading of one point, or of every point. */
  latest(id: string): LatestValue | undefined;
  latest(): LatestValue[];
  latest(id?: string): LatestValue | LatestValue[] | undefined {
    if (id === undefined) return this.reports.map((r) => r.latest());
    const i = this.byId.get(id);
    return i === undefined ? undefined : this.reports[i].latest();
  }

  onState(listener: (status: ConnectionStatus) => void): () => void {
    return this.conn.onState(listener);
  }

  health(): PollerHealth {
    const qualities: Partial<Record<Quality, number>> = {};
    for (const r of this.reports) {
      const q = r.latest().quality;
      qualities[q] = (qualities[q] ?? 0) + 1;
    }
    return {
      deviceId: this.device.id,
      connection: this.conn.status(),
      units: [...this.units.values()].map(({ failures: _f, ...u }) => u),
      qualities,
      cycles: this.cycles,
      overruns: this.overruns,
      registersRead: this.registersRead,
      requestsPerCycle: this.tasks.reduce((n, t) => n + t.reads.length, 0),
    };
  }

  /** Reads points now (device_call): configured ids, or ad-hoc point definitions. */
  async read(refs: ReadonlyArray<string | ModbusPointInput>): Promise<PointReading[]> {
    const points = refs.map((r, i) => this.resolve(r, `points.${i}`));
    const reads = planReads(points, this.device);
    const now = () => Date.now();
    const readings = new Array<PointReading>(points.length);
    await Promise.all(
      reads.map(async (req) => {
        try {
          const data = await this.execute(req);
          const t = now();
          for (const i of req.points) readings[i] = this.decode(points[i], data, req.start, t);
        } catch (e) {
          const err = e as ModbusRequestError;
          const t = now();
          for (const i of req.points) readings[i] = failedReading(points[i].id, qualityOf(err), err.message, t);
        }
      }),
    );
    // Configured points take what was read into their latest value and samples too.
    const out = new BatchBuilder();
    const t = now();
    readings.forEach((r, k) => {
      const idx = this.byId.get(r.id);
      if (idx === undefined || this.points[idx] !== points[k]) return; // ad-hoc points have no series
      this.apply(idx, r);
      this.reports[idx].report(out, t);
    });
    this.emit(out);
    return readings;
  }

  /**
   * Writes one point (device_ctrl) and reads it back. FC 5 (coil) or 6 (one register) by
   * default, 15/16 when the point says `writeFunction: multiple` or `functionCode` asks;
   * values wider than a register always use 16. A `bit` is read, changed and written back.
   */
  async write(ref: string | ModbusPointInput, value: unknown, functionCode?: 5 | 6 | 15 | 16): Promise<WriteResult> {
    const p = this.resolve(ref, 'point');
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
    const [reading] = await this.read([p]);
    return { ...reading, functionCode: fc };
  }

  // ---------------------------------------------------------------------------------------

  private resolve(ref: string | ModbusPointInput, field: string): ModbusPointConfig {
    if (typeof ref === 'string') {
      const i = this.byId.get(ref);
      if (i === undefined) throw new AppError('NOT_FOUND', `no point ${ref} on device ${this.device.id}`, field);
      return this.points[i];
    }
    const p = parsePoint(ref);
    this.checkFits(p, field);
    return p;
  }

  private checkFits(p: ModbusPointConfig, field: string): void {
    const limit = isBitTable(p.table) ? this.device.maxBits : this.device.maxRegisters;
    const n = registerCount(p.dataType, p.length);
    if (n > limit)
      throw new AppError(
        'BAD_PARAMS',
        `point ${p.id} needs ${n} registers, more than the device reads at once (${limit})`,
        `${field}.length`,
      );
  }

  private planTasks(units: ModbusUnitConfig[]): void {
    const groups = new Map<string, number[]>();
    this.points.forEach((p, i) => {
      const key = `${p.pollIntervalMs ?? this.device.pollIntervalMs}/${p.unitId}`;
      const g = groups.get(key);
      if (g) g.push(i);
      else groups.set(key, [i]);
    });
    for (const [key, idx] of groups) {
      const [interval, unitId] = key.split('/').map(Number);
      const reads = planReads(
        idx.map((i) => this.points[i]),
        this.device,
      ).map((r) => ({ ...r, points: r.points.map((j) => idx[j]) }));
      this.tasks.push({
        intervalMs: interval,
        unitId,
        staleAfterMs: this.device.staleAfterMs ?? 3 * interval + this.device.timeoutMs,
        reads,
        points: idx,
        nextAt: 0,
        running: false,
        again: false,
      });
    }
    this.logger.debug({ units: units.length, points: this.points.length, tasks: this.tasks.length }, 'modbus poll plan');
  }

  private schedule(task: PollTask): void {
    if (this.stopped) return;
    clearTimeout(task.timer);
    task.timer = setTimeout(() => this.tick(task), Math.max(0, task.nextAt - Date.now()));
  }

  private tick(task: PollTask): void {
    if (this.stopped) return;
    const now = Date.now();
    task.nextAt += task.intervalMs;
    if (task.nextAt <= now) task.nextAt = now + task.intervalMs; // missed ticks are skipped, not caught up
    this.schedule(task);
    if (task.running) {
      this.overruns++;
      task.again = true;
      this.housekeep(task, now);
      return;
    }
    this.runTask(task, now);
  }

  private runTask(task: PollTask, now: number): void {
    const unit = this.units.get(task.unitId)!;
    if (this.conn.state !== 'connected' || (!unit.responsive && now < (unit.retryAt ?? 0))) {
      this.housekeep(task, now);
      return;
    }
    task.running = true;
    this.cycle(task, unit)
      .catch((err) => this.logger.error({ err }, 'modbus poll cycle failed'))
      .finally(() => {
        task.running = false;
        if (task.again && !this.stopped) {
          task.again = false;
          this.runTask(task, Date.now());
        }
      });
  }

  /** Heartbeats and staleness for a task whose points were not read this tick. */
  private housekeep(task: PollTask, now: number): void {
    const unit = this.units.get(task.unitId)!;
    const out = new BatchBuilder();
    const staleBefore = now - task.staleAfterMs;
    for (const i of task.points) {
      if (this.conn.state === 'connected' && unit.responsive) this.reports[i].markStaleIfOlder(staleBefore, now);
      this.reports[i].report(out, now);
    }
    this.emit(out);
  }

  /** One poll cycle of one task: read, decode, report, emit one batch. */
  private async cycle(task: PollTask, unit: UnitState): Promise<void> {
    const abort = new AbortController();
    const run = (req: PlannedRead) => this.readInto(req, unit, abort);
    if (!unit.responsive) {
      // Probe a silent unit with one request; the rest only once it answers.
      const [first, ...rest] = task.reads;
      if (await run(first)) await Promise.all(rest.map(run));
      else for (const r of rest) this.failRequest(r, new ModbusRequestError('aborted', unit.lastError ?? 'unit not answering'));
    } else {
      await Promise.all(task.reads.map(run));
    }
    if (this.stopped) return;
    this.cycles++;
    const now = Date.now();
    const out = new BatchBuilder();
    for (const i of task.points) this.reports[i].report(out, now);
    this.emit(out);
  }

  /** Reads one request into the points' reports; false if the unit did not answer. */
  private async readInto(req: PlannedRead, unit: UnitState, abort: AbortController): Promise<boolean> {
    try {
      const data = await this.execute(req, abort.signal);
      const now = Date.now();
      for (const i of req.points) this.apply(i, this.decode(this.points[i], data, req.start, now));
      if (req.lastError !== undefined)
        this.logger.info({ unit: req.unitId, table: req.table, start: req.start, count: req.count }, 'modbus read recovered');
      req.lastError = undefined;
      if (!unit.responsive) this.unitAnswered(unit);
      return true;
    } catch (e) {
      const err = e as ModbusRequestError;
      if (err.kind === 'exception' || err.kind === 'protocol') {
        if (!unit.responsive) this.unitAnswered(unit); // an exception is an answer
        this.failRequest(req, err);
        return true;
      }
      if (err.kind === 'timeout' && !abort.signal.aborted) {
        this.unitSilent(unit, err.message);
        abort.abort(); // the unit's queued requests are not sent: they would only time out too
      }
      this.failRequest(req, err);
      return false;
    }
  }

  private failRequest(req: PlannedRead, err: ModbusRequestError): void {
    const now = Date.now();
    for (const i of req.points) this.reports[i].setQuality(qualityOf(err), now, err.message);
    if (req.lastError !== err.message && err.kind !== 'connection' && err.kind !== 'aborted') {
      this.logger.warn(
        { unit: req.unitId, table: req.table, start: req.start, count: req.count, error: err.message },
        'modbus read failed',
      );
    }
    req.lastError = err.message;
  }

  private unitSilent(unit: UnitState, error: string): void {
    unit.failures++;
    unit.lastError = error;
    // At least 4 timeouts apart: on a one-request-at-a-time link each probe holds the line
    // for a whole timeout, so a silent unit takes at most a fifth of it from the others.
    unit.retryAt = Date.now() + Math.max(backoffDelay(unit.failures, this.device.backoff, this.random), 4 * this.device.timeoutMs);
    if (unit.responsive) this.logger.warn({ unit: unit.unitId, error }, 'modbus unit not answering');
    unit.responsive = false;
  }

  private unitAnswered(unit: UnitState): void {
    this.logger.info({ unit: unit.unitId }, 'modbus unit answering again');
    unit.responsive = true;
    unit.failures = 0;
    unit.retryAt = undefined;
    unit.lastError = undefined;
  }

  /** Sends one read request; resolves the registers (or bits as 0/1). */
  private async execute(req: ReadRequest, signal?: AbortSignal): Promise<ArrayLike<number>> {
    const timeoutMs = this.device.timeoutMs;
    const fc = FC_READ[req.table];
    const data = await this.conn.request<ArrayLike<number>>(async (client) => {
      if (fc === 1 || fc === 2) return (await client.readBits(req.unitId, fc, req.start, req.count, timeoutMs)).map((b) => (b ? 1 : 0));
      return client.readRegisters(req.unitId, fc, req.start, req.count, timeoutMs);
    }, signal);
    this.registersRead += req.count;
    return data;
  }

  private decode(p: ModbusPointConfig, data: ArrayLike<number>, start: number, time: number): PointReading {
    const decoded = decodeValue(data, p.address - start, p as CodecSpec);
    if (typeof decoded === 'string') return { id: p.id, value: NaN, text: decoded, quality: 'good', time };
    if (!Number.isFinite(decoded)) return { ...failedReading(p.id, 'bad', `device sent ${decoded}`, time), value: decoded };
    return { id: p.id, value: decoded, quality: 'good', time };
  }

  private apply(i: number, r: PointReading): void {
    if (r.quality === 'good') this.reports[i].good(r.value, r.text, r.time);
    else this.reports[i].setQuality(r.quality, r.time, r.error);
  }

  private onConnectionState(s: ConnectionStatus): void {
    if (this.stopped) return;
    if (s.state === 'connected') {
      // Fresh connection, fresh start for every unit; poll now rather than at the next tick.
      for (const u of this.units.values()) if (!u.responsive) this.unitAnswered(u);
      const now = Date.now();
      for (const task of this.tasks) if (!task.running) this.runTask(task, now);
      return;
    }
    if (s.state !== 'backoff') return;
    // Down: every point comm_lost; report() emits it once, then heartbeats.
    const now = Date.now();
    const out = new BatchBuilder();
    for (const r of this.reports) {
      r.setQuality('comm_lost', now, s.lastError);
      r.report(out, now);
    }
    this.emit(out);
  }

  private emit(out: BatchBuilder): void {
    if (out.size === 0 || this.stopped) return;
    try {
      this.options.onSamples(out.build());
    } catch (err) {
      this.logger.error({ err }, 'onSamples failed');
    }
  }
}

function qualityOf(err: ModbusRequestError): Quality {
  return err.kind === 'exception' || err.kind === 'protocol' ? 'bad' : 'comm_lost';
}

function failedReading(id: string, quality: Quality, error: string, time: number): PointReading {
  return { id, value: NaN, quality, time, error };
}

function chooseFunction(p: ModbusPointConfig): 5 | 6 | 15 | 16 {
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
