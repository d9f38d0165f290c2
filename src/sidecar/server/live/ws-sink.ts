/**
 * The send queue's sink for one WebSocket. Text (control messages) goes through ws, which
 * frames it; a Buffer is a complete wire frame (ws-wire.ts) and is written to the upgraded
 * TCP socket as it is: one write instead of ws's header allocation and corked writev.
 *
 * Writing beside ws keeps the stream valid because every ws write on this socket is
 * synchronous and whole-frame: no per-message deflate (refused below) and no Blob sends,
 * so ws never holds a frame back that a later raw write could overtake. For the same
 * reason every byte not yet sent waits in the socket, so its writableLength is the backlog.
 *
 * A class, so that a thousand sockets' sinks share one shape on the fan-out path.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { Sink } from './send-queue';

export class WebSocketSink implements Sink {
  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
  ) {
    if (ws.extensions !== '') throw new Error(`WebSocket extensions "${ws.extensions}" negotiated: ready frames would be invalid`);
  }

  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  send(data: string | Buffer, done: (err?: Error | null) => void): void {
    if (typeof data === 'string') {
      this.ws.send(data, done);
      return;
    }
    // After a close frame (ours or the peer's) no data frame may follow.
    if (this.ws.readyState !== this.ws.OPEN) {
      process.nextTick(done, new Error('WebSocket is not open'));
      return;
    }
    this.socket.write(data, done);
  }
}
