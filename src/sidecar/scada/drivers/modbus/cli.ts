/**
 * `scadalive simulate modbus --config <yaml> --port <n>`: the main CLI parses its
 * arguments and calls runSimulateModbus; the simulator then runs until close().
 */
import type { Logger } from 'pino';
import pino from 'pino';
import { loadConfigFile } from '../../../config-file';
import { startModbusSimulator, type ModbusSimulator } from './simulator';
import { parseSimConfig } from './sim-config';

export interface SimulateModbusOptions {
  /** YAML file with a simulator config (see config/modbus-sim.yaml). */
  config: string;
  /** Overrides the file's port; 0 = any free port. */
  port?: number;
  /** Overrides the file's host. */
  host?: string;
  logger?: Logger;
}

export async function runSimulateModbus(opts: SimulateModbusOptions): Promise<ModbusSimulator> {
  const logger = opts.logger ?? pino({ name: 'modbus-sim' });
  const file = await loadConfigFile(opts.config);
  const data = { ...(file.data as Record<string, unknown>) };
  if (opts.port !== undefined) data.port = opts.port;
  if (opts.host !== undefined) data.host = opts.host;
  const config = parseSimConfig(data);
  const sim = await startModbusSimulator(config, { logger });
  const points = config.units.reduce((n, u) => n + u.points.length, 0);
  logger.info(`modbus simulator: ${config.units.length} unit(s), ${points} point(s) on ${sim.host}:${sim.port}`);
  return sim;
}
