/** The built-in `scada` data source; see scada.ts. Register `createScadaDataSourceClass({ store, manager })` as `scada`. */
export {
  ScadaDataSource,
  createScadaDataSourceClass,
  scadaChannelName,
  scadaParamsSchema,
  keepsValue,
  DEVICES_CHANNEL,
  MODEL_CHANNEL,
  type ScadaDeps,
  type ScadaParams,
} from './scada';

