/** The device manager: model → pollers → store + bus, and device_call / device_ctrl. */
export {
  DeviceManager,
  type DeviceManagerOptions,
  type DeviceState,
  type DeviceStatus,
  type Reading,
  type ControlResult,
} from './device-manager';
export {
  buildSnapshot,
  loadModel,
  planDevice,
  linkPath,
  deviceLinks,
  EMPTY_SNAPSHOT,
  type ModelSnapshot,
  type ModelLink,
  type ModelProblem,
  type DevicePlan,
} from './snapshot';
