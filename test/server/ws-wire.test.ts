/**
 * Ready WebSocket frames (ws-wire.ts) and the sink that writes them beside ws (ws-sink.ts):
 * the bytes are decoded by ws's own Receiver, and the sink is driven over a real socket
 * pair with ws's client on the other end.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import type { FrameJSON } from '../../src/common/frames';
import { frameMessage } from '../../src/sidecar/server/live/protocol';
import { WebSocketSink } from '../../src/sidecar/server/live/ws-sink';
import { textFrame, wireFrame } from '../../src/sidecar/server/live/ws-wire';

/** ws's Receiver is exported at runtime but not typed. */
const { Receiver } = WebSocket as unknown as {
  Receiver: new (options: { isServer: boolean }) => NodeJS.WritableStream & { on(event: 'message', cb: (data: Buffer, isBinary: boolean) => void): void };
};

function decode(bytes: Buffer): Array<{ text: string; isBinary: boolean }> {
  const out: Array<{ text: string; isBinary: boolean }> = [];
  const r = new Receiver({ isServer: false });
  r.on('message', (data, isBinary) => out.push({ text: data.toString('utf8'), isBinary }));
  r.on('error' as 'message', (err: unknown) => {
    throw err;
  });
  r.write(bytes);
  return out;
}

const frameWith = (rows: number): FrameJSON => ({
  data: { values: [Array.from({ length: rows }, (_, i) => 1_700_000_000_000 + i * 100), Array.from({ length: rows }, (_, i) => i / 7)] },
});

describe('wireFrame', () => {
  it.each([
    ['short (7-bit length)', 1],
    ['medium (16-bit length)', 20],
    ['long (64-bit length)', 4000],
  ])('is one final text frame holding the frame message: %s', (_name, rows) => {
    const f = frameWith(rows);
    const bytes = wireFrame('s1', f);
    const msgs = decode(bytes);
    expect(msgs).toEqual([{ text: frameMessage('s1', f), isBinary: false }]);
    expect(JSON.parse(msgs[0].text)).toEqual({ type: 'frame', id: 's1', frame: f });
  });

  it('has the length form RFC 6455 asks for at each size boundary', () => {
    for (const [size, headerBytes] of [
      [125, 2],
      [126, 4],
      [65535, 4],
      [65536, 10],
    ] as const) {
      const framed = textFrame(Buffer.alloc(size, 0x61));
      expect(framed.length).toBe(size + headerBytes);
      expect(framed[0]).toBe(0x81); // FIN + text
      expect(framed[1] & 0x80).toBe(0); // server frames are unmasked
      expect(decode(framed)[0].text.length).toBe(size);
    }
  });

  it('is built once per frame object and id, and stays right past the cached ids', () => {
    const f = frameWith(2);
    expect(wireFrame('s1', f)).toBe(wireFrame('s1', f));
    expect(wireFrame('s2', f)).not.toBe(wireFrame('s1', f));
    expect(wireFrame('s1', frameWith(2))).not.toBe(wireFrame('s1', f));
    for (let i = 0; i < 200; i++) {
      const id = `sub "${i}"\n`;
      expect(JSON.parse(decode(wireFrame(id, f))[0].text)).toEqual({ type: 'frame', id, frame: f });
    }
  });
});

describe('WebSocketSink', () => {
  let wss: WebSocketServer;
  let server: WebSocket;
  let raw: Socket;
  let client: WebSocket;
  const received: string[] = [];

  beforeEach(async () => {
    received.length = 0;
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    await once(wss, 'listening');
    const accepted = new Promise<void>((resolve) =>
      wss.once('connection', (ws, req) => {
        server = ws;
        raw = req.socket as Socket;
        resolve();
      }),
    );
    client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    client.on('message', (data) => received.push((data as Buffer).toString('utf8')));
    await Promise.all([accepted, once(client, 'open')]);
  });

  afterEach(async () => {
    client.terminate();
    await new Promise((r) => wss.close(r));
  });

  const until = async (pred: () => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 10));
  };

  it('keeps ready frames and ws-framed text in the order they were sent', async () => {
    const sink = new WebSocketSink(server, raw);
    const f = frameWith(3000); // a long frame between short ones
    const done: Array<Error | null | undefined> = [];
    sink.send('{"type":"subscribed","id":"a"}', (e) => done.push(e));
    sink.send(wireFrame('a', f), (e) => done.push(e));
    sink.send('{"type":"notice","id":"a","message":"m"}', (e) => done.push(e));
    sink.send(wireFrame('a', frameWith(1)), (e) => done.push(e));
    server.ping(); // ws's own control frames interleave as well
    await until(() => received.length === 4 && done.length === 4);
    expect(received.map((t) => JSON.parse(t).type)).toEqual(['subscribed', 'frame', 'notice', 'frame']);
    expect(JSON.parse(received[1]).frame).toEqual(f);
    expect(done).toHaveLength(4);
    expect(done.filter((e) => e != null)).toEqual([]);
  });

  it('writes nothing after a close frame and reports the send as failed', async () => {
    const sink = new WebSocketSink(server, raw);
    server.close(1000, 'bye');
    const err = await new Promise<Error | null | undefined>((resolve) => sink.send(wireFrame('a', frameWith(1)), resolve));
    expect(err?.message).toMatch(/not open/);
    const [code] = (await once(client, 'close')) as [number];
    expect(code).toBe(1000);
    expect(received).toEqual([]);
  });

  it('counts what the socket still holds as buffered', () => {
    const sink = new WebSocketSink(server, raw);
    raw.cork(); // hold the bytes in the socket
    sink.send(wireFrame('a', frameWith(10)), () => undefined);
    expect(sink.bufferedAmount).toBe(wireFrame('a', frameWith(10)).length);
    expect(sink.bufferedAmount).toBe(raw.writableLength);
    raw.uncork();
  });

  it('refuses a socket with per-message deflate, where ready frames would be invalid', async () => {
    const deflating = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
    await once(deflating, 'listening');
    const got = new Promise<[WebSocket, Socket]>((resolve) => deflating.once('connection', (ws, req) => resolve([ws, req.socket as Socket])));
    const c = new WebSocket(`ws://127.0.0.1:${(deflating.address() as AddressInfo).port}`, { perMessageDeflate: true });
    const [[ws, sock]] = await Promise.all([got, once(c, 'open')]);
    expect(() => new WebSocketSink(ws, sock)).toThrow(/permessage-deflate/);
    c.terminate();
    await new Promise((r) => deflating.close(r));
  });
});
