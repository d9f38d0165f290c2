/** The device manager: model → driver acquisitions → store + bus, and device_call / device_ctrl. */
export {
  DeviceManager,
  type DeviceManagerOptions,
  type DeviceState,
  type DeviceStatus,
  type Reading,
  type ControlResult,
} from './device-manager';
export { buildSnapshot, loadModel, linkPath, deviceLinks, EMPTY_SNAPSHOT, type ModelSnapshot, type ModelLink, type ModelProblem } from '../model/snapshot';
export type { DevicePlan } from '../drivers/driver';
