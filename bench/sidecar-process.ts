/**
 * Runs a real sidecar (`scadalive serve`) in a child process for the benchmarks, so its
 * memory is measured apart from the bench's own clients.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pinnedCommand } from './cpu-pinning';

export const BENCH_KEY = 'bench-key-0000000000000000';

export interface SidecarProcess {
  url: string;
  pid: number;
  /** Resident set size now and its peak (VmHWM), bytes. */
  rss(): { now: number; peak: number };
  stop(): Promise<void>;
}

/**
 * Starts `scadalive serve` with `configYaml` (the API key BENCH_KEY is added) on an
 * ephemeral port; on the CPUs `cpus` (taskset list) if given.
 */
export async function startSidecarProcess(configYaml: string, cpus?: string): Promise<SidecarProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), 'scadalive-bench-'));
  const config = path.join(dir, 'config.yaml');
  writeFileSync(config, configYaml);
  const main = path.resolve(__dirname, '../src/sidecar/main.ts');
  // e.g. BENCH_SIDECAR_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the sidecar under load.
  const nodeArgs = (process.env.BENCH_SIDECAR_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  // node itself with tsx's loader (not the tsx binary, which would run it in a grandchild
  // and not let node flags such as --cpu-prof finish their work on SIGTERM).
  const [command, args] = pinnedCommand(cpus, process.execPath, [
    ...nodeArgs,
    '--import',
    'tsx',
    main,
    'serve',
    '--config',
    config,
    '--port',
    '0',
    '--key',
    BENCH_KEY,
    '--log-level',
    'warn',
  ]);
  const child: ChildProcess = spawn(command, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    cwd: path.resolve(__dirname, '..'),
  });
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`sidecar did not start: ${err}`)), 30_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`sidecar exited with ${code}: ${err}`)));
  });
  const pid = child.pid!;
  return {
    url,
    pid,
    rss() {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
      return { now: kb('VmRSS'), peak: kb('VmHWM') };
    },
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
