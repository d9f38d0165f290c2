/**
 * One TCP connection to one Modbus device through modbus-serial, made safe to use:
 *
 * - We open the socket ourselves and hand it to modbus-serial (`connectTCP` with `socket`),
 *   so we see its `close` event. modbus-serial's TcpPort swallows `close` after a socket
 *   error (it clears its open flag on `error`, then only emits `close` when open), and never
 *   settles pending requests on close: both would leave promises hanging.
 * - Every request has its own timer and is settled exactly once: answered, timed out, or
 *   rejected when the connection is destroyed.
 * - We call the callback API (`writeFC3(unitId, …)`) rather than `setID` + promises, so
 *   requests to different units can be in flight together.
 * - modbus-serial matches answers to requests by MBAP transaction id (a 0-255 counter). An
 *   answer arriving after we gave up would be matched to whichever later request reused that
 *   id, so an id that timed out is quarantined: we step the counter past it (its `_port.
 *   _transactionIdWrite`, guarded in case a future version renames it) until the quarantine ends.
 */
import * as net from 'node:net';
import ModbusRTU from 'modbus-serial';
import { fromLibraryError, ModbusRequestError } from './request-error';

type NodeCallback<T> = (err: unknown, result: T) => void;

/** The callback methods we use; typed loosely because the library's .d.ts types them oddly. */
interface RtuCallbacks {
  writeFC1(unit: number, addr: number, len: number, next: NodeCallback<{ data: boolean[]; buffer: Buffer }>): void;
  writeFC2(unit: number, addr: number, len: number, next: NodeCallback<{ data: boolean[]; buffer: Buffer }>): void;
  writeFC3(unit: number, addr: number, len: number, next: NodeCallback<{ data: number[] }>): void;
  writeFC4(unit: number, addr: number, len: number, next: NodeCallback<{ data: number[] }>): void;
  writeFC5(unit: number, addr: number, state: boolean, next: NodeCallback<{ address: number; state: boolean }>): void;
  writeFC6(unit: number, addr: number, value: number, next: NodeCallback<{ address: number; value: number }>): void;
  writeFC15(unit: number, addr: number, states: boolean[], next: NodeCallback<{ address: number; length: number }>): void;
  writeFC16(unit: number, addr: number, values: number[], next: NodeCallback<{ address: number; length: number }>): void;
}

const TID_SPACE = 256;

export class ModbusTcpClient {
  private readonly pendingTids = new Set<number>();
  /** Transaction id → epoch ms until which it must not be reused. */
  private readonly quarantine = new Map<number, number>();
  private readonly rejectors = new Set<(err: ModbusRequestError) => void>();
  private destroyed = false;
  private closeListener?: (reason: string) => void;

  private constructor(
    private readonly rtu: ModbusRTU,
    private readonly socket: net.Socket,
    private readonly quarantineMs: number,
  ) {
    // Errors are followed by `close`; the listener also keeps an `error` from being unhandled.
    let lastError = '';
    socket.on('error', (err) => (lastError = err.message));
    socket.on('close', () => this.destroy(lastError ? `connection lost: ${lastError}` : 'connection closed by the device'));
    rtu.on('error', () => undefined);
  }

