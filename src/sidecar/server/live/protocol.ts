/**
 * The live protocol: JSON text messages over the WebSocket `/api/live`, and the same server
 * messages as lines of the chunked HTTP fallback `/api/live/http`.
 *
 * Client → server
 *   {type:'subscribe',   id, request}   request: the stream request (instance, channels, reducer?, intervalMs, since?, …)
 *   {type:'unsubscribe', id}
 *   {type:'ping'}
 * Server → client
 *   {type:'subscribed',   id}           the subscription runs; its frames follow (no id over HTTP)
 *   {type:'frame',        id, frame}    DataFrame JSON: first with `schema` (+ backfill), then data-only appends
 *   {type:'unsubscribed', id}           after an unsubscribe; no more frames for that id
 *   {type:'error',        id?, error:{code, message, field?}}   a bad message, a refused or failed subscription
 *   {type:'notice',       id?, message} e.g. frames dropped for a slow client, idle or shutdown warnings
 *   {type:'pong'}
 *   {type:'heartbeat'}                  HTTP fallback only: keeps proxies from timing out a quiet stream
 *
 * `id` is chosen by the client (1-128 characters), unique among its open subscriptions. Over
 * the HTTP fallback a response carries one subscription, and its messages have no `id`.
 */
import { z } from 'zod';
import type { FrameJSON } from '../../../common/frames';
import type { ErrorBody } from '../error-reply';
import { parseOrThrow } from '../../validation';

export const subscriptionId = z.string().min(1, 'must not be empty').max(128, 'must be at most 128 characters');

const envelopeSchema = z.object({ type: z.enum(['subscribe', 'unsubscribe', 'ping']) });

const subscribeSchema = z.strictObject({
  type: z.literal('subscribe'),
  id: subscriptionId,
  /** Checked in full by the stream handler; here only that it is an object. */
  request: z.record(z.string(), z.unknown()),
});
const unsubscribeSchema = z.strictObject({ type: z.literal('unsubscribe'), id: subscriptionId });
const pingSchema = z.strictObject({ type: z.literal('ping') });

export type ClientMessage = z.output<typeof subscribeSchema> | z.output<typeof unsubscribeSchema> | z.output<typeof pingSchema>;

/** Validates one parsed client message; throws an AppError naming the bad field. */
export function parseClientMessage(msg: unknown): ClientMessage {
  // The type first, so an unknown type is reported as such rather than as a union mismatch.
  const { type } = parseOrThrow(envelopeSchema, msg, 'message');
  switch (type) {
    case 'subscribe':
      return parseOrThrow(subscribeSchema, msg, 'subscribe message');
    case 'unsubscribe':
      return parseOrThrow(unsubscribeSchema, msg, 'unsubscribe message');
    case 'ping':
      return parseOrThrow(pingSchema, msg, 'ping message');
  }
}

/** The `id` of a message too broken to validate, so its error can still name it. */
export function idOf(msg: unknown): string | undefined {
  const id = (msg as { id?: unknown } | null)?.id;
  return typeof id === 'string' && id.length > 0 && id.length <= 128 ? id : undefined;
}

export type ServerMessage =
  | { type: 'subscribed'; id?: string }
  | { type: 'frame'; id: string; frame: FrameJSON }
  | { type: 'unsubscribed'; id: string }
  | ({ type: 'error'; id?: string } & ErrorBody)
  | { type: 'notice'; id?: string; message: string }
  | { type: 'pong' }
  | { type: 'heartbeat' };

/**
 * Frame messages without re-serializing the frame for every subscriber: one pipeline's
 * frame object goes to all its subscribers, so its JSON is cached per object.
 */
const frameJson = new WeakMap<object, string>();

export function frameMessage(id: string | undefined, frame: FrameJSON): string {
  let json = frameJson.get(frame);
  if (json === undefined) {
    json = JSON.stringify(frame);
    frameJson.set(frame, json);
  }
  return id === undefined ? `{"type":"frame","frame":${json}}` : `{"type":"frame","id":${JSON.stringify(id)},"frame":${json}}`;
}

export function message(msg: ServerMessage): string {
  return JSON.stringify(msg);
}
