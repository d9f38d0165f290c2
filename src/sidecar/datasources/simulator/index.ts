/** The built-in `simulator` data source plugin; see simulator.ts. */
export { SimulatorDataSource, SimulatorDataSource as default, MAX_SAMPLES_PER_CHANNEL, MAX_SAMPLES_PER_REQUEST, HISTOGRAM_BINS } from './simulator';
export { simulatorParamsSchema, sparklineParamsSchema, DEFAULT_CHANNELS, type ChannelSpec, type ChannelSpecInput, type SimulatorParams, type SimulatorParamsInput } from './params';
export { SIGNALS, type SignalKind } from './signals';
