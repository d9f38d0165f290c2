/**
 * What goes wrong talking to a device, in the protocol's own terms: drivers and codecs raise
 * these and know nothing of HTTP or gRPC; `toAppError` (errors.ts) is the one place that
 * turns a fault into a status, for every transport.
 */
export type DeviceFault =
  /** The device refused the request itself (Modbus exceptions 1-3, IEC 104 negative confirmation): the caller's fault. */
  | 'rejected'
  /** The value cannot be encoded for the point (out of range, wrong type): the caller's fault, before anything was sent. */
  | 'invalid_value'
  /** The device or a gateway failed on its own side. */
  | 'device_failure'
  /** An answer arrived but was malformed: the request may or may not have taken effect. */
  | 'malformed'
  /** The device is busy: the same request may work later. */
  | 'busy'
  /** Not connected, or the connection went away. */
  | 'unreachable'
  /** No answer in time: the request may or may not have taken effect. */
  | 'timeout';

export class DeviceError extends Error {
  constructor(
    readonly fault: DeviceFault,
    message: string,
    /** The request field at fault, for the caller's faults (e.g. `value`). */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'DeviceError';
  }
}
