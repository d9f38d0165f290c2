/**
 * Keeps a load generator and the process under test on separate cores. On a small machine
 * the scheduler otherwise moves both across the same cores mid-burst, and the fan-out
 * figure measures their contention: on this 2-core VM, pinning alone takes the plain-TCP
 * floor's p99 from ~23 ms to ~19 ms. A real deployment's clients are on other machines
 * entirely, so the server gets its own core(s) and the generator the rest.
 */
import { execFileSync } from 'node:child_process';

export interface Pinning {
  /** CPU list for the server (taskset syntax), or undefined when not pinning. */
  server?: string;
  /** CPU list for the load generator. */
  clients?: string;
  /** This process's CPUs before pinning, to give them back. */
  all?: string;
  /** Said in the bench's output. */
  describe: string;
}

/** The CPUs this process may run on, from taskset (undefined without taskset). */
function allowedCpus(): number[] | undefined {
  try {
    const out = execFileSync('taskset', ['-p', '-c', String(process.pid)], { encoding: 'utf8' });
    const list = /:\s*([\d,-]+)\s*$/.exec(out.trim())?.[1];
    if (!list) return undefined;
    return list.split(',').flatMap((part) => {
      const [a, b = a] = part.split('-').map(Number);
      return Array.from({ length: b - a + 1 }, (_, i) => a + i);
    });
  } catch {
    return undefined;
  }
}

/** The last allowed core for the server, the others for the generator; none with one core or no taskset. */
export function planPinning(): Pinning {
  if (process.env.BENCH_NO_PINNING) return { describe: 'not pinned (BENCH_NO_PINNING)' };
  const cpus = allowedCpus();
  if (!cpus) return { describe: 'not pinned (no taskset)' };
  if (cpus.length < 2) return { describe: 'not pinned (one core)' };
  const server = String(cpus[cpus.length - 1]);
  const clients = cpus.slice(0, -1).join(',');
  return { server, clients, all: cpus.join(','), describe: `server on CPU ${server}, clients on CPU ${clients}` };
}

/** `command args` run under `cpus` (taskset execs it: the pid is the command's). */
export function pinnedCommand(cpus: string | undefined, command: string, args: string[]): [string, string[]] {
  return cpus === undefined ? [command, args] : ['taskset', ['-c', cpus, command, ...args]];
}

/** Pins every thread of a running process (threads it starts later inherit it). */
export function pinProcess(pid: number, cpus: string | undefined): void {
  if (cpus !== undefined) execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

/** Runs `fn` with this process on the plan's client CPUs, then gives it its CPUs back. */
export async function asClients<T>(plan: Pinning, fn: () => Promise<T>): Promise<T> {
  if (plan.clients === undefined) return fn();
  pinProcess(process.pid, plan.clients);
  try {
    return await fn();
  } finally {
    pinProcess(process.pid, plan.all);
  }
}
