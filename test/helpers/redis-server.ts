/**
 * A real, private `redis-server` for tests and benchmarks: a free loopback port, no
 * persistence (`--save "" --appendonly no`), its own temp dir. Never the system Redis.
 *
 *   const redis = await startRedisServer();
 *   ... new Redis(redis.url) ...
 *   await redis.restart();   // same port, empty data (nothing is persisted)
 *   await redis.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** True while the process runs. */
  readonly running: boolean;
  /** Stops the server (SIGTERM, then SIGKILL after a grace period). Idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same port after `stop()`. */
  start(): Promise<void>;
  /** stop() then start(): all data is gone, as after a crash of a non-persistent Redis. */
  restart(): Promise<void>;
}

export interface RedisServerOptions {
  /** Extra `redis-server` arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: string[];
  /** How long to wait for PING to answer. */
  startTimeoutMs?: number;
}

/** The binary: `$REDIS_SERVER_BIN`, else `redis-server` on PATH, else /usr/bin or /usr/local/bin. */
export function findRedisServer(): string {
  const fromEnv = process.env.REDIS_SERVER_BIN;
  if (fromEnv) {
    if (!existsSync(fromEnv))
      throw new Error(`REDIS_SERVER_BIN=${fromEnv} does not exist; install redis-server (e.g. apt-get install redis-server)`);
    return fromEnv;
  }
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin', '/usr/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, 'redis-server');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(
    'redis-server not found on PATH (nor in /usr/bin, /usr/local/bin): install redis-server (e.g. apt-get install redis-server) or set REDIS_SERVER_BIN',
  );
}

/** A port the OS says is free right now (bind to 0, read it back, release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** One raw PING over a fresh socket (no client library, so no reconnect logic hides failures). */
function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let answer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      answer += d.toString('latin1');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every server this process started, killed synchronously if the process exits without stopping them. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const bin = findRedisServer();
  installExitHook();
  const port = await freePort();
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  let child: ChildProcess | undefined;
  let dir: string | undefined;
  let exited: Promise<void> = Promise.resolve();

  const launch = async (): Promise<void> => {
    // A fresh dir per launch: with persistence off it stays empty, but Redis insists on one.
    dir = mkdtempSync(join(tmpdir(), 'scadalive-redis-'));
    // prettier-ignore
    const args = [
      '--port', String(port), '--bind', '127.0.0.1',
      '--save', '', '--appendonly', 'no', '--dir', dir,
      '--daemonize', 'no', '--logfile', '', '--loglevel', 'warning',
      ...(options.args ?? []),
    ];
    const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    live.add(proc);
    let log = '';
    const keep = (d: Buffer) => {
      log = (log + d.toString()).slice(-4000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    let exitInfo: string | undefined;
    exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        exitInfo = `exit code ${code}, signal ${signal}`;
        live.delete(proc);
        resolve();
      });
      proc.on('error', (err) => {
        exitInfo = err.message;
        live.delete(proc);
        resolve();
      });
    });
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      if (exitInfo) {
        child = undefined;
        throw new Error(`redis-server on port ${port} failed to start (${exitInfo}):\n${log}`);
      }
      if (await ping(port)) return;
      await sleep(20);
    }
    await stop();
    throw new Error(`redis-server on port ${port} did not answer PING within ${startTimeoutMs} ms:\n${log}`);
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  };

  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get running() {
      return child !== undefined;
    },
    stop,
    async start() {
      if (!child) await launch();
    },
    async restart() {
      await stop();
      await launch();
    },
  };
}
