/**
 * A lean WebSocket client for the live fan-out load generator. The 1,000 simulated clients
 * share this machine's 2 cores with the sidecar; `ws`'s client costs ~20 µs a message,
 * which at 1,000 messages a tick would measure the load generator rather than the sidecar
 * (a real subscriber's browser parses on its own machine). Node's http client does the
 * handshake (an 'upgrade'), and this reads the server's frames: unmasked, unfragmented
 * text frames, which is all the sidecar sends. Anything else is a protocol error here.
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { Socket } from 'node:net';

export interface LeanSocket {
  /** Sends one text message (masked, as a client must). */
  send(text: string): void;
  close(): void;
}

export interface LeanHandlers {
  /** A text message, as bytes: the caller decodes only what it needs. */
  onMessage(payload: Buffer, receivedAt: number): void;
  onError?(err: Error): void;
}

export function connectLean(url: string, headers: Record<string, string>, handlers: LeanHandlers): Promise<LeanSocket> {
  return new Promise((resolve, reject) => {
    const req = http.request(url.replace(/^ws/, 'http'), {
      headers: {
        ...headers,
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
      },
    });
    req.once('response', (res) => reject(new Error(`no upgrade: HTTP ${res.statusCode}`)));
    req.once('error', reject);
    req.once('upgrade', (_res, socket: Socket, head: Buffer) => {
      socket.setNoDelay(true);
      let pending = head.length > 0 ? head : Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        // Take the time before any parsing: it is when the bytes reached this client.
        const at = Date.now();
        pending = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
        let off = 0;
        while (pending.length - off >= 2) {
          const b0 = pending[off];
          let len = pending[off + 1] & 0x7f;
          let hdr = 2;
          if (len === 126) {
            if (pending.length - off < 4) break;
            len = pending.readUInt16BE(off + 2);
            hdr = 4;
          } else if (len === 127) {
            if (pending.length - off < 10) break;
            len = Number(pending.readBigUInt64BE(off + 2));
            hdr = 10;
          }
          if (pending.length - off < hdr + len) break;
          const opcode = b0 & 0x0f;
          const payload = pending.subarray(off + hdr, off + hdr + len);
          off += hdr + len;
          if (opcode === 0x1 && b0 & 0x80) handlers.onMessage(payload, at);
          else if (opcode === 0x8) socket.end();
          else if (opcode !== 0x9 && opcode !== 0xa) handlers.onError?.(new Error(`unexpected frame opcode ${opcode}`));
        }
        pending = off === pending.length ? Buffer.alloc(0) : pending.subarray(off);
      });
      socket.on('error', (err) => handlers.onError?.(err));
      resolve({
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
      });
    });
    req.end();
  });
}
