/**
 * A lean WebSocket client for the live fan-out load generator. The 1,000 simulated clients
 * share this machine with the sidecar; `ws`'s client costs ~20 µs a message, and even a
 * stream 'data' event allocates per read, so at 1,000 messages a tick the generator's own
 * work and garbage would be measured rather than the sidecar (a real subscriber's browser
 * parses on its own machine).
 *
 * So: the handshake is written by hand on a plain TCP socket, and reads go into one buffer
 * shared by every socket (net's `onread`), parsed in place. It reads the server's frames:
 * unmasked text frames, which is all the sidecar sends; anything else is a protocol error.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as net from 'node:net';

export interface LeanSocket {
  /** Sends one text message (masked, as a client must). */
  send(text: string): void;
  close(): void;
}

export interface LeanHandlers {
  /**
   * A text message, as bytes that are only valid during the call (they are in the shared
   * read buffer): the caller decodes what it needs at once.
   */
  onMessage(payload: Buffer, receivedAt: number): void;
  onError?(err: Error): void;
}

/** Every socket reads into this: the fan-out's sockets are read one at a time anyway. */
const shared = Buffer.allocUnsafe(1 << 20);
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function connectLean(url: string, headers: Record<string, string>, handlers: LeanHandlers): Promise<LeanSocket> {
  const u = new URL(url);
  const key = randomBytes(16).toString('base64');
  const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
  return new Promise((resolve, reject) => {
    let open = false;
    /** Bytes of an incomplete frame (or handshake) carried to the next read. */
    let carry: Buffer | undefined;
    const fail = (err: Error): void => {
      if (open) handlers.onError?.(err);
      else reject(err);
      socket.destroy();
    };

    /** Parses whole frames from buf[0, n); returns how many bytes were consumed. */
    const frames = (buf: Buffer, n: number, at: number): number => {
      let off = 0;
      while (n - off >= 2) {
        const b0 = buf[off];
        let len = buf[off + 1] & 0x7f;
        let hdr = 2;
        if (len === 126) {
          if (n - off < 4) break;
          len = buf.readUInt16BE(off + 2);
          hdr = 4;
        } else if (len === 127) {
          if (n - off < 10) break;
          len = Number(buf.readBigUInt64BE(off + 2));
          hdr = 10;
        }
        if (n - off < hdr + len) break;
        const opcode = b0 & 0x0f;
        if (opcode === 0x1 && b0 & 0x80) handlers.onMessage(buf.subarray(off + hdr, off + hdr + len), at);
        else if (opcode === 0x8) socket.end();
        else if (opcode !== 0x9 && opcode !== 0xa) handlers.onError?.(new Error(`unexpected frame opcode ${opcode}`));
        off += hdr + len;
      }
      return off;
    };

    /** The 101 response; returns the bytes consumed, or -1 if it is not complete yet. */
    const handshake = (buf: Buffer, n: number): number => {
      const end = buf.subarray(0, n).indexOf('\r\n\r\n');
      if (end < 0) return -1;
      const head = buf.toString('latin1', 0, end);
      if (!/^HTTP\/1\.1 101 /.test(head)) throw new Error(`no upgrade: ${head.split('\r\n')[0]}`);
      if (!new RegExp(`^sec-websocket-accept: *${accept.replace(/[+/=]/g, '\\$&')} *$`, 'im').test(head)) throw new Error('bad Sec-WebSocket-Accept');
      open = true;
      resolve(lean);
      return end + 4;
    };

    const onRead = (nread: number, buf: Buffer): boolean => {
      // Take the time before any parsing: it is when the bytes reached this client.
      const at = Date.now();
      let data = buf;
      let n = nread;
      if (carry) {
        data = Buffer.concat([carry, buf.subarray(0, nread)]);
        n = data.length;
        carry = undefined;
      }
      try {
        let off = 0;
        if (!open) {
          off = handshake(data, n);
          if (off < 0) {
            carry = Buffer.from(data.subarray(0, n));
            return true;
          }
        }
        off += frames(data.subarray(off), n - off, at);
        // Keep the rest: the shared buffer is overwritten by the next read of any socket.
        if (off < n) carry = Buffer.from(data.subarray(off, n));
      } catch (err) {
        fail(err as Error);
      }
      return true;
    };

    const socket = net.connect({ host: u.hostname, port: Number(u.port), noDelay: true, onread: { buffer: shared, callback: onRead } }, () => {
      const lines = [
        `GET ${u.pathname}${u.search} HTTP/1.1`,
        `Host: ${u.host}`,
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Sec-WebSocket-Version: 13',
        `Sec-WebSocket-Key: ${key}`,
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      ];
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
    socket.on('error', fail);
    socket.on('close', () => {
      if (!open) reject(new Error('closed before the upgrade'));
    });

    const lean: LeanSocket = {
      send(text: string) {
        const payload = Buffer.from(text);
        if (payload.length > 65535) throw new Error('message too long for this client');
        const mask = randomBytes(4);
        const hdr =
          payload.length < 126
            ? Buffer.from([0x81, 0x80 | payload.length])
            : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
        for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
        socket.write(Buffer.concat([hdr, mask, payload]));
      },
      close() {
        socket.destroy();
      },
    };
  });
}
