/**
 * One error type for everything a client can cause or be told about: a stable code,
 * an HTTP-like status, and the offending field where there is one, so every edge can
 * answer with the same clear JSON.
 */
import { DeviceError, type DeviceFault } from './core/device-error';

export type ErrorCode =
  | 'BAD_REQUEST'
  | 'BAD_PARAMS'
  | 'UNKNOWN_PLUGIN'
  | 'INVALID_PLUGIN'
  | 'DUPLICATE_INSTANCE'
  | 'DUPLICATE_CHANNEL'
  | 'UNKNOWN_INSTANCE'
  | 'UNKNOWN_CHANNEL'
  | 'NOT_SUPPORTED'
  | 'NOT_READY'
  | 'INIT_TIMEOUT'
  | 'INIT_FAILED'
  | 'LIMIT_EXCEEDED'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  /** A device answered, but not with what was asked: a malformed reply or a failure of its own. */
  | 'DEVICE_ERROR'
  /** A device did not answer in time. */
  | 'DEVICE_TIMEOUT'
  | 'INTERNAL';

const STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  BAD_PARAMS: 400,
  UNKNOWN_PLUGIN: 400,
  INVALID_PLUGIN: 400,
  DUPLICATE_INSTANCE: 400,
  DUPLICATE_CHANNEL: 500,
  UNKNOWN_INSTANCE: 404,
  UNKNOWN_CHANNEL: 404,
  NOT_SUPPORTED: 501,
  NOT_READY: 503,
  INIT_TIMEOUT: 503,
  INIT_FAILED: 503,
  LIMIT_EXCEEDED: 413,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  DEVICE_ERROR: 502,
  DEVICE_TIMEOUT: 504,
  INTERNAL: 500,
};

export class AppError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'AppError';
    this.status = STATUS[code];
  }

  toJSON(): { error: { code: ErrorCode; message: string; field?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) } };
  }
}

/** How each device fault reads to a client: whose fault it is, and whether to try again. */
const DEVICE_FAULT_CODE: Record<DeviceFault, ErrorCode> = {
  rejected: 'BAD_REQUEST',
  invalid_value: 'BAD_REQUEST',
  device_failure: 'DEVICE_ERROR',
  malformed: 'DEVICE_ERROR',
  busy: 'NOT_READY',
  unreachable: 'NOT_READY',
  timeout: 'DEVICE_TIMEOUT',
};

/**
 * Any thrown value as an AppError: device faults get the code that says whose fault they
 * are; unknown errors become INTERNAL with their message.
 */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof DeviceError) return new AppError(DEVICE_FAULT_CODE[err.fault], err.message, err.field);
  const message = err instanceof Error ? err.message : String(err);
  return new AppError('INTERNAL', message);
}
