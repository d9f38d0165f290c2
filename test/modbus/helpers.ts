/** Shared bits of the Modbus tests: a sample collector, waiting for conditions, tool checks. */
import { execFileSync } from 'node:child_process';
import * as net from 'node:net';
import { qualityName, type Quality } from '../../src/sidecar/core/quality';
import type { SampleBatch } from '../../src/sidecar/core/samples';

export interface Sample {
  time: number;
  value: number;
  quality: Quality;
}

/** Collects every batch a poller emits, per series. */
export class Collector {
  readonly batches: SampleBatch[] = [];
  readonly series = new Map<string, Sample[]>();

  readonly onSamples = (batch: SampleBatch): void => {
    this.batches.push(batch);
    for (const [id, cols] of batch) {
      const list = this.series.get(id) ?? [];
      for (let i = 0; i < cols.times.length; i++)
        list.push({ time: cols.times[i], value: cols.values[i], quality: qualityName(cols.qualities[i]) });
      this.series.set(id, list);
    }
  };

  of(id: string): Sample[] {
    return this.series.get(id) ?? [];
  }

  last(id: string): Sample | undefined {
    const s = this.of(id);
    return s[s.length - 1];
  }

  clear(): void {
    this.batches.length = 0;
    this.series.clear();
  }
}

/** Polls `check` until it returns true (or a value), failing with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 5000, stepMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A port nothing listens on right now (for "device down" tests). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Throws a clear message when an external tool the cross-checks need is missing. */
export function requireTool(cmd: string, args: string[], aptPackages: string): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
  } catch {
    throw new Error(`this test needs \`${cmd}\`: install it with \`apt-get install -y ${aptPackages}\``);
  }
}
