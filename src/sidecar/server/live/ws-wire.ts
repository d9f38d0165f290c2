/**
 * Frame messages as complete WebSocket frames (RFC 6455 wire bytes), built once per frame
 * object and subscription id and written as they are to every subscriber's socket.
 *
 * A pipeline's frame goes to every one of its subscribers, and clients number their
 * subscriptions from 1, so the same few (frame, id) pairs recur across hundreds of sockets.
 * Handing ws a payload costs, per socket, a header allocation and a corked two-buffer
 * writev; a ready frame is one plain write. ws's own `Sender.frame` does the framing.
 *
 * Only valid on a socket without extensions (no per-message deflate: the server disables it).
 */
import WebSocket from 'ws';
import type { FrameJSON } from '../../../common/frames';
import { frameMessage } from './protocol';

/** ws exports its Sender at runtime; @types/ws does not declare it. */
interface FrameOptions {
  fin: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
  rsv1: boolean;
}
type Frame = (data: Buffer, options: FrameOptions) => Buffer[];
const frameWith: Frame = (() => {
  const sender = (WebSocket as unknown as { Sender?: { frame?: Frame } }).Sender;
  if (typeof sender?.frame !== 'function') throw new Error('this version of ws has no Sender.frame: the live transport needs it');
  return sender.frame.bind(sender);
})();

const frames = new WeakMap<object, Map<string, Buffer>>();
/** Distinct ids cached per frame; past this, further ids are framed per send. */
const MAX_IDS_PER_FRAME = 64;

/** An unmasked, final text frame (server to client) holding `payload`. */
export function textFrame(payload: Buffer): Buffer {
  const parts = frameWith(payload, { fin: true, opcode: 0x1, mask: false, readOnly: true, rsv1: false });
  return Buffer.concat(parts);
}

/** The `{type:'frame', id, frame}` message as a ready WebSocket text frame. */
export function wireFrame(id: string, frame: FrameJSON): Buffer {
  let byId = frames.get(frame);
  if (byId === undefined) {
    byId = new Map();
    frames.set(frame, byId);
  }
  let bytes = byId.get(id);
  if (bytes === undefined) {
    bytes = textFrame(Buffer.from(frameMessage(id, frame)));
    if (byId.size < MAX_IDS_PER_FRAME) byId.set(id, bytes);
  }
  return bytes;
}
