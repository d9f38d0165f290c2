#!/usr/bin/env node
/**
 * The CLI:
 *   scadalive serve --config <file> [--host] [--port] [--key <key>…] [--control-key <key>…]
 *                   [--log-level] [--insecure-no-auth] [--simulate-modbus <sim.yaml>…]
 *   scadalive simulate modbus --config <sim.yaml> [--port] [--host] [--log-level]
 *
 * Exit codes: 0 after a graceful shutdown (SIGINT/SIGTERM), 2 for a bad command line or
 * config (one `scadalive: …` line on stderr), 1 for anything else. Logs are JSON lines on
 * stdout (pino); the human start banner goes to stderr so it never mixes into them.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import pino from 'pino';
import { parseSidecarConfig, type SidecarConfig } from './config';
import { loadConfigFile } from './config-file';
import { AppError } from './errors';
import { ENV_API_KEYS, isLoopbackHost, keysFromEnv } from './server/auth';
import { runSimulateModbus } from './scada/drivers/modbus/cli';
import type { ModbusSimulator } from './scada/drivers/modbus/simulator';
import { startSidecar, type Sidecar } from './sidecar';

// Plain require: package.json lies outside any include path TypeScript should compile.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const VERSION: string = (require('../../package.json') as { version: string }).version;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** A graceful shutdown that takes longer than this is cut short. */
const SHUTDOWN_DEADLINE_MS = 15_000;

export interface ServeOptions {
  config: string;
  host?: string;
  port?: number;
  key: string[];
  controlKey: string[];
  logLevel?: (typeof LOG_LEVELS)[number];
  insecureNoAuth?: boolean;
  /** Modbus simulator configs to run in this process (development: `npm start` needs no hardware). */
  simulateModbus: string[];
}

