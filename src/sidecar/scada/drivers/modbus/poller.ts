/**
 * Polls one Modbus TCP device: its units and points, grouped by poll interval, read with
 * the fewest requests (planner.ts) over one connection (connection.ts) by point-io.ts, and
 * reported by exception (point-report.ts) as one SampleBatch per poll cycle: the Modbus
 * driver's request scheduler.
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
import { systemClock, type Clock, type ClockTimer } from '../../../core/clock';
import type { Quality } from '../../../core/quality';
import type { SampleBatch } from '../../../core/samples';
import type { PointReading } from '../driver';
import { BatchBuilder, PointReport, type LatestValue } from '../point-report';
import { backoffDelay, ModbusConnection, type ConnectionStatus } from './connection';
import { planReads, type ReadRequest } from './planner';
import { ModbusPointIO, qualityOf, type FunctionCode } from './point-io';
import { ModbusRequestError } from './request-error';
import { parsePollerConfig, type ModbusDeviceConfig, type ModbusPointConfig, type ModbusPointInput, type ModbusPollerInput, type ModbusUnitConfig } from './types';

export type { PointReading } from '../driver';

export interface PollerOptions {
  /** One call per poll cycle that has something to report. Must not throw (it is caught and logged). */
  onSamples: (batch: SampleBatch) => void;
  logger?: Logger;
  /** Jitter source, for tests. */
  random?: () => number;
  clock?: Clock;
}

export interface WriteResult extends PointReading {
  /** The function code the write used. */
  functionCode: FunctionCode;
}

export interface UnitHealth {
  id: string;
  unitId: number;
  /** The unit id again, under the driver seam's name for a station's protocol address. */
  address: number;
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
  timer?: ClockTimer;
  running: boolean;
  /** A tick came while running: run again as soon as this cycle ends. */
  again: boolean;
}

export class ModbusPoller {
  readonly device: ModbusDeviceConfig;
  private readonly points: readonly ModbusPointConfig[];
  private readonly reports: PointReport[];
  private readonly io: ModbusPointIO;
  private readonly clock: Clock;
  private readonly units = new Map<number, UnitState>();
  private readonly tasks: PollTask[] = [];
  private readonly conn: ModbusConnection;
  private readonly logger: Logger;
  private readonly random: () => number;
  private started = false;
  private stopped = false;
  private cycles = 0;
  private overruns = 0;

  constructor(
    config: ModbusPollerInput,
    private readonly options: PollerOptions,
  ) {
    const cfg = parsePollerConfig(config);
    this.device = cfg.device;
    this.points = cfg.points;
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ device: cfg.device.id });
    this.random = options.random ?? Math.random;
    this.clock = options.clock ?? systemClock;
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
      clock: this.clock,
    });
    // First: it checks every point fits one request, which the schedule's plan relies on.
    this.io = new ModbusPointIO(this.device, this.points, this.conn, () => this.clock.now());
    this.reports = this.points.map((p) => new PointReport(p.id, p.deadband, cfg.device.maxSilenceMs));
    for (const u of cfg.units) this.units.set(u.unitId, { id: u.id, unitId: u.unitId, address: u.unitId, responsive: true, failures: 0 });
    this.planTasks(cfg.units);
    this.conn.onState((s) => this.onConnectionState(s));
  }

  /** Connects and starts polling. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.conn.start();
    const now = this.clock.now();
    for (const task of this.tasks) {
      task.nextAt = now;
      this.schedule(task);
    }
  }

  /** Stops polling and closes the connection; nothing is emitted afterwards. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const task of this.tasks) this.clock.clearTimeout(task.timer);
    await this.conn.close();
  }

  /** The latest reading of one point, or of every point. */
  latest(id: string): LatestValue | undefined;
  latest(): LatestValue[];
  latest(id?: string): LatestValue | LatestValue[] | undefined {
    if (id === undefined) return this.reports.map((r) => r.latest());
    const i = this.io.indexOf(id);
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
      registersRead: this.io.registersRead,
      requestsPerCycle: this.tasks.reduce((n, t) => n + t.reads.length, 0),
    };
  }

  /** Reads points now (device_call): configured ids, or ad-hoc point definitions. */
  async read(refs: ReadonlyArray<string | ModbusPointInput>): Promise<PointReading[]> {
    const points = refs.map((r, i) => this.io.resolve(r, `points.${i}`));
    const readings = await this.io.read(points);
    // Configured points take what was read into their latest value and samples too.
    const out = new BatchBuilder();
    const t = this.clock.now();
    readings.forEach((r, k) => {
      const idx = this.io.indexOf(r.id);
      if (idx === undefined || this.points[idx] !== points[k]) return; // ad-hoc points have no series
      this.apply(idx, r);
      this.reports[idx].report(out, t);
    });
    this.emit(out);
    return readings;
  }

  /** Writes one point (device_ctrl; see ModbusPointIO.write) and reads it back. */
  async write(ref: string | ModbusPointInput, value: unknown, functionCode?: FunctionCode): Promise<WriteResult> {
    const p = this.io.resolve(ref, 'point');
    const fc = await this.io.write(p, value, functionCode);
    const [reading] = await this.read([p]);
    return { ...reading, functionCode: fc };
  }

  // ---------------------------------------------------------------------------------------

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
    this.clock.clearTimeout(task.timer);
    task.timer = this.clock.setTimeout(() => this.tick(task), Math.max(0, task.nextAt - this.clock.now()));
  }

  private tick(task: PollTask): void {
    if (this.stopped) return;
    const now = this.clock.now();
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
          this.runTask(task, this.clock.now());
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
    const now = this.clock.now();
    const out = new BatchBuilder();
    for (const i of task.points) this.reports[i].report(out, now);
    this.emit(out);
  }

  /** Reads one request into the points' reports; false if the unit did not answer. */
  private async readInto(req: PlannedRead, unit: UnitState, abort: AbortController): Promise<boolean> {
    try {
      const data = await this.io.execute(req, abort.signal);
      const now = this.clock.now();
      for (const i of req.points) this.apply(i, this.io.decode(this.points[i], data, req.start, now));
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
    const now = this.clock.now();
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
    unit.retryAt = this.clock.now() + Math.max(backoffDelay(unit.failures, this.device.backoff, this.random), 4 * this.device.timeoutMs);
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

  private apply(i: number, r: PointReading): void {
    if (r.quality === 'good') this.reports[i].good(r.value, r.text, r.time);
    else this.reports[i].setQuality(r.quality, r.time, r.error);
  }

  private onConnectionState(s: ConnectionStatus): void {
    if (this.stopped) return;
    if (s.state === 'connected') {
      // Fresh connection, fresh start for every unit; poll now rather than at the next tick.
      for (const u of this.units.values()) if (!u.responsive) this.unitAnswered(u);
      const now = this.clock.now();
      for (const task of this.tasks) if (!task.running) this.runTask(task, now);
      return;
    }
    if (s.state !== 'backoff') return;
    // Down: every point comm_lost; report() emits it once, then heartbeats.
    const now = this.clock.now();
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
