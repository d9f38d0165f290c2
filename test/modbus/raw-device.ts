/**
 * A bare Modbus TCP "device" for misbehaviour tests: it splits requests on MBAP framing and
 * lets the test answer each one with any bytes at all — short, long, wrong, or none.
 */
import * as net from 'node:net';

export interface RawRequest {
  tid: number;
  unitId: number;
  fc: number;
  address: number;
  count: number;
}

/** Bytes to send back (written verbatim), or null for no answer. */
export type Responder = (req: RawRequest) => Buffer | null;

export interface RawDevice {
  port: number;
  requests: RawRequest[];
  setResponder(r: Responder): void;
  close(): Promise<void>;
}

/** A correct answer: MBAP + PDU, for register reads (FC 3/4) with the given registers. */
export function registersAnswer(
  req: RawRequest,
  regs: number[],
  opts: { byteCount?: number; fc?: number; unitId?: number; tid?: number } = {},
): Buffer {
  const pdu = Buffer.alloc(2 + regs.length * 2);
  pdu[0] = opts.fc ?? req.fc;
  pdu[1] = opts.byteCount ?? regs.length * 2;
  regs.forEach((r, i) => pdu.writeUInt16BE(r & 0xffff, 2 + 2 * i));
  return frame(opts.tid ?? req.tid, opts.unitId ?? req.unitId, pdu);
}

export function exceptionAnswer(req: RawRequest, code: number): Buffer {
  return frame(req.tid, req.unitId, Buffer.from([req.fc | 0x80, code]));
}

/** MBAP header (length = unit id + PDU) + unit id + PDU. */
export function frame(tid: number, unitId: number, pdu: Buffer, lengthField?: number): Buffer {
  const head = Buffer.alloc(7);
  head.writeUInt16BE(tid, 0);
  head.writeUInt16BE(0, 2);
  head.writeUInt16BE(lengthField ?? pdu.length + 1, 4);
  head[6] = unitId;
  return Buffer.concat([head, pdu]);
}

export async function startRawDevice(initial: Responder): Promise<RawDevice> {
  let responder = initial;
  const requests: RawRequest[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    sock.on('data', (data) => {
      buf = Buffer.concat([buf, data]);
      while (buf.length >= 7 && buf.length >= 6 + buf.readUInt16BE(4)) {
        const len = buf.readUInt16BE(4);
        const req: RawRequest = {
          tid: buf.readUInt16BE(0),
          unitId: buf[6],
          fc: buf[7],
          address: buf.readUInt16BE(8),
          count: buf.readUInt16BE(10),
        };
        buf = buf.subarray(6 + len);
        requests.push(req);
        const answer = responder(req);
        if (answer && !sock.destroyed) sock.write(answer);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    requests,
    setResponder: (r) => (responder = r),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
