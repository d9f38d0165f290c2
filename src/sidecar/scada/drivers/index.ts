/** The device drivers a sidecar has, by protocol. */
import type { DeviceDriver, DriverSet } from './driver';
import { modbusDriver } from './modbus/driver';

export const DRIVERS: DriverSet = new Map<DeviceDriver['protocol'], DeviceDriver>([['modbus_tcp', modbusDriver as DeviceDriver]]);

export type * from './driver';