  /** Opens a connection; rejects with kind `connection` on refusal or after `timeoutMs`. */
  static connect(host: string, port: number, timeoutMs: number): Promise<ModbusTcpClient> {
    return new Promise((resolve, reject) => {
      const socket = new net.Socket();
      let done = false;
      const fail = (message: string): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.destroy();
        reject(new ModbusRequestError('connection', message));
      };
      const timer = setTimeout(() => fail(`connect to ${host}:${port} timed out after ${timeoutMs} ms`), timeoutMs);
      socket.once('error', (err) => fail(`connect to ${host}:${port} failed: ${err.message}`));
      socket.once('connect', () => {
        if (done) return;
        socket.setNoDelay(true);
        socket.setKeepAlive(true, 10_000);
        const rtu = new ModbusRTU();
        rtu.connectTCP(host, { port, socket }, (err: unknown) => {
          if (err) return fail(`modbus-serial refused the socket: ${String(err)}`);
          done = true;
          clearTimeout(timer);
          // Quarantine long enough that a straggler is very unlikely: 10 timeouts, at least 10 s.
          resolve(new ModbusTcpClient(rtu, socket, Math.max(10 * timeoutMs, 10_000)));
        });
      });
      socket.connect({ host, port });
    });
  }

  get isOpen(): boolean {
    return !this.destroyed;
  }

  get inFlight(): number {
    return this.pendingTids.size;
  }

  /** Called once when the connection ends, whatever ended it (including destroy()). */
  onClose(listener: (reason: string) => void): void {
    this.closeListener = listener;
  }

  /** FC 3 (holding) or 4 (input): exactly `count` registers or a `protocol` error. */
  async readRegisters(unitId: number, fc: 3 | 4, address: number, count: number, timeoutMs: number): Promise<number[]> {
    const res = await this.call<{ data: number[] }>(timeoutMs, (rtu, next) =>
      fc === 3 ? rtu.writeFC3(unitId, address, count, next) : rtu.writeFC4(unitId, address, count, next),
    );
    if (!Array.isArray(res?.data) || res.data.length !== count) {
      throw new ModbusRequestError('protocol', `asked for ${count} registers, got ${Array.isArray(res?.data) ? res.data.length : 'none'}`);
    }
    return res.data;
  }

  /** FC 1 (coils) or 2 (discrete inputs): exactly `count` bits or a `protocol` error. */
  async readBits(unitId: number, fc: 1 | 2, address: number, count: number, timeoutMs: number): Promise<boolean[]> {
    const res = await this.call<{ data: boolean[]; buffer: Buffer }>(timeoutMs, (rtu, next) =>
      fc === 1 ? rtu.writeFC1(unitId, address, count, next) : rtu.writeFC2(unitId, address, count, next),
    );
    // The library unpacks whatever byte count the device claims; check it is the one we asked for.
    const bytes = Math.ceil(count / 8);
    if (!Array.isArray(res?.data) || res.buffer?.length !== bytes || res.data.length < count) {
      throw new ModbusRequestError('protocol', `asked for ${count} bits (${bytes} bytes), got ${res?.buffer?.length ?? 'no'} bytes`);
    }
    return res.data.slice(0, count);
  }

  async writeCoil(unitId: number, address: number, value: boolean, timeoutMs: number): Promise<void> {
    const res = await this.call<{ address: number; state: boolean }>(timeoutMs, (rtu, next) => rtu.writeFC5(unitId, address, value, next));
    if (res?.address !== address || res.state !== value) throw new ModbusRequestError('protocol', 'FC 5 answer does not echo the request');
  }

  async writeRegister(unitId: number, address: number, value: number, timeoutMs: number): Promise<void> {
    const res = await this.call<{ address: number; value: number }>(timeoutMs, (rtu, next) => rtu.writeFC6(unitId, address, value, next));
    if (res?.address !== address || res.value !== value) throw new ModbusRequestError('protocol', 'FC 6 answer does not echo the request');
  }

  async writeCoils(unitId: number, address: number, values: boolean[], timeoutMs: number): Promise<void> {
    const res = await this.call<{ address: number; length: number }>(timeoutMs, (rtu, next) =>
      rtu.writeFC15(unitId, address, values, next),
    );
    if (res?.address !== address || res.length !== values.length)
      throw new ModbusRequestError('protocol', 'FC 15 answer does not echo the request');
  }

  async writeRegisters(unitId: number, address: number, values: number[], timeoutMs: number): Promise<void> {
    const res = await this.call<{ address: number; length: number }>(timeoutMs, (rtu, next) =>
      rtu.writeFC16(unitId, address, values, next),
    );
    if (res?.address !== address || res.length !== values.length)
      throw new ModbusRequestError('protocol', 'FC 16 answer does not echo the request');
  }

  /** Closes the socket and fails every pending request with kind `connection`. Idempotent. */
  destroy(reason = 'connection closed'): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const err = new ModbusRequestError('connection', reason);
    for (const reject of [...this.rejectors]) reject(err);
    this.rejectors.clear();
    try {
      this.rtu.destroy(() => undefined);
    } catch {
      // already gone
    }
    this.socket.destroy();
    const listener = this.closeListener;
    this.closeListener = undefined;
    listener?.(reason);
  }

  /** Sends one request through modbus-serial and settles once, whatever happens. */
  private call<T>(timeoutMs: number, send: (rtu: RtuCallbacks, next: NodeCallback<T>) => void): Promise<T> {
    if (this.destroyed) return Promise.reject(new ModbusRequestError('connection', 'not connected'));
    return new Promise<T>((resolve, reject) => {
      const tid = this.claimTid();
      if (tid === undefined) {
        reject(new ModbusRequestError('connection', 'no free transaction id (too many unanswered requests)'));
        return;
      }
      let settled = false;
      const finish = (quarantine: boolean): void => {
        settled = true;
        clearTimeout(timer);
        this.rejectors.delete(rejectNow);
        if (tid >= 0) {
          this.pendingTids.delete(tid);
          if (quarantine) this.quarantine.set(tid, Date.now() + this.quarantineMs);
        }
      };
      const rejectNow = (err: ModbusRequestError): void => {
        if (settled) return;
        finish(false);
        reject(err);
      };
      const timer = setTimeout(() => {
        if (settled) return;
        finish(true);
        reject(new ModbusRequestError('timeout', `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.rejectors.add(rejectNow);
      try {
        send(this.rtu as unknown as RtuCallbacks, (err, result) => {
          if (settled) return; // a straggler for a request we already gave up on
          finish(false);
          if (err) reject(fromLibraryError(err));
          else resolve(result);
        });
      } catch (err) {
        // e.g. a value the library cannot put in a frame
        rejectNow(fromLibraryError(err));
      }
    });
  }

  /**
   * Points modbus-serial's next transaction id at one that is neither pending nor
   * quarantined and returns it; -1 if the library's counter is not where we expect it
   * (then ids are simply not steered), undefined if none is free.
   */
  private claimTid(): number | undefined {
    const port = (this.rtu as unknown as { _port?: { _transactionIdWrite?: unknown } })._port;
    if (!port || typeof port._transactionIdWrite !== 'number') return -1;
    const now = Date.now();
    let tid = port._transactionIdWrite % TID_SPACE;
    for (let n = 0; n < TID_SPACE; n++, tid = (tid + 1) % TID_SPACE) {
      if (this.pendingTids.has(tid)) continue;
      const until = this.quarantine.get(tid);
      if (until !== undefined) {
        if (until > now) continue;
        this.quarantine.delete(tid);
      }
      port._transactionIdWrite = tid;
      this.pendingTids.add(tid);
      return tid;
    }
    return undefined;
  }
}
