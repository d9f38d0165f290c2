/**
 * Grafana's BackendSrv in the browser: over `fetch` (as Grafana's own is), failing the way
 * Grafana's does (`{status, data}`), with `chunked` streaming the response body.
 */
import { setBackendSrv, type BackendSrv, type BackendSrvRequest, type FetchResponse } from '@grafana/runtime';
import { Observable } from 'rxjs';

function toRequest(options: BackendSrvRequest): { url: string; init: RequestInit } {
  const url = new URL(options.url, window.location.href);
  if (options.params) for (const [k, v] of Object.entries(options.params)) url.searchParams.set(k, String(v));
  const body = options.data === undefined ? undefined : typeof options.data === 'string' ? options.data : JSON.stringify(options.data);
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  return { url: url.toString(), init: { method: options.method ?? 'GET', headers, body } };
}

function response<T>(res: Response, data: T, options: BackendSrvRequest): FetchResponse<T> {
  return {
    data,
    status: res.status,
    statusText: res.statusText,
    ok: res.ok,
    headers: res.headers,
    redirected: res.redirected,
    type: res.type,
    url: res.url,
    config: options,
  };
}

async function readBody(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function fetchObservable<T>(options: BackendSrvRequest): Observable<FetchResponse<T>> {
  return new Observable((sub) => {
    const abort = new AbortController();
    const { url, init } = toRequest(options);
    fetch(url, { ...init, signal: abort.signal })
      .then(async (res) => {
        const data = await readBody(res);
        if (!res.ok) sub.error({ status: res.status, statusText: res.statusText, data, config: options });
        else {
          sub.next(response(res, data as T, options));
          sub.complete();
        }
      })
      .catch((e: Error) => sub.error({ status: 0, statusText: e.message, data: { message: e.message }, config: options }));
    return () => abort.abort();
  });
}

function chunkedObservable(options: BackendSrvRequest): Observable<FetchResponse<Uint8Array | undefined>> {
  return new Observable((sub) => {
    const abort = new AbortController();
    const { url, init } = toRequest(options);
    fetch(url, { ...init, signal: abort.signal })
      .then(async (res) => {
        if (!res.ok || !res.body) {
          sub.error({ status: res.status, statusText: res.statusText, data: await readBody(res), config: options });
          return;
        }
        const reader = res.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          sub.next(response(res, value, options));
        }
        sub.complete();
      })
      .catch((e: Error) => {
        if (!abort.signal.aborted) sub.error({ status: 0, statusText: e.message, data: { message: e.message }, config: options });
      });
    return () => abort.abort();
  });
}

export function installBackendSrv(): void {
  const srv: Partial<BackendSrv> = {
    fetch: fetchObservable,
    chunked: chunkedObservable,
    get: <T>(url: string, params?: Record<string, unknown>) =>
      new Promise<T>((resolve, reject) => fetchObservable<T>({ url, params }).subscribe({ next: (r) => resolve(r.data), error: reject })),
  };
  setBackendSrv(srv as BackendSrv);
}
