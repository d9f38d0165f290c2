/**
 * Why a Modbus request failed, as the poller needs to tell: an exception response marks
 * that request's points bad; a timeout or a lost connection means comm_lost; a malformed
 * answer is bad data. One class with a `kind` keeps the checks a switch.
 */
export type RequestErrorKind =
  /** The device answered with an exception response (`exceptionCode`). */
  | 'exception'
  /** No answer within the request timeout. */
  | 'timeout'
  /** Not connected, or the connection went away while the request was pending. */
  | 'connection'
  /** An answer arrived but was malformed: wrong length, wrong echo, bad framing. */
  | 'protocol'
  /** Cancelled by the caller before it was sent. */
  | 'aborted';

export const EXCEPTION_NAMES: Record<number, string> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

export class ModbusRequestError extends Error {
  constructor(
    readonly kind: RequestErrorKind,
    message: string,
    readonly exceptionCode?: number,
  ) {
    super(message);
    this.name = 'ModbusRequestError';
  }

  static exception(code: number): ModbusRequestError {
    return new ModbusRequestError('exception', `exception ${code} (${EXCEPTION_NAMES[code] ?? 'unknown'})`, code);
  }
}

/** modbus-serial's errors (plain objects with `modbusCode`, `errno`, messages) → ours. */
export function fromLibraryError(err: unknown): ModbusRequestError {
  if (err instanceof ModbusRequestError) return err;
  const e = (err ?? {}) as { modbusCode?: unknown; errno?: unknown; message?: unknown; name?: unknown };
  if (typeof e.modbusCode === 'number') return ModbusRequestError.exception(e.modbusCode);
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (e.name === 'PortNotOpenError' || e.errno === 'ECONNREFUSED') return new ModbusRequestError('connection', message);
  if (e.name === 'TransactionTimedOutError') return new ModbusRequestError('timeout', message);
  return new ModbusRequestError('protocol', message);
}
