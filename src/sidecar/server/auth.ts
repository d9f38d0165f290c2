/**
 * API key authentication.
 *
 * - Keys come from the config (`apiKeys`, `controlKeys`), the environment
 *   (`SCADALIVE_API_KEYS`, `SCADALIVE_CONTROL_KEYS`, comma separated) and the CLI (`--key`);
 *   all sources are merged.
 * - A client presents a key as `Authorization: Bearer <key>` or `X-API-Key: <key>`. Keys are
 *   compared as SHA-256 digests with `crypto.timingSafeEqual` (equal lengths by construction),
 *   against every configured key without stopping at a match, so timing reveals neither the
 *   key nor which one matched.
 * - Two roles: `read` (query, stream, health, channels, metrics, plugin routes) and `control`
 *   (device writes, coming later). A control key passes read routes too; control routes add
 *   the `requireControl` guard (403 for a read key).
 * - Everything but routes marked `config: { public: true }` (the bare `/healthz`) needs a key.
 * - No key configured at all: the server refuses to start, unless explicitly allowed
 *   (`--insecure-no-auth` / `allowNoAuth`) AND listening on loopback only. That mode exists
 *   for local development; an open SCADA endpoint on a network is never a default.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as net from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors';
import { errorBody, sendError } from './error-reply';

export type Role = 'read' | 'control';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook: the caller's role (`control` for everything when auth is off). */
    role: Role | null;
  }
  interface FastifyContextConfig {
    /** The route needs no API key (only the bare liveness probe). */
    public?: boolean;
  }
}

export interface KeySources {
  apiKeys?: readonly string[];
  controlKeys?: readonly string[];
}

export const ENV_API_KEYS = 'SCADALIVE_API_KEYS';
export const ENV_CONTROL_KEYS = 'SCADALIVE_CONTROL_KEYS';
/** As the config schema requires: short keys are guessable. */
export const MIN_KEY_LENGTH = 16;

/** Keys from the environment; empty entries (e.g. a trailing comma) are ignored. */
export function keysFromEnv(env: NodeJS.ProcessEnv): Required<KeySources> {
  const split = (name: string): string[] =>
    (env[name] ?? '')
      .split(',')
      .map((k) => k.trim())
      .filter((k) => k !== '');
  const apiKeys = split(ENV_API_KEYS);
  const controlKeys = split(ENV_CONTROL_KEYS);
  for (const [name, keys] of [[ENV_API_KEYS, apiKeys], [ENV_CONTROL_KEYS, controlKeys]] as const) {
    keys.forEach((k, i) => {
      if (k.length < MIN_KEY_LENGTH) throw new AppError('BAD_PARAMS', `${name}: key ${i + 1} is shorter than ${MIN_KEY_LENGTH} characters`, name);
    });
  }
  return { apiKeys, controlKeys };
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

export class KeyStore {
  private readonly read: Buffer[];
  private readonly control: Buffer[];

  constructor(...sources: KeySources[]) {
    const read = new Set<string>();
    const control = new Set<string>();
    for (const s of sources) {
      for (const k of s.apiKeys ?? []) read.add(k);
      for (const k of s.controlKeys ?? []) control.add(k);
    }
    for (const k of [...read, ...control]) {
      if (k.length < MIN_KEY_LENGTH) throw new AppError('BAD_PARAMS', `API keys must be at least ${MIN_KEY_LENGTH} characters`, 'apiKeys');
    }
    // A key listed in both is a control key.
    for (const k of control) read.delete(k);
    this.read = [...read].map(digest);
    this.control = [...control].map(digest);
  }

  get size(): number {
    return this.read.length + this.control.length;
  }

  /** The role of `presented`, or null. Constant time in the key's content and position. */
  check(presented: string): Role | null {
    const d = digest(presented);
    let isRead = false;
    let isControl = false;
    // No early exit: every key is compared every time.
    for (const k of this.read) isRead = timingSafeEqual(d, k) || isRead;
    for (const k of this.control) isControl = timingSafeEqual(d, k) || isControl;
    return isControl ? 'control' : isRead ? 'read' : null;
  }
}

/** The keys a request presents (Bearer first, then X-API-Key). */
export function presentedKeys(req: FastifyRequest): string[] {
  const out: string[] = [];
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) out.push(m[1]);
  }
  const x = req.headers['x-api-key'];
  for (const v of Array.isArray(x) ? x : x !== undefined ? [x] : []) if (v.trim() !== '') out.push(v.trim());
  return out;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  // IPv4-mapped loopback, e.g. ::ffff:127.0.0.1
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  return mapped !== null && mapped[1].startsWith('127.');
}

export interface AuthOptions {
  keys: KeyStore;
  /** Permits running with no key at all (only honoured on loopback, see checkAuthSetup). */
  allowNoAuth?: boolean;
}

/** Throws (refusing to start) when the key setup is unsafe for `host`. */
export function checkAuthSetup(keys: KeyStore, allowNoAuth: boolean, host: string): void {
  if (keys.size > 0) return;
  if (!allowNoAuth) {
    throw new AppError(
      'BAD_PARAMS',
      `no API keys configured: set server.apiKeys in the config, ${ENV_API_KEYS} in the environment or --key; ` +
        '(--insecure-no-auth runs without keys, on loopback only)',
      'server.apiKeys',
    );
  }
  if (!isLoopbackHost(host)) {
    throw new AppError('BAD_PARAMS', `--insecure-no-auth is only allowed on a loopback host (127.0.0.1, ::1, localhost), not on "${host}"`, 'server.host');
  }
}

/** The onRequest hook: resolves the caller's role or answers 401. */
export function installAuth(app: FastifyInstance, options: AuthOptions): void {
  const { keys } = options;
  const open = keys.size === 0 && options.allowNoAuth === true;
  if (keys.size === 0 && !open) throw new AppError('BAD_PARAMS', 'no API keys configured and allowNoAuth not set', 'server.apiKeys');
  app.decorateRequest('role', null);
  app.addHook('onRequest', async (req, reply) => {
    if (open) {
      req.role = 'control';
      return;
    }
    let role: Role | null = null;
    for (const k of presentedKeys(req)) {
      const r = keys.check(k);
      if (r === 'control' || (r === 'read' && role === null)) role = r;
    }
    req.role = role;
    if (role !== null || req.routeOptions.config?.public === true) return;
    const presented = presentedKeys(req).length > 0;
    reply.header('WWW-Authenticate', presented ? 'Bearer error="invalid_token"' : 'Bearer');
    return sendError(
      reply,
      presented
        ? { status: 401, body: errorBody('UNAUTHORIZED', 'invalid API key') }
        : { status: 401, body: errorBody('UNAUTHORIZED', 'missing API key: send "Authorization: Bearer <key>" or "X-API-Key: <key>"') },
    );
  });
}

/** preHandler guard for control routes (device writes): 403 for a read-only key. */
export async function requireControl(req: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (req.role === 'control') return;
  await sendError(reply, { status: 403, body: errorBody('FORBIDDEN', 'this route needs a control key; the key presented may only read') });
}
