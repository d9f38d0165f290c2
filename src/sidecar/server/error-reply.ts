/**
 * Every error the server answers, as one JSON shape `{error:{code, message, field?}}` with a
 * fitting status: AppErrors keep theirs, fastify's own errors (bad JSON, body too large,
 * unsupported media type, …) are translated, and anything unexpected is a 500 whose message
 * never carries a stack trace or internals (those go to the log).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DeviceError } from '../core/device-error';
import { AppError, toAppError, type ErrorCode } from '../errors';

export interface ErrorBody {
  error: { code: ErrorCode; message: string; field?: string };
}

export interface HttpError {
  status: number;
  body: ErrorBody;
}

export function errorBody(code: ErrorCode, message: string, field?: string): ErrorBody {
  return { error: { code, message, ...(field ? { field } : {}) } };
}

/** Longest path parameter (an id in a REST path) the router accepts; fastify's own default. */
export const MAX_PARAM_LENGTH = 100;
/** Paths are echoed in a 404 only up to this length. */
const MAX_ECHOED_PATH = 200;

/** Fastify error codes we answer with a specific message (their own texts are terse and echo the URL). */
const FASTIFY_ERRORS: Record<string, (err: FastifyError, req: FastifyRequest) => HttpError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: (_e, req) => ({
    status: 413,
    body: errorBody('LIMIT_EXCEEDED', `request body too large: the limit is ${req.routeOptions.bodyLimit ?? '?'} bytes`, 'body'),
  }),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => ({ status: 400, body: errorBody('BAD_REQUEST', 'malformed JSON body: the body is empty', 'body') }),
  FST_ERR_CTP_INVALID_JSON_BODY: () => ({ status: 400, body: errorBody('BAD_REQUEST', 'malformed JSON body', 'body') }),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (_e, req) => ({
    status: 415,
    body: errorBody('BAD_REQUEST', `unsupported content type ${JSON.stringify(req.headers['content-type'] ?? '')}; send application/json`, 'content-type'),
  }),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => ({ status: 400, body: errorBody('BAD_REQUEST', 'request body size did not match Content-Length', 'body') }),
  FST_ERR_BAD_URL: () => ({ status: 400, body: errorBody('BAD_REQUEST', 'malformed URL: a path segment is not valid percent-encoding', 'url') }),
  FST_ERR_MAX_PARAM_LENGTH: () => ({
    status: 414,
    body: errorBody('LIMIT_EXCEEDED', `URL path parameter too long: the limit is ${MAX_PARAM_LENGTH} characters`, 'url'),
  }),
};

/** Maps anything thrown while serving a request to a status and JSON body. */
export function toHttpError(err: unknown, req: FastifyRequest): HttpError {
  if (err instanceof AppError || err instanceof DeviceError) {
    const e = toAppError(err);
    return { status: e.status, body: e.toJSON() };
  }
  const fe = err as Partial<FastifyError> | null;
  const known = fe && typeof fe.code === 'string' ? FASTIFY_ERRORS[fe.code] : undefined;
  if (known) return known(fe as FastifyError, req);
  // Other client errors fastify raises (e.g. proto poisoning, bad content length): its
  // message is safe to show; server errors are not.
  const status = typeof fe?.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) return { status, body: errorBody('BAD_REQUEST', fe?.message || 'bad request') };
  return { status: 500, body: errorBody('INTERNAL', 'internal server error; see the sidecar log') };
}

export function sendError(reply: FastifyReply, error: HttpError): FastifyReply {
  return reply.code(error.status).type('application/json; charset=utf-8').send(error.body);
}

/** Installs the error and not-found handlers on the root instance. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => {
    const e = toHttpError(err, req);
    if (e.status >= 500) req.log.error({ err }, 'request failed');
    else req.log.debug({ code: e.body.error.code, reason: e.body.error.message }, 'request rejected');
    return sendError(reply, e);
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0];
    const shown = path.length > MAX_ECHOED_PATH ? `${path.slice(0, MAX_ECHOED_PATH)}…` : path;
    return sendError(reply, { status: 404, body: errorBody('NOT_FOUND', `no route ${req.method} ${shown}`) });
  });
}

/**
 * Fastify's `frameworkErrors`: errors its router raises before any route or hook runs (bad
 * percent-encoding, an over-long path parameter). Without it they answer in fastify's own
 * shape with the URL echoed back.
 */
export function frameworkErrorReply(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const e = toHttpError(err, req);
  req.log.info({ code: e.body.error.code, reason: e.body.error.message }, 'request rejected by the router');
  void sendError(reply, e);
}
