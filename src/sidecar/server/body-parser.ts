/**
 * JSON body parsing with a message that says where the JSON is broken (fastify's own parser
 * only says "not valid JSON"), while keeping its protection against `__proto__` keys.
 */
import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors';

function rejectProto(key: string, value: unknown): unknown {
  // A `__proto__` key is harmless in JSON.parse's output but dangerous once merged into
  // another object; nobody sends one in good faith.
  if (key === '__proto__') throw new AppError('BAD_REQUEST', 'malformed JSON body: "__proto__" is not allowed as a key', 'body');
  return value;
}

export function parseJsonText(text: string): unknown {
  if (text.trim() === '') throw new AppError('BAD_REQUEST', 'malformed JSON body: the body is empty', 'body');
  try {
    // The reviver costs a little per key; bodies are bounded by bodyLimit.
    return JSON.parse(text, text.includes('__proto__') ? rejectProto : undefined);
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('BAD_REQUEST', `malformed JSON body: ${(err as Error).message}`, 'body');
  }
}

export function installJsonParser(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonText(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}
