/**
 * What Grafana gives a data source at run time, for tests under jsdom: a BackendSrv that does
 * real HTTP (Node's http; jsdom has no fetch) and fails as Grafana's does ({status, data}),
 * a TemplateSrv with real variable interpolation, and the sidecar + data source proxy
 * running in a child process (see proxy-sidecar.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { setBackendSrv, type BackendSrv, type BackendSrvRequest, type FetchResponse } from '@grafana/runtime';
import { Observable } from 'rxjs';

const REPO = path.resolve(__dirname, '../..');

function request(
  options: BackendSrvRequest,
  onResponse: (res: http.IncomingMessage) => void,
  onError: (e: Error) => void,
): http.ClientRequest {
  const url = new URL(options.url, 'http://127.0.0.1/');
  if (options.params) for (const [k, v] of Object.entries(options.params)) url.searchParams.set(k, String(v));
  const body = options.data === undefined ? undefined : typeof options.data === 'string' ? options.data : JSON.stringify(options.data);
  const req = http.request(url, {
    method: options.method ?? 'GET',
    headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
  });
  req.on('response', onResponse);
  req.on('error', onError);
  req.end(body);
  return req;
}

/** A successful FetchResponse as Grafana's BackendSrv gives one. */
function okResponse<T>(options: BackendSrvRequest, data: T, status: number, statusText: string): FetchResponse<T> {
  return { data, status, statusText, ok: true, headers: new Headers(), redirected: false, type: 'basic', url: options.url, config: options };
}

function fetchObservable<T>(options: BackendSrvRequest): Observable<FetchResponse<T>> {
  return new Observable((sub) => {
    const req = request(
      options,
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let data: unknown = text;
          try {
            data = JSON.parse(text);
          } catch {
            /* not JSON: keep the text */
          }
          const status = res.statusCode ?? 0;
          if (status >= 400) {
            sub.error({ status, statusText: res.statusMessage, data, config: options });
            return;
          }
          sub.next(okResponse(options, data as T, status, res.statusMessage ?? ''));
          sub.complete();
        });
      },
      (e) => sub.error({ status: 0, statusText: e.message, data: { message: e.message }, config: options }),
    );
    return () => req.destroy();
  });
}

function chunkedObservable(options: BackendSrvRequest): Observable<FetchResponse<Uint8Array | undefined>> {
  return new Observable((sub) => {
    const req = request(
      options,
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 400) {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => sub.error({ status, data: JSON.parse(text || '{}'), config: options }));
          return;
        }
        res.on('data', (c: Buffer) => sub.next(okResponse(options, new Uint8Array(c), status, '')));
        res.on('end', () => sub.complete());
        res.on('error', (e) => sub.error({ status: 0, data: { message: e.message } }));
      },
      (e) => sub.error({ status: 0, statusText: e.message, data: { message: e.message }, config: options }),
    );
    return () => req.destroy();
  });
}

export function installBackendSrv(): void {
  const srv: Partial<BackendSrv> = {
    fetch: fetchObservable,
    chunked: chunkedObservable,
    get: (url: string, params?: Record<string, unknown>) =>
      new Promise((resolve, reject) => fetchObservable({ url, params }).subscribe({ next: (r) => resolve(r.data), error: reject })),
  };
  setBackendSrv(srv as BackendSrv);
}

export { installTemplateSrv } from './template-srv';

export interface ProxiedSidecar {
  /** The data source proxy of an Editor. */
  proxyUrl: string;
  /** The same data source's proxy for a Viewer (the control route answers 403). */
  viewerProxyUrl: string;
  sidecarUrl: string;
  /** Cuts every proxied WebSocket, as a network blip would. */
  drop(): Promise<void>;
  /** Proxied WebSockets open now. */
  sockets(): Promise<number>;
  stop(): Promise<void>;
}

export async function startProxiedSidecar(): Promise<ProxiedSidecar> {
  const child: ChildProcess = spawn(
    process.execPath,
    [path.join(REPO, 'node_modules/tsx/dist/cli.mjs'), path.join(__dirname, 'proxy-sidecar.ts')],
    {
      cwd: REPO,
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const rl = readline.createInterface({ input: child.stdout! });
  const waiting: Array<(line: Record<string, unknown>) => void> = [];
  rl.on('line', (line) => waiting.shift()?.(JSON.parse(line)));
  const next = () => new Promise<Record<string, unknown>>((resolve) => waiting.push(resolve));
  const ask = async (cmd: string) => {
    const p = next();
    child.stdin!.write(cmd + '\n');
    return p;
  };
  const first = await next();
  return {
    proxyUrl: first.proxyUrl as string,
    viewerProxyUrl: first.viewerProxyUrl as string,
    sidecarUrl: first.sidecarUrl as string,
    drop: async () => void (await ask('drop')),
    sockets: async () => (await ask('sockets')).sockets as number,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.stdin!.end();
      }),
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitUntil(pred: () => boolean | Promise<boolean>, timeoutMs = 8000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}
