/**
 * Modbus TCP behind the driver seam: acquisition is the poller (the request scheduler), a
 * session is a bare connection with point I/O and no schedule, so reading a device another
 * sidecar polls costs one connection and the requests asked for, nothing more.
 */
import { AppError } from '../../../errors';
import type { Clock } from '../../../core/clock';
import type { Acquisition, AcquisitionContext, DeviceDriver, DeviceSession, DriverContext, LinkStatus, WriteOptions, WriteResult } from '../driver';
import type { PointReading } from '../driver';
import { ModbusConnection } from './connection';
import { planModbusDevice } from './plan';
import { ModbusPointIO, type FunctionCode } from './point-io';
import { ModbusPoller } from './poller';
import { parsePollerConfig, type ModbusPollerConfig } from './types';

const FUNCTION_CODES = new Set([5, 6, 15, 16]);

/** `{functionCode}` of a write, checked: the one Modbus write option. */
function functionCodeOf(options: WriteOptions | undefined): FunctionCode | undefined {
  const fc = options?.functionCode;
  if (fc === undefined) return undefined;
  if (typeof fc !== 'number' || !FUNCTION_CODES.has(fc)) throw new AppError('BAD_REQUEST', 'functionCode must be 5, 6, 15 or 16', 'functionCode');
  return fc as FunctionCode;
}

/** Resolves once `status()` leaves idle/connecting (up or failed), or after `timeoutMs`. */
function settled(clock: Clock, status: () => LinkStatus, onState: (l: (s: LinkStatus) => void) => () => void, timeoutMs: number): Promise<void> {
  const busy = (state: string) => state === 'idle' || state === 'connecting';
  if (!busy(status().state)) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clock.clearTimeout(timer);
      off();
      resolve();
    };
    const timer = clock.setTimeout(done, timeoutMs);
    const off = onState((s) => {
      if (!busy(s.state)) done();
    });
  });
}

class ModbusAcquisition implements Acquisition {
  constructor(
    private readonly poller: ModbusPoller,
    private readonly clock: Clock,
  ) {}
  read(pointIds: readonly string[]): Promise<PointReading[]> {
    return this.poller.read(pointIds);
  }
  async write(pointId: string, value: unknown, options?: WriteOptions): Promise<WriteResult> {
    const { functionCode, ...reading } = await this.poller.write(pointId, value, functionCodeOf(options));
    return { reading, confirmation: { functionCode } };
  }
  ready(timeoutMs: number): Promise<void> {
    return settled(this.clock, () => this.poller.health().connection, (l) => this.poller.onState(l), timeoutMs);
  }
  close(): Promise<void> {
    return this.poller.stop();
  }
  latest = ((id?: string) => (id === undefined ? this.poller.latest() : this.poller.latest(id))) as Acquisition['latest'];
  health(): ReturnType<ModbusPoller['health']> {
    return this.poller.health();
  }
  onState(listener: (status: LinkStatus) => void): () => void {
    return this.poller.onState(listener);
  }
}

class ModbusSession implements DeviceSession {
  private readonly conn: ModbusConnection;
  private readonly io: ModbusPointIO;
  private readonly clock: Clock;

  constructor(config: ModbusPollerConfig, ctx: DriverContext) {
    this.clock = ctx.clock;
    const d = config.device;
    const logger = ctx.logger.child({ device: d.id, session: true });
    this.conn = new ModbusConnection({ ...d, logger, clock: ctx.clock });
    this.io = new ModbusPointIO(d, config.points, this.conn, () => ctx.clock.now());
    this.conn.start();
  }
  read(pointIds: readonly string[]): Promise<PointReading[]> {
    return this.io.read(pointIds.map((id, i) => this.io.resolve(id, `points.${i}`)));
  }
  async write(pointId: string, value: unknown, options?: WriteOptions): Promise<WriteResult> {
    const p = this.io.resolve(pointId, 'point');
    const functionCode = await this.io.write(p, value, functionCodeOf(options));
    const [reading] = await this.io.read([p]);
    return { reading, confirmation: { functionCode } };
  }
  ready(timeoutMs: number): Promise<void> {
    return settled(this.clock, () => this.conn.status(), (l) => this.conn.onState(l), timeoutMs);
  }
  close(): Promise<void> {
    return this.conn.close();
  }
}

export const modbusDriver: DeviceDriver<ModbusPollerConfig> = {
  protocol: 'modbus_tcp',
  plan: planModbusDevice,
  start(config: ModbusPollerConfig, ctx: AcquisitionContext): Acquisition {
    const poller = new ModbusPoller(parsePollerConfig(config), { logger: ctx.logger, clock: ctx.clock, onSamples: ctx.onSamples });
    poller.start();
    return new ModbusAcquisition(poller, ctx.clock);
  },
  open(config: ModbusPollerConfig, ctx: DriverContext): DeviceSession {
    return new ModbusSession(config, ctx);
  },
};
