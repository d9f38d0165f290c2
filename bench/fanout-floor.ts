/**
 * What this machine allows for a fan-out, with no sidecar at all: a child process holding
 * N plain TCP connections writes one small message to each at every interval boundary (as
 * buckets close), and this process reads them, timing each from the boundary. The live
 * bench prints it beside its own figures, so a latency can be read against the floor of
 * the hardware and kernel it ran on (loopback syscalls cost ~10 µs on this VM).
 */
import { fork } from 'node:child_process';
import * as net from 'node:net';
import { pinProcess } from './cpu-pinning';

export interface FloorOptions {
  sockets: number;
  intervalMs: number;
  seconds: number;
  messageBytes: number;
  /** CPUs for the writing side (taskset list), as the sidecar had. */
  serverCpus?: string;
}

export interface Floor {
  p50: number;
  p99: number;
}

const ROLE = '--fanout-floor-server';

/** The server side, in the child: writes at each boundary until told to stop. */
function serve(intervalMs: number, messageBytes: number): void {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('error', () => undefined);
    sockets.push(s);
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as net.AddressInfo).port }));
  const tick = (): void => {
    const due = Math.ceil((Date.now() + 1) / intervalMs) * intervalMs;
    setTimeout(() => {
      for (const s of sockets) {
        const msg = Buffer.alloc(messageBytes, 0x20);
        msg.writeDoubleLE(due, 0);
        s.write(msg);
      }
      tick();
    }, due - Date.now());
  };
  tick();
  process.on('disconnect', () => process.exit(0));
}

export async function measureFanoutFloor(o: FloorOptions): Promise<Floor> {
  const child = fork(__filename, [ROLE, String(o.intervalMs), String(o.messageBytes)], { execArgv: ['--import', 'tsx'] });
  pinProcess(child.pid!, o.serverCpus);
  const port = await new Promise<number>((resolve) => child.once('message', (m: { port: number }) => resolve(m.port)));
  const latencies: number[] = [];
  let measuring = false;
  // Read as the live bench's clients read (lean-ws-client.ts): into one shared buffer, in place.
  const shared = Buffer.allocUnsafe(1 << 20);
  const sockets = await Promise.all(
    Array.from(
      { length: o.sockets },
      () =>
        new Promise<net.Socket>((resolve) => {
          const message = Buffer.alloc(o.messageBytes);
          let have = 0;
          const onRead = (n: number, buf: Buffer): boolean => {
            const at = Date.now();
            for (let off = 0; off < n; ) {
              const take = Math.min(o.messageBytes - have, n - off);
              buf.copy(message, have, off, off + take);
              have += take;
              off += take;
              if (have === o.messageBytes) {
                if (measuring) latencies.push(at - message.readDoubleLE(0));
                have = 0;
              }
            }
            return true;
          };
          const s = net.connect({ port, host: '127.0.0.1', onread: { buffer: shared, callback: onRead } }, () => resolve(s));
        }),
    ),
  );
  await new Promise((r) => setTimeout(r, 1000));
  measuring = true;
  await new Promise((r) => setTimeout(r, o.seconds * 1000));
  measuring = false;
  for (const s of sockets) s.destroy();
  child.disconnect();
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return { p50: at(0.5), p99: at(0.99) };
}

if (process.argv[2] === ROLE) serve(Number(process.argv[3]), Number(process.argv[4]));