export interface SimulateModbusCliOptions {
  config: string;
  port?: number;
  host?: string;
  logLevel?: (typeof LOG_LEVELS)[number];
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('must be a port number 0-65535');
  return n;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function buildCli(
  run: (opts: ServeOptions) => Promise<void>,
  simulateModbus: (opts: SimulateModbusCliOptions) => Promise<void> = simulate,
): Command {
  const program = new Command('scadalive')
    .description('SCADA Live sidecar: live SCADA data for Grafana')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('serve')
    .description('serve the HTTP + WebSocket API for the Grafana data source')
    .requiredOption('-c, --config <file>', 'YAML config file')
    .option('--host <host>', 'listen address (overrides server.host)')
    .option('--port <port>', 'listen port, 0 = any free one (overrides server.port)', parsePort)
    .option('--key <key>', `an API key that may read (repeatable; merged with server.apiKeys and $${ENV_API_KEYS})`, collect, [])
    .option('--control-key <key>', 'an API key that may also control devices (repeatable)', collect, [])
    .addOption(new Option('--log-level <level>', 'log level (overrides server.logLevel)').choices(LOG_LEVELS))
    .option('--insecure-no-auth', 'allow running with no API key at all; only on a loopback host')
    .option(
      '--simulate-modbus <file>',
      'also run a Modbus TCP simulator from this YAML config in this process, on the port it names, before polling starts (development; repeatable)',
      collect,
      [],
    )
    .action(async (opts: ServeOptions) => run(opts));

  program
    .command('simulate')
    .description('run device simulators (development and tests)')
    .command('modbus')
    .description('serve simulated Modbus TCP units and registers from a YAML config (see config/modbus-sim.yaml)')
    .requiredOption('-c, --config <file>', 'YAML simulator config')
    .option('--port <port>', 'listen port, 0 = any free one (overrides the config)', parsePort)
    .option('--host <host>', 'listen address (overrides the config)')
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'))
    .action(async (opts: SimulateModbusCliOptions) => simulateModbus(opts));
  return program;
}

/** The config file with the command line's overrides applied. */
export async function loadServeConfig(opts: ServeOptions): Promise<{ config: SidecarConfig; baseDir: string }> {
  const file = await loadConfigFile(opts.config);
  const config = parseSidecarConfig(file.data, file.baseDir);
  if (opts.host !== undefined) config.server.host = opts.host;
  if (opts.port !== undefined) config.server.port = opts.port;
  if (opts.logLevel !== undefined) config.server.logLevel = opts.logLevel;
  return { config, baseDir: file.baseDir };
}

async function serve(opts: ServeOptions): Promise<void> {
  const { config } = await loadServeConfig(opts);
  const logger = pino({ level: config.server.logLevel, base: { service: 'scadalive' } });
  // Simulators first: the device manager's first poll then finds its devices up.
  const sims: ModbusSimulator[] = [];
  const closeSims = async (): Promise<void> => {
    await Promise.all(sims.map((s) => s.close().catch((err: unknown) => logger.error({ err }, 'closing a simulator failed'))));
  };
  let sidecar: Sidecar;
  try {
    for (const file of opts.simulateModbus ?? [])
      sims.push(await runSimulateModbus({ config: file, logger: logger.child({ component: 'modbus-sim' }) }));
    sidecar = await startSidecar(config, {
      version: VERSION,
      logger,
      keys: { apiKeys: opts.key, controlKeys: opts.controlKey },
      allowNoAuth: opts.insecureNoAuth === true,
    });
  } catch (err) {
    await closeSims();
    throw err;
  }
  logger.info({ url: sidecar.url, version: VERSION }, 'listening');
  process.stderr.write(banner(sidecar, config, opts, await exampleChannel(sidecar, config), sims));
  // The sidecar first, so its pollers stop before their simulated devices go away.
  handleSignals(async () => {
    await sidecar.close();
    await closeSims();
  }, logger);
}

/** `scadalive simulate modbus`: runs until SIGINT/SIGTERM. */
async function simulate(opts: SimulateModbusCliOptions): Promise<void> {
  const logger = pino({ level: opts.logLevel ?? 'info', base: { service: 'scadalive-modbus-sim' } });
  const sim = await runSimulateModbus({ config: opts.config, port: opts.port, host: opts.host, logger });
  process.stderr.write(`\nModbus TCP simulator listening on ${sim.host}:${sim.port} (Ctrl-C stops it)\n\n`);
  handleSignals(() => sim.close(), logger);
}

/** A timeseries channel of the first instance, so the banner's stream example runs as pasted. */
async function exampleChannel(sidecar: Sidecar, config: SidecarConfig): Promise<string> {
  const first = config.registry.instances[0];
  if (!first) return '<channel>';
  try {
    const ch = (await sidecar.registry.get(first.id).channels()).find((c) => c.type === 'timeseries');
    return ch?.name ?? '<channel>';
  } catch {
    return '<channel>';
  }
}

/** The start banner: URL and ready-to-paste curl examples. */
function banner(sidecar: Sidecar, config: SidecarConfig, opts: ServeOptions, channel: string, sims: readonly ModbusSimulator[]): string {
  const key = [
    ...opts.key,
    ...opts.controlKey,
    ...config.server.apiKeys,
    ...config.server.controlKeys,
    ...keysFromEnv(process.env).apiKeys,
  ][0];
  // The key itself only on loopback (a developer's own machine); elsewhere a placeholder,
  // so a production log never holds a credential.
  const shown = key === undefined ? undefined : isLoopbackHost(config.server.host) ? key : '<your-api-key>';
  const auth = shown === undefined ? '' : ` -H 'Authorization: Bearer ${shown}'`;
  const first = config.registry.instances[0];
  const stream = first
    ? `  curl -N${auth} -H 'Content-Type: application/json' \\\n    -d '{"instance":"${first.id}","channels":[${JSON.stringify(channel)}],"intervalMs":1000}' ${sidecar.url}/api/live/http\n`
    : '';
  return (
    `\nSCADA Live ${VERSION} listening on ${sidecar.url}\n` +
    `  curl -s${auth} ${sidecar.url}/api/health\n` +
    `  curl -s${auth} '${sidecar.url}/api/channels${first ? `?instance=${first.id}` : ''}'\n` +
    stream +
    `  curl -s${auth} ${sidecar.url}/api/v1/devices\n` +
    `  WebSocket: ${sidecar.url.replace(/^http/, 'ws')}/api/live\n` +
    sims.map((s) => `  Modbus TCP simulator on ${s.host}:${s.port}\n`).join('') +
    '\n'
  );
}

/** Graceful shutdown on SIGINT/SIGTERM (exit 0), cut short by a second signal or the deadline. */
function handleSignals(close: () => Promise<void>, logger: pino.Logger): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'signal received: shutting down gracefully');
    const deadline = setTimeout(() => {
      logger.error(`graceful shutdown took longer than ${SHUTDOWN_DEADLINE_MS} ms: exiting`);
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

export async function main(argv: string[]): Promise<void> {
  const program = buildCli(serve);
  // Usage errors exit 2 (as for a bad config) instead of commander's default 1.
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(program);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') process.exit(0);
    if (typeof code === 'string' && code.startsWith('commander.')) process.exit(2); // commander printed the message
    if (err instanceof AppError) {
      process.stderr.write(`scadalive: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`scadalive: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}

if (require.main === module) void main(process.argv);
